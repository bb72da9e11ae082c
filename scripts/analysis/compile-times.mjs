// Times the compilation of each pipeline a workload needs, one at a time, with Mesa's shader cache
// off: what a fresh machine (CI) pays on the first dispatch of each.
//
//   FER_KERNEL_LOG=/tmp/k.jsonl npx vitest run test/fer/train.test.ts   # or any workload
//   node scripts/analysis/compile-times.mjs /tmp/k.jsonl [--top 30]
//
// Each pipeline gets one dispatch of one workgroup over zero params and scratch buffers (its loops
// run no iterations); the time to the queue's completion is lavapipe compiling it.
import { readFileSync } from 'node:fs';
import { initDevice, gpu, shaderSource } from '../../packages/tensor/dist/index.js';

if (process.env.MESA_SHADER_CACHE_DISABLE !== 'true') {
  // Set before the driver loads: re-run this script with the cache off.
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, process.argv.slice(1), { stdio: 'inherit', env: { ...process.env, MESA_SHADER_CACHE_DISABLE: 'true' } });
  process.exit(r.status ?? 1);
}
const [file, ...rest] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/analysis/compile-times.mjs KERNEL_LOG.jsonl [--top N]');
  process.exit(2);
}
const top = rest[0] === '--top' ? Number(rest[1]) : 40;
const seen = new Map();
for (const line of readFileSync(file, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const k = JSON.parse(line);
  seen.set(`${k.shader}:${k.entry}:${k.bindings.join(',')}:${JSON.stringify(k.constants)}`, k);
}
await initDevice();
const { device } = gpu();
const modules = new Map();
const uniform = device.createBuffer({ size: 256, usage: GPUBufferUsage.UNIFORM });
const times = [];
const wall = performance.now();
for (const k of seen.values()) {
  let module = modules.get(k.shader);
  if (!module) modules.set(k.shader, (module = device.createShaderModule({ code: shaderSource(k.shader) })));
  const entries = k.bindings.map((a, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: a === 'read' ? 'read-only-storage' : 'storage' } }));
  entries.push({ binding: k.bindings.length, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
  const layout = device.createBindGroupLayout({ entries });
  device.pushErrorScope('validation');
  const t = performance.now();
  const pipeline = device.createComputePipeline({ layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module, entryPoint: k.entry, constants: k.constants } });
  const createMs = performance.now() - t;
  // Read-only and writable bindings of one buffer in one dispatch are a usage conflict: one scratch
  // buffer per binding.
  const bufs = k.bindings.map(() => device.createBuffer({ size: 1 << 20, usage: GPUBufferUsage.STORAGE }));
  const group = device.createBindGroup({ layout, entries: [...bufs.map((buffer, binding) => ({ binding, resource: { buffer } })), { binding: k.bindings.length, resource: { buffer: uniform } }] });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(1);
  pass.end();
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
  const ms = performance.now() - t;
  const err = await device.popErrorScope();
  for (const b of bufs) b.destroy();
  times.push({ ms, createMs, k, err: err?.message });
}
times.sort((a, b) => b.ms - a.ms);
const total = times.reduce((s, x) => s + x.ms, 0);
console.log(`${times.length} pipelines, ${(total / 1000).toFixed(1)} s compiling (wall ${((performance.now() - wall) / 1000).toFixed(1)} s)`);
const byShader = new Map();
for (const x of times) {
  const s = byShader.get(x.k.shader) ?? { n: 0, ms: 0 };
  s.n++;
  s.ms += x.ms;
  byShader.set(x.k.shader, s);
}
console.log('\nby shader file:');
for (const [name, s] of [...byShader].sort((a, b) => b[1].ms - a[1].ms)) console.log(`${(s.ms / 1000).toFixed(1).padStart(7)} s ${String(s.n).padStart(4)}  ${name}`);
console.log(`\nslowest ${Math.min(top, times.length)}:`);
for (const x of times.slice(0, top)) console.log(`${x.ms.toFixed(0).padStart(7)} ms (${x.createMs.toFixed(0).padStart(5)} creating)  ${x.k.shader}.${x.k.entry} ${JSON.stringify(x.k.constants)}${x.err ? `  (error: ${x.err})` : ''}`);
