// The safetensors format (huggingface/safetensors), so PyTorch's safetensors.torch.load_file reads
// our weights: an 8-byte little-endian u64 header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}} padded with
// spaces to a multiple of 8, then the little-endian tensor bytes, contiguous, offsets relative to
// the end of the header.
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { fmtShape, shapeSize, type Tensor } from '@fer/tensor';
import { Module, ST_DTYPE, toTyped, type HostTensor, type StDType, type LoadStateDictOptions, type LoadStateDictResult } from './module.js';

export type { HostTensor, StDType };

/** A file's content: tensors by name (host typed arrays) and the free-form string metadata. */
export interface Safetensors {
  tensors: Record<string, HostTensor & { data: Float32Array | Int32Array | Uint32Array }>;
  metadata: Record<string, string>;
}

const DTYPE_BYTES: Record<StDType, number> = { F32: 4, I32: 4, U32: 4 };
/** The reference implementation refuses headers over 100 MB. */
const MAX_HEADER = 100_000_000;

function littleEndian(): boolean {
  return new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;
}

/** Serialises tensors (sorted by name, as the reference writer orders equal-alignment dtypes) and metadata. */
export function encodeSafetensors(tensors: Readonly<Record<string, HostTensor>>, metadata?: Readonly<Record<string, string>>): Uint8Array {
  if (!littleEndian()) throw new Error('safetensors: this writer needs a little-endian host');
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata))
      if (typeof v !== 'string') throw new Error(`safetensors: metadata '${k}' must be a string, got ${typeof v}`);
    header.__metadata__ = { ...metadata };
  }
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new Error(`safetensors: '__metadata__' is reserved and cannot name a tensor`);
    const t = tensors[name]!;
    if (!(t.dtype in DTYPE_BYTES)) throw new Error(`safetensors: tensor '${name}' has unsupported dtype '${String(t.dtype)}' (F32, I32, U32)`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new Error(`safetensors: tensor '${name}' has an invalid shape ${JSON.stringify(t.shape)}`);
    const n = shapeSize(t.shape);
    if (t.data.length !== n) throw new Error(`safetensors: tensor '${name}' has ${t.data.length} values for shape ${fmtShape(t.shape)} (${n} expected)`);
    const typed = toTyped(t.dtype, t.data);
    const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.byteLength] };
    parts.push(bytes);
    offset += bytes.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Parses and validates a safetensors byte image; `source` (a file name) prefixes every error. */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors data'): Safetensors {
  const fail = (why: string): never => {
    throw new Error(`${source}: not a valid safetensors file: ${why}`);
  };
  if (bytes.byteLength < 8) fail(`${bytes.byteLength} bytes, shorter than the 8-byte header length (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) fail(`header length ${n64} is over the 100 MB limit (corrupt?)`);
  const n = Number(n64);
  if (8 + n > bytes.byteLength) fail(`the header needs ${n} bytes but only ${bytes.byteLength - 8} follow (truncated?)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(`the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('the header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const spans: Array<[number, number, string]> = [];
  const tensors: Safetensors['tensors'] = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__ '${k}' is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) fail(`entry '${name}' is not an object`);
    const dtype = e.dtype as StDType;
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) fail(`tensor '${name}' has dtype ${JSON.stringify(e.dtype)}; this reader supports F32, I32, U32`);
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[0] > off[1])
      fail(`tensor '${name}' has invalid data_offsets ${JSON.stringify(off)}`);
    const [begin, end] = off as [number, number];
    const count = shapeSize(shape as number[]);
    if (end - begin !== count * DTYPE_BYTES[dtype])
      fail(`tensor '${name}' (${dtype} ${fmtShape(shape as number[])}) needs ${count * DTYPE_BYTES[dtype]} bytes, its data_offsets span ${end - begin}`);
    if (end > dataLen) fail(`tensor '${name}' ends at byte ${end} of the data, which has only ${dataLen} bytes (truncated?)`);
    spans.push([begin, end, name]);
    // A copy (new Uint8Array(view) copies; a Node Buffer's slice would not): the data start need
    // not be 4-byte aligned in someone else's file.
    const raw = new Uint8Array(bytes.subarray(dataStart + begin, dataStart + end));
    const data = dtype === 'F32' ? new Float32Array(raw.buffer) : dtype === 'I32' ? new Int32Array(raw.buffer) : new Uint32Array(raw.buffer);
    tensors[name] = { dtype, shape: shape as number[], data };
  }
  // As the reference reader: the tensors tile the data buffer exactly, no gaps, no overlaps.
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let at = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== at) fail(`tensor '${name}' starts at byte ${begin}, expected ${at} (overlap or gap in the data)`);
    at = end;
  }
  if (at !== dataLen) fail(`the tensors cover ${at} bytes of data but the file has ${dataLen} (trailing bytes or corrupt header)`);
  if (!littleEndian()) fail('this reader needs a little-endian host');
  return { tensors, metadata };
}

/** Writes a safetensors file atomically: a temporary file in the same folder, fsync, then rename. */
export async function saveSafetensors(file: string, tensors: Readonly<Record<string, HostTensor>>, metadata?: Readonly<Record<string, string>>): Promise<void> {
  const bytes = encodeSafetensors(tensors, metadata);
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw new Error(`saving ${file}: ${(e as Error).message}`);
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw new Error(`saving ${file}: ${(e as Error).message}`);
  }
}

export async function loadSafetensors(file: string): Promise<Safetensors> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new Error(`cannot read safetensors file ${file}: ${(e as Error).message}`);
  }
  return decodeSafetensors(bytes, file);
}

/** Reads every tensor of a state dict back from the GPU. */
export async function toHost(dict: Readonly<Record<string, Tensor>>): Promise<Record<string, HostTensor>> {
  const out: Record<string, HostTensor> = {};
  for (const [k, t] of Object.entries(dict)) out[k] = { dtype: ST_DTYPE[t.dtype], shape: [...t.shape], data: await t.toArray() };
  return out;
}

/** Saves a module's state dict (parameters and buffers under their module paths) as safetensors. */
export async function saveWeights(module: Module, file: string, metadata?: Readonly<Record<string, string>>): Promise<void> {
  await saveSafetensors(file, await toHost(module.stateDict()), metadata);
}

/**
 * Loads a safetensors file into a module (strict by default: missing/unexpected keys and shape
 * mismatches are errors that name the file). Returns the file's metadata and the key report.
 */
export async function loadWeights(
  module: Module,
  file: string,
  options: LoadStateDictOptions = {},
): Promise<LoadStateDictResult & { metadata: Record<string, string> }> {
  const { tensors, metadata } = await loadSafetensors(file);
  try {
    return { ...module.loadStateDict(tensors, options), metadata };
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}
