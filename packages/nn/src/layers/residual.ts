// Residual: y = relu(body(x) + shortcut(x)), the block of He et al. (2016), "Deep Residual Learning
// for Image Recognition". The body is any module (conv-BN-ReLU-conv-BN for a basic block); the
// shortcut is the identity, or a module (a 1x1 Conv2d + BatchNorm2d, say) where the body changes
// the channels or the size. x feeds both paths: autograd sums its two gradients.
import { add, relu, fmtShape, type Shape, type Tensor } from '@fer/tensor';
import { Module } from '../module.js';

export interface ResidualOptions {
  /** The other path; default the identity (the body must keep x's shape then). */
  shortcut?: Module;
  /** ReLU after the sum (default true, as in He et al.); false leaves the sum as is. */
  relu?: boolean;
}

export class Residual extends Module {
  readonly body: Module;
  readonly shortcut: Module | null;
  readonly relu: boolean;

  constructor(body: Module, options: ResidualOptions = {}) {
    super();
    this.body = this.registerModule('body', body);
    this.shortcut = options.shortcut ? this.registerModule('shortcut', options.shortcut) : null;
    this.relu = options.relu ?? true;
  }

  forward(x: Tensor): Tensor {
    const y = this.body.forward(x);
    const s = this.shortcut ? this.shortcut.forward(x) : x;
    if (y.shape.length !== s.shape.length || y.shape.some((d, i) => d !== s.shape[i]))
      throw new Error(`Residual: the body gives ${fmtShape(y.shape)} but the ${this.shortcut ? 'shortcut' : 'identity shortcut'} gives ${fmtShape(s.shape)}`);
    const sum = add(y, s);
    return this.relu ? relu(sum) : sum;
  }

  override outputShape(inShape: Shape): Shape {
    const out = this.body.outputShape(inShape);
    const other = this.shortcut ? this.shortcut.outputShape(inShape) : inShape;
    if (out.length !== other.length || out.some((d, i) => d !== other[i]))
      throw new Error(`Residual: the body gives ${fmtShape(out)} but the ${this.shortcut ? 'shortcut' : 'identity shortcut'} gives ${fmtShape(other)}`);
    return out;
  }

  /** The paths' FLOPs, plus the sum and the ReLU (one operation per output value each). */
  override flops(inShape: Shape): number {
    const out = this.outputShape(inShape);
    const values = out.slice(1).reduce((p, d) => p * d, 1);
    return this.body.flops(inShape) + (this.shortcut ? this.shortcut.flops(inShape) : 0) + values * (this.relu ? 2 : 1);
  }
}
