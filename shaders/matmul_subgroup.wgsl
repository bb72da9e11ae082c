// C[M, N] = op(A)[M, K] @ op(B)[K, N] (+ bias[N]) for CPU Vulkan (lavapipe), using subgroup broadcasts.
// Same contract and bindings as matmul.wgsl; the host picks this file only when the adapter has
// subgroups of exactly 8 lanes (lavapipe's 256-bit SIMD width).
//
// Why: on lavapipe every storage (or workgroup-memory) load costs ~2 cycles per lane (it is unrolled
// into a bounds-checked scalar load per SIMD lane), while a multiply-add costs ~1/8 cycle per lane. So
// the kernel maximises multiply-adds per loaded value. A subgroup (one SIMD register of 8 lanes)
// computes a 16 x 16 block of C: lane l owns columns n0 + l and n0 + 8 + l for all 16 rows. The 16
// values of A per k are loaded once by the subgroup (lane r loads rows m0 + r and m0 + 8 + r) and
// handed to every lane with subgroupBroadcast (a register shuffle), instead of each lane loading
// them. Per k: 4 loaded values per lane for 32 multiply-adds (the 4x4 block kernel: 8 for 16).
enable subgroups;

// Batched products (bmm: A [B, M, K], B [B, K, N], C [B, M, N]): workgroup g works on item
// g / perBatch, at the element offsets offA, offB, offC; a single product passes perBatch = the
// workgroup count and items = 1. Workgroups past the last item (grid()'s rounding) count as blocks
// of the last item past its edge: they read clamped and store nothing. (Not an early return: after
// a return that llvmpipe cannot prove uniform, it runs the rest of the kernel, shuffles included,
// under an execution mask.) BATCHED = false folds all of it away: plain matmuls measured 7-9%
// slower on lavapipe with the batch arithmetic in place (1024^3 and 2048^3, alternating runs).
struct Params { M: u32, N: u32, K: u32, groupsN: u32, perBatch: u32, items: u32 }

override TRANS_A: bool = false; // A stored [K, M] instead of [M, K]
override TRANS_B: bool = false; // B stored [N, K] instead of [K, N]
override HAS_BIAS: bool = false;
// vec4 loads of A rows (A not transposed, K % 4 == 0) / of B^T rows (B transposed, K % 4 == 0).
override VEC_A: bool = false;
override VEC_B: bool = false;
// Subgroups of the workgroup stacked along M (the rest along N): 1, 2, 4 or 8.
override SG_M: u32 = 2u;
override BATCHED: bool = false; // bmm: workgroups numbered item by item (see batch_group)

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
// a and b again, seen as vec4 (one binding cannot have two types within an entry point).
@group(0) @binding(4) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(6) var<uniform> P: Params;

var<private> offA: u32; // zero unless BATCHED
var<private> offB: u32;
var<private> offC: u32;

// This workgroup's index within its batch item; sets the item's offsets.
fn batch_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  let g = linear_group(wid, nwg);
  if (!BATCHED) { return g; }
  let item = min(g / P.perBatch, P.items - 1u);
  offA = item * P.M * P.K;
  offB = item * P.K * P.N;
  offC = item * P.M * P.N;
  return g - item * P.perBatch;
}

// v of lanes 0..7, in every lane.
fn lanes8(v: f32) -> array<f32, 8> {
  return array<f32, 8>(subgroupBroadcast(v, 0u), subgroupBroadcast(v, 1u), subgroupBroadcast(v, 2u), subgroupBroadcast(v, 3u),
    subgroupBroadcast(v, 4u), subgroupBroadcast(v, 5u), subgroupBroadcast(v, 6u), subgroupBroadcast(v, 7u));
}

// A(m, k .. k + 3) and B(k .. k + 3, n) as vec4s (k + 3 < K).
fn load_a4(m: u32, k: u32) -> vec4<f32> {
  if (VEC_A) { return a4[(offA + m * P.K + k) >> 2u]; }
  if (TRANS_A) { let M = P.M; let o = offA + m; return vec4<f32>(a[o + k * M], a[o + (k + 1u) * M], a[o + (k + 2u) * M], a[o + (k + 3u) * M]); }
  let o = offA + m * P.K + k;
  return vec4<f32>(a[o], a[o + 1u], a[o + 2u], a[o + 3u]);
}
fn load_b4(k: u32, n: u32) -> vec4<f32> {
  if (VEC_B) { return b4[(offB + n * P.K + k) >> 2u]; }
  if (TRANS_B) { let o = offB + n * P.K + k; return vec4<f32>(b[o], b[o + 1u], b[o + 2u], b[o + 3u]); }
  let N = P.N;
  let o = offB + n;
  return vec4<f32>(b[o + k * N], b[o + (k + 1u) * N], b[o + (k + 2u) * N], b[o + (k + 3u) * N]);
}
fn load_a(m: u32, k: u32) -> f32 { return a[offA + select(m * P.K + k, k * P.M + m, TRANS_A)]; }
fn load_b(k: u32, n: u32) -> f32 { return b[offB + select(k * P.N + n, n * P.K + k, TRANS_B)]; }

struct Acc { r0c0: array<f32, 8>, r0c1: array<f32, 8>, r1c0: array<f32, 8>, r1c1: array<f32, 8> }

// One k: lane values a0 (row m0 + lane), a1 (row m0 + 8 + lane); b0, b1 this lane's two columns.
fn step(acc: ptr<function, Acc>, a0: f32, a1: f32, b0: f32, b1: f32) {
  let x = lanes8(a0);
  let y = lanes8(a1);
  for (var r = 0u; r < 8u; r++) {
    (*acc).r0c0[r] = fma(x[r], b0, (*acc).r0c0[r]);
    (*acc).r0c1[r] = fma(x[r], b1, (*acc).r0c1[r]);
    (*acc).r1c0[r] = fma(y[r], b0, (*acc).r1c0[r]);
    (*acc).r1c1[r] = fma(y[r], b1, (*acc).r1c1[r]);
  }
}

fn store(m: u32, n: u32, v: f32, bv: f32) {
  if (m < P.M && n < P.N) { c[offC + m * P.N + n] = v + bv; }
}

@compute @workgroup_size(64)
fn matmul_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let g = batch_group(wid, nwg);
  let sub = li / 8u;
  let m0 = ((g / P.groupsN) * SG_M + sub % SG_M) * 16u;
  let n0 = ((g % P.groupsN) * (8u / SG_M) + sub / SG_M) * 16u;
  let M = P.M;
  let N = P.N;
  let K = P.K;
  // Rows/columns past the edge are read clamped (no branches around the broadcasts) and not stored.
  let ma = min(m0 + lane, M - 1u);
  let mb = min(m0 + 8u + lane, M - 1u);
  let na = min(n0 + lane, N - 1u);
  let nb = min(n0 + 8u + lane, N - 1u);
  var acc: Acc;
  let k4 = K & ~3u;
  for (var k = 0u; k < k4; k += 4u) {
    let av = load_a4(ma, k);
    let aw = load_a4(mb, k);
    let bv = load_b4(k, na);
    let bw = load_b4(k, nb);
    step(&acc, av.x, aw.x, bv.x, bw.x);
    step(&acc, av.y, aw.y, bv.y, bw.y);
    step(&acc, av.z, aw.z, bv.z, bw.z);
    step(&acc, av.w, aw.w, bv.w, bw.w);
  }
  for (var k = k4; k < K; k++) {
    step(&acc, load_a(ma, k), load_a(mb, k), load_b(k, na), load_b(k, nb));
  }
  let n1 = n0 + lane;
  let n2 = n0 + 8u + lane;
  var b1 = 0.0;
  var b2 = 0.0;
  if (HAS_BIAS) {
    b1 = bias[na];
    b2 = bias[nb];
  }
  for (var r = 0u; r < 8u; r++) {
    store(m0 + r, n1, acc.r0c0[r], b1);
    store(m0 + r, n2, acc.r0c1[r], b2);
    store(m0 + 8u + r, n1, acc.r1c0[r], b1);
    store(m0 + 8u + r, n2, acc.r1c1[r], b2);
  }
}

// The first row and column of a lane's block in matmul_sgs and matmul_sgt: workgroup g's 8 subgroups
// stack subM along M (consecutive workgroups walk down the rows of the same column strips), each
// computing `rows` rows x 8 lanes x `laneCols` columns of C.
fn lane_origin(g: u32, li: u32, lane: u32, rows: u32, laneCols: u32, subM: u32) -> vec2<u32> {
  return lane_origin_of(g, li / 8u, 8u, lane, rows, laneCols, subM);
}

// The same for subgroup `sub` of `subs` working on one product (lane_origin: all 8 of the workgroup).
fn lane_origin_of(g: u32, sub: u32, subs: u32, lane: u32, rows: u32, laneCols: u32, subM: u32) -> vec2<u32> {
  let groupsM = (P.M + rows * subM - 1u) / (rows * subM);
  let m0 = ((g % groupsM) * subM + sub % subM) * rows;
  let n = ((g / groupsM) * (subs / subM) + sub / subM) * (8u * laneCols) + lane * laneCols;
  return vec2<u32>(m0, n);
}

// matmul_sgt's products per workgroup (1, 2 or 4; BATCHED): with more than 1, the 8 subgroups split
// into ITEMS_WG groups, each on its own item of the batch, so a batch of small products (a Winograd
// weight gradient's 32 x 64 per transform position) does not leave most subgroups on clamped blocks.
override ITEMS_WG: u32 = 1u;

// batch_group for ITEMS_WG items per workgroup: this subgroup's block index within its item, whose
// offsets it sets. A slot past the last item gets the first block past the item's edge (clamped
// reads, no stores), as batch_group's workgroups past the last item.
fn batch_group_items(wid: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
  let g = linear_group(wid, nwg);
  let item = (g / P.perBatch) * ITEMS_WG + (li / 8u) / (8u / ITEMS_WG);
  let clamped = min(item, P.items - 1u);
  offA = clamped * P.M * P.K;
  offB = clamped * P.K * P.N;
  offC = clamped * P.M * P.N;
  return select(g % P.perBatch, P.perBatch, item >= P.items);
}

// matmul_sgs: a subgroup computes 16 rows x 64 columns of C; lane l owns all 16 rows and the 8
// columns n0 + 8l .. + 7 (128 accumulators). Per 4 k: lane r loads A rows m0 + r and m0 + 8 + r as
// vec4s along k (handed to all lanes by shuffles), and the 4 x 8 values of B its columns need as 8
// vec4s. That is 10 vec4 loads per lane for 512 multiply-adds, against 16 scalar loads in matmul_sg.
// The 4 products of a (row, column) are summed before they touch its accumulator, so the 128
// accumulators are read and written once per 4 k and may live in (cheap, whole-register) stack
// slots. Needs K % 4 == 0, A's rows as vec4s (or, TRANS_A, A^T's rows: M % 4 == 0), and B's rows
// as vec4s: N % 4 == 0 (or B transposed).
// TRANS_A: lane l loads A^T row k + l / 2, columns m0 + 8 (l % 2) .. + 7 as two vec4s, and row i's
// value at k + kk is shuffled from lane 2 kk + i / 8: the same 4 shuffles per row as untransposed.
// A workgroup's 8 subgroups cover STACK_M row blocks x 8 / STACK_M column strips, and consecutive
// workgroups walk down the rows of the same strips of B, which stay in the core's cache while A
// streams (2048^3: 34 GFLOP/s in column-block order, 56 in this one, 60 with 8 subgroups per
// workgroup instead of one).
// matmul_sgs's and matmul_sgt's subgroups of the workgroup stacked along M (the rest along N): 1, 2, 4 or 8.
override STACK_M: u32 = 4u;

// Row i's A(k .. k + 3), in every lane, from the two vec4s each lane loaded (see matmul_sgs).
fn sgs_a(i: u32, av: vec4<f32>, aw: vec4<f32>) -> vec4<f32> {
  if (TRANS_A) {
    let v = select(aw, av, i % 8u < 4u)[i % 4u];
    let l = i / 8u;
    return vec4<f32>(subgroupShuffle(v, l), subgroupShuffle(v, 2u + l), subgroupShuffle(v, 4u + l), subgroupShuffle(v, 6u + l));
  }
  let a = select(aw, av, i < 8u);
  return vec4<f32>(subgroupShuffle(a.x, i % 8u), subgroupShuffle(a.y, i % 8u), subgroupShuffle(a.z, i % 8u), subgroupShuffle(a.w, i % 8u));
}

fn sgs_row(acc: ptr<function, array<f32, 128>>, i: u32, av: vec4<f32>, aw: vec4<f32>, b: array<f32, 32>) {
  let x = sgs_a(i, av, aw);
  for (var j = 0u; j < 8u; j++) {
    let t = x.x * b[j] + x.y * b[8u + j] + x.z * b[16u + j] + x.w * b[24u + j];
    (*acc)[i * 8u + j] += t;
  }
}

fn sgs_store(acc: ptr<function, array<f32, 128>>, i: u32, m0: u32, n: u32, bv: array<f32, 8>) {
  let m = m0 + i;
  if (m >= P.M) { return; }
  for (var j = 0u; j < 8u; j++) {
    if (n + j < P.N) { c[offC + m * P.N + n + j] = (*acc)[i * 8u + j] + bv[j]; }
  }
}

@compute @workgroup_size(64)
fn matmul_sgs(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let origin = lane_origin(batch_group(wid, nwg), li, lane, 16u, 8u, STACK_M);
  let m0 = origin.x;
  let n = origin.y;
  let M = P.M;
  let N = P.N;
  let K = P.K;
  let K4 = K / 4u;
  // Rows and columns past the edge are read clamped and not stored.
  // The item's offsets as vec4 indices, in registers for the loop (offA/offB are module-scope).
  let a0 = offA / 4u;
  let b0 = offB / 4u;
  let ra = a0 + min(m0 + lane, M - 1u) * K4;
  let rb = a0 + min(m0 + 8u + lane, M - 1u) * K4;
  // TRANS_A: this lane's A^T row offset within a k4 step, and its two vec4 columns (clamped).
  let M4 = M / 4u;
  let tk = (lane / 2u) * M4;
  let tv = a0 + min((m0 + 8u * (lane % 2u)) / 4u, M4 - 1u);
  let tw = a0 + min((m0 + 8u * (lane % 2u)) / 4u + 1u, M4 - 1u);
  let N4 = N / 4u;
  let nv = min(n / 4u, N4 - 1u);
  let nw = min(n / 4u + 1u, N4 - 1u);
  var cols: array<u32, 8>;
  for (var j = 0u; j < 8u; j++) { cols[j] = b0 + min(n + j, N - 1u) * K4; }
  var acc: array<f32, 128>;
  for (var k4 = 0u; k4 < K4; k4++) {
    var av: vec4<f32>;
    var aw: vec4<f32>;
    if (TRANS_A) {
      let row = k4 * 4u * M4 + tk;
      av = a4[row + tv];
      aw = a4[row + tw];
    } else {
      av = a4[ra + k4];
      aw = a4[rb + k4];
    }
    // b[kk * 8 + j] = B(4 k4 + kk, n + j).
    var b: array<f32, 32>;
    if (TRANS_B) {
      for (var j = 0u; j < 8u; j++) {
        let v = b4[cols[j] + k4];
        b[j] = v.x; b[8u + j] = v.y; b[16u + j] = v.z; b[24u + j] = v.w;
      }
    } else {
      for (var kk = 0u; kk < 4u; kk++) {
        let row = b0 + (k4 * 4u + kk) * N4;
        let v = b4[row + nv];
        let w = b4[row + nw];
        b[kk * 8u] = v.x; b[kk * 8u + 1u] = v.y; b[kk * 8u + 2u] = v.z; b[kk * 8u + 3u] = v.w;
        b[kk * 8u + 4u] = w.x; b[kk * 8u + 5u] = w.y; b[kk * 8u + 6u] = w.z; b[kk * 8u + 7u] = w.w;
      }
    }
    sgs_row(&acc, 0u, av, aw, b); sgs_row(&acc, 1u, av, aw, b); sgs_row(&acc, 2u, av, aw, b); sgs_row(&acc, 3u, av, aw, b);
    sgs_row(&acc, 4u, av, aw, b); sgs_row(&acc, 5u, av, aw, b); sgs_row(&acc, 6u, av, aw, b); sgs_row(&acc, 7u, av, aw, b);
    sgs_row(&acc, 8u, av, aw, b); sgs_row(&acc, 9u, av, aw, b); sgs_row(&acc, 10u, av, aw, b); sgs_row(&acc, 11u, av, aw, b);
    sgs_row(&acc, 12u, av, aw, b); sgs_row(&acc, 13u, av, aw, b); sgs_row(&acc, 14u, av, aw, b); sgs_row(&acc, 15u, av, aw, b);
  }
  var bv: array<f32, 8>;
  if (HAS_BIAS) {
    for (var j = 0u; j < 8u; j++) { bv[j] = bias[min(n + j, N - 1u)]; }
  }
  sgs_store(&acc, 0u, m0, n, bv); sgs_store(&acc, 1u, m0, n, bv); sgs_store(&acc, 2u, m0, n, bv); sgs_store(&acc, 3u, m0, n, bv);
  sgs_store(&acc, 4u, m0, n, bv); sgs_store(&acc, 5u, m0, n, bv); sgs_store(&acc, 6u, m0, n, bv); sgs_store(&acc, 7u, m0, n, bv);
  sgs_store(&acc, 8u, m0, n, bv); sgs_store(&acc, 9u, m0, n, bv); sgs_store(&acc, 10u, m0, n, bv); sgs_store(&acc, 11u, m0, n, bv);
  sgs_store(&acc, 12u, m0, n, bv); sgs_store(&acc, 13u, m0, n, bv); sgs_store(&acc, 14u, m0, n, bv); sgs_store(&acc, 15u, m0, n, bv);
}

// matmul_sgt: a subgroup computes 32 rows x 32 columns of C; lane l owns all 32 rows and the 4
// columns n0 + 4l .. + 3 (128 accumulators, as matmul_sgs). Per 4 k a lane loads 4 vec4s of A (rows
// m0 + l, + 8 + l, + 16 + l, + 24 + l along k; TRANS_A: 4 of A^T row k + l / 2) handed to all lanes by
// shuffles, and the 4 x 4 values of B its columns need as 4 vec4s: 8 vec4 loads per lane for 512
// multiply-adds, against matmul_sgs's 10 (a square block loads each value of A and B for more of
// C: 32 x 32 / (32 + 32) = 16 multiply-adds per loaded value against 16 x 64 / (16 + 64) = 12.8),
// for twice the shuffles (32 rows x 4 k instead of 16). Same contract and needs as matmul_sgs.

// Row i's A(k .. k + 3), in every lane, from the four vec4s each lane loaded (see matmul_sgt).
fn sgt_a(i: u32, av: array<vec4<f32>, 4>) -> vec4<f32> {
  if (TRANS_A) {
    let v = av[(i % 16u) / 4u][i % 4u];
    let l = i / 16u;
    return vec4<f32>(subgroupShuffle(v, l), subgroupShuffle(v, 2u + l), subgroupShuffle(v, 4u + l), subgroupShuffle(v, 6u + l));
  }
  let a = av[i / 8u];
  return vec4<f32>(subgroupShuffle(a.x, i % 8u), subgroupShuffle(a.y, i % 8u), subgroupShuffle(a.z, i % 8u), subgroupShuffle(a.w, i % 8u));
}

fn sgt_row(acc: ptr<function, array<f32, 128>>, i: u32, av: array<vec4<f32>, 4>, b: array<f32, 16>) {
  let x = sgt_a(i, av);
  for (var j = 0u; j < 4u; j++) {
    let t = x.x * b[j] + x.y * b[4u + j] + x.z * b[8u + j] + x.w * b[12u + j];
    (*acc)[i * 4u + j] += t;
  }
}

fn sgt_rows8(acc: ptr<function, array<f32, 128>>, i0: u32, av: array<vec4<f32>, 4>, b: array<f32, 16>) {
  sgt_row(acc, i0, av, b); sgt_row(acc, i0 + 1u, av, b); sgt_row(acc, i0 + 2u, av, b); sgt_row(acc, i0 + 3u, av, b);
  sgt_row(acc, i0 + 4u, av, b); sgt_row(acc, i0 + 5u, av, b); sgt_row(acc, i0 + 6u, av, b); sgt_row(acc, i0 + 7u, av, b);
}

fn sgt_store(acc: ptr<function, array<f32, 128>>, i: u32, m0: u32, n: u32, bv: array<f32, 4>) {
  let m = m0 + i;
  if (m >= P.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (n + j < P.N) { c[offC + m * P.N + n + j] = (*acc)[i * 4u + j] + bv[j]; }
  }
}

fn sgt_stores8(acc: ptr<function, array<f32, 128>>, i0: u32, m0: u32, n: u32, bv: array<f32, 4>) {
  sgt_store(acc, i0, m0, n, bv); sgt_store(acc, i0 + 1u, m0, n, bv); sgt_store(acc, i0 + 2u, m0, n, bv); sgt_store(acc, i0 + 3u, m0, n, bv);
  sgt_store(acc, i0 + 4u, m0, n, bv); sgt_store(acc, i0 + 5u, m0, n, bv); sgt_store(acc, i0 + 6u, m0, n, bv); sgt_store(acc, i0 + 7u, m0, n, bv);
}

@compute @workgroup_size(64)
fn matmul_sgt(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
  var origin: vec2<u32>;
  if (ITEMS_WG > 1u) {
    let subs = 8u / ITEMS_WG;
    origin = lane_origin_of(batch_group_items(wid, nwg, li), (li / 8u) % subs, subs, lane, 32u, 4u, STACK_M);
  } else {
    origin = lane_origin(batch_group(wid, nwg), li, lane, 32u, 4u, STACK_M);
  }
  let m0 = origin.x;
  let n = origin.y;
  let M = P.M;
  let N = P.N;
  let K = P.K;
  let K4 = K / 4u;
  // Rows and columns past the edge are read clamped and not stored.
  let a0 = offA / 4u;
  let b0 = offB / 4u;
  var rows: array<u32, 4>;
  for (var q = 0u; q < 4u; q++) { rows[q] = a0 + min(m0 + 8u * q + lane, M - 1u) * K4; }
  // TRANS_A: this lane's A^T row within a k4 step, and its four vec4 columns (clamped).
  let M4 = M / 4u;
  let tk = (lane / 2u) * M4;
  var tcols: array<u32, 4>;
  for (var q = 0u; q < 4u; q++) { tcols[q] = a0 + min((m0 + 16u * (lane % 2u)) / 4u + q, M4 - 1u); }
  let N4 = N / 4u;
  let nv = min(n / 4u, N4 - 1u);
  var cols: array<u32, 4>;
  for (var j = 0u; j < 4u; j++) { cols[j] = b0 + min(n + j, N - 1u) * K4; }
  var acc: array<f32, 128>;
  for (var k4 = 0u; k4 < K4; k4++) {
    var av: array<vec4<f32>, 4>;
    if (TRANS_A) {
      let row = k4 * 4u * M4 + tk;
      for (var q = 0u; q < 4u; q++) { av[q] = a4[row + tcols[q]]; }
    } else {
      for (var q = 0u; q < 4u; q++) { av[q] = a4[rows[q] + k4]; }
    }
    // b[kk * 4 + j] = B(4 k4 + kk, n + j).
    var b: array<f32, 16>;
    if (TRANS_B) {
      for (var j = 0u; j < 4u; j++) {
        let v = b4[cols[j] + k4];
        b[j] = v.x; b[4u + j] = v.y; b[8u + j] = v.z; b[12u + j] = v.w;
      }
    } else {
      for (var kk = 0u; kk < 4u; kk++) {
        let v = b4[b0 + (k4 * 4u + kk) * N4 + nv];
        b[kk * 4u] = v.x; b[kk * 4u + 1u] = v.y; b[kk * 4u + 2u] = v.z; b[kk * 4u + 3u] = v.w;
      }
    }
    sgt_rows8(&acc, 0u, av, b); sgt_rows8(&acc, 8u, av, b); sgt_rows8(&acc, 16u, av, b); sgt_rows8(&acc, 24u, av, b);
  }
  var bv: array<f32, 4>;
  if (HAS_BIAS) {
    for (var j = 0u; j < 4u; j++) { bv[j] = bias[min(n + j, N - 1u)]; }
  }
  sgt_stores8(&acc, 0u, m0, n, bv); sgt_stores8(&acc, 8u, m0, n, bv); sgt_stores8(&acc, 16u, m0, n, bv); sgt_stores8(&acc, 24u, m0, n, bv);
}
