import { describe, it, expect } from 'vitest';
import { seedCnn, fastCnn, vggNet, vggLite, resVgg, summary, summarize, Sequential, Conv2d, ReLU } from '@fer/nn';
import { useGpu } from '../setup-gpu.js';

useGpu();

describe('summary', () => {
  it('seed-cnn: the reference Keras totals and per-layer shapes', () => {
    const m = seedCnn({ seed: 0 });
    const text = summary(m, [1, 48, 48], { name: 'seed-cnn' });
    console.log(text);
    expect(text).toMatch(/^Total params: 4,496,903 \(17\.15 MB\)$/m);
    expect(text).toMatch(/^Trainable params: 4,492,935 /m);
    expect(text).toMatch(/^Non-trainable params: 3,968 /m);
    expect(text).toMatch(/^Model: "seed-cnn"$/m);
    expect(text).toMatch(/ features\.0 \(Conv2d\)\s+\(None, 32, 48, 48\)\s+320$/m);
    expect(text).toMatch(/ features\.3 \(BatchNorm2d\)\s+\(None, 64, 48, 48\)\s+256$/m);
    expect(text).toMatch(/ features\.21 \(Dropout\)\s+\(None, 512, 3, 3\)\s+0$/m);
    expect(text).toMatch(/ flatten \(Flatten\)\s+\(None, 4608\)\s+0$/m);
    expect(text).toMatch(/ classifier\.8 \(Linear\)\s+\(None, 7\)\s+3,591$/m);
    const info = summarize(m, [1, 48, 48]);
    expect(info.rows.length).toBe(2 + 4 * 5 + 1 + 2 * 4 + 1);
    expect(info.rows.reduce((s, r) => s + r.params, 0)).toBe(4_496_903);
    expect(info.outputShape).toEqual([1, 7]);
    // Convolutions dominate: 2 * Cin*KH*KW + 1 (bias) FLOPs per output element.
    const conv = (cin: number, k: number, cout: number, hw: number) => cout * hw * hw * (2 * cin * k * k + 1);
    const convs = conv(1, 3, 32, 48) + conv(32, 3, 64, 48) + conv(64, 5, 128, 24) + conv(128, 3, 512, 12) + conv(512, 3, 512, 6);
    expect(info.flops).toBeGreaterThan(convs);
    expect(info.flops).toBeLessThan(convs * 1.02);
    expect(text).toMatch(/^Forward FLOPs per image: 666\.20 MFLOPs/m);
    m.dispose();
  });

  /**
   * Hand count of a VGG-style net: each [cin, cout, spatial size] conv (3x3, bias, BN with 4 values
   * per channel), then Linear(flat, head) + BN + Linear(head, 7). FLOPs: 2 per multiply-add.
   */
  const vggCount = (convs: [number, number, number][], flat: number, head: number) => {
    let total = 0;
    let convFlops = 0;
    for (const [cin, cout, hw] of convs) {
      total += cout * cin * 9 + cout + 4 * cout;
      convFlops += 2 * cin * 9 * cout * hw * hw;
    }
    total += flat * head + head + 4 * head + head * 7 + 7;
    return { total, convFlops, headFlops: 2 * (flat * head + head * 7) };
  };

  /** [cin, cout, size] of `perStage` 3x3 convs in each of the stages 64 | 128 | 256 | 512 (48, 24, 12, 6). */
  const stageConvs = (perStage: number): [number, number, number][] =>
    [64, 128, 256, 512].flatMap((w, i) => Array.from({ length: perStage }, (_, k): [number, number, number] => [k ? w : i ? w / 2 : 1, w, 48 >> i]));

  it('vgg: hand-counted totals and FLOPs (4 stages of two 3x3 convs, 512-wide head)', () => {
    const v = vggNet({ seed: 0 });
    const { total, convFlops: flops } = vggCount(stageConvs(2), 512 * 9, 512);
    const info = summarize(v, [1, 48, 48]);
    expect(info.total).toBe(total);
    expect(total).toBe(7_057_351);
    expect(info.nonTrainable).toBe(2 * (2 * (64 + 128 + 256 + 512) + 512));
    // Convolutions dominate: within 2% of the hand count of their multiply-adds.
    expect(info.flops / flops).toBeGreaterThan(1);
    expect(info.flops / flops).toBeLessThan(1.02);
    expect(v.outputShape([3, 1, 48, 48])).toEqual([3, 7]);
    v.dispose();
  });

  it('resvgg: hand-counted totals and FLOPs (per stage a 3x3 conv to 64 | 128 | 256 | 512, then a two-conv residual block)', () => {
    const v = resVgg({ seed: 0 });
    const { total, convFlops } = vggCount(stageConvs(3), 512 * 9, 512);
    const info = summarize(v, [1, 48, 48]);
    expect(info.total).toBe(total);
    expect(total).toBe(10_195_591);
    expect(info.nonTrainable).toBe(2 * (3 * (64 + 128 + 256 + 512) + 512));
    // One row per residual block (its params and FLOPs summed: the two convs, the sum and the ReLU).
    const blocks = info.rows.filter((r) => r.type === 'Residual');
    expect(blocks.map((r) => r.name)).toEqual(['features.3', 'features.9', 'features.15', 'features.21']);
    expect(blocks.map((r) => r.params)).toEqual([64, 128, 256, 512].map((w) => 2 * (w * w * 9 + w + 4 * w)));
    expect(info.flops / convFlops).toBeGreaterThan(1);
    expect(info.flops / convFlops).toBeLessThan(1.02);
    expect(v.outputShape([3, 1, 48, 48])).toEqual([3, 7]);
    v.dispose();
  });

  it('vgg-lite: hand-counted totals and FLOPs (convs 32 | 64 | 128, 128 | 256, 256-wide head)', () => {
    const v = vggLite({ seed: 0 });
    const count = vggCount([[1, 32, 48], [32, 64, 24], [64, 128, 12], [128, 128, 12], [128, 256, 6]], 256 * 9, 256);
    const flops = count.convFlops + count.headFlops;
    const info = summarize(v, [1, 48, 48]);
    expect(info.total).toBe(count.total);
    expect(count.total).toBe(1_130_759);
    expect(info.nonTrainable).toBe(2 * (32 + 64 + 128 + 128 + 256 + 256));
    expect(info.flops / flops).toBeGreaterThan(1);
    expect(info.flops / flops).toBeLessThan(1.03);
    expect(v.outputShape([3, 1, 48, 48])).toEqual([3, 7]);
    v.dispose();
  });

  it('fast: hand-counted totals, and 10-20x fewer FLOPs than seed-cnn', () => {
    const f = fastCnn({ seed: 0 });
    const s = seedCnn({ seed: 0 });
    const text = summary(f, [1, 48, 48], { name: 'fast' });
    console.log(text);
    const conv = (cin: number, cout: number) => cout * cin * 9 + cout;
    const bn = (c: number) => 4 * c;
    const total = conv(1, 32) + bn(32) + conv(32, 64) + bn(64) + conv(64, 128) + bn(128) + (128 * 36 * 256 + 256) + bn(256) + (256 * 7 + 7);
    const info = summarize(f, [1, 48, 48]);
    expect(info.total).toBe(total);
    expect(info.nonTrainable).toBe(2 * (32 + 64 + 128 + 256));
    expect(info.trainable).toBe(total - info.nonTrainable);
    expect(text).toContain(`Total params: ${total.toLocaleString('en-US')}`);
    const ratio = summarize(s, [1, 48, 48]).flops / info.flops;
    expect(ratio).toBeGreaterThan(10);
    expect(ratio).toBeLessThan(20);
    f.dispose();
    s.dispose();
  });

  it('a plain module is one row; a bad input shape is a clear error', () => {
    const m = new Sequential(new Conv2d(3, 8, 3, { padding: 1 }), new ReLU());
    const info = summarize(m, [3, 10, 10]);
    expect(info.rows.map((r) => `${r.name} ${r.type} ${r.outputShape.join('x')} ${r.params}`)).toEqual(['0 Conv2d 1x8x10x10 224', '1 ReLU 1x8x10x10 0']);
    expect(() => summarize(m, [1, 10, 10])).toThrow(/Conv2d: expected 3 channels/);
    expect(() => summarize(m, [0, 3])).toThrow(/inputShape must list positive sizes/);
    m.dispose();
  });
});
