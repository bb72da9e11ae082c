// C[M, N] = op(A)[M, K] @ op(B)[K, N] (+ bias[N]); op(X) = X or X^T by override constants, so the
// backward passes (dA = dC @ B^T, dB = A^T @ dC) read the stored operands directly, with no transpose copies.
//
// Register blocking, no workgroup memory: each invocation accumulates a 4x4 block of C in registers.
// On lavapipe (invocations are SIMD lanes of a CPU loop) barriers and shared-memory tiles cost more
// than they save; on a real GPU this is still a reasonable kernel (neighbouring lanes read neighbouring
// columns of B, rows of A are shared by the lanes of one workgroup row and stay in L1/L2).
//
// Two entry points over the same bindings:
//   matmul_v4: operands read as vec4 along their contiguous axis, K consumed 4 at a time. The host
//              picks it only when K and both operands' contiguous dimensions are multiples of 4
//              (then every vec4 is 16-byte aligned and in bounds).
//   matmul:    scalar loads, any sizes.
// Rows/columns of a block that fall outside C are read clamped to the last valid row/column (no
// branches in the K loop) and simply not written.
// Batched products (bmm: A [B, M, K], B [B, K, N], C [B, M, N], contiguous items): workgroup g works
// on item g / perBatch (workgroups past the last item, from grid()'s rounding, do nothing); a single
// product passes perBatch = the workgroup count and items = 1.

struct Params { M: u32, N: u32, K: u32, tilesM: u32, tilesN: u32, groupsN: u32, perBatch: u32, items: u32 }

override TRANS_A: bool = false; // A stored [K, M] instead of [M, K]
override TRANS_B: bool = false; // B stored [N, K] instead of [K, N]
override HAS_BIAS: bool = false; // add bias[n] in the epilogue (linear); otherwise binding 2 is unused
// 4x4 tiles per workgroup along N (the other 64 / WG_N along M); the host passes the same value.
override WG_N: u32 = 4u;
override BATCHED: bool = false; // bmm: workgroups numbered item by item (folded away for matmul)

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<uniform> P: Params;

// The same buffers seen as vec4 (used only by matmul_v4; one entry point never touches both views).
@group(0) @binding(0) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b4: array<vec4<f32>>;

// The block's tile and batch item, and the item's element offsets into a, b and c.
struct Tile { m0: u32, n0: u32, ok: bool, offA: u32, offB: u32, offC: u32 }

fn tile_of(wid: vec3<u32>, nwg: vec3<u32>, li: u32) -> Tile {
  let g0 = linear_group(wid, nwg);
  let item = select(0u, g0 / P.perBatch, BATCHED);
  let g = select(g0, g0 % P.perBatch, BATCHED);
  let tn = (g % P.groupsN) * WG_N + li % WG_N;
  let tm = (g / P.groupsN) * (64u / WG_N) + li / WG_N;
  return Tile(tm * 4u, tn * 4u, tn < P.tilesN && tm < P.tilesM && item < P.items, item * P.M * P.K, item * P.K * P.N, item * P.M * P.N);
}

// acc[i] holds C[m0 + i, n0 .. n0 + 3].
fn store(m0: u32, n0: u32, offC: u32, acc: mat4x4<f32>) {
  var bv = vec4<f32>(0.0);
  if (HAS_BIAS) {
    let last = P.N - 1u;
    bv = vec4<f32>(bias[min(n0, last)], bias[min(n0 + 1u, last)], bias[min(n0 + 2u, last)], bias[min(n0 + 3u, last)]);
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + i;
    if (m >= P.M) { break; }
    let v = acc[i] + bv;
    let row = offC + m * P.N;
    c[row + n0] = v.x;
    if (n0 + 1u < P.N) { c[row + n0 + 1u] = v.y; }
    if (n0 + 2u < P.N) { c[row + n0 + 2u] = v.z; }
    if (n0 + 3u < P.N) { c[row + n0 + 3u] = v.w; }
  }
}

@compute @workgroup_size(64)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = tile_of(wid, nwg, li);
  if (!t.ok) { return; }
  let M = P.M;
  let N = P.N;
  let K = P.K;
  // A(m, k) = a[aBase(m) + k * sa]; B(k, n) = b[bBase(n) + k * sb].
  var ab: vec4<u32>;
  var bb: vec4<u32>;
  for (var i = 0u; i < 4u; i++) {
    let m = min(t.m0 + i, M - 1u);
    let n = min(t.n0 + i, N - 1u);
    ab[i] = t.offA + select(m * K, m, TRANS_A);
    bb[i] = t.offB + select(n, n * K, TRANS_B);
  }
  let sa = select(1u, M, TRANS_A);
  let sb = select(N, 1u, TRANS_B);
  var acc = mat4x4<f32>();
  for (var k = 0u; k < K; k++) {
    let ka = k * sa;
    let kb = k * sb;
    let av = vec4<f32>(a[ab.x + ka], a[ab.y + ka], a[ab.z + ka], a[ab.w + ka]);
    let bv = vec4<f32>(b[bb.x + kb], b[bb.y + kb], b[bb.z + kb], b[bb.w + kb]);
    acc[0] += av.x * bv;
    acc[1] += av.y * bv;
    acc[2] += av.z * bv;
    acc[3] += av.w * bv;
  }
  store(t.m0, t.n0, t.offC, acc);
}

@compute @workgroup_size(64)
fn matmul_v4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = tile_of(wid, nwg, li);
  if (!t.ok) { return; }
  let M = P.M;
  let N = P.N;
  let K = P.K;
  // Element offsets (multiples of 4) of the four rows/columns this block reads; k advances them.
  var ao: vec4<u32>;
  var bo: vec4<u32>;
  for (var i = 0u; i < 4u; i++) {
    let m = min(t.m0 + i, M - 1u);
    let n = min(t.n0 + i, N - 1u);
    // nA: row m of A; tA: rows k + i of A^T storage, starting at column m0 (M % 4 == 0 here).
    ao[i] = t.offA + select(m * K, i * M + t.m0, TRANS_A);
    // nB: rows k + i of B starting at column n0 (N % 4 == 0 here); tB: row n of B^T storage.
    bo[i] = t.offB + select(i * N + t.n0, n * K, TRANS_B);
  }
  let da = select(4u, 4u * M, TRANS_A);
  let db = select(4u * N, 4u, TRANS_B);
  var acc = mat4x4<f32>();
  for (var k = 0u; k < K; k += 4u) {
    let a0 = a4[ao.x >> 2u];
    let a1 = a4[ao.y >> 2u];
    let a2 = a4[ao.z >> 2u];
    let a3 = a4[ao.w >> 2u];
    let b0 = b4[bo.x >> 2u];
    let b1 = b4[bo.y >> 2u];
    let b2 = b4[bo.z >> 2u];
    let b3 = b4[bo.w >> 2u];
    ao += vec4<u32>(da);
    bo += vec4<u32>(db);
    // Ar: column i = A(m0 + i, k .. k + 3); Bm: column j = B(k + j, n0 .. n0 + 3). Then acc += Bm * Ar.
    var ar = mat4x4<f32>(a0, a1, a2, a3);
    if (TRANS_A) { ar = transpose(ar); }
    var bm = mat4x4<f32>(b0, b1, b2, b3);
    if (TRANS_B) { bm = transpose(bm); }
    acc += bm * ar;
  }
  store(t.m0, t.n0, t.offC, acc);
}
