import { describe, expect, it } from 'vitest';
import { Rng, conv2d, startProfile, stopProfile, setConvVariant, setConvForwardVariant, setWinogradChunkBytes, setWinogradTileMajor, memory, mul, sum, tensor, tidy } from '@fer/tensor';
import { disposeWithGrads, randomArray } from './harness.js';
import { conv2dGradRef, conv2dRef, refGeometry } from './reference/conv2d.js';
import { useGpu } from '../setup-gpu.js';
import { checkLarge, kernelSetSuite, kernelSetsOf, size } from './conv2d-suite.js';

useGpu();

// The Winograd forms, and the row forward with a Winograd weight gradient.
for (const name of kernelSetsOf('winograd')) kernelSetSuite(name);

// A batch whose Winograd temporaries would pass the device's largest storage binding is transformed
// in chunks of images (one bmm each) into the one output; here the limit is lowered so that 5 images
// of 12 channels at 10x9 run 2 at a time (the last chunk 1), against the float64 reference. Both
// invocation orders of the transforms run (tile-major is the default on GPUs, group-major on CPUs).
describe('conv2d Winograd in chunks of images', () => {
  for (const [variant, k, bytes] of [['wino', 3, 2 * 16 * 25 * 12 * 4], ['wino3', 3, 2 * 25 * 12 * 12 * 4], ['wino4', 3, 2 * 36 * 9 * 12 * 4], ['wino6', 3, 2 * 64 * 4 * 12 * 4], ['wino5', 5, 2 * 36 * 25 * 12 * 4], ['wino45', 5, 2 * 64 * 9 * 12 * 4], ['wino4s', 5, 2 * 36 * 9 * 48 * 4], ['wino6s', 5, 2 * 64 * 4 * 48 * 4]] as const)
    for (const tileMajor of [false, true])
      it(`'${variant}' ${tileMajor ? 'tile' : 'group'}-major: forward and grads N=5, 12 -> 10 channels, 10x9, ${k}x${k} same, 2 images per chunk`, async () => {
        setConvForwardVariant(variant);
        const prevWeight = setConvVariant(variant);
        const prev = setWinogradChunkBytes(bytes);
        const prevOrder = setWinogradTileMajor(tileMajor);
        try {
          await checkLarge([5, 12, 10, 9], [10, 12, k, k], { padding: 'same' }, true, 37);
        } finally {
          setWinogradTileMajor(prevOrder);
          setWinogradChunkBytes(prev);
          setConvForwardVariant(null);
          setConvVariant(prevWeight);
        }
      });
});

// The gradient checks above sum a few channels; a Winograd form's fp32 rounding grows with the
// transform's coefficients (up to 32 for the 8-point ones) and with the channels its GEMMs sum. At
// seed-cnn's channel counts every form stays within 1.5e-4 of the largest value of the float64
// result (on lavapipe: 3e-7 to 3e-5, the largest wino6s's input gradient; one coefficient of the
// 8-point B^T 0.2% off gave 5e-3).
describe('conv2d Winograd forms at seed-cnn channel counts against the float64 reference', () => {
  const LAYERS = [
    { x: [2, 512, 6, 6], w: [512, 512, 3, 3], forms: ['wino', 'wino3', 'wino4', 'wino6'] },
    { x: [2, 128, 12, 12], w: [128, 128, 3, 3], forms: ['wino4', 'wino6'] },
    { x: [2, 64, 24, 24], w: [64, 64, 5, 5], forms: ['wino5', 'wino45', 'wino4s', 'wino6s'] },
  ] as const;
  const relativeError = (a: ArrayLike<number>, ref: Float64Array): number => {
    let err = 0;
    let top = 0;
    for (let i = 0; i < ref.length; i++) {
      err = Math.max(err, Math.abs(a[i]! - ref[i]!));
      top = Math.max(top, Math.abs(ref[i]!));
    }
    return err / top;
  };
  for (const layer of LAYERS) {
    const [n, cin, h] = layer.x;
    const [cout, , k] = layer.w;
    describe(`N=${n}, ${cin} -> ${cout} channels, ${h}x${h}, ${k}x${k} same`, () => {
      const rng = new Rng(51);
      const g = refGeometry(layer.x, layer.w, 1, 'same');
      const xd = Float32Array.from(randomArray(size(layer.x), rng));
      const scale = Math.sqrt(3 / (cin * k * k));
      const wd = Float32Array.from(randomArray(size(layer.w), rng, -scale, scale));
      const gyd = Float32Array.from(randomArray(n * cout * h * h, rng));
      // The float64 result, computed once for all forms (at the float32-rounded inputs).
      let ref: { y: Float64Array; dx: Float64Array; dw: Float64Array } | null = null;
      const reference = () => {
        if (ref) return ref;
        const x64 = Float64Array.from(xd);
        const w64 = Float64Array.from(wd);
        const grads = conv2dGradRef(x64, w64, Float64Array.from(gyd), g);
        ref = { y: conv2dRef(x64, w64, null, g), dx: grads.dx, dw: grads.dw };
        return ref;
      };
      for (const form of layer.forms)
        it(`'${form}': output, input and weight gradients within 1.5e-4 of the largest value`, async () => {
          setConvForwardVariant(form);
          const prevWeight = setConvVariant(form);
          try {
            const x = tensor(xd, layer.x, { requiresGrad: true });
            const w = tensor(wd, layer.w, { requiresGrad: true });
            const y = tidy(() => {
              const out = conv2d(x, w, null, { padding: 'same' });
              sum(mul(out, tensor(gyd, out.shape))).backward();
              return out;
            });
            const [ya, dxa, dwa] = await Promise.all([y.toArray(), x.grad!.toArray(), w.grad!.toArray()]);
            for (const t of [y, x, w, x.grad, w.grad]) t?.dispose();
            const r = reference();
            for (const [what, a, e] of [['output', ya, r.y], ['input gradient', dxa, r.dx], ['weight gradient', dwa, r.dw]] as const)
              expect(relativeError(a, e), `${form} ${what}`).toBeLessThan(1.5e-4);
          } finally {
            setConvForwardVariant(null);
            setConvVariant(prevWeight);
          }
        });
    });
  }
});

// A Winograd forward whose weight gradient has the same form keeps x's tiles V for it: one input
// transform fewer per step, and V freed with the graph.
describe('conv2d Winograd weight gradient reusing the forward input tiles', () => {
  for (const [form, k, chunkBytes] of [['wino6', 3, null], ['wino45', 5, null], ['wino6', 3, 2 * 64 * 4 * 12 * 4]] as const)
    it(`'${form}'${chunkBytes ? ' in chunks of 2 images (no reuse)' : ''}: ${chunkBytes ? 3 : 2} input transforms (per chunk) for forward and both gradients, temporaries freed`, async () => {
      setConvForwardVariant(form);
      const prevWeight = setConvVariant(form);
      const prevChunk = setWinogradChunkBytes(chunkBytes);
      try {
        const rng = new Rng(52);
        const x = tensor(Float32Array.from(randomArray(5 * 12 * 10 * 9, rng)), [5, 12, 10, 9] as const, { requiresGrad: true });
        const w = tensor(Float32Array.from(randomArray(10 * 12 * k * k, rng)), [10, 12, k, k] as const, { requiresGrad: true });
        const before = memory().liveBuffers;
        startProfile();
        tidy(() => sum(conv2d(x, w, null, { padding: 'same' })).backward());
        const kernels = await stopProfile();
        const inputTransforms = kernels.filter((t) => t.kernel.startsWith('winograd.wino_input')).reduce((n, t) => n + t.calls, 0);
        // Forward (x) and input gradient (gy), plus the weight gradient's own x tiles when there are several chunks.
        expect(inputTransforms).toBe(chunkBytes ? 3 * 3 : 2);
        expect(memory().liveBuffers).toBe(before + 2);
        disposeWithGrads(x, w);
      } finally {
        setWinogradChunkBytes(prevChunk);
        setConvForwardVariant(null);
        setConvVariant(prevWeight);
      }
    });
});
