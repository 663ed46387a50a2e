// Bench suite for @attnlab/models: forward and training tokens/s of the induction checkpoint
// (2-layer attention-only, 8 heads) on the CPU and on WebGPU (SwiftShader on machines without a GPU).
// Runs under test/bench/run.mjs (default export returns the result object) or standalone:
//   node test/bench/suites/models.mjs   -> writes test/bench/results/models.json
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuDevice, getDevice } from '@attnlab/tensor';
import { Transformer, loadHFModel, tasks, train, batchTensors } from '@attnlab/models';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const ckpt = join(root, 'examples', 'models', 'induction-2l');
const task = tasks.induction({ vocabSize: 64, len: 12 });

async function inductionModel(device) {
  if (existsSync(join(ckpt, 'model.safetensors'))) return loadHFModel(ckpt, { device });
  return new Transformer({ vocabSize: 64, dModel: 64, nLayers: 2, nHeads: 8, attnOnly: true, nCtx: 32 }, { device, seed: 1 });
}

async function measure(device, { batchSize = 32, forwardIters = 5, trainSteps = 5 } = {}) {
  const model = await inductionModel(device);
  const { Rng } = await import('@attnlab/tensor');
  const batch = task.sample(new Rng(1), batchSize);
  const tokensPerBatch = batchSize * task.seqLen;
  // Warm-up (pipeline compilation on WebGPU), then timed forwards with a readback each.
  const bt = batchTensors(model, batch);
  await (await model.forward(bt.tokens)).data();
  let t0 = performance.now();
  for (let i = 0; i < forwardIters; i++) await (await model.forward(bt.tokens)).data();
  const fwdS = (performance.now() - t0) / 1000;
  await train(model, task, { steps: 1, batchSize, lr: 1e-4, seed: 9 });
  t0 = performance.now();
  const r = await train(model, task, { steps: trainSteps, batchSize, lr: 1e-4, seed: 10 });
  const trainS = (performance.now() - t0) / 1000;
  return {
    device: String(device),
    batchSize,
    seqLen: task.seqLen,
    params: model.numParams,
    forwardTokensPerSecond: (forwardIters * tokensPerBatch) / fwdS,
    forwardMsPerBatch: (fwdS * 1000) / forwardIters,
    trainTokensPerSecond: (trainSteps * tokensPerBatch) / trainS,
    trainMsPerStep: (trainS * 1000) / trainSteps,
    finalLoss: r.losses.at(-1),
  };
}

/** Records in the shape of the other suites: { name, device, adapter, ...figures }. */
export async function run() {
  const devices = [cpuDevice()];
  try {
    devices.push(await getDevice({ prefer: 'webgpu' }));
  } catch (e) {
    console.warn(`models bench: no WebGPU (${e.message})`);
  }
  const records = [];
  for (const device of devices) {
    const m = await measure(device, device.isSoftware ? { forwardIters: 2, trainSteps: 2 } : {});
    const base = { device: device.kind, adapter: device.adapter, model: 'induction-2l (2 layers, 8 heads, d_model 64, attn-only)', batchSize: m.batchSize, seqLen: m.seqLen };
    records.push({ name: 'induction-2l forward', ...base, tokensPerSecond: +m.forwardTokensPerSecond.toFixed(1), msPerBatch: +m.forwardMsPerBatch.toFixed(2) });
    records.push({ name: 'induction-2l training step', ...base, tokensPerSecond: +m.trainTokensPerSecond.toFixed(1), msPerStep: +m.trainMsPerStep.toFixed(2) });
  }
  return records;
}

export default run;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await run();
  const out = join(root, 'test', 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'models.json'), JSON.stringify(r, null, 2) + '\n');
  console.log(JSON.stringify(r, null, 2));
}
