// A tiny RGBA raster canvas for the report plots: rectangles, anti-aliased lines and dots, bitmap text
// (integer-scaled 5x7 font, optionally rotated for y-axis labels), nearest-neighbour grayscale blits,
// sequential colour maps, and atomic PNG output through pngjs. CPU only, no dependencies but pngjs.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../fsutil.js';
import { PNG } from 'pngjs';
import { ADVANCE, GLYPH_ASCENT, GLYPH_H, GLYPH_W, glyph, measureText } from './font.js';

/** sRGB colour, 0..255 per channel; the optional 4th channel is alpha (255 = opaque). */
export type Color = readonly [number, number, number] | readonly [number, number, number, number];

export const WHITE: Color = [255, 255, 255];
export const BLACK: Color = [0, 0, 0];
export const DARK_GRAY: Color = [60, 60, 60];
export const GRAY: Color = [140, 140, 140];
export const LIGHT_GRAY: Color = [225, 225, 225];
/** matplotlib's tab:blue / tab:orange, the usual train / validation pair. */
export const TAB_BLUE: Color = [31, 119, 180];
export const TAB_ORANGE: Color = [255, 127, 14];
export const GOOD_GREEN: Color = [0, 140, 40];
export const BAD_RED: Color = [210, 20, 20];

export type HAlign = 'left' | 'center' | 'right';
/** 'top': top of the capitals; 'middle': centre of the capitals; 'bottom': baseline (descenders hang below). */
export type VAlign = 'top' | 'middle' | 'bottom';

export interface TextOptions {
  /** Integer pixel scale of the 5x7 font (1 = 5x7 px capitals). */
  scale?: number;
  align?: HAlign;
  valign?: VAlign;
  /** Rotate 90 degrees counter-clockwise (reads bottom to top), for y-axis labels. Alignment applies to the rotated box. */
  rotate?: boolean;
}

/** Pixel box (x, y = top-left; integer pixels). */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export class Canvas {
  /** RGBA, row-major, 4 bytes per pixel. */
  readonly data: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Color = WHITE,
  ) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
      throw new Error(`Canvas: size must be positive integers, got ${width}x${height}`);
    }
    this.data = new Uint8Array(width * height * 4);
    this.fillRect(0, 0, width, height, background);
  }

  /** RGBA of one pixel (throws outside the canvas). */
  getPixel(x: number, y: number): [number, number, number, number] {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) {
      throw new Error(`Canvas.getPixel: (${x}, ${y}) outside ${this.width}x${this.height}`);
    }
    const i = (y * this.width + x) * 4;
    return [this.data[i]!, this.data[i + 1]!, this.data[i + 2]!, this.data[i + 3]!];
  }

  /** Blend colour c over pixel (x, y) with the given coverage (0..1) times c's alpha; clipped. */
  blendPixel(x: number, y: number, c: Color, coverage = 1): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const a = Math.max(0, Math.min(1, coverage * ((c[3] ?? 255) / 255)));
    if (a <= 0) return;
    const i = (y * this.width + x) * 4;
    const d = this.data;
    if (a >= 1) {
      d[i] = c[0];
      d[i + 1] = c[1];
      d[i + 2] = c[2];
      d[i + 3] = 255;
      return;
    }
    d[i] = Math.round(d[i]! + (c[0] - d[i]!) * a);
    d[i + 1] = Math.round(d[i + 1]! + (c[1] - d[i + 1]!) * a);
    d[i + 2] = Math.round(d[i + 2]! + (c[2] - d[i + 2]!) * a);
    d[i + 3] = Math.round(d[i + 3]! + (255 - d[i + 3]!) * a);
  }

  /** Fill an axis-aligned rectangle (coordinates rounded to whole pixels, clipped). */
  fillRect(x: number, y: number, w: number, h: number, c: Color): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    const opaque = (c[3] ?? 255) === 255;
    for (let yy = y0; yy < y1; yy++) {
      if (opaque) {
        // Fast path: write the row directly.
        for (let xx = x0; xx < x1; xx++) {
          const i = (yy * this.width + xx) * 4;
          this.data[i] = c[0];
          this.data[i + 1] = c[1];
          this.data[i + 2] = c[2];
          this.data[i + 3] = 255;
        }
      } else {
        for (let xx = x0; xx < x1; xx++) this.blendPixel(xx, yy, c);
      }
    }
  }

  /** Rectangle outline drawn inside the box with the given thickness. */
  strokeRect(x: number, y: number, w: number, h: number, c: Color, thickness = 1): void {
    this.fillRect(x, y, w, thickness, c);
    this.fillRect(x, y + h - thickness, w, thickness, c);
    this.fillRect(x, y + thickness, thickness, h - 2 * thickness, c);
    this.fillRect(x + w - thickness, y + thickness, thickness, h - 2 * thickness, c);
  }

  /** Anti-aliased straight line between points given in pixel coordinates (pixel (i, j) has centre (i + 0.5, j + 0.5)). */
  line(x0: number, y0: number, x1: number, y1: number, c: Color, width = 1): void {
    this.polyline([[x0, y0], [x1, y1]], c, width);
  }

  /**
   * Anti-aliased polyline of the given stroke width. Coverage is the max over segments of
   * clamp(width/2 + 0.5 - distance to segment), blended once per pixel, so joints are not double-darkened.
   */
  polyline(points: ReadonlyArray<readonly [number, number]>, c: Color, width = 1): void {
    if (points.length === 0) return;
    const hw = width / 2;
    const pad = hw + 1;
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    for (const [x, y] of points) {
      minX = Math.min(minX, x);
      minY = Math.min(minY, y);
      maxX = Math.max(maxX, x);
      maxY = Math.max(maxY, y);
    }
    const bx0 = Math.max(0, Math.floor(minX - pad));
    const by0 = Math.max(0, Math.floor(minY - pad));
    const bx1 = Math.min(this.width, Math.ceil(maxX + pad));
    const by1 = Math.min(this.height, Math.ceil(maxY + pad));
    if (bx1 <= bx0 || by1 <= by0) return;
    const bw = bx1 - bx0;
    const cov = new Float32Array(bw * (by1 - by0));
    const segs = points.length === 1 ? [[points[0]!, points[0]!] as const] : points.slice(1).map((p, i) => [points[i]!, p] as const);
    for (const [[ax, ay], [qx, qy]] of segs) {
      const dx = qx - ax;
      const dy = qy - ay;
      const len2 = dx * dx + dy * dy;
      const sx0 = Math.max(bx0, Math.floor(Math.min(ax, qx) - pad));
      const sy0 = Math.max(by0, Math.floor(Math.min(ay, qy) - pad));
      const sx1 = Math.min(bx1, Math.ceil(Math.max(ax, qx) + pad));
      const sy1 = Math.min(by1, Math.ceil(Math.max(ay, qy) + pad));
      for (let py = sy0; py < sy1; py++) {
        for (let px = sx0; px < sx1; px++) {
          const cx = px + 0.5 - ax;
          const cy = py + 0.5 - ay;
          const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, (cx * dx + cy * dy) / len2));
          const ex = cx - t * dx;
          const ey = cy - t * dy;
          const v = hw + 0.5 - Math.sqrt(ex * ex + ey * ey);
          if (v <= 0) continue;
          const k = (py - by0) * bw + (px - bx0);
          cov[k] = Math.max(cov[k]!, Math.min(1, v));
        }
      }
    }
    for (let py = by0; py < by1; py++) {
      for (let px = bx0; px < bx1; px++) {
        const v = cov[(py - by0) * bw + (px - bx0)]!;
        if (v > 0) this.blendPixel(px, py, c, v);
      }
    }
  }

  /** Anti-aliased filled disc centred at (cx, cy) in pixel coordinates. */
  fillCircle(cx: number, cy: number, r: number, c: Color): void {
    for (let py = Math.floor(cy - r - 1); py <= Math.ceil(cy + r + 1); py++) {
      for (let px = Math.floor(cx - r - 1); px <= Math.ceil(cx + r + 1); px++) {
        const d = Math.hypot(px + 0.5 - cx, py + 0.5 - cy);
        const v = Math.min(1, r + 0.5 - d);
        if (v > 0) this.blendPixel(px, py, c, v);
      }
    }
  }

  /**
   * Draw one line of text with the bitmap font; (x, y) is the anchor given by align/valign.
   * Returns the box covered by the capitals (descenders may extend below it by 2*scale px).
   */
  text(str: string, x: number, y: number, c: Color, opts: TextOptions = {}): Box {
    const scale = opts.scale ?? 1;
    if (!Number.isInteger(scale) || scale < 1) throw new Error(`Canvas.text: scale must be a positive integer, got ${scale}`);
    const { width: tw } = measureText(str, scale);
    const th = GLYPH_ASCENT * scale;
    // Box in screen orientation, used for alignment.
    const bw = opts.rotate ? th : tw;
    const bh = opts.rotate ? tw : th;
    const align = opts.align ?? 'left';
    const valign = opts.valign ?? 'top';
    const left = Math.round(x - (align === 'center' ? bw / 2 : align === 'right' ? bw : 0));
    const top = Math.round(y - (valign === 'middle' ? bh / 2 : valign === 'bottom' ? bh : 0));
    let col = 0;
    for (const ch of str) {
      const bits = glyph(ch);
      for (let gy = 0; gy < GLYPH_H; gy++) {
        for (let gx = 0; gx < GLYPH_W; gx++) {
          if (!bits[gy * GLYPH_W + gx]) continue;
          // u runs along the text, v across it (downwards for unrotated text).
          const u = (col * ADVANCE + gx) * scale;
          const v = gy * scale;
          if (opts.rotate) {
            // 90 degrees counter-clockwise: along-text goes up, "down" goes right.
            this.fillRect(left + v, top + tw - u - scale, scale, scale, c);
          } else {
            this.fillRect(left + u, top + v, scale, scale, c);
          }
        }
      }
      col++;
    }
    return { x: left, y: top, width: bw, height: bh };
  }

  /**
   * Copy a grayscale image (row-major, 0..255) to (dx, dy), scaled by nearest neighbour to dw x dh
   * (default: integer `scale` times the source size). Clipped to the canvas.
   */
  blitGray(src: ArrayLike<number>, sw: number, sh: number, dx: number, dy: number, scale = 1, dw = sw * scale, dh = sh * scale): void {
    if (src.length < sw * sh) throw new Error(`Canvas.blitGray: source has ${src.length} pixels, expected ${sw}x${sh} = ${sw * sh}`);
    for (let y = 0; y < dh; y++) {
      const ty = dy + y;
      if (ty < 0 || ty >= this.height) continue;
      const sy = Math.min(sh - 1, Math.floor((y * sh) / dh));
      for (let x = 0; x < dw; x++) {
        const tx = dx + x;
        if (tx < 0 || tx >= this.width) continue;
        const sx = Math.min(sw - 1, Math.floor((x * sw) / dw));
        const g = Math.max(0, Math.min(255, Math.round(src[sy * sw + sx]!)));
        const i = (ty * this.width + tx) * 4;
        this.data[i] = g;
        this.data[i + 1] = g;
        this.data[i + 2] = g;
        this.data[i + 3] = 255;
      }
    }
  }

  /** PNG bytes of the canvas (8-bit RGBA). */
  toPNG(): Buffer {
    const png = new PNG({ width: this.width, height: this.height });
    png.data = Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    return PNG.sync.write(png);
  }

  /** Write the canvas as a PNG, atomically (temp file + rename), creating parent folders. */
  save(file: string): void {
    writeFileAtomic(file, this.toPNG());
  }
}

/** Decoded PNG: RGBA pixels, row-major (any PNG colour type is expanded to 8-bit RGBA by pngjs). */
export interface DecodedImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Read a PNG file back (used by tests to check what was written, and handy for loading images). */
export function readPngFile(file: string): DecodedImage {
  const png = PNG.sync.read(readFileSync(file));
  return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
}

// Colour maps: control points spaced evenly over [0, 1], interpolated linearly in sRGB.
// 'blues' is ColorBrewer Blues-9 (matplotlib 'Blues'), 'viridis' is matplotlib's viridis sampled at 11 points.
const COLORMAPS = {
  blues: ['f7fbff', 'deebf7', 'c6dbef', '9ecae1', '6baed6', '4292c6', '2171b5', '08519c', '08306b'],
  greens: ['f7fcf5', 'e5f5e0', 'c7e9c0', 'a1d99b', '74c476', '41ab5d', '238b45', '006d2c', '00441b'],
  viridis: ['440154', '482475', '414487', '355f8d', '2a788e', '21918c', '22a884', '44bf70', '7ad151', 'bddf26', 'fde725'],
} as const;

export type ColormapName = keyof typeof COLORMAPS;

const hex = (h: string): [number, number, number] => [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
const PARSED: Record<ColormapName, Array<[number, number, number]>> = {
  blues: COLORMAPS.blues.map(hex),
  greens: COLORMAPS.greens.map(hex),
  viridis: COLORMAPS.viridis.map(hex),
};

/** Colour of value t (clamped to [0, 1]) in a sequential colour map. 'blues' and 'greens' get darker as t grows. */
export function colormap(name: ColormapName, t: number): [number, number, number] {
  const pts = PARSED[name];
  const u = (Number.isFinite(t) ? Math.max(0, Math.min(1, t)) : 0) * (pts.length - 1);
  const i = Math.min(pts.length - 2, Math.floor(u));
  const f = u - i;
  const a = pts[i]!;
  const b = pts[i + 1]!;
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

/** Relative luminance (Rec. 709 weights on sRGB values, 0..255); enough to order colours and pick text contrast. */
export function luminance(c: Color): number {
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}

/** Black or white, whichever reads better on background bg. */
export function contrastText(bg: Color): Color {
  return luminance(bg) > 140 ? BLACK : WHITE;
}
