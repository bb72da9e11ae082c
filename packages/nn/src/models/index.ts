// Model registry: createModel(name) for the CLI and checkpoints (the name is saved with the weights).
import type { Sequential } from '../layers/sequential.js';
import { seedCnn } from './seed-cnn.js';
import { fastCnn } from './fast-cnn.js';
import type { ModelOptions } from './common.js';

export { seedCnn, fastCnn };
export type { ModelOptions };

const MODELS = {
  'seed-cnn': seedCnn,
  fast: fastCnn,
} as const;

export type ModelName = keyof typeof MODELS;
export const MODEL_NAMES = Object.keys(MODELS) as ModelName[];

export function createModel(name: ModelName | string, options: ModelOptions = {}): Sequential {
  if (!Object.prototype.hasOwnProperty.call(MODELS, name))
    throw new Error(`unknown model '${name}'; valid names: ${MODEL_NAMES.join(', ')}`);
  return MODELS[name as ModelName](options);
}
