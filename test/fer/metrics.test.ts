import { describe, expect, it } from 'vitest';
import {
  REFERENCE_REPORT,
  classificationReport,
  compareWithReference,
  confusionMatrix,
  formatConfusion,
  formatFixed,
  formatReport,
  reportFromConfusion,
  reportToJSON,
} from '../../packages/fer/src/metrics.js';

// Hand-worked example, 4 classes, 9 samples:
//   'c' (2) is never predicted -> precision 0 (zero_division = 0), recall 0/2;
//   'd' (3) has no support but is predicted once -> precision 0/1, recall 0 (zero_division = 0).
const NAMES = ['a', 'b', 'c', 'd'];
const Y_TRUE = [0, 0, 0, 0, 1, 1, 1, 2, 2];
const Y_PRED = [0, 0, 1, 3, 1, 1, 0, 1, 0];
// rows = true, cols = predicted
const CM = [
  [2, 1, 0, 1],
  [1, 2, 0, 0],
  [1, 1, 0, 0],
  [0, 0, 0, 0],
];

// Values are exact ratios; only float rounding separates them from the code's results.
const close = (got: number, want: number) => expect(got).toBeCloseTo(want, 12);

describe('confusionMatrix', () => {
  it('counts rows = true, cols = predicted', () => {
    expect(confusionMatrix(Y_TRUE, Y_PRED, 4)).toEqual(CM);
  });
  it('accepts typed arrays and an empty input', () => {
    expect(confusionMatrix(Int32Array.from(Y_TRUE), Uint8Array.from(Y_PRED), 4)).toEqual(CM);
    expect(confusionMatrix([], [], 2)).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });
  it('rejects bad input', () => {
    expect(() => confusionMatrix([0, 1], [0], 2)).toThrow(/yTrue has 2 labels but yPred has 1/);
    expect(() => confusionMatrix([0, 2], [0, 1], 2)).toThrow(/yTrue\[1\] = 2 is not a class index in \[0, 2\)/);
    expect(() => confusionMatrix([0, 1], [0, -1], 2)).toThrow(/yPred\[1\] = -1/);
    expect(() => confusionMatrix([0.5], [0], 2)).toThrow(/yTrue\[0\] = 0.5/);
    expect(() => confusionMatrix([0], [0], 0)).toThrow(/numClasses must be a positive integer/);
  });
});

describe('classificationReport', () => {
  const r = classificationReport(Y_TRUE, Y_PRED, NAMES);

  it('per-class precision / recall / F1 / support (zero_division = 0)', () => {
    const [a, b, c, d] = r.perClass;
    expect(r.perClass.map((x) => x.name)).toEqual(NAMES);
    close(a!.precision, 2 / 4);
    close(a!.recall, 2 / 4);
    close(a!.f1, 0.5);
    expect(a!.support).toBe(4);
    close(b!.precision, 2 / 4);
    close(b!.recall, 2 / 3);
    close(b!.f1, 4 / 7); // 2PR/(P+R) = (2/3)/(7/6)
    expect(b!.support).toBe(3);
    // never predicted
    expect(c).toEqual({ name: 'c', precision: 0, recall: 0, f1: 0, support: 2 });
    // no support, predicted once
    expect(d).toEqual({ name: 'd', precision: 0, recall: 0, f1: 0, support: 0 });
  });

  it('accuracy, macro and weighted averages', () => {
    close(r.accuracy, 4 / 9);
    expect(r.total).toBe(9);
    // Macro: plain mean over all 4 classes, including the one with no support.
    close(r.macroAvg.precision, (0.5 + 0.5) / 4);
    close(r.macroAvg.recall, (0.5 + 2 / 3) / 4);
    close(r.macroAvg.f1, (0.5 + 4 / 7) / 4);
    expect(r.macroAvg.support).toBe(9);
    // Weighted by support 4, 3, 2, 0.
    close(r.weightedAvg.precision, (4 * 0.5 + 3 * 0.5) / 9);
    close(r.weightedAvg.recall, 4 / 9); // weighted recall always equals accuracy
    close(r.weightedAvg.f1, (4 * 0.5 + (3 * 4) / 7) / 9);
    expect(r.weightedAvg.support).toBe(9);
    expect(r.confusion).toEqual(CM);
  });

  it('macro and weighted differ when supports are unbalanced', () => {
    // 'x' with support 8 perfectly classified, 'y' with support 2 always missed (predicted as x).
    const rr = classificationReport([0, 0, 0, 0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], ['x', 'y']);
    close(rr.perClass[0]!.precision, 0.8);
    close(rr.perClass[0]!.f1, (2 * 8) / (2 * 8 + 2));
    close(rr.macroAvg.recall, 0.5);
    close(rr.weightedAvg.recall, 0.8);
    close(rr.macroAvg.f1, 8 / 9 / 2);
    close(rr.weightedAvg.f1, (8 * (8 / 9)) / 10);
  });

  it('perfect predictions give 1 everywhere (a class absent from both stays 0)', () => {
    const y = [0, 1, 2, 2, 1, 0, 2];
    const rr = classificationReport(y, y, ['p', 'q', 'r']);
    for (const c of rr.perClass) expect([c.precision, c.recall, c.f1]).toEqual([1, 1, 1]);
    expect(rr.accuracy).toBe(1);
    expect(rr.macroAvg).toEqual({ precision: 1, recall: 1, f1: 1, support: 7 });
    expect(rr.weightedAvg).toEqual({ precision: 1, recall: 1, f1: 1, support: 7 });
    // A 4th class nobody has or predicts scores 0 and pulls the macro average (not the weighted one) down.
    const r4 = classificationReport(y, y, ['p', 'q', 'r', 's']);
    expect(r4.perClass[3]).toEqual({ name: 's', precision: 0, recall: 0, f1: 0, support: 0 });
    close(r4.macroAvg.f1, 0.75);
    expect(r4.weightedAvg.f1).toBe(1);
  });

  it('empty input gives zeros (zero_division = 0) and reportFromConfusion matches', () => {
    const e = classificationReport([], [], ['u', 'v']);
    expect(e.accuracy).toBe(0);
    expect(e.macroAvg).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 });
    expect(e.weightedAvg).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 });
    expect(reportFromConfusion(CM, NAMES)).toEqual(r);
  });

  it('rejects a matrix that does not match the class names', () => {
    expect(() => reportFromConfusion(CM, ['a', 'b'])).toThrow(/confusion matrix is 4x4\/4\/4\/4, expected 2x2/);
    expect(() => reportFromConfusion([[1, -1], [0, 0]], ['a', 'b'])).toThrow(/non-negative integer counts/);
    expect(() => classificationReport([0], [0], [])).toThrow(/classNames is empty/);
  });
});

describe('formatting', () => {
  const r = classificationReport(Y_TRUE, Y_PRED, NAMES);

  it('formatFixed rounds exact ties to even like Python, otherwise like toFixed', () => {
    expect(formatFixed(0.125, 2)).toBe('0.12');
    expect(formatFixed(0.375, 2)).toBe('0.38');
    expect(formatFixed(-0.125, 2)).toBe('-0.12');
    expect(formatFixed(0.5, 0)).toBe('0');
    expect(formatFixed(2.5, 0)).toBe('2');
    expect(formatFixed(4 / 7, 2)).toBe('0.57');
    expect(formatFixed(0.1 + 0.2, 1)).toBe('0.3');
    expect(formatFixed(1, 2)).toBe('1.00');
  });

  it('formatReport reproduces scikit-learn classification_report layout', () => {
    // Text scikit-learn 1.2.1 prints for classification_report(Y_TRUE, Y_PRED, labels=[0,1,2,3],
    // target_names=NAMES, zero_division=0) (checked against it; values also worked out by hand above).
    const want = [
      '              precision    recall  f1-score   support',
      '',
      '           a       0.50      0.50      0.50         4',
      '           b       0.50      0.67      0.57         3',
      '           c       0.00      0.00      0.00         2',
      '           d       0.00      0.00      0.00         0',
      '',
      '    accuracy                           0.44         9',
      '   macro avg       0.25      0.29      0.27         9',
      'weighted avg       0.39      0.44      0.41         9',
      '',
    ].join('\n');
    expect(formatReport(r)).toBe(want);
    expect(formatReport(r, { digits: 3 })).toContain('           b      0.500     0.667     0.571         3');
  });

  it('formatReport rounds exact ties like scikit-learn (text printed by scikit-learn 1.2.1)', () => {
    // x precision 1/8, z recall 5/8, accuracy 9/24 are exact binary ties at 2 decimals.
    const yTrue = [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2];
    const yPred = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 1, 1, 1];
    const sklearn =
      '              precision    recall  f1-score   support\n\n           x       0.12      0.17      0.14         6\n' +
      '           y       0.27      0.30      0.29        10\n           z       1.00      0.62      0.77         8\n\n' +
      '    accuracy                           0.38        24\n   macro avg       0.47      0.36      0.40        24\n' +
      'weighted avg       0.48      0.38      0.41        24\n';
    expect(formatReport(classificationReport(yTrue, yPred, ['x', 'y', 'z']))).toBe(sklearn);
  });

  it('formatReport widens the name column for long class names', () => {
    const rr = classificationReport([0, 1], [0, 1], ['angry', 'a-very-long-class']);
    const lines = formatReport(rr).split('\n');
    expect(lines[2]).toBe('            angry       1.00      1.00      1.00         1');
    expect(lines[3]).toBe('a-very-long-class       1.00      1.00      1.00         1');
  });

  it('formatConfusion lists counts per true row with totals, or row percentages', () => {
    const t = formatConfusion(CM, NAMES);
    const lines = t.trimEnd().split('\n');
    expect(lines[0]).toMatch(/rows: true class, columns: predicted class/);
    expect(lines[1]!.split(/\s+/)).toEqual(['true', '\\', 'pred', 'a', 'b', 'c', 'd', 'total']);
    expect(lines[2]!.trim().split(/\s+/)).toEqual(['a', '2', '1', '0', '1', '4']);
    expect(lines[5]!.trim().split(/\s+/)).toEqual(['d', '0', '0', '0', '0', '0']);
    const p = formatConfusion(CM, NAMES, { normalize: true }).split('\n');
    expect(p[3]!.trim().split(/\s+/)).toEqual(['b', '33.3%', '66.7%', '0.0%', '0.0%', '3']);
    expect(p[5]!.trim().split(/\s+/)).toEqual(['d', '0.0%', '0.0%', '0.0%', '0.0%', '0']);
  });

  it('reportToJSON has scikit-learn output_dict keys and survives JSON round trip', () => {
    const j = reportToJSON(r);
    expect(Object.keys(j)).toEqual(['a', 'b', 'c', 'd', 'accuracy', 'macro avg', 'weighted avg', 'classNames', 'confusionMatrix']);
    expect(j['b']).toEqual({ precision: 0.5, recall: 2 / 3, 'f1-score': 4 / 7, support: 3 });
    expect(j['accuracy']).toBe(4 / 9);
    expect(j['confusionMatrix']).toEqual(CM);
    expect(JSON.parse(JSON.stringify(j))).toEqual(j);
  });
});

describe('compareWithReference', () => {
  const ref = REFERENCE_REPORT;
  const names = Object.keys(ref.perClass);

  it('holds the reference table', () => {
    expect(names).toEqual(['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral']);
    expect(ref.perClass['happy']).toEqual({ precision: 0.84, recall: 0.84, f1: 0.84 });
    expect(ref.perClass['surprise']).toEqual({ precision: 0.53, recall: 0.47, f1: 0.5 });
    expect(ref.accuracy).toBe(0.64);
    expect(ref.weightedAvg).toEqual({ precision: 0.63, recall: 0.64, f1: 0.63 });
  });

  it('prints ours beside the reference with the difference', () => {
    // Ours: every class perfect except one angry sample predicted as fear.
    const yTrue = [0, 0, 1, 2, 3, 4, 5, 6];
    const yPred = [0, 2, 1, 2, 3, 4, 5, 6];
    const rep = classificationReport(yTrue, yPred, names);
    const text = compareWithReference(rep);
    const row = (name: string) => text.split('\n').find((l) => l.startsWith(name + ' '))!;
    // angry: P 100, R 50, F1 66.7 vs 51 / 59 / 54
    expect(row('angry').split('|').map((s) => s.trim())).toEqual(['angry', '100.0   51  +49.0', '50.0   59   -9.0', '66.7   54  +12.7']);
    expect(row('happy').split('|').map((s) => s.trim())).toEqual(['happy', '100.0   84  +16.0', '100.0   84  +16.0', '100.0   84  +16.0']);
    expect(row('accuracy').split('|').map((s) => s.trim())).toEqual(['accuracy', '', '', '87.5   64  +23.5']);
    expect(row('weighted avg')).toMatch(/^weighted avg \|/);
    expect(text).toMatch(/8 test images; reference: 7178/);
  });

  it('matches classes by name, whatever the order, and rejects missing ones', () => {
    const shuffled = [...names].reverse();
    const rep = classificationReport([0, 1], [0, 1], shuffled);
    expect(compareWithReference(rep)).toMatch(/neutral\s+\|\s+100\.0\s+73\s+\+27\.0/);
    expect(() => compareWithReference(classificationReport([0], [0], ['angry', 'happy']))).toThrow(/lacks reference classes disgust, fear, sad, surprise, neutral/);
  });
});
