import { describe, it, expect } from 'vitest';
import { Rng } from '@fer/tensor';
import {
  Batcher, classWeights, epochOrder, gatherLabels, imagesToFloat, oneHot,
} from '../../packages/fer/src/data/batches.js';
import { augmentConfig } from '../../packages/fer/src/data/augment.js';

const P = 48 * 48;

/** n images whose pixels are all (i * 5) % 256, labels i % 7. */
function dataSet(n: number) {
  const images = new Uint8Array(n * P);
  for (let i = 0; i < n; i++) images.fill((i * 5) % 256, i * P, (i + 1) * P);
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 7);
  return { images, labels, count: n };
}

describe('batch conversion', () => {
  it('converts uint8 images to pixel/255 floats in index order', () => {
    const ds = dataSet(10);
    ds.images[3 * P + 100] = 255;
    const x = imagesToFloat(ds.images, [3, 0, 9]);
    expect(x.length).toBe(3 * P);
    expect(x[0]).toBeCloseTo(15 / 255, 7);
    expect(x[100]).toBe(1);
    expect(x[P]).toBe(0);
    expect(x[2 * P + 5]).toBeCloseTo(45 / 255, 7);
    const out = new Float32Array(4 * P);
    expect(imagesToFloat(ds.images, Int32Array.from([1]), out)).toBe(out);
    expect(out[0]).toBeCloseTo(5 / 255, 7);
    expect(() => imagesToFloat(ds.images, [10])).toThrow(/image index 10 is outside \[0, 10\)/);
    expect(() => imagesToFloat(ds.images, [0, 1], new Float32Array(P))).toThrow(/out has 2304 floats/);
  });

  it('gathers labels and one-hot rows', () => {
    const ds = dataSet(10);
    expect([...gatherLabels(ds.labels, [9, 2, 7])]).toEqual([2, 2, 0]);
    expect([...oneHot([2, 0], 3)]).toEqual([0, 0, 1, 1, 0, 0]);
    expect(() => oneHot([3], 3)).toThrow(/label 3/);
  });
});

describe('epoch order', () => {
  it('is a permutation, the same for the same seed, new each epoch', () => {
    const a = epochOrder(100, new Rng(1));
    expect([...a].sort((p, q) => p - q)).toEqual([...Array(100).keys()]);
    expect(epochOrder(100, new Rng(1))).toEqual(a);
    expect(epochOrder(100, new Rng(2))).not.toEqual(a);
    const rng = new Rng(1);
    const e1 = epochOrder(100, rng).slice();
    const e2 = epochOrder(100, rng);
    expect(e2).not.toEqual(e1);
  });
});

describe('Batcher', () => {
  it('covers every image once per epoch, with a partial last batch, reshuffled each epoch', () => {
    const ds = dataSet(23);
    const b = new Batcher(ds, { batchSize: 5, rng: new Rng(3) });
    expect(b.batchesPerEpoch).toBe(5);
    const epochs: number[][] = [];
    for (let e = 0; e < 2; e++) {
      const seen: number[] = [];
      const sizes: number[] = [];
      for (const batch of b.epoch()) {
        sizes.push(batch.count);
        expect(batch.x.length).toBe(batch.count * P);
        for (let k = 0; k < batch.count; k++) {
          const i = batch.indices[k]!;
          expect(batch.y[k]).toBe(ds.labels[i]);
          expect(batch.x[k * P + 7]).toBeCloseTo(((i * 5) % 256) / 255, 7);
        }
        seen.push(...batch.indices);
      }
      expect(sizes).toEqual([5, 5, 5, 5, 3]);
      expect([...seen].sort((p, q) => p - q)).toEqual([...Array(23).keys()]);
      epochs.push(seen);
    }
    expect(epochs[1]).not.toEqual(epochs[0]);
  });

  it('is deterministic per seed, with augmentation too', () => {
    const ds = dataSet(40);
    const run = (seed: number) => {
      const b = new Batcher(ds, { batchSize: 16, rng: new Rng(seed), augment: augmentConfig('standard') });
      const xs: number[] = [];
      for (let e = 0; e < 2; e++) for (const batch of b.epoch()) xs.push(...batch.indices, ...batch.x.subarray(0, 300));
      return xs;
    };
    expect(run(5)).toEqual(run(5));
    expect(run(5)).not.toEqual(run(6));
  });

  it('keeps file order without shuffle and drops a partial batch with dropLast', () => {
    const ds = dataSet(11);
    const plain = new Batcher(ds, { batchSize: 4, shuffle: false, rng: new Rng(0) });
    expect([...plain.epoch()].map((b) => b.index)).toEqual([0, 1, 2]);
    const order: number[] = [];
    for (const batch of plain.epoch()) order.push(...batch.indices);
    expect(order).toEqual([...Array(11).keys()]);
    const dropped = new Batcher(ds, { batchSize: 4, dropLast: true, rng: new Rng(0) });
    expect(dropped.batchesPerEpoch).toBe(2);
    expect(dropped.samplesPerEpoch).toBe(8);
    expect([...dropped.epoch()].map((b) => b.count)).toEqual([4, 4]);
    expect(() => new Batcher(ds, { batchSize: 0, rng: new Rng(0) })).toThrow(/batchSize/);
    expect(() => new Batcher({ ...ds, count: 12 }, { batchSize: 4, rng: new Rng(0) })).toThrow(/12 images need/);
  });
});

describe('classWeights', () => {
  it('is n / (C * count_c) as scikit-learn "balanced"; absent classes get 0', () => {
    const w = classWeights([0, 0, 0, 1, 1, 2, 0, 1], 4);
    expect(w[0]).toBeCloseTo(8 / (4 * 4), 6);
    expect(w[1]).toBeCloseTo(8 / (4 * 3), 6);
    expect(w[2]).toBeCloseTo(8 / (4 * 1), 6);
    expect(w[3]).toBe(0);
    // Balanced weights make every present class carry the same total weight n / C.
    const labels = Uint8Array.from([0, 1, 1, 2, 2, 2]);
    const wb = classWeights(labels, 3);
    for (let c = 0; c < 3; c++) expect(wb[c]! * labels.filter((l) => l === c).length).toBeCloseTo(2, 6);
    expect(() => classWeights([0, 5], 3)).toThrow(/label 5 at 1/);
  });
});
