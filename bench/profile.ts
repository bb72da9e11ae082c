// GPU time per kernel over whole training steps (timestamp queries around every dispatch; see
// startProfile in packages/tensor/src/dispatch.ts): which kernels a step spends its time in.
//   node bench/dist/profile.js [--model seed-cnn] [--batch 64] [--steps 3] [--top 25] [--grid] [--json]
// --grid: a row per kernel and workgroup grid (one kernel's layers apart).
// The steps are first timed without profiling (one pass per dispatch costs a little), then profiled.
// --json writes bench/results/<adapter>-profile-<model>.json.
import { initDevice, describeDevice, releaseDevice, sync, autotune, startProfile, stopProfile, dispatchStats } from '@fer/tensor';
import { trainingStep } from './step.js';
import { writeResults } from './timing.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1]! : def);
const model = opt('model', 'seed-cnn');
const batch = Number(opt('batch', '64'));
const steps = Number(opt('steps', '3'));
const top = Number(opt('top', '25'));
for (const [flag, v] of [['batch', batch], ['steps', steps], ['top', top]] as const)
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${flag}: expected a positive integer, got ${opt(flag, '')}`);

// initDevice turns off Dawn's 100-microsecond rounding of timestamps (a browser's guard against timing attacks).
await initDevice();
console.log(`adapter: ${describeDevice()}`);
const { step, dispose } = trainingStep(model, batch);
step();
await sync();
await autotune({ log: (line) => console.log(line) });
// At least a second of steps first (a GPU's clocks settle; the tuned kernels compile), as step.ts.
const tw = performance.now();
do {
  step();
  await sync();
} while (performance.now() - tw < 1000);
const t0 = performance.now();
for (let i = 0; i < steps; i++) step();
await sync();
const wallMs = (performance.now() - t0) / steps;

const before = dispatchStats().dispatches;
startProfile({ byGrid: args.includes('--grid') });
for (let i = 0; i < steps; i++) step();
const kernels = await stopProfile();
const dispatches = (dispatchStats().dispatches - before) / steps;
dispose();

const gpuMs = kernels.reduce((s, k) => s + k.ms, 0) / steps;
console.log(`${model}, batch ${batch}: ${wallMs.toFixed(1)} ms/step unprofiled; profiled: ${dispatches} dispatches and ${gpuMs.toFixed(1)} ms of kernel time per step`);
console.log(`${'ms/step'.padStart(9)} ${'share'.padStart(6)} ${'calls'.padStart(6)}  kernel`);
for (const k of kernels.slice(0, top))
  console.log(`${(k.ms / steps).toFixed(2).padStart(9)} ${((100 * k.ms) / steps / gpuMs).toFixed(1).padStart(5)}% ${String(k.calls / steps).padStart(6)}  ${k.kernel}`);
if (kernels.length > top) console.log(`  ... ${kernels.length - top} more kernels, ${(kernels.slice(top).reduce((s, k) => s + k.ms, 0) / steps).toFixed(2)} ms/step`);
if (args.includes('--json'))
  console.log(`wrote ${writeResults(`-profile-${model}`, { model, batch, steps, wallMsPerStep: wallMs, dispatchesPerStep: dispatches, kernelMsPerStep: gpuMs, kernels })}`);
releaseDevice();
