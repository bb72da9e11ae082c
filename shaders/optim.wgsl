// Fused in-place optimizer steps (one dispatch per parameter). Tensors are read and written as
// vec4: pooled buffers are whole multiples of 16 bytes, so the last, partial vec4 is in bounds; its
// lanes past n keep their old values (select), so padding is never changed.

@group(0) @binding(0) var<storage, read_write> param: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> s2: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> s3: array<vec4<f32>>;

// lr_step: lr / (1 - beta1^t); inv_sqrt_bc2: 1 / sqrt(1 - beta2^t) (bias corrections, from the host).
struct AdamParams { n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, wd: f32, lr_step: f32, inv_sqrt_bc2: f32 }
@group(0) @binding(4) var<uniform> A: AdamParams;

struct SgdParams { n: u32, lr: f32, momentum: f32, dampening: f32, wd: f32 }
@group(0) @binding(2) var<uniform> S2: SgdParams;
@group(0) @binding(3) var<uniform> S3: SgdParams;

// Adam: 1 = AdamW (param *= 1 - lr*wd), 0 = L2 (grad += wd*param), as torch.optim.Adam / AdamW.
override DECOUPLED: u32 = 0u;
// SGD: 1 = Nesterov; 1 = first step (buf = d_p, PyTorch's initialisation, ignoring dampening).
override NESTEROV: u32 = 0u;
override FIRST: u32 = 0u;

const WG: u32 = 64u;

fn lanes(i: u32, n: u32) -> vec4<bool> {
  let e = vec4<u32>(4u * i) + vec4<u32>(0u, 1u, 2u, 3u);
  return e < vec4<u32>(n);
}

// param = binding 0, grad = 1, m = 2, v = 3.
@compute @workgroup_size(64)
fn adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = linear_group(wid, nwg) * WG + li;
  if (4u * i >= A.n) { return; }
  let live = lanes(i, A.n);
  let p0 = param[i];
  var p = p0;
  var g = grad[i];
  if (DECOUPLED == 1u) {
    p = p * (1.0 - A.lr * A.wd);
  } else {
    g = g + A.wd * p;
  }
  let m0 = s2[i];
  let v0 = s3[i];
  let m = A.beta1 * m0 + (1.0 - A.beta1) * g;
  let v = A.beta2 * v0 + (1.0 - A.beta2) * g * g;
  p = p - A.lr_step * m / (sqrt(v) * A.inv_sqrt_bc2 + A.eps);
  param[i] = select(p0, p, live);
  s2[i] = select(m0, m, live);
  s3[i] = select(v0, v, live);
}

// Plain SGD (momentum 0): param -= lr * (grad + wd * param). param = 0, grad = 1.
@compute @workgroup_size(64)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = linear_group(wid, nwg) * WG + li;
  if (4u * i >= S2.n) { return; }
  let p0 = param[i];
  let d = grad[i] + S2.wd * p0;
  param[i] = select(p0, p0 - S2.lr * d, lanes(i, S2.n));
}

// SGD with momentum (torch.optim.SGD): d = grad + wd*param; buf = first ? d : momentum*buf + (1-dampening)*d;
// step = nesterov ? d + momentum*buf : buf; param -= lr*step. param = 0, grad = 1, buf = 2.
@compute @workgroup_size(64)
fn sgd_momentum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = linear_group(wid, nwg) * WG + li;
  if (4u * i >= S3.n) { return; }
  let live = lanes(i, S3.n);
  let p0 = param[i];
  let d = grad[i] + S3.wd * p0;
  let b0 = s2[i];
  var b: vec4<f32>;
  if (FIRST == 1u) {
    b = d;
  } else {
    b = S3.momentum * b0 + (1.0 - S3.dampening) * d;
  }
  var step = b;
  if (NESTEROV == 1u) { step = d + S3.momentum * b; }
  param[i] = select(p0, p0 - S3.lr * step, live);
  s2[i] = select(b0, b, live);
}
