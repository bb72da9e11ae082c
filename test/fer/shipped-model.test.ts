// Regression guard for the shipped weights (models/fer-best.safetensors, see models/README.md):
// accuracy on a fixed 500-image slice of PublicTest stays above a floor a few points under the
// measured figure (75.4% on this slice for the 80-epoch vgg of `--preset gpu`, lavapipe, when it was
// shipped; the 55-epoch vgg before it had 74.2%, the seed-cnn before that 69.0%).
import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import { loadModel, loadSplit, evaluate, IMAGE_PIXELS } from '@fer/fer';
import { useGpu } from '../setup-gpu.js';

useGpu();

const MODEL = new URL('../../models/fer-best.safetensors', import.meta.url).pathname;
const DATA = new URL('../../../shared/fer2013/', import.meta.url).pathname;
const FLOOR = 0.72;

describe('shipped model', () => {
  it('keeps its accuracy on a fixed 500-image slice of PublicTest', async () => {
    expect(existsSync(MODEL), MODEL).toBe(true);
    expect(existsSync(DATA), `FER2013 expected at ${DATA}`).toBe(true);
    const pub = loadSplit(DATA, 'public', { cacheDir: null });
    // Every 7th image: a spread over all classes (the reader orders by class).
    const pick = Array.from({ length: 500 }, (_, i) => i * 7);
    const images = new Uint8Array(500 * IMAGE_PIXELS);
    const labels = new Uint8Array(500);
    pick.forEach((src, i) => {
      images.set(pub.images.subarray(src * IMAGE_PIXELS, (src + 1) * IMAGE_PIXELS), i * IMAGE_PIXELS);
      labels[i] = pub.labels[src]!;
    });
    const { model, name } = await loadModel(MODEL);
    expect(name).toBe('vgg');
    const res = await evaluate(model, { images, labels, count: 500 }, 100);
    model.dispose();
    console.log(`shipped model on the 500-image PublicTest slice: ${(res.acc * 100).toFixed(1)}%`);
    expect(res.acc).toBeGreaterThan(FLOOR);
  }, 600_000);
});
