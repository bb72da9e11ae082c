// Fused in-place optimizer updates: Adam/AdamW and SGD (momentum, dampening, Nesterov, L2 weight
// decay), with torch.optim semantics. Not recorded on the tape. Adam and SGD with momentum update
// up to 4 parameters per dispatch (adamSteps, sgdSteps): on a GPU a step's ~30 small dispatches
// cost more than their memory traffic (seed-cnn's Adam took 0.72 ms on an H200 for 126 MB).
// WGSL: optim.wgsl.
import { dispatch, f32bits, kernelFor, type Kernel } from '../dispatch.js';
import { gpu } from '../device.js';
import { Tensor, checkInputs, fmtShape } from '../tensor.js';

export interface AdamStepsOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** true = AdamW: param *= 1 - lr * weightDecay; false = Adam: grad += weightDecay * param (L2). */
  decoupled: boolean;
}

export interface AdamStepOptions extends AdamStepsOptions {
  /** 1-based step count of this parameter, for the bias corrections 1 - beta^step. */
  step: number;
}

/** One parameter's Adam update: its gradient, its moments m and v, and its 1-based step count. */
export interface AdamUpdate {
  param: Tensor;
  grad: Tensor;
  m: Tensor;
  v: Tensor;
  step: number;
}

export interface SgdStepsOptions {
  lr: number;
  momentum: number;
  /** Default 0. */
  dampening?: number;
  /** Needs momentum > 0 and dampening 0, as PyTorch. */
  nesterov: boolean;
  /** L2 penalty added to the gradient. */
  weightDecay: number;
}

export interface SgdStepOptions extends SgdStepsOptions {
  /**
   * The parameter's first step: the momentum buffer becomes the gradient itself (PyTorch's
   * initialisation, which ignores dampening). Default false. With dampening 0 and a zero buffer the
   * first step comes out the same either way, so only a dampened run needs it.
   */
  firstStep?: boolean;
}

/** One parameter's SGD update; buf is its momentum buffer (unused, may be null, when momentum is 0). */
export interface SgdUpdate {
  param: Tensor;
  grad: Tensor;
  buf: Tensor | null;
  /** See SgdStepOptions.firstStep. */
  firstStep?: boolean;
}

const WG = 64;
/** Each invocation updates one vec4. */
const PER_GROUP = WG * 4;
/** Parameters per dispatch at most (entry points adam1..adam4, sgd_momentum1..4). */
const MAX_SLOTS = 4;

function checkFinite(op: string, name: string, v: unknown, lo: number, hi = Infinity, hiOpen = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (hiOpen && v === hi))
    throw new Error(`${op}: ${name} must be a finite number in [${lo}, ${hi}${hiOpen ? ')' : ']'}, got ${String(v)}`);
  return v;
}

/** Live f32 tensors of param's shape, all on distinct buffers (a writable buffer cannot alias another binding). */
function checkState(op: string, param: Tensor, others: Record<string, Tensor>): void {
  checkInputs(op, [param, ...Object.values(others)], 'f32');
  const seen = new Map<GPUBuffer, string>([[param.buffer, 'param']]);
  for (const [name, t] of Object.entries(others)) {
    if (t.size !== param.size || t.rank !== param.rank || t.shape.some((d, i) => d !== param.shape[i]))
      throw new Error(`${op}: ${name} has shape ${fmtShape(t.shape)}, expected the param's shape ${fmtShape(param.shape)}`);
    const other = seen.get(t.buffer);
    if (other) throw new Error(`${op}: ${name} and ${other} share one buffer; they must be different tensors`);
    seen.set(t.buffer, name);
  }
  // The kernels move whole vec4s: the pool rounds every buffer up to a multiple of 16 bytes.
  for (const t of [param, ...Object.values(others)])
    if (t.buffer.size < Math.ceil(t.size / 4) * 16) throw new Error(`${op}: internal: buffer of ${t.describe()} is not padded to 16 bytes`);
}

/**
 * Splits updates into dispatches of at most MAX_SLOTS, as many as the device's storage-buffer
 * bindings allow at `perSlot` bindings each, and dispatches each group: `words(group, n, start)`
 * gives its uniform, with n and start the per-slot sizes and first workgroups (unused slots: n 0,
 * start = the total, so no workgroup falls in them).
 */
function dispatchSlots<U extends { param: Tensor }>(
  op: string,
  updates: readonly U[],
  perSlot: number,
  kernel: (slots: number) => Kernel,
  buffers: (u: U) => GPUBuffer[],
  words: (group: readonly U[], n: number[], start: number[]) => number[],
): void {
  const limit = gpu().device.limits.maxStorageBuffersPerShaderStage;
  const slots = Math.min(MAX_SLOTS, Math.floor(limit / perSlot));
  const live = updates.filter((u) => u.param.size > 0);
  for (let first = 0; first < live.length; first += slots) {
    const group = live.slice(first, first + slots);
    const bound = group.flatMap(buffers);
    // A dispatch may not bind a writable buffer twice (WebGPU aliasing rule): one tensor named in two updates.
    if (new Set(bound).size !== bound.length) throw new Error(`${op}: two updates share a tensor (a parameter listed twice, or shared state)`);
    const n = [0, 0, 0, 0];
    const start = [0, 0, 0, 0];
    let groups = 0;
    group.forEach((u, k) => {
      n[k] = u.param.size;
      start[k] = groups;
      groups += Math.ceil(u.param.size / PER_GROUP);
    });
    for (let k = group.length; k < MAX_SLOTS; k++) start[k] = groups;
    dispatch(kernel(group.length), bound, words(group, n, start), groups);
  }
}

/** Entry point `${entry}${slots}`: `perSlot` bindings for each of `slots` parameters (interned, so the pipeline is found by identity). */
function slotKernel(entry: string, perSlot: ReadonlyArray<'read' | 'rw'>, slots: number, constants: Record<string, number>): Kernel {
  return kernelFor('optim', `${entry}${slots}`, Array.from({ length: slots }, () => perSlot).flat(), constants);
}

function checkAdam(op: string, o: AdamStepsOptions): void {
  checkFinite(op, 'lr', o.lr, 0);
  checkFinite(op, 'beta1', o.beta1, 0, 1, true);
  checkFinite(op, 'beta2', o.beta2, 0, 1, true);
  checkFinite(op, 'eps', o.eps, 0);
  checkFinite(op, 'weightDecay', o.weightDecay, 0);
  if (typeof o.decoupled !== 'boolean') throw new Error(`${op}: decoupled must be true or false, got ${String(o.decoupled)}`);
}

/**
 * Adam (decoupled: AdamW) steps of several parameters, in place on each param, m and v, as
 * torch.optim.Adam / AdamW; up to 4 parameters per dispatch. Each update has its own step count.
 */
export function adamSteps(updates: readonly AdamUpdate[], o: AdamStepsOptions): void {
  const op = 'adamSteps';
  checkAdam(op, o);
  for (const u of updates) {
    checkState(op, u.param, { grad: u.grad, m: u.m, v: u.v });
    if (!Number.isInteger(u.step) || u.step < 1) throw new Error(`${op}: step must be an integer >= 1 (1-based), got ${String(u.step)}`);
  }
  const constants = { DECOUPLED: o.decoupled ? 1 : 0 };
  dispatchSlots(
    op,
    updates,
    4,
    (slots) => slotKernel('adam', ['rw', 'read', 'rw', 'rw'], slots, constants),
    (u) => [u.param.buffer, u.grad.buffer, u.m.buffer, u.v.buffer],
    (group, n, start) => {
      // Bias corrections in float64 on the host; the kernel gets the combined factors.
      const lrStep = [0, 0, 0, 0];
      const invSqrtBc2 = [0, 0, 0, 0];
      group.forEach((u, k) => {
        lrStep[k] = o.lr / (1 - o.beta1 ** u.step);
        invSqrtBc2[k] = 1 / Math.sqrt(1 - o.beta2 ** u.step);
      });
      return [...n, ...start, ...lrStep.map(f32bits), ...invSqrtBc2.map(f32bits), ...[o.lr, o.beta1, o.beta2, o.eps, o.weightDecay].map(f32bits)];
    },
  );
}

/** One Adam (decoupled: AdamW) step, in place on param, m and v; as torch.optim.Adam / AdamW. */
export function adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, o: AdamStepOptions): void {
  adamSteps([{ param, grad, m, v, step: o.step }], o);
}

function checkSgd(op: string, o: SgdStepsOptions): void {
  checkFinite(op, 'lr', o.lr, 0);
  const momentum = checkFinite(op, 'momentum', o.momentum, 0, 1);
  const dampening = checkFinite(op, 'dampening', o.dampening ?? 0, 0, 1);
  checkFinite(op, 'weightDecay', o.weightDecay, 0);
  if (typeof o.nesterov !== 'boolean') throw new Error(`${op}: nesterov must be true or false, got ${String(o.nesterov)}`);
  if (o.nesterov && (momentum === 0 || dampening !== 0))
    throw new Error(`${op}: Nesterov momentum needs momentum > 0 and dampening 0, got momentum ${momentum}, dampening ${dampening}`);
}

/**
 * SGD steps of several parameters, in place on each param (and buf), as torch.optim.SGD:
 *   d = grad + weightDecay * param
 *   buf = firstStep ? d : momentum * buf + (1 - dampening) * d      (only when momentum > 0)
 *   param -= lr * (momentum > 0 ? (nesterov ? d + momentum * buf : buf) : d)
 * With momentum, up to 4 parameters per dispatch; buf is not read or written when momentum is 0
 * (it may then be null or any tensor).
 */
export function sgdSteps(updates: readonly SgdUpdate[], o: SgdStepsOptions): void {
  const op = 'sgdSteps';
  checkSgd(op, o);
  const withMomentum = o.momentum > 0;
  for (const u of updates) {
    if (!withMomentum) checkState(op, u.param, { grad: u.grad });
    else if (!u.buf) throw new Error(`${op}: momentum ${o.momentum} needs a momentum buffer, got ${String(u.buf)}`);
    else checkState(op, u.param, { grad: u.grad, buf: u.buf });
  }
  if (!withMomentum) {
    const kernel: Kernel = { shader: 'optim', entry: 'sgd', bindings: ['rw', 'read'] };
    for (const u of updates)
      if (u.param.size) dispatch(kernel, [u.param.buffer, u.grad.buffer], [u.param.size, f32bits(o.lr), f32bits(o.weightDecay)], Math.ceil(u.param.size / PER_GROUP));
    return;
  }
  const constants = { NESTEROV: o.nesterov ? 1 : 0 };
  dispatchSlots(
    op,
    updates,
    3,
    (slots) => slotKernel('sgd_momentum', ['rw', 'read', 'rw'], slots, constants),
    (u) => [u.param.buffer, u.grad.buffer, u.buf!.buffer],
    (group, n, start) => {
      const first = [0, 0, 0, 0];
      group.forEach((u, k) => (first[k] = u.firstStep ? 1 : 0));
      return [...n, ...start, ...first, ...[o.lr, o.momentum, o.dampening ?? 0, o.weightDecay].map(f32bits)];
    },
  );
}

/** One SGD step of one parameter (see sgdSteps). */
export function sgdStep(param: Tensor, grad: Tensor, buf: Tensor | null, o: SgdStepOptions): void {
  sgdSteps([{ param, grad, buf, firstStep: o.firstStep }], o);
}
