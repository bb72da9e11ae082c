// Shared by the conv2d gradient-check files (conv2d.test.ts: row and GEMM kernels; conv2d-subgroup:
// the subgroup kernels; conv2d-few-channels: the subgroup kernels for at most 4 channels;
// conv2d-winograd: the Winograd forms). They are separate files so that vitest runs them on parallel
// workers: on a cold Mesa shader cache these suites are bound by lavapipe compiling each kernel
// specialisation, on one core per process, and a register-blocked subgroup kernel takes 2-130 s to
// compile (scripts/analysis/compile-times.mjs).
import { describe, expect, it } from 'vitest';
import { Rng, conv2d, relu, setConvVariant, setConvForwardVariant, setConvWideSums, hasSubgroups8, conv2dOutputShape, mul, sum, tensor, tidy, type Conv2dOptions, type Shape1, type Shape4, type Tensor } from '@fer/tensor';
import { expectClose, gradCheck, randomArray } from './harness.js';
import { conv2dGradRef, conv2dRef, refGeometry } from './reference/conv2d.js';
import { withVariant } from '../setup-gpu.js';

/**
 * Per-test limit of the kernel-set suites: one test may compile several kernel specialisations, and
 * on a fresh machine (cold shader cache) one register-blocked subgroup pipeline takes up to 130 s.
 * Warm, the slowest test takes a few seconds; the limit only catches hangs.
 */
export const COLD_COMPILE_TIMEOUT_MS = 600_000;

// Tolerances. Each output is an f32 sum of Cin*KH*KW products (at most 5*25 = 125 here, 400 in the
// large case) of values in [-1, 1]; each input-gradient element sums at most Cout*KH*KW = 175
// products, each weight-gradient element at most N*OH*OW = 189, each bias-gradient element 189
// terms. The f32 rounding error of such a sum is below n * 2^-24 * sum|terms| ~ 1e-5 at these
// sizes, so atol 1e-4 leaves a 10x margin; rtol 1e-3 covers the larger sums (|value| ~ 10).
// The finite differences are of the float64 reference at the float32-rounded inputs, and the
// conv is linear in each input, so they are exact up to float64 rounding (~1e-9).
export const FWD = { atol: 1e-4, rtol: 1e-3 };
export const GRAD = { atol: 1e-4, rtol: 1e-3 };

export interface Case {
  name: string;
  x: Shape4;
  w: Shape4;
  bias: boolean;
  stride?: number | readonly [number, number];
  padding?: Conv2dOptions['padding'];
  /** false: x does not require grad (a first layer's input). */
  gradX?: boolean;
}

export const CASES: Case[] = [
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

export const size = (s: readonly number[]): number => s.reduce((p, q) => p * q, 1);

export function gradcheckCases(cases: Case[], seed: number): void {
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
// Every kernel the tuner may pick runs every case: the register-blocked kernels (any adapter), the
// tiled implicit-GEMM forward kernels meant for hardware GPUs (any adapter; with the hardware weight
// gradient) and each subgroup variant (8-lane subgroups: lavapipe); geometries a subgroup kernel
// does not cover fall back inside the op.
const set = (forward: Parameters<typeof setConvForwardVariant>[0], weight: Parameters<typeof setConvVariant>[0]) => () => {
  setConvForwardVariant(forward);
  setConvVariant(weight);
};
export const KERNEL_SETS = {
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

export type KernelSetName = keyof typeof KERNEL_SETS;

/** Which conv2d*.test.ts file runs a kernel set: every set in exactly one. */
export type KernelSetFile = 'rows and gemm' | 'subgroup' | 'few channels' | 'winograd';
export function kernelSetFile(name: KernelSetName): KernelSetFile {
  if (name.includes('wino')) return 'winograd';
  if (name.startsWith('rows') || name.startsWith('gemm')) return 'rows and gemm';
  if (name.startsWith('thin') || name.startsWith('few')) return 'few channels';
  return 'subgroup';
}
/** The kernel sets of one file, in KERNEL_SETS order. */
export const kernelSetsOf = (file: KernelSetFile): KernelSetName[] =>
  (Object.keys(KERNEL_SETS) as KernelSetName[]).filter((name) => kernelSetFile(name) === file);

/**
 * The gradient checks of one kernel set: the cases of CASES, the fused ReLU, and larger shapes; `only`
 * keeps the tests of those titles (every test when absent).
 */
export function kernelSetSuite(name: KernelSetName, only?: ReadonlySet<string>): void {
  const use = KERNEL_SETS[name];
  const matched = new Set<string>();
  const wanted = (title: string): boolean => {
    if (only && !only.has(title)) return false;
    matched.add(title);
    return true;
  };
  const check = (title: string, fn: () => Promise<void>): void => {
    if (wanted(title)) it(title, fn);
  };
  describe(`conv2d gradcheck, '${name}' kernels`, { timeout: COLD_COMPILE_TIMEOUT_MS }, () => {
    withVariant(name, (v) => (v === null ? restoreAuto() : use()), () => name.startsWith('rows') || name.startsWith('gemm') || name.startsWith('wino') || hasSubgroups8());
    // relu(conv(x) + b) is not differentiable at 0 (finite differences fail there): the fused epilogue
    // is checked against the unfused pair, itself gradchecked above and in elementwise.test.ts.
    for (const [what, opts] of [['3x3 same', { padding: 'same' }], ['3x3 stride 2 (direct kernel)', { padding: 1, stride: 2 }]] as const)
      check(`fused ReLU equals relu(conv2d) with all gradients: ${what}`, async () => {
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
    check('grads N=2, 3 -> 11 channels, 7x10, 3x3 same (odd rows)', () => checkLarge([2, 3, 7, 10], [11, 3, 3, 3], { padding: 'same' }, true, 34));
    gradcheckCases(CASES.filter((c) => wanted(c.name)), 2024);
    // Cout 70: 9 channel groups of 8, the last partial; 29-wide rows: several pixel blocks per row
    // with a padded tail; N*OH = 96 rows split into chunks for the weight gradient.
    check('grads N=2, 6 -> 70 channels, 13x11, 3x3 same (partial channel group)', () =>
      checkLarge([2, 6, 13, 11], [70, 6, 3, 3], { padding: 'same' }, true, 31));
    check('grads N=4, 5 -> 9 channels, 24x29, 5x5 same (row tails, weight chunks)', () =>
      checkLarge([4, 5, 24, 29], [9, 5, 5, 5], { padding: 'same' }, true, 32));
    check('grads N=3, 16 -> 16 channels, 6x6, 3x3 same (seed-cnn last block, 3 pixels per lane)', () =>
      checkLarge([3, 16, 6, 6], [16, 16, 3, 3], { padding: 'same' }, true, 33));
    // One input channel, K = N*OH*OW = 18432: weight_gemm's split-K gives 72 partials of 36 weights,
    // summed by sum_axis (as on GPUs; forced here) or sum_mid; the 48x48 bias planes likewise.
    for (const wide of [true, false])
      check(`grads N=8, 1 -> 4 channels, 48x48, 3x3 same (first layer, many weight partials, ${wide ? 'sum_axis' : 'sum_mid'} sums)`, async () => {
        const prev = setConvWideSums(wide);
        try {
          await checkLarge([8, 1, 48, 48], [4, 1, 3, 3], { padding: 'same' }, true, 36);
        } finally {
          setConvWideSums(prev);
        }
      });
    // rows_split: 50 input channels split 17 + 17 + 16 in the forward, 40 split 20 + 20 in the input gradient.
    check('grads N=2, 50 -> 40 channels, 6x7, 3x3 same (input-channel splits)', () =>
      checkLarge([2, 50, 6, 7], [40, 50, 3, 3], { padding: 'same' }, true, 35));
    // A misspelt title in `only` would silently drop a test.
    const unknown = [...(only ?? [])].filter((t) => !matched.has(t));
    if (unknown.length) throw new Error(`kernelSetSuite('${name}'): no test titled ${unknown.map((t) => `'${t}'`).join(', ')}`);
    });
}

/** Forward and (optionally) the three gradients against the float64 reference, for larger sizes. */
export async function checkLarge(xs: Shape4, ws: Shape4, opts: Conv2dOptions, withGrads: boolean, seed: number): Promise<void> {
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
