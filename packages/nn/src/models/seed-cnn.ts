// The reference Keras CNN for FER2013 (48x48 grayscale, 7 classes), layer for layer:
//   Conv 32 3x3 same + ReLU
//   4 x [Conv (64 3x3, 128 5x5, 512 3x3, 512 3x3; same) + BN + ReLU + MaxPool 2x2 + Dropout 0.25]
//   Flatten (512 x 3 x 3 = 4608)
//   2 x [Linear (256, 512) + BN + ReLU + Dropout 0.25]
//   Linear 7 (logits; the softmax is in the loss)
// 4,496,903 parameters, 3,968 of them non-trainable (BN running statistics). BN uses Keras' defaults
// (momentum 0.99, i.e. 0.01 in PyTorch's convention; eps 1e-3).
import { Conv2d } from '../layers/conv2d.js';
import { BatchNorm1d, BatchNorm2d } from '../layers/batchnorm.js';
import { ReLU, Flatten } from '../layers/activation.js';
import { MaxPool2d } from '../layers/pool.js';
import { Dropout } from '../layers/dropout.js';
import { Linear } from '../layers/linear.js';
import { Sequential } from '../layers/sequential.js';
import type { Module } from '../module.js';
import { modelRngs, checkSize, type ModelOptions } from './common.js';

const KERAS_BN = { momentum: 0.01, eps: 1e-3 };

export function seedCnn(options: ModelOptions = {}): Sequential {
  const { inChannels, numClasses, spatial } = checkSize('seed-cnn', options, 4);
  const rngs = modelRngs(options.seed);
  const init = { init: options.init, rng: rngs.init };
  const drop = () => new Dropout(0.25, { rng: rngs.dropout });
  const features: Module[] = [new Conv2d(inChannels, 32, 3, { padding: 'same', ...init }), new ReLU()];
  let c = 32;
  for (const [out, k] of [[64, 3], [128, 5], [512, 3], [512, 3]] as const) {
    features.push(new Conv2d(c, out, k, { padding: 'same', ...init }), new BatchNorm2d(out, KERAS_BN), new ReLU(), new MaxPool2d(2), drop());
    c = out;
  }
  const classifier: Module[] = [];
  let f = c * spatial * spatial;
  for (const out of [256, 512]) {
    classifier.push(new Linear(f, out, init), new BatchNorm1d(out, KERAS_BN), new ReLU(), drop());
    f = out;
  }
  classifier.push(new Linear(f, numClasses, init));
  return new Sequential({ features: new Sequential(...features), flatten: new Flatten(), classifier: new Sequential(...classifier) }).labelTensors();
}
