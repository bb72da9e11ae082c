// Timing helpers shared by the benchmarks: warm-up excluded, queue drained around each run.
import { writeFileSync, mkdirSync } from 'node:fs';
import { gpu, sync, autotune, pendingTunes } from '@fer/tensor';

export interface Timing {
  medianMs: number;
  minMs: number;
  maxMs: number;
  runs: number;
}

export interface TimeOptions {
  warmup?: number;
  runs?: number;
  /** Waits until the recorded work has finished; our queue by default, a peer passes its own. */
  drain?: () => Promise<void>;
  /**
   * A slow kernel: when the first warm-up run takes at least this long, the other warm-ups are
   * skipped (the first one compiled the shaders) and at most `slowRuns` runs are timed. Default: never.
   */
  slowMs?: number;
  /** Timed runs of a slow kernel (default 3; never more than `runs`). */
  slowRuns?: number;
}

/** Runs `fn` (which records GPU work) `warmup` times, then `runs` timed times, draining the queue each time. */
export async function time(
  fn: () => void,
  { warmup = 2, runs = 5, drain = sync, slowMs = Infinity, slowRuns = 3 }: TimeOptions = {},
): Promise<Timing> {
  for (let i = 0; i < warmup; i++) {
    const t0 = performance.now();
    fn();
    await drain();
    const first = performance.now() - t0;
    // Our kernels: shapes met for the first time are tuned now (cached per adapter), as a training
    // run does after its first step; one more warm-up then runs the chosen kernels.
    if (i === 0 && drain === sync && pendingTunes() > 0 && (await autotune()).length > 0) {
      fn();
      await drain();
    }
    if (i === 0 && first >= slowMs) {
      runs = Math.max(1, Math.min(runs, slowRuns));
      break;
    }
  }
  // Short kernels get more runs (until ~300 ms of timed work, at most 5x `runs`): on a shared CPU a
  // single preempted run of a few ms otherwise moves the median of 3.
  const ms: number[] = [];
  let spent = 0;
  while (ms.length < runs || (spent < 300 && ms.length < 5 * runs)) {
    const t0 = performance.now();
    fn();
    await drain();
    const t = performance.now() - t0;
    ms.push(t);
    spent += t;
  }
  runs = ms.length;
  ms.sort((a, b) => a - b);
  return { medianMs: ms[Math.floor(ms.length / 2)]!, minMs: ms[0]!, maxMs: ms[ms.length - 1]!, runs };
}

export function fmt(x: number, digits = 1): string {
  return x.toFixed(digits).padStart(8);
}

/** Writes bench/results/<adapter><suffix>.json (one file per adapter, so runs on other machines sit beside it). */
export function writeResults(suffix: string, data: object): string {
  const info = gpu().info;
  const name = `${info.vendor}-${info.device || info.architecture}`.replace(/[^a-zA-Z0-9_.-]+/g, '-');
  mkdirSync(new URL('../results/', import.meta.url), { recursive: true });
  const file = new URL(`../results/${name}${suffix}.json`, import.meta.url);
  writeFileSync(file, JSON.stringify({ adapter: info, date: new Date().toISOString(), ...data }, null, 2));
  return file.pathname;
}
