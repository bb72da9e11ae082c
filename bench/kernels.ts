// `pnpm bench`: the kernels of the FER models on this machine's adapter, each beside its peers in
// the same process, on the same adapter and the same input values: TF.js-WebGPU always, TF.js-WASM
// on a software adapter (bench/peers/tfjs.ts); then whole training steps (bench/step.ts).
//
// First the adapter's measured peaks (bench/peak.ts, shaders/peak.wgsl): GFLOP/s of an fma loop and
// GB/s of a large copy, each at its fastest run. Every row then gives the median, min and max of its
// timed runs (warm-up excluded, queue drained: timing.ts time()), its rate at the median (GFLOP/s
// for matmul, linear and conv2d; GB/s of the minimum traffic for the memory-bound ops) and that
// rate as a share of the matching peak.
// speedup = peer median / our median (> 1: ours is faster).
//
// The conv2d, dense, batchnorm and maxpool shapes come from walking the modules of seed-cnn and
// fast (packages/nn/src/models) at batch 64, so they follow the models.
//   node bench/dist/kernels.js [--json] [--runs N] [--quick] [--no-peers] [--no-step] [--steps N]
//                              [--only peak,matmul,dense,conv,batchnorm,maxpool,softmax,adam,step]
// --runs: timed runs per row (default 5); --steps: our timed training steps (default max(3, runs));
// --quick: fewer shapes (matmul 256 and 1024, the first dense layer, fast's conv layers, the fast step).
// The peaks always run (every row's share needs them).
// --json writes bench/results/<adapter>.json; `node bench/dist/markdown.js FILE` prints it as tables.
import {
  initDevice, describeDevice, gpu, releaseDevice, randNormal, zeros, tensor, tidy, noGrad,
  matmul, linear, conv2d, conv2dOutputShape, conv2dKernel, batchNorm, maxPool2d, softmaxCrossEntropy, adamSteps,
  type Tensor, type Shape, type Shape1, type Shape2, type Shape4,
} from '@fer/tensor';
import { createModel, Sequential, Conv2d, Linear, BatchNorm2d, MaxPool2d, type Module } from '@fer/nn';
import { time, fmt, writeResults, type Timing, type TimeOptions } from './timing.js';
import { fmaPeak, copyPeak, type Peak } from './peak.js';
import { TfjsPeer, loadPeers, shutdownTfjs, type PeerError } from './peers/tfjs.js';
import { benchSteps, peerSummary, type StepRow } from './step.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined);
const runs = Number(opt('runs')) || 5;
const quick = args.includes('--quick');
const withPeers = !args.includes('--no-peers');
const SECTIONS = ['peak', 'matmul', 'dense', 'conv', 'batchnorm', 'maxpool', 'softmax', 'adam', 'step'] as const;
type Section = (typeof SECTIONS)[number];
const only = opt('only')?.split(',');
const bad = only?.filter((s) => !(SECTIONS as readonly string[]).includes(s));
if (bad?.length) throw new Error(`--only: unknown section(s) ${bad.join(', ')}; valid: ${SECTIONS.join(', ')}`);
const want = (s: Section): boolean => (only ? only.includes(s) : s !== 'step' || !args.includes('--no-step'));
const BATCH = 64;
const MODELS = ['seed-cnn', 'fast'] as const;
/** A kernel whose first run takes this long gets one warm-up and at most 3 timed runs (ours and peers). */
const timing: Omit<TimeOptions, 'drain'> = { runs, slowMs: 2000, slowRuns: 3 };

type Unit = 'GFLOP/s' | 'GB/s';
type PeerRow = { timing: Timing; rate: number; percentOfPeak: number; speedup: number } | { error: string };

interface Row {
  kernel: string;
  shape: string;
  /** The model layers with this shape ('seed-cnn features.3, fast features.4'), where it comes from a model. */
  usedBy?: string;
  /** Our kernel for the row where the tuner chooses among several (conv2d passes). */
  ourKernel?: string;
  unit: Unit;
  /** GFLOP (GFLOP/s rows) or GB of minimum traffic (GB/s rows) per run. */
  work: number;
  timing: Timing;
  rate: number;
  /** rate / the adapter's measured peak of that unit, in percent. */
  percentOfPeak: number;
  /** By peer name (tfjs-webgpu, tfjs-wasm): its timing, or why it could not run. */
  peers: Record<string, PeerRow>;
}

await initDevice();
console.log(`adapter: ${describeDevice()}`);

// Peers load once; one that cannot load is reported once and on every row.
const peerList: Array<TfjsPeer | PeerError> = withPeers ? await loadPeers(gpu().info.software) : [];
const rows: Row[] = [];

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---- peaks ----

const peaks: Partial<Record<Unit, Peak>> = {};
console.log('peaks (shaders/peak.wgsl):');
for (const [name, measure] of [['fma_peak', fmaPeak], ['copy_peak', copyPeak]] as const) {
  // More runs than the rows: each is short, and the best one counts (a moment the machine was quiet).
  const p = await measure({ runs: Math.max(runs, 10) });
  peaks[p.unit] = p;
  console.log(`  ${name.padEnd(12)} median ${fmt(p.timing.medianMs)} ms  min ${fmt(p.timing.minMs)}  max ${fmt(p.timing.maxMs)}  peak ${fmt(p.value)} ${p.unit} (best run; median ${p.medianValue.toFixed(1)})  ${p.shape}`);
}

function percent(rate: number, unit: Unit): number {
  const p = peaks[unit];
  return p ? (100 * rate) / p.value : NaN;
}

/** More decimals for small values (a 64x7 cross-entropy moves a few KB). */
const fmtSmall = (x: number): string => fmt(x, x >= 10 ? 1 : x >= 0.1 ? 2 : 4);

function line(label: string, t: Timing, rate: number, unit: Unit, extra = ''): string {
  const pct = percent(rate, unit);
  return `${label.padEnd(14)} median ${fmt(t.medianMs)} ms  min ${fmt(t.minMs)}  max ${fmt(t.maxMs)}  ${fmtSmall(rate)} ${unit.padEnd(7)} ${fmtSmall(pct)}% of peak${extra}`;
}

/** Records our timing, prints it, then times each peer with `peerRun` and prints its row with the speedup. */
async function bench(
  kernel: string, shape: string, unit: Unit, work: number, ours: Timing,
  peerRun: ((p: TfjsPeer) => Promise<Timing>) | string,
  usedBy?: string,
  ourKernel?: string,
): Promise<void> {
  const rate = work / (ours.medianMs / 1000);
  const row: Row = { kernel, shape, ...(usedBy ? { usedBy } : {}), ...(ourKernel ? { ourKernel } : {}), unit, work, timing: ours, rate, percentOfPeak: percent(rate, unit), peers: {} };
  rows.push(row);
  console.log(`${kernel.padEnd(26)} ${shape}${usedBy ? `  [${usedBy}]` : ''}${ourKernel ? `  (ours: ${ourKernel})` : ''}`);
  console.log(`  ${line('ours', ours, rate, unit)}`);
  for (const p of peerList) {
    if (!(p instanceof TfjsPeer)) {
      row.peers[p.name] = { error: p.error };
      continue;
    }
    try {
      if (typeof peerRun === 'string') throw new Error(peerRun);
      const t = await peerRun(p);
      const r = work / (t.medianMs / 1000);
      row.peers[p.name] = { timing: t, rate: r, percentOfPeak: percent(r, unit), speedup: t.medianMs / ours.medianMs };
      console.log(`  ${line(p.name, t, r, unit, `  speedup x${(t.medianMs / ours.medianMs).toFixed(2)}`)}`);
    } catch (e) {
      row.peers[p.name] = { error: message(e) };
      console.log(`  ${p.name.padEnd(14)} cannot run: ${message(e)}`);
    }
  }
}

// ---- the models' layers ----

interface Layer {
  module: Module;
  /** The input shape at batch 64. */
  inShape: Shape;
  /** 'seed-cnn features.3' */
  where: string;
}

/** Leaves of a model in forward order with their input shapes (Sequential containers are walked into). */
function layersOf(name: string): Layer[] {
  const model = createModel(name, { seed: 1 });
  const paths = new Map(model.namedModules().map(([path, m]) => [m, path]));
  const out: Layer[] = [];
  const walk = (m: Module, shape: Shape): Shape => {
    if (m instanceof Sequential) {
      for (const child of m.layers) shape = walk(child, shape);
      return shape;
    }
    out.push({ module: m, inShape: shape, where: `${name} ${paths.get(m)}` });
    return m.outputShape(shape);
  };
  walk(model, [BATCH, 1, 48, 48]);
  model.dispose();
  return out;
}

const modelLayers = MODELS.map((m) => layersOf(m));

/** Distinct layers of type T over both models (or the first model's alone), keyed by `key`. */
function distinct<T extends Module>(type: abstract new (...a: never[]) => T, key: (m: T, inShape: Shape) => string, models = modelLayers): Array<{ module: T; inShape: Shape; usedBy: string }> {
  const byKey = new Map<string, { module: T; inShape: Shape; usedBy: string[] }>();
  for (const layers of models)
    for (const l of layers) {
      if (!(l.module instanceof type)) continue;
      const k = key(l.module, l.inShape);
      const hit = byKey.get(k);
      if (hit) hit.usedBy.push(l.where);
      else byKey.set(k, { module: l.module, inShape: l.inShape, usedBy: [l.where] });
    }
  return [...byKey.values()].map((v) => ({ ...v, usedBy: v.usedBy.join(', ') }));
}

// ---- GFLOP/s rows ----

async function benchMatmul(m: number, k: number, n: number): Promise<void> {
  const a = randNormal([m, k] as const, 0, 1, { seed: 1 });
  const b = randNormal([k, n] as const, 0, 1, { seed: 2 });
  const ours = await time(() => noGrad(() => tidy(() => void matmul(a, b))), timing);
  const av = (await a.toArray()) as Float32Array;
  const bv = (await b.toArray()) as Float32Array;
  await bench('matmul', `${m}x${k} @ ${k}x${n}`, 'GFLOP/s', (2 * m * n * k) / 1e9, ours, (p) => p.matmul(av, bv, m, k, n, timing));
  a.dispose();
  b.dispose();
}

/**
 * Times `fwd` (its output recorded on the tape when inputs need a gradient) and returns the
 * recorded output's backward closure, for timing a backward pass alone: the forward runs once,
 * and each timed run calls the node's backward with the output gradient `gy`.
 */
function backwardOf(out: Tensor): (gy: Tensor) => void {
  const node = out.node;
  if (!node) throw new Error('internal: the output has no recorded node (no input requires grad)');
  return (gy) => void node.backward(gy);
}

/** A dense layer (linear, x [64, in] @ w [out, in]^T + bias) and its two backward products. */
async function benchLinear(inF: number, outF: number, usedBy: string): Promise<void> {
  const x = randNormal([BATCH, inF] as const, 0, 1, { seed: 3 });
  const w = randNormal([outF, inF] as const, 0, 0.05, { seed: 4 });
  const bias = randNormal([outF] as const, 0, 0.05, { seed: 5 });
  const gy = randNormal([BATCH, outF] as const, 0, 1, { seed: 6 });
  const [xv, wv, bv, gyv] = (await Promise.all([x, w, bias, gy].map((t) => t.toArray()))) as Float32Array[];
  const gflop = (2 * BATCH * inF * outF) / 1e9;
  const shape = `x ${BATCH}x${inF} @ w ${outF}x${inF}^T`;
  const fwd = await time(() => noGrad(() => tidy(() => void linear(x, w, bias))), timing);
  await bench('linear forward', shape, 'GFLOP/s', gflop, fwd, (p) => p.linear('forward', xv!, wv!, bv!, gyv!, BATCH, inF, outF, timing), usedBy);
  x.requiresGrad = true;
  w.requiresGrad = true;
  const y = linear(x, w, bias);
  const back = backwardOf(y);
  for (const [pass, input] of [['input', true], ['weight', false]] as const) {
    x.requiresGrad = input;
    w.requiresGrad = !input;
    const t = await time(() => noGrad(() => tidy(() => back(gy))), timing);
    const what = input ? `dx = dy ${BATCH}x${outF} @ w ${outF}x${inF}` : `dw = dy^T ${outF}x${BATCH} @ x ${BATCH}x${inF}`;
    await bench(`linear backward-${pass}`, what, 'GFLOP/s', gflop, t, (p) => p.linear(pass, xv!, wv!, bv!, gyv!, BATCH, inF, outF, timing), usedBy);
  }
  for (const t of [y, x, w, bias, gy]) t.dispose();
}

/**
 * Forward, backward to the input and backward to the weights of one convolution. The backward
 * passes are timed alone: the forward runs once with a recorded node, and each timed run calls that
 * node's backward closure with one of x / w marked as needing a gradient.
 */
async function benchConv(layer: Conv2d, inShape: Shape4, usedBy: string): Promise<void> {
  const [n, cin, h, wd] = inShape;
  const [kh, kw] = layer.kernel;
  const options = { stride: layer.stride, padding: layer.padding };
  const x = randNormal(inShape, 0, 1, { seed: 3 }) as Tensor<Shape4>;
  const w = randNormal(layer.weight.shape, 0, 0.05, { seed: 4 }) as Tensor<Shape4>;
  const outShape = conv2dOutputShape(x.shape, w.shape, options);
  const [, cout, oh, ow] = outShape;
  const gy = randNormal(outShape, 0, 1, { seed: 5 });
  const gflop = (2 * n * cout * oh * ow * cin * kh * kw) / 1e9;
  const stride = layer.stride[0] === layer.stride[1] ? layer.stride[0] : layer.stride.join('x');
  const shape = `N=${n} ${cin}->${cout} ${h}x${wd} ${kh}x${kw}${stride === 1 ? '' : ` stride ${stride}`} ${String(layer.padding)}`;
  const [xv, wv, gyv] = (await Promise.all([x, w, gy].map((t) => t.toArray()))) as Float32Array[];
  const padding = layer.padding;
  const peerRun = (pass: 'forward' | 'input' | 'weight') =>
    layer.stride[0] !== 1 || layer.stride[1] !== 1 || (padding !== 'same' && padding !== 'valid')
      ? `the TF.js wrapper (bench/peers/tfjs.ts) runs stride 1 with 'same' or 'valid' padding only`
      : (p: TfjsPeer) => p.conv2d(pass, xv!, x.shape, wv!, w.shape, gyv!, outShape, padding, timing);

  const fwd = await time(() => noGrad(() => tidy(() => void conv2d(x, w, null, options))), timing);
  await bench('conv2d forward', shape, 'GFLOP/s', gflop, fwd, peerRun('forward'), usedBy, conv2dKernel(x.shape, w.shape, options, 'forward'));
  x.requiresGrad = true;
  w.requiresGrad = true;
  const y = conv2d(x, w, null, options);
  const back = backwardOf(y);
  for (const [pass, input] of [['input', true], ['weight', false]] as const) {
    x.requiresGrad = input;
    w.requiresGrad = !input;
    const t = await time(() => noGrad(() => tidy(() => back(gy))), timing);
    await bench(`conv2d backward-${pass}`, shape, 'GFLOP/s', gflop, t, peerRun(pass), usedBy, conv2dKernel(x.shape, w.shape, options, pass));
  }
  for (const t of [y, gy, x, w]) t.dispose();
}

// ---- GB/s rows (bytes each kernel must move at the least: every tensor read or written once) ----

/**
 * Times a training-mode op two ways: the forward alone (its tape node recorded, as in training),
 * and forward + backward (the node's backward with the output gradient gy).
 */
async function timeForwardBackward(forward: () => Tensor, gy: Tensor): Promise<[Timing, Timing]> {
  const fwd = await time(() => tidy(() => void forward()), timing);
  // The backward runs untaped, as backward() runs it.
  const both = await time(() => tidy(() => {
    const y = forward();
    noGrad(() => backwardOf(y)(gy));
  }), timing);
  return [fwd, both];
}

/** Training-mode BatchNorm2d (batch statistics, running stats updated) of one model activation. */
async function benchBatchNorm(layer: BatchNorm2d, inShape: Shape4, usedBy: string): Promise<void> {
  const c = inShape[1];
  const x = randNormal(inShape, 0, 1, { seed: 7 }) as Tensor<Shape4>;
  const gy = randNormal(inShape, 0, 1, { seed: 8 }) as Tensor<Shape4>;
  const gamma = tensor(new Float32Array(c).fill(1), [c] as const);
  const beta = zeros([c] as const);
  const rm = zeros([c] as const);
  const rv = tensor(new Float32Array(c).fill(1), [c] as const);
  for (const t of [x, gamma, beta]) t.requiresGrad = true;
  const opts = { training: true, momentum: layer.momentum ?? 0.1, eps: layer.eps };
  const [fwd, both] = await timeForwardBackward(() => batchNorm(x, gamma as Tensor<Shape1>, beta, rm, rv, opts), gy);
  const [xv, gyv] = (await Promise.all([x, gy].map((t) => t.toArray()))) as Float32Array[];
  const shape = `[${inShape.join(', ')}] train`;
  const gb = (x.size * 4) / 1e9;
  // forward: read x, write y; backward: read dy and x, write dx.
  await bench('batchnorm2d forward', shape, 'GB/s', 2 * gb, fwd, (p) => p.batchNorm2d('forward', xv!, inShape, gyv!, layer.eps, timing), usedBy);
  await bench('batchnorm2d fwd+bwd', shape, 'GB/s', 5 * gb, both, (p) => p.batchNorm2d('forward+backward', xv!, inShape, gyv!, layer.eps, timing), usedBy);
  for (const t of [x, gy, gamma, beta, rm, rv]) t.dispose();
}

async function benchMaxPool(layer: MaxPool2d, inShape: Shape4, usedBy: string): Promise<void> {
  const x = randNormal(inShape, 0, 1, { seed: 9 }) as Tensor<Shape4>;
  x.requiresGrad = true;
  const options = { kernel: layer.kernel, stride: layer.stride };
  const outShape = layer.outputShape(inShape) as Shape4;
  const gy = randNormal(outShape, 0, 1, { seed: 10 });
  const [fwd, both] = await timeForwardBackward(() => maxPool2d(x, options), gy);
  const [xv, gyv] = (await Promise.all([x, gy].map((t) => t.toArray()))) as Float32Array[];
  const [kh, kw] = layer.kernel;
  const shape = `[${inShape.join(', ')}] ${kh}x${kw} stride ${layer.stride.join('x')}`;
  const inGb = (x.size * 4) / 1e9;
  const outGb = (gy.size * 4) / 1e9;
  const square = kh === kw && layer.stride[0] === layer.stride[1];
  const peerRun = (pass: 'forward' | 'forward+backward') =>
    square ? (p: TfjsPeer) => p.maxPool2d(pass, xv!, inShape, gyv!, outShape, kh, layer.stride[0], timing) : 'the TF.js wrapper runs square windows and strides only';
  // forward: read x, write y (the argmax ours saves for the backward is not counted); backward: read dy, write dx.
  await bench('maxpool2d forward', shape, 'GB/s', inGb + outGb, fwd, peerRun('forward'), usedBy);
  await bench('maxpool2d fwd+bwd', shape, 'GB/s', 2 * (inGb + outGb), both, peerRun('forward+backward'), usedBy);
  x.dispose();
  gy.dispose();
}

async function benchSoftmaxCe(n: number, c: number, usedBy?: string): Promise<void> {
  const logits = randNormal([n, c] as const, 0, 1, { seed: 11 }) as Tensor<Shape2>;
  logits.requiresGrad = true;
  const labelValues = Int32Array.from({ length: n }, (_, i) => (i * 7919) % c);
  const labels = tensor(labelValues, [n] as const, { dtype: 'i32' });
  const gy = tensor([1], [] as const);
  const [fwd, both] = await timeForwardBackward(() => softmaxCrossEntropy(logits, labels), gy);
  const lv = (await logits.toArray()) as Float32Array;
  const shape = `logits ${n}x${c}, i32 labels, mean`;
  // forward: read logits and labels; backward: write the logits' gradient.
  const fwdGb = ((n * c + n) * 4) / 1e9;
  const bothGb = fwdGb + (n * c * 4) / 1e9;
  await bench('softmax-xent forward', shape, 'GB/s', fwdGb, fwd, (p) => p.softmaxCrossEntropy('forward', lv, labelValues, n, c, timing), usedBy);
  await bench('softmax-xent fwd+bwd', shape, 'GB/s', bothGb, both, (p) => p.softmaxCrossEntropy('forward+backward', lv, labelValues, n, c, timing), usedBy);
  for (const t of [logits, labels, gy]) t.dispose();
}

/** One Adam step over parameters of a model's shapes, as nn's Adam: fused, up to 4 tensors per dispatch. */
async function benchAdam(model: string): Promise<void> {
  const m = createModel(model, { seed: 1 });
  const shapes = m.parameters().map((p) => p.shape);
  m.dispose();
  const params = shapes.map((s, i) => randNormal(s, 0, 0.05, { seed: 100 + i }));
  const grads = shapes.map((s, i) => randNormal(s, 0, 1e-3, { seed: 200 + i }));
  const ms = shapes.map((s) => zeros(s));
  const vs = shapes.map((s) => zeros(s));
  let step = 0;
  const ours = await time(() => {
    step++;
    adamSteps(
      params.map((param, i) => ({ param, grad: grads[i]!, m: ms[i]!, v: vs[i]!, step })),
      { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false },
    );
  }, timing);
  const count = params.reduce((s, p) => s + p.size, 0);
  // read param, grad, m, v; write param, m, v.
  await bench('adam step', `${count.toLocaleString('en-US')} parameters in ${shapes.length} tensors`, 'GB/s', (7 * count * 4) / 1e9, ours, (p) => p.adam(shapes, timing), `${model} parameters`);
  for (const t of [...params, ...grads, ...ms, ...vs]) t.dispose();
}

// ---- the run ----

// 4096^3 (the GPU target's size) only on hardware adapters: on lavapipe one run takes seconds.
const matmulSizes = quick ? [256, 1024] : gpu().info.software ? [256, 1024, 2048] : [256, 1024, 2048, 4096];
if (want('matmul')) for (const s of matmulSizes) await benchMatmul(s, s, s);

if (want('dense')) {
  const dense = distinct(Linear, (l) => `${l.inFeatures}->${l.outFeatures}`);
  for (const d of quick ? dense.slice(0, 1) : dense) await benchLinear(d.module.inFeatures, d.module.outFeatures, d.usedBy);
}

if (want('conv')) {
  const convs = distinct(Conv2d, (l, s) => `${s.join('x')} ${l.outChannels} ${l.kernel.join('x')} ${l.stride.join('x')} ${String(l.padding)}`);
  // --quick: the layers of fast (the cheap model) only.
  for (const c of quick ? convs.filter((c) => c.usedBy.includes('fast ')) : convs) await benchConv(c.module, c.inShape as Shape4, c.usedBy);
}

/** The layer of `type` in seed-cnn with the largest input (the costliest of its kind). */
function largest<T extends Module>(type: abstract new (...a: never[]) => T): { module: T; inShape: Shape4; usedBy: string } {
  const all = distinct(type, (_, s) => s.join('x'), [modelLayers[0]!]);
  const size = (s: Shape) => s.reduce((a, b) => a * b, 1);
  const best = all.reduce((a, b) => (size(b.inShape) > size(a.inShape) ? b : a));
  return { module: best.module, inShape: best.inShape as Shape4, usedBy: best.usedBy };
}

if (want('batchnorm')) {
  const bn = largest(BatchNorm2d);
  await benchBatchNorm(bn.module, bn.inShape, bn.usedBy);
}
if (want('maxpool')) {
  const mp = largest(MaxPool2d);
  await benchMaxPool(mp.module, mp.inShape, mp.usedBy);
}
if (want('softmax')) {
  await benchSoftmaxCe(BATCH, 7, 'seed-cnn, fast loss');
  if (!quick) await benchSoftmaxCe(4096, 1000);
}
if (want('adam')) await benchAdam('seed-cnn');

let steps: StepRow[] = [];
if (want('step')) {
  // A TF.js-WebGPU seed-cnn step takes over a minute on lavapipe: the peers time 2 steps (after 1 untimed).
  const n = Number(opt('steps')) || Math.max(3, runs);
  const peerSteps = Math.min(2, n);
  console.log(`training steps (bench/step.ts; batch ${BATCH}, forward + backward + Adam; ours ${n} timed steps, peers ${peerSteps}):`);
  steps = await benchSteps({ models: quick ? ['fast'] : [...MODELS], batch: BATCH, steps: n, peerSteps, peers: peerList });
}

if (args.includes('--json')) {
  const file = writeResults('', { runs, quick, peaks, peers: peerSummary(peerList), rows, steps });
  console.log(`wrote ${file}`);
}
await shutdownTfjs();
releaseDevice();
