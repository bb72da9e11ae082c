// Batch normalisation. x is viewed as [N, C, S] (S = H*W for 2d, 1 for 1d); the statistics of
// channel c run over the M = N*S elements x[n, c, s].
//
// Statistics: shifted sums in one pass. Every chunk of a channel sums d = x - K and d*d with the
// same shift K = x[0, c, 0] (the channel's first element), so partial sums of chunks add exactly and
// var = E[d^2] - E[d]^2 only cancels as much as |mean - K| exceeds the std (K is a sample of the
// channel, so typically by ~1 std), unlike raw sums of squares, which lose everything when
// |mean| >> std. One read of x instead of the two of a two-pass mean/variance.
//
// Reductions are split into `chunks` workgroups per channel (partials in a small buffer, combined
// by a per-channel finalize kernel), so few channels still fill every core; each invocation sums
// a strided run serially and a single 64-wide tree per workgroup (pair_tree, prelude.wgsl)
// combines them. Variants: vec4 kernels when S % 4 == 0 (the usual 2d maps), and column kernels for
// S == 1 (1d), where lanes run over adjacent channels. Hot loops have no integer division (no SIMD
// form on CPUs).

// Binding numbers repeat across entry points with different meanings: each entry point only
// references its own set (group 0, bindings 0..n-1 storage, n uniform).
@group(0) @binding(0) var<storage, read> b0: array<f32>;
@group(0) @binding(1) var<storage, read> b1: array<f32>;
@group(0) @binding(2) var<storage, read> b2: array<f32>;
@group(0) @binding(3) var<storage, read> b3: array<f32>;
@group(0) @binding(4) var<storage, read> b4: array<f32>;
@group(0) @binding(5) var<storage, read> b5: array<f32>;
@group(0) @binding(7) var<storage, read> b7: array<f32>;

@group(0) @binding(1) var<storage, read_write> w1: array<f32>;
@group(0) @binding(2) var<storage, read_write> w2: array<f32>;
@group(0) @binding(3) var<storage, read_write> w3: array<f32>;
@group(0) @binding(4) var<storage, read_write> w4: array<f32>;
@group(0) @binding(6) var<storage, read_write> w6: array<f32>;

// n, c, s: the [N, C, S] view. chunks/chunk: reduction split. eps, momentum: see stats_finalize.
// step_r, step_qc: WG % S' and (WG / S') % C for S' = S (scalar kernels) or S / 4 (vec4 kernels),
// from the host (see Chan).
struct Params { n: u32, c: u32, s: u32, chunks: u32, chunk: u32, eps: f32, momentum: f32, step_r: u32, step_qc: u32 }
@group(0) @binding(2) var<uniform> P2: Params;
@group(0) @binding(3) var<uniform> P3: Params;
@group(0) @binding(5) var<uniform> P5: Params;
@group(0) @binding(6) var<uniform> P6: Params;
@group(0) @binding(8) var<uniform> P8: Params;

const WG: u32 = 64u;
// Fused ReLU (batchNorm(..., { relu: true })): normalize / normalize4 write y = max(0, z), z = bn(x),
// and the backward kernels mask the upstream gradient by z > 0 as they read it (no separate pass).
// They recompute z from x (relu_pass, relu_pass4) instead of reading y: one tensor fewer to read, and
// y need not outlive the forward. The backward kernels bind gamma and beta either way.
override RELU: bool = false;

// z > 0 for the fused ReLU's mask, by the same operations in the same order as normalize (scalar
// kernels) and normalize4 (a = invstd * gamma), so z is the very f32 value y was made from.
fn relu_pass(x: f32, mean: f32, invstd: f32, gamma: f32, beta: f32) -> bool {
  return (x - mean) * invstd * gamma + beta > 0.0;
}
fn relu_pass4(x: vec4<f32>, mean: f32, a: f32, beta: f32) -> vec4<bool> {
  return (x - mean) * a + beta > vec4<f32>(0.0);
}
// Elementwise kernels: each invocation handles PER elements WG apart, so lanes stay contiguous
// (and the divisions of chan_start are amortised over PER elements). The host sets PER per adapter.
override PER: u32 = 8u;

// Walks the flat indices j = start+li, start+li+WG, ... < end of one channel, tracking (n, s)
// incrementally so the hot loop has no integer division.
struct Walk { j: u32, n: u32, s: u32, q: u32, r: u32 }

fn walk_start(start: u32, li: u32, S: u32) -> Walk {
  let j = start + li;
  let n = j / S;
  let q = WG / S;
  return Walk(j, n, j - n * S, q, WG - q * S);
}

fn walk_next(w: ptr<function, Walk>, S: u32) {
  (*w).j += WG;
  (*w).n += (*w).q;
  (*w).s += (*w).r;
  if ((*w).s >= S) {
    (*w).s -= S;
    (*w).n += 1u;
  }
}

// Channel of the elementwise kernels' elements i = base, base+WG, ... (units of S per (n, c) row)
// tracked incrementally: integer division has no SIMD form on CPUs, and lavapipe spends most of
// an elementwise kernel on a per-element (i / S) % C.
struct Chan { s: u32, c: u32, r: u32, qc: u32 }

fn chan_start(i: u32, S: u32, C: u32, step_r: u32, step_qc: u32) -> Chan {
  let row = i / S;
  return Chan(i - row * S, row % C, step_r, step_qc);
}

fn chan_next(h: ptr<function, Chan>, S: u32, C: u32) {
  (*h).s += (*h).r;
  (*h).c += (*h).qc;
  if ((*h).s >= S) {
    (*h).s -= S;
    (*h).c += 1u;
  }
  if ((*h).c >= C) { (*h).c -= C; }
}

// x = b0, partials = w1 [C * chunks, 2]: sums of d and d^2 with d = x - x[0, c, 0].
@compute @workgroup_size(64)
fn stats_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = linear_group(wid, nwg);
  let c = g / P2.chunks;
  let p = g - c * P2.chunks;
  let S = P2.s;
  var s1 = 0.0;
  var s2 = 0.0;
  if (c < P2.c) {
    let k = b0[c * S];
    let start = p * P2.chunk;
    let end = min(start + P2.chunk, P2.n * S);
    var w = walk_start(start, li, S);
    while (w.j < end) {
      let d = b0[(w.n * P2.c + c) * S + w.s] - k;
      s1 += d;
      s2 += d * d;
      walk_next(&w, S);
    }
  }
  pair_tree(li, s1, s2);
  if (li == 0u && c < P2.c) {
    w1[2u * g] = pair_a[0];
    w1[2u * g + 1u] = pair_b[0];
  }
}

// partials = b0, x = b1; writes running mean w2, running var w3 (in place) and stats w4 = [mean; invstd].
// Batch variance is the biased one (used to normalise); the running variance gets the unbiased
// M/(M-1) one, as PyTorch (Keras keeps the biased one).
@compute @workgroup_size(64)
fn stats_finalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let c = linear_group(wid, nwg) * WG + li;
  let C = P5.c;
  if (c >= C) { return; }
  var s1 = 0.0;
  var s2 = 0.0;
  for (var p = 0u; p < P5.chunks; p++) {
    s1 += b0[2u * (c * P5.chunks + p)];
    s2 += b0[2u * (c * P5.chunks + p) + 1u];
  }
  let m = f32(P5.n * P5.s);
  let md = s1 / m;
  let var_b = max(s2 / m - md * md, 0.0);
  let mean = b1[c * P5.s] + md;
  w4[c] = mean;
  w4[C + c] = 1.0 / sqrt(var_b + P5.eps);
  let mom = P5.momentum;
  w2[c] = (1.0 - mom) * w2[c] + mom * mean;
  w3[c] = (1.0 - mom) * w3[c] + mom * var_b * (m / (m - 1.0));
}

// Eval: stats w2 = [running mean; 1/sqrt(running var + eps)] from b0, b1 (a snapshot, so a later
// training step that updates the running stats does not change this op's backward).
@compute @workgroup_size(64)
fn eval_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let c = linear_group(wid, nwg) * WG + li;
  let C = P3.c;
  if (c >= C) { return; }
  w2[c] = b0[c];
  w2[C + c] = 1.0 / sqrt(b1[c] + P3.eps);
}

// y = w4 from x = b0, stats = b1, gamma = b2, beta = b3.
@compute @workgroup_size(64)
fn normalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let base = linear_group(wid, nwg) * WG * PER + li;
  let C = P5.c;
  let total = P5.n * C * P5.s;
  var h = chan_start(base, P5.s, C, P5.step_r, P5.step_qc);
  for (var k = 0u; k < PER; k++) {
    let i = base + k * WG;
    if (i < total) {
      let c = h.c;
      let y = (b0[i] - b1[c]) * b1[C + c] * b2[c] + b3[c];
      w4[i] = select(y, max(y, 0.0), RELU);
    }
    chan_next(&h, P5.s, C);
  }
}

// Backward sums per channel: g = b0, x = b1, stats = b2, gamma = b4, beta = b5 (RELU); partials
// w3 [C * chunks, 2] of sum(g) (= dbeta) and sum(g * xhat) (= dgamma).
@compute @workgroup_size(64)
fn grad_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = linear_group(wid, nwg);
  let c = g / P6.chunks;
  let p = g - c * P6.chunks;
  let S = P6.s;
  var sg = 0.0;
  var sgx = 0.0;
  if (c < P6.c) {
    let mean = b2[c];
    let invstd = b2[P6.c + c];
    let gamma = b4[c];
    let beta = b5[c];
    let start = p * P6.chunk;
    let end = min(start + P6.chunk, P6.n * S);
    var w = walk_start(start, li, S);
    while (w.j < end) {
      let i = (w.n * P6.c + c) * S + w.s;
      let xv = b1[i];
      var gv = b0[i];
      if (RELU) { gv = select(0.0, gv, relu_pass(xv, mean, invstd, gamma, beta)); }
      sg += gv;
      sgx += gv * (xv - mean) * invstd;
      walk_next(&w, S);
    }
  }
  pair_tree(li, sg, sgx);
  if (li == 0u && c < P6.c) {
    w3[2u * g] = pair_a[0];
    w3[2u * g + 1u] = pair_b[0];
  }
}

// partials = b0 -> dgamma = w1, dbeta = w2.
@compute @workgroup_size(64)
fn grad_finalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let c = linear_group(wid, nwg) * WG + li;
  if (c >= P3.c) { return; }
  var sg = 0.0;
  var sgx = 0.0;
  for (var p = 0u; p < P3.chunks; p++) {
    sg += b0[2u * (c * P3.chunks + p)];
    sgx += b0[2u * (c * P3.chunks + p) + 1u];
  }
  w1[c] = sgx;
  w2[c] = sg;
}

// Training dx (batch statistics depend on x):
//   dx = gamma * invstd * (g - dbeta / M - xhat * dgamma / M)
// g = b0, x = b1, stats = b2, gamma = b3, dgamma = b4, dbeta = b5, beta = b7 (RELU) -> dx = w6.
@compute @workgroup_size(64)
fn grad_input_train(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let base = linear_group(wid, nwg) * WG * PER + li;
  let C = P8.c;
  let total = P8.n * C * P8.s;
  let inv_m = 1.0 / f32(P8.n * P8.s);
  var h = chan_start(base, P8.s, C, P8.step_r, P8.step_qc);
  for (var k = 0u; k < PER; k++) {
    let i = base + k * WG;
    if (i < total) {
      let c = h.c;
      let invstd = b2[C + c];
      let xv = b1[i];
      let xhat = (xv - b2[c]) * invstd;
      var gv = b0[i];
      if (RELU) { gv = select(0.0, gv, relu_pass(xv, b2[c], invstd, b3[c], b7[c])); }
      w6[i] = b3[c] * invstd * (gv - b5[c] * inv_m - xhat * b4[c] * inv_m);
    }
    chan_next(&h, P8.s, C);
  }
}

// Eval dx (fixed statistics, an affine map): dx = g * gamma * invstd. g = b0, stats = b1, gamma = b2,
// x = b4, beta = b5 (RELU) -> w3.
@compute @workgroup_size(64)
fn grad_input_eval(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let base = linear_group(wid, nwg) * WG * PER + li;
  let C = P6.c;
  let total = P6.n * C * P6.s;
  var h = chan_start(base, P6.s, C, P6.step_r, P6.step_qc);
  for (var k = 0u; k < PER; k++) {
    let i = base + k * WG;
    if (i < total) {
      let c = h.c;
      var gv = b0[i];
      if (RELU) { gv = select(0.0, gv, relu_pass(b4[i], b1[c], b1[C + c], b2[c], b5[c])); }
      w3[i] = gv * b2[c] * b1[C + c];
    }
    chan_next(&h, P6.s, C);
  }
}

// ---- vec4 variants, used when S % 4 == 0 (e.g. 48x48, 24x24, 12x12, 6x6 maps): four consecutive
// elements share a channel, so x, g, y and dx move as vec4 (about 4x the bandwidth on lavapipe).
// Same bindings and params as the scalar kernels; indices below count vec4s (S4 = S / 4).

@group(0) @binding(0) var<storage, read> v0: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> v1: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> v4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> vw3: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> vw4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> vw6: array<vec4<f32>>;

fn hsum(v: vec4<f32>) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}

// As stats_partial; chunk counts vec4s.
@compute @workgroup_size(64)
fn stats_partial4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = linear_group(wid, nwg);
  let c = g / P2.chunks;
  let p = g - c * P2.chunks;
  let S4 = P2.s / 4u;
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  if (c < P2.c) {
    let k = v0[c * S4].x;
    let start = p * P2.chunk;
    let end = min(start + P2.chunk, P2.n * S4);
    var w = walk_start(start, li, S4);
    while (w.j < end) {
      let d = v0[(w.n * P2.c + c) * S4 + w.s] - k;
      s1 += d;
      s2 += d * d;
      walk_next(&w, S4);
    }
  }
  pair_tree(li, hsum(s1), hsum(s2));
  if (li == 0u && c < P2.c) {
    w1[2u * g] = pair_a[0];
    w1[2u * g + 1u] = pair_b[0];
  }
}

// As normalize: x = v0, stats = b1, gamma = b2, beta = b3 -> vw4.
@compute @workgroup_size(64)
fn normalize4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let base = linear_group(wid, nwg) * WG * PER + li;
  let C = P5.c;
  let S4 = P5.s / 4u;
  let total = P5.n * C * S4;
  var h = chan_start(base, S4, C, P5.step_r, P5.step_qc);
  // The channel's parameters, reloaded only when the lane's channel changes (a lane crosses a
  // channel every S / 4 / 64 of its steps at most): each is a per-lane load on lavapipe.
  var pc = C;
  var mean = 0.0;
  var a = 0.0;
  var beta = 0.0;
  for (var k = 0u; k < PER; k++) {
    let i = base + k * WG;
    if (i < total) {
      if (h.c != pc) {
        pc = h.c;
        mean = b1[pc];
        a = b1[C + pc] * b2[pc];
        beta = b3[pc];
      }
      let y = (v0[i] - mean) * a + beta;
      vw4[i] = select(y, max(y, vec4<f32>(0.0)), RELU);
    }
    chan_next(&h, S4, C);
  }
}

// As grad_partial: g = v0, x = v1, stats = b2, gamma = b4, beta = b5 (RELU) -> partials w3.
@compute @workgroup_size(64)
fn grad_partial4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = linear_group(wid, nwg);
  let c = g / P6.chunks;
  let p = g - c * P6.chunks;
  let S4 = P6.s / 4u;
  var sg = vec4<f32>(0.0);
  var sgx = vec4<f32>(0.0);
  if (c < P6.c) {
    let mean = b2[c];
    let invstd = b2[P6.c + c];
    let a = invstd * b4[c];
    let beta = b5[c];
    let start = p * P6.chunk;
    let end = min(start + P6.chunk, P6.n * S4);
    var w = walk_start(start, li, S4);
    while (w.j < end) {
      let i = (w.n * P6.c + c) * S4 + w.s;
      let xv = v1[i];
      var gv = v0[i];
      if (RELU) { gv = select(vec4<f32>(0.0), gv, relu_pass4(xv, mean, a, beta)); }
      sg += gv;
      sgx += gv * (xv - mean);
      walk_next(&w, S4);
    }
    sgx *= invstd;
  }
  pair_tree(li, hsum(sg), hsum(sgx));
  if (li == 0u && c < P6.c) {
    w3[2u * g] = pair_a[0];
    w3[2u * g + 1u] = pair_b[0];
  }
}

// As grad_input_train: g = v0, x = v1, stats = b2, gamma = b3, dgamma = b4, dbeta = b5, beta = b7 (RELU) -> vw6.
@compute @workgroup_size(64)
fn grad_input_train4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let base = linear_group(wid, nwg) * WG * PER + li;
  let C = P8.c;
  let S4 = P8.s / 4u;
  let total = P8.n * C * S4;
  let inv_m = 1.0 / f32(P8.n * P8.s);
  var h = chan_start(base, S4, C, P8.step_r, P8.step_qc);
  // The channel's values, reloaded only when the lane's channel changes (as normalize4).
  var pc = C;
  var mean = 0.0;
  var invstd = 0.0;
  var a = 0.0;
  var beta = 0.0;
  var dbm = 0.0;
  var dgm = 0.0;
  for (var k = 0u; k < PER; k++) {
    let i = base + k * WG;
    if (i < total) {
      if (h.c != pc) {
        pc = h.c;
        mean = b2[pc];
        invstd = b2[C + pc];
        a = b3[pc] * invstd;
        beta = b7[pc];
        dbm = b5[pc] * inv_m;
        dgm = b4[pc] * inv_m;
      }
      let xv = v1[i];
      let xhat = (xv - mean) * invstd;
      var gv = v0[i];
      if (RELU) { gv = select(vec4<f32>(0.0), gv, relu_pass4(xv, mean, a, beta)); }
      vw6[i] = a * (gv - dbm - xhat * dgm);
    }
    chan_next(&h, S4, C);
  }
}

// As grad_input_eval: g = v0, stats = b1, gamma = b2, x = v4, beta = b5 (RELU) -> vw3.
@compute @workgroup_size(64)
fn grad_input_eval4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let base = linear_group(wid, nwg) * WG * PER + li;
  let C = P6.c;
  let S4 = P6.s / 4u;
  let total = P6.n * C * S4;
  var h = chan_start(base, S4, C, P6.step_r, P6.step_qc);
  for (var k = 0u; k < PER; k++) {
    let i = base + k * WG;
    if (i < total) {
      let c = h.c;
      var gv = v0[i];
      if (RELU) { gv = select(vec4<f32>(0.0), gv, relu_pass4(v4[i], b1[c], b1[C + c] * b2[c], b5[c])); }
      vw3[i] = gv * (b2[c] * b1[C + c]);
    }
    chan_next(&h, S4, C);
  }
}

// ---- 1d (S == 1) reductions: channel c's elements x[n, c] are C apart, so here the lanes run over
// 64 adjacent channels and each sums its column over a chunk of rows: loads stay contiguous across
// lanes and no tree is needed. Workgroup g = channel block * chunks + chunk; same partial layout.

// x = b0 -> partials w1, as stats_partial.
@compute @workgroup_size(64)
fn stats_cols(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = linear_group(wid, nwg);
  let cb = g / P2.chunks;
  let p = g - cb * P2.chunks;
  let C = P2.c;
  let c = cb * WG + li;
  if (c >= C) { return; }
  let k = b0[c];
  let start = p * P2.chunk;
  let end = min(start + P2.chunk, P2.n);
  var s1 = 0.0;
  var s2 = 0.0;
  for (var n = start; n < end; n++) {
    let d = b0[n * C + c] - k;
    s1 += d;
    s2 += d * d;
  }
  let o = c * P2.chunks + p;
  w1[2u * o] = s1;
  w1[2u * o + 1u] = s2;
}

// g = b0, x = b1, stats = b2, gamma = b4, beta = b5 (RELU) -> partials w3, as grad_partial.
@compute @workgroup_size(64)
fn grad_cols(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = linear_group(wid, nwg);
  let cb = g / P6.chunks;
  let p = g - cb * P6.chunks;
  let C = P6.c;
  let c = cb * WG + li;
  if (c >= C) { return; }
  let mean = b2[c];
  let invstd = b2[C + c];
  let gamma = b4[c];
  let beta = b5[c];
  let start = p * P6.chunk;
  let end = min(start + P6.chunk, P6.n);
  var sg = 0.0;
  var sgx = 0.0;
  for (var n = start; n < end; n++) {
    let xv = b1[n * C + c];
    var gv = b0[n * C + c];
    if (RELU) { gv = select(0.0, gv, relu_pass(xv, mean, invstd, gamma, beta)); }
    sg += gv;
    sgx += gv * (xv - mean);
  }
  let o = c * P6.chunks + p;
  w3[2u * o] = sg;
  w3[2u * o + 1u] = sgx * invstd;
}

// ---- CPU adapters: a lane per (image, channel) plane (S % 4 == 0) ----
// Lavapipe runs a lane's loads one after another, so what decides a reduction's speed there is
// how each lane walks memory, not coalescing: the chunked kernels above (lanes 64 vec4s apart,
// jumping between planes, with a per-step branch for the plane's end) read [64, 64, 48, 48] in
// 16-18 ms, these (each lane down its own contiguous plane, no branch in the loop) in 5-6 ms. The
// elementwise kernels likewise. GPUs keep the coalesced kernels above. Each lane's plane is
// i = n * C + c; the reductions write one partial per plane, at [C, N] (chunks = N for the
// finalize kernels).

// This lane's plane i = n * C + c of an [N, C] grid of planes (ok: i is one of them).
struct Plane { i: u32, n: u32, c: u32, ok: bool }
fn lane_plane(wid: vec3<u32>, nwg: vec3<u32>, li: u32, N: u32, C: u32) -> Plane {
  let i = linear_group(wid, nwg) * WG + li;
  let n = i / C;
  return Plane(i, n, i - n * C, i < N * C);
}

// x = v0 -> partials w1 [C, N, 2]: as stats_partial4.
@compute @workgroup_size(64)
fn stats_planes4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let pl = lane_plane(wid, nwg, li, P2.n, P2.c);
  if (!pl.ok) { return; }
  let c = pl.c;
  let S4 = P2.s / 4u;
  let k = v0[c * S4].x;
  let base = pl.i * S4;
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  for (var t = 0u; t < S4; t++) {
    let d = v0[base + t] - k;
    s1 += d;
    s2 += d * d;
  }
  let o = 2u * (c * P2.n + pl.n);
  w1[o] = hsum(s1);
  w1[o + 1u] = hsum(s2);
}

// x = v0, stats = b1, gamma = b2, beta = b3 -> vw4: as normalize4.
@compute @workgroup_size(64)
fn normalize_planes4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let C = P5.c;
  let pl = lane_plane(wid, nwg, li, P5.n, C);
  if (!pl.ok) { return; }
  let c = pl.c;
  let S4 = P5.s / 4u;
  let mean = b1[c];
  let a = b1[C + c] * b2[c];
  let beta = b3[c];
  let base = pl.i * S4;
  for (var t = 0u; t < S4; t++) {
    let y = (v0[base + t] - mean) * a + beta;
    vw4[base + t] = select(y, max(y, vec4<f32>(0.0)), RELU);
  }
}

// g = v0, x = v1, stats = b2, gamma = b4, beta = b5 (RELU) -> partials w3 [C, N, 2]: as grad_partial4.
@compute @workgroup_size(64)
fn grad_planes4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let pl = lane_plane(wid, nwg, li, P6.n, P6.c);
  if (!pl.ok) { return; }
  let c = pl.c;
  let S4 = P6.s / 4u;
  let mean = b2[c];
  let invstd = b2[P6.c + c];
  let a = invstd * b4[c];
  let beta = b5[c];
  let base = pl.i * S4;
  var sg = vec4<f32>(0.0);
  var sgx = vec4<f32>(0.0);
  for (var t = 0u; t < S4; t++) {
    let xv = v1[base + t];
    var gv = v0[base + t];
    if (RELU) { gv = select(vec4<f32>(0.0), gv, relu_pass4(xv, mean, a, beta)); }
    sg += gv;
    sgx += gv * (xv - mean);
  }
  let o = 2u * (c * P6.n + pl.n);
  w3[o] = hsum(sg);
  w3[o + 1u] = hsum(sgx) * invstd;
}

// g = v0, x = v1, stats = b2, gamma = b3, dgamma = b4, dbeta = b5, beta = b7 (RELU) -> vw6: as grad_input_train4.
@compute @workgroup_size(64)
fn grad_input_planes4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let C = P8.c;
  let pl = lane_plane(wid, nwg, li, P8.n, C);
  if (!pl.ok) { return; }
  let c = pl.c;
  let S4 = P8.s / 4u;
  let inv_m = 1.0 / f32(P8.n * P8.s);
  let mean = b2[c];
  let invstd = b2[C + c];
  let a = b3[c] * invstd;
  let beta = b7[c];
  let dbm = b5[c] * inv_m;
  let dgm = b4[c] * inv_m;
  let base = pl.i * S4;
  for (var t = 0u; t < S4; t++) {
    let xv = v1[base + t];
    let xhat = (xv - mean) * invstd;
    var gv = v0[base + t];
    if (RELU) { gv = select(vec4<f32>(0.0), gv, relu_pass4(xv, mean, a, beta)); }
    vw6[base + t] = a * (gv - dbm - xhat * dgm);
  }
}
