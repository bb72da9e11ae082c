// MaxPool2d over [N, C, H, W] without padding (floor mode, as PyTorch's default and Keras' 'valid').
import { maxPool2d, type Shape, type Shape4, type Tensor } from '@fer/tensor';
import { Module } from '../module.js';
import { pair, expectShape } from './init.js';

export class MaxPool2d extends Module {
  readonly kernel: [number, number];
  readonly stride: [number, number];

  /** stride defaults to the kernel size (non-overlapping windows), as in PyTorch and Keras. */
  constructor(kernel: number | readonly [number, number], stride?: number | readonly [number, number]) {
    super();
    this.kernel = pair(kernel, 'MaxPool2d kernel');
    this.stride = pair(stride ?? this.kernel, 'MaxPool2d stride');
  }

  forward(x: Tensor): Tensor<Shape4> {
    expectShape('MaxPool2d', x.shape, 4, '[N, C, H, W]');
    return maxPool2d(x as Tensor<Shape4>, { kernel: this.kernel, stride: this.stride });
  }

  override outputShape(inShape: Shape): Shape4 {
    expectShape('MaxPool2d', inShape, 4, '[N, C, H, W]');
    const [n, c, h, w] = inShape as Shape4;
    const [kh, kw] = this.kernel;
    const [sh, sw] = this.stride;
    if (h < kh || w < kw) throw new Error(`MaxPool2d: input ${h}x${w} is smaller than the ${kh}x${kw} window`);
    return [n, c, Math.floor((h - kh) / sh) + 1, Math.floor((w - kw) / sw) + 1];
  }

  /** kh * kw - 1 comparisons per output. */
  override flops(inShape: Shape): number {
    const [, c, ho, wo] = this.outputShape(inShape);
    return c * ho * wo * (this.kernel[0] * this.kernel[1] - 1);
  }
}
