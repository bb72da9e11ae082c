// Classification metrics with scikit-learn's definitions (sklearn.metrics.confusion_matrix and
// classification_report with labels = all classes, zero_division = 0), text/JSON formatting, and a
// side-by-side comparison with the reference report's table.
//
// Definitions, for class k with tp/fp/fn counted from the confusion matrix C (rows = true, cols = predicted):
//   precision = tp / (tp + fp)   (0 when the class is never predicted: zero_division = 0)
//   recall    = tp / (tp + fn)   (0 when the class has no support)
//   f1        = 2 tp / (2 tp + fp + fn)  (= 2PR / (P + R); 0 when the denominator is 0)
//   support   = tp + fn          (number of true samples of the class)
//   accuracy  = trace(C) / total (0 for an empty input)
//   macro avg    = unweighted mean of the per-class P / R / F1 over ALL classes, including ones with no support
//   weighted avg = mean of the per-class P / R / F1 weighted by support (0 when total support is 0)
// Both averages average the per-class F1 (not F1 of the averaged P and R), as scikit-learn does.
//
// Text format: formatReport reproduces classification_report's layout and uses 2-decimal fractions
// (digits = 2) by default, i.e. 0.64 where the reference report writes 64%. compareWithReference uses
// percentages because the reference table is given in whole percents.

export interface ClassScores {
  precision: number;
  recall: number;
  f1: number;
  /** Number of true samples (for the averages: the total number of samples). */
  support: number;
}

export interface ClassRow extends ClassScores {
  name: string;
}

export interface ClassificationReport {
  classNames: string[];
  perClass: ClassRow[];
  accuracy: number;
  macroAvg: ClassScores;
  weightedAvg: ClassScores;
  /** Number of samples. */
  total: number;
  /** Confusion matrix the report was computed from (rows = true, cols = predicted). */
  confusion: number[][];
}

function checkLabels(name: string, y: ArrayLike<number>, numClasses: number): void {
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= numClasses) {
      throw new Error(`${name}[${i}] = ${v} is not a class index in [0, ${numClasses})`);
    }
  }
}

/** Confusion matrix C[true][pred] = number of samples of class `true` predicted as `pred`. */
export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, numClasses: number): number[][] {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`confusionMatrix: numClasses must be a positive integer, got ${numClasses}`);
  if (yTrue.length !== yPred.length) {
    throw new Error(`confusionMatrix: yTrue has ${yTrue.length} labels but yPred has ${yPred.length}; expected equal lengths`);
  }
  checkLabels('yTrue', yTrue, numClasses);
  checkLabels('yPred', yPred, numClasses);
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < yTrue.length; i++) m[yTrue[i]!]![yPred[i]!]!++;
  return m;
}

function checkSquare(matrix: readonly (readonly number[])[], classNames: readonly string[], fn: string): void {
  const n = classNames.length;
  if (n === 0) throw new Error(`${fn}: classNames is empty`);
  if (matrix.length !== n || matrix.some((r) => r.length !== n)) {
    const got = `${matrix.length}x${matrix.map((r) => r.length).join('/')}`;
    throw new Error(`${fn}: confusion matrix is ${got}, expected ${n}x${n} for ${n} class names`);
  }
  for (const row of matrix) {
    for (const v of row) {
      if (!Number.isInteger(v) || v < 0) throw new Error(`${fn}: confusion matrix entries must be non-negative integer counts, got ${v}`);
    }
  }
}

const div0 = (a: number, b: number): number => (b === 0 ? 0 : a / b);

/** Report from an existing confusion matrix (e.g. one accumulated batch by batch). */
export function reportFromConfusion(matrix: readonly (readonly number[])[], classNames: readonly string[]): ClassificationReport {
  checkSquare(matrix, classNames, 'reportFromConfusion');
  const n = classNames.length;
  let total = 0;
  let correct = 0;
  const colSum = new Array<number>(n).fill(0);
  for (let t = 0; t < n; t++) {
    for (let p = 0; p < n; p++) {
      const v = matrix[t]![p]!;
      total += v;
      colSum[p]! += v;
      if (t === p) correct += v;
    }
  }
  const perClass: ClassRow[] = classNames.map((name, k) => {
    const tp = matrix[k]![k]!;
    const support = matrix[k]!.reduce((a, b) => a + b, 0);
    const fp = colSum[k]! - tp;
    const fn = support - tp;
    return { name, precision: div0(tp, tp + fp), recall: div0(tp, support), f1: div0(2 * tp, 2 * tp + fp + fn), support };
  });
  const avg = (w: (r: ClassRow) => number): ClassScores => {
    const wsum = perClass.reduce((a, r) => a + w(r), 0);
    const mean = (f: (r: ClassRow) => number) => div0(perClass.reduce((a, r) => a + w(r) * f(r), 0), wsum);
    return { precision: mean((r) => r.precision), recall: mean((r) => r.recall), f1: mean((r) => r.f1), support: total };
  };
  return {
    classNames: [...classNames],
    perClass,
    accuracy: div0(correct, total),
    macroAvg: avg(() => 1),
    weightedAvg: avg((r) => r.support),
    total,
    confusion: matrix.map((r) => [...r]),
  };
}

/** scikit-learn classification_report(yTrue, yPred, labels=range(K), zero_division=0) as data. */
export function classificationReport(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, classNames: readonly string[]): ClassificationReport {
  if (classNames.length === 0) throw new Error('classificationReport: classNames is empty');
  return reportFromConfusion(confusionMatrix(yTrue, yPred, classNames.length), classNames);
}

/**
 * x.toFixed(digits) but rounding exact ties to even, as Python's format() does (JS rounds them up);
 * e.g. 0.125 -> '0.12' like scikit-learn, not '0.13'. Non-tie values are identical to toFixed.
 */
export function formatFixed(x: number, digits: number): string {
  const s = x.toFixed(digits);
  if (!Number.isFinite(x)) return s;
  // The exact decimal expansion of a double near a tie differs from it within ~17 significant digits,
  // so 25 extra digits decide whether x is exactly ...5000.
  const long = Math.abs(x).toFixed(digits + 25);
  const tail = long.slice(long.length - 25);
  if (tail !== '5' + '0'.repeat(24)) return s;
  const head = long.slice(0, long.length - 25); // digits kept, e.g. '0.12'
  const lastDigit = Number(head[head.length - 1] === '.' ? head[head.length - 2] : head[head.length - 1]);
  if (lastDigit % 2 === 1) return s; // toFixed rounded the tie up to an even digit already
  const down = (x < 0 ? '-' : '') + (head.endsWith('.') ? head.slice(0, -1) : head);
  return down;
}

export interface FormatReportOptions {
  /** Decimal places of the fractions, like scikit-learn's `digits` (default 2). */
  digits?: number;
}

/**
 * Text table laid out exactly like scikit-learn's classification_report (fractions with `digits`
 * decimals, right-aligned 9-wide columns, then accuracy / macro avg / weighted avg).
 */
export function formatReport(report: ClassificationReport, opts: FormatReportOptions = {}): string {
  const digits = opts.digits ?? 2;
  const headers = ['precision', 'recall', 'f1-score', 'support'];
  const width = Math.max(...report.classNames.map((c) => c.length), 'weighted avg'.length, digits);
  const f = (x: number) => formatFixed(x, digits).padStart(9);
  const row = (name: string, s: ClassScores) => `${name.padStart(width)}  ${f(s.precision)} ${f(s.recall)} ${f(s.f1)} ${String(s.support).padStart(9)}\n`;
  let out = `${''.padStart(width)} ${headers.map((h) => ' ' + h.padStart(9)).join('')}\n\n`;
  for (const r of report.perClass) out += row(r.name, r);
  out += '\n';
  out += `${'accuracy'.padStart(width)}  ${''.padStart(9)} ${''.padStart(9)} ${f(report.accuracy)} ${String(report.total).padStart(9)}\n`;
  out += row('macro avg', report.macroAvg);
  out += row('weighted avg', report.weightedAvg);
  return out;
}

export interface FormatConfusionOptions {
  /** Show row percentages (share of each true class) instead of counts. */
  normalize?: boolean;
}

/** Text confusion matrix: rows = true class, columns = predicted class, plus each row's total (support). */
export function formatConfusion(matrix: readonly (readonly number[])[], classNames: readonly string[], opts: FormatConfusionOptions = {}): string {
  checkSquare(matrix, classNames, 'formatConfusion');
  const totals = matrix.map((r) => r.reduce((a, b) => a + b, 0));
  const cell = (t: number, p: number) => (opts.normalize ? `${formatFixed(100 * div0(matrix[t]![p]!, totals[t]!), 1)}%` : String(matrix[t]![p]!));
  const corner = 'true \\ pred';
  const nameW = Math.max(corner.length, ...classNames.map((c) => c.length));
  const cells = classNames.map((_, t) => classNames.map((__, p) => cell(t, p)));
  const colW = Math.max(...classNames.map((c) => c.length), ...cells.flat().map((s) => s.length), ...totals.map((v) => String(v).length), 'total'.length);
  const lines = [`Confusion matrix (rows: true class, columns: predicted class${opts.normalize ? ', % of row' : ''})`];
  lines.push([corner.padEnd(nameW), ...classNames.map((c) => c.padStart(colW)), 'total'.padStart(colW)].join('  '));
  classNames.forEach((name, t) => {
    lines.push([name.padEnd(nameW), ...cells[t]!.map((s) => s.padStart(colW)), String(totals[t]).padStart(colW)].join('  '));
  });
  return lines.join('\n') + '\n';
}

/** Per-class / average entry of reportToJSON, with scikit-learn's output_dict key names. */
export interface ReportJSONEntry {
  precision: number;
  recall: number;
  'f1-score': number;
  support: number;
}

/**
 * Plain JSON-serialisable object shaped like scikit-learn's classification_report(output_dict=True)
 * (class names, then 'accuracy', 'macro avg', 'weighted avg'), plus the confusion matrix.
 * Returns an object, not a string: JSON.stringify it to write a file.
 */
export function reportToJSON(report: ClassificationReport): Record<string, ReportJSONEntry | number | number[][] | string[]> {
  const e = (s: ClassScores): ReportJSONEntry => ({ precision: s.precision, recall: s.recall, 'f1-score': s.f1, support: s.support });
  const out: Record<string, ReportJSONEntry | number | number[][] | string[]> = {};
  for (const r of report.perClass) out[r.name] = e(r);
  out['accuracy'] = report.accuracy;
  out['macro avg'] = e(report.macroAvg);
  out['weighted avg'] = e(report.weightedAvg);
  out['classNames'] = [...report.classNames];
  out['confusionMatrix'] = report.confusion.map((r) => [...r]);
  return out;
}

export interface ReferenceScores {
  precision: number;
  recall: number;
  f1: number;
}

/**
 * The reference report's table (Keras CNN, 4.5M params, 65 epochs, FER2013 test folder of 7,178 images),
 * copied from its text as fractions; its figures were printed in whole percents, so each is +-0.005.
 * Support was not given there.
 */
export const REFERENCE_REPORT = {
  source: 'Keras CNN (4,496,903 params), Adam lr 1e-4, 65 epochs; FER2013 test folder (7,178 images)',
  testImages: 7178,
  perClass: {
    angry: { precision: 0.51, recall: 0.59, f1: 0.54 },
    disgust: { precision: 0.56, recall: 0.6, f1: 0.58 },
    fear: { precision: 0.54, recall: 0.44, f1: 0.48 },
    happy: { precision: 0.84, recall: 0.84, f1: 0.84 },
    sad: { precision: 0.57, recall: 0.61, f1: 0.59 },
    surprise: { precision: 0.53, recall: 0.47, f1: 0.5 },
    neutral: { precision: 0.73, recall: 0.78, f1: 0.76 },
  } as Readonly<Record<string, ReferenceScores>>,
  accuracy: 0.64,
  macroAvg: { precision: 0.61, recall: 0.62, f1: 0.61 } as ReferenceScores,
  weightedAvg: { precision: 0.63, recall: 0.64, f1: 0.63 } as ReferenceScores,
} as const;

/**
 * Text table of our precision / recall / F1 beside the reference's, in percent, with the difference
 * in percentage points (ours - reference; the reference is rounded to whole percents, so a
 * difference within +-0.5 is a tie). Classes are matched by name; the report must contain every
 * reference class. Returns the text (callers print or save it).
 */
export function compareWithReference(report: ClassificationReport): string {
  const ref = REFERENCE_REPORT;
  const missing = Object.keys(ref.perClass).filter((c) => !report.classNames.includes(c));
  if (missing.length > 0) {
    throw new Error(`compareWithReference: report lacks reference classes ${missing.join(', ')} (has ${report.classNames.join(', ')})`);
  }
  const pct = (x: number) => `${formatFixed(100 * x, 1)}`;
  const refPct = (x: number) => `${Math.round(100 * x)}`;
  const delta = (ours: number, theirs: number) => {
    const d = 100 * ours - Math.round(100 * theirs);
    const s = formatFixed(d, 1);
    return d > 0 && s !== '0.0' ? `+${s}` : s === '-0.0' ? '0.0' : s;
  };
  const nameW = Math.max('weighted avg'.length, ...Object.keys(ref.perClass).map((c) => c.length));
  const group = (o: number, r: number) => `${pct(o).padStart(6)} ${refPct(r).padStart(4)} ${delta(o, r).padStart(6)}`;
  const groupW = 6 + 1 + 4 + 1 + 6;
  const head1 = `${''.padEnd(nameW)} | ${'precision %'.padEnd(groupW)} | ${'recall %'.padEnd(groupW)} | ${'F1 %'.padEnd(groupW)}`;
  const sub = `${'ours'.padStart(6)} ${'ref'.padStart(4)} ${'diff'.padStart(6)}`;
  const head2 = `${'class'.padEnd(nameW)} | ${sub} | ${sub} | ${sub}`;
  const rule = '-'.repeat(head2.length);
  const line = (name: string, o: ReferenceScores, r: ReferenceScores) =>
    `${name.padEnd(nameW)} | ${group(o.precision, r.precision)} | ${group(o.recall, r.recall)} | ${group(o.f1, r.f1)}`;
  const lines = ['Ours vs the reference report (percent; diff in percentage points, ours - reference)', head1, head2, rule];
  for (const [name, r] of Object.entries(ref.perClass)) {
    const o = report.perClass.find((c) => c.name === name)!;
    lines.push(line(name, o, r));
  }
  lines.push(rule);
  const accCell = `${''.padStart(6)} ${''.padStart(4)} ${''.padStart(6)}`;
  lines.push(`${'accuracy'.padEnd(nameW)} | ${accCell} | ${accCell} | ${group(report.accuracy, ref.accuracy)}`);
  lines.push(line('macro avg', report.macroAvg, ref.macroAvg));
  lines.push(line('weighted avg', report.weightedAvg, ref.weightedAvg));
  lines.push(`(ours: ${report.total} test images; reference: ${ref.testImages})`);
  return lines.map((l) => l.trimEnd()).join('\n') + '\n';
}
