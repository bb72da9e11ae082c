// conv2d's Winograd F(2x2, 3x3) path for 3x3 kernels of stride 1 (forward, and the stride-1 input
// gradient, which conv2d.ts runs as a forward convolution with the flipped kernel): transform the
// weights and the input tiles, multiply the 16 transform positions as one batched matmul (bmm, so
// every adapter gets its tuned GEMM kernel), transform back with the bias and ReLU fused.
// 2.25x fewer multiply-adds than the direct convolution, for ~(16 / 4) x the input and
// (16 / 4) x the output in temporary traffic: it pays where channels are many and maps are small
// (the GEMMs are long in K and N); the tuner weighs it against the direct kernels per shape.
// WGSL: winograd.wgsl (the transforms and their layouts).
import { dispatch, kernelFor, type Kernel } from '../dispatch.js';
import { Tensor, empty, type Shape4 } from '../tensor.js';
import { bmm } from './matmul.js';

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
const WEIGHTS = kernelFor('winograd', 'wino_weights', LAYOUT);
const INPUT = kernelFor('winograd', 'wino_input', LAYOUT);
const OUTPUT = kernelFor('winograd', 'wino_output', LAYOUT);
const OUTPUT_RELU = kernelFor('winograd', 'wino_output', LAYOUT, { RELU: 1 });
const WG = 64;
/** Positions of the 4x4 transform: the GEMMs of one layer. */
const XI = 16;

const ceil4 = (v: number): number => Math.ceil(v / 4) * 4;

/**
 * out [N, Cout, OH, OW] = conv(x, w) + bias (ReLU'd with `relu`) for a 3x3, stride-1 geometry, from
 * x [N, Cin, H, W] and the weights packed as conv2d's forward reads them: [Cin * 9, Cout4].
 */
export function winogradConv3x3(x: Tensor, packed: Tensor, bias: Tensor | null, g: WinogradGeometry, relu: boolean): Tensor<Shape4> {
  const tilesH = Math.ceil(g.oh / 2);
  const tilesW = Math.ceil(g.ow / 2);
  const tiles = g.n * tilesH * tilesW;
  const cin4 = ceil4(g.cin);
  const cout4 = ceil4(g.cout);
  const params = [g.n, g.cin, g.h, g.w, g.cout, g.oh, g.ow, g.pt >>> 0, g.pl >>> 0, tilesH, tilesW, tiles, cin4, cout4, bias ? 1 : 0];
  const run = (k: Kernel, src: Tensor, dst: Tensor, invocations: number): void =>
    dispatch(k, [src.buffer, (bias ?? src).buffer, dst.buffer], params, Math.ceil(invocations / WG));

  const u = empty([XI, cin4, cout4] as const);
  run(WEIGHTS, packed, u, cin4 * cout4);
  const v = empty([XI, tiles, cin4] as const);
  run(INPUT, x, v, tiles * (cin4 / 4));
  const m = bmm(v, u);
  v.dispose();
  u.dispose();
  const out = empty([g.n, g.cout, g.oh, g.ow] as const);
  run(relu ? OUTPUT_RELU : OUTPUT, m, out, tiles * (cout4 / 4));
  m.dispose();
  return out;
}
