// Report figures drawn on the CPU canvas: confusion-matrix heatmap, training curves, and a grid of
// sample faces with predicted / true captions. Each writes a PNG atomically and returns its layout,
// so callers (and tests) know where every cell, panel and caption is.
import { GLYPH_ASCENT, measureText } from './font.js';
import {
  BAD_RED,
  Canvas,
  DARK_GRAY,
  GOOD_GREEN,
  GRAY,
  LIGHT_GRAY,
  TAB_BLUE,
  TAB_ORANGE,
  WHITE,
  BLACK,
  colormap,
  contrastText,
  type Box,
  type Color,
  type ColormapName,
} from './canvas.js';

const MARGIN = 24;
const LABEL_SCALE = 2; // axis labels, tick labels, cell text
const TITLE_SCALE = 3;
const textH = (scale: number) => GLYPH_ASCENT * scale;

/** Evenly spaced "nice" tick values (steps of 1, 2, 2.5 or 5 times a power of ten) covering [min, max]. */
export function niceTicks(min: number, max: number, target = 5): { lo: number; hi: number; step: number; ticks: number[]; decimals: number } {
  if (!Number.isFinite(min) || !Number.isFinite(max)) throw new Error(`niceTicks: non-finite range [${min}, ${max}]`);
  if (max < min) [min, max] = [max, min];
  if (max - min < 1e-12 * Math.max(1, Math.abs(max))) {
    // Degenerate range: widen around the value so there is something to draw.
    const pad = Math.abs(min) > 0 ? Math.abs(min) * 0.1 : 1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const mult = [1, 2, 2.5, 5, 10].find((m) => m * mag >= raw * 0.999) ?? 10;
  const step = mult * mag;
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let k = 0; lo + k * step <= hi + step * 1e-9; k++) ticks.push(lo + k * step);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9) + (mult === 2.5 ? 1 : 0));
  return { lo, hi, step, ticks, decimals };
}

// ---------------------------------------------------------------------------------------------
// Confusion matrix heatmap

export interface HeatmapOptions {
  /** Colour cells by row share (each true class sums to 100%) and show the % first; default: by count. */
  normalize?: boolean;
  title?: string;
  /** Sequential colour map (default 'blues': darker = more). */
  cmap?: ColormapName;
}

export interface HeatmapInfo {
  file: string;
  width: number;
  height: number;
  /** Top-left of the cell grid and the side of one square cell, in pixels; cell (t, p) is at (gridX + p*cell, gridY + t*cell). */
  gridX: number;
  gridY: number;
  cell: number;
  /** Value each cell is coloured by, normalised to [0, 1] (count / max count, or row share). */
  levels: number[][];
}

/**
 * Confusion-matrix heatmap: rows = true class, columns = predicted class, each cell coloured with a
 * sequential colour map and showing its count and its share of the row (or the share first when
 * normalize), class names on both axes, a colour bar, title "Confusion matrix".
 */
export function confusionHeatmap(matrix: readonly (readonly number[])[], classNames: readonly string[], file: string, opts: HeatmapOptions = {}): HeatmapInfo {
  const n = classNames.length;
  if (n === 0) throw new Error('confusionHeatmap: classNames is empty');
  if (matrix.length !== n || matrix.some((r) => r.length !== n)) {
    throw new Error(`confusionHeatmap: matrix is ${matrix.length}x${matrix.map((r) => r.length).join('/')}, expected ${n}x${n} for ${n} class names`);
  }
  if (matrix.some((r) => r.some((v) => !Number.isFinite(v) || v < 0))) throw new Error('confusionHeatmap: matrix entries must be finite and non-negative');
  const cmap = opts.cmap ?? 'blues';
  const normalize = opts.normalize ?? false;
  const title = opts.title ?? 'Confusion matrix';
  const rowSums = matrix.map((r) => r.reduce((a, b) => a + b, 0));
  const maxCount = Math.max(0, ...matrix.flat());
  const share = (t: number, p: number) => (rowSums[t]! > 0 ? matrix[t]![p]! / rowSums[t]! : 0);
  const levels = matrix.map((r, t) => r.map((v, p) => (normalize ? share(t, p) : maxCount > 0 ? v / maxCount : 0)));
  const fmtCount = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2));
  const fmtShare = (x: number) => `${(100 * x).toFixed(1)}%`;
  const texts = matrix.map((r, t) =>
    r.map((v, p) => (normalize ? [fmtShare(share(t, p)), `(${fmtCount(v)})`] : [fmtCount(v), `(${fmtShare(share(t, p))})`])),
  );

  const S = LABEL_SCALE;
  const maxName = Math.max(...classNames.map((c) => measureText(c, S).width));
  const maxCellText = Math.max(...texts.flat(2).map((s) => measureText(s, S).width));
  const cell = Math.max(96, maxName + 16, maxCellText + 16);
  const gridW = n * cell;
  // Colour-bar ticks: counts 0..max, or 0..100%.
  const bar = normalize ? niceTicks(0, 1, 5) : niceTicks(0, Math.max(1, maxCount), 5);
  const barLabel = (v: number) => (normalize ? `${Math.round(100 * v)}%` : v.toFixed(bar.decimals));
  const barLabelW = Math.max(...bar.ticks.map((v) => measureText(barLabel(v), S).width));

  const gridX = MARGIN + textH(S) + 16 + maxName + 12;
  const gridY = MARGIN + textH(TITLE_SCALE) + 32;
  const barX = gridX + gridW + 28;
  const barW = 24;
  // The title is centred over the grid, moved right (and the image widened) as far as a long one needs
  // to stay whole: before, a long title ran off both edges ("ensemble resvgg + vgg + vgg-lite, test").
  const titleW = measureText(title, TITLE_SCALE).width;
  const titleX = Math.max(gridX + gridW / 2, MARGIN + titleW / 2);
  const width = Math.max(barX + barW + 12 + barLabelW + MARGIN, Math.ceil(titleX + titleW / 2) + MARGIN);
  const height = gridY + gridW + 12 + textH(S) + 4 + 20 + textH(S) + MARGIN;
  const c = new Canvas(width, height, WHITE);

  c.text(title, titleX, MARGIN, BLACK, { scale: TITLE_SCALE, align: 'center' });
  for (let t = 0; t < n; t++) {
    for (let p = 0; p < n; p++) {
      const x = gridX + p * cell;
      const y = gridY + t * cell;
      const bg = colormap(cmap, levels[t]![p]!);
      c.fillRect(x, y, cell, cell, bg);
      const fg = contrastText(bg);
      const [main, sub] = texts[t]![p]!;
      c.text(main!, x + cell / 2, y + cell / 2 - 4, fg, { scale: S, align: 'center', valign: 'bottom' });
      c.text(sub!, x + cell / 2, y + cell / 2 + 6, fg, { scale: S, align: 'center', valign: 'top' });
    }
  }
  // Thin white separators keep equal-coloured neighbours distinct; a gray frame closes the grid.
  for (let k = 1; k < n; k++) {
    c.fillRect(gridX + k * cell, gridY, 1, gridW, WHITE);
    c.fillRect(gridX, gridY + k * cell, gridW, 1, WHITE);
  }
  c.strokeRect(gridX - 1, gridY - 1, gridW + 2, gridW + 2, GRAY);
  // Class names: rows (true) right-aligned to the left of the grid, columns (predicted) centred below it.
  classNames.forEach((name, k) => {
    c.text(name, gridX - 12, gridY + k * cell + cell / 2, BLACK, { scale: S, align: 'right', valign: 'middle' });
    c.text(name, gridX + k * cell + cell / 2, gridY + gridW + 12, BLACK, { scale: S, align: 'center' });
  });
  c.text('Predicted', gridX + gridW / 2, gridY + gridW + 12 + textH(S) + 24, DARK_GRAY, { scale: S, align: 'center' });
  c.text('True', MARGIN, gridY + gridW / 2, DARK_GRAY, { scale: S, rotate: true, valign: 'middle' });
  // Colour bar, top = high.
  for (let y = 0; y < gridW; y++) c.fillRect(barX, gridY + y, barW, 1, colormap(cmap, 1 - y / (gridW - 1)));
  c.strokeRect(barX - 1, gridY - 1, barW + 2, gridW + 2, GRAY);
  const scaleMax = normalize ? 1 : Math.max(1, maxCount);
  for (const v of bar.ticks) {
    if (v > scaleMax + 1e-9) continue;
    const y = Math.round(gridY + (gridW - 1) * (1 - v / scaleMax));
    c.fillRect(barX + barW + 1, y, 6, 1, DARK_GRAY);
    c.text(barLabel(v), barX + barW + 12, y, DARK_GRAY, { scale: S, valign: 'middle' });
  }
  c.save(file);
  return { file, width, height, gridX, gridY, cell, levels };
}

// ---------------------------------------------------------------------------------------------
// Training curves

export interface EpochLogEntry {
  epoch: number;
  trainLoss: number;
  /** Fraction in [0, 1]. */
  trainAcc: number;
  valLoss?: number;
  /** Fraction in [0, 1]. */
  valAcc?: number;
}

export interface CurvesOptions {
  title?: string;
}

export interface CurvesInfo {
  file: string;
  width: number;
  height: number;
  /** Plot areas (inside the axes) of the loss and accuracy panels. */
  panels: { loss: Box; accuracy: Box };
  /** Data -> pixel mapping of each panel, for locating points. */
  toPixel: { loss: (epoch: number, v: number) => [number, number]; accuracy: (epoch: number, v: number) => [number, number] };
}

interface Series {
  name: string;
  color: Color;
  points: Array<[number, number | undefined]>;
}

const PLOT_W = 520;
const PLOT_H = 340;
const INNER_PAD = 10; // keeps markers at the first/last epoch off the axes

function drawPanel(
  c: Canvas,
  area: Box,
  title: string,
  yLabel: string,
  series: Series[],
  xr: { lo: number; hi: number; ticks: number[] },
  yr: { lo: number; hi: number; ticks: number[]; fmt: (v: number) => string },
  legendCorner: 'top-right' | 'bottom-right',
  markers: boolean,
): (epoch: number, v: number) => [number, number] {
  const S = LABEL_SCALE;
  const { x, y, width: w, height: h } = area;
  const px = (e: number) => x + INNER_PAD + ((e - xr.lo) / (xr.hi - xr.lo)) * (w - 2 * INNER_PAD);
  const py = (v: number) => y + h - ((v - yr.lo) / (yr.hi - yr.lo)) * h;
  c.text(title, x + w / 2, y - 16, BLACK, { scale: S, align: 'center', valign: 'bottom' });
  // Grid, then axes frame, then ticks and labels.
  for (const v of yr.ticks) c.fillRect(x, Math.round(py(v)), w, 1, LIGHT_GRAY);
  for (const e of xr.ticks) c.fillRect(Math.round(px(e)), y, 1, h, LIGHT_GRAY);
  c.strokeRect(x - 1, y - 1, w + 2, h + 2, DARK_GRAY);
  for (const v of yr.ticks) {
    const yy = Math.round(py(v));
    c.fillRect(x - 7, yy, 6, 1, DARK_GRAY);
    c.text(yr.fmt(v), x - 12, yy, BLACK, { scale: S, align: 'right', valign: 'middle' });
  }
  for (const e of xr.ticks) {
    const xx = Math.round(px(e));
    c.fillRect(xx, y + h + 1, 1, 6, DARK_GRAY);
    c.text(String(e), xx, y + h + 14, BLACK, { scale: S, align: 'center' });
  }
  c.text('epoch', x + w / 2, y + h + 14 + textH(S) + 16, DARK_GRAY, { scale: S, align: 'center' });
  const tickLabelW = Math.max(...yr.ticks.map((v) => measureText(yr.fmt(v), S).width));
  c.text(yLabel, x - 12 - tickLabelW - 16, y + h / 2, DARK_GRAY, { scale: S, rotate: true, align: 'right', valign: 'middle' });
  // Lines: a missing value (no validation that epoch) breaks the line.
  for (const s of series) {
    let run: Array<[number, number]> = [];
    const flush = () => {
      if (run.length > 0) c.polyline(run, s.color, 2.5);
      run = [];
    };
    for (const [e, v] of s.points) {
      if (v === undefined || !Number.isFinite(v)) flush();
      else run.push([px(e), py(v)]);
    }
    flush();
    if (markers) for (const [e, v] of s.points) if (v !== undefined && Number.isFinite(v)) c.fillCircle(px(e), py(v), 3.5, s.color);
  }
  // Legend box.
  const shown = series.filter((s) => s.points.some(([, v]) => v !== undefined && Number.isFinite(v)));
  if (shown.length > 0) {
    const rowH = textH(S) + 12;
    const lw = 12 + 28 + 10 + Math.max(...shown.map((s) => measureText(s.name, S).width)) + 12;
    const lh = 8 + shown.length * rowH;
    const lx = x + w - lw - 10;
    const ly = legendCorner === 'top-right' ? y + 10 : y + h - lh - 10;
    c.fillRect(lx, ly, lw, lh, WHITE);
    c.strokeRect(lx, ly, lw, lh, GRAY);
    shown.forEach((s, k) => {
      const cy = ly + 4 + k * rowH + rowH / 2;
      c.line(lx + 12, cy, lx + 40, cy, s.color, 2.5);
      c.text(s.name, lx + 50, cy, BLACK, { scale: S, valign: 'middle' });
    });
  }
  return (e, v) => [px(e), py(v)];
}

/**
 * Two panels, loss and accuracy vs epoch, train and validation in two colours with a legend.
 * Accuracies are fractions and are labelled in percent. Epochs may be in any order (they are sorted);
 * missing validation values leave gaps.
 */
export function trainingCurves(epochLog: ReadonlyArray<EpochLogEntry>, file: string, opts: CurvesOptions = {}): CurvesInfo {
  if (epochLog.length === 0) throw new Error('trainingCurves: epochLog is empty');
  const log = [...epochLog].sort((a, b) => a.epoch - b.epoch);
  for (const e of log) {
    if (!Number.isFinite(e.epoch)) throw new Error(`trainingCurves: epoch ${e.epoch} is not a finite number`);
    for (const [k, v] of [['trainAcc', e.trainAcc], ['valAcc', e.valAcc]] as const) {
      if (v !== undefined && Number.isFinite(v) && (v < 0 || v > 1)) {
        throw new Error(`trainingCurves: ${k} = ${v} at epoch ${e.epoch}; accuracies must be fractions in [0, 1]`);
      }
    }
  }
  const S = LABEL_SCALE;
  const title = opts.title ?? 'Training curves';
  const finite = (vs: Array<number | undefined>) => vs.filter((v): v is number => v !== undefined && Number.isFinite(v));
  const epochs = log.map((e) => e.epoch);
  const e0 = epochs[0]!;
  const e1 = epochs[epochs.length - 1]!;
  const xr = e1 > e0 ? { lo: e0, hi: e1 } : { lo: e0 - 1, hi: e0 + 1 };
  const xt = niceTicks(xr.lo, xr.hi, 6);
  const xStep = Math.max(1, Math.round(xt.step)); // epochs are integers: no fractional ticks
  const xTicks: number[] = [];
  for (let v = Math.ceil(xr.lo / xStep) * xStep; v <= xr.hi + 1e-9; v += xStep) xTicks.push(v);

  const lossVals = finite(log.flatMap((e) => [e.trainLoss, e.valLoss]));
  const accVals = finite(log.flatMap((e) => [e.trainAcc, e.valAcc]));
  const lossR = lossVals.length > 0 ? niceTicks(Math.min(...lossVals), Math.max(...lossVals), 5) : niceTicks(0, 1, 5);
  let accR = accVals.length > 0 ? niceTicks(100 * Math.min(...accVals), 100 * Math.max(...accVals), 5) : niceTicks(0, 100, 5);
  if (accR.lo < 0 || accR.hi > 100) accR = niceTicks(Math.max(0, accR.lo), Math.min(100, accR.hi), 5);
  const lossFmt = (v: number) => v.toFixed(lossR.decimals);
  const accFmt = (v: number) => `${(100 * v).toFixed(accR.decimals)}%`;

  // Left of each plot: rotated label, gap, tick labels, ticks.
  const leftOf = (labels: string[]) => 12 + Math.max(...labels.map((l) => measureText(l, S).width)) + 16 + textH(S);
  const lossLeft = leftOf(lossR.ticks.map(lossFmt));
  const accLeft = leftOf(accR.ticks.map((v) => accFmt(v / 100)));
  const top = MARGIN + textH(TITLE_SCALE) + 28 + textH(S) + 16;
  const lossArea: Box = { x: MARGIN + lossLeft, y: top, width: PLOT_W, height: PLOT_H };
  const accArea: Box = { x: lossArea.x + PLOT_W + 48 + accLeft, y: top, width: PLOT_W, height: PLOT_H };
  const width = Math.max(accArea.x + PLOT_W + MARGIN, measureText(title, TITLE_SCALE).width + 2 * MARGIN);
  const height = top + PLOT_H + 14 + textH(S) + 16 + textH(S) + MARGIN;
  const c = new Canvas(width, height, WHITE);
  c.text(title, width / 2, MARGIN, BLACK, { scale: TITLE_SCALE, align: 'center' });

  const markers = log.length <= 40;
  const hasVal = (k: 'valLoss' | 'valAcc') => log.some((e) => e[k] !== undefined && Number.isFinite(e[k]));
  const lossSeries: Series[] = [{ name: 'train', color: TAB_BLUE, points: log.map((e) => [e.epoch, e.trainLoss]) }];
  if (hasVal('valLoss')) lossSeries.push({ name: 'validation', color: TAB_ORANGE, points: log.map((e) => [e.epoch, e.valLoss]) });
  const accSeries: Series[] = [{ name: 'train', color: TAB_BLUE, points: log.map((e) => [e.epoch, e.trainAcc * 100]) }];
  if (hasVal('valAcc')) accSeries.push({ name: 'validation', color: TAB_ORANGE, points: log.map((e) => [e.epoch, e.valAcc === undefined ? undefined : e.valAcc * 100]) });

  const lossTo = drawPanel(c, lossArea, 'Loss', 'loss', lossSeries, { ...xr, ticks: xTicks }, { ...lossR, fmt: lossFmt }, 'top-right', markers);
  const accTo100 = drawPanel(c, accArea, 'Accuracy', 'accuracy', accSeries, { ...xr, ticks: xTicks }, { ...accR, fmt: (v) => accFmt(v / 100) }, 'bottom-right', markers);
  c.save(file);
  return {
    file,
    width,
    height,
    panels: { loss: lossArea, accuracy: accArea },
    toPixel: { loss: lossTo, accuracy: (e, v) => accTo100(e, v * 100) },
  };
}

// ---------------------------------------------------------------------------------------------
// Face grid

export interface FaceGridOptions {
  /** Tiles per row (default: min(count, 8)). */
  cols?: number;
  /** Integer upscaling of each face (default 3: 48 px -> 144 px). */
  scale?: number;
  /** Side of each square source image (default 48, FER2013). */
  imageSize?: number;
  title?: string;
}

export interface FaceTile {
  /** Where the face was drawn. */
  face: Box;
  /** Box enclosing the two caption lines. */
  caption: Box;
  correct: boolean;
}

export interface FaceGridInfo {
  file: string;
  width: number;
  height: number;
  tiles: FaceTile[];
}

/**
 * Grid of grayscale faces, each upscaled (nearest) with a two-line caption below it,
 * "Pred: <class>" / "True: <class>", green when the prediction is right and red when wrong
 * (the face gets a frame of the same colour).
 */
export function faceGrid(
  images: Uint8Array,
  preds: readonly number[],
  labels: readonly number[],
  classNames: readonly string[],
  file: string,
  opts: FaceGridOptions = {},
): FaceGridInfo {
  const size = opts.imageSize ?? 48;
  const count = preds.length;
  if (count === 0) throw new Error('faceGrid: no images');
  if (labels.length !== count) throw new Error(`faceGrid: ${count} predictions but ${labels.length} labels; expected equal counts`);
  if (images.length !== count * size * size) {
    throw new Error(`faceGrid: images has ${images.length} bytes, expected ${count} x ${size} x ${size} = ${count * size * size}`);
  }
  for (const [what, arr] of [['preds', preds], ['labels', labels]] as const) {
    arr.forEach((v, i) => {
      if (!Number.isInteger(v) || v < 0 || v >= classNames.length) throw new Error(`faceGrid: ${what}[${i}] = ${v} is not a class index in [0, ${classNames.length})`);
    });
  }
  const scale = opts.scale ?? 3;
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`faceGrid: scale must be a positive integer, got ${scale}`);
  const cols = Math.min(count, opts.cols ?? 8);
  if (!Number.isInteger(cols) || cols < 1) throw new Error(`faceGrid: cols must be a positive integer, got ${opts.cols}`);
  const rows = Math.ceil(count / cols);
  const ts = scale >= 2 ? 2 : 1; // caption text scale
  const lineH = textH(ts) + 4 * ts + 2;
  const captions = preds.map((p, i) => [`Pred: ${classNames[p]}`, `True: ${classNames[labels[i]!]}`] as const);
  const capW = Math.max(...captions.flat().map((s) => measureText(s, ts).width));
  const faceW = size * scale;
  const FRAME = 3;
  const tileW = Math.max(faceW + 2 * FRAME, capW) + 8;
  const tileH = FRAME + faceW + FRAME + 8 + 2 * lineH;
  const GAP = 16;
  const titleH = opts.title ? textH(TITLE_SCALE) + 24 : 0;
  const width = Math.max(2 * MARGIN + cols * tileW + (cols - 1) * GAP, opts.title ? measureText(opts.title, TITLE_SCALE).width + 2 * MARGIN : 0);
  const height = 2 * MARGIN + titleH + rows * tileH + (rows - 1) * GAP;
  const c = new Canvas(width, height, WHITE);
  if (opts.title) c.text(opts.title, width / 2, MARGIN, BLACK, { scale: TITLE_SCALE, align: 'center' });

  const tiles: FaceTile[] = [];
  for (let i = 0; i < count; i++) {
    const tx = MARGIN + (i % cols) * (tileW + GAP);
    const ty = MARGIN + titleH + Math.floor(i / cols) * (tileH + GAP);
    const correct = preds[i] === labels[i];
    const color = correct ? GOOD_GREEN : BAD_RED;
    const fx = tx + Math.round((tileW - faceW) / 2);
    const fy = ty + FRAME;
    c.fillRect(fx - FRAME, fy - FRAME, faceW + 2 * FRAME, faceW + 2 * FRAME, color);
    c.blitGray(images.subarray(i * size * size, (i + 1) * size * size), size, size, fx, fy, scale);
    const capY = fy + faceW + FRAME + 8;
    const [l1, l2] = captions[i]!;
    c.text(l1, tx + tileW / 2, capY, color, { scale: ts, align: 'center' });
    c.text(l2, tx + tileW / 2, capY + lineH, color, { scale: ts, align: 'center' });
    tiles.push({
      face: { x: fx, y: fy, width: faceW, height: faceW },
      caption: { x: tx, y: capY, width: tileW, height: 2 * lineH },
      correct,
    });
  }
  c.save(file);
  return { file, width, height, tiles };
}
