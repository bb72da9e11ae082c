// Matrix products: matmul (with optional transposes) and linear (x @ w^T + bias, PyTorch layout),
// forward and backward. WGSL: matmul.wgsl, entry points `matmul` (scalar loads, any size) and
// `matmul_v4` (vec4 loads when K and both operands' contiguous dimensions are multiples of 4);
// matmul_subgroup.wgsl (lavapipe); matmul_tiled.wgsl (shared-memory tiles, for hardware GPUs).
import { dispatch, kernelFor, splitK, type Kernel } from '../dispatch.js';
import { gpu, hasSubgroups8, describeSubgroups } from '../device.js';
import { Tensor, checkInputs, checkRank, empty, randNormal, fmtShape, type Shape, type Shape1, type Shape2, type Shape3 } from '../tensor.js';
import { choose, type Trial } from '../tune.js';
import { record } from '../autograd.js';
import { sumMiddle } from './reduce.js';

export interface MatmulOptions {
  /** Use a^T: a is stored [K, M]. */
  transA?: boolean;
  /** Use b^T: b is stored [N, K]. */
  transB?: boolean;
}

/**
 * Register-block kernel (matmul.wgsl): a workgroup (64 invocations, one 4x4 tile each) covers WG_N
 * tiles along N and 64 / WG_N along M: 16 columns x 64 rows. On lavapipe 1024^3, WG_N 2..64 measured
 * within noise of each other for the vec4 kernel, but the scalar kernel halved at WG_N 16, so 4.
 */
const WG_N = 4;
const WG_M = 64 / WG_N;

/**
 * Matmul kernels: 'block' (any adapter), 'subgroup' and 'subgroup_stack' (8-lane subgroups, i.e.
 * lavapipe; see matmul_subgroup.wgsl; the stack variant needs vec4 rows of A and B, else it runs
 * 'subgroup'), 'subgroup_stack8' (the same with all 8 subgroups of a workgroup stacked along M: one
 * 64-column strip; for N <= 64 the 2-strip form leaves half its lanes on clamped columns, and at
 * 1024^3 it measured 1-2% faster in alternating runs, so the tuner weighs both everywhere),
 * 'subgroup_square' / 'subgroup_square2' / 'subgroup_square8' (matmul_sgt: a square 32 x 32 block per
 * subgroup, so fewer loads per multiply-add than matmul_sgs's 16 x 64; 4, 2 or 8 subgroups of a
 * workgroup stacked along M; 2 fits the 64-row products of the Winograd layers on 6x6 maps, where 4
 * computes half its rows on clamped ones; same needs as the stack variants), 'subgroup_square_i4' /
 * 'subgroup_square_i2' (matmul_sgt with 4 or 2 items of a batch per workgroup: batches only), and the
 * shared-memory tiled kernels for hardware GPUs (matmul_tiled.wgsl):
 * 'tiled' (128x128 tile, 8x8 per invocation, 8 k per stage), 'tiled_k16' (the same, 16 k per stage),
 * 'tiled64' (64x128 tile, 4x8 per invocation: twice the workgroups for small outputs), and
 * 'tiled64_splitk' (tiled64 with K split over workgroups and the partial products summed after:
 * for outputs of a few tiles with a long K, such as a batch of 64 through a 4608-wide layer).
 */
export type MatmulVariant = 'block' | 'subgroup' | 'subgroup_stack' | 'subgroup_stack8' | 'subgroup_square' | 'subgroup_square2' | 'subgroup_square8' | 'subgroup_square_i4' | 'subgroup_square_i2' | 'tiled' | 'tiled_k16' | 'tiled64' | 'tiled64_splitk';
export const MATMUL_VARIANTS: readonly MatmulVariant[] = ['block', 'subgroup', 'subgroup_stack', 'subgroup_stack8', 'subgroup_square', 'subgroup_square2', 'subgroup_square8', 'subgroup_square_i4', 'subgroup_square_i2', 'tiled', 'tiled_k16', 'tiled64', 'tiled64_splitk'];

/** Rows per invocation (TM), k per stage (BK) and K splitting of each tiled variant. */
const TILED: Partial<Record<MatmulVariant, { TM: number; BK: number; splitK: boolean }>> = {
  tiled: { TM: 8, BK: 8, splitK: false },
  tiled_k16: { TM: 8, BK: 16, splitK: false },
  tiled64: { TM: 4, BK: 8, splitK: false },
  tiled64_splitk: { TM: 4, BK: 8, splitK: true },
};
/** The candidates the tuner times on hardware adapters (on lavapipe: 'block' and 'subgroup'). */
const HARDWARE_CANDIDATES: readonly MatmulVariant[] = ['block', 'tiled', 'tiled_k16', 'tiled64', 'tiled64_splitk'];
/** Split-K aims at this many workgroups (two waves on a 132-SM GPU), each summing at least SPLIT_MIN_K. */
const SPLIT_TARGET_GROUPS = 264;
const SPLIT_MIN_K = 256;

function blockKernel(transA: boolean, transB: boolean, bias: boolean, vec4: boolean, batched: boolean): Kernel {
  return kernelFor('matmul', vec4 ? 'matmul_v4' : 'matmul', ['read', 'read', 'read', 'rw'], { TRANS_A: +transA, TRANS_B: +transB, HAS_BIAS: +bias, WG_N, BATCHED: +batched });
}

/** Subgroups per workgroup stacked along M in the subgroup kernel (32 rows x 64 columns per workgroup). */
const SG_M = 2;

/**
 * matmul_sgs's subgroups per workgroup along M (of 8): 4 x 2 subgroups cover 64 rows x 128 columns.
 * On lavapipe 1024^3 and 2048^3, 2, 4 and 8 measured alike (57-60 GFLOP/s) and 1 (one subgroup per
 * workgroup) 52; 4 fits the batch of 64 rows of the dense layers.
 */
const SGS_M = 4;
/** matmul_sgt's subgroups per workgroup along M (of 8): 4 x 2 subgroups cover 128 rows x 64 columns. */
const SGT_M = 4;
/**
 * The subgroup kernels that read A's (or A^T's) rows and B's as vec4s: entry point, the block of C a
 * subgroup computes (rows x columns), and how many of a workgroup's 8 subgroups stack along M (the
 * shader's STACK_M).
 */
const VEC4_SUBGROUP: Partial<Record<MatmulVariant, { entry: string; rows: number; cols: number; subM: number; items?: number }>> = {
  subgroup_stack: { entry: 'matmul_sgs', rows: 16, cols: 64, subM: SGS_M },
  subgroup_stack8: { entry: 'matmul_sgs', rows: 16, cols: 64, subM: 8 },
  subgroup_square: { entry: 'matmul_sgt', rows: 32, cols: 32, subM: SGT_M },
  subgroup_square2: { entry: 'matmul_sgt', rows: 32, cols: 32, subM: 2 },
  // Several products of a batch per workgroup (ITEMS_WG): 4 items of 32 x 64, or 2 of 64 x 64. Made
  // for the Winograd weight gradients of 32 channels (M = 32: 58-60 GFLOP/s against matmul_sg's
  // 24-25), they measured faster on larger items too (64 x [64, 512] @ [512, 512]: _i2 41-44 ms,
  // subgroup_square2 48, matmul_sgs 60-70): the tuner weighs them for every batch.
  subgroup_square_i4: { entry: 'matmul_sgt', rows: 32, cols: 32, subM: 1, items: 4 },
  subgroup_square_i2: { entry: 'matmul_sgt', rows: 32, cols: 32, subM: 2, items: 2 },
  subgroup_square8: { entry: 'matmul_sgt', rows: 32, cols: 32, subM: 8 },
};
/** matmul_sgs and matmul_sgt (accumulators summed per 4 k) read A's (or A^T's) rows and B's as vec4s. */
function stackOk(s: { M: number; K: number; N: number; transA: boolean; transB: boolean }): boolean {
  return s.K % 4 === 0 && (!s.transA || s.M % 4 === 0) && (s.transB || s.N % 4 === 0);
}

function subgroupKernel(transA: boolean, transB: boolean, bias: boolean, K: number, batched: boolean): Kernel {
  return kernelFor('matmul_subgroup', 'matmul_sg', ['read', 'read', 'read', 'rw', 'read', 'read'], {
    TRANS_A: +transA, TRANS_B: +transB, HAS_BIAS: +bias, VEC_A: +(!transA && K % 4 === 0), VEC_B: +(transB && K % 4 === 0), SG_M, BATCHED: +batched,
  });
}

/**
 * The untaped product op(a)[M, K] @ op(b)[K, N] (+ bias[N]) into a new [M, N] tensor; with 3-D
 * operands the batched product [B, M, N] of op(a)[i] @ op(b)[i] (no bias; every kernel takes a
 * batch: its workgroups are numbered item by item). Shapes are assumed checked by the caller.
 */
function mm(a: Tensor, b: Tensor, transA: boolean, transB: boolean, bias: Tensor | null, variantChoice?: MatmulVariant): Tensor<Shape2 | Shape3> {
  const batched = a.rank === 3;
  const batch = batched ? a.shape[0]! : 1;
  const [ar, ac] = batched ? [a.shape[1]!, a.shape[2]!] : [a.shape[0]!, a.shape[1]!];
  const [br, bc] = batched ? [b.shape[1]!, b.shape[2]!] : [b.shape[0]!, b.shape[1]!];
  const M = transA ? ac : ar;
  const K = transA ? ar : ac;
  const N = transB ? br : bc;
  const out = batched ? empty([batch, M, N] as const) : empty([M, N] as const);
  if (M === 0 || N === 0 || batch === 0) return out;
  // Without a bias, binding 2 is never read: bind `a` there (read-only aliasing is allowed).
  const buffers = [a.buffer, b.buffer, (bias ?? a).buffer, out.buffer];
  const variant = variantChoice ?? matmulVariant({ M, N, K, transA, transB, batch }, bias !== null);
  const tiled = TILED[variant];
  if (tiled) {
    const groupsN = Math.ceil(N / 128);
    const tiles = groupsN * Math.ceil(M / (16 * tiled.TM));
    // A batch fills the GPU with its items instead: K is not split then.
    const { splits, kPer } = tiled.splitK && !batched ? splitK(K, tiles, SPLIT_TARGET_GROUPS, SPLIT_MIN_K, tiled.BK) : { splits: 1, kPer: K };
    const k = kernelFor('matmul_tiled', 'matmul_tiled', ['read', 'read', 'read', 'rw'], {
      TRANS_A: +transA, TRANS_B: +transB, HAS_BIAS: +(bias !== null), TM: tiled.TM, BK: tiled.BK, BATCHED: +batched,
    });
    const target = splits > 1 ? empty([splits * M * N] as const) : out;
    dispatch(k, [buffers[0]!, buffers[1]!, buffers[2]!, target.buffer], [M, N, K, groupsN, tiles, kPer, splits, splits * batch], tiles * splits * batch);
    if (splits === 1) return out;
    out.dispose();
    const sum = sumMiddle(target, 1, splits, M * N);
    target.dispose();
    const c = sum.reshape([M, N] as const);
    sum.dispose(); // the view keeps the buffer
    return c;
  }
  const vec4Block = VEC4_SUBGROUP[variant];
  if (vec4Block && stackOk({ M, K, N, transA, transB })) {
    const { entry, rows, cols, subM, items = 1 } = vec4Block;
    // Subgroups per product: all 8 of a workgroup, or 8 / items with several items per workgroup
    // (then always through the batched path: a single product is a batch of one).
    const groupsN = Math.ceil(N / (cols * (8 / items / subM)));
    const itemsWg: Record<string, number> = items > 1 ? { ITEMS_WG: items } : {};
    const k = kernelFor('matmul_subgroup', entry, ['read', 'read', 'read', 'rw', 'read', 'read'], {
      TRANS_A: +transA, TRANS_B: +transB, HAS_BIAS: +(bias !== null), STACK_M: subM, BATCHED: +(batched || items > 1), ...itemsWg,
    });
    const perBatch = groupsN * Math.ceil(M / (rows * subM));
    dispatch(k, [...buffers, a.buffer, b.buffer], [M, N, K, groupsN, perBatch, batch], perBatch * Math.ceil(batch / items));
    return out;
  }
  if (variant === 'subgroup' || variant.startsWith('subgroup_')) {
    const groupsN = Math.ceil(N / (16 * (8 / SG_M)));
    const groupsM = Math.ceil(M / (16 * SG_M));
    const k = subgroupKernel(transA, transB, bias !== null, K, batched);
    dispatch(k, [...buffers, a.buffer, b.buffer], [M, N, K, groupsN, groupsN * groupsM, batch], groupsN * groupsM * batch);
    return out;
  }
  // vec4 loads need every vec4 aligned and inside a row: K steps by 4, and the contiguous axis of
  // each operand (A: K, or M when transposed; B: N, or K when transposed) is a multiple of 4.
  const vec4 = K % 4 === 0 && (transA ? M : K) % 4 === 0 && (transB ? K : N) % 4 === 0;
  const tilesM = Math.ceil(M / 4);
  const tilesN = Math.ceil(N / 4);
  const groupsN = Math.ceil(tilesN / WG_N);
  const groupsM = Math.ceil(tilesM / WG_M);
  const k = blockKernel(transA, transB, bias !== null, vec4, batched);
  dispatch(k, buffers, [M, N, K, tilesM, tilesN, groupsN, groupsN * groupsM, batch], groupsN * groupsM * batch);
  return out;
}

export interface MatmulShape { M: number; N: number; K: number; transA: boolean; transB: boolean; /** Products in a batch (bmm); 1 for matmul. */ batch: number }

let forcedMatmul: MatmulVariant | null = null;
/** Forces one matmul kernel (tests run every variant); null restores the automatic choice. */
export function setMatmulVariant(v: MatmulVariant | null): void {
  if (v !== null && !MATMUL_VARIANTS.includes(v)) throw new Error(`setMatmulVariant: expected one of ${MATMUL_VARIANTS.map((x) => `'${x}'`).join(', ')} or null, got ${JSON.stringify(v)}`);
  if (v?.startsWith('subgroup') && !hasSubgroups8()) throw new Error(`setMatmulVariant: '${v}' needs an adapter with 8-lane subgroups; this one has ${describeSubgroups()}`);
  forcedMatmul = v;
}

function matmulVariant(s: MatmulShape, bias: boolean): MatmulVariant {
  if (forcedMatmul) return forcedMatmul;
  const software = gpu().info.software;
  if (software && !hasSubgroups8()) return 'block';
  // Split-K is for outputs too small to fill the GPU; a batch fills it with its items.
  const hardware = s.batch > 1 ? HARDWARE_CANDIDATES.filter((v) => !TILED[v]?.splitK) : HARDWARE_CANDIDATES;
  // Several items per workgroup for batches only (a single product would leave subgroups idle).
  const stacks = stackOk(s) ? Object.keys(VEC4_SUBGROUP).filter((v) => s.batch > 1 || !VEC4_SUBGROUP[v as MatmulVariant]!.items) : [];
  const candidates = software ? ['block', 'subgroup', ...stacks] : hardware;
  const fallback = software ? 'subgroup' : 'tiled';
  const key = `${s.batch > 1 ? `${s.batch}*` : ''}${s.M}x${s.K}x${s.N}${s.transA ? 'tA' : ''}${s.transB ? 'tB' : ''}${bias ? '+b' : ''}`;
  return choose('matmul', key, candidates, fallback, () => matmulTrial(s, bias)) as MatmulVariant;
}

function matmulTrial(s: MatmulShape, bias: boolean): Trial {
  const items = s.batch > 1 ? [s.batch] : [];
  const a = randNormal([...items, ...(s.transA ? [s.K, s.M] : [s.M, s.K])] as Shape, 0, 1, { seed: 1 });
  const b = randNormal([...items, ...(s.transB ? [s.N, s.K] : [s.K, s.N])] as Shape, 0, 1, { seed: 2 });
  const c = bias ? randNormal([s.N] as [number], 0, 1, { seed: 3 }) : null;
  return {
    run: (v) => mm(a, b, s.transA, s.transB, c, v as MatmulVariant).dispose(),
    dispose: () => {
      for (const t of [a, b, c]) t?.dispose();
    },
  };
}

function describeOperand(name: string, t: Tensor, trans: boolean): string {
  return trans ? `${name}^T (${name} is ${fmtShape(t.shape)})` : `${name} ${fmtShape(t.shape)}`;
}

/** op(a)[M, K] @ op(b)[K, N] -> [M, N]; op transposes when transA / transB is set (no copy is made). */
export function matmul(a: Tensor<Shape2>, b: Tensor<Shape2>, options: MatmulOptions = {}): Tensor<Shape2> {
  return product('matmul', a, b, options, 2) as Tensor<Shape2>;
}

/**
 * Batched matmul (torch.bmm): op(a)[B, M, K] @ op(b)[B, K, N] -> [B, M, N], item by item; op
 * transposes each item's matrix when transA / transB is set. One dispatch for the whole batch.
 */
export function bmm(a: Tensor<Shape3>, b: Tensor<Shape3>, options: MatmulOptions = {}): Tensor<Shape3> {
  return product('bmm', a, b, options, 3) as Tensor<Shape3>;
}

function product(op: string, a: Tensor, b: Tensor, options: MatmulOptions, rank: 2 | 3): Tensor {
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  checkInputs(op, [a, b], 'f32');
  const items = rank === 3 ? 'B, ' : '';
  checkRank(op, a, rank, `a [${items}M, K]`);
  checkRank(op, b, rank, `b [${items}K, N]`);
  const d = rank - 2;
  if (rank === 3 && a.shape[0] !== b.shape[0])
    throw new Error(`${op}: batch sizes differ: a ${fmtShape(a.shape)} has ${a.shape[0]} items, b ${fmtShape(b.shape)} has ${b.shape[0]}`);
  const Ka = transA ? a.shape[d]! : a.shape[d + 1]!;
  const Kb = transB ? b.shape[d + 1]! : b.shape[d]!;
  if (Ka !== Kb)
    throw new Error(
      `${op}: inner dimensions differ: ${describeOperand('a', a, transA)} (K=${Ka}) vs ${describeOperand('b', b, transB)} (K=${Kb})`,
    );
  const out = mm(a, b, transA, transB, null);
  return record(out, op, [a, b], (g) => [
    // dop(A) = dC @ op(B)^T; stored A^T when transA: dA = op(B) @ dC^T.
    a.requiresGrad ? (transA ? mm(b, g, transB, true, null) : mm(g, b, false, !transB, null)) : null,
    // dop(B) = op(A)^T @ dC; stored B^T when transB: dB = dC^T @ op(A).
    b.requiresGrad ? (transB ? mm(g, a, true, transA, null) : mm(a, g, !transA, false, null)) : null,
  ]);
}

/** dBias = column sums of dy[n, out], as a new [out] tensor. */
function columnSums(g: Tensor, n: number, outF: number): Tensor<Shape1> {
  const s = sumMiddle(g, 1, n, outF);
  const v = s.reshape([outF] as const);
  s.dispose(); // the view keeps the buffer
  return v;
}

/**
 * Fully connected layer in PyTorch layout: x[N, in] @ w[out, in]^T + bias[out] -> [N, out].
 * The bias is added in the matmul kernel's epilogue (one pass over the output).
 */
export function linear(x: Tensor<Shape2>, w: Tensor<Shape2>, bias: Tensor<Shape1> | null = null): Tensor<Shape2> {
  checkInputs('linear', bias ? [x, w, bias] : [x, w], 'f32');
  checkRank('linear', x, 2, 'x [N, in]');
  checkRank('linear', w, 2, 'w [out, in]');
  const [n, inX] = x.shape;
  const [outF, inW] = w.shape;
  if (inX !== inW)
    throw new Error(`linear: x ${fmtShape(x.shape)} has ${inX} input features but w ${fmtShape(w.shape)} (w is [out, in]) expects ${inW}`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== outF))
    throw new Error(`linear: bias has shape ${fmtShape(bias.shape)}, expected [${outF}] (one per output of w ${fmtShape(w.shape)})`);
  const out = mm(x, w, false, true, bias) as Tensor<Shape2>;
  return record(out, 'linear', [x, w, bias], (g) => [
    x.requiresGrad ? mm(g, w, false, false, null) : null, // dx = dy @ w
    w.requiresGrad ? mm(g, x, true, false, null) : null, // dw = dy^T @ x
    bias?.requiresGrad ? columnSums(g, n, outF) : null,
  ]);
}
