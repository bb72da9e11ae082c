// @fer/fer: the FER2013 application layer (data, training loop, metrics, plots).
export * from './data/classes.js';
export * from './data/reader.js';
export * from './data/augment.js';
export * from './data/mix.js';
export * from './data/batches.js';
export * from './data/distill.js';
export * from './probs.js';
export * from './metrics.js';
export * from './plots/plots.js';
export * from './checkpoint.js';
export * from './shipped.js';
export * from './presets.js';
export { train, evaluate, evalBatchFor, DEFAULT_CONFIG, describeRecipe, TrainingError, TTA_MODES, TTA_VIEW_COUNT, TENCROP_SHIFT, ttaViews, shiftFaces, flipRows } from './train.js';
export type { TrainConfig, TrainResult, EpochRecord, EvalOutput, EvalOptions, Tta, TrainHooks, OptimizerName, ScheduleName } from './train.js';
export { evaluateEnsemble, mixProbabilities, searchWeights, weightGrid, checkWeightSearch } from './ensemble.js';
export type { EnsembleOutput, WeightedScore, WeightSearchCheck } from './ensemble.js';
