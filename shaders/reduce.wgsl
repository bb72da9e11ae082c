// Sum reductions. Each invocation sums a strided run serially (cheap on CPU Vulkan, no barriers),
// then one workgroup-level tree combines 256 partial sums.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;

// rows x cols viewed as [outer, reduce, inner]: out[o, i] = scale * sum_r x[o, r, i]
struct Params { outer: u32, reduce: u32, inner: u32, scale: f32 }

var<workgroup> partial: array<f32, 256>;

// One workgroup per output element; used when the reduced axis is long (full sums, bias grads).
@compute @workgroup_size(256)
fn sum_axis(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let o = linear_group(wid, nwg);
  let nout = P.outer * P.inner;
  var s = 0.0;
  if (o < nout) {
    let oi = o / P.inner;
    let ii = o % P.inner;
    let base = oi * P.reduce * P.inner + ii;
    for (var r = li; r < P.reduce; r += 256u) {
      s += x[base + r * P.inner];
    }
  }
  partial[li] = s;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w >>= 1u) {
    if (li < w) { partial[li] += partial[li + w]; }
    workgroupBarrier();
  }
  if (li == 0u && o < nout) { out[o] = partial[0] * P.scale; }
}
