// The one module that knows about Dawn: adapter, device, limits, error capture and its event pump.
import { promisify } from 'node:util';
import { create, globals } from 'webgpu';

export interface DeviceInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  /** True for a CPU implementation of WebGPU (lavapipe, SwiftShader): kernels pick CPU-shaped variants. */
  software: boolean;
  /** The limits we asked for above the defaults, with the values the device got. */
  limits: Record<string, number>;
  /** Subgroup sizes [min, max] when the device has the `subgroups` feature enabled, else null. */
  subgroups: [number, number] | null;
}

export interface Gpu {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  readonly info: DeviceInfo;
  /** Monotonic id, so tensors of a device that was released are told apart from a new one. */
  readonly id: number;
}

// Dawn's instance (the result of create()) must stay referenced while any device lives: if V8
// collects it, Dawn's event pump touches freed memory (see shared/docs/webgpu-on-cpu.md).
interface Held extends Gpu {
  readonly instance: GPU;
  errors: string[];
}

// GPUBufferUsage, GPUShaderStage, ... as globals, as in a browser (pool.ts and dispatch.ts use them).
Object.assign(globalThis, globals);

let current: Held | null = null;
let pending: Promise<Held> | null = null;
let nextId = 1;

const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxStorageBuffersPerShaderStage',
] as const;

export const NO_ADAPTER_HELP =
  'No WebGPU adapter found. On a machine without a GPU, install a software Vulkan driver: ' +
  "Debian 12 needs Mesa >= 24 from bookworm-backports (apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1); " +
  "Debian's own Mesa 22 is refused by Dawn. On a GPU machine, install the vendor's Vulkan driver and libvulkan1.";

export interface InitOptions {
  /** 'high-performance' | 'low-power'; default high-performance. */
  powerPreference?: GPUPowerPreference;
  /**
   * Dawn toggles passed to create(), e.g. 'backend=vulkan'. Default: timestamps at full resolution
   * ('disable-dawn-features=timestamp_quantization'; Dawn rounds them to 100 µs for browsers, a guard
   * against timing attacks that a native process has no use for), which the profiler and the tuner's
   * GPU timer need. Flags given here replace the default.
   */
  dawnFlags?: string[];
  /**
   * The longest sleep in ms between polls of Dawn's event pump while a GPU promise is pending (see
   * setPumpPoll); 0 polls on every event-loop turn. Default: env FER_GPU_POLL_MS, else 1 on a
   * software adapter and 0 on hardware.
   */
  pollIntervalMs?: number;
}

// dawn.node completes its promises (mapAsync, onSubmittedWorkDone, ...) by pumping Dawn's events
// from a native callback that re-queues itself with the global setImmediate for as long as any is
// pending: a busy loop that holds one core at 100%. On a software adapter that core is one the
// driver's worker threads need: on 2 cores, lavapipe's two threads got ~47% each during training
// while the pump took a whole core, and every kernel ran at about half speed.
//
// So the pump's callbacks (native functions without a name; JS code never passes those) sleep
// before they run, and every other setImmediate call goes through unchanged. The sleep grows with
// the time the wait has lasted (1/16 of it, capped at pollMs): a short wait is still answered
// within microseconds and a long one costs at most ~6% latency, while a 300 ms training step
// polls ~1,000 times/s, sleeping in between. The sleep is Atomics.wait (sub-ms, no CPU; setTimeout
// cannot wait less than 1 ms); other events run between polls as before. A wait starts when the
// pump is queued from outside one of its own callbacks (Dawn's count of pending promises left 0).
// A hardware device keeps pumping every turn: its CPU has cores to spare.
let pollMs = 0;
let pumpInstalled = false;
let waitStart = 0;
let inPump = false;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const NATIVE = /^function \(\) \{ \[native code\] \}$/;

function isPump(fn: unknown): fn is (...args: unknown[]) => void {
  return typeof fn === 'function' && fn.name === '' && NATIVE.test(Function.prototype.toString.call(fn));
}

function installPumpPoll(): void {
  if (pumpInstalled) return;
  pumpInstalled = true;
  const real = globalThis.setImmediate;
  const polled = function setImmediate(fn: (...args: unknown[]) => void, ...args: unknown[]) {
    if (pollMs <= 0 || !isPump(fn)) return real(fn, ...args);
    const now = performance.now();
    if (!inPump) waitStart = now;
    const sleepMs = Math.min(pollMs, (now - waitStart) / 16);
    return real(() => {
      if (sleepMs >= 0.01) Atomics.wait(sleeper, 0, 0, sleepMs);
      inPump = true;
      try {
        fn(...args);
      } finally {
        inPump = false;
      }
    });
  } as typeof globalThis.setImmediate;
  // util.promisify(setImmediate) and timers keep working through the original.
  Object.assign(polled, { [promisify.custom]: (real as unknown as Record<symbol, unknown>)[promisify.custom], __promisify__: real.__promisify__ });
  globalThis.setImmediate = polled;
}

/** The longest sleep between polls of Dawn's event pump in ms (0 = every event-loop turn). */
export function pumpPoll(): number {
  return pollMs;
}

/**
 * Sets the longest sleep between polls of Dawn's event pump (ms, 0 = poll every event-loop turn);
 * returns the previous one. initDevice sets the default (see InitOptions.pollIntervalMs).
 */
export function setPumpPoll(ms: number, source = 'setPumpPoll'): number {
  if (!(typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 && ms <= 1000))
    throw new Error(`${source}: the GPU poll interval must be a number of ms in [0, 1000], got ${String(ms)}`);
  const prev = pollMs;
  pollMs = ms;
  installPumpPoll();
  return prev;
}

function defaultPoll(options: InitOptions, software: boolean): void {
  const env = process.env.FER_GPU_POLL_MS;
  if (options.pollIntervalMs !== undefined) setPumpPoll(options.pollIntervalMs, 'initDevice pollIntervalMs');
  else if (env !== undefined && env !== '') setPumpPoll(Number(env), `env FER_GPU_POLL_MS='${env}'`);
  else setPumpPoll(software ? 1 : 0);
}

const FULL_RESOLUTION_TIMESTAMPS = 'disable-dawn-features=timestamp_quantization';

/** Gets (once) the adapter and device. Every tensor op needs this to have resolved first. */
export async function initDevice(options: InitOptions = {}): Promise<Gpu> {
  if (current) return current;
  if (pending) return pending;
  pending = (async () => {
    if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
    const instance = create(options.dawnFlags ?? [FULL_RESOLUTION_TIMESTAMPS]);
    const adapter = await instance.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
    if (!adapter) throw new Error(NO_ADAPTER_HELP);
    const requiredLimits: Record<string, number> = {};
    for (const name of RAISED_LIMITS) {
      const v = (adapter.limits as unknown as Record<string, number>)[name];
      if (typeof v === 'number') requiredLimits[name] = v;
    }
    const features: GPUFeatureName[] = [];
    if (adapter.features.has('timestamp-query')) features.push('timestamp-query');
    // Subgroup broadcasts let the lavapipe kernels load an operand once per SIMD group (see matmul.wgsl).
    if (adapter.features.has('subgroups' as GPUFeatureName)) features.push('subgroups' as GPUFeatureName);
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures: features });
    const ai = adapter.info;
    const software =
      ai.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(`${ai.device} ${ai.description}`) ||
      (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
    defaultPoll(options, software);
    const held: Held = {
      instance,
      adapter,
      device,
      id: nextId++,
      errors: [],
      info: {
        vendor: ai.vendor,
        architecture: ai.architecture,
        device: ai.device,
        description: ai.description,
        backend: (ai as unknown as { backendType?: string }).backendType ?? 'vulkan',
        software,
        limits: Object.fromEntries(RAISED_LIMITS.map((n) => [n, (device.limits as unknown as Record<string, number>)[n]])),
        subgroups: features.includes('subgroups' as GPUFeatureName)
          ? [(ai as unknown as { subgroupMinSize: number }).subgroupMinSize, (ai as unknown as { subgroupMaxSize: number }).subgroupMaxSize]
          : null,
      },
    };
    // Validation errors are otherwise only printed, never thrown: keep them and throw at the next sync point.
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      held.errors.push(ev.error.message);
    };
    device.lost.then((lost) => {
      if (current === held && lost.reason !== 'destroyed') held.errors.push(`GPU device lost: ${lost.message}`);
    });
    current = held;
    return held;
  })();
  try {
    return await pending;
  } finally {
    pending = null;
  }
}

/** The device, for synchronous op code. Throws when initDevice() has not resolved. */
export function gpu(): Gpu {
  if (!current) throw new Error('WebGPU device not initialised: call `await initDevice()` before creating tensors.');
  return current;
}

/**
 * Dawn's GPU object (the create() result) that our device came from. Peers measured beside us
 * (bench/peers) use it as their `navigator.gpu`, so they get the same adapter in the same process.
 */
export function gpuInstance(): GPU {
  if (!current) throw new Error('WebGPU device not initialised: call `await initDevice()` before asking for its GPU instance.');
  return current.instance;
}

export function hasDevice(): boolean {
  return current !== null;
}

/** Throws the first validation error Dawn reported since the last check (and clears them). */
export function throwDeviceErrors(): void {
  if (current && current.errors.length) {
    const errs = current.errors.splice(0);
    throw new Error(`WebGPU error: ${errs[0]}${errs.length > 1 ? ` (and ${errs.length - 1} more)` : ''}`);
  }
}

/** Destroys the device so the process can exit; tensors of it become unusable. */
export function releaseDevice(): void {
  if (!current) return;
  const held = current;
  current = null;
  for (const hook of releaseHooks) hook();
  held.device.destroy();
}

const releaseHooks: Array<() => void> = [];
/** Lets the pool and dispatch caches forget their objects when the device goes. */
export function onRelease(hook: () => void): void {
  releaseHooks.push(hook);
}

export function describeDevice(info: DeviceInfo = gpu().info): string {
  const lim = Object.entries(info.limits)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return `${info.vendor} ${info.device || info.description} (${info.architecture || 'n/a'}, ${info.backend}, ${info.software ? 'software' : 'hardware'}); limits: ${lim}`;
}

/** True when the device runs subgroups of exactly 8 lanes (lavapipe on 256-bit SIMD): the subgroup kernels need it. */
export function hasSubgroups8(): boolean {
  const sg = gpu().info.subgroups;
  return sg !== null && sg[0] === 8 && sg[1] === 8;
}

export function describeSubgroups(): string {
  const sg = gpu().info.subgroups;
  return sg === null ? 'no subgroups feature' : sg[0] === sg[1] ? `subgroups of ${sg[0]}` : `subgroups of ${sg[0]} to ${sg[1]} lanes`;
}
