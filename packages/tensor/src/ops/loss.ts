// Softmax cross-entropy (fused and numerically stable, forward + backward to the logits), softmax
// and argmax over the rows of [N, C]. WGSL: loss.wgsl.
//
// Semantics are PyTorch's F.cross_entropy:
// - labels are i32 class indices [N] or f32 probabilities (one-hot or soft) [N, C];
// - label smoothing s: target = (1 - s) * label + s / C;
// - class weights w: row loss = sum_c w_c * t_c * -log p_c. Reduction 'mean' divides the sum of the
//   row losses by sum_i w[label_i] for class indices (= N without weights; NaN when those weights sum
//   to 0, as PyTorch), and by N for probabilities (the weights only weigh the classes inside a row).
// Class indices cannot be range-checked synchronously (they live on the GPU): the kernels clamp them
// into [0, C - 1], so a bad label never reads out of bounds but silently counts as class 0 or C - 1.
import { dispatch, f32bits, type Kernel } from '../dispatch.js';
import { Tensor, checkInputs, checkRank, empty, fmtShape, tensor, type Shape1, type Shape2 } from '../tensor.js';
import { record } from '../autograd.js';

export interface CrossEntropyOptions {
  /** Per-class weights [C] (PyTorch's `weight`). A number array is uploaded on every call; pass a Tensor in a loop. */
  classWeights?: Tensor<Shape1> | readonly number[];
  /** In [0, 1]; target = (1 - s) * label + s / C. Default 0. */
  labelSmoothing?: number;
  /** Default 'mean'. */
  reduction?: 'mean' | 'sum';
}

const WG = 64;

const ceKernel = (entry: string, bindings: ReadonlyArray<'read' | 'rw'>, soft: boolean, weighted: boolean): Kernel => ({
  shader: 'loss',
  entry,
  bindings,
  constants: { SOFT: soft ? 1 : 0, WEIGHTED: weighted ? 1 : 0 },
});
const CE_REDUCE: Kernel = { shader: 'loss', entry: 'ce_reduce', bindings: ['read', 'read', 'rw', 'rw'] };
const SOFTMAX: Kernel = { shader: 'loss', entry: 'softmax_rows', bindings: ['read', 'rw'] };
const SOFTMAX_BACKWARD: Kernel = { shader: 'loss', entry: 'softmax_backward', bindings: ['read', 'read', 'rw'] };
const ARGMAX: Kernel = { shader: 'loss', entry: 'argmax_rows', bindings: ['read', 'rw'] };
const ACCUMULATE_STATS: Kernel = { shader: 'loss', entry: 'accumulate_stats', bindings: ['read', 'read', 'read', 'rw'] };

function checkRows(op: string, x: Tensor): [number, number] {
  checkInputs(op, [x], 'f32');
  checkRank(op, x, 2, '[N, C]');
  const [N, C] = x.shape as unknown as [number, number];
  if (C === 0) throw new Error(`${op}: needs at least one class, got shape ${fmtShape(x.shape)}`);
  return [N, C];
}

/**
 * Mean (or sum) over rows of the cross-entropy between softmax(logits) and the labels: a scalar.
 * Fused: -log p_c = (max - z_c) + log sum exp(z - max), so logits of any size stay finite.
 * The gradient flows to the logits only; labels and class weights must stay alive until backward.
 */
export function softmaxCrossEntropy(logits: Tensor<Shape2>, labels: Tensor, options: CrossEntropyOptions = {}): Tensor<readonly []> {
  const op = 'softmaxCrossEntropy';
  const [N, C] = checkRows(op, logits);
  if (N === 0) throw new Error(`${op}: empty batch (logits of shape ${fmtShape(logits.shape)})`);
  checkInputs(op, [labels]);
  let soft: boolean;
  if (labels.dtype === 'i32' && labels.rank === 1 && labels.shape[0] === N) soft = false;
  else if (labels.dtype === 'f32' && labels.rank === 2 && labels.shape[0] === N && labels.shape[1] === C) soft = true;
  else
    throw new Error(
      `${op}: labels must be i32 class indices of shape [${N}] or f32 probabilities of shape [${N}, ${C}] (logits ${fmtShape(logits.shape)}), got ${labels.describe()}`,
    );
  const smoothing = options.labelSmoothing ?? 0;
  if (!Number.isFinite(smoothing) || smoothing < 0 || smoothing > 1) throw new Error(`${op}: labelSmoothing must be in [0, 1], got ${smoothing}`);
  const reduction = options.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum') throw new Error(`${op}: reduction must be 'mean' or 'sum', got ${String(reduction)}`);

  let weights: Tensor | null = null;
  let ownWeights = false;
  const cw = options.classWeights;
  if (cw !== undefined) {
    if (cw instanceof Tensor) {
      checkInputs(`${op} classWeights`, [cw], 'f32');
      if (cw.rank !== 1 || cw.shape[0] !== C) throw new Error(`${op}: classWeights must have shape [${C}], got shape ${fmtShape(cw.shape)}`);
      weights = cw;
    } else {
      if (!Array.isArray(cw) || cw.length !== C) throw new Error(`${op}: classWeights must hold ${C} numbers, got ${Array.isArray(cw) ? cw.length : String(cw)}`);
      if (!cw.every((v) => Number.isFinite(v))) throw new Error(`${op}: classWeights must be finite numbers, got [${cw.join(', ')}]`);
      weights = tensor(cw, [C] as const);
      ownWeights = true;
    }
  }
  const weighted = weights !== null;
  // Unweighted kernels never read binding 2; any read-only buffer fills the slot.
  const wBuf = weights ? weights.buffer : logits.buffer;
  const P = [N, C, f32bits(smoothing), reduction === 'mean' ? 1 : 0];

  const rowLoss = empty([N] as const);
  const rowWeight = empty([N] as const);
  dispatch(
    ceKernel('ce_rows', ['read', 'read', 'read', 'rw', 'rw'], soft, weighted),
    [logits.buffer, labels.buffer, wBuf, rowLoss.buffer, rowWeight.buffer],
    P,
    Math.ceil(N / WG),
  );
  const out = empty([] as const);
  const denom = empty([1] as const);
  dispatch(CE_REDUCE, [rowLoss.buffer, rowWeight.buffer, out.buffer, denom.buffer], P, 1);
  rowLoss.dispose();
  rowWeight.dispose();

  const saved = ownWeights ? [denom, weights!] : [denom];
  return record(
    out,
    op,
    [logits],
    (g) => {
      const dl = empty([N, C] as const);
      dispatch(
        ceKernel('ce_backward', ['read', 'read', 'read', 'read', 'read', 'rw'], soft, weighted),
        [logits.buffer, labels.buffer, weights ? weights.buffer : logits.buffer, g.buffer, denom.buffer, dl.buffer],
        P,
        Math.ceil(N / WG),
      );
      return [dl];
    },
    saved,
  );
}

/** Row softmax of [N, C] logits (max subtracted). Differentiable, though inference is its use. */
export function softmax(logits: Tensor<Shape2>): Tensor<Shape2> {
  const [N, C] = checkRows('softmax', logits);
  const out = empty([N, C] as const);
  if (N) dispatch(SOFTMAX, [logits.buffer, out.buffer], [N, C, 0, 0], Math.ceil(N / WG));
  return record(out, 'softmax', [logits], (g) => {
    const dx = empty([N, C] as const);
    dispatch(SOFTMAX_BACKWARD, [logits.buffer, g.buffer, dx.buffer], [N, C, 0, 0], Math.ceil(N / WG));
    return [dx];
  });
}

/** i32 [N]: the index of each row's maximum (the first one on ties; rows holding NaN: unspecified). Not differentiable. */
export function argmax(x: Tensor<Shape2>): Tensor<Shape1> {
  const [N, C] = checkRows('argmax', x);
  const out = empty([N] as const, 'i32');
  if (N) dispatch(ARGMAX, [x.buffer, out.buffer], [N, C, 0, 0], Math.ceil(N / WG));
  return out;
}

/**
 * Adds one step to running training statistics kept on the GPU, so a training loop reads them back
 * once per N steps instead of once per step: stats [3] f32 += [loss * N, rows whose argmax equals
 * their label, N]. loss is the batch's mean loss (a scalar), logits [N, C], labels i32 [N].
 */
export function accumulateStats(stats: Tensor<Shape1>, loss: Tensor, logits: Tensor<Shape2>, labels: Tensor<Shape1>): void {
  const [N, C] = checkRows('accumulateStats', logits);
  checkInputs('accumulateStats', [stats, loss], 'f32');
  checkInputs('accumulateStats', [labels], 'i32');
  if (stats.size !== 3) throw new Error(`accumulateStats: stats must have 3 elements [loss sum, correct, count], got shape ${fmtShape(stats.shape)}`);
  if (loss.size !== 1) throw new Error(`accumulateStats: loss must be a scalar, got shape ${fmtShape(loss.shape)}`);
  if (labels.size !== N) throw new Error(`accumulateStats: labels ${fmtShape(labels.shape)} do not match logits ${fmtShape(logits.shape)}`);
  dispatch(ACCUMULATE_STATS, [logits.buffer, labels.buffer, loss.buffer, stats.buffer], [N, C, 0, 0], 1);
}
