import { useGpu } from '../setup-gpu.js';
import { CASES, kernelSetSuite, kernelSetsOf } from './conv2d-suite.js';

useGpu();

// The subgroup kernels for few channels: forward_thin (up to 4 input channels: a first layer),
// forward_few and forward_few_direct (up to 4 output channels: a first layer's input gradient).
// forward_thin unrolls its input-channel loop into every lane's FR x NP x 8-channel block, so each
// (Cin, KH, KW, NP, FR) it is specialised for takes lavapipe 10-130 s to compile on a cold shader
// cache: all of CASES took 790 s, half of the subgroup suites. Its own code is the loop over input
// channels and the per-lane store of every output channel; the block geometry (row_window, the
// padded windows, partial blocks and row groups) is forward_sgr's, which the sgr sets check on every
// case. So thin runs: every case with 1 input channel (its use: a grayscale first layer; padding 2,
// 12- and 20-wide rows with a partial block), 1x1, 3x3 and 5x5 kernels over 2 and 3 channels, the
// fused ReLU, odd rows, and the 48x48 first layer; and the cases it does not take (stride > 1), which
// fall back.
const THIN = new Set([
  ...CASES.filter((c) => c.x[1] === 1 || (c.stride ?? 1) !== 1).map((c) => c.name),
  '1x1 valid, batch 1',
  '3x3 same, batch 3',
  '3x3 valid',
  '5x5 same, batch 1',
  'fused ReLU equals relu(conv2d) with all gradients: 3x3 same',
  'fused ReLU equals relu(conv2d) with all gradients: 3x3 stride 2 (direct kernel)',
  'grads N=2, 3 -> 11 channels, 7x10, 3x3 same (odd rows)',
  'grads N=8, 1 -> 4 channels, 48x48, 3x3 same (first layer, many weight partials, sum_axis sums)',
  'grads N=8, 1 -> 4 channels, 48x48, 3x3 same (first layer, many weight partials, sum_mid sums)',
]);
for (const name of kernelSetsOf('few channels')) kernelSetSuite(name, name.startsWith('thin') ? THIN : undefined);
