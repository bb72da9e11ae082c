// Prepended to every shader file by dispatch.ts.

// Workgroup index over a 2-D grid (dispatch() splits counts above 65535 over x and y).
fn linear_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
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
