// Dawn's event pump (device.ts): on a software adapter its self-re-queuing native callback is
// deferred with setTimeout instead of spinning through setImmediate; JS callbacks are untouched.
import { describe, it, expect, afterEach } from 'vitest';
import { promisify } from 'node:util';
import { gpu, pumpPoll, setPumpPoll, randUniform, matmul, sync, tidy, type Tensor, type Shape2 } from '@fer/tensor';
import { useGpu } from '../setup-gpu.js';

useGpu();

const isPump = (fn: unknown): boolean =>
  typeof fn === 'function' && fn.name === '' && /^function \(\) \{ \[native code\] \}$/.test(Function.prototype.toString.call(fn));

/** Runs GPU work long enough to keep a promise pending, counting the pump callbacks deferred with setTimeout. */
async function deferredPumps(): Promise<number> {
  const a = randUniform([384, 384] as const, -1, 1, { seed: 1 }) as Tensor<Shape2>;
  const realTimeout = globalThis.setTimeout;
  let deferred = 0;
  globalThis.setTimeout = ((fn: unknown, ...rest: unknown[]) => {
    if (isPump(fn)) deferred++;
    return (realTimeout as (...args: unknown[]) => unknown)(fn, ...rest);
  }) as typeof setTimeout;
  try {
    tidy(() => {
      let x = a;
      for (let i = 0; i < 12; i++) x = matmul(x, a);
      return x;
    }).dispose();
    await sync();
  } finally {
    globalThis.setTimeout = realTimeout;
    a.dispose();
  }
  return deferred;
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

  it('with a poll interval, pending GPU work is awaited through deferred pump callbacks', async () => {
    saved = setPumpPoll(1);
    expect(await deferredPumps()).toBeGreaterThan(0);
  });

  it('with interval 0 the pump runs on every turn (no deferral)', async () => {
    saved = setPumpPoll(0);
    expect(await deferredPumps()).toBe(0);
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
