// C[M, N] = op(A)[M, K] @ op(B)[K, N] (+ bias[N]) for hardware GPUs: the classic shared-memory SGEMM.
// (lavapipe runs it correctly but slowly: there, workgroup memory and barriers cost more than they save;
// see matmul.wgsl / matmul_subgroup.wgsl.)
//
// A workgroup of 256 invocations (16 x 16) computes a BM x 128 tile of C, BM = 16 * TM:
//   invocation (tx, ty) owns rows 4 ty + (0..3) (and 64 + 4 ty + (0..3) when TM = 8) and columns
//   4 tx + (0..3) and 64 + 4 tx + (0..3): TM x 8 accumulators. The split halves make neighbouring
//   invocations read neighbouring vec4s of the staged tiles (no bank conflicts) and give each
//   invocation TM / 4 + 2 vec4 loads per TM * 8 multiply-adds.
// K advances BK at a time. The next stage's values are fetched from global memory into registers
// while the current stage is multiplied (one barrier pair per stage, no double buffer in shared memory).
// Global reads are scalar and bounds-checked (zeros outside), so any M, N, K and both transposes work;
// consecutive invocations read consecutive addresses along each operand's contiguous axis.
// Split-K (for outputs with too few tiles to fill the GPU, e.g. a 64-row batch through a wide layer):
// workgroup g works on tile g % tiles over k in [s kPer, (s + 1) kPer), s = g / tiles, and writes its
// partial product to c[s, M, N] (the bias only into s = 0); the host sums the partials. One split
// (kPer >= K) is the plain product.
// Batched products (bmm: A [B, M, K], B [B, K, N], C [B, M, N]) take the place of the splits: slab
// s = g / tiles is item s / kSplits, split s % kSplits (the host never splits K of a batch), and
// c[s, M, N] is then the item's product. Slabs past the last (grid()'s rounding) do nothing.

struct Params { M: u32, N: u32, K: u32, groupsN: u32, tiles: u32, kPer: u32, kSplits: u32, slabs: u32 }

override TRANS_A: bool = false; // A stored [K, M] instead of [M, K]
override TRANS_B: bool = false; // B stored [N, K] instead of [K, N]
override HAS_BIAS: bool = false; // add bias[n] in the epilogue (linear); otherwise binding 2 is unused
override TM: u32 = 8u; // rows per invocation: 4 or 8
override BK: u32 = 8u; // k per stage: 8 or 16
override BATCHED: bool = false; // bmm: slabs are batch items (folded away for matmul)
const BN = 128u;
override BM: u32 = 16u * TM;
override SA_LEN: u32 = BK * BM / 4u;
override SB_LEN: u32 = BK * BN / 4u;
override LOADS_A: u32 = BM * BK / 256u; // A values staged per invocation per stage (<= 8)
override LOADS_B: u32 = BN * BK / 256u; // B values staged per invocation per stage (<= 8)

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<uniform> P: Params;

var<workgroup> sA: array<vec4<f32>, SA_LEN>; // [BK][BM / 4]: column k of the A tile, 4 rows per vec4
var<workgroup> sB: array<vec4<f32>, SB_LEN>; // [BK][32]: row k of the B tile, 4 columns per vec4
var<private> offA: u32; // the batch item's first element of a and b
var<private> offB: u32;

// Tile coordinates (row, k) of the r-th A value staged by invocation li; consecutive li walk the
// stored contiguous axis (k for A, m for A^T).
fn a_slot(li: u32, r: u32) -> vec2<u32> {
  let e = li + 256u * r;
  if (TRANS_A) { return vec2<u32>(e % BM, e / BM); }
  return vec2<u32>(e / BK, e % BK);
}

// Tile coordinates (k, column) of the r-th B value (contiguous axis: n for B, k for B^T).
fn b_slot(li: u32, r: u32) -> vec2<u32> {
  let e = li + 256u * r;
  if (TRANS_B) { return vec2<u32>(e % BK, e / BK); }
  return vec2<u32>(e / BN, e % BN);
}

fn load_a(m: u32, k: u32, kEnd: u32) -> f32 {
  if (m >= P.M || k >= kEnd) { return 0.0; }
  return a[offA + select(m * P.K + k, k * P.M + m, TRANS_A)];
}

fn load_b(k: u32, n: u32, kEnd: u32) -> f32 {
  if (k >= kEnd || n >= P.N) { return 0.0; }
  return b[offB + select(k * P.N + n, n * P.K + k, TRANS_B)];
}

@compute @workgroup_size(256)
fn matmul_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = linear_group(wid, nwg);
  let tile = g % P.tiles;
  let slab = g / P.tiles;
  if (slab >= P.slabs) { return; }
  let split = select(slab, slab % P.kSplits, BATCHED);
  let item = select(0u, slab / P.kSplits, BATCHED);
  offA = item * P.M * P.K;
  offB = item * P.K * P.N;
  let n0 = (tile % P.groupsN) * BN;
  let m0 = (tile / P.groupsN) * BM;
  let kBeg = split * P.kPer;
  let kEnd = min(P.K, kBeg + P.kPer);
  let tx = li % 16u;
  let ty = li / 16u;

  var acc: array<vec4<f32>, 16>; // [row i][half h] at 2 i + h
  for (var i = 0u; i < 16u; i++) { acc[i] = vec4<f32>(0.0); }
  var ra: array<f32, 8>;
  var rb: array<f32, 8>;
  for (var r = 0u; r < LOADS_A; r++) { let s = a_slot(li, r); ra[r] = load_a(m0 + s.x, kBeg + s.y, kEnd); }
  for (var r = 0u; r < LOADS_B; r++) { let s = b_slot(li, r); rb[r] = load_b(kBeg + s.x, n0 + s.y, kEnd); }

  for (var k0 = kBeg; k0 < kEnd; k0 += BK) {
    workgroupBarrier(); // the previous stage's reads are done
    for (var r = 0u; r < LOADS_A; r++) { let s = a_slot(li, r); sA[s.y * (BM / 4u) + s.x / 4u][s.x % 4u] = ra[r]; }
    for (var r = 0u; r < LOADS_B; r++) { let s = b_slot(li, r); sB[s.x * 32u + s.y / 4u][s.y % 4u] = rb[r]; }
    workgroupBarrier();
    // Fetch the next stage now, so the loads are in flight while this one is multiplied.
    let k1 = k0 + BK;
    if (k1 < kEnd) {
      for (var r = 0u; r < LOADS_A; r++) { let s = a_slot(li, r); ra[r] = load_a(m0 + s.x, k1 + s.y, kEnd); }
      for (var r = 0u; r < LOADS_B; r++) { let s = b_slot(li, r); rb[r] = load_b(k1 + s.x, n0 + s.y, kEnd); }
    }
    for (var kk = 0u; kk < BK; kk++) {
      let b0 = sB[kk * 32u + tx];
      let b1 = sB[kk * 32u + 16u + tx];
      for (var q = 0u; q < TM / 4u; q++) {
        let av = sA[kk * (BM / 4u) + q * 16u + ty];
        for (var i = 0u; i < 4u; i++) {
          acc[(q * 4u + i) * 2u] += av[i] * b0;
          acc[(q * 4u + i) * 2u + 1u] += av[i] * b1;
        }
      }
    }
  }

  for (var h = 0u; h < 2u; h++) {
    let n = n0 + h * 64u + 4u * tx;
    if (n >= P.N) { continue; }
    var bv = vec4<f32>(0.0);
    if (HAS_BIAS && split == 0u) {
      let last = P.N - 1u;
      bv = vec4<f32>(bias[n], bias[min(n + 1u, last)], bias[min(n + 2u, last)], bias[min(n + 3u, last)]);
    }
    for (var i = 0u; i < TM; i++) {
      let m = m0 + (i / 4u) * 64u + 4u * ty + i % 4u;
      if (m >= P.M) { continue; }
      let v = acc[i * 2u + h] + bv;
      let row = (slab * P.M + m) * P.N;
      c[row + n] = v.x;
      if (n + 1u < P.N) { c[row + n + 1u] = v.y; }
      if (n + 2u < P.N) { c[row + n + 2u] = v.z; }
      if (n + 3u < P.N) { c[row + n + 3u] = v.w; }
    }
  }
}
