// The whole-test report from a model's PublicTest and PrivateTest reports (fer:eval --split public and
// --split private write them): the test split is the two concatenated, so the summed confusion matrix
// is the one `fer:eval --split test` computes, without running the model again.
//   node scripts/merge-reports.mjs PUBLIC-report.json PRIVATE-report.json OUT.png [TITLE]
// Prints the per-class report, the matrix and the comparison with the reference; writes the picture.
import { readFileSync } from 'node:fs';
import { reportFromConfusion, formatReport, compareWithReference, confusionHeatmap, formatConfusion, CLASSES } from '../packages/fer/dist/index.js';

const [publicFile, privateFile, png, title = 'Confusion matrix'] = process.argv.slice(2);
if (!publicFile || !privateFile || !png) {
  console.error('usage: node scripts/merge-reports.mjs PUBLIC-report.json PRIVATE-report.json OUT.png [TITLE]');
  process.exit(2);
}
const read = (file) => {
  let r;
  try {
    r = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    console.error(`merge-reports: ${file}: ${e.code === 'ENOENT' ? 'no such file' : `not a JSON report (${e.message})`}`);
    process.exit(1);
  }
  const m = r.confusionMatrix;
  if (!Array.isArray(m) || m.length !== CLASSES.length || !m.every((row) => Array.isArray(row) && row.length === CLASSES.length && row.every(Number.isInteger))) {
    console.error(`merge-reports: ${file}: expected a fer:eval report with a ${CLASSES.length}x${CLASSES.length} integer "confusionMatrix"`);
    process.exit(1);
  }
  return m;
};
const a = read(publicFile);
const b = read(privateFile);
const m = a.map((row, i) => row.map((v, j) => v + b[i][j]));
const report = reportFromConfusion(m, CLASSES);
console.log(formatReport(report));
console.log(formatConfusion(m, CLASSES));
console.log(compareWithReference(report));
confusionHeatmap(m, CLASSES, png, { title: `${title}, test (${(report.accuracy * 100).toFixed(1)}%)` });
console.log(`wrote ${png}`);
