// Whole training steps (forward + backward + Adam, batch 64) of the FER models: ms/step, images/s,
// beside TF.js peers in the same process on the same adapter and the same input batch
// (TF.js-WebGPU always, TF.js-WASM on a software adapter; bench/peers/tfjs.ts).
// speedup = peer ms/step / our ms/step (> 1: ours is faster).
// `pnpm bench` (kernels.ts) runs benchSteps() after the kernels; this file is also its own CLI:
//   node bench/dist/step.js [--models seed-cnn,fast] [--batch 64] [--steps 10] [--min-ms 2000] [--warmup-ms 1000] [--peer-steps 3] [--no-peers] [--json]
import { pathToFileURL } from 'node:url';
import { initDevice, describeDevice, gpu, releaseDevice, randUniform, tensor, tidy, softmaxCrossEntropy, sync, memory, autotune, type Tensor, type Shape2, type Shape4 } from '@fer/tensor';
import { createModel, Adam } from '@fer/nn';
import { writeResults } from './timing.js';
import { TfjsPeer, loadPeers, shutdownTfjs, type PeerError, type PeerModel } from './peers/tfjs.js';

const NUM_CLASSES = 7;

export type PeerStep = { msPerStep: number; imagesPerSecond: number; speedup: number; steps: number; parameters: number } | { error: string };
export interface StepRow {
  model: string;
  batch: number;
  steps: number;
  msPerStep: number;
  /** Of msPerStep, the JS thread's time recording and submitting (GPU work overlaps it). */
  hostMsPerStep: number;
  imagesPerSecond: number;
  parameters: number;
  peers: Record<string, PeerStep>;
}

export interface StepOptions {
  /** Default seed-cnn and fast. */
  models?: readonly string[];
  /** Default 64. */
  batch?: number;
  /**
   * Our timed steps (default 10; more until `minMs` of them have run), after `warmup` (default 2)
   * untimed ones that also last at least `warmupMs`.
   */
  steps?: number;
  warmup?: number;
  /**
   * Least time of the warm-up steps (default 1000 ms) and of the timed ones (default 2000 ms). A
   * GPU's steps take milliseconds: a few of them are too short for its clocks to settle and for one
   * late submit not to move the mean.
   */
  warmupMs?: number;
  minMs?: number;
  /** The peers' timed steps (default 3; TF.js-WebGPU on a software adapter takes tens of seconds per seed-cnn step), after one untimed. */
  peerSteps?: number;
  /** Loaded peers, or why one could not load; default none. */
  peers?: ReadonlyArray<TfjsPeer | PeerError>;
  log?: (line: string) => void;
}

/** One model's training step (forward, cross-entropy, backward, Adam) on a fixed random batch. */
export function trainingStep(name: string, batch: number) {
  const model = createModel(name, { seed: 1 });
  model.train();
  const parameters = model.parameters().reduce((s, p) => s + p.size, 0);
  const adam = new Adam(model.parameters(), { lr: 1e-4 });
  const x = randUniform([batch, 1, 48, 48] as const, 0, 1, { seed: 2 }) as Tensor<Shape4>;
  const labels = Int32Array.from({ length: batch }, (_, i) => i % NUM_CLASSES);
  const y = tensor(labels, [batch] as const, { dtype: 'i32' });
  const step = (): void => {
    tidy(() => {
      const loss = softmaxCrossEntropy(model.forward(x) as Tensor<Shape2>, y);
      loss.backward();
    });
    adam.step();
    adam.zeroGrad();
  };
  const dispose = (): void => {
    x.dispose();
    y.dispose();
    adam.dispose();
    model.dispose();
  };
  return { step, parameters, x, labels, dispose };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Times training steps of each model, ours then each peer's. The device must be initialised. */
export async function benchSteps({
  models = ['seed-cnn', 'fast'],
  batch = 64,
  steps = 10,
  warmup = 2,
  warmupMs = 1000,
  minMs = 2000,
  peerSteps = 3,
  peers = [],
  log = console.log,
}: StepOptions = {}): Promise<StepRow[]> {
  const rows: StepRow[] = [];
  for (const name of models) {
    const { step, parameters, x, labels, dispose } = trainingStep(name, batch);
    // As fer:train: the first step's new shapes get their kernels tuned (cached per adapter).
    step();
    await sync();
    const tuned = await autotune();
    if (tuned.length) log(`${name}: tuned kernels for ${tuned.length} shapes`);
    const tw = performance.now();
    for (let i = 1; i < warmup || performance.now() - tw < warmupMs; i++) {
      step();
      await sync();
    }
    // Rounds of `steps` (each drained once) until minMs have passed.
    // Host time: the JS thread's time inside step() (recording and submitting the step's work).
    // When it nears ms/step, the GPU waits on the host.
    let timed = 0;
    let hostMs = 0;
    const t0 = performance.now();
    do {
      for (let i = 0; i < steps; i++) {
        const th = performance.now();
        step();
        hostMs += performance.now() - th;
      }
      await sync();
      timed += steps;
    } while (performance.now() - t0 < minMs);
    const ms = (performance.now() - t0) / timed;
    const row: StepRow = { model: name, batch, steps: timed, msPerStep: ms, hostMsPerStep: hostMs / timed, imagesPerSecond: (batch * 1000) / ms, parameters, peers: {} };
    rows.push(row);
    log(`${name.padEnd(10)} batch ${batch}: ${ms.toFixed(1)} ms/step (host ${row.hostMsPerStep.toFixed(2)} ms recording and submitting), ${row.imagesPerSecond.toFixed(1)} images/s (${timed} steps, ${parameters} trainable parameters, live buffers ${memory().liveBuffers})`);
    const xv = (await x.toArray()) as Float32Array;
    dispose();

    for (const p of peers) {
      if (!(p instanceof TfjsPeer)) {
        row.peers[p.name] = { error: p.error };
        continue;
      }
      if (name !== 'seed-cnn' && name !== 'fast') {
        const error = `no TF.js version of model '${name}' (peers have seed-cnn and fast)`;
        row.peers[p.name] = { error };
        log(`  ${p.name.padEnd(12)} cannot run: ${error}`);
        continue;
      }
      try {
        const r = await p.trainStep(name as PeerModel, xv, x.shape, labels, NUM_CLASSES, { warmup: 1, steps: peerSteps });
        const pr = { ...r, imagesPerSecond: (batch * 1000) / r.msPerStep, speedup: r.msPerStep / ms };
        row.peers[p.name] = pr;
        log(`  ${p.name.padEnd(12)} ${r.msPerStep.toFixed(1)} ms/step, ${pr.imagesPerSecond.toFixed(1)} images/s (${r.steps} steps, ${r.parameters} trainable parameters)  speedup x${pr.speedup.toFixed(2)}`);
      } catch (e) {
        row.peers[p.name] = { error: message(e) };
        log(`  ${p.name.padEnd(12)} cannot run: ${message(e)}`);
      }
    }
  }
  return rows;
}

/** { name: detail } or { name: error } of each peer, for the results file. */
export function peerSummary(peers: ReadonlyArray<TfjsPeer | PeerError>): Record<string, { detail: string } | { error: string }> {
  return Object.fromEntries(peers.map((p) => [p.name, p instanceof TfjsPeer ? { detail: p.detail } : { error: p.error }]));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string, def: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1]! : def);
  await initDevice();
  console.log(`adapter: ${describeDevice()}`);
  const peers = args.includes('--no-peers') ? [] : await loadPeers(gpu().info.software);
  const rows = await benchSteps({
    models: opt('models', 'seed-cnn,fast').split(','),
    batch: Number(opt('batch', '64')),
    steps: Number(opt('steps', '10')),
    minMs: Number(opt('min-ms', '2000')),
    warmupMs: Number(opt('warmup-ms', '1000')),
    peerSteps: Number(opt('peer-steps', '3')),
    peers,
  });
  if (args.includes('--json')) console.log(`wrote ${writeResults('-step', { peers: peerSummary(peers), rows })}`);
  await shutdownTfjs();
  releaseDevice();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
