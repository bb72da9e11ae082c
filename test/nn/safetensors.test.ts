import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, readdirSync, truncateSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  encodeSafetensors, decodeSafetensors, saveSafetensors, loadSafetensors, saveWeights, loadWeights, fastCnn, type HostTensor,
} from '@fer/nn';
import { useGpu } from '../setup-gpu.js';
import { digest } from './util.js';

useGpu();

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fer-st-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const u32 = (a: ArrayLike<number> & { buffer?: ArrayBufferLike }): Uint32Array =>
  a instanceof Float32Array || a instanceof Int32Array ? new Uint32Array(a.buffer, a.byteOffset, a.length) : Uint32Array.from(a);

// Bit patterns a float round trip can lose: NaN payloads, -0, infinities, subnormals.
const special = new Float32Array(new Uint32Array([0x7fc00001, 0xffc12345, 0x80000000, 0x7f800000, 0xff800000, 0x00000001, 0x807fffff, 0x3f800000]).buffer);
const sample = (): Record<string, HostTensor> => ({
  'b.weight': { dtype: 'F32', shape: [2, 4], data: special },
  'a.bias': { dtype: 'F32', shape: [3], data: new Float32Array([1.5, -2.25, 3e-38]) },
  'c.index': { dtype: 'I32', shape: [2, 2], data: new Int32Array([-1, 0, 2147483647, -2147483648]) },
  'd.count': { dtype: 'U32', shape: [1], data: new Uint32Array([4294967295]) },
  'e.empty': { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
  f: { dtype: 'F32', shape: [], data: new Float32Array([7]) },
});

/** Parses the header by hand, following the spec, independent of decodeSafetensors. */
function parseHeader(bytes: Uint8Array): { n: number; json: string; header: Record<string, any> } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const json = Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8');
  return { n, json, header: JSON.parse(json) };
}

function python(code: string): { ok: boolean; out: string } {
  const r = spawnSync('python3', ['-c', code], { encoding: 'utf8', timeout: 60_000 });
  return { ok: r.status === 0, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

describe('safetensors format', () => {
  it('encode -> decode is bit-exact for every dtype, special floats, scalars and empty tensors', () => {
    const t = sample();
    const back = decodeSafetensors(encodeSafetensors(t, { format: 'pt', epoch: '3' }));
    expect(back.metadata).toEqual({ format: 'pt', epoch: '3' });
    expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(t).sort());
    for (const [k, v] of Object.entries(t)) {
      const b = back.tensors[k]!;
      expect(b.dtype, k).toBe(v.dtype);
      expect(b.shape, k).toEqual(v.shape);
      expect(b.data.constructor, k).toBe(v.data.constructor);
      expect(u32(b.data), k).toEqual(u32(v.data));
    }
  });

  it('header layout follows the spec: u64 LE length, padded with spaces to 8, sorted contiguous offsets', () => {
    const bytes = encodeSafetensors(sample(), { note: 'héllo' });
    const { n, json, header } = parseHeader(bytes);
    expect(n % 8).toBe(0);
    expect(json.trimEnd().length).toBeLessThanOrEqual(n);
    expect(/^ *$/.test(json.slice(json.lastIndexOf('}') + 1))).toBe(true);
    expect(Object.keys(header)).toEqual(['__metadata__', 'a.bias', 'b.weight', 'c.index', 'd.count', 'e.empty', 'f']);
    expect(header.__metadata__).toEqual({ note: 'héllo' });
    expect(header['a.bias']).toEqual({ dtype: 'F32', shape: [3], data_offsets: [0, 12] });
    expect(header['b.weight']).toEqual({ dtype: 'F32', shape: [2, 4], data_offsets: [12, 44] });
    expect(header['c.index']).toEqual({ dtype: 'I32', shape: [2, 2], data_offsets: [44, 60] });
    expect(header['d.count']).toEqual({ dtype: 'U32', shape: [1], data_offsets: [60, 64] });
    expect(header['e.empty']).toEqual({ dtype: 'F32', shape: [0, 3], data_offsets: [64, 64] });
    expect(header.f).toEqual({ dtype: 'F32', shape: [], data_offsets: [64, 68] });
    expect(bytes.length).toBe(8 + n + 68);
    // Little-endian data: a.bias[0] = 1.5 = 0x3fc00000.
    expect([...bytes.subarray(8 + n, 8 + n + 4)]).toEqual([0x00, 0x00, 0xc0, 0x3f]);
    // No metadata: no __metadata__ key.
    expect(Object.keys(parseHeader(encodeSafetensors({ x: sample().f! })).header)).toEqual(['x']);
  });

  it('rejects bad input on write', () => {
    expect(() => encodeSafetensors({ x: { dtype: 'F32', shape: [2], data: [1] } })).toThrow(/tensor 'x' has 1 values for shape \[2\]/);
    expect(() => encodeSafetensors({ x: { dtype: 'F64' as never, shape: [1], data: [1] } })).toThrow(/unsupported dtype 'F64'/);
    expect(() => encodeSafetensors({ x: sample().f! }, { n: 3 as never })).toThrow(/metadata 'n' must be a string/);
  });

  it('a truncated or corrupt file is a clear error naming the file', async () => {
    const file = join(dir, 'trunc.safetensors');
    await saveSafetensors(file, sample());
    const full = readFileSync(file);
    truncateSync(file, full.length - 3);
    await expect(loadSafetensors(file)).rejects.toThrow(new RegExp(`${file}: not a valid safetensors file: .*(truncated\\?)`));
    truncateSync(file, 20);
    await expect(loadSafetensors(file)).rejects.toThrow(/the header needs \d+ bytes but only 12 follow \(truncated\?\)/);
    truncateSync(file, 5);
    await expect(loadSafetensors(file)).rejects.toThrow(/5 bytes, shorter than the 8-byte header length/);
    const garbage = Buffer.from(full);
    garbage.write('#', 8);
    writeFileSync(file, garbage);
    await expect(loadSafetensors(file)).rejects.toThrow(/trunc\.safetensors: not a valid safetensors file: the header is not valid UTF-8 JSON/);
    const huge = Buffer.from(full);
    huge.writeBigUInt64LE(1n << 40n, 0);
    writeFileSync(file, huge);
    await expect(loadSafetensors(file)).rejects.toThrow(/over the 100 MB limit/);
    const extra = Buffer.concat([full, Buffer.alloc(4)]);
    writeFileSync(file, extra);
    await expect(loadSafetensors(file)).rejects.toThrow(/cover 68 bytes of data but the file has 72/);
    await expect(loadSafetensors(join(dir, 'nope.safetensors'))).rejects.toThrow(/cannot read safetensors file .*nope\.safetensors/);
  });

  it('writes atomically: no temporary file left, an existing file is replaced whole', async () => {
    const file = join(dir, 'atomic.safetensors');
    await saveSafetensors(file, sample());
    await saveSafetensors(file, { only: sample().f! }, { v: '2' });
    expect(readdirSync(dir).filter((f) => f.startsWith('atomic'))).toEqual(['atomic.safetensors']);
    const back = await loadSafetensors(file);
    expect(Object.keys(back.tensors)).toEqual(['only']);
    await expect(saveSafetensors(join(dir, 'no-such-dir', 'x.safetensors'), sample())).rejects.toThrow(/x\.safetensors/);
  });

  it('cross-checks with the reference implementation (python safetensors) when it is installed', () => {
    const probe = python('import safetensors.numpy, numpy');
    if (!probe.ok) {
      // Without it the hand-parsed header test above is the check against the spec.
      console.log('python3 with safetensors and numpy not found: reference cross-check not run');
      return;
    }
    const ours = join(dir, 'ours.safetensors');
    writeFileSync(ours, encodeSafetensors(sample(), { format: 'np' }));
    // The reference reads our file...
    const read = python(
      `import json, safetensors.numpy as s, safetensors\n` +
        `d = s.load_file(${JSON.stringify(ours)})\n` +
        `with safetensors.safe_open(${JSON.stringify(ours)}, 'np') as f: meta = f.metadata()\n` +
        `print(json.dumps({'meta': meta, 't': {k: [str(v.dtype), list(v.shape), v.view('u4').reshape(-1).tolist() if v.size else []] for k, v in d.items()}}))`,
    );
    expect(read.ok, read.out).toBe(true);
    const got = JSON.parse(read.out.trim().split('\n').pop()!);
    expect(got.meta).toEqual({ format: 'np' });
    const dt = { F32: 'float32', I32: 'int32', U32: 'uint32' };
    for (const [k, v] of Object.entries(sample())) expect(got.t[k], k).toEqual([dt[v.dtype], v.shape, [...u32(v.data)]]);
    // ... and writes one that we read.
    const theirs = join(dir, 'theirs.safetensors');
    const write = python(
      `import numpy as np, safetensors.numpy as s\n` +
        `s.save_file({'w': np.arange(6, dtype=np.float32).reshape(2, 3) / 7, 'i': np.array([-3, 5], dtype=np.int32), 'z': np.zeros((0,), dtype=np.float32)}, ${JSON.stringify(theirs)}, metadata={'k': 'v'})`,
    );
    expect(write.ok, write.out).toBe(true);
    const back = decodeSafetensors(readFileSync(theirs), theirs);
    expect(back.metadata).toEqual({ k: 'v' });
    expect(back.tensors.w!.shape).toEqual([2, 3]);
    expect([...back.tensors.w!.data]).toEqual([...Float32Array.from([0, 1, 2, 3, 4, 5], (v) => v / 7)]);
    expect([...back.tensors.i!.data]).toEqual([-3, 5]);
    expect(back.tensors.i!.dtype).toBe('I32');
    expect(back.tensors.z!.shape).toEqual([0]);
  });
});

describe('saveWeights / loadWeights', () => {
  it('a module round trips bit-exactly under its state-dict names', async () => {
    const a = fastCnn({ seed: 11 });
    const file = join(dir, 'fast.safetensors');
    await saveWeights(a, file, { model: 'fast', epoch: '7' });
    const { header } = parseHeader(new Uint8Array(readFileSync(file)));
    expect(Object.keys(header).filter((k) => k !== '__metadata__')).toEqual(Object.keys(a.stateDict()).sort());
    expect(header['features.0.weight'].shape).toEqual([32, 1, 3, 3]);
    const b = fastCnn({ seed: 12 });
    const res = await loadWeights(b, file);
    expect(res).toEqual({ missingKeys: [], unexpectedKeys: [], metadata: { model: 'fast', epoch: '7' } });
    for (const [k, t] of Object.entries(a.stateDict())) expect(await digest(b.stateDict()[k]!), k).toEqual(await digest(t));
    a.dispose();
    b.dispose();
  });

  it('loading a checkpoint of another model names the file, the keys and both shapes', async () => {
    const a = fastCnn({ seed: 1 });
    const file = join(dir, 'fast7.safetensors');
    await saveWeights(a, file);
    const b = fastCnn({ seed: 1, numClasses: 5 });
    await expect(loadWeights(b, file)).rejects.toThrow(
      /fast7\.safetensors: loadStateDict: 2 error\(s\) loading into Sequential:\n {2}size mismatch for 'classifier\.4\.weight': the checkpoint has shape \[7, 256\], the model has \[5, 256\]/,
    );
    const c = fastCnn({ seed: 1, inChannels: 3 });
    await expect(loadWeights(c, file)).rejects.toThrow(/'features\.0\.weight': the checkpoint has shape \[32, 1, 3, 3\], the model has \[32, 3, 3, 3\]/);
    expect(existsSync(file)).toBe(true);
    for (const m of [a, b, c]) m.dispose();
  });
});
