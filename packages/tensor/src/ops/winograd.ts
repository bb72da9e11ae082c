// conv2d's Winograd path for 3x3 and 5x5 kernels of stride 1 (forward, and the stride-1 input
// gradient, which conv2d.ts runs as a forward convolution with the flipped kernel): transform the
// weights and the input tiles, multiply the transform positions as one batched matmul (bmm, so
// every adapter gets its tuned GEMM kernel), transform back with the bias and ReLU fused. The
// weight gradient transforms the input tiles and the output-gradient tiles, multiplies them as a
// batched V^T @ dM summed over the tiles, and transforms that back to the kernel.
// F(2x2, 3x3): 2.25x fewer multiply-adds than the direct convolution, for 16 / 4 = 4x the input and
// the output in temporaries; F(3x3, 3x3): 3.24x fewer, for 25 / 9 = 2.8x (a 6x6 map is 2x2 whole
// tiles of it, where F(4x4, 3x3) would compute 8x8 outputs); F(4x4, 3x3): 4x fewer, for 36 / 16 = 2.25x (but tiles of 4x4 outputs
// waste more on small maps: a 6x6 map takes 2x2 tiles of 16 outputs, as many GEMM rows per image as
// F(2x2, 3x3)'s 3x3 tiles of 4); F(6x6, 3x3): 5.06x fewer, for 64 / 36 = 1.78x (6x6, 12x12, 24x24
// and 48x48 maps are whole tiles of it; its fp32 rounding is the loosest of these); F(2x2, 5x5):
// 2.78x fewer, for 36 / 4 = 9x the output; a 5x5 kernel split into four 3x3 pieces (F(4x4, 3x3) or
// F(6x6, 3x3) over 4x the input channels): 2.78x or 3.52x fewer, for 9x or 7.1x the input but 2.25x or
// 1.78x the output, and 4x longer GEMMs; F(4x4, 5x5): 6.25x fewer, for 64 / 16 = 4x the input and
// the output (F(6x6, 3x3)'s points and B). It pays
// where channels are many (long GEMMs in K and N); the tuner weighs it against the direct kernels
// per shape.
// WGSL: winograd.wgsl (the transforms and their layouts).
import { gpu } from '../device.js';
import { dispatch, kernelFor, type Kernel } from '../dispatch.js';
import { Tensor, empty, type Shape3, type Shape4 } from '../tensor.js';
import { bmm } from './matmul.js';
import { add } from './elementwise.js';

/** The conv geometry conv2d.ts resolves (output size and leading padding included). */
export interface WinogradGeometry {
  n: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  oh: number;
  ow: number;
  pt: number;
  pl: number;
}

const LAYOUT = ['read', 'read', 'rw'] as const;
const WG = 64;
/** Outputs per tile side and kernel side: F(2x2, 3x3), F(3x3, 3x3), F(4x4, 3x3), F(6x6, 3x3), F(2x2, 5x5) or F(4x4, 5x5). */
export type WinogradTile = 2 | 3 | 4 | 6;
export type WinogradKernel = 3 | 5;
/** A Winograd form: F(tile x tile, k x k), or with `split` (k 5) F(tile x tile, 3x3) on the kernel's four 3x3 pieces. */
export interface WinogradForm {
  tile: WinogradTile;
  k: WinogradKernel;
  split?: boolean;
}

const ceil4 = (v: number): number => Math.ceil(v / 4) * 4;

// Which invocation order the transforms use (TILE_MAJOR in winograd.wgsl): setWinogradTileMajor, else
// env FER_WINO_TILE_MAJOR=1/0 (for A/B measurements), else tile-major on hardware GPUs (a warp reads
// neighbouring image columns and writes neighbouring output columns; not yet measured on one) and
// group-major on CPU adapters (lavapipe: the output transform took 21 ms group-major against 28
// tile-major, 128 -> 512 channels at 12x12, F(4x4, 3x3)).
let forcedTileMajor: boolean | null = null;
function tileMajor(): boolean {
  if (forcedTileMajor !== null) return forcedTileMajor;
  const env = typeof process !== 'undefined' ? process.env?.['FER_WINO_TILE_MAJOR'] : undefined;
  if (env === '1' || env === '0') return env === '1';
  return !gpu().info.software;
}
/** Tests: the transforms' invocation order (true: tile-major); null restores the default. Returns the previous setting. */
export function setWinogradTileMajor(v: boolean | null): boolean | null {
  const prev = forcedTileMajor;
  forcedTileMajor = v;
  return prev;
}

let chunkLimit: number | null = null;
/**
 * Tests: the most bytes one temporary (V or M) may take, in place of the device's largest storage
 * binding, so that small batches run in chunks of images too; null restores the device's limit.
 * Returns the previous setting.
 */
export function setWinogradChunkBytes(bytes: number | null): number | null {
  const prev = chunkLimit;
  chunkLimit = bytes;
  return prev;
}

/** The entry points that read SPLIT; the output side of a split kernel is plain F(tile, 3x3)'s (one pipeline for both). */
const READS_SPLIT = new Set(['wino_weights', 'wino_input', 'wino_grad_weights']);

/** Shapes and dispatch helpers shared by the forward and the weight gradient. */
function plan(g: WinogradGeometry, bias: Tensor | null, { tile, k, split = false }: WinogradForm) {
  // split: a 5x5 kernel as four 3x3 pieces under F(tile, 3x3), as 4x the input channels (SPLIT in
  // winograd.wgsl). The transforms exist for these forms only (the 8-point ones are the largest
  // whose fp32 rounding stays near the direct sum's).
  const form = `${split ? 'split ' : ''}F(${tile}x${tile}, ${k}x${k})`;
  const known = split ? k === 5 && (tile === 4 || tile === 6) : k === 3 || tile === 2 || tile === 4;
  if (!known) throw new Error(`winogradConv: ${form} is not supported`);
  const side = split ? 3 : k;
  // The GEMMs of one layer: one per position of the (tile + k - 1)^2 transform.
  const xi = (tile + side - 1) ** 2;
  const tilesH = Math.ceil(g.oh / tile);
  const tilesW = Math.ceil(g.ow / tile);
  const perImage = tilesH * tilesW;
  const cin4 = (split ? 4 : 1) * ceil4(g.cin);
  const cout4 = ceil4(g.cout);
  // Images per chunk: the tile temporaries [xi, tiles, cin4] and [xi, tiles, cout4] must each fit
  // one storage binding (128 MiB on lavapipe: with F(2x2, 3x3), 64 images of 64 channels at 48x48
  // need 144 MiB).
  const maxBinding = chunkLimit ?? gpu().device.limits.maxStorageBufferBindingSize;
  const perChunk = Math.max(1, Math.min(g.n, Math.floor(maxBinding / (xi * perImage * Math.max(cin4, cout4) * 4))));
  const params = (n0: number, images: number): number[] =>
    [g.n, g.cin, g.h, g.w, g.cout, g.oh, g.ow, g.pt >>> 0, g.pl >>> 0, tilesH, tilesW, images * perImage, cin4, cout4, bias ? 1 : 0, n0];
  const kernel = (entry: string, constants: Record<string, number> = {}): Kernel =>
    kernelFor('winograd', entry, LAYOUT, { TILE: tile, KSIZE: side, TILE_MAJOR: +tileMajor(), ...(split && READS_SPLIT.has(entry) ? { SPLIT: 1 } : {}), ...constants });
  const run = (entry: string, src: Tensor, dst: Tensor, p: number[], invocations: number, constants?: Record<string, number>): void =>
    dispatch(kernel(entry, constants), [src.buffer, (bias ?? src).buffer, dst.buffer], p, Math.ceil(invocations / WG));
  // The chunks of images: each one's tile count and params.
  const chunks: Array<{ tiles: number; p: number[] }> = [];
  for (let n0 = 0; n0 < g.n; n0 += perChunk) {
    const images = Math.min(perChunk, g.n - n0);
    chunks.push({ tiles: images * perImage, p: params(n0, images) });
  }
  // wino_grad_weights: an invocation per row of dU (with split, each piece's channels in turn) and output channel.
  const gradWeightInvocations = g.cout * (split ? cin4 : g.cin);
  return { xi, cin4, cout4, params, run, chunks, gradWeightInvocations };
}

/**
 * out [N, Cout, OH, OW] = conv(x, w) + bias (ReLU'd with `relu`) for a k x k, stride-1 geometry
 * (F(2x2, 3x3), F(3x3, 3x3), F(4x4, 3x3), F(6x6, 3x3), F(2x2, 5x5), F(4x4, 5x5), or with `split` (tile
 * 4 or 6, k 5) F(tile, 3x3) on the 5x5 kernel's four 3x3 pieces), from x [N, Cin, H, W] and the weights
 * w [Cout, Cin, k, k] as conv2d holds them. `flipped`: the stride-1 input gradient's convolution (g its
 * geometry), from the forward's w [Cin, Cout, k, k], channels swapped and taps reversed as they are read.
 * With `keepInput`, the input tiles V (x's transform, [xi, tiles, cin4]) are returned as `input` instead
 * of freed, for a weight gradient of the same form to reuse (winogradWeightGrad's `input`); only when
 * the batch runs as one chunk (else `input` is null).
 */
export function winogradConv(
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  g: WinogradGeometry,
  relu: boolean,
  form: WinogradForm,
  { keepInput = false, flipped = false }: { keepInput?: boolean; flipped?: boolean } = {},
): { out: Tensor<Shape4>; input: Tensor<Shape3> | null } {
  const { xi, cin4, cout4, params, run, chunks } = plan(g, bias, form);
  const u = empty([xi, cin4, cout4] as const);
  run('wino_weights', w, u, params(0, g.n), cin4 * cout4, flipped ? { FLIPPED: 1 } : {});
  const out = empty([g.n, g.cout, g.oh, g.ow] as const);
  const keep = keepInput && chunks.length === 1;
  let input: Tensor<Shape3> | null = null;
  for (const { tiles, p } of chunks) {
    const v = empty([xi, tiles, cin4] as const);
    run('wino_input', x, v, p, tiles * (cin4 / 4));
    const m = bmm(v, u);
    if (keep) input = v;
    else v.dispose();
    run('wino_output', m, out, p, tiles * (cout4 / 4), { RELU: +relu });
    m.dispose();
  }
  u.dispose();
  return { out, input };
}

/**
 * dL/dw [Cout, Cin, k, k] of the same convolution, from its input x and output gradient gy. `input`:
 * x's tiles V as winogradConv kept them for the same geometry and form (one chunk); used, not freed.
 */
export function winogradWeightGrad(gy: Tensor, x: Tensor, g: WinogradGeometry, form: WinogradForm, input: Tensor<Shape3> | null = null): Tensor<Shape4> {
  const { xi, cin4, cout4, params, run, chunks, gradWeightInvocations } = plan(g, null, form);
  if (input && (chunks.length !== 1 || input.size !== xi * chunks[0]!.tiles * cin4))
    throw new Error(`winogradWeightGrad: the kept input tiles hold ${input.size} floats, this geometry's one chunk needs ${xi * chunks[0]!.tiles * cin4} (${chunks.length} chunks)`);
  // dU summed over the chunks (one chunk: its product as it is).
  let du: Tensor | null = null;
  for (const { tiles, p } of chunks) {
    let v = input;
    if (!v) {
      v = empty([xi, tiles, cin4] as const);
      run('wino_input', x, v, p, tiles * (cin4 / 4));
    }
    const dm = empty([xi, tiles, cout4] as const);
    run('wino_grad_output', gy, dm, p, tiles * (cout4 / 4));
    const part = bmm(v, dm, { transA: true });
    if (v !== input) v.dispose();
    dm.dispose();
    if (du === null) {
      du = part;
      continue;
    }
    const sum: Tensor = add(du, part);
    du.dispose();
    part.dispose();
    du = sum;
  }
  const dw = empty([g.cout, g.cin, form.k, form.k] as const);
  run('wino_grad_weights', du!, dw, params(0, g.n), gradWeightInvocations);
  du!.dispose();
  return dw;
}
