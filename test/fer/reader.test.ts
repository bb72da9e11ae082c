import { describe, it, expect, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLASSES, IMAGE_PIXELS, classCounts } from '../../packages/fer/src/data/classes.js';
import {
  DataError, loadSplit, loadSplits, resolveDataDir, resizeBilinear, repoRootFromModule, type SplitData,
} from '../../packages/fer/src/data/reader.js';
import { cacheFilePath, readCache, writeCache, Group } from '../../packages/fer/src/data/cache.js';
import { FIXTURE, addFile, colorPng, gray16Png, grayPng, makeFixture, pix, tempDir } from './fixtures.js';

const made: string[] = [];
const tmp = (p: string) => {
  const d = tempDir(p);
  made.push(d);
  return d;
};
const fixture = () => makeFixture(tmp('data'));
afterAll(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

const sameBytes = (a: Uint8Array, b: Uint8Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

const NO_CACHE = { cacheDir: null } as const;

function pixel(d: SplitData, i: number, x: number, y: number): number {
  return d.images[i * IMAGE_PIXELS + y * 48 + x]!;
}

/** Checks every image of a split against the fixture's generator. */
function expectFixtureImages(d: SplitData): void {
  for (let i = 0; i < d.count; i++) {
    const f = FIXTURE.find((e) => e.rel === d.files[i])!;
    expect(f, d.files[i]).toBeDefined();
    expect(d.labels[i]).toBe(f.label);
    for (const [x, y] of [[0, 0], [47, 0], [5, 17], [47, 47]] as const) expect(pixel(d, i, x, y)).toBe(pix(f.id, x, y));
  }
}

describe('classes', () => {
  it('uses the FER2013 label order, not alphabetical', () => {
    expect([...CLASSES]).toEqual(['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral']);
    expect([...CLASSES].sort()).not.toEqual([...CLASSES]);
  });
});

describe('reader', () => {
  it('loads each split in label order, then by file name, with labels = CLASSES index', () => {
    const dir = fixture();
    const all = loadSplits(dir, ['train', 'public', 'private', 'test'], NO_CACHE);
    expect(all.train.files).toEqual([
      'train/angry/Training_1.png', 'train/angry/Training_2.png', 'train/surprise/Training_4.png', 'train/neutral/Training_3.png',
    ]);
    expect([...all.train.labels]).toEqual([0, 0, 5, 6]);
    expect(all.public.files).toEqual(['test/angry/PublicTest_1.png', 'test/surprise/PublicTest_5.png', 'test/neutral/PublicTest_3.png']);
    expect([...all.public.labels]).toEqual([0, 5, 6]);
    expect(all.private.files).toEqual(['test/angry/PrivateTest_2.png', 'test/neutral/PrivateTest_4.png']);
    expect(all.test.count).toBe(5);
    expect(new Set(all.test.files)).toEqual(new Set([...all.public.files, ...all.private.files]));
    for (const s of Object.values(all)) {
      expect(s.images.length).toBe(s.count * 48 * 48);
      expect(s.labels.length).toBe(s.count);
      expect(s.skipped).toEqual([]);
      expect(s.cache).toBe('off');
      expectFixtureImages(s);
    }
    expect(all.train.dir).toBe(path.resolve(dir));
  });

  it('reports progress up to (total, total)', () => {
    const calls: [number, number][] = [];
    loadSplit(fixture(), 'train', { cacheDir: null, onProgress: (d, t) => calls.push([d, t]) });
    expect(calls.at(-1)).toEqual([4, 4]);
  });

  it('names a corrupt file, and skips and counts it with skipBad', () => {
    for (const bad of [Buffer.from('this is not a png'), grayPng(48, 48, () => 9).subarray(0, 60)]) {
      const dir = fixture();
      addFile(dir, 'train/angry/Training_9.png', bad);
      expect(() => loadSplit(dir, 'train', NO_CACHE)).toThrow(DataError);
      expect(() => loadSplit(dir, 'train', NO_CACHE)).toThrow(/train\/angry\/Training_9\.png.*not a readable PNG/);
      const d = loadSplit(dir, 'train', { cacheDir: null, skipBad: true });
      expect(d.count).toBe(4);
      expect(d.skipped).toHaveLength(1);
      expect(d.skipped[0]!.file).toBe('train/angry/Training_9.png');
      expect(d.skipped[0]!.reason).toMatch(/not a readable PNG/);
      expectFixtureImages(d);
      // The corrupt file is in train/: the test split is unaffected.
      expect(loadSplit(dir, 'test', NO_CACHE).skipped).toEqual([]);
    }
  });

  it('converts RGB and RGBA to gray with BT.601 luma (alpha ignored)', () => {
    const dir = fixture();
    addFile(dir, 'train/happy/Training_5.png', colorPng(48, 48, [200, 100, 50, 255], false));
    addFile(dir, 'train/happy/Training_6.png', colorPng(48, 48, [200, 100, 50, 0], true));
    addFile(dir, 'train/happy/Training_7.png', colorPng(48, 48, [90, 90, 90, 255], false));
    const d = loadSplit(dir, 'train', NO_CACHE);
    const i = d.files.indexOf('train/happy/Training_5.png');
    // 0.299*200 + 0.587*100 + 0.114*50 = 124.2
    expect(pixel(d, i, 10, 10)).toBe(124);
    expect(d.labels[i]).toBe(3);
    expect(pixel(d, d.files.indexOf('train/happy/Training_6.png'), 3, 40)).toBe(124);
    expect(pixel(d, d.files.indexOf('train/happy/Training_7.png'), 0, 0)).toBe(90); // gray RGB stays exact
  });

  it('rescales 16-bit gray to 8 bits', () => {
    const dir = fixture();
    addFile(dir, 'train/sad/Training_8.png', gray16Png(48, 48, 0x8080));
    const d = loadSplit(dir, 'train', NO_CACHE);
    expect(pixel(d, d.files.indexOf('train/sad/Training_8.png'), 1, 1)).toBe(128);
  });

  it('rejects a wrong-size file naming it and its size; resizes it with resize', () => {
    const dir = fixture();
    addFile(dir, 'test/fear/PublicTest_7.png', grayPng(64, 32, () => 77));
    expect(() => loadSplit(dir, 'public', NO_CACHE)).toThrow(/test\/fear\/PublicTest_7\.png is 64x32, expected 48x48/);
    const d = loadSplit(dir, 'public', { cacheDir: null, resize: true });
    const i = d.files.indexOf('test/fear/PublicTest_7.png');
    expect(d.resized).toEqual(['test/fear/PublicTest_7.png']);
    expect(d.labels[i]).toBe(2);
    expect(pixel(d, i, 0, 0)).toBe(77);
    expect(pixel(d, i, 47, 47)).toBe(77);
    // skipBad without resize skips it.
    const s = loadSplit(dir, 'public', { cacheDir: null, skipBad: true });
    expect(s.count).toBe(3);
    expect(s.skipped.map((x) => x.file)).toEqual(['test/fear/PublicTest_7.png']);
  });

  it('resizes bilinearly with half-pixel centres (2x2 blocks downsample exactly)', () => {
    const src = new Uint8Array(96 * 96);
    for (let y = 0; y < 96; y++) for (let x = 0; x < 96; x++) src[y * 96 + x] = (x >> 1) + (y >> 1);
    const dst = new Uint8Array(48 * 48);
    resizeBilinear(src, 96, 96, dst, 48, 48);
    for (let y = 0; y < 48; y++) for (let x = 0; x < 48; x++) expect(dst[y * 48 + x]).toBe(x + y);
  });

  it('rejects an unknown class folder by name; skips it with skipBad', () => {
    const dir = fixture();
    addFile(dir, 'train/contempt/Training_11.png', grayPng(48, 48, () => 1));
    expect(() => loadSplit(dir, 'train', NO_CACHE)).toThrow(/train\/contempt\/.*unknown class folder "contempt"/);
    const d = loadSplit(dir, 'train', { cacheDir: null, skipBad: true });
    expect(d.count).toBe(4);
    expect(d.skipped.map((s) => s.file)).toEqual(['train/contempt/']);
  });

  it('rejects stray files and non-PNG files', () => {
    const dir = fixture();
    addFile(dir, 'train/notes.txt', Buffer.from('x'));
    expect(() => loadSplit(dir, 'train', NO_CACHE)).toThrow(/train\/notes\.txt.*directly in train\//);
    const dir2 = fixture();
    addFile(dir2, 'test/happy/PublicTest_9.jpg', Buffer.from('x'));
    expect(() => loadSplit(dir2, 'public', NO_CACHE)).toThrow(/PublicTest_9\.jpg.*not a \.png/);
  });

  it('names a missing or empty folder and what it expected', () => {
    const missing = path.join(tmp('none'), 'nothing-here');
    expect(() => loadSplit(missing, 'train', NO_CACHE)).toThrow(/nothing-here does not exist/);

    const onlyTrain = tmp('only-train');
    addFile(onlyTrain, 'train/happy/Training_1.png', grayPng(48, 48, () => 5));
    expect(loadSplit(onlyTrain, 'train', NO_CACHE).count).toBe(1);
    expect(() => loadSplit(onlyTrain, 'public', NO_CACHE)).toThrow(DataError);
    expect(() => loadSplit(onlyTrain, 'public', NO_CACHE)).toThrow(/test\/ not found: expected test\/<class>\/PublicTest_\*\.png/);

    const emptyTrain = tmp('empty');
    fs.mkdirSync(path.join(emptyTrain, 'train/angry'), { recursive: true });
    expect(() => loadSplit(emptyTrain, 'train', NO_CACHE)).toThrow(/train\/ holds no images for split "train": expected train\/<class>\/\*\.png/);

    const noPrivate = tmp('no-private');
    addFile(noPrivate, 'test/happy/PublicTest_1.png', grayPng(48, 48, () => 5));
    expect(loadSplit(noPrivate, 'public', NO_CACHE).count).toBe(1);
    expect(() => loadSplit(noPrivate, 'private', NO_CACHE)).toThrow(/PrivateTest_\*\.png/);
  });
});

describe('cache', () => {
  it('builds once, then hits; rebuilds when a file is added, touched or the cache is damaged', () => {
    const dir = fixture();
    const cacheDir = tmp('cache');
    const a = loadSplits(dir, ['train', 'test'], { cacheDir });
    expect(a.train.cache).toBe('built');
    const listing = fs.readdirSync(cacheDir);
    expect(listing).toHaveLength(1); // one file, no temporaries left
    expect(path.join(cacheDir, listing[0]!)).toBe(cacheFilePath(cacheDir, dir));

    const progress: number[] = [];
    const b = loadSplits(dir, ['train', 'test', 'public', 'private'], { cacheDir, onProgress: (d) => progress.push(d) });
    expect(b.train.cache).toBe('hit');
    expect(progress).toEqual([9]);
    for (const s of ['train', 'test'] as const) {
      expect(b[s].files).toEqual(a[s].files);
      expect(b[s].labels).toEqual(a[s].labels);
      expect(b[s].images).toEqual(a[s].images);
    }
    expectFixtureImages(b.public);
    expectFixtureImages(b.private);
    expect(b.public.count + b.private.count).toBe(b.test.count);

    addFile(dir, 'train/fear/Training_20.png', grayPng(48, 48, () => 200));
    const c = loadSplit(dir, 'train', { cacheDir });
    expect(c.cache).toBe('built');
    expect(c.count).toBe(5);
    expect(loadSplit(dir, 'train', { cacheDir }).cache).toBe('hit');

    // Same size, new content and mtime: the fingerprint sees the mtime.
    const f = path.join(dir, 'train/fear/Training_20.png');
    fs.writeFileSync(f, grayPng(48, 48, () => 201));
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(f, later, later);
    const d = loadSplit(dir, 'train', { cacheDir });
    expect(d.cache).toBe('built');
    expect(d.images[d.files.indexOf('train/fear/Training_20.png') * IMAGE_PIXELS]).toBe(201);

    fs.rmSync(f);
    expect(loadSplit(dir, 'train', { cacheDir }).count).toBe(4);

    // A truncated cache file is rebuilt, not trusted.
    const file = cacheFilePath(cacheDir, dir);
    fs.truncateSync(file, fs.statSync(file).size - 10);
    expect(readCache(file).ok).toBe(false);
    expect(loadSplit(dir, 'train', { cacheDir }).cache).toBe('built');
    expect(loadSplit(dir, 'train', { cacheDir }).cache).toBe('hit');
  });

  it('does not let a cache built with skipBad hide a bad file from a strict load', () => {
    const dir = fixture();
    const cacheDir = tmp('cache');
    addFile(dir, 'test/happy/PrivateTest_30.png', Buffer.from('garbage'));
    const a = loadSplit(dir, 'private', { cacheDir, skipBad: true });
    expect(a.cache).toBe('built');
    expect(a.skipped.map((s) => s.file)).toEqual(['test/happy/PrivateTest_30.png']);
    const b = loadSplit(dir, 'private', { cacheDir, skipBad: true });
    expect(b.cache).toBe('hit');
    expect(b.skipped).toEqual(a.skipped);
    expect(loadSplit(dir, 'public', { cacheDir, skipBad: true }).skipped).toEqual([]);
    expect(() => loadSplit(dir, 'private', { cacheDir })).toThrow(/PrivateTest_30\.png not a readable PNG/);
  });

  it('round-trips through writeCache/readCache and rejects a fingerprint or version mismatch', () => {
    const file = path.join(tmp('cache'), 'sub', 'x.bin');
    const images = new Uint8Array(3 * IMAGE_PIXELS).map((_, i) => (i * 13) & 255);
    const data = {
      fingerprint: 'ab'.repeat(32), count: 3, images,
      labels: Uint8Array.from([6, 0, 3]), groups: Uint8Array.from([Group.train, Group.public, Group.private]),
      files: ['train/neutral/ä.png', 'test/angry/PublicTest_1.png', 'test/happy/PrivateTest_2.png'],
      skipped: [{ file: 'train/x.png', reason: 'why' }], resized: ['train/neutral/ä.png'],
    };
    writeCache(file, data);
    const got = readCache(file, data.fingerprint);
    expect(got.ok).toBe(true);
    if (got.ok) expect(got.data).toEqual(data);
    expect(readCache(file, 'cd'.repeat(32))).toEqual({ ok: false, reason: 'data folder changed' });
    const buf = fs.readFileSync(file);
    buf.writeUInt32LE(99, 8);
    fs.writeFileSync(file, buf);
    expect(readCache(file)).toMatchObject({ ok: false, reason: expect.stringMatching(/version 99/) });
    expect(readCache(path.join(path.dirname(file), 'missing.bin')).ok).toBe(false);
  });
});

describe('resolveDataDir', () => {
  it('prefers --data, then FER_DATA, then data/, then ../shared/fer2013 of the repo root', () => {
    const cwd = tmp('cwd');
    const root = path.join(tmp('root'), 'repo');
    const flagDir = fixture();
    const envDir = fixture();
    const shared = path.join(root, '../shared/fer2013');
    fs.mkdirSync(path.join(shared, 'train'), { recursive: true });
    const where = { cwd, repoRoot: root };

    expect(resolveDataDir(undefined, '', where)).toBe(shared);
    fs.mkdirSync(path.join(cwd, 'data/test'), { recursive: true });
    expect(resolveDataDir(undefined, '', where)).toBe(path.join(cwd, 'data'));
    expect(resolveDataDir(undefined, envDir, where)).toBe(envDir);
    expect(resolveDataDir(flagDir, envDir, where)).toBe(flagDir);
    // A relative flag is taken from cwd.
    expect(resolveDataDir('data', envDir, where)).toBe(path.join(cwd, 'data'));
  });

  it('treats a given but missing --data or FER_DATA as an error, not a fallback', () => {
    const where = { cwd: tmp('cwd'), repoRoot: tmp('root') };
    expect(() => resolveDataDir('/no/such/fer', undefined, where)).toThrow(/--data \/no\/such\/fer: .* does not exist/);
    expect(() => resolveDataDir(undefined, where.cwd, where)).toThrow(/FER_DATA .* holds neither train\/ nor test\//);
  });

  it('lists the paths tried and how to provide the data when nothing is found', () => {
    const cwd = path.join(tmp('cwd'), 'a');
    const root = path.join(tmp('root'), 'b');
    let msg = '';
    try {
      resolveDataDir(undefined, '', { cwd, repoRoot: root });
    } catch (e) {
      expect(e).toBeInstanceOf(DataError);
      msg = (e as Error).message;
    }
    expect(msg).toContain(path.join(cwd, 'data'));
    expect(msg).toContain(path.resolve(root, '../shared/fer2013'));
    expect(msg).toContain(path.resolve(cwd, '../shared/fer2013'));
    expect(msg).toMatch(/train\/<class>\/\*\.png/);
    expect(msg).toMatch(/FER_DATA/);
    expect(msg).toMatch(/--data/);
  });

  it('finds the repository root from the module path', () => {
    expect(fs.existsSync(path.join(repoRootFromModule(), 'packages/fer/package.json'))).toBe(true);
  });
});

// The real data set, as CI has it next to the repository (see shared/fer2013/README.md).
const REAL = path.resolve(repoRootFromModule(), '../shared/fer2013');
const README_TRAIN = [3995, 436, 4097, 7215, 4830, 3171, 4965];
const README_PUBLIC = [467, 56, 496, 895, 653, 415, 607];
const README_PRIVATE = [491, 55, 528, 879, 594, 416, 626];

describe.runIf(fs.existsSync(path.join(REAL, 'train')))('real FER2013', () => {
  it('loads all splits through the cache with the README counts', { timeout: 600_000 }, () => {
    const cacheDir = tmp('real-cache');
    const splits = ['train', 'public', 'private', 'test'] as const;
    let t = performance.now();
    const first = loadSplits(REAL, splits, { cacheDir });
    const firstMs = performance.now() - t;
    t = performance.now();
    const second = loadSplits(REAL, splits, { cacheDir });
    const secondMs = performance.now() - t;
    console.log(`FER2013 load: first (decode + write cache) ${firstMs.toFixed(0)} ms, second (cache) ${secondMs.toFixed(0)} ms`);
    expect(first.train.cache).toBe('built');
    expect(second.train.cache).toBe('hit');
    for (const r of [first, second]) {
      expect(r.train.count).toBe(28709);
      expect(r.public.count).toBe(3589);
      expect(r.private.count).toBe(3589);
      expect(r.test.count).toBe(7178);
      expect(classCounts(r.train.labels)).toEqual(README_TRAIN);
      expect(classCounts(r.public.labels)).toEqual(README_PUBLIC);
      expect(classCounts(r.private.labels)).toEqual(README_PRIVATE);
      expect(classCounts(r.test.labels)).toEqual(README_PUBLIC.map((v, i) => v + README_PRIVATE[i]!));
      for (const s of splits) expect(r[s].skipped).toEqual([]);
      expect(r.train.files.every((f) => /^train\/[a-z]+\/Training_\d+\.png$/.test(f))).toBe(true);
      expect(r.public.files.every((f) => /^test\/[a-z]+\/PublicTest_\d+\.png$/.test(f))).toBe(true);
    }
    // Buffer.equals: vitest's toEqual walks 66 MB element by element far too slowly.
    expect(sameBytes(second.train.images, first.train.images)).toBe(true);
    expect(sameBytes(second.private.images, first.private.images)).toBe(true);
    // A face is not blank.
    const face = first.train.images.subarray(0, IMAGE_PIXELS);
    expect(Math.max(...face) - Math.min(...face)).toBeGreaterThan(50);
  });
});

describe('packed data file', () => {
  it('a cache file given as the data path loads without the PNG folders', async () => {
    const { makeFixture, tempDir } = await import('./fixtures.js');
    const { loadSplits, resolveDataDir, DataError } = await import('@fer/fer');
    const { readdirSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const root = makeFixture();
    const cacheDir = tempDir('packed');
    const fromDir = loadSplits(root, ['train', 'public'], { cacheDir });
    const packed = join(cacheDir, readdirSync(cacheDir)[0]!);
    expect(resolveDataDir(packed)).toBe(packed);
    const fromFile = loadSplits(packed, ['train', 'public']);
    expect(fromFile.train.count).toBe(fromDir.train.count);
    expect(Buffer.from(fromFile.train.images).equals(Buffer.from(fromDir.train.images))).toBe(true);
    expect(Array.from(fromFile.public.labels)).toEqual(Array.from(fromDir.public.labels));
    const junk = join(cacheDir, 'junk.bin');
    writeFileSync(junk, 'not a cache');
    expect(() => loadSplits(junk, ['train'])).toThrow(DataError);
    expect(() => loadSplits(junk, ['train'])).toThrow(/neither a data folder nor a packed FER2013 file/);
  });
});
