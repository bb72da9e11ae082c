// Conv2d: weight [Cout, Cin, KH, KW] (PyTorch layout), optional bias [Cout].
import { conv2d, conv2dOutputShape, type Padding, type Shape, type Shape1, type Shape4, type Tensor } from '@fer/tensor';
import { Module } from '../module.js';
import { initKernel, zeroBias, pair, expectShape, type InitOptions } from './init.js';

export interface Conv2dLayerOptions extends InitOptions {
  stride?: number | readonly [number, number];
  /** Default 'valid' (no padding), as PyTorch and Keras. */
  padding?: Padding;
  /** Default true. */
  bias?: boolean;
}

export class Conv2d extends Module {
  readonly weight: Tensor<Shape4>;
  readonly bias: Tensor<Shape1> | null;
  readonly kernel: [number, number];
  readonly stride: [number, number];
  readonly padding: Padding;

  constructor(readonly inChannels: number, readonly outChannels: number, kernel: number | readonly [number, number], options: Conv2dLayerOptions = {}) {
    super();
    for (const [n, v] of [['inChannels', inChannels], ['outChannels', outChannels]] as const)
      if (!Number.isInteger(v) || v <= 0) throw new Error(`Conv2d: ${n} must be a positive integer, got ${v}`);
    this.kernel = pair(kernel, 'Conv2d kernel');
    this.stride = pair(options.stride ?? 1, 'Conv2d stride');
    this.padding = options.padding ?? 'valid';
    const [kh, kw] = this.kernel;
    // Keras' Glorot fans for a conv kernel: receptive field times channels in / out.
    this.weight = this.registerParameter('weight', initKernel([outChannels, inChannels, kh, kw] as const, inChannels * kh * kw, outChannels * kh * kw, options));
    this.bias = options.bias ?? true ? this.registerParameter('bias', zeroBias(outChannels)) : null;
  }

  forward(x: Tensor): Tensor<Shape4> {
    return this.convolve(x, false);
  }

  /** max(0, forward(x)) in the same kernel (Sequential uses it for a Conv2d followed by a ReLU); the output must stay alive until backward. */
  forwardRelu(x: Tensor): Tensor<Shape4> {
    return this.convolve(x, true);
  }

  private convolve(x: Tensor, relu: boolean): Tensor<Shape4> {
    expectShape('Conv2d', x.shape, 4, '[N, C, H, W]', this.inChannels);
    return conv2d(x as Tensor<Shape4>, this.weight, this.bias, { stride: this.stride, padding: this.padding, relu });
  }

  override outputShape(inShape: Shape): Shape4 {
    expectShape('Conv2d', inShape, 4, '[N, C, H, W]', this.inChannels);
    return conv2dOutputShape(inShape as Shape4, this.weight.shape, { stride: this.stride, padding: this.padding });
  }

  override flops(inShape: Shape): number {
    const [, c, ho, wo] = this.outputShape(inShape);
    const k = this.inChannels * this.kernel[0] * this.kernel[1];
    return c * ho * wo * (2 * k + (this.bias ? 1 : 0));
  }
}
