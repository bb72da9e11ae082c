// Float64 reference of batch normalisation (PyTorch semantics), x viewed as [N, C, S].

export interface BatchNormRefResult {
  y: Float64Array;
  /** Running stats after the op (unchanged in eval). */
  runningMean: Float64Array;
  runningVar: Float64Array;
}

export function batchNormRef(
  x: ArrayLike<number>,
  shape: readonly number[],
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  runningMean: ArrayLike<number>,
  runningVar: ArrayLike<number>,
  training: boolean,
  momentum = 0.1,
  eps = 1e-5,
): BatchNormRefResult {
  const N = shape[0]!;
  const C = shape[1]!;
  const S = shape.slice(2).reduce((p, q) => p * q, 1);
  const M = N * S;
  const y = new Float64Array(N * C * S);
  const rm = Float64Array.from(runningMean);
  const rv = Float64Array.from(runningVar);
  for (let c = 0; c < C; c++) {
    let mean: number;
    let variance: number;
    if (training) {
      let s = 0;
      for (let n = 0; n < N; n++) for (let i = 0; i < S; i++) s += x[(n * C + c) * S + i]!;
      mean = s / M;
      let v = 0;
      for (let n = 0; n < N; n++) for (let i = 0; i < S; i++) v += (x[(n * C + c) * S + i]! - mean) ** 2;
      variance = v / M;
      rm[c] = (1 - momentum) * rm[c]! + momentum * mean;
      rv[c] = (1 - momentum) * rv[c]! + (momentum * variance * M) / (M - 1);
    } else {
      mean = runningMean[c]!;
      variance = runningVar[c]!;
    }
    const inv = 1 / Math.sqrt(variance + eps);
    for (let n = 0; n < N; n++)
      for (let i = 0; i < S; i++) {
        const j = (n * C + c) * S + i;
        y[j] = (x[j]! - mean) * inv * gamma[c]! + beta[c]!;
      }
  }
  return { y, runningMean: rm, runningVar: rv };
}
