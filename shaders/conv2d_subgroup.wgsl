// Conv2d kernels for CPU Vulkan (lavapipe) using subgroup broadcasts; same contracts as the
// forward_rows / weight_rows kernels of conv2d.wgsl. The host picks them only on adapters with
// subgroups of exactly 8 lanes.
//
// Why: on lavapipe a storage load costs ~2 cycles per SIMD lane (a bounds-checked scalar load per
// lane), a multiply-add ~1/8 cycle per lane. A subgroup (one 8-lane SIMD register) shares 8 output
// channels: lane r loads the weight (forward) or upstream gradient (weight gradient) of channel
// co0 + r once, and subgroupBroadcast (a register shuffle) hands it to all lanes. Each lane owns NP
// consecutive output pixels and reads one window of NP + KW - 1 input values per kernel row, reused
// across the KW kernel columns. Both read a zero-padded input (pad in conv2d.wgsl): no bounds checks.
enable subgroups;
// The weight kernels' row chunk comes from the subgroup index (li / 8): uniform within each subgroup, which
// WGSL's analysis (workgroup-level) cannot see.
diagnostic(off, subgroup_uniformity);

struct Params {
  n: u32, cin: u32, h: u32, w: u32,
  cout: u32, oh: u32, ow: u32, kh: u32,
  kw: u32, sh: u32, sw: u32, pt: u32,
  pl: u32, a: u32, b: u32, c: u32,
  d: u32, e: u32, f: u32, g: u32,
}

@group(0) @binding(0) var<storage, read> src0: array<f32>;
@group(0) @binding(1) var<storage, read> src1: array<f32>;
@group(0) @binding(2) var<storage, read> src2: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<uniform> P: Params;

override KW: u32 = 3u;
// Fused ReLU epilogue of the forward kernels (conv2d(..., { relu: true })): out = max(0, conv + bias).
override RELU: bool = false;
fn act(v: f32) -> f32 {
  return select(v, max(v, 0.0), RELU);
}
// Output pixels per lane (2, 3 or 4; the host picks what wastes least on the row width).
override NP: u32 = 4u;

// v of lanes 0..7, in every lane.
fn lanes8(v: f32) -> array<f32, 8> {
  return array<f32, 8>(subgroupBroadcast(v, 0u), subgroupBroadcast(v, 1u), subgroupBroadcast(v, 2u), subgroupBroadcast(v, 3u),
    subgroupBroadcast(v, 4u), subgroupBroadcast(v, 5u), subgroupBroadcast(v, 6u), subgroupBroadcast(v, 7u));
}

// The forward kernels' lane -> (channel group, block of NP pixels in one of `rows` rows): workgroup
// g is one channel group x 64 blocks. Lanes past the last block compute a copy of it (no early
// return: every lane must reach the broadcasts) and store nothing (`ok` false).
struct Block { cg: u32, ok: bool, ow0: u32, row: u32, n: u32 }

fn block_of(wid: vec3<u32>, nwg: vec3<u32>, li: u32, rows: u32) -> Block {
  let g = linear_group(wid, nwg);
  let block = (g / P.a) * 64u + li;
  let pb = min(block, P.c - 1u);
  let r = pb / P.b;
  return Block(g % P.a, block < P.c, (pb % P.b) * NP, r % rows, r / rows);
}

// The NP + KW - 1 input values of a lane's pixels in one padded input row, from element `at`.
fn window(at: u32) -> array<f32, 20> {
  var xs: array<f32, 20>;
  for (var j = 0u; j < NP + KW - 1u; j++) { xs[j] = src0[at + j]; }
  return xs;
}

// Kernel column kw for output row h: acc[(h * 8 + r) * NP + p] += w(channel co0 + r) * xs[kw + p].
fn mac(acc: ptr<function, array<f32, 32>>, h: u32, wv: array<f32, 8>, xs: array<f32, 20>, kw: u32) {
  for (var r = 0u; r < 8u; r++) {
    for (var p = 0u; p < NP; p++) {
      let i = (h * 8u + r) * NP + p;
      (*acc)[i] = fma(wv[r], xs[kw + p], (*acc)[i]);
    }
  }
}

// Stores output row oh (accumulators of row h) for the valid channels and pixels, + bias, ReLU epilogue.
fn store_row(acc: ptr<function, array<f32, 32>>, h: u32, n: u32, oh: u32, co0: u32, ow0: u32) {
  let hw = P.oh * P.ow;
  let np = min(NP, P.ow - ow0);
  var o = (n * P.cout + co0) * hw + oh * P.ow + ow0;
  for (var r = 0u; r < 8u; r++) {
    if (co0 + r >= P.cout) { break; }
    var b = 0.0;
    if (P.d != 0u) { b = src2[co0 + r]; }
    for (var p = 0u; p < NP; p++) {
      if (p < np) { dst[o + p] = act((*acc)[(h * 8u + r) * NP + p] + b); }
    }
    o += hw;
  }
}

// out[n, co, oh, ow] = bias[co] + sum_{ci, kh, kw} w[co, ci, kh, kw] * xp[n, ci, oh*sh + kh, ow + kw]
// src0 = xp [N, Cin, Hp, Wp] zero-padded, src1 = weights packed [Cin*KH*KW, Cout4] (pack), src2 = bias.
// a = channel groups of 8, b = pixel blocks (of NP) per output row, c = N*OH*b, d = has bias,
// e = Hp, f = Wp, g = Cout4 (row length of the packed weights).
// Workgroup: one channel group x 64 pixel blocks, one block per lane.
@compute @workgroup_size(64)
fn forward_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let t = block_of(wid, nwg, li, P.oh);
  let co0 = t.cg * 8u;
  let wp = P.f;
  var acc: array<f32, 32>;
  var xr = (t.n * P.cin * P.e + t.row * P.sh) * wp + t.ow0;
  var wk = min(co0 + lane, P.g - 1u);
  for (var ci = 0u; ci < P.cin; ci++) {
    for (var kh = 0u; kh < P.kh; kh++) {
      let xs = window(xr);
      for (var kw = 0u; kw < KW; kw++) {
        let wv = lanes8(src1[wk]);
        wk += P.g;
        mac(&acc, 0u, wv, xs, kw);
      }
      xr += wp;
    }
    xr += (P.e - P.kh) * wp;
  }

  if (!t.ok) { return; }
  store_row(&acc, 0u, t.n, t.row, co0, t.ow0);
}

// dw[co, ci, kh, kw] = sum_{n, oh, ow} gy[n, co, oh, ow] * xp[n, ci, oh*sh + kh, ow + kw]
// src0 = xp [N, Cin, Hp, Wp] zero-padded, src1 = gy [N, Cout, OH, OW]; dst = dw, or split-K partials
// [chunks, Cout*Cin*KH*KW] over chunks of (n, oh) rows, summed afterwards by sum_mid.
// forward_sg for kernels with row stride 1, two output rows per lane: the KH + 1 input rows of the
// pair are loaded once each (the window of row kh + 1 serves output row 1 at kh and output row 0 at
// kh + 1), so a lane loads (KH + 1) windows per input channel instead of 2 * KH, for 8 x 2 x NP
// accumulators. Same bindings as forward_sg; c = N * ceil(OH / 2) * b blocks, and the padded input
// has one more row than forward_sg's (the second row of the last pair when OH is odd).
override KH: u32 = 3u;

@compute @workgroup_size(64)
fn forward_sg_rows2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let t = block_of(wid, nwg, li, (P.oh + 1u) / 2u);
  let oh0 = t.row * 2u;
  let co0 = t.cg * 8u;
  let wp = P.f;
  // acc[(h * 8 + r) * NP + p]: output row oh0 + h, channel co0 + r, pixel ow0 + p.
  var acc: array<f32, 32>;
  var xr = (t.n * P.cin * P.e + oh0) * wp + t.ow0;
  var wk = min(co0 + lane, P.g - 1u);
  for (var ci = 0u; ci < P.cin; ci++) {
    var xa = window(xr);
    for (var kh = 0u; kh < KH; kh++) {
      let xb = window(xr + (kh + 1u) * wp);
      for (var kw = 0u; kw < KW; kw++) {
        let wv = lanes8(src1[wk]);
        wk += P.g;
        mac(&acc, 0u, wv, xa, kw);
        mac(&acc, 1u, wv, xb, kw);
      }
      xa = xb;
    }
    xr += P.e * wp;
  }

  if (!t.ok) { return; }
  store_row(&acc, 0u, t.n, oh0, co0, t.ow0);
  if (oh0 + 1u < P.oh) { store_row(&acc, 1u, t.n, oh0 + 1u, co0, t.ow0); }
}

// vec4 views of src0 / src1, used only by weight_sgv, weight_sgr, forward_sgr and forward_few (one binding cannot have two
// types within an entry point).
@group(0) @binding(0) var<storage, read> src0v: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> src1v: array<vec4<f32>>;
// ... and of dst, for forward_sgr's stores.
@group(0) @binding(3) var<storage, read_write> dstv: array<vec4<f32>>;

// Weight gradient, any row stride: lane l of a subgroup owns one (ci, kh) pair and the 8 x KW
// weights of the subgroup's 8 channels; lane r loads gy of channel co0 + r, broadcast to all. Per
// block of NP pixels of a row, a lane reads its input window (NP + KW - 1 values, as NV vec4s) and
// its channel's gy (NG vec4s): a scalar load costs lavapipe a bounds check and a branch per lane,
// and a vec4 load shares them over its 4 values (a third of the scalar kernel's load cost, measured).
// NP is 4 or 8. The host pads both so that every vec4 is aligned and inside its row: xp rows of
// e = Hp rows x f = Wp values (Wp = 4 * (NG * (blocks - 1) + NV)), gy rows of NP * blocks values
// (zeros past OW, which contribute 0). a = channel groups of 8, b = Cin*KH, c = subgroups per chunk
// (ceil(b / 8)), d = rows per chunk, g = chunks.
override NV: u32 = (NP + KW + 2u) / 4u;
override NG: u32 = (NP + 3u) / 4u;

// The NV (up to 4) vec4s of padded input from vec4 index `at`: a lane's window of one input row
// (weight_sgv, weight_sgr and forward_sgr).
fn row_window(at: u32) -> array<f32, 16> {
  var xs: array<f32, 16>;
  for (var j = 0u; j < NV; j++) {
    let v = src0v[at + j];
    xs[4u * j] = v.x; xs[4u * j + 1u] = v.y; xs[4u * j + 2u] = v.z; xs[4u * j + 3u] = v.w;
  }
  return xs;
}

// The weight kernels' subgroup: its channel group (of a = P.a), its index s among the subgroups of
// all chunks (c = P.c per chunk), and its row chunk (of g = P.g).
struct WeightSub { cg: u32, s: u32, chunk: u32 }
fn weight_sub(wid: vec3<u32>, nwg: vec3<u32>, li: u32) -> WeightSub {
  let g = linear_group(wid, nwg);
  let s = (g / P.a) * 8u + li / 8u;
  return WeightSub(g % P.a, s, min(s / P.c, P.g - 1u));
}

@compute @workgroup_size(64)
fn weight_sgv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let sub = weight_sub(wid, nwg, li);
  let t = (sub.s % P.c) * 8u + lane;
  let tc = min(t, P.b - 1u);
  let kh = tc % P.kh;
  let ci = tc / P.kh;
  let co0 = sub.cg * 8u;
  let gco = min(co0 + lane, P.cout - 1u);
  let rows = P.n * P.oh;
  let row0 = sub.chunk * P.d;
  let row1 = min(row0 + P.d, rows);
  let wp4 = P.f / 4u;
  let owp4 = (P.ow + NP - 1u) / NP * NG;

  var acc: array<f32, 40>;
  // (n, oh) of the row, stepped rather than divided: integer division has no SIMD form, and per row
  // it cost as much as a 6-pixel row's multiply-adds.
  var n = row0 / P.oh;
  var oh = row0 % P.oh;
  for (var row = row0; row < row1; row++) {
    let xr = ((n * P.cin + ci) * P.e + oh * P.sh + kh) * wp4;
    let gr = ((n * P.cout + gco) * P.oh + oh) * owp4;
    for (var b = 0u; b < owp4; b += NG) {
      let xs = row_window(xr + b);
      for (var q = 0u; q < NG; q++) {
        let gq = src1v[gr + b + q];
        for (var c = 0u; c < min(4u, NP - 4u * q); c++) {
          let gv = lanes8(gq[c]);
          let p = q * 4u + c;
          for (var r = 0u; r < 8u; r++) {
            for (var kw = 0u; kw < KW; kw++) { acc[r * KW + kw] = fma(gv[r], xs[p + kw], acc[r * KW + kw]); }
          }
        }
      }
    }
    oh += 1u;
    if (oh == P.oh) {
      oh = 0u;
      n += 1u;
    }
  }

  if (t >= P.b || sub.s / P.c >= P.g) { return; }
  let kk = P.kh * P.kw;
  var o = sub.chunk * P.cout * P.cin * kk + (co0 * P.cin + ci) * kk + kh * P.kw;
  for (var r = 0u; r < 8u; r++) {
    if (co0 + r >= P.cout) { break; }
    for (var kw = 0u; kw < KW; kw++) { dst[o + kw] = acc[r * KW + kw]; }
    o += P.cin * kk;
  }
}

// Weight gradient at stride 1: a lane owns one input channel ci, one block of NP output columns
// and all KH x KW taps of the subgroup's 8 output channels, and walks the output rows of its images
// keeping the last KH padded input rows of its block (one vec4-aligned window of NV vec4s each) in
// registers. Per output row it loads one new input window and its channel's gy (NG vec4s, lane r =
// channel co0 + r), for 8 x KH x KW x NP multiply-adds: at 3x3 three times weight_sgv's work per
// loaded value. The products of a row are summed per tap before they touch the 8 x KH x KW
// accumulators, which may then live in (cheap, whole-register) stack slots.
// Blocks: NP = OW (one block, OW <= 8) or NP a multiple of 4 (vec4-aligned blocks); each block of
// each chunk writes its own partial sums (slot chunk * blocks + block), which the host adds.
// a = channel groups of 8, b = Cin, c = subgroups per chunk (ceil(Cin / 8) * blocks), d = images
// per chunk, e = Hp (OH + KH - 1), f = Wp (4 * (NG * (blocks - 1) + NV)), g = chunks. gy rows are
// padded to 4 * NG * blocks values (zeros past OW).
// One output channel co0 + r of a row: its gy (lane r's values) against every tap's window.
fn sgr_channel(acc: ptr<function, array<f32, 200>>, r: u32, gq: array<f32, 8>, win: array<array<f32, 16>, 5>) {
  var gb: array<f32, 8>;
  for (var p = 0u; p < NP; p++) { gb[p] = subgroupShuffle(gq[p], r); }
  for (var kh = 0u; kh < KH; kh++) {
    for (var kw = 0u; kw < KW; kw++) {
      var sum = 0.0;
      for (var p = 0u; p < NP; p++) { sum = fma(gb[p], win[kh][p + kw], sum); }
      let i = (r * KH + kh) * KW + kw;
      (*acc)[i] += sum;
    }
  }
}

@compute @workgroup_size(64)
fn weight_sgr(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let sub = weight_sub(wid, nwg, li);
  let blocks = (P.ow + NP - 1u) / NP;
  let u = sub.s % P.c;
  let blk = u % blocks;
  let t = (u / blocks) * 8u + lane;
  let ci = min(t, P.b - 1u);
  let co0 = sub.cg * 8u;
  let gco = min(co0 + lane, P.cout - 1u);
  let n0 = sub.chunk * P.d;
  let n1 = min(n0 + P.d, P.n);
  let wp4 = P.f / 4u;

  // acc[(r * KH + kh) * KW + kw]: channel co0 + r, tap (kh, kw).
  var acc: array<f32, 200>;
  for (var n = n0; n < n1; n++) {
    var xr = (n * P.cin + ci) * P.e * wp4 + blk * NG;
    var gr = (n * P.cout + gco) * P.oh * blocks * NG + blk * NG;
    // win[kh]: input row oh + kh of the current output row oh.
    var win: array<array<f32, 16>, 5>;
    for (var kh = 1u; kh < KH; kh++) {
      win[kh] = row_window(xr);
      xr += wp4;
    }
    for (var oh = 0u; oh < P.oh; oh++) {
      for (var kh = 0u; kh + 1u < KH; kh++) { win[kh] = win[kh + 1u]; }
      win[KH - 1u] = row_window(xr);
      xr += wp4;
      var gq: array<f32, 8>;
      for (var q = 0u; q < NG; q++) {
        let v = src1v[gr + q];
        gq[4u * q] = v.x; gq[4u * q + 1u] = v.y; gq[4u * q + 2u] = v.z; gq[4u * q + 3u] = v.w;
      }
      gr += blocks * NG;
      // Written out per channel: a loop over r was left rolled by the compiler, and a rolled loop
      // indexes acc at run time (a per-lane scratch access instead of a register).
      sgr_channel(&acc, 0u, gq, win);
      sgr_channel(&acc, 1u, gq, win);
      sgr_channel(&acc, 2u, gq, win);
      sgr_channel(&acc, 3u, gq, win);
      sgr_channel(&acc, 4u, gq, win);
      sgr_channel(&acc, 5u, gq, win);
      sgr_channel(&acc, 6u, gq, win);
      sgr_channel(&acc, 7u, gq, win);
    }
  }

  if (t >= P.b || sub.s / P.c >= P.g) { return; }
  let o = (sub.chunk * blocks + blk) * P.cout * P.cin * KH * KW + (co0 * P.cin + ci) * KH * KW;
  sgr_store(&acc, 0u, co0, o);
  sgr_store(&acc, 1u, co0, o);
  sgr_store(&acc, 2u, co0, o);
  sgr_store(&acc, 3u, co0, o);
  sgr_store(&acc, 4u, co0, o);
  sgr_store(&acc, 5u, co0, o);
  sgr_store(&acc, 6u, co0, o);
  sgr_store(&acc, 7u, co0, o);
}

fn sgr_store(acc: ptr<function, array<f32, 200>>, r: u32, co0: u32, o: u32) {
  if (co0 + r >= P.cout) { return; }
  let at = o + r * P.cin * KH * KW;
  for (var i = 0u; i < KH * KW; i++) { dst[at + i] = (*acc)[r * KH * KW + i]; }
}

// Forward (and stride-1 input gradient) in weight_sgr's shape: a lane owns FR (3 to 6) output rows
// x NP (up to 12) columns of the subgroup's 8 channels (384 accumulators at most: FR <= 4 when NP > 8).
// Per input channel it loads the
// FR + KH - 1 input windows its rows need (NV vec4s each) and the KH x KW weights of channel
// co0 + lane (handed to all lanes by shuffles), then each output sums its KH x KW products before
// touching its accumulator, which may then live in (cheap, whole-register) stack slots. Row stride 1;
// NP = OW (one block, OW <= 12) or a multiple of 4. Lane -> (image, group of FR rows, block) as
// forward_sg (block_of). a = channel groups of 8, b = blocks per row, c = N * row groups * b,
// d = has bias, e = Hp (row groups * FR + KH - 1), f = Wp (4 * (NP / 4 * (b - 1) + NV)), g = Cout4.
override FR: u32 = 4u;

fn fsgr_row(acc: ptr<function, array<f32, 384>>, r: u32, row: u32, wv: array<f32, 25>, win: array<array<f32, 16>, 10>) {
  for (var p = 0u; p < NP; p++) {
    var sum = 0.0;
    for (var kh = 0u; kh < KH; kh++) {
      for (var kw = 0u; kw < KW; kw++) { sum = fma(wv[kh * KW + kw], win[row + kh][p + kw], sum); }
    }
    (*acc)[(r * FR + row) * NP + p] += sum;
  }
}

fn fsgr_channel(acc: ptr<function, array<f32, 384>>, r: u32, wl: array<f32, 25>, win: array<array<f32, 16>, 10>) {
  var wv: array<f32, 25>;
  for (var i = 0u; i < KH * KW; i++) { wv[i] = subgroupShuffle(wl[i], r); }
  fsgr_rows(acc, r, wv, win);
}

// The FR rows of channel slot r from weights wv (constant row indices).
fn fsgr_rows(acc: ptr<function, array<f32, 384>>, r: u32, wv: array<f32, 25>, win: array<array<f32, 16>, 10>) {
  fsgr_row(acc, r, 0u, wv, win);
  fsgr_row(acc, r, 1u, wv, win);
  fsgr_row(acc, r, 2u, wv, win);
  if (FR > 3u) { fsgr_row(acc, r, 3u, wv, win); }
  if (FR > 4u) { fsgr_row(acc, r, 4u, wv, win); }
  if (FR > 5u) { fsgr_row(acc, r, 5u, wv, win); }
}

fn fsgr_store(acc: ptr<function, array<f32, 384>>, r: u32, t: Block, co0: u32) {
  let co = co0 + r;
  if (!t.ok || co >= P.cout) { return; }
  var b = 0.0;
  if (P.d != 0u) { b = src2[co]; }
  let np = min(NP, P.ow - t.ow0);
  for (var row = 0u; row < FR; row++) {
    let oh = t.row * FR + row;
    if (oh < P.oh) {
      let o = ((t.n * P.cout + co) * P.oh + oh) * P.ow + t.ow0;
      let i = (r * FR + row) * NP;
      if (NP % 4u == 0u && P.ow % 4u == 0u) {
        // Whole vec4s (rows and blocks are 4-aligned, np a multiple of 4): a store, like a load,
        // costs lavapipe a bounds check per lane, shared by the 4 values. The first layer (one
        // input channel) is bound by its stores.
        for (var q = 0u; q < NP / 4u; q++) {
          if (4u * q < np) {
            dstv[o / 4u + q] = vec4<f32>(act((*acc)[i + 4u * q] + b), act((*acc)[i + 4u * q + 1u] + b),
                                         act((*acc)[i + 4u * q + 2u] + b), act((*acc)[i + 4u * q + 3u] + b));
          }
        }
      } else {
        // One component at a time (this entry point binds dst only as vec4s; pool buffers are
        // whole vec4s long).
        for (var p = 0u; p < NP; p++) {
          if (p < np) { dstv[(o + p) / 4u][(o + p) % 4u] = act((*acc)[i + p] + b); }
        }
      }
    }
  }
}

@compute @workgroup_size(64)
fn forward_sgr(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let t = block_of(wid, nwg, li, (P.oh + FR - 1u) / FR);
  let co0 = t.cg * 8u;
  let wp4 = P.f / 4u;
  let wk = min(co0 + lane, P.g - 1u);
  var acc: array<f32, 384>;
  var xr = ((t.n * P.cin) * P.e + t.row * FR) * wp4 + t.ow0 / 4u;
  var wi = wk;
  for (var ci = 0u; ci < P.cin; ci++) {
    var win: array<array<f32, 16>, 10>;
    for (var j = 0u; j < FR + KH - 1u; j++) { win[j] = row_window(xr + j * wp4); }
    var wl: array<f32, 25>;
    for (var i = 0u; i < KH * KW; i++) {
      wl[i] = src1[wi];
      wi += P.g;
    }
    fsgr_channel(&acc, 0u, wl, win);
    fsgr_channel(&acc, 1u, wl, win);
    fsgr_channel(&acc, 2u, wl, win);
    fsgr_channel(&acc, 3u, wl, win);
    fsgr_channel(&acc, 4u, wl, win);
    fsgr_channel(&acc, 5u, wl, win);
    fsgr_channel(&acc, 6u, wl, win);
    fsgr_channel(&acc, 7u, wl, win);
    xr += P.e * wp4;
  }
  fsgr_store(&acc, 0u, t, co0);
  fsgr_store(&acc, 1u, t, co0);
  fsgr_store(&acc, 2u, t, co0);
  fsgr_store(&acc, 3u, t, co0);
  fsgr_store(&acc, 4u, t, co0);
  fsgr_store(&acc, 5u, t, co0);
  fsgr_store(&acc, 6u, t, co0);
  fsgr_store(&acc, 7u, t, co0);
}

// Forward for few input channels (CIN <= 4: the first layer of a grayscale or RGB network), where
// forward_sgr's per-input-channel loop has one iteration and its 8-channel lanes store far more than
// they compute. A lane owns FR rows x NP columns of one image for every output channel: it loads the
// CIN x (FR + KH - 1) input windows once, then for each group of 8 channels (weights of channel
// cg * 8 + lane, shuffled to all lanes) computes each output in registers and stores it at once:
// no accumulators, and each loaded value serves all Cout channels. Same bindings as forward_sgr;
// a = 1, b = blocks per row, c = N * row groups * b, d = has bias, e = Hp (row groups * FR + KH - 1),
// f = Wp, g = Cout4 (row length of the packed weights, [CIN * KH * KW, Cout4]).
override CIN: u32 = 1u;

// Output (row, columns p0 .. p0 + 3) of channel weights wv: sum over (ci, kh, kw).
fn thin_sum4(wv: array<f32, 100>, win: array<array<f32, 16>, 40>, row: u32, p0: u32) -> vec4<f32> {
  var s = vec4<f32>(0.0);
  for (var ci = 0u; ci < CIN; ci++) {
    for (var kh = 0u; kh < KH; kh++) {
      let wr = win[ci * (FR + KH - 1u) + row + kh];
      for (var kw = 0u; kw < KW; kw++) {
        let w = wv[(ci * KH + kh) * KW + kw];
        s = fma(vec4<f32>(w), vec4<f32>(wr[p0 + kw], wr[p0 + kw + 1u], wr[p0 + kw + 2u], wr[p0 + kw + 3u]), s);
      }
    }
  }
  return s;
}

// One output row of channel co: NP values from the lane's windows, + bias, stored as vec4s where
// rows and blocks are 4-aligned (else per component).
fn thin_row(wv: array<f32, 100>, win: array<array<f32, 16>, 40>, t: Block, co: u32, b: f32, row: u32) {
  let oh = t.row * FR + row;
  if (!t.ok || co >= P.cout || oh >= P.oh) { return; }
  let np = min(NP, P.ow - t.ow0);
  let o = ((t.n * P.cout + co) * P.oh + oh) * P.ow + t.ow0;
  for (var q = 0u; q < (NP + 3u) / 4u; q++) {
    if (4u * q < np) {
      let v = thin_sum4(wv, win, row, 4u * q) + vec4<f32>(b);
      let y = select(v, max(v, vec4<f32>(0.0)), RELU);
      if (NP % 4u == 0u && P.ow % 4u == 0u) {
        dstv[o / 4u + q] = y;
      } else {
        for (var c = 0u; c < 4u; c++) {
          let at = o + 4u * q + c;
          if (4u * q + c < np) { dstv[at / 4u][at % 4u] = y[c]; }
        }
      }
    }
  }
}

// Channel cg * 8 + r: its weights (lane r's), then its FR rows, written out (constant indices).
fn thin_channel(r: u32, wl: array<f32, 100>, win: array<array<f32, 16>, 40>, t: Block, co0: u32) {
  var wv: array<f32, 100>;
  for (var i = 0u; i < CIN * KH * KW; i++) { wv[i] = subgroupShuffle(wl[i], r); }
  let co = co0 + r;
  var b = 0.0;
  if (P.d != 0u) { b = src2[min(co, P.cout - 1u)]; }
  thin_row(wv, win, t, co, b, 0u);
  if (FR > 1u) { thin_row(wv, win, t, co, b, 1u); }
  if (FR > 2u) { thin_row(wv, win, t, co, b, 2u); }
  if (FR > 3u) { thin_row(wv, win, t, co, b, 3u); }
  if (FR > 4u) { thin_row(wv, win, t, co, b, 4u); }
  if (FR > 5u) { thin_row(wv, win, t, co, b, 5u); }
}

@compute @workgroup_size(64)
fn forward_thin(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let t = block_of(wid, nwg, li, (P.oh + FR - 1u) / FR);
  let wp4 = P.f / 4u;
  var win: array<array<f32, 16>, 40>;
  var xr = ((t.n * CIN) * P.e + t.row * FR) * wp4 + t.ow0 / 4u;
  for (var ci = 0u; ci < CIN; ci++) {
    for (var j = 0u; j < FR + KH - 1u; j++) { win[ci * (FR + KH - 1u) + j] = row_window(xr + j * wp4); }
    xr += P.e * wp4;
  }
  for (var co0 = 0u; co0 < P.cout; co0 += 8u) {
    var wl: array<f32, 100>;
    let wk = min(co0 + lane, P.g - 1u);
    for (var i = 0u; i < CIN * KH * KW; i++) { wl[i] = src1[i * P.g + wk]; }
    thin_channel(0u, wl, win, t, co0);
    thin_channel(1u, wl, win, t, co0);
    thin_channel(2u, wl, win, t, co0);
    thin_channel(3u, wl, win, t, co0);
    thin_channel(4u, wl, win, t, co0);
    thin_channel(5u, wl, win, t, co0);
    thin_channel(6u, wl, win, t, co0);
    thin_channel(7u, wl, win, t, co0);
  }
}

// Forward for few output channels (COUT <= 4): the input gradient of a grayscale or RGB first
// layer, a convolution with Cout = the layer's Cin. forward_sgr's lanes would each carry 8
// channels to keep one (the tuner's pick, 'sgr', ran this pass at 5.8 GFLOP/s on lavapipe).
// Here a lane owns forward_sgr's block (FR rows x NP columns of one image) for all COUT channels;
// every lane reads the same weights, one vec4 per kernel position (the packed row holds the
// channels 0..3). Same bindings and parameters as forward_sgr, a = 1.
override COUT: u32 = 1u;

fn few_channel(acc: ptr<function, array<f32, 384>>, c: u32, wq: array<vec4<f32>, 25>, win: array<array<f32, 16>, 10>) {
  var wv: array<f32, 25>;
  for (var i = 0u; i < KH * KW; i++) { wv[i] = wq[i][c]; }
  fsgr_rows(acc, c, wv, win);
}

@compute @workgroup_size(64)
fn forward_few(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let t = block_of(wid, nwg, li, (P.oh + FR - 1u) / FR);
  let wp4 = P.f / 4u;
  let g4 = P.g / 4u;
  var acc: array<f32, 384>;
  var xr = ((t.n * P.cin) * P.e + t.row * FR) * wp4 + t.ow0 / 4u;
  var wi = 0u;
  for (var ci = 0u; ci < P.cin; ci++) {
    var win: array<array<f32, 16>, 10>;
    for (var j = 0u; j < FR + KH - 1u; j++) { win[j] = row_window(xr + j * wp4); }
    var wq: array<vec4<f32>, 25>;
    for (var i = 0u; i < KH * KW; i++) {
      wq[i] = src1v[wi];
      wi += g4;
    }
    few_channel(&acc, 0u, wq, win);
    if (COUT > 1u) { few_channel(&acc, 1u, wq, win); }
    if (COUT > 2u) { few_channel(&acc, 2u, wq, win); }
    if (COUT > 3u) { few_channel(&acc, 3u, wq, win); }
    xr += P.e * wp4;
  }
  fsgr_store(&acc, 0u, t, 0u);
  if (COUT > 1u) { fsgr_store(&acc, 1u, t, 0u); }
  if (COUT > 2u) { fsgr_store(&acc, 2u, t, 0u); }
  if (COUT > 3u) { fsgr_store(&acc, 3u, t, 0u); }
}

// forward_few on the unpadded input ('fewd'): the first layer's input gradient reads an 18.9 MB
// upstream gradient, and the zero-padded copy that forward_few's windows need cost more than a
// third of that pass (a read and a write of the whole tensor). Here a lane builds each window row
// from the unpadded input itself: its NP columns as NP / 4 aligned vec4s (src0v), the PL columns to
// their left and the KW - 1 - PL to their right as scalars (src1: the same buffer, scalar view),
// each zeroed by a select where it falls outside the image; fewer loaded components than the
// padded window's whole vec4s. Rows are taller than forward_few's (FR up to 16: fewer window rows
// loaded per output row). The weights, packed [Cin*KH*KW, Cout4], come as scalars from src2, so
// this variant takes no bias (the host runs forward_few when there is one). Needs stride 1, input
// rows of a multiple of 4 values and NP a multiple of 4 (aligned vec4s), PL and KW - 1 - PL <= 4.
// a = 1, b = blocks per row, c = N * row groups * b, g = Cout4.
override PL: u32 = 1u;
override PT: u32 = 1u;

// One window row: input row ih (ok: inside the image) at columns ow0 - PL .. ow0 + NP + KW - 2 - PL.
fn fewd_window(plane: u32, ih: u32, rok: bool, ow0: u32) -> array<f32, 24> {
  var xs: array<f32, 24>;
  let at = plane + select(0u, ih, rok) * P.w + ow0;
  for (var j = 0u; j < PL; j++) {
    xs[j] = select(0.0, src1[at + j - PL], rok && ow0 + j >= PL);
  }
  for (var q = 0u; q < NP / 4u; q++) {
    let v = select(vec4<f32>(0.0), src0v[at / 4u + q], rok && ow0 + 4u * q < P.w);
    xs[PL + 4u * q] = v.x; xs[PL + 4u * q + 1u] = v.y; xs[PL + 4u * q + 2u] = v.z; xs[PL + 4u * q + 3u] = v.w;
  }
  for (var j = 0u; j < KW - 1u - PL; j++) {
    xs[PL + NP + j] = select(0.0, src1[at + NP + j], rok && ow0 + NP + j < P.w);
  }
  return xs;
}

// Output row `row` of channel c (accumulators (c * FR + row) * NP + p, constant after unrolling):
// fsgr_row on this kernel's larger windows (WGSL has no generics, and giving forward_sgr these
// windows would enlarge its private arrays).
fn fewd_row(acc: ptr<function, array<f32, 384>>, c: u32, row: u32, wv: array<f32, 25>, win: array<array<f32, 24>, 20>) {
  for (var p = 0u; p < NP; p++) {
    var sum = 0.0;
    for (var kh = 0u; kh < KH; kh++) {
      for (var kw = 0u; kw < KW; kw++) { sum = fma(wv[kh * KW + kw], win[row + kh][p + kw], sum); }
    }
    (*acc)[(c * FR + row) * NP + p] += sum;
  }
}

fn fewd_channel(acc: ptr<function, array<f32, 384>>, c: u32, wv: array<f32, 25>, win: array<array<f32, 24>, 20>) {
  fewd_row(acc, c, 0u, wv, win);
  if (FR > 1u) { fewd_row(acc, c, 1u, wv, win); }
  if (FR > 2u) { fewd_row(acc, c, 2u, wv, win); }
  if (FR > 3u) { fewd_row(acc, c, 3u, wv, win); }
  if (FR > 4u) { fewd_row(acc, c, 4u, wv, win); }
  if (FR > 5u) { fewd_row(acc, c, 5u, wv, win); }
  if (FR > 6u) { fewd_row(acc, c, 6u, wv, win); }
  if (FR > 7u) { fewd_row(acc, c, 7u, wv, win); }
  if (FR > 8u) { fewd_row(acc, c, 8u, wv, win); }
  if (FR > 9u) { fewd_row(acc, c, 9u, wv, win); }
  if (FR > 10u) { fewd_row(acc, c, 10u, wv, win); }
  if (FR > 11u) { fewd_row(acc, c, 11u, wv, win); }
  if (FR > 12u) { fewd_row(acc, c, 12u, wv, win); }
  if (FR > 13u) { fewd_row(acc, c, 13u, wv, win); }
  if (FR > 14u) { fewd_row(acc, c, 14u, wv, win); }
  if (FR > 15u) { fewd_row(acc, c, 15u, wv, win); }
}

// Channel c's KH x KW weights of input channel ci (packed row (ci * KH * KW + i), column c).
fn fewd_weights(ci: u32, c: u32) -> array<f32, 25> {
  var wv: array<f32, 25>;
  for (var i = 0u; i < KH * KW; i++) { wv[i] = src2[(ci * KH * KW + i) * P.g + c]; }
  return wv;
}

@compute @workgroup_size(64)
fn forward_few_direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) li: u32) {
  let t = block_of(wid, nwg, li, (P.oh + FR - 1u) / FR);
  var acc: array<f32, 384>;
  // First input row of the block's windows, as i32: it is negative above the image.
  let ih0 = i32(t.row * FR) - i32(PT);
  for (var ci = 0u; ci < P.cin; ci++) {
    let plane = (t.n * P.cin + ci) * P.h * P.w;
    var win: array<array<f32, 24>, 20>;
    for (var j = 0u; j < FR + KH - 1u; j++) {
      let ih = ih0 + i32(j);
      win[j] = fewd_window(plane, u32(max(ih, 0)), ih >= 0 && ih < i32(P.h), t.ow0);
    }
    fewd_channel(&acc, 0u, fewd_weights(ci, 0u), win);
    if (COUT > 1u) { fewd_channel(&acc, 1u, fewd_weights(ci, 1u), win); }
    if (COUT > 2u) { fewd_channel(&acc, 2u, fewd_weights(ci, 2u), win); }
    if (COUT > 3u) { fewd_channel(&acc, 3u, fewd_weights(ci, 3u), win); }
  }
  fsgr_store(&acc, 0u, t, 0u);
  if (COUT > 1u) { fsgr_store(&acc, 1u, t, 0u); }
  if (COUT > 2u) { fsgr_store(&acc, 2u, t, 0u); }
  if (COUT > 3u) { fsgr_store(&acc, 3u, t, 0u); }
}
