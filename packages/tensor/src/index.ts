export { initDevice, releaseDevice, gpu, gpuInstance, hasDevice, describeDevice, throwDeviceErrors, NO_ADAPTER_HELP, hasSubgroups8, describeSubgroups, pumpPoll, setPumpPoll } from './device.js';
export type { DeviceInfo, Gpu, InitOptions } from './device.js';
export { dispatch, kernelFor, laneRuns, setLaneRuns, flush, sync, fence, grid, f32bits, copyBuffer, upload, readBuffer, trimPool, dispatchStats, shaderSource, startProfile, stopProfile, profiling } from './dispatch.js';
export type { Kernel, KernelTime } from './dispatch.js';
export { memory, sizeClass } from './pool.js';
export type { MemoryStats } from './pool.js';
export { Rng, manualSeed, rngFrom } from './rng.js';
export {
  Tensor, tensor, empty, zeros, ones, full, randUniform, randNormal, heNormal, glorotUniform,
  tidy, keep, shapeSize, fmtShape, checkInputs, checkRank, checkSameShape, positivePair,
} from './tensor.js';
export type { DType, Shape, Shape1, Shape2, Shape3, Shape4, TypedArray, CreateOptions, RandomOptions } from './tensor.js';
export { noGrad, isGradEnabled, needsGrad, record } from './autograd.js';
export type { GradNode } from './autograd.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export * from './ops/conv2d.js';
export { setWinogradChunkBytes, setWinogradTileMajor, type WinogradTile, type WinogradKernel, type WinogradForm } from './ops/winograd.js';
export * from './ops/matmul.js';
export * from './ops/pool.js';
export * from './ops/dropout.js';
export * from './ops/batchnorm.js';
export * from './ops/loss.js';
export * from './ops/optim.js';
export { autotune, timeCandidates, defaultTuneTimer, choose, pendingTunes, tuneState, resetTuning, tuneCachePath } from './tune.js';
export type { Trial, TuneResult, TuneTimer } from './tune.js';
