// k6/http is not needed by these checks: calling it is an error.
function refuse() {
  throw new Error('k6/http is not available outside k6');
}
export default { get: refuse, post: refuse };
