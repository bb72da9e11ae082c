// Prepended to every shader file by dispatch.ts.

// Workgroup index over a 2-D grid (dispatch() splits counts above 65535 over x and y).
fn linear_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}

// Unit k (of per) of lane li in workgroup g, for kernels whose 64-lane workgroups cover 64 * per
// consecutive units: runs (CPU adapters: laneRuns() in dispatch.ts) gives each lane per
// consecutive units, since lavapipe runs a lane's accesses one after another; otherwise the lanes
// interleave, neighbouring lanes on neighbouring units (GPU coalescing).
fn unit_index(g: u32, li: u32, k: u32, per: u32, runs: bool) -> u32 {
  if (runs) { return (g * 64u + li) * per + k; }
  return (g * per + k) * 64u + li;
}

// Counter-based hash (PCG): seeded random numbers without state, for dropout masks.
fn pcg_hash(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn uniform01(seed: u32, index: u32) -> f32 {
  let h = pcg_hash(index ^ pcg_hash(seed));
  return f32(h >> 8u) * (1.0 / 16777216.0);
}

// Sums two values over a workgroup of 64 invocations (BatchNorm's partial statistics, the loss's
// mean): each invocation li passes its own pair; the totals end in pair_a[0], pair_b[0], read after
// this returns (it ends on a barrier). Workgroup variables cost only the entry points that use them.
var<workgroup> pair_a: array<f32, 64>;
var<workgroup> pair_b: array<f32, 64>;

fn pair_tree(li: u32, a: f32, b: f32) {
  pair_a[li] = a;
  pair_b[li] = b;
  workgroupBarrier();
  for (var w = 32u; w > 0u; w >>= 1u) {
    if (li < w) {
      pair_a[li] += pair_a[li + w];
      pair_b[li] += pair_b[li + w];
    }
    workgroupBarrier();
  }
}
