// Float64 references of torch.optim.Adam / AdamW / SGD single steps (in place on the arrays).

export interface AdamRefOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupled: boolean;
  step: number;
}

export function adamRef(p: Float64Array, grad: ArrayLike<number>, m: Float64Array, v: Float64Array, o: AdamRefOptions): void {
  const bc1 = 1 - o.beta1 ** o.step;
  const bc2 = 1 - o.beta2 ** o.step;
  for (let i = 0; i < p.length; i++) {
    let g = grad[i]!;
    if (o.decoupled) p[i] = p[i]! * (1 - o.lr * o.weightDecay);
    else g += o.weightDecay * p[i]!;
    m[i] = o.beta1 * m[i]! + (1 - o.beta1) * g;
    v[i] = o.beta2 * v[i]! + (1 - o.beta2) * g * g;
    const mhat = m[i]! / bc1;
    const vhat = v[i]! / bc2;
    p[i] = p[i]! - (o.lr * mhat) / (Math.sqrt(vhat) + o.eps);
  }
}

export interface SgdRefOptions {
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
}

/** `first`: PyTorch's first step, where the momentum buffer is initialised to the gradient. */
export function sgdRef(p: Float64Array, grad: ArrayLike<number>, buf: Float64Array, o: SgdRefOptions, first: boolean): void {
  for (let i = 0; i < p.length; i++) {
    let d = grad[i]! + o.weightDecay * p[i]!;
    if (o.momentum !== 0) {
      buf[i] = first ? d : o.momentum * buf[i]! + (1 - o.dampening) * d;
      d = o.nesterov ? d + o.momentum * buf[i]! : buf[i]!;
    }
    p[i] = p[i]! - o.lr * d;
  }
}
