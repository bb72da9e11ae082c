// Winograd F(2x2, 3x3), F(3x3, 3x3), F(4x4, 3x3), F(6x6, 3x3), F(2x2, 5x5) and F(4x4, 5x5) convolution (Lavin & Gray, "Fast Algorithms
// for Convolutional Neural Networks", 2015) for KSIZE x KSIZE kernels of stride 1: each TILE x TILE
// block of outputs (a tile) comes from the ALPHA x ALPHA input patch under it (ALPHA = TILE +
// KSIZE - 1) as Y = A^T [ (G g G^T) .* (B^T d B) ] A, so the KSIZE^2 TILE^2 multiply-adds per tile,
// input and output channel of the direct convolution become ALPHA^2: 16 for 36 (2.25x fewer), 25
// for 81 (3.24x), 36 for 144 (4x), 64 for 324 (5.06x), 36 for 100 (2.78x) or 64 for 400 (6.25x).
// Over all channels the elementwise products are ALPHA^2 independent GEMMs (one per position xi of
// the transform):
//   M[xi][tile, co] = sum_ci V[xi][tile, ci] * U[xi][ci, co]
// which ops/winograd.ts runs as one batched matmul (bmm) between the three kernels here:
//   wino_weights: U[xi][ci][co] = (G g G^T)[xi] from the weights w [Cout, Cin, K, K] as they are
//                 (FLIPPED: the input gradient's, read swapped and reversed from the forward's w);
//   wino_input:   V[xi][tile][ci] = (B^T d B)[xi], 4 channels per invocation as one vec4;
//   wino_output:  out = A^T M A (+ bias, ReLU) into NCHW, 4 channels per invocation.
// Channels are padded to multiples of 4 (cin4, cout4) with zeros, so every GEMM operand row is
// whole vec4s. Tiles are numbered (n, ty, tx) from image n0 on (the host transforms a batch in
// chunks of images when V or M would pass the device's largest storage binding), zeros outside the
// image: tile (ty, tx) covers output rows TILE ty .. TILE ty + TILE - 1 and reads
// input rows TILE ty - pt .. TILE ty - pt + ALPHA - 1.
// The matrices are the 1-D transforms bt, gt and at below, applied to columns and then to rows.
// F(2x2, 3x3)'s are additions and halvings, so its fp32 rounding stays near the direct sum's;
// F(3x3, 3x3)'s (points 0, 1, -1, 2 and infinity) have coefficients up to 4;
// F(4x4, 3x3)'s and F(2x2, 5x5)'s (the same points 0, +-1, +-2 and infinity, so the same B) have
// coefficients up to 8 and lose a few more bits, as in cuDNN and the other libraries that use them;
// F(6x6, 3x3)'s and F(4x4, 5x5)'s (points 0, +-1, +-2, +-1/2 and infinity, as in NNPACK and ncnn;
// the same B) up to 32, a few more.
// Arrays are sized for the largest transform (ALPHA 8); loops run to ALPHA, TILE or KSIZE, constants
// once the pipeline is built, so short ones unroll and the unused entries vanish (the tile transforms
// call a helper per row and column where a loop might stay rolled: see transform_row).

struct Params {
  n: u32, cin: u32, h: u32, w: u32, cout: u32, oh: u32, ow: u32, pt: i32, pl: i32,
  tilesH: u32, tilesW: u32, tiles: u32, cin4: u32, cout4: u32, hasBias: u32, n0: u32,
}

override RELU: bool = false;
override TILE: u32 = 2u; // outputs per tile side: 2, 3, 4 or 6 (KSIZE 3), 2 or 4 (KSIZE 5)
override KSIZE: u32 = 3u; // kernel side: 3 or 5
override ALPHA: u32 = TILE + KSIZE - 1u;
// A 5x5 kernel as four 3x3 pieces (KSIZE 3, TILE 4 or 6): piece (a, b) holds its taps (3a + r, 3b + c),
// zero past the kernel's edge, and sees the input shifted by (3a, 3b). A 5x5 convolution is then one
// F(4x4, 3x3) convolution over 4x the channels: the channel axis of V (and the rows of U) holds the
// pieces in turn, channel ci of piece p at p * q + ci with q = P.cin4 / 4 (P.cin4 counts all four
// pieces' channels, each piece's padded to a multiple of 4), so one GEMM of K = 4 q sums them.
// With TILE 4: 9 multiplies per output and input channel, as F(2x2, 5x5), but the output side is
// F(4x4)'s 36 / 16 values per output instead of 36 / 4, and the GEMMs' K is 4x longer; with TILE 6:
// 7.1 multiplies, 64 / 36 values per output.
override SPLIT: bool = false;
// Piece p's first kernel row and column in the 5x5 kernel.
fn piece_origin(p: u32) -> vec2<u32> {
  return vec2<u32>(3u * (p / 2u), 3u * (p % 2u));
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(0) var<storage, read> src4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst4: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> P: Params;

fn invocation(wid: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
  return linear_group(wid, nwg) * 64u + li;
}

// B^T d of one column (or row) d of a patch (the first ALPHA entries; vec4 over 4 channels).
fn bt(d: array<vec4<f32>, 8>) -> array<vec4<f32>, 8> {
  let z = vec4<f32>(0.0);
  if (ALPHA == 4u) {
    return array<vec4<f32>, 8>(d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3], z, z, z, z);
  }
  if (ALPHA == 5u) {
    return array<vec4<f32>, 8>(
      2.0 * (d[0] - d[2]) + d[3] - d[1],
      d[3] - 2.0 * d[1] - d[2],
      2.0 * d[1] - 3.0 * d[2] + d[3],
      d[3] - d[1],
      2.0 * (d[1] - d[3]) - d[2] + d[4],
      z, z, z);
  }
  if (ALPHA == 8u) {
    // Rows 1-6 in pairs that share their even and odd halves.
    let e1 = d[2] + d[6] - 4.25 * d[4];
    let o1 = d[1] + d[5] - 4.25 * d[3];
    let e2 = d[6] + 0.25 * d[2] - 1.25 * d[4];
    let o2 = 0.5 * d[1] - 2.5 * d[3] + 2.0 * d[5];
    let e3 = d[6] + 4.0 * d[2] - 5.0 * d[4];
    let o3 = 2.0 * d[1] - 2.5 * d[3] + 0.5 * d[5];
    return array<vec4<f32>, 8>(
      d[0] - d[6] + 5.25 * (d[4] - d[2]), e1 + o1, e1 - o1, e2 + o2, e2 - o2, e3 + o3, e3 - o3,
      d[7] - d[1] + 5.25 * (d[3] - d[5]));
  }
  return array<vec4<f32>, 8>(
    4.0 * d[0] - 5.0 * d[2] + d[4],
    d[3] + d[4] - 4.0 * (d[1] + d[2]),
    4.0 * (d[1] - d[2]) + d[4] - d[3],
    2.0 * (d[3] - d[1]) + d[4] - d[2],
    2.0 * (d[1] - d[3]) + d[4] - d[2],
    4.0 * d[1] - 5.0 * d[3] + d[5],
    z, z);
}

// G g of one kernel column (or row) g (the first KSIZE entries).
fn gt(g: array<f32, 5>) -> array<f32, 8> {
  let z = 0.0;
  let g0 = g[0];
  let g1 = g[1];
  let g2 = g[2];
  if (KSIZE == 5u && ALPHA == 8u) {
    // F(4x4, 5x5): F(6x6, 3x3)'s points, so its row scales; row j is the scale times (1, p, .., p^4).
    let g3 = g[3];
    let g4 = g[4];
    let e1 = g0 + g2 + g4;
    let o1 = g1 + g3;
    let e2 = g0 + 4.0 * g2 + 16.0 * g4;
    let o2 = 2.0 * g1 + 8.0 * g3;
    let e3 = g0 + 0.25 * g2 + 0.0625 * g4;
    let o3 = 0.5 * g1 + 0.125 * g3;
    return array<f32, 8>(g0, -2.0 * (e1 + o1) / 9.0, -2.0 * (e1 - o1) / 9.0, (e2 + o2) / 90.0, (e2 - o2) / 90.0,
      32.0 * (e3 + o3) / 45.0, 32.0 * (e3 - o3) / 45.0, g4);
  }
  if (KSIZE == 5u) {
    let g3 = g[3];
    let g4 = g[4];
    return array<f32, 8>(
      0.25 * g0,
      -(g0 + g1 + g2 + g3 + g4) / 6.0,
      -(g0 - g1 + g2 - g3 + g4) / 6.0,
      (g0 + 2.0 * g1 + 4.0 * g2 + 8.0 * g3 + 16.0 * g4) / 24.0,
      (g0 - 2.0 * g1 + 4.0 * g2 - 8.0 * g3 + 16.0 * g4) / 24.0,
      g4, z, z);
  }
  if (ALPHA == 4u) {
    return array<f32, 8>(g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2, z, z, z, z);
  }
  if (ALPHA == 5u) {
    return array<f32, 8>(0.5 * g0, -0.5 * (g0 + g1 + g2), (g1 - g0 - g2) / 6.0, (g0 + 2.0 * g1 + 4.0 * g2) / 6.0, g2, z, z, z);
  }
  if (ALPHA == 8u) {
    return array<f32, 8>(
      g0,
      -2.0 * (g0 + g1 + g2) / 9.0,
      -2.0 * (g0 - g1 + g2) / 9.0,
      g0 / 90.0 + g1 / 45.0 + 2.0 * g2 / 45.0,
      g0 / 90.0 - g1 / 45.0 + 2.0 * g2 / 45.0,
      (32.0 * g0 + 16.0 * g1 + 8.0 * g2) / 45.0,
      (32.0 * g0 - 16.0 * g1 + 8.0 * g2) / 45.0,
      g2);
  }
  return array<f32, 8>(
    0.25 * g0,
    -(g0 + g1 + g2) / 6.0,
    -(g0 - g1 + g2) / 6.0,
    g0 / 24.0 + g1 / 12.0 + g2 / 6.0,
    g0 / 24.0 - g1 / 12.0 + g2 / 6.0,
    g2, z, z);
}

// A^T m of one column (or row) m (the first TILE entries of the result count).
fn at(m: array<vec4<f32>, 8>) -> array<vec4<f32>, 6> {
  let z = vec4<f32>(0.0);
  if (ALPHA == 4u) {
    return array<vec4<f32>, 6>(m[0] + m[1] + m[2], m[1] - m[2] - m[3], z, z, z, z);
  }
  if (ALPHA == 5u) {
    return array<vec4<f32>, 6>(m[0] + m[1] + m[2] + m[3], m[1] - m[2] + 2.0 * m[3], m[1] + m[2] + 4.0 * m[3] + m[4], z, z, z);
  }
  let s12 = m[1] + m[2];
  let d12 = m[1] - m[2];
  let s34 = m[3] + m[4];
  let d34 = m[3] - m[4];
  if (ALPHA == 8u) {
    let s56 = m[5] + m[6];
    let d56 = m[5] - m[6];
    if (TILE == 4u) {
      return array<vec4<f32>, 6>(m[0] + s12 + s34 + s56, d12 + 2.0 * d34 + 0.5 * d56, s12 + 4.0 * s34 + 0.25 * s56,
        d12 + 8.0 * d34 + 0.125 * d56 + m[7], z, z);
    }
    return array<vec4<f32>, 6>(
      m[0] + s12 + s34 + s56, d12 + 2.0 * d34 + 0.5 * d56, s12 + 4.0 * s34 + 0.25 * s56,
      d12 + 8.0 * d34 + 0.125 * d56, s12 + 16.0 * s34 + 0.0625 * s56, d12 + 32.0 * d34 + 0.03125 * d56 + m[7]);
  }
  if (TILE == 2u) {
    return array<vec4<f32>, 6>(m[0] + s12 + s34, d12 + 2.0 * d34 + m[5], z, z, z, z);
  }
  return array<vec4<f32>, 6>(m[0] + s12 + s34, d12 + 2.0 * d34, s12 + 4.0 * s34, d12 + 8.0 * d34 + m[5], z, z);
}

// The weights' tap t (row-major in a side x side kernel) from input channel ci to output channel co,
// read from w [Cout, Cin, side, side] as conv2d holds them (no packing pass); FLIPPED: the stride-1
// input gradient's kernel, read from the forward's w [Cin, Cout, side, side] (P.cin, P.cout are the
// input gradient's), channels swapped and taps reversed.
override FLIPPED: bool = false;
fn weight_tap(ci: u32, co: u32, t: u32, side: u32) -> f32 {
  let taps = side * side;
  if (FLIPPED) { return src[(ci * P.cout + co) * taps + taps - 1u - t]; }
  return src[(co * P.cin + ci) * taps + t];
}

@compute @workgroup_size(64)
fn wino_weights(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = invocation(wid, nwg, li);
  if (i >= P.cin4 * P.cout4) { return; }
  let ci = i / P.cout4;
  let co = i % P.cout4;
  let taps = KSIZE * KSIZE;
  var g: array<f32, 25>;
  if (SPLIT) {
    // Row ci of U is piece ci / q's channel ci % q (q: the real channels padded to 4); the source
    // is the whole 5x5 kernel.
    let q = P.cin4 / 4u;
    let c = ci % q;
    let o = piece_origin(ci / q);
    if (c < P.cin && co < P.cout) {
      for (var r = 0u; r < 3u; r++) {
        for (var k = 0u; k < 3u; k++) {
          if (o.x + r < 5u && o.y + k < 5u) { g[r * 3u + k] = weight_tap(c, co, (o.x + r) * 5u + o.y + k, 5u); }
        }
      }
    }
  } else if (ci < P.cin && co < P.cout) {
    for (var k = 0u; k < taps; k++) { g[k] = weight_tap(ci, co, k, KSIZE); }
  }
  // Gg (ALPHA x KSIZE) by columns, then (Gg) G^T (ALPHA x ALPHA) by rows.
  var t: array<f32, 40>;
  for (var c = 0u; c < KSIZE; c++) {
    var col: array<f32, 5>;
    for (var r = 0u; r < KSIZE; r++) { col[r] = g[r * KSIZE + c]; }
    let gc = gt(col);
    for (var r = 0u; r < ALPHA; r++) { t[r * KSIZE + c] = gc[r]; }
  }
  let plane = P.cin4 * P.cout4;
  for (var r = 0u; r < ALPHA; r++) {
    var row: array<f32, 5>;
    for (var c = 0u; c < KSIZE; c++) { row[c] = t[r * KSIZE + c]; }
    let u = gt(row);
    for (var c = 0u; c < ALPHA; c++) { dst[(r * ALPHA + c) * plane + i] = u[c]; }
  }
}


// Invocation i's tile and group of 4 channels. TILE_MAJOR: consecutive invocations take consecutive
// tiles (a GPU warp then reads neighbouring image columns and writes neighbouring output columns;
// its [tile][group] stores are strided); else consecutive groups of the same tile (whole vec4 rows
// of V and M in order, the image read plane by plane).
override TILE_MAJOR: bool = false;
fn tile_and_group(i: u32, groups: u32) -> vec2<u32> {
  if (TILE_MAJOR) { return vec2<u32>(i % P.tiles, i / P.tiles); }
  return vec2<u32>(i / groups, i % groups);
}

// What one invocation of the tile transforms works on: a tile (its image and first output row and
// column) and a group of 4 channels, and where its values go in each xi's [tile][group] slab.
struct TileJob { image: u32, y: u32, x: u32, c4: u32, slot: u32, stride: u32 }

fn tile_job(i: u32, groups: u32) -> TileJob {
  let pc = tile_and_group(i, groups);
  let perImage = P.tilesH * P.tilesW;
  let p = pc.x;
  return TileJob(P.n0 + p / perImage, TILE * ((p % perImage) / P.tilesW), TILE * (p % P.tilesW), pc.y,
    p * groups + pc.y, P.tiles * groups);
}

// src at (plane, row y, column x) of h x w planes, zero outside them. (A function returning the
// value, not a store under a condition: llvmpipe ran wino_input 45% slower with the latter.)
fn value_or_zero(plane: u32, y: i32, x: i32, h: u32, w: u32) -> f32 {
  if (y < 0 || x < 0 || y >= i32(h) || x >= i32(w)) { return 0.0; }
  return src[(plane * h + u32(y)) * w + u32(x)];
}

// The 1-D transform of a tile's input side (B^T) or of its output-gradient side (A).
fn side(v: array<vec4<f32>, 8>, grad: bool) -> array<vec4<f32>, 8> {
  if (grad) { return a_col(v); }
  return bt(v);
}

// Where a tile transform reads: n x n values of 4 channels (4 c4 .. 4 c4 + 3 of `channels`; zeros
// past them) of an image of h x w planes in src, from row r0 and column q0 (zeros outside the
// image). `inside`: the whole patch is in the image, so its loads need no bounds tests.
struct Patch { image: u32, c4: u32, channels: u32, h: u32, w: u32, r0: i32, q0: i32, n: u32, inside: bool }

fn patch_at(image: u32, c4: u32, channels: u32, h: u32, w: u32, r0: i32, q0: i32, n: u32) -> Patch {
  let inside = r0 >= 0 && q0 >= 0 && r0 + i32(n) <= i32(h) && q0 + i32(n) <= i32(w);
  return Patch(image, c4, channels, h, w, r0, q0, n, inside);
}

// `side` of the patch's row r, into t[r * 8 + c]. The transforms below call this and
// `transform_column` once per row and column with a constant r or c rather than in a loop: NIR may
// leave a loop of 8 such bodies rolled, and a rolled loop indexes t at run time (a per-lane scratch
// access on lavapipe; F(6x6, 3x3)'s input transform ran 2x slower so).
fn transform_row(t: ptr<function, array<vec4<f32>, 64>>, q: Patch, r: u32, grad: bool) {
  if (r >= q.n) { return; }
  var row: array<vec4<f32>, 8>;
  for (var j = 0u; j < 4u; j++) {
    let ch = q.c4 * 4u + j;
    if (ch >= q.channels) { break; }
    let plane = q.image * q.channels + ch;
    let y = q.r0 + i32(r);
    if (q.inside) {
      let base = (plane * q.h + u32(y)) * q.w + u32(q.q0);
      for (var c = 0u; c < q.n; c++) { row[c][j] = src[base + c]; }
    } else {
      for (var c = 0u; c < q.n; c++) { row[c][j] = value_or_zero(plane, y, q.q0 + i32(c), q.h, q.w); }
    }
  }
  let v = side(row, grad);
  for (var c = 0u; c < ALPHA; c++) { (*t)[r * 8u + c] = v[c]; }
}

// `side` of column c of t (its first n rows), stored as V (input side) or dM (output-gradient side)
// at the job's slot of each xi of the column.
fn transform_column(t: ptr<function, array<vec4<f32>, 64>>, n: u32, c: u32, grad: bool, job: TileJob) {
  if (c >= ALPHA) { return; }
  var col: array<vec4<f32>, 8>;
  for (var r = 0u; r < n; r++) { col[r] = (*t)[r * 8u + c]; }
  let v = side(col, grad);
  for (var r = 0u; r < ALPHA; r++) { dst4[(r * ALPHA + c) * job.stride + job.slot] = v[r]; }
}

// `side` applied to the patch by rows, then by columns; the ALPHA x ALPHA result goes to the job's
// slot of each xi.
fn transform_patch(q: Patch, grad: bool, job: TileJob) {
  var t: array<vec4<f32>, 64>;
  transform_row(&t, q, 0u, grad);
  transform_row(&t, q, 1u, grad);
  transform_row(&t, q, 2u, grad);
  transform_row(&t, q, 3u, grad);
  transform_row(&t, q, 4u, grad);
  transform_row(&t, q, 5u, grad);
  transform_row(&t, q, 6u, grad);
  transform_row(&t, q, 7u, grad);
  transform_column(&t, q.n, 0u, grad, job);
  transform_column(&t, q.n, 1u, grad, job);
  transform_column(&t, q.n, 2u, grad, job);
  transform_column(&t, q.n, 3u, grad, job);
  transform_column(&t, q.n, 4u, grad, job);
  transform_column(&t, q.n, 5u, grad, job);
  transform_column(&t, q.n, 6u, grad, job);
  transform_column(&t, q.n, 7u, grad, job);
}

@compute @workgroup_size(64)
fn wino_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = invocation(wid, nwg, li);
  let groups = P.cin4 / 4u;
  if (i >= P.tiles * groups) { return; }
  let job = tile_job(i, groups);
  var c4 = job.c4;
  var r0 = i32(job.y) - P.pt;
  var q0 = i32(job.x) - P.pl;
  if (SPLIT) {
    // Group job.c4 of V's row is piece job.c4 / q's channel group job.c4 % q: the input shifted.
    let q = groups / 4u;
    let o = piece_origin(job.c4 / q);
    c4 = job.c4 % q;
    r0 += i32(o.x);
    q0 += i32(o.y);
  }
  transform_patch(patch_at(job.image, c4, P.cin, P.h, P.w, r0, q0, ALPHA), false, job);
}

@compute @workgroup_size(64)
fn wino_output(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = invocation(wid, nwg, li);
  let groups = P.cout4 / 4u;
  if (i >= P.tiles * groups) { return; }
  let job = tile_job(i, groups);
  let c4 = job.c4;
  // A^T m by columns (TILE x ALPHA), then (A^T m) A by rows (TILE x TILE).
  var t: array<vec4<f32>, 48>;
  for (var c = 0u; c < ALPHA; c++) {
    var col: array<vec4<f32>, 8>;
    for (var r = 0u; r < ALPHA; r++) { col[r] = src4[(r * ALPHA + c) * job.stride + job.slot]; }
    let a = at(col);
    for (var r = 0u; r < TILE; r++) { t[r * 8u + c] = a[r]; }
  }
  var b = vec4<f32>(0.0);
  if (P.hasBias != 0u) {
    for (var j = 0u; j < 4u; j++) { b[j] = bias[min(c4 * 4u + j, P.cout - 1u)]; }
  }
  for (var r = 0u; r < TILE; r++) {
    let y = job.y + r;
    if (y >= P.oh) { break; }
    var row: array<vec4<f32>, 8>;
    for (var c = 0u; c < ALPHA; c++) { row[c] = t[r * 8u + c]; }
    let ys = at(row);
    for (var c = 0u; c < TILE; c++) {
      let x = job.x + c;
      if (x >= P.ow) { break; }
      var v = ys[c] + b;
      if (RELU) { v = max(v, vec4<f32>(0.0)); }
      for (var j = 0u; j < 4u; j++) {
        let co = c4 * 4u + j;
        if (co >= P.cout) { break; }
        dst[((job.image * P.cout + co) * P.oh + y) * P.ow + x] = v[j];
      }
    }
  }
}

// ---- Weight gradient: dg = G^T [ sum over tiles (A dY A^T) .* (B^T d B) ] G ----
// (Y = A^T (U .* V) A gives dM = A dY A^T and dU = dM .* V per tile; dg = G^T dU G.) Over the
// channels, dU[xi][ci][co] = sum_tile V[xi][tile][ci] dM[xi][tile][co]: a batched V^T @ dM, between
// wino_input (V, as in the forward), wino_grad_output (dM) and wino_grad_weights (G^T dU G).

// A y of one column (or row) y of an output-gradient tile (the first TILE entries; A = (A^T)^T).
fn a_col(y: array<vec4<f32>, 8>) -> array<vec4<f32>, 8> {
  let z = vec4<f32>(0.0);
  if (ALPHA == 4u) { return array<vec4<f32>, 8>(y[0], y[0] + y[1], y[0] - y[1], -y[1], z, z, z, z); }
  if (ALPHA == 5u) { return array<vec4<f32>, 8>(y[0], y[0] + y[1] + y[2], y[0] - y[1] + y[2], y[0] + 2.0 * y[1] + 4.0 * y[2], y[2], z, z, z); }
  if (TILE == 2u) { return array<vec4<f32>, 8>(y[0], y[0] + y[1], y[0] - y[1], y[0] + 2.0 * y[1], y[0] - 2.0 * y[1], y[1], z, z); }
  if (ALPHA == 8u && TILE == 4u) {
    let e1 = y[0] + y[2];
    let o1 = y[1] + y[3];
    let e2 = y[0] + 4.0 * y[2];
    let o2 = 2.0 * y[1] + 8.0 * y[3];
    let e3 = y[0] + 0.25 * y[2];
    let o3 = 0.5 * y[1] + 0.125 * y[3];
    return array<vec4<f32>, 8>(y[0], e1 + o1, e1 - o1, e2 + o2, e2 - o2, e3 + o3, e3 - o3, y[3]);
  }
  if (ALPHA == 8u) {
    // Row j of A is (p^0 .. p^5) at point p (0 for p = 0 past p^0; row 7: the last entry alone):
    // each pair +-p shares its even and odd sums.
    let e1 = y[0] + y[2] + y[4];
    let o1 = y[1] + y[3] + y[5];
    let e2 = y[0] + 4.0 * y[2] + 16.0 * y[4];
    let o2 = 2.0 * y[1] + 8.0 * y[3] + 32.0 * y[5];
    let e3 = y[0] + 0.25 * y[2] + 0.0625 * y[4];
    let o3 = 0.5 * y[1] + 0.125 * y[3] + 0.03125 * y[5];
    return array<vec4<f32>, 8>(y[0], e1 + o1, e1 - o1, e2 + o2, e2 - o2, e3 + o3, e3 - o3, y[5]);
  }
  let s02 = y[0] + y[2];
  let s13 = y[1] + y[3];
  let f02 = y[0] + 4.0 * y[2];
  let f13 = 2.0 * y[1] + 8.0 * y[3];
  return array<vec4<f32>, 8>(y[0], s02 + s13, s02 - s13, f02 + f13, f02 - f13, y[3], z, z);
}

// G^T u of one column (or row) u of dU (the first ALPHA entries; KSIZE results).
fn g_col(u: array<f32, 8>) -> array<f32, 5> {
  if (ALPHA == 8u && KSIZE == 5u) {
    // Column k of G is (scale_j p_j^k), scales 1, -2/9, -2/9, 1/90, 1/90, 32/45, 32/45 (as gt).
    let s12 = -2.0 * (u[1] + u[2]) / 9.0;
    let d12 = -2.0 * (u[1] - u[2]) / 9.0;
    let s34 = (u[3] + u[4]) / 90.0;
    let d34 = (u[3] - u[4]) / 90.0;
    let s56 = 32.0 * (u[5] + u[6]) / 45.0;
    let d56 = 32.0 * (u[5] - u[6]) / 45.0;
    return array<f32, 5>(
      u[0] + s12 + s34 + s56,
      d12 + 2.0 * d34 + 0.5 * d56,
      s12 + 4.0 * s34 + 0.25 * s56,
      d12 + 8.0 * d34 + 0.125 * d56,
      s12 + 16.0 * s34 + 0.0625 * s56 + u[7]);
  }
  if (ALPHA == 8u) {
    let s12 = u[1] + u[2];
    let s34 = u[3] + u[4];
    let s56 = u[5] + u[6];
    return array<f32, 5>(
      u[0] - 2.0 * s12 / 9.0 + s34 / 90.0 + 32.0 * s56 / 45.0,
      -2.0 * (u[1] - u[2]) / 9.0 + (u[3] - u[4]) / 45.0 + 16.0 * (u[5] - u[6]) / 45.0,
      -2.0 * s12 / 9.0 + 2.0 * s34 / 45.0 + 8.0 * s56 / 45.0 + u[7],
      0.0, 0.0);
  }
  if (ALPHA == 4u) {
    return array<f32, 5>(u[0] + 0.5 * (u[1] + u[2]), 0.5 * (u[1] - u[2]), 0.5 * (u[1] + u[2]) + u[3], 0.0, 0.0);
  }
  if (ALPHA == 5u) {
    return array<f32, 5>(
      0.5 * (u[0] - u[1]) + (u[3] - u[2]) / 6.0,
      -0.5 * u[1] + u[2] / 6.0 + u[3] / 3.0,
      -0.5 * u[1] - u[2] / 6.0 + 2.0 * u[3] / 3.0 + u[4],
      0.0, 0.0);
  }
  // F(4x4, 3x3) and F(2x2, 5x5) share the points 0, 1, -1, 2, -2 and infinity: column j of G is
  // (1/4 [j = 0], -1/6, -(-1)^j / 6, 2^j / 24, (-2)^j / 24, [j = KSIZE - 1]).
  var k: array<f32, 5>;
  var p = 1.0;
  var sign = 1.0;
  for (var j = 0u; j < KSIZE; j++) {
    k[j] = -(u[1] + sign * u[2]) / 6.0 + p * (u[3] + sign * u[4]) / 24.0;
    p *= 2.0;
    sign = -sign;
  }
  k[0] += 0.25 * u[0];
  k[KSIZE - 1u] += u[5];
  return k;
}

@compute @workgroup_size(64)
fn wino_grad_output(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = invocation(wid, nwg, li);
  let groups = P.cout4 / 4u;
  if (i >= P.tiles * groups) { return; }
  let job = tile_job(i, groups);
  // The tile's TILE x TILE output gradient (zeros past the output's edges), then A y A^T.
  transform_patch(patch_at(job.image, job.c4, P.cout, P.oh, P.ow, i32(job.y), i32(job.x), TILE), true, job);
}

@compute @workgroup_size(64)
fn wino_grad_weights(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = invocation(wid, nwg, li);
  // SPLIT: an invocation per row of dU (each piece's channels in turn), writing its piece's taps.
  let rowsU = select(P.cin, P.cin4, SPLIT);
  if (i >= P.cout * rowsU) { return; }
  // Consecutive invocations take consecutive output channels, so that their reads of each dU plane
  // are contiguous (before, consecutive input channels read a row of dU apart: 512 -> 512 channels,
  // on lavapipe, F(3x3, 3x3) 16.3 -> 5.9 ms, F(6x6, 3x3) 73.7 -> 32.3 ms).
  let ci = i / P.cout;
  let co = i % P.cout;
  let plane = P.cin4 * P.cout4;
  // G^T dU by columns (KSIZE x ALPHA), then (G^T dU) G by rows (KSIZE x KSIZE).
  var t: array<f32, 40>;
  for (var c = 0u; c < ALPHA; c++) {
    var col: array<f32, 8>;
    for (var r = 0u; r < ALPHA; r++) { col[r] = src[(r * ALPHA + c) * plane + ci * P.cout4 + co]; }
    let k = g_col(col);
    for (var r = 0u; r < KSIZE; r++) { t[r * 8u + c] = k[r]; }
  }
  let taps = KSIZE * KSIZE;
  for (var r = 0u; r < KSIZE; r++) {
    var row: array<f32, 8>;
    for (var c = 0u; c < ALPHA; c++) { row[c] = t[r * 8u + c]; }
    let k = g_col(row);
    if (SPLIT) {
      let q = P.cin4 / 4u;
      let o = piece_origin(ci / q);
      let c5 = ci % q;
      if (c5 < P.cin && o.x + r < 5u) {
        for (var c = 0u; c < 3u; c++) {
          if (o.y + c < 5u) { dst[((co * P.cin + c5) * 5u + o.x + r) * 5u + o.y + c] = k[c]; }
        }
      }
    } else {
      for (var c = 0u; c < KSIZE; c++) { dst[(co * P.cin + ci) * taps + r * KSIZE + c] = k[c]; }
    }
  }
}
