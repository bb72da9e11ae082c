// Adam (L2 weight decay added to the gradient, as torch.optim.Adam) and AdamW (decoupled weight
// decay, as torch.optim.AdamW), both on the fused in-place adamSteps kernels.
import { adamSteps, type Tensor } from '@fer/tensor';
import { Optimizer, checkPositive, checkRange01, type ParamUpdate } from './optimizer.js';

export interface AdamOptions {
  /** Default 1e-3. */
  lr?: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8 (PyTorch; Keras uses 1e-7). */
  eps?: number;
  /** Default 0 for Adam, 0.01 for AdamW (PyTorch's defaults). */
  weightDecay?: number;
}

export class Adam extends Optimizer {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  protected readonly decoupled: boolean = false;

  constructor(params: Iterable<Tensor>, options: AdamOptions = {}) {
    super(params, options.lr ?? 1e-3, ['m', 'v']);
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? this.defaultWeightDecay();
    this.validate();
  }

  protected defaultWeightDecay(): number {
    return 0;
  }

  private validate(): void {
    const who = this.constructor.name;
    checkRange01(who, 'beta1', this.beta1);
    checkRange01(who, 'beta2', this.beta2);
    checkPositive(who, 'eps', this.eps);
    checkPositive(who, 'weightDecay', this.weightDecay, true);
  }

  protected hyper(): Record<string, number | boolean> {
    return { beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay };
  }

  protected setHyper(h: Record<string, number | boolean>): void {
    this.beta1 = Number(h.beta1);
    this.beta2 = Number(h.beta2);
    this.eps = Number(h.eps);
    this.weightDecay = Number(h.weightDecay);
    this.validate();
  }

  protected slotsFor(): readonly string[] {
    return ['m', 'v'];
  }

  protected update(batch: ReadonlyArray<ParamUpdate>): void {
    adamSteps(
      batch.map(({ i, param, grad }) => ({ param, grad, m: this.slot('m', i), v: this.slot('v', i), step: this.steps[i]! })),
      { lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay, decoupled: this.decoupled },
    );
  }
}

export class AdamW extends Adam {
  protected override readonly decoupled: boolean = true;

  protected override defaultWeightDecay(): number {
    return 0.01;
  }
}
