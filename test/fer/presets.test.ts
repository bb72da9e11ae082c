import { describe, it, expect } from 'vitest';
import { MODEL_NAMES } from '@fer/nn';
import { DEFAULT_CONFIG, PRESETS, PRESET_NAMES, applyPreset, describeRecipe } from '@fer/fer';

describe('training presets', () => {
  it('seed, gpu, gpu-res, gpu-sgd, paper, best and cpu exist, each documented, naming a known model', () => {
    expect(PRESET_NAMES).toEqual(['seed', 'gpu', 'gpu-res', 'gpu-sgd', 'paper', 'best', 'cpu']);
    for (const name of PRESET_NAMES) {
      const p = PRESETS[name]!;
      expect(p.description.length).toBeGreaterThan(40);
      expect(MODEL_NAMES).toContain(p.config.model);
    }
  });

  it('seed is the reference report: seed-cnn, Adam 1e-4, 65 epochs, batch 64, no augmentation', () => {
    const c = applyPreset(DEFAULT_CONFIG, 'seed', new Set());
    expect([c.model, c.optimizer, c.lr, c.epochs, c.batch, c.augment, c.schedule]).toEqual(['seed-cnn', 'adam', 1e-4, 65, 64, 'none', 'none']);
  });

  it('paper: vgg with SGD Nesterov, plateau schedule, standard augmentation and label smoothing', () => {
    const c = applyPreset(DEFAULT_CONFIG, 'paper', new Set());
    expect(c.model).toBe('vgg');
    expect([c.optimizer, c.nesterov, c.momentum, c.lr, c.weightDecay]).toEqual(['sgd', true, 0.9, 0.01, 1e-4]);
    expect([c.schedule, c.gamma, c.patience]).toEqual(['plateau', 0.75, 5]);
    expect([c.augment, c.labelSmoothing]).toEqual(['standard', 0.1]);
  });

  it('gpu: vgg with Adam, warm-up then cosine over 80 epochs, standard augmentation, label smoothing', () => {
    const c = applyPreset(DEFAULT_CONFIG, 'gpu', new Set());
    expect([c.model, c.optimizer, c.lr, c.epochs, c.batch]).toEqual(['vgg', 'adam', 1e-3, 80, 64]);
    expect([c.schedule, c.warmup, c.augment, c.labelSmoothing, c.weightDecay]).toEqual(['cosine', 1, 'standard', 0.1, 0]);
  });

  it("best is gpu's recipe (the strongest single network measured, on PublicTest)", () => {
    expect(applyPreset(DEFAULT_CONFIG, 'best', new Set())).toEqual(applyPreset(DEFAULT_CONFIG, 'gpu', new Set()));
    expect(PRESETS['best']!.description).toMatch(/PublicTest 69\.91%/);
  });

  it("gpu-res: gpu's recipe on resvgg", () => {
    const c = applyPreset(DEFAULT_CONFIG, 'gpu-res', new Set());
    const g = applyPreset(DEFAULT_CONFIG, 'gpu', new Set());
    expect(c.model).toBe('resvgg');
    expect({ ...c, model: 'vgg' }).toEqual(g);
  });

  it('gpu-sgd: vgg with SGD Nesterov (as paper), warm-up then cosine over 70 epochs (as gpu)', () => {
    const c = applyPreset(DEFAULT_CONFIG, 'gpu-sgd', new Set());
    expect([c.model, c.optimizer, c.nesterov, c.momentum, c.lr, c.weightDecay, c.epochs, c.batch]).toEqual(['vgg', 'sgd', true, 0.9, 0.01, 1e-4, 70, 64]);
    expect([c.schedule, c.warmup, c.augment, c.labelSmoothing]).toEqual(['cosine', 1, 'standard', 0.1]);
  });

  it('cpu: vgg-lite with Adam, warm-up then cosine over 80 epochs, light augmentation, label smoothing', () => {
    const c = applyPreset(DEFAULT_CONFIG, 'cpu', new Set());
    expect([c.model, c.optimizer, c.lr, c.epochs, c.batch]).toEqual(['vgg-lite', 'adam', 1e-3, 80, 64]);
    expect([c.schedule, c.warmup, c.augment, c.labelSmoothing, c.weightDecay]).toEqual(['cosine', 1, 'light', 0.1, 0]);
  });

  it('flags given explicitly win over the preset', () => {
    const c = applyPreset({ ...DEFAULT_CONFIG, lr: 0.05, epochs: 3 }, 'paper', new Set(['lr', 'epochs']));
    expect(c.lr).toBe(0.05);
    expect(c.epochs).toBe(3);
    expect(c.model).toBe('vgg');
    const l = applyPreset({ ...DEFAULT_CONFIG, labelSmoothing: 0 }, 'paper', new Set(['label-smoothing']));
    expect(l.labelSmoothing).toBe(0);
  });

  it('describeRecipe says what a run trains with, changed knobs included', () => {
    expect(describeRecipe({ ...DEFAULT_CONFIG, ...PRESETS.cpu!.config })).toBe(
      'vgg-lite, 80 epochs, batch 64; Adam lr 0.001, cosine over 80 epochs after 1 warm-up; augmentation: flip 0.5, shift 4 px (light); label smoothing 0.1; seed 42',
    );
    expect(describeRecipe(DEFAULT_CONFIG)).toBe('seed-cnn, 65 epochs, batch 64; Adam lr 0.0001, constant; augmentation: none; seed 42');
    const paper = describeRecipe({ ...DEFAULT_CONFIG, ...PRESETS.paper!.config, augmentOptions: { shift: 8, scale: [0.8, 1.2] }, cutmix: 1, mixProb: 0.5 });
    expect(paper).toContain('SGD Nesterov momentum 0.9 lr 0.01 weight decay 0.0001, x0.75 after 5 epochs without a better PublicTest');
    expect(paper).toContain('augmentation: flip 0.5, shift 8 px, rotate 10 deg, scale 0.8-1.2, erase 0.25 (standard with changes); CutMix 1; mix probability 0.5');
  });

  it('an unknown preset lists the valid ones', () => {
    expect(() => applyPreset(DEFAULT_CONFIG, 'fastest', new Set())).toThrow(/unknown preset 'fastest'; valid presets: seed, gpu, gpu-res, gpu-sgd, paper, best, cpu/);
  });
});
