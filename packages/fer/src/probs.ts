// Ensemble members' probabilities: their weights and weighted average (used by ensemble.ts), and the
// files `pnpm fer:eval --save-probs FILE` writes, read by fer:weights (to weigh an ensemble on PublicTest)
// and by fer:train --distill (a teacher's softmax over the training images).
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

/**
 * Checks ensemble weights (one per member, finite, >= 0, not all 0) and normalises them to sum to 1;
 * none given: equal weights. `what` names the source (a flag or a file) in the error.
 */
export function ensembleWeights(members: number, weights?: readonly number[], what = 'weights'): number[] {
  if (!weights) return Array.from({ length: members }, () => 1 / members);
  if (weights.length !== members) throw new Error(`${what}: ${weights.length} weight(s) for ${members} model(s); give one per model`);
  if (!weights.every((w) => Number.isFinite(w) && w >= 0)) throw new Error(`${what}: weights must be finite numbers >= 0, got ${weights.join(', ')}`);
  const sum = weights.reduce((a, b) => a + b, 0);
  if (!(sum > 0)) throw new Error(`${what}: the weights sum to 0; at least one must be positive`);
  return weights.map((w) => w / sum);
}

/** The members' [count, 7] probabilities averaged with `weights` (checked and normalised; none: equal). */
export function mixMembers(memberProbs: ReadonlyArray<ArrayLike<number>>, weights: readonly number[] | undefined, count: number): Float32Array {
  const w = ensembleWeights(memberProbs.length, weights);
  const probs = new Float32Array(count * NUM_CLASSES);
  memberProbs.forEach((p, m) => {
    for (let k = 0; k < probs.length; k++) probs[k] = probs[k]! + w[m]! * p[k]!;
  });
  return probs;
}

/** The file's ensemble: its members' probabilities averaged with its weights (equal when it has none), [N*7]. */
export function ensembleProbs(saved: SavedProbs): Float32Array {
  return mixMembers(saved.probs, saved.weights, saved.labels.length);
}
