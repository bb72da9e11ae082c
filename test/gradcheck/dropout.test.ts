import { describe, expect, it, afterAll } from 'vitest';
import { Rng, dropout, dropoutMask, tensor, ones, zeros, sum, mul, tidy, shapeSize, setLaneRuns, type Shape } from '@fer/tensor';
import { gradCheck, randomArray, expectClose } from './harness.js';
import { dropoutMaskRef, dropoutRef } from './reference/dropout.js';
import { useGpu } from '../setup-gpu.js';

useGpu();

// out = x * m with m in {0, 1/(1-p)} (f32): one rounding per element, and the op is linear in x.
const FWD = { atol: 1e-6, rtol: 1e-6 };
const GRAD = { atol: 1e-4, rtol: 1e-4 };

async function maskOf(shape: Shape, p: number, seed: number): Promise<Float32Array> {
  const m = dropoutMask(shape, p, seed);
  const a = (await m.toArray()) as Float32Array;
  m.dispose();
  return a;
}

describe('dropout mask', () => {
  afterAll(() => setLaneRuns(null));
  it('is the prelude hash: uniform01(seed, i) >= p, bit for bit', async () => {
    for (const [p, seed] of [
      [0.5, 0],
      [0.25, 12345],
      [0.9, 0xffffffff],
    ] as const)
      // 3000 elements run main4 (vec4s: 3 workgroups, the last partial), with lanes interleaved and
      // in runs; 2999 the scalar main.
      for (const [n, runs] of [[3000, false], [3000, true], [2999, null]] as const) {
        setLaneRuns(runs);
        expect(Array.from(await maskOf([n], p, seed)), `${n} elements, lane runs ${runs}`).toEqual(Array.from(dropoutMaskRef(n, p, seed)));
      }
    setLaneRuns(null);
  });

  it('is deterministic per seed and differs between seeds', async () => {
    const shape = [64, 100] as const;
    const a = await maskOf(shape, 0.5, 7);
    const b = await maskOf(shape, 0.5, 7);
    const c = await maskOf(shape, 0.5, 8);
    expect(Array.from(a)).toEqual(Array.from(b));
    // Two independent p = 0.5 masks disagree on about half of the 6400 elements.
    let differ = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== c[i]) differ++;
    expect(differ).toBeGreaterThan(0.4 * a.length);
    expect(differ).toBeLessThan(0.6 * a.length);
    // The op uses the same mask as dropoutMask.
    const y = dropout(ones(shape), 0.5, { training: true, seed: 7 });
    expect(Array.from(await y.toArray())).toEqual(Array.from(a));
    y.dispose();
  });

  it('drops a fraction near p and keeps the expected value (100k elements)', async () => {
    const n = 100_000;
    for (const p of [0.1, 0.3, 0.5, 0.9]) {
      const x = ones([n] as const);
      const y = dropout(x, p, { training: true, seed: 99 });
      const v = await y.toArray();
      let dropped = 0;
      let total = 0;
      let badKept = 0;
      const scale = Math.fround(1 / (1 - p));
      for (const e of v) {
        if (e === 0) dropped++;
        else if (e !== scale) badKept++;
        total += e;
      }
      expect(badKept, 'kept values are x / (1 - p)').toBe(0);
      // Binomial: std of the dropped fraction sqrt(p(1-p)/n) <= 0.0016, so 1% is over 6 std.
      expect(Math.abs(dropped / n - p)).toBeLessThan(0.01);
      // Mean of the output: std sqrt(p / ((1-p) n)) (0.0095 at p = 0.9); allow 5 std.
      expect(Math.abs(total / n - 1)).toBeLessThan(5 * Math.sqrt(p / ((1 - p) * n)));
      x.dispose();
      y.dispose();
    }
  });
});

describe('dropout gradcheck', () => {
  const rng = new Rng(31);
  for (const shape of [[1], [3, 5], [2, 3, 7, 5], [1000], [7, 151]] as const)
    for (const p of [0.2, 0.5]) {
      const seed = rng.nextU32();
      it(`${shape} p=${p}`, async () => {
        const n = shapeSize(shape);
        // Reference with the mask read back from the GPU.
        const mask = await maskOf(shape, p, seed);
        return gradCheck({
          name: `dropout ${shape} p=${p}`,
          inputs: [{ data: randomArray(n, rng), shape }],
          gpu: ([x]) => dropout(x!, p, { training: true, seed }),
          ref: ([x]) => dropoutRef(x!, mask),
          forwardTol: FWD,
          gradTol: GRAD,
        });
      });
    }
});

describe('dropout identity and errors', () => {
  it('eval mode and p = 0 return x itself, and gradients pass through', async () => {
    const x = tensor([1, -2, 3], [3] as const, { requiresGrad: true });
    expect(dropout(x, 0.5, { training: false, seed: 1 })).toBe(x);
    expect(dropout(x, 0, { training: true, seed: 1 })).toBe(x);
    tidy(() => {
      const y = dropout(x, 0.5, { training: false, seed: 1 });
      sum(mul(y, tensor([4, 5, 6], [3] as const))).backward();
    });
    expectClose(await x.grad!.toArray(), [4, 5, 6], FWD, 'eval grad');
    x.grad!.dispose();
    x.dispose();
  });

  it('training on an empty tensor gives an empty tensor', () => {
    expect(dropout(zeros([0, 4] as const), 0.5, { training: true, seed: 3 }).shape).toEqual([0, 4]);
  });

  it('rejects p outside [0, 1), bad seeds, missing options, bad dtype and disposed tensors', () => {
    const x = zeros([4] as const);
    expect(() => dropout(x, 1, { training: true, seed: 0 })).toThrow('dropout: p must be in [0, 1), got 1');
    expect(() => dropout(x, -0.1, { training: true, seed: 0 })).toThrow(/p must be in \[0, 1\), got -0.1/);
    expect(() => dropout(x, Number.NaN, { training: false, seed: 0 })).toThrow(/got NaN/);
    expect(() => dropout(x, 0.5, { training: true, seed: 1.5 })).toThrow(/seed must be an integer, got 1.5/);
    expect(() => dropout(x, 0.5, undefined as unknown as { training: boolean; seed: number })).toThrow(/options/);
    expect(() => dropout(zeros([4] as const, { dtype: 'u32' }), 0.5, { training: true, seed: 0 })).toThrow(/expected a f32 tensor/);
    expect(() => dropoutMask([4], 1.5, 0)).toThrow(/dropoutMask: p must be in \[0, 1\)/);
    const d = zeros([4] as const);
    d.dispose();
    expect(() => dropout(d, 0.5, { training: true, seed: 0 })).toThrow(/disposed/);
    x.dispose();
  });
});
