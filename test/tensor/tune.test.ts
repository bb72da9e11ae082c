import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  autotune, conv2d, gpu, hasSubgroups8, matmul, noGrad, pendingTunes, resetTuning, setConvForwardVariant, setConvVariant,
  sum, tensor, tidy, timeCandidates, choose, defaultTuneTimer, startProfile, stopProfile, profiling, randNormal, tuneCachePath, tuneState, type Shape4, type Tensor,
} from '@fer/tensor';
import { useGpu } from '../setup-gpu.js';
import { expectClose } from '../gradcheck/harness.js';

useGpu();

// The suite runs with FER_TUNE=0 (vitest.config.ts); here the tuner is on, with a temporary cache.
let dir = '';
const saved = { tune: process.env['FER_TUNE'], cache: process.env['FER_TUNE_CACHE'] };
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fer-tune-'));
  process.env['FER_TUNE'] = '1';
  process.env['FER_TUNE_CACHE'] = dir;
  resetTuning();
});
afterAll(() => {
  process.env['FER_TUNE'] = saved.tune;
  if (saved.cache === undefined) delete process.env['FER_TUNE_CACHE'];
  else process.env['FER_TUNE_CACHE'] = saved.cache;
  resetTuning();
  rmSync(dir, { recursive: true, force: true });
});

function data(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin(i * 0.37 + seed) * 0.5;
  return a;
}

/** conv2d forward + both gradients on a small 'same' 5x5 layer; returns the three results. */
async function convStep(): Promise<Float32Array[]> {
  const x = tensor(data(2 * 3 * 9 * 10, 1), [2, 3, 9, 10] as const, { requiresGrad: true });
  const w = tensor(data(6 * 3 * 5 * 5, 2), [6, 3, 5, 5] as const, { requiresGrad: true });
  const y = tidy(() => {
    const out = conv2d(x as Tensor<Shape4>, w as Tensor<Shape4>, null, { padding: 'same' });
    sum(out).backward();
    return out;
  });
  const r = [await y.toArray(), await x.grad!.toArray(), await w.grad!.toArray()] as Float32Array[];
  for (const t of [y, x.grad!, w.grad!, x, w]) t.dispose();
  return r;
}

describe('autotune', () => {
  it('queues new shapes, times every candidate, keeps the fastest and caches it on disk', async () => {
    const software = gpu().info.software;
    // Whether this adapter has a real choice for the conv passes (see conv2d.ts).
    const hasChoice = hasSubgroups8() || !software;
    const before = await convStep();
    const queued = pendingTunes();
    if (!hasChoice) {
      expect(queued).toBe(0);
      return;
    }
    expect(queued).toBeGreaterThan(0);
    const results = await autotune({ runs: 1 });
    expect(results.length).toBe(queued);
    expect(pendingTunes()).toBe(0);
    for (const r of results) {
      expect(Object.keys(r.timings).length).toBeGreaterThan(1);
      expect(Object.keys(r.timings)).toContain(r.chosen);
      for (const t of Object.values(r.timings)) expect(t).toBeGreaterThan(0);
      expect(r.chosen).toBe(Object.entries(r.timings).sort((a, b) => a[1] - b[1])[0]![0]);
    }
    const file = tuneCachePath();
    expect(file.startsWith(dir)).toBe(true);
    const cached = JSON.parse(readFileSync(file, 'utf8')) as { choices: Record<string, string> };
    for (const r of results) {
      expect(r.candidates).toEqual(Object.keys(r.timings));
      expect(cached.choices[`${r.op}|${r.key}|${r.candidates.join(',')}`]).toBe(r.chosen);
    }

    // A fresh process (simulated by forgetting the in-memory choices) reads them back and queues nothing.
    resetTuning();
    const after = await convStep();
    expect(pendingTunes()).toBe(0);
    expect(tuneState().file).toBe(file);
    // The tuned kernels compute the same convolution (every candidate is gradchecked elsewhere).
    const tol = { atol: 1e-4, rtol: 1e-4 };
    for (let i = 0; i < 3; i++) expectClose(after[i]!, before[i]!, tol, `result ${i}`);
  });

  it('a cached choice holds for the candidates it was chosen from: a new candidate re-tunes that shape only', async () => {
    resetTuning();
    const ran: string[] = [];
    // Trials that record real work (a tiny scale), so that both timers see a dispatch.
    const trial = () => {
      const x = tensor(data(64, 5), [64] as const);
      return { run: (v: string) => { ran.push(v); noGrad(() => sum(x)).dispose(); }, dispose: () => x.dispose() };
    };
    expect(choose('test.op', 'shape1', ['a', 'b'], 'a', trial)).toBe('a');
    expect(choose('test.op', 'shape2', ['a', 'b'], 'a', trial)).toBe('a');
    expect(pendingTunes()).toBe(2);
    const first = await autotune({ runs: 1 });
    expect(first.map((r) => r.key)).toEqual(['shape1', 'shape2']);
    const chosen2 = first[1]!.chosen;
    // Same candidates: the cached choices, nothing queued (also after a fresh read of the file).
    resetTuning();
    expect(choose('test.op', 'shape2', ['a', 'b'], 'a', trial)).toBe(chosen2);
    expect(pendingTunes()).toBe(0);
    // shape1 gains a candidate: the fallback until it is tuned again; shape2 keeps its choice.
    expect(choose('test.op', 'shape1', ['a', 'b', 'c'], 'a', trial)).toBe('a');
    expect(pendingTunes()).toBe(1);
    ran.length = 0;
    const again = await autotune({ runs: 1 });
    expect(again.map((r) => [r.key, r.candidates])).toEqual([['shape1', ['a', 'b', 'c']]]);
    expect(new Set(ran)).toEqual(new Set(['a', 'b', 'c']));
    expect(choose('test.op', 'shape1', ['a', 'b', 'c'], 'a', trial)).toBe(again[0]!.chosen);
    expect(choose('test.op', 'shape2', ['a', 'b'], 'a', trial)).toBe(chosen2);
    expect(pendingTunes()).toBe(0);
  });

  it('forced variants bypass the tuner', async () => {
    resetTuning();
    setConvForwardVariant('rows');
    const prev = setConvVariant('cpu');
    try {
      await convStep();
      expect(pendingTunes()).toBe(0);
    } finally {
      setConvForwardVariant(null);
      setConvVariant(prev);
    }
  });

  it('ignores an unreadable cache file and overwrites it with valid choices', async () => {
    resetTuning();
    const file = tuneCachePath();
    writeFileSync(file, '{ not json');
    const a = tensor(data(40 * 36, 3), [40, 36] as const);
    const b = tensor(data(36 * 20, 4), [36, 20] as const);
    noGrad(() => matmul(a, b)).dispose();
    const queued = pendingTunes();
    if (hasSubgroups8()) expect(queued).toBe(1);
    await autotune({ runs: 1 });
    if (queued > 0) expect(JSON.parse(readFileSync(file, 'utf8')).choices).toBeTypeOf('object');
    else expect(existsSync(file)).toBe(true);
    a.dispose();
    b.dispose();
  });
});

// timeCandidates on a virtual clock: each run() advances it by the candidate's cost, so the timings
// and the order of runs are exact, whatever the machine's load.
describe('timeCandidates', () => {
  function fakeTrial(cost: (v: string, now: number) => number) {
    const clock = { now: 0 };
    const calls: string[] = [];
    const trial = { run: (v: string) => { calls.push(v); clock.now += cost(v, clock.now); }, dispose: () => {} };
    return { trial, calls, clock: () => clock.now };
  }

  it('times each run exactly, repeating short trials within a sample, and alternates the candidates', async () => {
    const costs: Record<string, number> = { a: 0.25, b: 0.5, c: 4 };
    const { trial, calls, clock } = fakeTrial((v) => costs[v]!);
    const t = await timeCandidates(trial, ['a', 'b', 'c'], { runs: 3, clock, timer: 'wall' });
    expect(t).toEqual(costs);
    // Round 0 runs each once; then a 0.25 ms trial repeats 8 times per 2 ms sample, 0.5 ms 4 times, 4 ms once.
    expect(calls.slice(0, 3)).toEqual(['a', 'b', 'c']);
    expect(calls.slice(3, 3 + 4 + 1 + 8)).toEqual([...Array(4).fill('b'), 'c', ...Array(8).fill('a')]);
    const rounds = calls.filter((v) => v === 'c').length;
    expect(rounds).toBe(10); // the budget (150 ms each) outlasts 10 rounds of ~6 ms
    expect(calls.filter((v) => v === 'a').length).toBe(1 + 8 * (rounds - 1));
  });

  it('a passing slowdown does not decide the choice', async () => {
    // 'fast' really takes 0.3 ms and 'slow' 0.6 ms, but every run in the first 40 ms takes 3 ms more.
    // Timed back to back, all of fast's samples would fall in that window (and slow would win).
    const costs: Record<string, number> = { fast: 0.3, slow: 0.6 };
    const { trial, clock } = fakeTrial((v, now) => costs[v]! + (now < 40 ? 3 : 0));
    const t = await timeCandidates(trial, ['fast', 'slow'], { runs: 3, clock, timer: 'wall' });
    expect(t['fast']).toBeCloseTo(0.3, 9);
    expect(t['slow']).toBeCloseTo(0.6, 9);
  });

  it('runs at least `runs` rounds, more while the budget lasts', async () => {
    const { trial, calls, clock } = fakeTrial(() => 100);
    await timeCandidates(trial, ['a', 'b'], { runs: 2, clock, timer: 'wall' });
    // 100 ms runs: 2 rounds (400 ms) pass the 300 ms budget, so no third.
    expect(calls).toEqual(['a', 'b', 'b', 'a']);
  });

  it('times by GPU timestamps where asked: every candidate gets a time, and no profile is left running', async () => {
    if (!gpu().device.features.has('timestamp-query')) return expect(defaultTuneTimer()).toBe('wall');
    const a = randNormal([64, 256] as const, 0, 1, { seed: 1 });
    const b = randNormal([256, 64] as const, 0, 1, { seed: 2 });
    const runs: string[] = [];
    const trial = {
      // 'one' multiplies once, 'four' four times: more GPU work, so more GPU time.
      run: (v: string) => {
        runs.push(v);
        for (let i = 0; i < (v === 'four' ? 4 : 1); i++) noGrad(() => matmul(a, b)).dispose();
      },
      dispose: () => {},
    };
    const t = await timeCandidates(trial, ['one', 'four'], { runs: 3, timer: 'gpu' });
    expect(profiling()).toBe(false);
    expect(Object.keys(t).sort()).toEqual(['four', 'one']);
    for (const ms of Object.values(t)) {
      expect(Number.isFinite(ms)).toBe(true);
      expect(ms).toBeGreaterThan(0);
    }
    expect(runs.filter((v) => v === 'one').length).toBeGreaterThanOrEqual(3);
    a.dispose();
    b.dispose();
  });

  it('the default timer: the wall clock on software adapters and inside a running profile', async () => {
    if (gpu().info.software) expect(defaultTuneTimer()).toBe('wall');
    if (!gpu().device.features.has('timestamp-query')) return;
    startProfile();
    expect(defaultTuneTimer()).toBe('wall');
    await stopProfile();
  });
});
