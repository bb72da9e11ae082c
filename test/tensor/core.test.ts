import { describe, it, expect } from 'vitest';
import {
  tensor, zeros, ones, full, randNormal, randUniform, heNormal, glorotUniform, tidy, keep, noGrad, memory,
  add, mul, relu, sum, mean, scale, Rng, Tensor, initDevice, releaseDevice, sizeClass, dispatchStats, trimPool,
} from '@fer/tensor';
import { useGpu } from '../setup-gpu.js';

useGpu();

describe('tensor creation and readback', () => {
  it('round-trips f32, i32 and u32 data', async () => {
    const f = tensor([1.5, -2, 3.25], [3]);
    expect(Array.from(await f.toArray())).toEqual([1.5, -2, 3.25]);
    const i = tensor([-1, 2, 7], [3], { dtype: 'i32' });
    expect(i.dtype).toBe('i32');
    expect(Array.from(await i.toArray())).toEqual([-1, 2, 7]);
    const u = tensor(new Uint32Array([4000000000, 1]), [2]);
    expect(u.dtype).toBe('u32');
    expect(Array.from(await u.toArray())).toEqual([4000000000, 1]);
    for (const t of [f, i, u]) t.dispose();
  });

  it('zeros, ones, full', async () => {
    expect(Array.from(await zeros([2, 2]).toArray())).toEqual([0, 0, 0, 0]);
    expect(Array.from(await ones([3]).toArray())).toEqual([1, 1, 1]);
    expect(Array.from(await full([2], 7, { dtype: 'i32' }).toArray())).toEqual([7, 7]);
    // Filled on the GPU from the value's bit pattern: f32 rounding, signs, the u32 range, more than one workgroup.
    expect(Array.from(await full([3], 0.1).toArray())).toEqual([Math.fround(0.1), Math.fround(0.1), Math.fround(0.1)]);
    expect(Object.is((await full([1], -0).toArray())[0], -0)).toBe(true);
    expect(Array.from(await full([2], -5, { dtype: 'i32' }).toArray())).toEqual([-5, -5]);
    expect(Array.from(await full([2], 4000000000, { dtype: 'u32' }).toArray())).toEqual([4000000000, 4000000000]);
    const big = await full([1000], 2.5).toArray();
    expect(big.length === 1000 && big.every((v) => v === 2.5)).toBe(true);
    expect(full([0], 3).size).toBe(0);
    expect(() => full([2], 1.5, { dtype: 'i32' })).toThrow(/full: value 1.5 is not a valid i32/);
    expect(() => full([2], -1, { dtype: 'u32' })).toThrow(/full: value -1 is not a valid u32/);
  });

  it('full() is recorded in the command stream: a fill between dispatches does not end the command buffer', async () => {
    const x = ones([8]);
    await x.toArray();
    const s0 = dispatchStats();
    const y = tidy(() => add(relu(x), full([8], 2)));
    const s1 = dispatchStats();
    expect(s1.submits - s0.submits).toBe(0);
    expect(Array.from(await y.toArray())).toEqual(new Array(8).fill(3));
    x.dispose();
    y.dispose();
  });

  it('seeded random init is reproducible and has the right spread', async () => {
    const a = Array.from(await randNormal([4000], 0, 2, { seed: 3 }).toArray());
    const b = await randNormal([4000], 0, 2, { seed: 3 }).toArray();
    const c = await randNormal([4000], 0, 2, { seed: 4 }).toArray();
    expect(a).toEqual(Array.from(b));
    expect(a).not.toEqual(Array.from(c));
    const m = a.reduce((s, v) => s + v, 0) / a.length;
    const sd = Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / a.length);
    expect(Math.abs(m)).toBeLessThan(0.15);
    expect(Math.abs(sd - 2)).toBeLessThan(0.1);
    const u = Array.from(await randUniform([4000], -1, 3, { seed: 1 }).toArray());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...u)).toBeLessThan(3);
    const he = Array.from(await heNormal([64, 9], 50, { seed: 2 }).toArray());
    const heSd = Math.sqrt(he.reduce((s, v) => s + v * v, 0) / he.length);
    expect(Math.abs(heSd - Math.sqrt(2 / 50)) / Math.sqrt(2 / 50)).toBeLessThan(0.1);
    const gl = Array.from(await glorotUniform([100, 100], 100, 100, { seed: 2 }).toArray());
    expect(Math.max(...gl.map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / 200));
  });

  it('reshape and flatten are views of the same buffer', async () => {
    const t = tensor([1, 2, 3, 4, 5, 6], [1, 2, 3]);
    const v = t.reshape([3, 2] as const);
    expect(v.shape).toEqual([3, 2]);
    expect(v.buffer).toBe(t.buffer);
    expect(t.reshape([-1] as const).shape).toEqual([6]);
    const f = t.flatten();
    expect(f.shape).toEqual([1, 6]);
    // The buffer lives while any view does.
    t.dispose();
    expect(Array.from(await v.toArray())).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('rng state round-trips', () => {
    const r = new Rng(9);
    r.next();
    const s = r.getState();
    const x = [r.next(), r.next()];
    r.setState(s);
    expect([r.next(), r.next()]).toEqual(x);
  });

  it('size classes waste under half', () => {
    for (const b of [1, 255, 256, 257, 1000, 4096, 5000, 1 << 20, 3 << 19, (3 << 19) + 4]) {
      const c = sizeClass(b);
      expect(c).toBeGreaterThanOrEqual(b);
      expect(c).toBeLessThan(Math.max(257, b * 1.5 + 4));
    }
  });
});

describe('autograd', () => {
  it('accumulates gradients over two backward passes', async () => {
    const x = tensor([1, 2, 3], [3], { requiresGrad: true });
    for (let k = 0; k < 2; k++) tidy(() => sum(mul(x, x)).backward());
    expect(Array.from(await x.grad!.toArray())).toEqual([4, 8, 12]);
  });

  it('a tensor used twice gets the sum of both paths', async () => {
    const x = tensor([1, -2], [2], { requiresGrad: true });
    tidy(() => sum(add(scale(x, 3), relu(x))).backward());
    expect(Array.from(await x.grad!.toArray())).toEqual([4, 3]);
  });

  it('noGrad records nothing', () => {
    const x = tensor([1], [1], { requiresGrad: true });
    const y = noGrad(() => mul(x, x));
    expect(y.requiresGrad).toBe(false);
    expect(y.node).toBeNull();
  });

  it('a second backward through a freed graph is an error', () => {
    const x = tensor([1, 2], [2], { requiresGrad: true });
    const loss = sum(mul(x, x));
    loss.backward();
    expect(() => loss.backward()).toThrow(/already freed by an earlier backward/);
  });

  it('releases the graph after backward', () => {
    const x = tensor([1, 2], [2], { requiresGrad: true });
    const y = scale(x, 2);
    const loss = sum(y);
    loss.backward();
    expect(loss.node).toBeNull();
    expect(y.node).toBeNull();
  });
});

describe('bad input', () => {
  it('wrong data length names both sizes', () => {
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow(/3 values given for shape \[2, 2\] \(4 expected\)/);
  });
  it('negative or fractional shapes', () => {
    expect(() => zeros([2, -1])).toThrow(/non-negative integers/);
    expect(() => zeros([1.5])).toThrow(/non-negative integers/);
  });
  it('non-integer data for an integer dtype', () => {
    expect(() => tensor([1.5], [1], { dtype: 'i32' })).toThrow(/not a valid i32/);
  });
  it('shape mismatch prints both shapes', () => {
    expect(() => add(zeros([2, 3]), zeros([3, 2]))).toThrow(/\[2, 3\] vs \[3, 2\]/);
  });
  it('wrong dtype', () => {
    expect(() => relu(zeros([2], { dtype: 'i32' }))).toThrow(/expected a f32 tensor, got .*i32\[2\]/);
  });
  it('a disposed tensor used again', async () => {
    const t = ones([2]);
    t.dispose();
    expect(() => relu(t)).toThrow(/was disposed/);
    await expect(t.toArray()).rejects.toThrow(/was disposed/);
  });
  it('backward on a non-scalar', () => {
    const x = ones([3], { requiresGrad: true });
    expect(() => mul(x, x).backward()).toThrow(/needs a scalar loss .*got shape \[3\]/);
  });
  it('backward on a tensor that needs no grad', () => {
    expect(() => sum(ones([3])).backward()).toThrow(/does not require grad/);
  });
  it('bad reshape', () => {
    expect(() => ones([2, 3]).reshape([4, 2])).toThrow(/cannot view .*\[2, 3\].* as \[4, 2\]/);
  });
  it('tidy refuses an async function', () => {
    expect(() => tidy(async () => 1)).toThrow(/synchronous/);
  });
});

describe('memory', () => {
  it('tidy disposes intermediates and keeps results', () => {
    const before = memory().liveBuffers;
    const x = ones([16]);
    const kept = tidy(() => {
      const a = scale(x, 2);
      const b = add(a, x);
      keep(scale(b, 1));
      return mul(b, b);
    });
    // x, the kept tensor and the returned one.
    expect(memory().liveBuffers - before).toBe(3);
    kept.dispose();
    x.dispose();
  });

  it('tidy frees what it made when its function throws', () => {
    const before = memory().liveBuffers;
    const x = ones([8]);
    expect(() =>
      tidy(() => {
        scale(x, 2);
        scale(x, 3);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(memory().liveBuffers - before).toBe(1);
    x.dispose();
  });

  it('sum and mean outside tidy free their buffer on dispose', () => {
    const x = ones([3, 4]);
    const before = memory().liveBuffers;
    const s = sum(x);
    const m = mean(x, 1);
    expect(memory().liveBuffers - before).toBe(2);
    s.dispose();
    m.dispose();
    expect(memory().liveBuffers).toBe(before);
    x.dispose();
  });

  it('live-buffer count is flat over 200 training-like steps', async () => {
    const w = randNormal([64, 32], 0, 0.1, { seed: 1, requiresGrad: true });
    const x = randNormal([64, 32], 0, 1, { seed: 2 });
    const counts: number[] = [];
    for (let step = 0; step < 200; step++) {
      const lossValue = tidy(() => {
        const loss = mean(mul(relu(mul(w, x)), x));
        loss.backward();
        return loss;
      });
      if (step % 50 === 49) {
        await lossValue.item();
        counts.push(memory().liveBuffers);
      }
      lossValue.dispose();
      // The optimizer would consume the grad here.
      w.grad?.dispose();
      w.grad = null;
    }
    expect(new Set(counts).size).toBe(1);
    expect(memory().pooledBuffers).toBeLessThan(50);
  });

  it('trimPool frees the pooled buffers and keeps live ones', async () => {
    const live = ones([1000]);
    for (let i = 0; i < 5; i++) tidy(() => scale(live, 2));
    expect(memory().pooledBuffers).toBeGreaterThan(0);
    trimPool();
    expect(memory().pooledBuffers).toBe(0);
    expect(memory().pooledBytes).toBe(0);
    expect(Array.from(await live.toArray()).every((v) => v === 1)).toBe(true);
    live.dispose();
  });

  it('batches dispatches into few submits', async () => {
    const x = ones([100]);
    const s0 = dispatchStats();
    const y = tidy(() => {
      let t = x;
      for (let i = 0; i < 20; i++) t = scale(t, 1);
      return t;
    });
    await y.toArray();
    const s1 = dispatchStats();
    expect(s1.dispatches - s0.dispatches).toBe(20);
    expect(s1.submits - s0.submits).toBeLessThanOrEqual(2);
  });
});

describe('devices', () => {
  it('refuses tensors of another device', async () => {
    const old = ones([2]);
    releaseDevice();
    await initDevice();
    expect(() => relu(old)).toThrow(/lives on device #\d+, but the op runs on device #\d+/);
    // Its buffer died with the old device: disposing it must not hand it to the new device's pool.
    const pooled = memory().pooledBuffers;
    old.dispose();
    expect(memory().pooledBuffers).toBe(pooled);
    expect(Array.from(await relu(ones([2])).toArray())).toEqual([1, 1]);
    expect(old).toBeInstanceOf(Tensor);
  });
});

describe('default random stream', () => {
  it('unseeded calls differ; manualSeed makes them reproducible', async () => {
    const { manualSeed } = await import('@fer/tensor');
    manualSeed(5);
    const a = Array.from(await randNormal([6]).toArray());
    const b = Array.from(await randNormal([6]).toArray());
    expect(a).not.toEqual(b);
    manualSeed(5);
    expect(Array.from(await randNormal([6]).toArray())).toEqual(a);
  });
});
