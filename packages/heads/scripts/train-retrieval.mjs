#!/usr/bin/env node
// Trains the retrieval/induction checkpoint that F9 and F10 use (examples/models/retrieval-2l).
// Usage (after building tensor, attention, models):
//   nice -n 10 node packages/heads/scripts/train-retrieval.mjs [--steps N] [--batch N] [--lr X] [--out DIR] [--eval-every N]
//     [--stop-after N] [--init DIR --schedule constant|cosine --warmup N --seed N]
// --stop-after ends the run at the evaluation of step N and evaluates and saves that model (metrics say stoppedAt).
// --init continues from a saved model (its metrics.json is kept under `init` in the new one): a second stage.
// A 2-layer attention-only model (RoPE) with 65 positions, trained on a 50/50 mix of
//  - induction: [BOS, s, s, pad] with |s| drawn in [8, 32], so the repeat sits 8..32 tokens back and
//    fixed-offset heads (what induction-2l learned at 32 positions) cannot copy it;
//  - passkey (needle copy): filler, KEY + 4 digits at a random depth, QUERY + the 4 digits at the end.
// Both need "find the earlier occurrence of the current token, copy what followed": an induction
// circuit (previous-token heads in layer 0, induction/retrieval heads in layer 1).
// Writes config.json, model.safetensors and metrics.json (per-task accuracy, steps, wall time,
// tok/s, the exact command). CPU, deterministic for the seeds below.
import { cpuDevice } from '@attnlab/tensor';
import { Transformer, evaluate, induction, loadHFModel, passkey, saveModel, train } from '@attnlab/models';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const N = 65;
const recipe = {
  name: 'retrieval-2l',
  tasks: {
    induction: { vocabSize: 64, len: 32, minLen: 8 },
    passkey: { vocabSize: 64, seqLen: N, keyLen: 4, digits: 10 },
  },
  model: { vocabSize: 64, dModel: 64, nLayers: 2, nHeads: 8, attnOnly: true, nCtx: 128, positional: 'rotary', norm: 'layernorm' },
  train: { steps: 1200, batchSize: 16, lr: 3e-3, warmupSteps: 100, weightDecay: 0.01, seed: 11 },
  initSeed: 11,
};

/** Rows alternate between the two tasks (even rows induction, odd rows passkey); same length. */
export function retrievalMix(t = recipe.tasks) {
  const ind = induction(t.induction);
  const pk = passkey(t.passkey);
  if (ind.seqLen !== pk.seqLen) throw new Error(`retrievalMix: induction has ${ind.seqLen} positions, passkey ${pk.seqLen}`);
  return {
    name: 'retrieval-mix', vocabSize: 64, seqLen: ind.seqLen, params: { ...t, mix: 'alternate rows' },
    sample(rng, B) {
      const a = ind.sample(rng, Math.ceil(B / 2));
      const b = pk.sample(rng, Math.floor(B / 2));
      const out = { batchSize: B, seqLen: N, tokens: new Int32Array(B * N), targets: new Int32Array(B * N), lossMask: new Float32Array(B * N), evalMask: new Float32Array(B * N) };
      for (let r = 0; r < B; r++) {
        const src = r % 2 === 0 ? a : b;
        const sr = r >> 1;
        for (const k of ['tokens', 'targets', 'lossMask', 'evalMask']) out[k].set(src[k].subarray(sr * N, (sr + 1) * N), r * N);
      }
      return out;
    },
  };
}

class Stop extends Error {
  constructor(step) {
    super(`stopped at step ${step}`);
    this.step = step;
  }
}

async function main() {
  const args = process.argv.slice(2);
  const flag = (f, d) => {
    const i = args.indexOf(f);
    return i >= 0 ? Number(args[i + 1]) : d;
  };
  const steps = flag('--steps', recipe.train.steps);
  const batchSize = flag('--batch', recipe.train.batchSize);
  const lr = flag('--lr', recipe.train.lr);
  const evalEvery = flag('--eval-every', 250);
  const oi = args.indexOf('--out');
  const out = oi >= 0 ? args[oi + 1] : join(root, 'examples', 'models', recipe.name);
  for (const [k, v] of Object.entries({ steps, batchSize, lr, evalEvery })) if (!(v > 0)) throw new Error(`--${k}: must be a positive number, got ${v}`);
  const task = retrievalMix();
  const ind = induction(recipe.tasks.induction);
  const pk = passkey(recipe.tasks.passkey);
  const model = new Transformer(recipe.model, { seed: recipe.initSeed, device: cpuDevice() });
  const ii = args.indexOf('--init');
  const initDir = ii >= 0 ? args[ii + 1] : undefined;
  let init;
  if (initDir) {
    const from = await loadHFModel(initDir, { device: cpuDevice() });
    model.loadStateDict(await from.stateDict());
    init = { from: initDir, metrics: JSON.parse(readFileSync(join(initDir, 'metrics.json'), 'utf8')) };
    console.log(`${recipe.name}: starting from ${initDir}`);
  }
  const si = args.indexOf('--schedule');
  const schedule = si >= 0 ? args[si + 1] : 'cosine';
  if (schedule !== 'cosine' && schedule !== 'constant') throw new Error(`--schedule: cosine or constant, got ${schedule}`);
  const warmupSteps = flag('--warmup', recipe.train.warmupSteps);
  const seed = flag('--seed', recipe.train.seed); // a second stage draws fresh batches with another seed
  console.log(`${recipe.name}: ${model} (${model.numParams} params) on ${task.name}`);
  const held = { batches: 2, batchSize: 32, seed: 515151 };
  const stopAfter = args.includes('--stop-after') ? flag('--stop-after') : undefined;
  const command = `nice -n 10 node packages/heads/scripts/train-retrieval.mjs ${args.join(' ')}`.trim();
  const evals = [];
  const t0 = Date.now();
  let result;
  const seen = { losses: [], tps: 0 };
  try {
  result = await train(model, task, {
    ...recipe.train, steps, batchSize, lr, schedule, warmupSteps, seed, progressLine: false,
    evalEvery,
    onEval: async ({ step }) => {
      const a = (await evaluate(model, ind, held)).accuracy;
      const p = (await evaluate(model, pk, held)).accuracy;
      evals.push({ step, induction: a, passkey: p });
      // A usable model at every evaluation (the final save overwrites it), marked as partial.
      await saveModel(model, out, { 'metrics.json': { recipe: recipe.name, partial: true, step, evals, command, ...(init ? { init } : {}) } });
      if (stopAfter !== undefined && step >= stopAfter) throw new Stop(step);
      console.log(`eval step ${step}: induction ${a.toFixed(3)} passkey ${p.toFixed(3)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
      return (a + p) / 2;
    },
    onStep: ({ step, loss, tokensPerSecond }) => {
      seen.losses.push(loss);
      seen.tps = tokensPerSecond;
      if (step % 50 === 0) console.log(`step ${step} loss ${loss.toFixed(4)} ${tokensPerSecond.toFixed(0)} tok/s`);
    },
  });
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    console.log(`${recipe.name}: stopped after the evaluation of step ${e.step}`);
    result = { steps: e.step, stoppedAt: e.step, losses: seen.losses, seconds: (Date.now() - t0) / 1000, tokensPerSecond: seen.tps };
  }
  const final = { batches: 8, batchSize: 32, seed: 424242 };
  const ei = await evaluate(model, ind, final);
  const ep = await evaluate(model, pk, final);
  const wallSeconds = (Date.now() - t0) / 1000;
  const metrics = {
    recipe: recipe.name,
    description: '2-layer attention-only, 8 heads x 8, d=64, RoPE, 65 positions; alternate rows of induction (repeat distance 8..32) and 4-digit passkey copy',
    command,
    task: { name: task.name, ...task.params },
    model: recipe.model,
    attention: 'softmax',
    ...(init ? { init } : {}),
    train: { ...recipe.train, steps: result.steps, ...(result.stoppedAt !== undefined ? { stoppedAt: result.stoppedAt } : {}), batchSize, lr, schedule, warmupSteps, seed, finalLoss: result.losses.at(-1), seconds: result.seconds, tokensPerSecond: result.tokensPerSecond, evals },
    eval: {
      ...final,
      induction: { accuracy: ei.accuracy, nll: ei.nll, scored: ei.scored },
      passkey: { accuracy: ep.accuracy, nll: ep.nll, scored: ep.scored },
    },
    params: model.numParams,
    device: 'cpu',
    trainedAt: new Date().toISOString(),
    wallSeconds,
  };
  await saveModel(model, out, { 'metrics.json': metrics });
  console.log(`${recipe.name}: induction ${ei.accuracy.toFixed(4)} passkey ${ep.accuracy.toFixed(4)} in ${wallSeconds.toFixed(0)} s -> ${out}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
