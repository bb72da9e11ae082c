import { describe, it, expect } from 'vitest';
import { Rng, tensor, tidy, noGrad, randUniform, sum, mul, add, relu, type Tensor } from '@fer/tensor';
import {
  Module, Sequential, Conv2d, Linear, BatchNorm1d, BatchNorm2d, Dropout, ReLU, Flatten, MaxPool2d, Residual,
  seedCnn, fastCnn, createModel, MODEL_NAMES, getDropoutRngState, setDropoutRngState, setLayerFusion,
} from '@fer/nn';
import { useGpu } from '../setup-gpu.js';
import { digest } from './util.js';

useGpu();


describe('Module naming', () => {
  it('seed-cnn parameters and buffers have PyTorch-style dotted paths', () => {
    const m = seedCnn({ seed: 1 });
    const params = m.namedParameters().map(([n, t]) => `${n} [${t.shape.join(',')}]`);
    expect(params).toEqual([
      'features.0.weight [32,1,3,3]', 'features.0.bias [32]',
      'features.2.weight [64,32,3,3]', 'features.2.bias [64]', 'features.3.weight [64]', 'features.3.bias [64]',
      'features.7.weight [128,64,5,5]', 'features.7.bias [128]', 'features.8.weight [128]', 'features.8.bias [128]',
      'features.12.weight [512,128,3,3]', 'features.12.bias [512]', 'features.13.weight [512]', 'features.13.bias [512]',
      'features.17.weight [512,512,3,3]', 'features.17.bias [512]', 'features.18.weight [512]', 'features.18.bias [512]',
      'classifier.0.weight [256,4608]', 'classifier.0.bias [256]', 'classifier.1.weight [256]', 'classifier.1.bias [256]',
      'classifier.4.weight [512,256]', 'classifier.4.bias [512]', 'classifier.5.weight [512]', 'classifier.5.bias [512]',
      'classifier.8.weight [7,512]', 'classifier.8.bias [7]',
    ]);
    expect(m.namedBuffers().map(([n]) => n)).toEqual(
      ['features.3', 'features.8', 'features.13', 'features.18', 'classifier.1', 'classifier.5'].flatMap((p) => [`${p}.running_mean`, `${p}.running_var`]),
    );
    const count = (ts: Tensor[]) => ts.reduce((s, t) => s + t.size, 0);
    expect(count(m.parameters())).toBe(4_492_935);
    expect(count(m.buffers())).toBe(3_968);
    for (const p of m.parameters()) expect(p.requiresGrad).toBe(true);
    for (const b of m.buffers()) expect(b.requiresGrad).toBe(false);
    // State dict order as PyTorch: each module's params, then its buffers.
    expect(Object.keys(m.stateDict()).slice(4, 8)).toEqual(['features.3.weight', 'features.3.bias', 'features.3.running_mean', 'features.3.running_var']);
    expect(m.parameters()[0]!.name).toBe('features.0.weight');
    m.dispose();
  });

  it('Sequential names children 0, 1, ... and rejects bad names', () => {
    const s = new Sequential(new Linear(3, 4), new ReLU(), new Linear(4, 2, { bias: false }));
    expect(s.namedParameters().map(([n]) => n)).toEqual(['0.weight', '0.bias', '2.weight']);
    expect(s.namedModules().map(([n, m]) => `${n}:${m.typeName}`)).toEqual([':Sequential', '0:Linear', '1:ReLU', '2:Linear']);
    expect(() => new Sequential({ 'a.b': new ReLU() })).toThrow(/invalid name 'a.b'/);
    s.dispose();
  });

  it('seeded init is reproducible; Glorot uniform limits and zero biases by default; he-normal on request', async () => {
    const a = fastCnn({ seed: 5 });
    const b = fastCnn({ seed: 5 });
    const c = fastCnn({ seed: 6 });
    const w = (m: Module) => m.parameters()[0]!;
    expect(await digest(w(a))).toEqual(await digest(w(b)));
    expect(await digest(w(a))).not.toEqual(await digest(w(c)));
    const conv = a.namedModules().find(([n]) => n === 'features.4')![1] as Conv2d;
    const limit = Math.sqrt(6 / (32 * 9 + 64 * 9));
    const wv = await conv.weight.toArray();
    expect(Math.max(...wv.map(Math.abs))).toBeLessThanOrEqual(limit);
    expect(Math.max(...wv.map(Math.abs))).toBeGreaterThan(0.9 * limit);
    expect([...(await conv.bias!.toArray())].every((v) => v === 0)).toBe(true);
    const he = new Linear(400, 300, { init: 'he-normal', rng: 3 });
    const hv = (await he.weight.toArray()) as Float32Array;
    const std = Math.sqrt(hv.reduce((s, v) => s + v * v, 0) / hv.length);
    expect(std).toBeCloseTo(Math.sqrt(2 / 400), 3);
    for (const m of [a, b, c, he]) m.dispose();
  });

  it('createModel knows seed-cnn, fast, vgg, vgg-lite and resvgg and lists valid names for an unknown one', () => {
    expect(MODEL_NAMES).toEqual(['seed-cnn', 'fast', 'vgg', 'vgg-lite', 'resvgg']);
    const m = createModel('fast', { seed: 1 });
    expect(m.outputShape([2, 1, 48, 48])).toEqual([2, 7]);
    m.dispose();
    expect(() => createModel('resnet', { seed: 1 })).toThrow(/unknown model 'resnet'; valid names: seed-cnn, fast, vgg, vgg-lite, resvgg/);
  });
});

describe('train / eval', () => {
  it('train() and eval() set the flag recursively', () => {
    const m = fastCnn({ seed: 0 });
    expect(m.namedModules().every(([, x]) => x.training)).toBe(true);
    m.eval();
    expect(m.namedModules().every(([, x]) => !x.training)).toBe(true);
    m.train();
    expect(m.namedModules().every(([, x]) => x.training)).toBe(true);
    m.dispose();
  });

  it('Dropout drops about p of the elements in training and is the identity in eval', async () => {
    const d = new Dropout(0.25, { rng: 9 });
    const x = randUniform([4000] as const, 1, 2, { seed: 1 });
    const y = d.forward(x);
    const v = await y.toArray();
    const zeros = v.filter((e) => e === 0).length / v.length;
    expect(zeros).toBeGreaterThan(0.2);
    expect(zeros).toBeLessThan(0.3);
    const y2 = d.forward(x);
    expect(await digest(y2)).not.toEqual(await digest(y)); // a new mask each training step
    d.eval();
    const state = d.rng.getState();
    expect(await digest(d.forward(x))).toEqual(await digest(x));
    expect(d.rng.getState()).toEqual(state); // eval draws no seed
    for (const t of [x, y, y2]) t.dispose();
  });

  it('the dropout stream is reproducible and its state restores the same masks', async () => {
    const run = (m: Module, x: Tensor) => tidy(() => noGrad(() => m.forward(x)));
    const x = randUniform([3, 1, 48, 48] as const, -1, 1, { seed: 2 });
    const a = fastCnn({ seed: 4 });
    const b = fastCnn({ seed: 4 });
    const a1 = await run(a, x).toArray();
    expect(await run(b, x).toArray()).toEqual(a1);
    const saved = getDropoutRngState(a);
    expect(saved.length).toBe(1); // one stream shared by the model's Dropout layers
    const a2 = await run(a, x).toArray();
    expect(a2).not.toEqual(a1);
    setDropoutRngState(a, saved);
    expect(await run(a, x).toArray()).toEqual(a2);
    expect(() => setDropoutRngState(a, [])).toThrow(/has 1 dropout Rng/);
    a.dispose();
    b.dispose();
    x.dispose();
  });

  it('BatchNorm momentum null: the cumulative average of every batch since resetRunningStats()', async () => {
    const bn = new BatchNorm1d(2, { momentum: null });
    // Batch means (channel 0) 2, 5, 11; unbiased variances 2, 8, 18.
    const batches = [[1, 0, 3, 0], [3, 0, 7, 0], [8, 0, 14, 0]];
    for (const b of batches) bn.forward(tensor(b, [2, 2] as const)).dispose();
    expect(bn.batchesTracked).toBe(3);
    expect((await bn.runningMean.toArray())[0]).toBeCloseTo(6, 5);
    expect((await bn.runningVar.toArray())[0]).toBeCloseTo((2 + 8 + 18) / 3, 4);
    bn.resetRunningStats();
    expect(bn.batchesTracked).toBe(0);
    expect(Array.from(await bn.runningMean.toArray())).toEqual([0, 0]);
    expect(Array.from(await bn.runningVar.toArray())).toEqual([1, 1]);
    // Eval mode neither tracks batches nor updates; back to a fixed momentum, the usual update.
    bn.eval();
    bn.forward(tensor(batches[0]!, [2, 2] as const)).dispose();
    expect(bn.batchesTracked).toBe(0);
    bn.train();
    bn.momentum = 0.5;
    bn.forward(tensor(batches[0]!, [2, 2] as const)).dispose();
    expect((await bn.runningMean.toArray())[0]).toBeCloseTo(1, 6);
    expect(() => new BatchNorm1d(2, { momentum: 1.5 })).toThrow('BatchNorm1d: momentum must be in [0, 1] or null, got 1.5');
    bn.dispose();
  });

  it('BatchNorm updates running stats in training only, and eval uses them', async () => {
    const bn = new BatchNorm2d(2, { momentum: 0.5, eps: 1e-3 });
    // Channel 0 holds 1..4, channel 1 holds 10 everywhere.
    const x = tensor([1, 2, 3, 4, 10, 10, 10, 10], [1, 2, 2, 2] as const);
    const y = bn.forward(x);
    const mean = await bn.runningMean.toArray();
    expect(mean[0]).toBeCloseTo(1.25, 6); // 0.5 * 0 + 0.5 * 2.5
    expect(mean[1]).toBeCloseTo(5, 6);
    const varr = await bn.runningVar.toArray();
    expect(varr[0]).toBeCloseTo(0.5 + 0.5 * (5 / 3), 5); // unbiased batch variance 5/3
    const yv = await y.toArray();
    expect(yv[0]).toBeCloseTo(-1.5 / Math.sqrt(1.25 + 1e-3), 4);
    bn.eval();
    const before = await digest(bn.runningMean);
    const z = await bn.forward(x).toArray();
    expect(await digest(bn.runningMean)).toEqual(before);
    expect(z[0]).toBeCloseTo((1 - 1.25) / Math.sqrt(varr[0]! + 1e-3), 5);
    expect(() => bn.forward(tensor([1, 2], [1, 2] as const))).toThrow(/BatchNorm2d: expected an input of rank 4/);
    expect(() => new BatchNorm1d(3).forward(tensor([1, 2], [1, 2] as const))).toThrow(/expected 3 channels/);
    bn.dispose();
  });
});

describe('layers', () => {
  it('outputShape agrees with the forward pass for each layer', () => {
    const cases: Array<[Module, readonly number[]]> = [
      [new Conv2d(3, 5, 3, { padding: 'same', stride: 2 }), [2, 3, 9, 7]],
      [new Conv2d(3, 4, [3, 1], { padding: 1 }), [1, 3, 6, 6]],
      [new Conv2d(2, 4, 5), [1, 2, 8, 9]],
      [new MaxPool2d(2), [2, 3, 7, 5]],
      [new MaxPool2d(3, 1), [1, 1, 5, 6]],
      [new Linear(6, 4), [3, 6]],
      [new Flatten(), [2, 3, 2, 2]],
      [new Sequential(new Conv2d(1, 2, 3), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(8, 3)), [2, 1, 6, 6]],
    ];
    const rng = new Rng(3);
    for (const [m, shape] of cases) {
      const got = tidy(() => {
        const x = randUniform(shape, -1, 1, { seed: rng });
        return [...m.forward(x).shape];
      });
      expect(got, `${m.typeName} on [${shape.join(', ')}]`).toEqual([...m.outputShape(shape)]);
      m.dispose();
    }
  });

  it('layers reject inputs of the wrong rank or size with both shapes', () => {
    const lin = new Linear(4, 2);
    expect(() => lin.forward(tensor([1, 2, 3], [1, 3] as const))).toThrow(/Linear: expected 4 channels at axis 1 of \[N, features\], got shape \[1, 3\]/);
    expect(() => new Conv2d(3, 2, 3).outputShape([1, 1, 5, 5])).toThrow(/Conv2d: expected 3 channels/);
    expect(() => new MaxPool2d(4).outputShape([1, 1, 3, 3])).toThrow(/smaller than the 4x4 window/);
    expect(() => new Dropout(1)).toThrow(/p must be in \[0, 1\)/);
    expect(() => new Conv2d(0, 2, 3)).toThrow(/inChannels must be a positive integer/);
    lin.dispose();
  });
});

describe('vgg, vgg-lite and resvgg', () => {
  for (const name of ['vgg', 'vgg-lite', 'resvgg'])
  it(`${name} trains: forward and backward give a finite gradient for every parameter`, async () => {
    const model = createModel(name, { seed: 5 });
    model.train();
    const x = randUniform([2, 1, 48, 48] as const, 0, 1, { seed: 6 });
    const out = tidy(() => {
      const logits = model.forward(x);
      sum(logits).backward();
      return logits;
    });
    expect(out.shape).toEqual([2, 7]);
    for (const [name, p] of model.namedParameters()) {
      expect(p.grad, name).toBeTruthy();
      const g = (await p.grad!.toArray()) as Float32Array;
      expect(g.every(Number.isFinite), name).toBe(true);
    }
    out.dispose();
    x.dispose();
    model.dispose();
  });
});

describe('Residual', () => {
  const body = (c: number, seed: number) => {
    const rng = new Rng(seed);
    return new Sequential(new Conv2d(c, c, 3, { padding: 'same', rng }), new BatchNorm2d(c), new ReLU(), new Conv2d(c, c, 3, { padding: 'same', rng }));
  };
  const values = async (t: Tensor) => Array.from((await t.toArray()) as Float32Array);

  it('forward is relu(body(x) + shortcut(x)); x gets the sum of both paths\' gradients', async () => {
    const xd = Float32Array.from({ length: 2 * 3 * 5 * 6 }, (_, i) => Math.sin(i * 0.7));
    const gd = Float32Array.from({ length: 2 * 3 * 5 * 6 }, (_, i) => Math.cos(i * 0.3));
    const block = new Residual(body(3, 7));
    const x = tensor(xd, [2, 3, 5, 6] as const, { requiresGrad: true });
    const y = tidy(() => {
      const out = block.forward(x);
      sum(mul(out, tensor(gd, [2, 3, 5, 6] as const))).backward();
      return out;
    });
    // The same graph by hand, with x as two separate leaves: their gradients must add up to x's.
    const same = new Residual(body(3, 7));
    const x1 = tensor(xd, [2, 3, 5, 6] as const, { requiresGrad: true });
    const x2 = tensor(xd, [2, 3, 5, 6] as const, { requiresGrad: true });
    const ref = tidy(() => {
      const out = relu(add(same.body.forward(x1), x2));
      sum(mul(out, tensor(gd, [2, 3, 5, 6] as const))).backward();
      return out;
    });
    expect(await values(y)).toEqual(await values(ref));
    const [g, g1, g2] = await Promise.all([x.grad!, x1.grad!, x2.grad!].map(values));
    expect(g2.some((v) => v === 0) && g2.some((v) => v !== 0)).toBe(true); // the ReLU cut some
    g.forEach((v, i) => expect(v).toBeCloseTo(g1[i]! + g2[i]!, 6));
    for (const t of [x, x1, x2, y, ref, x.grad!, x1.grad!, x2.grad!]) t.dispose();
    block.dispose();
    same.dispose();
  });

  it('a shortcut module, relu off, parameter paths, shapes and errors', async () => {
    const rng = new Rng(3);
    const block = new Residual(new Sequential(new Conv2d(2, 4, 3, { padding: 'same', rng })), {
      shortcut: new Sequential(new Conv2d(2, 4, 1, { rng }), new BatchNorm2d(4)),
      relu: false,
    });
    expect(block.namedParameters().map(([n]) => n)).toEqual(['body.0.weight', 'body.0.bias', 'shortcut.0.weight', 'shortcut.0.bias', 'shortcut.1.weight', 'shortcut.1.bias']);
    expect(block.outputShape([1, 2, 5, 5])).toEqual([1, 4, 5, 5]);
    const x = randUniform([1, 2, 5, 5] as const, -1, 1, { seed: 4 });
    block.eval();
    const y = noGrad(() => block.forward(x));
    const ref = noGrad(() => add(block.body.forward(x), block.shortcut!.forward(x)));
    expect(await values(y)).toEqual(await values(ref));
    expect((await values(y)).some((v) => v < 0)).toBe(true); // no ReLU after the sum
    // A body that changes the channels needs a shortcut that does too.
    const bad = new Residual(new Sequential(new Conv2d(2, 4, 3, { padding: 'same', rng })));
    expect(() => bad.outputShape([1, 2, 5, 5])).toThrow('Residual: the body gives [1, 4, 5, 5] but the identity shortcut gives [1, 2, 5, 5]');
    expect(() => noGrad(() => bad.forward(x))).toThrow('Residual: the body gives [1, 4, 5, 5] but the identity shortcut gives [1, 2, 5, 5]');
    for (const t of [x, y, ref]) t.dispose();
    block.dispose();
    bad.dispose();
  });
});

describe('BatchNorm + ReLU fusion in Sequential', () => {
  for (const name of ['fast', 'seed-cnn', 'vgg-lite'])
  it(`${name} with fusion on and off: same logits, loss gradients and running statistics`, async () => {
    const x = randUniform([4, 1, 48, 48] as const, 0, 1, { seed: 9 });
    const run = async (fused: boolean) => {
      setLayerFusion(fused);
      try {
        const model = createModel(name, { seed: 3 });
        model.train();
        const out = tidy(() => {
          const logits = model.forward(x);
          sum(logits).backward();
          return logits;
        });
        const grads = await Promise.all(model.parameters().map((p) => p.grad!.toArray()));
        const stats = await Promise.all(model.buffers().map((b) => b.toArray()));
        const res = { logits: await out.toArray(), grads, stats };
        out.dispose();
        model.dispose();
        return res;
      } finally {
        setLayerFusion(true);
      }
    };
    const fused = await run(true);
    const plain = await run(false);
    expect(Array.from(fused.logits)).toEqual(Array.from(plain.logits));
    fused.grads.forEach((g, i) => expect(Array.from(g)).toEqual(Array.from(plain.grads[i]!)));
    fused.stats.forEach((s, i) => expect(Array.from(s)).toEqual(Array.from(plain.stats[i]!)));
    x.dispose();
  });
});

describe('stateDict / loadStateDict', () => {
  it('round trip gives the same outputs and keeps the tensors in place', async () => {
    const a = fastCnn({ seed: 1 }).eval();
    const b = fastCnn({ seed: 2 }).eval();
    const x = randUniform([2, 1, 48, 48] as const, -1, 1, { seed: 3 });
    const out = (m: Module) => tidy(() => noGrad(() => m.forward(x)));
    const ya = await digest(out(a));
    expect(await digest(out(b))).not.toEqual(ya);
    const before = b.parameters();
    const res = b.loadStateDict(a.stateDict());
    expect(res).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(b.parameters()).toEqual(before); // same tensor objects: optimizers keep working
    expect(await digest(out(b))).toEqual(ya);
    for (const [k, t] of Object.entries(a.stateDict())) expect(await digest(b.stateDict()[k]!), k).toEqual(await digest(t));
    // Host tensors load too.
    const host = { '0.weight': { dtype: 'F32' as const, shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }, '0.bias': { dtype: 'F32' as const, shape: [2], data: [7, 8] } };
    const lin = new Sequential(new Linear(3, 2));
    lin.loadStateDict(host);
    expect([...(await lin.parameters()[0]!.toArray())]).toEqual([1, 2, 3, 4, 5, 6]);
    for (const m of [a, b, lin]) m.dispose();
    x.dispose();
  });

  it('strict loading names missing and unexpected keys; shape mismatches print both shapes; nothing is written on error', async () => {
    const a = fastCnn({ seed: 1 });
    const b = fastCnn({ seed: 2, numClasses: 5 });
    const dict = { ...a.stateDict() };
    delete dict['features.0.bias'];
    dict['extra.weight'] = a.parameters()[0]!;
    const before = await digest(b.parameters()[0]!);
    let msg = '';
    try {
      b.loadStateDict(dict);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/missing keys \(in the model, not in the checkpoint\): features\.0\.bias/);
    expect(msg).toMatch(/unexpected keys \(in the checkpoint, not in the model\): extra\.weight/);
    expect(msg).toMatch(/size mismatch for 'classifier\.4\.weight': the checkpoint has shape \[7, 256\], the model has \[5, 256\]/);
    expect(msg).toMatch(/size mismatch for 'classifier\.4\.bias': the checkpoint has shape \[7\], the model has \[5\]/);
    expect(await digest(b.parameters()[0]!)).toEqual(before);
    // Non-strict: key differences are reported, shape mismatches still fail.
    const c = fastCnn({ seed: 3 });
    const res = c.loadStateDict(dict, { strict: false });
    expect(res).toEqual({ missingKeys: ['features.0.bias'], unexpectedKeys: ['extra.weight'] });
    expect(await digest(c.parameters()[0]!)).toEqual(await digest(a.parameters()[0]!));
    expect(() => seedCnn({ seed: 0 }).loadStateDict(a.stateDict())).toThrow(/missing keys.*\(\d+ more\)/s);
    const dt = { ...a.stateDict(), 'features.0.bias': { dtype: 'I32' as const, shape: [32], data: new Int32Array(32) } };
    expect(() => c.loadStateDict(dt)).toThrow(/dtype mismatch for 'features\.0\.bias': the checkpoint has I32, the model has F32/);
    for (const m of [a, b, c]) m.dispose();
  });

  it('zeroGrad drops gradients; dispose frees tensors', () => {
    const m = new Sequential(new Linear(3, 2));
    tidy(() => {
      const x = randUniform([4, 3] as const, -1, 1, { seed: 1 });
      sum(m.forward(x)).backward();
    });
    for (const p of m.parameters()) expect(p.grad?.shape).toEqual(p.shape);
    const p = m.parameters()[0]!;
    const g = p.grad!;
    m.zeroGrad();
    expect(p.grad).toBeNull();
    expect(g.isDisposed).toBe(true);
    m.dispose();
    expect(p.isDisposed).toBe(true);
  });
});
