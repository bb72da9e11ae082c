// The adapter's measured peaks (shaders/peak.wgsl), against which `pnpm bench` states each kernel's
// share: arithmetic (fma_peak, GFLOP/s) and memory (copy_peak, GB/s). Both run through dispatch()
// as every op does, and are timed as the kernels are (bench/timing.ts time()).
import { dispatch, empty, gpu, type Kernel, type Tensor } from '@fer/tensor';
import { time, type Timing } from './timing.js';

const WG = 64;
const LAYOUT = ['read', 'rw'] as const;
export const FMA_PEAK: Kernel = { shader: 'peak', entry: 'fma_peak', bindings: LAYOUT };
export const COPY_PEAK: Kernel = { shader: 'peak', entry: 'copy_peak', bindings: LAYOUT };
/** flops per invocation and iteration: 8 chains x 4 components x 2 (an fma counts 2). */
export const FLOPS_PER_ITER = 8 * 4 * 2;

/** Records fma_peak: `invocations` invocations of `iters` iterations; dst holds one vec4 per invocation. */
export function recordFma(dummy: Tensor, dst: Tensor, invocations: number, iters: number): void {
  if (invocations % WG !== 0) throw new Error(`fma_peak: invocations must be a multiple of ${WG} (whole workgroups), got ${invocations}`);
  if (dst.size < invocations * 4) throw new Error(`fma_peak: dst holds ${dst.size} floats, needs ${invocations * 4}`);
  dispatch(FMA_PEAK, [dummy.buffer, dst.buffer], [iters, invocations], Math.ceil(invocations / WG));
}

/** vec4s each copy_peak invocation moves (a grid-stride loop; see the shader). */
export const COPY_PER_INVOCATION = 16;

/** Records copy_peak: the first `vec4s` vec4s of src into dst, `perInvocation` per invocation. */
export function recordCopy(src: Tensor, dst: Tensor, vec4s: number, perInvocation = COPY_PER_INVOCATION): void {
  if (src.size < vec4s * 4 || dst.size < vec4s * 4) throw new Error(`copy_peak: buffers of ${src.size} / ${dst.size} floats, need ${vec4s * 4}`);
  dispatch(COPY_PEAK, [src.buffer, dst.buffer], [perInvocation, vec4s], Math.ceil(vec4s / (WG * perInvocation)));
}

/** What fma_peak writes for invocation i after `iters` iterations, in f32 as the shader (fma rounded once or twice: compare with a tolerance). */
export function fmaReference(i: number, iters: number): [number, number, number, number] {
  const f = Math.fround;
  const m = f(0.999);
  const d = f(0.001);
  const x = f((i % 1024) * (1 / 1024));
  const out: [number, number, number, number] = [0, 0, 0, 0];
  for (let c = 0; c < 4; c++) {
    const acc: number[] = [];
    for (let j = 0; j < 8; j++) {
      let a = f(f(x + c * 0.25) + j);
      for (let k = 0; k < iters; k++) a = f(a * m + d);
      acc.push(a);
    }
    out[c] = f(f(f(acc[0]! + acc[1]!) + f(acc[2]! + acc[3]!)) + f(f(acc[4]! + acc[5]!) + f(acc[6]! + acc[7]!)));
  }
  return out;
}

export interface Peak {
  /**
   * GFLOP/s (fma) or GB/s (copy) of the fastest timed run: a peak is the most the adapter was seen
   * to do (on a shared machine the median wanders with the load; the kernels' rows use medians).
   */
  value: number;
  /** The same at the median run. */
  medianValue: number;
  unit: 'GFLOP/s' | 'GB/s';
  timing: Timing;
  /** What one timed run does. */
  shape: string;
  /** GFLOP or GB per timed run. */
  work: number;
}

export interface PeakOptions {
  runs?: number;
  /** Invocations of fma_peak (default 1 Mi: enough to fill a large GPU). */
  invocations?: number;
  /** Bytes of each copy_peak buffer (default 64 MiB). */
  copyBytes?: number;
  /** The fma loop grows until one run takes at least this long (default 100 ms). */
  targetMs?: number;
}

/**
 * Enough invocations to fill the adapter, few enough that each runs a long loop: a CPU adapter runs
 * workgroups as loops on its cores (per-workgroup start-up costs there, so 16 K invocations), a GPU
 * needs hundreds of thousands of threads in flight.
 */
function defaultInvocations(): number {
  return gpu().info.software ? 1 << 14 : 1 << 20;
}

/** Measured peak GFLOP/s: the loop count doubles until one run takes targetMs, then the timed runs. */
export async function fmaPeak({ runs = 5, invocations = defaultInvocations(), targetMs = 100 }: PeakOptions = {}): Promise<Peak> {
  const dummy = empty([4] as const);
  const dst = empty([invocations * 4] as const);
  try {
    let iters = 16;
    for (;;) {
      const t = await time(() => recordFma(dummy, dst, invocations, iters), { warmup: 1, runs: 1 });
      if (t.medianMs >= targetMs || iters >= 1 << 16) break;
      // Jump most of the way at once, but never by more than 16x (the first runs include start-up noise).
      iters *= Math.min(16, Math.max(2, 2 ** Math.floor(Math.log2(targetMs / Math.max(t.medianMs, 1e-3)))));
    }
    const gflop = (invocations * iters * FLOPS_PER_ITER) / 1e9;
    const timing = await time(() => recordFma(dummy, dst, invocations, iters), { warmup: 1, runs });
    return { value: gflop / (timing.minMs / 1000), medianValue: gflop / (timing.medianMs / 1000), unit: 'GFLOP/s', timing, shape: `${invocations} invocations x ${iters} iterations x 8 vec4 fma`, work: gflop };
  } finally {
    dummy.dispose();
    dst.dispose();
  }
}

/** Measured peak GB/s: `reps` copies of a copyBytes buffer per timed run (ping-pong), read + write bytes counted. */
export async function copyPeak({ runs = 5, copyBytes = 64 << 20 }: PeakOptions = {}, reps = 4): Promise<Peak> {
  const vec4s = Math.floor(copyBytes / 16);
  const a = empty([vec4s * 4] as const);
  const b = empty([vec4s * 4] as const);
  try {
    const run = () => {
      for (let r = 0; r < reps; r++) recordCopy(r % 2 ? b : a, r % 2 ? a : b, vec4s);
    };
    const gb = (reps * 2 * vec4s * 16) / 1e9;
    const timing = await time(run, { warmup: 1, runs });
    return { value: gb / (timing.minMs / 1000), medianValue: gb / (timing.medianMs / 1000), unit: 'GB/s', timing, shape: `${reps} x copy of ${(vec4s * 16) / (1 << 20)} MiB (vec4, ${COPY_PER_INVOCATION} per invocation)`, work: gb };
  } finally {
    a.dispose();
    b.dispose();
  }
}
