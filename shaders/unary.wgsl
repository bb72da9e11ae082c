// Unary elementwise ops: out = f(x); the op is an override constant so each gets its own pipeline.
// main4 (the host's choice when n % 4 == 0) moves a vec4 per invocation: on lavapipe every storage
// access is a per-lane scalar load or store with its own bounds check, and a vec4 shares one lane
// loop for its 4 words (measured 2.4x faster than one float per invocation).
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(0) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> P: Params;

// n: elements (main) or vec4s (main4).
struct Params { n: u32, alpha: f32, beta: f32 }

// 0 copy, 1 alpha*x+beta (scale/shift), 2 relu, 3 neg
override OP: u32 = 0u;

fn f(v: vec4<f32>) -> vec4<f32> {
  switch OP {
    case 1u: { return P.alpha * v + P.beta; }
    case 2u: { return max(v, vec4<f32>(0.0)); }
    case 3u: { return -v; }
    default: { return v; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = linear_group(wid, nwg) * 256u + li;
  if (i >= P.n) { return; }
  out[i] = f(vec4<f32>(x[i])).x;
}

// vec4s per invocation of main4, as a run of consecutive vec4s (LANE_RUNS) or 64 apart (unit_index
// in prelude.wgsl). The host sets 4 and runs on CPU adapters, where starting an invocation costs
// about as much as moving a vec4.
override PER: u32 = 1u;
override LANE_RUNS: bool = false;

@compute @workgroup_size(64)
fn main4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = linear_group(wid, nwg);
  for (var k = 0u; k < PER; k++) {
    let i = unit_index(g, li, k, PER, LANE_RUNS);
    if (i < P.n) { out4[i] = f(x4[i]); }
  }
}
