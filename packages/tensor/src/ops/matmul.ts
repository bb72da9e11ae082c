// Matrix products: matmul (with optional transposes) and linear (x @ w^T + bias, PyTorch layout),
// forward and backward. WGSL: matmul.wgsl, entry points `matmul` (scalar loads, any size) and
// `matmul_v4` (vec4 loads when K and both operands' contiguous dimensions are multiples of 4).
import { dispatch, type Kernel } from '../dispatch.js';
import { Tensor, checkInputs, checkRank, empty, fmtShape, type Shape1, type Shape2 } from '../tensor.js';
import { record } from '../autograd.js';
import { sumMiddle } from './reduce.js';

export interface MatmulOptions {
  /** Use a^T: a is stored [K, M]. */
  transA?: boolean;
  /** Use b^T: b is stored [N, K]. */
  transB?: boolean;
}

/**
 * A workgroup (64 invocations, one 4x4 tile each) covers WG_N tiles along N and 64 / WG_N along M:
 * 16 columns x 64 rows. On lavapipe 1024^3, WG_N 2..64 measured within noise of each other for the
 * vec4 kernel, but the scalar kernel halved at WG_N 16 (5 vs 10 GFLOP/s), so 4.
 */
const WG_N = 4;
const WG_M = 64 / WG_N;

function kernel(transA: boolean, transB: boolean, bias: boolean, vec4: boolean): Kernel {
  return {
    shader: 'matmul',
    entry: vec4 ? 'matmul_v4' : 'matmul',
    bindings: ['read', 'read', 'read', 'rw'],
    constants: { TRANS_A: transA ? 1 : 0, TRANS_B: transB ? 1 : 0, HAS_BIAS: bias ? 1 : 0, WG_N },
  };
}

/**
 * The untaped product op(a)[M, K] @ op(b)[K, N] (+ bias[N]) into a new [M, N] tensor.
 * Shapes are assumed checked by the caller.
 */
function mm(a: Tensor, b: Tensor, transA: boolean, transB: boolean, bias: Tensor | null): Tensor<Shape2> {
  const M = transA ? a.shape[1]! : a.shape[0]!;
  const K = transA ? a.shape[0]! : a.shape[1]!;
  const N = transB ? b.shape[0]! : b.shape[1]!;
  const out = empty([M, N] as const);
  if (M === 0 || N === 0) return out;
  // vec4 loads need every vec4 aligned and inside a row: K steps by 4, and the contiguous axis of
  // each operand (A: K, or M when transposed; B: N, or K when transposed) is a multiple of 4.
  const vec4 = K % 4 === 0 && (transA ? M : K) % 4 === 0 && (transB ? K : N) % 4 === 0;
  const tilesM = Math.ceil(M / 4);
  const tilesN = Math.ceil(N / 4);
  const groupsN = Math.ceil(tilesN / WG_N);
  const groupsM = Math.ceil(tilesM / WG_M);
  // Without a bias, binding 2 is never read: bind `a` there (read-only aliasing is allowed).
  dispatch(
    kernel(transA, transB, bias !== null, vec4),
    [a.buffer, b.buffer, (bias ?? a).buffer, out.buffer],
    [M, N, K, tilesM, tilesN, groupsN],
    groupsN * groupsM,
  );
  return out;
}

function describeOperand(name: string, t: Tensor, trans: boolean): string {
  return trans ? `${name}^T (${name} is ${fmtShape(t.shape)})` : `${name} ${fmtShape(t.shape)}`;
}

/** op(a)[M, K] @ op(b)[K, N] -> [M, N]; op transposes when transA / transB is set (no copy is made). */
export function matmul(a: Tensor<Shape2>, b: Tensor<Shape2>, options: MatmulOptions = {}): Tensor<Shape2> {
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  checkInputs('matmul', [a, b], 'f32');
  checkRank('matmul', a, 2, 'a [M, K]');
  checkRank('matmul', b, 2, 'b [K, N]');
  const Ka = transA ? a.shape[0]! : a.shape[1]!;
  const Kb = transB ? b.shape[1]! : b.shape[0]!;
  if (Ka !== Kb)
    throw new Error(
      `matmul: inner dimensions differ: ${describeOperand('a', a, transA)} (K=${Ka}) vs ${describeOperand('b', b, transB)} (K=${Kb})`,
    );
  const out = mm(a, b, transA, transB, null);
  return record(out, 'matmul', [a, b], (g) => [
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
  const out = mm(x, w, false, true, bias);
  return record(out, 'linear', [x, w, bias], (g) => [
    x.requiresGrad ? mm(g, w, false, false, null) : null, // dx = dy @ w
    w.requiresGrad ? mm(g, x, true, false, null) : null, // dw = dy^T @ x
    bias?.requiresGrad ? columnSums(g, n, outF) : null,
  ]);
}
