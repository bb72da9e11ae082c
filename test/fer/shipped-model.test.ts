// Regression guard for the shipped model (models/default.json: the resvgg of models/res/best.safetensors,
// the vgg of models/fer-best.safetensors and the vgg-lite of models/cpu/best.safetensors, softmax
// averaged, ten-crop test-time augmentation; see models/README.md): accuracy on a fixed 500-image slice
// of PublicTest stays above a floor a few points under the measured figure. The slice is scored with
// flip, not the manifest's ten-crop: ten-crop costs 5x (about 10 minutes of CI's lavapipe for 500 faces)
// and the weights are what this guards; both modes are covered by the TTA tests in train.test.ts.
// Measured on lavapipe with flip: 76.0% when it was shipped (the vgg + vgg-lite pair before it 75.4%,
// the 55-epoch vgg alone 74.2%, the seed-cnn 69.0%).
import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import { loadModel, loadSplit, evaluate, evaluateEnsemble, defaultModel, CheckpointError, IMAGE_PIXELS } from '@fer/fer';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useGpu } from '../setup-gpu.js';

useGpu();

const DATA = new URL('../../../shared/fer2013/', import.meta.url).pathname;
const FLOOR = 0.73;
// The --preset cpu weights alone, with flip: 72.0% measured on lavapipe (the 80-epoch run, session 30; the 50-epoch
// weights before them 72.2%: the slice is 500 faces, so 1 image is 0.2 points).
const CPU_FLOOR = 0.68;
const SLICE_TTA = 'flip';

/** The fixed 500-image slice of PublicTest: every 7th image, a spread over all classes (the reader orders by class). */
function publicSlice() {
  expect(existsSync(DATA), `FER2013 expected at ${DATA}`).toBe(true);
  const pub = loadSplit(DATA, 'public', { cacheDir: null });
  const pick = Array.from({ length: 500 }, (_, i) => i * 7);
  const images = new Uint8Array(500 * IMAGE_PIXELS);
  const labels = new Uint8Array(500);
  pick.forEach((src, i) => {
    images.set(pub.images.subarray(src * IMAGE_PIXELS, (src + 1) * IMAGE_PIXELS), i * IMAGE_PIXELS);
    labels[i] = pub.labels[src]!;
  });
  return { images, labels, count: 500 };
}

describe('shipped model', () => {
  it('keeps its accuracy on a fixed 500-image slice of PublicTest', async () => {
    const shipped = defaultModel();
    expect(shipped.source).toMatch(/models\/default\.json$/);
    expect(shipped.files.map((f) => f.replace(/.*\/models\//, ''))).toEqual(['res/best.safetensors', 'fer-best.safetensors', 'cpu/best.safetensors']);
    expect(shipped.tta).toBe('tencrop');
    const { images, labels } = publicSlice();
    const loaded = [];
    for (const f of shipped.files) loaded.push(await loadModel(f));
    expect(loaded.map((l) => l.name)).toEqual(['resvgg', 'vgg', 'vgg-lite']);
    const models = loaded.map((l) => l.model);
    const res = await evaluateEnsemble(models, { images, labels, count: 500 }, 100, SLICE_TTA, shipped.weights ?? undefined);
    for (const m of models) m.dispose();
    console.log(`shipped model on the 500-image PublicTest slice (${SLICE_TTA}): ${(res.acc * 100).toFixed(1)}%`);
    expect(res.acc).toBeGreaterThan(FLOOR);
  }, 900_000);
});

describe('the --preset cpu weights (models/cpu/e80.safetensors, models/cpu/README.md)', () => {
  it('keep their accuracy on the same 500-image slice', async () => {
    const { model, name } = await loadModel(new URL('../../models/cpu/e80.safetensors', import.meta.url).pathname);
    expect(name).toBe('vgg-lite');
    const res = await evaluate(model, publicSlice(), 100, SLICE_TTA);
    model.dispose();
    console.log(`--preset cpu weights on the 500-image PublicTest slice (${SLICE_TTA}): ${(res.acc * 100).toFixed(1)}%`);
    expect(res.acc).toBeGreaterThan(CPU_FLOOR);
  }, 300_000);
});

describe('the shipped-model manifest (models/default.json)', () => {
  const dir = (files: Record<string, string>): string => {
    const d = mkdtempSync(join(tmpdir(), 'fer-models-'));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
    return d;
  };

  it('resolves its files beside it and reads its test-time augmentation', () => {
    const d = dir({ 'default.json': JSON.stringify({ checkpoints: ['a.safetensors', 'b.safetensors'], tta: 'tencrop' }), 'a.safetensors': '', 'b.safetensors': '' });
    expect(defaultModel(d)).toEqual({ files: [join(d, 'a.safetensors'), join(d, 'b.safetensors')], tta: 'tencrop', weights: null, source: join(d, 'default.json') });
    const w = dir({ 'default.json': JSON.stringify({ checkpoints: ['a.safetensors', 'b.safetensors'], weights: [3, 1] }), 'a.safetensors': '', 'b.safetensors': '' });
    expect(defaultModel(w).weights).toEqual([0.75, 0.25]);
  });

  it('without a manifest, falls back to fer-best.safetensors and no test-time augmentation', () => {
    const d = dir({ 'fer-best.safetensors': '' });
    expect(defaultModel(d)).toEqual({ files: [join(d, 'fer-best.safetensors')], tta: null, weights: null, source: join(d, 'fer-best.safetensors') });
  });

  it('names the manifest and what is wrong with it', () => {
    const bad = (files: Record<string, string>) => () => defaultModel(dir(files));
    expect(bad({ 'default.json': '{ not json' })).toThrow(CheckpointError);
    expect(bad({ 'default.json': '{ not json' })).toThrow(/default\.json: not valid JSON/);
    expect(bad({ 'default.json': JSON.stringify({ checkpoints: [] }) })).toThrow(/default\.json: expected "checkpoints", a non-empty list of file names/);
    expect(bad({ 'default.json': JSON.stringify({ checkpoints: ['a.safetensors'], tta: 'twice' }), 'a.safetensors': '' })).toThrow(/"tta" must be one of none, flip, tencrop, ninecrop, got "twice"/);
    const two = { checkpoints: ['a.safetensors', 'b.safetensors'] };
    expect(bad({ 'default.json': JSON.stringify({ ...two, weights: 'heavy' }) })).toThrow(/default\.json: "weights" must be a list of numbers, one per checkpoint, got "heavy"/);
    expect(bad({ 'default.json': JSON.stringify({ ...two, weights: [1] }) })).toThrow(/default\.json: "weights": 1 weight\(s\) for 2 model\(s\)/);
    expect(bad({ 'default.json': JSON.stringify({ ...two, weights: [0, 0] }) })).toThrow(/default\.json: "weights": the weights sum to 0/);
    expect(bad({ 'default.json': JSON.stringify({ checkpoints: ['gone.safetensors'] }) })).toThrow(/default\.json names .*gone\.safetensors, which does not exist/);
  });
});
