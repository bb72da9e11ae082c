// Fused in-place optimizer updates, one dispatch per parameter: Adam/AdamW and SGD (momentum,
// dampening, Nesterov, L2 weight decay), with torch.optim semantics. Not recorded on the tape.
// WGSL: optim.wgsl.
import { dispatch, f32bits, type Kernel } from '../dispatch.js';
import { Tensor, checkInputs, fmtShape } from '../tensor.js';

export interface AdamStepOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** true = AdamW: param *= 1 - lr * weightDecay; false = Adam: grad += weightDecay * param (L2). */
  decoupled: boolean;
  /** 1-based step count of this parameter, for the bias corrections 1 - beta^step. */
  step: number;
}

export interface SgdStepOptions {
  lr: number;
  momentum: number;
  /** Default 0. */
  dampening?: number;
  /** Needs momentum > 0 and dampening 0, as PyTorch. */
  nesterov: boolean;
  /** L2 penalty added to the gradient. */
  weightDecay: number;
  /**
   * The parameter's first step: the momentum buffer becomes the gradient itself (PyTorch's
   * initialisation, which ignores dampening). Default false. With dampening 0 and a zero buffer the
   * first step comes out the same either way, so only a dampened run needs it.
   */
  firstStep?: boolean;
}

const WG = 64;
/** Each invocation updates one vec4. */
const PER_GROUP = WG * 4;

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

/** One Adam (decoupled: AdamW) step, in place on param, m and v; as torch.optim.Adam / AdamW. */
export function adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, o: AdamStepOptions): void {
  const op = 'adamStep';
  checkState(op, param, { grad, m, v });
  const lr = checkFinite(op, 'lr', o.lr, 0);
  const beta1 = checkFinite(op, 'beta1', o.beta1, 0, 1, true);
  const beta2 = checkFinite(op, 'beta2', o.beta2, 0, 1, true);
  const eps = checkFinite(op, 'eps', o.eps, 0);
  const wd = checkFinite(op, 'weightDecay', o.weightDecay, 0);
  if (typeof o.decoupled !== 'boolean') throw new Error(`${op}: decoupled must be true or false, got ${String(o.decoupled)}`);
  if (!Number.isInteger(o.step) || o.step < 1) throw new Error(`${op}: step must be an integer >= 1 (1-based), got ${String(o.step)}`);
  if (!param.size) return;
  // Bias corrections in float64 on the host; the kernel gets the combined factors.
  const bc1 = 1 - beta1 ** o.step;
  const bc2 = 1 - beta2 ** o.step;
  const kernel: Kernel = { shader: 'optim', entry: 'adam', bindings: ['rw', 'read', 'rw', 'rw'], constants: { DECOUPLED: o.decoupled ? 1 : 0 } };
  dispatch(
    kernel,
    [param.buffer, grad.buffer, m.buffer, v.buffer],
    [param.size, f32bits(lr), f32bits(beta1), f32bits(beta2), f32bits(eps), f32bits(wd), f32bits(lr / bc1), f32bits(1 / Math.sqrt(bc2))],
    Math.ceil(param.size / PER_GROUP),
  );
}

/**
 * One SGD step, in place on param (and buf), as torch.optim.SGD:
 *   d = grad + weightDecay * param
 *   buf = firstStep ? d : momentum * buf + (1 - dampening) * d      (only when momentum > 0)
 *   param -= lr * (momentum > 0 ? (nesterov ? d + momentum * buf : buf) : d)
 * buf is not read or written when momentum is 0 (it may then be null or any tensor).
 */
export function sgdStep(param: Tensor, grad: Tensor, buf: Tensor | null, o: SgdStepOptions): void {
  const op = 'sgdStep';
  const lr = checkFinite(op, 'lr', o.lr, 0);
  const momentum = checkFinite(op, 'momentum', o.momentum, 0, 1);
  const dampening = checkFinite(op, 'dampening', o.dampening ?? 0, 0, 1);
  const wd = checkFinite(op, 'weightDecay', o.weightDecay, 0);
  if (typeof o.nesterov !== 'boolean') throw new Error(`${op}: nesterov must be true or false, got ${String(o.nesterov)}`);
  if (o.nesterov && (momentum === 0 || dampening !== 0))
    throw new Error(`${op}: Nesterov momentum needs momentum > 0 and dampening 0, got momentum ${momentum}, dampening ${dampening}`);
  const withMomentum = momentum > 0;
  if (withMomentum) {
    if (!buf) throw new Error(`${op}: momentum ${momentum} needs a momentum buffer, got ${String(buf)}`);
    checkState(op, param, { grad, buf });
  } else checkState(op, param, { grad });
  if (!param.size) return;
  const groups = Math.ceil(param.size / PER_GROUP);
  if (withMomentum) {
    const kernel: Kernel = {
      shader: 'optim',
      entry: 'sgd_momentum',
      bindings: ['rw', 'read', 'rw'],
      constants: { NESTEROV: o.nesterov ? 1 : 0, FIRST: o.firstStep ? 1 : 0 },
    };
    dispatch(kernel, [param.buffer, grad.buffer, buf!.buffer], [param.size, f32bits(lr), f32bits(momentum), f32bits(dampening), f32bits(wd)], groups);
  } else {
    const kernel: Kernel = { shader: 'optim', entry: 'sgd', bindings: ['rw', 'read'] };
    dispatch(kernel, [param.buffer, grad.buffer], [param.size, f32bits(lr), 0, 0, f32bits(wd)], groups);
  }
}
