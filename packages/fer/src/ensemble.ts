// Ensembles: several models' softmax outputs averaged, with weights (normalised; default equal),
// and the choice of those weights on a selection split from saved member probabilities.
import type { Module } from '@fer/nn';
import { Rng } from '@fer/tensor';
import { NUM_CLASSES } from './data/classes.js';
import { evaluate, score, imageNll, type EvalOptions, type EvalOutput, type Tta } from './train.js';
import { ensembleWeights, mixMembers } from './probs.js';

/** An ensemble's result: the averaged softmax scored, and each member's own score. */
export interface EnsembleOutput extends EvalOutput {
  /** Each model's own evaluation (same data and test-time augmentation), in the order given. */
  members: EvalOutput[];
  /** The weights used, normalised to sum to 1. */
  weights: number[];
}

/** The members' [count, 7] probabilities mixed with `weights` (normalised), then scored like evaluate(). */
export function mixProbabilities(memberProbs: readonly Float32Array[], weights: readonly number[], labels: Uint8Array, count: number): EvalOutput {
  return score(mixMembers(memberProbs, weights, count), labels, count);
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
  if (memberProbs.length === 0) throw new Error('searchWeights: needs at least one member');
  return weightGrid(memberProbs.length, step)
    .map((weights) => {
      const r = mixProbabilities(memberProbs, weights, labels, count);
      return { weights, acc: r.acc, loss: r.loss };
    })
    .sort((a, b) => b.acc - a.acc || a.loss - b.loss);
}

/** Every weighting of `members` whose weights are multiples of `step` summing to 1 (a grid of the simplex). */
export function weightGrid(members: number, step: number): number[][] {
  const units = Math.round(1 / step);
  if (!(units >= 1) || Math.abs(units * step - 1) > 1e-9) throw new Error(`searchWeights: step must divide 1, got ${step}`);
  const out: number[][] = [];
  const parts = new Array<number>(members).fill(0);
  const visit = (i: number, left: number) => {
    if (i === members - 1) {
      parts[i] = left;
      out.push(parts.map((p) => p / units));
      return;
    }
    for (let p = 0; p <= left; p++) {
      parts[i] = p;
      visit(i + 1, left - p);
    }
  };
  visit(0, units);
  return out;
}

/** What checkWeightSearch() found: how the searched weighting fared on images it was not chosen on. */
export interface WeightSearchCheck {
  /** Random halvings tried; each gives two held-out scores (choose on one half, score on the other). */
  rounds: number;
  /** Held-out accuracy of the searched weighting minus equal weights', in accuracy (0.01 = 1 point): mean and sd. */
  gainMean: number;
  gainSd: number;
  /** The same gain on the images the weighting was chosen on (what the full search reports, optimistically). */
  inSampleGainMean: number;
}

/**
 * A split-half check of searchWeights(): `rounds` random halvings of the images; on each half the grid's
 * best weighting (accuracy, then loss) is chosen and scored on the other half against equal weights. The
 * full search picks the best of many weightings on the same images it scores them on, so its margin over
 * equal weights is optimistic; a gain that does not hold out of sample here is selection noise.
 */
export function checkWeightSearch(memberProbs: readonly Float32Array[], labels: Uint8Array, count: number, step = 0.05, rounds = 50, seed = 1): WeightSearchCheck {
  if (memberProbs.length === 0) throw new Error('checkWeightSearch: needs at least one member');
  if (count < 2) throw new Error('checkWeightSearch: needs at least two images');
  const grid = weightGrid(memberProbs.length, step);
  // Per weighting and image: right or not, and the loss (f32: 5 bytes an image per weighting, so a
  // 5-member grid of 10,626 weightings over PublicTest holds ~190 MB); the equal weighting's besides (it
  // need not lie on the grid).
  const perImage = (w: readonly number[]) => {
    const r = mixProbabilities(memberProbs, w, labels, count);
    const loss = new Float32Array(count);
    for (let i = 0; i < count; i++) loss[i] = imageNll(r.probs[i * NUM_CLASSES + labels[i]!]!);
    return { right: Uint8Array.from(r.preds, (p, i) => (p === labels[i] ? 1 : 0)), loss };
  };
  const scored = grid.map(perImage);
  const equal = perImage(memberProbs.map(() => 1));
  const rng = new Rng(seed);
  const order = new Int32Array(count);
  const gains: number[] = [];
  const inSample: number[] = [];
  const sum = (a: Uint8Array, idx: Int32Array) => {
    let s = 0;
    for (let k = 0; k < idx.length; k++) s += a[idx[k]!]!;
    return s;
  };
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < count; i++) order[i] = i;
    rng.shuffle(order);
    const halves = [order.subarray(0, count >> 1), order.subarray(count >> 1)];
    for (const [pick, held] of [[halves[0]!, halves[1]!], [halves[1]!, halves[0]!]] as const) {
      let best = 0;
      let bestRight = -1;
      let bestLoss = Infinity;
      scored.forEach((g, j) => {
        const right = sum(g.right, pick);
        if (right < bestRight) return;
        let loss = 0;
        for (let k = 0; k < pick.length; k++) loss += g.loss[pick[k]!]!;
        if (right > bestRight || loss < bestLoss) [best, bestRight, bestLoss] = [j, right, loss];
      });
      gains.push((sum(scored[best]!.right, held) - sum(equal.right, held)) / held.length);
      inSample.push((bestRight - sum(equal.right, pick)) / pick.length);
    }
  }
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  const m = mean(gains);
  return { rounds, gainMean: m, gainSd: Math.sqrt(mean(gains.map((g) => (g - m) ** 2))), inSampleGainMean: mean(inSample) };
}
