// Timing helpers shared by the benchmarks: warm-up excluded, queue drained around each run.
import { sync } from '@fer/tensor';

export interface Timing {
  medianMs: number;
  minMs: number;
  maxMs: number;
  runs: number;
}

/** Runs `fn` (which records GPU work) `warmup` times, then `runs` timed times, draining the queue each time. */
export async function time(fn: () => void, { warmup = 2, runs = 5 } = {}): Promise<Timing> {
  for (let i = 0; i < warmup; i++) {
    fn();
    await sync();
  }
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    await sync();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { medianMs: ms[Math.floor(ms.length / 2)]!, minMs: ms[0]!, maxMs: ms[ms.length - 1]!, runs };
}

export function fmt(x: number, digits = 1): string {
  return x.toFixed(digits).padStart(8);
}
