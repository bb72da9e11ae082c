// Kernel autotuner: ops with several kernel variants (matmul, conv2d passes) ask choose() which one
// to run for a shape. The first time a shape is seen the op's default runs and the shape is queued;
// autotune() (async: it times GPU work) then runs every candidate on fresh inputs of that shape and
// keeps the fastest. Choices persist per adapter in a JSON file, so a new adapter tunes itself once
// and later processes start tuned. Forced variants (setMatmulVariant, setConvVariant, ...) win over
// the tuner; every candidate is one the gradient-check suite runs.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { gpu, onRelease } from './device.js';
import { sync, startProfile, stopProfile, profiling } from './dispatch.js';

/** Runs the op once with `variant` (records GPU work); `dispose` frees the inputs it made. */
export interface Trial {
  run(variant: string): void;
  dispose(): void;
}

interface Pending {
  op: string;
  key: string;
  candidates: readonly string[];
  makeTrial: () => Trial;
}

let choices: Map<string, string> | null = null;
const pending = new Map<string, Pending>();
let loadedFrom: string | null = null;

/** A choice's cache key: the op, the shape and the candidates it was chosen from (new ones re-tune the shape). */
const slot = (op: string, key: string, candidates: readonly string[]): string => `${op}|${key}|${candidates.join(',')}`;
/** Part of the cache file's name: bump when kernels change enough that old choices should be re-measured. */
// 2: the conv2d weight-gradient candidates on lavapipe changed (weight_sgv, weight_sgr).
// 3: forward_sgr with 12-column blocks (sgr12) joined the conv2d forward candidates.
// 5: forward_thin joined the conv2d forward candidates (4: briefly the 16-channel forward_sgr forms, reverted).
// 6: forward_gemm's 32-channel tile (gemm32) joined the hardware conv2d forward candidates.
// 7: forward_rows variants for GPUs (rows_split, rows_pf, rows_split_pf; whole rows up to 12 wide).
// 8: Winograd F(2x2, 3x3) (wino) joined the conv2d forward candidates; bmm shapes are tuned.
// 9: candidates are timed in interleaved rounds (timeCandidates), on hardware by GPU timestamps: choices timed
//    back to back by the wall clock are re-measured.
// 10: a choice is cached with the candidates it was chosen from, so a shape whose candidate list changes
//     (a new kernel, such as forward_few for up to 4 output channels) is re-tuned, and only that shape.
// 11: matmul_sgt with several batch items per workgroup (subgroup_square_i4, _i2) made the Winograd
//     weight gradients of few channels 2.4x faster on lavapipe; a conv2d choice made when its Winograd
//     candidate ran the slower GEMM does not see that (its own candidate list is unchanged), so every
//     choice is re-measured once.
const TUNE_VERSION = 11;

function enabled(): boolean {
  return process.env['FER_TUNE'] !== '0';
}

/** The cache file for this adapter: $FER_TUNE_CACHE, else $XDG_CACHE_HOME or ~/.cache, /fer-webgpu/. */
export function tuneCachePath(): string {
  const info = gpu().info;
  const id = `v${TUNE_VERSION}|${info.vendor}|${info.architecture}|${info.device}|${info.description}|${info.backend}|${JSON.stringify(info.subgroups)}`;
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 16);
  const dir = process.env['FER_TUNE_CACHE'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'fer-webgpu');
  return join(dir, `tune-${hash}.json`);
}

interface CacheFile {
  adapter: string;
  /** "op|shape|candidate,candidate,..." -> variant */
  choices: Record<string, string>;
}

function load(): Map<string, string> {
  if (choices) return choices;
  choices = new Map();
  if (!enabled()) return choices;
  const file = tuneCachePath();
  loadedFrom = file;
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as CacheFile;
    for (const [k, v] of Object.entries(data.choices ?? {})) if (typeof v === 'string') choices.set(k, v);
  } catch {
    // No cache yet (or unreadable): start empty; autotune() writes a fresh one.
  }
  return choices;
}

function save(): void {
  if (!choices || !enabled()) return;
  const file = tuneCachePath();
  const info = gpu().info;
  const data: CacheFile = { adapter: `${info.vendor} ${info.device || info.architecture} (${info.backend})`, choices: Object.fromEntries(choices) };
  try {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(data, null, 1));
    renameSync(tmp, file);
  } catch (e) {
    // A read-only home must not stop training: the choices still hold for this process.
    process.emitWarning(`fer-webgpu: could not write the tuning cache ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * The variant to run for `op` on the shape `key`: the choice tuned among these same candidates if
 * there is one, else `fallback`, queueing the shape for autotune() when there is a real choice.
 */
export function choose(op: string, key: string, candidates: readonly string[], fallback: string, makeTrial: () => Trial): string {
  if (candidates.length < 2) return candidates[0] ?? fallback;
  const s = slot(op, key, candidates);
  const hit = load().get(s);
  if (hit !== undefined) return hit;
  if (enabled() && !pending.has(s)) pending.set(s, { op, key, candidates, makeTrial });
  return fallback;
}

export interface TuneResult {
  op: string;
  key: string;
  /** What it was chosen from. */
  candidates: readonly string[];
  /** Best-run ms per candidate. */
  timings: Record<string, number>;
  chosen: string;
}

/**
 * Times every candidate of every queued shape and stores the fastest, in memory and in the adapter's
 * cache file. Each candidate first runs once untimed (compiling its pipelines; a candidate made of
 * other tunable ops tunes those then), and then all are timed by timeCandidates.
 */
export async function autotune(options: { runs?: number; log?: (line: string) => void } = {}): Promise<TuneResult[]> {
  const results: TuneResult[] = [];
  const queue = [...pending.values()];
  pending.clear();
  if (queue.length === 0) return results;
  const map = load();
  for (const p of queue) {
    const trial = p.makeTrial();
    let timings: Record<string, number>;
    try {
      for (const v of p.candidates) {
        trial.run(v);
        await sync();
        // A candidate made of other tunable ops (conv2d's Winograd path runs a bmm) queued their
        // shapes in this warm-up: tune those first, so the candidate is timed with its parts' best.
        if (pending.size > 0) results.push(...(await autotune(options)));
      }
      timings = await timeCandidates(trial, p.candidates, { runs: options.runs });
    } finally {
      trial.dispose();
    }
    const chosen = Object.entries(timings).sort((a, b) => a[1] - b[1])[0]![0];
    map.set(slot(p.op, p.key, p.candidates), chosen);
    results.push({ op: p.op, key: p.key, candidates: p.candidates, timings, chosen });
    options.log?.(`tuned ${p.op} ${p.key}: ${chosen} (${Object.entries(timings).map(([v, t]) => `${v} ${t.toFixed(1)} ms`).join(', ')})`);
  }
  save();
  return results;
}

/** Least time one sample spans: shorter trials repeat within it, so one sync's fixed cost weighs little. */
const MIN_SAMPLE_MS = 2;
const MAX_REPEATS = 16;
/** Timing budget per candidate (ms), spent in rounds after the first `runs`. */
const BUDGET_MS = 150;
const MAX_ROUNDS = 10;

/**
 * What a sample measures: 'gpu', the GPU time of the trial's dispatches (timestamp queries, as
 * bench/profile.ts; the few microseconds between dispatches are not counted); 'wall', the host's
 * time from recording to the end of the GPU's work.
 */
export type TuneTimer = 'wall' | 'gpu';

/**
 * The timer for this adapter: GPU timestamps on hardware adapters that have them (the wall clock
 * adds the submit and the completion callback to every sample, ~0.1-2 ms on the H200, of the order
 * of the kernels it compares), else the wall clock (on lavapipe the host runs the kernels, so its
 * time is theirs). Inside a running profile (which owns the timestamp queries), the wall clock.
 */
export function defaultTuneTimer(): TuneTimer {
  const { device, info } = gpu();
  return !info.software && device.features.has('timestamp-query') && !profiling() ? 'gpu' : 'wall';
}

/**
 * Best time per run (ms) of each candidate of a warmed-up trial. Candidates are timed in rounds, one
 * sample of each per round in a rotating order, rather than each one's samples back to back: a
 * passing disturbance (a clock change, other work on the device or the host) then costs every
 * candidate a sample instead of deciding the choice. On an H200 the back-to-back wall-clock form timed
 * the same kernel at 0.7 ms in one session and 2.2-2.5 ms in the next, and the seed-cnn step it tuned
 * ran at 10-11 ms against 8 ms. A sample runs a short trial several times (up to ~2 ms) before one
 * sync. At least `runs` rounds (default 3), more while the budget (~150 ms per candidate) lasts, at
 * most 10; each candidate is scored by its best sample, since noise only ever adds time. `timer`:
 * defaultTuneTimer(); `clock` (the wall timer's, default performance.now) is for tests.
 */
export async function timeCandidates(
  trial: Trial,
  candidates: readonly string[],
  options: { runs?: number; timer?: TuneTimer; clock?: () => number } = {},
): Promise<Record<string, number>> {
  const runs = options.runs ?? 3;
  const timer = options.timer ?? defaultTuneTimer();
  const clock = options.clock ?? (() => performance.now());
  const sample = async (v: string, n: number): Promise<number> => {
    if (timer === 'gpu') {
      startProfile();
      for (let k = 0; k < n; k++) trial.run(v);
      return (await stopProfile()).reduce((ms, k) => ms + k.ms, 0);
    }
    const t0 = clock();
    for (let k = 0; k < n; k++) trial.run(v);
    await sync();
    return clock() - t0;
  };
  const best = new Map<string, number>(candidates.map((v) => [v, Infinity]));
  const repeats = new Map<string, number>(candidates.map((v) => [v, 1]));
  const budget = BUDGET_MS * candidates.length;
  let spent = 0;
  for (let round = 0; round < Math.max(runs, MAX_ROUNDS) && (round < runs || spent < budget); round++) {
    for (let i = 0; i < candidates.length; i++) {
      const v = candidates[(i + round) % candidates.length]!;
      const n = repeats.get(v)!;
      const t = await sample(v, n);
      spent += t;
      best.set(v, Math.min(best.get(v)!, t / n));
      if (round === 0) repeats.set(v, Math.min(MAX_REPEATS, Math.max(1, Math.ceil(MIN_SAMPLE_MS / Math.max(t, 1e-3)))));
    }
  }
  return Object.fromEntries(best);
}

/** Shapes waiting for autotune(). */
export function pendingTunes(): number {
  return pending.size;
}

/** The tuned choices in memory (op|shape -> variant) and the file they were read from. */
export function tuneState(): { choices: Record<string, string>; file: string | null } {
  return { choices: Object.fromEntries(load()), file: loadedFrom };
}

/** Forgets all choices in memory (the file stays); the next choose() reads the file again. */
export function resetTuning(): void {
  choices = null;
  pending.clear();
  loadedFrom = null;
}

onRelease(resetTuning);
