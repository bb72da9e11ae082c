// Dropout with a reproducible mask stream: each training forward draws a fresh seed from an Rng
// that a model shares among its Dropout layers (seeded by the model seed); evaluation draws none,
// so how often one validates does not change the training masks. The Rng state is checkpointed
// with getDropoutRngState / setDropoutRngState so a resumed run continues the same stream.
import { dropout, rngFrom, Rng, type Shape, type Tensor } from '@fer/tensor';
import { Module } from '../module.js';

export interface DropoutLayerOptions {
  /** The seed source, shared by a model's Dropout layers (advanced one draw per training forward); or a seed; default the global stream (manualSeed). */
  rng?: Rng | number;
}

export class Dropout extends Module {
  readonly rng: Rng;

  constructor(readonly p: number, options: DropoutLayerOptions = {}) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
    this.rng = rngFrom(options.rng);
  }

  forward<S extends Shape>(x: Tensor<S>): Tensor<S> {
    const active = this.training && this.p > 0;
    return dropout(x, this.p, { training: active, seed: active ? this.rng.nextU32() : 0 });
  }

  override outputShape(inShape: Shape): Shape {
    return inShape;
  }
}

/** The distinct Rngs of a module's Dropout layers, in module order (usually one per model). */
export function dropoutRngs(model: Module): Rng[] {
  const seen: Rng[] = [];
  for (const [, m] of model.namedModules()) if (m instanceof Dropout && !seen.includes(m.rng)) seen.push(m.rng);
  return seen;
}

/** The state of each dropout Rng (JSON-safe), for a checkpoint. */
export function getDropoutRngState(model: Module): number[][] {
  return dropoutRngs(model).map((r) => r.getState());
}

/** Restores what getDropoutRngState returned, so the next training forwards draw the same masks. */
export function setDropoutRngState(model: Module, state: readonly (readonly number[])[]): void {
  const rngs = dropoutRngs(model);
  if (!Array.isArray(state) || state.length !== rngs.length)
    throw new Error(`setDropoutRngState: the model has ${rngs.length} dropout Rng(s), the state has ${Array.isArray(state) ? state.length : 'none'}`);
  rngs.forEach((r, i) => r.setState(state[i]!));
}
