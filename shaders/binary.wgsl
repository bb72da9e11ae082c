// Binary elementwise ops on same-shape operands: out = f(a, b).
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

struct Params { n: u32, alpha: f32, beta: f32 }

// 0 alpha*a + beta*b (add, sub, axpy), 1 a*b, 2 a*(b > 0) (relu backward: a = grad, b = relu input)
override OP: u32 = 0u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = linear_group(wid, nwg) * 256u + li;
  if (i >= P.n) { return; }
  let u = a[i];
  let v = b[i];
  var y: f32;
  switch OP {
    case 1u: { y = u * v; }
    case 2u: { y = select(0.0, u, v > 0.0); }
    default: { y = P.alpha * u + P.beta * v; }
  }
  out[i] = y;
}
