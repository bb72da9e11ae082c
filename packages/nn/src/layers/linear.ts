// Linear: y = x w^T + b, weight [out, in] (PyTorch layout), optional bias [out].
import { linear, type Shape, type Shape1, type Shape2, type Tensor } from '@fer/tensor';
import { Module } from '../module.js';
import { initKernel, zeroBias, expectShape, type InitOptions } from './init.js';

export interface LinearOptions extends InitOptions {
  /** Default true. */
  bias?: boolean;
}

export class Linear extends Module {
  readonly weight: Tensor<Shape2>;
  readonly bias: Tensor<Shape1> | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, options: LinearOptions = {}) {
    super();
    for (const [n, v] of [['inFeatures', inFeatures], ['outFeatures', outFeatures]] as const)
      if (!Number.isInteger(v) || v <= 0) throw new Error(`Linear: ${n} must be a positive integer, got ${v}`);
    this.weight = this.registerParameter('weight', initKernel([outFeatures, inFeatures] as const, inFeatures, outFeatures, options));
    this.bias = options.bias ?? true ? this.registerParameter('bias', zeroBias(outFeatures)) : null;
  }

  forward(x: Tensor): Tensor<Shape2> {
    expectShape('Linear', x.shape, 2, '[N, features]', this.inFeatures);
    return linear(x as Tensor<Shape2>, this.weight, this.bias);
  }

  override outputShape(inShape: Shape): Shape2 {
    expectShape('Linear', inShape, 2, '[N, features]', this.inFeatures);
    return [inShape[0]!, this.outFeatures];
  }

  override flops(): number {
    return this.outFeatures * (2 * this.inFeatures + (this.bias ? 1 : 0));
  }
}
