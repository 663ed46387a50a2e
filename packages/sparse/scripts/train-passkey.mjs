#!/usr/bin/env node
// Trains the passkey checkpoints in examples/models/passkey-*/ (F3 criterion 5, F4 criterion 5).
// Usage (after building tensor, attention, models and sparse):
//   nice -n 10 node packages/sparse/scripts/train-passkey.mjs <recipe> [--steps N] [--out DIR]
// Recipes: passkey-nope (dense), passkey-window, passkey-power, passkey-s2 (the same model trained
// under F3's static masks at equal per-row key budget), passkey-landmark (landmark tokens, grouped softmax). CPU, deterministic for the recipe's seeds.
// The model has no positional encoding (NoPE): the task's digit tokens carry their slot, so the
// lookup is content-addressed and the model runs unchanged at 4x the training length.
import { cpuDevice } from '@attnlab/tensor';
import { slidingWindow } from '@attnlab/attention';
import { Transformer, loadHFModel, saveModel, train } from '@attnlab/models';
import { passkey, powerAttention, s2, registerVariants } from '../dist/src/index.js';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '@attnlab/tensor';

registerVariants();
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const TRAIN_T = 128;
const T = TRAIN_T;
const base = {
  task: { seqLen: T, keyLen: 4, digits: 10, vocabSize: 64 },
  model: { vocabSize: 64, dModel: 64, nLayers: 2, nHeads: 4, attnOnly: true, nCtx: 4 * T, positional: 'none', norm: 'layernorm' },
  train: { steps: 600, batchSize: 16, lr: 3e-3, warmupSteps: 40, weightDecay: 0.01, seed: 11 },
  initSeed: 11,
};
// Per-row key budget 8 for the static masks: a window of 8, power offsets {0, 1, 2, ..., 64} (8 at T = 128).
export const recipes = {
  'passkey-nope': { ...base, mask: null, description: 'dense causal attention' },
  'passkey-window': { ...base, mask: { kind: 'window', window: 8 }, description: 'sliding window of 8 keys in every layer' },
  'passkey-power': { ...base, mask: { kind: 'power', local: 1 }, description: 'PowerAttention offsets {0} ∪ {2^m} in every layer (8 keys per row at T = 128)' },
  'passkey-s2': { ...base, mask: { kind: 's2' }, description: 'S2-Attention: head h of 4 attends keys with k mod 4 = h' },
  // S3: a LANDMARK token closes every block of 8 positions; every layer trains through the grouped softmax
  // ('landmark-grouped'), so a landmark's key learns to stand for its block; evaluated with top-2 block retrieval.
  // T = 64: the dense grouped softmax costs several times the flash kernel per step on the CPU. Layer 0 reads only the
  // query's own block (topK 0: with no positions every LANDMARK has the same layer-0 key, so layer 0 cannot retrieve);
  // there each landmark gathers its block. Layer 1 retrieves through the landmarks (all of them in training).
  'passkey-landmark': {
    ...base, T: 64, task: { ...base.task, seqLen: 64, landmarkEvery: 8 }, landmark: { blockSize: 8, topK: 2 }, mask: null,
    description: 'landmark tokens every 8 positions; layer 0 attends within its block, layer 1 through the grouped softmax over earlier landmarks',
  },
};

export function maskFor(spec, length) {
  if (!spec) return null;
  if (spec.kind === 'window') return slidingWindow(spec.window);
  if (spec.kind === 'power') return powerAttention.powerMask({ length, local: spec.local });
  if (spec.kind === 's2') return s2.s2Mask({ heads: 4, causal: false });
  throw new Error(`unknown mask kind ${spec.kind}`);
}

/** Layer 0 within its block, layer 1 through the landmarks (top-k blocks when topK is given). */
export function setLandmarks(model, blockSize, landmarks, topK) {
  model.setAttention({ layer: 0 }, 'landmark-grouped', { blockSize, landmarks, topK: 0 });
  model.setAttention({ layer: 1 }, 'landmark-grouped', { blockSize, landmarks, ...(topK !== undefined ? { topK } : {}) });
}

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

async function evalAt(model, spec, seqLen, rows, seed, topK) {
  const task = passkey.passkeyTask({ ...spec.task, seqLen });
  const mask = maskFor(spec.mask, seqLen);
  if (mask) model.setAttention('all', 'softmax', { mask });
  if (spec.landmark) setLandmarks(model, spec.landmark.blockSize, task.landmarks, topK);
  const batch = task.sample(new Rng(seed), rows);
  const s = await passkey.scorePasskey((t) => model.forward(t), batch);
  model.setAttention('all', 'softmax');
  return { seqLen, rows, seed, ...(topK !== undefined ? { topK } : {}), accuracy: s.accuracy, digitAccuracy: s.digitAccuracy };
}

async function main() {
  const name = process.argv[2];
  const spec = recipes[name];
  if (!spec) throw new Error(`recipe must be one of ${Object.keys(recipes).join(', ')}, got ${name}`);
  const steps = Number(arg('--steps', spec.train.steps));
  const lr = Number(arg('--lr', spec.train.lr));
  const out = arg('--out', join(root, 'examples', 'models', name));
  const task = passkey.passkeyTask(spec.task);
  // --init DIR continues from a saved model (fresh optimizer state), e.g. a run that stopped on a plateau.
  const init = arg('--init', spec.init ? join(root, 'examples', 'models', spec.init) : undefined);
  const previous = init && existsSync(join(init, 'metrics.json')) ? JSON.parse(readFileSync(join(init, 'metrics.json'), 'utf8')) : null;
  const model = init
    ? await loadHFModel(init, { device: cpuDevice() })
    : new Transformer(spec.model, { seed: spec.initSeed, device: cpuDevice() });
  const T = spec.T ?? TRAIN_T;
  const mask = maskFor(spec.mask, T);
  if (mask) model.setAttention('all', 'softmax', { mask });
  if (spec.landmark) setLandmarks(model, spec.landmark.blockSize, task.landmarks);
  const t0 = performance.now();
  const res = await train(model, task, { ...spec.train, steps, lr, progressLine: true });
  const seconds = (performance.now() - t0) / 1000;
  model.setAttention('all', 'softmax');
  const evals = [];
  for (const n of [T, 4 * T]) {
    evals.push(await evalAt(model, spec, n, 64, 424242));
    if (spec.landmark) evals.push(await evalAt(model, spec, n, 64, 424242, spec.landmark.topK));
  }
  mkdirSync(out, { recursive: true });
  await saveModel(model, out);
  const metrics = {
    recipe: name,
    description: `2-layer attention-only NoPE LM on slot-tagged passkey prompts (T = ${T}); ${spec.description}`,
    command: `nice -n 10 node packages/sparse/scripts/train-passkey.mjs ${name}${steps !== spec.train.steps ? ` --steps ${steps}` : ''}${lr !== spec.train.lr ? ` --lr ${lr}` : ''}${init && !spec.init ? ` --init ${relative(root, init)}` : ''}`,
    task: { name: 'passkey-slots', ...spec.task },
    model: spec.model,
    mask: spec.mask,
    ...(init ? { init: relative(root, init) } : {}),
    // The run this one continued (its own metrics.json), so the whole recipe stays on record.
    ...(previous ? { previous } : {}),
    ...(spec.landmark ? { landmark: spec.landmark } : {}),
    train: { ...spec.train, steps, lr, finalLoss: res.losses.at(-1), seconds, tokensPerSecond: (steps * spec.train.batchSize * T) / seconds, note: 'seconds are wall clock on a shared 2-core machine' },
    eval: evals,
  };
  writeFileSync(join(out, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
  console.log(JSON.stringify(metrics.eval));
}

await main();
