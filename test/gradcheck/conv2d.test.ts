import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng, conv2d, relu, startProfile, stopProfile, setConvVariant, setConvForwardVariant, setPadKernel, setWinogradChunkBytes, setWinogradTileMajor, setConvWideSums, hasSubgroups8, conv2dOutputShape, memory, mul, sum, tensor, tidy, type Conv2dOptions, type Shape1, type Shape4, type Tensor } from '@fer/tensor';
import { expectClose, gradCheck, randomArray } from './harness.js';
import { conv2dGradRef, conv2dRef, refGeometry } from './reference/conv2d.js';
import { useGpu, withVariant } from '../setup-gpu.js';

useGpu();

// Tolerances. Each output is an f32 sum of Cin*KH*KW products (at most 5*25 = 125 here, 400 in the
// large case) of values in [-1, 1]; each input-gradient element sums at most Cout*KH*KW = 175
// products, each weight-gradient element at most N*OH*OW = 189, each bias-gradient element 189
// terms. The f32 rounding error of such a sum is below n * 2^-24 * sum|terms| ~ 1e-5 at these
// sizes, so atol 1e-4 leaves a 10x margin; rtol 1e-3 covers the larger sums (|value| ~ 10).
// The finite differences are of the float64 reference at the float32-rounded inputs, and the
// conv is linear in each input, so they are exact up to float64 rounding (~1e-9).
const FWD = { atol: 1e-4, rtol: 1e-3 };
const GRAD = { atol: 1e-4, rtol: 1e-3 };

interface Case {
  name: string;
  x: Shape4;
  w: Shape4;
  bias: boolean;
  stride?: number | readonly [number, number];
  padding?: Conv2dOptions['padding'];
  /** false: x does not require grad (a first layer's input). */
  gradX?: boolean;
}

const CASES: Case[] = [
  { name: '1x1 valid, batch 1', x: [1, 3, 7, 9], w: [5, 3, 1, 1], bias: true },
  { name: '1x1 stride 2, batch 3, no bias', x: [3, 3, 7, 9], w: [5, 3, 1, 1], bias: false, stride: 2 },
  { name: '3x3 same, batch 3', x: [3, 3, 7, 9], w: [5, 3, 3, 3], bias: true, padding: 'same' },
  { name: '3x3 same stride 2, no bias', x: [1, 4, 7, 9], w: [3, 4, 3, 3], bias: false, padding: 'same', stride: 2 },
  { name: '3x3 padding 1 stride 2, batch 3', x: [3, 3, 7, 9], w: [5, 3, 3, 3], bias: true, padding: 1, stride: 2 },
  { name: '3x3 valid', x: [1, 2, 7, 9], w: [5, 2, 3, 3], bias: true, padding: 'valid' },
  { name: '3x3 padding 2, batch 2 (outer rows and columns see only padding)', x: [2, 5, 6, 7], w: [6, 5, 3, 3], bias: true, padding: 2 },
  { name: '3x3 same stride 3', x: [1, 5, 7, 9], w: [7, 5, 3, 3], bias: true, padding: 'same', stride: 3 },
  { name: '3x3 same stride [2, 1]', x: [3, 3, 7, 9], w: [5, 3, 3, 3], bias: true, padding: 'same', stride: [2, 1] },
  { name: '3x3 same, Cin 1, x without grad', x: [3, 1, 7, 9], w: [8, 1, 3, 3], bias: true, padding: 'same', gradX: false },
  { name: '3x3 same, 9 -> 9 channels', x: [1, 9, 5, 6], w: [9, 9, 3, 3], bias: true, padding: 'same' },
  { name: '5x5 same, batch 1', x: [1, 2, 7, 9], w: [5, 2, 5, 5], bias: true, padding: 'same' },
  { name: '5x5 padding 2, batch 3', x: [3, 3, 7, 9], w: [5, 3, 5, 5], bias: false, padding: 2 },
  { name: '5x5 valid stride 2, batch 3', x: [3, 3, 7, 9], w: [2, 3, 5, 5], bias: true, padding: 'valid', stride: 2 },
  { name: '2x2 (even) same, batch 1', x: [1, 3, 7, 9], w: [5, 3, 2, 2], bias: true, padding: 'same' },
  { name: '2x2 valid stride 2, batch 3', x: [3, 2, 8, 8], w: [4, 2, 2, 2], bias: false, stride: 2 },
  { name: '4x4 (even) same stride 2', x: [1, 3, 7, 9], w: [5, 3, 4, 4], bias: true, padding: 'same', stride: 2 },
  { name: '3x1 padding (2, 1), batch 3', x: [3, 3, 7, 9], w: [5, 3, 3, 1], bias: true, padding: [2, 1] },
  { name: '3x1 same stride 2', x: [1, 3, 7, 9], w: [5, 3, 3, 1], bias: false, padding: 'same', stride: 2 },
  { name: '1x3 valid', x: [3, 3, 7, 9], w: [2, 3, 1, 3], bias: true },
  { name: 'kernel as large as the input', x: [3, 2, 5, 4], w: [3, 2, 5, 4], bias: true },
  { name: '3x3 same stride [1, 2]', x: [3, 3, 7, 9], w: [5, 3, 3, 3], bias: true, padding: 'same', stride: [1, 2] },
  { name: '1x1 padding 1 (border outputs see only padding)', x: [3, 3, 5, 6], w: [5, 3, 1, 1], bias: true, padding: 1 },
  { name: '3x3 same, wide rows (several pixel blocks per row)', x: [1, 2, 4, 29], w: [3, 2, 3, 3], bias: true, padding: 'same' },
  // The stride-1 fast paths take kernels up to 16 wide; 17 goes through the generic kernels.
  { name: '2x16 valid (widest fast-path kernel)', x: [1, 2, 4, 21], w: [3, 2, 2, 16], bias: true },
  { name: '2x17 valid (generic path)', x: [1, 2, 4, 21], w: [3, 2, 2, 17], bias: true },
  { name: '5x5 same on a 3x4 input (kernel larger than the input)', x: [2, 2, 3, 4], w: [3, 2, 5, 5], bias: true, padding: 'same' },
  // Rows of a multiple of 4 and at most 4 channels on one side: 'fewd' (forward_few_direct, the
  // unpadded input) runs the input gradients, and the forwards without bias; left padding 1, 2
  // and 0 columns, taller than the image, a partial second block of 16 columns.
  { name: '3x3 same, Cin 1, 12-wide rows', x: [2, 1, 7, 12], w: [5, 1, 3, 3], bias: true, padding: 'same' },
  { name: '3x3 same, 3 -> 2 channels, 8-wide rows, no bias', x: [2, 3, 6, 8], w: [2, 3, 3, 3], bias: false, padding: 'same' },
  { name: '5x5 same, 2 -> 3 channels, 8-wide rows', x: [2, 2, 6, 8], w: [3, 2, 5, 5], bias: true, padding: 'same' },
  { name: '3x3 valid, 10x10 (8-wide upstream gradient)', x: [1, 3, 10, 10], w: [4, 3, 3, 3], bias: true, padding: 'valid' },
  { name: '3x3 padding 2, Cin 1 (8-wide upstream gradient, no left columns)', x: [2, 1, 5, 6], w: [3, 1, 3, 3], bias: true, padding: 2 },
  { name: '3x3 same, Cin 1, 20-wide rows (a partial block)', x: [2, 1, 5, 20], w: [6, 1, 3, 3], bias: false, padding: 'same' },
  { name: '3x3 same, 4 -> 3 channels, 8-wide rows, no bias', x: [1, 4, 5, 8], w: [3, 4, 3, 3], bias: false, padding: 'same' },
];

const size = (s: readonly number[]): number => s.reduce((p, q) => p * q, 1);

function gradcheckCases(cases: Case[], seed: number): void {
  const rng = new Rng(seed);
  for (const c of cases) {
    it(c.name, async () => {
      const opts: Conv2dOptions = { stride: c.stride, padding: c.padding };
      const g = refGeometry(c.x, c.w, c.stride, c.padding);
      expect(conv2dOutputShape(c.x, c.w, opts)).toEqual([g.n, g.cout, g.oh, g.ow]);
      const inputs: Array<{ data: Float64Array; shape: readonly number[]; diff?: boolean }> = [
        { data: randomArray(size(c.x), rng), shape: c.x, diff: c.gradX !== false },
        { data: randomArray(size(c.w), rng), shape: c.w },
      ];
      if (c.bias) inputs.push({ data: randomArray(c.w[0], rng), shape: [c.w[0]] });
      await gradCheck({
        name: `conv2d ${c.name}`,
        inputs,
        gpu: ([x, w, b]) => conv2d(x as Tensor<Shape4>, w as Tensor<Shape4>, (b ?? null) as Tensor<Shape1> | null, opts),
        ref: ([x, w, b]) => conv2dRef(x!, w!, b ?? null, g),
        forwardTol: FWD,
        gradTol: GRAD,
      });
    });
  }
}

// Every kernel the tuner may pick runs every case: the register-blocked kernels (any adapter), the
// tiled implicit-GEMM forward kernels meant for hardware GPUs (any adapter; with the hardware weight
// gradient) and each subgroup variant (8-lane subgroups: lavapipe); geometries a subgroup kernel
// does not cover fall back inside the op.
const set = (forward: Parameters<typeof setConvForwardVariant>[0], weight: Parameters<typeof setConvVariant>[0]) => () => {
  setConvForwardVariant(forward);
  setConvVariant(weight);
};
const KERNEL_SETS = {
  rows: set('rows', 'cpu'),
  'rows_split forward (input channels split into partial sums), gpu weight': set('rows_split', 'gpu'),
  'rows_pf forward (next input row loaded ahead), cpu weight': set('rows_pf', 'cpu'),
  'rows_split_pf forward (split, loaded ahead), gpu_k weight (long K chunks)': set('rows_split_pf', 'gpu_k'),
  'gemm forward (128 channels x 128 pixels), gpu weight': set('gemm', 'gpu'),
  'gemm64 forward (64 channels x 128 pixels), gpu weight': set('gemm64', 'gpu'),
  'gemm32 forward (32 channels x 256 pixels), gpu weight': set('gemm32', 'gpu'),
  'sg2 forward, sgv4 weight (vec4 loads, 4-pixel blocks)': set('sg2', 'sgv4'),
  'sg3 forward, sgv8 weight (vec4 loads, 8-pixel blocks)': set('sg3', 'sgv8'),
  'sg4 forward, sgr weight (sliding rows, blocks of up to 8 columns)': set('sg4', 'sgr'),
  'sg2x2 forward (two rows per lane), sgr4 weight (blocks of up to 4 columns)': set('sg2x2', 'sgr4'),
  'sgr forward (3 or 4 rows x blocks of up to 8 columns per lane), sgv4 weight': set('sgr', 'sgv4'),
  'sgr4 forward (blocks of up to 4 columns), sgr weight': set('sgr4', 'sgr'),
  'sgr12 forward (blocks of up to 12 columns, 3 or 4 rows), sgr4 weight': set('sgr12', 'sgr4'),
  'thin forward (up to 4 input channels: every output channel per lane), sgv8 weight': set('thin', 'sgv8'),
  // 'few' on at most 4 output channels (the first-layer cases' input gradients too), else 'sgr'.
  'few forward (up to 4 output channels, all per lane), sgr weight': set('few', 'sgr'),
  // 'fewd' where its rows are aligned (else 'few', else 'sgr'); with a bias, 'few'.
  'fewd forward (few output channels, unpadded input), sgv4 weight': set('fewd', 'sgv4'),
  'default subgroup kernels': set('subgroup', 'subgroup'),
  // Winograd F(2x2, 3x3) where the geometry allows (3x3, stride 1; others run 'rows'), its GEMMs
  // through bmm's automatic kernel; cases with odd output sizes leave partial 2x2 tiles.
  'wino forward and weight gradient (Winograd F(2x2, 3x3))': set('wino', 'wino'),
  'wino3 forward and weight gradient (Winograd F(3x3, 3x3))': set('wino3', 'wino3'),
  'wino4 forward and weight gradient (Winograd F(4x4, 3x3))': set('wino4', 'wino4'),
  'wino6 forward and weight gradient (Winograd F(6x6, 3x3))': set('wino6', 'wino6'),
  'wino5 forward and weight gradient (Winograd F(2x2, 5x5); others run rows and cpu)': set('wino5', 'wino5'),
  'wino45 forward and weight gradient (Winograd F(4x4, 5x5); others run rows and cpu)': set('wino45', 'wino45'),
  'wino4s forward and weight gradient (a 5x5 kernel as four 3x3 pieces, F(4x4, 3x3); others run rows and cpu)': set('wino4s', 'wino4s'),
  'wino6s forward and weight gradient (a 5x5 kernel as four 3x3 pieces, F(6x6, 3x3); others run rows and cpu)': set('wino6s', 'wino6s'),
  // A Winograd weight gradient after a forward of another kernel transforms x's tiles itself (the
  // sets above reuse the forward's).
  'rows forward, wino6 weight gradient (its own input tiles)': set('rows', 'wino6'),
  'rows forward, wino45 weight gradient (its own input tiles)': set('rows', 'wino45'),
} as const;
const restoreAuto = (): void => {
  setConvForwardVariant(null);
  setConvVariant('auto');
};

for (const [name, use] of Object.entries(KERNEL_SETS))
  describe(`conv2d gradcheck, '${name}' kernels`, () => {
    withVariant(name, (v) => (v === null ? restoreAuto() : use()), () => name.startsWith('rows') || name.startsWith('gemm') || name.startsWith('wino') || hasSubgroups8());
    // relu(conv(x) + b) is not differentiable at 0 (finite differences fail there): the fused epilogue
    // is checked against the unfused pair, itself gradchecked above and in elementwise.test.ts.
    for (const [what, opts] of [['3x3 same', { padding: 'same' }], ['3x3 stride 2 (direct kernel)', { padding: 1, stride: 2 }]] as const)
      it(`fused ReLU equals relu(conv2d) with all gradients: ${what}`, async () => {
        const rng = new Rng(41);
        const xd = Float32Array.from(randomArray(2 * 3 * 9 * 10, rng));
        const wd = Float32Array.from(randomArray(10 * 3 * 3 * 3, rng));
        const bd = Float32Array.from(randomArray(10, rng));
        const run = async (fused: boolean) => {
          const x = tensor(xd, [2, 3, 9, 10] as const, { requiresGrad: true });
          const w = tensor(wd, [10, 3, 3, 3] as const, { requiresGrad: true });
          const b = tensor(bd, [10] as const, { requiresGrad: true });
          const y = tidy(() => {
            const out = fused ? conv2d(x, w, b, { ...opts, relu: true }) : relu(conv2d(x, w, b, opts));
            sum(mul(out, tensor(Float32Array.from(randomArray(out.size, new Rng(43))), out.shape))).backward();
            return out;
          });
          const r = await Promise.all([y, x.grad!, w.grad!, b.grad!].map((t) => t.toArray()));
          for (const t of [y, x, w, b, x.grad!, w.grad!, b.grad!]) t.dispose();
          return r;
        };
        const fused = await run(true);
        const plain = await run(false);
        expect(fused[0]!.some((v) => v === 0) && fused[0]!.some((v) => v > 0)).toBe(true);
        fused.forEach((f, i) => expectClose(f, plain[i]!, { atol: 1e-6, rtol: 1e-6 }, ['y', 'dx', 'dw', 'db'][i]!));
      });
    // Odd OH: the last pair of sg2x2 has one row.
    it('grads N=2, 3 -> 11 channels, 7x10, 3x3 same (odd rows)', () => checkLarge([2, 3, 7, 10], [11, 3, 3, 3], { padding: 'same' }, true, 34));
    gradcheckCases(CASES, 2024);
    // Cout 70: 9 channel groups of 8, the last partial; 29-wide rows: several pixel blocks per row
    // with a padded tail; N*OH = 96 rows split into chunks for the weight gradient.
    it('grads N=2, 6 -> 70 channels, 13x11, 3x3 same (partial channel group)', () =>
      checkLarge([2, 6, 13, 11], [70, 6, 3, 3], { padding: 'same' }, true, 31));
    it('grads N=4, 5 -> 9 channels, 24x29, 5x5 same (row tails, weight chunks)', () =>
      checkLarge([4, 5, 24, 29], [9, 5, 5, 5], { padding: 'same' }, true, 32));
    it('grads N=3, 16 -> 16 channels, 6x6, 3x3 same (seed-cnn last block, 3 pixels per lane)', () =>
      checkLarge([3, 16, 6, 6], [16, 16, 3, 3], { padding: 'same' }, true, 33));
    // One input channel, K = N*OH*OW = 18432: weight_gemm's split-K gives 72 partials of 36 weights,
    // summed by sum_axis (as on GPUs; forced here) or sum_mid; the 48x48 bias planes likewise.
    for (const wide of [true, false])
      it(`grads N=8, 1 -> 4 channels, 48x48, 3x3 same (first layer, many weight partials, ${wide ? 'sum_axis' : 'sum_mid'} sums)`, async () => {
        const prev = setConvWideSums(wide);
        try {
          await checkLarge([8, 1, 48, 48], [4, 1, 3, 3], { padding: 'same' }, true, 36);
        } finally {
          setConvWideSums(prev);
        }
      });
    // rows_split: 50 input channels split 17 + 17 + 16 in the forward, 40 split 20 + 20 in the input gradient.
    it('grads N=2, 50 -> 40 channels, 6x7, 3x3 same (input-channel splits)', () =>
      checkLarge([2, 50, 6, 7], [40, 50, 3, 3], { padding: 'same' }, true, 35));
  });

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

/** Forward and (optionally) the three gradients against the float64 reference, for larger sizes. */
async function checkLarge(xs: Shape4, ws: Shape4, opts: Conv2dOptions, withGrads: boolean, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const g = refGeometry(xs, ws, opts.stride, opts.padding);
  const xd = randomArray(size(xs), rng);
  const wd = randomArray(size(ws), rng);
  const bd = randomArray(ws[0], rng);
  const gyd = randomArray(g.n * g.cout * g.oh * g.ow, rng);
  const x = tensor(Float32Array.from(xd), xs, { requiresGrad: withGrads });
  const w = tensor(Float32Array.from(wd), ws, { requiresGrad: withGrads });
  const b = tensor(Float32Array.from(bd), [ws[0]] as const, { requiresGrad: withGrads });
  const y = tidy(() => {
    const out = conv2d(x, w, b, opts);
    if (withGrads) sum(mul(out, tensor(Float32Array.from(gyd), out.shape))).backward();
    return out;
  });
  expect(y.shape).toEqual([g.n, g.cout, g.oh, g.ow]);
  const x32 = Float64Array.from(Float32Array.from(xd));
  const w32 = Float64Array.from(Float32Array.from(wd));
  expectClose(await y.toArray(), conv2dRef(x32, w32, Float64Array.from(Float32Array.from(bd)), g), FWD, 'large forward');
  if (withGrads) {
    const ref = conv2dGradRef(x32, w32, Float64Array.from(Float32Array.from(gyd)), g);
    // Weight/bias gradients here sum N*OH*OW = up to 2304 terms: atol scaled accordingly.
    const big = { atol: 5e-4, rtol: 1e-3 };
    expectClose(await x.grad!.toArray(), ref.dx, GRAD, 'large dx');
    expectClose(await w.grad!.toArray(), ref.dw, big, 'large dw');
    expectClose(await b.grad!.toArray(), ref.db, big, 'large db');
  }
  for (const t of [y, x, w, b, x.grad, w.grad, b.grad]) t?.dispose();
}

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

// A batch whose Winograd temporaries would pass the device's largest storage binding is transformed
// in chunks of images (one bmm each) into the one output; here the limit is lowered so that 5 images
// of 12 channels at 10x9 run 2 at a time (the last chunk 1), against the float64 reference. Both
// invocation orders of the transforms run (tile-major is the default on GPUs, group-major on CPUs).
describe('conv2d Winograd in chunks of images', () => {
  for (const [variant, k, bytes] of [['wino', 3, 2 * 16 * 25 * 12 * 4], ['wino3', 3, 2 * 25 * 12 * 12 * 4], ['wino4', 3, 2 * 36 * 9 * 12 * 4], ['wino6', 3, 2 * 64 * 4 * 12 * 4], ['wino5', 5, 2 * 36 * 25 * 12 * 4], ['wino45', 5, 2 * 64 * 9 * 12 * 4], ['wino4s', 5, 2 * 36 * 9 * 48 * 4], ['wino6s', 5, 2 * 64 * 4 * 48 * 4]] as const)
    for (const tileMajor of [false, true])
      it(`'${variant}' ${tileMajor ? 'tile' : 'group'}-major: forward and grads N=5, 12 -> 10 channels, 10x9, ${k}x${k} same, 2 images per chunk`, async () => {
        setConvForwardVariant(variant);
        const prevWeight = setConvVariant(variant);
        const prev = setWinogradChunkBytes(bytes);
        const prevOrder = setWinogradTileMajor(tileMajor);
        try {
          await checkLarge([5, 12, 10, 9], [10, 12, k, k], { padding: 'same' }, true, 37);
        } finally {
          setWinogradTileMajor(prevOrder);
          setWinogradChunkBytes(prev);
          setConvForwardVariant(null);
          setConvVariant(prevWeight);
        }
      });
});

// The gradient checks above sum a few channels; a Winograd form's fp32 rounding grows with the
// transform's coefficients (up to 32 for the 8-point ones) and with the channels its GEMMs sum. At
// seed-cnn's channel counts every form stays within 1.5e-4 of the largest value of the float64
// result (on lavapipe: 3e-7 to 3e-5, the largest wino6s's input gradient; one coefficient of the
// 8-point B^T 0.2% off gave 5e-3).
describe('conv2d Winograd forms at seed-cnn channel counts against the float64 reference', () => {
  const LAYERS = [
    { x: [2, 512, 6, 6], w: [512, 512, 3, 3], forms: ['wino', 'wino3', 'wino4', 'wino6'] },
    { x: [2, 128, 12, 12], w: [128, 128, 3, 3], forms: ['wino4', 'wino6'] },
    { x: [2, 64, 24, 24], w: [64, 64, 5, 5], forms: ['wino5', 'wino45', 'wino4s', 'wino6s'] },
  ] as const;
  const relativeError = (a: ArrayLike<number>, ref: Float64Array): number => {
    let err = 0;
    let top = 0;
    for (let i = 0; i < ref.length; i++) {
      err = Math.max(err, Math.abs(a[i]! - ref[i]!));
      top = Math.max(top, Math.abs(ref[i]!));
    }
    return err / top;
  };
  for (const layer of LAYERS) {
    const [n, cin, h] = layer.x;
    const [cout, , k] = layer.w;
    describe(`N=${n}, ${cin} -> ${cout} channels, ${h}x${h}, ${k}x${k} same`, () => {
      const rng = new Rng(51);
      const g = refGeometry(layer.x, layer.w, 1, 'same');
      const xd = Float32Array.from(randomArray(size(layer.x), rng));
      const scale = Math.sqrt(3 / (cin * k * k));
      const wd = Float32Array.from(randomArray(size(layer.w), rng, -scale, scale));
      const gyd = Float32Array.from(randomArray(n * cout * h * h, rng));
      // The float64 result, computed once for all forms (at the float32-rounded inputs).
      let ref: { y: Float64Array; dx: Float64Array; dw: Float64Array } | null = null;
      const reference = () => {
        if (ref) return ref;
        const x64 = Float64Array.from(xd);
        const w64 = Float64Array.from(wd);
        const grads = conv2dGradRef(x64, w64, Float64Array.from(gyd), g);
        ref = { y: conv2dRef(x64, w64, null, g), dx: grads.dx, dw: grads.dw };
        return ref;
      };
      for (const form of layer.forms)
        it(`'${form}': output, input and weight gradients within 1.5e-4 of the largest value`, async () => {
          setConvForwardVariant(form);
          const prevWeight = setConvVariant(form);
          try {
            const x = tensor(xd, layer.x, { requiresGrad: true });
            const w = tensor(wd, layer.w, { requiresGrad: true });
            const y = tidy(() => {
              const out = conv2d(x, w, null, { padding: 'same' });
              sum(mul(out, tensor(gyd, out.shape))).backward();
              return out;
            });
            const [ya, dxa, dwa] = await Promise.all([y.toArray(), x.grad!.toArray(), w.grad!.toArray()]);
            for (const t of [y, x, w, x.grad, w.grad]) t?.dispose();
            const r = reference();
            for (const [what, a, e] of [['output', ya, r.y], ['input gradient', dxa, r.dx], ['weight gradient', dwa, r.dw]] as const)
              expect(relativeError(a, e), `${form} ${what}`).toBeLessThan(1.5e-4);
          } finally {
            setConvForwardVariant(null);
            setConvVariant(prevWeight);
          }
        });
    });
  }
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
      for (const t of [x, w, b]) {
        t.grad?.dispose();
        t.dispose();
      }
    }
  });
});

// A Winograd forward whose weight gradient has the same form keeps x's tiles V for it: one input
// transform fewer per step, and V freed with the graph.
describe('conv2d Winograd weight gradient reusing the forward input tiles', () => {
  for (const [form, k, chunkBytes] of [['wino6', 3, null], ['wino45', 5, null], ['wino6', 3, 2 * 64 * 4 * 12 * 4]] as const)
    it(`'${form}'${chunkBytes ? ' in chunks of 2 images (no reuse)' : ''}: ${chunkBytes ? 3 : 2} input transforms (per chunk) for forward and both gradients, temporaries freed`, async () => {
      setConvForwardVariant(form);
      const prevWeight = setConvVariant(form);
      const prevChunk = setWinogradChunkBytes(chunkBytes);
      try {
        const rng = new Rng(52);
        const x = tensor(Float32Array.from(randomArray(5 * 12 * 10 * 9, rng)), [5, 12, 10, 9] as const, { requiresGrad: true });
        const w = tensor(Float32Array.from(randomArray(10 * 12 * k * k, rng)), [10, 12, k, k] as const, { requiresGrad: true });
        const before = memory().liveBuffers;
        startProfile();
        tidy(() => sum(conv2d(x, w, null, { padding: 'same' })).backward());
        const kernels = await stopProfile();
        const inputTransforms = kernels.filter((t) => t.kernel.startsWith('winograd.wino_input')).reduce((n, t) => n + t.calls, 0);
        // Forward (x) and input gradient (gy), plus the weight gradient's own x tiles when there are several chunks.
        expect(inputTransforms).toBe(chunkBytes ? 3 * 3 : 2);
        expect(memory().liveBuffers).toBe(before + 2);
        for (const t of [x, w]) {
          t.grad?.dispose();
          t.dispose();
        }
      } finally {
        setWinogradChunkBytes(prevChunk);
        setConvForwardVariant(null);
        setConvVariant(prevWeight);
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
      for (const t of [x, w]) {
        t.grad?.dispose();
        t.dispose();
      }
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
