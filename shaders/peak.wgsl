// The adapter's measured peaks, the yardsticks of `pnpm bench` (bench/peak.ts):
//   fma_peak:  arithmetic. Each invocation runs P.iters iterations of 8 independent vec4 fma chains
//              (a = fma(a, m, d)), so 8 * 4 * 2 = 64 flops per iteration and no chain waits on
//              another; the sum of the chains is written at the end so none is optimised away.
//   copy_peak: memory. dst[i] = src[i] over P.count vec4s, P.iters per invocation (read + write bytes count).
// Both entry points share one layout: src (read), dst (read_write), then the params uniform.
// fma_peak never reads src (the host binds a small dummy there).

struct Params { iters: u32, count: u32 }

@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> P: Params;

const WG: u32 = 64u;

@compute @workgroup_size(64)
fn fma_peak(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = linear_group(wid, nwg) * WG + li;
  // No bounds test: the host dispatches whole workgroups only (a branch around the loop would add a
  // masked blend to every accumulator update on lavapipe, measuring that instead of the peak).
  // Start values differ per invocation and per component (the host's reference uses the same).
  let x = vec4<f32>(f32(i % 1024u) * (1.0 / 1024.0)) + vec4<f32>(0.0, 0.25, 0.5, 0.75);
  var a0 = x;
  var a1 = x + 1.0;
  var a2 = x + 2.0;
  var a3 = x + 3.0;
  var a4 = x + 4.0;
  var a5 = x + 5.0;
  var a6 = x + 6.0;
  var a7 = x + 7.0;
  let m = vec4<f32>(0.999);
  let d = vec4<f32>(0.001);
  for (var k = 0u; k < P.iters; k++) {
    a0 = fma(a0, m, d);
    a1 = fma(a1, m, d);
    a2 = fma(a2, m, d);
    a3 = fma(a3, m, d);
    a4 = fma(a4, m, d);
    a5 = fma(a5, m, d);
    a6 = fma(a6, m, d);
    a7 = fma(a7, m, d);
  }
  dst[i] = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
}

// Grid-stride: invocation i copies vec4s i, i + T, i + 2T, ... (T = all invocations), P.iters of them,
// so neighbouring invocations always touch neighbouring vec4s. On lavapipe one vec4 per invocation
// spends most of its time starting invocations (3.4 GB/s measured, vs 9 GB/s at 16 per invocation).
@compute @workgroup_size(64)
fn copy_peak(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let total = nwg.x * nwg.y * WG;
  var i = linear_group(wid, nwg) * WG + li;
  for (var r = 0u; r < P.iters; r++) {
    if (i < P.count) { dst[i] = src[i]; }
    i += total;
  }
}

