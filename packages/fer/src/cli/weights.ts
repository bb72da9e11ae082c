// `pnpm fer:weights PROBS.json...`: chooses an ensemble's weights on the selection split from the member
// probabilities `pnpm fer:eval --checkpoint A,B,... --split public --save-probs PROBS.json` wrote
// (several files: their members together, so members evaluated at different times can be weighed):
// every weighting on a grid of the simplex, best accuracy first. PrivateTest is then read once with
// the weights chosen (fer:eval --weights). A split-half check follows: the best of many weightings on the
// images that score them beats equal weights by luck too, so it reports how the search fares on images it
// did not choose on (session 27: a 16-image PublicTest gain of the best of 1,771 weightings held out at -3).
import { parseArgs, usage, runCli, UsageError, type FlagSpec } from './args.js';
import { mixProbabilities, searchWeights, checkWeightSearch } from '../ensemble.js';
import { readSavedProbs, type SavedProbs } from '../probs.js';

const FLAGS: Record<string, FlagSpec> = {
  step: { type: 'number', help: 'grid step of the weights (must divide 1)', default: 0.05, min: 0.01, max: 1 },
  top: { type: 'int', help: 'weightings to print', default: 10, min: 1 },
  check: { type: 'int', help: 'random halvings for the split-half check of the search (choose on one half, score on the other; 0: none)', default: 50, min: 0 },
};

function readProbs(file: string): SavedProbs {
  try {
    return readSavedProbs(file);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

await runCli(async () => {
  const { flags, positional, help } = parseArgs(process.argv.slice(2), FLAGS);
  if (help) return console.log(usage('pnpm fer:weights', "Choose an ensemble's weights from fer:eval --save-probs output (use PublicTest's).", FLAGS, 'PROBS.json... '));
  if (!positional.length) throw new UsageError('give one or more PROBS.json files, written by fer:eval --save-probs (see --help)');
  const files = positional.map(readProbs);
  const saved = files[0]!;
  files.forEach((f, i) => {
    const same = f.split === saved.split && f.tta === saved.tta && f.labels.length === saved.labels.length && f.labels.every((l, k) => l === saved.labels[k]);
    if (!same) throw new UsageError(`${positional[i]}: another split, test-time augmentation or label order than ${positional[0]} (${f.split}/${f.tta} against ${saved.split}/${saved.tta}); weigh members evaluated on the same data`);
    if (i > 0) {
      saved.checkpoints = [...saved.checkpoints, ...f.checkpoints];
      saved.probs = [...saved.probs, ...f.probs];
      saved.weights = undefined; // each file's weights were for its own members; the search chooses anew
    }
  });
  const count = saved.labels.length;
  const labels = Uint8Array.from(saved.labels);
  const members = saved.probs.map((p) => Float32Array.from(p));
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  console.log(`${saved.split} (${count} images), test-time augmentation ${saved.tta}`);
  saved.checkpoints.forEach((c, i) => console.log(`  member ${i + 1}: ${c}: alone ${pct(mixProbabilities([members[i]!], [1], labels, count).acc)}`));
  const equal = mixProbabilities(members, members.map(() => 1), labels, count);
  console.log(`equal weights: ${pct(equal.acc)} (loss ${equal.loss.toFixed(4)})`);
  let results;
  try {
    results = searchWeights(members, labels, count, flags.step as number);
  } catch (e) {
    throw new UsageError(`--step: ${(e as Error).message}`);
  }
  const top = results.slice(0, flags.top as number);
  console.log(`best ${top.length} of ${results.length} weightings (step ${flags.step}; accuracy, then lower loss):`);
  for (const r of top) console.log(`  --weights ${r.weights.map((w) => w.toFixed(2)).join(',')}  ${pct(r.acc)}  loss ${r.loss.toFixed(4)}`);
  const rounds = flags.check as number;
  if (rounds > 0) {
    const c = checkWeightSearch(members, labels, count, flags.step as number, rounds);
    const pts = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}`;
    console.log(`split-half check (${rounds} random halvings; the best weighting on one half, scored on the other): ` +
      `${pts(c.gainMean)} points over equal weights held out (sd ${(c.gainSd * 100).toFixed(2)}), ${pts(c.inSampleGainMean)} where chosen`);
    console.log(c.gainMean > 0
      ? '  the search gains out of sample too'
      : '  the search does not gain out of sample: its margin above is selection noise; prefer equal weights');
  }
});
