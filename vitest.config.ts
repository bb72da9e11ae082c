import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      '@fer/tensor': src('./packages/tensor/src/index.ts'),
      '@fer/nn': src('./packages/nn/src/index.ts'),
      '@fer/fer': src('./packages/fer/src/index.ts'),
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // One GPU device per worker. Two workers: lavapipe runs a process's dispatches on all cores, but
    // compiles each new pipeline on one, and on a cold shader cache (a fresh machine) compiling is
    // most of the gradient-check suites' time.
    maxWorkers: 2,
    testTimeout: 120_000,
    // Kernels are the forced ones of each suite or the defaults: no timing-dependent choices in tests
    // (the tuner's own test turns it on with a temporary cache).
    env: { FER_TUNE: '0' },
    hookTimeout: 60_000,
  },
});
