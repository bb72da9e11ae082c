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
    // One GPU device per worker; lavapipe shares the 2 cores anyway.
    maxWorkers: 1,
    testTimeout: 120_000,
    // Kernels are the forced ones of each suite or the defaults: no timing-dependent choices in tests
    // (the tuner's own test turns it on with a temporary cache).
    env: { FER_TUNE: '0' },
    hookTimeout: 60_000,
  },
});
