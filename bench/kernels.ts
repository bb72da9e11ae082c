// `pnpm bench`: GFLOP/s of the heavy kernels on this machine's adapter (median/min/max of timed runs),
// each beside its peers in the same process, on the same adapter and the same input values:
// TF.js-WebGPU always, TF.js-WASM on a software adapter (bench/peers/tfjs.ts).
// speedup = peer median / our median (> 1: ours is faster).
//   node bench/dist/kernels.js [--json] [--runs N] [--quick] [--no-peers]
import {
  initDevice, describeDevice, gpu, releaseDevice, randNormal, tidy, matmul, conv2d, conv2dOutputShape, noGrad,
  type Tensor, type Shape4,
} from '@fer/tensor';
import { time, fmt, writeResults, type Timing } from './timing.js';
import { TfjsPeer, peerBackends, shutdownTfjs } from './peers/tfjs.js';

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1]) || 5;
const quick = args.includes('--quick');
const withPeers = !args.includes('--no-peers');

type PeerRow = { timing: Timing; gflops: number; speedup: number } | { error: string };

interface Row {
  kernel: string;
  shape: string;
  gflop: number;
  timing: Timing;
  gflops: number;
  /** By peer name (tfjs-webgpu, tfjs-wasm): its timing, or why it could not run. */
  peers: Record<string, PeerRow>;
}

await initDevice();
console.log(`adapter: ${describeDevice()}`);

// Peers load once; one that cannot load is reported once and on every row.
const peers: TfjsPeer[] = [];
const peerInfo: Record<string, { detail: string } | { error: string }> = {};
if (withPeers) {
  for (const backend of peerBackends(gpu().info.software)) {
    try {
      const p = await TfjsPeer.create(backend);
      peers.push(p);
      peerInfo[p.name] = { detail: p.detail };
      console.log(`peer ${p.name}: ${p.detail}`);
    } catch (e) {
      peerInfo[`tfjs-${backend}`] = { error: message(e) };
      console.log(`peer tfjs-${backend}: cannot run: ${message(e)}`);
    }
  }
}
const rows: Row[] = [];

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function line(label: string, t: Timing, gflops: number, extra = ''): string {
  return `${label.padEnd(14)} median ${fmt(t.medianMs)} ms  min ${fmt(t.minMs)}  max ${fmt(t.maxMs)}  ${fmt(gflops)} GFLOP/s${extra}`;
}

/** Times ours, prints it, then times each peer with `peerRun` and prints its row with the speedup. */
async function bench(kernel: string, shape: string, gflop: number, ours: Timing, peerRun: (p: TfjsPeer) => Promise<Timing>): Promise<void> {
  const row: Row = { kernel, shape, gflop, timing: ours, gflops: gflop / (ours.medianMs / 1000), peers: {} };
  rows.push(row);
  console.log(`${kernel.padEnd(22)} ${shape}`);
  console.log(`  ${line('ours', ours, row.gflops)}`);
  for (const [name, info] of Object.entries(peerInfo)) {
    const p = peers.find((q) => q.name === name);
    if (!p) {
      row.peers[name] = { error: 'error' in info ? info.error : 'not loaded' };
      continue;
    }
    try {
      const t = await peerRun(p);
      const pr = { timing: t, gflops: gflop / (t.medianMs / 1000), speedup: t.medianMs / ours.medianMs };
      row.peers[name] = pr;
      console.log(`  ${line(name, t, pr.gflops, `  speedup x${pr.speedup.toFixed(2)}`)}`);
    } catch (e) {
      row.peers[name] = { error: message(e) };
      console.log(`  ${name.padEnd(14)} cannot run: ${message(e)}`);
    }
  }
}

async function benchMatmul(m: number, k: number, n: number): Promise<void> {
  const a = randNormal([m, k] as const, 0, 1, { seed: 1 });
  const b = randNormal([k, n] as const, 0, 1, { seed: 2 });
  const ours = await time(() => noGrad(() => tidy(() => void matmul(a, b))), { runs });
  const av = await a.toArray() as Float32Array;
  const bv = await b.toArray() as Float32Array;
  await bench('matmul', `${m}x${k} @ ${k}x${n}`, (2 * m * n * k) / 1e9, ours, (p) => p.matmul(av, bv, m, k, n, { runs }));
  a.dispose();
  b.dispose();
}

/**
 * Forward, backward to the input and backward to the weights of one 'same' convolution. The
 * backward passes are timed alone: the forward runs once with a recorded node, and each timed run
 * calls that node's backward closure with one of x / w marked as needing a gradient.
 */
async function benchConv(n: number, cin: number, cout: number, hw: number, k: number): Promise<void> {
  const x = randNormal([n, cin, hw, hw] as const, 0, 1, { seed: 3 }) as Tensor<Shape4>;
  const w = randNormal([cout, cin, k, k] as const, 0, 0.05, { seed: 4 }) as Tensor<Shape4>;
  const outShape = conv2dOutputShape(x.shape, w.shape, { padding: 'same' });
  const [, , oh, ow] = outShape;
  const gy = randNormal(outShape, 0, 1, { seed: 5 });
  const gflop = (2 * n * cout * oh * ow * cin * k * k) / 1e9;
  const shape = `N=${n} ${cin}->${cout} ${hw}x${hw} ${k}x${k} same`;
  const xv = await x.toArray() as Float32Array;
  const wv = await w.toArray() as Float32Array;
  const gyv = await gy.toArray() as Float32Array;

  const fwd = await time(() => noGrad(() => tidy(() => void conv2d(x, w, null, { padding: 'same' }))), { runs });
  await bench('conv2d forward', shape, gflop, fwd, (p) => p.conv2d('forward', xv, x.shape, wv, w.shape, gyv, outShape, 'same', { runs }));

  x.requiresGrad = true;
  w.requiresGrad = true;
  const y = conv2d(x, w, null, { padding: 'same' });
  const node = y.node!;
  const backward = (input: boolean) => {
    x.requiresGrad = input;
    w.requiresGrad = !input;
    return time(() => noGrad(() => tidy(() => void node.backward(gy))), { runs });
  };
  const bin = await backward(true);
  await bench('conv2d backward-input', shape, gflop, bin, (p) => p.conv2d('input', xv, x.shape, wv, w.shape, gyv, outShape, 'same', { runs }));
  const bw = await backward(false);
  await bench('conv2d backward-weight', shape, gflop, bw, (p) => p.conv2d('weight', xv, x.shape, wv, w.shape, gyv, outShape, 'same', { runs }));
  for (const t of [y, gy, x, w]) t.dispose();
}

await benchMatmul(1024, 1024, 1024);
await benchConv(64, 64, 128, 24, 5);
if (!quick) {
  await benchMatmul(256, 256, 256);
  await benchMatmul(64, 4608, 256);
  await benchConv(64, 128, 512, 12, 3);
}

if (args.includes('--json')) console.log(`wrote ${writeResults('', { runs, peers: peerInfo, rows })}`);
await shutdownTfjs();
releaseDevice();
