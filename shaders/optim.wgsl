// Fused in-place optimizer steps. Adam/AdamW and SGD with momentum update up to 4 parameters per
// dispatch (each with its own gradient and state buffers): a seed-cnn step's 28 Adam updates are 7
// dispatches, not 28. Entry point adamK / sgd_momentumK takes K parameters ("slots"); workgroups
// [start[k], start[k + 1]) update slot k. Tensors are read and written as vec4: pooled buffers are
// whole multiples of 16 bytes, so the last, partial vec4 is in bounds; its lanes past n keep their
// old values (select), so padding is never changed.

const WG: u32 = 64u;

// Adam: slot k is param = binding 4k, grad = 4k + 1, m = 4k + 2, v = 4k + 3; the uniform follows
// the last slot. lr_step: lr / (1 - beta1^t); inv_sqrt_bc2: 1 / sqrt(1 - beta2^t) (per slot: each
// parameter counts its own steps; from the host).
@group(0) @binding(0) var<storage, read_write> ap0: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> ag0: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> am0: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> av0: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> ap1: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> ag1: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> am1: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> av1: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> ap2: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read> ag2: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> am2: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> av2: array<vec4<f32>>;
@group(0) @binding(12) var<storage, read_write> ap3: array<vec4<f32>>;
@group(0) @binding(13) var<storage, read> ag3: array<vec4<f32>>;
@group(0) @binding(14) var<storage, read_write> am3: array<vec4<f32>>;
@group(0) @binding(15) var<storage, read_write> av3: array<vec4<f32>>;
struct AdamParams { n: vec4<u32>, start: vec4<u32>, lr_step: vec4<f32>, inv_sqrt_bc2: vec4<f32>, lr: f32, beta1: f32, beta2: f32, eps: f32, wd: f32 }
@group(0) @binding(4) var<uniform> A1: AdamParams;
@group(0) @binding(8) var<uniform> A2: AdamParams;
@group(0) @binding(12) var<uniform> A3: AdamParams;
@group(0) @binding(16) var<uniform> A4: AdamParams;

// SGD with momentum: slot k is param = binding 3k, grad = 3k + 1, momentum buffer = 3k + 2.
// first[k] = 1: the parameter's first step (buf = d, PyTorch's initialisation, ignoring dampening).
@group(0) @binding(0) var<storage, read_write> sp0: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> sg0: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> sb0: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> sp1: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> sg1: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> sb1: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> sp2: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> sg2: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> sb2: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> sp3: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read> sg3: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> sb3: array<vec4<f32>>;
struct SgdParams { n: vec4<u32>, start: vec4<u32>, first: vec4<u32>, lr: f32, momentum: f32, dampening: f32, wd: f32 }
@group(0) @binding(3) var<uniform> S1: SgdParams;
@group(0) @binding(6) var<uniform> S2: SgdParams;
@group(0) @binding(9) var<uniform> S3: SgdParams;
@group(0) @binding(12) var<uniform> S4: SgdParams;

// Plain SGD (momentum 0), one parameter per dispatch: param = binding 0, grad = 1.
struct PlainParams { n: u32, lr: f32, wd: f32 }
@group(0) @binding(2) var<uniform> PS: PlainParams;

// Adam: 1 = AdamW (param *= 1 - lr*wd), 0 = L2 (grad += wd*param), as torch.optim.Adam / AdamW.
override DECOUPLED: u32 = 0u;
// SGD: 1 = Nesterov.
override NESTEROV: u32 = 0u;

fn lanes(i: u32, n: u32) -> vec4<bool> {
  let e = vec4<u32>(4u * i) + vec4<u32>(0u, 1u, 2u, 3u);
  return e < vec4<u32>(n);
}

// The slot of workgroup g (starts past the used slots are the total, so they never count) and the
// vec4 index this invocation updates in it.
struct Where { slot: u32, i: u32 }
fn locate(g: u32, li: u32, start: vec4<u32>) -> Where {
  let s = u32(g >= start.y) + u32(g >= start.z) + u32(g >= start.w);
  return Where(s, (g - start[s]) * WG + li);
}

alias RW = ptr<storage, array<vec4<f32>>, read_write>;
alias RO = ptr<storage, array<vec4<f32>>, read>;

fn adam_slot(p: RW, g: RO, m: RW, v: RW, w: Where, P: AdamParams) {
  let n = P.n[w.slot];
  let i = w.i;
  if (4u * i >= n) { return; }
  let live = lanes(i, n);
  let p0 = (*p)[i];
  var pv = p0;
  var gv = (*g)[i];
  if (DECOUPLED == 1u) {
    pv = pv * (1.0 - P.lr * P.wd);
  } else {
    gv = gv + P.wd * pv;
  }
  let m0 = (*m)[i];
  let v0 = (*v)[i];
  let mv = P.beta1 * m0 + (1.0 - P.beta1) * gv;
  let vv = P.beta2 * v0 + (1.0 - P.beta2) * gv * gv;
  pv = pv - P.lr_step[w.slot] * mv / (sqrt(vv) * P.inv_sqrt_bc2[w.slot] + P.eps);
  (*p)[i] = select(p0, pv, live);
  (*m)[i] = select(m0, mv, live);
  (*v)[i] = select(v0, vv, live);
}

@compute @workgroup_size(64)
fn adam1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  adam_slot(&ap0, &ag0, &am0, &av0, Where(0u, linear_group(wid, nwg) * WG + li), A1);
}

@compute @workgroup_size(64)
fn adam2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let w = locate(linear_group(wid, nwg), li, A2.start);
  if (w.slot == 0u) { adam_slot(&ap0, &ag0, &am0, &av0, w, A2); } else { adam_slot(&ap1, &ag1, &am1, &av1, w, A2); }
}

@compute @workgroup_size(64)
fn adam3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let w = locate(linear_group(wid, nwg), li, A3.start);
  switch w.slot {
    case 0u: { adam_slot(&ap0, &ag0, &am0, &av0, w, A3); }
    case 1u: { adam_slot(&ap1, &ag1, &am1, &av1, w, A3); }
    default: { adam_slot(&ap2, &ag2, &am2, &av2, w, A3); }
  }
}

@compute @workgroup_size(64)
fn adam4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let w = locate(linear_group(wid, nwg), li, A4.start);
  switch w.slot {
    case 0u: { adam_slot(&ap0, &ag0, &am0, &av0, w, A4); }
    case 1u: { adam_slot(&ap1, &ag1, &am1, &av1, w, A4); }
    case 2u: { adam_slot(&ap2, &ag2, &am2, &av2, w, A4); }
    default: { adam_slot(&ap3, &ag3, &am3, &av3, w, A4); }
  }
}

// SGD with momentum (torch.optim.SGD): d = grad + wd*param; buf = first ? d : momentum*buf + (1-dampening)*d;
// step = nesterov ? d + momentum*buf : buf; param -= lr*step.
fn sgd_slot(p: RW, g: RO, b: RW, w: Where, P: SgdParams) {
  let n = P.n[w.slot];
  let i = w.i;
  if (4u * i >= n) { return; }
  let live = lanes(i, n);
  let p0 = (*p)[i];
  let d = (*g)[i] + P.wd * p0;
  let b0 = (*b)[i];
  let bv = select(P.momentum * b0 + (1.0 - P.dampening) * d, d, P.first[w.slot] == 1u);
  var step = bv;
  if (NESTEROV == 1u) { step = d + P.momentum * bv; }
  (*p)[i] = select(p0, p0 - P.lr * step, live);
  (*b)[i] = select(b0, bv, live);
}

@compute @workgroup_size(64)
fn sgd_momentum1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  sgd_slot(&sp0, &sg0, &sb0, Where(0u, linear_group(wid, nwg) * WG + li), S1);
}

@compute @workgroup_size(64)
fn sgd_momentum2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let w = locate(linear_group(wid, nwg), li, S2.start);
  if (w.slot == 0u) { sgd_slot(&sp0, &sg0, &sb0, w, S2); } else { sgd_slot(&sp1, &sg1, &sb1, w, S2); }
}

@compute @workgroup_size(64)
fn sgd_momentum3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let w = locate(linear_group(wid, nwg), li, S3.start);
  switch w.slot {
    case 0u: { sgd_slot(&sp0, &sg0, &sb0, w, S3); }
    case 1u: { sgd_slot(&sp1, &sg1, &sb1, w, S3); }
    default: { sgd_slot(&sp2, &sg2, &sb2, w, S3); }
  }
}

@compute @workgroup_size(64)
fn sgd_momentum4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let w = locate(linear_group(wid, nwg), li, S4.start);
  switch w.slot {
    case 0u: { sgd_slot(&sp0, &sg0, &sb0, w, S4); }
    case 1u: { sgd_slot(&sp1, &sg1, &sb1, w, S4); }
    case 2u: { sgd_slot(&sp2, &sg2, &sb2, w, S4); }
    default: { sgd_slot(&sp3, &sg3, &sb3, w, S4); }
  }
}

// Plain SGD (momentum 0): param -= lr * (grad + wd * param).
@compute @workgroup_size(64)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = linear_group(wid, nwg) * WG + li;
  if (4u * i >= PS.n) { return; }
  let p0 = ap0[i];
  let d = ag0[i] + PS.wd * p0;
  ap0[i] = select(p0, p0 - PS.lr * d, lanes(i, PS.n));
}
