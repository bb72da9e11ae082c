import { useGpu } from '../setup-gpu.js';
import { kernelSetSuite } from './conv2d-suite.js';

useGpu();

// The subgroup kernel sets (8-lane subgroups: lavapipe; skipped where the adapter has none) but
// those for few channels, which are in conv2d-few-channels.test.ts (a file each, so that the two
// run on parallel workers).
for (const name of [
  'sg2 forward, sgv4 weight (vec4 loads, 4-pixel blocks)',
  'sg3 forward, sgv8 weight (vec4 loads, 8-pixel blocks)',
  'sg4 forward, sgr weight (sliding rows, blocks of up to 8 columns)',
  'sg2x2 forward (two rows per lane), sgr4 weight (blocks of up to 4 columns)',
  'sgr forward (3 or 4 rows x blocks of up to 8 columns per lane), sgv4 weight',
  'sgr4 forward (blocks of up to 4 columns), sgr weight',
  'sgr12 forward (blocks of up to 12 columns, 3 or 4 rows), sgr4 weight',
  'default subgroup kernels',
] as const)
  kernelSetSuite(name);
