// Winograd F(2x2, 3x3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015) for 3x3 kernels of stride 1: each 2x2 block of outputs (a tile) comes from the
// 4x4 input patch under it as Y = A^T [ (G g G^T) .* (B^T d B) ] A, so the 36 multiply-adds per
// tile, input and output channel of the direct convolution become 16. Over all channels the
// elementwise products are 16 independent GEMMs (one per position xi of the 4x4 transform):
//   M[xi][tile, co] = sum_ci V[xi][tile, ci] * U[xi][ci, co]
// which ops/winograd.ts runs as one batched matmul (bmm) between the three kernels here:
//   wino_weights: U[xi][ci][co] = (G g G^T)[xi] from the packed weights [Cin*9, Cout4] (conv2d's
//                 forward layout, so the flipped input-gradient weights work too);
//   wino_input:   V[xi][tile][ci] = (B^T d B)[xi], 4 channels per invocation as one vec4;
//   wino_output:  out = A^T M A (+ bias, ReLU) into NCHW, 4 channels per invocation.
// Channels are padded to multiples of 4 (cin4, cout4) with zeros, so every GEMM operand row is
// whole vec4s. Tiles are numbered (n, ty, tx); tile (ty, tx) covers output rows 2ty, 2ty + 1 and
// reads input rows 2ty - pt .. 2ty - pt + 3 (zeros outside the image), columns likewise.
//
// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
// A^T = [1 1 1 0; 0 1 -1 -1]: only additions and halvings, so fp32 rounding stays near the direct
// sum's (unlike larger tiles such as F(4x4, 3x3), whose transforms have coefficients up to 8).

struct Params {
  n: u32, cin: u32, h: u32, w: u32, cout: u32, oh: u32, ow: u32, pt: i32, pl: i32,
  tilesH: u32, tilesW: u32, tiles: u32, cin4: u32, cout4: u32, hasBias: u32,
}

override RELU: bool = false;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(0) var<storage, read> src4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst4: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> P: Params;

fn invocation(wid: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
  return linear_group(wid, nwg) * 64u + li;
}

// Rows of B^T d for the four rows d0..d3 of a patch (each a vec4 over 4 channels, per column).
fn bt4(d0: vec4<f32>, d1: vec4<f32>, d2: vec4<f32>, d3: vec4<f32>) -> array<vec4<f32>, 4> {
  return array<vec4<f32>, 4>(d0 - d2, d1 + d2, d2 - d1, d1 - d3);
}

@compute @workgroup_size(64)
fn wino_weights(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = invocation(wid, nwg, li);
  if (i >= P.cin4 * P.cout4) { return; }
  let ci = i / P.cout4;
  let co = i % P.cout4;
  var g: array<f32, 9>;
  if (ci < P.cin) {
    for (var k = 0u; k < 9u; k++) { g[k] = src[(ci * 9u + k) * P.cout4 + co]; }
  }
  // Gg (4 x 3), then (Gg) G^T (4 x 4).
  var t: array<f32, 12>;
  for (var c = 0u; c < 3u; c++) {
    let g0 = g[c];
    let g1 = g[3u + c];
    let g2 = g[6u + c];
    t[c] = g0;
    t[3u + c] = 0.5 * (g0 + g1 + g2);
    t[6u + c] = 0.5 * (g0 - g1 + g2);
    t[9u + c] = g2;
  }
  let plane = P.cin4 * P.cout4;
  for (var r = 0u; r < 4u; r++) {
    let t0 = t[r * 3u];
    let t1 = t[r * 3u + 1u];
    let t2 = t[r * 3u + 2u];
    let u = array<f32, 4>(t0, 0.5 * (t0 + t1 + t2), 0.5 * (t0 - t1 + t2), t2);
    for (var c = 0u; c < 4u; c++) { dst[(r * 4u + c) * plane + i] = u[c]; }
  }
}

// x at (plane, row, column), zero outside the image.
fn pixel(plane: u32, r: i32, c: i32) -> f32 {
  if (r < 0 || c < 0 || r >= i32(P.h) || c >= i32(P.w)) { return 0.0; }
  return src[(plane * P.h + u32(r)) * P.w + u32(c)];
}

@compute @workgroup_size(64)
fn wino_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = invocation(wid, nwg, li);
  let groups = P.cin4 / 4u;
  if (i >= P.tiles * groups) { return; }
  let c4 = i % groups;
  let p = i / groups;
  let perImage = P.tilesH * P.tilesW;
  let n = p / perImage;
  let ty = (p % perImage) / P.tilesW;
  let tx = p % P.tilesW;
  let r0 = 2 * i32(ty) - P.pt;
  let q0 = 2 * i32(tx) - P.pl;
  // d[r * 4 + c]: the patch value at (r, c) of the 4 channels 4 c4 .. 4 c4 + 3 (zeros past cin).
  var d: array<vec4<f32>, 16>;
  for (var j = 0u; j < 4u; j++) {
    let ci = c4 * 4u + j;
    if (ci >= P.cin) { break; }
    let plane = n * P.cin + ci;
    for (var r = 0u; r < 4u; r++) {
      for (var c = 0u; c < 4u; c++) { d[r * 4u + c][j] = pixel(plane, r0 + i32(r), q0 + i32(c)); }
    }
  }
  // B^T d per column, then (B^T d) B per row.
  var t: array<vec4<f32>, 16>;
  for (var c = 0u; c < 4u; c++) {
    let b = bt4(d[c], d[4u + c], d[8u + c], d[12u + c]);
    for (var r = 0u; r < 4u; r++) { t[r * 4u + c] = b[r]; }
  }
  let stride = P.tiles * groups;
  for (var r = 0u; r < 4u; r++) {
    let v = bt4(t[r * 4u], t[r * 4u + 1u], t[r * 4u + 2u], t[r * 4u + 3u]);
    for (var c = 0u; c < 4u; c++) { dst4[(r * 4u + c) * stride + i] = v[c]; }
  }
}

@compute @workgroup_size(64)
fn wino_output(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = invocation(wid, nwg, li);
  let groups = P.cout4 / 4u;
  if (i >= P.tiles * groups) { return; }
  let c4 = i % groups;
  let p = i / groups;
  let perImage = P.tilesH * P.tilesW;
  let n = p / perImage;
  let ty = (p % perImage) / P.tilesW;
  let tx = p % P.tilesW;
  let stride = P.tiles * groups;
  // A^T m per column (2 x 4), then (A^T m) A per row (2 x 2).
  var t: array<vec4<f32>, 8>;
  for (var c = 0u; c < 4u; c++) {
    let m0 = src4[c * stride + i];
    let m1 = src4[(4u + c) * stride + i];
    let m2 = src4[(8u + c) * stride + i];
    let m3 = src4[(12u + c) * stride + i];
    t[c] = m0 + m1 + m2;
    t[4u + c] = m1 - m2 - m3;
  }
  var b = vec4<f32>(0.0);
  if (P.hasBias != 0u) {
    for (var j = 0u; j < 4u; j++) { b[j] = bias[min(c4 * 4u + j, P.cout - 1u)]; }
  }
  for (var r = 0u; r < 2u; r++) {
    let y = 2u * ty + r;
    if (y >= P.oh) { break; }
    let row = array<vec4<f32>, 2>(t[r * 4u] + t[r * 4u + 1u] + t[r * 4u + 2u], t[r * 4u + 1u] - t[r * 4u + 2u] - t[r * 4u + 3u]);
    for (var c = 0u; c < 2u; c++) {
      let x = 2u * tx + c;
      if (x >= P.ow) { break; }
      var v = row[c] + b;
      if (RELU) { v = max(v, vec4<f32>(0.0)); }
      for (var j = 0u; j < 4u; j++) {
        let co = c4 * 4u + j;
        if (co >= P.cout) { break; }
        dst[((n * P.cout + co) * P.oh + y) * P.ow + x] = v[j];
      }
    }
  }
}
