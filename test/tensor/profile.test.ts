import { describe, expect, it } from 'vitest';
import { dispatchStats, gpu, matmul, noGrad, relu, startProfile, stopProfile, tensor, tidy, type Tensor, type Shape2 } from '@fer/tensor';
import { useGpu } from '../setup-gpu.js';

useGpu();

describe('startProfile / stopProfile (GPU time per kernel)', () => {
  it('times every dispatch and adds them up per kernel', async () => {
    if (!gpu().device.features.has('timestamp-query')) {
      expect(() => startProfile()).toThrow(/no 'timestamp-query' feature/);
      return;
    }
    const a = tensor(Float32Array.from({ length: 64 * 48 }, (_, i) => (i % 7) - 3), [64, 48] as const);
    const b = tensor(Float32Array.from({ length: 48 * 32 }, (_, i) => (i % 5) - 2), [48, 32] as const);
    const before = dispatchStats().dispatches;
    startProfile();
    for (let i = 0; i < 3; i++) noGrad(() => tidy(() => void relu(matmul(a, b) as Tensor<Shape2>)));
    const kernels = await stopProfile();
    const dispatched = dispatchStats().dispatches - before;
    // Every dispatch is counted once, under a kernel named shader.entry{constants}.
    expect(kernels.reduce((s, k) => s + k.calls, 0)).toBe(dispatched);
    expect(kernels.some((k) => k.kernel.startsWith('matmul') && k.calls === 3)).toBe(true);
    expect(kernels.some((k) => k.kernel.startsWith('unary.') && k.calls === 3)).toBe(true);
    for (const k of kernels) expect(k.ms).toBeGreaterThanOrEqual(0);
    expect(kernels.reduce((s, k) => s + k.ms, 0)).toBeGreaterThan(0);
    // Longest first.
    for (let i = 1; i < kernels.length; i++) expect(kernels[i]!.ms).toBeLessThanOrEqual(kernels[i - 1]!.ms);
    a.dispose();
    b.dispose();
  });

  it('byGrid: one row per kernel and workgroup grid', async () => {
    if (!gpu().device.features.has('timestamp-query')) return;
    // Two relu sizes: the same kernel on two grids gets two rows, each labelled with its grid.
    const small = tensor(Float32Array.from({ length: 64 }, (_, i) => i - 32), [64] as const);
    const large = tensor(Float32Array.from({ length: 64 * 1024 }, (_, i) => (i % 9) - 4), [64 * 1024] as const);
    startProfile({ byGrid: true });
    noGrad(() => tidy(() => void [relu(small), relu(small), relu(large)]));
    const kernels = await stopProfile();
    const rows = kernels.filter((k) => k.kernel.startsWith('unary.'));
    expect(rows.length).toBe(2);
    for (const r of rows) expect(r.kernel).toMatch(/ @\d+x\d+x\d+$/);
    expect(rows.map((r) => r.calls).sort()).toEqual([1, 2]);
    small.dispose();
    large.dispose();
  });

  it('reports misuse: stop without start, start twice', async () => {
    await expect(stopProfile()).rejects.toThrow(/no profile is running/);
    if (!gpu().device.features.has('timestamp-query')) return;
    startProfile();
    expect(() => startProfile()).toThrow(/already running/);
    await stopProfile();
  });
});
