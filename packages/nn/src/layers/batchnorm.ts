// BatchNorm1d ([N, C]) and BatchNorm2d ([N, C, H, W]): weight/bias trainable, running_mean/var buffers.
import { batchNorm, ones, zeros, shapeSize, upload, type Shape, type Shape1, type Tensor } from '@fer/tensor';
import { Module } from '../module.js';
import { expectShape } from './init.js';

export interface BatchNormLayerOptions {
  /**
   * PyTorch convention: running = (1 - momentum) * running + momentum * batch. Default 0.1 (Keras'
   * 0.99 is 0.01 here). null: the cumulative average of every batch since the last
   * resetRunningStats() (PyTorch's momentum=None), as SWA's BatchNorm update uses.
   */
  momentum?: number | null;
  /** Default 1e-5 (PyTorch); Keras uses 1e-3. */
  eps?: number;
}

export abstract class BatchNorm extends Module {
  readonly weight: Tensor<Shape1>;
  readonly bias: Tensor<Shape1>;
  readonly runningMean: Tensor<Shape1>;
  readonly runningVar: Tensor<Shape1>;
  /** See BatchNormLayerOptions.momentum; settable (SWA's update switches to null and back). */
  momentum: number | null;
  readonly eps: number;
  /** Training batches normalized since construction or resetRunningStats() (host-side; not saved). */
  batchesTracked = 0;
  protected abstract readonly rank: number;
  protected abstract readonly layout: string;

  constructor(readonly numFeatures: number, options: BatchNormLayerOptions = {}) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures <= 0) throw new Error(`${this.typeName}: numFeatures must be a positive integer, got ${numFeatures}`);
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    this.eps = options.eps ?? 1e-5;
    if (this.momentum !== null && !(this.momentum >= 0 && this.momentum <= 1))
      throw new Error(`${this.typeName}: momentum must be in [0, 1] or null, got ${this.momentum}`);
    if (!(this.eps > 0)) throw new Error(`${this.typeName}: eps must be > 0, got ${this.eps}`);
    // PyTorch's names, so a state dict loads into torch.nn.BatchNorm*d.
    this.weight = this.registerParameter('weight', ones([numFeatures] as const));
    this.bias = this.registerParameter('bias', zeros([numFeatures] as const));
    this.runningMean = this.registerBuffer('running_mean', zeros([numFeatures] as const));
    this.runningVar = this.registerBuffer('running_var', ones([numFeatures] as const));
  }

  forward<S extends Shape>(x: Tensor<S>): Tensor<S> {
    return this.normalize(x, false);
  }

  /**
   * max(0, forward(x)) in one pass (Sequential uses it for a BatchNorm followed by a ReLU). The
   * output must stay alive until backward: the ReLU's gradient mask is read from it.
   */
  forwardRelu<S extends Shape>(x: Tensor<S>): Tensor<S> {
    return this.normalize(x, true);
  }

  private normalize<S extends Shape>(x: Tensor<S>, relu: boolean): Tensor<S> {
    expectShape(this.typeName, x.shape, this.rank, this.layout, this.numFeatures);
    // The cumulative average: batch k (from 0) weighs 1 / (k + 1).
    const momentum = this.momentum ?? 1 / (this.batchesTracked + 1);
    if (this.training) this.batchesTracked++;
    return batchNorm(x, this.weight, this.bias, this.runningMean, this.runningVar, { training: this.training, momentum, eps: this.eps, relu });
  }

  /** Running mean 0, variance 1, no batches tracked: as constructed (PyTorch's reset_running_stats). */
  resetRunningStats(): void {
    upload(this.runningMean.buffer, new Float32Array(this.numFeatures));
    upload(this.runningVar.buffer, new Float32Array(this.numFeatures).fill(1));
    this.batchesTracked = 0;
  }

  override outputShape(inShape: Shape): Shape {
    expectShape(this.typeName, inShape, this.rank, this.layout, this.numFeatures);
    return inShape;
  }

  /** Inference folds the statistics into one scale and shift: 2 FLOPs per element. */
  override flops(inShape: Shape): number {
    return 2 * shapeSize(inShape.slice(1));
  }
}

export class BatchNorm2d extends BatchNorm {
  protected readonly rank = 4;
  protected readonly layout = '[N, C, H, W]';
}

export class BatchNorm1d extends BatchNorm {
  protected readonly rank = 2;
  protected readonly layout = '[N, C]';
}
