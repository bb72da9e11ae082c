import { describe, it, beforeAll, afterAll } from 'vitest';
import { Rng, add, sub, mul, scale, neg, relu, sum, mean, shapeSize, setLaneRuns } from '@fer/tensor';
import { gradCheck, randomArray } from './harness.js';
import { useGpu } from '../setup-gpu.js';

useGpu();

// Elementwise f32 ops are exact up to one rounding; grads of piecewise-linear ops are exact too.
const FWD = { atol: 1e-6, rtol: 1e-6 };
const GRAD = { atol: 1e-4, rtol: 1e-4 };

// Both layouts of the vec4 kernels on every adapter: lanes interleaved (GPUs) and each lane a run
// of consecutive vec4s (CPU adapters). [4100] is 1025 vec4s: several workgroups and a partial one.
for (const runs of [false, true])
describe(`elementwise gradcheck (${runs ? 'lane runs' : 'lanes interleaved'})`, () => {
  const rng = new Rng(7);
  beforeAll(() => setLaneRuns(runs));
  afterAll(() => setLaneRuns(null));
  for (const shape of [[1], [3, 5], [2, 3, 7, 5], [1000], [4100]] as const) {
    const n = shapeSize(shape);
    const a = () => ({ data: randomArray(n, rng), shape });
    it(`add ${shape}`, () => gradCheck({ name: 'add', inputs: [a(), a()], gpu: ([x, y]) => add(x!, y!), ref: ([x, y]) => x!.map((v, i) => v + y![i]!), forwardTol: FWD, gradTol: GRAD }));
    it(`sub ${shape}`, () => gradCheck({ name: 'sub', inputs: [a(), a()], gpu: ([x, y]) => sub(x!, y!), ref: ([x, y]) => x!.map((v, i) => v - y![i]!), forwardTol: FWD, gradTol: GRAD }));
    it(`mul ${shape}`, () => gradCheck({ name: 'mul', inputs: [a(), a()], gpu: ([x, y]) => mul(x!, y!), ref: ([x, y]) => x!.map((v, i) => v * y![i]!), forwardTol: FWD, gradTol: GRAD }));
    it(`scale ${shape}`, () => gradCheck({ name: 'scale', inputs: [a()], gpu: ([x]) => scale(x!, -2.5, 0.5), ref: ([x]) => x!.map((v) => -2.5 * v + 0.5), forwardTol: FWD, gradTol: GRAD }));
    it(`neg ${shape}`, () => gradCheck({ name: 'neg', inputs: [a()], gpu: ([x]) => neg(x!), ref: ([x]) => x!.map((v) => -v), forwardTol: FWD, gradTol: GRAD }));
    // Inputs kept away from 0, where relu has no derivative and finite differences straddle the kink.
    it(`relu ${shape}`, () => {
      const d = randomArray(n, rng).map((v) => (Math.abs(v) < 0.01 ? v + 0.05 : v));
      return gradCheck({ name: 'relu', inputs: [{ data: d, shape }], gpu: ([x]) => relu(x!), ref: ([x]) => x!.map((v) => Math.max(v, 0)), forwardTol: FWD, gradTol: GRAD });
    });
  }
});

describe('reduce gradcheck', () => {
  const rng = new Rng(8);
  // Summation order differs from the float64 reference: tolerance grows with the length.
  const RED = { atol: 1e-4, rtol: 1e-5 };
  for (const shape of [[1], [7], [3, 300], [2, 5, 3], [4099]] as const) {
    const n = shapeSize(shape);
    const a = () => ({ data: randomArray(n, rng), shape });
    it(`sum all ${shape}`, () => gradCheck({ name: 'sum', inputs: [a()], gpu: ([x]) => sum(x!), ref: ([x]) => Float64Array.of(x!.reduce((s, v) => s + v, 0)), forwardTol: RED, gradTol: GRAD }));
    it(`mean all ${shape}`, () => gradCheck({ name: 'mean', inputs: [a()], gpu: ([x]) => mean(x!), ref: ([x]) => Float64Array.of(x!.reduce((s, v) => s + v, 0) / n), forwardTol: RED, gradTol: GRAD }));
  }
  it('sum and mean over an axis', async () => {
    const shape = [3, 4, 5] as const;
    for (const axis of [0, 1, 2]) {
      const data = randomArray(60, rng);
      const ref = (x: Float64Array, div: boolean) => {
        const outShape = shape.filter((_, i) => i !== axis);
        const out = new Float64Array(outShape.reduce((p, q) => p * q, 1));
        for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) for (let k = 0; k < 5; k++) {
          const idx = [i, j, k];
          const o = idx.filter((_, d) => d !== axis);
          out[o[0]! * outShape[1]! + o[1]!]! += x[(i * 4 + j) * 5 + k]! / (div ? shape[axis]! : 1);
        }
        return out;
      };
      await gradCheck({ name: `sum axis ${axis}`, inputs: [{ data, shape }], gpu: ([x]) => sum(x!, axis), ref: ([x]) => ref(x!, false), forwardTol: RED, gradTol: GRAD });
      await gradCheck({ name: `mean axis ${axis}`, inputs: [{ data, shape }], gpu: ([x]) => mean(x!, axis), ref: ([x]) => ref(x!, true), forwardTol: RED, gradTol: GRAD });
    }
  });
});
