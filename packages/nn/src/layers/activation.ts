// Parameter-free layers: ReLU and Flatten.
import { relu, shapeSize, type Shape, type Shape2, type Tensor } from '@fer/tensor';
import { Module } from '../module.js';

export class ReLU extends Module {
  forward<S extends Shape>(x: Tensor<S>): Tensor<S> {
    return relu(x);
  }

  override outputShape(inShape: Shape): Shape {
    return inShape;
  }

  override flops(inShape: Shape): number {
    return shapeSize(inShape.slice(1));
  }
}

/** [N, ...] -> [N, prod(...)], a view (no copy). */
export class Flatten extends Module {
  forward(x: Tensor): Tensor<Shape2> {
    if (x.rank < 2) throw new Error(`Flatten: expected an input of rank >= 2 [N, ...], got shape [${x.shape.join(', ')}]`);
    return x.flatten();
  }

  override outputShape(inShape: Shape): Shape2 {
    if (inShape.length < 2) throw new Error(`Flatten: expected an input of rank >= 2 [N, ...], got shape [${inShape.join(', ')}]`);
    return [inShape[0]!, shapeSize(inShape.slice(1))];
  }
}
