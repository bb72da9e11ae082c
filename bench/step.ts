// Whole training steps (forward + backward + Adam, batch 64) of the FER models: ms/step, images/s.
//   node bench/dist/step.js [--models seed-cnn,fast] [--batch 64] [--steps 10]
import { initDevice, describeDevice, releaseDevice, randUniform, tensor, tidy, softmaxCrossEntropy, sync, memory, type Tensor, type Shape2, type Shape4 } from '@fer/tensor';
import { createModel, Adam } from '@fer/nn';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1]! : def);
const models = opt('models', 'seed-cnn,fast').split(',');
const batch = Number(opt('batch', '64'));
const steps = Number(opt('steps', '10'));

await initDevice();
console.log(`adapter: ${describeDevice()}`);
for (const name of models) {
  const model = createModel(name, { seed: 1 });
  model.train();
  const adam = new Adam(model.parameters(), { lr: 1e-4 });
  const x = randUniform([batch, 1, 48, 48] as const, 0, 1, { seed: 2 }) as Tensor<Shape4>;
  const y = tensor(Int32Array.from({ length: batch }, (_, i) => i % 7), [batch] as const, { dtype: 'i32' });
  const step = () => {
    tidy(() => {
      const loss = softmaxCrossEntropy(model.forward(x) as Tensor<Shape2>, y);
      loss.backward();
    });
    adam.step();
    adam.zeroGrad();
  };
  for (let i = 0; i < 2; i++) step();
  await sync();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  await sync();
  const ms = (performance.now() - t0) / steps;
  console.log(`${name.padEnd(10)} batch ${batch}: ${ms.toFixed(1)} ms/step, ${((batch * 1000) / ms).toFixed(0)} images/s (${steps} steps, live buffers ${memory().liveBuffers})`);
  x.dispose();
  y.dispose();
  adam.dispose();
  model.dispose();
}
releaseDevice();
