// The member probabilities `pnpm fer:eval --save-probs FILE` writes: read by fer:weights (to weigh an
// ensemble on PublicTest) and by fer:train --distill (a teacher's softmax over the training images).
import { readFileSync } from 'node:fs';
import { NUM_CLASSES } from './data/classes.js';

export interface SavedProbs {
  split: string;
  tta: string;
  checkpoints: string[];
  /** The ensemble weights the evaluation used, one per checkpoint (files written before session 28 lack them: equal). */
  weights?: number[];
  labels: number[];
  /** One list of labels.length x 7 probabilities (row-major) per checkpoint. */
  probs: number[][];
}

/** Reads and checks a --save-probs file; every error names the file. */
export function readSavedProbs(file: string): SavedProbs {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  const s = json as Partial<SavedProbs>;
  const n = Array.isArray(s.labels) ? s.labels.length : -1;
  if (n <= 0 || typeof s.split !== 'string' || !Array.isArray(s.probs) || !s.probs.length || !Array.isArray(s.checkpoints) ||
      s.checkpoints.length !== s.probs.length || s.probs.some((p) => !Array.isArray(p) || p.length !== n * NUM_CLASSES))
    throw new Error(`${file}: expected "split", "labels" (N), "checkpoints" and "probs" (one list of N x ${NUM_CLASSES} per checkpoint), as fer:eval --save-probs writes`);
  if (s.weights !== undefined && !(Array.isArray(s.weights) && s.weights.length === s.probs.length && s.weights.every((w) => Number.isFinite(w) && w >= 0) && s.weights.some((w) => w > 0)))
    throw new Error(`${file}: "weights" must hold one non-negative number per checkpoint, not all zero`);
  return s as SavedProbs;
}

/** The file's ensemble: its members' probabilities averaged with its weights (equal when it has none), [N*7]. */
export function ensembleProbs(saved: SavedProbs): Float32Array {
  const n = saved.labels.length;
  const w = saved.weights ?? saved.probs.map(() => 1);
  const total = w.reduce((a, b) => a + b, 0);
  const out = new Float32Array(n * NUM_CLASSES);
  saved.probs.forEach((p, m) => {
    const k = w[m]! / total;
    for (let i = 0; i < out.length; i++) out[i]! += k * p[i]!;
  });
  return out;
}
