// Seeded weight initialisers shared by Conv2d and Linear.
import { Rng, rngFrom, positivePair, glorotUniform, heNormal, zeros, type Shape, type Tensor } from '@fer/tensor';

/**
 * 'glorot-uniform' (the default) is Keras' default kernel initialiser, so a model matches the
 * reference Keras one; 'he-normal' (std sqrt(2 / fanIn)) suits deep ReLU stacks. Biases start at 0.
 */
export type Init = 'glorot-uniform' | 'he-normal';
export const INITS: readonly Init[] = ['glorot-uniform', 'he-normal'];

export interface InitOptions {
  init?: Init;
  /** Random source for the kernel: an Rng shared by a whole model (advanced), or a seed; default the global stream (manualSeed). */
  rng?: Rng | number;
}

export function initKernel<S extends Shape>(shape: S, fanIn: number, fanOut: number, o: InitOptions): Tensor<S> {
  const init = o.init ?? 'glorot-uniform';
  const rng = rngFrom(o.rng);
  if (init === 'glorot-uniform') return glorotUniform(shape, fanIn, fanOut, { seed: rng });
  if (init === 'he-normal') return heNormal(shape, fanIn, { seed: rng });
  throw new Error(`unknown init '${String(init)}'; valid: ${INITS.join(', ')}`);
}

export function zeroBias(n: number): Tensor<readonly [number]> {
  return zeros([n] as const);
}

/** Normalises a size given as n or [h, w]. */
export const pair = positivePair;

/** Throws unless `shape` has the rank (and channel count at axis 1, when given) a layer needs. */
export function expectShape(layer: string, shape: Shape, rank: number, layout: string, channels?: number): void {
  if (shape.length !== rank) throw new Error(`${layer}: expected an input of rank ${rank} ${layout}, got shape [${shape.join(', ')}]`);
  if (channels !== undefined && shape[1] !== channels)
    throw new Error(`${layer}: expected ${channels} channels at axis 1 of ${layout}, got shape [${shape.join(', ')}]`);
}
