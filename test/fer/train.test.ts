// The training loop: exact resume after a "kill", NaN detection, the loss falling on real data,
// checkpoint errors. Uses a synthetic data folder (and the real FER2013 when ../shared has it).
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerModel, Sequential, Conv2d, BatchNorm2d, ReLU, MaxPool2d, Dropout, Flatten, Linear, loadSafetensors, createModel } from '@fer/nn';
import { train, evaluate, evalBatchFor, evaluateEnsemble, ensembleWeights, mixProbabilities, searchWeights, checkWeightSearch, weightGrid, loadModel, loadSplit, DEFAULT_CONFIG, TrainingError, CheckpointError, CLASSES, readCheckpoint, applyWeights, shiftFaces, flipRows, ttaViews, TTA_VIEW_COUNT, TENCROP_SHIFT, type TrainConfig } from '@fer/fer';
import { Rng, gpu, hasSubgroups8, pendingTunes, resetTuning, tuneState } from '@fer/tensor';
import { useGpu } from '../setup-gpu.js';
import { tempDir, grayPng } from './fixtures.js';

useGpu();

beforeAll(() => {
  registerModel('test-tiny', ({ seed = 0 } = {}) => {
    const rng = new Rng(seed);
    return new Sequential(
      new Conv2d(1, 4, 3, { padding: 'same', rng }),
      new BatchNorm2d(4),
      new ReLU(),
      new MaxPool2d(4),
      new Dropout(0.25, { rng: new Rng(seed + 1) }),
      new Flatten(),
      new Linear(4 * 12 * 12, 7, { rng }),
    );
  });
});

/** A learnable synthetic FER folder: class k has a bright square at a class-specific place. */
function syntheticData(perClassTrain: number, perClassTest: number): string {
  const root = tempDir('fer-synth');
  const rng = new Rng(5);
  const face = (k: number) =>
    grayPng(48, 48, (x, y) => {
      const cx = 6 + 6 * k;
      const inSquare = Math.abs(x - cx) < 4 && Math.abs(y - 24) < 8;
      return Math.max(0, Math.min(255, (inSquare ? 200 : 40) + Math.round(rng.normal(0, 20))));
    });
  CLASSES.forEach((name, k) => {
    for (const dir of ['train', 'test']) mkdirSync(join(root, dir, name), { recursive: true });
    for (let i = 0; i < perClassTrain; i++) writeFileSync(join(root, 'train', name, `Training_${k}${i}.png`), face(k));
    for (let i = 0; i < perClassTest; i++) {
      writeFileSync(join(root, 'test', name, `PublicTest_${k}${i}.png`), face(k));
      writeFileSync(join(root, 'test', name, `PrivateTest_${k}${i}.png`), face(k));
    }
  });
  return root;
}

function config(over: Partial<TrainConfig>): TrainConfig {
  return { ...DEFAULT_CONFIG, model: 'test-tiny', batch: 16, lr: 3e-3, epochs: 2, progress: false, cacheDir: null, ...over };
}

describe('training loop', () => {
  let data: string;
  beforeAll(() => {
    data = syntheticData(10, 3);
  });

  it.each([
    ['', { augment: 'light' }],
    [' (Mixup and CutMix batches)', { augment: 'light', mixup: 0.4, cutmix: 1, mixProb: 0.8 }],
  ] as Array<[string, Partial<TrainConfig>]>)('resumes after a kill to exactly the result of an uninterrupted run%s', async (_, recipe) => {
    const quiet = () => {};
    const full = tempDir('run-full');
    const a = await train(config({ data, out: full, epochs: 3, ...recipe }), { log: quiet });
    const split = tempDir('run-split');
    // "Kill" after the first epoch: the hook throws once its checkpoint is on disk.
    await expect(
      train(config({ data, out: split, epochs: 3, ...recipe }), {
        log: quiet,
        afterEpoch: (r) => {
          if (r.epoch === 1) throw new Error('killed');
        },
      }),
    ).rejects.toThrow('killed');
    // The resumed run takes its recipe from the checkpoint, not from these flags.
    const b = await train(config({ data, out: split, epochs: 3, resume: true }), { log: quiet });
    expect(b.epochs.map((e) => e.trainLoss)).toEqual(a.epochs.map((e) => e.trainLoss));
    expect(b.epochs.map((e) => e.valAcc)).toEqual(a.epochs.map((e) => e.valAcc));
    const wa = await loadSafetensors(join(full, 'last.safetensors'));
    const wb = await loadSafetensors(join(split, 'last.safetensors'));
    expect(Object.keys(wb.tensors).sort()).toEqual(Object.keys(wa.tensors).sort());
    for (const k of Object.keys(wa.tensors)) expect(Buffer.from(wb.tensors[k]!.data.buffer).equals(Buffer.from(wa.tensors[k]!.data.buffer)), k).toBe(true);
    // The epoch log has one line per epoch, the resumed run appended to it.
    expect(readFileSync(join(split, 'epochs.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);
    expect(a.epochs[2]!.trainLoss).toBeLessThan(a.epochs[0]!.trainLoss);
  });

  it('stops on a NaN loss, naming the epoch and step, and keeps the last good checkpoint', async () => {
    const out = tempDir('run-nan');
    let good: Buffer | undefined;
    // Epoch 1 at a sane lr, then a step schedule multiplies it by 1e40 each epoch: a later epoch diverges.
    const err = await train(config({ data, out, epochs: 3, schedule: 'step', stepSize: 1, gamma: 1e40, optimizer: 'sgd', momentum: 0 }), {
      log: () => {},
      afterEpoch: () => {
        good = readFileSync(join(out, 'last.safetensors'));
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingError);
    expect((err as Error).message).toMatch(/loss is (NaN|Infinity) at epoch [23], within steps \d+\.\.\d+: .*last good checkpoint .*last\.safetensors is kept/);
    expect(good).toBeDefined();
    expect(readFileSync(join(out, 'last.safetensors')).equals(good!)).toBe(true);
  });

  it('a diverging first epoch says no checkpoint was written', async () => {
    const out = tempDir('run-nan0');
    await expect(train(config({ data, out, epochs: 1, lr: 1e38, optimizer: 'sgd', momentum: 0 }), { log: () => {} })).rejects.toThrow(
      /at epoch 1, within steps \d+\.\.\d+: .*no checkpoint was written yet/,
    );
    expect(existsSync(join(out, 'last.safetensors'))).toBe(false);
  });

  it('a fresh run refuses a folder that holds a run', async () => {
    const out = tempDir('run-twice');
    await train(config({ data, out, epochs: 1 }), { log: () => {} });
    const before = readFileSync(join(out, 'last.safetensors'));
    await expect(train(config({ data, out, epochs: 1 }), { log: () => {} })).rejects.toThrow(/already holds a run .*--resume.*--force/);
    expect(readFileSync(join(out, 'last.safetensors')).equals(before)).toBe(true);
  });

  it('refuses to resume a run of another model, or with no checkpoint', async () => {
    const out = tempDir('run-other');
    await expect(train(config({ data, out, resume: true }), { log: () => {} })).rejects.toThrow(/no checkpoint at .*last\.safetensors/);
    await train(config({ data, out, epochs: 1 }), { log: () => {} });
    await expect(train(config({ data, out, model: 'fast', resume: true }), { log: () => {} })).rejects.toThrow(CheckpointError);
  });

  it("--init starts from a checkpoint's weights (lr 0 keeps them), takes its model unless --model is named, and refuses a mismatch or a missing file", async () => {
    const src = tempDir('init-src');
    await train(config({ data, out: src, epochs: 1 }), { log: () => {} });
    const from = join(src, 'last.safetensors');
    const trainable = (w: Record<string, { data: ArrayLike<number> }>) =>
      Object.fromEntries(Object.entries(w).filter(([k]) => !/running_/.test(k)).map(([k, t]) => [k, Array.from(t.data)]));
    const source = trainable((await readCheckpoint(from)).weights);
    expect(Object.keys(source).length).toBeGreaterThan(0);

    // The library's explicit list leaves the model out, as the CLI does when --model is not given.
    const lines: string[] = [];
    const out = tempDir('init-dst');
    await train(config({ data, out, epochs: 1, lr: 0, seed: 9, model: 'seed-cnn', init: from, explicit: ['epochs', 'lr', 'seed', 'init'] }), { log: (l) => lines.push(l) });
    expect(lines.some((l) => l.startsWith('initialised from ') && l.includes(from))).toBe(true);
    expect(lines.some((l) => l.startsWith(`recipe: test-tiny from ${from}, 1 epochs`))).toBe(true);
    const tuned = await readCheckpoint(join(out, 'last.safetensors'));
    expect(tuned.model).toBe('test-tiny');
    expect(trainable(tuned.weights)).toEqual(source);
    // The same run without --init starts from seed 9's weights instead.
    const fresh = tempDir('init-fresh');
    await train(config({ data, out: fresh, epochs: 1, lr: 0, seed: 9 }), { log: () => {} });
    expect(trainable((await readCheckpoint(join(fresh, 'last.safetensors'))).weights)).not.toEqual(source);

    await expect(train(config({ data, out: tempDir('init-other'), init: from, model: 'fast' }), { log: () => {} })).rejects.toThrow(/--init: .*last\.safetensors holds a 'test-tiny' model, but --model is 'fast'/);
    await expect(train(config({ data, out: tempDir('init-none'), init: join(src, 'missing.safetensors') }), { log: () => {} })).rejects.toThrow(/--init: no checkpoint at .*missing\.safetensors/);
  });

  it('runs every optimizer/schedule/loss option', async () => {
    const runs: Array<Partial<TrainConfig>> = [
      { optimizer: 'sgd', momentum: 0.9, nesterov: true, schedule: 'cosine', warmup: 1, classWeights: true, labelSmoothing: 0.1 },
      { optimizer: 'adamw', weightDecay: 0.01, schedule: 'plateau', patience: 1, gamma: 0.5, augment: 'standard' },
      { optimizer: 'adam', schedule: 'step', stepSize: 1, gamma: 0.5 },
      { cutmix: 1, classWeights: true, labelSmoothing: 0.1 },
    ];
    for (const over of runs) {
      const lines: string[] = [];
      const r = await train(config({ data, out: tempDir('run-opts'), epochs: 3, ...over }), { log: (l) => lines.push(l) });
      expect(lines.some((l) => l.startsWith('mixing batches: CutMix Beta(1), probability 1'))).toBe(over.cutmix === 1);
      // Each epoch's line says how long the rest of the run should take; the last one has no rest.
      const epochLines = lines.filter((l) => /^epoch \d\/3 /.test(l));
      expect(epochLines.map((l) => /~\d+:\d\d to go/.test(l))).toEqual([true, true, false]);
      expect(r.epochs).toHaveLength(3);
      for (const e of r.epochs) expect(Number.isFinite(e.trainLoss)).toBe(true);
      if (over.schedule === 'step') expect(r.epochs.map((e) => e.lr)).toEqual([3e-3, 1.5e-3, 7.5e-4]);
      if (over.schedule === 'cosine') expect(r.epochs[0]!.lr).toBeLessThan(r.epochs[1]!.lr);
    }
  });

  it('--distill: a one-hot teacher trains as the labels do, a uniform one holds the loss at log 7; resumable, and refuses a changed teacher or mixing', async () => {
    const quiet = () => {};
    const labels = Array.from(loadSplit(data, 'train', { cacheDir: null }).labels);
    const teacherFile = (row: (label: number) => number[]) => {
      const file = join(tempDir('teacher'), 'train-probs.json');
      writeFileSync(file, JSON.stringify({ split: 'train', tta: 'none', checkpoints: ['t.safetensors'], labels, probs: [labels.flatMap(row)] }));
      return file;
    };
    const oneHot = teacherFile((l) => CLASSES.map((_, c) => (c === l ? 1 : 0)));
    const uniform = teacherFile(() => CLASSES.map(() => 1 / 7));
    // The teacher's rows follow the training images through the shuffles (and --limit's subset): a
    // one-hot teacher at full weight is the hard labels again, so the run matches a plain one.
    for (const limit of [0, 40]) {
      const plain = await train(config({ data, out: tempDir('run-plain'), epochs: 2, limit }), { log: quiet });
      const lines: string[] = [];
      const taught = await train(config({ data, out: tempDir('run-taught'), epochs: 2, limit, distill: oneHot, distillWeight: 1, distillTemp: 1 }), { log: (l) => lines.push(l) });
      expect(lines.some((l) => /^distilling from .*train-probs\.json \(sha256 [0-9a-f]{12}\): targets 1 x teacher at temperature 1 \+ 0 x label$/.test(l))).toBe(true);
      expect(lines.some((l) => l.includes('distilled from') && l.includes('teacher weight 1, temperature 1'))).toBe(true);
      taught.epochs.forEach((e, i) => expect(e.trainLoss).toBeCloseTo(plain.epochs[i]!.trainLoss, 4));
    }
    // Cross-entropy against a uniform target is at least log 7, whatever the model predicts.
    const flat = await train(config({ data, out: tempDir('run-uniform'), epochs: 2, distill: uniform, distillWeight: 1 }), { log: quiet });
    for (const e of flat.epochs) expect(e.trainLoss).toBeGreaterThanOrEqual(Math.log(7) - 1e-4);
    // A kill and --resume end where an uninterrupted run ends.
    const recipe = { epochs: 3, distill: uniform, distillWeight: 0.5, distillTemp: 2 };
    const whole = await train(config({ data, out: tempDir('run-kd-full'), ...recipe }), { log: quiet });
    const split = tempDir('run-kd-split');
    await expect(train(config({ data, out: split, ...recipe }), { log: quiet, afterEpoch: (r) => { if (r.epoch === 1) throw new Error('killed'); } })).rejects.toThrow('killed');
    const resumed = await train(config({ data, out: split, epochs: 3, resume: true }), { log: quiet });
    expect(resumed.epochs.map((e) => e.trainLoss)).toEqual(whole.epochs.map((e) => e.trainLoss));
    // The teacher file changed since: the run would learn from another teacher.
    writeFileSync(uniform, readFileSync(oneHot));
    await expect(train(config({ data, out: split, epochs: 4, resume: true }), { log: quiet })).rejects.toThrow(/--resume: the run learned from .*train-probs\.json with sha256 [0-9a-f]{12}\.\.\., the file now has/);
    await expect(train(config({ data, out: tempDir('run-kd-mix'), distill: oneHot, mixup: 0.4 }), { log: quiet })).rejects.toThrow(/--distill cannot be combined with --mixup or --cutmix/);
    await expect(train(config({ data, out: tempDir('run-kd-bad'), distill: join(tempDir('none'), 'missing.json') }), { log: quiet })).rejects.toThrow(/--distill: .*missing\.json: ENOENT/);
  });

  it('augmentOptions change knobs of the augmentation preset (a flip on every image trains otherwise than none)', async () => {
    const quiet = () => {};
    const run = (augmentOptions: TrainConfig['augmentOptions']) => train(config({ data, out: tempDir('run-aug'), epochs: 1, augment: 'none', augmentOptions }), { log: quiet });
    const plain = await run({});
    expect((await run({})).epochs[0]!.trainLoss).toBe(plain.epochs[0]!.trainLoss);
    expect((await run({ flip: 1 })).epochs[0]!.trainLoss).not.toBe(plain.epochs[0]!.trainLoss);
    await expect(run({ shift: 60 })).rejects.toThrow(/augment.shift must be a whole number of pixels in \[0, 48\), got 60/);
  });

  it('evaluate: probabilities sum to 1, and flip TTA averages a face with its mirror', async () => {
    const out = tempDir('run-tta');
    await train(config({ data, out, epochs: 1 }), { log: () => {} });
    const { model } = await loadModel(join(out, 'best.safetensors'));
    const set = loadSplit(data, 'public', { cacheDir: null });
    const mirrored = new Uint8Array(set.images.length);
    for (let r = 0; r < set.images.length; r += 48) for (let c = 0; c < 48; c++) mirrored[r + c] = set.images[r + 47 - c]!;
    const a = await evaluate(model, set);
    const b = await evaluate(model, { ...set, images: mirrored });
    const both = await evaluate(model, set, 5, 'flip');
    for (let i = 0; i < set.count; i++) {
      let sum = 0;
      for (let c = 0; c < 7; c++) {
        const k = i * 7 + c;
        sum += a.probs[k]!;
        expect(both.probs[k]!).toBeCloseTo((a.probs[k]! + b.probs[k]!) / 2, 5);
      }
      expect(sum).toBeCloseTo(1, 5);
    }
    expect(a.acc).toBe(Array.from(a.preds).filter((p, i) => p === set.labels[i]).length / set.count);
    model.dispose();
  });

  it('--time-limit stops before an epoch that would overrun it, checkpointed; --resume ends where an unlimited run ends', async () => {
    const quiet = () => {};
    const full = tempDir('run-unlimited');
    const a = await train(config({ data, out: full, epochs: 3, augment: 'light', timeLimit: 1e6 }), { log: quiet });
    expect(a.stoppedAt).toBeNull();
    expect(a.epochs).toHaveLength(3);
    // A limit already passed when the first epoch ends: each process trains one epoch (the first
    // always runs), then stops with its checkpoint written.
    const split = tempDir('run-limited');
    const logs: string[] = [];
    const b1 = await train(config({ data, out: split, epochs: 3, augment: 'light', timeLimit: 1e-6 }), { log: (s) => logs.push(s) });
    expect(b1.stoppedAt).toBe(1);
    expect(b1.epochs).toHaveLength(1);
    expect(logs.some((l) => l.startsWith('stopped after epoch 1 of 3') && l.includes('--resume'))).toBe(true);
    const b2 = await train(config({ data, out: split, epochs: 3, resume: true, timeLimit: 1e-6 }), { log: quiet });
    expect(b2.stoppedAt).toBe(2);
    const b3 = await train(config({ data, out: split, epochs: 3, resume: true, timeLimit: 1e-6 }), { log: quiet });
    expect(b3.stoppedAt).toBeNull();
    expect(b3.epochs.map((e) => e.trainLoss)).toEqual(a.epochs.map((e) => e.trainLoss));
    const wa = await loadSafetensors(join(full, 'last.safetensors'));
    const wb = await loadSafetensors(join(split, 'last.safetensors'));
    for (const k of Object.keys(wa.tensors)) expect(Buffer.from(wb.tensors[k]!.data.buffer).equals(Buffer.from(wa.tensors[k]!.data.buffer)), k).toBe(true);
  });

  it('--swa-from: the equal-weight average of the chosen epochs, BatchNorm recomputed, scored and saved; resumable', async () => {
    const quiet = () => {};
    const out = tempDir('run-swa');
    const after: Record<number, Record<string, ArrayLike<number>>> = {};
    const r = await train(config({ data, out, epochs: 4, swaFrom: 2 }), {
      log: quiet,
      afterEpoch: async (e) => {
        after[e.epoch] = Object.fromEntries(Object.entries((await readCheckpoint(join(out, 'last.safetensors'))).weights).map(([k, t]) => [k, t.data]));
      },
    });
    expect(r.swa).toMatchObject({ from: 2, to: 4, checkpoint: join(out, 'swa.safetensors') });
    const swa = await readCheckpoint(join(out, 'swa.safetensors'));
    expect(swa.model).toBe('test-tiny');
    const { model } = await loadModel(join(out, 'swa.safetensors'));
    const params = model.namedParameters().map(([k]) => k);
    expect(params.length).toBeGreaterThan(0);
    for (const k of params) {
      const [a, b, c, avg] = [after[2]![k]!, after[3]![k]!, after[4]![k]!, swa.weights[k]!.data];
      for (let i = 0; i < avg.length; i++) expect(avg[i]!).toBeCloseTo((a[i]! + b[i]! + c[i]!) / 3, 5);
    }
    // Running statistics are recomputed for the averaged weights, not the last epoch's.
    const means = model.namedBuffers().filter(([k]) => k.endsWith('running_mean')).map(([k]) => k);
    expect(means.length).toBeGreaterThan(0);
    expect(means.some((k) => Array.from(swa.weights[k]!.data).some((v, i) => v !== after[4]![k]![i]))).toBe(true);
    // Its score is the saved model's.
    const set = loadSplit(data, 'public', { cacheDir: null });
    expect((await evaluate(model, set, 16)).acc).toBe(r.swa!.valAcc);
    model.dispose();
    // A kill after epoch 3 (two epochs averaged) and a resume give the same average, bit for bit.
    const split = tempDir('run-swa-split');
    await expect(
      train(config({ data, out: split, epochs: 4, swaFrom: 2 }), {
        log: quiet,
        afterEpoch: (e) => {
          if (e.epoch === 3) throw new Error('killed');
        },
      }),
    ).rejects.toThrow('killed');
    const resumed = await train(config({ data, out: split, epochs: 4, resume: true }), { log: quiet });
    expect(resumed.swa!.valAcc).toBe(r.swa!.valAcc);
    const a = await loadSafetensors(join(out, 'swa.safetensors'));
    const b = await loadSafetensors(join(split, 'swa.safetensors'));
    for (const k of Object.keys(a.tensors)) expect(Buffer.from(b.tensors[k]!.data.buffer).equals(Buffer.from(a.tensors[k]!.data.buffer)), k).toBe(true);
  });

  it('every training step and every evaluation batch has one shape: the partial last batch is dropped, or filled up', async () => {
    // 70 faces in batches of 16: 4 steps of 16 per epoch; the 6 left over (different ones each epoch) are not trained on.
    const out = tempDir('run-static');
    const r = await train(config({ data, out, epochs: 2 }), { log: () => {} });
    expect(r.epochs.map((e) => e.images)).toEqual([64, 64]);
    // 21 PublicTest faces in batches of 8: three forwards of 8 faces, the last with 5 real ones,
    // whose results equal each face's own (a batch of 1; eval mode treats each face alone).
    const { model } = await loadModel(join(out, 'best.safetensors'));
    const set = loadSplit(data, 'public', { cacheDir: null });
    expect(set.count).toBe(21);
    const forward = model.forward.bind(model);
    const batches: number[] = [];
    model.forward = (x) => {
      batches.push(x.shape[0]!);
      return forward(x);
    };
    const a = await evaluate(model, set, 8);
    expect(batches).toEqual([8, 8, 8]);
    batches.length = 0;
    const alone = await evaluate(model, set, 1);
    expect(batches).toEqual(Array(21).fill(1));
    expect(Array.from(a.preds)).toEqual(Array.from(alone.preds));
    for (let k = 0; k < set.count * 7; k++) expect(a.probs[k]!).toBeCloseTo(alone.probs[k]!, 5);
    // Fewer faces than a batch: one batch of that many.
    batches.length = 0;
    await evaluate(model, { images: set.images.subarray(0, 5 * 48 * 48), labels: set.labels.subarray(0, 5), count: 5 }, 8);
    expect(batches).toEqual([5]);
    model.dispose();
  });

  // Tuning compiles every candidate kernel of the model's shapes: ~105 s on a cold shader cache (a
  // fresh machine; scripts/analysis/compile-times.mjs), a few seconds warm. The limit only catches hangs.
  it('evaluate with tune times the kernels of its new shapes once, after the first batch, and predicts the same', { timeout: 600_000 }, async () => {
    const model = createModel('test-tiny', { seed: 3 });
    const set = loadSplit(data, 'public', { cacheDir: null });
    const saved = { tune: process.env['FER_TUNE'], cache: process.env['FER_TUNE_CACHE'] };
    // The suite runs with FER_TUNE=0 (vitest.config.ts); here the tuner is on, with an empty cache.
    process.env['FER_TUNE'] = '1';
    process.env['FER_TUNE_CACHE'] = tempDir('eval-tune');
    resetTuning();
    try {
      const plain = await evaluate(model, set, 6);
      // Without tune the shapes stay queued (the fallback kernels ran); with it they are timed once.
      const queued = pendingTunes();
      resetTuning();
      const heard: Array<[number, number]> = [];
      const tuned = await evaluate(model, set, 6, 'none', undefined, { tune: true, onTuned: (ms, shapes) => heard.push([ms, shapes]) });
      expect(pendingTunes()).toBe(0);
      // Whether this adapter has a choice of kernels for the layers (see the autotune tests).
      if (hasSubgroups8() || !gpu().info.software) {
        expect(queued).toBeGreaterThan(0);
        expect(heard.length).toBe(1);
        expect(heard[0]![1]).toBe(queued);
        expect(heard[0]![0]).toBeGreaterThan(0);
        expect(Object.keys(tuneState().choices).length).toBeGreaterThanOrEqual(queued);
      } else expect(heard).toEqual([]);
      // Shapes already tuned (cached in memory and on disk) are not timed again.
      heard.length = 0;
      await evaluate(model, set, 6, 'none', undefined, { tune: true, onTuned: (ms, shapes) => heard.push([ms, shapes]) });
      expect(heard).toEqual([]);
      expect(Array.from(tuned.preds)).toEqual(Array.from(plain.preds));
      for (let k = 0; k < set.count * 7; k++) expect(tuned.probs[k]!).toBeCloseTo(plain.probs[k]!, 5);
    } finally {
      process.env['FER_TUNE'] = saved.tune;
      if (saved.cache === undefined) delete process.env['FER_TUNE_CACHE'];
      else process.env['FER_TUNE_CACHE'] = saved.cache;
      resetTuning();
      model.dispose();
    }
  });

  it("evaluate shrinks its batch to fit the device's storage bindings (vgg's 64 x 48 x 48 maps)", async () => {
    const model = createModel('vgg', { seed: 1 });
    const perImage = 64 * 48 * 48 * 4; // bytes of vgg's largest activation per image
    const fits = Math.floor(gpu().device.limits.maxStorageBufferBindingSize / (2 * perImage));
    expect(evalBatchFor(model, 4096)).toBe(Math.min(4096, fits));
    expect(evalBatchFor(model, 8)).toBe(8);
    expect(evalBatchFor(createModel('fast', { seed: 1 }), 128)).toBe(128);
    // One batch of 240 binds a 142 MB activation (in a 192 MiB pooled buffer): lavapipe refuses
    // bindings over 128 MiB.
    const count = 240;
    const rng = new Rng(5);
    const images = Uint8Array.from({ length: count * 48 * 48 }, () => Math.floor(rng.uniform() * 256));
    const labels = Uint8Array.from({ length: count }, (_, i) => i % 7);
    const r = await evaluate(model, { images, labels, count });
    expect(r.preds).toHaveLength(count);
    for (let i = 0; i < count; i++) expect(r.probs.subarray(i * 7, i * 7 + 7).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    model.dispose();
  });

  it('tencrop TTA averages the model over 5 shifted crops and their mirror images', async () => {
    const out = tempDir('run-tencrop');
    await train(config({ data, out, epochs: 1 }), { log: () => {} });
    const { model } = await loadModel(join(out, 'best.safetensors'));
    const set = loadSplit(data, 'public', { cacheDir: null });
    const s = TENCROP_SHIFT;
    // Each view as its own split of bytes: the shifted (edge-replicated) and mirrored faces.
    const asBytes = (f: Float32Array) => Uint8Array.from(f, (v) => Math.round(v * 255));
    const faces = Float32Array.from(set.images, (v) => v / 255);
    const views = ttaViews(faces, 'tencrop');
    expect(views.length).toBe(10);
    for (const mode of ['none', 'flip', 'tencrop', 'ninecrop'] as const) expect(ttaViews(faces, mode).length).toBe(TTA_VIEW_COUNT[mode]);
    // ninecrop: ten-crop's 5 crops, the 4 edge midpoints, then the 9 mirrored.
    const nine = ttaViews(faces, 'ninecrop');
    const mids = [[0, -s], [-s, 0], [s, 0], [0, s]].map(([dx, dy]) => shiftFaces(faces, dx!, dy!));
    const expected = [...views.slice(0, 5), ...mids];
    expect(nine.map((v) => Array.from(v))).toEqual([...expected, ...expected.map((v) => flipRows(v))].map((v) => Array.from(v)));
    const each = await Promise.all(views.map((v) => evaluate(model, { ...set, images: asBytes(v) })));
    const ten = await evaluate(model, set, 7, 'tencrop');
    for (let k = 0; k < set.count * 7; k++) {
      const mean = each.reduce((acc, e) => acc + e.probs[k]!, 0) / 10;
      expect(ten.probs[k]!).toBeCloseTo(mean, 5);
    }
    model.dispose();
    // shiftFaces moves content by (dx, dy); the uncovered border is 0 (zero padding, as in training).
    const one = new Float32Array(48 * 48).map((_, i) => i + 1);
    const moved = shiftFaces(one, s, -s);
    for (let r = 0; r < 48; r++)
      for (let c = 0; c < 48; c++) {
        const sr = r + s;
        const sc = c - s;
        expect(moved[r * 48 + c]).toBe(sr < 48 && sc >= 0 ? one[sr * 48 + sc] : 0);
      }
  });

  it('evaluateEnsemble averages the softmax of its models', async () => {
    const outA = tempDir('run-ens-a');
    const outB = tempDir('run-ens-b');
    await train(config({ data, out: outA, epochs: 1 }), { log: () => {} });
    await train(config({ data, out: outB, epochs: 1, seed: 99 }), { log: () => {} });
    const a = (await loadModel(join(outA, 'best.safetensors'))).model;
    const b = (await loadModel(join(outB, 'best.safetensors'))).model;
    const set = loadSplit(data, 'public', { cacheDir: null });
    const ra = await evaluate(a, set, 8, 'flip');
    const rb = await evaluate(b, set, 8, 'flip');
    // Progress: faces done, counted once per member, rising batch by batch to the total.
    const heard: Array<[number, number]> = [];
    const ens = await evaluateEnsemble([a, b], set, 8, 'flip', undefined, (done, total) => heard.push([done, total]));
    expect(heard.length).toBe(2 * Math.ceil(set.count / 8));
    expect(heard.every(([, total]) => total === 2 * set.count)).toBe(true);
    expect(heard.every(([done], i) => i === 0 || done > heard[i - 1]![0])).toBe(true);
    expect(heard.at(-1)![0]).toBe(2 * set.count);
    expect(heard[Math.ceil(set.count / 8) - 1]![0]).toBe(set.count);
    let correct = 0;
    for (let i = 0; i < set.count; i++) {
      let best = 0;
      for (let c = 0; c < 7; c++) {
        const k = i * 7 + c;
        expect(ens.probs[k]!).toBeCloseTo((ra.probs[k]! + rb.probs[k]!) / 2, 6);
        if (ens.probs[k]! > ens.probs[i * 7 + best]!) best = c;
      }
      expect(ens.preds[i]).toBe(best);
      if (best === set.labels[i]) correct++;
    }
    expect(ens.acc).toBe(correct / set.count);
    expect(ens.members.map((r) => r.acc)).toEqual([ra.acc, rb.acc]);
    expect(ens.weights).toEqual([0.5, 0.5]);
    // Weighted: 3:1 is 0.75 a + 0.25 b.
    const weighted = await evaluateEnsemble([a, b], set, 8, 'flip', [3, 1]);
    expect(weighted.weights).toEqual([0.75, 0.25]);
    for (let k = 0; k < set.count * 7; k++) expect(weighted.probs[k]!).toBeCloseTo(0.75 * ra.probs[k]! + 0.25 * rb.probs[k]!, 6);
    await expect(evaluateEnsemble([], set)).rejects.toThrow(/at least one model/);
    await expect(evaluateEnsemble([a, b], set, 8, 'none', [1])).rejects.toThrow(/1 weight\(s\) for 2 model\(s\)/);
    a.dispose();
    b.dispose();
  });

  it('ensemble weights are checked and normalised; mixProbabilities weighs and scores; searchWeights finds the weighting that wins', () => {
    expect(ensembleWeights(4)).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(ensembleWeights(2, [1, 3])).toEqual([0.25, 0.75]);
    expect(ensembleWeights(2, [0, 2])).toEqual([0, 1]);
    expect(() => ensembleWeights(2, [1, 2, 3], '--weights')).toThrow(/--weights: 3 weight\(s\) for 2 model\(s\)/);
    expect(() => ensembleWeights(2, [1, Number.NaN])).toThrow(/finite numbers >= 0/);
    expect(() => ensembleWeights(2, [1, -1])).toThrow(/finite numbers >= 0/);
    expect(() => ensembleWeights(2, [0, 0])).toThrow(/sum to 0/);
    // Three images, true classes 0, 1, 2. Member a (0.6 on its class) gets images 0 and 2 right,
    // b (0.9 on class 1 everywhere) only image 1.
    const row = (hot: number, p: number) => Array.from({ length: 7 }, (_, c) => (c === hot ? p : (1 - p) / 6));
    const a = Float32Array.from([...row(0, 0.6), ...row(0, 0.6), ...row(2, 0.6)]);
    const b = Float32Array.from([...row(1, 0.9), ...row(1, 0.9), ...row(1, 0.9)]);
    const labels = Uint8Array.from([0, 1, 2]);
    expect(mixProbabilities([a], [1], labels, 3).acc).toBeCloseTo(2 / 3, 12);
    expect(mixProbabilities([b], [1], labels, 3).acc).toBeCloseTo(1 / 3, 12);
    const mixed = mixProbabilities([a, b], [1, 1], labels, 3);
    // Equal weights: b's 0.9 wins everywhere, so only image 1 is right.
    expect(Array.from(mixed.preds)).toEqual([1, 1, 1]);
    expect(mixed.acc).toBeCloseTo(1 / 3, 12);
    const k = 0.5 * 0.6 + 0.5 * (0.1 / 6);
    expect(mixed.probs[0]!).toBeCloseTo(k, 6);
    const found = searchWeights([a, b], labels, 3, 0.25);
    expect(found).toHaveLength(5);
    // a at 0.75 and at 1 both get images 0 and 2 right (2/3); 0.75 first, for its lower loss (b's 0.9
    // keeps image 1's true class likelier). 0.5 and less: b wins everywhere (1/3).
    expect(found.slice(0, 2).map((r) => r.weights)).toEqual([[0.75, 0.25], [1, 0]]);
    expect(found[0]!.acc).toBeCloseTo(2 / 3, 12);
    expect(found[1]!.acc).toBeCloseTo(2 / 3, 12);
    expect(found[0]!.loss).toBeLessThan(found[1]!.loss);
    expect(found[2]!.acc).toBeCloseTo(1 / 3, 12);
    for (let i = 1; i < found.length; i++) expect(found[i]!.acc).toBeLessThanOrEqual(found[i - 1]!.acc);
    expect(() => searchWeights([a, b], labels, 3, 0.3)).toThrow(/step must divide 1/);
    expect(searchWeights([a, b, b], labels, 3, 0.5)).toHaveLength(6);
  });

  it('checkWeightSearch scores the searched weighting on the half it was not chosen on', () => {
    expect(weightGrid(3, 0.5)).toEqual([[0, 0, 1], [0, 0.5, 0.5], [0, 1, 0], [0.5, 0, 0.5], [0.5, 0.5, 0], [1, 0, 0]]);
    const row = (hot: number, p: number) => Array.from({ length: 7 }, (_, c) => (c === hot ? p : (1 - p) / 6));
    // 40 images, 10 of class 1. Member a: 0.6 on the true class, always right; b: 0.9 on class 1 always.
    // Equal weights follow b (25% right); any weighting with a at >= 0.75 is right everywhere, on either half.
    const labels = Uint8Array.from({ length: 40 }, (_, i) => (i % 4 === 1 ? 1 : i % 7 === 1 ? 2 : 0));
    const a = Float32Array.from([...labels].flatMap((l) => row(l, 0.6)));
    const b = Float32Array.from([...labels].flatMap(() => row(1, 0.9)));
    const real = checkWeightSearch([a, b], labels, 40, 0.25, 20);
    expect(real.rounds).toBe(20);
    expect(real.gainMean).toBeGreaterThan(0.6);
    expect(real.inSampleGainMean).toBeGreaterThan(0.6);
    // Two identical members: every weighting predicts alike, nothing to gain anywhere.
    const same = checkWeightSearch([a, a], labels, 40, 0.25, 10);
    expect([same.gainMean, same.gainSd, same.inSampleGainMean]).toEqual([0, 0, 0]);
    // Members of random probabilities: the weighting chosen on a half looks better there than it does held out.
    const rng = new Rng(3);
    const noise = () => Float32Array.from({ length: 200 * 7 }, () => rng.next());
    const randomLabels = Uint8Array.from({ length: 200 }, () => rng.int(7));
    const luck = checkWeightSearch([noise(), noise(), noise()], randomLabels, 200, 0.1, 30);
    expect(luck.inSampleGainMean).toBeGreaterThan(luck.gainMean);
    expect(luck.inSampleGainMean).toBeGreaterThan(0);
    expect(() => checkWeightSearch([], labels, 40)).toThrow(/at least one member/);
    expect(() => checkWeightSearch([a], labels, 1)).toThrow(/at least two images/);
    expect(() => checkWeightSearch([a, b], labels, 40, 0.3)).toThrow(/step must divide 1/);
  });

  it('a truncated checkpoint is a clear error naming the file', async () => {
    const out = tempDir('run-trunc');
    await train(config({ data, out, epochs: 1 }), { log: () => {} });
    const file = join(out, 'last.safetensors');
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 100));
    await expect(readCheckpoint(file)).rejects.toThrow(new RegExp(`${file}`));
    await expect(train(config({ data, out, resume: true }), { log: () => {} })).rejects.toThrow(/cannot be read/);
  });

  it('a checkpoint of another model does not load', async () => {
    const out = tempDir('run-wrong');
    await train(config({ data, out, epochs: 1 }), { log: () => {} });
    const ckpt = await readCheckpoint(join(out, 'best.safetensors'));
    const fast = createModel('fast');
    expect(() => applyWeights(fast, 'fast', ckpt)).toThrow(/holds a 'test-tiny' model, but 'fast' was asked for/);
    fast.dispose();
  });
});

// CI has ../shared beside its clone; without it this fails rather than skips.
const REAL = new URL('../../../shared/fer2013/', import.meta.url).pathname;
describe('on the real FER2013', () => {
  it('the loss falls on a 256-image subset in a few epochs', async () => {
    expect(existsSync(REAL), `FER2013 expected at ${REAL}`).toBe(true);
    const out = tempDir('run-real');
    const r = await train(
      { ...DEFAULT_CONFIG, model: 'fast', data: REAL, out, limit: 256, epochs: 4, lr: 1e-3, batch: 32, progress: false, cacheDir: tempDir('cache') },
      { log: () => {} },
    );
    const losses = r.epochs.map((e) => e.trainLoss);
    expect(losses[3]!).toBeLessThan(losses[0]! * 0.9);
  });
});
