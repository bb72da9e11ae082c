// Batch mixing for training, as timm's Mixup (mode 'batch'): one mixing weight per batch, image i
// paired with image count-1-i of the same (already shuffled and augmented) batch, and soft targets.
//   Mixup (Zhang et al. 2018): x = lam * x_i + (1 - lam) * x_pair, lam ~ Beta(mixup, mixup).
//   CutMix (Yun et al. 2019): a box of area (1 - lam) of the image, lam ~ Beta(cutmix, cutmix), is
//   pasted from the pair; lam is then the area actually kept once the box is clipped to the image.
// Targets are lam * onehot(y_i) + (1 - lam) * onehot(y_pair); the loss's label smoothing applies to
// them as to any soft target (linear, so the same as smoothing each one-hot first, as timm does).
// With both on, a batch takes CutMix with probability `switchProb`, else Mixup; with probability
// 1 - prob it is left unmixed (one-hot targets).
import type { Rng } from '@fer/tensor';
import { IMAGE_PIXELS, IMAGE_SIZE, NUM_CLASSES } from './classes.js';

export interface MixConfig {
  /** Mixup's Beta(alpha, alpha) parameter; 0 = off. */
  mixup: number;
  /** CutMix's Beta(alpha, alpha) parameter; 0 = off. */
  cutmix: number;
  /** Probability that a batch is mixed at all (default 1). */
  prob: number;
  /** With both on: probability of CutMix rather than Mixup for a batch (default 0.5, as timm). */
  switchProb: number;
}

export const MIX_DEFAULTS: Readonly<MixConfig> = { mixup: 0, cutmix: 0, prob: 1, switchProb: 0.5 };

/** Throws one message per bad field, naming the flag it comes from. */
export function validateMix(cfg: MixConfig): void {
  const bad: string[] = [];
  if (!(cfg.mixup >= 0 && Number.isFinite(cfg.mixup))) bad.push(`--mixup must be a Beta parameter >= 0 (0 = off), got ${cfg.mixup}`);
  if (!(cfg.cutmix >= 0 && Number.isFinite(cfg.cutmix))) bad.push(`--cutmix must be a Beta parameter >= 0 (0 = off), got ${cfg.cutmix}`);
  if (!(cfg.prob >= 0 && cfg.prob <= 1)) bad.push(`--mix-prob must be a probability in [0, 1], got ${cfg.prob}`);
  if (!(cfg.switchProb >= 0 && cfg.switchProb <= 1)) bad.push(`the CutMix switch probability must be in [0, 1], got ${cfg.switchProb}`);
  if (bad.length) throw new Error(bad.join('; '));
}

/** Whether the config mixes any batch. */
export function mixes(cfg: MixConfig | null | undefined): cfg is MixConfig {
  return !!cfg && (cfg.mixup > 0 || cfg.cutmix > 0) && cfg.prob > 0;
}

/** What mixBatch did to a batch. */
export interface MixResult {
  kind: 'none' | 'mixup' | 'cutmix';
  /** Weight of each image's own label (1 when unmixed). */
  lam: number;
  /** CutMix's box [y0, y1) x [x0, x1) taken from the pair (empty otherwise). */
  box: readonly [number, number, number, number];
}

/**
 * Mixes x ([count, 1, 48, 48], in place) with its reversed self and writes the soft targets
 * ([count, 7]) and each row's dominant label (the one weighing more; its own on a tie) into
 * `dominant`, for the running training accuracy. `scratch` holds count images (the unmixed batch).
 */
export function mixBatch(
  x: Float32Array,
  labels: ArrayLike<number>,
  count: number,
  cfg: MixConfig,
  rng: Rng,
  targets: Float32Array,
  dominant: Int32Array,
  scratch: Float32Array,
): MixResult {
  if (targets.length < count * NUM_CLASSES || dominant.length < count || scratch.length < count * IMAGE_PIXELS || x.length < count * IMAGE_PIXELS)
    throw new Error(`mixBatch: buffers too small for ${count} images`);
  let kind: MixResult['kind'] = 'none';
  let lam = 1;
  let box: [number, number, number, number] = [0, 0, 0, 0];
  if (mixes(cfg) && (cfg.prob >= 1 || rng.next() < cfg.prob)) {
    const useCutmix = cfg.cutmix > 0 && (cfg.mixup <= 0 || rng.next() < cfg.switchProb);
    kind = useCutmix ? 'cutmix' : 'mixup';
    lam = rng.beta(useCutmix ? cfg.cutmix : cfg.mixup, useCutmix ? cfg.cutmix : cfg.mixup);
    scratch.set(x.subarray(0, count * IMAGE_PIXELS));
    if (useCutmix) {
      box = cutBox(lam, rng);
      const [y0, y1, x0, x1] = box;
      lam = 1 - ((y1 - y0) * (x1 - x0)) / IMAGE_PIXELS;
      for (let i = 0; i < count; i++) {
        const dst = i * IMAGE_PIXELS;
        const src = (count - 1 - i) * IMAGE_PIXELS;
        for (let r = y0; r < y1; r++) {
          const o = r * IMAGE_SIZE;
          x.set(scratch.subarray(src + o + x0, src + o + x1), dst + o + x0);
        }
      }
    } else {
      const mu = 1 - lam;
      for (let i = 0; i < count; i++) {
        const dst = i * IMAGE_PIXELS;
        const src = (count - 1 - i) * IMAGE_PIXELS;
        for (let p = 0; p < IMAGE_PIXELS; p++) x[dst + p] = lam * scratch[dst + p]! + mu * scratch[src + p]!;
      }
    }
  }
  targets.fill(0, 0, count * NUM_CLASSES);
  for (let i = 0; i < count; i++) {
    const own = labels[i]!;
    const pair = labels[count - 1 - i]!;
    targets[i * NUM_CLASSES + own] += lam;
    targets[i * NUM_CLASSES + pair] += 1 - lam;
    dominant[i] = lam >= 0.5 ? own : pair;
  }
  return { kind, lam, box };
}

/** timm's rand_bbox: a box of side ratio sqrt(1 - lam), centred anywhere, clipped to the image. */
function cutBox(lam: number, rng: Rng): [number, number, number, number] {
  const ratio = Math.sqrt(1 - lam);
  const h = Math.floor(IMAGE_SIZE * ratio);
  const w = Math.floor(IMAGE_SIZE * ratio);
  const cy = rng.int(IMAGE_SIZE);
  const cx = rng.int(IMAGE_SIZE);
  const clip = (v: number) => Math.min(IMAGE_SIZE, Math.max(0, v));
  return [clip(cy - (h >> 1)), clip(cy + (h >> 1)), clip(cx - (w >> 1)), clip(cx + (w >> 1))];
}
