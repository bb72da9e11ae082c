import { describe, it, expect } from 'vitest';
import { Rng, adamStep, sgdStep, adamSteps, sgdSteps, tensor, zeros, tidy, shapeSize, upload, readBuffer, type AdamStepOptions, type SgdStepOptions, type Tensor } from '@fer/tensor';
import { randomArray, expectClose } from './harness.js';
import { adamRef, sgdRef } from './reference/optim.js';
import { useGpu } from '../setup-gpu.js';

useGpu();

// Five f32 updates of O(1) values against float64: each step rounds a few times (~1e-7), and
// Adam's m / sqrt(v) ratio is well conditioned for gradients of O(0.1..1): 2e-6 absolute, 1e-5 relative.
const TOL = { atol: 2e-6, rtol: 1e-5 };
const STEPS = 5;

const f64 = (a: ArrayLike<number>) => Float64Array.from(Float32Array.from(a));

// Sizes: one element, a partial vec4, an exact vec4, several workgroups plus a tail, a rank-3 shape.
const SHAPES: ReadonlyArray<readonly number[]> = [[1], [3], [4], [1001], [3, 5, 7]];

describe('adamStep against a float64 reference over 5 steps', () => {
  const rng = new Rng(31);
  const variants: Array<[string, Omit<AdamStepOptions, 'step'>]> = [
    ['Adam', { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false }],
    ['Adam + L2 weight decay', { lr: 0.02, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.05, decoupled: false }],
    ['AdamW', { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, decoupled: true }],
  ];
  for (const [name, o] of variants)
    for (const shape of SHAPES)
      it(`${name} [${shape}]`, async () => {
        const n = shapeSize(shape);
        const p = f64(randomArray(n, rng));
        const m = new Float64Array(n);
        const v = new Float64Array(n);
        const pt = tensor(Float32Array.from(p), shape);
        const mt = zeros(shape);
        const vt = zeros(shape);
        for (let step = 1; step <= STEPS; step++) {
          const g = f64(randomArray(n, rng, -1 + 0.2 * step, 1));
          adamRef(p, g, m, v, { ...o, step });
          tidy(() => adamStep(pt, tensor(Float32Array.from(g), shape), mt, vt, { ...o, step }));
        }
        expectClose(await pt.toArray(), p, TOL, `${name} param`);
        expectClose(await mt.toArray(), m, TOL, `${name} m`);
        expectClose(await vt.toArray(), v, TOL, `${name} v`);
        for (const t of [pt, mt, vt]) t.dispose();
      });
});

// adamSteps / sgdSteps update up to 4 parameters per dispatch (workgroup ranges per slot). Counts
// 1..9 give groups of 4 plus each remainder; sizes mix one element, partial vec4s and several
// workgroups; each parameter has its own step count (Adam's bias corrections, SGD's first step).
describe('adamSteps / sgdSteps: several parameters per dispatch against float64', () => {
  const rng = new Rng(33);
  const SIZES = [1, 1001, 3, 4, 300, 7, 2, 513, 5];
  const counts = [1, 2, 3, 4, 5, 9];
  /** Parameter k starts at step k % 3 (earlier steps taken before the loop), so step counts differ within a dispatch. */
  const offset = (k: number) => k % 3;
  for (const count of counts)
    for (const [name, o] of [
      ['Adam + L2', { lr: 0.02, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.05, decoupled: false }],
      ['AdamW', { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, decoupled: true }],
    ] as const)
      it(`${name}, ${count} parameters`, async () => {
        const sizes = SIZES.slice(0, count);
        const ref = sizes.map((n) => ({ p: f64(randomArray(n, rng)), m: new Float64Array(n), v: new Float64Array(n) }));
        const gpu = ref.map((r, k) => ({ param: tensor(Float32Array.from(r.p), [sizes[k]!] as const), m: zeros([sizes[k]!] as const), v: zeros([sizes[k]!] as const) }));
        for (let round = 0; round < 3 + 2; round++) {
          // Parameter k takes part from round offset(k) on, with step round - offset(k) + 1.
          const active = sizes.map((_, k) => k).filter((k) => round >= offset(k));
          const grads = active.map((k) => f64(randomArray(sizes[k]!, rng, -1, 1)));
          active.forEach((k, j) => adamRef(ref[k]!.p, grads[j]!, ref[k]!.m, ref[k]!.v, { ...o, step: round - offset(k) + 1 }));
          tidy(() =>
            adamSteps(
              active.map((k, j) => ({ ...gpu[k]!, grad: tensor(Float32Array.from(grads[j]!), [sizes[k]!] as const), step: round - offset(k) + 1 })),
              o,
            ),
          );
        }
        for (let k = 0; k < count; k++) {
          expectClose(await gpu[k]!.param.toArray(), ref[k]!.p, TOL, `${name} param ${k}`);
          expectClose(await gpu[k]!.m.toArray(), ref[k]!.m, TOL, `${name} m ${k}`);
          expectClose(await gpu[k]!.v.toArray(), ref[k]!.v, TOL, `${name} v ${k}`);
        }
        for (const t of gpu) for (const x of [t.param, t.m, t.v]) x.dispose();
      });

  for (const count of counts)
    for (const [name, o] of [
      ['SGD Nesterov + weight decay', { lr: 0.05, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 0.01 }],
      ['SGD momentum + dampening', { lr: 0.05, momentum: 0.8, dampening: 0.3, nesterov: false, weightDecay: 0 }],
      ['SGD without momentum', { lr: 0.1, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0.01 }],
    ] as const)
      it(`${name}, ${count} parameters`, async () => {
        const sizes = SIZES.slice(0, count);
        const ref = sizes.map((n) => ({ p: f64(randomArray(n, rng)), buf: new Float64Array(n) }));
        const gpu = ref.map((r, k) => ({
          param: tensor(Float32Array.from(r.p), [sizes[k]!] as const),
          // Garbage: each parameter's first step must overwrite it.
          buf: o.momentum > 0 ? tensor(Float32Array.from(randomArray(sizes[k]!, rng, 5, 9)), [sizes[k]!] as const) : null,
        }));
        for (let round = 0; round < 3 + 2; round++) {
          const active = sizes.map((_, k) => k).filter((k) => round >= offset(k));
          const grads = active.map((k) => f64(randomArray(sizes[k]!, rng, -1, 1)));
          active.forEach((k, j) => sgdRef(ref[k]!.p, grads[j]!, ref[k]!.buf, o, round === offset(k)));
          tidy(() =>
            sgdSteps(
              active.map((k, j) => ({ ...gpu[k]!, grad: tensor(Float32Array.from(grads[j]!), [sizes[k]!] as const), firstStep: round === offset(k) })),
              o,
            ),
          );
        }
        for (let k = 0; k < count; k++) {
          expectClose(await gpu[k]!.param.toArray(), ref[k]!.p, TOL, `${name} param ${k}`);
          if (gpu[k]!.buf) expectClose(await gpu[k]!.buf!.toArray(), ref[k]!.buf, TOL, `${name} buf ${k}`);
        }
        for (const t of gpu) for (const x of [t.param, t.buf]) x?.dispose();
      });

  it('rejects one tensor in two updates of a dispatch, naming the op', () => {
    const p = tensor([1, 2, 3], [3] as const);
    const q = tensor([1, 2, 3], [3] as const);
    const fresh = (): Tensor[] => [tensor([0.1, 0.2, 0.3], [3] as const), zeros([3] as const), zeros([3] as const)];
    const [g1, m1, v1] = fresh();
    const [g2, , v2] = fresh();
    const o = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false };
    expect(() => adamSteps([{ param: p, grad: g1!, m: m1!, v: v1! }, { param: q, grad: g2!, m: m1!, v: v2! }].map((u) => ({ ...u, step: 1 })), o)).toThrow(
      /adamSteps: two updates share a tensor/,
    );
    for (const t of [p, q, g1, m1, v1, g2, v2]) t!.dispose();
  });
});

describe('sgdStep against a float64 reference over 5 steps', () => {
  const rng = new Rng(32);
  const variants: Array<[string, SgdStepOptions & { dampening: number }]> = [
    ['SGD + weight decay', { lr: 0.1, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0.01 }],
    ['SGD momentum', { lr: 0.05, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0 }],
    ['SGD momentum + dampening + weight decay', { lr: 0.05, momentum: 0.8, dampening: 0.3, nesterov: false, weightDecay: 0.02 }],
    ['SGD Nesterov + weight decay', { lr: 0.05, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 0.01 }],
  ];
  for (const [name, o] of variants)
    for (const shape of SHAPES)
      it(`${name} [${shape}]`, async () => {
        const n = shapeSize(shape);
        const p = f64(randomArray(n, rng));
        const buf = new Float64Array(n);
        const pt = tensor(Float32Array.from(p), shape);
        // Garbage in the buffer: the first step must overwrite it (PyTorch initialises buf = d).
        const bt = o.momentum > 0 ? tensor(Float32Array.from(randomArray(n, rng, 5, 9)), shape) : null;
        for (let step = 1; step <= STEPS; step++) {
          const g = f64(randomArray(n, rng));
          sgdRef(p, g, buf, o, step === 1);
          tidy(() => sgdStep(pt, tensor(Float32Array.from(g), shape), bt, { ...o, firstStep: step === 1 }));
        }
        expectClose(await pt.toArray(), p, TOL, `${name} param`);
        if (bt) expectClose(await bt.toArray(), buf, TOL, `${name} buf`);
        pt.dispose();
        bt?.dispose();
      });

  it('momentum 0 never touches the buffer argument (it may be the grad itself)', async () => {
    const p = tensor([1, 2, 3], [3] as const);
    const g = tensor([0.5, -1, 2], [3] as const);
    sgdStep(p, g, g, { lr: 0.1, momentum: 0, nesterov: false, weightDecay: 0 });
    expectClose(await p.toArray(), [0.95, 2.1, 2.8], { atol: 1e-6, rtol: 0 }, 'param');
    expect(Array.from(await g.toArray())).toEqual([0.5, -1, 2]);
    p.dispose();
    g.dispose();
  });

  it('without firstStep a zero buffer with dampening 0 gives PyTorch\'s first step too', async () => {
    const o = { lr: 0.1, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0 };
    const g0 = [0.5, -1, 2, 0.25, 3];
    const p = new Float64Array(5).fill(1);
    const b = new Float64Array(5);
    sgdRef(p, g0, b, o, true);
    const pt = tensor(new Float32Array(5).fill(1), [5] as const);
    const bt = zeros([5] as const);
    tidy(() => sgdStep(pt, tensor(g0, [5] as const), bt, o));
    expectClose(await pt.toArray(), p, TOL, 'param');
    expectClose(await bt.toArray(), b, TOL, 'buf');
    pt.dispose();
    bt.dispose();
  });
});

describe('vec4 tail', () => {
  it('buffer words past the tensor size are left untouched', async () => {
    // A 3-element tensor lives in a (16-byte padded) pooled buffer; write the padding word directly.
    const p = zeros([3] as const);
    const g = zeros([3] as const);
    const m = zeros([3] as const);
    const v = zeros([3] as const);
    upload(p.buffer, Float32Array.of(1, 2, 3, 7));
    upload(g.buffer, Float32Array.of(0.5, 0.5, 0.5, 1));
    upload(m.buffer, Float32Array.of(0, 0, 0, 4));
    upload(v.buffer, Float32Array.of(0, 0, 0, 5));
    adamStep(p, g, m, v, { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, decoupled: true, step: 1 });
    sgdStep(p, g, m, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.1 });
    sgdStep(p, g, null, { lr: 0.1, momentum: 0, nesterov: false, weightDecay: 0.1 });
    for (const [t, pad] of [[p, 7], [g, 1], [m, 4], [v, 5]] as const) {
      const words = new Float32Array(await readBuffer(t.buffer, 16));
      expect(words[3]).toBe(pad);
      t.dispose();
    }
  });
});

describe('optimizer step bad inputs', () => {
  it('rejects shape mismatches, non-finite hyper-parameters, aliasing and disposed tensors', () => {
    tidy(() => {
      const s = [2, 3] as const;
      const p = zeros(s);
      const g = zeros(s);
      const m = zeros(s);
      const v = zeros(s);
      const a: AdamStepOptions = { lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, step: 1 };
      expect(() => adamStep(p, zeros([3, 2] as const), m, v, a)).toThrow(/grad has shape \[3, 2\], expected the param's shape \[2, 3\]/);
      expect(() => adamStep(p, g, zeros([6] as const), v, a)).toThrow(/m has shape \[6\], expected the param's shape \[2, 3\]/);
      expect(() => adamStep(p, g, m, v, { ...a, lr: NaN })).toThrow(/lr must be a finite number/);
      expect(() => adamStep(p, g, m, v, { ...a, lr: Infinity })).toThrow(/lr must be a finite number/);
      expect(() => adamStep(p, g, m, v, { ...a, lr: -1 })).toThrow(/lr must be a finite number in \[0/);
      expect(() => adamStep(p, g, m, v, { ...a, beta1: 1 })).toThrow(/beta1 must be a finite number in \[0, 1\)/);
      expect(() => adamStep(p, g, m, v, { ...a, eps: -1e-8 })).toThrow(/eps/);
      expect(() => adamStep(p, g, m, v, { ...a, weightDecay: NaN })).toThrow(/weightDecay/);
      expect(() => adamStep(p, g, m, v, { ...a, step: 0 })).toThrow(/step must be an integer >= 1/);
      expect(() => adamStep(p, g, m, v, { ...a, step: 1.5 })).toThrow(/step must be an integer >= 1/);
      expect(() => adamStep(p, g, m, m, a)).toThrow(/v and m share one buffer/);
      expect(() => adamStep(p, p, m, v, a)).toThrow(/grad and param share one buffer/);
      expect(() => adamStep(p, g, m, v, { ...a, decoupled: 1 as never })).toThrow(/decoupled/);
      expect(() => adamStep(p, tensor(new Int32Array(6), s), m, v, a)).toThrow(/expected a f32 tensor/);
      const sg: SgdStepOptions = { lr: 0.1, momentum: 0.9, nesterov: false, weightDecay: 0 };
      expect(() => sgdStep(p, zeros([7] as const), m, sg)).toThrow(/grad has shape \[7\], expected the param's shape \[2, 3\]/);
      expect(() => sgdStep(p, g, zeros([2, 2] as const), sg)).toThrow(/buf has shape \[2, 2\]/);
      expect(() => sgdStep(p, g, m, { ...sg, lr: NaN })).toThrow(/lr must be a finite number/);
      expect(() => sgdStep(p, g, m, { ...sg, momentum: Infinity })).toThrow(/momentum/);
      expect(() => sgdStep(p, g, m, { ...sg, dampening: 0.5, nesterov: true })).toThrow(/Nesterov momentum needs momentum > 0 and dampening 0/);
      expect(() => sgdStep(p, g, null, { ...sg, momentum: 0, nesterov: true })).toThrow(/Nesterov/);
      expect(() => sgdStep(p, g, null, sg)).toThrow(/needs a momentum buffer/);
      expect(() => sgdStep(p, g, g, sg)).toThrow(/buf and grad share one buffer/);
      const d = zeros(s);
      d.dispose();
      expect(() => adamStep(p, d, m, v, a)).toThrow(/disposed/);
      expect(() => sgdStep(d, g, m, sg)).toThrow(/disposed/);
    });
  });
});

