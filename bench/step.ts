// Whole training steps (forward + backward + Adam, batch 64) of the FER models: ms/step, images/s,
// beside TF.js peers in the same process on the same adapter and the same input batch
// (TF.js-WebGPU always, TF.js-WASM on a software adapter; bench/peers/tfjs.ts).
// speedup = peer ms/step / our ms/step (> 1: ours is faster).
//   node bench/dist/step.js [--models seed-cnn,fast] [--batch 64] [--steps 10] [--peer-steps 3] [--no-peers] [--json]
import { initDevice, describeDevice, gpu, releaseDevice, randUniform, tensor, tidy, softmaxCrossEntropy, sync, memory, type Tensor, type Shape2, type Shape4 } from '@fer/tensor';
import { createModel, Adam } from '@fer/nn';
import { writeResults } from './timing.js';
import { TfjsPeer, peerBackends, shutdownTfjs, type PeerModel } from './peers/tfjs.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1]! : def);
const models = opt('models', 'seed-cnn,fast').split(',');
const batch = Number(opt('batch', '64'));
const steps = Number(opt('steps', '10'));
// TF.js-WebGPU on a software adapter takes tens of seconds per seed-cnn step: fewer timed steps.
const peerSteps = Number(opt('peer-steps', '3'));
const withPeers = !args.includes('--no-peers');
const NUM_CLASSES = 7;

type PeerStep = { msPerStep: number; imagesPerSecond: number; speedup: number; steps: number; parameters: number } | { error: string };
interface StepRow {
  model: string;
  batch: number;
  steps: number;
  msPerStep: number;
  imagesPerSecond: number;
  parameters: number;
  peers: Record<string, PeerStep>;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

await initDevice();
console.log(`adapter: ${describeDevice()}`);
const peers: Array<TfjsPeer | { name: string; error: string }> = [];
if (withPeers) {
  for (const backend of peerBackends(gpu().info.software)) {
    try {
      const p = await TfjsPeer.create(backend);
      peers.push(p);
      console.log(`peer ${p.name}: ${p.detail}`);
    } catch (e) {
      peers.push({ name: `tfjs-${backend}`, error: message(e) });
      console.log(`peer tfjs-${backend}: cannot run: ${message(e)}`);
    }
  }
}

const rows: StepRow[] = [];
for (const name of models) {
  const model = createModel(name, { seed: 1 });
  model.train();
  const parameters = model.parameters().reduce((s, p) => s + p.size, 0);
  const adam = new Adam(model.parameters(), { lr: 1e-4 });
  const x = randUniform([batch, 1, 48, 48] as const, 0, 1, { seed: 2 }) as Tensor<Shape4>;
  const labels = Int32Array.from({ length: batch }, (_, i) => i % NUM_CLASSES);
  const y = tensor(labels, [batch] as const, { dtype: 'i32' });
  const step = () => {
    tidy(() => {
      const loss = softmaxCrossEntropy(model.forward(x) as Tensor<Shape2>, y);
      loss.backward();
    });
    adam.step();
    adam.zeroGrad();
  };
  for (let i = 0; i < 2; i++) step();
  await sync();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  await sync();
  const ms = (performance.now() - t0) / steps;
  const row: StepRow = { model: name, batch, steps, msPerStep: ms, imagesPerSecond: (batch * 1000) / ms, parameters, peers: {} };
  rows.push(row);
  console.log(`${name.padEnd(10)} batch ${batch}: ${ms.toFixed(1)} ms/step, ${row.imagesPerSecond.toFixed(0)} images/s (${steps} steps, ${parameters} trainable parameters, live buffers ${memory().liveBuffers})`);
  const xv = (await x.toArray()) as Float32Array;
  x.dispose();
  y.dispose();
  adam.dispose();
  model.dispose();

  for (const p of peers) {
    if (!(p instanceof TfjsPeer)) {
      row.peers[p.name] = { error: p.error };
      continue;
    }
    if (name !== 'seed-cnn' && name !== 'fast') {
      const error = `no TF.js version of model '${name}' (peers have seed-cnn and fast)`;
      row.peers[p.name] = { error };
      console.log(`  ${p.name.padEnd(12)} cannot run: ${error}`);
      continue;
    }
    try {
      const r = await p.trainStep(name as PeerModel, xv, x.shape, labels, NUM_CLASSES, { warmup: 1, steps: peerSteps });
      const pr = { ...r, imagesPerSecond: (batch * 1000) / r.msPerStep, speedup: r.msPerStep / ms };
      row.peers[p.name] = pr;
      console.log(`  ${p.name.padEnd(12)} ${r.msPerStep.toFixed(1)} ms/step, ${pr.imagesPerSecond.toFixed(0)} images/s (${r.steps} steps, ${r.parameters} trainable parameters)  speedup x${pr.speedup.toFixed(2)}`);
    } catch (e) {
      row.peers[p.name] = { error: message(e) };
      console.log(`  ${p.name.padEnd(12)} cannot run: ${message(e)}`);
    }
  }
}
if (args.includes('--json')) {
  const peerInfo = Object.fromEntries(peers.map((p) => [p.name, p instanceof TfjsPeer ? { detail: p.detail } : { error: p.error }]));
  console.log(`wrote ${writeResults('-step', { peers: peerInfo, rows })}`);
}
await shutdownTfjs();
releaseDevice();
