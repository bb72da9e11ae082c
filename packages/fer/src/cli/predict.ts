// `pnpm fer:predict <png|folder>...`: the top class and all 7 probabilities per image.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { initDevice, releaseDevice, tensor, noGrad, tidy, softmax, type Tensor, type Shape2, type Shape4 } from '@fer/tensor';
import { parseArgs, usage, runCli, UsageError, type FlagSpec } from './args.js';
import { loadModel, defaultCheckpoint } from '../checkpoint.js';
import { decodeFace } from '../data/reader.js';
import { CLASSES, IMAGE_PIXELS, IMAGE_SIZE } from '../data/classes.js';

const FLAGS: Record<string, FlagSpec> = {
  checkpoint: { type: 'string', help: 'weights (default: models/fer-best.safetensors, else runs/latest/best.safetensors)' },
  json: { type: 'boolean', help: 'print one JSON object per image instead of text', default: false },
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
  await initDevice();
  const { model } = await loadModel((flags.checkpoint as string | undefined) ?? defaultCheckpoint());
  const batch = 256;
  for (let start = 0; start < files.length; start += batch) {
    const n = Math.min(batch, files.length - start);
    const x = new Float32Array(n * IMAGE_PIXELS);
    for (let i = 0; i < x.length; i++) x[i] = images[start * IMAGE_PIXELS + i]! / 255;
    const probsT = noGrad(() => tidy(() => softmax(model.forward(tensor(x, [n, 1, IMAGE_SIZE, IMAGE_SIZE] as const) as Tensor<Shape4>) as Tensor<Shape2>)));
    const probs = await probsT.toArray();
    probsT.dispose();
    for (let i = 0; i < n; i++) {
      const p = Array.from(probs.subarray(i * CLASSES.length, (i + 1) * CLASSES.length));
      const top = p.indexOf(Math.max(...p));
      if (flags.json) console.log(JSON.stringify({ file: files[start + i], prediction: CLASSES[top], probabilities: Object.fromEntries(CLASSES.map((c, k) => [c, +p[k]!.toFixed(6)])) }));
      else console.log(`${files[start + i]}: ${CLASSES[top]} (${(p[top]! * 100).toFixed(1)}%)  ${CLASSES.map((c, k) => `${c} ${(p[k]! * 100).toFixed(1)}%`).join('  ')}`);
    }
  }
  model.dispose();
  releaseDevice();
});
