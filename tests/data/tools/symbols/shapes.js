export function perimeter(shape) {
  return shape.perimeter();
}

export class Square {
  constructor(side) {
    this.side = side;
  }

  perimeter() {
    return 4 * this.side;
  }
}

const double = (x) => x * 2;
