// SGD with momentum, dampening, Nesterov and L2 weight decay, as torch.optim.SGD, on the fused
// in-place sgdSteps kernels.
import { sgdSteps, type Tensor } from '@fer/tensor';
import { Optimizer, checkPositive, checkRange01, type ParamUpdate } from './optimizer.js';

export interface SgdOptions {
  /** Default 0.01. */
  lr?: number;
  /** Default 0 (plain SGD: no momentum buffer is kept). */
  momentum?: number;
  /** Default 0. */
  dampening?: number;
  /** Default false; needs momentum > 0 and dampening 0 (as PyTorch). */
  nesterov?: boolean;
  /** L2 penalty added to the gradient; default 0. */
  weightDecay?: number;
}

export class SGD extends Optimizer {
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;

  constructor(params: Iterable<Tensor>, options: SgdOptions = {}) {
    super(params, options.lr ?? 0.01, ['momentum']);
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    this.validate();
  }

  private validate(): void {
    checkRange01('SGD', 'momentum', this.momentum);
    checkRange01('SGD', 'dampening', this.dampening);
    checkPositive('SGD', 'weightDecay', this.weightDecay, true);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0))
      throw new Error(`SGD: Nesterov momentum needs momentum > 0 and dampening 0, got momentum ${this.momentum}, dampening ${this.dampening}`);
  }

  protected hyper(): Record<string, number | boolean> {
    return { momentum: this.momentum, dampening: this.dampening, nesterov: this.nesterov, weightDecay: this.weightDecay };
  }

  protected setHyper(h: Record<string, number | boolean>): void {
    this.momentum = Number(h.momentum);
    this.dampening = Number(h.dampening);
    this.nesterov = h.nesterov === true;
    this.weightDecay = Number(h.weightDecay);
    this.validate();
  }

  protected slotsFor(): readonly string[] {
    return this.momentum > 0 ? ['momentum'] : [];
  }

  protected update(batch: ReadonlyArray<ParamUpdate>): void {
    // Without momentum there is no buffer to keep (the kernel takes null).
    sgdSteps(
      batch.map(({ i, param, grad }) => ({ param, grad, buf: this.momentum > 0 ? this.slot('momentum', i) : null, firstStep: this.steps[i] === 1 })),
      { lr: this.lr, momentum: this.momentum, dampening: this.dampening, nesterov: this.nesterov, weightDecay: this.weightDecay },
    );
  }
}
