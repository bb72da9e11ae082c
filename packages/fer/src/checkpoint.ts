// Checkpoints: ONE safetensors file holding the model weights (plain module paths, so PyTorch's
// safetensors tools read them), the optimizer's state tensors (`optimizer.<slot>.<i>`), and in its
// metadata the JSON of everything else needed to resume exactly (epoch, RNG states, schedule, log),
// and during stochastic weight averaging the running average of the weights (`swa.<path>`).
// Written atomically by saveSafetensors (temp file + rename): a kill never leaves half a file.
import { existsSync } from 'node:fs';
import { type Tensor } from '@fer/tensor';
import { Module, loadSafetensors, saveSafetensors, toHost, type HostTensor, type Optimizer, type OptimizerState } from '@fer/nn';

export const CHECKPOINT_FORMAT = 'fer-webgpu-checkpoint';
export const CHECKPOINT_VERSION = '1';
const OPT_PREFIX = 'optimizer.';
const SWA_PREFIX = 'swa.';

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export interface CheckpointMeta {
  model: string;
  /** Epochs completed. */
  epoch: number;
  /** JSON-safe training state (config, RNG states, schedule, best metric, ...). */
  state: Record<string, unknown>;
}

export async function saveCheckpoint(file: string, model: Module, meta: CheckpointMeta, optimizer?: Optimizer, swa?: ReadonlyMap<string, Tensor>): Promise<void> {
  const tensors: Record<string, HostTensor> = await toHost(model.stateDict());
  if (swa) Object.assign(tensors, await toHost(Object.fromEntries([...swa].map(([k, t]) => [SWA_PREFIX + k, t]))));
  let optState: Omit<OptimizerState, 'tensors'> | undefined;
  if (optimizer) {
    const { tensors: optTensors, ...rest } = optimizer.stateDict();
    optState = rest;
    const live: Record<string, Tensor> = {};
    const host: Record<string, HostTensor> = {};
    for (const [k, t] of Object.entries(optTensors)) {
      if ('buffer' in (t as object)) live[OPT_PREFIX + k] = t as Tensor;
      else host[OPT_PREFIX + k] = t as HostTensor;
    }
    Object.assign(tensors, await toHost(live), host);
  }
  await saveSafetensors(file, tensors, {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    model: meta.model,
    epoch: String(meta.epoch),
    state: JSON.stringify({ ...meta.state, optimizer: optState ?? null }),
  });
}

export interface LoadedCheckpoint extends CheckpointMeta {
  file: string;
  weights: Record<string, HostTensor>;
  optimizer: OptimizerState | null;
  /** The running weight average of a run with --swa-from (parameter path -> tensor); empty otherwise. */
  swa: Record<string, HostTensor>;
}

/** Reads a checkpoint (or a plain weights file written by saveWeights / PyTorch with a model name). */
export async function readCheckpoint(file: string): Promise<LoadedCheckpoint> {
  if (!existsSync(file)) throw new CheckpointError(`checkpoint ${file} does not exist`);
  let st;
  try {
    st = await loadSafetensors(file);
  } catch (e) {
    throw new CheckpointError(`checkpoint ${file} cannot be read: ${(e as Error).message}`);
  }
  const md = st.metadata;
  const model = md.model;
  if (!model) throw new CheckpointError(`checkpoint ${file} names no model (metadata 'model' missing): not a fer-webgpu checkpoint`);
  let state: Record<string, unknown> = {};
  if (md.state) {
    try {
      state = JSON.parse(md.state) as Record<string, unknown>;
    } catch {
      throw new CheckpointError(`checkpoint ${file}: its metadata 'state' is not valid JSON (corrupt file?)`);
    }
  }
  const weights: Record<string, HostTensor> = {};
  const optTensors: Record<string, HostTensor> = {};
  const swa: Record<string, HostTensor> = {};
  for (const [k, t] of Object.entries(st.tensors)) {
    if (k.startsWith(OPT_PREFIX)) optTensors[k.slice(OPT_PREFIX.length)] = t;
    else if (k.startsWith(SWA_PREFIX)) swa[k.slice(SWA_PREFIX.length)] = t;
    else weights[k] = t;
  }
  const optMeta = state.optimizer as Omit<OptimizerState, 'tensors'> | null | undefined;
  return {
    file,
    model,
    epoch: Number(md.epoch ?? 0),
    state,
    weights,
    optimizer: optMeta ? { ...optMeta, tensors: optTensors } : null,
    swa,
  };
}

/** Loads weights into a model; a checkpoint of another model is an error naming both. */
export function applyWeights(model: Module, modelName: string, ckpt: LoadedCheckpoint): void {
  if (ckpt.model !== modelName)
    throw new CheckpointError(`checkpoint ${ckpt.file} holds a '${ckpt.model}' model, but '${modelName}' was asked for`);
  try {
    model.loadStateDict(ckpt.weights, { strict: true });
  } catch (e) {
    throw new CheckpointError(`checkpoint ${ckpt.file} does not fit model '${modelName}': ${(e as Error).message}`);
  }
}

/** Builds the model a checkpoint names and loads its weights (eval mode). */
export async function loadModel(file: string): Promise<{ model: Module; name: string; ckpt: LoadedCheckpoint }> {
  const ckpt = await readCheckpoint(file);
  const { createModel } = await import('@fer/nn');
  let model: Module;
  try {
    model = createModel(ckpt.model);
  } catch (e) {
    throw new CheckpointError(`checkpoint ${file}: ${(e as Error).message}`);
  }
  applyWeights(model, ckpt.model, ckpt);
  model.eval();
  return { model, name: ckpt.model, ckpt };
}
