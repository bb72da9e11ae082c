// Prints the adapter WebGPU finds (CI logs it; exit 1 with the fix when there is none).
import { initDevice, describeDevice, releaseDevice, tensor, scale, gpuInstance } from '@fer/tensor';

try {
  await initDevice();
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}
console.log(`adapter: ${describeDevice()}`);
if (process.argv.includes('--features')) {
  // What the adapter could offer beyond what we ask for (shader-f16, subgroup matrices, ...).
  const adapter = await gpuInstance().requestAdapter({ powerPreference: 'high-performance' });
  console.log(`features: ${[...(adapter?.features ?? [])].sort().join(' ')}`);
  const configs = (adapter?.info as unknown as { subgroupMatrixConfigs?: unknown[] } | undefined)?.subgroupMatrixConfigs;
  if (configs) console.log(`subgroup matrix configs: ${JSON.stringify(configs)}`);
}
const y = scale(tensor([1, 2, 3], [3]), 2);
const v = Array.from(await y.toArray());
if (v.join() !== '2,4,6') {
  console.error(`probe: a scale kernel returned ${v.join()}, expected 2,4,6`);
  process.exit(1);
}
releaseDevice();
