import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BLACK, Canvas, colormap, luminance, readPngFile, type Box, type DecodedImage } from '../../packages/fer/src/plots/canvas.js';
import { writeFileAtomic } from '../../packages/fer/src/fsutil.js';
import { ADVANCE, GLYPH_ASCENT, GLYPH_H, GLYPH_W, glyph, hasGlyph, measureText } from '../../packages/fer/src/plots/font.js';
import { confusionHeatmap, faceGrid, niceTicks, trainingCurves } from '../../packages/fer/src/plots/plots.js';

const NAMES = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];
const dir = mkdtempSync(join(tmpdir(), 'fer-plots-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Decoded with pngjs (through canvas.ts: the test folder cannot resolve the fer package's dependencies).
const readPng = (file: string): DecodedImage => readPngFile(file);
function px(png: DecodedImage, x: number, y: number): [number, number, number] {
  const i = (y * png.width + x) * 4;
  return [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!];
}
/** Pixels in a box that differ from white. */
function inked(png: DecodedImage, b: Box): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (let y = b.y; y < b.y + b.height; y++) {
    for (let x = b.x; x < b.x + b.width; x++) {
      const c = px(png, x, y);
      if (c[0] !== 255 || c[1] !== 255 || c[2] !== 255) out.push(c);
    }
  }
  return out;
}

describe('font', () => {
  it('covers printable ASCII with well-formed glyphs', () => {
    for (let code = 32; code < 127; code++) {
      const ch = String.fromCharCode(code);
      expect(hasGlyph(ch), ch).toBe(true);
      const bits = glyph(ch);
      expect(bits.length).toBe(GLYPH_W * GLYPH_H);
      // Every printable glyph except space has ink.
      expect(bits.some((b) => b === 1), ch).toBe(code !== 32);
    }
    // Distinct pictures for distinct characters (catches copy-paste slips).
    const seen = new Set<string>();
    for (let code = 32; code < 127; code++) seen.add(glyph(String.fromCharCode(code)).join(''));
    expect(seen.size).toBe(95);
    expect(hasGlyph('é')).toBe(false);
    expect(glyph('é')).toEqual(glyph('?'));
    expect(measureText('abc', 2)).toEqual({ width: (3 * ADVANCE - 1) * 2, height: GLYPH_H * 2 });
  });
});

describe('canvas', () => {
  it('text puts ink exactly where the glyph bitmap says, at the requested scale', () => {
    const c = new Canvas(60, 40);
    const box = c.text('H1', 10, 5, BLACK, { scale: 2 });
    expect(box).toEqual({ x: 10, y: 5, width: measureText('H1', 2).width, height: GLYPH_ASCENT * 2 });
    for (const [k, ch] of ['H', '1'].entries()) {
      const bits = glyph(ch);
      for (let gy = 0; gy < GLYPH_H; gy++) {
        for (let gx = 0; gx < GLYPH_W; gx++) {
          for (const [dx, dy] of [[0, 0], [1, 1]]) {
            const p = c.getPixel(10 + (k * ADVANCE + gx) * 2 + dx!, 5 + gy * 2 + dy!);
            expect(p[0], `${ch} (${gx},${gy})`).toBe(bits[gy * GLYPH_W + gx] ? 0 : 255);
          }
        }
      }
    }
    // Nothing outside the text box (plus descender rows).
    let outside = 0;
    for (let y = 0; y < 40; y++) for (let x = 0; x < 60; x++) {
      const inBox = x >= 10 && x < 10 + box.width && y >= 5 && y < 5 + GLYPH_H * 2;
      if (!inBox && c.getPixel(x, y)[0] !== 255) outside++;
    }
    expect(outside).toBe(0);
  });

  it('aligned and rotated text lands in its box', () => {
    const c = new Canvas(100, 100);
    const b = c.text('Ab', 50, 50, BLACK, { scale: 1, align: 'center', valign: 'middle' });
    // Odd sizes cannot centre exactly: within half a pixel.
    expect(Math.abs(b.x + b.width / 2 - 50)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(b.y + b.height / 2 - 50)).toBeLessThanOrEqual(0.5);
    const r = c.text('True', 5, 90, BLACK, { scale: 2, rotate: true, valign: 'bottom' });
    expect([r.width, r.height]).toEqual([GLYPH_ASCENT * 2, measureText('True', 2).width]);
    expect(r.y + r.height).toBe(90);
    // 'T' of a text rotated counter-clockwise sits at the bottom: its bar is a vertical line at the box's left edge.
    for (let y = r.y + r.height - 10; y < r.y + r.height; y++) expect(c.getPixel(r.x, y)[0]).toBe(0);
  });

  it('lines, rectangles, blits and colour maps', () => {
    const c = new Canvas(40, 30);
    c.fillRect(2, 2, 5, 4, [255, 0, 0]);
    expect(c.getPixel(2, 2)).toEqual([255, 0, 0, 255]);
    expect(c.getPixel(6, 5)).toEqual([255, 0, 0, 255]);
    expect(c.getPixel(7, 5)).toEqual([255, 255, 255, 255]);
    c.line(10, 20.5, 30, 20.5, BLACK, 1);
    expect(c.getPixel(20, 20)).toEqual([0, 0, 0, 255]);
    expect(c.getPixel(20, 22)[0]).toBe(255);
    const src = Uint8Array.from([0, 100, 200, 50]); // 2x2
    c.blitGray(src, 2, 2, 30, 2, 3);
    expect(c.getPixel(30, 2)[0]).toBe(0);
    expect(c.getPixel(35, 4)[0]).toBe(100);
    expect(c.getPixel(32, 7)[0]).toBe(200);
    expect(c.getPixel(35, 7)).toEqual([50, 50, 50, 255]);
    // Sequential maps: luminance strictly monotone.
    let prev = Infinity;
    for (let t = 0; t <= 1.0001; t += 0.05) {
      const l = luminance(colormap('blues', t));
      expect(l).toBeLessThan(prev);
      prev = l;
    }
    prev = -Infinity;
    for (let t = 0; t <= 1.0001; t += 0.05) {
      const l = luminance(colormap('viridis', t));
      expect(l).toBeGreaterThan(prev);
      prev = l;
    }
  });

  it('saves atomically into new folders, leaving no temp files', () => {
    const file = join(dir, 'a', 'b', 'x.png');
    new Canvas(3, 2, [10, 20, 30]).save(file);
    const png = readPng(file);
    expect([png.width, png.height]).toEqual([3, 2]);
    expect(px(png, 2, 1)).toEqual([10, 20, 30]);
    writeFileAtomic(join(dir, 'a', 'b', 'y.txt'), 'hello');
    expect(readdirSync(join(dir, 'a', 'b')).sort()).toEqual(['x.png', 'y.txt']);
  });

  it('niceTicks picks round steps that cover the range', () => {
    expect(niceTicks(0, 1, 5)).toMatchObject({ lo: 0, hi: 1, step: 0.2, ticks: [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1] });
    const t = niceTicks(0.37, 1.93, 5);
    expect(t.step).toBeCloseTo(0.5, 12);
    expect(t.lo).toBe(0);
    expect(t.hi).toBe(2);
    expect(niceTicks(0, 1437, 5)).toMatchObject({ step: 500, hi: 1500, decimals: 0 });
    const d = niceTicks(3, 3, 5);
    expect(d.lo).toBeLessThan(3);
    expect(d.hi).toBeGreaterThan(3);
  });
});

/**
 * The title band (rows 0..bandH) has ink, none in the outer 2 columns on either side (a title that runs
 * off the image leaves ink at its edges), and spans the title's width at scale 3.
 */
function expectWholeTitle(png: DecodedImage, bandH: number, title: string): void {
  let minX = png.width;
  let maxX = -1;
  for (let y = 0; y < bandH; y++)
    for (let x = 0; x < png.width; x++) {
      const c = px(png, x, y);
      if (c[0] !== 255 || c[1] !== 255 || c[2] !== 255) {
        minX = Math.min(minX, x);
        maxX = Math.max(maxX, x);
      }
    }
  expect(minX, 'leftmost ink of the title').toBeGreaterThan(1);
  expect(maxX, 'rightmost ink of the title').toBeLessThan(png.width - 2);
  expect(maxX - minX + 1).toBeGreaterThan(measureText(title, 3).width - 3 * ADVANCE);
}

describe('confusionHeatmap', () => {
  it('writes a PNG whose cell colours get darker with the count', () => {
    // Distinct counts 0..48 in a scrambled order over the 7x7 grid.
    const m = Array.from({ length: 7 }, (_, t) => Array.from({ length: 7 }, (__, p) => (t * 7 + p) * 19 % 49));
    const file = join(dir, 'cm', 'confusion.png');
    const info = confusionHeatmap(m, NAMES, file);
    const png = readPng(file);
    expect([png.width, png.height]).toEqual([info.width, info.height]);
    expect(info.width).toBeGreaterThan(info.gridX + 7 * info.cell);
    expect(info.height).toBeGreaterThan(info.gridY + 7 * info.cell);
    // Sample each cell near its top-left corner (away from the centred text).
    const cells = m.flatMap((row, t) => row.map((v, p) => ({ v, lum: luminance(px(png, info.gridX + p * info.cell + 5, info.gridY + t * info.cell + 5)) })));
    cells.sort((a, b) => a.v - b.v);
    for (let k = 1; k < cells.length; k++) expect(cells[k]!.lum, `count ${cells[k]!.v}`).toBeLessThan(cells[k - 1]!.lum);
    // Count 0 gets the lightest colour of the map, the maximum the darkest.
    expect(px(png, info.gridX + 5, info.gridY + 5)).toEqual(colormap('blues', 0)); // m[0][0] = 0
    // Each cell has text (non-cell-colour pixels) around its centre.
    const cx = info.gridX + info.cell / 2;
    const cy = info.gridY + info.cell / 2;
    const bg = px(png, info.gridX + 5, info.gridY + 5);
    let ink = 0;
    for (let y = cy - 20; y < cy + 20; y++) for (let x = cx - 30; x < cx + 30; x++) if (px(png, x, y).join() !== bg.join()) ink++;
    expect(ink).toBeGreaterThan(30);
  });

  it('class names and labels are drawn beside and below the grid; normalize colours by row share', () => {
    const m = [
      [90, 10],
      [1, 1],
    ];
    const file = join(dir, 'cm2.png');
    const info = confusionHeatmap(m, ['cat', 'dog'], file, { normalize: true });
    const png = readPng(file);
    expect(info.levels).toEqual([
      [0.9, 0.1],
      [0.5, 0.5],
    ]);
    // The two cells of the second row share a colour though their counts are small.
    const c10 = px(png, info.gridX + 5, info.gridY + info.cell + 5);
    const c11 = px(png, info.gridX + info.cell + 5, info.gridY + info.cell + 5);
    expect(c10).toEqual(c11);
    expect(luminance(px(png, info.gridX + 5, info.gridY + 5))).toBeLessThan(luminance(c10));
    // Row labels left of the grid, column labels below it, title above it.
    expect(inked(png, { x: 0, y: info.gridY, width: info.gridX - 2, height: info.cell }).length).toBeGreaterThan(20);
    expect(inked(png, { x: info.gridX, y: info.gridY + 2 * info.cell + 2, width: info.cell, height: 30 }).length).toBeGreaterThan(20);
    expect(inked(png, { x: 0, y: 0, width: png.width, height: info.gridY - 2 }).length).toBeGreaterThan(50);
  });

  it('keeps a long title whole: the image widens and the title moves right of the grid centre', () => {
    const m = Array.from({ length: 7 }, () => Array.from({ length: 7 }, () => 1));
    const title = 'Confusion matrix: ensemble resvgg + vgg + vgg-lite + another member, test (71.9%)';
    const file = join(dir, 'cm-title.png');
    const info = confusionHeatmap(m, NAMES, file, { title });
    expectWholeTitle(readPng(file), info.gridY - 2, title);
  });

  it('rejects a matrix of the wrong size', () => {
    expect(() => confusionHeatmap([[1, 2]], NAMES, join(dir, 'bad.png'))).toThrow(/matrix is 1x2, expected 7x7/);
    expect(existsSync(join(dir, 'bad.png'))).toBe(false);
  });
});

describe('trainingCurves', () => {
  const log = Array.from({ length: 12 }, (_, i) => ({
    epoch: i + 1,
    trainLoss: 1.8 * Math.exp(-i / 4) + 0.3,
    trainAcc: 0.3 + 0.5 * (1 - Math.exp(-i / 4)),
    valLoss: 1.7 * Math.exp(-i / 5) + 0.5,
    valAcc: 0.3 + 0.3 * (1 - Math.exp(-i / 4)),
  }));

  it('writes two panels with both series drawn in their colours', () => {
    const file = join(dir, 'curves', 'curves.png');
    const info = trainingCurves(log, file);
    const png = readPng(file);
    expect([png.width, png.height]).toEqual([info.width, info.height]);
    expect(info.panels.accuracy.x).toBeGreaterThan(info.panels.loss.x + info.panels.loss.width);
    // Points sit on their lines: tab:blue for train, tab:orange for validation (dot centres are fully covered).
    const near = (c: [number, number, number], want: [number, number, number]) => Math.max(...c.map((v, k) => Math.abs(v - want[k]!))) <= 2;
    for (const e of log.filter((_, i) => i % 3 === 1)) {
      const [lx, ly] = info.toPixel.loss(e.epoch, e.trainLoss).map(Math.floor) as [number, number];
      expect(near(px(png, lx, ly), [31, 119, 180]), `train loss @${e.epoch}`).toBe(true);
      const [vx, vy] = info.toPixel.accuracy(e.epoch, e.valAcc).map(Math.floor) as [number, number];
      expect(near(px(png, vx, vy), [255, 127, 14]), `val acc @${e.epoch}`).toBe(true);
    }
    // Tick labels left of each panel and below it.
    const lp = info.panels.loss;
    expect(inked(png, { x: lp.x - 60, y: lp.y, width: 50, height: lp.height }).length).toBeGreaterThan(100);
    expect(inked(png, { x: lp.x, y: lp.y + lp.height + 10, width: lp.width, height: 20 }).length).toBeGreaterThan(100);
  });

  it('keeps a long title whole', () => {
    const title = 'Training curves of resvgg, gpu-res preset, seed 7, 80 epochs on an NVIDIA H200, batch 64';
    const file = join(dir, 'curves-title.png');
    const info = trainingCurves([{ epoch: 1, trainLoss: 1.2, trainAcc: 0.4, valLoss: 1.3, valAcc: 0.38 }], file, { title });
    expectWholeTitle(readPng(file), info.panels.loss.y - 40, title);
  });

  it('works without validation values and with a single epoch', () => {
    const f1 = join(dir, 'c1.png');
    const info = trainingCurves(log.map(({ epoch, trainLoss, trainAcc }) => ({ epoch, trainLoss, trainAcc })), f1);
    expect(readPng(f1).width).toBe(info.width);
    const f2 = join(dir, 'c2.png');
    const one = trainingCurves([{ epoch: 1, trainLoss: 1.2, trainAcc: 0.4, valLoss: 1.3, valAcc: 0.38 }], f2);
    expect(readPng(f2).height).toBe(one.height);
  });

  it('rejects accuracies given in percent and an empty log', () => {
    expect(() => trainingCurves([{ epoch: 1, trainLoss: 1, trainAcc: 45 }], join(dir, 'bad.png'))).toThrow(/trainAcc = 45 at epoch 1; accuracies must be fractions/);
    expect(() => trainingCurves([], join(dir, 'bad.png'))).toThrow(/epochLog is empty/);
  });
});

describe('faceGrid', () => {
  const count = 5;
  const images = new Uint8Array(count * 48 * 48);
  for (let i = 0; i < images.length; i++) images[i] = (i * 7) % 256;
  const preds = [5, 3, 0, 6, 2];
  const labels = [0, 3, 0, 1, 2];

  it('draws each face scaled, with green captions when right and red when wrong', () => {
    const file = join(dir, 'faces', 'grid.png');
    const info = faceGrid(images, preds, labels, NAMES, file, { cols: 3, scale: 2 });
    const png = readPng(file);
    expect([png.width, png.height]).toEqual([info.width, info.height]);
    expect(info.tiles.length).toBe(5);
    // 3 columns, 2 rows.
    expect(info.tiles[3]!.face.y).toBeGreaterThan(info.tiles[0]!.face.y + 96);
    expect(info.tiles[3]!.face.x).toBe(info.tiles[0]!.face.x);
    expect(info.width).toBeGreaterThan(3 * 96);
    // Nearest-neighbour 2x scaling of the source pixels.
    for (const k of [0, 4]) {
      const f = info.tiles[k]!.face;
      expect(f.width).toBe(96);
      for (const [sx, sy] of [[0, 0], [17, 30], [47, 47]]) {
        const want = images[k * 2304 + sy! * 48 + sx!]!;
        expect(px(png, f.x + 2 * sx! + 1, f.y + 2 * sy! + 1)).toEqual([want, want, want]);
      }
    }
    // Caption ink colour: green-dominant when correct, red-dominant when wrong.
    info.tiles.forEach((t, k) => {
      expect(t.correct).toBe(preds[k] === labels[k]);
      const ink = inked(png, t.caption);
      expect(ink.length, `tile ${k}`).toBeGreaterThan(100);
      const strong = ink.filter(([r, g, b]) => Math.max(r, g, b) - Math.min(r, g, b) > 100); // fully covered text pixels
      expect(strong.length).toBeGreaterThan(50);
      for (const [r, g] of strong) {
        if (t.correct) expect(g).toBeGreaterThan(r);
        else expect(r).toBeGreaterThan(g);
      }
    });
  });

  it('keeps a long title whole over a narrow grid', () => {
    const title = 'Misclassified faces of the ensemble, PrivateTest';
    const file = join(dir, 'faces-title.png');
    const info = faceGrid(images.subarray(0, 2304), [5], [0], NAMES, file, { scale: 1, title });
    expectWholeTitle(readPng(file), info.tiles[0]!.face.y - 6, title);
  });

  it('caption width follows the longest line, "Pred: surprise" at text scale 2', () => {
    const file = join(dir, 'one.png');
    const a = faceGrid(images.subarray(0, 2304), [5], [0], NAMES, file, { scale: 3 });
    const png = readPng(file);
    const b = a.tiles[0]!.caption;
    let lo = Infinity;
    let hi = -Infinity;
    for (let y = b.y; y < b.y + b.height; y++) {
      for (let x = b.x; x < b.x + b.width; x++) {
        if (px(png, x, y).join() !== '255,255,255') {
          lo = Math.min(lo, x);
          hi = Math.max(hi, x);
        }
      }
    }
    expect(hi - lo + 1).toBe(measureText('Pred: surprise', 2).width);
  });

  it('rejects inconsistent inputs', () => {
    expect(() => faceGrid(images, preds, labels.slice(1), NAMES, join(dir, 'bad.png'))).toThrow(/5 predictions but 4 labels/);
    expect(() => faceGrid(images.subarray(1), preds, labels, NAMES, join(dir, 'bad.png'))).toThrow(/expected 5 x 48 x 48 = 11520/);
    expect(() => faceGrid(images, [0, 0, 0, 0, 7], labels, NAMES, join(dir, 'bad.png'))).toThrow(/preds\[4\] = 7 is not a class index/);
  });
});
