// Float64 references of matmul (with transposes) and linear (PyTorch layout), row-major arrays.

/** op(a)[M, K] @ op(b)[K, N]; a is stored [M, K] (or [K, M] when transA), b [K, N] (or [N, K]). */
export function matmulRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  M: number,
  K: number,
  N: number,
  transA = false,
  transB = false,
): Float64Array {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[transA ? k * M + m : m * K + k]! * b[transB ? n * K + k : k * N + n]!;
      c[m * N + n] = s;
    }
  return c;
}

/** x[N, in] @ w[out, in]^T + bias[out]. */
export function linearRef(x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null, N: number, inF: number, outF: number): Float64Array {
  const y = matmulRef(x, w, N, inF, outF, false, true);
  if (bias) for (let i = 0; i < N; i++) for (let o = 0; o < outF; o++) y[i * outF + o]! += bias[o]!;
  return y;
}

/** Stored-layout transpose of a [R, C] matrix. */
export function transposeRef(a: ArrayLike<number>, R: number, C: number): Float64Array {
  const t = new Float64Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) t[c * R + r] = a[r * C + c]!;
  return t;
}
