import { useGpu } from '../setup-gpu.js';
import { kernelSetSuite, kernelSetsOf } from './conv2d-suite.js';

useGpu();

// The subgroup kernel sets (8-lane subgroups: lavapipe; skipped where the adapter has none) but
// those for few channels, which are in conv2d-few-channels.test.ts (a file each, so that the two
// run on parallel workers).
for (const name of kernelSetsOf('subgroup')) kernelSetSuite(name);
