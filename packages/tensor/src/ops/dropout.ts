// Inverted dropout, forward and backward. WGSL: dropout.wgsl, entry points `main` and `main4` (vec4s,
// for sizes divisible by 4); MODE 0 applies the mask, MODE 1 writes the mask itself for inspection.
import { dispatch, f32bits, kernelFor, laneRuns, type Kernel } from '../dispatch.js';
import { Tensor, checkInputs, empty, type Shape } from '../tensor.js';
import { record } from '../autograd.js';

export interface DropoutOptions {
  /** False (evaluation) makes dropout the identity. */
  training: boolean;
  /** Selects the mask: the same seed gives the same mask for the same element positions. Taken mod 2^32. */
  seed: number;
}

// main: 4 elements per invocation; main4 (sizes divisible by 4): 4 vec4s per invocation.
// main4 gives each lane a run of 4 consecutive vec4s where laneRuns() says so (CPU adapters).
const kernel = (entry: 'main' | 'main4', mode: 0 | 1): Kernel =>
  kernelFor('dropout', entry, ['read', 'rw'], entry === 'main4' ? { MODE: mode, LANE_RUNS: laneRuns() ? 1 : 0 } : { MODE: mode });
const APPLY = { main: () => kernel('main', 0), main4: () => kernel('main4', 0) };
const MASK = { main: () => kernel('main', 1), main4: () => kernel('main4', 1) };
const PER_GROUP = 256; // 64 invocations x 4 elements (main) or 4 vec4s (main4)

function checkArgs(op: string, p: number, seed: number): void {
  if (typeof p !== 'number' || !(p >= 0 && p < 1)) throw new Error(`${op}: p must be in [0, 1), got ${String(p)}`);
  if (!Number.isSafeInteger(seed)) throw new Error(`${op}: seed must be an integer, got ${String(seed)}`);
}

function run<S extends Shape>(k: { main: () => Kernel; main4: () => Kernel }, input: Tensor, shape: S, p: number, seed: number): Tensor<S> {
  const out = empty(shape);
  const n = out.size;
  const vec4 = n % 4 === 0;
  if (n) dispatch(vec4 ? k.main4() : k.main(), [input.buffer, out.buffer], [n, seed >>> 0, f32bits(p), f32bits(1 / (1 - p))], Math.ceil((vec4 ? n / 4 : n) / PER_GROUP));
  return out;
}

/**
 * Inverted dropout: in training, each element is zeroed with probability p and the kept ones are
 * scaled by 1 / (1 - p), so the expected value is unchanged. The mask is uniform01(seed, index)
 * >= p (counter-based: deterministic for a seed, regenerated in backward, nothing stored).
 * In evaluation (training false) or with p = 0 it returns x itself (no copy, no tape entry).
 */
export function dropout<S extends Shape>(x: Tensor<S>, p: number, options: DropoutOptions): Tensor<S> {
  checkInputs('dropout', [x], 'f32');
  if (!options || typeof options.training !== 'boolean')
    throw new Error('dropout: options { training: boolean, seed: number } are required');
  checkArgs('dropout', p, options.seed);
  if (!options.training || p === 0) return x;
  const seed = options.seed;
  const out = run(APPLY, x, x.shape, p, seed);
  return record(out, 'dropout', [x], (g) => [run(APPLY, g, x.shape, p, seed)]);
}

/** The multiplier dropout(x, p, { training: true, seed }) applies per element: 0 or 1 / (1 - p). */
export function dropoutMask<S extends Shape>(shape: S, p: number, seed: number): Tensor<S> {
  checkArgs('dropoutMask', p, seed);
  const dummy = empty([1] as const); // binding 0 is not read in MODE 1
  const out = run(MASK, dummy, shape, p, seed);
  dummy.dispose();
  return out;
}
