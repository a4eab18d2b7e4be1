// k6/execution's scenario.iterationInTest: a new number on every read, as each call of a
// scenario function here is one iteration.
let next = 0;
export default {
  scenario: {
    get iterationInTest() {
      return next++;
    },
  },
};
