// k6's sleep(seconds): blocks, as it does in a k6 virtual user.
export function sleep(seconds) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, seconds * 1000);
}
