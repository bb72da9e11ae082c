// Model registry: createModel(name) for the CLI and checkpoints (the name is saved with the weights).
import type { Sequential } from '../layers/sequential.js';
import { seedCnn } from './seed-cnn.js';
import { fastCnn } from './fast-cnn.js';
import { vggNet, vggLite, resVgg } from './vgg.js';
import type { ModelOptions } from './common.js';

export { seedCnn, fastCnn, vggNet, vggLite, resVgg };
export type { ModelOptions };

const MODELS: Record<string, (options: ModelOptions) => Sequential> = {
  'seed-cnn': seedCnn,
  fast: fastCnn,
  vgg: vggNet,
  'vgg-lite': vggLite,
  resvgg: resVgg,
};

export type ModelName = 'seed-cnn' | 'fast' | 'vgg' | 'vgg-lite' | 'resvgg';
/** The names createModel accepts (grows with registerModel). */
export const MODEL_NAMES: string[] = Object.keys(MODELS);

/** Adds a model factory under a name, so the training loop, checkpoints and CLIs can build it. */
export function registerModel(name: string, factory: (options: ModelOptions) => Sequential): void {
  if (Object.prototype.hasOwnProperty.call(MODELS, name)) throw new Error(`model '${name}' is already registered`);
  MODELS[name] = factory;
  MODEL_NAMES.push(name);
}

export function createModel(name: ModelName | string, options: ModelOptions = {}): Sequential {
  if (!Object.prototype.hasOwnProperty.call(MODELS, name))
    throw new Error(`unknown model '${name}'; valid names: ${MODEL_NAMES.join(', ')}`);
  return MODELS[name]!(options);
}
