// `pnpm fer:predict <png|folder>...`: the top class and all 7 probabilities per image.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { initDevice, releaseDevice } from '@fer/tensor';
import { parseArgs, usage, runCli, UsageError, type FlagSpec } from './args.js';
import { loadModel } from '../checkpoint.js';
import { selectModel } from '../shipped.js';
import { TTA_MODES, type Tta } from '../train.js';
import { evaluateEnsemble } from '../ensemble.js';
import { decodeFace } from '../data/reader.js';
import { CLASSES, IMAGE_PIXELS } from '../data/classes.js';

const FLAGS: Record<string, FlagSpec> = {
  checkpoint: { type: 'string', help: 'checkpoint file; several, comma-separated: their ensemble (softmax averaged) (default: the shipped model, models/default.json, else models/fer-best.safetensors, else runs/latest/best.safetensors)' },
  weights: { type: 'string', help: "an ensemble's weights, comma-separated, one per --checkpoint file (default: the shipped model's when no --checkpoint is given; else equal)" },
  tta: { type: 'string', help: "test-time augmentation: 'flip' averages each face with its mirror image, 'tencrop' over 5 shifted crops and their mirrors, 'ninecrop' over 9 (default: the shipped model's when no --checkpoint is given; else none)", choices: [...TTA_MODES] },
  json: { type: 'boolean', help: 'print one JSON object per image instead of text', default: false },
  tune: { type: 'boolean', help: "first time kernel variants for shapes this adapter has not run yet (minutes on a CPU, once: cached per adapter; worth it for thousands of images)", default: false },
};

function listPngs(paths: string[]): string[] {
  const files: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new UsageError(`${p}: no such file or folder`);
    }
    if (st.isDirectory()) {
      const found = readdirSync(p, { recursive: true, encoding: 'utf8' }).filter((f) => f.toLowerCase().endsWith('.png')).sort();
      if (!found.length) throw new UsageError(`${p}: the folder holds no .png files`);
      files.push(...found.map((f) => join(p, f)));
    } else files.push(p);
  }
  return files;
}

await runCli(async () => {
  const { flags, positional, help } = parseArgs(process.argv.slice(2), FLAGS);
  if (help) return console.log(usage('pnpm fer:predict', 'Classify face images (48x48 gray PNGs; other sizes/colours are converted).', FLAGS, '<png|folder>... '));
  if (!positional.length) throw new UsageError('give one or more PNG files or folders (see --help)');
  const files = listPngs(positional);
  const images = new Uint8Array(files.length * IMAGE_PIXELS);
  files.forEach((f, i) => {
    try {
      decodeFace(readFileSync(f), images, i * IMAGE_PIXELS, true);
    } catch (e) {
      throw new UsageError(`${f}: ${(e as Error).message}`);
    }
  });
  const { files: checkpoints, tta, weights } = selectModel(flags.checkpoint as string | undefined, flags.tta as Tta | undefined, flags.weights as string | undefined);
  await initDevice();
  const models = [];
  for (const f of checkpoints) models.push((await loadModel(f)).model);
  // The evaluation path (batches, test-time views, ensemble average); the labels are unused.
  const { probs } = await evaluateEnsemble(models, { images, labels: new Uint8Array(files.length), count: files.length }, 64, tta, weights, undefined, { tune: flags.tune as boolean });
  for (let i = 0; i < files.length; i++) {
    const p = Array.from(probs.subarray(i * CLASSES.length, (i + 1) * CLASSES.length));
    const top = p.indexOf(Math.max(...p));
    if (flags.json) console.log(JSON.stringify({ file: files[i], prediction: CLASSES[top], probabilities: Object.fromEntries(CLASSES.map((c, k) => [c, +p[k]!.toFixed(6)])) }));
    else console.log(`${files[i]}: ${CLASSES[top]} (${(p[top]! * 100).toFixed(1)}%)  ${CLASSES.map((c, k) => `${c} ${(p[k]! * 100).toFixed(1)}%`).join('  ')}`);
  }
  for (const m of models) m.dispose();
  releaseDevice();
});
