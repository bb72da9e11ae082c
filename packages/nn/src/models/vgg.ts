// A VGG-style network for FER2013, after the VGGNet variant of Khaireddin & Chen (2021), the best
// published single network without extra data (73.28% PrivateTest):
//   4 stages x [2 x (Conv 3x3 same + BN + ReLU), MaxPool 2x2, Dropout 0.2], widths 64, 128, 256, 512
//   Flatten (512 x 3 x 3 = 4608), Linear 512 + BN + ReLU + Dropout 0.5, Linear 7.
// The paper's head is two 4096-wide layers (~36 M parameters); a 512-wide head keeps the shipped
// weights near seed-cnn's size (7.05 M parameters) and costs ~0.94 GFLOPs per 48x48 image (1.4x
// seed-cnn). BN as in the other models (Keras defaults: momentum 0.99, eps 1e-3).
import { Conv2d } from '../layers/conv2d.js';
import { BatchNorm1d, BatchNorm2d } from '../layers/batchnorm.js';
import { ReLU, Flatten } from '../layers/activation.js';
import { MaxPool2d } from '../layers/pool.js';
import { Dropout } from '../layers/dropout.js';
import { Linear } from '../layers/linear.js';
import { Sequential } from '../layers/sequential.js';
import type { Module } from '../module.js';
import { modelRngs, checkSize, type ModelOptions } from './common.js';

const BN = { momentum: 0.01, eps: 1e-3 };
const WIDTHS = [64, 128, 256, 512] as const;

export function vggNet(options: ModelOptions = {}): Sequential {
  const { inChannels, numClasses, spatial } = checkSize('vgg', options, WIDTHS.length);
  const rngs = modelRngs(options.seed);
  const init = { init: options.init, rng: rngs.init };
  const features: Module[] = [];
  let c = inChannels;
  for (const out of WIDTHS) {
    for (let k = 0; k < 2; k++) {
      features.push(new Conv2d(c, out, 3, { padding: 'same', ...init }), new BatchNorm2d(out, BN), new ReLU());
      c = out;
    }
    features.push(new MaxPool2d(2), new Dropout(0.2, { rng: rngs.dropout }));
  }
  const classifier: Module[] = [
    new Linear(c * spatial * spatial, 512, init),
    new BatchNorm1d(512, BN),
    new ReLU(),
    new Dropout(0.5, { rng: rngs.dropout }),
    new Linear(512, numClasses, init),
  ];
  return new Sequential({ features: new Sequential(...features), flatten: new Flatten(), classifier: new Sequential(...classifier) }).labelTensors();
}
