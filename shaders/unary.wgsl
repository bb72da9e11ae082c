// Unary elementwise ops: out = f(x); the op is an override constant so each gets its own pipeline.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;

struct Params { n: u32, alpha: f32, beta: f32 }

// 0 copy, 1 alpha*x+beta (scale/shift), 2 relu, 3 neg
override OP: u32 = 0u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = linear_group(wid, nwg) * 256u + li;
  if (i >= P.n) { return; }
  let v = x[i];
  var y: f32;
  switch OP {
    case 1u: { y = P.alpha * v + P.beta; }
    case 2u: { y = max(v, 0.0); }
    case 3u: { y = -v; }
    default: { y = v; }
  }
  out[i] = y;
}
