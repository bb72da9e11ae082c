// full(), zeros(), ones(): every word of a tensor set to one bit pattern (an f32, i32 or u32), as a
// dispatch in the command stream. An upload would end the command buffer first (the queue writes
// before any later submit), and backward() seeds every training step with ones().
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> P: Params;

struct Params { n: u32, bits: u32 }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = linear_group(wid, nwg) * 256u + li;
  if (i < P.n) { out[i] = P.bits; }
}
