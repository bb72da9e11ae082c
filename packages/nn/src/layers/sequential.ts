// Sequential: applies children in order. Children are named '0', '1', ... or, given one record,
// by its keys (as PyTorch's Sequential(OrderedDict(...))).
import type { Shape, Tensor } from '@fer/tensor';
import { Module } from '../module.js';
import { BatchNorm } from './batchnorm.js';
import { Conv2d } from './conv2d.js';
import { ReLU } from './activation.js';

let fuse = true;
/** Turns the BatchNorm + ReLU and Conv2d + ReLU fusions of Sequential.forward on or off (on by default; tests compare both). */
export function setLayerFusion(on: boolean): void {
  fuse = on;
}

export class Sequential extends Module {
  constructor(...layers: Module[] | [Record<string, Module>]) {
    super();
    const first = layers[0];
    if (layers.length === 1 && first && !(first instanceof Module)) {
      for (const [name, m] of Object.entries(first)) this.registerModule(name, m);
    } else {
      (layers as Module[]).forEach((m, i) => this.registerModule(String(i), m));
    }
  }

  /** Children in order. */
  get layers(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /**
   * A BatchNorm or Conv2d directly followed by a ReLU runs as one kernel with the ReLU fused into its
   * epilogue (forwardRelu); same result, one read and write of the activations fewer.
   */
  forward(x: Tensor): Tensor {
    let y = x;
    const layers = this.layers;
    for (let i = 0; i < layers.length; i++) {
      const m = layers[i]!;
      if (fuse && (m instanceof BatchNorm || m instanceof Conv2d) && layers[i + 1] instanceof ReLU) {
        y = m.forwardRelu(y);
        i++;
      } else y = m.forward(y);
    }
    return y;
  }

  override outputShape(inShape: Shape): Shape {
    let s = inShape;
    for (const m of this.layers) s = m.outputShape(s);
    return s;
  }

  override flops(inShape: Shape): number {
    let s = inShape;
    let f = 0;
    for (const m of this.layers) {
      f += m.flops(s);
      s = m.outputShape(s);
    }
    return f;
  }
}
