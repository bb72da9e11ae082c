// Elementwise ops: add, sub, mul, scale, neg, relu, copy (forward + backward). WGSL: unary.wgsl, binary.wgsl.
import { dispatch, f32bits, kernelFor, laneRuns, type Kernel } from '../dispatch.js';
import { gpu } from '../device.js';
import { Tensor, checkInputs, checkSameShape, empty, type Shape } from '../tensor.js';
import { record } from '../autograd.js';

const UNARY = { copy: 0, affine: 1, relu: 2, neg: 3 } as const;
const BINARY = { axpby: 0, mul: 1, reluGrad: 2 } as const;
const WG = 256;
const WG4 = 64;

/**
 * `main` (one float per invocation) or, when the size is a multiple of 4, `main4` (PER vec4s each:
 * 4 on CPU adapters, where starting an invocation costs about as much as the vec4 it moves; 1 on
 * GPUs), each lane's a run of consecutive vec4s there (laneRuns). The ReLU gradients of fast's step
 * on lavapipe took 11.4 ms at 1, 9.7 at 4 and 24 at 16 (lanes interleaved).
 */
function kernel(shader: 'unary' | 'binary', op: number, vec4: boolean, per: number): Kernel {
  const bindings = shader === 'unary' ? (['read', 'rw'] as const) : (['read', 'read', 'rw'] as const);
  return kernelFor(shader, vec4 ? 'main4' : 'main', bindings, vec4 ? { OP: op, PER: per, LANE_RUNS: laneRuns() ? 1 : 0 } : { OP: op });
}

function run(shader: 'unary' | 'binary', op: number, buffers: GPUBuffer[], size: number, alpha: number, beta: number): void {
  const vec4 = size % 4 === 0;
  const n = vec4 ? size / 4 : size;
  const per = vec4 && gpu().info.software ? 4 : 1;
  dispatch(kernel(shader, op, vec4, per), buffers, [n, f32bits(alpha), f32bits(beta)], Math.ceil(n / ((vec4 ? WG4 : WG) * per)));
}

function unary<S extends Shape>(name: string, op: number, x: Tensor<S>, alpha = 0, beta = 0): Tensor<S> {
  checkInputs(name, [x], 'f32');
  const out = empty(x.shape);
  if (x.size) run('unary', op, [x.buffer, out.buffer], x.size, alpha, beta);
  return out;
}

function binary<S extends Shape>(name: string, op: number, a: Tensor<S>, b: Tensor, alpha = 0, beta = 0): Tensor<S> {
  checkInputs(name, [a, b], 'f32');
  checkSameShape(name, a, b);
  const out = empty(a.shape);
  if (a.size) run('binary', op, [a.buffer, b.buffer, out.buffer], a.size, alpha, beta);
  return out;
}

/** A new tensor with the same values (not recorded on the tape). */
export function copy<S extends Shape>(x: Tensor<S>): Tensor<S> {
  return unary('copy', UNARY.copy, x);
}

export function add<S extends Shape>(a: Tensor<S>, b: Tensor<S>): Tensor<S> {
  const out = binary('add', BINARY.axpby, a, b, 1, 1);
  return record(out, 'add', [a, b], (g) => [g, g]);
}

export function sub<S extends Shape>(a: Tensor<S>, b: Tensor<S>): Tensor<S> {
  const out = binary('sub', BINARY.axpby, a, b, 1, -1);
  return record(out, 'sub', [a, b], (g) => [g, neg(g)]);
}

export function mul<S extends Shape>(a: Tensor<S>, b: Tensor<S>): Tensor<S> {
  const out = binary('mul', BINARY.mul, a, b);
  return record(out, 'mul', [a, b], (g) => [
    a.requiresGrad ? binary('mul', BINARY.mul, g, b) : null,
    b.requiresGrad ? binary('mul', BINARY.mul, g, a) : null,
  ]);
}

/** alpha * x + beta. */
export function scale<S extends Shape>(x: Tensor<S>, alpha: number, beta = 0): Tensor<S> {
  if (!Number.isFinite(alpha) || !Number.isFinite(beta)) throw new Error(`scale: factors must be finite, got ${alpha}, ${beta}`);
  const out = unary('scale', UNARY.affine, x, alpha, beta);
  return record(out, 'scale', [x], (g) => [unary('scale', UNARY.affine, g, alpha, 0)]);
}

export function neg<S extends Shape>(x: Tensor<S>): Tensor<S> {
  const out = unary('neg', UNARY.neg, x);
  return record(out, 'neg', [x], (g) => [unary('neg', UNARY.neg, g)]);
}

/** g where x > 0, else 0 (the gradient of relu at x, or at its output: both are > 0 at the same places). Untaped. */
export function reluGradient<S extends Shape>(g: Tensor<S>, x: Tensor): Tensor<S> {
  return binary('relu', BINARY.reluGrad, g, x);
}

export function relu<S extends Shape>(x: Tensor<S>): Tensor<S> {
  const out = unary('relu', UNARY.relu, x);
  return record(out, 'relu', [x], (g) => [binary('relu', BINARY.reluGrad, g, x)]);
}
