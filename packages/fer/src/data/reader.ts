// FER2013 folder reader: train/<class>/*.png and test/<class>/{PublicTest,PrivateTest}_*.png, decoded with
// pngjs into 48x48 gray uint8 images, with an optional on-disk cache of the whole decoded data set.
//
// Colour handling (pngjs expands every PNG to 8-bit RGBA first):
// - gray and gray+alpha: the gray value, unchanged;
// - RGB, RGBA and palette images: ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B, in the fixed-point
//   form Pillow's convert('L') uses, so the result matches a Python pipeline bit for bit;
// - alpha is ignored (as Pillow's convert('L') does): the colour under a transparent pixel is kept.
//   A tRNS transparent colour key is turned to black by pngjs;
// - 16-bit samples are rescaled to 8 bits by pngjs (round(v * 255 / 65535)); 1/2/4-bit gray likewise.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { CLASSES, IMAGE_PIXELS, IMAGE_SIZE, classIndex } from './classes.js';
import {
  Group, cacheFilePath, fingerprint, readCache, writeCache,
  type DecodedDataset, type FingerprintItem, type SkippedFile,
} from './cache.js';

export type { SkippedFile } from './cache.js';

/** train: train/; public: test/PublicTest_*; private: test/PrivateTest_*; test: all of test/. */
export type Split = 'train' | 'public' | 'private' | 'test';
export const SPLITS: readonly Split[] = ['train', 'public', 'private', 'test'];

/** A data folder that is missing, empty, or holds something that is not FER2013. */
export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}

const LAYOUT_HELP =
  'Put FER2013 as 48x48 grayscale PNGs in train/<class>/*.png and test/<class>/{PublicTest,PrivateTest}_*.png ' +
  `(class folders: ${CLASSES.join(', ')}) under data/ in the working directory, ` +
  'or point FER_DATA or --data at the folder that holds train/ and test/.';

export interface ResolveWhere {
  /** Folder `data/` and `../shared/fer2013` are looked up from; default process.cwd(). */
  cwd?: string;
  /** Repository root; default found from this module's location (packages/fer/{src,dist}/data -> ../../../..). */
  repoRoot?: string;
}

/** The repository root, from this module's own path (works for src/ under vitest and dist/ under node). */
export function repoRootFromModule(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
}

function looksLikeData(dir: string): boolean {
  return isDir(path.join(dir, 'train')) || isDir(path.join(dir, 'test'));
}

/**
 * The FER2013 folder to use, first that exists of: the --data flag, FER_DATA, `data/` in the working
 * directory, `../shared/fer2013` next to the repository root, `../shared/fer2013` from the working
 * directory. A flag or FER_DATA that is given but does not hold train/ or test/ is an error rather than
 * a silent fallback to another folder. Returns an absolute path.
 */
export function resolveDataDir(flag?: string, env: string | undefined = process.env.FER_DATA, where: ResolveWhere = {}): string {
  const cwd = where.cwd ?? process.cwd();
  const explicit: [string, string | undefined][] = [['--data', flag], ['FER_DATA', env]];
  for (const [what, value] of explicit) {
    if (value === undefined || value === '') continue;
    const dir = path.resolve(cwd, value);
    if (looksLikeData(dir) || (fs.existsSync(dir) && fs.statSync(dir).isFile())) return dir;
    const why = isDir(dir) ? 'holds neither train/ nor test/' : 'does not exist';
    throw new DataError(`${what} ${value}: ${dir} ${why}. ${LAYOUT_HELP}`);
  }
  const root = where.repoRoot ?? repoRootFromModule();
  const candidates = [
    path.resolve(cwd, 'data'),
    path.resolve(root, '../shared/fer2013'),
    path.resolve(cwd, '../shared/fer2013'),
  ];
  const tried: string[] = [];
  for (const dir of candidates) {
    if (tried.includes(dir)) continue;
    tried.push(dir);
    if (looksLikeData(dir)) return dir;
  }
  throw new DataError(
    `FER2013 not found (no --data flag, FER_DATA unset); tried:\n${tried.map((d) => `  ${d}`).join('\n')}\n${LAYOUT_HELP}`,
  );
}

export interface LoadOptions {
  /** Resize images that are not 48x48 (bilinear, half-pixel centres, no antialiasing). Without it such a file is an error. */
  resize?: boolean;
  /** Skip (and list in `skipped`) unreadable/corrupt/wrong-size files and unknown class folders instead of failing. */
  skipBad?: boolean;
  /**
   * Folder of the decoded-data cache; default `.cache` in the working directory; null disables it.
   * With the cache, the first load decodes the whole data set (all splits) to write one file.
   */
  cacheDir?: string | null;
  /** Called while decoding with (files done, files to decode). */
  onProgress?: (done: number, total: number) => void;
}

export interface SplitData {
  split: Split;
  /** Absolute data folder. */
  dir: string;
  count: number;
  /** count*48*48 gray pixels, row-major, image after image. */
  images: Uint8Array;
  /** Label per image: index into CLASSES. */
  labels: Uint8Array;
  /** Paths relative to `dir`, '/' separators. */
  files: string[];
  /** Files and folders of this split that were skipped (only with skipBad), with why. */
  skipped: SkippedFile[];
  /** Files of this split that were resized to 48x48 (only with resize). */
  resized: string[];
  /** 'hit': read from the cache; 'built': decoded and cache written; 'off': decoded without a cache. */
  cache: 'hit' | 'built' | 'off';
  /** Set when the cache could not be written (the data loaded anyway). */
  cacheWarning?: string;
}

interface ScanEntry extends FingerprintItem {
  label: number;
  group: Group;
}

interface Scan {
  dir: string;
  has: { train: boolean; test: boolean };
  /** In reader order: train then test; within a folder by class label, then file name (code-point order). */
  entries: ScanEntry[];
  /** Things that are not FER2013 images: unknown class folders, stray files, non-PNG files. */
  problems: SkippedFile[];
  fingerprint: string;
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function groupOf(folder: 'train' | 'test', name: string): Group {
  if (folder === 'train') return Group.train;
  if (name.startsWith('PublicTest_')) return Group.public;
  if (name.startsWith('PrivateTest_')) return Group.private;
  return Group.otherTest;
}

function inSplit(group: number, split: Split): boolean {
  switch (split) {
    case 'train': return group === Group.train;
    case 'public': return group === Group.public;
    case 'private': return group === Group.private;
    case 'test': return group !== Group.train;
  }
}

function skippedInSplit(s: SkippedFile, split: Split): boolean {
  const folder = s.file.split('/')[0];
  if (split === 'train') return folder === 'train';
  if (folder !== 'test') return false;
  if (split === 'test') return true;
  // A skipped file that is clearly the other subset's does not concern this one; folders and odd names do.
  const base = s.file.endsWith('/') ? '' : path.posix.basename(s.file);
  const g = groupOf('test', base);
  return g === Group.otherTest || inSplit(g, split);
}

function statEntry(abs: string): fs.Stats | null {
  try {
    return fs.statSync(abs);
  } catch {
    return null;
  }
}

/**
 * Lists train/ and test/ (those that exist) with path, size and mtime of every PNG, and fingerprints
 * the listing. Hidden files (dot files such as .DS_Store) are ignored.
 */
export function scanDataDir(dir: string): Scan {
  const abs = path.resolve(dir);
  const has = { train: isDir(path.join(abs, 'train')), test: isDir(path.join(abs, 'test')) };
  const entries: ScanEntry[] = [];
  const problems: SkippedFile[] = [];
  for (const folder of ['train', 'test'] as const) {
    if (!has[folder]) continue;
    const top = path.join(abs, folder);
    const classDirs: { name: string; label: number }[] = [];
    for (const d of fs.readdirSync(top, { withFileTypes: true }).sort((a, b) => byName(a.name, b.name))) {
      if (d.name.startsWith('.')) continue;
      const isDirectory = d.isDirectory() || (d.isSymbolicLink() && isDir(path.join(top, d.name)));
      if (!isDirectory) {
        problems.push({ file: `${folder}/${d.name}`, reason: `a file directly in ${folder}/ (expected ${folder}/<class>/*.png)` });
        continue;
      }
      const label = classIndex(d.name);
      if (label < 0) {
        problems.push({ file: `${folder}/${d.name}/`, reason: `unknown class folder "${d.name}" (FER2013 classes: ${CLASSES.join(', ')})` });
        continue;
      }
      classDirs.push({ name: d.name, label });
    }
    classDirs.sort((a, b) => a.label - b.label || byName(a.name, b.name));
    for (const { name: cls, label } of classDirs) {
      const cdir = path.join(top, cls);
      const names = fs.readdirSync(cdir).sort(byName);
      for (const name of names) {
        if (name.startsWith('.')) continue;
        const rel = `${folder}/${cls}/${name}`;
        const st = statEntry(path.join(cdir, name));
        if (st === null) {
          problems.push({ file: rel, reason: 'cannot stat (broken link?)' });
        } else if (st.isDirectory()) {
          problems.push({ file: `${rel}/`, reason: 'a folder inside a class folder' });
        } else if (!name.toLowerCase().endsWith('.png')) {
          problems.push({ file: rel, reason: 'not a .png file' });
        } else {
          entries.push({ rel, size: st.size, mtimeMs: st.mtimeMs, label, group: groupOf(folder, name) });
        }
      }
    }
  }
  const extra = [`train:${has.train}`, `test:${has.test}`, ...problems.map((p) => `${p.file}\t${p.reason}`)];
  return { dir: abs, has, entries, problems, fingerprint: fingerprint(entries, extra) };
}

/** Why a file could not be turned into a 48x48 face; `wrongSize` is set when only the size was wrong. */
class FaceError extends Error {
  constructor(message: string, readonly wrongSize = false) {
    super(message);
  }
}

/**
 * Decodes one PNG into `out` (48*48 bytes at `offset`). Returns true when it was resized.
 * Throws FaceError for unreadable data or (without `resize`) a size other than 48x48.
 */
export function decodeFace(buf: Buffer, out: Uint8Array, offset: number, resize: boolean): boolean {
  let png: ReturnType<typeof PNG.sync.read>;
  try {
    png = PNG.sync.read(buf);
  } catch (e) {
    throw new FaceError(`not a readable PNG (${(e as Error).message})`);
  }
  const { width, height, data } = png;
  if (!(width > 0 && height > 0) || data.length !== width * height * 4) {
    throw new FaceError(`not a readable PNG (decoded ${data.length} bytes for ${width}x${height})`);
  }
  const isSize = width === IMAGE_SIZE && height === IMAGE_SIZE;
  if (!isSize && !resize) {
    throw new FaceError(`is ${width}x${height}, expected ${IMAGE_SIZE}x${IMAGE_SIZE} (the resize option resizes such files)`, true);
  }
  const gray = isSize ? out.subarray(offset, offset + IMAGE_PIXELS) : new Uint8Array(width * height);
  for (let i = 0, j = 0; i < gray.length; i++, j += 4) {
    // Pillow's L = (19595 R + 38470 G + 7471 B + 2^15) >> 16; exact for R = G = B.
    gray[i] = (data[j]! * 19595 + data[j + 1]! * 38470 + data[j + 2]! * 7471 + 0x8000) >>> 16;
  }
  if (isSize) return false;
  resizeBilinear(gray, width, height, out.subarray(offset, offset + IMAGE_PIXELS), IMAGE_SIZE, IMAGE_SIZE);
  return true;
}

/** Bilinear resize of a gray image with half-pixel centres (as OpenCV INTER_LINEAR), edges clamped. */
export function resizeBilinear(src: Uint8Array, sw: number, sh: number, dst: Uint8Array, dw: number, dh: number): void {
  const fx = sw / dw;
  const fy = sh / dh;
  for (let y = 0; y < dh; y++) {
    const sy = Math.min(Math.max((y + 0.5) * fy - 0.5, 0), sh - 1);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, sh - 1);
    const wy = sy - y0;
    for (let x = 0; x < dw; x++) {
      const sx = Math.min(Math.max((x + 0.5) * fx - 0.5, 0), sw - 1);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, sw - 1);
      const wx = sx - x0;
      const top = src[y0 * sw + x0]! * (1 - wx) + src[y0 * sw + x1]! * wx;
      const bot = src[y1 * sw + x0]! * (1 - wx) + src[y1 * sw + x1]! * wx;
      dst[y * dw + x] = Math.round(top * (1 - wy) + bot * wy);
    }
  }
}

/** Decodes the listed entries; bad files throw a DataError naming them unless skipBad. */
function decodeEntries(scan: Scan, entries: readonly ScanEntry[], problems: readonly SkippedFile[], options: LoadOptions): DecodedDataset {
  const { skipBad = false, resize = false, onProgress } = options;
  const n = entries.length;
  const images = new Uint8Array(n * IMAGE_PIXELS);
  const labels = new Uint8Array(n);
  const groups = new Uint8Array(n);
  const files: string[] = [];
  const skipped: SkippedFile[] = [...problems];
  const resized: string[] = [];
  let k = 0;
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    const abs = path.join(scan.dir, e.rel);
    try {
      let buf: Buffer;
      try {
        buf = fs.readFileSync(abs);
      } catch (err) {
        throw new FaceError(`cannot be read (${(err as Error).message})`);
      }
      if (decodeFace(buf, images, k * IMAGE_PIXELS, resize)) resized.push(e.rel);
      labels[k] = e.label;
      groups[k] = e.group;
      files.push(e.rel);
      k++;
    } catch (err) {
      if (!(err instanceof FaceError)) throw err;
      if (!skipBad) {
        const hint = err.wrongSize ? '' : ' (the skipBad option skips such files)';
        throw new DataError(`${abs} ${err.message}${hint}`);
      }
      skipped.push({ file: e.rel, reason: err.message });
    }
    if (onProgress && ((i + 1) % 512 === 0 || i + 1 === n)) onProgress(i + 1, n);
  }
  return {
    fingerprint: scan.fingerprint,
    count: k,
    images: k === n ? images : images.slice(0, k * IMAGE_PIXELS),
    labels: k === n ? labels : labels.slice(0, k),
    groups: k === n ? groups : groups.slice(0, k),
    files,
    skipped,
    resized,
  };
}

function expectedLayout(split: Split): string {
  switch (split) {
    case 'train': return 'train/<class>/*.png';
    case 'public': return 'test/<class>/PublicTest_*.png';
    case 'private': return 'test/<class>/PrivateTest_*.png';
    case 'test': return 'test/<class>/*.png';
  }
}

/** Missing folders, folders without images and structural problems, before anything is decoded. */
function checkScan(scan: Scan, splits: readonly Split[], skipBad: boolean): void {
  for (const split of splits) {
    const folder = split === 'train' ? 'train' : 'test';
    if (!scan.has[folder]) {
      throw new DataError(`${path.join(scan.dir, folder)}/ not found: expected ${expectedLayout(split)}. ${LAYOUT_HELP}`);
    }
    if (!scan.entries.some((e) => inSplit(e.group, split))) {
      throw new DataError(`${path.join(scan.dir, folder)}/ holds no images for split "${split}": expected ${expectedLayout(split)}. ${LAYOUT_HELP}`);
    }
  }
  if (!skipBad && scan.problems.length > 0) {
    const p = scan.problems[0]!;
    const more = scan.problems.length > 1 ? ` (and ${scan.problems.length - 1} more)` : '';
    throw new DataError(`${path.join(scan.dir, p.file)}: ${p.reason}${more}. Remove it, or pass skipBad to skip it.`);
  }
}

function selectSplit(ds: DecodedDataset, split: Split, dir: string, cache: SplitData['cache']): SplitData {
  const idx: number[] = [];
  for (let i = 0; i < ds.count; i++) if (inSplit(ds.groups[i]!, split)) idx.push(i);
  const count = idx.length;
  const skipped = ds.skipped.filter((s) => skippedInSplit(s, split));
  if (count === 0) {
    throw new DataError(`${dir}: no loadable images for split "${split}" (${skipped.length} skipped; first: ${skipped[0]?.file ?? 'none'})`);
  }
  const contiguous = idx[count - 1]! - idx[0]! + 1 === count;
  let images: Uint8Array;
  let labels: Uint8Array;
  if (contiguous) {
    // train, and test as a whole, are one run of the reader order: views, no copy.
    images = ds.images.subarray(idx[0]! * IMAGE_PIXELS, (idx[0]! + count) * IMAGE_PIXELS);
    labels = ds.labels.subarray(idx[0]!, idx[0]! + count);
  } else {
    images = new Uint8Array(count * IMAGE_PIXELS);
    labels = new Uint8Array(count);
    for (let k = 0; k < count; k++) {
      const i = idx[k]!;
      images.set(ds.images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS), k * IMAGE_PIXELS);
      labels[k] = ds.labels[i]!;
    }
  }
  const inThis = new Set(idx.map((i) => ds.files[i]!));
  return {
    split, dir, count, images, labels,
    files: idx.map((i) => ds.files[i]!),
    skipped,
    resized: ds.resized.filter((f) => inThis.has(f)),
    cache,
  };
}

/**
 * Loads several splits of a FER2013 folder with one scan (and one cache read).
 * Errors (DataError) name the offending folder or file.
 */
export function loadSplits<S extends Split>(dir: string, splits: readonly S[], options: LoadOptions = {}): Record<S, SplitData> {
  const abs = path.resolve(dir);
  // A packed data set (a cache file, e.g. carried to a machine without the PNG folders) loads as is.
  if (fs.existsSync(abs) && fs.statSync(abs).isFile()) {
    const got = readCache(abs);
    if (!got.ok) throw new DataError(`${abs} is neither a data folder nor a packed FER2013 file (${got.reason})`);
    const out = {} as Record<S, SplitData>;
    for (const s of splits) out[s] = selectSplit(got.data, s, abs, 'hit');
    return out;
  }
  if (!isDir(abs)) throw new DataError(`data folder ${abs} does not exist. ${LAYOUT_HELP}`);
  const skipBad = options.skipBad ?? false;
  const resize = options.resize ?? false;
  const scan = scanDataDir(abs);
  checkScan(scan, splits, skipBad);

  let ds: DecodedDataset;
  let cache: SplitData['cache'] = 'off';
  let cacheWarning: string | undefined;
  const cacheDir = options.cacheDir === undefined ? '.cache' : options.cacheDir;
  if (cacheDir === null) {
    const wanted = scan.entries.filter((e) => splits.some((s) => inSplit(e.group, s)));
    ds = decodeEntries(scan, wanted, scan.problems, options);
  } else {
    const file = cacheFilePath(cacheDir, abs);
    const got = readCache(file, scan.fingerprint);
    // A cache built with skipBad/resize is only valid for a caller who allows what it skipped/resized;
    // otherwise rebuild, which reports the offending file as an error.
    if (got.ok && (skipBad || got.data.skipped.length === 0) && (resize || got.data.resized.length === 0)) {
      ds = got.data;
      cache = 'hit';
      options.onProgress?.(ds.count, ds.count);
    } else {
      ds = decodeEntries(scan, scan.entries, scan.problems, options);
      cache = 'built';
      try {
        writeCache(file, ds);
      } catch (e) {
        cacheWarning = `could not write the data cache ${file}: ${(e as Error).message}`;
        process.emitWarning(cacheWarning);
      }
    }
  }
  const out = {} as Record<S, SplitData>;
  for (const s of splits) {
    out[s] = selectSplit(ds, s, abs, cache);
    if (cacheWarning !== undefined) out[s].cacheWarning = cacheWarning;
  }
  return out;
}

/** Loads one split; see loadSplits. */
export function loadSplit(dir: string, split: Split, options: LoadOptions = {}): SplitData {
  return loadSplits(dir, [split], options)[split];
}
