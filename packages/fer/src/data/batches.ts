// Turning loaded uint8 faces into float training batches: pixel/255 conversion, per-epoch shuffled
// order from the seeded Rng, optional augmentation and Mixup/CutMix, and balanced class weights.
import type { Rng } from '@fer/tensor';
import { augmentBatch, isIdentity, type AugmentConfig } from './augment.js';
import { IMAGE_PIXELS, NUM_CLASSES } from './classes.js';
import { mixBatch, mixes, validateMix, type MixConfig, type MixResult } from './mix.js';

/** The part of a loaded split the batch code needs (SplitData has it). */
export interface ImageSet {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

function checkIndex(i: number, n: number): void {
  if (!(Number.isInteger(i) && i >= 0 && i < n)) throw new Error(`image index ${i} is outside [0, ${n})`);
}

/** Images `indices` of `images` (count*48*48 uint8) as floats pixel/255, [B,1,48,48] row-major. */
export function imagesToFloat(images: Uint8Array, indices: ArrayLike<number>, out?: Float32Array): Float32Array {
  const b = indices.length;
  const dst = out ?? new Float32Array(b * IMAGE_PIXELS);
  if (dst.length < b * IMAGE_PIXELS) throw new Error(`imagesToFloat: out has ${dst.length} floats, ${b} images need ${b * IMAGE_PIXELS}`);
  const n = Math.floor(images.length / IMAGE_PIXELS);
  const inv = 1 / 255;
  for (let k = 0; k < b; k++) {
    const i = indices[k]!;
    checkIndex(i, n);
    const s = i * IMAGE_PIXELS;
    const d = k * IMAGE_PIXELS;
    for (let p = 0; p < IMAGE_PIXELS; p++) dst[d + p] = images[s + p]! * inv;
  }
  return dst;
}

/** Labels `indices` of `labels` as int32 class indices. */
export function gatherLabels(labels: Uint8Array, indices: ArrayLike<number>, out?: Int32Array): Int32Array {
  const b = indices.length;
  const dst = out ?? new Int32Array(b);
  if (dst.length < b) throw new Error(`gatherLabels: out has ${dst.length} slots, need ${b}`);
  for (let k = 0; k < b; k++) {
    const i = indices[k]!;
    checkIndex(i, labels.length);
    dst[k] = labels[i]!;
  }
  return dst;
}

/** One-hot float rows [B, numClasses] of `indices` of `labels`. */
export function oneHot(labels: ArrayLike<number>, numClasses: number, out?: Float32Array): Float32Array {
  const b = labels.length;
  const dst = out ?? new Float32Array(b * numClasses);
  if (dst.length < b * numClasses) throw new Error(`oneHot: out has ${dst.length} floats, need ${b * numClasses}`);
  dst.fill(0, 0, b * numClasses);
  for (let k = 0; k < b; k++) {
    const l = labels[k]!;
    if (!(Number.isInteger(l) && l >= 0 && l < numClasses)) throw new Error(`oneHot: label ${l} at ${k} is outside [0, ${numClasses})`);
    dst[k * numClasses + l] = 1;
  }
  return dst;
}

/** A permutation of 0..n-1 drawn from `rng` (Fisher-Yates). */
export function epochOrder(n: number, rng: Rng, out?: Int32Array): Int32Array {
  const order = out ?? new Int32Array(n);
  if (order.length !== n) throw new Error(`epochOrder: out has ${order.length} slots, expected ${n}`);
  for (let i = 0; i < n; i++) order[i] = i;
  rng.shuffle(order);
  return order;
}

/**
 * Balanced class weights as scikit-learn's compute_class_weight('balanced'): n / (C * count_c).
 * A class with no samples gets weight 0 (it never contributes to a loss anyway).
 */
export function classWeights(labels: ArrayLike<number>, numClasses: number): Float32Array {
  if (!(Number.isInteger(numClasses) && numClasses > 0)) throw new Error(`classWeights: numClasses must be a positive integer, got ${numClasses}`);
  const counts = new Float64Array(numClasses);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (!(Number.isInteger(l) && l >= 0 && l < numClasses)) throw new Error(`classWeights: label ${l} at ${i} is outside [0, ${numClasses})`);
    counts[l]!++;
  }
  const w = new Float32Array(numClasses);
  for (let c = 0; c < numClasses; c++) w[c] = counts[c]! > 0 ? labels.length / (numClasses * counts[c]!) : 0;
  return w;
}

export interface BatcherOptions {
  batchSize: number;
  /** New random order every epoch (default true); false keeps file order (evaluation). */
  shuffle?: boolean;
  /** Drop a last batch smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Augmentation applied to every batch; null/undefined or an identity config = none. */
  augment?: AugmentConfig | null;
  /** Mixup / CutMix of each batch after its augmentation (mix.ts); null/undefined or all off = none. */
  mix?: MixConfig | null;
  /** Drives the shuffles, the augmentation and the mixing; save its state at an epoch boundary to resume. */
  rng: Rng;
}

export interface Batch {
  /** [count,1,48,48] floats (pixel/255, augmented); a view of a buffer reused by the next batch. */
  x: Float32Array;
  /** [count] class indices (mixed batches: each row's dominant label); reused like x. */
  y: Int32Array;
  /** Mixed batches only: [count, 7] soft targets (label weights summing to 1); reused like x. */
  targets?: Float32Array;
  /** Mixed batches only: what mixBatch did. */
  mixed?: MixResult;
  /** Indices into the image set of this batch's images (a view of the epoch order). */
  indices: Int32Array;
  count: number;
  /** Batch number within the epoch. */
  index: number;
}

/** Batches over an image set, reshuffled each epoch. */
export class Batcher {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly augment: AugmentConfig | null;
  readonly mix: MixConfig | null;
  readonly rng: Rng;
  private readonly data: ImageSet;
  private readonly order: Int32Array;
  private readonly x: Float32Array;
  private readonly y: Int32Array;
  private readonly mixBuffers: { targets: Float32Array; dominant: Int32Array; scratch: Float32Array } | null;

  constructor(data: ImageSet, options: BatcherOptions) {
    const { batchSize } = options;
    if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new Error(`Batcher: batchSize must be a positive integer, got ${batchSize}`);
    if (data.images.length !== data.count * IMAGE_PIXELS || data.labels.length !== data.count) {
      throw new Error(`Batcher: ${data.count} images need ${data.count * IMAGE_PIXELS} pixels and ${data.count} labels; got ${data.images.length} and ${data.labels.length}`);
    }
    this.data = data;
    this.batchSize = batchSize;
    this.shuffle = options.shuffle ?? true;
    this.dropLast = options.dropLast ?? false;
    this.augment = options.augment && !isIdentity(options.augment) ? options.augment : null;
    if (options.mix) validateMix(options.mix);
    this.mix = mixes(options.mix) ? options.mix : null;
    this.rng = options.rng;
    this.order = new Int32Array(data.count);
    for (let i = 0; i < data.count; i++) this.order[i] = i;
    this.x = new Float32Array(batchSize * IMAGE_PIXELS);
    this.y = new Int32Array(batchSize);
    this.mixBuffers = this.mix
      ? { targets: new Float32Array(batchSize * NUM_CLASSES), dominant: new Int32Array(batchSize), scratch: new Float32Array(batchSize * IMAGE_PIXELS) }
      : null;
  }

  get batchesPerEpoch(): number {
    const n = this.data.count;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Images one epoch yields (all, or all but a dropped last partial batch). */
  get samplesPerEpoch(): number {
    return this.dropLast ? this.batchesPerEpoch * this.batchSize : this.data.count;
  }

  /** One epoch of batches; the shuffle happens when iteration starts. */
  *epoch(): Generator<Batch> {
    if (this.shuffle) epochOrder(this.data.count, this.rng, this.order);
    const nb = this.batchesPerEpoch;
    for (let bi = 0; bi < nb; bi++) {
      const start = bi * this.batchSize;
      const count = Math.min(this.batchSize, this.data.count - start);
      const indices = this.order.subarray(start, start + count);
      const x = this.x.subarray(0, count * IMAGE_PIXELS);
      const y = this.y.subarray(0, count);
      imagesToFloat(this.data.images, indices, x);
      gatherLabels(this.data.labels, indices, y);
      if (this.augment) augmentBatch(x, x, count, this.augment, this.rng);
      if (this.mix && this.mixBuffers) {
        const { targets, dominant, scratch } = this.mixBuffers;
        const mixed = mixBatch(x, y, count, this.mix, this.rng, targets, dominant, scratch);
        y.set(dominant.subarray(0, count));
        yield { x, y, indices, count, index: bi, targets: targets.subarray(0, count * NUM_CLASSES), mixed };
      } else {
        yield { x, y, indices, count, index: bi };
      }
    }
  }
}
