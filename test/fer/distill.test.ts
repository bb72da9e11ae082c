// Knowledge distillation's teacher file and soft targets (data/distill.ts), on the CPU; the training
// loop's use of them is in train.test.ts.
import { describe, it, expect } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { soften, loadTeacher, teacherSubset, distillTargets, readSavedProbs, ensembleProbs, NUM_CLASSES } from '@fer/fer';
import { tempDir } from './fixtures.js';

/** A --save-probs file as fer:eval writes it. */
function probsFile(over: Record<string, unknown>): string {
  const file = join(tempDir('teacher'), 'probs.json');
  writeFileSync(file, JSON.stringify({ split: 'train', tta: 'flip', checkpoints: ['a.safetensors'], labels: [0, 3], probs: [[0.7, 0.1, 0, 0.2, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]], ...over }));
  return file;
}

const row = (p: Float32Array, r: number) => Array.from(p.subarray(r * NUM_CLASSES, (r + 1) * NUM_CLASSES));

describe('distillation', () => {
  it('soften: T = 1 keeps the probabilities, T = 2 is softmax(log p / 2), a zero stays zero', () => {
    const p = Float32Array.from([0.64, 0.16, 0.2, 0, 0, 0, 0]);
    expect(row(soften(p, 1), 0).map((v) => +v.toFixed(6))).toEqual([0.64, 0.16, 0.2, 0, 0, 0, 0]);
    const s = row(soften(p, 2), 0);
    const roots = [0.8, 0.4, Math.sqrt(0.2)];
    const sum = roots.reduce((a, b) => a + b, 0);
    roots.forEach((r, c) => expect(s[c]).toBeCloseTo(r / sum, 6));
    expect(s.slice(3)).toEqual([0, 0, 0, 0]);
    expect(() => soften(p, 0)).toThrow(/temperature must be > 0, got 0/);
  });

  it("loadTeacher averages an ensemble's members with its weights, softens them, and hashes the file", () => {
    const file = probsFile({
      checkpoints: ['a', 'b'],
      weights: [3, 1],
      probs: [
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0],
        [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
      ],
    });
    const t = loadTeacher(file, Uint8Array.from([0, 3]), 1);
    expect(t.count).toBe(2);
    expect(row(t.probs, 0)).toEqual([0.75, 0.25, 0, 0, 0, 0, 0]);
    expect(row(t.probs, 1)).toEqual([0, 0, 0, 0.75, 0, 0.25, 0]);
    expect(t.sha256).toMatch(/^[0-9a-f]{64}$/);
    // Without weights (files written before they were saved): equal.
    const eq = ensembleProbs(readSavedProbs(probsFile({ checkpoints: ['a', 'b'], probs: [[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]] })));
    expect(row(eq, 0)).toEqual([0.5, 0.5, 0, 0, 0, 0, 0]);
  });

  it('loadTeacher refuses another split, another data set, and probabilities that are not', () => {
    const labels = Uint8Array.from([0, 3]);
    expect(() => loadTeacher(probsFile({ split: 'public' }), labels, 1)).toThrow(/probs\.json: a teacher for --distill must be the training split's probabilities .* holds 'public'/);
    expect(() => loadTeacher(probsFile({}), Uint8Array.from([0, 3, 1]), 1)).toThrow(/the teacher covers 2 training images, the training split here has 3/);
    expect(() => loadTeacher(probsFile({}), Uint8Array.from([0, 4]), 1)).toThrow(/label of training image 1 is 3, the data set's is 4/);
    expect(() => loadTeacher(probsFile({ probs: [[0.7, 0.1, 0, 0.2, 0, 0, 0, 0, 0, 0, 0.5, 0, 0, 0]] }), labels, 1)).toThrow(/probabilities of training image 1 sum to 0\.5, not 1/);
    expect(() => loadTeacher(probsFile({ probs: [[0.7, 0.1, 0, 0.2, 0, 0, 0]] }), labels, 1)).toThrow(/expected "split", "labels" \(N\), "checkpoints" and "probs"/);
    expect(() => loadTeacher(probsFile({ weights: [0] }), labels, 1)).toThrow(/"weights" must hold one non-negative number per checkpoint, not all zero/);
    const bad = join(tempDir('teacher'), 'bad.json');
    writeFileSync(bad, '{"split": "train", ');
    expect(() => loadTeacher(bad, labels, 1)).toThrow(/bad\.json: .*JSON/);
  });

  it("distillTargets mixes each image's teacher row with its one-hot label; teacherSubset picks rows", () => {
    const t = loadTeacher(probsFile({}), Uint8Array.from([0, 3]), 1);
    const out = distillTargets(t, [1, 0], [3, 0], 0.25);
    expect(row(out, 0)).toEqual([0, 0, 0, 1, 0, 0, 0]); // the teacher agrees with the label
    expect(row(out, 1).map((v) => +v.toFixed(6))).toEqual([0.925, 0.025, 0, 0.05, 0, 0, 0]);
    for (let r = 0; r < 2; r++) expect(row(out, r).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(row(distillTargets(t, [0], [0], 0), 0)).toEqual([1, 0, 0, 0, 0, 0, 0]);
    const sub = teacherSubset(t, [1]);
    expect(sub.count).toBe(1);
    expect(row(sub.probs, 0)).toEqual([0, 0, 0, 1, 0, 0, 0]);
    expect(() => distillTargets(t, [2], [0], 0.5)).toThrow(/image index 2 is outside \[0, 2\)/);
    expect(() => distillTargets(t, [0], [7], 0.5)).toThrow(/label 7 at 0 is outside \[0, 7\)/);
    expect(() => distillTargets(t, [0], [0], 1.5)).toThrow(/weight must be in \[0, 1\], got 1\.5/);
    expect(() => teacherSubset(t, [5])).toThrow(/image index 5 is outside \[0, 2\)/);
  });
});
