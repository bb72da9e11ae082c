// Conv2d on NCHW activations with [Cout, Cin, KH, KW] weights (PyTorch layout).
//
// Shaped for CPU Vulkan (lavapipe) first, correct anywhere: no workgroup memory, no barriers. Each
// invocation owns a register block of 4 channels x several pixels (vec4 accumulators, one per
// pixel, holding 4 channels). Weights (and, for the weight gradient, the upstream gradient) are
// first repacked by `pack` so that the 4 channels of a block are one vec4.
// Measured on lavapipe (Mesa 25.0): every storage load costs about one gather per vec component
// (workgroup-uniform addresses included), and per-element integer division is expensive. So the
// kernels maximise multiply-adds per loaded value: the fast paths (forward_rows, weight_rows) read
// a zero-padded input with aligned vec4 loads and no bounds checks; the generic kernels (any
// stride) gather activations through a 4-wide sliding window, so each value is loaded once per
// (channel, kernel row, stride phase), with clamped loads + select for the zero padding.

// Every entry point uses the same layout (unused slots get a dummy buffer), so one module serves all.
@group(0) @binding(0) var<storage, read> src0: array<f32>;
// The same binding seen as vec4 (forward_rows reads the zero-padded input four columns at a time).
@group(0) @binding(0) var<storage, read> src0v: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> src1: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> src2: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
// The output seen as vec4 (pad4).
@group(0) @binding(3) var<storage, read_write> dst4: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> P: Params;

// The conv geometry, then per-kernel words a..g (see each entry point).
struct Params {
  n: u32, cin: u32, h: u32, w: u32,
  cout: u32, oh: u32, ow: u32, kh: u32,
  kw: u32, sh: u32, sw: u32, pt: u32,
  pl: u32, a: u32, b: u32, c: u32,
  d: u32, e: u32, f: u32, g: u32,
}

const WG: u32 = 64u;

// Fused ReLU epilogue of the forward kernels (conv2d(..., { relu: true })): out = max(0, conv + bias).
override RELU: bool = false;
fn act(v: vec4<f32>) -> vec4<f32> {
  return select(v, max(v, vec4<f32>(0.0)), RELU);
}

// The epilogue of the generic kernels: a block's 4 accumulators (pixel j in a_j, 4 channels each)
// stored for its first nc channels, channel c at o + c * cstride, pixel j at + j * step, only the
// pixels j * step < room (those before the row's end).
fn store_block(o: u32, cstride: u32, nc: u32, step: u32, room: u32, a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>) {
  for (var c = 0u; c < nc; c++) {
    let oc = o + c * cstride;
    dst[oc] = a0[c];
    if (step < room) { dst[oc + step] = a1[c]; }
    if (2u * step < room) { dst[oc + 2u * step] = a2[c]; }
    if (3u * step < room) { dst[oc + 3u * step] = a3[c]; }
  }
}

// src0[base + col] if the row is valid and 0 <= col < width, else 0 (the zero padding).
fn gather0(base: u32, col: i32, width: i32, row_ok: bool) -> f32 {
  let v = src0[base + u32(clamp(col, 0, width - 1))];
  return select(0.0, v, row_ok & (col >= 0) & (col < width));
}

// [B, R, C] -> [B, C', R4], R4 = R rounded up to 4, zero-filled: puts 4 consecutive r in one vec4.
// With e = 1 the C axis is read reversed (a flipped kernel, for the input gradient). With f > 0
// the C axis is rows of f values, each padded with zeros to g (C' = C / f * g).
// One invocation per output vec4 (one (b, c') and 4 consecutive r), c' fastest so that a
// subgroup's loads are contiguous. An invocation per (b, c') writing all R4 outputs serially left
// a GPU with a few thousand long, strided loops (0.21 ms for 512x512x3x3 weights on an H200).
// a = B, b = R, c = C, d = R4, e = reverse, f = row length (0: none), g = padded row length.
@compute @workgroup_size(64)
fn pack(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = linear_group(wid, nwg) * WG + li;
  let rowed = P.f != 0u;
  let cp = select(P.c, P.c / max(P.f, 1u) * P.g, rowed);
  let rblocks = P.d / 4u;
  if (i >= P.a * cp * rblocks) { return; }
  let c1 = i % cp;
  let rest = i / cp;
  let rb = rest % rblocks;
  let b = rest / rblocks;
  var ok = true;
  var c = c1;
  if (rowed) {
    let q = c1 % P.g;
    ok = q < P.f;
    c = c1 / P.g * P.f + min(q, P.f - 1u);
  }
  let cs = select(c, P.c - 1u - c, P.e != 0u);
  let last = (b * P.b + P.b - 1u) * P.c + cs;
  let r0 = rb * 4u;
  var s = (b * P.b + r0) * P.c + cs;
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) {
    v[j] = select(0.0, src0[min(s, last)], ok & (r0 + j < P.b));
    s += P.c;
  }
  dst4[(b * cp + c1) * rblocks + rb] = v;
}

// Zero-padded copy of NCHW planes: out[p, r, q] = in[p, r - top, q - left] (0 outside), the layout
// forward_rows and weight_rows read with aligned vec4 loads and no bounds checks. top/left may be
// negative (a crop). One invocation per output row.
// a = planes, b = H, c = W, d = out rows, e = out row width, f = top, g = left (i32 bits).
// Output row i of pad / pad4: the input row it copies (clamped into the plane) and whether that row
// exists (false: a row of padding).
struct PadRow { src: u32, ok: bool }
fn pad_row(i: u32) -> PadRow {
  let plane = i / P.d;
  let ih = i32(i - plane * P.d) - bitcast<i32>(P.f);
  return PadRow(plane * P.b + u32(clamp(ih, 0, i32(P.b) - 1)), (ih >= 0) & (ih < i32(P.b)));
}

@compute @workgroup_size(64)
fn pad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = linear_group(wid, nwg) * WG + li;
  if (i >= P.a * P.d) { return; }
  let row = pad_row(i);
  let row_ok = row.ok;
  let base = row.src * P.c;
  let W = i32(P.c);
  var iw = -bitcast<i32>(P.g);
  var o = i * P.e;
  for (var q = 0u; q < P.e; q++) {
    dst[o] = gather0(base, iw, W, row_ok);
    iw += 1;
    o += 1u;
  }
}

// pad with vec4 rows, when the input row width W (c) and the output row width (e) are multiples of 4:
// each output vec4 takes the two aligned input vec4s it straddles (the left padding shifts columns
// by g, so by (-g) & 3 within a vec4), one vec4 load and one vec4 store per 4 values instead of 4
// scalar gathers and stores (lavapipe runs a vec4's 4 words in one per-lane loop). Same params as pad.
@compute @workgroup_size(64)
fn pad4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = linear_group(wid, nwg) * WG + li;
  if (i >= P.a * P.d) { return; }
  let row = pad_row(i);
  let row_ok = row.ok;
  let W4 = i32(P.c / 4u);
  let base4 = row.src * (P.c / 4u);
  // Input column of output column 0, and its vec4 (floor) and offset in it.
  let s0 = -bitcast<i32>(P.g);
  let m = u32(s0 & 3);
  var a = s0 >> 2u;
  var lo = row4(base4, a, W4, row_ok);
  var o = i * (P.e / 4u);
  for (var k = 0u; k < P.e / 4u; k++) {
    let hi = row4(base4, a + 1, W4, row_ok);
    dst4[o] = shifted4(lo, hi, m);
    lo = hi;
    a += 1;
    o += 1u;
  }
}

// pad4 with one invocation per output vec4 instead of per row, for GPUs: consecutive invocations
// write consecutive vec4s (coalesced), and a plane's rows do not each become one long serial loop
// (pad4's per-row loops took 0.13 ms for seed-cnn's 48x48x64 padding on an H200). Lavapipe keeps
// pad4, where the per-row division would be paid per vec4 here. Same params as pad.
@compute @workgroup_size(64)
fn pad4_flat(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = linear_group(wid, nwg) * WG + li;
  let e4 = P.e / 4u;
  if (i >= P.a * P.d * e4) { return; }
  let row = pad_row(i / e4);
  let W4 = i32(P.c / 4u);
  let base4 = row.src * (P.c / 4u);
  let s = i32(4u * (i % e4)) - bitcast<i32>(P.g);
  let a = s >> 2u;
  dst4[i] = shifted4(row4(base4, a, W4, row.ok), row4(base4, a + 1, W4, row.ok), u32(s & 3));
}

// The 4 values starting m (0..3) into lo, continuing into hi.
fn shifted4(lo: vec4<f32>, hi: vec4<f32>, m: u32) -> vec4<f32> {
  switch m {
    case 1u: { return vec4<f32>(lo.yzw, hi.x); }
    case 2u: { return vec4<f32>(lo.zw, hi.xy); }
    case 3u: { return vec4<f32>(lo.w, hi.xyz); }
    default: { return lo; }
  }
}

// Input vec4 a of a row (0 outside the row or the image: the zero padding).
fn row4(base4: u32, a: i32, W4: i32, row_ok: bool) -> vec4<f32> {
  let v = src0v[base4 + u32(clamp(a, 0, W4 - 1))];
  return select(vec4<f32>(0.0), v, row_ok & (a >= 0) & (a < W4));
}

// out[o, i] = sum_r in[o, r, i] over [a, b, c] = [outer, R, inner], one invocation per output:
// split-K partials of the weight gradient, and the bias gradient.
@compute @workgroup_size(64)
fn sum_mid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = linear_group(wid, nwg) * WG + li;
  if (i >= P.a * P.c) { return; }
  var k = (i / P.c) * P.b * P.c + i % P.c;
  var s = 0.0;
  for (var r = 0u; r < P.b; r++) {
    s += src0[k];
    k += P.c;
  }
  dst[i] = s;
}

// sum_mid for inner = 1 and R % 4 == 0 (the bias gradient's (image, channel) planes): the run read as
// vec4s, which lavapipe bounds-checks once per lane for 4 values (the scalar loop: per value).
@compute @workgroup_size(64)
fn sum_mid4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = linear_group(wid, nwg) * WG + li;
  if (i >= P.a) { return; }
  let r4 = P.b / 4u;
  var k = i * r4;
  var s = vec4<f32>(0.0);
  for (var r = 0u; r < r4; r++) {
    s += src0v[k];
    k += 1u;
  }
  dst[i] = (s.x + s.y) + (s.z + s.w);
}

// Forward for column stride 1 on a zero-padded input xp [N, Cin, Hp, Wp] (from pad), the fast path
// (the generic `forward` below handles column strides > 1): a block is 4 output channels x
// ROW_PIX (12) consecutive pixels of one row. On lavapipe every storage load costs about one
// gather per component, so the block is sized to maximise multiply-adds per loaded value: per
// (ci, kh) the ROW_PIX - 1 + KW input values are NV aligned vec4 loads, and each weight vec4
// serves ROW_PIX pixels (12 measured best; 48 accumulators spill, but spills are cheaper than loads).
// KW is an override so the kw loop unrolls and the window stays in registers.
// src0v = xp, src1 = weights packed [Cin*KH*KW, Cout4], src2 = bias, dst = out.
// a = Cout4/4, b = ceil(OW/12), c = N*OH*b, d = has bias, e = Hp, f = Wp/4, g = input channels per
// split (0: no split).
override KW: u32 = 3u;
// 4, 8 or 12 pixels per block (the host picks what wastes least on the row width), or the whole
// row when it is at most 12 wide (6x6 maps: 6, not 8 with 2 wasted).
override ROW_PIX: u32 = 12u;
override NV: u32 = (ROW_PIX + KW + 2u) / 4u;
// Load the next input row before this one's multiply-adds ('rows_pf' variants, for GPUs).
override PREFETCH: bool = false;

@compute @workgroup_size(64)
fn forward_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let cob = P.a;
  // Split over input channels (g = channels per split, 0: none): split s sums channels
  // [s * g, (s + 1) * g) into its own [N, Cout, OH, OW] slab of dst (summed by sum_mid), giving
  // maps with few pixels (12x12, 6x6) enough invocations to fill a GPU.
  let perSplit = cob * ((P.c + WG - 1u) / WG);
  let gl = linear_group(wid, nwg);
  let split = gl / perSplit;
  let g = gl % perSplit;
  let ci0 = split * P.g;
  let ci1 = select(P.cin, min(P.cin, ci0 + P.g), P.g != 0u);
  let cb = g % cob;
  let pb0 = (g / cob) * WG + li;
  if (pb0 >= P.c) { return; }
  let owb = pb0 % P.b;
  let row = pb0 / P.b;
  let oh = row % P.oh;
  let n = row / P.oh;
  let ow0 = owb * ROW_PIX;
  let w4 = P.f;

  var b = vec4<f32>(0.0);
  if (P.d != 0u && split == 0u) {
    let co = cb * 4u;
    let m = P.cout - 1u;
    b = vec4<f32>(src2[min(co, m)], src2[min(co + 1u, m)], src2[min(co + 2u, m)], src2[min(co + 3u, m)]);
  }
  var a0 = b; var a1 = b; var a2 = b; var a3 = b; var a4 = b; var a5 = b;
  var a6 = b; var a7 = b; var a8 = b; var a9 = b; var a10 = b; var a11 = b;

  var xr = ((n * P.cin + ci0) * P.e + oh * P.sh) * w4 + ow0 / 4u;
  var wk = cb + ci0 * P.kh * KW * cob;
  var xs: array<f32, 32>;
  // One step per (ci, kh) input row. With PREFETCH (a GPU variant) the next row's loads are issued
  // before this row's multiply-adds, so their latency overlaps the arithmetic.
  var q: array<vec4<f32>, 8>;
  if (PREFETCH) {
    for (var v = 0u; v < NV; v++) { q[v] = src0v[xr + v]; }
  }
  let steps = (ci1 - ci0) * P.kh;
  var kh = 0u;
  for (var t = 0u; t < steps; t++) {
    if (!PREFETCH) {
      for (var v = 0u; v < NV; v++) { q[v] = src0v[xr + v]; }
    }
    for (var v = 0u; v < NV; v++) {
      xs[4u * v] = q[v].x;
      xs[4u * v + 1u] = q[v].y;
      xs[4u * v + 2u] = q[v].z;
      xs[4u * v + 3u] = q[v].w;
    }
    // The next row: the next kernel row, or the first of the next channel.
    kh += 1u;
    let next_channel = kh == P.kh;
    xr += select(w4, (P.e - P.kh + 1u) * w4, next_channel);
    kh = select(kh, 0u, next_channel);
    if (PREFETCH && t + 1u < steps) {
      for (var v = 0u; v < NV; v++) { q[v] = src0v[xr + v]; }
    }
    for (var kw = 0u; kw < KW; kw++) {
      let wv = src1[wk + kw * cob];
      a0 += wv * xs[kw];
      // ROW_PIX is a pipeline constant: these branches fold away.
      if (ROW_PIX > 1u) { a1 += wv * xs[kw + 1u]; }
      if (ROW_PIX > 2u) { a2 += wv * xs[kw + 2u]; }
      if (ROW_PIX > 3u) { a3 += wv * xs[kw + 3u]; }
      if (ROW_PIX > 4u) { a4 += wv * xs[kw + 4u]; }
      if (ROW_PIX > 5u) { a5 += wv * xs[kw + 5u]; }
      if (ROW_PIX > 6u) { a6 += wv * xs[kw + 6u]; }
      if (ROW_PIX > 7u) { a7 += wv * xs[kw + 7u]; }
      if (ROW_PIX > 8u) { a8 += wv * xs[kw + 8u]; }
      if (ROW_PIX > 9u) { a9 += wv * xs[kw + 9u]; }
      if (ROW_PIX > 10u) { a10 += wv * xs[kw + 10u]; }
      if (ROW_PIX > 11u) { a11 += wv * xs[kw + 11u]; }
    }
    wk += KW * cob;
  }

  let hw = P.oh * P.ow;
  let co0 = cb * 4u;
  let o = (n * P.cout + co0) * hw + oh * P.ow + ow0 + split * P.n * P.cout * hw;
  let nc = min(4u, P.cout - co0);
  let np = min(ROW_PIX, P.ow - ow0);
  for (var c = 0u; c < nc; c++) {
    let oc = o + c * hw;
    dst[oc] = act(a0)[c];
    if (np > 1u) { dst[oc + 1u] = act(a1)[c]; }
    if (np > 2u) { dst[oc + 2u] = act(a2)[c]; }
    if (np > 3u) { dst[oc + 3u] = act(a3)[c]; }
    if (np > 4u) { dst[oc + 4u] = act(a4)[c]; }
    if (np > 5u) { dst[oc + 5u] = act(a5)[c]; }
    if (np > 6u) { dst[oc + 6u] = act(a6)[c]; }
    if (np > 7u) { dst[oc + 7u] = act(a7)[c]; }
    if (np > 8u) { dst[oc + 8u] = act(a8)[c]; }
    if (np > 9u) { dst[oc + 9u] = act(a9)[c]; }
    if (np > 10u) { dst[oc + 10u] = act(a10)[c]; }
    if (np > 11u) { dst[oc + 11u] = act(a11)[c]; }
  }
}

// out[n, co, oh, ow] = bias[co] + sum_{ci, kh, kw} w[co, ci, kh, kw] * x[n, ci, oh*sh - pt + kh, ow*sw - pl + kw]
// src0 = x, src1 = weights packed [Cin*KH*KW, Cout4] (vec4 over co), src2 = bias, dst = out.
// a = Cout4/4 (channel blocks), b = ceil(OW/4) (pixel blocks per output row), c = N*OH*b, d = has bias.
// Workgroup: one channel block x 64 pixel blocks (channel block fastest, so neighbouring
// workgroups reuse the same input rows from cache).
@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = linear_group(wid, nwg);
  let cob = P.a;
  let cb = g % cob;
  let pb0 = (g / cob) * WG + li;
  if (pb0 >= P.c) { return; }
  let owb = pb0 % P.b;
  let row = pb0 / P.b;
  let oh = row % P.oh;
  let n = row / P.oh;
  let ow0 = owb * 4u;
  let ih0 = i32(oh * P.sh) - i32(P.pt);
  let iw0 = i32(ow0 * P.sw) - i32(P.pl);
  let H = i32(P.h);
  let W = i32(P.w);
  let s = i32(P.sw);

  var a0 = vec4<f32>(0.0);
  if (P.d != 0u) {
    let co = cb * 4u;
    let m = P.cout - 1u;
    a0 = vec4<f32>(src2[min(co, m)], src2[min(co + 1u, m)], src2[min(co + 2u, m)], src2[min(co + 3u, m)]);
  }
  var a1 = a0;
  var a2 = a0;
  var a3 = a0;

  let plane = P.h * P.w;
  let phases = min(P.sw, P.kw);
  var xc = n * P.cin * plane;
  var wk = cb;
  for (var ci = 0u; ci < P.cin; ci++) {
    for (var kh = 0u; kh < P.kh; kh++) {
      let ih = ih0 + i32(kh);
      let row_ok = (ih >= 0) & (ih < H);
      let base = xc + u32(clamp(ih, 0, H - 1)) * P.w;
      // Stride phase r: pixel j at kw = r + t*sw reads column iw0 + r + (j + t)*sw, so stepping
      // t shifts the window by one pixel and needs one new value.
      for (var r = 0u; r < phases; r++) {
        var col = iw0 + i32(r);
        var x1 = gather0(base, col, W, row_ok);
        var x2 = gather0(base, col + s, W, row_ok);
        var x3 = gather0(base, col + 2 * s, W, row_ok);
        var x0 = 0.0;
        col += 3 * s;
        for (var kw = r; kw < P.kw; kw += P.sw) {
          x0 = x1;
          x1 = x2;
          x2 = x3;
          x3 = gather0(base, col, W, row_ok);
          col += s;
          let wv = src1[wk + kw * cob];
          a0 += wv * x0;
          a1 += wv * x1;
          a2 += wv * x2;
          a3 += wv * x3;
        }
      }
      wk += P.kw * cob;
    }
    xc += plane;
  }

  let hw = P.oh * P.ow;
  let co0 = cb * 4u;
  let o = (n * P.cout + co0) * hw + oh * P.ow + ow0;
  store_block(o, hw, min(4u, P.cout - co0), 1u, P.ow - ow0, act(a0), act(a1), act(a2), act(a3));
}

// dx[n, ci, ih, iw] = sum over (co, kh, kw) with ih + pt - kh = oh*sh, iw + pl - kw = ow*sw of
// gy[n, co, oh, ow] * w[co, ci, kh, kw] (a transposed convolution, as a gather).
// src0 = gy, src1 = weights packed [Cout*KH*KW, Cin4] (vec4 over ci), dst = dx.
// A block is 4 input channels x 4 pixels iwb + j*sw of one row: all share a stride phase
// (ih mod sh, iw mod sw), hence the same valid (kh, kw) set, and for each valid kw they read 4
// consecutive gy columns. The phase is taken from the workgroup id, so loop bounds stay uniform.
// a = Cin4/4, b = column blocks per row and phase = ceil(ceil(W/sw)/4), c = rows per phase =
// ceil(H/sh), d = blocks per phase = N*c*b.
@compute @workgroup_size(64)
fn backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = linear_group(wid, nwg);
  let cib = P.a;
  let cb = g % cib;
  let rest = g / cib;
  let nph = P.sh * P.sw;
  let ph = rest % nph;
  let pb0 = (rest / nph) * WG + li;
  if (pb0 >= P.d) { return; }
  let phh = ph / P.sw;
  let phw = ph % P.sw;
  let q = pb0 % P.b;
  let t = pb0 / P.b;
  let i = t % P.c;
  let n = t / P.c;
  let ih = phh + i * P.sh;
  let iwb = phw + q * 4u * P.sw;
  if (ih >= P.h || iwb >= P.w) { return; }
  let OH = i32(P.oh);
  let OW = i32(P.ow);
  let sh = i32(P.sh);
  let kh0 = (phh + P.pt) % P.sh;
  let kw0 = (phw + P.pl) % P.sw;
  // ow of pixel 0 at kw = kw0 (exact: kw0 = iwb + pl mod sw); pixel j at kw0 + t*sw reads ob + j - t.
  let ob = i32((iwb + P.pl - kw0) / P.sw);
  let ohs = i32(ih + P.pt);

  var a0 = vec4<f32>(0.0);
  var a1 = a0;
  var a2 = a0;
  var a3 = a0;
  let ohw = P.oh * P.ow;
  var gc = n * P.cout * ohw;
  for (var co = 0u; co < P.cout; co++) {
    for (var kh = kh0; kh < P.kh; kh += P.sh) {
      let d = ohs - i32(kh);
      let oh = d / sh;
      let row_ok = (d >= 0) & (oh < OH);
      let base = gc + u32(clamp(oh, 0, OH - 1)) * P.ow;
      let wk = ((co * P.kh + kh) * P.kw) * cib + cb;
      var col = ob;
      var r0 = gather0(base, col + 1, OW, row_ok);
      var r1 = gather0(base, col + 2, OW, row_ok);
      var r2 = gather0(base, col + 3, OW, row_ok);
      var r3 = 0.0;
      for (var kw = kw0; kw < P.kw; kw += P.sw) {
        r3 = r2;
        r2 = r1;
        r1 = r0;
        r0 = gather0(base, col, OW, row_ok);
        col -= 1;
        let wv = src1[wk + kw * cib];
        a0 += wv * r0;
        a1 += wv * r1;
        a2 += wv * r2;
        a3 += wv * r3;
      }
    }
    gc += ohw;
  }

  let plane = P.h * P.w;
  let ci0 = cb * 4u;
  let o = (n * P.cin + ci0) * plane + ih * P.w + iwb;
  store_block(o, plane, min(4u, P.cin - ci0), P.sw, P.w - iwb, a0, a1, a2, a3);
}

// Weight gradient for column stride 1, the fast path (backward_weight below handles the rest):
// a block is 4 output channels x the KW taps of one kernel row (ci, kh), accumulated over the
// pixels of a chunk of rows 4 at a time: per 4 pixels, NVW aligned vec4 loads of the zero-padded
// input row and 4 vec4 loads of gy (4 channels each) feed 4 * KW vec4 multiply-adds. (4 pixels
// measured faster than 8 or 12 on lavapipe, and wastes less on rows of 12 or 6.)
// src0v = xp [N, Cin, Hp, Wp] (from pad), src1 = gy packed [N*OH, OWp, Cout4] (OWp = 4 * groups,
// zero-filled past OW), dst = dw, or split-K partials [chunks, Cout*Cin*KH*KW].
// a = Cout4/4, b = Cin*KH, c = Hp, d = Wp/4, e = groups of 4 pixels per row, f = rows per chunk.
// The workgroup shares the channel block; its lanes take (chunk, kernel row) pairs, kernel row
// fastest, so a layer with few kernel rows (Cin = 1) still fills the lanes with row chunks.
const GRAD_PIX: u32 = 4u;
override NVW: u32 = (GRAD_PIX + KW + 2u) / 4u;

@compute @workgroup_size(64)
fn weight_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = linear_group(wid, nwg);
  let cob = P.a;
  let cb = g % cob;
  let u = (g / cob) * WG + li;
  let t = u % P.b;
  let chunk = u / P.b;
  let rows = P.n * P.oh;
  let row0 = chunk * P.f;
  if (row0 >= rows) { return; }
  let kh = t % P.kh;
  let ci = t / P.kh;
  let row1 = min(row0 + P.f, rows);
  let w4 = P.d;
  let owp = P.e * GRAD_PIX;

  var acc: array<vec4<f32>, 16>;
  var xs: array<f32, 32>;
  for (var row = row0; row < row1; row++) {
    let n = row / P.oh;
    let oh = row % P.oh;
    var xr = ((n * P.cin + ci) * P.c + oh * P.sh + kh) * w4;
    var gr = row * owp * cob + cb;
    for (var ob = 0u; ob < P.e; ob++) {
      for (var v = 0u; v < NVW; v++) {
        let q = src0v[xr + v];
        xs[4u * v] = q.x;
        xs[4u * v + 1u] = q.y;
        xs[4u * v + 2u] = q.z;
        xs[4u * v + 3u] = q.w;
      }
      for (var j = 0u; j < GRAD_PIX; j++) {
        let gv = src1[gr + j * cob];
        for (var kw = 0u; kw < KW; kw++) {
          acc[kw] += gv * xs[j + kw];
        }
      }
      xr += GRAD_PIX / 4u;
      gr += GRAD_PIX * cob;
    }
  }

  let kk = P.kh * P.kw;
  let co0 = cb * 4u;
  let o = chunk * P.cout * P.cin * kk + (co0 * P.cin + ci) * kk + kh * P.kw;
  let nc = min(4u, P.cout - co0);
  for (var c = 0u; c < nc; c++) {
    let oc = o + c * P.cin * kk;
    for (var kw = 0u; kw < KW; kw++) {
      dst[oc + kw] = acc[kw][c];
    }
  }
}

// dw[co, ci, kh, kw] = sum_{n, oh, ow} gy[n, co, oh, ow] * x[n, ci, oh*sh - pt + kh, ow*sw - pl + kw]
// src0 = x, src1 = gy packed [N*OH*OW, Cout4] (vec4 over co), dst = dw, or split-K partials
// [chunks, Cout*Cin*KH*KW] summed afterwards by sum_mid.
// A block is 4 output channels x 4 kernel columns kwa + j*sw of one (ci, kh): stepping ow shifts
// the x window by one slot. The workgroup shares the channel block and the row chunk; lanes
// differ in (ci, kh, kw block).
// a = Cout4/4, b = kw blocks per (ci, kh) = sw*ceil(ceil(KW/sw)/4), c = Cin*KH*b,
// d = ceil(c/64), e = rows (n, oh) per chunk, f = chunks, g = Cout*Cin*KH*KW.
@compute @workgroup_size(64)
fn backward_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = linear_group(wid, nwg);
  let cob = P.a;
  let cb = g % cob;
  let rest = g / cob;
  let kg = rest % P.d;
  let chunk = rest / P.d;
  let kb = kg * WG + li;
  if (kb >= P.c || chunk >= P.f) { return; }
  let kwb = kb % P.b;
  let t = kb / P.b;
  let kh = t % P.kh;
  let ci = t / P.kh;
  let kwa = kwb % P.sw + (kwb / P.sw) * 4u * P.sw;
  if (kwa >= P.kw) { return; }
  let s = i32(P.sw);
  let c0 = i32(kwa) - i32(P.pl);
  let H = i32(P.h);
  let W = i32(P.w);
  let plane = P.h * P.w;
  let row0 = chunk * P.e;
  let row1 = min(row0 + P.e, P.n * P.oh);

  var a0 = vec4<f32>(0.0);
  var a1 = a0;
  var a2 = a0;
  var a3 = a0;
  for (var row = row0; row < row1; row++) {
    let n = row / P.oh;
    let oh = row % P.oh;
    let ih = i32(oh * P.sh + kh) - i32(P.pt);
    let row_ok = (ih >= 0) & (ih < H);
    let base = (n * P.cin + ci) * plane + u32(clamp(ih, 0, H - 1)) * P.w;
    // Slot j at column ow reads x column (ow + j)*sw + c0.
    var col = c0;
    var x1 = gather0(base, col, W, row_ok);
    var x2 = gather0(base, col + s, W, row_ok);
    var x3 = gather0(base, col + 2 * s, W, row_ok);
    var x0 = 0.0;
    col += 3 * s;
    var gi = row * P.ow * cob + cb;
    for (var ow = 0u; ow < P.ow; ow++) {
      x0 = x1;
      x1 = x2;
      x2 = x3;
      x3 = gather0(base, col, W, row_ok);
      col += s;
      let gv = src1[gi];
      gi += cob;
      a0 += gv * x0;
      a1 += gv * x1;
      a2 += gv * x2;
      a3 += gv * x3;
    }
  }

  let kk = P.kh * P.kw;
  let co0 = cb * 4u;
  let o = chunk * P.g + ((co0 * P.cin + ci) * P.kh + kh) * P.kw + kwa;
  store_block(o, P.cin * kk, min(4u, P.cout - co0), P.sw, P.kw - kwa, a0, a1, a2, a3);
}

// Weight gradient for hardware GPUs (the kernels above are shaped for lavapipe): a GEMM
// dW[co, c] = sum_k gy[co, k] * X[k, c] with c = (ci, kh, kw) and k = (n, oh, ow), where X is
// gathered from the input on the fly (implicit im2col, zero padding by bounds checks). A workgroup
// of 256 computes a 64 (co) x 128 (c) tile, each invocation a 4 x 8 register block (rows 4 ty..,
// columns 4 tx.. and 64 + 4 tx..); K is staged in chunks of 16 in workgroup memory as vec4 rows,
// so the inner loop does 32 multiply-adds per 3 vec4 workgroup loads. Split-K: workgroup s of
// `splits` sums k in [s * kper, (s+1) * kper) and writes its partial tile to dst[s, co, c];
// sum_mid then adds the partials in a fixed order (deterministic, no atomics).
// src0 = x, src2 = gy, dst = partials [splits, Cout, Cin*KH*KW].
// a = tiles along c, b = splits, c = K per split (a multiple of 16), d = Cin*KH*KW.
const GM: u32 = 64u;
const GC: u32 = 128u;
const GK: u32 = 16u;
var<workgroup> gA: array<vec4<f32>, 256>; // [GK][GM / 4] gy chunk
var<workgroup> gB: array<vec4<f32>, 512>; // [GK][GC / 4] gathered input chunk

@compute @workgroup_size(256)
fn weight_gemm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = linear_group(wid, nwg);
  let split = g % P.b;
  let tile = g / P.b;
  let c0 = (tile % P.a) * GC;
  let m0 = (tile / P.a) * GM;
  let ohw = P.oh * P.ow;
  let K = P.n * ohw;
  let ncol = P.d;
  let khw = P.kh * P.kw;
  let kbeg = split * P.c;
  let kend = min(K, kbeg + P.c);
  // Staging role: k = k0 + lk; rows 4 lr .. 4 lr + 3, columns 4 lr + (0..3) and 64 + 4 lr + (0..3).
  let lk = li % GK;
  let lr = li / GK;
  // (ci, kh, kw) of the 8 gathered columns, fixed for the whole K loop.
  var colOk: array<bool, 8>;
  var colBase: array<u32, 8>; // ci * H * W
  var colDh: array<i32, 8>; // kh - pt
  var colDw: array<i32, 8>; // kw - pl
  for (var j = 0u; j < 8u; j++) {
    let c = c0 + 4u * lr + (j & 3u) + 64u * (j >> 2u);
    colOk[j] = c < ncol;
    let cc = min(c, ncol - 1u);
    let r = cc % khw;
    colBase[j] = (cc / khw) * P.h * P.w;
    colDh[j] = i32(r / P.kw) - i32(P.pt);
    colDw[j] = i32(r % P.kw) - i32(P.pl);
  }
  var rowOk: array<bool, 4>;
  var rowBase: array<u32, 4>; // co * OH * OW
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + 4u * lr + i;
    rowOk[i] = m < P.cout;
    rowBase[i] = min(m, P.cout - 1u) * ohw;
  }
  let tx = li % 16u;
  let ty = li / 16u;
  var acc0: array<vec4<f32>, 4>; // rows 4 ty + i, columns 4 tx ..
  var acc1: array<vec4<f32>, 4>; // rows 4 ty + i, columns 64 + 4 tx ..
  for (var i = 0u; i < 4u; i++) {
    acc0[i] = vec4<f32>(0.0);
    acc1[i] = vec4<f32>(0.0);
  }
  let H = i32(P.h);
  let W = i32(P.w);
  for (var k0 = kbeg; k0 < kend; k0 += GK) {
    let k = k0 + lk;
    let kOk = k < kend;
    let kc = min(k, K - 1u);
    let n = kc / ohw;
    let p = kc % ohw;
    let oh = i32(p / P.ow) * i32(P.sh);
    let ow = i32(p % P.ow) * i32(P.sw);
    let gyBase = n * P.cout * ohw + p;
    let xBase = n * P.cin * P.h * P.w;
    var a: vec4<f32>;
    for (var i = 0u; i < 4u; i++) {
      a[i] = select(0.0, src2[gyBase + rowBase[i]], kOk & rowOk[i]);
    }
    gA[lk * 16u + lr] = a;
    var b: array<f32, 8>;
    for (var j = 0u; j < 8u; j++) {
      let ih = oh + colDh[j];
      let iw = ow + colDw[j];
      let inside = (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W);
      let v = src0[xBase + colBase[j] + u32(clamp(ih, 0, H - 1)) * P.w + u32(clamp(iw, 0, W - 1))];
      b[j] = select(0.0, v, kOk & colOk[j] & inside);
    }
    gB[lk * 32u + lr] = vec4<f32>(b[0], b[1], b[2], b[3]);
    gB[lk * 32u + 16u + lr] = vec4<f32>(b[4], b[5], b[6], b[7]);
    workgroupBarrier();
    for (var kk = 0u; kk < GK; kk++) {
      let av = gA[kk * 16u + ty];
      let b0 = gB[kk * 32u + tx];
      let b1 = gB[kk * 32u + 16u + tx];
      for (var i = 0u; i < 4u; i++) {
        acc0[i] += av[i] * b0;
        acc1[i] += av[i] * b1;
      }
    }
    workgroupBarrier();
  }
  let out0 = split * P.cout * ncol;
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + 4u * ty + i;
    if (m >= P.cout) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let c = c0 + 4u * tx + j;
      if (c < ncol) { dst[out0 + m * ncol + c] = acc0[i][j]; }
      if (c + 64u < ncol) { dst[out0 + m * ncol + c + 64u] = acc1[i][j]; }
    }
  }
}

// Forward pass for hardware GPUs: a workgroup-tiled implicit GEMM (the same register layout as
// matmul_tiled.wgsl). out[n, co, p] = bias[co] + sum_k wf[k, co] * X[k, (n, p)], k = (ci, kh, kw),
// X gathered from the input on the fly (zero padding by bounds checks, any stride). A workgroup of
// 256 invocations, TY rows x 256 / TY columns of them, computes TY FTM output channels x PX = 2048 / TY
// pixels; each invocation an FTM x 8 register block: channels 4 ty.. (and bm / 2 + 4 ty.. when
// FTM = 8), pixels 4 tx.. and PX / 2 + 4 tx... TY 16: 128 or 64 channels x 128 pixels ('gemm',
// 'gemm64'); TY 8 with FTM 4: 32 channels x 256 pixels ('gemm32', for layers of 32 output channels,
// which would fill a quarter of the 128-channel tile). K is staged 8 at a time in workgroup memory;
// the next stage is fetched into registers while the current one is multiplied. Each staging
// invocation keeps one pixel for the whole K loop (its decomposition is computed once), and
// consecutive invocations gather consecutive pixels, so the input reads coalesce.
// src0 = x, src1 = packed weights [Cin*KH*KW, Cout4] (vec4 = 4 channels), src2 = bias, dst = out.
// a = pixel tiles, b = Cout4 / 4 (vec4s per weight row), c = has bias.
override FTM: u32 = 8u; // output channels per invocation: 4 or 8
override TY: u32 = 16u; // invocation rows: 16 or 8 (FTM 4)
override PX: u32 = 2048u / TY; // pixels per tile
override FB_LEN: u32 = FBK * PX / 4u;
const FBK: u32 = 8u;
var<workgroup> fA: array<vec4<f32>, 256>; // [FBK][TY FTM / 4] weights, 4 channels per vec4
var<workgroup> fB: array<vec4<f32>, FB_LEN>; // [FBK][PX / 4] gathered input, 4 pixels per vec4

@compute @workgroup_size(256)
fn forward_gemm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = linear_group(wid, nwg);
  let bm = TY * FTM;
  let rowV = bm / 4u; // vec4s per staged weight row
  let p0 = (g % P.a) * PX;
  let c0 = (g / P.a) * bm;
  let ohw = P.oh * P.ow;
  let npix = P.n * ohw;
  let khw = P.kh * P.kw;
  let hw = P.h * P.w;
  let K = P.cin * khw;
  let cob = P.b;
  let H = i32(P.h);
  let W = i32(P.w);
  // Staging roles. Weights: vec4 aq of k row ak (invocations below FBK rowV). Input: pixel column
  // sc, k rows sk + KS r for r < FBK / KS, KS = 256 / PX k rows gathered at once.
  let aq = li % rowV;
  let ak = li / rowV;
  let aOk = (li < FBK * rowV) & (c0 / 4u + aq < cob);
  let aCol = min(c0 / 4u + aq, cob - 1u);
  let KS = 256u / PX;
  let sc = li % PX;
  let sk = li / PX;
  let pix = p0 + sc;
  let pixOk = pix < npix;
  let pc = min(pix, npix - 1u);
  let pp = pc % ohw;
  let ih0 = i32((pp / P.ow) * P.sh) - i32(P.pt);
  let iw0 = i32((pp % P.ow) * P.sw) - i32(P.pl);
  let xBase = (pc / ohw) * P.cin * hw;

  let TX = 256u / TY;
  let tx = li % TX;
  let ty = li / TX;
  var acc: array<vec4<f32>, 16>; // [channel i][half h] at 2 i + h
  for (var i = 0u; i < 16u; i++) { acc[i] = vec4<f32>(0.0); }
  // The first stage's fetch; later stages are fetched during the previous stage's multiply.
  var ra = select(vec4<f32>(0.0), src1[min(ak, K - 1u) * cob + aCol], aOk & (ak < K));
  var rb: array<f32, 8>;
  for (var r = 0u; r < FBK / KS; r++) { rb[r] = conv_gather(sk + KS * r, K, khw, xBase, hw, ih0, iw0, H, W, pixOk); }
  for (var k0 = 0u; k0 < K; k0 += FBK) {
    workgroupBarrier(); // the previous stage's reads are done
    if (li < FBK * rowV) { fA[ak * rowV + aq] = ra; }
    for (var r = 0u; r < FBK / KS; r++) { fB[(sk + KS * r) * (PX / 4u) + sc / 4u][sc % 4u] = rb[r]; }
    workgroupBarrier();
    let k1 = k0 + FBK;
    if (k1 < K) {
      let k = k1 + ak;
      ra = select(vec4<f32>(0.0), src1[min(k, K - 1u) * cob + aCol], aOk & (k < K));
      for (var r = 0u; r < FBK / KS; r++) { rb[r] = conv_gather(k1 + sk + KS * r, K, khw, xBase, hw, ih0, iw0, H, W, pixOk); }
    }
    for (var kk = 0u; kk < FBK; kk++) {
      let b0 = fB[kk * (PX / 4u) + tx];
      let b1 = fB[kk * (PX / 4u) + PX / 8u + tx];
      for (var q = 0u; q < FTM / 4u; q++) {
        let av = fA[kk * rowV + q * (rowV / 2u) + ty];
        for (var i = 0u; i < 4u; i++) {
          acc[(q * 4u + i) * 2u] += av[i] * b0;
          acc[(q * 4u + i) * 2u + 1u] += av[i] * b1;
        }
      }
    }
  }

  for (var h = 0u; h < 2u; h++) {
    for (var j = 0u; j < 4u; j++) {
      let p = p0 + h * (PX / 2u) + 4u * tx + j;
      if (p >= npix) { break; }
      let base = (p / ohw) * P.cout * ohw + p % ohw;
      for (var i = 0u; i < FTM; i++) {
        let co = c0 + (i / 4u) * (bm / 2u) + 4u * ty + i % 4u;
        if (co >= P.cout) { continue; }
        var v = acc[i * 2u + h][j];
        if (P.c != 0u) { v += src2[co]; }
        if (RELU) { v = max(v, 0.0); }
        dst[base + co * ohw] = v;
      }
    }
  }
}

// X[k, pixel] of forward_gemm: the input value under kernel tap k = (ci, kh, kw) of the pixel whose
// top-left tap is (ih0, iw0) in image xBase; 0 in the padding and for k >= K.
fn conv_gather(k: u32, K: u32, khw: u32, xBase: u32, hw: u32, ih0: i32, iw0: i32, H: i32, W: i32, pixOk: bool) -> f32 {
  let kc = min(k, K - 1u);
  let r = kc % khw;
  let ih = ih0 + i32(r / P.kw);
  let iw = iw0 + i32(r % P.kw);
  let inside = pixOk & (k < K) & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W);
  let v = src0[xBase + (kc / khw) * hw + u32(clamp(ih, 0, H - 1)) * P.w + u32(clamp(iw, 0, W - 1))];
  return select(0.0, v, inside);
}
