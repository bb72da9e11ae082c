// `pnpm fer:eval`: the reference report's table (per-class precision/recall/F1/support, accuracy,
// macro and weighted averages) and the confusion matrix for a checkpoint on a split, as text,
// JSON and PNGs (heatmap, training curves, captioned faces).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { initDevice, releaseDevice, tuneState } from '@fer/tensor';
import { parseArgs, usage, runCli, UsageError, type FlagSpec } from './args.js';
import { loadModel } from '../checkpoint.js';
import { selectModel } from '../shipped.js';
import { TTA_MODES, TTA_VIEW_COUNT, type Tta } from '../train.js';
import { ProgressBar } from './progress.js';
import { evaluateEnsemble } from '../ensemble.js';
import { loadSplit, resolveDataDir, type Split } from '../data/reader.js';
import { CLASSES } from '../data/classes.js';
import { classificationReport, formatReport, formatConfusion, reportToJSON, compareWithReference } from '../metrics.js';
import { confusionHeatmap, trainingCurves, faceGrid } from '../plots/plots.js';
import { IMAGE_PIXELS } from '../data/classes.js';

const FLAGS: Record<string, FlagSpec> = {
  checkpoint: { type: 'string', help: 'weights to evaluate; several, comma-separated: their ensemble (softmax averaged) (default: the shipped model, models/default.json, else models/fer-best.safetensors, else runs/latest/best.safetensors)' },
  split: { type: 'string', help: 'split: test = PublicTest + PrivateTest (the report), private, public, train', default: 'test', choices: ['test', 'private', 'public', 'train'] },
  data: { type: 'string', help: 'FER2013 folder (env FER_DATA; default data/ then ../shared/fer2013)' },
  out: { type: 'string', help: 'folder for report JSON and PNGs (default: beside --checkpoint, else runs/eval)' },
  batch: { type: 'int', help: 'evaluation batch size (64: the training batch, whose kernels training has already tuned)', default: 64, min: 1 },
  weights: { type: 'string', help: "an ensemble's weights, comma-separated, one per --checkpoint file (normalised to sum to 1) (default: the shipped model's, from models/default.json, when no --checkpoint is given; else equal)" },
  'save-probs': { type: 'string', help: "write each model's softmax probabilities and the labels to this JSON file (to choose ensemble weights on PublicTest: pnpm fer:weights FILE)" },
  tta: { type: 'string', help: "test-time augmentation: 'flip' averages each face with its mirror image, 'tencrop' over 5 shifted crops and their mirrors, 'ninecrop' over 9 (default: the shipped model's, from models/default.json, when no --checkpoint is given; else none)", choices: [...TTA_MODES] },
  faces: { type: 'int', help: 'faces in the captioned grid', default: 32, min: 0, max: 512 },
  cache: { type: 'string', help: "decoded-data cache folder ('none' to disable)", default: '.cache' },
  resize: { type: 'boolean', help: 'resize images that are not 48x48 (otherwise an error naming the file)', default: false },
  'skip-bad': { type: 'boolean', help: 'skip and count unreadable/corrupt images instead of stopping', default: false },
  tune: { type: 'boolean', help: "time kernel variants for shapes this adapter has not run yet, once (cached per adapter, as in training; a model trained on another adapter runs fallback kernels otherwise: 2.7x slower for the shipped resvgg on a CPU) (--no-tune: the fallbacks)", default: true },
};

await runCli(async () => {
  const { flags, positional, help } = parseArgs(process.argv.slice(2), FLAGS);
  if (help) return console.log(usage('pnpm fer:eval', 'Evaluate a checkpoint on a FER2013 split.', FLAGS));
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}' (use --checkpoint FILE)`);
  const { files, tta, weights, shipped } = selectModel(flags.checkpoint as string | undefined, flags.tta as Tta | undefined, flags.weights as string | undefined);
  const file = files[0]!;
  const split = flags.split as Split;
  // Beside a run's checkpoint; for the shipped model (flags.checkpoint unset), not into models/.
  const out = (flags.out as string | undefined) ?? (flags.checkpoint ? dirname(file) : 'runs/eval');
  const dataDir = resolveDataDir(flags.data as string | undefined);
  const data = loadSplit(dataDir, split, {
    cacheDir: flags.cache === 'none' ? null : (flags.cache as string),
    resize: flags.resize as boolean,
    skipBad: flags['skip-bad'] as boolean,
  });
  if (data.skipped.length) console.log(`skipped ${data.skipped.length} unreadable file(s) (--skip-bad), e.g. ${data.skipped[0]!.file}: ${data.skipped[0]!.reason}`);
  await initDevice();
  const loaded = [];
  for (const f of files) loaded.push(await loadModel(f));
  const { name, ckpt } = loaded[0]!;
  // What the report and pictures call the model: an ensemble names its members.
  const label = loaded.length > 1 ? `ensemble of ${loaded.map((l) => l.name).join(' + ')}` : name;
  const t0 = performance.now();
  // A bar on stderr: an ensemble with ten-crop on a CPU runs for an hour or more.
  const views = TTA_VIEW_COUNT[tta];
  const bar = new ProgressBar(`${split}: ${loaded.length} model(s) x ${views} view(s)`, loaded.length * data.count);
  const onTuned = (ms: number, shapes: number) => {
    bar.exclude(ms);
    if (shapes) console.error(`tuned kernels for ${shapes} new shapes in ${(ms / 1000).toFixed(1)} s (once for this adapter: cached in ${tuneState().file})`);
  };
  const res = await evaluateEnsemble(loaded.map((l) => l.model), data, flags.batch as number, tta, weights, (done) => bar.update(done, done), { tune: flags.tune as boolean, onTuned });
  bar.finish(loaded.length * data.count, loaded.length * data.count);
  const secs = (performance.now() - t0) / 1000;
  const report = classificationReport(Array.from(data.labels), Array.from(res.preds), CLASSES);
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  for (const [i, l] of loaded.entries())
    console.log(`checkpoint: ${files[i]} (${l.name}, epoch ${l.ckpt.epoch})${loaded.length > 1 ? `: alone ${pct(res.members[i]!.acc)}, weight ${res.weights[i]!.toFixed(3)}` : ''}`);
  const equal = res.weights.every((w) => Math.abs(w - 1 / loaded.length) < 1e-9);
  if (loaded.length > 1) console.log(`ensemble of ${loaded.length} checkpoints: softmax averaged${equal ? '' : ' with the weights above'}: ${pct(res.acc)}`);
  console.log(`split: ${split} (${data.count} images from ${dataDir}), test-time augmentation: ${tta}${shipped ? ` (the shipped model: ${shipped.source})` : ''}, ${(data.count / secs).toFixed(0)} images/s\n`);
  console.log(formatReport(report));
  console.log(`\nconfusion matrix (rows: true, columns: predicted)\n${formatConfusion(report.confusion, CLASSES)}`);
  console.log(`\nbeside the reference report (its figures are on the whole test folder)\n${compareWithReference(report)}`);
  mkdirSync(out, { recursive: true });
  const stem = basename(file).replace(/\.safetensors$/, '') + (files.length > 1 ? `-ensemble${files.length}` : '') + (tta === 'none' ? '' : `-tta-${tta}`);
  const jsonFile = join(out, `${stem}-${split}-report.json`);
  const ensemble = files.length > 1 ? { weights: res.weights, memberAccuracy: res.members.map((m) => m.acc) } : {};
  writeFileSync(jsonFile, JSON.stringify({ checkpoint: files.length > 1 ? files : file, model: label, epoch: ckpt.epoch, split, tta, ...ensemble, loss: res.loss, ...reportToJSON(report) }, null, 2));
  const heat = join(out, `${stem}-${split}-confusion.png`);
  confusionHeatmap(report.confusion, CLASSES, heat, { title: `Confusion matrix: ${label}, ${split} (${(report.accuracy * 100).toFixed(1)}%)` });
  const written = [jsonFile, heat];
  const nFaces = Math.min(flags.faces as number, data.count);
  if (nFaces > 0) {
    // An even spread over the split, so the grid shows several classes.
    const pick = Array.from({ length: nFaces }, (_, i) => Math.floor((i * data.count) / nFaces));
    const images = new Uint8Array(nFaces * IMAGE_PIXELS);
    pick.forEach((src, i) => images.set(data.images.subarray(src * IMAGE_PIXELS, (src + 1) * IMAGE_PIXELS), i * IMAGE_PIXELS));
    const facesFile = join(out, `${stem}-${split}-faces.png`);
    faceGrid(images, pick.map((i) => res.preds[i]!), pick.map((i) => data.labels[i]!), CLASSES, facesFile);
    written.push(facesFile);
  }
  const log = join(dirname(file), 'epochs.jsonl');
  if (existsSync(log)) {
    const entries = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { epoch: number; trainLoss: number; trainAcc: number; valLoss?: number; valAcc?: number });
    if (entries.length) {
      const curves = join(out, `${stem}-curves.png`);
      trainingCurves(entries, curves, { title: `Training curves: ${name}` });
      written.push(curves);
    }
  }
  const probsFile = flags['save-probs'] as string | undefined;
  if (probsFile) {
    // Rounded to 6 digits: the file stays a few MB and the argmax is unchanged but for exact ties.
    const round = (p: Float32Array) => Array.from(p, (v) => +v.toFixed(6));
    mkdirSync(dirname(probsFile), { recursive: true });
    writeFileSync(probsFile, JSON.stringify({ split, tta, checkpoints: files, weights: res.weights, labels: Array.from(data.labels), probs: res.members.map((m) => round(m.probs)) }));
    written.push(probsFile);
  }
  console.log(`\nwrote ${written.join(', ')}`);
  for (const l of loaded) l.model.dispose();
  releaseDevice();
});
