import { beforeAll } from 'vitest';
import { initDevice } from '@fer/tensor';

/** Call at the top of a test file that uses the GPU. */
export function useGpu(): void {
  beforeAll(async () => {
    await initDevice();
  });
}
