// Seeded pseudo-random numbers (xoshiro128**): reproducible init, shuffles and augmentation, and a
// state that checkpoints can save and restore.
export class Rng {
  private s: Uint32Array;
  constructor(seed = 0) {
    this.s = new Uint32Array(4);
    // splitmix32 spreads a small seed over the state.
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  normal(mean = 0, std = 1): number {
    // Box-Muller; 1 - u keeps log away from 0.
    const u = 1 - this.next();
    const v = this.next();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** Gamma(shape, 1) for shape > 0 (Marsaglia & Tsang 2000; shape < 1 via Gamma(shape + 1) * U^(1/shape)). */
  gamma(shape: number): number {
    if (!(shape > 0 && Number.isFinite(shape))) throw new Error(`Rng.gamma: shape must be a positive number, got ${shape}`);
    if (shape < 1) return this.gamma(shape + 1) * Math.pow(1 - this.next(), 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = 1 - this.next();
      if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
    }
  }
  /** Beta(a, b) in [0, 1], as numpy's: Gamma(a) / (Gamma(a) + Gamma(b)). */
  beta(a: number, b: number): number {
    const x = this.gamma(a);
    const y = this.gamma(b);
    return x + y > 0 ? x / (x + y) : a / (a + b);
  }
  shuffle<T>(a: T[] | Int32Array | Uint32Array): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
  }
  getState(): number[] {
    return Array.from(this.s);
  }
  setState(state: readonly number[]): void {
    if (state.length !== 4) throw new Error(`Rng state must have 4 words, got ${state.length}`);
    this.s.set(state);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

// The stream used when no seed is given (like torch.manual_seed's global generator): successive
// layers and random tensors differ, and manualSeed() makes a whole program reproducible.
let globalRng = new Rng(0);

/** Reseeds the global random stream. */
export function manualSeed(seed: number): void {
  globalRng = new Rng(seed);
}

/** An explicit Rng as is, a seed as a fresh Rng, nothing as the global stream (advanced). */
export function rngFrom(seed: number | Rng | undefined): Rng {
  return seed instanceof Rng ? seed : seed === undefined ? globalRng : new Rng(seed);
}
