// One binary file per data folder holding every decoded split (images, labels, file names), so a
// second run skips decoding 35,887 PNGs. The file is tied to a fingerprint of the folder (every file's
// relative path, size and mtime), so adding, removing, replacing or touching a file rebuilds it.
//
// Layout (little-endian), version 1:
//   0   8   magic "FER2013C"
//   8   u32 version
//   12  u32 headerBytes   offset of the pixel block (a multiple of 8)
//   16  u32 count         images
//   20  u32 height, 24 u32 width
//   28  u32 namesBytes    UTF-8 relative paths joined by '\n'
//   32  u32 metaBytes     UTF-8 JSON { skipped, resized }
//   36  u32 reserved (0)
//   40  32  fingerprint   SHA-256 of the folder listing
//   72  count  labels (u8), then count groups (u8, see Group), then names, then meta, zero padding
//   headerBytes  count*height*width pixels (u8, row-major, image after image)
// The file is written to a temporary name and renamed into place, so a reader never sees half a file.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../fsutil.js';
import { IMAGE_SIZE } from './classes.js';

export const CACHE_MAGIC = 'FER2013C';
export const CACHE_VERSION = 1;
const FIXED_HEADER = 72;

/** Where an image comes from: train/, test/PublicTest_*, test/PrivateTest_*, or another test/ file. */
export const Group = { train: 0, public: 1, private: 2, otherTest: 3 } as const;
export type Group = (typeof Group)[keyof typeof Group];

export interface SkippedFile {
  /** Path relative to the data folder ('/' separators); a folder ends with '/'. */
  file: string;
  reason: string;
}

/** Every decoded image of a data folder, in reader order (train then test; class label order; file name). */
export interface DecodedDataset {
  /** Hex SHA-256 of the folder listing the data was decoded from. */
  fingerprint: string;
  count: number;
  /** count*48*48 gray pixels. */
  images: Uint8Array;
  labels: Uint8Array;
  groups: Uint8Array;
  /** Paths relative to the data folder, '/' separators. */
  files: string[];
  skipped: SkippedFile[];
  /** Files that were not 48x48 and were resized (only possible with the resize option). */
  resized: string[];
}

export interface FingerprintItem {
  rel: string;
  size: number;
  mtimeMs: number;
}

/** SHA-256 over the format version, the image size and every listed item (path, size, mtime). */
export function fingerprint(items: readonly FingerprintItem[], extra: readonly string[] = []): string {
  const h = createHash('sha256');
  h.update(`${CACHE_MAGIC} v${CACHE_VERSION} ${IMAGE_SIZE}x${IMAGE_SIZE}\n`);
  // Batch lines into one string per chunk: one update per file costs more than the hashing itself.
  let chunk = '';
  for (const it of items) {
    chunk += `${it.rel}\t${it.size}\t${it.mtimeMs}\n`;
    if (chunk.length > 1 << 16) {
      h.update(chunk);
      chunk = '';
    }
  }
  for (const e of extra) chunk += `!${e}\n`;
  h.update(chunk);
  return h.digest('hex');
}

/** Cache file of a data folder: named after a hash of its absolute path, so several folders can share a cacheDir. */
export function cacheFilePath(cacheDir: string, dataDir: string): string {
  const key = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16);
  return path.resolve(cacheDir, `fer2013-${key}.bin`);
}

export type CacheMiss = { ok: false; reason: string };
export type CacheHit = { ok: true; data: DecodedDataset };

/**
 * Reads a cache file. Returns a miss (with why) when the file is absent, of another format/version,
 * truncated, or when `expectFingerprint` is given and differs: reading stops after the 72-byte header
 * in that case, so a stale cache costs nothing.
 */
export function readCache(file: string, expectFingerprint?: string): CacheHit | CacheMiss {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return { ok: false, reason: 'no cache file' };
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size < FIXED_HEADER) return { ok: false, reason: 'cache file truncated' };
    const head = Buffer.alloc(FIXED_HEADER);
    readFully(fd, head, 0);
    if (head.toString('latin1', 0, 8) !== CACHE_MAGIC) return { ok: false, reason: 'not a cache file' };
    const version = head.readUInt32LE(8);
    if (version !== CACHE_VERSION) return { ok: false, reason: `cache version ${version}, expected ${CACHE_VERSION}` };
    const headerBytes = head.readUInt32LE(12);
    const count = head.readUInt32LE(16);
    const height = head.readUInt32LE(20);
    const width = head.readUInt32LE(24);
    const namesBytes = head.readUInt32LE(28);
    const metaBytes = head.readUInt32LE(32);
    const fp = head.toString('hex', 40, 72);
    if (expectFingerprint !== undefined && fp !== expectFingerprint) return { ok: false, reason: 'data folder changed' };
    if (height !== IMAGE_SIZE || width !== IMAGE_SIZE) return { ok: false, reason: `cache holds ${width}x${height} images` };
    const pixels = count * height * width;
    if (headerBytes < FIXED_HEADER + 2 * count + namesBytes + metaBytes || size !== headerBytes + pixels) {
      return { ok: false, reason: 'cache file truncated or inconsistent' };
    }
    const meta = Buffer.alloc(headerBytes - FIXED_HEADER);
    readFully(fd, meta, FIXED_HEADER);
    const labels = new Uint8Array(count);
    labels.set(meta.subarray(0, count));
    const groups = new Uint8Array(count);
    groups.set(meta.subarray(count, 2 * count));
    let off = 2 * count;
    const files = count === 0 ? [] : meta.toString('utf8', off, off + namesBytes).split('\n');
    off += namesBytes;
    const extra = JSON.parse(meta.toString('utf8', off, off + metaBytes)) as { skipped: SkippedFile[]; resized: string[] };
    if (files.length !== count) return { ok: false, reason: 'cache file names do not match its count' };
    // Pixels go straight into their final array: no intermediate 83 MB buffer.
    const images = new Uint8Array(pixels);
    readFully(fd, images, headerBytes);
    return {
      ok: true,
      data: { fingerprint: fp, count, images, labels, groups, files, skipped: extra.skipped, resized: extra.resized },
    };
  } catch (e) {
    return { ok: false, reason: `unreadable cache file (${(e as Error).message})` };
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes the cache atomically: a temporary file in the same folder, fsync, then rename over `file`. */
export function writeCache(file: string, data: DecodedDataset): void {
  const { count } = data;
  if (data.images.length !== count * IMAGE_SIZE * IMAGE_SIZE || data.labels.length !== count || data.groups.length !== count || data.files.length !== count) {
    throw new Error(`writeCache: inconsistent data set (count ${count}, ${data.images.length} pixels, ${data.labels.length} labels, ${data.files.length} files)`);
  }
  for (const f of data.files) if (f.includes('\n')) throw new Error(`writeCache: file name with a newline: ${JSON.stringify(f)}`);
  const names = Buffer.from(data.files.join('\n'), 'utf8');
  const meta = Buffer.from(JSON.stringify({ skipped: data.skipped, resized: data.resized }), 'utf8');
  const unpadded = FIXED_HEADER + 2 * count + names.length + meta.length;
  const headerBytes = Math.ceil(unpadded / 8) * 8;
  const header = Buffer.alloc(headerBytes);
  header.write(CACHE_MAGIC, 0, 'latin1');
  header.writeUInt32LE(CACHE_VERSION, 8);
  header.writeUInt32LE(headerBytes, 12);
  header.writeUInt32LE(count, 16);
  header.writeUInt32LE(IMAGE_SIZE, 20);
  header.writeUInt32LE(IMAGE_SIZE, 24);
  header.writeUInt32LE(names.length, 28);
  header.writeUInt32LE(meta.length, 32);
  const fp = Buffer.from(data.fingerprint, 'hex');
  if (fp.length !== 32) throw new Error(`writeCache: fingerprint must be 64 hex digits, got ${JSON.stringify(data.fingerprint)}`);
  fp.copy(header, 40);
  header.set(data.labels, FIXED_HEADER);
  header.set(data.groups, FIXED_HEADER + count);
  names.copy(header, FIXED_HEADER + 2 * count);
  meta.copy(header, FIXED_HEADER + 2 * count + names.length);

  writeFileAtomic(file, header, data.images);
}

function readFully(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = fs.readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

