// `pnpm bench`: GFLOP/s of the heavy kernels on this machine's adapter (median/min/max of timed runs).
//   node bench/dist/kernels.js [--json] [--runs N] [--quick]
import { writeFileSync, mkdirSync } from 'node:fs';
import {
  initDevice, describeDevice, gpu, releaseDevice, randNormal, tidy, matmul, conv2d, conv2dOutputShape, noGrad,
  type Tensor, type Shape4,
} from '@fer/tensor';
import { time, fmt, type Timing } from './timing.js';

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1]) || 5;
const quick = args.includes('--quick');

interface Row {
  kernel: string;
  shape: string;
  gflop: number;
  timing: Timing;
  gflops: number;
}

await initDevice();
console.log(`adapter: ${describeDevice()}`);
const rows: Row[] = [];

function report(kernel: string, shape: string, gflop: number, timing: Timing): void {
  const row = { kernel, shape, gflop, timing, gflops: gflop / (timing.medianMs / 1000) };
  rows.push(row);
  console.log(
    `${kernel.padEnd(22)} ${shape.padEnd(34)} median ${fmt(timing.medianMs)} ms  min ${fmt(timing.minMs)}  max ${fmt(timing.maxMs)}  ${fmt(row.gflops)} GFLOP/s`,
  );
}

async function benchMatmul(m: number, k: number, n: number): Promise<void> {
  const a = randNormal([m, k] as const, 0, 1, { seed: 1 });
  const b = randNormal([k, n] as const, 0, 1, { seed: 2 });
  const t = await time(() => noGrad(() => tidy(() => void matmul(a, b))), { runs });
  report('matmul', `${m}x${k} @ ${k}x${n}`, (2 * m * n * k) / 1e9, t);
  a.dispose();
  b.dispose();
}

async function benchConv(n: number, cin: number, cout: number, hw: number, k: number): Promise<void> {
  const x = randNormal([n, cin, hw, hw] as const, 0, 1, { seed: 3 });
  const w = randNormal([cout, cin, k, k] as const, 0, 0.05, { seed: 4 });
  const [, , oh, ow] = conv2dOutputShape(x.shape as Shape4, w.shape as Shape4, { padding: 'same' });
  const flop = (2 * n * cout * oh * ow * cin * k * k) / 1e9;
  const t = await time(() => noGrad(() => tidy(() => void conv2d(x as Tensor<Shape4>, w as Tensor<Shape4>, null, { padding: 'same' }))), { runs });
  report('conv2d forward', `N=${n} ${cin}->${cout} ${hw}x${hw} ${k}x${k} same`, flop, t);
  x.dispose();
  w.dispose();
}

await benchMatmul(1024, 1024, 1024);
await benchConv(64, 64, 128, 24, 5);
if (!quick) {
  await benchMatmul(256, 256, 256);
  await benchMatmul(64, 4608, 256);
}

if (args.includes('--json')) {
  const name = `${gpu().info.vendor}-${gpu().info.device || gpu().info.architecture}`.replace(/[^a-zA-Z0-9_.-]+/g, '-');
  mkdirSync(new URL('../results/', import.meta.url), { recursive: true });
  const file = new URL(`../results/${name}.json`, import.meta.url);
  writeFileSync(file, JSON.stringify({ adapter: gpu().info, date: new Date().toISOString(), rows }, null, 2));
  console.log(`wrote ${file.pathname}`);
}
releaseDevice();
