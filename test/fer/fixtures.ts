// Writes small FER2013-shaped PNG folders for the data-layer tests.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import type * as PngJs from 'pngjs';

// pngjs is a dependency of packages/fer, not of the repository root: load it from there.
const require = createRequire(new URL('../../packages/fer/package.json', import.meta.url));
export const { PNG } = require('pngjs') as typeof PngJs;

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `fer-${prefix}-`));
}

function write(file: string, buf: Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, buf);
}

/** An 8-bit gray PNG: pixel (x, y) = f(x, y). */
export function grayPng(w: number, h: number, f: (x: number, y: number) => number): Buffer {
  const png = new PNG({ width: w, height: h });
  const gray = Buffer.alloc(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) gray[y * w + x] = f(x, y);
  png.data = gray;
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
}

/** A 16-bit gray PNG with every sample = v (0..65535). */
export function gray16Png(w: number, h: number, v: number): Buffer {
  const png = new PNG({ width: w, height: h });
  const data = new Uint16Array(w * h).fill(v);
  png.data = Buffer.from(data.buffer);
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 16 });
}

/** An 8-bit RGB (alpha = false) or RGBA PNG with every pixel = rgba. */
export function colorPng(w: number, h: number, rgba: [number, number, number, number], alpha: boolean): Buffer {
  const png = new PNG({ width: w, height: h });
  for (let i = 0; i < w * h; i++) png.data.set(rgba, i * 4);
  return PNG.sync.write(png, { colorType: alpha ? 6 : 2, inputColorType: 6, inputHasAlpha: true, bitDepth: 8 });
}

/** The value a fixture image's pixel (x, y) has: distinct per image (id) and per position. */
export const pix = (id: number, x: number, y: number) => (id * 7 + x + 3 * y) % 256;

export const FIXTURE = [
  // Class folders in an order that differs from both the label order and alphabetical order.
  { rel: 'train/neutral/Training_3.png', id: 3, label: 6 },
  { rel: 'train/angry/Training_2.png', id: 2, label: 0 },
  { rel: 'train/angry/Training_1.png', id: 1, label: 0 },
  { rel: 'train/surprise/Training_4.png', id: 4, label: 5 },
  { rel: 'test/angry/PublicTest_1.png', id: 5, label: 0 },
  { rel: 'test/angry/PrivateTest_2.png', id: 6, label: 0 },
  { rel: 'test/neutral/PublicTest_3.png', id: 7, label: 6 },
  { rel: 'test/neutral/PrivateTest_4.png', id: 8, label: 6 },
  { rel: 'test/surprise/PublicTest_5.png', id: 9, label: 5 },
] as const;

/** The valid fixture (plus a hidden file that must be ignored); returns its folder. */
export function makeFixture(root = tempDir('data')): string {
  for (const f of FIXTURE) write(path.join(root, f.rel), grayPng(48, 48, (x, y) => pix(f.id, x, y)));
  write(path.join(root, 'train/angry/.DS_Store'), Buffer.from('not an image'));
  return root;
}

export function addFile(root: string, rel: string, buf: Buffer): void {
  write(path.join(root, rel), buf);
}
