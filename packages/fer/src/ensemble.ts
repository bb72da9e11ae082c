// Ensembles: several models' softmax outputs averaged, with weights (normalised; default equal),
// and the choice of those weights on a selection split from saved member probabilities.
import type { Module } from '@fer/nn';
import { NUM_CLASSES } from './data/classes.js';
import { evaluate, score, type EvalOptions, type EvalOutput, type Tta } from './train.js';

/** An ensemble's result: the averaged softmax scored, and each member's own score. */
export interface EnsembleOutput extends EvalOutput {
  /** Each model's own evaluation (same data and test-time augmentation), in the order given. */
  members: EvalOutput[];
  /** The weights used, normalised to sum to 1. */
  weights: number[];
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

/** The members' [count, 7] probabilities mixed with `weights` (normalised), then scored like evaluate(). */
export function mixProbabilities(memberProbs: readonly Float32Array[], weights: readonly number[], labels: Uint8Array, count: number): EvalOutput {
  const w = ensembleWeights(memberProbs.length, weights);
  const probs = new Float32Array(count * NUM_CLASSES);
  memberProbs.forEach((p, m) => {
    for (let k = 0; k < probs.length; k++) probs[k] = probs[k]! + w[m]! * p[k]!;
  });
  return score(probs, labels, count);
}

/**
 * An ensemble: the softmax averaged over several models (each with the same test-time
 * augmentation), weighted by `weights` (normalised; default equal), then the same accuracy and loss
 * as evaluate(); each member's own result too. `onProgress` hears of the faces done, counted once
 * per member; `options` are evaluate()'s (each member's new shapes tuned after its first batch).
 */
export async function evaluateEnsemble(
  models: readonly Module[],
  data: { images: Uint8Array; labels: Uint8Array; count: number },
  batch = 256,
  tta: Tta = 'none',
  weights?: readonly number[],
  onProgress?: (imagesDone: number, total: number) => void,
  options: EvalOptions = {},
): Promise<EnsembleOutput> {
  if (models.length === 0) throw new Error('evaluateEnsemble: needs at least one model');
  const w = ensembleWeights(models.length, weights);
  const members: EvalOutput[] = [];
  // Progress counts each face once per member: the members run one after another.
  const total = models.length * data.count;
  for (const [i, m] of models.entries()) members.push(await evaluate(m, data, batch, tta, onProgress && ((done) => onProgress(i * data.count + done, total)), options));
  const mixed = mixProbabilities(members.map((r) => r.probs), w, data.labels, data.count);
  return { ...mixed, members, weights: w };
}

/** One weighting tried by searchWeights() and its score. */
export interface WeightedScore {
  weights: number[];
  acc: number;
  loss: number;
}

/**
 * Every weighting on a grid of the simplex (weights multiples of `step`, summing to 1), scored on
 * the members' saved probabilities: best accuracy first, ties broken by lower loss. Meant for the
 * selection split (PublicTest); the test split is then read once with the weights chosen.
 */
export function searchWeights(memberProbs: readonly Float32Array[], labels: Uint8Array, count: number, step = 0.05): WeightedScore[] {
  const m = memberProbs.length;
  if (m === 0) throw new Error('searchWeights: needs at least one member');
  const units = Math.round(1 / step);
  if (!(units >= 1) || Math.abs(units * step - 1) > 1e-9) throw new Error(`searchWeights: step must divide 1, got ${step}`);
  const out: WeightedScore[] = [];
  const parts = new Array<number>(m).fill(0);
  const visit = (i: number, left: number) => {
    if (i === m - 1) {
      parts[i] = left;
      const weights = parts.map((p) => p / units);
      const r = mixProbabilities(memberProbs, weights, labels, count);
      out.push({ weights, acc: r.acc, loss: r.loss });
      return;
    }
    for (let p = 0; p <= left; p++) {
      parts[i] = p;
      visit(i + 1, left - p);
    }
  };
  visit(0, units);
  return out.sort((a, b) => b.acc - a.acc || a.loss - b.loss);
}
