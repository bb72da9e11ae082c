// Inverted dropout: element i is kept when uniform01(seed, i) >= p and then scaled by 1 / (1 - p).
// The mask is a pure function of (seed, i) (counter-based hash from the prelude), so backward and
// any later call regenerate it exactly instead of storing it.
struct Params { n: u32, seed: u32, p: f32, scale: f32 }

// 0: out = x * mask (forward, and backward on the gradient); 1: out = mask (x is not read).
override MODE: u32 = 0u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
// main4's views of the same bindings (an entry point uses one pair or the other).
@group(0) @binding(0) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> P: Params;

fn mask_at(i: u32) -> f32 {
  return select(0.0, P.scale, uniform01(P.seed, i) >= P.p);
}

// 4 elements per invocation, 64 apart, so neighbouring lanes touch neighbouring elements.
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let base = linear_group(wid, nwg) * 256u + li;
  for (var j = 0u; j < 4u; j++) {
    let i = base + j * 64u;
    if (i >= P.n) { return; }
    let m = mask_at(i);
    if (MODE == 1u) {
      out[i] = m;
    } else {
      out[i] = x[i] * m;
    }
  }
}

// The same for n % 4 == 0, a vec4 of elements at a time (4 per invocation: a run of 4 with
// LANE_RUNS, else 64 apart; unit_index in prelude.wgsl): lavapipe bounds-checks a load or store
// once per lane for all 4 components, where main pays it per element.
override LANE_RUNS: bool = false;
@compute @workgroup_size(64)
fn main4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = linear_group(wid, nwg);
  for (var j = 0u; j < 4u; j++) {
    let v = unit_index(g, li, j, 4u, LANE_RUNS);
    if (v >= P.n / 4u) { return; }
    let i = 4u * v;
    let m = vec4<f32>(mask_at(i), mask_at(i + 1u), mask_at(i + 2u), mask_at(i + 3u));
    if (MODE == 1u) {
      out4[v] = m;
    } else {
      out4[v] = x4[v] * m;
    }
  }
}
