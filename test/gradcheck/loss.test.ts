import { describe, it, expect } from 'vitest';
import { Rng, softmaxCrossEntropy, softmax, argmax, accumulateStats, tensor, zeros, tidy, type Tensor, type Shape1, type Shape2, type CrossEntropyOptions } from '@fer/tensor';
import { gradCheck, randomArray, expectClose } from './harness.js';
import { crossEntropyRef, softmaxRef, argmaxRef, type Labels } from './reference/loss.js';
import { useGpu } from '../setup-gpu.js';

useGpu();

// Forward: the loss is a sum of O(1..50) terms computed in f32 from logits that carry their own
// f32 rounding (~1e-5 at 100): atol 1e-4 with rtol 1e-5. Backward: gradients are O(1/N) values
// (softmax - target) * weights whose f32 error is ~1e-7 of 1; float64 central differences are
// exact to ~1e-8: 2e-5 absolute.
const FWD = { atol: 1e-4, rtol: 1e-5 };
const GRAD = { atol: 2e-5, rtol: 1e-4 };

function randomLabels(kind: 'index' | 'prob', N: number, C: number, rng: Rng): Labels {
  if (kind === 'index') return { kind, idx: Int32Array.from({ length: N }, () => Math.floor(rng.uniform(0, C)) % C) };
  // Soft rows summing to 1, rounded to f32 as the GPU sees them.
  const p = new Float64Array(N * C);
  for (let i = 0; i < N; i++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += p[i * C + c] = rng.uniform(0.05, 1);
    for (let c = 0; c < C; c++) p[i * C + c] = Math.fround(p[i * C + c]! / s);
  }
  return { kind, p };
}

function labelTensor(l: Labels, N: number, C: number): Tensor {
  return l.kind === 'index' ? tensor(Int32Array.from(l.idx), [N] as const) : tensor(Float32Array.from(l.p), [N, C] as const);
}

interface Case {
  N: number;
  C: number;
  kind: 'index' | 'prob';
  /** Logits ~ center + U(-spread, spread). */
  center: number;
  spread: number;
  smoothing?: number;
  weights?: 'array' | 'tensor';
  reduction?: 'mean' | 'sum';
}

describe('softmaxCrossEntropy gradcheck', () => {
  const rng = new Rng(21);
  const cases: Case[] = [
    { N: 5, C: 7, kind: 'index', center: 0, spread: 3 },
    { N: 6, C: 7, kind: 'index', center: 100, spread: 20 }, // large logits: exp(100) overflows without the max shift
    { N: 4, C: 7, kind: 'prob', center: -100, spread: 20 },
    { N: 1, C: 7, kind: 'index', center: 0, spread: 2 },
    { N: 1, C: 2, kind: 'prob', center: 100, spread: 5 },
    { N: 3, C: 2, kind: 'index', center: 0, spread: 2, reduction: 'sum' },
    { N: 4, C: 1, kind: 'index', center: 0, spread: 2 }, // one class: loss 0, grad 0
    { N: 3, C: 1, kind: 'prob', center: 5, spread: 2, smoothing: 0.2 },
    { N: 9, C: 7, kind: 'index', center: 0, spread: 4, smoothing: 0.1 },
    { N: 9, C: 7, kind: 'prob', center: 0, spread: 4, smoothing: 0.3, reduction: 'sum' },
    { N: 8, C: 7, kind: 'index', center: 0, spread: 3, weights: 'array' },
    { N: 8, C: 7, kind: 'index', center: 100, spread: 10, weights: 'tensor', smoothing: 0.1 },
    { N: 5, C: 7, kind: 'index', center: 0, spread: 3, weights: 'array', smoothing: 0.2, reduction: 'sum' },
    { N: 5, C: 7, kind: 'prob', center: 0, spread: 3, weights: 'tensor' },
    { N: 7, C: 5, kind: 'prob', center: 0, spread: 3, weights: 'array', smoothing: 0.15 },
    { N: 70, C: 7, kind: 'index', center: 0, spread: 3, weights: 'array', smoothing: 0.05 }, // rows over 2 workgroups
  ];
  for (const k of cases) {
    const name = `N=${k.N} C=${k.C} ${k.kind} logits~${k.center} s=${k.smoothing ?? 0} w=${k.weights ?? 'none'} ${k.reduction ?? 'mean'}`;
    it(name, () => {
      const logits = randomArray(k.N * k.C, rng, k.center - k.spread, k.center + k.spread);
      const labels = randomLabels(k.kind, k.N, k.C, rng);
      const w = k.weights ? Array.from(randomArray(k.C, rng, 0.2, 2), Math.fround) : undefined;
      const opts = (): CrossEntropyOptions => ({
        labelSmoothing: k.smoothing,
        reduction: k.reduction,
        classWeights: w === undefined ? undefined : k.weights === 'tensor' ? tensor(w, [k.C] as const) : w,
      });
      return gradCheck({
        name,
        inputs: [{ data: logits, shape: [k.N, k.C] }],
        gpu: ([z]) => softmaxCrossEntropy(z as Tensor<Shape2>, labelTensor(labels, k.N, k.C), opts()),
        ref: ([z]) => Float64Array.of(crossEntropyRef(z!, k.N, k.C, labels, { weights: w, smoothing: k.smoothing, reduction: k.reduction })),
        forwardTol: FWD,
        gradTol: GRAD,
      });
    });
  }

  it('stays finite for logits of 1e4 and -1e4', async () => {
    const N = 3;
    const C = 4;
    const z = Float64Array.of(1e4, -1e4, 0, 1e4 - 3, -1e4, -1e4 + 1, -1e4 + 2, -1e4, 5e3, 1e4, -1e4, 0);
    const labels: Labels = { kind: 'index', idx: [1, 2, 0] };
    const expected = crossEntropyRef(z, N, C, labels);
    const loss = tidy(() => softmaxCrossEntropy(tensor(Float32Array.from(z), [N, C] as const), labelTensor(labels, N, C)));
    const v = await loss.item();
    loss.dispose();
    expect(Number.isFinite(v)).toBe(true);
    expectClose([v], [expected], { atol: 1e-2, rtol: 1e-6 }, 'loss at 1e4');
  });

  it('out-of-range class indices are clamped to [0, C-1] (no out-of-bounds reads)', async () => {
    const N = 4;
    const C = 5;
    const z = randomArray(N * C, rng, -2, 2);
    const run = (idx: number[]) =>
      tidy(() => {
        const zt = tensor(Float32Array.from(z), [N, C] as const, { requiresGrad: true });
        const loss = softmaxCrossEntropy(zt, tensor(Int32Array.from(idx), [N] as const), { classWeights: [1, 2, 3, 4, 5] });
        loss.backward();
        const g = zt.grad!;
        zt.grad = null;
        return [loss, g] as const;
      });
    const [l1, g1] = run([-3, 99, 2, -2147483648]);
    const [l2, g2] = run([0, 4, 2, 0]);
    expect(await l1.item()).toBe(await l2.item());
    expect(Array.from(await g1.toArray())).toEqual(Array.from(await g2.toArray()));
    for (const t of [l1, g1, l2, g2]) t.dispose();
  });
});

describe('softmax and argmax', () => {
  const rng = new Rng(22);
  for (const [N, C, center] of [
    [1, 1, 0],
    [3, 7, 0],
    [5, 2, 100],
    [67, 10, -50],
  ] as const) {
    it(`softmax [${N}, ${C}] around ${center}`, () =>
      gradCheck({
        name: 'softmax',
        inputs: [{ data: randomArray(N * C, rng, center - 5, center + 5), shape: [N, C] }],
        gpu: ([z]) => softmax(z as Tensor<Shape2>),
        ref: ([z]) => softmaxRef(z!, N, C),
        // Probabilities in [0, 1]: f32 exp/divide error ~1e-7, plus input rounding at 100.
        forwardTol: { atol: 2e-6, rtol: 1e-5 },
        gradTol: GRAD,
      }));
  }

  it('argmax picks the first maximum of each row', async () => {
    const N = 70;
    const C = 7;
    // Small integers, so ties are frequent.
    const x = Float32Array.from({ length: N * C }, () => Math.floor(rng.uniform(0, 4)));
    x.set([3, 3, 3, 3, 3, 3, 3], 0);
    x.set([-1, -5, -1, -2, -9, -1, -3], 7);
    const out = tidy(() => argmax(tensor(x, [N, C] as const)));
    expect(out.dtype).toBe('i32');
    expect(out.shape).toEqual([N]);
    const got = await out.toArray();
    expect(got).toBeInstanceOf(Int32Array);
    expect(Array.from(got)).toEqual(Array.from(argmaxRef(x, N, C)));
    expect(got[0]).toBe(0);
    expect(got[1]).toBe(0);
    out.dispose();
    const one = tidy(() => argmax(tensor([2.5, 7, -1], [3, 1] as const)));
    expect(Array.from(await one.toArray())).toEqual([0, 0, 0]);
    one.dispose();
  });
});

describe('accumulateStats (running loss and accuracy on the GPU)', () => {
  it('adds loss * N, the rows whose argmax is their label, and N, over several steps', async () => {
    const rng = new Rng(71);
    const stats = tensor(new Float32Array([1.5, 2, 3]), [3] as const);
    let expected = [1.5, 2, 3];
    for (const [N, C] of [[13, 7], [1, 7], [64, 3]] as const) {
      const logits = Float32Array.from(randomArray(N * C, rng));
      // Ties: row 0 repeats its maximum, so the first index must win.
      logits[1] = logits[0] = 5;
      const labels = Int32Array.from({ length: N }, (_, i) => (i % 3 === 0 ? argmaxRef(Float64Array.from(logits), N, C)[i]! : Math.floor(rng.uniform(0, C))));
      const lossValue = rng.uniform(0, 3);
      const l = tensor(new Float32Array([lossValue]), [] as const);
      const lg = tensor(logits, [N, C] as const);
      const lb = tensor(labels, [N] as const, { dtype: 'i32' });
      accumulateStats(stats, l, lg, lb);
      const pred = argmaxRef(Float64Array.from(logits), N, C);
      const correct = labels.filter((y, i) => y === pred[i]).length;
      expected = [expected[0]! + Math.fround(lossValue) * N, expected[1]! + correct, expected[2]! + N];
      for (const t of [l, lg, lb]) t.dispose();
    }
    expectClose(await stats.toArray(), expected, { atol: 1e-4, rtol: 1e-6 }, 'stats');
    stats.dispose();
  });

  it('rejects a stats tensor of the wrong size and mismatched labels', () => {
    const lg = zeros([4, 3] as const);
    const l = zeros([] as const);
    const lb = tensor(new Int32Array(4), [4] as const, { dtype: 'i32' });
    expect(() => accumulateStats(zeros([2] as const), l, lg, lb)).toThrow(/stats must have 3 elements/);
    expect(() => accumulateStats(zeros([3] as const), l, lg, tensor(new Int32Array(5), [5] as const, { dtype: 'i32' }))).toThrow(/do not match logits/);
    expect(() => accumulateStats(zeros([3] as const), l, lg, zeros([4] as const) as unknown as Tensor<Shape1>)).toThrow(/i32/);
  });
});

describe('loss bad inputs', () => {
  it('rejects wrong shapes, dtypes, options and disposed tensors', () => {
    tidy(() => {
      const z = zeros([4, 3] as const);
      const idx = tensor(Int32Array.of(0, 1, 2, 0), [4] as const);
      expect(() => softmaxCrossEntropy(z, tensor([0, 1, 2, 0], [4] as const))).toThrow(/labels must be i32 class indices of shape \[4\] or f32 probabilities of shape \[4, 3\].*f32\[4\]/);
      expect(() => softmaxCrossEntropy(z, tensor(Int32Array.of(0, 1, 2), [3] as const))).toThrow(/labels must be .*i32\[3\]/);
      expect(() => softmaxCrossEntropy(z, zeros([4, 2] as const))).toThrow(/f32 probabilities of shape \[4, 3\]/);
      expect(() => softmaxCrossEntropy(zeros([4, 3, 1] as const) as unknown as Tensor<Shape2>, idx)).toThrow(/rank-2 tensor \[N, C\], got shape \[4, 3, 1\]/);
      expect(() => softmaxCrossEntropy(zeros([0, 3] as const), tensor(new Int32Array(0), [0] as const))).toThrow(/empty batch/);
      expect(() => softmaxCrossEntropy(z, idx, { classWeights: [1, 2] })).toThrow(/classWeights must hold 3 numbers, got 2/);
      expect(() => softmaxCrossEntropy(z, idx, { classWeights: [1, NaN, 2] })).toThrow(/finite/);
      expect(() => softmaxCrossEntropy(z, idx, { classWeights: zeros([4] as const) as Tensor<Shape1> })).toThrow(/classWeights must have shape \[3\], got shape \[4\]/);
      expect(() => softmaxCrossEntropy(z, idx, { labelSmoothing: 1.5 })).toThrow(/labelSmoothing/);
      expect(() => softmaxCrossEntropy(z, idx, { reduction: 'none' as never })).toThrow(/reduction/);
      expect(() => softmaxCrossEntropy(tensor(Int32Array.of(1, 2, 3, 4), [2, 2] as const), idx)).toThrow(/expected a f32 tensor/);
      expect(() => softmax(zeros([3] as const) as unknown as Tensor<Shape2>)).toThrow(/rank-2/);
      expect(() => argmax(zeros([2, 0] as const))).toThrow(/at least one class/);
      const d = zeros([4, 3] as const);
      d.dispose();
      expect(() => softmaxCrossEntropy(d, idx)).toThrow(/disposed/);
      expect(() => argmax(d)).toThrow(/disposed/);
    });
  });
});
