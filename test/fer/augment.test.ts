import { describe, it, expect } from 'vitest';
import { Rng } from '@fer/tensor';
import {
  AUGMENT_PRESETS, applyParams, augmentBatch, augmentConfig, isIdentity, sampleParams, validateAugment,
  type AugmentConfig, type ImageAugment,
} from '../../packages/fer/src/data/augment.js';

const P = 48 * 48;
const at = (a: Float32Array, b: number, x: number, y: number) => a[b * P + y * 48 + x]!;

function randomBatch(n: number, seed: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n * P }, () => r.next());
}

const identity: ImageAugment = { flip: false, dx: 0, dy: 0, angle: 0, zoom: 1, erase: null };

describe('augment', () => {
  it('presets validate, and none is the identity (a copy; no random numbers drawn)', () => {
    for (const cfg of Object.values(AUGMENT_PRESETS)) validateAugment(cfg);
    expect(isIdentity(AUGMENT_PRESETS.none)).toBe(true);
    expect(isIdentity(AUGMENT_PRESETS.light)).toBe(false);
    const src = randomBatch(5, 1);
    const dst = new Float32Array(src.length);
    const rng = new Rng(3);
    const before = rng.getState();
    expect(augmentBatch(src, dst, 5, augmentConfig('none'), rng)).toBe(dst);
    expect(dst).toEqual(src);
    expect(rng.getState()).toEqual(before);
  });

  it('is deterministic per seed, differs across seeds, and resumes from a saved Rng state', () => {
    const cfg = augmentConfig('standard', { erase: 0.5, eraseValue: 'random' });
    const src = randomBatch(16, 2);
    const run = (seed: number) => augmentBatch(src, new Float32Array(src.length), 16, cfg, new Rng(seed));
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
    const rng = new Rng(7);
    augmentBatch(src, new Float32Array(src.length), 16, cfg, rng);
    const state = rng.getState();
    const next = augmentBatch(src, new Float32Array(src.length), 16, cfg, rng);
    const resumed = new Rng(0);
    resumed.setState(state);
    expect(augmentBatch(src, new Float32Array(src.length), 16, cfg, resumed)).toEqual(next);
  });

  it('works in place with the same result as into another buffer', () => {
    const cfg = augmentConfig('standard');
    const src = randomBatch(8, 4);
    const out = augmentBatch(src, new Float32Array(src.length), 8, cfg, new Rng(11));
    const inPlace = src.slice();
    augmentBatch(inPlace, inPlace, 8, cfg, new Rng(11));
    expect(inPlace).toEqual(out);
  });

  it('flip mirrors every row exactly (p = 1), twice is the identity; p = 0.5 flips about half', () => {
    const cfg = augmentConfig('none', { flip: 1 });
    const src = randomBatch(3, 5);
    const dst = augmentBatch(src, new Float32Array(src.length), 3, cfg, new Rng(1));
    for (let b = 0; b < 3; b++) for (let y = 0; y < 48; y++) for (let x = 0; x < 48; x++) {
      expect(at(dst, b, x, y)).toBe(at(src, b, 47 - x, y));
    }
    expect(augmentBatch(dst, new Float32Array(src.length), 3, cfg, new Rng(2))).toEqual(src);
    const half = augmentConfig('none', { flip: 0.5 });
    const many = randomBatch(400, 6);
    const out = augmentBatch(many, new Float32Array(many.length), 400, half, new Rng(9));
    let flipped = 0;
    for (let b = 0; b < 400; b++) if (at(out, b, 0, 0) !== at(many, b, 0, 0)) flipped++;
    expect(flipped).toBeGreaterThan(160);
    expect(flipped).toBeLessThan(240);
  });

  it('shift is a whole-pixel move within ±shift, padded with zeros or edge pixels', () => {
    const src = randomBatch(6, 8);
    for (const pad of ['zero', 'edge'] as const) {
      const cfg = augmentConfig('none', { shift: 4, pad });
      const dst = augmentBatch(src, new Float32Array(src.length), 6, cfg, new Rng(3));
      for (let b = 0; b < 6; b++) {
        let found = false;
        for (let dy = -4; dy <= 4 && !found; dy++) for (let dx = -4; dx <= 4 && !found; dx++) {
          let ok = true;
          for (let y = 0; y < 48 && ok; y++) for (let x = 0; x < 48 && ok; x++) {
            const sx = x + dx;
            const sy = y + dy;
            const inside = sx >= 0 && sx < 48 && sy >= 0 && sy < 48;
            const want = inside ? at(src, b, sx, sy)
              : pad === 'zero' ? 0 : at(src, b, Math.min(47, Math.max(0, sx)), Math.min(47, Math.max(0, sy)));
            ok = at(dst, b, x, y) === want;
          }
          found = ok;
        }
        expect(found, `${pad} image ${b}`).toBe(true);
      }
    }
  });

  it('warp: a 90 degree turn moves pixels exactly, zoom-in keeps a flat image flat, and no warp equals the shift path', () => {
    const src = randomBatch(1, 10);
    const dst = new Float32Array(P);
    applyParams(src, dst, 0, { ...identity, angle: 90 }, 'zero');
    // Positive angles turn clockwise on screen (y down): out(x, y) = in(y, 47 - x).
    for (let y = 0; y < 48; y++) for (let x = 0; x < 48; x++) expect(dst[y * 48 + x]).toBeCloseTo(src[(47 - x) * 48 + y]!, 5);

    const flat = new Float32Array(P).fill(0.25);
    applyParams(flat, dst, 0, { ...identity, angle: 7, zoom: 1.5 }, 'zero');
    for (let y = 0; y < 48; y++) for (let x = 0; x < 48; x++) expect(dst[y * 48 + x]).toBeCloseTo(0.25, 5);
    // Zooming out with zero padding brings black in at the corners; edge padding does not.
    applyParams(flat, dst, 0, { ...identity, zoom: 0.8 }, 'zero');
    expect(dst[0]).toBe(0);
    expect(dst[24 * 48 + 24]).toBeCloseTo(0.25, 6);
    applyParams(flat, dst, 0, { ...identity, zoom: 0.8 }, 'edge');
    expect(dst[0]).toBeCloseTo(0.25, 6);

    // A turn of 1e-9 degrees takes the bilinear path; it must agree with the exact shift + flip path.
    const p = { ...identity, flip: true, dx: 3, dy: -2 };
    const exact = new Float32Array(P);
    applyParams(src, exact, 0, p, 'edge');
    applyParams(src, dst, 0, { ...p, angle: 1e-9 }, 'edge');
    for (let i = 0; i < P; i++) expect(dst[i]).toBeCloseTo(exact[i]!, 5);
  });

  it('random erasing fills one rectangle of the requested area', () => {
    const cfg = augmentConfig('none', { erase: 1, eraseArea: [0.1, 0.1], eraseRatio: [0.5, 2], eraseValue: 0.5 });
    const ones = new Float32Array(20 * P).fill(1);
    const dst = augmentBatch(ones, new Float32Array(ones.length), 20, cfg, new Rng(4));
    for (let b = 0; b < 20; b++) {
      let n = 0;
      let minX = 48, maxX = -1, minY = 48, maxY = -1;
      for (let y = 0; y < 48; y++) for (let x = 0; x < 48; x++) {
        const v = at(dst, b, x, y);
        expect(v === 1 || v === 0.5).toBe(true);
        if (v === 0.5) {
          n++;
          minX = Math.min(minX, x); maxX = Math.max(maxX, x); minY = Math.min(minY, y); maxY = Math.max(maxY, y);
        }
      }
      expect(n).toBe((maxX - minX + 1) * (maxY - minY + 1)); // a filled rectangle
      expect(Math.abs(n - 0.1 * P)).toBeLessThan(40); // rounding of h and w
    }
  });

  it('checks shapes and knobs', () => {
    const cfg = augmentConfig('light');
    expect(() => augmentBatch(new Float32Array(P), new Float32Array(2 * P), 2, cfg, new Rng(1))).toThrow(/2 images of 48x48 need 4608 floats; src has 2304/);
    expect(augmentBatch(new Float32Array(0), new Float32Array(0), 0, cfg, new Rng(1))).toHaveLength(0);
    expect(() => augmentConfig('light', { flip: 1.5 })).toThrow(/augment\.flip/);
    expect(() => augmentConfig('light', { shift: 2.5 })).toThrow(/augment\.shift/);
    expect(() => augmentConfig('light', { scale: [1.2, 0.8] })).toThrow(/augment\.scale/);
    expect(() => augmentConfig('light', { eraseArea: [0, 0.5] })).toThrow(/augment\.eraseArea/);
    expect(() => augmentConfig('nope' as 'none')).toThrow(/unknown augmentation preset "nope"/);
  });

  it('is fast: ms per batch of 64 (logged; far below a training step)', () => {
    const src = randomBatch(64, 12);
    const dst = new Float32Array(src.length);
    const rng = new Rng(5);
    for (const name of ['light', 'standard'] as const) {
      const cfg: AugmentConfig = augmentConfig(name);
      for (let i = 0; i < 5; i++) augmentBatch(src, dst, 64, cfg, rng); // warm-up (JIT)
      const reps = 50;
      const t = performance.now();
      for (let i = 0; i < reps; i++) augmentBatch(src, dst, 64, cfg, rng);
      const ms = (performance.now() - t) / reps;
      console.log(`augment ${name}: ${ms.toFixed(3)} ms per batch of 64`);
      expect(ms).toBeLessThan(50);
    }
  });
});

describe('sampleParams', () => {
  it('keeps every draw in its range', () => {
    const cfg = augmentConfig('standard', { erase: 1 });
    const rng = new Rng(21);
    for (let i = 0; i < 500; i++) {
      const p = sampleParams(cfg, rng);
      expect(Math.abs(p.dx)).toBeLessThanOrEqual(4);
      expect(Math.abs(p.dy)).toBeLessThanOrEqual(4);
      expect(Number.isInteger(p.dx) && Number.isInteger(p.dy)).toBe(true);
      expect(Math.abs(p.angle)).toBeLessThanOrEqual(10);
      expect(p.zoom).toBeGreaterThanOrEqual(0.9);
      expect(p.zoom).toBeLessThanOrEqual(1.1);
      if (p.erase) {
        expect(p.erase.i + p.erase.h).toBeLessThanOrEqual(48);
        expect(p.erase.j + p.erase.w).toBeLessThanOrEqual(48);
      }
    }
  });
});
