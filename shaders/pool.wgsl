// Max pooling over NCHW planes, 'valid' windows (no padding, floor output size). Forward writes the
// max and, for backward, its position in the input plane (h * W + w); the first maximum in row-major
// window order wins ties. Backward is a gather: each input element sums the gradients of the windows
// that contain it and chose it, so overlapping windows (stride < kernel) need no atomics
// (max_backward; max_backward_rows and max2_backward for windows that do not overlap).
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

// Backward for windows that do not overlap (SH >= KH and SW >= KW, e.g. every 2x2 stride-2 pool
// whose W is not a multiple of 4): one invocation per input row, which lies in at most one window
// row; along it the window column and the offset in it are stepped, so the row costs one integer
// division (max_backward divides 6 times per element: lavapipe spent 7 ms on [64, 256, 6, 6]).
@compute @workgroup_size(64)
fn max_backward_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = linear_group(wid, nwg) * 64u + li;
  if (row >= P.planes * P.H) { return; }
  let p = row / P.H;
  let h = row - p * P.H;
  let oh = h / P.SH;
  let rowIn = (h - oh * P.SH < P.KH) & (oh < P.OH);
  var o = (p * P.OH + min(oh, P.OH - 1u)) * P.OW;
  var ow = 0u;
  var dw = 0u;
  var gv = 0.0;
  var am = 0u;
  let at0 = h * P.W;
  var i = row * P.W;
  for (var w = 0u; w < P.W; w++) {
    let inWin = rowIn & (dw < P.KW) & (ow < P.OW);
    if (dw == 0u && ow < P.OW) {
      gv = g[o];
      am = argmax_in[o];
    }
    dx[i] = select(0.0, gv, inWin && am == at0 + w);
    i += 1u;
    dw += 1u;
    if (dw == P.SW) {
      dw = 0u;
      ow += 1u;
      o += 1u;
    }
  }
}

// 2x2 windows, stride 2, H even and W % 4 == 0 (every max pool of the FER models): one invocation
// per pair of outputs, reading two vec4 input rows and writing vec2s, with one index split per
// pair instead of per element (integer division is scalar per lane on lavapipe). Same results and
// tie rule as max_forward / max_backward.
@group(0) @binding(0) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out2: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> argmax2: array<vec2<u32>>;

struct Pair { p: u32, oh: u32, q: u32, ok: bool }

fn pair_of(wid: vec3<u32>, nwg: vec3<u32>, li: u32) -> Pair {
  let i = linear_group(wid, nwg) * 64u + li;
  let half = P.OW / 2u;
  let q = i % half;
  let t = i / half;
  return Pair(t / P.OH, t % P.OH, q, i < P.planes * P.OH * half);
}

// Window (row-major) maximum of a, b (row 2oh) and c, d (row 2oh + 1); k: its position 0..3.
fn max4(a: f32, b: f32, c: f32, d: f32) -> vec2<f32> {
  var best = a;
  var k = 0.0;
  if (b > best) { best = b; k = 1.0; }
  if (c > best) { best = c; k = 2.0; }
  if (d > best) { best = d; k = 3.0; }
  return vec2<f32>(best, k);
}

// One pair of outputs: output o of the pair array, its 2 x 4 input block at vec4 r (row 2oh) and
// r + W/4 (row 2oh + 1), h0 the block's top-left position in the plane (for the argmax).
fn forward_pair(r: u32, o: u32, h0: u32) {
  let r0 = x4[r];
  let r1 = x4[r + P.W / 4u];
  let m0 = max4(r0.x, r0.y, r1.x, r1.y);
  let m1 = max4(r0.z, r0.w, r1.z, r1.w);
  out2[o] = vec2<f32>(m0.x, m1.x);
  if (WRITE_ARGMAX) {
    // Position in the plane: row 2oh + k / 2, column 4q (+ 2 for the second output) + k % 2.
    let k0 = u32(m0.y);
    let k1 = u32(m1.y);
    argmax2[o] = vec2<u32>(h0 + (k0 >> 1u) * P.W + (k0 & 1u), h0 + 2u + (k1 >> 1u) * P.W + (k1 & 1u));
  }
}

// Where pair q of output row oh of plane p starts: its input vec4 (row 2oh), its output pair, and
// the input block's top-left position in the plane.
fn pair_at(p: u32, oh: u32, q: u32) -> vec3<u32> {
  return vec3<u32>((p * P.H + 2u * oh) * (P.W / 4u) + q, (p * P.OH + oh) * (P.OW / 2u) + q, 2u * oh * P.W + 4u * q);
}

@compute @workgroup_size(64)
fn max2_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = pair_of(wid, nwg, li);
  if (!t.ok) { return; }
  let at = pair_at(t.p, t.oh, t.q);
  forward_pair(at.x, at.y, at.z);
}

@group(0) @binding(0) var<storage, read> g2: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read> argmax2_in: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read_write> dx4: array<vec4<f32>>;

// The gradient of one pair of outputs (as forward_pair) into its 2 x 4 input block.
fn backward_pair(r: u32, o: u32, h0: u32) {
  let gv = g2[o];
  let am = argmax2_in[o];
  // Element positions of the 2 x 4 input block.
  let top = vec4<u32>(h0, h0 + 1u, h0 + 2u, h0 + 3u);
  let bottom = top + vec4<u32>(P.W);
  let left = vec4<bool>(true, true, false, false);
  let z = vec4<f32>(0.0);
  // Output 0 covers columns 0-1 of the block, output 1 columns 2-3.
  let sel = select(vec4<u32>(am.y), vec4<u32>(am.x), left);
  let gsel = select(vec4<f32>(gv.y), vec4<f32>(gv.x), left);
  dx4[r] = select(z, gsel, top == sel);
  dx4[r + P.W / 4u] = select(z, gsel, bottom == sel);
}

@compute @workgroup_size(64)
fn max2_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = pair_of(wid, nwg, li);
  if (!t.ok) { return; }
  let at = pair_at(t.p, t.oh, t.q);
  backward_pair(at.x, at.y, at.z);
}

// The same two kernels with one invocation per output row, stepping along it by pairs (CPU adapters:
// lavapipe runs a lane's loads and stores one by one, and the pair kernels' index splits, an integer
// division each, cost as much again; per row they are paid once). 1.4-2.2x faster there on the FER
// models' pools; GPUs keep the pair kernels (coalesced, and many more invocations).
struct Row { p: u32, oh: u32, ok: bool }

fn row_of(wid: vec3<u32>, nwg: vec3<u32>, li: u32) -> Row {
  let t = linear_group(wid, nwg) * 64u + li; // plane * OH + oh
  return Row(t / P.OH, t % P.OH, t < P.planes * P.OH);
}

@compute @workgroup_size(64)
fn max2_forward_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = row_of(wid, nwg, li);
  if (!t.ok) { return; }
  let at = pair_at(t.p, t.oh, 0u);
  for (var q = 0u; q < P.OW / 2u; q++) { forward_pair(at.x + q, at.y + q, at.z + 4u * q); }
}

@compute @workgroup_size(64)
fn max2_backward_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = row_of(wid, nwg, li);
  if (!t.ok) { return; }
  let at = pair_at(t.p, t.oh, 0u);
  for (var q = 0u; q < P.OW / 2u; q++) { backward_pair(at.x + q, at.y + q, at.z + 4u * q); }
}
