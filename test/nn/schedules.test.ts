import { describe, it, expect } from 'vitest';
import { stepDecay, cosineLr, ReduceLrOnPlateau } from '@fer/nn';

describe('schedules', () => {
  it('step decay', () => {
    const o = { lr: 0.1, stepSize: 10, gamma: 0.5 };
    expect([0, 9, 10, 19, 20, 35].map((e) => stepDecay(e, o))).toEqual([0.1, 0.1, 0.05, 0.05, 0.025, 0.0125]);
    expect(stepDecay(30, { lr: 1, stepSize: 30 })).toBeCloseTo(0.1, 12);
    expect(() => stepDecay(-1, o)).toThrow(/epoch must be an integer >= 0/);
    expect(() => stepDecay(1, { lr: 1, stepSize: 0 })).toThrow(/stepSize must be a positive integer/);
  });

  it('cosine with and without warm-up', () => {
    const o = { lr: 1, epochs: 10, minLr: 0.1 };
    expect(cosineLr(0, o)).toBe(1);
    expect(cosineLr(5, o)).toBeCloseTo(0.55, 12); // half way: (lr + minLr) / 2
    expect(cosineLr(9, o)).toBeCloseTo(0.1 + 0.45 * (1 + Math.cos((Math.PI * 9) / 10)), 12);
    expect(cosineLr(10, o)).toBe(0.1);
    expect(cosineLr(50, o)).toBe(0.1);
    const w = { lr: 0.01, epochs: 12, warmupEpochs: 3 };
    [0.0025, 0.005, 0.0075].forEach((v, e) => expect(cosineLr(e, w)).toBeCloseTo(v, 15));
    expect(cosineLr(3, w)).toBe(0.01);
    expect(cosineLr(6, w)).toBeCloseTo(0.0075, 12); // 3 of 9 cosine epochs: (1 + cos(pi / 3)) / 2 = 0.75
    expect(() => cosineLr(0, { lr: 1, epochs: 3, warmupEpochs: 3 })).toThrow(/warmupEpochs < epochs/);
  });

  it('reduce on plateau (Keras semantics): patience, cooldown, min lr, both modes', () => {
    const s = new ReduceLrOnPlateau({ lr: 1, mode: 'min', factor: 0.5, patience: 2, cooldown: 1, minLr: 0.2 });
    // improve, improve, bad, bad -> reduce; one ignored (cooldown) epoch; bad, bad -> reduce; ...; floor at minLr
    const metrics = [1.0, 0.9, 0.95, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98];
    const lrs = metrics.map((m) => s.step(m));
    expect(lrs).toEqual([1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2]);
    expect(s.stateDict()).toEqual({ lr: 0.2, best: 0.9, wait: 0, cooldownCounter: 0, reductions: 3 });

    const acc = new ReduceLrOnPlateau({ lr: 0.1, mode: 'max', patience: 1, factor: 0.1, threshold: 0.01 });
    expect(acc.step(0.5)).toBe(0.1);
    expect(acc.step(0.505)).toBeCloseTo(0.01, 12); // within threshold: no improvement
    expect(acc.step(0.6)).toBeCloseTo(0.01, 12);
    expect(acc.step(Number.NaN)).toBeCloseTo(0.001, 12); // NaN counts as no improvement

    const rel = new ReduceLrOnPlateau({ lr: 1, patience: 1, threshold: 0.1, thresholdMode: 'rel' });
    rel.step(10);
    expect(rel.step(9.5)).toBe(0.1); // 9.5 is not below 10 * (1 - 0.1)
  });

  it('reduce on plateau state round trip continues identically', () => {
    const o = { lr: 1, patience: 3, factor: 0.5 };
    const a = new ReduceLrOnPlateau(o);
    const seq = [5, 4, 4.5, 4.2, 4.1, 4.3, 4.4, 4.6, 3, 3.5, 3.6, 3.7];
    seq.slice(0, 6).forEach((m) => a.step(m));
    const saved = JSON.parse(JSON.stringify(a.stateDict()));
    const b = new ReduceLrOnPlateau(o);
    b.loadStateDict(saved);
    for (const m of seq.slice(6)) expect(b.step(m)).toBe(a.step(m));
    expect(a.lr).toBe(0.125);
    expect(() => b.loadStateDict({ lr: -1 } as never)).toThrow(/malformed state/);
    expect(() => new ReduceLrOnPlateau({ lr: 1, factor: 1 })).toThrow(/factor must be in \(0, 1\)/);
  });
});
