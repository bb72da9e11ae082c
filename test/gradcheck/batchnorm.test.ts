import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Rng, batchNorm, relu, mul, sum, tensor, zeros, ones, tidy, shapeSize, setBatchNormChunkTarget, setBatchNormPlanes, type Tensor, type Shape1 } from '@fer/tensor';
import { gradCheck, randomArray, expectClose } from './harness.js';
import { batchNormRef } from './reference/batchnorm.js';
import { useGpu } from '../setup-gpu.js';

useGpu();

// Forward: per-channel statistics are f32 sums of up to a few thousand terms (shifted, so no
// cancellation) and the output is O(1): 1e-4 covers the rounding. Backward: the training dx
// is gamma*invstd*(g - mean(g) - xhat*mean(g*xhat)), a difference of O(1) terms in f32, checked
// against float64 central differences: 1e-3.
const FWD = { atol: 1e-4, rtol: 1e-4 };
const GRAD = { atol: 1e-3, rtol: 1e-3 };

const f32 = (a: ArrayLike<number>) => Float64Array.from(Float32Array.from(a));

// Both layouts of the vec4 kernels (H*W % 4 == 0) on every adapter: the coalesced, chunked
// kernels (GPUs' default) and a lane per (image, channel) plane (CPU adapters' default). The other
// kernels (scalar maps, 1d) run the same either way.
for (const planes of [false, true])
describe(`batchNorm gradcheck (${planes ? 'a lane per plane' : 'coalesced, chunked'})`, () => {
  const rng = new Rng(11);
  // The GPU chunking (2048 elements per reduction workgroup) on every adapter, so the small shapes
  // below split their reductions as commented; CPU adapters' larger default is checked against it
  // in 'reduction chunking' below.
  let prevChunk: number | null = null;
  beforeAll(() => {
    prevChunk = setBatchNormChunkTarget(2048);
    setBatchNormPlanes(planes);
  });
  afterAll(() => {
    setBatchNormChunkTarget(prevChunk);
    setBatchNormPlanes(null);
  });
  const shapes: ReadonlyArray<readonly number[]> = [
    [2, 3, 5, 7], // 2d, odd sizes
    [1, 4, 3, 3], // 2d, N = 1 with H*W > 1
    [3, 1, 4, 5], // 2d, C = 1
    [5, 2, 1, 1], // 2d, H = W = 1
    [4, 2, 30, 30], // 2d, 3600 per channel: the reduction is split over 2 chunks per channel (vec4 kernels), or 4 planes
    [3, 30, 2, 2], // 2d, vec4 kernels, 90 planes: the lane-per-plane kernels over 2 workgroups
    [2, 3, 4, 4], // 2d, H*W % 4 == 0: the vec4 kernels
    [1, 2, 2, 6], // 2d, vec4 kernels with N = 1
    [2, 5, 7, 9, 3] as unknown as readonly number[], // any [N, C, ...]: 3 spatial dims
    [7, 5], // 1d
    [2, 1], // 1d, C = 1, N = 2 (the smallest batch training accepts)
    [33, 3], // 1d
    [300, 7], // 1d, rows split over 2 chunks
    [40, 70], // 1d, channels over 2 blocks of 64 lanes
  ];
  for (const shape of shapes) {
    const n = shapeSize(shape);
    const C = shape[1]!;
    for (const training of [true, false]) {
      it(`${shape.length === 2 ? '1d' : shape.length === 4 ? '2d' : `${shape.length - 2} spatial dims`} ${training ? 'training' : 'eval'} [${shape}]`, () => {
        // An offset mean per channel, so the normalisation does visible work.
        const x = randomArray(n, rng, -2, 3);
        const gamma = randomArray(C, rng, 0.5, 1.5);
        const beta = randomArray(C, rng, -0.5, 0.5);
        const rm = f32(randomArray(C, rng, -0.5, 0.5));
        const rv = f32(randomArray(C, rng, 0.5, 2));
        return gradCheck({
          name: `batchNorm ${training ? 'training' : 'eval'} [${shape}]`,
          inputs: [
            { data: x, shape },
            { data: gamma, shape: [C] },
            { data: beta, shape: [C] },
          ],
          gpu: ([xt, g, b]) =>
            batchNorm(xt!, g as Tensor<Shape1>, b as Tensor<Shape1>, tensor(Float32Array.from(rm), [C] as const), tensor(Float32Array.from(rv), [C] as const), {
              training,
            }),
          ref: ([xa, ga, ba]) => batchNormRef(xa!, shape, ga!, ba!, rm, rv, training).y,
          forwardTol: FWD,
          gradTol: GRAD,
        });
      });
    }
  }

  it('grads to gamma/beta only (x not differentiated) and to x only', async () => {
    const shape = [3, 2, 4, 3] as const;
    const x = randomArray(shapeSize(shape), rng);
    const gamma = randomArray(2, rng, 0.5, 1.5);
    const beta = randomArray(2, rng);
    for (const training of [true, false]) {
      const rm = Float32Array.of(0.1, -0.2);
      const rv = Float32Array.of(1.5, 0.7);
      const run = ([xt, g, b]: Tensor[]) =>
        batchNorm(xt!, g as Tensor<Shape1>, b as Tensor<Shape1>, tensor(rm, [2] as const), tensor(rv, [2] as const), { training, momentum: 0.3, eps: 1e-3 });
      const ref = ([xa, ga, ba]: Float64Array[]) => batchNormRef(xa!, shape, ga!, ba!, rm, rv, training, 0.3, 1e-3).y;
      await gradCheck({
        name: `batchNorm affine only ${training}`,
        inputs: [{ data: x, shape, diff: false }, { data: gamma, shape: [2] }, { data: beta, shape: [2] }],
        gpu: run, ref, forwardTol: FWD, gradTol: GRAD,
      });
      await gradCheck({
        name: `batchNorm x only ${training}`,
        inputs: [{ data: x, shape }, { data: gamma, shape: [2], diff: false }, { data: beta, shape: [2], diff: false }],
        gpu: run, ref, forwardTol: FWD, gradTol: GRAD,
      });
    }
  });

  for (const shape of [[8, 3, 9, 11], [8, 3, 4, 6]] as const) {
    it(`large channel means (1000 + unit noise) keep the variance accurate [${shape}]`, async () => {
      // Raw sums of squares in f32 would lose the variance here (1e6 vs 1); shifted sums keep it.
      const S = shape[2] * shape[3];
      const x = randomArray(shapeSize(shape), rng, -1, 1).map((v, i) => v + 1000 + 100 * (Math.floor(i / S) % 3));
      const xs = f32(x);
      const ref = batchNormRef(xs, shape, [1, 1, 1], [0, 0, 0], [0, 0, 0], [1, 1, 1], true);
      const out = tidy(() => batchNorm(tensor(Float32Array.from(xs), shape), ones([3] as const), zeros([3] as const), zeros([3] as const), ones([3] as const), { training: true }));
      // Inputs near 1000 carry f32 rounding of 6e-5; relative to std ~0.58 that is 1e-4.
      expectClose(await out.toArray(), ref.y, { atol: 5e-4, rtol: 1e-4 }, 'batchNorm large mean');
      out.dispose();
    });
  }
});

describe('batchNorm reduction chunking', () => {
  // The adapter's defaults (on CPU adapters a lane per plane for the vec4 kernels, and 32768
  // elements per reduction workgroup for the others; on GPUs 2048) and other splits give the same
  // outputs, statistics and gradients as the gradchecked coalesced kernels at 2048.
  const rng = new Rng(23);
  const cases: ReadonlyArray<readonly [readonly number[], number | null]> = [
    [[9, 2, 64, 64], null], // 36864 per channel: 2 chunks of the CPU default (vec4 kernels; on CPU adapters a lane per plane)
    [[70, 3, 4, 4], null], // 210 planes of 4 vec4s: 4 workgroups of lanes per plane on CPU adapters
    [[5, 3, 31, 31], null], // scalar kernels, 4805 per channel
    [[9, 2, 64, 64], 5000], // uneven chunks
    [[3000, 5], null], // 1d, rows
    [[3000, 5], 700],
  ];
  for (const [shape, target] of cases)
    it(`[${shape}] with ${target ?? 'the default'} elements per chunk equals 2048`, async () => {
      const n = shapeSize(shape);
      const C = shape[1]!;
      const x = Float32Array.from(randomArray(n, rng, -2, 3));
      const gy = Float32Array.from(randomArray(n, rng, -1, 1));
      const gamma = Float32Array.from(randomArray(C, rng, 0.5, 1.5));
      const run = async (chunk: number | null, planes: boolean | null): Promise<Float32Array[]> => {
        const prev = setBatchNormChunkTarget(chunk);
        setBatchNormPlanes(planes);
        try {
          const xt = tensor(x, shape, { requiresGrad: true });
          const g = tensor(gamma, [C] as const, { requiresGrad: true });
          const b = zeros([C] as const);
          b.requiresGrad = true;
          const rm = zeros([C] as const);
          const rv = ones([C] as const);
          const y = batchNorm(xt, g, b, rm, rv, { training: true, momentum: 0.1 });
          const gyt = tensor(gy, shape);
          sum(mul(y, gyt)).backward();
          const out = await Promise.all([y, xt.grad!, g.grad!, b.grad!, rm, rv].map((t) => t.toArray() as Promise<Float32Array>));
          for (const t of [y, xt, g, b, rm, rv, gyt, xt.grad!, g.grad!, b.grad!]) t.dispose();
          return out;
        } finally {
          setBatchNormChunkTarget(prev);
          setBatchNormPlanes(null);
        }
      };
      const want = await run(2048, false);
      const got = await run(target, null);
      const names = ['y', 'dx', 'dgamma', 'dbeta', 'running mean', 'running var'];
      // Sums of up to 37k f32 terms in another order: dgamma and dbeta are O(sqrt(n)) sums.
      got.forEach((v, i) => expectClose(v, want[i]!, { atol: 1e-3, rtol: 1e-4 }, names[i]!));
    });
});

describe('batchNorm with the fused ReLU', () => {
  const rng = new Rng(19);
  // relu(batchNorm(x)) is differentiable everywhere but at 0, where finite differences fail, so the
  // fused op is checked against the unfused pair on the GPU (itself gradchecked above and in
  // elementwise.test.ts): same outputs, running statistics and gradients to x, gamma and beta.
  // The backward kernels mask the gradient themselves; chunk 8 splits each reduction over several
  // workgroups; both layouts of the vec4 kernels ([2, 3, 4, 4]).
  for (const shape of [[2, 3, 5, 7], [2, 3, 4, 4], [7, 5]] as const)
    for (const training of [true, false])
      for (const [chunk, planes] of [[null, true], [null, false], [8, false]] as const)
        it(`equals relu(batchNorm(x)) ${training ? 'training' : 'eval'} [${shape}]${chunk ? ` chunk ${chunk}` : ''}${planes ? ' lane per plane' : ''}`, async () => {
          const prevChunk = setBatchNormChunkTarget(chunk);
          setBatchNormPlanes(planes);
          const C = shape[1];
          const n = shapeSize(shape);
          const xd = Float32Array.from(randomArray(n, rng, -2, 2));
          const gd = Float32Array.from(randomArray(C, rng, 0.5, 1.5));
          const bd = Float32Array.from(randomArray(C, rng, -0.5, 0.5));
          const wd = Float32Array.from(randomArray(n, rng));
          const run = async (fused: boolean) => {
            const x = tensor(xd, shape, { requiresGrad: true });
            const gamma = tensor(gd, [C] as const, { requiresGrad: true });
            const beta = tensor(bd, [C] as const, { requiresGrad: true });
            const rm = zeros([C] as const);
            const rv = ones([C] as const);
            const y = tidy(() => {
              const out = fused
                ? batchNorm(x, gamma, beta, rm, rv, { training, relu: true })
                : relu(batchNorm(x, gamma, beta, rm, rv, { training }));
              sum(mul(out, tensor(wd, shape))).backward();
              return out;
            });
            const res = await Promise.all([y, x.grad!, gamma.grad!, beta.grad!, rm, rv].map((t) => t.toArray()));
            for (const t of [y, x, gamma, beta, rm, rv, x.grad!, gamma.grad!, beta.grad!]) t.dispose();
            return res;
          };
          const fused = await run(true);
          const plain = await run(false);
          setBatchNormChunkTarget(prevChunk);
          setBatchNormPlanes(null);
          expect(fused[0]!.some((v) => v === 0) && fused[0]!.some((v) => v > 0)).toBe(true);
          const names = ['y', 'dx', 'dgamma', 'dbeta', 'running mean', 'running var'];
          fused.forEach((f, i) => expectClose(f, plain[i]!, { atol: 1e-6, rtol: 1e-6 }, names[i]!));
        });
});

describe('batchNorm running statistics', () => {
  const rng = new Rng(12);
  for (const [shape, momentum] of [
    [[4, 3, 5, 6], 0.1],
    [[1, 2, 7, 3], 0.25],
    [[3, 2, 4, 2], 0.5],
    [[9, 4], 0.01],
  ] as const) {
    it(`3 training steps update running mean/var as the reference [${shape}] m=${momentum}`, async () => {
      const C = shape[1];
      const rmT = zeros([C] as const);
      const rvT = ones([C] as const);
      let rm: ArrayLike<number> = new Float64Array(C);
      let rv: ArrayLike<number> = new Float64Array(C).fill(1);
      const gamma = ones([C] as const);
      const beta = zeros([C] as const);
      for (let step = 0; step < 3; step++) {
        const x = f32(randomArray(shapeSize(shape), rng, -1 + step, 2 + 2 * step));
        const r = batchNormRef(x, shape, new Float64Array(C).fill(1), new Float64Array(C), rm, rv, true, momentum);
        rm = r.runningMean;
        rv = r.runningVar;
        tidy(() => {
          batchNorm(tensor(Float32Array.from(x), shape), gamma, beta, rmT, rvT, { training: true, momentum });
        });
      }
      // Three f32 updates of O(1) stats.
      expectClose(await rmT.toArray(), rm, { atol: 1e-5, rtol: 1e-5 }, 'running mean');
      expectClose(await rvT.toArray(), rv, { atol: 1e-5, rtol: 1e-4 }, 'running var');
      // Eval reads and does not change them.
      const before = [await rmT.toArray(), await rvT.toArray()];
      tidy(() => {
        batchNorm(tensor(randomArray(shapeSize(shape), rng), shape), gamma, beta, rmT, rvT, { training: false, momentum });
      });
      expect(Array.from(await rmT.toArray())).toEqual(Array.from(before[0]!));
      expect(Array.from(await rvT.toArray())).toEqual(Array.from(before[1]!));
      for (const t of [rmT, rvT, gamma, beta]) t.dispose();
    });
  }
});

describe('batchNorm bad inputs', () => {
  it('rejects wrong shapes, dtypes, options and disposed tensors', () => {
    tidy(() => {
      const x = zeros([2, 3, 4, 4] as const);
      const c3 = () => ones([3] as const);
      const opts = { training: true };
      expect(() => batchNorm(x, ones([4] as const), c3(), c3(), c3(), opts)).toThrow(/gamma must have shape \[3\].*got shape \[4\]/);
      expect(() => batchNorm(x, c3(), c3(), ones([1, 3] as const) as unknown as Tensor<Shape1>, c3(), opts)).toThrow(/runningMean must have shape \[3\]/);
      expect(() => batchNorm(zeros([5] as const), c3(), c3(), c3(), c3(), opts)).toThrow(/expected x of shape \[N, C\].*got shape \[5\]/);
      expect(() => batchNorm(zeros([1, 3] as const), c3(), c3(), c3(), c3(), opts)).toThrow(/more than 1 value per channel/);
      expect(() => batchNorm(zeros([2, 3] as const, { dtype: 'i32' }), c3(), c3(), c3(), c3(), opts)).toThrow(/expected a f32 tensor/);
      expect(() => batchNorm(x, c3(), c3(), c3(), c3(), { training: true, momentum: 1.5 })).toThrow(/momentum/);
      expect(() => batchNorm(x, c3(), c3(), c3(), c3(), { training: false, eps: 0 })).toThrow(/eps/);
      expect(() => batchNorm(x, c3(), c3(), c3(), c3(), {} as never)).toThrow(/training/);
      const rs = c3();
      expect(() => batchNorm(x, c3(), c3(), rs, rs, opts)).toThrow(/different tensors/);
      const d = c3();
      d.dispose();
      expect(() => batchNorm(x, d, c3(), c3(), c3(), opts)).toThrow(/disposed/);
    });
    // N = 1 is fine in eval (the running stats are used).
    tidy(() => batchNorm(zeros([1, 3] as const), ones([3] as const), zeros([3] as const), zeros([3] as const), ones([3] as const), { training: false }));
  });
});
