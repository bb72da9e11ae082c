// Prints a results file of `pnpm bench --json` (bench/results/<adapter>.json) as markdown tables:
// the peaks, every kernel row with its share of peak and the peers, and the training steps. The
// README's bench section is this output.
//   node bench/dist/markdown.js [bench/results/FILE.json]   (default: the newest kernels file there)
//   node bench/dist/markdown.js AFTER.json --before BEFORE.json   (ours before and after, per row)
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface Timing {
  medianMs: number;
  minMs: number;
  maxMs: number;
  runs: number;
}
type PeerRow = { timing: Timing; rate: number; percentOfPeak: number; speedup: number } | { error: string };
interface Row {
  kernel: string;
  shape: string;
  usedBy?: string;
  /** Our tuned kernel (conv2d rows; files before session 14 lack it). */
  ourKernel?: string;
  unit: string;
  timing: Timing;
  rate: number;
  percentOfPeak: number;
  peers: Record<string, PeerRow>;
}
type PeerStep = { msPerStep: number; imagesPerSecond: number; speedup: number; steps: number } | { error: string };
interface StepRow {
  model: string;
  batch: number;
  steps: number;
  msPerStep: number;
  imagesPerSecond: number;
  peers: Record<string, PeerStep>;
}
interface Peak {
  value: number;
  medianValue: number;
  unit: string;
  timing: Timing;
  shape: string;
}
interface Results {
  adapter: { vendor: string; architecture: string; device?: string; description?: string; backend?: string; software?: boolean };
  date: string;
  runs: number;
  peaks?: Record<string, Peak>;
  peers?: Record<string, { detail: string } | { error: string }>;
  rows: Row[];
  steps?: StepRow[];
}

/** Three significant digits, no exponent. */
export function num(x: number): string {
  if (!Number.isFinite(x)) return '–';
  if (Math.abs(x) >= 100) return Math.round(x).toLocaleString('en-US');
  return x.toPrecision(3);
}

const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const esc = (s: string): string => s.replace(/\|/g, '\\|');

export function toMarkdown(r: Results): string {
  const out: string[] = [];
  const a = r.adapter;
  out.push(
    `- Adapter: ${a.vendor} ${a.device || a.architecture}${a.description ? ` (${a.description}${a.software ? ', software' : ''})` : ''}; ` +
      `${r.date.slice(0, 16).replace('T', ' ')} UTC; at least ${r.runs} timed runs per row after the warm-up, more for short rows (until ~300 ms of timed work, at most ${5 * r.runs}); a row whose first run takes over 2 s: 1 warm-up, at most 3 runs.`,
  );
  for (const [name, p] of Object.entries(r.peers ?? {})) out.push(`- Peer ${name}: ${'detail' in p ? p.detail : `cannot run: ${p.error}`}.`);
  out.push('');

  // Errors become numbered notes, each reason written once.
  const notes: string[] = [];
  const note = (who: string, error: string): string => {
    const text = `${who}: ${error}`;
    let i = notes.indexOf(text);
    if (i < 0) i = notes.push(text) - 1;
    return `n/a [${i + 1}]`;
  };

  if (r.peaks && Object.keys(r.peaks).length) {
    out.push('| peak | kernel (shaders/peak.wgsl) | best run | median run |', '|---|---|---:|---:|');
    for (const p of Object.values(r.peaks))
      out.push(`| ${p.unit === 'GB/s' ? 'memory (copy_peak)' : 'arithmetic (fma_peak)'} | ${esc(p.shape)} | **${num(p.value)} ${p.unit}** | ${num(p.medianValue)} ${p.unit} |`);
    out.push('');
  }

  const peerNames = [...new Set([...Object.keys(r.peers ?? {}), ...r.rows.flatMap((row) => Object.keys(row.peers))])];
  out.push(
    `| kernel | shape | layer | ours: median ms (min–max) | ours | % of peak |${peerNames.map((p) => ` ${p}: median ms | ${p} × |`).join('')}`,
    `|---|---|---|---:|---:|---:|${peerNames.map(() => '---:|---:|').join('')}`,
  );
  for (const row of r.rows) {
    const t = row.timing;
    const cells = [
      row.kernel,
      esc(row.shape),
      esc(row.usedBy ?? ''),
      `${ms(t.medianMs)} (${ms(t.minMs)}–${ms(t.maxMs)})`,
      `${num(row.rate)} ${row.unit}${row.ourKernel ? ` (${row.ourKernel})` : ''}`,
      `${num(row.percentOfPeak)}%`,
    ];
    for (const name of peerNames) {
      const p = row.peers[name];
      if (!p) cells.push('', '');
      else if ('error' in p) cells.push(note(name, p.error), '');
      else cells.push(`${ms(p.timing.medianMs)} (${num(p.rate)} ${row.unit}, ${num(p.percentOfPeak)}%)`, `${p.speedup.toFixed(2)}`);
    }
    out.push(`| ${cells.join(' | ')} |`);
  }
  out.push('', '× = peer median / our median (> 1: ours is faster). GB/s rows count the least traffic (every tensor read or written once).');
  if (r.rows.some((row) => row.ourKernel))
    out.push(
      '',
      'conv2d rows name our tuned kernel beside the rate. Every conv2d rate counts the direct convolution\'s 2·N·Cout·OH·OW·Cin·KH·KW flops, ' +
        "so Winograd rows (wino: F(2x2, 3x3), 2.25x fewer multiplies; wino3: F(3x3, 3x3), 3.24x fewer; wino4: F(4x4, 3x3), 4x fewer; wino6: F(6x6, 3x3), 5.06x fewer; wino5: F(2x2, 5x5), and wino4s: a 5x5 kernel as four 3x3 pieces under F(4x4, 3x3), 2.78x fewer; wino6s: the pieces under F(6x6, 3x3), 3.52x fewer; wino45: F(4x4, 5x5), 6.25x fewer) give an effective rate, which may pass the fma peak.",
    );

  if (r.steps?.length) {
    const stepPeers = [...new Set(r.steps.flatMap((s) => Object.keys(s.peers)))];
    out.push(
      '',
      `| training step (forward + backward + Adam) | batch | ours: ms/step | images/s |${stepPeers.map((p) => ` ${p}: ms/step | ${p} × |`).join('')}`,
      `|---|---:|---:|---:|${stepPeers.map(() => '---:|---:|').join('')}`,
    );
    for (const s of r.steps) {
      const cells = [s.model, String(s.batch), `${num(s.msPerStep)} (${s.steps} steps)`, num(s.imagesPerSecond)];
      for (const name of stepPeers) {
        const p = s.peers[name];
        if (!p) cells.push('', '');
        else if ('error' in p) cells.push(note(name, p.error), '');
        else cells.push(`${num(p.msPerStep)} (${num(p.imagesPerSecond)} images/s, ${p.steps} steps)`, p.speedup.toFixed(2));
      }
      out.push(`| ${cells.join(' | ')} |`);
    }
  }
  if (notes.length) out.push('', ...notes.map((n, i) => `[${i + 1}] ${esc(n)}`));
  return out.join('\n');
}

/** Ours in `before` and `after`, row by row (matched by kernel and shape), and the training steps. */
export function comparison(before: Results, after: Results): string {
  const out: string[] = [
    `Before: ${before.date.slice(0, 16).replace('T', ' ')} UTC; after: ${after.date.slice(0, 16).replace('T', ' ')} UTC (same adapter: ${after.adapter.vendor} ${after.adapter.device || after.adapter.architecture}).`,
    '',
  ];
  if (before.peaks && after.peaks) {
    out.push('| peak | before | after |', '|---|---:|---:|');
    for (const [k, p] of Object.entries(after.peaks)) {
      const b = before.peaks[k];
      out.push(`| ${k} | ${b ? `${num(b.value)} ${b.unit}` : ''} | ${num(p.value)} ${p.unit} |`);
    }
    out.push('');
  }
  out.push('| kernel | shape | before: median ms | before | after: median ms | after | after / before |', '|---|---|---:|---:|---:|---:|---:|');
  for (const row of after.rows) {
    const b = before.rows.find((x) => x.kernel === row.kernel && x.shape === row.shape);
    out.push(
      `| ${row.kernel} | ${esc(row.shape)} | ${b ? ms(b.timing.medianMs) : ''} | ${b ? `${num(b.rate)} ${b.unit}` : ''} | ${ms(row.timing.medianMs)} | ${num(row.rate)} ${row.unit} | ${b ? `${(b.timing.medianMs / row.timing.medianMs).toFixed(2)}x` : ''} |`,
    );
  }
  if (after.steps?.length) {
    out.push('', '| training step | before: ms/step | before: images/s | after: ms/step | after: images/s | speed-up |', '|---|---:|---:|---:|---:|---:|');
    for (const st of after.steps) {
      const b = before.steps?.find((x) => x.model === st.model && x.batch === st.batch);
      out.push(`| ${st.model} (batch ${st.batch}) | ${b ? num(b.msPerStep) : ''} | ${b ? num(b.imagesPerSecond) : ''} | ${num(st.msPerStep)} | ${num(st.imagesPerSecond)} | ${b ? `${(b.msPerStep / st.msPerStep).toFixed(2)}x` : ''} |`);
    }
  }
  return out.join('\n');
}

function newestResults(): string {
  const dir = fileURLToPath(new URL('../results/', import.meta.url));
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.endsWith('-step.json'))
    .map((f) => ({ f: dir + f, t: statSync(dir + f).mtimeMs }))
    .sort((x, y) => y.t - x.t);
  if (!files.length) throw new Error(`no results in ${dir}: run node bench/dist/kernels.js --json first`);
  return files[0]!.f;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--before');
  const beforeFile = at >= 0 ? args[at + 1] : undefined;
  if (at >= 0 && !beforeFile) throw new Error('--before needs a results file');
  const positional = args.filter((_, i) => at < 0 || (i !== at && i !== at + 1));
  const load = (file: string): Results => {
    const r = JSON.parse(readFileSync(file, 'utf8')) as Results;
    if (!r.rows?.[0] || !('unit' in r.rows[0])) throw new Error(`${file}: not a results file of this version of kernels.ts (rows without a unit)`);
    return r;
  };
  const after = load(positional[0] ?? newestResults());
  console.log(beforeFile ? comparison(load(beforeFile), after) : toMarkdown(after));
}
