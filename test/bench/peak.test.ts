// The peak kernels of `pnpm bench` (shaders/peak.wgsl) compute what they claim: copy_peak copies
// exactly the vec4s asked for and no more, fma_peak's result matches a host reference of its loop.
import { describe, it, expect } from 'vitest';
import { useGpu } from '../setup-gpu.js';
import { tensor, full, empty } from '@fer/tensor';
import { recordCopy, recordFma, fmaReference, fmaPeak, copyPeak } from '../../bench/peak.js';

useGpu();

describe('peak kernels', () => {
  // Bit-exact: 1000 vec4s (not a multiple of 64 invocations x 16 per invocation), random bit
  // patterns as floats, the destination's tail must stay untouched.
  it('copy_peak copies exactly the first `count` vec4s', async () => {
    const vec4s = 1000;
    const values = Float32Array.from({ length: vec4s * 4 + 64 }, (_, i) => Math.sin(i * 12.9898) * 43758.5453);
    const src = tensor(values, [values.length] as const);
    const dst = full([values.length] as const, -7);
    for (const per of [1, 3, 16]) {
      recordCopy(src, dst, vec4s, per);
      const out = (await dst.toArray()) as Float32Array;
      expect(Array.from(out.subarray(0, vec4s * 4))).toEqual(Array.from(values.subarray(0, vec4s * 4)));
      expect(out.subarray(vec4s * 4).every((v) => v === -7)).toBe(true);
    }
    src.dispose();
    dst.dispose();
  });

  // fma may be fused (one rounding) or a multiply then an add (two): 1e-6 relative covers either
  // over 5 iterations of values near 1..8.
  it('fma_peak equals the host reference of its loop', async () => {
    const invocations = 128;
    const dummy = empty([4] as const);
    const dst = full([(invocations + 16) * 4] as const, -7);
    for (const iters of [0, 1, 5]) {
      recordFma(dummy, dst, invocations, iters);
      const out = (await dst.toArray()) as Float32Array;
      for (let i = 0; i < invocations; i++) {
        const ref = fmaReference(i, iters);
        for (let c = 0; c < 4; c++) expect(Math.abs(out[i * 4 + c]! - ref[c]!)).toBeLessThanOrEqual(1e-6 * Math.abs(ref[c]!));
      }
      // Nothing past the dispatched invocations is written.
      expect(out.subarray(invocations * 4).every((v) => v === -7)).toBe(true);
    }
    expect(() => recordFma(dummy, dst, 100, 1)).toThrow(/multiple of 64/);
    dummy.dispose();
    dst.dispose();
  });

  it('measures positive peaks on small sizes', async () => {
    const f = await fmaPeak({ runs: 1, invocations: 1024, targetMs: 1 });
    expect(f.unit).toBe('GFLOP/s');
    expect(f.value).toBeGreaterThan(0);
    expect(f.value).toBeGreaterThanOrEqual(f.medianValue);
    const c = await copyPeak({ runs: 1, copyBytes: 1 << 20 });
    expect(c.unit).toBe('GB/s');
    expect(c.value).toBeGreaterThan(0);
  });
});
