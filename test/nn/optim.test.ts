import { describe, it, expect } from 'vitest';
import { Rng, tensor, tidy, randUniform, softmaxCrossEntropy, memory, dispatchStats, type Tensor } from '@fer/tensor';
import {
  Sequential, Conv2d, BatchNorm2d, ReLU, MaxPool2d, Dropout, Flatten, Linear, Adam, AdamW, SGD, Optimizer,
  toHost, getDropoutRngState, setDropoutRngState, type Module, type OptimizerState,
} from '@fer/nn';
import { useGpu } from '../setup-gpu.js';
import { digest } from './util.js';

useGpu();

/** conv -> relu -> pool -> flatten -> linear on 1x12x12 images, 3 classes. */
function smallNet(seed: number, withBnDropout = false): Sequential {
  const rng = new Rng(seed);
  const layers: Module[] = [new Conv2d(1, 4, 3, { rng })];
  if (withBnDropout) layers.push(new BatchNorm2d(4));
  layers.push(new ReLU(), new MaxPool2d(2));
  if (withBnDropout) layers.push(new Dropout(0.25, { rng: seed + 100 }));
  layers.push(new Flatten(), new Linear(4 * 5 * 5, 3, { rng }));
  return new Sequential(...layers);
}

function batch(): { x: Tensor; labels: Tensor } {
  const x = randUniform([8, 1, 12, 12] as const, -1, 1, { seed: 42 });
  const labels = tensor(new Int32Array([0, 1, 2, 0, 1, 2, 0, 1]), [8] as const);
  return { x, labels };
}

/** One training step; returns the loss before the update. */
async function trainStep(net: Module, opt: Optimizer, x: Tensor, labels: Tensor): Promise<number> {
  const loss = tidy(() => {
    const l = softmaxCrossEntropy(net.forward(x) as Tensor<readonly [number, number]>, labels);
    l.backward();
    return l;
  });
  opt.step();
  opt.zeroGrad();
  const v = await loss.item();
  loss.dispose();
  return v;
}

describe('end to end', () => {
  it('50 Adam steps on a fixed batch halve the loss (conv -> relu -> pool -> flatten -> linear)', async () => {
    const net = smallNet(1);
    const { x, labels } = batch();
    const opt = new Adam(net.parameters(), { lr: 0.01 });
    const losses: number[] = [];
    for (let i = 0; i < 50; i++) losses.push(await trainStep(net, opt, x, labels));
    console.log(`loss ${losses[0]!.toFixed(4)} -> ${losses[49]!.toFixed(4)}`);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[49]!).toBeLessThan(0.5 * losses[0]!);
    expect(opt.stepCount()).toBe(50);
    net.dispose();
    opt.dispose();
  });

  it('GPU memory and bind groups stay flat over 200 training steps of a conv net with BN and dropout', async () => {
    const net = smallNet(3, true);
    const { x, labels } = batch();
    const opt = new Adam(net.parameters(), { lr: 0.01 });
    const live: number[] = [];
    const bytes: number[] = [];
    const bindGroups: number[] = [];
    for (let i = 0; i < 200; i++) {
      await trainStep(net, opt, x, labels);
      if (i >= 10 && i % 10 === 0) {
        live.push(memory().liveBuffers);
        bytes.push(memory().liveBytes + memory().pooledBytes);
        bindGroups.push(dispatchStats().bindGroups);
      }
    }
    expect(new Set(live).size, `live buffers ${live.join(',')}`).toBe(1);
    expect(new Set(bytes).size, `bytes held ${bytes.join(',')}`).toBe(1);
    // Every step gets the same pooled buffers (pool.ts settleFreeLists), so it creates no bind groups.
    expect(new Set(bindGroups).size, `bind groups created ${bindGroups.join(',')}`).toBe(1);
    net.dispose();
    opt.dispose();
    x.dispose();
    labels.dispose();
  });

  it('SGD with Nesterov momentum and AdamW also reduce the loss', async () => {
    const { x, labels } = batch();
    for (const make of [(p: Tensor[]) => new SGD(p, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 }), (p: Tensor[]) => new AdamW(p, { lr: 0.01 })]) {
      const net = smallNet(2, true);
      const opt = make(net.parameters());
      const first = await trainStep(net, opt, x, labels);
      let last = first;
      for (let i = 0; i < 30; i++) last = await trainStep(net, opt, x, labels);
      expect(last, opt.constructor.name).toBeLessThan(0.7 * first);
      net.dispose();
      opt.dispose();
    }
  });
});

// ---- float64 references of torch.optim semantics ----
type Ref = { p: Float64Array; m: Float64Array; v: Float64Array; t: number };
function adamRef(s: Ref, g: Float64Array, o: { lr: number; b1: number; b2: number; eps: number; wd: number; decoupled: boolean }): void {
  s.t++;
  for (let i = 0; i < s.p.length; i++) {
    let gi = g[i]!;
    if (o.decoupled) s.p[i]! *= 1 - o.lr * o.wd;
    else gi += o.wd * s.p[i]!;
    s.m[i] = o.b1 * s.m[i]! + (1 - o.b1) * gi;
    s.v[i] = o.b2 * s.v[i]! + (1 - o.b2) * gi * gi;
    const mh = s.m[i]! / (1 - o.b1 ** s.t);
    const vh = s.v[i]! / (1 - o.b2 ** s.t);
    s.p[i]! -= (o.lr * mh) / (Math.sqrt(vh) + o.eps);
  }
}
function sgdRef(s: Ref, g: Float64Array, o: { lr: number; mom: number; damp: number; nesterov: boolean; wd: number }): void {
  s.t++;
  for (let i = 0; i < s.p.length; i++) {
    const d = g[i]! + o.wd * s.p[i]!;
    let u = d;
    if (o.mom > 0) {
      s.m[i] = s.t === 1 ? d : o.mom * s.m[i]! + (1 - o.damp) * d;
      u = o.nesterov ? d + o.mom * s.m[i]! : s.m[i]!;
    }
    s.p[i]! -= o.lr * u;
  }
}

describe('optimizers against a float64 reference (torch.optim semantics)', () => {
  // f32 arithmetic over 6 steps: relative error ~1e-6; Adam divides by sqrt(v) + eps, still well conditioned for |g| ~ 0.1..1.
  const TOL = 2e-5;
  const n = 37;
  const cases: Array<[string, (p: Tensor) => Optimizer, (s: Ref, g: Float64Array) => void]> = [
    ['Adam + L2', (p) => new Adam([p], { lr: 0.01, weightDecay: 0.1 }), (s, g) => adamRef(s, g, { lr: 0.01, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.1, decoupled: false })],
    ['AdamW', (p) => new AdamW([p], { lr: 0.02, beta1: 0.8, beta2: 0.99 }), (s, g) => adamRef(s, g, { lr: 0.02, b1: 0.8, b2: 0.99, eps: 1e-8, wd: 0.01, decoupled: true })],
    ['SGD', (p) => new SGD([p], { lr: 0.1 }), (s, g) => sgdRef(s, g, { lr: 0.1, mom: 0, damp: 0, nesterov: false, wd: 0 })],
    ['SGD momentum dampening L2', (p) => new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.3, weightDecay: 0.05 }), (s, g) => sgdRef(s, g, { lr: 0.1, mom: 0.9, damp: 0.3, nesterov: false, wd: 0.05 })],
    ['SGD Nesterov', (p) => new SGD([p], { lr: 0.05, momentum: 0.8, nesterov: true }), (s, g) => sgdRef(s, g, { lr: 0.05, mom: 0.8, damp: 0, nesterov: true, wd: 0 })],
  ];
  for (const [name, make, ref] of cases) {
    it(name, async () => {
      const rng = new Rng(7);
      const p0 = Float64Array.from({ length: n }, () => rng.uniform(-1, 1));
      const p = tensor(Float32Array.from(p0), [n] as const, { requiresGrad: true });
      const s: Ref = { p: Float64Array.from(Float32Array.from(p0)), m: new Float64Array(n), v: new Float64Array(n), t: 0 };
      const opt = make(p);
      for (let step = 0; step < 6; step++) {
        const g = Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
        p.grad = tensor(g, [n] as const);
        opt.step();
        opt.zeroGrad();
        ref(s, Float64Array.from(g));
      }
      const got = await p.toArray();
      for (let i = 0; i < n; i++) expect(Math.abs(got[i]! - s.p[i]!), `${name} element ${i}: ${got[i]} vs ${s.p[i]}`).toBeLessThanOrEqual(TOL * (1 + Math.abs(s.p[i]!)));
      opt.dispose();
      p.dispose();
    });
  }

  it('parameters without a gradient are left alone; lr is settable', async () => {
    const a = tensor([1, 2, 3], [3] as const, { requiresGrad: true });
    const b = tensor([4, 5], [2] as const, { requiresGrad: true });
    const opt = new Adam([a, b], { lr: 0.1 });
    a.grad = tensor([1, 1, 1], [3] as const);
    opt.step();
    expect([...(await b.toArray())]).toEqual([4, 5]);
    expect(opt.stepCount(0)).toBe(1);
    expect(opt.stepCount(1)).toBe(0);
    expect(Object.keys(opt.stateDict().tensors)).toEqual(['m.0', 'v.0']);
    const before = await digest(a);
    opt.lr = 0;
    opt.step();
    expect(await digest(a)).toBe(before);
    expect(opt.stateDict().hyper.lr).toBe(0);
    opt.zeroGrad();
    opt.dispose();
  });

  it('rejects bad hyper-parameters and parameter lists', () => {
    const a = tensor([1], [1] as const, { requiresGrad: true });
    expect(() => new Adam([])).toThrow(/empty parameter list/);
    expect(() => new Adam([a, a])).toThrow(/listed twice/);
    expect(() => new Adam([a], { beta1: 1 })).toThrow(/beta1 must be in \[0, 1\)/);
    expect(() => new SGD([a], { nesterov: true })).toThrow(/Nesterov momentum needs momentum > 0/);
    expect(() => new SGD([a], { lr: -1 })).toThrow(/lr must be a finite number >= 0/);
    a.dispose();
  });
});

describe('optimizer state round trip', () => {
  /** Model weights, dropout stream and optimizer state read back to the host, as a checkpoint would. */
  async function snapshot(net: Module, opt: Optimizer) {
    const s = opt.stateDict();
    return {
      weights: await toHost(net.stateDict()),
      dropout: getDropoutRngState(net),
      opt: { ...JSON.parse(JSON.stringify({ ...s, tensors: {} })), tensors: await toHost(s.tensors as Record<string, Tensor>) } as OptimizerState,
    };
  }

  const makers: Array<[string, (p: Tensor[]) => Optimizer]> = [
    ['Adam', (p) => new Adam(p, { lr: 0.01, weightDecay: 1e-3 })],
    ['AdamW', (p) => new AdamW(p, { lr: 0.01 })],
    ['SGD', (p) => new SGD(p, { lr: 0.05, momentum: 0.9, dampening: 0.1 })],
  ];
  for (const [name, make] of makers) {
    it(`${name}: resuming from a checkpoint gives bit-identical next steps`, async () => {
      const { x, labels } = batch();
      const net = smallNet(3, true);
      const opt = make(net.parameters());
      for (let i = 0; i < 3; i++) await trainStep(net, opt, x, labels);
      const snap = await snapshot(net, opt);
      for (let i = 0; i < 2; i++) await trainStep(net, opt, x, labels);
      const expected = await Promise.all(Object.values(net.stateDict()).map(digest));

      const net2 = smallNet(99, true);
      const opt2 = make(net2.parameters());
      opt2.lr = 123; // overwritten by the state
      net2.loadStateDict(snap.weights);
      setDropoutRngState(net2, snap.dropout);
      opt2.loadStateDict(snap.opt);
      expect(opt2.lr).toBe(opt.lr);
      for (let i = 0; i < 2; i++) await trainStep(net2, opt2, x, labels);
      expect(await Promise.all(Object.values(net2.stateDict()).map(digest))).toEqual(expected);
      expect(opt2.stateDict().steps).toEqual(opt.stateDict().steps);
      for (const m of [net, net2]) m.dispose();
      opt.dispose();
      opt2.dispose();
    });
  }

  it('loading a state of another optimizer or model is an error naming the problem', async () => {
    const net = smallNet(1);
    const opt = new Adam(net.parameters());
    const { x, labels } = batch();
    await trainStep(net, opt, x, labels);
    const s = opt.stateDict();
    expect(() => new SGD(net.parameters()).loadStateDict(s)).toThrow(/the state is of a Adam optimizer/);
    expect(() => new Adam(net.parameters().slice(1)).loadStateDict(s)).toThrow(/the state is for 4 parameters, this optimizer has 3/);
    const other = new Sequential(new Conv2d(1, 4, 3), new Flatten(), new Linear(4 * 5 * 5, 2));
    expect(() => new Adam(other.parameters()).loadStateDict(s)).toThrow(/size mismatch for 'm\.2': the state has shape \[3, 100\], parameter 2 has \[2, 100\]/);
    const broken = { ...s, tensors: { ...s.tensors } };
    delete broken.tensors['v.1'];
    expect(() => new Adam(net.parameters()).loadStateDict(broken)).toThrow(/missing 'v\.1'/);
    // Its own state loads onto itself (copies are recorded before the old tensors go).
    const before = await digest(s.tensors['m.0'] as Tensor);
    opt.loadStateDict(opt.stateDict());
    expect(await digest(opt.stateDict().tensors['m.0'] as Tensor)).toBe(before);
    net.dispose();
    other.dispose();
    opt.dispose();
  });
});
