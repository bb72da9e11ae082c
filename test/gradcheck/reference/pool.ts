// Float64 reference of 2-D max pooling over NCHW ('valid' windows, floor output size).

export interface PoolRefResult {
  y: Float64Array;
  outShape: [number, number, number, number];
  /** Position of each output's maximum in its input plane (h * W + w); first maximum wins. */
  argmax: Int32Array;
}

export function maxPool2dRef(
  x: ArrayLike<number>,
  shape: readonly [number, number, number, number],
  kernel: readonly [number, number],
  stride: readonly [number, number],
): PoolRefResult {
  const [N, C, H, W] = shape;
  const [kh, kw] = kernel;
  const [sh, sw] = stride;
  const OH = Math.floor((H - kh) / sh) + 1;
  const OW = Math.floor((W - kw) / sw) + 1;
  const y = new Float64Array(N * C * OH * OW);
  const argmax = new Int32Array(y.length);
  for (let p = 0; p < N * C; p++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        let best = -Infinity;
        let bi = -1;
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++) {
            const idx = (oh * sh + i) * W + ow * sw + j;
            const v = x[p * H * W + idx]!;
            if (v > best) {
              best = v;
              bi = idx;
            }
          }
        const o = (p * OH + oh) * OW + ow;
        y[o] = best;
        argmax[o] = bi;
      }
  return { y, outShape: [N, C, OH, OW], argmax };
}

/** Gradient of maxPool2dRef w.r.t. x for an upstream gradient g (sums over overlapping windows). */
export function maxPool2dBackwardRef(g: ArrayLike<number>, argmax: Int32Array, shape: readonly [number, number, number, number], outPlane: number): Float64Array {
  const [N, C, H, W] = shape;
  const dx = new Float64Array(N * C * H * W);
  for (let o = 0; o < argmax.length; o++) {
    const p = Math.floor(o / outPlane);
    dx[p * H * W + argmax[o]!]! += g[o]!;
  }
  return dx;
}
