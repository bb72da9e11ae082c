import { afterAll, beforeAll, beforeEach } from 'vitest';
import { initDevice } from '@fer/tensor';

/** Call at the top of a test file that uses the GPU. */
export function useGpu(): void {
  beforeAll(async () => {
    await initDevice();
  });
}

/**
 * Runs the enclosing describe block's tests with one kernel variant forced (`set(variant)` before,
 * `set(null)` after). A variant the adapter cannot run (`available` false) is reported as skipped.
 */
export function withVariant<V>(variant: V, set: (v: V | null) => void, available: () => boolean): void {
  let ok = false;
  beforeAll(async () => {
    await initDevice();
    ok = available();
    if (ok) set(variant);
  });
  beforeEach((ctx) => {
    if (!ok) ctx.skip();
  });
  afterAll(() => {
    if (ok) set(null);
  });
}
