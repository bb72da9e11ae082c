// Optimizer base: a parameter list, per-parameter state tensors (moments, momentum buffers) and
// step counts, a settable learning rate, and a state dict that resumes training exactly.
import { Tensor, zeros, keep, copyBuffer, upload, checkInputs, fmtShape, shapeSize } from '@fer/tensor';
import { toTyped, type HostTensor } from '../module.js';

/** What stateDict() returns: JSON-safe fields plus named state tensors (`<slot>.<param index>`). */
export interface OptimizerState {
  /** The optimizer class ('Adam', 'AdamW', 'SGD'); loading into another kind is an error. */
  type: string;
  /** Learning rate and the other hyper-parameters. */
  hyper: Record<string, number | boolean>;
  /** Steps taken by each parameter (0: never updated, no state tensors). */
  steps: number[];
  /** Live tensors (not copies), e.g. 'm.0', 'v.0', 'momentum.3'. */
  tensors: Record<string, Tensor | HostTensor>;
}

/** Parameter i (this.params[i]) and its gradient, for one step. */
export interface ParamUpdate {
  i: number;
  param: Tensor;
  grad: Tensor;
}

export abstract class Optimizer {
  readonly params: readonly Tensor[];
  /** The learning rate used by the next step(); schedules set it between epochs. */
  lr: number;
  protected readonly steps: number[];
  /** Per slot name ('m', 'v', 'momentum'), one tensor per parameter (null until its first step). */
  protected readonly slots: Record<string, Array<Tensor | null>> = {};

  constructor(params: Iterable<Tensor>, lr: number, slotNames: readonly string[]) {
    this.params = [...params];
    if (!this.params.length) throw new Error(`${this.constructor.name}: got an empty parameter list`);
    const seen = new Set<Tensor>();
    for (const p of this.params) {
      if (!(p instanceof Tensor)) throw new Error(`${this.constructor.name}: parameters must be Tensors, got ${String(p)}`);
      if (p.dtype !== 'f32') throw new Error(`${this.constructor.name}: parameter ${p.describe()} is not f32`);
      if (seen.has(p)) throw new Error(`${this.constructor.name}: parameter ${p.describe()} is listed twice`);
      seen.add(p);
    }
    this.lr = lr;
    checkPositive(this.constructor.name, 'lr', lr, true);
    this.steps = this.params.map(() => 0);
    for (const s of slotNames) this.slots[s] = this.params.map(() => null);
  }

  /** Hyper-parameters other than lr (saved in the state dict). */
  protected abstract hyper(): Record<string, number | boolean>;
  protected abstract setHyper(h: Record<string, number | boolean>): void;
  /**
   * Updates the listed parameters in place with their gradients (steps[i] already incremented);
   * all in one call, so that the kernels can update several parameters per dispatch.
   */
  protected abstract update(batch: ReadonlyArray<ParamUpdate>): void;
  /** The slots parameter i needs (allocated zeroed on first use). */
  protected abstract slotsFor(i: number): readonly string[];

  /** One update of every parameter that has a gradient (those without one are left alone, as PyTorch). */
  step(): void {
    checkPositive(this.constructor.name, 'lr', this.lr, true);
    const batch: ParamUpdate[] = [];
    this.params.forEach((param, i) => {
      const grad = param.grad;
      if (!grad) return;
      checkInputs(`${this.constructor.name}.step`, [param, grad], 'f32');
      if (grad.size !== param.size) throw new Error(`${this.constructor.name}.step: grad ${grad.describe()} does not match parameter ${param.describe()}`);
      batch.push({ i, param, grad });
    });
    for (const u of batch) this.steps[u.i]!++;
    if (batch.length) this.update(batch);
  }

  /** State tensor of a slot for parameter i, zero-initialised on first use; outlives tidy(). */
  protected slot(name: string, i: number): Tensor {
    const list = this.slots[name]!;
    let t = list[i];
    if (!t) {
      t = keep(zeros(this.params[i]!.shape));
      list[i] = t;
    }
    return t;
  }

  /** Disposes every parameter's .grad. */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Step count of parameter i (the bias-correction step of Adam). */
  stepCount(i = 0): number {
    return this.steps[i]!;
  }

  stateDict(): OptimizerState {
    const tensors: Record<string, Tensor> = {};
    for (const [name, list] of Object.entries(this.slots)) list.forEach((t, i) => t && (tensors[`${name}.${i}`] = t));
    return { type: this.constructor.name, hyper: { lr: this.lr, ...this.hyper() }, steps: [...this.steps], tensors };
  }

  /** Restores lr, hyper-parameters, step counts and state tensors (copied in), checked against the parameters. */
  loadStateDict(state: OptimizerState): void {
    const who = `${this.constructor.name}.loadStateDict`;
    if (state.type !== this.constructor.name) throw new Error(`${who}: the state is of a ${state.type} optimizer`);
    if (!Array.isArray(state.steps) || state.steps.length !== this.params.length)
      throw new Error(`${who}: the state is for ${state.steps?.length ?? 0} parameters, this optimizer has ${this.params.length}`);
    const { lr, ...hyper } = state.hyper ?? {};
    if (typeof lr !== 'number') throw new Error(`${who}: the state has no lr`);
    // The state's hyper-parameters decide which slots exist (SGD keeps buffers only with momentum).
    const oldHyper = this.hyper();
    try {
      this.setHyper(hyper);
    } catch (e) {
      this.setHyper(oldHyper);
      throw new Error(`${who}: ${(e as Error).message}`);
    }
    const errors: string[] = [];
    const known = new Set<string>();
    this.params.forEach((p, i) => {
      const steps = state.steps[i]!;
      if (!Number.isInteger(steps) || steps < 0) errors.push(`steps[${i}] = ${steps} is not a step count`);
      if (!steps) return;
      for (const s of this.slotsFor(i)) {
        const key = `${s}.${i}`;
        known.add(key);
        const t = state.tensors[key];
        if (!t) errors.push(`missing '${key}'`);
        else if (t.shape.length !== p.shape.length || t.shape.some((d, k) => d !== p.shape[k]))
          errors.push(`size mismatch for '${key}': the state has shape ${fmtShape(t.shape)}, parameter ${i} has ${fmtShape(p.shape)}`);
        else if (!(t instanceof Tensor) && t.data.length !== shapeSize(t.shape)) errors.push(`'${key}': ${t.data.length} values for shape ${fmtShape(t.shape)}`);
        else if ((t instanceof Tensor ? t.dtype : t.dtype.toLowerCase()) !== 'f32') errors.push(`'${key}' is not f32`);
      }
    });
    const extra = Object.keys(state.tensors).filter((k) => !known.has(k));
    if (extra.length) errors.push(`unexpected entries: ${extra.join(', ')}`);
    if (errors.length) {
      this.setHyper(oldHyper);
      throw new Error(`${who}: ${errors.length} error(s):\n  ${errors.join('\n  ')}`);
    }
    this.lr = lr;
    this.params.forEach((_, i) => {
      this.steps[i] = state.steps[i]!;
      const fresh: Record<string, Tensor> = {};
      if (this.steps[i])
        for (const s of this.slotsFor(i)) {
          const src = state.tensors[`${s}.${i}`]!;
          const dst = keep(zeros(this.params[i]!.shape));
          if (src instanceof Tensor) {
            checkInputs(who, [src]);
            if (src.size) copyBuffer(src.buffer, dst.buffer, src.size * 4);
          } else if (dst.size) upload(dst.buffer, toTyped('F32', src.data));
          fresh[s] = dst;
        }
      // Old state goes after the copies are recorded: loading an optimizer's own state dict works.
      for (const [name, list] of Object.entries(this.slots)) {
        list[i]?.dispose();
        list[i] = fresh[name] ?? null;
      }
    });
  }

  /** Frees the state tensors (not the parameters). */
  dispose(): void {
    for (const list of Object.values(this.slots))
      list.forEach((t, i) => {
        t?.dispose();
        list[i] = null;
      });
  }
}

export function checkPositive(who: string, name: string, v: number, allowZero = false): void {
  if (!(Number.isFinite(v) && (allowZero ? v >= 0 : v > 0))) throw new Error(`${who}: ${name} must be a finite number ${allowZero ? '>= 0' : '> 0'}, got ${v}`);
}

export function checkRange01(who: string, name: string, v: number): void {
  if (!(v >= 0 && v < 1)) throw new Error(`${who}: ${name} must be in [0, 1), got ${v}`);
}
