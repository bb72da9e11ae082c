// `pnpm fer:train`: trains a model on FER2013 (defaults = the reference report's setup).
import { existsSync } from 'node:fs';
import { initDevice, describeDevice, releaseDevice } from '@fer/tensor';
import { MODEL_NAMES } from '@fer/nn';
import { parseArgs, usage, runCli, UsageError, type FlagSpec, type FlagValues } from './args.js';
import { train, DEFAULT_CONFIG, type TrainConfig, type OptimizerName, type ScheduleName } from '../train.js';
import { applyPreset, PRESET_NAMES } from '../presets.js';
import type { AugmentConfig, AugmentPreset } from '../data/augment.js';
import { DISTILL_WITH_MIXING } from '../data/distill.js';

const D = DEFAULT_CONFIG;
export const TRAIN_FLAGS: Record<string, FlagSpec> = {
  preset: { type: 'string', help: 'a named recipe (flags given explicitly override it)', choices: PRESET_NAMES },
  model: { type: 'string', help: 'model architecture', default: D.model, choices: MODEL_NAMES },
  epochs: { type: 'int', help: 'epochs to train (with --resume: the total)', default: D.epochs, min: 1 },
  batch: { type: 'int', help: 'batch size', default: D.batch, min: 1, max: 4096 },
  lr: { type: 'number', help: 'learning rate', default: D.lr, min: 0 },
  optimizer: { type: 'string', help: 'optimizer', default: D.optimizer, choices: ['adam', 'adamw', 'sgd'] },
  momentum: { type: 'number', help: 'SGD momentum', default: D.momentum, min: 0, max: 0.9999 },
  nesterov: { type: 'boolean', help: 'SGD with Nesterov momentum (--no-nesterov to turn off)', default: D.nesterov },
  'weight-decay': { type: 'number', help: 'weight decay (L2 for adam/sgd, decoupled for adamw)', default: D.weightDecay, min: 0 },
  schedule: { type: 'string', help: 'learning-rate schedule', default: D.schedule, choices: ['none', 'step', 'cosine', 'plateau'] },
  warmup: { type: 'int', help: 'linear warm-up epochs (cosine)', default: D.warmup, min: 0 },
  'step-size': { type: 'int', help: 'step schedule: epochs between decays', default: D.stepSize, min: 1 },
  gamma: { type: 'number', help: 'step/plateau schedule: lr factor', default: D.gamma, min: 0, max: 1 },
  patience: { type: 'int', help: 'plateau schedule: epochs without PublicTest improvement', default: D.patience, min: 1 },
  augment: { type: 'string', help: 'augmentation preset', default: D.augment, choices: ['none', 'light', 'standard'] },
  flip: { type: 'number', help: "augmentation: probability of a horizontal flip (overrides --augment's)", min: 0, max: 1 },
  shift: { type: 'int', help: "augmentation: largest shift in whole pixels each way, i.e. zero padding and a random 48x48 crop (overrides --augment's)", min: 0, max: 47 },
  rotate: { type: 'number', help: "augmentation: largest rotation in degrees each way (overrides --augment's)", min: 0, max: 180 },
  scale: { type: 'string', help: "augmentation: zoom range MIN,MAX, e.g. 0.8,1.2 (overrides --augment's)" },
  erase: { type: 'number', help: "augmentation: probability of random erasing (overrides --augment's)", min: 0, max: 1 },
  mixup: { type: 'number', help: "Mixup: each batch mixed with its reversed self, weight ~ Beta(a, a), soft targets (timm's mixup_alpha; 0 = off)", default: D.mixup, min: 0 },
  cutmix: { type: 'number', help: 'CutMix: a box of the reversed batch pasted in, area ~ Beta(a, a), soft targets (0 = off; with --mixup: either, at even odds)', default: D.cutmix, min: 0 },
  'mix-prob': { type: 'number', help: 'probability that a batch is mixed (--mixup/--cutmix)', default: D.mixProb, min: 0, max: 1 },
  'label-smoothing': { type: 'number', help: 'label smoothing', default: D.labelSmoothing, min: 0, max: 0.999 },
  'class-weights': { type: 'boolean', help: 'balanced class weights in the loss', default: D.classWeights },
  distill: { type: 'string', help: "knowledge distillation: a teacher's probabilities over the training images (pnpm fer:eval --split train --save-probs FILE; an ensemble's are averaged with its weights)" },
  'distill-weight': { type: 'number', help: "--distill: the teacher's share of each target (the rest: the one-hot label)", default: D.distillWeight, min: 0, max: 1 },
  'distill-temp': { type: 'number', help: "--distill: temperature softening the teacher's probabilities, softmax(log p / T)", default: D.distillTemp, min: 0.05, max: 100 },
  'swa-from': { type: 'int', help: 'average the weights of every epoch from this one to the last (SWA), saved as swa.safetensors and scored on PublicTest (0 = off)', default: D.swaFrom, min: 0 },
  seed: { type: 'int', help: 'random seed (init, shuffles, augmentation, dropout)', default: D.seed, min: 0 },
  init: { type: 'string', help: 'fine-tune: start from this checkpoint\'s weights (its model unless --model is given); optimizer and schedule start afresh' },
  data: { type: 'string', help: 'FER2013 folder (env FER_DATA; default data/ then ../shared/fer2013)' },
  out: { type: 'string', help: 'run folder: checkpoints, epochs.jsonl', default: D.out },
  limit: { type: 'int', help: 'train on this many images only (0 = all)', default: D.limit, min: 0 },
  resume: { type: 'boolean', help: 'continue the run in --out from its last checkpoint', default: false },
  force: { type: 'boolean', help: 'start afresh even if --out holds a run', default: false },
  tune: { type: 'boolean', help: 'time kernel variants for each new shape once and keep the fastest (cached per adapter; --no-tune: defaults)', default: D.tune },
  'in-flight': { type: 'int', help: 'loss readbacks queued ahead of the one awaited (the GPU keeps working meanwhile)', default: D.inFlight, min: 0, max: 64 },
  'readback-every': { type: 'int', help: 'steps between readbacks of the running loss and accuracy (kept on the GPU)', default: D.readbackEvery, min: 1, max: 100000 },
  cache: { type: 'string', help: "decoded-data cache folder ('none' to disable)", default: '.cache' },
  resize: { type: 'boolean', help: 'resize images that are not 48x48 (otherwise an error naming the file)', default: false },
  'skip-bad': { type: 'boolean', help: 'skip and count unreadable/corrupt images instead of stopping', default: false },
  'time-limit': { type: 'int', help: 'seconds: stop (checkpointed) before an epoch that would end past them; --resume continues (0 = none)', default: 0, min: 0 },
};

/** The augmentation knobs given as flags (the preset keeps the others); each checked here, naming its flag. */
function augmentOptionsFromFlags(flags: FlagValues): Partial<AugmentConfig> {
  const o: Partial<AugmentConfig> = {};
  if (flags.flip !== undefined) o.flip = flags.flip as number;
  if (flags.shift !== undefined) o.shift = flags.shift as number;
  if (flags.rotate !== undefined) o.rotate = flags.rotate as number;
  if (flags.erase !== undefined) o.erase = flags.erase as number;
  if (flags.scale !== undefined) {
    const parts = String(flags.scale).split(',').map((v) => Number(v));
    if (parts.length !== 2 || !parts.every(Number.isFinite) || !(parts[0]! > 0 && parts[0]! <= parts[1]! && parts[1]! <= 10))
      throw new UsageError(`--scale must be MIN,MAX with 0 < MIN <= MAX <= 10 (e.g. 0.8,1.2), got '${String(flags.scale)}'`);
    o.scale = [parts[0]!, parts[1]!];
  }
  return o;
}

export function configFromFlags(argv: readonly string[]): TrainConfig | null {
  const { flags, positional, help } = parseArgs(argv, TRAIN_FLAGS);
  if (help) {
    console.log(usage('pnpm fer:train', 'Train a facial-emotion CNN on FER2013 with WebGPU.', TRAIN_FLAGS));
    return null;
  }
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}' (flags start with --; see --help)`);
  const given = new Set(argv.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]!.replace(/^no-/, '')));
  let cfg: TrainConfig = {
    ...DEFAULT_CONFIG,
    model: flags.model as string,
    epochs: flags.epochs as number,
    batch: flags.batch as number,
    lr: flags.lr as number,
    optimizer: flags.optimizer as OptimizerName,
    momentum: flags.momentum as number,
    nesterov: flags.nesterov as boolean,
    weightDecay: flags['weight-decay'] as number,
    schedule: flags.schedule as ScheduleName,
    warmup: flags.warmup as number,
    stepSize: flags['step-size'] as number,
    gamma: flags.gamma as number,
    patience: flags.patience as number,
    augment: flags.augment as AugmentPreset,
    augmentOptions: augmentOptionsFromFlags(flags),
    mixup: flags.mixup as number,
    cutmix: flags.cutmix as number,
    mixProb: flags['mix-prob'] as number,
    labelSmoothing: flags['label-smoothing'] as number,
    classWeights: flags['class-weights'] as boolean,
    swaFrom: flags['swa-from'] as number,
    distill: flags.distill as string | undefined,
    distillWeight: flags['distill-weight'] as number,
    distillTemp: flags['distill-temp'] as number,
    seed: flags.seed as number,
    init: flags.init as string | undefined,
    data: flags.data as string | undefined,
    out: flags.out as string,
    limit: flags.limit as number,
    resume: flags.resume as boolean,
    force: flags.force as boolean,
    inFlight: flags['in-flight'] as number,
    tune: flags.tune as boolean,
    readbackEvery: flags['readback-every'] as number,
    cacheDir: flags.cache === 'none' ? null : (flags.cache as string),
    resize: flags.resize as boolean,
    skipBad: flags['skip-bad'] as boolean,
    timeLimit: flags['time-limit'] as number,
  };
  if (flags.preset) cfg = applyPreset(cfg, flags.preset as string, given);
  const flagToKey = (f: string) => f.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  cfg.explicit = [...given].map(flagToKey).filter((k): k is keyof TrainConfig => k in cfg);
  // Checked here, before data and model are loaded, so a bad value costs nothing.
  if (cfg.schedule === 'step' && !(cfg.gamma > 0)) throw new UsageError(`--gamma must be > 0 for the step schedule, got ${cfg.gamma}`);
  if (cfg.schedule === 'plateau' && !(cfg.gamma > 0 && cfg.gamma < 1))
    throw new UsageError(`--gamma must be in (0, 1) for the plateau schedule, got ${cfg.gamma}`);
  if (cfg.distill && (cfg.mixup > 0 || cfg.cutmix > 0))
    throw new UsageError(DISTILL_WITH_MIXING);
  if (cfg.distill && !existsSync(cfg.distill)) throw new UsageError(`--distill: no file at ${cfg.distill} (write one with pnpm fer:eval --split train --save-probs FILE)`);
  if (!cfg.resume && cfg.swaFrom > cfg.epochs) throw new UsageError(`--swa-from (${cfg.swaFrom}) must be at most --epochs (${cfg.epochs})`);
  if (!cfg.resume && cfg.schedule === 'cosine' && cfg.warmup >= cfg.epochs)
    throw new UsageError(`--warmup (${cfg.warmup}) must be smaller than --epochs (${cfg.epochs})`);
  return cfg;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runCli(async () => {
    const cfg = configFromFlags(process.argv.slice(2));
    if (!cfg) return;
    await initDevice();
    console.log(`adapter: ${describeDevice()}`);
    const result = await train(cfg);
    const last = result.epochs[result.epochs.length - 1];
    console.log(
      `${result.stoppedAt !== null ? `stopped by --time-limit after epoch ${result.stoppedAt} (continue with --resume); so far` : 'done'}: best PublicTest accuracy ${(result.bestValAcc * 100).toFixed(2)}% at epoch ${result.bestEpoch}` +
        (last ? `; last epoch ${(last.valAcc * 100).toFixed(2)}%` : '') +
        (result.swa ? `; SWA of epochs ${result.swa.from}..${result.swa.to} ${(result.swa.valAcc * 100).toFixed(2)}%` : '') +
        `\ncheckpoints: ${result.bestCheckpoint} (best), ${result.lastCheckpoint} (last)${result.swa ? `, ${result.swa.checkpoint} (SWA)` : ''}` +
        `\nevaluate: pnpm fer:eval --checkpoint ${result.bestCheckpoint} --split private`,
    );
    releaseDevice();
  });
}
