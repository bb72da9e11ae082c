// 2-D max pooling over NCHW, forward and backward. WGSL: pool.wgsl, entry points `max_forward`
// (writes the max and its argmax) and `max_backward` (routes gradients through the saved argmax).
import { dispatch, type Kernel } from '../dispatch.js';
import { gpu } from '../device.js';
import { Tensor, checkInputs, checkRank, empty, fmtShape, positivePair, type Shape4 } from '../tensor.js';
import { record, needsGrad } from '../autograd.js';

export interface MaxPool2dOptions {
  /** Window size, one number for a square window or [kh, kw]. */
  kernel: number | readonly [number, number];
  /** Step between windows; defaults to the kernel (non-overlapping windows). */
  stride?: number | readonly [number, number];
}

const WG = 64;
/** A forward entry without and with the argmax output (indexed by `grad`). */
const forwardPair = (entry: string): readonly [Kernel, Kernel] =>
  [false, true].map((writeArgmax) => ({ shader: 'pool', entry, bindings: ['read', 'rw', 'rw'], constants: { WRITE_ARGMAX: +writeArgmax } }) as Kernel) as [Kernel, Kernel];
const FORWARD_KERNELS = forwardPair('max_forward');
const FORWARD2_KERNELS = forwardPair('max2_forward');
const FORWARD2_ROWS_KERNELS = forwardPair('max2_forward_rows');
const backward = (entry: string): Kernel => ({ shader: 'pool', entry, bindings: ['read', 'read', 'rw'] });
const BACKWARD = backward('max_backward');
const BACKWARD2 = backward('max2_backward');
const BACKWARD_ROWS = backward('max_backward_rows');
const BACKWARD2_ROWS = backward('max2_backward_rows');

let forcedPairRows: boolean | null = null;
/**
 * Which form the 2x2 stride-2 pair kernels take: a row of outputs per invocation (`true`, the
 * default on CPU adapters, where lavapipe pays a lane's loads, stores and index divisions one by one)
 * or a pair per invocation (`false`, the default on GPUs); `null` restores the default. For tests
 * and benchmarks: both forms give the same results on every adapter.
 */
export function setPoolPairRows(rows: boolean | null): void {
  forcedPairRows = rows;
}
const pairRows = (): boolean => forcedPairRows ?? gpu().info.software;

const pairOf = (v: number | readonly [number, number], what: string) => positivePair(v, `maxPool2d: ${what}`);

/**
 * Max pooling with 'valid' windows: output [N, C, floor((H - kh) / sh) + 1, floor((W - kw) / sw) + 1]
 * (PyTorch's default floor mode, Keras' MaxPooling2D 'valid'). The gradient of each output goes to
 * the position of its maximum; when a window holds the maximum twice, the first in row-major order
 * gets it. Overlapping windows (stride < kernel) add their gradients.
 */
export function maxPool2d(x: Tensor<Shape4>, options: MaxPool2dOptions): Tensor<Shape4> {
  checkInputs('maxPool2d', [x], 'f32');
  checkRank('maxPool2d', x, 4, '[N, C, H, W]');
  if (!options || typeof options !== 'object') throw new Error('maxPool2d: options { kernel, stride? } are required');
  const [kh, kw] = pairOf(options.kernel, 'kernel');
  const [sh, sw] = options.stride === undefined ? [kh, kw] : pairOf(options.stride, 'stride');
  const [n, c, h, w] = x.shape;
  if (h < kh || w < kw)
    throw new Error(`maxPool2d: input ${fmtShape(x.shape)} is smaller than the ${kh}x${kw} window (H=${h}, W=${w})`);
  const oh = Math.floor((h - kh) / sh) + 1;
  const ow = Math.floor((w - kw) / sw) + 1;
  const planes = n * c;
  const params = [planes, h, w, oh, ow, kh, kw, sh, sw];
  const out = empty([n, c, oh, ow] as const);
  const grad = needsGrad([x]);
  // Without a tape the argmax is not kept: a one-element dummy fills its binding.
  const argmax = empty(grad ? ([n, c, oh, ow] as const) : ([1] as const), 'u32');
  // 2x2 stride 2 over even H and W % 4 == 0: the vectorised pair kernels (max2_*).
  // On CPU adapters a row of pairs per invocation (max2_*_rows).
  const pairs = kh === 2 && kw === 2 && sh === 2 && sw === 2 && h % 2 === 0 && w % 4 === 0;
  const rowsOfPairs = pairs && pairRows();
  const threads = rowsOfPairs ? planes * oh : pairs ? out.size / 2 : out.size;
  const forward = rowsOfPairs ? FORWARD2_ROWS_KERNELS : pairs ? FORWARD2_KERNELS : FORWARD_KERNELS;
  if (out.size) dispatch(forward[+grad]!, [x.buffer, out.buffer, argmax.buffer], params, Math.ceil(threads / WG));
  if (!grad) {
    argmax.dispose();
    return out;
  }
  const inShape = x.shape;
  return record(
    out,
    'maxPool2d',
    [x],
    (g) => {
      const dx = empty(inShape);
      // Non-overlapping windows: one invocation per input row (max_backward_rows); overlapping ones
      // gather per element (max_backward).
      const rows = sh >= kh && sw >= kw;
      const [kernel, invocations] = rowsOfPairs ? [BACKWARD2_ROWS, threads] : pairs ? [BACKWARD2, threads] : rows ? [BACKWARD_ROWS, planes * h] : [BACKWARD, dx.size];
      if (dx.size) dispatch(kernel, [g.buffer, argmax.buffer, dx.buffer], params, Math.ceil(invocations / WG));
      return [dx];
    },
    [argmax],
  );
}
