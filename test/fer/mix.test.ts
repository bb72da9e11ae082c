// Mixup / CutMix of training batches (data/mix.ts) and the Beta sampling behind them (Rng.beta).
import { describe, it, expect } from 'vitest';
import { Rng } from '@fer/tensor';
import { Batcher } from '../../packages/fer/src/data/batches.js';
import { MIX_DEFAULTS, mixBatch, mixes, validateMix, type MixConfig } from '../../packages/fer/src/data/mix.js';

const P = 48 * 48;
const C = 7;

function moments(xs: number[]): { mean: number; variance: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, variance: xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length };
}

/** count distinct images: image i has pixel p = i + p / P (so every pixel tells where it came from). */
function batch(count: number): Float32Array {
  const x = new Float32Array(count * P);
  for (let i = 0; i < count; i++) for (let p = 0; p < P; p++) x[i * P + p] = i + p / P;
  return x;
}

function buffers(count: number) {
  return { targets: new Float32Array(count * C), dominant: new Int32Array(count), scratch: new Float32Array(count * P) };
}

const cfg = (over: Partial<MixConfig>): MixConfig => ({ ...MIX_DEFAULTS, ...over });

describe('Rng.gamma and Rng.beta', () => {
  it('have the moments of their distributions (20,000 draws, seeded)', () => {
    const rng = new Rng(11);
    for (const k of [0.3, 1, 2.5]) {
      const m = moments(Array.from({ length: 20000 }, () => rng.gamma(k)));
      // Gamma(k, 1): mean k, variance k.
      expect(m.mean).toBeGreaterThan(k * 0.95);
      expect(m.mean).toBeLessThan(k * 1.05);
      expect(m.variance).toBeGreaterThan(k * 0.9);
      expect(m.variance).toBeLessThan(k * 1.1);
    }
    for (const [a, b] of [[0.4, 0.4], [1, 1], [2, 5]] as const) {
      const xs = Array.from({ length: 20000 }, () => rng.beta(a, b));
      expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...xs)).toBeLessThanOrEqual(1);
      const m = moments(xs);
      const mean = a / (a + b);
      const variance = (a * b) / ((a + b) ** 2 * (a + b + 1));
      expect(Math.abs(m.mean - mean)).toBeLessThan(0.01);
      expect(m.variance).toBeGreaterThan(variance * 0.93);
      expect(m.variance).toBeLessThan(variance * 1.07);
    }
    expect(() => rng.gamma(0)).toThrow(/shape must be a positive number, got 0/);
  });
});

describe('mixBatch', () => {
  const labels = Int32Array.from([0, 1, 2, 3, 4]);

  it('Mixup: every pixel is lam * its own + (1 - lam) * its pair (the reversed batch), and so are the targets', () => {
    const n = 5;
    const x = batch(n);
    const b = buffers(n);
    const r = mixBatch(x, labels, n, cfg({ mixup: 0.4 }), new Rng(3), b.targets, b.dominant, b.scratch);
    expect(r.kind).toBe('mixup');
    expect(r.lam).toBeGreaterThan(0);
    expect(r.lam).toBeLessThan(1);
    const src = batch(n);
    for (let i = 0; i < n; i++) {
      const j = n - 1 - i;
      for (const p of [0, 1, 777, P - 1]) expect(x[i * P + p]).toBeCloseTo(r.lam * src[i * P + p]! + (1 - r.lam) * src[j * P + p]!, 5);
      const row = Array.from(b.targets.subarray(i * C, (i + 1) * C));
      expect(row.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 6);
      if (i !== j) {
        expect(row[labels[i]!]).toBeCloseTo(r.lam, 6);
        expect(row[labels[j]!]).toBeCloseTo(1 - r.lam, 6);
      } else expect(row[labels[i]!]).toBeCloseTo(1, 6); // the middle image pairs with itself
      expect(b.dominant[i]).toBe(r.lam >= 0.5 ? labels[i] : labels[j]);
    }
  });

  it('CutMix: the box comes from the pair, the rest is untouched, and lam is the area kept', () => {
    const n = 4;
    const b = buffers(n);
    const rng = new Rng(8);
    let boxes = 0;
    for (let trial = 0; trial < 20; trial++) {
      const x = batch(n);
      const r = mixBatch(x, labels, n, cfg({ cutmix: 1 }), rng, b.targets, b.dominant, b.scratch);
      expect(r.kind).toBe('cutmix');
      const [y0, y1, x0, x1] = r.box;
      expect(0 <= y0 && y0 <= y1 && y1 <= 48 && 0 <= x0 && x0 <= x1 && x1 <= 48).toBe(true);
      expect(r.lam).toBeCloseTo(1 - ((y1 - y0) * (x1 - x0)) / P, 10);
      if (y1 > y0 && x1 > x0) boxes++;
      for (let i = 0; i < n; i++) {
        let fromPair = 0;
        for (let p = 0; p < P; p++) {
          const row = Math.floor(p / 48);
          const col = p % 48;
          const inBox = row >= y0 && row < y1 && col >= x0 && col < x1;
          expect(x[i * P + p]).toBe(Math.fround((inBox ? n - 1 - i : i) + p / P));
          if (inBox) fromPair++;
        }
        expect(fromPair).toBe(Math.round((1 - r.lam) * P));
        expect(b.targets[i * C + labels[i]!]).toBeCloseTo(r.lam, 6);
      }
    }
    expect(boxes).toBeGreaterThan(10);
  });

  it('both on: a batch takes one or the other; prob leaves some batches unmixed with one-hot targets', () => {
    const n = 2;
    const b = buffers(n);
    const rng = new Rng(1);
    const kinds = { none: 0, mixup: 0, cutmix: 0 };
    for (let t = 0; t < 400; t++) kinds[mixBatch(batch(n), labels, n, cfg({ mixup: 0.2, cutmix: 1, prob: 0.5 }), rng, b.targets, b.dominant, b.scratch).kind]++;
    for (const k of ['none', 'mixup', 'cutmix'] as const) expect(kinds[k]).toBeGreaterThan(60);
    expect(kinds.none).toBeGreaterThan(150);
    expect(kinds.none).toBeLessThan(250);

    const x = batch(n);
    const r = mixBatch(x, labels, n, cfg({ mixup: 1, prob: 0 }), rng, b.targets, b.dominant, b.scratch);
    expect(r).toEqual({ kind: 'none', lam: 1, box: [0, 0, 0, 0] });
    expect(x).toEqual(batch(n));
    expect(Array.from(b.targets)).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
    expect(Array.from(b.dominant)).toEqual([0, 1]);
  });

  it('checks its config and buffers, naming the flags', () => {
    expect(mixes(cfg({}))).toBe(false);
    expect(mixes(cfg({ mixup: 0.2, prob: 0 }))).toBe(false);
    expect(mixes(cfg({ cutmix: 1 }))).toBe(true);
    expect(() => validateMix(cfg({ mixup: -1 }))).toThrow(/--mixup must be a Beta parameter >= 0 \(0 = off\), got -1/);
    expect(() => validateMix(cfg({ cutmix: Number.NaN, prob: 2 }))).toThrow(/--cutmix must be .* got NaN; --mix-prob must be a probability in \[0, 1\], got 2/);
    const b = buffers(1);
    expect(() => mixBatch(batch(2), labels, 2, cfg({ mixup: 1 }), new Rng(0), b.targets, b.dominant, b.scratch)).toThrow(/buffers too small for 2 images/);
  });
});

describe('Batcher with mixing', () => {
  const data = () => {
    const n = 20;
    const images = new Uint8Array(n * P);
    for (let i = 0; i < n; i++) images.fill(i * 10, i * P, (i + 1) * P);
    return { images, labels: Uint8Array.from({ length: n }, (_, i) => i % 7), count: n };
  };

  it('yields soft targets and dominant labels, the same for the same seed; unmixed batches have none', () => {
    const run = (seed: number) => {
      const b = new Batcher(data(), { batchSize: 8, dropLast: true, mix: cfg({ mixup: 0.5, cutmix: 1 }), rng: new Rng(seed) });
      return [...b.epoch()].map((x) => ({ x: Array.from(x.x.subarray(0, 3 * P).filter((_, k) => k % 97 === 0)), y: Array.from(x.y), t: Array.from(x.targets!), kind: x.mixed!.kind }));
    };
    const a = run(4);
    expect(a).toHaveLength(2);
    expect(run(4)).toEqual(a);
    expect(run(5)).not.toEqual(a);
    for (const bt of a) {
      expect(bt.t).toHaveLength(8 * C);
      for (let i = 0; i < 8; i++) {
        const row = bt.t.slice(i * C, (i + 1) * C);
        expect(row.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 6);
        expect(row[bt.y[i]!]).toBeGreaterThanOrEqual(0.5 - 1e-6);
      }
    }
    const plain = new Batcher(data(), { batchSize: 8, mix: cfg({}), rng: new Rng(4) });
    for (const bt of plain.epoch()) expect(bt.targets).toBeUndefined();
    expect(() => new Batcher(data(), { batchSize: 8, mix: cfg({ mixup: -0.5 }), rng: new Rng(4) })).toThrow(/--mixup must be/);
  });
});
