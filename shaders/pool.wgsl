// Max pooling over NCHW planes, 'valid' windows (no padding, floor output size). Forward writes the
// max and, for backward, its position in the input plane (h * W + w); the first maximum in row-major
// window order wins ties. Backward is a gather: each input element sums the gradients of the windows
// that contain it and chose it, so overlapping windows (stride < kernel) need no atomics.
struct Params { planes: u32, H: u32, W: u32, OH: u32, OW: u32, KH: u32, KW: u32, SH: u32, SW: u32 }

// Forward only: false in inference (no grad needed), then binding 2 is a dummy and never written.
override WRITE_ARGMAX: bool = true;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(3) var<uniform> P: Params;

// One output per invocation.
@compute @workgroup_size(64)
fn max_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let o = linear_group(wid, nwg) * 64u + li;
  let per = P.OH * P.OW;
  if (o >= P.planes * per) { return; }
  let p = o / per;
  let r = o - p * per;
  let oh = r / P.OW;
  let ow = r - oh * P.OW;
  let base = p * P.H * P.W;
  let h0 = oh * P.SH;
  let w0 = ow * P.SW;
  var bestIdx = h0 * P.W + w0;
  var best = x[base + bestIdx];
  for (var i = 0u; i < P.KH; i++) {
    let row = (h0 + i) * P.W;
    for (var j = 0u; j < P.KW; j++) {
      let idx = row + w0 + j;
      let v = x[base + idx];
      // Strictly greater: the first maximum (row-major) is kept.
      if (v > best) {
        best = v;
        bestIdx = idx;
      }
    }
  }
  out[o] = best;
  if (WRITE_ARGMAX) { argmax[o] = bestIdx; }
}

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> argmax_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

// One input element per invocation: windows oh with oh*SH <= h < oh*SH + KH (same for w).
@compute @workgroup_size(64)
fn max_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = linear_group(wid, nwg) * 64u + li;
  let per = P.H * P.W;
  if (i >= P.planes * per) { return; }
  let p = i / per;
  let idx = i - p * per;
  let h = idx / P.W;
  let w = idx - h * P.W;
  // First window reaching h: ceil((h - KH + 1) / SH), clamped at 0; last starting at or before h.
  let ohLo = select(0u, (h + 1u - P.KH + P.SH - 1u) / P.SH, h + 1u >= P.KH);
  let owLo = select(0u, (w + 1u - P.KW + P.SW - 1u) / P.SW, w + 1u >= P.KW);
  let ohHi = min(h / P.SH + 1u, P.OH);
  let owHi = min(w / P.SW + 1u, P.OW);
  let obase = p * P.OH * P.OW;
  var s = 0.0;
  for (var oh = ohLo; oh < ohHi; oh++) {
    for (var ow = owLo; ow < owHi; ow++) {
      let o = obase + oh * P.OW + ow;
      if (argmax_in[o] == idx) { s += g[o]; }
    }
  }
  dx[i] = s;
}
