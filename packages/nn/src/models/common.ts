// Shared by the model factories: options, and the two seeded random streams of a model.
import { Rng } from '@fer/tensor';
import type { Init } from '../layers/init.js';

export interface ModelOptions {
  /** Seeds the weights and the dropout mask stream. Default 0. */
  seed?: number;
  /** Kernel initialiser; default 'glorot-uniform' (Keras' default, as the reference model). */
  init?: Init;
  /** Input channels; default 1 (grayscale). */
  inChannels?: number;
  /** Square input size; default 48 (FER2013). */
  imageSize?: number;
  /** Default 7 (FER2013's emotions). */
  numClasses?: number;
}

/** Independent streams: changing the architecture's init draws does not change the dropout masks. */
export function modelRngs(seed = 0): { init: Rng; dropout: Rng } {
  if (!Number.isInteger(seed)) throw new Error(`model seed must be an integer, got ${seed}`);
  return { init: new Rng(seed), dropout: new Rng((seed ^ 0x6d2b79f5) >>> 0) };
}

export function checkSize(name: string, o: ModelOptions, pools: number): { inChannels: number; imageSize: number; numClasses: number; spatial: number } {
  const inChannels = o.inChannels ?? 1;
  const imageSize = o.imageSize ?? 48;
  const numClasses = o.numClasses ?? 7;
  for (const [k, v] of Object.entries({ inChannels, imageSize, numClasses }))
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${name}: ${k} must be a positive integer, got ${v}`);
  const spatial = Math.floor(imageSize / 2 ** pools);
  if (spatial < 1) throw new Error(`${name}: imageSize ${imageSize} is too small for ${pools} 2x2 poolings`);
  return { inChannels, imageSize, numClasses, spatial };
}
