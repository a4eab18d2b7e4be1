export class Trend {
  constructor(name) { this.name = name; }
  add() {}
}
export class Counter extends Trend {}
