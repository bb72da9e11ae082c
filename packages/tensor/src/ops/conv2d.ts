// Conv2d (NCHW, weights [Cout, Cin, KH, KW] as in PyTorch): forward as an implicit GEMM (no
// im2col) with the bias fused, backward to the input as a transposed convolution, backward to the
// weights as a reduction over N*OH*OW (split over row chunks when there are few weight blocks),
// and backward to the bias.
// Column stride 1 and KW <= 16 (the common case) take fast paths that read a zero-padded copy of
// the input with aligned vec4 loads: forward_rows (forward; and the stride-1 input gradient, a
// convolution with the flipped kernel) and weight_rows. Other strides use the direct kernels
// forward, backward_input (a gather, stride phases handled) and backward_weight.
// On hardware adapters the weight gradient is instead a workgroup-memory tiled GEMM with implicit
// im2col and split-K (weight_gemm); setConvVariant forces either variant (tests run both). The
// forward (and the stride-1 input gradient) has a tiled implicit-GEMM variant for hardware too
// (forward_gemm, any stride), which the tuner weighs against the others there.
// 3x3 and 5x5 stride-1 layers also have Winograd forms for all three passes (winograd.ts), weighed by
// the tuner on every adapter.
// WGSL: conv2d.wgsl (also pack, pad, sum_mid: repacking, padding and partial sums).
import { gpu, hasSubgroups8, describeSubgroups } from '../device.js';
import { choose, type Trial } from '../tune.js';
import { dispatch, kernelFor, splitK, type Kernel } from '../dispatch.js';
import { Tensor, checkInputs, empty, randNormal, fmtShape, type Shape, type Shape1, type Shape3, type Shape4 } from '../tensor.js';
import { needsGrad, record } from '../autograd.js';
import { reluGradient } from './elementwise.js';
import { sumMiddle } from './reduce.js';
import { winogradConv, winogradWeightGrad, type WinogradForm } from './winograd.js';

/**
 * 'same': TensorFlow/Keras semantics, out = ceil(in / stride), the odd pixel of padding at the
 * bottom/right; 'valid': no padding; a number or [ph, pw]: that many zeros on each side.
 */
export type Padding = 'same' | 'valid' | number | readonly [number, number];

export interface Conv2dOptions {
  /** Default 1; a number or [sh, sw]. */
  stride?: number | readonly [number, number];
  /** Default 'valid'. */
  padding?: Padding;
  /** Fused ReLU epilogue: max(0, conv + bias) in the same kernel; the backward masks by output > 0. */
  relu?: boolean;
}

// Every entry point has the same layout: three read-only buffers (dummies where unused), one output.
const LAYOUT = ['read', 'read', 'read', 'rw'] as const;
const kernel = (entry: string): Kernel => kernelFor('conv2d', entry, LAYOUT);
/** A kernel of this layout specialised by override constants (one object per specialisation). */
const convKernel = (shader: string, entry: string, constants: Record<string, number>): Kernel => kernelFor(shader, entry, LAYOUT, constants);
const PACK = kernel('pack');
const SUM_MID = kernel('sum_mid');
const SUM_MID4 = kernel('sum_mid4');
const PAD = kernel('pad');
const PAD4 = kernel('pad4');
const PAD4_FLAT = kernel('pad4_flat');
const FORWARD = kernel('forward');
const BACKWARD_INPUT = kernel('backward_input');
const BACKWARD_WEIGHT = kernel('backward_weight');
const WEIGHT_GEMM = kernel('weight_gemm');
const WG = 64;
const PARAM_WORDS = 20;
/**
 * Pixels per block of forward_rows (ROW_PIX in the shader): the whole row up to 12 wide, else 12,
 * 8 or 4, whichever wastes least of a row (blocks after the first start on whole vec4s).
 */
function rowPixels(ow: number): number {
  if (ow <= 12) return ow;
  let best = 12;
  for (const p of [8, 4]) if (Math.ceil(ow / p) * p < Math.ceil(ow / best) * best) best = p;
  return best;
}
/**
 * 'rows_split': forward_rows split over input channels when its blocks alone leave a GPU idle (maps
 * of 12x12 or 6x6 with many channels: a few hundred workgroups of long loops). Aims at ~2^17
 * invocations in all, each split at least 16 channels; relu needs the whole sum (no split).
 */
function rowsSplits(g: Geometry): { splits: number; perSplit: number } {
  const invocations = blocks4(g.cout) * g.n * g.oh * Math.ceil(g.ow / rowPixels(g.ow));
  const want = Math.min(Math.floor(g.cin / 16), Math.ceil(2 ** 17 / invocations));
  if (want < 2) return { splits: 1, perSplit: 0 };
  const perSplit = Math.ceil(g.cin / want);
  return { splits: Math.ceil(g.cin / perSplit), perSplit };
}
/** forward_rows keeps 11 + KW input values in a 32-value window. */
const ROWS_MAX_KW = 16;
/** Geometries the row and subgroup kernels cover: column stride 1 and KW <= ROWS_MAX_KW. */
const fastPath = (g: { sw: number; kw: number }): boolean => g.sw === 1 && g.kw <= ROWS_MAX_KW;

/** Pixels per step of weight_rows (GRAD_PIX in the shader). */
const GRAD_PIX = 4;

function forwardRowsKernel(kw: number, rowPix: number, relu: boolean, prefetch = false): Kernel {
  return convKernel('conv2d', 'forward_rows', { KW: kw, ROW_PIX: rowPix, RELU: +relu, PREFETCH: +prefetch });
}
const FORWARD_RELU = convKernel('conv2d', 'forward', { RELU: 1 });
/**
 * Default pixels per lane of the subgroup kernels (NP in conv2d_subgroup.wgsl) when the shape is not
 * tuned: the first of `order` that pads the row least. Forward: 8 x 3 accumulators per lane measured
 * fastest (8 x 4 spills registers).
 */
function subgroupPixels(ow: number, order: readonly number[]): number {
  let best = order[0]!;
  for (const p of order.slice(1)) if (Math.ceil(ow / p) * p < Math.ceil(ow / best) * best) best = p;
  return best;
}
const FORWARD_NP = [3, 4, 2] as const;
function forwardSubgroupKernel(kw: number, np: number, relu: boolean): Kernel {
  return convKernel('conv2d_subgroup', 'forward_sg', { KW: kw, NP: np, RELU: +relu });
}

function forwardRows2Kernel(kh: number, kw: number, relu: boolean): Kernel {
  return convKernel('conv2d_subgroup', 'forward_sg_rows2', { KH: kh, KW: kw, NP: 2, RELU: +relu });
}

function forwardRowsSubgroupKernel(kh: number, kw: number, np: number, fr: number, relu: boolean): Kernel {
  return convKernel('conv2d_subgroup', 'forward_sgr', { KH: kh, KW: kw, NP: np, FR: fr, RELU: +relu });
}

function forwardThinKernel(cin: number, kh: number, kw: number, np: number, fr: number, relu: boolean): Kernel {
  return convKernel('conv2d_subgroup', 'forward_thin', { CIN: cin, KH: kh, KW: kw, NP: np, FR: fr, RELU: +relu });
}
/** forward_thin keeps every input channel's windows: a grayscale or RGB(A) first layer. */
const THIN_MAX_CIN = 4;

function forwardFewKernel(cout: number, kh: number, kw: number, np: number, fr: number, relu: boolean): Kernel {
  return convKernel('conv2d_subgroup', 'forward_few', { COUT: cout, KH: kh, KW: kw, NP: np, FR: fr, RELU: +relu });
}
/** forward_few keeps every output channel of a lane's block: the input gradient of a grayscale or RGB(A) first layer. */
const FEW_MAX_COUT = 4;

function forwardFewDirectKernel(g: Geometry, np: number, fr: number, relu: boolean): Kernel {
  return convKernel('conv2d_subgroup', 'forward_few_direct', { COUT: g.cout, KH: g.kh, KW: g.kw, NP: np, FR: fr, PL: g.pl, PT: g.pt, RELU: +relu });
}

/** forward_gemm's tile per variant: output channels per invocation (FTM) and invocation rows (TY); TY * FTM channels x 2048 / TY pixels. */
const GEMM_TILES: Record<string, { ftm: number; ty: number }> = { gemm: { ftm: 8, ty: 16 }, gemm64: { ftm: 4, ty: 16 }, gemm32: { ftm: 4, ty: 8 } };

function forwardGemmKernel(variant: string, relu: boolean): Kernel {
  const { ftm, ty } = GEMM_TILES[variant]!;
  return convKernel('conv2d', 'forward_gemm', { FTM: ftm, TY: ty, RELU: +relu });
}

function weightSubgroupKernel(kw: number, np: number): Kernel {
  return convKernel('conv2d_subgroup', 'weight_sgv', { KW: kw, NP: np });
}

function weightRowsSubgroupKernel(kh: number, kw: number, np: number): Kernel {
  return convKernel('conv2d_subgroup', 'weight_sgr', { KH: kh, KW: kw, NP: np });
}

/**
 * Kernels of the forward pass (and of the stride-1 input gradient): 'rows' (forward_rows, any
 * adapter); 'rows_split' (forward_rows split over input channels into partial sums, for maps too
 * small to fill a GPU; any adapter); 'rows_pf' / 'rows_split_pf' (the same, loading each input
 * row one step ahead; meant for GPUs); 'gemm' / 'gemm64' / 'gemm32' (forward_gemm, workgroup-tiled
 * implicit GEMM of 128 / 64 output channels x 128 pixels, or 32 x 256; any adapter and stride,
 * meant for hardware GPUs); on 8-lane subgroups
 * 'sg2' / 'sg3' / 'sg4' (forward_sg with that many pixels per lane), 'sg2x2' (forward_sg_rows2:
 * 2 pixels x 2 rows per lane; row stride 1), 'sgr' / 'sgr4' / 'sgr12' (forward_sgr: 3 to 6 rows x
 * blocks of up to 8, 4 or 12 columns per lane; row stride 1, KH and KW <= 5), 'thin' (forward_thin:
 * forward_sgr's lane block for every output channel, up to 4 input channels), 'few' (forward_few:
 * forward_sgr's lane block for all of up to 4 output channels), or 'subgroup' (forward_sg with the
 * default pixels per lane); 'wino' / 'wino3' / 'wino4' / 'wino6' (Winograd F(2x2, 3x3) / F(3x3, 3x3) /
 * F(4x4, 3x3) / F(6x6, 3x3), winograd.ts: 3x3 kernels of stride 1; any adapter), 'wino5' (Winograd
 * F(2x2, 5x5): 5x5 kernels of stride 1), 'wino45' (F(4x4, 5x5)), 'wino4s' / 'wino6s' (a 5x5 kernel of stride 1 as four 3x3
 * pieces, F(4x4, 3x3) / F(6x6, 3x3) over 4x the input channels). The tuner
 * picks among them per shape.
 */
export type ConvForwardVariant = 'rows' | 'rows_split' | 'rows_pf' | 'rows_split_pf' | 'gemm' | 'gemm64' | 'gemm32' | 'subgroup' | 'sg2' | 'sg3' | 'sg4' | 'sg2x2' | 'sgr' | 'sgr4' | 'sgr12' | 'thin' | 'few' | 'fewd' | 'wino' | 'wino3' | 'wino4' | 'wino6' | 'wino5' | 'wino45' | 'wino4s' | 'wino6s';
const ROWS_VARIANTS: readonly string[] = ['rows', 'rows_split', 'rows_pf', 'rows_split_pf'];
const FORWARD_VARIANTS: readonly ConvForwardVariant[] = ['rows', 'rows_split', 'rows_pf', 'rows_split_pf', 'gemm', 'gemm64', 'gemm32', 'subgroup', 'sg2', 'sg3', 'sg4', 'sg2x2', 'sgr', 'sgr4', 'sgr12', 'thin', 'few', 'fewd', 'wino', 'wino3', 'wino4', 'wino6', 'wino5', 'wino45', 'wino4s', 'wino6s'];
const isGemm = (v: string | null): boolean => v !== null && v in GEMM_TILES;
let forcedForward: ConvForwardVariant | null = null;
/** Forces the forward kernel (tests run each); null restores the automatic (tuned) choice. */
export function setConvForwardVariant(v: ConvForwardVariant | null): void {
  if (v !== null && !FORWARD_VARIANTS.includes(v))
    throw new Error(`setConvForwardVariant: expected one of ${FORWARD_VARIANTS.join(', ')} or null, got ${JSON.stringify(v)}`);
  if (v !== null && !ROWS_VARIANTS.includes(v) && !isGemm(v) && !isWino(v) && !hasSubgroups8())
    throw new Error(`setConvForwardVariant: '${v}' needs an adapter with 8-lane subgroups; this one has ${describeSubgroups()}`);
  forcedForward = v;
}

/** forward_gemm tiles the tuner times for g: the 32-channel tile only for at most 32 output channels (with more, it would gather the input once per 32). */
const gemmCandidates = (g: Geometry): string[] => (g.cout <= 32 ? ['gemm', 'gemm64', 'gemm32'] : ['gemm', 'gemm64']);

/**
 * The Winograd variants: outputs per tile side and the kernel side they take (stride 1, any padding).
 * 'wino4s' and 'wino6s' (split) are F(4x4, 3x3) and F(6x6, 3x3) on a 5x5 kernel's four 3x3 pieces.
 */
const WINO: Readonly<Record<string, WinogradForm>> = {
  wino: { tile: 2, k: 3 },
  wino3: { tile: 3, k: 3 },
  wino4: { tile: 4, k: 3 },
  wino6: { tile: 6, k: 3 },
  wino5: { tile: 2, k: 5 },
  wino45: { tile: 4, k: 5 },
  wino4s: { tile: 4, k: 5, split: true },
  wino6s: { tile: 6, k: 5, split: true },
};
const isWino = (v: string | null): boolean => v !== null && v in WINO;
const winoOk = (g: Geometry, v: string): boolean => g.sh === 1 && g.sw === 1 && g.kh === g.kw && g.kh === WINO[v]!.k;
/**
 * The Winograd forms the tuner weighs for g, by its input channels (the GEMMs' K). A GPU times a
 * candidate in milliseconds, and its largest seed-cnn kernel is the 32-channel layer's weight gradient
 * (0.69 ms of a 7.3 ms step on the H200): it weighs every form from 16. On lavapipe each candidate
 * costs seconds of tuning, and with few channels the transforms' traffic outweighs the saved multiplies
 * (32 -> 64 channels at 48x48 with F(2x2, 3x3): its GEMMs alone took 92 ms against the direct kernel's
 * 82): every form from 64, and from 32 the 8-point ones (F(6x6, 3x3), F(4x4, 5x5): the most multiplies
 * saved per transformed value). That layer's forward by F(6x6, 3x3) took 93-96 ms against forward_sgr's
 * 112-117, alternating in one process (session 23).
 */
const EIGHT_POINT = new Set(['wino6', 'wino45']);
const winoCandidate = (g: Geometry): string[] => {
  const forms = Object.keys(WINO).filter((v) => winoOk(g, v));
  if (!gpu().info.software) return g.cin >= 16 ? forms : [];
  return g.cin >= 64 ? forms : g.cin >= 32 ? forms.filter((v) => EIGHT_POINT.has(v)) : [];
};

const geometryKey = (g: Geometry): string =>
  `${g.n}x${g.cin}x${g.h}x${g.w}>${g.cout}x${g.kh}x${g.kw}/s${g.sh},${g.sw}/p${g.pt},${g.pl}`;

/**
 * The forward kernel for g: 'rows', 'sg<NP>' (forward_sg with NP pixels per lane), 'sg2x2', 'gemm',
 * 'gemm64', 'gemm32', or 'direct' (forward: any stride; 'rows' and the subgroup kernels need the fast-path
 * geometries, column stride 1 and KW <= 16). The tuner picks among the candidates.
 */
function forwardKernelFor(g: Geometry): string {
  const fast = fastPath(g);
  const software = gpu().info.software;
  if (!fast) {
    if (isGemm(forcedForward)) return forcedForward!;
    if (forcedForward || software) return 'direct';
    return choose('conv2d.forward', geometryKey(g), ['direct', ...gemmCandidates(g)], 'gemm', () => forwardTrial(g));
  }
  if (isWino(forcedForward)) return winoOk(g, forcedForward!) ? forcedForward! : 'rows';
  if (!software && !forcedForward) {
    const rows = rowsSplits(g).splits > 1 ? ROWS_VARIANTS : ['rows', 'rows_pf'];
    return choose('conv2d.forward', geometryKey(g), [...rows, ...gemmCandidates(g), ...winoCandidate(g)], 'gemm', () => forwardTrial(g));
  }
  const np = subgroupPixels(g.ow, FORWARD_NP);
  // Two rows per lane need row stride 1 (shared input rows) and an unrolled kernel-row loop.
  const rows2 = g.sh === 1 && g.kh <= ROWS2_MAX_KH;
  if (forcedForward !== null && ROWS_VARIANTS.includes(forcedForward)) return forcedForward;
  if (forcedForward === 'subgroup') return `sg${np}`;
  if (forcedForward === 'sg2x2') return rows2 ? 'sg2x2' : `sg${np}`;
  if (forcedForward?.startsWith('sgr')) return sgrOk(g) ? forcedForward : `sg${np}`;
  if (forcedForward === 'thin') return thinOk(g) ? 'thin' : sgrOk(g) ? 'sgr' : `sg${np}`;
  if (forcedForward === 'few') return fewOk(g) ? 'few' : sgrOk(g) ? 'sgr' : `sg${np}`;
  if (forcedForward === 'fewd') return fewdOk(g) ? 'fewd' : fewOk(g) ? 'few' : sgrOk(g) ? 'sgr' : `sg${np}`;
  if (forcedForward) return forcedForward;
  if (!hasSubgroups8()) return 'rows';
  // Untuned default on CPU adapters: two rows per lane where it applies (measured fastest on every
  // seed-cnn and fast layer), else NP pixels per lane.
  const fallback = rows2 ? 'sg2x2' : `sg${np}`;
  // 'sgr12' differs from 'sgr' only on rows wider than 8.
  const sgr = sgrOk(g) ? ['sgr', 'sgr4', ...(g.ow > 8 ? ['sgr12'] : []), ...(thinOk(g) ? ['thin'] : []), ...(fewOk(g) ? ['few'] : []), ...(fewdOk(g) ? ['fewd'] : [])] : [];
  const candidates = ['rows', 'sg2', 'sg3', 'sg4', ...(rows2 ? ['sg2x2'] : []), ...sgr, ...winoCandidate(g)];
  return choose('conv2d.forward', geometryKey(g), candidates, fallback, () => forwardTrial(g));
}
const ROWS2_MAX_KH = 7;

/** Fresh inputs of g's shapes for the tuner: x and the weights [Cout, Cin, KH, KW]. */
function forwardTrial(g: Geometry): Trial {
  const x = randNormal([g.n, g.cin, g.h, g.w] as const, 0, 1, { seed: 1 });
  const w = randNormal([g.cout, g.cin, g.kh, g.kw] as const, 0, 0.05, { seed: 2 });
  return {
    // Each candidate as conv2d runs it: the direct kernels with their weight packing.
    run: (v) => forwardWith(x, w, null, g, v).dispose(),
    dispose: () => {
      x.dispose();
      w.dispose();
    },
  };
}

function weightRowsKernel(kw: number): Kernel {
  return convKernel('conv2d', 'weight_rows', { KW: kw });
}

interface Geometry {
  n: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  kh: number;
  kw: number;
  oh: number;
  ow: number;
  sh: number;
  sw: number;
  /** Zeros before the first row / column (those after follow from the output size); negative = crop. */
  pt: number;
  pl: number;
}

function pairOf(v: unknown): [unknown, unknown] | null {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2) return [v[0], v[1]];
  return null;
}

const isCount = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min;

function geometry(xs: Shape, ws: Shape, options: Conv2dOptions | null | undefined): Geometry {
  const both = `x ${fmtShape(xs)}, w ${fmtShape(ws)}`;
  if (xs.length !== 4) throw new Error(`conv2d: input must have rank 4 [N, Cin, H, W]: ${both}`);
  if (ws.length !== 4) throw new Error(`conv2d: weights must have rank 4 [Cout, Cin, KH, KW]: ${both}`);
  const [n, cin, h, w] = xs as Shape4;
  const [cout, wcin, kh, kw] = ws as Shape4;
  if (!(n > 0 && cin > 0 && h > 0 && w > 0)) throw new Error(`conv2d: input has an empty dimension: ${both}`);
  if (!(cout > 0 && kh > 0 && kw > 0)) throw new Error(`conv2d: weights have an empty dimension: ${both}`);
  if (wcin !== cin) throw new Error(`conv2d: input has ${cin} channels but weights expect ${wcin}: ${both}`);
  const opts = options ?? {};
  const stride = pairOf(opts.stride ?? 1);
  if (!stride || !isCount(stride[0], 1) || !isCount(stride[1], 1))
    throw new Error(`conv2d: stride must be an integer >= 1 or a pair of them, got ${JSON.stringify(opts.stride)}`);
  const [sh, sw] = stride as [number, number];
  const padding = opts.padding ?? 'valid';
  let oh: number, ow: number, pt: number, pl: number;
  if (padding === 'same') {
    oh = Math.ceil(h / sh);
    ow = Math.ceil(w / sw);
    pt = Math.floor(Math.max((oh - 1) * sh + kh - h, 0) / 2);
    pl = Math.floor(Math.max((ow - 1) * sw + kw - w, 0) / 2);
  } else {
    const pad = padding === 'valid' ? [0, 0] : pairOf(padding);
    if (!pad || !isCount(pad[0], 0) || !isCount(pad[1], 0))
      throw new Error(`conv2d: padding must be 'same', 'valid', an integer >= 0 or a pair of them, got ${JSON.stringify(padding)}`);
    [pt, pl] = pad as [number, number];
    if (h + 2 * pt < kh || w + 2 * pl < kw)
      throw new Error(
        `conv2d: kernel ${kh}x${kw} is larger than the padded input ${h + 2 * pt}x${w + 2 * pl} (padding ${JSON.stringify(padding)}): ${both}`,
      );
    oh = Math.floor((h + 2 * pt - kh) / sh) + 1;
    ow = Math.floor((w + 2 * pl - kw) / sw) + 1;
  }
  return { n, cin, h, w, cout, kh, kw, oh, ow, sh, sw, pt, pl };
}

/** The output shape [N, Cout, OH, OW]; throws (with both shapes) on what conv2d would reject. */
export function conv2dOutputShape(x: Shape4, w: Shape4, options?: Conv2dOptions): [number, number, number, number] {
  const g = geometry(x, w, options);
  return [g.n, g.cout, g.oh, g.ow];
}

/**
 * The kernel conv2d runs for a pass of this layer on the current adapter: the tuned choice where the
 * shape was tuned (else the default it would run now, queueing the shape for autotune()). 'forward',
 * 'input' (the input gradient: a forward-kernel name for stride 1, else 'backward_input') or
 * 'weight'. For benchmarks and profiles (e.g. Winograd rows, whose GFLOP/s count the direct
 * convolution's work).
 */
export function conv2dKernel(x: Shape4, w: Shape4, options: Conv2dOptions | undefined, pass: 'forward' | 'input' | 'weight'): string {
  const g = geometry(x, w, options);
  if (pass === 'weight') return weightKernelFor(g);
  if (pass === 'input') {
    if (g.sh !== 1 || g.sw !== 1) return 'backward_input';
    return forwardKernelFor(inputGradGeometry(g));
  }
  return forwardKernelFor(g);
}

/** The uniform words: geometry, then the kernel's own words a..g. */
function words(g: Geometry | null, extra: number[]): number[] {
  const p = g ? [g.n, g.cin, g.h, g.w, g.cout, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl] : new Array<number>(13).fill(0);
  p.push(...extra);
  while (p.length < PARAM_WORDS) p.push(0);
  return p;
}

const blocks4 = (v: number): number => Math.ceil(v / 4);

/** Views src as [b, r, c] and returns [b, c, r4] (r4 = r rounded up to 4, zero-filled; c reversed if asked), flat. */
function pack(src: Tensor, b: number, r: number, c: number, reverseC = false): Tensor<Shape1> {
  const r4 = blocks4(r) * 4;
  const out = empty([b * c * r4] as const);
  const s = src.buffer;
  dispatch(PACK, [s, s, s, out.buffer], words(null, [b, r, c, r4, reverseC ? 1 : 0, 0, 0]), Math.ceil((b * c * (r4 / 4)) / WG));
  return out;
}

/** Like pack, with the c axis made of rows of `row` values, each zero-padded to `paddedRow`. */
function packRows(src: Tensor, b: number, r: number, c: number, row: number, paddedRow: number): Tensor<Shape1> {
  const r4 = blocks4(r) * 4;
  const out = empty([b * (c / row) * paddedRow * r4] as const);
  const s = src.buffer;
  dispatch(PACK, [s, s, s, out.buffer], words(null, [b, r, c, r4, 0, row, paddedRow]), Math.ceil((b * (c / row) * paddedRow * (r4 / 4)) / WG));
  return out;
}

/**
 * Zero-padded copy of x's planes [planes, hp, wp]: x's row r lands at row r + top, column q + left.
 * Rows of whole vec4s in and out (w and wp multiples of 4) take pad4 (a row per invocation: CPU
 * adapters) or pad4_flat (a vec4 per invocation: GPUs); others the scalar pad.
 */
function padPlanes(x: Tensor, planes: number, h: number, w: number, hp: number, wp: number, top: number, left: number): Tensor<Shape1> {
  const xp = empty([planes * hp * wp] as const);
  const vec4Rows = w % 4 === 0 && wp % 4 === 0;
  const kind = !vec4Rows ? 'scalar' : (forcedPad ?? (gpu().info.software ? 'rows4' : 'flat4'));
  const p = words(null, [planes, h, w, hp, wp, top >>> 0, left >>> 0]);
  const s = x.buffer;
  if (kind === 'flat4') dispatch(PAD4_FLAT, [s, s, s, xp.buffer], p, Math.ceil((planes * hp * (wp / 4)) / WG));
  else dispatch(kind === 'rows4' ? PAD4 : PAD, [s, s, s, xp.buffer], p, Math.ceil((planes * hp) / WG));
  return xp;
}
/** The padding kernels: 'scalar' (pad), 'rows4' (pad4), 'flat4' (pad4_flat). */
export type PadKernel = 'scalar' | 'rows4' | 'flat4';
let forcedPad: PadKernel | null = null;
/**
 * Tests: pad with `kind` wherever rows are whole vec4s (others always take the scalar pad); null
 * restores the adapter's choice. Returns the previous setting.
 */
export function setPadKernel(kind: PadKernel | null): PadKernel | null {
  const prev = forcedPad;
  forcedPad = kind;
  return prev;
}

let forcedWide: boolean | null = null;
/** Whether long partial sums may take a workgroup per output (sum_axis): on hardware adapters. */
const wideSums = (): boolean => forcedWide ?? !gpu().info.software;
/**
 * Tests: let conv2d's bias and split-K sums take sum_axis (true) or never (false) whatever the
 * adapter; null restores the default (hardware adapters only). Returns the previous setting.
 */
export function setConvWideSums(v: boolean | null): boolean | null {
  const prev = forcedWide;
  forcedWide = v;
  return prev;
}

/** The weight gradient from `slots` partial sums of m values each (the partial itself when there is one). */
function sumPartials(partial: Tensor, slots: number, m: number, shape: Shape4): Tensor<Shape4> {
  if (slots === 1) return partial as Tensor<Shape4>;
  // Few weights, many partials (a first layer's split-K): on GPUs a workgroup per weight rather than
  // a few thousand serial loops (0.12 ms for 288 weights x 576 partials on an H200).
  const dw = sumMid(partial, 1, slots, m, shape, wideSums() && m < 8192 && slots >= 64);
  partial.dispose();
  return dw;
}

/**
 * The layout the vec4 subgroup kernels (weight_sgv, weight_sgr, forward_sgr) read: rows cut into
 * blocks of np columns, each read as whole aligned vec4s (np a multiple of 4, or np >= OW: one block).
 * ng: vec4s of a block's gy (NG in the shader); wp: padded input row width (the last block's NV
 * vec4 window fits); owp: gy row width (zeros past OW).
 */
function vec4Blocks(g: Geometry, np: number): { blocks: number; ng: number; wp: number; owp: number } {
  const blocks = Math.ceil(g.ow / np);
  const ng = Math.ceil(np / 4);
  return { blocks, ng, wp: 4 * (ng * (blocks - 1) + Math.ceil((np + g.kw - 1) / 4)), owp: 4 * ng * blocks };
}

/** gy with rows of owp values (zeros past OW), or gy itself when its rows already are. */
function gyRows(gy: Tensor, g: Geometry, owp: number): Tensor {
  return owp !== g.ow ? padPlanes(gy, g.n * g.cout, g.oh, g.ow, g.oh, owp, 0, 0) : gy;
}

/**
 * out[o, i] = sum_r src[o, r, i]: one invocation per output summing serially (sum_mid), or with
 * `wide` a workgroup per output (reduce.ts' sum_axis: long runs of r, few outputs, where a GPU would
 * otherwise get a few thousand long serial loops). `into` receives the sums instead of a new tensor.
 */
function sumMid<S extends Shape>(src: Tensor, outer: number, r: number, inner: number, shape: S, wide = false, into?: Tensor<S>): Tensor<S> {
  if (wide) {
    const flat = sumMiddle(src, outer, r, inner);
    const out = flat.reshape(shape);
    flat.dispose(); // the view keeps the buffer
    return out;
  }
  const out = into ?? empty(shape);
  const s = src.buffer;
  // Contiguous runs of whole vec4s (a bias gradient's planes): sum_mid4.
  const vec4 = inner === 1 && r % 4 === 0;
  dispatch(vec4 ? SUM_MID4 : SUM_MID, [s, s, s, out.buffer], words(null, [outer, r, inner]), Math.ceil(out.size / WG));
  return out;
}

/**
 * 2-D convolution (cross-correlation, as in PyTorch and Keras) of x [N, Cin, H, W] with
 * w [Cout, Cin, KH, KW], plus bias [Cout] when given: out [N, Cout, OH, OW].
 */
export function conv2d(
  x: Tensor<Shape4>,
  w: Tensor<Shape4>,
  bias?: Tensor<Shape1> | null,
  options?: Conv2dOptions,
): Tensor<Shape4> {
  checkInputs('conv2d', bias ? [x, w, bias] : [x, w], 'f32');
  const g = geometry(x.shape, w.shape, options);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== g.cout))
    throw new Error(`conv2d: bias must have shape [${g.cout}] (one per output channel): bias ${fmtShape(bias.shape)}, w ${fmtShape(w.shape)}`);
  const relu = options?.relu === true;
  const choice = forwardKernelFor(g);
  // A Winograd forward whose weight gradient takes the same form keeps its input tiles V for it:
  // one input transform per step instead of two (the chosen form is passed on, so a tuning between
  // forward and backward cannot part them).
  let tiles: Tensor<Shape3> | null = null;
  let out: Tensor<Shape4>;
  if (isWino(choice) && needsGrad([w]) && weightKernelFor(g) === choice) {
    ({ out, input: tiles } = winogradConv(x, w, bias ?? null, g, relu, WINO[choice]!, { keepInput: true }));
  } else out = forwardWith(x, w, bias ?? null, g, choice, relu);
  return record(
    out,
    'conv2d',
    [x, w, bias],
    (gOut) => {
      // Fused ReLU: the gradient of max(0, z) is g where the output is > 0 (so the output must stay alive).
      const gy = relu ? reluGradient(gOut, out) : gOut;
      const grads = [
        x.requiresGrad ? inputGrad(gy, w, g) : null,
        w.requiresGrad ? weightGrad(gy, x, g, tiles ? choice : undefined, tiles) : null,
        bias?.requiresGrad ? biasGrad(gy, g) : null,
      ];
      if (gy !== gOut) gy.dispose();
      return grads;
    },
    tiles ? [tiles] : [],
  );
}

/**
 * out = conv(x, w) + bias by the forward kernel `choice`, from w [Cout, Cin, KH, KW]; with `flipped`,
 * the stride-1 input gradient's convolution (g its geometry, inputGradGeometry) from the forward's w
 * [Cin, Cout, KH, KW], channels swapped and taps reversed. The Winograd forms transform w as it is;
 * the direct kernels read it packed.
 */
function forwardWith(x: Tensor, w: Tensor, bias: Tensor | null, g: Geometry, choice: string, relu = false, flipped = false): Tensor<Shape4> {
  if (isWino(choice)) return winogradConv(x, w, bias, g, relu, WINO[choice]!, { flipped }).out;
  // Weights as [Cin*KH*KW, Cout4]: the 4 channels of a block are one vec4 (flipped: packed from
  // [Cin', Cout', KH*KW] with the kernel positions reversed, which gives the same layout).
  const wf = flipped ? pack(w, g.cin, g.cout, g.kh * g.kw, true) : pack(w, 1, g.cout, g.cin * g.kh * g.kw);
  const out = forwardPacked(x, wf, bias, g, choice, relu);
  wf.dispose();
  return out;
}

/** out = conv(x, w) + bias by a direct kernel, with w already packed as [Cin*KH*KW, Cout4]. */
function forwardPacked(x: Tensor, wf: Tensor, bias: Tensor | null, g: Geometry, choice: string, relu = false): Tensor<Shape4> {
  if (isWino(choice)) throw new Error(`conv2d: the Winograd form '${choice}' transforms unpacked weights (forwardWith)`);
  const out = empty([g.n, g.cout, g.oh, g.ow] as const);
  const cob = blocks4(g.cout);
  const hasBias = bias ? 1 : 0;
  const bb = bias ? bias.buffer : wf.buffer;
  if (isGemm(choice)) {
    const { ftm, ty } = GEMM_TILES[choice]!;
    const pixelTiles = Math.ceil((g.n * g.oh * g.ow) / (2048 / ty));
    const channelTiles = Math.ceil(g.cout / (ty * ftm));
    dispatch(forwardGemmKernel(choice, relu), [x.buffer, wf.buffer, bb, out.buffer], words(g, [pixelTiles, cob, hasBias]), pixelTiles * channelTiles);
  } else if (choice === 'sg2x2') {
    // Two output rows x 2 pixels per lane; one more zero row so the last pair's second row is defined.
    const np = 2;
    const owb = Math.ceil(g.ow / np);
    const pairs = Math.ceil(g.oh / 2);
    const hp = 2 * pairs + g.kh - 1;
    const wp = owb * np + g.kw - 1;
    const xp = padPlanes(x, g.n * g.cin, g.h, g.w, hp, wp, g.pt, g.pl);
    const blocks = g.n * pairs * owb;
    const groups8 = Math.ceil(g.cout / 8);
    dispatch(forwardRows2Kernel(g.kh, g.kw, relu), [xp.buffer, wf.buffer, bb, out.buffer], words(g, [groups8, owb, blocks, hasBias, hp, wp, cob * 4]), groups8 * Math.ceil(blocks / WG));
    xp.dispose();
  } else if (choice === 'fewd' && !bias) {
    // The unpadded input: no padded copy (forward_few_direct).
    const { np, fr } = fewdBlock(g);
    const owb = Math.ceil(g.ow / np);
    const blocks = g.n * Math.ceil(g.oh / fr) * owb;
    dispatch(forwardFewDirectKernel(g, np, fr, relu), [x.buffer, x.buffer, wf.buffer, out.buffer], words(g, [1, owb, blocks, 0, 0, 0, cob * 4]), Math.ceil(blocks / WG));
  } else if (choice.startsWith('sgr') || choice === 'thin' || choice.startsWith('few')) {
    // FR rows x NP columns x 8 channels per lane, vec4 windows (see forward_sgr): 6 rows (measured
    // 3-15% faster than 4 on seed-cnn's layers), or 4 or 3 when those pad the last group less.
    // 'sgr12' (12-column blocks, 4 rows) measured 4-6% faster than 'sgr4' on 12x12 maps.
    // 'thin' (few input channels): forward_thin, the same lane block for all output channels;
    // 'few' (few output channels): forward_few, likewise; also 'fewd' with a bias, which
    // forward_few_direct does not take.
    const thin = choice === 'thin';
    const perLane = thin || choice.startsWith('few');
    const np = sgrPixels(perLane ? 'sgr' : choice, g.ow);
    const { blocks: owb, wp } = vec4Blocks(g, np);
    // At most 384 accumulators (FR x NP x 8): blocks of more than 8 columns take 4 or 3 rows.
    let fr = np > 8 ? 4 : 6;
    for (const r of [4, 3]) if (r < fr && Math.ceil(g.oh / r) * r < Math.ceil(g.oh / fr) * fr) fr = r;
    const rowGroups = Math.ceil(g.oh / fr);
    const hp = rowGroups * fr + g.kh - 1;
    const xp = padPlanes(x, g.n * g.cin, g.h, g.w, hp, wp, g.pt, g.pl);
    const blocks = g.n * rowGroups * owb;
    const groups8 = perLane ? 1 : Math.ceil(g.cout / 8);
    const k = thin
      ? forwardThinKernel(g.cin, g.kh, g.kw, np, fr, relu)
      : perLane
        ? forwardFewKernel(g.cout, g.kh, g.kw, np, fr, relu)
        : forwardRowsSubgroupKernel(g.kh, g.kw, np, fr, relu);
    dispatch(k, [xp.buffer, wf.buffer, bb, out.buffer], words(g, [groups8, owb, blocks, hasBias, hp, wp, cob * 4]), groups8 * Math.ceil(blocks / WG));
    xp.dispose();
  } else if (choice.startsWith('sg')) {
    // Subgroup kernel: lanes own NP pixels each, 8 channels per subgroup broadcast from the weights.
    const np = Number(choice.slice(2));
    const owb = Math.ceil(g.ow / np);
    const hp = (g.oh - 1) * g.sh + g.kh;
    const wp = owb * np + g.kw - 1;
    const xp = padPlanes(x, g.n * g.cin, g.h, g.w, hp, wp, g.pt, g.pl);
    const blocks = g.n * g.oh * owb;
    const groups8 = Math.ceil(g.cout / 8);
    dispatch(forwardSubgroupKernel(g.kw, np, relu), [xp.buffer, wf.buffer, bb, out.buffer], words(g, [groups8, owb, blocks, hasBias, hp, wp, cob * 4]), groups8 * Math.ceil(blocks / WG));
    xp.dispose();
  } else if (ROWS_VARIANTS.includes(choice)) {
    // Fast path: zero-padded copy of x, then aligned vec4 row loads without bounds checks.
    const rowPix = rowPixels(g.ow);
    const owb = Math.ceil(g.ow / rowPix);
    const nv = Math.ceil((rowPix - 1 + g.kw) / 4);
    const hp = (g.oh - 1) * g.sh + g.kh;
    const wp = rowPix * (owb - 1) + 4 * nv;
    const xp = padPlanes(x, g.n * g.cin, g.h, g.w, hp, wp, g.pt, g.pl);
    const blocks = g.n * g.oh * owb;
    const groups = cob * Math.ceil(blocks / WG);
    const { splits, perSplit } = choice.startsWith('rows_split') && !relu ? rowsSplits(g) : { splits: 1, perSplit: 0 };
    const target = splits > 1 ? empty([splits * out.size] as const) : out;
    dispatch(forwardRowsKernel(g.kw, rowPix, relu, choice.endsWith('_pf')), [xp.buffer, wf.buffer, bb, target.buffer], words(g, [cob, owb, blocks, hasBias, hp, wp / 4, perSplit]), splits * groups);
    xp.dispose();
    if (target !== out) {
      sumMid(target, 1, splits, out.size, out.shape, false, out);
      target.dispose();
    }
  } else {
    const owb = blocks4(g.ow);
    const blocks = g.n * g.oh * owb;
    dispatch(relu ? FORWARD_RELU : FORWARD, [x.buffer, wf.buffer, bb, out.buffer], words(g, [cob, owb, blocks, hasBias]), cob * Math.ceil(blocks / WG));
  }
  return out;
}

/** The stride-1 input gradient as a forward convolution: of gy, padded by K - 1 - p before. */
function inputGradGeometry(g: Geometry): Geometry {
  return { n: g.n, cin: g.cout, h: g.oh, w: g.ow, cout: g.cin, kh: g.kh, kw: g.kw, oh: g.h, ow: g.w, sh: 1, sw: 1, pt: g.kh - 1 - g.pt, pl: g.kw - 1 - g.pl };
}

function inputGrad(gy: Tensor, w: Tensor, g: Geometry): Tensor<Shape4> {
  if (g.sh === 1 && g.sw === 1) {
    // Stride 1: the input gradient is a convolution of gy with the flipped kernel (channels
    // swapped), padded by (K - 1 - p) before.
    const gi = inputGradGeometry(g);
    return forwardWith(gy, w, null, gi, forwardKernelFor(gi), false, true);
  }
  const dx = empty([g.n, g.cin, g.h, g.w] as const);
  const cib = blocks4(g.cin);
  const colBlocks = blocks4(Math.ceil(g.w / g.sw));
  const rowsPerPhase = Math.ceil(g.h / g.sh);
  const perPhase = g.n * rowsPerPhase * colBlocks;
  // Weights as [Cout*KH*KW, Cin4]: the 4 input channels of a block are one vec4.
  const wb = pack(w, g.cout, g.cin, g.kh * g.kw);
  dispatch(
    BACKWARD_INPUT,
    [gy.buffer, wb.buffer, wb.buffer, dx.buffer],
    words(g, [cib, colBlocks, rowsPerPhase, perPhase]),
    cib * g.sh * g.sw * Math.ceil(perPhase / WG),
  );
  wb.dispose();
  return dx;
}

/**
 * Which weight-gradient kernels run: 'auto' (default) picks the workgroup-memory GEMM on hardware
 * adapters ('gpu', or 'gpu_k': the same with fewer, longer K splits; the tuner picks), the subgroup
 * kernel on adapters with 8-lane subgroups (lavapipe), else the register-blocked kernels ('cpu'); any
 * may be forced (tests run each the adapter supports). The environment variable FER_CONV_VARIANT
 * sets the initial value. 'wino' / 'wino3' / 'wino4' / 'wino6' / 'wino5' / 'wino45' / 'wino4s' / 'wino6s': the Winograd weight gradient
 * (winograd.ts) where the geometry allows (3x3 / 5x5, stride 1; any adapter), else 'cpu'.
 */
export type ConvVariant = 'auto' | 'cpu' | 'gpu' | 'gpu_k' | 'subgroup' | 'sgv4' | 'sgv8' | 'sgr' | 'sgr4' | 'wino' | 'wino3' | 'wino4' | 'wino6' | 'wino5' | 'wino45' | 'wino4s' | 'wino6s';
const CONV_VARIANTS: readonly ConvVariant[] = ['auto', 'cpu', 'gpu', 'gpu_k', 'subgroup', 'sgv4', 'sgv8', 'sgr', 'sgr4', 'wino', 'wino3', 'wino4', 'wino6', 'wino5', 'wino45', 'wino4s', 'wino6s'];
const envVariant = typeof process !== 'undefined' ? process.env?.['FER_CONV_VARIANT'] : undefined;
let convVariant: ConvVariant = CONV_VARIANTS.includes(envVariant as ConvVariant) ? (envVariant as ConvVariant) : 'auto';

/** Selects the conv2d weight-gradient variant; returns the previous setting. */
export function setConvVariant(v: ConvVariant): ConvVariant {
  if (!CONV_VARIANTS.includes(v)) throw new Error(`setConvVariant: expected one of ${CONV_VARIANTS.join(', ')}, got ${JSON.stringify(v)}`);
  if ((v === 'subgroup' || v.startsWith('sg')) && !hasSubgroups8())
    throw new Error(`setConvVariant: '${v}' needs an adapter with 8-lane subgroups; this one has ${describeSubgroups()}`);
  const prev = convVariant;
  convVariant = v;
  return prev;
}

/**
 * The weight-gradient kernel for g: 'cpu' (weight_rows / backward_weight), 'gpu' / 'gpu_k' (weight_gemm),
 * 'sgv4' / 'sgv8' (weight_sgv, 4 or 8 pixels per block) or 'sgr' / 'sgr4' (weight_sgr, blocks of up
 * to 8 or 4 columns; stride 1, else weight_sgv).
 */
function weightKernelFor(g: Geometry): string {
  const sgOk = hasSubgroups8() && g.sw === 1 && g.kw <= SUBGROUP_MAX_KW;
  if (convVariant === 'cpu' || convVariant === 'gpu' || convVariant === 'gpu_k') return convVariant;
  if (isWino(convVariant)) return winoOk(g, convVariant) ? convVariant : 'cpu';
  // The subgroup kernels cover column stride 1 and KW <= 5 (their 8 x KW accumulators); others fall back.
  // weight_sgr shares the upstream gradient over 8 input channels: with fewer, weight_sgv does better.
  const subgroupDefault = sgrOk(g) && g.cin >= 8 ? 'sgr' : 'sgv4';
  if (convVariant === 'subgroup') return sgOk ? subgroupDefault : 'cpu';
  if (convVariant.startsWith('sg')) return sgOk ? convVariant : 'cpu';
  const software = gpu().info.software;
  const gemm = gemmSplits(g, false).splits !== gemmSplits(g, true).splits ? ['gpu', 'gpu_k'] : ['gpu'];
  const candidates = [...(software ? (sgOk ? ['cpu', 'sgv4', 'sgv8', ...(sgrOk(g) ? ['sgr', 'sgr4'] : [])] : ['cpu']) : [...gemm, 'cpu']), ...winoCandidate(g)];
  const fallback = software ? (sgOk ? subgroupDefault : 'cpu') : 'gpu';
  return choose('conv2d.weight', geometryKey(g), candidates, fallback, () => weightTrial(g));
}

function weightTrial(g: Geometry): Trial {
  const x = randNormal([g.n, g.cin, g.h, g.w] as const, 0, 1, { seed: 1 });
  const gy = randNormal([g.n, g.cout, g.oh, g.ow] as const, 0, 1, { seed: 2 });
  return {
    run: (v) => weightGrad(gy, x, g, v).dispose(),
    dispose: () => {
      x.dispose();
      gy.dispose();
    },
  };
}
const SUBGROUP_MAX_KW = 5;

/** Output tile (Cout x Cin*KH*KW) and K chunk of weight_gemm (GM, GC, GK in the shader). */
const GEMM_M = 64;
const GEMM_C = 128;
const GEMM_K = 16;

/**
 * Weight gradient as a tiled GEMM [Cout] x [Cin*KH*KW] over K = N*OH*OW (weight_gemm), split over
 * K when there are too few output tiles to fill the GPU; partials are summed by sum_mid.
 */
function gemmSplits(g: Geometry, longK: boolean): { tilesC: number; tiles: number; splits: number; kPer: number } {
  const tilesC = Math.ceil((g.cin * g.kh * g.kw) / GEMM_C);
  const tiles = tilesC * Math.ceil(g.cout / GEMM_M);
  // Aim for ~1000 workgroups (several waves on 132 SMs), each still summing at least 256 k; or, for
  // 'gpu_k', ~256 workgroups of at least 1024 k (fewer partials to write and add up).
  const { splits, kPer } = longK ? splitK(g.n * g.oh * g.ow, tiles, 256, 1024, GEMM_K) : splitK(g.n * g.oh * g.ow, tiles, 1024, 256, GEMM_K);
  return { tilesC, tiles, splits, kPer };
}

function weightGradGemm(gy: Tensor, x: Tensor, g: Geometry, longK = false): Tensor<Shape4> {
  const shape = [g.cout, g.cin, g.kh, g.kw] as const;
  const ncol = g.cin * g.kh * g.kw;
  const m = g.cout * ncol;
  const { tilesC, tiles, splits, kPer } = gemmSplits(g, longK);
  const partial = splits > 1 ? empty([splits * m] as const) : empty(shape);
  dispatch(WEIGHT_GEMM, [x.buffer, x.buffer, gy.buffer, partial.buffer], words(g, [tilesC, splits, kPer, ncol]), tiles * splits);
  return sumPartials(partial, splits, m, shape);
}

/** Weight gradient by weight_sgv (np = 4 or 8 pixels per block): subgroups of 8 channels x 8 (ci, kh) pairs, split over row chunks. */
function weightGradSubgroup(gy: Tensor, x: Tensor, g: Geometry, np: number): Tensor<Shape4> {
  const shape = [g.cout, g.cin, g.kh, g.kw] as const;
  const m = g.cout * g.cin * g.kh * g.kw;
  const groups8 = Math.ceil(g.cout / 8);
  const pairs = g.cin * g.kh;
  const perChunk = Math.ceil(pairs / 8);
  const rows = g.n * g.oh;
  // Enough subgroups for the cores' threads to share (lavapipe runs one workgroup per thread).
  let chunks = Math.min(rows, Math.max(1, Math.ceil(128 / (groups8 * perChunk))));
  const rowsPerChunk = Math.ceil(rows / chunks);
  chunks = Math.ceil(rows / rowsPerChunk);
  const hp = (g.oh - 1) * g.sh + g.kh;
  const { wp, owp } = vec4Blocks(g, np);
  const xp = padPlanes(x, g.n * g.cin, g.h, g.w, hp, wp, g.pt, g.pl);
  const gp = gyRows(gy, g, owp);
  const partial = chunks > 1 ? empty([chunks * m] as const) : empty(shape);
  dispatch(
    weightSubgroupKernel(g.kw, np),
    [xp.buffer, gp.buffer, gp.buffer, partial.buffer],
    words(g, [groups8, pairs, perChunk, rowsPerChunk, hp, wp, chunks]),
    groups8 * Math.ceil((chunks * perChunk) / 8),
  );
  xp.dispose();
  if (gp !== gy) gp.dispose();
  return sumPartials(partial, chunks, m, shape);
}

/** forward_sgr and weight_sgr (a lane: rows x a block of columns x 8 channels, all taps): stride 1, KH and KW <= 5. */
function sgrOk(g: Geometry): boolean {
  return g.sh === 1 && g.sw === 1 && g.kh <= 5 && g.kw <= 5;
}

/** forward_thin: forward_sgr's geometries with at most THIN_MAX_CIN input channels. */
function thinOk(g: Geometry): boolean {
  return sgrOk(g) && g.cin <= THIN_MAX_CIN;
}

/** forward_few: forward_sgr's geometries with at most FEW_MAX_COUT output channels. */
function fewOk(g: Geometry): boolean {
  return sgrOk(g) && g.cout <= FEW_MAX_COUT;
}

/**
 * forward_few_direct: forward_few's geometries whose unpadded input rows are whole aligned vec4s,
 * with at most 4 columns of padding on either side.
 */
function fewdOk(g: Geometry): boolean {
  return fewOk(g) && g.w % 4 === 0 && g.pl >= 0 && g.pl <= 4 && g.kw - 1 - g.pl >= 0 && g.kw - 1 - g.pl <= 4 && g.pt >= 0;
}

/**
 * forward_few_direct's block: 16 columns (a multiple of 4 up to the row's width) x as many rows as
 * 384 accumulators (COUT x FR x NP) and 20 window rows allow, at most 16. Each lane then loads
 * FR + KH - 1 window rows for FR output rows. On lavapipe, for the first layer's input gradient
 * (COUT 1, 48x48): 16 x 16 took 5.5 ms, 16 x 8 6.7, 8 x 16 8.7, 8 x 6 (forward_few's block) 12.4.
 */
function fewdBlock(g: Geometry): { np: number; fr: number } {
  const np = Math.min(16, 4 * Math.ceil(g.ow / 4));
  const fr = Math.max(1, Math.min(16, 21 - g.kh, g.oh, Math.floor(384 / (g.cout * np))));
  return { np, fr };
}

/** forward_sgr's and weight_sgr's columns per block: the whole row up to 8 ('sgr'), 4 ('sgr4') or 12 ('sgr12', forward only), else that many. */
function sgrPixels(choice: string, ow: number): number {
  const most = choice === 'sgr4' ? 4 : choice === 'sgr12' ? 12 : 8;
  return ow <= most ? ow : most;
}

/** Weight gradient by weight_sgr: subgroups of 8 output x 8 input channels x a column block, split over images. */
function weightGradRowsSubgroup(gy: Tensor, x: Tensor, g: Geometry, np: number): Tensor<Shape4> {
  const shape = [g.cout, g.cin, g.kh, g.kw] as const;
  const m = g.cout * g.cin * g.kh * g.kw;
  const groups8 = Math.ceil(g.cout / 8);
  const { blocks, wp, owp } = vec4Blocks(g, np);
  const perChunk = Math.ceil(g.cin / 8) * blocks;
  // Enough subgroups for the cores' threads to share; chunks are whole images (the rows slide).
  let chunks = Math.min(g.n, Math.max(1, Math.ceil(128 / (groups8 * perChunk))));
  const perImages = Math.ceil(g.n / chunks);
  chunks = Math.ceil(g.n / perImages);
  const hp = g.oh + g.kh - 1;
  const xp = padPlanes(x, g.n * g.cin, g.h, g.w, hp, wp, g.pt, g.pl);
  const gp = gyRows(gy, g, owp);
  const slots = chunks * blocks;
  const partial = slots > 1 ? empty([slots * m] as const) : empty(shape);
  dispatch(
    weightRowsSubgroupKernel(g.kh, g.kw, np),
    [xp.buffer, gp.buffer, gp.buffer, partial.buffer],
    words(g, [groups8, g.cin, perChunk, perImages, hp, wp, chunks]),
    groups8 * Math.ceil((chunks * perChunk) / 8),
  );
  xp.dispose();
  if (gp !== gy) gp.dispose();
  return sumPartials(partial, slots, m, shape);
}

/** dL/dw by the weight kernel `kernelChoice` (else the tuned one); `tiles`: a Winograd forward's kept input tiles (same form). */
function weightGrad(gy: Tensor, x: Tensor, g: Geometry, kernelChoice?: string, tiles: Tensor<Shape3> | null = null): Tensor<Shape4> {
  const choice = kernelChoice ?? weightKernelFor(g);
  if (choice === 'gpu' || choice === 'gpu_k') return weightGradGemm(gy, x, g, choice === 'gpu_k');
  if (isWino(choice)) return winogradWeightGrad(gy, x, g, WINO[choice]!, tiles);
  if (choice.startsWith('sgr')) return sgrOk(g) ? weightGradRowsSubgroup(gy, x, g, sgrPixels(choice, g.ow)) : weightGradSubgroup(gy, x, g, 4);
  if (choice.startsWith('sgv')) return weightGradSubgroup(gy, x, g, Number(choice.slice(3)));
  const shape = [g.cout, g.cin, g.kh, g.kw] as const;
  const m = g.cout * g.cin * g.kh * g.kw;
  const cob = blocks4(g.cout);
  const kwBlocks = g.sw * blocks4(Math.ceil(g.kw / g.sw));
  const kBlocks = g.cin * g.kh * kwBlocks;
  const kGroups = Math.ceil(kBlocks / WG);
  const rows = g.n * g.oh;
  const fast = fastPath(g);
  // With few weight blocks, split the N*OH rows into chunks (partial sums added by sum_mid) so
  // that enough invocations run: a few hundred for the CPU's SIMD lanes and cores, tens of
  // thousands for a real GPU.
  const software = gpu().info.software;
  let chunks: number;
  if (fast) {
    chunks = Math.ceil((software ? 256 : 65536) / (cob * g.cin * g.kh));
  } else {
    chunks = Math.ceil((software ? 8 : 1024) / (cob * kGroups));
  }
  chunks = Math.min(rows, Math.max(1, chunks));
  const rowsPerChunk = Math.ceil(rows / chunks);
  chunks = Math.ceil(rows / rowsPerChunk);
  const partial = chunks > 1 ? empty([chunks * m] as const) : empty(shape);
  if (fast) {
    const groups = Math.ceil(g.ow / GRAD_PIX);
    const nv = Math.ceil((GRAD_PIX - 1 + g.kw) / 4);
    const hp = (g.oh - 1) * g.sh + g.kh;
    const wp = GRAD_PIX * (groups - 1) + 4 * nv;
    const xp = padPlanes(x, g.n * g.cin, g.h, g.w, hp, wp, g.pt, g.pl);
    // gy as [N*OH, OWp, Cout4]: 4 output channels per vec4, rows zero-padded to whole pixel groups.
    const gp = packRows(gy, g.n, g.cout, g.oh * g.ow, g.ow, groups * GRAD_PIX);
    dispatch(
      weightRowsKernel(g.kw),
      [xp.buffer, gp.buffer, gp.buffer, partial.buffer],
      words(g, [cob, g.cin * g.kh, hp, wp / 4, groups, rowsPerChunk]),
      cob * Math.ceil((g.cin * g.kh * chunks) / WG),
    );
    xp.dispose();
    gp.dispose();
  } else {
    // gy as [N*OH*OW, Cout4]: the 4 output channels of a block are one vec4.
    const gp = pack(gy, g.n, g.cout, g.oh * g.ow);
    dispatch(
      BACKWARD_WEIGHT,
      [x.buffer, gp.buffer, gp.buffer, partial.buffer],
      words(g, [cob, kwBlocks, kBlocks, kGroups, rowsPerChunk, chunks, m]),
      cob * kGroups * chunks,
    );
    gp.dispose();
  }
  return sumPartials(partial, chunks, m, shape);
}

function biasGrad(gy: Tensor, g: Geometry): Tensor<Shape1> {
  const plane = g.oh * g.ow;
  // Large planes on GPUs: a workgroup sums each (image, channel) plane, reading it contiguously; a
  // serial loop per plane left a GPU with a few thousand strided chains (0.3 ms for seed-cnn's 48x48
  // layers on an H200). Small planes (12x12, 6x6) would leave most of a workgroup idle: a loop each
  // is cheaper. On lavapipe a loop per plane is a core's natural stride-1 loop, and sum_axis's
  // workgroup barriers are expensive: seed-cnn's bias gradients took 98 ms per step through sum_axis.
  const perImage = sumMid(gy, g.n * g.cout, plane, 1, [g.n * g.cout] as const, wideSums() && plane >= 512);
  if (g.n === 1) return perImage;
  const db = sumMid(perImage, 1, g.n, g.cout, [g.cout] as const);
  perImage.dispose();
  return db;
}
