// Keras-style model.summary(): one row per layer with its output shape (by shape inference, no GPU
// work) and parameter count, then total / trainable / non-trainable counts (BatchNorm running
// statistics are non-trainable, as in Keras) and the inference FLOPs of one image.
import type { Shape } from '@fer/tensor';
import { Module } from './module.js';
import { Sequential } from './layers/sequential.js';

export interface SummaryRow {
  /** Dotted module path ('features.0'). */
  name: string;
  type: string;
  /** With batch size 1 (printed as None). */
  outputShape: Shape;
  /** Parameters plus buffers (Keras' Param # column). */
  params: number;
  trainable: number;
  flops: number;
}

export interface SummaryInfo {
  rows: SummaryRow[];
  total: number;
  trainable: number;
  nonTrainable: number;
  /** Inference FLOPs for one image; a multiply-add counts 2. */
  flops: number;
  inputShape: Shape;
  outputShape: Shape;
}

function count(ts: ReadonlyArray<readonly [string, { size: number }]>): number {
  return ts.reduce((s, [, t]) => s + t.size, 0);
}

/** Leaf rows: Sequential containers are expanded (in order), any other module is one row. */
function rowsOf(m: Module, path: string, inShape: Shape, rows: SummaryRow[]): Shape {
  if (m instanceof Sequential && m.ownParameters().length + m.ownBuffersList().length === 0) {
    let s = inShape;
    for (const [name, child] of m.namedChildren()) s = rowsOf(child, path ? `${path}.${name}` : name, s, rows);
    return s;
  }
  const out = m.outputShape(inShape);
  const trainable = count(m.namedParameters());
  rows.push({ name: path || '(model)', type: m.typeName, outputShape: out, params: trainable + count(m.namedBuffers()), trainable, flops: m.flops(inShape) });
  return out;
}

/** The numbers summary() prints, for an input of one image of `inputShape` (without the batch axis, e.g. [1, 48, 48]). */
export function summarize(model: Module, inputShape: Shape): SummaryInfo {
  if (!Array.isArray(inputShape) || !inputShape.every((d) => Number.isInteger(d) && d > 0))
    throw new Error(`summary: inputShape must list positive sizes without the batch axis (e.g. [1, 48, 48]), got ${JSON.stringify(inputShape)}`);
  const rows: SummaryRow[] = [];
  const input = [1, ...inputShape];
  const outputShape = rowsOf(model, '', input, rows);
  const trainable = count(model.namedParameters());
  const nonTrainable = count(model.namedBuffers());
  return { rows, total: trainable + nonTrainable, trainable, nonTrainable, flops: rows.reduce((s, r) => s + r.flops, 0), inputShape: input, outputShape };
}

const fmtInt = (n: number): string => n.toLocaleString('en-US');

function fmtBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u ? v.toFixed(2) : v} ${units[u]}`;
}

export function fmtFlops(n: number): string {
  const units: Array<[number, string]> = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'K']];
  for (const [k, s] of units) if (n >= k) return `${(n / k).toFixed(2)} ${s}FLOPs`;
  return `${n} FLOPs`;
}

const fmtShapeNone = (s: Shape): string => `(None, ${s.slice(1).join(', ')})`;

/** A Keras-like table; `name` titles it. Every tensor here is f32, so sizes are 4 bytes per parameter. */
export function summary(model: Module, inputShape: Shape, options: { name?: string } = {}): string {
  const info = summarize(model, inputShape);
  const cells = info.rows.map((r) => [`${r.name} (${r.type})`, fmtShapeNone(r.outputShape), fmtInt(r.params)]);
  const head = ['Layer (type)', 'Output Shape', 'Param #'];
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)) + 2);
  const line = (c: string[]): string => ` ${c[0]!.padEnd(w[0]!)}${c[1]!.padEnd(w[1]!)}${c[2]!.padStart(w[2]! - 2)}`;
  const width = w[0]! + w[1]! + w[2]!;
  const out = [
    `Model: "${options.name ?? model.typeName}"`,
    '_'.repeat(width),
    line(head),
    '='.repeat(width),
    ...cells.map(line),
    '='.repeat(width),
    `Total params: ${fmtInt(info.total)} (${fmtBytes(info.total * 4)})`,
    `Trainable params: ${fmtInt(info.trainable)} (${fmtBytes(info.trainable * 4)})`,
    `Non-trainable params: ${fmtInt(info.nonTrainable)} (${fmtBytes(info.nonTrainable * 4)})`,
    `Forward FLOPs per image: ${fmtFlops(info.flops)} (${fmtInt(info.flops)}; a multiply-add counts 2)`,
    `Input: ${fmtShapeNone(info.inputShape)} -> output: ${fmtShapeNone(info.outputShape)}`,
    '_'.repeat(width),
  ];
  return out.join('\n');
}
