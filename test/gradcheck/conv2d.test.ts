import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng, conv2d, setConvVariant, setConvForwardVariant, setPadKernel, hasSubgroups8, conv2dOutputShape, memory, mul, sum, tensor, tidy, type Conv2dOptions, type Shape4, type Tensor } from '@fer/tensor';
import { disposeWithGrads, randomArray } from './harness.js';
import { useGpu, withVariant } from '../setup-gpu.js';
import { CASES, checkLarge, gradcheckCases, kernelSetSuite, kernelSetsOf } from './conv2d-suite.js';

useGpu();

// The register-blocked row kernels (any adapter) and the tiled implicit-GEMM forward kernels meant
// for hardware GPUs; the other sets are in conv2d-subgroup, conv2d-few-channels and conv2d-winograd
// (kernelSetFile in conv2d-suite.ts assigns each set to one file).
for (const name of kernelSetsOf('rows and gemm')) kernelSetSuite(name);

// The hardware-GPU weight gradient (weight_gemm: tiled GEMM, implicit im2col, split-K), forced on
// whatever adapter runs the tests; same cases and tolerances (its sums are regrouped, not longer).
const GEMM_CASES = new Set([
  '1x1 valid, batch 1',
  '1x1 stride 2, batch 3, no bias',
  '3x3 same stride 2, no bias',
  '3x3 padding 1 stride 2, batch 3',
  '3x3 same stride [2, 1]',
  '3x3 same, Cin 1, x without grad',
  '5x5 same, batch 1',
  '5x5 valid stride 2, batch 3',
  '4x4 (even) same stride 2',
  '1x1 padding 1 (border outputs see only padding)',
  '2x17 valid (generic path)',
  '5x5 same on a 3x4 input (kernel larger than the input)',
]);

describe('conv2d gradcheck, GPU weight-gradient variant', () => {
  let prev: ReturnType<typeof setConvVariant> = 'auto';
  beforeAll(() => {
    prev = setConvVariant('gpu');
  });
  afterAll(() => {
    setConvVariant(prev);
  });
  gradcheckCases(CASES.filter((c) => GEMM_CASES.has(c.name)), 2025);
  // Cout 70 crosses the 64-row tile edge and Cin*KH*KW = 6*25 = 150 the 128-column one; K = N*OH*OW 2*13*11 = 286 and
  // 4*24*24 = 2304 take one and several K splits.
  it('grads N=2, 6 -> 70 channels, 13x11, 3x3 same stride 1 (partial tiles)', () =>
    checkLarge([2, 6, 13, 11], [70, 6, 3, 3], { padding: 'same' }, true, 21));
  it('grads N=4, 6 -> 10 channels, 24x24, 5x5 same (split-K)', () => checkLarge([4, 6, 24, 24], [10, 6, 5, 5], { padding: 'same' }, true, 22));
  it('grads N=2, 8 -> 8 channels, 12x12, 5x5 padding 1 stride 2', () =>
    checkLarge([2, 8, 12, 12], [8, 8, 5, 5], { padding: 1, stride: 2 }, true, 23));
  it('rejects an unknown variant', () => {
    expect(() => setConvVariant('fast' as 'gpu')).toThrow(/expected one of auto, cpu, gpu, gpu_k, subgroup, sgv4, sgv8, sgr, sgr4, wino, wino3, wino4, wino6, wino5, wino45, wino4s, wino6s/);
    expect(() => setConvForwardVariant('fast' as 'rows')).toThrow(/expected one of rows, rows_split, rows_pf, rows_split_pf, gemm, gemm64, gemm32, subgroup, sg2, sg3, sg4, sg2x2, sgr, sgr4, sgr12, thin, few, fewd, wino, wino3, wino4, wino6, wino5, wino45, wino4s, wino6s or null/);
  });
});

describe('conv2d larger shapes against the reference', () => {
  it('forward N=2, 16 -> 32 channels, 24x24, 5x5 same', () => checkLarge([2, 16, 24, 24], [32, 16, 5, 5], { padding: 'same' }, false, 11));
  it('forward and grads N=2, 6 -> 10 channels, 13x11, 3x3 same', () => checkLarge([2, 6, 13, 11], [10, 6, 3, 3], { padding: 'same' }, true, 12));
  it('forward and grads N=2, 8 -> 8 channels, 12x12, 5x5 padding 1 stride 2', () =>
    checkLarge([2, 8, 12, 12], [8, 8, 5, 5], { padding: 1, stride: 2 }, true, 13));
  it('forward and grads N=4, 1 -> 6 channels, 24x24, 3x3 same (split weight-gradient reduction)', () =>
    checkLarge([4, 1, 24, 24], [6, 1, 3, 3], { padding: 'same' }, true, 14));
  it('forward and grads N=2, 16 -> 32 channels, 12x12, 3x3 same (unsplit weight-gradient reduction)', () =>
    checkLarge([2, 16, 12, 12], [32, 16, 3, 3], { padding: 'same' }, true, 15));
});

describe('conv2d temporaries', () => {
  it('frees its packed, padded and partial buffers (fast and generic paths)', async () => {
    const rng = new Rng(16);
    for (const opts of [{ padding: 'same' }, { padding: 1, stride: 2 }] as const) {
      const x = tensor(Float32Array.from(randomArray(2 * 3 * 9 * 9, rng)), [2, 3, 9, 9] as const, { requiresGrad: true });
      const w = tensor(Float32Array.from(randomArray(5 * 3 * 3 * 3, rng)), [5, 3, 3, 3] as const, { requiresGrad: true });
      const b = tensor(Float32Array.from(randomArray(5, rng)), [5] as const, { requiresGrad: true });
      const before = memory().liveBuffers;
      tidy(() => sum(conv2d(x, w, b, opts)).backward());
      // Only the three gradients outlive the step.
      expect(memory().liveBuffers).toBe(before + 3);
      disposeWithGrads(x, w, b);
    }
  });
});

describe('conv2d temporaries, GPU weight-gradient variant', () => {
  it('frees its split-K partials', () => {
    const rng = new Rng(17);
    const prev = setConvVariant('gpu');
    try {
      // K = N*OH*OW = 4*12*12 = 576: two K splits, so a partial buffer is made and summed.
      const x = tensor(Float32Array.from(randomArray(4 * 3 * 12 * 12, rng)), [4, 3, 12, 12] as const, { requiresGrad: true });
      const w = tensor(Float32Array.from(randomArray(5 * 3 * 3 * 3, rng)), [5, 3, 3, 3] as const, { requiresGrad: true });
      const before = memory().liveBuffers;
      tidy(() => sum(conv2d(x, w, null, { padding: 'same' })).backward());
      expect(memory().liveBuffers).toBe(before + 2);
      disposeWithGrads(x, w);
    } finally {
      setConvVariant(prev);
    }
  });
});

// The zero-padded copies the row kernels read: rows of whole vec4s take pad4 (a row per invocation,
// vec4 loads shifted by the left padding) or pad4_flat (a vec4 per invocation), the others the
// scalar pad. Padding moves values without arithmetic, so all three must give bitwise the same
// outputs and gradients: W a multiple of 4, left padding 0..3 (every shift within a vec4), a
// crop-free 'valid', and each kernel set that pads.
const PAD_CASES: Array<[Shape4, Shape4, Conv2dOptions]> = [
  [[2, 3, 8, 8], [4, 3, 3, 3], { padding: 'same' }],
  [[1, 2, 6, 12], [3, 2, 3, 3], { padding: 'valid' }],
  [[2, 2, 8, 16], [3, 2, 5, 5], { padding: 2 }],
  [[1, 3, 4, 8], [2, 3, 3, 7], { padding: [1, 3] }],
  [[1, 2, 5, 8], [2, 2, 1, 5], { padding: [0, 2] }],
];
const PAD_KERNEL_SETS: Array<[string, Parameters<typeof setConvForwardVariant>[0], Parameters<typeof setConvVariant>[0]]> = [
  ['rows forward, cpu weight', 'rows', 'cpu'],
  ['sgr forward, sgr weight', 'sgr', 'sgr'],
  ['sg2 forward, sgv4 weight', 'sg2', 'sgv4'],
];
for (const [setName, forward, weight] of PAD_KERNEL_SETS)
  describe(`conv2d: pad4 and pad4_flat equal the scalar pad, '${setName}' kernels`, () => {
    withVariant(setName, (v) => {
      setConvForwardVariant(v === null ? null : forward);
      setConvVariant(v === null ? 'auto' : weight);
    }, () => forward === 'rows' || hasSubgroups8());
    const rng = new Rng(51);
    for (const [xs, ws, opts] of PAD_CASES)
      it(`x [${xs}], w [${ws}], padding ${JSON.stringify(opts.padding)}`, async () => {
        const xd = Float32Array.from(randomArray(xs.reduce((a, b) => a * b), rng));
        const wd = Float32Array.from(randomArray(ws.reduce((a, b) => a * b), rng));
        const gd = randomArray(conv2dOutputShape(xs, ws, opts).reduce((a, b) => a * b), rng);
        const run = async (kind: 'scalar' | 'rows4' | 'flat4') => {
          const prev = setPadKernel(kind);
          const x = tensor(xd, xs, { requiresGrad: true });
          const w = tensor(wd, ws, { requiresGrad: true });
          const y = tidy(() => {
            const out = conv2d(x, w, null, opts);
            sum(mul(out, tensor(Float32Array.from(gd), out.shape))).backward();
            return out;
          });
          const r = await Promise.all([y, x.grad!, w.grad!].map((t) => t.toArray()));
          for (const t of [y, x, w, x.grad!, w.grad!]) t.dispose();
          setPadKernel(prev);
          return r.map((a) => Array.from(a));
        };
        const scalar = await run('scalar');
        expect(await run('rows4')).toEqual(scalar);
        expect(await run('flat4')).toEqual(scalar);
      });
  });

describe('conv2d output shape', () => {
  it('follows TensorFlow for same, and floor((in + 2p - k) / s) + 1 otherwise', () => {
    expect(conv2dOutputShape([2, 3, 7, 9], [4, 3, 3, 3], { padding: 'same', stride: 2 })).toEqual([2, 4, 4, 5]);
    expect(conv2dOutputShape([2, 3, 8, 8], [4, 3, 2, 2], { padding: 'same' })).toEqual([2, 4, 8, 8]);
    expect(conv2dOutputShape([2, 3, 7, 9], [4, 3, 3, 3])).toEqual([2, 4, 5, 7]);
    expect(conv2dOutputShape([2, 3, 7, 9], [4, 3, 3, 3], { padding: [2, 1], stride: [1, 3] })).toEqual([2, 4, 9, 3]);
    expect(conv2dOutputShape([1, 1, 48, 48], [32, 1, 5, 5], { padding: 'same', stride: 3 })).toEqual([1, 32, 16, 16]);
  });

  it('puts the odd pixel of same padding at the bottom/right', async () => {
    // 1 channel, a 2x2 kernel that picks the top-left tap: out[i, j] = x[i - pt, j - pl] with pt = pl = 0.
    const x = tensor(Float32Array.from([1, 2, 3, 4]), [1, 1, 2, 2] as const);
    const w = tensor(Float32Array.from([1, 0, 0, 0]), [1, 1, 2, 2] as const);
    const y = conv2d(x, w, null, { padding: 'same' });
    expect(Array.from(await y.toArray())).toEqual([1, 2, 3, 4]);
    for (const t of [x, w, y]) t.dispose();
  });
});

// Each test runs in tidy() so the tensors it makes are freed.
describe('conv2d bad inputs', () => {
  const x = () => tensor(new Float32Array(2 * 3 * 8 * 8), [2, 3, 8, 8] as const);
  const w = (cin = 3, k = 3) => tensor(new Float32Array(5 * cin * k * k), [5, cin, k, k] as const);

  it('rejects a channel mismatch, printing both shapes', () => tidy(() => {
    expect(() => conv2d(x(), w(4))).toThrow('conv2d: input has 3 channels but weights expect 4: x [2, 3, 8, 8], w [5, 4, 3, 3]');
  }));
  it('rejects wrong ranks', () => tidy(() => {
    const x3 = tensor(new Float32Array(3 * 8 * 8), [3, 8, 8] as const) as unknown as Tensor<Shape4>;
    expect(() => conv2d(x3, w())).toThrow(/input must have rank 4.*x \[3, 8, 8\], w \[5, 3, 3, 3\]/);
    const w2 = tensor(new Float32Array(15), [5, 3] as const) as unknown as Tensor<Shape4>;
    expect(() => conv2d(x(), w2)).toThrow(/weights must have rank 4.*x \[2, 3, 8, 8\], w \[5, 3\]/);
  }));
  it('rejects a kernel larger than the padded input', () => tidy(() => {
    expect(() => conv2d(x(), w(3, 9))).toThrow(/kernel 9x9 is larger than the padded input 8x8.*x \[2, 3, 8, 8\], w \[5, 3, 9, 9\]/);
    expect(() => conv2d(x(), w(3, 11), null, { padding: 1 })).toThrow(/kernel 11x11 is larger than the padded input 10x10/);
    expect(() => conv2dOutputShape([1, 1, 4, 4], [1, 1, 5, 5], { padding: 'valid' })).toThrow(/larger than the padded input/);
    // 'same' pads as much as needed, so a large kernel is fine there.
    expect(conv2dOutputShape([1, 1, 4, 4], [1, 1, 5, 5], { padding: 'same' })).toEqual([1, 1, 4, 4]);
  }));
  it('rejects a bias of the wrong shape', () => tidy(() => {
    const b = tensor(new Float32Array(4), [4] as const);
    expect(() => conv2d(x(), w(), b)).toThrow(/bias must have shape \[5\].*bias \[4\], w \[5, 3, 3, 3\]/);
  }));
  it('rejects bad strides and paddings', () => tidy(() => {
    expect(() => conv2d(x(), w(), null, { stride: 0 })).toThrow(/stride must be an integer >= 1/);
    expect(() => conv2d(x(), w(), null, { stride: 1.5 })).toThrow(/stride must be an integer >= 1/);
    expect(() => conv2d(x(), w(), null, { stride: [1, 2, 3] as unknown as [number, number] })).toThrow(/stride/);
    expect(() => conv2d(x(), w(), null, { padding: -1 })).toThrow(/padding must be/);
    expect(() => conv2d(x(), w(), null, { padding: 'full' as 'same' })).toThrow(/padding must be/);
    expect(() => conv2d(x(), w(), null, { padding: [1, 0.5] })).toThrow(/padding must be/);
  }));
  it('rejects empty dimensions', () => tidy(() => {
    expect(() => conv2dOutputShape([0, 3, 8, 8], [5, 3, 3, 3])).toThrow(/input has an empty dimension: x \[0, 3, 8, 8\]/);
    expect(() => conv2dOutputShape([1, 3, 8, 8], [0, 3, 3, 3])).toThrow(/weights have an empty dimension/);
  }));
  it('rejects non-f32 and disposed tensors', () => tidy(() => {
    const xi = tensor(new Int32Array(2 * 3 * 8 * 8), [2, 3, 8, 8] as const);
    expect(() => conv2d(xi, w())).toThrow(/conv2d: expected a f32 tensor/);
    const wd = w();
    wd.dispose();
    expect(() => conv2d(x(), wd)).toThrow(/conv2d: tensor .* was disposed/);
    const b = tensor(new Float32Array(5), [5] as const);
    b.dispose();
    expect(() => conv2d(x(), w(), b)).toThrow(/was disposed/);
  }));
});
