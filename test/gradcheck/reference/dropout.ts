// Float64 reference of inverted dropout, and a JavaScript copy of the prelude's counter-based hash
// (shaders/prelude.wgsl: pcg_hash, uniform01) so the GPU mask can be checked bit for bit.

export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

export function uniform01(seed: number, index: number): number {
  const h = pcgHash((index ^ pcgHash(seed)) >>> 0);
  return (h >>> 8) * (1 / 16777216);
}

/** The multiplier per element: 1 / (1 - p) where uniform01(seed, i) >= p, else 0 (p rounded to f32 as on the GPU). */
export function dropoutMaskRef(n: number, p: number, seed: number): Float64Array {
  const p32 = Math.fround(p);
  const scale = Math.fround(1 / (1 - p));
  const m = new Float64Array(n);
  for (let i = 0; i < n; i++) m[i] = uniform01(seed >>> 0, i) >= p32 ? scale : 0;
  return m;
}

export function dropoutRef(x: ArrayLike<number>, mask: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v, i) => v * mask[i]!);
}
