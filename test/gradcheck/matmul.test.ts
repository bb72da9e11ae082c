import { describe, expect, it } from 'vitest';
import { Rng, matmul, bmm, linear, tensor, tidy, sum, mul, zeros, setMatmulVariant, hasSubgroups8, MATMUL_VARIANTS, type MatmulVariant, type Tensor, type Shape2, type Shape3 } from '@fer/tensor';
import { gradCheck, randomArray, expectClose, type Tolerance } from './harness.js';
import { matmulRef, linearRef, transposeRef } from './reference/matmul.js';
import { useGpu, withVariant } from '../setup-gpu.js';

useGpu();

// f32 dot products of K terms in [-1, 1]: rounding error grows at most ~K * 2^-24 * max|a*b| (in
// practice ~sqrt(K) times less), so atol scales with the longest reduction; a wrong index gives O(0.1).
const tolFor = (len: number): Tolerance => ({ atol: 2e-6 * Math.max(len, 1) + 1e-6, rtol: 1e-5 });
// Gradients are matmuls too (reducing over N for dA, over M for dB); finite differences of the
// float64 reference are exact for a bilinear function up to ~1e-10.
const gradTolFor = (...lens: number[]): Tolerance => ({ atol: 2e-6 * Math.max(...lens, 1) + 1e-5, rtol: 1e-4 });

const TRANS = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const;

function stored(rows: number, cols: number, trans: boolean): Shape2 {
  return trans ? [cols, rows] : [rows, cols];
}

// Every matmul kernel the automatic choice may pick runs the whole suite.
for (const variant of MATMUL_VARIANTS)
  describe(`matmul kernel '${variant}'`, () => {
    withVariant<MatmulVariant>(variant, setMatmulVariant, () => !variant.startsWith('subgroup') || hasSubgroups8());

  describe('matmul gradcheck', () => {
    const rng = new Rng(11);
    // [M, K, N]. Which kernel runs: matmul_v4 when K and both contiguous dims are multiples of 4,
    // otherwise the scalar one; [8, 12, 16] takes v4 for every transpose, [5, 8, 12] for nA only
    // (rows clamped at M = 5), [6, 16, 5] for tB only (columns clamped at N = 5); the rest scalar.
    const shapes: Array<[number, number, number]> = [
      [1, 1, 1],
      [1, 5, 3],
      [3, 4, 5],
      [5, 7, 6],
      [8, 12, 16],
      [5, 8, 12],
      [6, 16, 5],
      [13, 9, 11],
    ];
    for (const [M, K, N] of shapes)
      for (const [transA, transB] of TRANS) {
        const tag = `${M}x${K}x${N}${transA ? ' transA' : ''}${transB ? ' transB' : ''}`;
        it(tag, () =>
          gradCheck({
            name: `matmul ${tag}`,
            inputs: [
              { data: randomArray(M * K, rng), shape: stored(M, K, transA) },
              { data: randomArray(K * N, rng), shape: stored(K, N, transB) },
            ],
            gpu: ([a, b]) => matmul(a as Tensor<Shape2>, b as Tensor<Shape2>, { transA, transB }),
            ref: ([a, b]) => matmulRef(a!, b!, M, K, N, transA, transB),
            forwardTol: tolFor(K),
            gradTol: gradTolFor(M, N),
          }),
        );
      }

    it('only one operand requires grad', () =>
      gradCheck({
        name: 'matmul b constant',
        inputs: [
          { data: randomArray(15, rng), shape: [3, 5] },
          { data: randomArray(20, rng), shape: [5, 4], diff: false },
        ],
        gpu: ([a, b]) => matmul(a as Tensor<Shape2>, b as Tensor<Shape2>),
        ref: ([a, b]) => matmulRef(a!, b!, 3, 5, 4),
        forwardTol: tolFor(5),
        gradTol: gradTolFor(3, 4),
      }));
  });

  /**
   * Larger sizes, where finite differences are too slow: GPU forward and backward against the float64
   * forward and the analytic gradients dop(A) = W @ op(B)^T, dop(B) = op(A)^T @ W (W the upstream grad).
   */
  async function checkLarge(M: number, K: number, N: number, transA: boolean, transB: boolean, rng: Rng): Promise<void> {
    const aData = randomArray(M * K, rng);
    const bData = randomArray(K * N, rng);
    const w = randomArray(M * N, rng);
    const a = tensor(Float32Array.from(aData), stored(M, K, transA), { requiresGrad: true });
    const b = tensor(Float32Array.from(bData), stored(K, N, transB), { requiresGrad: true });
    const y = tidy(() => {
      const out = matmul(a, b, { transA, transB });
      sum(mul(out, tensor(Float32Array.from(w), [M, N] as const))).backward();
      return out;
    });
    const [yv, ga, gb] = [await y.toArray(), await a.grad!.toArray(), await b.grad!.toArray()];
    const tag = `${M}x${K}x${N} transA=${transA} transB=${transB}`;
    const a32 = Float64Array.from(Float32Array.from(aData));
    const b32 = Float64Array.from(Float32Array.from(bData));
    const w32 = Float64Array.from(Float32Array.from(w));
    expectClose(yv, matmulRef(a32, b32, M, K, N, transA, transB), tolFor(K), `${tag} forward`);
    // op(A) and op(B) as plain row-major [M, K] and [K, N].
    const opA = transA ? transposeRef(a32, K, M) : a32;
    const opB = transB ? transposeRef(b32, N, K) : b32;
    const dOpA = matmulRef(w32, opB, M, N, K, false, true); // [M, K]
    const dOpB = matmulRef(opA, w32, K, M, N, true, false); // [K, N]
    expectClose(ga, transA ? transposeRef(dOpA, M, K) : dOpA, tolFor(N), `${tag} dA`);
    expectClose(gb, transB ? transposeRef(dOpB, K, N) : dOpB, tolFor(M), `${tag} dB`);
    for (const t of [y, a.grad!, b.grad!, a, b]) t.dispose();
  }

  // bmm: every kernel numbers its workgroups item by item; a wrong item offset reads or writes
  // another item's matrix (or past the end), which the per-item reference catches.
  describe('bmm gradcheck', () => {
    const rng = new Rng(13);
    const bmmRef = (a: ArrayLike<number>, b: ArrayLike<number>, B: number, M: number, K: number, N: number, transA: boolean, transB: boolean): Float64Array => {
      const out = new Float64Array(B * M * N);
      for (let i = 0; i < B; i++)
        out.set(matmulRef(Array.from(a).slice(i * M * K, (i + 1) * M * K), Array.from(b).slice(i * K * N, (i + 1) * K * N), M, K, N, transA, transB), i * M * N);
      return out;
    };
    // [B, M, K, N]: vec4 loads for every transpose ([3, 8, 12, 16]), A's vec4 rows with clamped rows
    // ([2, 5, 8, 12]), scalar loads with partial blocks ([2, 13, 9, 11]), one item ([1, 6, 16, 5]).
    for (const [B, M, K, N] of [[3, 8, 12, 16], [2, 5, 8, 12], [2, 13, 9, 11], [1, 6, 16, 5]] as const)
      for (const [transA, transB] of TRANS) {
        const tag = `${B} x ${M}x${K}x${N}${transA ? ' transA' : ''}${transB ? ' transB' : ''}`;
        it(tag, () =>
          gradCheck({
            name: `bmm ${tag}`,
            inputs: [
              { data: randomArray(B * M * K, rng), shape: [B, ...stored(M, K, transA)] },
              { data: randomArray(B * K * N, rng), shape: [B, ...stored(K, N, transB)] },
            ],
            gpu: ([a, b]) => bmm(a as Tensor<Shape3>, b as Tensor<Shape3>, { transA, transB }),
            ref: ([a, b]) => bmmRef(a!, b!, B, M, K, N, transA, transB),
            forwardTol: tolFor(K),
            gradTol: gradTolFor(M, N),
          }),
        );
      }
    // Several workgroups per item in both directions (matmul_sgs: 64 x 128 per workgroup; tiled:
    // 128 x 128, partial): the forward against the reference, item by item.
    it('16 x 150x36x260 forward (several workgroups per item)', async () => {
      const [B, M, K, N] = [16, 150, 36, 260];
      const a = Float32Array.from(randomArray(B * M * K, rng));
      const b = Float32Array.from(randomArray(B * K * N, rng));
      const y = bmm(tensor(a, [B, M, K] as const), tensor(b, [B, K, N] as const));
      expect(y.shape).toEqual([B, M, N]);
      expectClose(await y.toArray(), bmmRef(a, b, B, M, K, N, false, false), tolFor(K), 'bmm 16 x 150x36x260');
      y.dispose();
    });
    // Several items per workgroup (subgroup_square_i4: 4 items of 32 x 64; _i2: 2 of 64 x 64), each
    // item several blocks, partial, and 5 items: the last workgroup's slots past item 4 store nothing.
    for (const transA of [false, true])
      it(`5 x 40x16x72${transA ? ' transA' : ''} forward (several items per workgroup, several blocks per item)`, async () => {
        const [B, M, K, N] = [5, 40, 16, 72];
        const a = Float32Array.from(randomArray(B * M * K, rng));
        const b = Float32Array.from(randomArray(B * K * N, rng));
        const y = bmm(tensor(a, [B, ...stored(M, K, transA)] as const), tensor(b, [B, K, N] as const), { transA });
        expect(y.shape).toEqual([B, M, N]);
        expectClose(await y.toArray(), bmmRef(a, b, B, M, K, N, transA, false), tolFor(K), `bmm 5 x 40x16x72${transA ? ' transA' : ''}`);
        y.dispose();
      });
  });

  describe('matmul larger sizes (analytic gradients)', () => {
    const rng = new Rng(12);
    for (const [M, K, N] of [
      [64, 96, 128], // vec4 path, several workgroups in both directions
      [67, 130, 45], // odd: scalar path, partial tiles and partial workgroups
      [1, 256, 7], // batch 1 through a classifier-like head
      [150, 21, 260], // tiled kernels: 2 x 3 tiles of 128 x 128 (3 x 3 of 64 x 128), all partial; K not a multiple of 8 or 16
      [70, 600, 40], // tiled64_splitk: K in 2 splits (304 + 296), partial tiles
      [260, 40, 68], // subgroup_square(8, 2): 2 x 3 (3 x 2, 5 x 1) workgroups of 256 x 32 (128 x 64, 64 x 128), partial in both directions
    ] as const)
      for (const [transA, transB] of TRANS)
        it(`${M}x${K}x${N} transA=${transA} transB=${transB}`, () => checkLarge(M, K, N, transA, transB, rng));
  });

  describe('linear gradcheck', () => {
    const rng = new Rng(13);
    // [N, in, out]
    const shapes: Array<[number, number, number]> = [
      [1, 1, 1],
      [1, 7, 3],
      [4, 8, 12],
      [5, 9, 7],
      [3, 16, 10],
    ];
    for (const [N, inF, outF] of shapes) {
      for (const withBias of [true, false]) {
        const tag = `${N}x${inF} -> ${outF}${withBias ? '' : ' no bias'}`;
        it(tag, () =>
          gradCheck({
            name: `linear ${tag}`,
            inputs: [
              { data: randomArray(N * inF, rng), shape: [N, inF] },
              { data: randomArray(outF * inF, rng), shape: [outF, inF] },
              ...(withBias ? [{ data: randomArray(outF, rng), shape: [outF] as const }] : []),
            ],
            gpu: ([x, w, b]) => linear(x as Tensor<Shape2>, w as Tensor<Shape2>, (b ?? null) as Tensor<readonly [number]> | null),
            ref: ([x, w, b]) => linearRef(x!, w!, b ?? null, N, inF, outF),
            forwardTol: tolFor(inF),
            gradTol: gradTolFor(N, outF),
          }),
        );
      }
    }
    it('input without grad (a first layer), bias and weight with grad', () =>
      gradCheck({
        name: 'linear x constant',
        inputs: [
          { data: randomArray(6 * 5, rng), shape: [6, 5], diff: false },
          { data: randomArray(3 * 5, rng), shape: [3, 5] },
          { data: randomArray(3, rng), shape: [3] },
        ],
        gpu: ([x, w, b]) => linear(x as Tensor<Shape2>, w as Tensor<Shape2>, b as Tensor<readonly [number]>),
        ref: ([x, w, b]) => linearRef(x!, w!, b!, 6, 5, 3),
        forwardTol: tolFor(5),
        gradTol: gradTolFor(6, 3),
      }));
    for (const [N, inF, outF] of [
      [300, 64, 10],
      [64, 1100, 9], // a long K: split over workgroups by tiled64_splitk (the bias added once)
    ] as const)
    it(`larger layer ${N}x${inF} -> ${outF} against analytic gradients (bias grad = column sums over ${N} rows)`, async () => {
      const xd = Float64Array.from(Float32Array.from(randomArray(N * inF, rng)));
      const wd = Float64Array.from(Float32Array.from(randomArray(outF * inF, rng)));
      const bd = Float64Array.from(Float32Array.from(randomArray(outF, rng)));
      const g = Float64Array.from(Float32Array.from(randomArray(N * outF, rng)));
      const x = tensor(Float32Array.from(xd), [N, inF] as const, { requiresGrad: true });
      const w = tensor(Float32Array.from(wd), [outF, inF] as const, { requiresGrad: true });
      const b = tensor(Float32Array.from(bd), [outF] as const, { requiresGrad: true });
      const y = tidy(() => {
        const out = linear(x, w, b);
        sum(mul(out, tensor(Float32Array.from(g), [N, outF] as const))).backward();
        return out;
      });
      expectClose(await y.toArray(), linearRef(xd, wd, bd, N, inF, outF), tolFor(inF), 'linear forward');
      expectClose(await x.grad!.toArray(), matmulRef(g, wd, N, outF, inF), tolFor(outF), 'linear dx');
      expectClose(await w.grad!.toArray(), matmulRef(g, xd, outF, N, inF, true), tolFor(N), 'linear dw');
      const db = new Float64Array(outF);
      for (let i = 0; i < N; i++) for (let o = 0; o < outF; o++) db[o]! += g[i * outF + o]!;
      expectClose(await b.grad!.toArray(), db, tolFor(N), 'linear dbias');
      for (const t of [y, x.grad!, w.grad!, b.grad!, x, w, b]) t.dispose();
    });
  });
  });

describe('matmul edge cases and errors', () => {
  it('K = 0 gives zeros (plus the bias for linear)', async () => {
    const a = tensor([], [3, 0] as const);
    const b = tensor([], [0, 4] as const);
    expect(Array.from(await matmul(a, b).toArray())).toEqual(new Array(12).fill(0));
    const bias = tensor([1, 2], [2] as const);
    expect(Array.from(await linear(a, tensor([], [2, 0] as const), bias).toArray())).toEqual([1, 2, 1, 2, 1, 2]);
  });
  it('M = 0 or N = 0 gives an empty result', () => {
    expect(matmul(tensor([], [0, 3] as const), zeros([3, 4] as const)).shape).toEqual([0, 4]);
    expect(matmul(zeros([2, 3] as const), tensor([], [3, 0] as const)).shape).toEqual([2, 0]);
  });
  it('reports both shapes when inner dimensions differ', () => {
    const a = zeros([3, 4] as const);
    const b = zeros([5, 6] as const);
    expect(() => matmul(a, b)).toThrow('matmul: inner dimensions differ: a [3, 4] (K=4) vs b [5, 6] (K=5)');
    expect(() => matmul(a, b, { transA: true })).toThrow(/a\^T \(a is \[3, 4\]\) \(K=3\) vs b \[5, 6\] \(K=5\)/);
    expect(() => matmul(a, b, { transB: true })).toThrow(/a \[3, 4\] \(K=4\) vs b\^T \(b is \[5, 6\]\) \(K=6\)/);
  });
  it('rejects wrong ranks, dtypes and disposed tensors', () => {
    expect(() => matmul(zeros([2, 3, 4] as const) as unknown as Tensor<Shape2>, zeros([4, 2] as const))).toThrow(/rank-2.*\[2, 3, 4\]/);
    expect(() => matmul(zeros([2, 3] as const), zeros([3, 2] as const, { dtype: 'i32' }))).toThrow(/expected a f32 tensor/);
    const d = zeros([3, 3] as const);
    d.dispose();
    expect(() => matmul(zeros([3, 3] as const), d)).toThrow(/disposed/);
  });
  it('bmm checks ranks and batch sizes', () => {
    expect(() => bmm(zeros([2, 3] as const) as unknown as Tensor<Shape3>, zeros([2, 3, 2] as const))).toThrow(/bmm.*rank-3.*\[2, 3\]/);
    expect(() => bmm(zeros([2, 3, 4] as const), zeros([3, 4, 2] as const))).toThrow('bmm: batch sizes differ: a [2, 3, 4] has 2 items, b [3, 4, 2] has 3');
    expect(() => bmm(zeros([2, 3, 4] as const), zeros([2, 5, 2] as const))).toThrow('bmm: inner dimensions differ: a [2, 3, 4] (K=4) vs b [2, 5, 2] (K=5)');
  });
  it('linear checks features and bias shape', () => {
    expect(() => linear(zeros([2, 3] as const), zeros([4, 5] as const))).toThrow('linear: x [2, 3] has 3 input features but w [4, 5] (w is [out, in]) expects 5');
    expect(() => linear(zeros([2, 3] as const), zeros([4, 3] as const), zeros([3] as const))).toThrow(/bias has shape \[3\], expected \[4\]/);
    expect(() => linear(zeros([2, 3] as const), zeros([4, 3] as const), zeros([1, 4] as const) as unknown as Tensor<readonly [number]>)).toThrow(/bias has shape \[1, 4\]/);
  });
});
