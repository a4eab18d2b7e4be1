// k6/metrics' Trend and Counter, keeping what was added (values and tags) for the checks.
export const recorded = {};
export class Trend {
  constructor(name) {
    this.name = name;
    recorded[name] = [];
  }
  add(value, tags) {
    recorded[this.name].push({ value, tags });
  }
}
export class Counter extends Trend {}
