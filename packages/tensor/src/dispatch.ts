// The only code that builds pipelines, bind groups and encodes passes. Every op calls dispatch().
//
// Dispatches are recorded into one open compute pass and submitted in batches (on readback, on
// upload, or when the uniform ring is full), so a training step costs a few submits, not hundreds.
import { appendFileSync, readFileSync } from 'node:fs';
import { gpu, onRelease, throwDeviceErrors } from './device.js';
import { destroyPooled, settleFreeLists } from './pool.js';

/** One entry point of one WGSL file under shaders/, specialised by override constants. */
export interface Kernel {
  /** File name under shaders/ without .wgsl. */
  shader: string;
  entry: string;
  /** Access of bindings 0..n-1 (storage buffers); the uniform params are binding n. */
  bindings: ReadonlyArray<'read' | 'rw'>;
  /** WGSL `override` constants (workgroup size, tile sizes, feature flags). */
  constants?: Record<string, number>;
}

const SHADER_DIR = new URL('../../../shaders/', import.meta.url);
const sourceCache = new Map<string, string>();
/** The WGSL helpers every shader may use; prepended to each file. */
let preludeSource: string | null = null;

export function shaderSource(name: string): string {
  let src = sourceCache.get(name);
  if (src === undefined) {
    preludeSource ??= readFileSync(new URL('prelude.wgsl', SHADER_DIR), 'utf8');
    let file: string;
    try {
      file = readFileSync(new URL(`${name}.wgsl`, SHADER_DIR), 'utf8');
    } catch {
      throw new Error(`shader '${name}.wgsl' not found in ${SHADER_DIR.pathname}`);
    }
    // WGSL directives (`enable subgroups;`, `diagnostic(...)`) must precede every declaration, the prelude's included.
    const directive = /^(?:enable|diagnostic)\b[^;]*;\s*$/gm;
    const directives = file.match(directive) ?? [];
    const body = file.replace(directive, '');
    src = `${directives.join('\n')}\n${preludeSource}\n${body}`;
    sourceCache.set(name, src);
  }
  return src;
}

interface Compiled {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}
const modules = new Map<string, GPUShaderModule>();
const pipelines = new Map<string, Compiled>();

// Ops mostly reuse their Kernel objects: an identity lookup skips building the string key.
let byObject = new WeakMap<Kernel, Compiled>();

/**
 * FER_KERNEL_LOG=FILE appends each pipeline this process compiles to FILE as one JSON line (shader,
 * entry, bindings, constants): scripts/analysis/compile-times.mjs times their compilation one by one.
 * Lavapipe compiles a pipeline on its first dispatch, so a cold shader cache makes a workload's
 * first run slow in proportion to the pipelines it needs.
 */
const kernelLog = typeof process !== 'undefined' ? process.env?.['FER_KERNEL_LOG'] : undefined;

const kernelKey = (k: Kernel): string =>
  `${k.shader}:${k.entry}:${k.bindings.join(',')}:${k.constants ? JSON.stringify(k.constants) : ''}`;

const interned = new Map<string, Kernel>();
/**
 * The one Kernel object for these fields: ops that specialise kernels per call (constants from
 * shapes or flags) use it, so dispatch() finds the pipeline by object identity without a string key.
 */
export function kernelFor(shader: string, entry: string, bindings: ReadonlyArray<'read' | 'rw'>, constants?: Record<string, number>): Kernel {
  const k: Kernel = constants ? { shader, entry, bindings, constants } : { shader, entry, bindings };
  const key = kernelKey(k);
  let hit = interned.get(key);
  if (!hit) interned.set(key, (hit = k));
  return hit;
}

function compile(k: Kernel): Compiled {
  const hit = byObject.get(k);
  if (hit) return hit;
  const key = kernelKey(k);
  let c = pipelines.get(key);
  if (c) {
    byObject.set(k, c);
    return c;
  }
  const { device } = gpu();
  let module = modules.get(k.shader);
  if (!module) {
    module = device.createShaderModule({ label: k.shader, code: shaderSource(k.shader) });
    modules.set(k.shader, module);
  }
  const entries: GPUBindGroupLayoutEntry[] = k.bindings.map((access, binding) => ({
    binding,
    visibility: GPUShaderStage.COMPUTE,
    buffer: { type: access === 'read' ? 'read-only-storage' : 'storage' },
  }));
  // Dynamic offset: the params slot is chosen at setBindGroup, so one bind group serves every slot.
  entries.push({
    binding: k.bindings.length,
    visibility: GPUShaderStage.COMPUTE,
    buffer: { type: 'uniform', hasDynamicOffset: true },
  });
  const layout = device.createBindGroupLayout({ label: `${k.shader}.${k.entry}`, entries });
  const pipeline = device.createComputePipeline({
    label: `${k.shader}.${k.entry}`,
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: k.entry, constants: k.constants },
  });
  c = { pipeline, layout };
  if (kernelLog) appendFileSync(kernelLog, `${JSON.stringify({ shader: k.shader, entry: k.entry, bindings: k.bindings, constants: k.constants ?? {} })}\n`);
  pipelines.set(key, c);
  byObject.set(k, c);
  return c;
}

// Uniform params of all dispatches of a batch live in one ring buffer, written once at submit. A
// full ring ends the command buffer: 1024 slots hold a whole training step of the FER models (vgg:
// ~180 dispatches), where 256 split every other one.
const RING_BYTES = 1 << 18;
const SLOT = 256; // minUniformBufferOffsetAlignment
const MAX_PARAMS = SLOT / 4;
let ring: GPUBuffer | null = null;
const ringData = new Uint32Array(RING_BYTES / 4);
let ringUsed = 0;
let encoder: GPUCommandEncoder | null = null;
let pass: GPUComputePassEncoder | null = null;
let dispatchCount = 0;
let submitCount = 0;
let bindGroupCount = 0;

// Bind groups cached per layout, then one WeakMap level per storage buffer (in binding order), so
// entries of garbage-collected buffers go with them. Destroyed buffers are dropped by the pool and
// never bound again, so their entries are dead weight only until the per-layout bound clears them.
interface BindNode {
  next?: WeakMap<GPUBuffer, BindNode>;
  group?: GPUBindGroup;
}
interface LayoutBinds {
  root: BindNode;
  size: number;
}
/** Per-layout cap: a long run with changing buffers starts over instead of growing without limit. */
const MAX_BIND_GROUPS_PER_LAYOUT = 4096;
let bindCache = new WeakMap<Compiled, LayoutBinds>();

function bindGroupFor(device: GPUDevice, c: Compiled, buffers: ReadonlyArray<GPUBuffer>, uniform: GPUBuffer): GPUBindGroup {
  let lb = bindCache.get(c);
  if (!lb) bindCache.set(c, (lb = { root: {}, size: 0 }));
  let node = lb.root;
  // A buffer bound twice (read-only aliasing) just appears twice in the key path.
  for (const buf of buffers) {
    node.next ??= new WeakMap();
    let child = node.next.get(buf);
    if (!child) node.next.set(buf, (child = {}));
    node = child;
  }
  if (node.group) return node.group;
  if (lb.size >= MAX_BIND_GROUPS_PER_LAYOUT) {
    lb.root = {};
    lb.size = 0;
    return bindGroupFor(device, c, buffers, uniform);
  }
  const entries: GPUBindGroupEntry[] = buffers.map((buffer, binding) => ({ binding, resource: { buffer } }));
  // One whole slot: covers any params struct (at most MAX_PARAMS words) at every dynamic offset.
  entries.push({ binding: buffers.length, resource: { buffer: uniform, offset: 0, size: SLOT } });
  node.group = device.createBindGroup({ layout: c.layout, entries });
  lb.size++;
  bindGroupCount++;
  return node.group;
}

/**
 * Whether the elementwise kernels give each lane a run of consecutive vec4s (the LANE_RUNS
 * constant; unit_index in prelude.wgsl) or interleave the lanes over neighbouring vec4s. Lavapipe
 * runs a lane's loads and stores one after another: lanes streaming runs of 4 moved a product of
 * two 37.7 MB tensors in 18-22 ms against 41-52 ms interleaved (session 24). GPUs want neighbouring
 * lanes on neighbouring addresses (coalescing). Default: runs on CPU adapters.
 */
export function laneRuns(): boolean {
  return forcedLaneRuns ?? gpu().info.software;
}
let forcedLaneRuns: boolean | null = null;
/** Forces lane runs on (true) or off (false) on every adapter; null restores the default. */
export function setLaneRuns(runs: boolean | null): void {
  forcedLaneRuns = runs;
}

/** Splits a 1-D workgroup count over x and y (each at most 65535); shaders use linear_group(). */
export function grid(groups: number): [number, number, number] {
  if (groups <= 65535) return [Math.max(1, groups), 1, 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y, 1];
}

/**
 * Split-K for a GEMM whose output has only `tiles` workgroup tiles: how many workgroups share the
 * reduction of length k (aiming at `targetGroups` workgroups in all, each summing at least `minK`),
 * and the k each one sums (a multiple of the kernel's stage `step`; the last split may be shorter).
 * The kernel writes one partial product per split; the caller sums them (sumMiddle / sum_mid).
 */
export function splitK(k: number, tiles: number, targetGroups: number, minK: number, step: number): { splits: number; kPer: number } {
  if (k <= 0) return { splits: 1, kPer: 0 };
  const wanted = Math.max(1, Math.min(Math.ceil(targetGroups / tiles), Math.floor(k / minK)));
  const kPer = Math.ceil(Math.ceil(k / wanted) / step) * step;
  return { splits: Math.ceil(k / kPer), kPer };
}

/** float -> its u32 bit pattern, for f32 fields of a params struct. */
const f32View = new Float32Array(1);
const u32View = new Uint32Array(f32View.buffer);
export function f32bits(x: number): number {
  f32View[0] = x;
  return u32View[0]!;
}

/**
 * Records one compute dispatch. `params` are the u32 words of the shader's uniform struct (use
 * f32bits for f32 fields, `x >>> 0` for i32). `groups` is a 1-D count (split by grid()) or x,y,z.
 */
export function dispatch(
  k: Kernel,
  buffers: ReadonlyArray<GPUBuffer>,
  params: ReadonlyArray<number>,
  groups: number | readonly [number, number, number],
): void {
  if (buffers.length !== k.bindings.length)
    throw new Error(`kernel ${k.shader}.${k.entry} takes ${k.bindings.length} buffers, got ${buffers.length}`);
  if (params.length > MAX_PARAMS) throw new Error(`kernel ${k.shader}.${k.entry}: at most ${MAX_PARAMS} params`);
  const { device } = gpu();
  const c = compile(k);
  if (ringUsed + SLOT > RING_BYTES || (profiler && profiler.labels.length >= PROFILE_PAIRS)) flush();
  if (!ring) {
    ring = device.createBuffer({ size: RING_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    bindCache = new WeakMap(); // cached groups bind the old ring
  }
  const offset = ringUsed;
  const base = offset / 4;
  for (let i = 0; i < params.length; i++) ringData[base + i] = params[i]!;
  ringUsed += SLOT;
  const bindGroup = bindGroupFor(device, c, buffers, ring);
  const [x, y, z] = typeof groups === 'number' ? grid(groups) : groups;
  if (x > 65535 || y > 65535 || z > 65535) throw new Error(`kernel ${k.shader}.${k.entry}: workgroup grid ${x}x${y}x${z} over 65535`);
  if (profiler) {
    // A pass of its own, with its begin and end timestamps.
    if (pass) pass.end();
    encoder ??= device.createCommandEncoder();
    const i = profiler.labels.length;
    pass = encoder.beginComputePass({ timestampWrites: { querySet: profiler.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
    profiler.labels.push(profiler.byGrid ? `${profileLabel(k)} @${x}x${y}x${z}` : profileLabel(k));
  } else if (!pass) {
    encoder ??= device.createCommandEncoder();
    pass = encoder.beginComputePass();
  }
  pass.setPipeline(c.pipeline);
  pass.setBindGroup(0, bindGroup, [offset]);
  pass.dispatchWorkgroups(x, y, z);
  dispatchCount++;
  if (profiler) {
    pass.end();
    pass = null;
  }
}

/** Ends the open pass and submits what was recorded; also throws any pending validation error. */
export function flush(): void {
  if (pass) pass.end();
  if (encoder) {
    const { device } = gpu();
    const timed = profiler && profiler.labels.length > 0 ? resolveTimestamps(encoder, profiler) : null;
    if (ring && ringUsed > 0) device.queue.writeBuffer(ring, 0, ringData, 0, ringUsed / 4);
    device.queue.submit([encoder.finish()]);
    submitCount++;
    timed?.();
    // The queue orders the next writeBuffer after this submit, so the ring can be rewritten now.
  }
  pass = null;
  encoder = null;
  ringUsed = 0;
  settleFreeLists();
  throwDeviceErrors();
}

/** Copies buffer -> buffer in queue order (ends the open pass; the next dispatch begins a new one). */
export function copyBuffer(src: GPUBuffer, dst: GPUBuffer, bytes: number, srcOffset = 0, dstOffset = 0): void {
  if (pass) {
    pass.end();
    pass = null;
  }
  encoder ??= gpu().device.createCommandEncoder();
  encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
}

/** Writes host data into a buffer, after all recorded work (which might still read its old contents). */
export function upload(buf: GPUBuffer, data: ArrayBufferView, offset = 0): void {
  flush();
  gpu().device.queue.writeBuffer(buf, offset, data.buffer, data.byteOffset, data.byteLength);
}

const readPool = new Map<number, GPUBuffer[]>();
/** Reads a buffer back to the host (submits pending work, waits for the GPU). */
export async function readBuffer(src: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
  const { device } = gpu();
  const size = Math.max(16, Math.ceil(bytes / 4) * 4);
  let staging = readPool.get(size)?.pop();
  staging ??= device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  copyBuffer(src, staging, size);
  flush();
  await staging.mapAsync(GPUMapMode.READ);
  const out = staging.getMappedRange(0, size).slice(0, bytes);
  staging.unmap();
  let list = readPool.get(size);
  if (!list) readPool.set(size, (list = []));
  list.push(staging);
  throwDeviceErrors();
  return out;
}

/** Waits until the GPU has finished all submitted work (for timing). */
export async function sync(): Promise<void> {
  flush();
  await gpu().device.queue.onSubmittedWorkDone();
  throwDeviceErrors();
}

/**
 * Submits what was recorded and returns a promise for its completion, without waiting: a training
 * loop awaits the fence of a step a few steps later to bound how far recording runs ahead.
 */
export function fence(): Promise<void> {
  flush();
  return gpu().device.queue.onSubmittedWorkDone().then(() => throwDeviceErrors());
}

/** Destroys pooled buffers once recorded work is submitted. */
export function trimPool(): void {
  flush();
  destroyPooled();
  for (const l of readPool.values()) for (const b of l) b.destroy();
  readPool.clear();
}

// ---- GPU time per kernel (timestamp queries), for bench/profile.ts ----
// While profiling, every dispatch runs in a compute pass of its own whose begin and end timestamps
// go to a query set; flush() resolves them into a buffer read back asynchronously, and the times
// add up per kernel. One pass per dispatch costs a little: profile for the breakdown, and time
// whole steps with profiling off.

/** GPU time of one kernel (shader.entry and its override constants) over a profile. */
export interface KernelTime {
  kernel: string;
  calls: number;
  ms: number;
}
interface Profiler {
  querySet: GPUQuerySet;
  resolved: GPUBuffer;
  /** Kernel of each timestamp pair recorded since the last flush. */
  labels: string[];
  reads: Array<Promise<void>>;
  totals: Map<string, { calls: number; ns: number }>;
  /** Label each dispatch with its workgroup grid too, which tells layers of one kernel apart. */
  byGrid: boolean;
}
/** Dispatches timed per submit (the query set holds two timestamps each). */
const PROFILE_PAIRS = 2048;
let profiler: Profiler | null = null;

const profileLabel = (k: Kernel): string =>
  `${k.shader}.${k.entry}${k.constants ? JSON.stringify(k.constants).replace(/"/g, '') : ''}`;

/**
 * Starts timing every dispatch on the GPU (needs the adapter's 'timestamp-query' feature). `byGrid`:
 * time each (kernel, workgroup grid) apart, so one kernel's layers get a row each.
 */
export function startProfile(options: { byGrid?: boolean } = {}): void {
  const { device, info } = gpu();
  if (profiler) throw new Error('startProfile: a profile is already running; call stopProfile() first');
  if (!device.features.has('timestamp-query'))
    throw new Error(`startProfile: the adapter (${info.vendor} ${info.device || info.architecture}) has no 'timestamp-query' feature`);
  flush();
  profiler = {
    querySet: device.createQuerySet({ type: 'timestamp', count: 2 * PROFILE_PAIRS }),
    resolved: device.createBuffer({ size: 16 * PROFILE_PAIRS, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }),
    labels: [],
    reads: [],
    totals: new Map(),
    byGrid: options.byGrid ?? false,
  };
}

/** Whether a profile (startProfile) is running. */
export function profiling(): boolean {
  return profiler !== null;
}

/** Stops profiling; waits for the GPU and returns each kernel's calls and GPU time, longest first. */
export async function stopProfile(): Promise<KernelTime[]> {
  const p = profiler;
  if (!p) throw new Error('stopProfile: no profile is running; call startProfile() first');
  flush();
  profiler = null;
  await Promise.all(p.reads);
  p.querySet.destroy();
  p.resolved.destroy();
  throwDeviceErrors();
  return [...p.totals].map(([kernel, t]) => ({ kernel, calls: t.calls, ms: t.ns / 1e6 })).sort((a, b) => b.ms - a.ms);
}

/** Records the resolve and readback of p's timestamps into `enc`; the returned function, called after submit, maps them. */
function resolveTimestamps(enc: GPUCommandEncoder, p: Profiler): () => void {
  const n = p.labels.length;
  const labels = p.labels;
  p.labels = [];
  const staging = gpu().device.createBuffer({ size: 16 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  enc.resolveQuerySet(p.querySet, 0, 2 * n, p.resolved, 0);
  enc.copyBufferToBuffer(p.resolved, 0, staging, 0, 16 * n);
  return () => {
    p.reads.push(
      staging.mapAsync(GPUMapMode.READ).then(() => {
        const t = new BigUint64Array(staging.getMappedRange());
        for (let i = 0; i < n; i++) {
          const e = p.totals.get(labels[i]!) ?? { calls: 0, ns: 0 };
          e.calls++;
          // A dispatch that ended "before" it began (timestamps are not guaranteed monotonic) counts 0.
          e.ns += t[2 * i + 1]! > t[2 * i]! ? Number(t[2 * i + 1]! - t[2 * i]!) : 0;
          p.totals.set(labels[i]!, e);
        }
        staging.unmap();
        staging.destroy();
      }),
    );
  };
}

/** Running totals; `bindGroups` counts bind groups created (not reused ones). */
export function dispatchStats(): { dispatches: number; submits: number; pipelines: number; bindGroups: number } {
  return { dispatches: dispatchCount, submits: submitCount, pipelines: pipelines.size, bindGroups: bindGroupCount };
}

onRelease(() => {
  profiler = null;
  modules.clear();
  pipelines.clear();
  byObject = new WeakMap();
  bindCache = new WeakMap();
  readPool.clear();
  ring = null;
  pass = null;
  encoder = null;
  ringUsed = 0;
});
