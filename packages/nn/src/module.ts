// Module: PyTorch-like owner of named parameters (trainable), buffers (non-trainable state such as
// BatchNorm running statistics) and child modules. State-dict keys are dotted module paths
// (`features.0.weight`), the names PyTorch and safetensors files use.
import { Tensor, keep, copyBuffer, upload, checkInputs, fmtShape, shapeSize, type DType, type Shape } from '@fer/tensor';

/** Element types a checkpoint can hold (safetensors spelling). */
export type StDType = 'F32' | 'I32' | 'U32';

/** A tensor on the host: what a safetensors file holds. */
export interface HostTensor {
  dtype: StDType;
  shape: readonly number[];
  data: ArrayLike<number>;
}

export const ST_DTYPE: Record<DType, StDType> = { f32: 'F32', i32: 'I32', u32: 'U32' };

export interface LoadStateDictOptions {
  /** Default true: keys the model has but the dict lacks (missing), or the reverse (unexpected), are errors. */
  strict?: boolean;
}

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/** Lists at most `max` names, then a count, so a wrong-model error stays readable. */
function listNames(names: readonly string[], max = 12): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown}, ... (${names.length - max} more)` : shown;
}

function isTensor(v: unknown): v is Tensor {
  return v instanceof Tensor;
}

export abstract class Module {
  /** Training mode (dropout active, BatchNorm uses batch statistics); toggled by train()/eval(). */
  training = true;
  private readonly ownParams = new Map<string, Tensor>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly ownChildren = new Map<string, Module>();

  /** The class name, shown by summary() and in errors. */
  get typeName(): string {
    return this.constructor.name;
  }

  abstract forward(x: Tensor): Tensor;

  /** Shape inference for summary(): the output shape (batch dimension included) for an input shape. */
  outputShape(inShape: Shape): Shape {
    void inShape;
    throw new Error(`${this.typeName} does not implement outputShape(), which summary() needs`);
  }

  /** Inference FLOPs of this module alone for one image (a multiply-add counts 2); input shape with batch 1. */
  flops(inShape: Shape): number {
    void inShape;
    return 0;
  }

  private checkName(name: string): void {
    if (!name || name.includes('.')) throw new Error(`${this.typeName}: invalid name '${name}' (non-empty, no dots)`);
    if (this.ownParams.has(name) || this.ownBuffers.has(name) || this.ownChildren.has(name))
      throw new Error(`${this.typeName}: name '${name}' is already registered`);
  }

  /** Registers a trainable tensor (sets requiresGrad) under `name`; it outlives any tidy() scope. */
  protected registerParameter<T extends Tensor>(name: string, t: T): T {
    this.checkName(name);
    if (t.dtype !== 'f32') throw new Error(`${this.typeName}: parameter '${name}' must be f32, got ${t.describe()}`);
    t.requiresGrad = true;
    t.name ??= name;
    this.ownParams.set(name, keep(t));
    return t;
  }

  /** Registers non-trainable state (e.g. running mean) under `name`: saved, never optimised. */
  protected registerBuffer<T extends Tensor>(name: string, t: T): T {
    this.checkName(name);
    t.requiresGrad = false;
    t.name ??= name;
    this.ownBuffers.set(name, keep(t));
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.checkName(name);
    if (!(m instanceof Module)) throw new Error(`${this.typeName}: child '${name}' is not a Module`);
    this.ownChildren.set(name, m);
    return m;
  }

  /** Direct children in registration order. */
  namedChildren(): Array<[string, Module]> {
    return [...this.ownChildren];
  }

  /** This module ('' ) and every descendant, pre-order, with dotted paths. */
  namedModules(prefix = ''): Array<[string, Module]> {
    const out: Array<[string, Module]> = [[prefix, this]];
    for (const [name, child] of this.ownChildren) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /** Tensors registered directly on this module (not its children). */
  ownParameters(): Array<[string, Tensor]> {
    return [...this.ownParams];
  }

  ownBuffersList(): Array<[string, Tensor]> {
    return [...this.ownBuffers];
  }

  namedParameters(): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    for (const [path, m] of this.namedModules()) for (const [n, t] of m.ownParams) out.push([path ? `${path}.${n}` : n, t]);
    return out;
  }

  namedBuffers(): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    for (const [path, m] of this.namedModules()) for (const [n, t] of m.ownBuffers) out.push([path ? `${path}.${n}` : n, t]);
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  buffers(): Tensor[] {
    return this.namedBuffers().map(([, t]) => t);
  }

  /** Sets the training flag here and in every descendant. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Gives every parameter and buffer its full dotted path as tensor name, for readable errors. */
  labelTensors(): this {
    for (const [n, t] of [...this.namedParameters(), ...this.namedBuffers()]) t.name = n;
    return this;
  }

  /**
   * Parameters and buffers by dotted path, in PyTorch's state_dict order (each module's own
   * parameters, then its own buffers, then its children). The tensors are the live ones, not copies.
   */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [path, m] of this.namedModules()) {
      for (const [n, t] of m.ownParams) out[path ? `${path}.${n}` : n] = t;
      for (const [n, t] of m.ownBuffers) out[path ? `${path}.${n}` : n] = t;
    }
    return out;
  }

  /**
   * Copies values into this module's tensors (in place, so optimizers keep their references).
   * Shape or dtype mismatches are always errors (both shapes printed); missing/unexpected keys are
   * errors when strict (the default) and are returned otherwise. Nothing is written when it throws.
   */
  loadStateDict(dict: Readonly<Record<string, Tensor | HostTensor>>, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !(k in dict));
    const unexpectedKeys = Object.keys(dict).filter((k) => !(k in own));
    const errors: string[] = [];
    if (strict && missingKeys.length) errors.push(`missing keys (in the model, not in the checkpoint): ${listNames(missingKeys)}`);
    if (strict && unexpectedKeys.length) errors.push(`unexpected keys (in the checkpoint, not in the model): ${listNames(unexpectedKeys)}`);
    for (const [k, dst] of Object.entries(own)) {
      const src = dict[k];
      if (!src) continue;
      const dtype = isTensor(src) ? ST_DTYPE[src.dtype] : src.dtype;
      const shape = src.shape;
      if (!Array.isArray(shape)) errors.push(`'${k}': the checkpoint entry has no shape`);
      else if (shape.length !== dst.shape.length || shape.some((d, i) => d !== dst.shape[i]))
        errors.push(`size mismatch for '${k}': the checkpoint has shape ${fmtShape(shape)}, the model has ${fmtShape(dst.shape)}`);
      else if (dtype !== ST_DTYPE[dst.dtype])
        errors.push(`dtype mismatch for '${k}': the checkpoint has ${dtype}, the model has ${ST_DTYPE[dst.dtype]}`);
      else if (isTensor(src)) {
        if (src.isDisposed) errors.push(`'${k}': the checkpoint tensor ${src.describe()} was disposed`);
      } else if (src.data.length !== shapeSize(shape))
        errors.push(`'${k}': ${src.data.length} values for shape ${fmtShape(shape)} (${shapeSize(shape)} expected)`);
    }
    if (errors.length)
      throw new Error(`loadStateDict: ${errors.length} error(s) loading into ${this.typeName}:\n  ${errors.join('\n  ')}`);
    for (const [k, dst] of Object.entries(own)) {
      const src = dict[k];
      if (!src || dst.size === 0) continue;
      if (isTensor(src)) {
        checkInputs('loadStateDict', [src]);
        // A byte copy, not a float kernel: exact for every dtype and bit pattern.
        if (src.buffer !== dst.buffer) copyBuffer(src.buffer, dst.buffer, dst.size * 4);
      } else upload(dst.buffer, toTyped(src.dtype, src.data));
    }
    return { missingKeys, unexpectedKeys };
  }

  /** Disposes every parameter's .grad (PyTorch's set_to_none). */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Frees every parameter, gradient and buffer of this module and its descendants. */
  dispose(): void {
    for (const t of [...this.parameters(), ...this.buffers()]) {
      t.grad?.dispose();
      t.grad = null;
      t.dispose();
    }
  }
}

/** Host values as the typed array of a dtype (no copy when it already is one). */
export function toTyped(dtype: StDType, data: ArrayLike<number>): Float32Array | Int32Array | Uint32Array {
  if (dtype === 'F32') return data instanceof Float32Array ? data : Float32Array.from(data);
  if (dtype === 'I32') return data instanceof Int32Array ? data : Int32Array.from(data);
  return data instanceof Uint32Array ? data : Uint32Array.from(data);
}
