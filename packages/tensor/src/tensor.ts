// Tensor<S>: a shape, a dtype and a (possibly shared) GPU buffer, plus the autograd fields.
import { gpu, hasDevice } from './device.js';
import { acquireBuffer, releaseBuffer } from './pool.js';
import { dispatch, readBuffer, upload, type Kernel } from './dispatch.js';
import { runBackward, isGradEnabled, type GradNode } from './autograd.js';
import { Rng, rngFrom } from './rng.js';

export type DType = 'f32' | 'i32' | 'u32';
export type Shape = readonly number[];
export type Shape1 = readonly [number];
export type Shape2 = readonly [number, number];
export type Shape3 = readonly [number, number, number];
export type Shape4 = readonly [number, number, number, number];
export type TypedArray = Float32Array | Int32Array | Uint32Array;
type ArrayFor<D extends DType> = D extends 'f32' ? Float32Array : D extends 'i32' ? Int32Array : Uint32Array;

/** A GPU buffer shared by a tensor and its views; released to the pool when the last one goes. */
interface Storage {
  buffer: GPUBuffer;
  refs: number;
}

export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function fmtShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

function checkShape(shape: Shape, what: string): void {
  if (!Array.isArray(shape)) throw new Error(`${what}: shape must be an array of sizes, got ${String(shape)}`);
  for (const d of shape)
    if (!Number.isInteger(d) || d < 0) throw new Error(`${what}: shape ${fmtShape(shape)} must hold non-negative integers`);
}

let nextTensorId = 1;

export class Tensor<S extends Shape = Shape> {
  readonly id = nextTensorId++;
  readonly shape: S;
  readonly dtype: DType;
  readonly size: number;
  readonly deviceId: number;
  /** Leaves with requiresGrad receive .grad from backward(). */
  requiresGrad: boolean;
  grad: Tensor<S> | null = null;
  /** The op that produced this tensor (null for leaves and after backward released the graph). */
  node: GradNode | null = null;
  /** Set when backward() freed the graph that produced this tensor: a second backward through it is an error. */
  graphReleased = false;
  name?: string;
  private storage: Storage | null;

  /** Internal: ops and creation functions make tensors; users call tensor(), zeros(), ... */
  constructor(shape: S, dtype: DType, storage?: Storage, requiresGrad = false) {
    checkShape(shape, 'Tensor');
    this.shape = Object.freeze([...shape]) as unknown as S;
    this.dtype = dtype;
    this.size = shapeSize(shape);
    this.deviceId = gpu().id;
    if (storage) storage.refs++;
    this.storage = storage ?? { buffer: acquireBuffer(this.size * 4), refs: 1 };
    this.requiresGrad = requiresGrad;
    track(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.storage === null;
  }

  /** The GPU buffer; throws if the tensor was disposed. */
  get buffer(): GPUBuffer {
    if (!this.storage) throw new Error(`tensor ${this.describe()} was disposed and cannot be used again`);
    return this.storage.buffer;
  }

  describe(): string {
    return `${this.name ? `'${this.name}' ` : ''}#${this.id} ${this.dtype}${fmtShape(this.shape)}`;
  }

  toString(): string {
    return `Tensor(${this.describe()})`;
  }

  /** Frees the GPU buffer (when no view shares it). Safe to call twice. */
  dispose(): void {
    const s = this.storage;
    if (!s) return;
    this.storage = null;
    this.node = null;
    // A buffer of a released device must not enter the new device's pool (its destroy() freed it).
    if (--s.refs === 0 && hasDevice() && gpu().id === this.deviceId) releaseBuffer(s.buffer);
    untrack(this);
  }

  async toArray(): Promise<ArrayFor<DType>> {
    const bytes = await readBuffer(this.buffer, this.size * 4);
    return (this.dtype === 'f32' ? new Float32Array(bytes) : this.dtype === 'i32' ? new Int32Array(bytes) : new Uint32Array(bytes)) as ArrayFor<DType>;
  }

  /** Reads a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item() needs a tensor of one element, got ${this.describe()}`);
    return (await this.toArray())[0]!;
  }

  /** A view with another shape over the same buffer (no copy); differentiable. */
  reshape<T extends Shape>(shape: T): Tensor<T> {
    let infer = -1;
    const dims = [...shape];
    for (let i = 0; i < dims.length; i++) if (dims[i] === -1 && infer < 0) infer = i;
    checkShape(dims.map((d, i) => (i === infer ? 0 : d)), 'reshape');
    if (infer >= 0) {
      const rest = shapeSize(dims.filter((_, i) => i !== infer));
      dims[infer] = rest === 0 ? 0 : this.size / rest;
    }
    if (shapeSize(dims) !== this.size || !dims.every((d) => Number.isInteger(d) && d >= 0))
      throw new Error(`reshape: cannot view ${this.describe()} (${this.size} elements) as ${fmtShape(shape)}`);
    const out = new Tensor(dims as unknown as T, this.dtype, this.liveStorage());
    if (this.requiresGrad && isGradEnabled()) {
      const from = this.shape;
      out.requiresGrad = true;
      out.node = { op: 'reshape', inputs: [this], backward: (g) => [g.reshape(from)] };
    }
    return out;
  }

  /** [N, ...rest] -> [N, prod(rest)], as a view. */
  flatten(): Tensor<Shape2> {
    if (this.rank < 1) throw new Error(`flatten needs rank >= 1, got ${this.describe()}`);
    return this.reshape([this.shape[0]!, this.size / Math.max(1, this.shape[0]!)] as const) as Tensor<Shape2>;
  }

  /** Fills .grad of every leaf that requires grad; this must be a scalar (one element). */
  backward(): void {
    runBackward(this);
  }

  private liveStorage(): Storage {
    if (!this.storage) throw new Error(`tensor ${this.describe()} was disposed and cannot be used again`);
    return this.storage;
  }
}

// ---- scopes (tidy): tensors made inside are disposed at the end unless returned or kept ----

const scopes: Array<Set<Tensor>> = [];

function track(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

function untrack(t: Tensor): void {
  for (const s of scopes) s.delete(t);
}

/** Keeps a tensor made inside tidy() alive past the scope (e.g. a parameter's new value). */
export function keep<T extends Tensor>(t: T): T {
  untrack(t);
  return t;
}

/** Runs fn; disposes every tensor it created except those in its result (nested arrays/objects). */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error('tidy() takes a synchronous function (await outside of it)');
  } catch (e) {
    // As TF.js: what the scope made is freed when it throws, so a caught error leaks no GPU memory.
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  const kept = new Set<Tensor>();
  collect(result, kept, 0);
  for (const t of scope) if (!kept.has(t)) t.dispose();
  const parent = scopes[scopes.length - 1];
  if (parent) for (const t of kept) if (scope.has(t)) parent.add(t);
  return result;
}

function collect(v: unknown, into: Set<Tensor>, depth: number): void {
  if (depth > 4 || v === null || typeof v !== 'object') return;
  if (v instanceof Tensor) {
    into.add(v);
    return;
  }
  if (Array.isArray(v)) for (const x of v) collect(x, into, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collect(x, into, depth + 1);
}

// ---- creation ----

export interface CreateOptions<D extends DType = DType> {
  dtype?: D;
  requiresGrad?: boolean;
  name?: string;
}

/** An uninitialised tensor (ops write into it). */
export function empty<S extends Shape>(shape: S, dtype: DType = 'f32'): Tensor<S> {
  return new Tensor(shape, dtype);
}

/** A tensor from host data; the length must match the shape. */
export function tensor<S extends Shape>(
  data: ArrayLike<number>,
  shape: S,
  options: CreateOptions = {},
): Tensor<S> {
  const dtype = options.dtype ?? (data instanceof Int32Array ? 'i32' : data instanceof Uint32Array ? 'u32' : 'f32');
  checkShape(shape, 'tensor');
  if (data.length !== shapeSize(shape))
    throw new Error(`tensor: ${data.length} values given for shape ${fmtShape(shape)} (${shapeSize(shape)} expected)`);
  // Typed input of the right kind is uploaded as is (writeBuffer copies it); anything else converts.
  const arr =
    dtype === 'f32' ? (data instanceof Float32Array ? data : Float32Array.from(data))
    : dtype === 'i32' ? (data instanceof Int32Array ? data : Int32Array.from(data))
    : data instanceof Uint32Array ? data : Uint32Array.from(data);
  if (dtype !== 'f32') for (let i = 0; i < data.length; i++) if (arr[i] !== data[i]) throw new Error(`tensor: value ${data[i]} at index ${i} is not a valid ${dtype}`);
  const t = new Tensor(shape, dtype, undefined, options.requiresGrad ?? false);
  if (options.name) t.name = options.name;
  if (arr.length) upload(t.buffer, arr);
  return t;
}

const FILL: Kernel = { shader: 'fill', entry: 'main', bindings: ['rw'] };

/** A tensor with every element `value`, filled on the GPU (recorded in order with the other ops; no upload). */
export function full<S extends Shape>(shape: S, value: number, options: CreateOptions = {}): Tensor<S> {
  checkShape(shape, 'full');
  const n = shapeSize(shape);
  const dtype = options.dtype ?? 'f32';
  // The value as the dtype stores it (f32 rounding, i32/u32 checks), then its bit pattern.
  const one = dtype === 'f32' ? new Float32Array(1) : dtype === 'i32' ? new Int32Array(1) : new Uint32Array(1);
  one[0] = value;
  if (dtype !== 'f32' && one[0] !== value) throw new Error(`full: value ${value} is not a valid ${dtype}`);
  const t = new Tensor(shape, dtype, undefined, options.requiresGrad ?? false);
  if (options.name) t.name = options.name;
  if (n) dispatch(FILL, [t.buffer], [n, new Uint32Array(one.buffer)[0]!], Math.ceil(n / 256));
  return t;
}

export function zeros<S extends Shape>(shape: S, options: CreateOptions = {}): Tensor<S> {
  return full(shape, 0, options);
}

export function ones<S extends Shape>(shape: S, options: CreateOptions = {}): Tensor<S> {
  return full(shape, 1, options);
}

export interface RandomOptions extends CreateOptions<'f32'> {
  /** A seed, or an Rng to draw from (advances it); default: the global stream (see manualSeed). */
  seed?: number | Rng;
}


export function randUniform<S extends Shape>(shape: S, lo = 0, hi = 1, options: RandomOptions = {}): Tensor<S> {
  const rng = rngFrom(options.seed);
  const data = new Float32Array(shapeSize(shape));
  for (let i = 0; i < data.length; i++) data[i] = rng.uniform(lo, hi);
  return tensor(data, shape, { ...options, dtype: 'f32' });
}

export function randNormal<S extends Shape>(shape: S, mean = 0, std = 1, options: RandomOptions = {}): Tensor<S> {
  const rng = rngFrom(options.seed);
  const data = new Float32Array(shapeSize(shape));
  for (let i = 0; i < data.length; i++) data[i] = rng.normal(mean, std);
  return tensor(data, shape, { ...options, dtype: 'f32' });
}

/** He (Kaiming) normal: std = sqrt(2 / fanIn), for layers followed by ReLU. */
export function heNormal<S extends Shape>(shape: S, fanIn: number, options: RandomOptions = {}): Tensor<S> {
  return randNormal(shape, 0, Math.sqrt(2 / fanIn), options);
}

/** Glorot (Xavier) uniform: limit = sqrt(6 / (fanIn + fanOut)); Keras' default kernel init. */
export function glorotUniform<S extends Shape>(shape: S, fanIn: number, fanOut: number, options: RandomOptions = {}): Tensor<S> {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return randUniform(shape, -limit, limit, options);
}

// ---- checks shared by every op ----

/** Throws unless every tensor is live, on the current device, and (when given) of the dtype. */
export function checkInputs(op: string, tensors: ReadonlyArray<Tensor>, dtype?: DType): void {
  const dev = gpu().id;
  for (const t of tensors) {
    if (!(t instanceof Tensor)) throw new Error(`${op}: expected a Tensor, got ${typeof t === 'object' ? JSON.stringify(t) : String(t)}`);
    if (t.isDisposed) throw new Error(`${op}: tensor ${t.describe()} was disposed and cannot be used again`);
    if (t.deviceId !== dev)
      throw new Error(`${op}: tensor ${t.describe()} lives on device #${t.deviceId}, but the op runs on device #${dev}; tensors of two devices cannot be mixed`);
    if (dtype && t.dtype !== dtype) throw new Error(`${op}: expected a ${dtype} tensor, got ${t.describe()}`);
  }
}

/** Throws with both shapes when `t` is not of rank `rank`. */
export function checkRank(op: string, t: Tensor, rank: number, layout: string): void {
  if (t.rank !== rank) throw new Error(`${op}: expected a rank-${rank} tensor ${layout}, got shape ${fmtShape(t.shape)}`);
}

/** n or [h, w] as a pair of positive integers (kernel sizes, strides); `what` names it in the error. */
export function positivePair(v: number | readonly [number, number], what: string): [number, number] {
  const p: readonly number[] = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((d) => Number.isInteger(d) && d >= 1))
    throw new Error(`${what} must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
  return [p[0]!, p[1]!];
}

export function checkSameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i]))
    throw new Error(`${op}: shapes differ: ${fmtShape(a.shape)} vs ${fmtShape(b.shape)}`);
}
