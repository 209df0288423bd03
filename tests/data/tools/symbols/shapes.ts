export interface Shape {
  volume(): number;
}

export function totalVolume(shapes: Shape[]): number {
  return shapes.reduce((sum, s) => sum + s.volume(), 0);
}

export class Cube implements Shape {
  constructor(private side: number) {}

  volume(): number {
    return this.side ** 3;
  }
}
