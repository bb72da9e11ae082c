// Softmax cross-entropy (fused, log-sum-exp with the row max subtracted), softmax and argmax.
// One invocation per row of [N, C] logits: rows are short (C classes) and this needs no barriers.

// Binding numbers repeat across entry points with different meanings: each entry point only
// references its own set (group 0, bindings 0..n-1 storage, n uniform).
@group(0) @binding(0) var<storage, read> b0: array<f32>;
@group(0) @binding(1) var<storage, read> b1: array<f32>;
@group(0) @binding(2) var<storage, read> b2: array<f32>;
@group(0) @binding(3) var<storage, read> b3: array<f32>;
@group(0) @binding(4) var<storage, read> b4: array<f32>;
// Labels: i32 class indices or f32 probabilities, read as raw words and bitcast (SOFT says which).
@group(0) @binding(1) var<storage, read> labels: array<u32>;

@group(0) @binding(1) var<storage, read_write> w1: array<f32>;
@group(0) @binding(2) var<storage, read_write> w2: array<f32>;
@group(0) @binding(3) var<storage, read_write> w3: array<f32>;
@group(0) @binding(4) var<storage, read_write> w4: array<f32>;
@group(0) @binding(5) var<storage, read_write> w5: array<f32>;
@group(0) @binding(1) var<storage, read_write> w1i: array<i32>;

// n rows of c classes; smoothing s; mean: 1 for reduction 'mean'.
struct Params { n: u32, c: u32, smoothing: f32, mean: u32 }
@group(0) @binding(2) var<uniform> P2: Params;
@group(0) @binding(3) var<uniform> P3: Params;
@group(0) @binding(4) var<uniform> P4: Params;
@group(0) @binding(5) var<uniform> P5: Params;
@group(0) @binding(6) var<uniform> P6: Params;

// 1: labels are f32 [N, C] probabilities; 0: i32 [N] class indices.
override SOFT: u32 = 0u;
// 1: class weights bound (binding 2); 0: all weights 1 (binding 2 is a placeholder).
override WEIGHTED: u32 = 0u;

const WG: u32 = 64u;

fn row_index(wid: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
  return linear_group(wid, nwg) * WG + li;
}

// Target probability t_c after label smoothing: (1 - s) * label + s / C (PyTorch).
fn target_prob(row: u32, c: u32, C: u32, s: f32) -> f32 {
  var t: f32;
  if (SOFT == 1u) {
    t = bitcast<f32>(labels[row * C + c]);
  } else {
    t = select(0.0, 1.0, c == hard_label(row, C));
  }
  return (1.0 - s) * t + s / f32(C);
}

// Class index of a row, clamped into [0, C - 1]: an out-of-range label cannot read out of bounds
// (it is not validated on the GPU; it trains toward the nearest valid class).
fn hard_label(row: u32, C: u32) -> u32 {
  return u32(clamp(bitcast<i32>(labels[row]), 0, i32(C) - 1));
}

fn class_weight(c: u32) -> f32 {
  if (WEIGHTED == 1u) { return b2[c]; }
  return 1.0;
}

struct Lse { mx: f32, lse: f32 }

// Row max and log(sum exp(z - max)); -log p_c = (max - z_c) + lse, finite for any logits.
// Logits are always binding 0 (b0).
fn row_lse(base: u32, C: u32) -> Lse {
  var mx = b0[base];
  for (var c = 1u; c < C; c++) { mx = max(mx, b0[base + c]); }
  var se = 0.0;
  for (var c = 0u; c < C; c++) { se += exp(b0[base + c] - mx); }
  return Lse(mx, log(se));
}

// Per row: loss_i = sum_c w_c t_c (-log p_c) -> w3; and the row's weight in the mean's denominator
// -> w4 (w_{y_i} for class indices, as PyTorch; 1 for probabilities, so the mean is over rows).
// logits = b0, labels = binding 1, weights = b2.
@compute @workgroup_size(64)
fn ce_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = row_index(wid, nwg, li);
  let C = P5.c;
  if (i >= P5.n) { return; }
  let base = i * C;
  let r = row_lse(base, C);
  var loss = 0.0;
  for (var c = 0u; c < C; c++) {
    let t = target_prob(i, c, C, P5.smoothing);
    loss += class_weight(c) * t * ((r.mx - b0[base + c]) + r.lse);
  }
  w3[i] = loss;
  if (SOFT == 1u) {
    w4[i] = 1.0;
  } else {
    w4[i] = class_weight(hard_label(i, C));
  }
}

// One workgroup: loss = w2[0] = sum(rows) / (mean ? sum(row weights) : 1), denominator -> w3[0].
// rows = b0, row weights = b1.
@compute @workgroup_size(64)
fn ce_reduce(@builtin(local_invocation_index) li: u32) {
  var sl = 0.0;
  var sw = 0.0;
  for (var i = li; i < P4.n; i += WG) {
    sl += b0[i];
    sw += b1[i];
  }
  pair_tree(li, sl, sw);
  if (li == 0u) {
    let denom = select(1.0, pair_b[0], P4.mean == 1u);
    w2[0] = pair_a[0] / denom;
    w3[0] = denom;
  }
}

// dlogits_ij = (p_ij * sum_c w_c t_ic - w_j t_ij) * g / denom (= (softmax - target) * g / denom
// without weights). logits = b0, labels = binding 1, weights = b2, g = b3 [1], denom = b4 [1] -> w5.
@compute @workgroup_size(64)
fn ce_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = row_index(wid, nwg, li);
  let C = P6.c;
  if (i >= P6.n) { return; }
  let base = i * C;
  let r = row_lse(base, C);
  let k = b3[0] / b4[0];
  var wt = 0.0;
  for (var c = 0u; c < C; c++) { wt += class_weight(c) * target_prob(i, c, C, P6.smoothing); }
  for (var c = 0u; c < C; c++) {
    let p = exp(b0[base + c] - r.mx - r.lse);
    w5[base + c] = (p * wt - class_weight(c) * target_prob(i, c, C, P6.smoothing)) * k;
  }
}

// Row softmax: x = b0 -> w1.
@compute @workgroup_size(64)
fn softmax_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = row_index(wid, nwg, li);
  let C = P2.c;
  if (i >= P2.n) { return; }
  let base = i * C;
  let r = row_lse(base, C);
  for (var c = 0u; c < C; c++) { w1[base + c] = exp(b0[base + c] - r.mx - r.lse); }
}

// Softmax backward, p recomputed from the logits: dx_j = p_j (g_j - sum_c g_c p_c).
// logits = b0, g = b1 -> w2.
@compute @workgroup_size(64)
fn softmax_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = row_index(wid, nwg, li);
  let C = P3.c;
  if (i >= P3.n) { return; }
  let base = i * C;
  let r = row_lse(base, C);
  var gp = 0.0;
  for (var c = 0u; c < C; c++) { gp += b1[base + c] * exp(b0[base + c] - r.mx - r.lse); }
  for (var c = 0u; c < C; c++) { w2[base + c] = exp(b0[base + c] - r.mx - r.lse) * (b1[base + c] - gp); }
}

// Index of the maximum of row b0[base .. base + C) (the first one on ties).
fn row_argmax(base: u32, C: u32) -> u32 {
  var best = b0[base];
  var at = 0u;
  for (var c = 1u; c < C; c++) {
    let v = b0[base + c];
    if (v > best) {
      best = v;
      at = c;
    }
  }
  return at;
}

// Index of the row maximum (first one on ties): x = b0 -> w1i (i32).
@compute @workgroup_size(64)
fn argmax_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = row_index(wid, nwg, li);
  if (i >= P2.n) { return; }
  w1i[i] = i32(row_argmax(i * P2.c, P2.c));
}

// Running training statistics, updated on the GPU so the loop reads them back once per N steps:
// stats[0] += loss * n (b2 = the mean loss scalar), stats[1] += rows whose argmax (first maximum)
// equals their i32 label (b0 = logits [n, c], labels at binding 1), stats[2] += n.
// One invocation: a step's batch is small and this runs once per step.
@compute @workgroup_size(1)
fn accumulate_stats(@builtin(workgroup_id) wid: vec3<u32>) {
  let n = P4.n;
  let C = P4.c;
  var correct = 0u;
  for (var i = 0u; i < n; i++) {
    if (bitcast<i32>(labels[i]) == i32(row_argmax(i * C, C))) { correct++; }
  }
  w3[0] += b2[0] * f32(n);
  w3[1] += f32(correct);
  w3[2] += f32(n);
}
