// Knowledge distillation (Hinton, Vinyals & Dean 2015) from a saved teacher: the softmax a model or
// ensemble gave each training image (`pnpm fer:eval --split train --save-probs FILE`), softened by a
// temperature and mixed with the image's one-hot label, as the soft target of the cross-entropy.
// The teacher's outputs hold what one-hot FER2013 labels lack: which expressions a face resembles
// (fear and surprise, sad and neutral), and doubt where the label itself is noisy.
//
// The teacher saw each face un-augmented; the student sees it augmented (flips, shifts, small
// rotations: label-preserving), and learns the un-augmented face's target for it. Mixed batches
// (Mixup, CutMix) would need the teacher on the mixed images, so the trainer refuses that pairing.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { NUM_CLASSES } from './classes.js';
import { readSavedProbs, ensembleProbs } from '../probs.js';

/** Why --distill and --mixup/--cutmix do not go together (the CLI and train() both refuse the pair). */
export const DISTILL_WITH_MIXING = "--distill cannot be combined with --mixup or --cutmix: a mixed image would need the teacher's output on that mixed image";

export interface Teacher {
  file: string;
  /** sha256 of the file: a resumed run checks that its teacher has not changed. */
  sha256: string;
  /** Softened probabilities [count, 7], row-major, in the training split's order. */
  probs: Float32Array;
  count: number;
}

/**
 * softmax(log p / T) of each row: T > 1 spreads the teacher's mass over the other classes (its dark
 * knowledge), T = 1 keeps it. Probabilities are what the file holds; for one model and one view this
 * is exactly softmax(logits / T), for an average of views or members the temperature of that average.
 */
export function soften(probs: Float32Array, temperature: number): Float32Array {
  if (!(Number.isFinite(temperature) && temperature > 0)) throw new Error(`soften: temperature must be > 0, got ${temperature}`);
  const out = new Float32Array(probs.length);
  for (let r = 0; r < probs.length; r += NUM_CLASSES) {
    let sum = 0;
    for (let c = 0; c < NUM_CLASSES; c++) {
      // p^(1/T); a zero probability stays zero.
      const v = Math.pow(Math.max(probs[r + c]!, 0), 1 / temperature);
      out[r + c] = v;
      sum += v;
    }
    for (let c = 0; c < NUM_CLASSES; c++) out[r + c] = out[r + c]! / sum;
  }
  return out;
}

/**
 * The teacher in FILE for a training split with these labels: the file must be a --save-probs file of
 * the train split, with the same labels in the same order (the same data set, the same reader).
 */
export function loadTeacher(file: string, labels: Uint8Array, temperature: number): Teacher {
  const saved = readSavedProbs(file);
  if (saved.split !== 'train')
    throw new Error(`${file}: a teacher for --distill must be the training split's probabilities (fer:eval --split train --save-probs FILE), this file holds '${saved.split}'`);
  if (saved.labels.length !== labels.length)
    throw new Error(`${file}: the teacher covers ${saved.labels.length} training images, the training split here has ${labels.length} (another data set?)`);
  const first = saved.labels.findIndex((l, i) => l !== labels[i]);
  if (first >= 0)
    throw new Error(`${file}: the teacher's label of training image ${first} is ${saved.labels[first]}, the data set's is ${labels[first]} (another data set, or another order?)`);
  const probs = ensembleProbs(saved);
  for (let r = 0; r < labels.length; r++) {
    let sum = 0;
    for (let c = 0; c < NUM_CLASSES; c++) {
      const v = probs[r * NUM_CLASSES + c]!;
      if (!(v >= 0 && v <= 1.000001)) throw new Error(`${file}: training image ${r} has probability ${v} for class ${c}, outside [0, 1]`);
      sum += v;
    }
    if (Math.abs(sum - 1) > 1e-3) throw new Error(`${file}: the probabilities of training image ${r} sum to ${sum}, not 1`);
  }
  return { file, sha256: createHash('sha256').update(readFileSync(file)).digest('hex'), probs: soften(probs, temperature), count: labels.length };
}

/** The teacher restricted to training images `pick` (fer:train --limit's subset), in that order. */
export function teacherSubset(teacher: Teacher, pick: ArrayLike<number>): Teacher {
  const probs = new Float32Array(pick.length * NUM_CLASSES);
  for (let k = 0; k < pick.length; k++) {
    const i = pick[k]!;
    if (!(Number.isInteger(i) && i >= 0 && i < teacher.count)) throw new Error(`teacherSubset: image index ${i} is outside [0, ${teacher.count})`);
    probs.set(teacher.probs.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES), k * NUM_CLASSES);
  }
  return { ...teacher, probs, count: pick.length };
}

/**
 * Soft targets [B, 7] for a batch: weight * teacher + (1 - weight) * one-hot(label), per image
 * (indices into the training set, labels its classes). The loss's label smoothing applies on top.
 */
export function distillTargets(teacher: Teacher, indices: ArrayLike<number>, labels: ArrayLike<number>, weight: number, out?: Float32Array): Float32Array {
  if (!(weight >= 0 && weight <= 1)) throw new Error(`distillTargets: weight must be in [0, 1], got ${weight}`);
  const b = indices.length;
  if (labels.length !== b) throw new Error(`distillTargets: ${b} indices but ${labels.length} labels`);
  const dst = out ?? new Float32Array(b * NUM_CLASSES);
  if (dst.length < b * NUM_CLASSES) throw new Error(`distillTargets: out has ${dst.length} floats, need ${b * NUM_CLASSES}`);
  for (let k = 0; k < b; k++) {
    const i = indices[k]!;
    const l = labels[k]!;
    if (!(Number.isInteger(i) && i >= 0 && i < teacher.count)) throw new Error(`distillTargets: image index ${i} is outside [0, ${teacher.count})`);
    if (!(Number.isInteger(l) && l >= 0 && l < NUM_CLASSES)) throw new Error(`distillTargets: label ${l} at ${k} is outside [0, ${NUM_CLASSES})`);
    for (let c = 0; c < NUM_CLASSES; c++) dst[k * NUM_CLASSES + c] = weight * teacher.probs[i * NUM_CLASSES + c]! + (c === l ? 1 - weight : 0);
  }
  return dst;
}
