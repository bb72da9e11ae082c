// VGG-style networks for FER2013: stages of 3x3 "same" convolutions (each + BN + ReLU), each stage
// closed by MaxPool 2x2 and optional Dropout, then Flatten, Linear + BN + ReLU + Dropout 0.5, Linear.
//
// vgg: after the VGGNet variant of Khaireddin & Chen (2021), the best published single network
//   without extra data (73.28% PrivateTest): 4 stages x 2 convs, widths 64, 128, 256, 512, Dropout 0.2
//   after each stage, Flatten (512 x 3 x 3 = 4608), Linear 512. The paper's head is two 4096-wide
//   layers (~36 M parameters); a 512-wide head keeps the shipped weights near seed-cnn's size
//   (7.05 M parameters) and costs ~0.94 GFLOPs per 48x48 image (1.4x seed-cnn).
// vgg-lite: the CPU recipe's model. One conv per stage where the maps are large (32 at 48x48, 64 at
//   24x24), two at 12x12 (128, 128), one at 6x6 (256), Dropout 0.2 after the last two stages, Flatten
//   (256 x 3 x 3 = 2304), Linear 256: 1.13 M parameters, ~107 MFLOPs per image (2.3x fast, 1/9 of
//   vgg). The depth goes where it is cheap (12x12 and 6x6) because deeper nets learn FER2013's
//   expressions much better than shallow ones, and full-resolution convs are what costs on a CPU.
// resvgg: vgg's stages and head with residual blocks (He et al. 2016's basic block: conv-BN-ReLU-
//   conv-BN, the input added, ReLU): each stage one conv to its width (64, 128, 256, 512), then one
//   block at that width, so 12 convs where vgg has 8 and every conv still a 3x3 'same' of stride 1
//   (the kernels and Winograd transforms vgg uses); pooling stays max-pool. 10.2 M parameters,
//   ~1.62 GFLOPs per image (1.7x vgg). A second architecture to train beside vgg, and to ensemble
//   with it: networks that differ err differently.
// BN as in the other models (Keras defaults: momentum 0.99, eps 1e-3).
import { Conv2d } from '../layers/conv2d.js';
import { BatchNorm1d, BatchNorm2d } from '../layers/batchnorm.js';
import { ReLU, Flatten } from '../layers/activation.js';
import { MaxPool2d } from '../layers/pool.js';
import { Dropout } from '../layers/dropout.js';
import { Linear } from '../layers/linear.js';
import { Sequential } from '../layers/sequential.js';
import { Residual } from '../layers/residual.js';
import type { Module } from '../module.js';
import { modelRngs, checkSize, type ModelOptions } from './common.js';

const BN = { momentum: 0.01, eps: 1e-3 };

export interface VggStage {
  /** Output channels of each conv of the stage. */
  widths: readonly number[];
  /** Dropout after the stage's pooling; 0 = none. */
  dropout: number;
  /** Residual basic blocks after the stage's convs, at its last width (default 0). */
  blocks?: number;
}

export interface VggSpec {
  stages: readonly VggStage[];
  /** Width of the hidden dense layer. */
  head: number;
}

export const VGG_SPEC: VggSpec = {
  stages: [64, 128, 256, 512].map((w) => ({ widths: [w, w], dropout: 0.2 })),
  head: 512,
};

export const RESVGG_SPEC: VggSpec = {
  stages: [64, 128, 256, 512].map((w) => ({ widths: [w], blocks: 1, dropout: 0.2 })),
  head: 512,
};

export const VGG_LITE_SPEC: VggSpec = {
  stages: [
    { widths: [32], dropout: 0 },
    { widths: [64], dropout: 0 },
    { widths: [128, 128], dropout: 0.2 },
    { widths: [256], dropout: 0.2 },
  ],
  head: 256,
};

/** Builds a VGG-style network from a spec (`name` labels its errors). */
export function vggStyle(name: string, spec: VggSpec, options: ModelOptions = {}): Sequential {
  const { inChannels, numClasses, spatial } = checkSize(name, options, spec.stages.length);
  const rngs = modelRngs(options.seed);
  const init = { init: options.init, rng: rngs.init };
  const features: Module[] = [];
  let c = inChannels;
  for (const stage of spec.stages) {
    for (const out of stage.widths) {
      features.push(new Conv2d(c, out, 3, { padding: 'same', ...init }), new BatchNorm2d(out, BN), new ReLU());
      c = out;
    }
    for (let b = 0; b < (stage.blocks ?? 0); b++) {
      const body = new Sequential(
        new Conv2d(c, c, 3, { padding: 'same', ...init }), new BatchNorm2d(c, BN), new ReLU(),
        new Conv2d(c, c, 3, { padding: 'same', ...init }), new BatchNorm2d(c, BN),
      );
      features.push(new Residual(body));
    }
    features.push(new MaxPool2d(2));
    if (stage.dropout > 0) features.push(new Dropout(stage.dropout, { rng: rngs.dropout }));
  }
  const classifier: Module[] = [
    new Linear(c * spatial * spatial, spec.head, init),
    new BatchNorm1d(spec.head, BN),
    new ReLU(),
    new Dropout(0.5, { rng: rngs.dropout }),
    new Linear(spec.head, numClasses, init),
  ];
  return new Sequential({ features: new Sequential(...features), flatten: new Flatten(), classifier: new Sequential(...classifier) }).labelTensors();
}

export function vggNet(options: ModelOptions = {}): Sequential {
  return vggStyle('vgg', VGG_SPEC, options);
}

export function resVgg(options: ModelOptions = {}): Sequential {
  return vggStyle('resvgg', RESVGG_SPEC, options);
}

export function vggLite(options: ModelOptions = {}): Sequential {
  return vggStyle('vgg-lite', VGG_LITE_SPEC, options);
}
