import { describe, it, expect } from 'vitest';
import { tensor, ones, empty, matmul, relu, add, scale, dispatchStats, trimPool, flush, Tensor, type Shape2 } from '@fer/tensor';
import { useGpu } from '../setup-gpu.js';

useGpu();

const M = 8;
const K = 12;
const N = 16;

// Deterministic small values, exact in f32 products/sums of this size.
const aData = Array.from({ length: M * K }, (_, i) => ((i * 7) % 11) - 5);
const bData = Array.from({ length: K * N }, (_, i) => ((i * 5) % 9) - 4);

/** relu(a @ b) + a @ b, in plain JS. */
function reference(): number[] {
  const out: number[] = [];
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += aData[i * K + k]! * bData[k * N + j]!;
      out.push(Math.max(0, s) + s);
    }
  return out;
}

/** matmul (binds `a` twice: read-only aliasing), relu, add; outputs are disposed newest first so
 *  the LIFO pool hands the same buffers to the same ops on the next run. */
async function run(a: Tensor<Shape2>, b: Tensor<Shape2>): Promise<number[]> {
  const m = matmul(a, b);
  const r = relu(m);
  const s = add(r, m);
  const out = Array.from(await s.toArray());
  s.dispose();
  r.dispose();
  m.dispose();
  return out;
}

describe('buffer pool', () => {
  it('hands out the same buffers after a submit, whatever order they were released in', () => {
    // Free lists are put in creation order at each flush, so the next step's tensors get the same
    // buffers as the last step's and its cached bind groups match (with plain last-in-first-out
    // lists the order would follow the order of the releases).
    const take = () => [empty([300] as const), empty([300] as const), empty([300] as const)];
    const first = take();
    const firstBuffers = first.map((t) => t.buffer);
    for (const t of first) t.dispose();
    flush();
    const second = take();
    const secondBuffers = second.map((t) => t.buffer);
    for (const i of [2, 0, 1]) second[i]!.dispose();
    flush();
    const third = take();
    // GPUBuffers compare equal under toEqual (no own properties): compare positions instead.
    expect(secondBuffers.map((b) => firstBuffers.indexOf(b)).sort()).toEqual([0, 1, 2]);
    expect(third.map((t) => secondBuffers.indexOf(t.buffer))).toEqual([0, 1, 2]);
    for (const t of third) t.dispose();
  });
});

describe('bind group cache', () => {
  it('reuses bind groups for the same buffers and stays correct', async () => {
    const a = tensor(aData, [M, K] as const);
    const b = tensor(bData, [K, N] as const);
    const want = reference();
    const s0 = dispatchStats();
    expect(await run(a, b)).toEqual(want);
    const s1 = dispatchStats();
    expect(s1.bindGroups - s0.bindGroups).toBe(3);
    for (let i = 0; i < 3; i++) expect(await run(a, b)).toEqual(want);
    const s2 = dispatchStats();
    expect(s2.dispatches - s1.dispatches).toBe(9);
    expect(s2.bindGroups).toBe(s1.bindGroups);
    a.dispose();
    b.dispose();
  });

  it('a reused bind group reads each dispatch its own params (dynamic offsets, ring wrap)', async () => {
    // 1201 dispatches (more than the 1024 ring slots, so the ring wraps once) ping-pong between two
    // pooled buffers, so two bind groups serve every dispatch with alternating factors 2 and 0.5.
    const x0 = tensor([1, -2, 3, 0.5], [4] as const);
    const before = dispatchStats();
    let t = scale(x0, 2);
    for (let i = 1; i < 1201; i++) {
      const next = scale(t, i % 2 === 0 ? 2 : 0.5);
      t.dispose();
      t = next;
    }
    expect(Array.from(await t.toArray())).toEqual([2, -4, 6, 1]);
    const after = dispatchStats();
    expect(after.dispatches - before.dispatches).toBe(1201);
    // The wrap's submit and the readback's.
    expect(after.submits - before.submits).toBe(2);
    expect(after.bindGroups - before.bindGroups).toBeLessThanOrEqual(3);
    t.dispose();
    x0.dispose();
  });

  it('keeps working after trimPool destroys the pooled buffers', async () => {
    const a = tensor(aData, [M, K] as const);
    const b = tensor(bData, [K, N] as const);
    const want = reference();
    expect(await run(a, b)).toEqual(want);
    trimPool(); // destroys the buffers the cached groups bound as outputs
    const s0 = dispatchStats();
    expect(await run(a, b)).toEqual(want);
    const s1 = dispatchStats();
    expect(s1.bindGroups - s0.bindGroups).toBe(3);
    expect(await run(a, b)).toEqual(want);
    expect(dispatchStats().bindGroups).toBe(s1.bindGroups);
    // Live inputs survived the trim; a fresh op on them is still right.
    const sum = add(ones([M, K] as const), a);
    expect(Array.from(await sum.toArray())).toEqual(aData.map((v) => v + 1));
    sum.dispose();
    a.dispose();
    b.dispose();
  });
});
