// Dawn's event pump (device.ts): on a software adapter its self-re-queuing native callback sleeps
// (Atomics.wait, growing with the wait) instead of spinning through setImmediate; JS callbacks are
// untouched.
import { describe, it, expect, afterEach } from 'vitest';
import { promisify } from 'node:util';
import { gpu, pumpPoll, setPumpPoll, randUniform, matmul, sync, tidy, type Tensor, type Shape2 } from '@fer/tensor';
import { useGpu } from '../setup-gpu.js';

useGpu();

/**
 * Runs GPU work long enough to keep a promise pending for tens of ms (12 matmuls: 384^2 on a CPU
 * adapter, 2048^2 on a GPU); the pump's sleeps meanwhile (ms each).
 */
async function pumpSleeps(): Promise<number[]> {
  const n = gpu().info.software ? 384 : 2048;
  const a = randUniform([n, n] as const, -1, 1, { seed: 1 }) as Tensor<Shape2>;
  const realWait = Atomics.wait;
  const sleeps: number[] = [];
  Atomics.wait = ((ta: Int32Array, i: number, v: number, ms?: number) => {
    sleeps.push(ms ?? Infinity);
    return realWait(ta, i, v, ms);
  }) as typeof Atomics.wait;
  try {
    tidy(() => {
      let x = a;
      for (let i = 0; i < 12; i++) x = matmul(x, a);
      return x;
    }).dispose();
    await sync();
  } finally {
    Atomics.wait = realWait;
    a.dispose();
  }
  return sleeps;
}

describe("Dawn's event pump", () => {
  let saved: number | null = null;
  afterEach(() => {
    if (saved !== null) setPumpPoll(saved);
    saved = null;
  });

  it('polls every 1 ms on a software adapter and every turn on hardware by default', () => {
    expect(pumpPoll()).toBe(gpu().info.software ? 1 : 0);
  });

  it('with a poll interval, the pump sleeps between polls, growing up to the interval', async () => {
    // A cap of 5 ms is reached only after 80 ms of waiting, so a late first poll on a loaded machine
    // (CI shares its 2 cores) cannot already sleep the cap (0.5 ms was reached after 8 ms and failed so).
    saved = setPumpPoll(5);
    const sleeps = await pumpSleeps();
    expect(sleeps.length).toBeGreaterThan(3);
    expect(Math.max(...sleeps)).toBeLessThanOrEqual(5);
    expect(sleeps[sleeps.length - 1]!).toBeGreaterThan(sleeps[0]!);
  });

  it('with interval 0 the pump runs on every turn (never sleeps)', async () => {
    saved = setPumpPoll(0);
    expect(await pumpSleeps()).toEqual([]);
  });

  it('JS callbacks of setImmediate still run at once, with their arguments, and promisify works', async () => {
    saved = setPumpPoll(5);
    const got = await new Promise<number[]>((resolve) => setImmediate((a: number, b: number) => resolve([a, b]), 3, 4));
    expect(got).toEqual([3, 4]);
    expect(await promisify(setImmediate)('v')).toBe('v');
  });

  it('refuses a bad interval, naming where it came from', () => {
    expect(() => setPumpPoll(-1)).toThrow(/setPumpPoll: the GPU poll interval must be a number of ms in \[0, 1000\], got -1/);
    expect(() => setPumpPoll(Number.NaN, "env FER_GPU_POLL_MS='x'")).toThrow(/env FER_GPU_POLL_MS='x'/);
    expect(pumpPoll()).toBe(gpu().info.software ? 1 : 0);
  });
});
