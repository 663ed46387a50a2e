#!/usr/bin/env node
// MQAR past the plateau (F6): recipes that train a 2-layer model on Zoology's multi-query associative
// recall with a curriculum over the number of key-value pairs, through @attnlab/models' public
// train/evaluate/save API. Usage (after building tensor, attention, models, linear):
//   node packages/linear/scripts/train-mqar.mjs <recipe> [--out DIR] [--scale X] [--lr X] [--dry]
// --from DIR continues a saved checkpoint with --stages (costs and curriculum accumulate in metrics.json);
// --scale multiplies every stage's steps (probing); --lr overrides the recipe's peak rate; --attention
// NAME overrides the mixer (softmax, linear-elu1, gated-conv). Writes config.json, model.safetensors
// and metrics.json (recall on the final stage's task and per pair count, steps, wall time, tok/s,
// the exact command) into examples/models/<recipe>/ unless --out says otherwise.
import { cpuDevice } from '@attnlab/tensor';
import { Transformer, evaluate, loadHFModel, saveModel, tasks, train } from '@attnlab/models';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

// The curriculum: few pairs in short sequences first (binding is learned where distractors are few),
// then the evaluated setting. Positions are rotary so a stage's length does not leave position
// embeddings untrained. Keys and values come from disjoint halves of the vocabulary (tasks.mqar).
let V = 256;
const curriculum = (final) => [
  { numKV: 2, seqLen: 6, steps: 300 },
  { numKV: 4, seqLen: 12, steps: 400 },
  { numKV: 8, seqLen: 24, steps: 400 },
  ...final,
];
const model = (over = {}) => ({ vocabSize: V, dModel: 64, nLayers: 2, nHeads: 2, attnOnly: false, dMlp: 128, nCtx: 64, positional: 'rotary', norm: 'layernorm', ...over });
const base = {
  model: model(),
  // The shipped checkpoints ran the first four stages, then the last through --from (metrics.json records both
  // commands); every stage is its own train() call seeded seed + stage index, so one run has the same stages and seeds.
  stages: curriculum([{ numKV: 8, seqLen: 64, steps: 150 }, { numKV: 32, seqLen: 128, steps: 100 }]),
  train: { batchSize: 32, lr: 3e-3, warmupSteps: 50, weightDecay: 0.01, seed: 7, schedule: 'constant' },
  initSeed: 7,
  eval: { numKV: 8, seqLen: 64 },
};

export const recipes = {
  'mqar-softmax': { ...base, attention: 'softmax', description: 'MQAR (Zoology): 2 layers, d=64, 2 heads, rotary, softmax attention; curriculum over pairs 2 -> 4 -> 8, vocab 256 (keys/values disjoint halves); recall at query positions' },
  'mqar-linear': { ...base, attention: 'linear-elu1', description: 'MQAR (Zoology): same width and curriculum as mqar-softmax, linear attention with the elu(x)+1 feature map' },
  'mqar-softmax-shift': { ...base, attention: 'softmax-shift', description: 'MQAR (Zoology): as mqar-softmax, with half of each head\'s key channels shifted by one position (the short convolution gated-conv has built in)' },
  'mqar-linear-shift': { ...base, attention: 'linear-elu1-shift', description: 'MQAR (Zoology): as mqar-linear (elu+1 linear attention), with the same key shift as mqar-softmax-shift' },
  'mqar-gated-conv': { ...base, attention: 'gated-conv', description: 'MQAR (Zoology): same width and curriculum as mqar-softmax, H3-lite gated convolution mixer (@attnlab/linear zoology)' },
};

function parseArgs(argv) {
  const name = argv[0];
  const flag = (f) => {
    const i = argv.indexOf(f);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (f, d) => {
    const raw = flag(f);
    if (raw === undefined) return d;
    const v = Number(raw);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`${f} must be a positive number, got ${raw}`);
    return v;
  };
  return { name, out: flag('--out'), scale: num('--scale', 1), lr: num('--lr', undefined), attention: flag('--attention'), dModel: num('--d', undefined), heads: num('--heads', undefined), batch: num('--batch', undefined), stages: flag('--stages'), vocab: num('--vocab', undefined), initStd: num('--init-std', undefined), schedule: flag('--schedule'), from: flag('--from'), dry: argv.includes('--dry') };
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const recipe = recipes[a.name] && structuredClone(recipes[a.name]);
  if (!recipe) {
    console.error(`usage: train-mqar.mjs <${Object.keys(recipes).join('|')}> [--out DIR] [--scale X] [--lr X] [--attention NAME] [--d N]`);
    process.exit(2);
  }
  if (a.attention) recipe.attention = a.attention;
  if (a.lr) recipe.train.lr = a.lr;
  if (a.dModel) recipe.model.dModel = a.dModel;
  if (a.heads) recipe.model.nHeads = a.heads;
  if (a.initStd) recipe.model.initStd = a.initStd;
  if (a.schedule) recipe.train.schedule = a.schedule;
  if (a.vocab) V = recipe.model.vocabSize = a.vocab;
  if (a.batch) recipe.train.batchSize = a.batch;
  if (a.stages) recipe.stages = JSON.parse(a.stages);
  // This package's variants (gated-conv, rat) are registered only when a recipe uses one.
  if (!['softmax', 'linear-elu1'].includes(recipe.attention)) (await import('../dist/src/index.js')).registerVariants();
  const out = a.out ?? join(root, 'examples', 'models', a.name);
  // --from DIR continues a checkpoint this script wrote (its curriculum and costs are carried into the new metrics).
  const prev = a.from ? JSON.parse(readFileSync(join(a.from, 'metrics.json'), 'utf8')) : null;
  if (prev && prev.attention !== recipe.attention) throw new Error(`--from ${a.from} holds a '${prev.attention}' model, not '${recipe.attention}'`);
  const net = prev ? await loadHFModel(a.from, { device: cpuDevice() }) : new Transformer(recipe.model, { seed: recipe.initSeed, device: cpuDevice() });
  if (!prev && recipe.attention !== 'softmax') net.setAttention('all', recipe.attention);
  console.log(`${a.name}: ${net} attention ${recipe.attention}`);
  const t0 = Date.now();
  const log = prev ? [...prev.curriculum] : [];
  let tokens = prev ? prev.train.tokens : 0;
  let trainSeconds = prev ? prev.train.seconds : 0;
  let steps = prev ? prev.train.steps : 0;
  const first = log.length;
  for (const [i, st] of recipe.stages.entries()) {
    const { steps: s0, ...opts } = st;
    const n = Math.max(1, Math.round(s0 * a.scale));
    const task = tasks.mqar({ vocabSize: V, ...opts });
    const r = await train(net, task, {
      ...recipe.train, steps: n, seed: recipe.train.seed + first + i, progressLine: false,
      onStep: ({ step, loss, tokensPerSecond }) => {
        if (step % 50 === 0 || step === n - 1) console.log(`stage ${i} ${JSON.stringify(opts)} step ${step} loss ${loss.toFixed(4)} ${tokensPerSecond.toFixed(0)} tok/s`);
      },
    });
    const ev = await evaluate(net, tasks.mqar({ vocabSize: V, numKV: opts.numKV, seqLen: opts.seqLen }), { batches: 4, batchSize: 32, seed: 515151 });
    console.log(`stage ${i} done: recall ${ev.accuracy.toFixed(4)} (${opts.numKV} pairs) final loss ${r.losses.at(-1).toFixed(4)}`);
    log.push({ ...st, steps: r.steps, finalLoss: r.losses.at(-1), seconds: r.seconds, tokensPerSecond: r.tokensPerSecond, recall: ev.accuracy });
    tokens += r.tokens;
    trainSeconds += r.seconds;
    steps += r.steps;
  }
  const evalTask = tasks.mqar({ vocabSize: V, ...recipe.eval });
  const ev = await evaluate(net, evalTask, { batches: 8, batchSize: 32, seed: 424242 });
  const byPairs = {};
  for (const n of [2, 4, 8, 16, 32]) {
    const e = await evaluate(net, tasks.mqar({ vocabSize: V, numKV: n, seqLen: Math.max(recipe.eval.seqLen, 4 * n) }), { batches: 4, batchSize: 32, seed: 434343 });
    byPairs[n] = e.accuracy;
  }
  const metrics = {
    recipe: a.name,
    package: '@attnlab/linear',
    description: recipe.description,
    task: { name: evalTask.name, ...evalTask.params },
    model: recipe.model,
    attention: recipe.attention,
    curriculum: log,
    train: { ...recipe.train, steps, tokens, seconds: trainSeconds, tokensPerSecond: tokens / trainSeconds },
    eval: { batches: 8, batchSize: 32, seed: 424242, accuracy: ev.accuracy, nll: ev.nll, scored: ev.scored },
    recallByPairs: byPairs,
    params: net.numParams,
    device: 'cpu',
    command: `${prev ? `${prev.command} && ` : ''}node packages/linear/scripts/train-mqar.mjs ${process.argv.slice(2).map((x) => (/^[\w./=-]+$/.test(x) ? x : `'${x}'`)).join(' ')}`,
    trainedAt: new Date().toISOString(),
    wallSeconds: (prev ? prev.wallSeconds : 0) + (Date.now() - t0) / 1000,
  };
  console.log(`${a.name}: recall ${ev.accuracy.toFixed(4)} nll ${ev.nll.toFixed(4)} by pairs ${JSON.stringify(byPairs)}`);
  if (a.dry) return;
  await saveModel(net, out, { 'metrics.json': metrics });
  console.log(`-> ${out}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
