// Float64 references of softmax cross-entropy (PyTorch's F.cross_entropy semantics), softmax, argmax.

export type Labels = { kind: 'index'; idx: ArrayLike<number> } | { kind: 'prob'; p: ArrayLike<number> };

export interface CeOptions {
  weights?: ArrayLike<number>;
  smoothing?: number;
  reduction?: 'mean' | 'sum';
}

function logSoftmaxRow(z: ArrayLike<number>, base: number, C: number): Float64Array {
  let mx = -Infinity;
  for (let c = 0; c < C; c++) mx = Math.max(mx, z[base + c]!);
  let se = 0;
  for (let c = 0; c < C; c++) se += Math.exp(z[base + c]! - mx);
  const lse = mx + Math.log(se);
  const out = new Float64Array(C);
  for (let c = 0; c < C; c++) out[c] = z[base + c]! - lse;
  return out;
}

/** Written as PyTorch computes it: (1 - s) * nll + s / C * smooth term, normalised by the target weights. */
export function crossEntropyRef(logits: ArrayLike<number>, N: number, C: number, labels: Labels, o: CeOptions = {}): number {
  const s = o.smoothing ?? 0;
  const w = (c: number) => (o.weights ? o.weights[c]! : 1);
  let total = 0;
  let denom = 0;
  for (let i = 0; i < N; i++) {
    const lp = logSoftmaxRow(logits, i * C, C);
    if (labels.kind === 'index') {
      const y = labels.idx[i]!;
      let smooth = 0;
      for (let c = 0; c < C; c++) smooth += -w(c) * lp[c]!;
      total += (1 - s) * -w(y) * lp[y]! + (s / C) * smooth;
      denom += w(y);
    } else {
      for (let c = 0; c < C; c++) {
        const t = (1 - s) * labels.p[i * C + c]! + s / C;
        total += -w(c) * t * lp[c]!;
      }
      denom += 1;
    }
  }
  return (o.reduction ?? 'mean') === 'mean' ? total / denom : total;
}

export function softmaxRef(logits: ArrayLike<number>, N: number, C: number): Float64Array {
  const out = new Float64Array(N * C);
  for (let i = 0; i < N; i++) {
    const lp = logSoftmaxRow(logits, i * C, C);
    for (let c = 0; c < C; c++) out[i * C + c] = Math.exp(lp[c]!);
  }
  return out;
}

export function argmaxRef(x: ArrayLike<number>, N: number, C: number): Int32Array {
  const out = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (x[i * C + c]! > x[i * C + best]!) best = c;
    out[i] = best;
  }
  return out;
}
