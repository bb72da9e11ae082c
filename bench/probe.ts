// Prints the adapter WebGPU finds (CI logs it; exit 1 with the fix when there is none).
import { initDevice, describeDevice, releaseDevice, tensor, scale } from '@fer/tensor';

try {
  await initDevice();
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}
console.log(`adapter: ${describeDevice()}`);
const y = scale(tensor([1, 2, 3], [3]), 2);
const v = Array.from(await y.toArray());
if (v.join() !== '2,4,6') {
  console.error(`probe: a scale kernel returned ${v.join()}, expected 2,4,6`);
  process.exit(1);
}
releaseDevice();
