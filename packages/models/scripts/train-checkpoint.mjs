#!/usr/bin/env node
// Reproduces the checkpoints in examples/models/. Usage (after `npm run build`):
//   node packages/models/scripts/train-checkpoint.mjs <recipe> [--steps N] [--batch N] [--lr X] [--out DIR]
// (--steps/--batch/--lr override the recipe, for trying hyperparameters; --set model.positional=rotary
// sets any recipe field, repeatable; the shipped checkpoints use the recipe as written.)
// Long runs: --checkpoint-every N (default 100) saves model, AdamW moments and the batch generator
// to <out>/checkpoint/; --resume continues from there bit-identically (same flags otherwise);
// --stop-after N ends the run after step N's checkpoint, as an interruption would.
// --eval-every N evaluates the recipe's metric on held-out batches; --patience P stops early after
// P evaluations without improvement. --workers N trains data-parallel on N CPU threads.
// Natural text: --data FILE [--tokenizer char|bpe:MERGES] [--seq N] trains the recipe's model on
// next-token prediction over FILE (vocabulary from the tokenizer).
// Recipes: induction-2l, mqar-softmax, mqar-linear, grammar-4l. Each writes config.json,
// model.safetensors, and metrics.json (task, recipe, evaluation measured after training) into
// examples/models/<recipe>/. CPU only, deterministic for the recipe's seeds.
import { cpuDevice } from '@attnlab/tensor';
import {
  CharTokenizer, Transformer, evaluate, loadTrainCheckpoint, saveModel, saveTrainCheckpoint, tasks, textTask, train, trainBPE,
} from '../dist/src/index.js';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const recipes = {
  'induction-2l': {
    task: { kind: 'induction', vocabSize: 64, len: 12, minLen: 5 },
    model: { vocabSize: 64, dModel: 64, nLayers: 2, nHeads: 8, attnOnly: true, nCtx: 32, positional: 'learned', norm: 'layernorm' },
    train: { steps: 2000, batchSize: 32, lr: 3e-3, warmupSteps: 50, weightDecay: 0.01, seed: 1 },
    initSeed: 1,
    metric: 'accuracy',
    description: '2-layer attention-only, 8 heads/layer; induction on [BOS, s, s, pad] with |s| in [5, 12], so the repeat distance varies; accuracy on the repeated tokens',
  },
  'mqar-softmax': {
    task: { kind: 'mqar', vocabSize: 64, numKV: 8, seqLen: 40 },
    model: { vocabSize: 64, dModel: 64, nLayers: 2, nHeads: 4, attnOnly: false, dMlp: 128, nCtx: 40, positional: 'learned', norm: 'layernorm' },
    attention: 'softmax',
    train: { steps: 800, batchSize: 16, lr: 3e-3, warmupSteps: 50, weightDecay: 0.01, seed: 2 },
    initSeed: 2,
    metric: 'accuracy',
    description: 'MQAR (Zoology): 2 layers, d=64, 4 heads, softmax attention; recall at query positions',
  },
  'mqar-linear': {
    task: { kind: 'mqar', vocabSize: 64, numKV: 8, seqLen: 40 },
    model: { vocabSize: 64, dModel: 64, nLayers: 2, nHeads: 4, attnOnly: false, dMlp: 128, nCtx: 40, positional: 'learned', norm: 'layernorm' },
    attention: 'linear-elu1',
    train: { steps: 800, batchSize: 16, lr: 3e-3, warmupSteps: 50, weightDecay: 0.01, seed: 2 },
    initSeed: 2,
    metric: 'accuracy',
    description: 'MQAR (Zoology): same width as mqar-softmax, linear attention with the elu(x)+1 feature map',
  },
  'grammar-4l': {
    task: { kind: 'grammar', seqLen: 48 },
    model: { vocabSize: 48, dModel: 64, nLayers: 4, nHeads: 4, attnOnly: false, dMlp: 128, nCtx: 48, positional: 'rotary', norm: 'layernorm' },
    train: { steps: 500, batchSize: 12, lr: 3e-3, warmupSteps: 50, weightDecay: 0.01, seed: 3 },
    initSeed: 3,
    metric: 'nll',
    description: '4-layer small LM (RoPE, d=64, 4 heads) on the synthetic agreement grammar, BOS at position 0 (sink studies)',
  },
};

export function makeTask(spec) {
  const { kind, ...opts } = spec;
  return tasks[kind](opts);
}

/** A next-token task over a text file, tokenised by characters or by byte-pair merges learned from it. */
export function textFileTask(file, tokenizerSpec, seqLen) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`--data ${file}: ${e.message}`);
  }
  const [kind, merges] = String(tokenizerSpec).split(':');
  let tok;
  if (kind === 'char') tok = CharTokenizer.fromText(text);
  else if (kind === 'bpe') {
    const n = Number(merges ?? 256);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--tokenizer bpe:${merges}: the merge count must be a non-negative integer`);
    tok = trainBPE(text, n);
  } else throw new Error(`--tokenizer ${tokenizerSpec}: use char or bpe:MERGES`);
  const ids = tok.encode(text);
  return { task: textTask({ tokens: ids, vocabSize: tok.vocabSize, seqLen, name: `text:${file.split('/').at(-1)}`, params: { file, tokenizer: tokenizerSpec }, tokenizer: tok }), tokenizer: tok };
}

class Interrupted extends Error {}

async function main() {
  const args = process.argv.slice(2);
  const name = args[0];
  const recipe = recipes[name] && structuredClone(recipes[name]);
  if (!recipe) {
    console.error(`usage: train-checkpoint.mjs <${Object.keys(recipes).join('|')}> [--steps N] [--batch N] [--lr X] [--out DIR]`);
    process.exit(2);
  }
  const flag = (f) => {
    const i = args.indexOf(f);
    return i >= 0 ? args[i + 1] : undefined;
  };
  args.forEach((a, i) => {
    if (a !== '--set') return;
    const [path, raw] = args[i + 1].split('=');
    const keys = path.split('.');
    const last = keys.pop();
    const obj = keys.reduce((o, k) => o[k], recipe);
    obj[last] = raw.trim() !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw === 'true' ? true : raw === 'false' ? false : raw;
  });
  const steps = Number(flag('--steps') ?? recipe.train.steps);
  const batchSize = Number(flag('--batch') ?? recipe.train.batchSize);
  const lr = Number(flag('--lr') ?? recipe.train.lr);
  const out = flag('--out') ?? join(root, 'examples', 'models', name);
  const positive = (f, dflt) => {
    const raw = flag(f);
    if (raw === undefined) return dflt;
    const v = Number(raw);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${f} must be a positive integer, got ${raw}`);
    return v;
  };
  const workers = positive('--workers', 1);
  const checkpointEvery = positive('--checkpoint-every', 100);
  const stopAfter = positive('--stop-after', undefined);
  const evalEvery = positive('--eval-every', undefined);
  const patience = positive('--patience', undefined);
  const dataFile = flag('--data');
  let task;
  let evalTask;
  if (dataFile) {
    const seqLen = positive('--seq', recipe.model.nCtx);
    const { task: t, tokenizer } = textFileTask(dataFile, flag('--tokenizer') ?? 'char', seqLen);
    task = evalTask = t;
    recipe.task = { kind: 'text', ...t.params };
    recipe.model = { ...recipe.model, vocabSize: tokenizer.vocabSize, nCtx: Math.max(recipe.model.nCtx, seqLen) };
    recipe.metric = 'nll';
  } else {
    task = makeTask(recipe.task);
    // Evaluated on the standard task: a training mixture of MQAR pair counts (minNumKV) is a curriculum, not the metric.
    const { minNumKV, ...standard } = recipe.task;
    evalTask = minNumKV === undefined ? task : makeTask(standard);
  }
  const model = new Transformer(recipe.model, { seed: recipe.initSeed, device: cpuDevice() });
  if (recipe.attention && recipe.attention !== 'softmax') model.setAttention('all', recipe.attention);
  console.log(`${name}: ${model} on task ${task.name} ${JSON.stringify(task.params)}`);
  const ckptDir = join(out, 'checkpoint');
  let resume;
  if (args.includes('--resume')) {
    if (existsSync(join(ckptDir, 'state.json'))) {
      resume = await loadTrainCheckpoint(ckptDir, model);
      console.log(`${name}: resuming from step ${resume.step} (${ckptDir})`);
    } else console.log(`${name}: no checkpoint in ${ckptDir}; starting from step 0`);
  }
  const heldOut = { batches: 4, batchSize: 32, seed: 515151 };
  const metricOf = (ev) => (recipe.metric === 'accuracy' ? ev.accuracy : ev.nll);
  const t0 = Date.now();
  let result;
  try {
    result = await train(model, task, {
      ...recipe.train,
      steps,
      batchSize,
      lr,
      workers,
      ...(resume ? { resume } : {}),
      checkpointEvery,
      onCheckpoint: async (state) => {
        await saveTrainCheckpoint(ckptDir, model, state, { recipe: name, steps, batchSize, lr });
        if (stopAfter !== undefined && state.step >= stopAfter) throw new Interrupted(`stopped after step ${state.step}; continue with --resume`);
      },
      ...(evalEvery ? { evalEvery, onEval: async () => metricOf(await evaluate(model, evalTask, heldOut)) } : {}),
      ...(patience ? { earlyStopping: { patience, mode: recipe.metric === 'accuracy' ? 'max' : 'min' } } : {}),
      onStep: ({ step, loss, tokensPerSecond }) => {
        if (process.stderr.isTTY) return; // the progress line shows it
        if (step % 50 === 0 || step === steps - 1) console.log(`step ${step} loss ${loss.toFixed(4)} ${tokensPerSecond.toFixed(0)} tok/s`);
      },
    });
  } catch (e) {
    if (!(e instanceof Interrupted)) throw e;
    console.log(`${name}: ${e.message}`);
    return;
  }
  if (result.stoppedEarly) console.log(`${name}: stopped early at step ${result.steps} (no improvement in ${patience} evaluations)`);
  const ev = await evaluate(model, evalTask, { batches: 8, batchSize: 32, seed: 424242 });
  const metrics = {
    recipe: name,
    description: recipe.description,
    task: { name: evalTask.name, ...evalTask.params },
    ...(evalTask !== task ? { trainTask: { name: task.name, ...task.params } } : {}),
    model: recipe.model,
    attention: recipe.attention ?? 'softmax',
    train: { ...recipe.train, steps: result.steps, batchSize, lr, workers, finalLoss: result.losses.at(-1), seconds: result.seconds, tokensPerSecond: result.tokensPerSecond, ...(result.evals.length ? { evals: result.evals } : {}), ...(resume ? { resumedFrom: resume.step } : {}) },
    eval: { batches: 8, batchSize: 32, seed: 424242, accuracy: ev.accuracy, nll: ev.nll, scored: ev.scored, accuracyByPosition: ev.accuracyByPosition },
    params: model.numParams,
    device: 'cpu',
    trainedAt: new Date().toISOString(),
    wallSeconds: (Date.now() - t0) / 1000,
  };
  await saveModel(model, out, { 'metrics.json': metrics });
  console.log(`${name}: accuracy ${ev.accuracy.toFixed(4)} nll ${ev.nll.toFixed(4)} -> ${out}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
