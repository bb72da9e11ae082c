// The CLIs as a user runs them (the built dist/, as `pnpm fer:*` does): bad input gives one clear
// error line and exit code 1; --help lists every flag.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, makeFixture, addFile, grayPng } from './fixtures.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const cli = (name: string) => join(ROOT, 'packages/fer/dist/cli', `${name}.js`);

function run(name: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [cli(name), ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr.split('\n').filter((l) => !/^Warning: maxDynamic/.test(l)).join('\n') };
}

describe('CLIs', () => {
  it('are built (pnpm test builds them first)', () => {
    for (const c of ['train', 'eval', 'predict', 'weights']) expect(existsSync(cli(c)), cli(c)).toBe(true);
  });

  it('train --help lists every hyper-parameter flag', () => {
    const r = run('train', ['--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--model', '--epochs', '--batch', '--lr', '--optimizer', '--schedule', '--augment', '--seed', '--data', '--out', '--limit', '--resume', '--time-limit', '--swa-from', '--mixup', '--cutmix', '--mix-prob', '--init', '--flip', '--shift', '--rotate', '--scale', '--erase', '--distill', '--distill-weight', '--distill-temp'])
      expect(r.out).toContain(flag);
    // Each flag line is the flag (and its argument), then its help after a gap or on the next line.
    for (const line of r.out.split('\n').filter((l) => l.startsWith('  --'))) expect(line).toMatch(/^ {2}--[\w-]+( <[^>]+>)?( {2,}\S.*)?$/);
  });

  it('an unknown model is refused with the valid names', () => {
    const r = run('train', ['--model', 'resnet']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/--model must be one of seed-cnn, fast, vgg, vgg-lite, resvgg; got 'resnet'/);
  });

  it('a non-numeric flag is refused', () => {
    const r = run('train', ['--lr', 'fast']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/--lr expects a number, got 'fast'/);
    expect(run('train', ['--epochs', '2.5']).err).toMatch(/--epochs expects an integer, got '2.5'/);
    expect(run('train', ['--batch', '0']).err).toMatch(/--batch must be >= 1, got 0/);
    expect(run('train', ['--time-limit', '-5']).err).toMatch(/--time-limit must be >= 0, got -5/);
    expect(run('train', ['--mixup', '-0.2']).err).toMatch(/--mixup must be >= 0, got -0.2/);
    expect(run('train', ['--mix-prob', '1.5']).err).toMatch(/--mix-prob must be <= 1, got 1.5/);
    expect(run('train', ['--scale', '1.2,0.8']).err).toMatch(/--scale must be MIN,MAX with 0 < MIN <= MAX <= 10 \(e.g. 0.8,1.2\), got '1.2,0.8'/);
    expect(run('train', ['--shift', '4.5']).err).toMatch(/--shift expects an integer, got '4.5'/);
    const swa = run('train', ['--epochs', '10', '--swa-from', '11']);
    expect(swa.code).toBe(1);
    expect(swa.err).toMatch(/--swa-from \(11\) must be at most --epochs \(10\)/);    const teacher = run('train', ['--distill', '/nonexistent/probs.json']);
    expect(teacher.code).toBe(1);
    expect(teacher.err).toMatch(/--distill: no file at \/nonexistent\/probs\.json \(write one with pnpm fer:eval --split train --save-probs FILE\)/);
    expect(run('train', ['--distill', cli('train'), '--cutmix', '1']).err).toMatch(/--distill cannot be combined with --mixup or --cutmix/);
    expect(run('train', ['--distill-weight', '1.5']).err).toMatch(/--distill-weight must be <= 1, got 1.5/);
  });

  it('an unknown flag is refused', () => {
    const r = run('train', ['--learning-rate', '1']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/unknown flag --learning-rate/);
  });

  it('a missing or empty data folder says where to put FER2013', () => {
    const missing = run('train', ['--data', '/nonexistent/fer']);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/--data \/nonexistent\/fer: .* does not exist/);
    expect(missing.err).toMatch(/train\/<class>/);
    const empty = tempDir('empty-data');
    mkdirSync(join(empty, 'train'));
    mkdirSync(join(empty, 'test'));
    const r = run('train', ['--data', empty, '--out', join(empty, 'run')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error: .*(empty|no images|holds no)/i);
  });

  it('FER_DATA pointing nowhere is named in the error', () => {
    const r = run('train', [], { FER_DATA: '/nonexistent/env-data' });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/FER_DATA \/nonexistent\/env-data/);
  });

  it('eval of a truncated checkpoint names the file', () => {
    const dir = tempDir('bad-ckpt');
    const file = join(dir, 'broken.safetensors');
    writeFileSync(file, Buffer.from([1, 2, 3]));
    const r = run('eval', ['--checkpoint', file, '--split', 'public']);
    expect(r.code).toBe(1);
    expect(r.err).toContain(file);
  });

  it('eval of an ensemble with an empty file name says so', () => {
    const r = run('eval', ['--checkpoint', 'a.safetensors,,b.safetensors', '--split', 'public']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/--checkpoint: an empty file name in 'a\.safetensors,,b\.safetensors'/);
  });

  it('predict refuses an empty ensemble member and an unknown test-time augmentation', () => {
    const face = join(tempDir('cli-predict'), 'face.png');
    writeFileSync(face, grayPng(48, 48, (x, y) => (x * y) % 256));
    const r = run('predict', ['--checkpoint', 'a.safetensors,', face]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/--checkpoint: an empty file name in 'a\.safetensors,'/);
    const r2 = run('predict', ['--tta', 'twice', face]);
    expect(r2.code).toBe(1);
    expect(r2.err).toMatch(/--tta must be one of none, flip, tencrop, ninecrop; got 'twice'/);
  });

  it('eval weighs an ensemble (--weights), saves its members\' probabilities, and fer:weights searches weightings over them', () => {
    const data = makeFixture();
    const dir = tempDir('cli-weights');
    const base = ['--data', data, '--cache', 'none', '--model', 'fast', '--epochs', '1', '--batch', '4'];
    expect(run('train', [...base, '--out', join(dir, 'a')]).code).toBe(0);
    expect(run('train', [...base, '--out', join(dir, 'b'), '--seed', '5']).code).toBe(0);
    const ckpts = `${join(dir, 'a', 'best.safetensors')},${join(dir, 'b', 'best.safetensors')}`;
    const probsFile = join(dir, 'probs.json');
    const ev = run('eval', ['--checkpoint', ckpts, '--split', 'public', '--data', data, '--cache', 'none', '--out', dir, '--faces', '0', '--weights', '3,1', '--save-probs', probsFile]);
    expect(ev.code, ev.err).toBe(0);
    expect(ev.out).toMatch(/alone \d+\.\d\d%, weight 0\.750/);
    expect(ev.out).toMatch(/alone \d+\.\d\d%, weight 0\.250/);
    expect(ev.out).toMatch(/softmax averaged with the weights above: \d+\.\d\d%/);
    // The progress bar (stderr, a line per 10% in a log): both members' faces, the full bar once.
    const bars = ev.err.split('\n').filter((l) => l.startsWith('public: 2 model(s) x 1 view(s) '));
    expect(bars.length).toBeGreaterThan(1);
    const faces = Number(/\/(\d+) /.exec(bars[0]!)![1]);
    expect(bars.filter((l) => l.includes(` ${faces}/${faces} `))).toHaveLength(1);
    expect(bars.at(-1)).toContain(` ${faces}/${faces} `);
    const saved = JSON.parse(readFileSync(probsFile, 'utf8')) as { split: string; tta: string; checkpoints: string[]; weights: number[]; labels: number[]; probs: number[][] };
    expect(saved.split).toBe('public');
    expect(saved.weights).toEqual([0.75, 0.25]);
    expect(saved.checkpoints).toEqual(ckpts.split(','));
    expect(saved.probs).toHaveLength(2);
    for (const p of saved.probs) {
      expect(p).toHaveLength(saved.labels.length * 7);
      for (let i = 0; i < saved.labels.length; i++) expect(p.slice(i * 7, i * 7 + 7).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    }
    const report = JSON.parse(readFileSync(join(dir, 'best-ensemble2-public-report.json'), 'utf8')) as { weights: number[]; memberAccuracy: number[] };
    expect(report.weights).toEqual([0.75, 0.25]);
    expect(report.memberAccuracy).toHaveLength(2);
    const w = run('weights', [probsFile, '--step', '0.25', '--top', '3']);
    expect(w.code, w.err).toBe(0);
    expect(w.out).toMatch(/member 2: .*b\/best\.safetensors: alone \d+\.\d\d%/);
    expect(w.out).toMatch(/best 3 of 5 weightings \(step 0\.25/);
    expect(w.out.match(/--weights \d\.\d\d,\d\.\d\d {2}\d+\.\d\d%/g)).toHaveLength(3);
    expect(w.out).toMatch(/split-half check \(50 random halvings; .*\): [+-]\d+\.\d\d points over equal weights held out \(sd \d+\.\d\d\), [+-]\d+\.\d\d where chosen/);
    expect(w.out).toMatch(/the search (gains|does not gain) out of sample/);
    expect(run('weights', [probsFile, '--step', '0.25', '--check', '0']).out).not.toMatch(/split-half/);
    // Members from two files are weighed together.
    expect(run('weights', [probsFile, probsFile, '--step', '0.5']).out).toMatch(/best \d+ of 10 weightings/);
    // Errors name the flag or file.
    const wrongCount = run('eval', ['--checkpoint', ckpts, '--split', 'public', '--data', data, '--weights', '1']);
    expect(wrongCount.code).toBe(1);
    expect(wrongCount.err).toMatch(/--weights: 1 weight\(s\) for 2 model\(s\); give one per model/);
    expect(run('eval', ['--checkpoint', ckpts, '--weights', '1,x']).err).toMatch(/--weights: expected comma-separated numbers, one per checkpoint, got '1,x'/);
    expect(run('eval', ['--checkpoint', ckpts, '--weights', '0,0']).err).toMatch(/--weights: the weights sum to 0/);
    const face = join(dir, 'face.png');
    writeFileSync(face, grayPng(48, 48, (x, y) => (x + y) % 256));
    expect(run('predict', ['--checkpoint', ckpts, '--weights', '-1,2', face]).err).toMatch(/--weights: weights must be finite numbers >= 0/);
    const notProbs = join(dir, 'not-probs.json');
    writeFileSync(notProbs, JSON.stringify({ labels: [1, 2], probs: [[0.5]] }));
    const bad = run('weights', [notProbs]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/not-probs\.json: expected "split", "labels" \(N\), "checkpoints" and "probs"/);
    expect(run('weights', [probsFile, '--step', '0.3']).err).toMatch(/--step: searchWeights: step must divide 1, got 0\.3/);
    expect(run('weights', []).err).toMatch(/give one or more PROBS\.json files/);
  }, 300_000);

  it('predict without images explains itself', () => {
    const r = run('predict', []);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/give one or more PNG files or folders/);
    const r2 = run('predict', ['/nonexistent.png']);
    expect(r2.code).toBe(1);
    expect(r2.err).toMatch(/\/nonexistent\.png: no such file or folder/);
  });

  it('a corrupt image stops training naming the file; --skip-bad skips and counts it; --resize resizes', () => {
    const data = makeFixture();
    addFile(data, 'train/happy/Training_9.png', Buffer.from('definitely not a png'));
    const out = join(tempDir('cli-run'), 'run');
    const args = ['--data', data, '--out', out, '--model', 'fast', '--epochs', '1', '--batch', '4', '--cache', 'none'];
    const bad = run('train', args);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/train\/happy\/Training_9\.png/);
    expect(existsSync(join(out, 'last.safetensors'))).toBe(false);
    const skipped = run('train', [...args, '--skip-bad']);
    expect(skipped.code, skipped.err).toBe(0);
    expect(skipped.out).toMatch(/skipped 1 unreadable file\(s\) \(--skip-bad\), e\.g\. train\/happy\/Training_9\.png/);
    expect(existsSync(join(out, 'last.safetensors'))).toBe(true);
    const data2 = makeFixture();
    addFile(data2, 'train/sad/Training_8.png', grayPng(64, 40, (x, y) => (x + y) % 256));
    const out2 = join(tempDir('cli-run2'), 'run');
    const args2 = ['--data', data2, '--out', out2, '--model', 'fast', '--epochs', '1', '--batch', '4', '--cache', 'none'];
    const wrongSize = run('train', args2);
    expect(wrongSize.code).toBe(1);
    expect(wrongSize.err).toMatch(/Training_8\.png.*64x40, expected 48x48/);
    const resized = run('train', [...args2, '--resize']);
    expect(resized.code, resized.err).toBe(0);
    expect(resized.out).toMatch(/resized 1 image\(s\) to 48x48/);
  });

  it('--resume keeps the model and epoch budget of the run unless given; --gamma is checked up front', () => {
    const data = makeFixture();
    const out = join(tempDir('cli-resume'), 'run');
    const base = ['--data', data, '--out', out, '--cache', 'none'];
    expect(run('train', [...base, '--model', 'fast', '--epochs', '1', '--batch', '4']).code).toBe(0);
    // No --model (the default is seed-cnn) and no --epochs: the run's own are used.
    const again = run('train', [...base, '--resume']);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toMatch(/resumed from .* after epoch 1/);
    const more = run('train', [...base, '--resume', '--epochs', '2']);
    expect(more.code, more.err).toBe(0);
    expect(readFileSync(join(out, 'epochs.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
    const other = run('train', [...base, '--resume', '--model', 'seed-cnn']);
    expect(other.code).toBe(1);
    expect(other.err).toMatch(/is a 'fast' run, but --model is 'seed-cnn'/);
    const gamma = run('train', ['--schedule', 'plateau', '--gamma', '1']);
    expect(gamma.code).toBe(1);
    expect(gamma.err).toMatch(/--gamma must be in \(0, 1\) for the plateau schedule/);
  });
});

describe('scripts/merge-reports.mjs', () => {
  const script = join(ROOT, 'scripts/merge-reports.mjs');
  const merge = (args: string[]) => {
    const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const matrix = (diag: number, off: number) => Array.from({ length: 7 }, (_, i) => Array.from({ length: 7 }, (_, j) => (i === j ? diag : j === (i + 1) % 7 ? off : 0)));

  it("sums the two splits' confusion matrices into the whole-test report and picture", () => {
    const d = tempDir('merge-reports');
    // PublicTest: 7 x (8 right, 2 wrong); PrivateTest: 7 x (6 right, 4 wrong): 98 of 140 right, 70%.
    writeFileSync(join(d, 'pub.json'), JSON.stringify({ confusionMatrix: matrix(8, 2) }));
    writeFileSync(join(d, 'priv.json'), JSON.stringify({ confusionMatrix: matrix(6, 4) }));
    const png = join(d, 'test.png');
    const r = merge([join(d, 'pub.json'), join(d, 'priv.json'), png, 'Confusion matrix: test model']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/accuracy\s+0\.70\s+140/);
    expect(r.out).toMatch(/angry\s+0\.70\s+0\.70\s+0\.70\s+20/);
    expect(existsSync(png)).toBe(true);
    expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
  });

  it('names the file and what it expected', () => {
    const d = tempDir('merge-reports-bad');
    writeFileSync(join(d, 'ok.json'), JSON.stringify({ confusionMatrix: matrix(1, 0) }));
    writeFileSync(join(d, 'bad.json'), JSON.stringify({ accuracy: 0.5 }));
    expect(merge([]).code).toBe(2);
    expect(merge([]).err).toMatch(/usage: node scripts\/merge-reports\.mjs PUBLIC-report\.json PRIVATE-report\.json OUT\.png/);
    const bad = merge([join(d, 'ok.json'), join(d, 'bad.json'), join(d, 'x.png')]);
    expect(bad.code).toBe(1);
    expect(bad.err.trim()).toBe(`merge-reports: ${join(d, 'bad.json')}: expected a fer:eval report with a 7x7 integer "confusionMatrix"`);
    const gone = merge([join(d, 'ok.json'), join(d, 'gone.json'), join(d, 'x.png')]);
    expect(gone.err.trim()).toBe(`merge-reports: ${join(d, 'gone.json')}: no such file`);
    expect(existsSync(join(d, 'x.png'))).toBe(false);
  });
});
