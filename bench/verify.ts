// Checks, on whatever adapter this runs on, that every Winograd kernel the tuner may pick agrees with
// the direct kernels (forward_rows and the register-blocked weight gradient, the generic paths) at the
// conv layer shapes of seed-cnn and vgg. The gradient-check suite proves each variant against float64
// finite differences, but only on the adapter CI has (lavapipe): a GPU gets its own bmm tiles and the
// tile-major transform order, so run this there before trusting a long training run.
//   node bench/dist/verify.js [--batch 16]
// Prints the RMS error of y, dx, dw and db relative to the direct result's RMS; exits 1 past 1e-4.
import { pathToFileURL } from 'node:url';
import { initDevice, describeDevice, releaseDevice, randUniform, conv2d, mul, sum, tidy, setConvForwardVariant, setConvVariant, type ConvForwardVariant, type ConvVariant, type Shape1, type Shape4, type Tensor } from '@fer/tensor';

interface Layer {
  name: string;
  cin: number;
  cout: number;
  size: number;
  k: 3 | 5;
}
/** seed-cnn's and vgg's stride-1 layers with at least 64 input channels (where the tuner weighs Winograd). */
const LAYERS: Layer[] = [
  { name: 'seed-cnn features.7 (5x5)', cin: 64, cout: 128, size: 24, k: 5 },
  { name: 'seed-cnn features.12', cin: 128, cout: 512, size: 12, k: 3 },
  { name: 'seed-cnn features.17', cin: 512, cout: 512, size: 6, k: 3 },
  { name: 'vgg 64 -> 64 at 48x48', cin: 64, cout: 64, size: 48, k: 3 },
  { name: 'vgg 64 -> 128 at 24x24', cin: 64, cout: 128, size: 24, k: 3 },
  { name: 'vgg 256 -> 512 at 6x6 (partial 4x4 tiles)', cin: 256, cout: 512, size: 6, k: 3 },
];
/** Past this relative RMS error a kernel is wrong, not rounded (float32 Winograd measured <= 5.2e-6). */
const TOLERANCE = 1e-4;

interface Result {
  y: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
  db: Float32Array;
}

async function run(l: Layer, batch: number, forward: ConvForwardVariant, weight: ConvVariant): Promise<Result> {
  setConvForwardVariant(forward);
  setConvVariant(weight);
  const x = randUniform([batch, l.cin, l.size, l.size] as const, -1, 1, { seed: 1, requiresGrad: true }) as Tensor<Shape4>;
  const w = randUniform([l.cout, l.cin, l.k, l.k] as const, -0.1, 0.1, { seed: 2, requiresGrad: true }) as Tensor<Shape4>;
  const b = randUniform([l.cout] as const, -1, 1, { seed: 3, requiresGrad: true }) as Tensor<Shape1>;
  const gy = randUniform([batch, l.cout, l.size, l.size] as const, -1, 1, { seed: 4 });
  const y = conv2d(x, w, b, { padding: 'same' });
  tidy(() => sum(mul(y, gy)).backward());
  const out = {
    y: (await y.toArray()) as Float32Array,
    dx: (await x.grad!.toArray()) as Float32Array,
    dw: (await w.grad!.toArray()) as Float32Array,
    db: (await b.grad!.toArray()) as Float32Array,
  };
  for (const t of [x.grad!, w.grad!, b.grad!, x, w, b, gy, y]) t.dispose();
  return out;
}

function relRms(got: Float32Array, want: Float32Array): number {
  let err = 0;
  let ref = 0;
  for (let i = 0; i < want.length; i++) {
    err += (got[i]! - want[i]!) ** 2;
    ref += want[i]! ** 2;
  }
  return Math.sqrt(err / Math.max(ref, 1e-30));
}

export async function verifyWinograd(batch: number, log = console.log): Promise<boolean> {
  let ok = true;
  for (const l of LAYERS) {
    const direct = await run(l, batch, 'rows', 'cpu');
    const variants = l.k === 5 ? (['wino5'] as const) : (['wino', 'wino4'] as const);
    for (const v of variants) {
      const got = await run(l, batch, v, v);
      const errs = (['y', 'dx', 'dw', 'db'] as const).map((k) => [k, relRms(got[k], direct[k])] as const);
      const bad = errs.filter(([, e]) => !(e <= TOLERANCE));
      ok &&= bad.length === 0;
      log(`${l.name.padEnd(42)} ${v.padEnd(6)} ${errs.map(([k, e]) => `${k} ${e.toExponential(1)}`).join('  ')}${bad.length ? `  FAIL (> ${TOLERANCE})` : ''}`);
    }
  }
  setConvForwardVariant(null);
  setConvVariant('auto');
  return ok;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const i = process.argv.indexOf('--batch');
  const batch = i > 0 ? Number(process.argv[i + 1]) : 16;
  if (!Number.isInteger(batch) || batch < 1) {
    console.error(`verify: --batch must be a positive integer, got '${process.argv[i + 1]}'`);
    process.exit(2);
  }
  await initDevice();
  console.log(`adapter: ${describeDevice()}; batch ${batch}; each Winograd kernel against the direct kernels (relative RMS error)`);
  const ok = await verifyWinograd(batch);
  releaseDevice();
  console.log(ok ? 'all Winograd kernels agree' : 'some Winograd kernels disagree');
  process.exit(ok ? 0 : 1);
}
