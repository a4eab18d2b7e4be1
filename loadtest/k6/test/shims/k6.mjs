export function sleep() {
  throw new Error('sleep is not available outside k6');
}
