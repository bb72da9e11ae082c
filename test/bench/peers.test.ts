// The TF.js peers of bench/ run in our process on our adapter with our input values: checked by
// comparing their results with ours (no timing is asserted: timings depend on the machine's load).
import { describe, it, expect, afterAll } from 'vitest';
import { useGpu } from '../setup-gpu.js';
import { gpu, gpuInstance, randNormal, matmul, conv2d, noGrad, sum, mul, type Tensor, type Shape4 } from '@fer/tensor';
import { TfjsPeer, shutdownTfjs, type PeerBackend } from '../../bench/peers/tfjs.js';

/** runs: 1 asked; short kernels get more timed runs (bench/timing.ts), up to 5x. */
function expectRuns(runs: number): void {
  expect(runs).toBeGreaterThanOrEqual(1);
  expect(runs).toBeLessThanOrEqual(5);
}

useGpu();
afterAll(() => shutdownTfjs());

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function ours<T extends Tensor>(f: () => T): Promise<Float32Array> {
  const t = noGrad(f);
  const v = (await t.toArray()) as Float32Array;
  t.dispose();
  return v;
}

describe.each<PeerBackend>(['webgpu', 'wasm'])('TF.js %s peer', (backend) => {
  let peer: TfjsPeer;

  it('loads on the GPU object our device came from', async () => {
    peer = await TfjsPeer.create(backend);
    expect((globalThis as unknown as { navigator: { gpu: GPU } }).navigator.gpu).toBe(gpuInstance());
    if (backend === 'webgpu') {
      expect(peer.adapter).toEqual({ vendor: gpu().info.vendor, architecture: gpu().info.architecture });
      // Inputs below this many elements may run on TF.js's CPU kernels instead of its WebGPU ones.
      peer.tf.env().set('WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD', 0);
    }
  });

  // Tolerance 1e-4: both sides sum 47 f32 products of N(0,1) values; only the order of the sums differs.
  it('matmul of the same inputs equals ours', async () => {
    const [m, k, n] = [33, 47, 29];
    const a = randNormal([m, k] as const, 0, 1, { seed: 11 });
    const b = randNormal([k, n] as const, 0, 1, { seed: 12 });
    const mine = await ours(() => matmul(a, b));
    const theirs = await peer.matmulValues((await a.toArray()) as Float32Array, (await b.toArray()) as Float32Array, m, k, n);
    expect(maxAbsDiff(mine, theirs)).toBeLessThan(1e-4);
    a.dispose();
    b.dispose();
  });

  // Proves the NCHW <-> NHWC and [Cout,Cin,KH,KW] <-> [KH,KW,Cin,Cout] conversions the benchmarks use.
  // Tolerance 1e-4: 3*3*5 = 45 products of N(0,1) values per output.
  it('conv2d forward of the same inputs equals ours (layout conversion)', async () => {
    const x = randNormal([2, 5, 9, 7] as const, 0, 1, { seed: 13 }) as Tensor<Shape4>;
    const w = randNormal([6, 5, 3, 3] as const, 0, 1, { seed: 14 }) as Tensor<Shape4>;
    const mine = await ours(() => conv2d(x, w, null, { padding: 'same' }));
    const theirs = await peer.conv2dValues((await x.toArray()) as Float32Array, x.shape, (await w.toArray()) as Float32Array, w.shape, 'same');
    expect(maxAbsDiff(mine, theirs)).toBeLessThan(1e-4);
    x.dispose();
    w.dispose();
  });

  // The weight gradient the conv backward-weight rows and the training steps run: TF.js's kernel on
  // WebGPU, the one the bench registers on WASM (tfjs-backend-wasm has none). Tolerance 1e-3: each
  // value sums N * OH * OW (up to 126) products of N(0,1) values.
  for (const [name, xShape, wShape, padding] of [
    ['3x3 same', [2, 5, 9, 7], [6, 5, 3, 3], 'same'],
    ['5x5 same, even width', [3, 2, 8, 6], [4, 2, 5, 5], 'same'],
    ['3x2 valid', [2, 3, 7, 9], [5, 3, 3, 2], 'valid'],
  ] as const)
    it(`conv2d weight gradient of the same inputs equals ours: ${name}`, async () => {
      const x = randNormal(xShape, 0, 1, { seed: 15 }) as Tensor<Shape4>;
      const w = randNormal(wShape, 0, 1, { seed: 16 }) as Tensor<Shape4>;
      w.requiresGrad = true;
      const y = conv2d(x, w, null, { padding });
      const gy = randNormal(y.shape, 0, 1, { seed: 17 });
      sum(mul(y, gy)).backward();
      const mine = (await w.grad!.toArray()) as Float32Array;
      const theirs = await peer.conv2dWeightGradValues(
        (await x.toArray()) as Float32Array, x.shape, (await gy.toArray()) as Float32Array, gy.shape, wShape, padding,
      );
      expect(maxAbsDiff(mine, theirs)).toBeLessThan(1e-3);
      for (const t of [x, w, y, gy, w.grad!]) t.dispose();
    });

  // The wrappers `pnpm bench` times beside our linear, batchnorm, maxpool, cross-entropy and Adam
  // rows: each runs on tiny inputs, forward and backward, without an error.
  it('runs the linear, batchnorm, maxpool, softmax cross-entropy and Adam wrappers', async () => {
    const o = { warmup: 1, runs: 1 };
    const r = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i + 1));
    const [n, inF, outF] = [4, 8, 3];
    for (const pass of ['forward', 'input', 'weight'] as const)
      expectRuns((await peer.linear(pass, r(n * inF), r(outF * inF), r(outF), r(n * outF), n, inF, outF, o)).runs);
    const xs = [2, 3, 4, 4];
    for (const pass of ['forward', 'forward+backward'] as const) {
      expectRuns((await peer.batchNorm2d(pass, r(96), xs, r(96), 1e-3, o)).runs);
      expectRuns((await peer.maxPool2d(pass, r(96), xs, r(24), [2, 3, 2, 2], 2, 2, o)).runs);
      expectRuns((await peer.softmaxCrossEntropy(pass, r(5 * 7), Int32Array.from([0, 3, 6, 2, 1]), 5, 7, o)).runs);
    }
    expectRuns((await peer.adam([[3, 2, 2, 2], [3], [5, 4]], o)).runs);
  });

  it('times a kernel with its queue drained and no WebGPU validation error', async () => {
    const a = new Float32Array(64 * 64).fill(1);
    const t = await peer.matmul(a, a, 64, 64, 64, { warmup: 1, runs: 1 });
    expectRuns(t.runs);
    expect(t.medianMs).toBeGreaterThan(0);
    // A drain after more recorded work: the open compute pass must be ended before the submit.
    peer.tf.tidy(() => void peer.tf.matMul(peer.tf.ones([64, 64]), peer.tf.ones([64, 64])));
    await expect(peer.drain()).resolves.toBeUndefined();
  });
});
