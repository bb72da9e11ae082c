// The model that `pnpm fer:eval` and `pnpm fer:predict` use when no --checkpoint is given.
// models/default.json names it: one or more checkpoint files (several: their ensemble, softmax
// averaged, with optional weights) and the test-time augmentation it was measured with, chosen on PublicTest
// (models/README.md). Without that file: models/fer-best.safetensors, else the default run's best
// checkpoint, without test-time augmentation.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CheckpointError } from './checkpoint.js';
import { UsageError } from './cli/args.js';
import { TTA_MODES, type Tta } from './train.js';
import { ensembleWeights } from './probs.js';

export interface DefaultModel {
  /** Checkpoint files; several form an ensemble. */
  files: string[];
  /** The test-time augmentation the model was measured with; null: none named. */
  tta: Tta | null;
  /** The ensemble's weights, one per file (normalised to sum to 1); null: equal. */
  weights: number[] | null;
  /** Where the choice came from (the manifest, or the first file found). */
  source: string;
}

/** The repository's models/ folder. */
export const MODELS_DIR = new URL('../../../models/', import.meta.url).pathname;

/** Reads `dir`/default.json if present, else falls back to the single shipped file or the default run. */
export function defaultModel(dir = MODELS_DIR): DefaultModel {
  const manifest = join(dir, 'default.json');
  if (existsSync(manifest)) return readManifest(manifest, dir);
  const candidates = [join(dir, 'fer-best.safetensors'), 'runs/latest/best.safetensors'];
  for (const c of candidates) if (existsSync(c)) return { files: [c], tta: null, weights: null, source: c };
  throw new CheckpointError(`no --checkpoint given and none found at ${manifest}, ${candidates.join(' or ')}: train one with pnpm fer:train`);
}

function readManifest(file: string, dir: string): DefaultModel {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const m = json as { checkpoints?: unknown; tta?: unknown; weights?: unknown };
  if (!Array.isArray(m.checkpoints) || m.checkpoints.length === 0 || !m.checkpoints.every((c) => typeof c === 'string' && c.length > 0))
    throw new CheckpointError(`${file}: expected "checkpoints", a non-empty list of file names relative to ${dir}`);
  if (m.tta !== undefined && !TTA_MODES.includes(m.tta as Tta))
    throw new CheckpointError(`${file}: "tta" must be one of ${TTA_MODES.join(', ')}, got ${JSON.stringify(m.tta)}`);
  let weights: number[] | null = null;
  if (m.weights !== undefined) {
    if (!Array.isArray(m.weights) || !m.weights.every((w) => typeof w === 'number'))
      throw new CheckpointError(`${file}: "weights" must be a list of numbers, one per checkpoint, got ${JSON.stringify(m.weights)}`);
    try {
      weights = ensembleWeights(m.checkpoints.length, m.weights as number[], `${file}: "weights"`);
    } catch (e) {
      throw new CheckpointError((e as Error).message);
    }
  }
  const files = (m.checkpoints as string[]).map((c) => resolve(dir, c));
  const missing = files.find((f) => !existsSync(f));
  if (missing) throw new CheckpointError(`${file} names ${missing}, which does not exist`);
  return { files, tta: (m.tta as Tta | undefined) ?? null, weights, source: file };
}

/**
 * What a CLI's --checkpoint, --tta and --weights flags select: the files given (comma-separated: an
 * ensemble), else the default model; the TTA given, else the default model's when it is used, else
 * none; the weights given (comma-separated, one per file), else the default model's when it is
 * used, else equal.
 */
export function selectModel(
  checkpoint: string | undefined,
  tta: Tta | undefined,
  weights?: string,
): { files: string[]; tta: Tta; weights: number[]; shipped: DefaultModel | null } {
  const shipped = checkpoint === undefined ? defaultModel() : null;
  const files = shipped ? shipped.files : checkpoint!.split(',').map((f) => f.trim());
  if (files.some((f) => !f)) throw new UsageError(`--checkpoint: an empty file name in '${checkpoint}' (comma-separated files)`);
  let w: number[];
  if (weights !== undefined) {
    const parts = weights.split(',').map((x) => x.trim());
    const nums = parts.map(Number);
    if (parts.some((x) => x === '') || nums.some((x) => !Number.isFinite(x))) throw new UsageError(`--weights: expected comma-separated numbers, one per checkpoint, got '${weights}'`);
    try {
      w = ensembleWeights(files.length, nums, '--weights');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  } else w = shipped?.weights ?? ensembleWeights(files.length);
  return { files, tta: tta ?? shipped?.tta ?? 'none', weights: w, shipped };
}
