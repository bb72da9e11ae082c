// Binary elementwise ops on same-shape operands: out = f(a, b). main4 (n % 4 == 0) moves vec4s:
// see unary.wgsl for why.
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(0) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> P: Params;

// n: elements (main) or vec4s (main4).
struct Params { n: u32, alpha: f32, beta: f32 }

// 0 alpha*a + beta*b (add, sub, axpy), 1 a*b, 2 a*(b > 0) (relu backward: a = grad, b = relu input)
override OP: u32 = 0u;

fn f(u: vec4<f32>, v: vec4<f32>) -> vec4<f32> {
  switch OP {
    case 1u: { return u * v; }
    case 2u: { return select(vec4<f32>(0.0), u, v > vec4<f32>(0.0)); }
    default: { return P.alpha * u + P.beta * v; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = linear_group(wid, nwg) * 256u + li;
  if (i >= P.n) { return; }
  out[i] = f(vec4<f32>(a[i]), vec4<f32>(b[i])).x;
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
    if (i < P.n) { out4[i] = f(a4[i], b4[i]); }
  }
}
