// Broadcast along the middle axis of [outer, reduce, inner]: the backward of sum/mean.
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;

struct Params { outer: u32, reduce: u32, inner: u32, scale: f32 }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = linear_group(wid, nwg) * 256u + li;
  if (i >= P.outer * P.reduce * P.inner) { return; }
  let ii = i % P.inner;
  let oi = i / (P.inner * P.reduce);
  out[i] = g[oi * P.inner + ii] * P.scale;
}
