// Batch normalisation (1d over N, 2d over N, H, W): training with batch statistics and an in-place
// running-stat update, eval with the running statistics; forward + backward. WGSL: batchnorm.wgsl.
//
// Conventions are PyTorch's: momentum m updates running = (1 - m) * running + m * batch (Keras'
// momentum 0.99 is m = 0.01), eps defaults to 1e-5 (Keras: 1e-3), the batch is normalised with the
// biased variance and the running variance takes the unbiased one, var * M / (M - 1) with M the
// count per channel (Keras' BatchNormalization keeps the biased one in its moving variance).
import { dispatch, f32bits, kernelFor, type Kernel } from '../dispatch.js';
import { gpu } from '../device.js';
import { Tensor, checkInputs, empty, fmtShape, shapeSize, type Shape, type Shape1 } from '../tensor.js';
import { record } from '../autograd.js';

export interface BatchNormOptions {
  /** true: batch statistics, running stats updated in place; false: running statistics. */
  training: boolean;
  /** PyTorch convention: running = (1 - m) * running + m * batch; default 0.1 (Keras momentum 0.99 == m 0.01). */
  momentum?: number;
  /** Added to the variance; default 1e-5 (Keras uses 1e-3). */
  eps?: number;
  /**
   * Fused ReLU: returns max(0, batchNorm(x)) in the same pass (one read and write of the activations
   * fewer than batchNorm then relu). The backward kernels mask the gradient as they read it, by
   * bn(x) > 0 recomputed from x (y itself is not read: it need not outlive the forward).
   */
  relu?: boolean;
}

const WG = 64;
/**
 * Units (elements or vec4s) per invocation of the elementwise kernels (PER in the shader). On CPU
 * adapters starting an invocation is costly (its channel lookup divides), so each does 32:
 * [64, 64, 48, 48] forward + backward measured 80 ms at 8 on lavapipe, 50 at 32 (and 52 at 64). GPUs
 * want many invocations: 8.
 */
function unitsPerInvocation(): number {
  return gpu().info.software ? 32 : 8;
}
const elementwise = (kn: Kernel, per: number): Kernel => kernelFor(kn.shader, kn.entry, kn.bindings, { ...kn.constants, PER: per });
/**
 * Target elements per reduction workgroup (a chunk); more chunks per channel only when a channel is
 * long. Each workgroup ends in a tree of 7 barriers, which lavapipe runs as a switch between its 8
 * subgroups each: small chunks spend more on barriers than on loads there, so CPU adapters take 16x
 * larger ones ([64, 32, 48, 48] forward + backward 26 -> 11 ms; 16384 and 65536 measured alike).
 * GPUs want many workgroups.
 */
function chunkTarget(): number {
  return forcedChunkTarget ?? (gpu().info.software ? 32768 : 2048);
}
let forcedChunkTarget: number | null = null;
/**
 * Sets the elements per reduction workgroup (tests split small reductions over several chunks on
 * every adapter); null restores the adapter's default. Returns the previous setting.
 */
export function setBatchNormChunkTarget(elements: number | null): number | null {
  if (elements !== null && !(Number.isInteger(elements) && elements >= 1))
    throw new Error(`setBatchNormChunkTarget: expected an integer >= 1 or null, got ${JSON.stringify(elements)}`);
  const prev = forcedChunkTarget;
  forcedChunkTarget = elements;
  return prev;
}
const MAX_CHUNKS = 128;

/**
 * Whether a batch normalisation of maps whose H*W is a multiple of 4 runs a lane per (image,
 * channel) plane (the *_planes4 kernels: each lane reads its own contiguous plane, as lavapipe's
 * serial per-lane loads want) or the coalesced kernels (lanes on neighbouring vec4s, reductions in
 * chunks: GPUs). Default: planes on CPU adapters. Alternating on lavapipe, the statistics of
 * [64, 64, 48, 48] took 5.3-5.7 ms against 16-18 (session 24).
 */
function usePlanes(): boolean {
  return forcedPlanes ?? gpu().info.software;
}
let forcedPlanes: boolean | null = null;
/** Forces the lane-per-plane kernels on (true) or off (false) for every adapter; null restores the default. */
export function setBatchNormPlanes(planes: boolean | null): void {
  forcedPlanes = planes;
}

const k = (entry: string, bindings: ReadonlyArray<'read' | 'rw'>): Kernel => ({ shader: 'batchnorm', entry, bindings });
const STATS_PARTIAL = k('stats_partial', ['read', 'rw']);
const STATS_FINALIZE = k('stats_finalize', ['read', 'read', 'rw', 'rw', 'rw']);
const EVAL_STATS = k('eval_stats', ['read', 'read', 'rw']);
const NORMALIZE = k('normalize', ['read', 'read', 'read', 'read', 'rw']);
// The backward kernels bind gamma and beta (and x), which their RELU variants need to recompute the
// mask (see relu in BatchNormOptions).
const GRAD_PARTIAL = k('grad_partial', ['read', 'read', 'read', 'rw', 'read', 'read']);
const GRAD_FINALIZE = k('grad_finalize', ['read', 'rw', 'rw']);
const GRAD_INPUT_TRAIN = k('grad_input_train', ['read', 'read', 'read', 'read', 'read', 'read', 'rw', 'read']);
const GRAD_INPUT_EVAL = k('grad_input_eval', ['read', 'read', 'read', 'rw', 'read', 'read']);
// vec4 variants (same bindings), for S % 4 == 0.
const STATS_PARTIAL4 = k('stats_partial4', STATS_PARTIAL.bindings);
const NORMALIZE4 = k('normalize4', NORMALIZE.bindings);
const GRAD_PARTIAL4 = k('grad_partial4', GRAD_PARTIAL.bindings);
const GRAD_INPUT_TRAIN4 = k('grad_input_train4', GRAD_INPUT_TRAIN.bindings);
const GRAD_INPUT_EVAL4 = k('grad_input_eval4', GRAD_INPUT_EVAL.bindings);
// CPU adapters' vec4 kernels, a lane per plane (same bindings).
const STATS_PLANES4 = k('stats_planes4', STATS_PARTIAL.bindings);
const NORMALIZE_PLANES4 = k('normalize_planes4', NORMALIZE.bindings);
const GRAD_PLANES4 = k('grad_planes4', GRAD_PARTIAL.bindings);
const GRAD_INPUT_PLANES4 = k('grad_input_planes4', GRAD_INPUT_TRAIN.bindings);
// 1d (S == 1) reductions, lanes over channels.
const STATS_COLS = k('stats_cols', STATS_PARTIAL.bindings);
const GRAD_COLS = k('grad_cols', GRAD_PARTIAL.bindings);
/** kn, compiled with the fused ReLU when relu (forward y = max(0, bn(x)); backward, the gradient masked by bn(x) > 0). */
const withRelu = (kn: Kernel, relu: boolean): Kernel => (relu ? kernelFor(kn.shader, kn.entry, kn.bindings, { ...kn.constants, RELU: 1 }) : kn);

/**
 * How a channel's m units are split over workgroups (partials combined per channel); `width` is
 * the elements a unit stands for per workgroup (4 for vec4s, the channels of a 1d column block).
 */
function chunking(m: number, width: number): { chunks: number; chunk: number } {
  const want = Math.min(MAX_CHUNKS, Math.max(1, Math.ceil((m * width) / chunkTarget())));
  const chunk = Math.ceil(m / want);
  return { chunks: Math.ceil(m / chunk), chunk };
}

/**
 * Batch normalisation of x [N, C] (statistics over N) or [N, C, H, W] (over N, H, W; any [N, C, ...]
 * works the same). gamma, beta, runningMean, runningVar are [C]. In training the running stats are
 * updated in place on the GPU (not recorded on the tape). Gradients flow to x, gamma and beta.
 * The backward recomputes the normalised values from x and the saved per-channel mean and
 * inverse std, so x must stay alive until backward.
 */
export function batchNorm<S extends Shape>(
  x: Tensor<S>,
  gamma: Tensor<Shape1>,
  beta: Tensor<Shape1>,
  runningMean: Tensor<Shape1>,
  runningVar: Tensor<Shape1>,
  options: BatchNormOptions,
): Tensor<S> {
  const op = 'batchNorm';
  checkInputs(op, [x, gamma, beta, runningMean, runningVar], 'f32');
  if (x.rank < 2) throw new Error(`${op}: expected x of shape [N, C] or [N, C, H, W], got shape ${fmtShape(x.shape)}`);
  const N = x.shape[0]!;
  const C = x.shape[1]!;
  const S = shapeSize(x.shape.slice(2));
  const M = N * S;
  const params = { gamma, beta, runningMean, runningVar };
  for (const [name, t] of Object.entries(params))
    if (t.rank !== 1 || t.shape[0] !== C)
      throw new Error(`${op}: ${name} must have shape [${C}] (C of x ${fmtShape(x.shape)}), got shape ${fmtShape(t.shape)}`);
  if (typeof options !== 'object' || options === null || typeof options.training !== 'boolean')
    throw new Error(`${op}: options.training must be true or false`);
  const momentum = options.momentum ?? 0.1;
  const eps = options.eps ?? 1e-5;
  if (!Number.isFinite(momentum) || momentum < 0 || momentum > 1) throw new Error(`${op}: momentum must be in [0, 1], got ${momentum}`);
  if (!Number.isFinite(eps) || eps <= 0) throw new Error(`${op}: eps must be a finite number > 0, got ${eps}`);
  if (x.size === 0) throw new Error(`${op}: empty input of shape ${fmtShape(x.shape)}`);
  const training = options.training;
  if (training && M < 2)
    throw new Error(`${op}: training needs more than 1 value per channel (N * H * W), got input shape ${fmtShape(x.shape)}`);
  // Both are written by one dispatch: the same buffer twice would be a WebGPU aliasing error.
  if (training && runningMean.buffer === runningVar.buffer) throw new Error(`${op}: runningMean and runningVar must be different tensors`);

  // Four consecutive elements share a channel when S % 4 == 0: those kernels move vec4s.
  const width = S % 4 === 0 ? 4 : 1;
  // 1d: lanes run over channels, each summing its column over a chunk of rows.
  const cols = S === 1;
  const planes = width === 4 && usePlanes();
  // Lane per plane: one partial per plane, so N chunks of one image each.
  const { chunks, chunk } = planes ? { chunks: N, chunk: 1 } : cols ? chunking(N, Math.min(C, WG)) : chunking(M / width, width);
  // Per-step increments of the elementwise kernels' channel walk (see Chan in the WGSL).
  const unitS = S / width;
  const P = [N, C, S, chunks, chunk, f32bits(eps), f32bits(momentum), WG % unitS, Math.floor(WG / unitS) % C];
  const channelGroups = Math.ceil(C / WG);
  const per = unitsPerInvocation();
  const planeGroups = Math.ceil((N * C) / WG);
  const elemGroups = Math.ceil(x.size / width / (WG * per));
  const vec = width === 4;
  const fusedRelu = options.relu === true;
  const statsKernel = planes ? STATS_PLANES4 : cols ? STATS_COLS : vec ? STATS_PARTIAL4 : STATS_PARTIAL;
  const gradKernel = withRelu(planes ? GRAD_PLANES4 : cols ? GRAD_COLS : vec ? GRAD_PARTIAL4 : GRAD_PARTIAL, fusedRelu);
  const reduceGroups = planes ? planeGroups : cols ? Math.ceil(C / WG) * chunks : C * chunks;
  const normalizeKernel = planes ? withRelu(NORMALIZE_PLANES4, fusedRelu) : elementwise(withRelu(vec ? NORMALIZE4 : NORMALIZE, fusedRelu), per);
  const gradInputTrainKernel = planes ? withRelu(GRAD_INPUT_PLANES4, fusedRelu) : elementwise(withRelu(vec ? GRAD_INPUT_TRAIN4 : GRAD_INPUT_TRAIN, fusedRelu), per);

  // [mean; invstd] per channel: the batch's in training, a snapshot of the running ones in eval.
  const stats = empty([2, C] as const);
  if (training) {
    const part = empty([C * chunks * 2] as const);
    dispatch(statsKernel, [x.buffer, part.buffer], P, reduceGroups);
    dispatch(STATS_FINALIZE, [part.buffer, x.buffer, runningMean.buffer, runningVar.buffer, stats.buffer], P, channelGroups);
    part.dispose();
  } else {
    dispatch(EVAL_STATS, [runningMean.buffer, runningVar.buffer, stats.buffer], P, channelGroups);
  }
  const y = empty(x.shape);
  dispatch(normalizeKernel, [x.buffer, stats.buffer, gamma.buffer, beta.buffer, y.buffer], P, planes ? planeGroups : elemGroups);

  return record(
    y,
    op,
    [x, gamma, beta],
    (g) => {
      // Fused ReLU: the kernels take the gradient of max(0, z) as g where z = bn(x) > 0, else 0,
      // recomputing z from x, the statistics, gamma and beta.
      const needX = x.requiresGrad;
      const needAffine = gamma.requiresGrad || beta.requiresGrad;
      let dgamma: Tensor<Shape1> | null = null;
      let dbeta: Tensor<Shape1> | null = null;
      // The training dx needs dgamma and dbeta too; eval dx does not.
      if (needAffine || (training && needX)) {
        const part = empty([C * chunks * 2] as const);
        dispatch(gradKernel, [g.buffer, x.buffer, stats.buffer, part.buffer, gamma.buffer, beta.buffer], P, reduceGroups);
        dgamma = empty([C] as const);
        dbeta = empty([C] as const);
        dispatch(GRAD_FINALIZE, [part.buffer, dgamma.buffer, dbeta.buffer], P, channelGroups);
        part.dispose();
      }
      let dx: Tensor<S> | null = null;
      if (needX) {
        dx = empty(x.shape);
        if (training)
          dispatch(gradInputTrainKernel, [g.buffer, x.buffer, stats.buffer, gamma.buffer, dgamma!.buffer, dbeta!.buffer, dx.buffer, beta.buffer], P, planes ? planeGroups : elemGroups);
        else dispatch(elementwise(withRelu(vec ? GRAD_INPUT_EVAL4 : GRAD_INPUT_EVAL, fusedRelu), per), [g.buffer, stats.buffer, gamma.buffer, dx.buffer, x.buffer, beta.buffer], P, elemGroups);
      }
      // The engine disposes the grads of inputs that do not require one.
      return [dx, dgamma, dbeta];
    },
    [stats],
  );
}
