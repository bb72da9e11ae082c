import { afterAll, describe, expect, it } from 'vitest';
import { Rng, maxPool2d, setPoolPairRows, tensor, tidy, sum, mul, zeros, noGrad, type Tensor, type Shape4 } from '@fer/tensor';
import { gradCheck, randomArray, expectClose } from './harness.js';
import { maxPool2dRef, maxPool2dBackwardRef } from './reference/pool.js';
import { useGpu } from '../setup-gpu.js';

useGpu();

// The forward selects one input element: exact up to the f32 rounding of the input. The gradient sums at most ceil(k/s)^2 upstream
// values per input in f32 (finite differences are exact for a piecewise-linear function away from ties).
const FWD = { atol: 0, rtol: 1e-7 }; // only the f32 rounding of the float64 test input
const GRAD = { atol: 1e-5, rtol: 1e-5 };

/** Distinct values 0.01 apart in random order: no ties, and a finite-difference step (1e-4) never changes the argmax. */
function distinct(n: number, rng: Rng): Float64Array {
  const idx = Array.from({ length: n }, (_, i) => i);
  rng.shuffle(idx);
  return Float64Array.from(idx, (i) => (i - n / 2) * 0.01);
}

type Pair = readonly [number, number];

describe('maxPool2d gradcheck', () => {
  const rng = new Rng(21);
  const cases: Array<{ shape: Shape4; kernel: number | Pair; stride?: number | Pair }> = [
    { shape: [2, 3, 7, 9], kernel: 2, stride: 2 },
    { shape: [2, 3, 7, 9], kernel: 3, stride: 2 }, // overlapping windows
    { shape: [2, 3, 7, 9], kernel: 3, stride: 1 }, // each input in up to 9 windows
    { shape: [2, 3, 7, 9], kernel: 2 }, // stride defaults to the kernel
    { shape: [1, 1, 7, 9], kernel: 2, stride: 2 }, // batch 1, odd sizes (last row/column dropped)
    { shape: [1, 2, 7, 9], kernel: [2, 3], stride: [1, 2] }, // rectangular window
    { shape: [1, 2, 7, 9], kernel: [3, 2], stride: [2, 3] },
    { shape: [2, 1, 8, 8], kernel: 2, stride: 3 }, // gaps: some inputs in no window
    { shape: [1, 2, 4, 5], kernel: [4, 5] }, // one window covering the plane
    { shape: [2, 2, 3, 3], kernel: 1 }, // identity
    { shape: [2, 3, 6, 8], kernel: 2, stride: 2 }, // the vectorised pair kernels (even H, W % 4 == 0)
    { shape: [1, 2, 2, 4], kernel: 2 }, // pair kernels, one row of output pairs
  ];
  for (const { shape, kernel, stride } of cases) {
    const k: Pair = typeof kernel === 'number' ? [kernel, kernel] : kernel;
    const s: Pair = stride === undefined ? k : typeof stride === 'number' ? [stride, stride] : stride;
    const tag = `${shape} kernel ${kernel} stride ${stride ?? 'default'}`;
    it(tag, () =>
      gradCheck({
        name: `maxPool2d ${tag}`,
        inputs: [{ data: distinct(shape.reduce((p, q) => p * q, 1), rng), shape }],
        gpu: ([x]) => maxPool2d(x as Tensor<Shape4>, stride === undefined ? { kernel } : { kernel, stride }),
        ref: ([x]) => maxPool2dRef(x!, shape, k, s).y,
        forwardTol: FWD,
        gradTol: GRAD,
      }),
    );
  }
});

async function checkAgainstArgmax(xData: Float64Array, shape: Shape4, kernel: Pair, stride: Pair, rng: Rng, what: string): Promise<void> {
  const x32 = Float32Array.from(xData);
  const ref = maxPool2dRef(x32, shape, kernel, stride);
  const g = Float32Array.from(randomArray(ref.y.length, rng));
  const x = tensor(x32, shape, { requiresGrad: true });
  const y = tidy(() => {
    const out = maxPool2d(x, { kernel, stride });
    sum(mul(out, tensor(g, out.shape))).backward();
    return out;
  });
  expect(y.shape).toEqual(ref.outShape);
  expectClose(await y.toArray(), ref.y, FWD, `${what} forward`);
  const outPlane = ref.outShape[2] * ref.outShape[3];
  expectClose(await x.grad!.toArray(), maxPool2dBackwardRef(g, ref.argmax, shape, outPlane), GRAD, `${what} backward`);
  for (const t of [y, x.grad!, x]) t.dispose();
}

describe('maxPool2d larger sizes and ties', () => {
  const rng = new Rng(22);
  it('[4, 16, 24, 24] kernel 2 stride 2 (random floats)', () =>
    checkAgainstArgmax(randomArray(4 * 16 * 24 * 24, rng), [4, 16, 24, 24], [2, 2], [2, 2], rng, 'k2s2'));
  it('[3, 8, 23, 17] kernel 3 stride 2 (random floats)', () =>
    checkAgainstArgmax(randomArray(3 * 8 * 23 * 17, rng), [3, 8, 23, 17], [3, 3], [2, 2], rng, 'k3s2'));
  // Ties: the first maximum in row-major window order takes the whole gradient.
  it('ties go to the first maximum (constant input, kernel 2 stride 2)', () =>
    checkAgainstArgmax(new Float64Array(2 * 2 * 6 * 6).fill(0.5), [2, 2, 6, 6], [2, 2], [2, 2], rng, 'ties k2s2'));
  it('ties go to the first maximum (pair kernels: constant input, [2, 2, 8, 12] kernel 2 stride 2)', () =>
    checkAgainstArgmax(new Float64Array(2 * 2 * 8 * 12).fill(-0.25), [2, 2, 8, 12], [2, 2], [2, 2], rng, 'ties pairs'));
  it('ties within some windows only (pair kernels)', () => {
    const data = Float64Array.from({ length: 1 * 3 * 4 * 8 }, (_, i) => (i % 5 === 0 ? 0.5 : i % 7 === 0 ? 0.5 : (i % 11) / 40));
    return checkAgainstArgmax(data, [1, 3, 4, 8], [2, 2], [2, 2], rng, 'partial ties pairs');
  });
  it('ties go to the first maximum (overlapping windows, kernel 3 stride 1)', () => {
    const data = Float64Array.from({ length: 1 * 1 * 5 * 7 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    return checkAgainstArgmax(data, [1, 1, 5, 7], [3, 3], [1, 1], rng, 'ties k3s1');
  });
  it('pair kernels without a tape give the same values', async () => {
    const data = Float32Array.from(randomArray(2 * 3 * 6 * 8, rng));
    const ref = maxPool2dRef(data, [2, 3, 6, 8], [2, 2], [2, 2]);
    const plain = maxPool2d(tensor(data, [2, 3, 6, 8] as const), { kernel: 2 });
    expectClose(await plain.toArray(), ref.y, FWD, 'pairs no grad');
    plain.dispose();
  });
  it('forward without a tape (no argmax kept) gives the same values', async () => {
    const data = Float32Array.from(randomArray(2 * 3 * 9 * 7, rng));
    const ref = maxPool2dRef(data, [2, 3, 9, 7], [3, 3], [2, 2]);
    const plain = maxPool2d(tensor(data, [2, 3, 9, 7] as const), { kernel: 3, stride: 2 });
    expect(plain.node).toBeNull();
    expectClose(await plain.toArray(), ref.y, FWD, 'no grad');
    const x = tensor(data, [2, 3, 9, 7] as const, { requiresGrad: true });
    const underNoGrad = noGrad(() => maxPool2d(x, { kernel: 3, stride: 2 }));
    expect(underNoGrad.requiresGrad).toBe(false);
    expectClose(await underNoGrad.toArray(), ref.y, FWD, 'noGrad');
    for (const t of [plain, underNoGrad, x]) t.dispose();
  });
});

// The 2x2 stride-2 pair kernels come in two forms (a pair or a row of pairs per invocation); the
// adapter picks one, so each is forced here in turn.
for (const rows of [false, true]) {
  describe(`maxPool2d pair kernels, ${rows ? 'a row of pairs' : 'a pair'} per invocation`, () => {
    const rng = new Rng(rows ? 24 : 23);
    const force = () => setPoolPairRows(rows);
    afterAll(() => setPoolPairRows(null));
    for (const shape of [[2, 3, 6, 8], [1, 2, 2, 4], [2, 2, 4, 12]] as Shape4[]) {
      it(`gradcheck ${shape}`, () => {
        force();
        return gradCheck({
          name: `maxPool2d pairs ${shape} rows ${rows}`,
          inputs: [{ data: distinct(shape.reduce((p, q) => p * q, 1), rng), shape }],
          gpu: ([x]) => maxPool2d(x as Tensor<Shape4>, { kernel: 2 }),
          ref: ([x]) => maxPool2dRef(x!, shape, [2, 2], [2, 2]).y,
          forwardTol: FWD,
          gradTol: GRAD,
        });
      });
    }
    it('[4, 16, 24, 24] (random floats)', () => {
      force();
      return checkAgainstArgmax(randomArray(4 * 16 * 24 * 24, rng), [4, 16, 24, 24], [2, 2], [2, 2], rng, `rows ${rows} k2s2`);
    });
    it('ties go to the first maximum', () => {
      force();
      return checkAgainstArgmax(new Float64Array(2 * 2 * 8 * 12).fill(-0.25), [2, 2, 8, 12], [2, 2], [2, 2], rng, `rows ${rows} ties`);
    });
    it('ties within some windows only', () => {
      force();
      const data = Float64Array.from({ length: 1 * 3 * 4 * 8 }, (_, i) => (i % 5 === 0 ? 0.5 : i % 7 === 0 ? 0.5 : (i % 11) / 40));
      return checkAgainstArgmax(data, [1, 3, 4, 8], [2, 2], [2, 2], rng, `rows ${rows} partial ties`);
    });
    it('without a tape gives the same values', async () => {
      force();
      const data = Float32Array.from(randomArray(2 * 3 * 6 * 8, rng));
      const ref = maxPool2dRef(data, [2, 3, 6, 8], [2, 2], [2, 2]);
      const plain = maxPool2d(tensor(data, [2, 3, 6, 8] as const), { kernel: 2 });
      expectClose(await plain.toArray(), ref.y, FWD, `rows ${rows} no grad`);
      plain.dispose();
    });
  });
}

describe('maxPool2d errors', () => {
  it('rejects bad shapes, options, dtypes and disposed tensors', () => {
    const x = zeros([1, 2, 5, 5] as const);
    expect(() => maxPool2d(zeros([2, 5, 5] as const) as unknown as Tensor<Shape4>, { kernel: 2 })).toThrow(/rank-4 tensor \[N, C, H, W\], got shape \[2, 5, 5\]/);
    expect(() => maxPool2d(x, { kernel: 6 })).toThrow(/input \[1, 2, 5, 5\] is smaller than the 6x6 window/);
    expect(() => maxPool2d(x, { kernel: [2, 6] })).toThrow(/smaller than the 2x6 window/);
    expect(() => maxPool2d(x, { kernel: 0 })).toThrow(/kernel must be a positive integer/);
    expect(() => maxPool2d(x, { kernel: 2, stride: 1.5 })).toThrow(/stride must be a positive integer/);
    expect(() => maxPool2d(x, { kernel: [2] as unknown as Pair })).toThrow(/kernel must be .* pair/);
    expect(() => maxPool2d(zeros([1, 1, 4, 4] as const, { dtype: 'i32' }), { kernel: 2 })).toThrow(/expected a f32 tensor/);
    const d = zeros([1, 1, 4, 4] as const);
    d.dispose();
    expect(() => maxPool2d(d, { kernel: 2 })).toThrow(/disposed/);
    x.dispose();
  });
  it('an empty batch gives an empty output', () => {
    expect(maxPool2d(zeros([0, 3, 6, 6] as const), { kernel: 2 }).shape).toEqual([0, 3, 3, 3]);
  });
});
