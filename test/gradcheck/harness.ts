// Shared by the gradient-check suite: float64 references, central finite differences, and a
// GPU-vs-reference comparison that prints the worst element when it fails.
import { expect } from 'vitest';
import { Rng, tensor, tidy, sum, mul, type Tensor, type Shape } from '@fer/tensor';

export interface Tolerance {
  atol: number;
  rtol: number;
}

export function randomArray(n: number, rng: Rng, lo = -1, hi = 1): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(lo, hi);
  return a;
}

/** Asserts |actual - expected| <= atol + rtol * |expected| elementwise; reports the worst index. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const excess = Math.abs(a - e) - (tol.atol + tol.rtol * Math.abs(e));
    if (!(excess <= worstExcess) || Number.isNaN(a)) {
      worstExcess = Number.isNaN(a) ? Infinity : excess;
      worst = i;
    }
  }
  if (worst >= 0)
    expect.fail(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (atol ${tol.atol}, rtol ${tol.rtol})`);
}

/**
 * Central finite differences of a scalar float64 function with respect to each input array.
 * eps 1e-4 in float64 gives ~1e-8 truncation error on smooth functions.
 */
export function numericGrads(f: (inputs: Float64Array[]) => number, inputs: Float64Array[], eps = 1e-4): Float64Array[] {
  return inputs.map((x) => {
    const g = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const orig = x[i]!;
      x[i] = orig + eps;
      const fp = f(inputs);
      x[i] = orig - eps;
      const fm = f(inputs);
      x[i] = orig;
      g[i] = (fp - fm) / (2 * eps);
    }
    return g;
  });
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export interface GradCheckCase {
  /** Input arrays (float64) and shapes; all are differentiated unless `diff` says otherwise. */
  inputs: Array<{ data: Float64Array; shape: Shape; diff?: boolean }>;
  /** The GPU op under test. */
  gpu: (xs: Tensor[]) => Tensor;
  /** The float64 reference forward: returns the output, flattened, in the same layout. */
  ref: (xs: Float64Array[]) => Float64Array;
  forwardTol: Tolerance;
  gradTol: Tolerance;
  name: string;
  seed?: number;
}

/**
 * Checks forward against the float64 reference, then backward against finite differences of
 * L = sum(ref(x) * w) for a random upstream gradient w (so every output element matters).
 */
export async function gradCheck(c: GradCheckCase): Promise<void> {
  const rng = new Rng(c.seed ?? 1234);
  const expectedOut = c.ref(c.inputs.map((i) => i.data));
  const w = randomArray(expectedOut.length, rng);
  const xs = c.inputs.map((i) => tensor(Float32Array.from(i.data), i.shape, { requiresGrad: i.diff !== false }));
  const [out, grads] = await (async () => {
    const res = tidy(() => {
      const y = c.gpu(xs);
      const loss = sum(mul(y, tensor(Float32Array.from(w), y.shape)));
      loss.backward();
      return y;
    });
    const outArr = await res.toArray();
    res.dispose();
    const gs: (Float32Array | null)[] = [];
    for (const x of xs) gs.push(x.grad ? ((await x.grad.toArray()) as Float32Array) : null);
    return [outArr, gs] as const;
  })();
  expectClose(out, expectedOut, c.forwardTol, `${c.name} forward`);
  // Finite differences of the float32-rounded inputs, so both sides see the same point.
  const points = c.inputs.map((i) => Float64Array.from(Float32Array.from(i.data)));
  const numeric = numericGrads((ins) => dot(c.ref(ins), w), points);
  c.inputs.forEach((inp, k) => {
    if (inp.diff === false) return;
    expect(grads[k], `${c.name}: input ${k} got no grad`).toBeTruthy();
    expectClose(grads[k]!, numeric[k]!, c.gradTol, `${c.name} grad of input ${k}`);
  });
  for (const x of xs) {
    x.grad?.dispose();
    x.dispose();
  }
}

/** Frees leaf tensors and the gradients backward() left on them (for tests that count live buffers). */
export function disposeWithGrads(...tensors: Tensor<Shape>[]): void {
  for (const t of tensors) {
    t.grad?.dispose();
    t.dispose();
  }
}
