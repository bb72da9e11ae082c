// Sum and mean (over everything, or over axes), with backward by broadcast. WGSL: reduce.wgsl, broadcast.wgsl.
import { dispatch, f32bits, type Kernel } from '../dispatch.js';
import { Tensor, checkInputs, empty, fmtShape, shapeSize, type Shape } from '../tensor.js';
import { record } from '../autograd.js';

const SUM_AXIS: Kernel = { shader: 'reduce', entry: 'sum_axis', bindings: ['read', 'rw'] };
const BROADCAST: Kernel = { shader: 'broadcast', entry: 'main', bindings: ['read', 'rw'] };

/** Views x as [outer, reduce, inner] and sums the middle axis: out[outer, inner] * scale. */
export function sumMiddle(x: Tensor, outer: number, reduce: number, inner: number, scaleBy = 1): Tensor<readonly [number, number]> {
  const out = empty([outer, inner] as const);
  if (outer * inner) dispatch(SUM_AXIS, [x.buffer, out.buffer], [outer, reduce, inner, f32bits(scaleBy)], outer * inner);
  return out;
}

/** Inverse of sumMiddle: out[o, r, i] = g[o, i] * scale. */
export function broadcastMiddle<S extends Shape>(g: Tensor, outer: number, reduce: number, inner: number, shape: S, scaleBy = 1): Tensor<S> {
  const out = empty(shape);
  if (out.size) dispatch(BROADCAST, [g.buffer, out.buffer], [outer, reduce, inner, f32bits(scaleBy)], Math.ceil(out.size / 256));
  return out;
}

function reduceAll(name: string, x: Tensor, mean: boolean): Tensor<readonly []> {
  checkInputs(name, [x], 'f32');
  if (x.size === 0 && mean) throw new Error(`${name}: mean of an empty tensor ${x.describe()}`);
  const k = mean ? 1 / x.size : 1;
  const flat = sumMiddle(x, 1, x.size, 1, k);
  const out = flat.reshape([] as const);
  flat.dispose(); // the view keeps the buffer
  const shape = x.shape;
  return record(out, name, [x], (g) => [broadcastMiddle(g, 1, x.size, 1, shape, k)]);
}

function reduceAxis(name: string, x: Tensor, axis: number, mean: boolean): Tensor {
  checkInputs(name, [x], 'f32');
  const ax = axis < 0 ? axis + x.rank : axis;
  if (!Number.isInteger(ax) || ax < 0 || ax >= x.rank) throw new Error(`${name}: axis ${axis} out of range for shape ${fmtShape(x.shape)}`);
  const outer = shapeSize(x.shape.slice(0, ax));
  const n = x.shape[ax]!;
  const inner = shapeSize(x.shape.slice(ax + 1));
  const k = mean ? 1 / n : 1;
  const outShape = x.shape.filter((_, i) => i !== ax);
  const flat = sumMiddle(x, outer, n, inner, k);
  const out = flat.reshape(outShape);
  flat.dispose();
  const shape = x.shape;
  return record(out, name, [x], (g) => [broadcastMiddle(g, outer, n, inner, shape, k)]);
}

/** Sum of all elements (a scalar), or over one axis. */
export function sum(x: Tensor, axis?: number): Tensor {
  return axis === undefined ? reduceAll('sum', x, false) : reduceAxis('sum', x, axis, false);
}

/** Mean of all elements (a scalar), or over one axis. */
export function mean(x: Tensor, axis?: number): Tensor {
  return axis === undefined ? reduceAll('mean', x, true) : reduceAxis('mean', x, axis, true);
}
