// The training loop: data → batches → forward/backward/step on the GPU, validation on PublicTest
// after every epoch, checkpoints (last + best) written atomically every epoch, exact resume.
import { appendFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Rng, gpu, shapeSize, tensor, tidy, noGrad, zeros, fence, keep, copy, add, scale, sync, accumulateStats, autotune, pendingTunes, tuneState, softmaxCrossEntropy, softmax, argmax, memory, type Tensor, type Shape2, type Shape4,
} from '@fer/tensor';
import {
  createModel, summary, summarize, Adam, AdamW, SGD, cosineLr, stepDecay, ReduceLrOnPlateau, BatchNorm,
  getDropoutRngState, setDropoutRngState, type Module, type Optimizer, type ReduceLrOnPlateauState,
} from '@fer/nn';
import { CLASSES, IMAGE_SIZE, NUM_CLASSES } from './data/classes.js';
import { loadSplits, resolveDataDir, type SplitData } from './data/reader.js';
import { Batcher, classWeights as balancedWeights, imagesToFloat } from './data/batches.js';
import { augmentConfig, isIdentity, type AugmentConfig, type AugmentPreset } from './data/augment.js';
import { MIX_DEFAULTS, mixes, type MixConfig } from './data/mix.js';
import { loadTeacher, teacherSubset, distillTargets, DISTILL_WITH_MIXING, type Teacher } from './data/distill.js';
import { saveCheckpoint, readCheckpoint, applyWeights, CheckpointError } from './checkpoint.js';
import { ProgressBar, formatDuration } from './cli/progress.js';

export type OptimizerName = 'adam' | 'adamw' | 'sgd';
export type ScheduleName = 'none' | 'step' | 'cosine' | 'plateau';

export interface TrainConfig {
  model: string;
  epochs: number;
  batch: number;
  lr: number;
  optimizer: OptimizerName;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  schedule: ScheduleName;
  /** Linear warm-up epochs (cosine). */
  warmup: number;
  /** Step schedule: decay every stepSize epochs by gamma; plateau: factor gamma. */
  stepSize: number;
  gamma: number;
  /** Plateau schedule patience (epochs). */
  patience: number;
  augment: AugmentPreset;
  /** Knobs of the augmentation preset changed (--flip, --shift, --rotate, --scale, --erase); {} = the preset as is. */
  augmentOptions: Partial<AugmentConfig>;
  /** Mixup's Beta(a, a) parameter (0 = off): data/mix.ts. */
  mixup: number;
  /** CutMix's Beta(a, a) parameter (0 = off); with mixup on too, each mixed batch takes one of the two at even odds. */
  cutmix: number;
  /** Probability that a training batch is mixed (with mixup or cutmix on). */
  mixProb: number;
  labelSmoothing: number;
  classWeights: boolean;
  /**
   * Knowledge distillation: a teacher's probabilities over the training images, as
   * `fer:eval --split train --save-probs FILE` writes them (data/distill.ts); each image's target is then
   * distillWeight * softened teacher + (1 - distillWeight) * its one-hot label.
   */
  distill?: string;
  /** The teacher's share of each target, in [0, 1]. */
  distillWeight: number;
  /** Temperature softening the teacher's probabilities (softmax(log p / T)); 1 = as saved. */
  distillTemp: number;
  /**
   * Stochastic weight averaging (Izmailov et al. 2018): from this epoch (1-based) to the last, the
   * weights after each epoch join an equal-weight running average; at the end the average, its
   * BatchNorm statistics recomputed over the training set, is evaluated on PublicTest and saved as
   * swa.safetensors beside best.safetensors. 0 = off.
   */
  swaFrom: number;
  seed: number;
  /**
   * Fine-tuning: start from this checkpoint's weights (BatchNorm running statistics included)
   * instead of a seeded init; the optimizer, schedule and epoch count start afresh. The model is
   * the checkpoint's unless `model` is set explicitly, which must then match it.
   */
  init?: string;
  data?: string;
  out: string;
  /** Use only this many training images (and as many validation images at most); 0 = all. */
  limit: number;
  resume: boolean;
  /** Start afresh even when --out holds a run (its checkpoints are replaced epoch by epoch). */
  force: boolean;
  /** Steps recorded ahead of the GPU (a fence per step bounds it); the loss readbacks lag as much. */
  inFlight: number;
  /** Steps between readbacks of the running loss/accuracy (accumulated on the GPU). */
  readbackEvery: number;
  /** Time the kernel variants of each new shape once (after the first step that meets it) and keep the fastest; cached per adapter on disk. */
  tune: boolean;
  cacheDir?: string | null;
  /** Resize images that are not 48x48 instead of refusing them. */
  resize?: boolean;
  /** Skip (and count) unreadable images instead of stopping at the first. */
  skipBad?: boolean;
  /** Print the progress bar (off in tests). */
  progress: boolean;
  /**
   * Seconds (0 = no limit): stop, checkpointed, before an epoch that would end past this many
   * seconds after train() began (judged by the longest epoch so far, evaluation and checkpoints
   * included). `--resume` continues the run, its schedule unchanged: a run split over machines
   * that are lent for a fixed time. Not part of the run's recipe (a resume sets its own).
   */
  timeLimit?: number;
  /**
   * With resume: the fields the user set explicitly (the CLI fills it from the flags given). A resumed
   * run keeps its own model and epoch budget unless these name them; undefined = every field is explicit.
   */
  explicit?: ReadonlyArray<keyof TrainConfig>;
}

export const DEFAULT_CONFIG: TrainConfig = {
  model: 'seed-cnn',
  epochs: 65,
  batch: 64,
  lr: 1e-4,
  optimizer: 'adam',
  momentum: 0.9,
  nesterov: true,
  weightDecay: 0,
  schedule: 'none',
  warmup: 0,
  stepSize: 20,
  gamma: 0.1,
  patience: 5,
  augment: 'none',
  augmentOptions: {},
  mixup: 0,
  cutmix: 0,
  mixProb: 1,
  labelSmoothing: 0,
  classWeights: false,
  distillWeight: 0.5,
  distillTemp: 2,
  swaFrom: 0,
  seed: 42,
  out: 'runs/latest',
  limit: 0,
  resume: false,
  force: false,
  inFlight: 3,
  tune: true,
  readbackEvery: 10,
  progress: true,
};

export interface EpochRecord {
  epoch: number;
  lr: number;
  trainLoss: number;
  trainAcc: number;
  valLoss: number;
  valAcc: number;
  images: number;
  seconds: number;
  imagesPerSec: number;
  best: boolean;
}

export interface TrainResult {
  epochs: EpochRecord[];
  bestValAcc: number;
  bestEpoch: number;
  lastCheckpoint: string;
  bestCheckpoint: string;
  /** With --swa-from, once the run is complete: the averaged model's PublicTest result and file. */
  swa: SwaResult | null;
  /** The epoch count at which --time-limit stopped the run (resumable), or null when it ran them all. */
  stoppedAt: number | null;
}

export class TrainingError extends Error {
  override name = 'TrainingError';
}

/** What is saved in a checkpoint's metadata besides weights and optimizer tensors. */
interface ResumeState {
  config: TrainConfig;
  dataRng: number[];
  dropoutRng: number[][];
  plateau: ReduceLrOnPlateauState | null;
  bestValAcc: number;
  bestEpoch: number;
  history: EpochRecord[];
  /** Epochs averaged into the checkpoint's swa.* tensors so far (absent before SWA starts). */
  swaCount?: number;
  /** sha256 of the --distill teacher file, so that a resumed run learns from the same teacher. */
  teacherSha256?: string;
}

/** The SWA model's PublicTest result (TrainResult.swa). */
export interface SwaResult {
  /** The epochs averaged: from..to (1-based). */
  from: number;
  to: number;
  valAcc: number;
  valLoss: number;
  checkpoint: string;
}

/**
 * Recomputes every BatchNorm's running statistics for the model's current weights, as PyTorch's
 * torch.optim.swa_utils.update_bn: the cumulative average over one pass of full training batches,
 * without augmentation, in training mode (dropout on). Weights averaged over epochs have no running
 * statistics of their own.
 */
async function updateBatchNorm(model: Module, data: { images: Uint8Array; count: number }, batch: number): Promise<void> {
  const norms = model.namedModules().map(([, m]) => m).filter((m): m is BatchNorm => m instanceof BatchNorm);
  const momenta = norms.map((m) => m.momentum);
  const wasTraining = model.training;
  model.train();
  try {
    for (const m of norms) {
      m.resetRunningStats();
      m.momentum = null;
    }
    const rows = Math.min(batch, data.count);
    const idx = new Int32Array(rows);
    for (let start = 0; start + rows <= data.count; start += rows) {
      for (let i = 0; i < rows; i++) idx[i] = start + i;
      const x = imagesToFloat(data.images, idx);
      noGrad(() => tidy(() => void model.forward(tensor(x, [rows, 1, IMAGE_SIZE, IMAGE_SIZE] as const) as Tensor<Shape4>)));
    }
    await sync();
  } finally {
    norms.forEach((m, i) => (m.momentum = momenta[i]!));
    model.train(wasTraining);
  }
}

function makeOptimizer(cfg: TrainConfig, model: Module): Optimizer {
  const params = model.parameters();
  switch (cfg.optimizer) {
    case 'adam':
      return new Adam(params, { lr: cfg.lr, weightDecay: cfg.weightDecay });
    case 'adamw':
      return new AdamW(params, { lr: cfg.lr, weightDecay: cfg.weightDecay });
    case 'sgd':
      // Nesterov needs momentum; plain SGD (momentum 0) ignores the flag.
      return new SGD(params, { lr: cfg.lr, momentum: cfg.momentum, nesterov: cfg.nesterov && cfg.momentum > 0, weightDecay: cfg.weightDecay });
  }
}

function lrFor(cfg: TrainConfig, epoch: number, plateau: ReduceLrOnPlateau | null): number {
  switch (cfg.schedule) {
    case 'none':
      return cfg.lr;
    case 'step':
      return stepDecay(epoch, { lr: cfg.lr, stepSize: cfg.stepSize, gamma: cfg.gamma });
    case 'cosine':
      return cosineLr(epoch, { lr: cfg.lr, epochs: cfg.epochs, warmupEpochs: cfg.warmup });
    case 'plateau':
      return plateau!.lr;
  }
}

/** The run's recipe in one line (logged at the start, so a log says what produced it). */
export function describeRecipe(cfg: TrainConfig): string {
  const opt =
    cfg.optimizer === 'sgd'
      ? `SGD${cfg.nesterov ? ' Nesterov' : ''} momentum ${cfg.momentum}`
      : cfg.optimizer === 'adamw' ? 'AdamW' : 'Adam';
  const schedule =
    cfg.schedule === 'cosine' ? `cosine over ${cfg.epochs} epochs${cfg.warmup ? ` after ${cfg.warmup} warm-up` : ''}`
    : cfg.schedule === 'step' ? `x${cfg.gamma} every ${cfg.stepSize} epochs`
    : cfg.schedule === 'plateau' ? `x${cfg.gamma} after ${cfg.patience} epochs without a better PublicTest`
    : 'constant';
  const a = augmentConfig(cfg.augment, cfg.augmentOptions ?? {});
  const aug = isIdentity(a)
    ? 'none'
    : [
        a.flip ? `flip ${a.flip}` : '',
        a.shift ? `shift ${a.shift} px` : '',
        a.rotate ? `rotate ${a.rotate} deg` : '',
        a.scale[0] !== 1 || a.scale[1] !== 1 ? `scale ${a.scale[0]}-${a.scale[1]}` : '',
        a.erase ? `erase ${a.erase}` : '',
      ].filter(Boolean).join(', ');
  const parts = [
    `${cfg.model}${cfg.init ? ` from ${cfg.init}` : ''}, ${cfg.epochs} epochs, batch ${cfg.batch}`,
    `${opt} lr ${cfg.lr}${cfg.weightDecay ? ` weight decay ${cfg.weightDecay}` : ''}, ${schedule}`,
    `augmentation: ${aug}${isIdentity(a) ? '' : ` (${cfg.augment}${Object.keys(cfg.augmentOptions ?? {}).length ? ' with changes' : ''})`}`,
  ];
  if (cfg.mixup > 0) parts.push(`Mixup ${cfg.mixup}`);
  if (cfg.cutmix > 0) parts.push(`CutMix ${cfg.cutmix}`);
  if ((cfg.mixup > 0 || cfg.cutmix > 0) && cfg.mixProb < 1) parts.push(`mix probability ${cfg.mixProb}`);
  if (cfg.labelSmoothing) parts.push(`label smoothing ${cfg.labelSmoothing}`);
  if (cfg.classWeights) parts.push('balanced class weights');
  if (cfg.swaFrom) parts.push(`SWA from epoch ${cfg.swaFrom}`);
  if (cfg.distill) parts.push(`distilled from ${cfg.distill} (teacher weight ${cfg.distillWeight}, temperature ${cfg.distillTemp})`);
  parts.push(`seed ${cfg.seed}`);
  return parts.join('; ');
}

/** A deterministic subset of `limit` images (seeded), for quick runs. */
function subset(data: SplitData, limit: number, seed: number): SplitData {
  const pick = subsetPick(data.count, limit, seed);
  if (!pick) return data;
  const px = IMAGE_SIZE * IMAGE_SIZE;
  const images = new Uint8Array(limit * px);
  const labels = new Uint8Array(limit);
  pick.forEach((src, i) => {
    images.set(data.images.subarray(src * px, (src + 1) * px), i * px);
    labels[i] = data.labels[src]!;
  });
  return { ...data, count: limit, images, labels, files: pick.map((i) => data.files[i]!) };
}

/**
 * --distill's teacher for this run's training images (--limit's subset of them too); a resumed run
 * refuses a teacher file that changed since the run began.
 */
function loadRunTeacher(cfg: TrainConfig, labels: Uint8Array, resumed: ResumeState | null): Teacher {
  let teacher: Teacher;
  try {
    teacher = loadTeacher(cfg.distill!, labels, cfg.distillTemp);
  } catch (e) {
    throw new TrainingError(`--distill: ${(e as Error).message}`);
  }
  if (resumed?.teacherSha256 && resumed.teacherSha256 !== teacher.sha256)
    throw new CheckpointError(`--resume: the run learned from ${cfg.distill} with sha256 ${resumed.teacherSha256.slice(0, 12)}..., the file now has ${teacher.sha256.slice(0, 12)}...: restore that teacher, or start afresh`);
  const pick = subsetPick(labels.length, cfg.limit, cfg.seed);
  return pick ? teacherSubset(teacher, pick) : teacher;
}

/** The images subset() keeps, in order; null for all of them. */
function subsetPick(count: number, limit: number, seed: number): number[] | null {
  if (!limit || limit >= count) return null;
  const order = Array.from({ length: count }, (_, i) => i);
  new Rng(seed).shuffle(order);
  return order.slice(0, limit).sort((a, b) => a - b);
}

export interface EvalOutput {
  /** Mean negative log-likelihood of the true class under the (averaged) softmax. */
  loss: number;
  acc: number;
  preds: Int32Array;
  /** Softmax probabilities, [count, 7] row-major (averaged over the test-time views). */
  probs: Float32Array;
}

/**
 * Test-time augmentation, averaging the softmax over views of each face: 'flip' (the face and its
 * mirror image); 'tencrop' (the ten-crop of the literature at full resolution: the 48x48 crops at
 * the centre and the four corners of the face zero-padded by TENCROP_SHIFT pixels, i.e. the face
 * shifted diagonally, each with its mirror image); 'ninecrop' (ten-crop's five crops and the four at
 * the edges' midpoints: the face shifted by every (dx, dy) of {-4, 0, 4}^2, each with its mirror image,
 * 18 views). Matches the training shift (RandomCrop(48, padding=4) of the light and standard
 * augmentations).
 */
export type Tta = 'none' | 'flip' | 'tencrop' | 'ninecrop';
export const TTA_MODES: readonly Tta[] = ['none', 'flip', 'tencrop', 'ninecrop'];
export const TENCROP_SHIFT = 4;

/** [n, 48, 48] faces moved by (dx, dy) pixels; the uncovered border is 0 (the training shift's zero padding). */
export function shiftFaces(x: Float32Array, dx: number, dy: number): Float32Array {
  const out = new Float32Array(x.length);
  const S = IMAGE_SIZE;
  for (let base = 0; base < x.length; base += S * S)
    for (let r = 0; r < S; r++) {
      const sr = r - dy;
      if (sr < 0 || sr >= S) continue;
      for (let c = 0; c < S; c++) {
        const sc = c - dx;
        if (sc >= 0 && sc < S) out[base + r * S + c] = x[base + sr * S + sc]!;
      }
    }
  return out;
}

/** How many views of each face a test-time augmentation evaluates (ttaViews' length). */
export const TTA_VIEW_COUNT: Readonly<Record<Tta, number>> = { none: 1, flip: 2, tencrop: 10, ninecrop: 18 };

/** The views `tta` averages over, each [n, 48, 48]. */
export function ttaViews(x: Float32Array, tta: Tta): Float32Array[] {
  if (tta === 'none') return [x];
  if (tta === 'flip') return [x, flipRows(x)];
  const s = TENCROP_SHIFT;
  // The centre, the corners, then (ninecrop) the edges' midpoints: ten-crop's views come first.
  const shifts = [[-s, -s], [s, -s], [-s, s], [s, s], ...(tta === 'ninecrop' ? [[0, -s], [-s, 0], [s, 0], [0, s]] : [])];
  const crops = [x, ...shifts.map(([dx, dy]) => shiftFaces(x, dx!, dy!))];
  return [...crops, ...crops.map(flipRows)];
}

/** Mirrors [n, 48, 48] faces left-right (pixels/255 floats). */
export function flipRows(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let row = 0; row < x.length; row += IMAGE_SIZE)
    for (let c = 0; c < IMAGE_SIZE; c++) out[row + c] = x[row + IMAGE_SIZE - 1 - c]!;
  return out;
}

/**
 * The largest evaluation batch, at most `wanted`, whose biggest activation fits one storage-buffer
 * binding of this device. Kernels bind whole tensors and lavapipe caps a binding at 128 MiB, which
 * vgg's 64 x 48 x 48 maps pass at 256 images. The margin of 2 covers the zero-padded input copies
 * some conv kernels make (x1.17 at most for 5x5) and the buffer pool's size classes (x1.5 at most).
 */
export function evalBatchFor(model: Module, wanted: number): number {
  const largest = Math.max(...summarize(model, [1, IMAGE_SIZE, IMAGE_SIZE]).rows.map((r) => shapeSize(r.outputShape)));
  const fits = Math.floor(gpu().device.limits.maxStorageBufferBindingSize / (2 * 4 * largest));
  return Math.max(1, Math.min(wanted, fits));
}

/** Options of evaluate() and evaluateEnsemble(). */
export interface EvalOptions {
  /**
   * Time the kernel variants of the shapes this adapter's tuner has not seen, once, after the first
   * batch (cached on disk per adapter, as in training). A model trained on another adapter runs the
   * fallback kernels otherwise: the shipped resvgg, trained on an H200, took 3.8 s per batch of 64
   * on lavapipe untuned and 1.4 s after 125 s of tuning (once). Default false: a library call does
   * not spend minutes unasked; `fer:eval` turns it on.
   */
  tune?: boolean;
  /** Hears how long the tuning took and how many shapes it timed (a progress bar leaves it out of its rate). */
  onTuned?: (ms: number, shapes: number) => void;
}

/**
 * Runs the model in eval mode over a split: mean loss, accuracy, every prediction and probability.
 * `batch` is an upper bound: evalBatchFor() lowers it where the device's bindings are small.
 * `onProgress` hears how many faces are done each time a batch's results are read back.
 */
export async function evaluate(
  model: Module,
  data: { images: Uint8Array; labels: Uint8Array; count: number },
  wantedBatch = 256,
  tta: Tta = 'none',
  onProgress?: (imagesDone: number) => void,
  options: EvalOptions = {},
): Promise<EvalOutput> {
  const batch = evalBatchFor(model, wantedBatch);
  const wasTraining = model.training;
  model.eval();
  const probs = new Float32Array(data.count * NUM_CLASSES);
  const idx = new Int32Array(batch);
  // Readbacks start as soon as a batch is recorded and are awaited a few batches later.
  const pending: Array<{ start: number; end: number; views: Array<Promise<ArrayLike<number>>> }> = [];
  const drain = async (keep: number) => {
    while (pending.length > keep) {
      const p = pending.shift()!;
      const views = await Promise.all(p.views);
      const dst = probs.subarray(p.start * NUM_CLASSES);
      for (const v of views) for (let i = 0; i < v.length; i++) dst[i] = dst[i]! + v[i]! / views.length;
      onProgress?.(p.end);
    }
  };
  // Every batch has one shape: the last is filled up with copies of its first image, whose outputs
  // are dropped (eval mode treats each image on its own). A partial batch would be a new set of
  // shapes for the autotuner to time, for one batch.
  const rows = Math.min(batch, data.count);
  for (let start = 0; start < data.count; start += batch) {
    const n = Math.min(batch, data.count - start);
    for (let i = 0; i < rows; i++) idx[i] = start + (i < n ? i : 0);
    const x = imagesToFloat(data.images, idx.subarray(0, rows));
    const inputs = ttaViews(x, tta);
    const views = inputs.map((input) => {
      const p = noGrad(() =>
        tidy(() => softmax(model.forward(tensor(input, [rows, 1, IMAGE_SIZE, IMAGE_SIZE] as const) as Tensor<Shape4>) as Tensor<Shape2>)),
      );
      const host = p.toArray();
      p.dispose();
      return host.then((v) => v.subarray(0, n * NUM_CLASSES));
    });
    pending.push({ start, end: start + n, views });
    // The first batch has queued the shapes the tuner has not seen; the later ones run the choices.
    if (options.tune && pendingTunes() > 0) {
      const t0 = performance.now();
      const tuned = await autotune();
      options.onTuned?.(performance.now() - t0, tuned.length);
    }
    await drain(3);
  }
  await drain(0);
  model.train(wasTraining);
  return score(probs, data.labels, data.count);
}

/** Predictions (first maximum), accuracy and mean negative log-likelihood of [count, 7] probabilities. */
/** One image's cross-entropy from the probability of its true class (clamped: a confident miss stays finite). */
export function imageNll(pTrue: number): number {
  return -Math.log(Math.max(pTrue, 1e-12));
}

export function score(probs: Float32Array, labels: Uint8Array, count: number): EvalOutput {
  const preds = new Int32Array(count);
  let correct = 0;
  let nll = 0;
  for (let i = 0; i < count; i++) {
    const row = probs.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES);
    let best = 0;
    for (let c = 1; c < NUM_CLASSES; c++) if (row[c]! > row[best]!) best = c;
    preds[i] = best;
    if (best === labels[i]) correct++;
    nll += imageNll(row[labels[i]!]!);
  }
  return { loss: count ? nll / count : 0, acc: count ? correct / count : 0, preds, probs };
}

export interface TrainHooks {
  log?: (line: string) => void;
  /** Called after each epoch's checkpoint is written (tests use it to simulate a kill). */
  afterEpoch?: (record: EpochRecord) => void | Promise<void>;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The same promise, marked handled: if the loop stops early on another error, it must not crash the process as an unhandled rejection. */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

export async function train(config: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const tStart = performance.now();
  const log = hooks.log ?? ((s: string) => console.log(s));
  let cfg = { ...config };
  mkdirSync(cfg.out, { recursive: true });
  const lastFile = join(cfg.out, 'last.safetensors');
  const bestFile = join(cfg.out, 'best.safetensors');
  const logFile = join(cfg.out, 'epochs.jsonl');

  if (!cfg.resume && !cfg.force && existsSync(lastFile))
    throw new TrainingError(`${cfg.out} already holds a run (${lastFile}): continue it with --resume, or start afresh with --force or another --out`);
  let resumeState: ResumeState | null = null;
  let ckpt = null;
  if (cfg.resume) {
    if (!existsSync(lastFile)) throw new CheckpointError(`--resume: no checkpoint at ${lastFile} (train without --resume first)`);
    ckpt = await readCheckpoint(lastFile);
    resumeState = ckpt.state as unknown as ResumeState;
    if (!resumeState.config || !resumeState.dataRng) throw new CheckpointError(`--resume: ${lastFile} lacks the training state (a weights-only file?)`);
    const isExplicit = (k: keyof TrainConfig) => !cfg.explicit || cfg.explicit.includes(k);
    if (isExplicit('model') && resumeState.config.model !== cfg.model)
      throw new CheckpointError(`--resume: ${lastFile} is a '${resumeState.config.model}' run, but --model is '${cfg.model}'`);
    // The run continues with its own hyper-parameters; only the epoch budget may be changed.
    const epochs = isExplicit('epochs') ? cfg.epochs : resumeState.config.epochs;
    // Runs saved before these fields existed lack them: theirs are the defaults (off, the preset as is).
    const older = { augmentOptions: {}, mixup: DEFAULT_CONFIG.mixup, cutmix: DEFAULT_CONFIG.cutmix, mixProb: DEFAULT_CONFIG.mixProb, distillWeight: DEFAULT_CONFIG.distillWeight, distillTemp: DEFAULT_CONFIG.distillTemp };
    cfg = { ...older, ...resumeState.config, explicit: undefined, epochs, out: cfg.out, data: cfg.data, resume: true, force: false, progress: cfg.progress, cacheDir: cfg.cacheDir, inFlight: cfg.inFlight, tune: cfg.tune, readbackEvery: cfg.readbackEvery, resize: cfg.resize, skipBad: cfg.skipBad, timeLimit: cfg.timeLimit };
    if (cfg.schedule === 'cosine' && cfg.warmup >= cfg.epochs)
      throw new TrainingError(`--resume: --epochs ${cfg.epochs} must exceed the run's cosine warm-up (${cfg.warmup} epochs)`);
  }

  if (cfg.distill && (cfg.mixup > 0 || cfg.cutmix > 0)) throw new TrainingError(DISTILL_WITH_MIXING);
  // Read before the data, so a wrong --init fails at once.
  let initCkpt = null;
  if (cfg.init && !cfg.resume) {
    if (!existsSync(cfg.init)) throw new CheckpointError(`--init: no checkpoint at ${cfg.init}`);
    initCkpt = await readCheckpoint(cfg.init);
    const modelExplicit = !cfg.explicit || cfg.explicit.includes('model');
    if (modelExplicit && initCkpt.model !== cfg.model)
      throw new CheckpointError(`--init: ${cfg.init} holds a '${initCkpt.model}' model, but --model is '${cfg.model}'`);
    cfg.model = initCkpt.model;
  }

  const dataDir = resolveDataDir(cfg.data);
  log(`data: ${dataDir}`);
  const t0 = performance.now();
  const splits = loadSplits(dataDir, ['train', 'public'], { cacheDir: cfg.cacheDir, resize: cfg.resize, skipBad: cfg.skipBad });
  const skipped = splits.train.skipped.length + splits.public.skipped.length;
  if (skipped) log(`skipped ${skipped} unreadable file(s) (--skip-bad), e.g. ${[...splits.train.skipped, ...splits.public.skipped][0]!.file}`);
  const resized = splits.train.resized.length + splits.public.resized.length;
  if (resized) log(`resized ${resized} image(s) to 48x48 (--resize)`);
  const trainSet = subset(splits.train, cfg.limit, cfg.seed);
  const teacher = cfg.distill ? loadRunTeacher(cfg, splits.train.labels, resumeState) : null;
  if (teacher) log(`distilling from ${teacher.file} (sha256 ${teacher.sha256.slice(0, 12)}): targets ${cfg.distillWeight} x teacher at temperature ${cfg.distillTemp} + ${1 - cfg.distillWeight} x label`);
  const valSet = subset(splits.public, cfg.limit ? Math.min(cfg.limit, splits.public.count) : 0, cfg.seed + 1);
  log(`loaded ${trainSet.count} training and ${valSet.count} PublicTest images in ${((performance.now() - t0) / 1000).toFixed(1)} s (cache: ${splits.train.cache})`);

  const model = createModel(cfg.model, { seed: cfg.seed });
  log(`recipe: ${describeRecipe(cfg)}`);
  log(summary(model, [1, IMAGE_SIZE, IMAGE_SIZE], { name: cfg.model }));
  const optimizer = makeOptimizer(cfg, model);
  const dataRng = new Rng(cfg.seed ^ 0x5eed);
  // Every training step has the batch's shape (as PyTorch's drop_last): a partial last batch would
  // make a second set of shapes for the autotuner to time (tens of seconds on a GPU) and normalize
  // BatchNorm over a few images. The shuffle drops different images each epoch. A set smaller than
  // one batch is one batch; BatchNorm needs two samples, so a lone last image is always dropped.
  const remainder = trainSet.count % cfg.batch;
  const dropLast = remainder === 1 || (remainder > 0 && trainSet.count > cfg.batch);
  const mix: MixConfig = { ...MIX_DEFAULTS, mixup: cfg.mixup, cutmix: cfg.cutmix, prob: cfg.mixProb };
  const batcher = new Batcher(trainSet, { batchSize: cfg.batch, shuffle: true, dropLast, augment: augmentConfig(cfg.augment, cfg.augmentOptions), mix, rng: dataRng });
  const distillBuffer = teacher ? new Float32Array(cfg.batch * NUM_CLASSES) : undefined;
  if (mixes(mix)) log(`mixing batches: ${[mix.mixup > 0 ? `Mixup Beta(${mix.mixup})` : '', mix.cutmix > 0 ? `CutMix Beta(${mix.cutmix})` : ''].filter(Boolean).join(' or ')}, probability ${mix.prob}; train accuracy counts each image's dominant label`);
  const plateau = cfg.schedule === 'plateau' ? new ReduceLrOnPlateau({ lr: cfg.lr, mode: 'max', factor: cfg.gamma, patience: cfg.patience }) : null;
  const weights = cfg.classWeights ? Array.from(balancedWeights(trainSet.labels, NUM_CLASSES)) : undefined;
  if (weights) log(`class weights: ${weights.map((w, i) => `${CLASSES[i]} ${w.toFixed(2)}`).join(', ')}`);
  // Uploaded once: a host array would be uploaded (and the queue flushed) at every step.
  const weightsTensor = weights ? tensor(weights, [NUM_CLASSES] as const) : undefined;

  // SWA's running average of the trainable parameters (by path), over swaCount epochs so far.
  const swa = new Map<string, Tensor>();
  let swaCount = 0;
  let startEpoch = 0;
  let bestValAcc = -1;
  let bestEpoch = -1;
  const history: EpochRecord[] = [];
  if (ckpt && resumeState) {
    applyWeights(model, cfg.model, ckpt);
    if (ckpt.optimizer) optimizer.loadStateDict(ckpt.optimizer);
    dataRng.setState(resumeState.dataRng);
    setDropoutRngState(model, resumeState.dropoutRng);
    if (plateau && resumeState.plateau) plateau.loadStateDict(resumeState.plateau);
    bestValAcc = resumeState.bestValAcc;
    bestEpoch = resumeState.bestEpoch;
    history.push(...resumeState.history);
    startEpoch = ckpt.epoch;
    swaCount = resumeState.swaCount ?? 0;
    if (swaCount > 0) {
      const params = new Map(model.namedParameters());
      for (const [name, p] of params) {
        const h = ckpt.swa[name];
        if (!h || h.data.length !== p.size) throw new CheckpointError(`--resume: ${lastFile} averages ${swaCount} epochs (--swa-from) but lacks a matching 'swa.${name}'`);
        swa.set(name, keep(tensor(Float32Array.from(h.data), p.shape)));
      }
    }
    writeFileSync(logFile, history.map((r) => `${JSON.stringify(r)}\n`).join(''));
    log(`resumed from ${lastFile} after epoch ${startEpoch} (best PublicTest ${(bestValAcc * 100).toFixed(2)}% at epoch ${bestEpoch})`);
  } else {
    // A fresh start (--force): the old run's files go first, so a kill cannot resume the old run.
    for (const f of [lastFile, bestFile]) rmSync(f, { force: true });
    writeFileSync(logFile, '');
    if (initCkpt) {
      applyWeights(model, cfg.model, initCkpt);
      log(`initialised from ${cfg.init} (its epoch ${initCkpt.epoch}); optimizer and schedule start afresh`);
      initCkpt = null; // its host copy (optimizer moments too) need not live through the run
    }
  }


  let step = 0;
  let longestEpochMs = 0;
  const recentEpochMs: number[] = [];
  let stoppedAt: number | null = null;
  for (let epoch = startEpoch; epoch < cfg.epochs; epoch++) {
    const elapsedMs = performance.now() - tStart;
    if (cfg.timeLimit && epoch > startEpoch && elapsedMs + longestEpochMs > cfg.timeLimit * 1000) {
      stoppedAt = epoch;
      log(
        `stopped after epoch ${epoch} of ${cfg.epochs}: another (up to ${(longestEpochMs / 1000).toFixed(1)} s) would end past --time-limit ${cfg.timeLimit} s ` +
          `(${(elapsedMs / 1000).toFixed(1)} s gone); continue with --resume --out ${cfg.out}`,
      );
      break;
    }
    const tEpochStart = performance.now();
    const lr = lrFor(cfg, epoch, plateau);
    optimizer.lr = lr;
    model.train();
    const bar = cfg.progress ? new ProgressBar(`epoch ${epoch + 1}/${cfg.epochs}`, batcher.samplesPerEpoch) : null;
    const tEpoch = performance.now();
    let tuneMs = 0;
    let seen = 0;
    let lossSum = 0;
    let correct = 0;
    let counted = 0;
    // Loss and accuracy accumulate on the GPU (accumulateStats) and are read back every
    // `readbackEvery` steps, not per step. Recording runs at most `inFlight` steps ahead of the GPU
    // (a fence per step, no data copied), so the GPU keeps working while the next step is recorded.
    const stats = zeros([3] as const);
    const readbacks: Array<{ values: Promise<ArrayLike<number>>; step: number }> = [];
    const fences: Array<{ done: Promise<void>; step: number; seen: number }> = [];
    let lastCheckedStep = step;
    /** Applies the readbacks recorded up to step `upTo` (all of them when Infinity). */
    const drain = async (upTo: number) => {
      while (readbacks.length && readbacks[0]!.step <= upTo) {
        const r = readbacks.shift()!;
        const [l, c, n] = Array.from(await r.values) as [number, number, number];
        if (!Number.isFinite(l))
          throw new TrainingError(
            `loss is ${l} at epoch ${epoch + 1}, within steps ${lastCheckedStep + 1}..${r.step}: training diverged (try a lower --lr); ` +
              (existsSync(lastFile) ? `the last good checkpoint ${lastFile} is kept` : 'no checkpoint was written yet'),
          );
        lastCheckedStep = r.step;
        lossSum = l;
        correct = c;
        counted = n;
      }
    };
    const metrics = () => (counted ? { loss: lossSum / counted, acc: correct / counted } : {});
    try {
      let sinceReadback = 0;
      for (const b of batcher.epoch()) {
        const n = b.count;
        const labels = Int32Array.from(b.y);
        tidy(() => {
          const x = tensor(b.x, [n, 1, IMAGE_SIZE, IMAGE_SIZE] as const) as Tensor<Shape4>;
          const y = tensor(labels, [n] as const, { dtype: 'i32' });
          // A mixed or distilled batch learns from its soft targets; y (dominant labels) only feeds the accuracy.
          const soft = b.targets ?? (teacher ? distillTargets(teacher, b.indices, b.y, cfg.distillWeight, distillBuffer) : null);
          const target = soft ? tensor(soft.subarray(0, n * NUM_CLASSES), [n, NUM_CLASSES] as const) : y;
          const logits = model.forward(x) as Tensor<Shape2>;
          const loss = softmaxCrossEntropy(logits, target, { labelSmoothing: cfg.labelSmoothing, classWeights: weightsTensor });
          loss.backward();
          noGrad(() => accumulateStats(stats, loss, logits, y));
        });
        optimizer.step();
        optimizer.zeroGrad();
        step++;
        seen += n;
        if (++sinceReadback >= cfg.readbackEvery) {
          sinceReadback = 0;
          readbacks.push({ values: quiet(stats.toArray()), step });
        }
        fences.push({ done: quiet(fence()), step, seen });
        while (fences.length > cfg.inFlight) {
          const f = fences.shift()!;
          await f.done;
          await drain(f.step);
          bar?.update(f.seen, f.seen, metrics());
        }
        // New shapes (the first step, the last partial batch, evaluation) queue kernel timings.
        // Tuning time is left out of the epoch's images/s (it happens once per shape and adapter).
        if (cfg.tune && pendingTunes() > 0) {
          const t0 = performance.now();
          const tuned = await autotune();
          const ms = performance.now() - t0;
          tuneMs += ms;
          bar?.exclude(ms);
          if (tuned.length) log(`tuned kernels for ${tuned.length} new shapes in ${(ms / 1000).toFixed(1)} s (cached in ${tuneState().file})`);
        }
      }
      readbacks.push({ values: quiet(stats.toArray()), step });
      await Promise.all(fences.map((f) => f.done));
      await drain(Infinity);
    } finally {
      stats.dispose();
    }
    const trainSecs = (performance.now() - tEpoch - tuneMs) / 1000;
    bar?.finish(seen, seen, { loss: lossSum / Math.max(1, counted), acc: correct / Math.max(1, counted) });

    // The training batch, so that evaluation runs the shapes the tuner has already timed.
    const val = await evaluate(model, valSet, cfg.batch, 'none', undefined, { tune: cfg.tune });
    const isBest = val.acc > bestValAcc;
    if (isBest) {
      bestValAcc = val.acc;
      bestEpoch = epoch + 1;
    }
    if (plateau) plateau.step(val.acc);
    if (cfg.swaFrom > 0 && epoch + 1 >= cfg.swaFrom) {
      // Equal weights: avg_(k+1) = avg_k * k / (k + 1) + w / (k + 1).
      const k = swaCount;
      noGrad(() => {
        for (const [name, p] of model.namedParameters()) {
          const prev = swa.get(name);
          swa.set(name, keep(tidy(() => (prev ? add(scale(prev, k / (k + 1)), scale(p, 1 / (k + 1))) : copy(p)))));
          prev?.dispose();
        }
      });
      swaCount++;
    }
    const record: EpochRecord = {
      epoch: epoch + 1,
      lr,
      trainLoss: lossSum / Math.max(1, counted),
      trainAcc: correct / Math.max(1, counted),
      valLoss: val.loss,
      valAcc: val.acc,
      images: seen,
      seconds: trainSecs,
      imagesPerSec: seen / trainSecs,
      best: isBest,
    };
    history.push(record);
    const state: ResumeState = {
      config: cfg,
      dataRng: dataRng.getState(),
      dropoutRng: getDropoutRngState(model),
      plateau: plateau ? plateau.stateDict() : null,
      bestValAcc,
      bestEpoch,
      history,
      ...(swaCount > 0 ? { swaCount } : {}),
      ...(teacher ? { teacherSha256: teacher.sha256 } : {}),
    };
    const meta = { model: cfg.model, epoch: epoch + 1, state: state as unknown as Record<string, unknown> };
    // Order matters for a kill at any point: best and the log first, last.safetensors (the commit
    // point a resume starts from) at the end; a resume rewrites the log from the checkpoint's history.
    if (isBest) await saveCheckpoint(bestFile, model, meta);
    appendFileSync(logFile, `${JSON.stringify(record)}\n`);
    await saveCheckpoint(lastFile, model, meta, optimizer, swaCount > 0 ? swa : undefined);
    // What is left of the run, at the median of this process's last 5 epochs (evaluation and
    // checkpoints included, tuning not): a CPU run lasts hours.
    // Tuning (the first epoch's, once per new shape) is not a cost the next epoch repeats.
    const epochMs = performance.now() - tEpochStart - tuneMs;
    recentEpochMs.push(epochMs);
    if (recentEpochMs.length > 5) recentEpochMs.shift();
    const left = cfg.epochs - (epoch + 1);
    const toGo = left > 0 ? `  ~${formatDuration((left * median(recentEpochMs)) / 1000)} to go` : '';
    log(
      `epoch ${epoch + 1}/${cfg.epochs}  lr ${lr.toExponential(2)}  train loss ${record.trainLoss.toFixed(4)} acc ${(record.trainAcc * 100).toFixed(2)}%  ` +
        `PublicTest loss ${val.loss.toFixed(4)} acc ${(val.acc * 100).toFixed(2)}%${isBest ? ' (best)' : ''}  ` +
        `${record.imagesPerSec.toFixed(0)} img/s  ${formatDuration(trainSecs)}${toGo}  gpu buffers ${memory().liveBuffers}`,
    );
    await hooks.afterEpoch?.(record);
    longestEpochMs = Math.max(longestEpochMs, epochMs);
  }
  let swaResult: SwaResult | null = null;
  if (stoppedAt === null && swaCount > 0) {
    // The run is complete: the average becomes the model's weights (last.safetensors keeps the
    // last epoch's), its BatchNorm statistics are recomputed, and it is scored and saved.
    const t0 = performance.now();
    // Parameters only: the running statistics come from updateBatchNorm.
    model.loadStateDict(Object.fromEntries(swa), { strict: false });
    await updateBatchNorm(model, trainSet, cfg.batch);
    const val = await evaluate(model, valSet, cfg.batch, 'none', undefined, { tune: cfg.tune });
    const swaFile = join(cfg.out, 'swa.safetensors');
    const from = cfg.swaFrom;
    await saveCheckpoint(swaFile, model, { model: cfg.model, epoch: cfg.epochs, state: { swa: { from, to: cfg.epochs }, config: cfg } });
    swaResult = { from, to: cfg.epochs, valAcc: val.acc, valLoss: val.loss, checkpoint: swaFile };
    log(
      `SWA of epochs ${from}..${cfg.epochs}: PublicTest loss ${val.loss.toFixed(4)} acc ${(val.acc * 100).toFixed(2)}% ` +
        `(best epoch ${bestEpoch}: ${(bestValAcc * 100).toFixed(2)}%)  ${formatDuration((performance.now() - t0) / 1000)}  -> ${swaFile}`,
    );
  }
  for (const t of swa.values()) t.dispose();
  model.dispose();
  optimizer.dispose();
  weightsTensor?.dispose();
  return { epochs: history, bestValAcc, bestEpoch, lastCheckpoint: lastFile, bestCheckpoint: bestFile, stoppedAt, swa: swaResult };
}
