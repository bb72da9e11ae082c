// Learning-rate schedules. Epochs count from 0; each function gives the lr to use during that epoch.
// Step decay and cosine are pure functions of the epoch (nothing to checkpoint but the epoch);
// reduce-on-plateau depends on the metric history, so it is a class with a state dict.

function check(who: string, cond: boolean, what: string): void {
  if (!cond) throw new Error(`${who}: ${what}`);
}

function checkEpoch(who: string, epoch: number): void {
  check(who, Number.isInteger(epoch) && epoch >= 0, `epoch must be an integer >= 0, got ${epoch}`);
}

export interface StepDecayOptions {
  /** The initial learning rate. */
  lr: number;
  /** Multiply by gamma every stepSize epochs. */
  stepSize: number;
  /** Default 0.1. */
  gamma?: number;
}

/** lr * gamma^floor(epoch / stepSize) (PyTorch's StepLR). */
export function stepDecay(epoch: number, o: StepDecayOptions): number {
  checkEpoch('stepDecay', epoch);
  check('stepDecay', Number.isInteger(o.stepSize) && o.stepSize > 0, `stepSize must be a positive integer, got ${o.stepSize}`);
  const gamma = o.gamma ?? 0.1;
  check('stepDecay', gamma > 0 && o.lr >= 0, `need lr >= 0 and gamma > 0, got ${o.lr}, ${gamma}`);
  return o.lr * gamma ** Math.floor(epoch / o.stepSize);
}

export interface CosineOptions {
  /** Peak learning rate (reached after warm-up). */
  lr: number;
  /** Total epochs, warm-up included. */
  epochs: number;
  /** Floor of the cosine; default 0. */
  minLr?: number;
  /** Linear warm-up epochs; default 0. */
  warmupEpochs?: number;
}

/**
 * Linear warm-up then cosine annealing: for epoch < W, lr * (epoch + 1) / (W + 1) (never 0, rising
 * towards lr); then minLr + (lr - minLr) * (1 + cos(pi * (epoch - W) / (epochs - W))) / 2 (PyTorch's
 * CosineAnnealingLR with T_max = epochs - W); minLr from epoch `epochs` on.
 */
export function cosineLr(epoch: number, o: CosineOptions): number {
  checkEpoch('cosineLr', epoch);
  const w = o.warmupEpochs ?? 0;
  const minLr = o.minLr ?? 0;
  check('cosineLr', Number.isInteger(w) && w >= 0 && Number.isInteger(o.epochs) && o.epochs > w, `need integers 0 <= warmupEpochs < epochs, got ${w}, ${o.epochs}`);
  check('cosineLr', o.lr >= 0 && minLr >= 0 && minLr <= o.lr, `need 0 <= minLr <= lr, got ${minLr}, ${o.lr}`);
  if (epoch < w) return (o.lr * (epoch + 1)) / (w + 1);
  const t = epoch - w;
  const total = o.epochs - w;
  if (t >= total) return minLr;
  return minLr + ((o.lr - minLr) * (1 + Math.cos((Math.PI * t) / total))) / 2;
}

export interface ReduceLrOnPlateauOptions {
  /** The starting learning rate. */
  lr: number;
  /** 'min' for a loss, 'max' for an accuracy; default 'min'. */
  mode?: 'min' | 'max';
  /** New lr = max(lr * factor, minLr); default 0.1. */
  factor?: number;
  /** Reduce on the `patience`-th consecutive epoch without improvement (Keras' meaning); default 10. */
  patience?: number;
  /** Epochs after a reduction whose results are not counted as bad (PyTorch's meaning); default 0. */
  cooldown?: number;
  /** Default 0. */
  minLr?: number;
  /** Least change that counts as an improvement; default 1e-4 (Keras' min_delta). */
  threshold?: number;
  /** 'abs' (Keras): better by more than threshold; 'rel' (PyTorch): by more than threshold * |best|. Default 'abs'. */
  thresholdMode?: 'abs' | 'rel';
}

export interface ReduceLrOnPlateauState {
  lr: number;
  /** Best metric so far (null before the first epoch). */
  best: number | null;
  /** Consecutive epochs without improvement. */
  wait: number;
  cooldownCounter: number;
  reductions: number;
}

/**
 * Reduce-on-plateau: call step(metric) after each epoch; it returns the lr for the next one.
 * patience and threshold follow Keras' ReduceLROnPlateau (reduce on the patience-th bad epoch;
 * PyTorch's patience p is p + 1 here), cooldown follows PyTorch (that many epochs are ignored).
 */
export class ReduceLrOnPlateau {
  readonly mode: 'min' | 'max';
  readonly factor: number;
  readonly patience: number;
  readonly cooldown: number;
  readonly minLr: number;
  readonly threshold: number;
  readonly thresholdMode: 'abs' | 'rel';
  private s: ReduceLrOnPlateauState;

  constructor(o: ReduceLrOnPlateauOptions) {
    const who = 'ReduceLrOnPlateau';
    this.mode = o.mode ?? 'min';
    this.factor = o.factor ?? 0.1;
    this.patience = o.patience ?? 10;
    this.cooldown = o.cooldown ?? 0;
    this.minLr = o.minLr ?? 0;
    this.threshold = o.threshold ?? 1e-4;
    this.thresholdMode = o.thresholdMode ?? 'abs';
    check(who, this.mode === 'min' || this.mode === 'max', `mode must be 'min' or 'max', got '${this.mode}'`);
    check(who, this.thresholdMode === 'abs' || this.thresholdMode === 'rel', `thresholdMode must be 'abs' or 'rel', got '${this.thresholdMode}'`);
    check(who, this.factor > 0 && this.factor < 1, `factor must be in (0, 1), got ${this.factor}`);
    check(who, Number.isInteger(this.patience) && this.patience >= 1, `patience must be an integer >= 1, got ${this.patience}`);
    check(who, Number.isInteger(this.cooldown) && this.cooldown >= 0, `cooldown must be an integer >= 0, got ${this.cooldown}`);
    check(who, o.lr > 0 && this.minLr >= 0 && this.threshold >= 0, `need lr > 0, minLr >= 0, threshold >= 0`);
    this.s = { lr: o.lr, best: null, wait: 0, cooldownCounter: 0, reductions: 0 };
  }

  get lr(): number {
    return this.s.lr;
  }

  private isBetter(v: number, best: number): boolean {
    const d = this.thresholdMode === 'abs' ? this.threshold : this.threshold * Math.abs(best);
    return this.mode === 'min' ? v < best - d : v > best + d;
  }

  /** Records an epoch's metric and returns the lr for the next epoch. A NaN metric counts as no improvement. */
  step(metric: number): number {
    const s = this.s;
    if (!Number.isNaN(metric) && (s.best === null || this.isBetter(metric, s.best))) {
      s.best = metric;
      s.wait = 0;
    } else s.wait++;
    // As PyTorch: epochs in cooldown do not count as bad (Keras' counter lets the last one count).
    if (s.cooldownCounter > 0) {
      s.cooldownCounter--;
      s.wait = 0;
    }
    if (s.wait >= this.patience) {
      const next = Math.max(s.lr * this.factor, this.minLr);
      if (next < s.lr) {
        s.lr = next;
        s.reductions++;
      }
      s.cooldownCounter = this.cooldown;
      s.wait = 0;
    }
    return s.lr;
  }

  stateDict(): ReduceLrOnPlateauState {
    return { ...this.s };
  }

  loadStateDict(state: ReduceLrOnPlateauState): void {
    const ok =
      state && state.lr > 0 && (state.best === null || typeof state.best === 'number') &&
      [state.wait, state.cooldownCounter, state.reductions].every((v) => Number.isInteger(v) && v >= 0);
    if (!ok) throw new Error(`ReduceLrOnPlateau.loadStateDict: malformed state ${JSON.stringify(state)}`);
    this.s = { lr: state.lr, best: state.best, wait: state.wait, cooldownCounter: state.cooldownCounter, reductions: state.reductions };
  }
}
