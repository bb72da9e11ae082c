// TensorFlow.js as a peer measured beside our kernels: same process, same Dawn instance (so the
// same adapter), same input values. Backends: 'webgpu' (TF.js's WGSL kernels on our adapter) and
// 'wasm' (XNNPACK on the CPU; the stack to beat on a software adapter, see
// shared/docs/webgpu-on-cpu.md, "Peers on the same adapter").
// Layouts: our tensors are NCHW with weights [Cout, Cin, KH, KW]; TF.js wants NHWC and
// [KH, KW, Cin, Cout], so the inputs are transposed once, before timing.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as TF from '@tensorflow/tfjs-core';
import { initDevice, gpuInstance } from '@fer/tensor';
import { time, type Timing, type TimeOptions } from '../timing.js';

export type Tf = typeof TF;
export type PeerBackend = 'webgpu' | 'wasm';
export type ConvPass = 'forward' | 'input' | 'weight';
/** A training-mode forward alone, or the forward and its backward (the gradients of every input). */
export type GradPass = 'forward' | 'forward+backward';
type Options = Omit<TimeOptions, 'drain'>;
export type PeerModel = 'seed-cnn' | 'fast';

/** The subset of TF.js's WebGPUBackend we touch (typed here so its WebGPU typings stay out of ours). */
interface WebGpuBackendLike {
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  queue: GPUQueue;
  device: GPUDevice;
  adapterInfo?: { vendor?: string; architecture?: string };
}

const require = createRequire(import.meta.url);
let loading: Promise<Tf> | null = null;
let wasmLoading: Promise<void> | null = null;

/** The NHWC shape of an NCHW shape. */
function nhwc([n, c, h, w]: readonly number[]): [number, number, number, number] {
  return [n!, h!, w!, c!];
}

/**
 * Loads tfjs-core and the WebGPU backend once, with `navigator.gpu` set to the GPU object our
 * device came from: TF.js then asks the same Dawn instance for its adapter. The backend module
 * checks `navigator.gpu` when it is imported, so the order matters.
 */
export async function loadTfjs(): Promise<Tf> {
  if (!loading) {
    loading = (async () => {
      await initDevice();
      // defineProperty, not assignment: Node >= 21 has a read-only `navigator` getter.
      Object.defineProperty(globalThis, 'navigator', {
        value: { gpu: gpuInstance(), userAgent: 'node' },
        configurable: true,
        writable: true,
      });
      const mod = (await import('@tensorflow/tfjs-core')) as Tf & { default?: Tf };
      const tf = mod.default ?? mod; // a CommonJS bundle: the namespace may sit under default
      // tfjs-core's Node bundle registers no gradients (its register_all_gradients is an ES module
      // Node cannot load); the union package's Node bundle registers them all, into the registry
      // tfjs-core keeps on globalThis. Loaded for that side effect only.
      await import('@tensorflow/tfjs');
      await import('@tensorflow/tfjs-backend-webgpu');
      return tf;
    })();
    loading.catch(() => (loading = null));
  }
  return loading;
}

async function loadWasm(): Promise<void> {
  if (!wasmLoading) {
    wasmLoading = (async () => {
      await loadTfjs();
      const mod = (await import('@tensorflow/tfjs-backend-wasm')) as typeof import('@tensorflow/tfjs-backend-wasm') & {
        default?: typeof import('@tensorflow/tfjs-backend-wasm');
      };
      const wasm = mod.default ?? mod;
      // In Node the .wasm files are read from disk: point at the package's dist/ folder (a path prefix).
      wasm.setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/');
      registerWasmWeightGradient(await loadTfjs());
    })();
    wasmLoading.catch(() => (wasmLoading = null));
  }
  return wasmLoading;
}

/**
 * What the bench adds to TF.js-WASM, printed with its results: tfjs-backend-wasm (4.22) has no
 * Conv2DBackpropFilter kernel, which the gradient of conv2d needs for the weights, so out of the
 * box it cannot train a CNN. The bench registers one built from the backend's own kernels.
 */
export const WASM_WEIGHT_GRADIENT_NOTE =
  "tfjs-backend-wasm has no Conv2DBackpropFilter kernel; the bench registers one made of its own Transpose and Conv2D kernels (the weight gradient as a convolution of the input with the output gradient), so TF.js-WASM's conv backward-weight rows and training steps use it";

/**
 * The weight gradient of a convolution as a convolution: dw[kh, kw, ci, co] =
 * sum_{n, oh, ow} x[n, oh*s + kh - p, ow*s + kw - p, ci] * dy[n, oh, ow, co] is conv2d of x with its
 * batch and channel axes swapped ([Cin, H, W, N]) by dy as the filter ([OH, OW, N, Cout]), dilated
 * by the stride, with the forward's padding. Registered for 'wasm' only, and only while TF.js lacks
 * the kernel; stride 1 or 'valid' padding with no dilation (the bench's convolutions), else it says
 * what it cannot do.
 */
let wasmWeightGradientAdded = false;
function registerWasmWeightGradient(tf: typeof TF): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return;
  wasmWeightGradientAdded = true;
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs }) => {
      const { x, dy } = inputs as unknown as { x: TF.Tensor4D; dy: TF.Tensor4D };
      const a = attrs as unknown as { strides: number | [number, number]; pad: 'same' | 'valid' | number; dataFormat: string; dilations?: number | [number, number]; filterShape: [number, number, number, number] };
      const [kh, kw] = a.filterShape;
      const strides = typeof a.strides === 'number' ? [a.strides, a.strides] : a.strides;
      const dil = a.dilations === undefined ? [1, 1] : typeof a.dilations === 'number' ? [a.dilations, a.dilations] : a.dilations;
      if (a.dataFormat !== 'NHWC' || strides[0] !== 1 || strides[1] !== 1 || dil[0] !== 1 || dil[1] !== 1)
        throw new Error(`the bench's wasm Conv2DBackpropFilter runs NHWC, stride 1, no dilation only (got ${a.dataFormat}, strides ${strides}, dilations ${dil})`);
      // TF.js returns a Tensor from a kernel function as the op's output (the legacy path); tidy frees the rest.
      return tf.tidy(() => {
        const [, h, w] = x.shape;
        const [, oh, ow] = dy.shape;
        // 'same' pads (K - 1) / 2 before (the odd pixel after): the explicit padding of the forward.
        const pt = a.pad === 'same' ? Math.floor(Math.max(oh - 1 + kh - h, 0) / 2) : a.pad === 'valid' ? 0 : a.pad;
        const pl = a.pad === 'same' ? Math.floor(Math.max(ow - 1 + kw - w, 0) / 2) : a.pad === 'valid' ? 0 : a.pad;
        const pb = oh - 1 + kh - h - pt;
        const pr = ow - 1 + kw - w - pl;
        const xt = tf.transpose(x, [3, 1, 2, 0]) as TF.Tensor4D;
        const f = tf.transpose(dy, [1, 2, 0, 3]) as TF.Tensor4D;
        const dw = tf.conv2d(xt, f, 1, [[0, 0], [pt, pb], [pl, pr], [0, 0]]);
        return tf.transpose(dw, [1, 2, 0, 3]);
      }) as unknown as TF.TensorInfo;
    },
  });
}

/** Peers that make sense here: TF.js-WebGPU always, TF.js-WASM on a software adapter (where the CPU is the device). */
export function peerBackends(software: boolean): PeerBackend[] {
  return software ? ['webgpu', 'wasm'] : ['webgpu'];
}

/** A peer that could not load, with TF.js's reason (reported on every row). */
export interface PeerError {
  name: string;
  error: string;
}

/**
 * Loads the peers that make sense on this adapter (peerBackends), logging each: a TfjsPeer, or
 * why it cannot run.
 */
export async function loadPeers(software: boolean, log: (line: string) => void = console.log): Promise<Array<TfjsPeer | PeerError>> {
  const out: Array<TfjsPeer | PeerError> = [];
  for (const backend of peerBackends(software)) {
    try {
      const p = await TfjsPeer.create(backend);
      out.push(p);
      log(`peer ${p.name}: ${p.detail}`);
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      out.push({ name: `tfjs-${backend}`, error });
      log(`peer tfjs-${backend}: cannot run: ${error}`);
    }
  }
  return out;
}

/** tf.setBackend, but with the reason when it fails (TF.js only warns and returns false). */
async function setBackend(tf: Tf, backend: PeerBackend): Promise<void> {
  if (tf.getBackend() === backend) return;
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => void warnings.push(args.map((a) => (a instanceof Error ? a.message : String(a))).join(' '));
  let ok: boolean;
  try {
    ok = await tf.setBackend(backend);
    await tf.ready();
  } finally {
    console.warn = warn;
  }
  if (!ok) throw new Error(`TF.js backend '${backend}' did not initialise: ${warnings.join(' | ') || 'no reason given'}`);
}

interface Param {
  w: TF.Variable;
  b: TF.Variable;
  bn: { gamma: TF.Variable; beta: TF.Variable; mean: TF.Variable; variance: TF.Variable } | null;
}

interface LayerSpec {
  kind: 'conv' | 'dense';
  out: number;
  k: number;
  bn: boolean;
  relu: boolean;
  pool: boolean;
  drop: number;
}

/** The two FER models, layer for layer as packages/nn/src/models (seed-cnn.ts, fast-cnn.ts). */
function modelSpec(model: PeerModel, numClasses: number): LayerSpec[] {
  const conv = (out: number, k: number, bn: boolean, pool: boolean, drop: number): LayerSpec => ({ kind: 'conv', out, k, bn, relu: true, pool, drop });
  const dense = (out: number, bn: boolean, relu: boolean, drop: number): LayerSpec => ({ kind: 'dense', out, k: 1, bn, relu, pool: false, drop });
  if (model === 'seed-cnn')
    return [
      conv(32, 3, false, false, 0),
      conv(64, 3, true, true, 0.25),
      conv(128, 5, true, true, 0.25),
      conv(512, 3, true, true, 0.25),
      conv(512, 3, true, true, 0.25),
      dense(256, true, true, 0.25),
      dense(512, true, true, 0.25),
      dense(numClasses, false, false, 0),
    ];
  return [
    conv(32, 3, true, true, 0),
    conv(64, 3, true, true, 0.25),
    conv(128, 3, true, true, 0.25),
    dense(256, true, true, 0.5),
    dense(numClasses, false, false, 0),
  ];
}

export class TfjsPeer {
  readonly name: string;

  private constructor(
    readonly tf: Tf,
    readonly backend: PeerBackend,
    /** What the backend runs on: the adapter TF.js got, or the WASM flavour. */
    readonly detail: string,
    /** The adapter TF.js's WebGPU backend got (null for WASM). */
    readonly adapter: { vendor: string; architecture: string } | null,
  ) {
    this.name = `tfjs-${backend}`;
    if (backend === 'webgpu') {
      // TF.js sets no error handler: Dawn would only print validation errors, and a broken
      // command buffer would be timed as if it had run. Keep them and throw from drain().
      const device = (tf.backend() as unknown as WebGpuBackendLike).device;
      device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => void this.errors.push(ev.error.message);
    }
  }

  private readonly errors: string[] = [];

  /** Loads TF.js and initialises `backend`; throws with TF.js's reason when it cannot. */
  static async create(backend: PeerBackend): Promise<TfjsPeer> {
    const tf = await loadTfjs();
    if (backend === 'wasm') await loadWasm();
    await setBackend(tf, backend);
    let detail: string;
    let adapter: { vendor: string; architecture: string } | null = null;
    if (backend === 'webgpu') {
      const info = (tf.backend() as unknown as WebGpuBackendLike).adapterInfo;
      adapter = { vendor: info?.vendor ?? '', architecture: info?.architecture ?? '' };
      detail = `TF.js ${tf.version_core} webgpu on ${adapter.vendor || '?'} ${adapter.architecture || '?'}`;
    } else {
      const f = tf.env().getFlags();
      detail = `TF.js ${tf.version_core} wasm (simd ${f['WASM_HAS_SIMD_SUPPORT'] ?? '?'}, threads ${f['WASM_HAS_MULTITHREAD_SUPPORT'] ?? '?'})`;
      if (wasmWeightGradientAdded) detail += `; ${WASM_WEIGHT_GRADIENT_NOTE}`;
    }
    return new TfjsPeer(tf, backend, detail, adapter);
  }

  /** Makes this peer's backend the current one (peers share one tfjs-core engine). */
  async activate(): Promise<void> {
    await setBackend(this.tf, this.backend);
  }

  /** Waits for the work recorded so far: submit TF.js's batched commands, wait on its queue. WASM runs synchronously. */
  readonly drain = async (): Promise<void> => {
    if (this.backend !== 'webgpu') return;
    const be = this.tf.backend() as unknown as WebGpuBackendLike;
    // The sequence TF.js itself runs before a readback (getBufferData): its compute pass stays open
    // between ops, and submitting without ending it makes an invalid command buffer.
    be.ensureCommandEncoderReady();
    be.endComputePassEncoder();
    be.submitQueue();
    await be.queue.onSubmittedWorkDone();
    if (this.errors.length) {
      const errs = this.errors.splice(0);
      throw new Error(`TF.js WebGPU error: ${errs[0]}${errs.length > 1 ? ` (and ${errs.length - 1} more)` : ''}`);
    }
  };

  /** Times `fn` under tf.tidy (its tensors freed each run) with this peer's drain. */
  async time(fn: () => void, options: Omit<TimeOptions, 'drain'> = {}): Promise<Timing> {
    await this.activate();
    return time(() => this.tf.tidy(fn), { ...options, drain: this.drain });
  }

  // ---- kernels ----

  /** a [M, K] @ b [K, N], row-major as ours. */
  async matmul(a: Float32Array, b: Float32Array, m: number, k: number, n: number, options?: Omit<TimeOptions, 'drain'>): Promise<Timing> {
    await this.activate();
    const ta = this.tf.tensor2d(a, [m, k]);
    const tb = this.tf.tensor2d(b, [k, n]);
    try {
      return await this.time(() => void this.tf.matMul(ta, tb), options);
    } finally {
      ta.dispose();
      tb.dispose();
    }
  }

  /** The product, for checking the wiring against ours. */
  async matmulValues(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Promise<Float32Array> {
    await this.activate();
    const out = this.tf.tidy(() => this.tf.matMul(this.tf.tensor2d(a, [m, k]), this.tf.tensor2d(b, [k, n])));
    const v = (await out.data()) as Float32Array;
    out.dispose();
    return v;
  }

  /** Our NCHW values as TF.js's NHWC tensor. */
  private nhwc(data: Float32Array, shape: readonly number[]): TF.Tensor4D {
    return this.tf.transpose(this.tf.tensor4d(data, shape as [number, number, number, number]), [0, 2, 3, 1]);
  }

  /** Our [Cout, Cin, KH, KW] weights as TF.js's [KH, KW, Cin, Cout] filter. */
  private hwio(data: Float32Array, shape: readonly number[]): TF.Tensor4D {
    return this.tf.transpose(this.tf.tensor4d(data, shape as [number, number, number, number]), [2, 3, 1, 0]);
  }

  /** The kernel tf.grad of a stride-1 conv2d runs for the weights (on WASM, the bench's). */
  private weightGradient(tx: TF.Tensor4D, tgy: TF.Tensor4D, padding: 'same' | 'valid', filterShape: readonly number[]): TF.Tensor4D {
    const attrs = { strides: [1, 1], pad: padding, dataFormat: 'NHWC', filterShape };
    return this.tf.engine().runKernel('Conv2DBackpropFilter', { x: tx, dy: tgy }, attrs as unknown as TF.NamedAttrMap) as TF.Tensor4D;
  }

  /**
   * One pass of a stride-1 convolution, given our NCHW input x, [Cout, Cin, KH, KW] weights and the
   * NCHW gradient of the output gy (used by the backward passes): 'forward' (tf.conv2d), 'input'
   * (Conv2DBackpropInput) or 'weight' (Conv2DBackpropFilter), the kernels tf.grad of conv2d runs.
   */
  async conv2d(
    pass: ConvPass,
    x: Float32Array, xShape: readonly number[],
    w: Float32Array, wShape: readonly number[],
    gy: Float32Array, gyShape: readonly number[],
    padding: 'same' | 'valid',
    options?: Omit<TimeOptions, 'drain'>,
  ): Promise<Timing> {
    await this.activate();
    const tf = this.tf;
    const { tx, tw, tgy } = tf.tidy(() => ({
      tx: this.nhwc(x, xShape),
      tw: this.hwio(w, wShape),
      tgy: this.nhwc(gy, gyShape),
    }));
    const base = { strides: [1, 1] as [number, number], pad: padding, dataFormat: 'NHWC' as const };
    const run: Record<ConvPass, () => void> = {
      forward: () => void tf.conv2d(tx, tw, 1, padding),
      input: () => void tf.engine().runKernel('Conv2DBackpropInput', { dy: tgy, filter: tw }, { ...base, inputShape: tx.shape }),
      weight: () => void this.weightGradient(tx, tgy, padding, tw.shape),
    };
    try {
      return await this.time(run[pass], options);
    } finally {
      tf.dispose([tx, tw, tgy]);
    }
  }

  /**
   * The weight gradient (Conv2DBackpropFilter) of a stride-1 convolution in our [Cout, Cin, KH, KW]
   * layout, from our NCHW input x and output gradient gy: checks the kernel the bench times (on
   * WASM, the one it registers) against ours.
   */
  async conv2dWeightGradValues(
    x: Float32Array, xShape: readonly number[],
    gy: Float32Array, gyShape: readonly number[],
    wShape: readonly [number, number, number, number],
    padding: 'same' | 'valid',
  ): Promise<Float32Array> {
    await this.activate();
    const tf = this.tf;
    const [cout, cin, kh, kw] = wShape;
    const out = tf.tidy(() => tf.transpose(this.weightGradient(this.nhwc(x, xShape), this.nhwc(gy, gyShape), padding, [kh, kw, cin, cout]), [3, 2, 0, 1]));
    const v = (await out.data()) as Float32Array;
    out.dispose();
    return v;
  }

  /** conv2d forward values in our NCHW layout, for checking the layout conversion against ours. */
  async conv2dValues(x: Float32Array, xShape: readonly number[], w: Float32Array, wShape: readonly number[], padding: 'same' | 'valid'): Promise<Float32Array> {
    await this.activate();
    const tf = this.tf;
    const out = tf.tidy(() => {
      const tx = this.nhwc(x, xShape);
      const tw = this.hwio(w, wShape);
      return tf.transpose(tf.conv2d(tx, tw, 1, padding), [0, 3, 1, 2]);
    });
    const v = (await out.data()) as Float32Array;
    out.dispose();
    return v;
  }

  /**
   * One pass of a fully connected layer as ours (linear: x [N, in] @ w [out, in]^T + bias): 'forward'
   * (fused matMul + bias), 'input' (dx = gy @ w) or 'weight' (dw = gy^T @ x), the products tf.grad runs.
   */
  async linear(
    pass: ConvPass,
    x: Float32Array, w: Float32Array, bias: Float32Array, gy: Float32Array,
    n: number, inF: number, outF: number,
    options?: Options,
  ): Promise<Timing> {
    await this.activate();
    const tf = this.tf;
    const tx = tf.tensor2d(x, [n, inF]);
    const tw = tf.tensor2d(w, [outF, inF]);
    const tb = tf.tensor1d(bias);
    const tgy = tf.tensor2d(gy, [n, outF]);
    const run: Record<ConvPass, () => void> = {
      forward: () => void tf.fused.matMul({ a: tx, b: tw, transposeB: true, bias: tb }),
      input: () => void tf.matMul(tgy, tw),
      weight: () => void tf.matMul(tgy, tx, true, false),
    };
    try {
      return await this.time(run[pass], options);
    } finally {
      tf.dispose([tx, tw, tb, tgy]);
    }
  }

  /**
   * Training-mode batch normalisation of our NCHW x over N, H, W (tf.moments + tf.batchNorm, NHWC,
   * gamma 1, beta 0): the forward, or forward + backward to x, gamma and beta (tf.grads with dy = gy).
   * The running statistics are not updated (ours updates them in its forward: two [C] vectors).
   */
  async batchNorm2d(pass: GradPass, x: Float32Array, xShape: readonly number[], gy: Float32Array, eps: number, options?: Options): Promise<Timing> {
    await this.activate();
    const tf = this.tf;
    const c = xShape[1]!;
    const { tx, tgy } = tf.tidy(() => ({
      tx: this.nhwc(x, xShape),
      tgy: this.nhwc(gy, xShape),
    }));
    const gamma = tf.ones([c]);
    const beta = tf.zeros([c]);
    const f = (t: TF.Tensor, g: TF.Tensor, b: TF.Tensor): TF.Tensor => {
      const { mean, variance } = tf.moments(t, [0, 1, 2]);
      return tf.batchNorm(t, mean, variance, b, g, eps);
    };
    const grads = tf.grads(f as (...args: TF.Tensor[]) => TF.Tensor);
    const run = pass === 'forward' ? () => void f(tx, gamma, beta) : () => void grads([tx, gamma, beta], tgy);
    try {
      return await this.time(run, options);
    } finally {
      tf.dispose([tx, tgy, gamma, beta]);
    }
  }

  /** 'valid' max pooling of our NCHW x (NHWC here): the forward, or forward + backward (tf.grad, MaxPoolGrad) with dy = gy (NCHW, the output's shape). */
  async maxPool2d(
    pass: GradPass,
    x: Float32Array, xShape: readonly number[],
    gy: Float32Array, gyShape: readonly number[],
    kernel: number, stride: number,
    options?: Options,
  ): Promise<Timing> {
    await this.activate();
    const tf = this.tf;
    const { tx, tgy } = tf.tidy(() => ({
      tx: this.nhwc(x, xShape),
      tgy: this.nhwc(gy, gyShape),
    }));
    const f = (t: TF.Tensor) => tf.maxPool(t as TF.Tensor4D, kernel, stride, 'valid');
    const grad = tf.grad(f);
    const run = pass === 'forward' ? () => void f(tx) : () => void grad(tx, tgy);
    try {
      return await this.time(run, options);
    } finally {
      tf.dispose([tx, tgy]);
    }
  }

  /**
   * Mean softmax cross-entropy of logits [N, C] against integer labels (one-hot for TF.js,
   * tf.losses.softmaxCrossEntropy): the forward, or forward + backward to the logits (tf.grad).
   */
  async softmaxCrossEntropy(pass: GradPass, logits: Float32Array, labels: Int32Array, n: number, c: number, options?: Options): Promise<Timing> {
    await this.activate();
    const tf = this.tf;
    const tl = tf.tensor2d(logits, [n, c]);
    const oh = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), c), 'float32'));
    const f = (t: TF.Tensor) => tf.losses.softmaxCrossEntropy(oh, t);
    const grad = tf.grad(f);
    const run = pass === 'forward' ? () => void f(tl) : () => void grad(tl);
    try {
      return await this.time(run, options);
    } finally {
      tf.dispose([tl, oh]);
    }
  }

  /**
   * One Adam step (tf.train.adam, lr 1e-4) over variables of the given shapes with fixed gradients:
   * optimizer.applyGradients, as minimize() runs it after the backward. The first (warm-up) call
   * creates the moment variables.
   */
  async adam(shapes: ReadonlyArray<readonly number[]>, options?: Options): Promise<Timing> {
    await this.activate();
    const tf = this.tf;
    const id = `bench_adam_${TfjsPeer.adamRuns++}`;
    const vars = shapes.map((s, i) => {
      const init = tf.randomNormal([...s], 0, 0.05, 'float32', i + 1);
      const v = tf.variable(init, true, `${id}_${i}`);
      init.dispose(); // the variable keeps the data
      return v;
    });
    const grads = shapes.map((s, i) => tf.randomNormal([...s], 0, 1e-3, 'float32', 1000 + i));
    const named = vars.map((v, i) => ({ name: v.name, tensor: grads[i]! }));
    const opt = tf.train.adam(1e-4);
    try {
      return await this.time(() => opt.applyGradients(named), options);
    } finally {
      opt.dispose();
      tf.dispose([...vars, ...grads]);
    }
  }

  private static adamRuns = 0;

  // ---- a whole training step ----

  /**
   * ms per training step (forward, softmax cross-entropy, backward, Adam lr 1e-4) of `model` written
   * with tfjs-core ops (fused conv/matmul + bias + ReLU where no BN follows, as tfjs-layers does;
   * BN in training mode with Keras' momentum 0.99 and eps 1e-3; dropout), on our NCHW input x and
   * integer labels. `warmup` steps (shader compilation) are not timed; then `steps` steps, drained once.
   */
  async trainStep(
    model: PeerModel,
    x: Float32Array, xShape: readonly number[],
    labels: Int32Array, numClasses: number,
    { warmup = 1, steps = 3 }: { warmup?: number; steps?: number } = {},
  ): Promise<{ msPerStep: number; steps: number; /** trainable, as model.parameters() counts them */ parameters: number }> {
    await this.activate();
    const tf = this.tf;
    const [n, c, h, w] = xShape as [number, number, number, number];
    const tx = tf.tidy(() => this.nhwc(x, [n, c, h, w]));
    const ty = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), numClasses), 'float32'));
    const spec = modelSpec(model, numClasses);
    const params: Param[] = [];
    // The variable shares the initial value's data: freeing the tensor leaves the variable intact.
    const variable = (init: () => TF.Tensor, trainable = true): TF.Variable => {
      const t = init();
      const v = tf.variable(t, trainable);
      t.dispose();
      return v;
    };
    let shape = nhwc([n, c, h, w]);
    let features = shape[3];
    let flat = false;
    for (const l of spec) {
      if (l.kind === 'dense' && !flat) {
        features = shape[1] * shape[2] * shape[3];
        flat = true;
      }
      const fanIn = l.kind === 'conv' ? l.k * l.k * features : features;
      const fanOut = l.kind === 'conv' ? l.k * l.k * l.out : l.out;
      const limit = Math.sqrt(6 / (fanIn + fanOut)); // Glorot uniform, Keras' default
      const wShape = l.kind === 'conv' ? [l.k, l.k, features, l.out] : [features, l.out];
      params.push({
        w: variable(() => tf.randomUniform(wShape, -limit, limit, 'float32', 1)),
        b: variable(() => tf.zeros([l.out])),
        bn: l.bn
          ? { gamma: variable(() => tf.ones([l.out])), beta: variable(() => tf.zeros([l.out])), mean: variable(() => tf.zeros([l.out]), false), variance: variable(() => tf.ones([l.out]), false) }
          : null,
      });
      if (l.kind === 'conv' && l.pool) shape = [shape[0], Math.floor(shape[1] / 2), Math.floor(shape[2] / 2), l.out];
      else if (l.kind === 'conv') shape = [shape[0], shape[1], shape[2], l.out];
      features = l.out;
    }
    const trainable = params.flatMap((p) => (p.bn ? [p.w, p.b, p.bn.gamma, p.bn.beta] : [p.w, p.b]));
    const parameters = params.reduce((s, p) => s + p.w.size + p.b.size + (p.bn ? 2 * p.bn.gamma.size : 0), 0);
    const adam = tf.train.adam(1e-4);

    const batchNorm = (t: TF.Tensor, p: NonNullable<Param['bn']>, axes: number[]): TF.Tensor => {
      const { mean, variance } = tf.moments(t, axes);
      // Running statistics as Keras keeps them (not used by the step; kept so the work matches).
      p.mean.assign(tf.add(tf.mul(p.mean, 0.99), tf.mul(mean, 0.01)));
      p.variance.assign(tf.add(tf.mul(p.variance, 0.99), tf.mul(variance, 0.01)));
      return tf.batchNorm(t, mean, variance, p.beta, p.gamma, 1e-3);
    };
    const loss = (): TF.Scalar => {
      let t: TF.Tensor = tx;
      spec.forEach((l, i) => {
        const p = params[i]!;
        const act = l.relu && !l.bn ? 'relu' : 'linear';
        if (l.kind === 'conv') {
          t = tf.fused.conv2d({ x: t as TF.Tensor4D, filter: p.w as TF.Tensor4D, strides: 1, pad: 'same', bias: p.b, activation: act });
        } else {
          if (t.rank !== 2) t = tf.reshape(t, [n, -1]);
          t = tf.fused.matMul({ a: t as TF.Tensor2D, b: p.w as TF.Tensor2D, bias: p.b, activation: act });
        }
        if (p.bn) {
          t = batchNorm(t, p.bn, l.kind === 'conv' ? [0, 1, 2] : [0]);
          if (l.relu) t = tf.relu(t);
        }
        if (l.pool) t = tf.maxPool(t as TF.Tensor4D, 2, 2, 'valid');
        if (l.drop > 0) t = tf.dropout(t, l.drop);
      });
      return tf.losses.softmaxCrossEntropy(ty, t) as TF.Scalar;
    };
    const step = () => void adam.minimize(loss, false, trainable);
    try {
      for (let i = 0; i < warmup; i++) {
        step();
        await this.drain();
      }
      const t0 = performance.now();
      for (let i = 0; i < steps; i++) step();
      await this.drain();
      return { msPerStep: (performance.now() - t0) / steps, steps, parameters };
    } finally {
      adam.dispose();
      tf.dispose([tx, ty, ...params.flatMap((p) => (p.bn ? [p.w, p.b, p.bn.gamma, p.bn.beta, p.bn.mean, p.bn.variance] : [p.w, p.b]))]);
    }
  }
}

/**
 * Frees TF.js's backends at the end of a benchmark. Its WebGPU device is destroyed too (as
 * releaseDevice() does ours) so that no Dawn device outlives the run.
 */
export async function shutdownTfjs(): Promise<void> {
  if (!loading) return;
  const tf = await loading.catch(() => null);
  if (!tf) return;
  // engine().registry holds the backends that were initialised (findBackend would start one).
  const registry = tf.engine().registry;
  const device = registry['webgpu'] ? (registry['webgpu'] as unknown as WebGpuBackendLike).device : null;
  for (const name of ['webgpu', 'wasm']) if (tf.engine().registryFactory[name]) tf.removeBackend(name);
  device?.destroy();
}
