// CPU data augmentation for a batch of 48x48 single-channel float images ([B,1,48,48], pixels in [0,1]),
// driven by the seeded Rng so a run (and a resumed run, via Rng.getState/setState) is reproducible.
//
// Per image, in this order (each knob off costs nothing and draws no random numbers):
//   horizontal flip (p = flip), integer shift dx,dy in [-shift, shift] (the same as padding by `shift`
//   and taking a random 48x48 crop), rotation in [-rotate, rotate] degrees and scale in [scale0, scale1]
//   about the image centre. Rotation/scale need resampling: flip, shift, rotation and scale are then one
//   inverse affine map with bilinear sampling; without them the image is moved by whole pixels, exactly.
//   Pixels from outside the source are 0 ('zero') or the nearest border pixel ('edge').
//   Last, random erasing (Zhong et al. 2017, as torchvision.transforms.RandomErasing): with probability
//   `erase`, up to 10 tries to place a rectangle of area fraction in eraseArea and aspect ratio (h/w,
//   log-uniform) in eraseRatio that fits, filled with eraseValue, or per-pixel uniform [0,1) for 'random'
//   (torchvision's 'random' draws N(0,1) because it erases normalised tensors; ours are still in [0,1]).
import type { Rng } from '@fer/tensor';
import { IMAGE_PIXELS, IMAGE_SIZE } from './classes.js';

export type PadMode = 'zero' | 'edge';

export interface AugmentConfig {
  /** Probability of a horizontal flip. */
  flip: number;
  /** Largest shift in whole pixels each way (pad by `shift`, random 48x48 crop); 0 = off. */
  shift: number;
  /** Fill for pixels that come from outside the image (shift, rotation, zoom-out). */
  pad: PadMode;
  /** Largest rotation in degrees each way; 0 = off. */
  rotate: number;
  /** Zoom factor range [min, max], uniform; [1, 1] = off. > 1 enlarges the face. */
  scale: readonly [number, number];
  /** Probability of random erasing; 0 = off. */
  erase: number;
  /** Erased area as a fraction of the image, [min, max]. */
  eraseArea: readonly [number, number];
  /** Aspect ratio h/w of the erased rectangle, [min, max], sampled log-uniform. */
  eraseRatio: readonly [number, number];
  /** Fill of the erased rectangle (pixel value in [0,1]) or 'random' (uniform [0,1) per pixel). */
  eraseValue: number | 'random';
}

export type AugmentPreset = 'none' | 'light' | 'standard';

const ERASE_DEFAULTS = { eraseArea: [0.02, 0.33], eraseRatio: [0.3, 3.3], eraseValue: 0 } as const;

export const AUGMENT_PRESETS: Readonly<Record<AugmentPreset, Readonly<AugmentConfig>>> = {
  none: { flip: 0, shift: 0, pad: 'zero', rotate: 0, scale: [1, 1], erase: 0, ...ERASE_DEFAULTS },
  // torchvision RandomHorizontalFlip + RandomCrop(48, padding=4): the common FER2013 baseline.
  light: { flip: 0.5, shift: 4, pad: 'zero', rotate: 0, scale: [1, 1], erase: 0, ...ERASE_DEFAULTS },
  // Adds the small affine jitter and erasing of stronger FER recipes, kept moderate for short runs.
  standard: { flip: 0.5, shift: 4, pad: 'zero', rotate: 10, scale: [0.9, 1.1], erase: 0.25, ...ERASE_DEFAULTS },
};

/** A preset, optionally with some knobs changed; the result is validated. */
export function augmentConfig(preset: AugmentPreset = 'none', overrides: Partial<AugmentConfig> = {}): AugmentConfig {
  const base = AUGMENT_PRESETS[preset];
  if (base === undefined) throw new Error(`unknown augmentation preset "${preset}" (none, light, standard)`);
  const cfg = { ...base, ...overrides };
  validateAugment(cfg);
  return cfg;
}

/** Throws an Error naming the knob when a value is out of range. */
export function validateAugment(cfg: AugmentConfig): void {
  const prob = (name: string, v: number) => {
    if (!(v >= 0 && v <= 1)) throw new Error(`augment.${name} must be a probability in [0, 1], got ${v}`);
  };
  const range = (name: string, r: readonly [number, number], lo: number, hi: number) => {
    if (!(r.length === 2 && r[0] > lo && r[0] <= r[1] && r[1] <= hi)) {
      throw new Error(`augment.${name} must be [min, max] with ${lo} < min <= max <= ${hi}, got [${r.join(', ')}]`);
    }
  };
  prob('flip', cfg.flip);
  prob('erase', cfg.erase);
  if (!(Number.isInteger(cfg.shift) && cfg.shift >= 0 && cfg.shift < IMAGE_SIZE)) {
    throw new Error(`augment.shift must be a whole number of pixels in [0, ${IMAGE_SIZE}), got ${cfg.shift}`);
  }
  if (cfg.pad !== 'zero' && cfg.pad !== 'edge') throw new Error(`augment.pad must be 'zero' or 'edge', got ${String(cfg.pad)}`);
  if (!(cfg.rotate >= 0 && cfg.rotate <= 180)) throw new Error(`augment.rotate must be degrees in [0, 180], got ${cfg.rotate}`);
  range('scale', cfg.scale, 0, 10);
  range('eraseArea', cfg.eraseArea, 0, 1);
  range('eraseRatio', cfg.eraseRatio, 0, Infinity);
  if (cfg.eraseValue !== 'random' && !Number.isFinite(cfg.eraseValue)) {
    throw new Error(`augment.eraseValue must be a number or 'random', got ${String(cfg.eraseValue)}`);
  }
}

/** True when the config changes nothing (augmentBatch then only copies). */
export function isIdentity(cfg: AugmentConfig): boolean {
  return cfg.flip === 0 && cfg.shift === 0 && cfg.rotate === 0 && cfg.scale[0] === 1 && cfg.scale[1] === 1 && cfg.erase === 0;
}

const S = IMAGE_SIZE;
// One source image copied aside, so src and dst may be the same buffer.
const scratch = new Float32Array(IMAGE_PIXELS);

/** The random draws for one image; sampleParams makes them, applyParams applies them. */
export interface ImageAugment {
  flip: boolean;
  /** out(x, y) = in(x + dx, y + dy): whole-pixel shift. */
  dx: number;
  dy: number;
  /** Rotation in degrees about the centre; positive turns the image clockwise on screen (y points down). */
  angle: number;
  zoom: number;
  /** Erased rectangle (rows i..i+h-1, columns j..j+w-1), or null. */
  erase: { i: number; j: number; h: number; w: number } | null;
}

/** Draws one image's augmentation from `rng` (nothing is drawn for a knob that is off). */
export function sampleParams(cfg: AugmentConfig, rng: Rng): ImageAugment {
  const flip = cfg.flip > 0 && rng.next() < cfg.flip;
  let dx = 0;
  let dy = 0;
  if (cfg.shift > 0) {
    dx = rng.int(2 * cfg.shift + 1) - cfg.shift;
    dy = rng.int(2 * cfg.shift + 1) - cfg.shift;
  }
  const angle = cfg.rotate > 0 ? rng.uniform(-cfg.rotate, cfg.rotate) : 0;
  const [s0, s1] = cfg.scale;
  const zoom = s0 !== s1 ? rng.uniform(s0, s1) : s0;
  const erase = cfg.erase > 0 && rng.next() < cfg.erase ? eraseRect(cfg, rng) : null;
  return { flip, dx, dy, angle, zoom, erase };
}

/**
 * Writes image `p` applied to `img` (48*48 floats, not aliasing dst) into dst at `offset`.
 * `rng` is only used for eraseValue 'random'.
 */
export function applyParams(img: Float32Array, dst: Float32Array, offset: number, p: ImageAugment, pad: PadMode,
  eraseValue: number | 'random' = 0, rng?: Rng): void {
  const edge = pad === 'edge';
  if (p.angle === 0 && p.zoom === 1) shiftFlip(img, dst, offset, p.dx, p.dy, p.flip, edge);
  else warp(img, dst, offset, p.dx, p.dy, p.flip, p.angle, p.zoom, edge);
  if (p.erase) {
    const { i, j, h, w } = p.erase;
    if (eraseValue === 'random' && !rng) throw new Error("applyParams: eraseValue 'random' needs an rng");
    for (let y = i; y < i + h; y++) {
      const row = offset + y * S;
      if (eraseValue === 'random') for (let x = j; x < j + w; x++) dst[row + x] = rng!.next();
      else dst.fill(eraseValue, row + j, row + j + w);
    }
  }
}

/**
 * Augments `count` images of `src` into `dst` (both at least count*48*48 floats, [B,1,48,48]);
 * `dst` may be `src` (in place). Draws from `rng` image by image, so a seed gives the same batch.
 * Returns dst.
 */
export function augmentBatch(src: Float32Array, dst: Float32Array, count: number, cfg: AugmentConfig, rng: Rng): Float32Array {
  if (!(Number.isInteger(count) && count >= 0)) throw new Error(`augmentBatch: count must be a whole number >= 0, got ${count}`);
  const need = count * IMAGE_PIXELS;
  if (src.length < need || dst.length < need) {
    throw new Error(`augmentBatch: ${count} images of ${S}x${S} need ${need} floats; src has ${src.length}, dst has ${dst.length}`);
  }
  if (isIdentity(cfg)) {
    if (dst !== src) dst.set(src.subarray(0, need));
    return dst;
  }
  for (let b = 0; b < count; b++) {
    const off = b * IMAGE_PIXELS;
    scratch.set(src.subarray(off, off + IMAGE_PIXELS));
    applyParams(scratch, dst, off, sampleParams(cfg, rng), cfg.pad, cfg.eraseValue, rng);
  }
  return dst;
}

/** out(x, y) = img(x + dx, y + dy) of the (flipped) image: whole-pixel move, no resampling. */
function shiftFlip(img: Float32Array, dst: Float32Array, off: number, dx: number, dy: number, flip: boolean, edge: boolean): void {
  for (let y = 0; y < S; y++) {
    let sy = y + dy;
    const rowOut = off + y * S;
    if (sy < 0 || sy >= S) {
      if (!edge) {
        dst.fill(0, rowOut, rowOut + S);
        continue;
      }
      sy = sy < 0 ? 0 : S - 1;
    }
    const rowIn = sy * S;
    for (let x = 0; x < S; x++) {
      let sx = x + dx;
      if (sx < 0 || sx >= S) {
        if (!edge) {
          dst[rowOut + x] = 0;
          continue;
        }
        sx = sx < 0 ? 0 : S - 1;
      }
      dst[rowOut + x] = img[rowIn + (flip ? S - 1 - sx : sx)]!;
    }
  }
}

/**
 * Inverse map of shift, then rotation by `angle` degrees and zoom about the centre, then flip:
 * for output pixel (x, y), p = R(-angle) (x + dx - c, y + dy - c) / zoom + c, sampled bilinearly.
 */
function warp(img: Float32Array, dst: Float32Array, off: number, dx: number, dy: number, flip: boolean,
  angle: number, zoom: number, edge: boolean): void {
  const c = (S - 1) / 2;
  const t = (angle * Math.PI) / 180;
  const cos = Math.cos(t) / zoom;
  const sin = Math.sin(t) / zoom;
  // p = [cos sin; -sin cos] (u, v) + c, with u = x + dx - c, v = y + dy - c; stepping x adds (cos, -sin).
  for (let y = 0; y < S; y++) {
    const v = y + dy - c;
    const u0 = dx - c;
    let px = cos * u0 + sin * v + c;
    let py = -sin * u0 + cos * v + c;
    const rowOut = off + y * S;
    for (let x = 0; x < S; x++, px += cos, py -= sin) {
      // Flip mirrors the source column: S-1-px.
      const sx = flip ? S - 1 - px : px;
      dst[rowOut + x] = edge ? sampleEdge(img, sx, py) : sampleZero(img, sx, py);
    }
  }
}

function sampleZero(img: Float32Array, x: number, y: number): number {
  if (x <= -1 || y <= -1 || x >= S || y >= S) return 0;
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const inX0 = x0 >= 0;
  const inX1 = x0 + 1 < S;
  const inY0 = y0 >= 0;
  const inY1 = y0 + 1 < S;
  const r0 = y0 * S;
  const r1 = r0 + S;
  const a = inY0 && inX0 ? img[r0 + x0]! : 0;
  const b = inY0 && inX1 ? img[r0 + x0 + 1]! : 0;
  const d = inY1 && inX0 ? img[r1 + x0]! : 0;
  const e = inY1 && inX1 ? img[r1 + x0 + 1]! : 0;
  return (a + (b - a) * fx) * (1 - fy) + (d + (e - d) * fx) * fy;
}

function sampleEdge(img: Float32Array, x: number, y: number): number {
  x = x < 0 ? 0 : x > S - 1 ? S - 1 : x;
  y = y < 0 ? 0 : y > S - 1 ? S - 1 : y;
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const x1 = x0 + 1 < S ? x0 + 1 : x0;
  const r0 = y0 * S;
  const r1 = y0 + 1 < S ? r0 + S : r0;
  const a = img[r0 + x0]!;
  const b = img[r0 + x1]!;
  const d = img[r1 + x0]!;
  const e = img[r1 + x1]!;
  return (a + (b - a) * fx) * (1 - fy) + (d + (e - d) * fx) * fy;
}

/** torchvision RandomErasing.get_params: up to 10 tries for a rectangle that fits; null if none did. */
function eraseRect(cfg: AugmentConfig, rng: Rng): ImageAugment['erase'] {
  const area = S * S;
  const logR0 = Math.log(cfg.eraseRatio[0]);
  const logR1 = Math.log(cfg.eraseRatio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(cfg.eraseArea[0], cfg.eraseArea[1]);
    const aspect = Math.exp(rng.uniform(logR0, logR1));
    const h = Math.round(Math.sqrt(target * aspect));
    const w = Math.round(Math.sqrt(target / aspect));
    if (!(h < S && w < S && h > 0 && w > 0)) continue;
    return { i: rng.int(S - h + 1), j: rng.int(S - w + 1), h, w };
  }
  return null;
}
