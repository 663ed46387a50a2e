#!/usr/bin/env node
// Trains the F2 attention-sink checkpoints in examples/models/sink-*/, recording H7's sink metric during training.
// Data: Bigram-Backcopy (Guo et al. 2024, arXiv 2410.13835) over the characters of Moby Dick
// (examples/data/moby-dick.txt): a character bigram chain estimated from the text in which, after a trigger
// character ('e', 't', 'a'), the next character copies the one before the trigger. Character-level natural
// text at this CPU's token budget forms no sinks (the earlier checkpoints: metric 0.00 after 600 steps, a
// 1,200-step probe with a fixed first token also 0.000); `--data text` still trains on the text itself.
// Usage (after building tensor, attention, models and sparse):
//   nice -n 10 node packages/sparse/scripts/train-sinks.mjs <recipe> [--steps N] [--snapshot-every K] [--save-every K] [--out DIR]
//        [--workers W] [--init DIR] [--stages len:steps:batch,... | --no-short]
//        [--data backcopy|text] [--layers L] [--bos | --no-bos] [--weight-decay W] [--lr X] [--schedule S] [--batch B]   (probes)
// Recipes:
//   sink-softmax     (a) softmax attention, plain windows of the stream (StreamingLLM's vanilla model)
//   sink-token       (b) softmax with a learnable sink token: a dedicated id prepended to every training
//                        sequence (StreamingLLM's "learnable placeholder token"; Guo et al.'s fixed BOS)
//   sink-sigmoid     (c) sigmoid attention without normalisation, σ(q·k/√d + b) with K3's b = -log n, with the
//                        sink token of (b) available (so (b) and (c) differ only in the normalisation)
// The stream's first 90% trains, the last 10% is held out (evaluation, sink snapshots, the notebook's
// streaming runs). metrics.json holds the sink-metric curve over training (`snapshots`), the final
// report, the held-out NLL, the command, steps, wall time and tokens/s. CPU, deterministic.
import { cpuDevice, Rng } from '@attnlab/tensor';
import { CharTokenizer, Transformer, evaluate, loadHFModel, saveModel, train } from '@attnlab/models';
import { sinkMetrics, streamingLLM } from '../dist/src/index.js';

import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DATA = 'examples/data/moby-dick.txt';
const T = 256;
/** The grammar: triggers and seed (metrics.json records them; the notebook rebuilds the same stream). */
export const BACKCOPY = { triggers: ['e', 't', 'a'], seed: 16 };
// Two heads per layer: with four, Bigram-Backcopy needs one back-copy head and the spare heads die (W_O shrinks)
// instead of sinking (probes: metric 0.00-0.13, at most one head of eight above 0.45 mass); with two, 3 of 4 heads
// sank within 300 steps. No weight decay: it shrinks the query/key norms a sink's logit margin needs.
// Curriculum: stages of short windows (32, 64, 128) before T = 256. A dormant query's pull toward the first token scales
// with its attention there (about 1/t), so short windows form the sink an order of magnitude sooner; each longer stage
// then grows the sink's logit margin (by about log 2 per doubling) so that it keeps its mass among more keys. Trained at
// 32 only, then 256 (300 steps), one head of four kept its sink at 256 (metric 0.25); with the 64 and 128 stages, 3 of 4.
const base = {
  model: { dModel: 128, nLayers: 2, nHeads: 2, dMlp: 512, nCtx: T, positional: 'rotary', norm: 'layernorm' },
  stages: [{ seqLen: 32, steps: 600, batchSize: 64 }, { seqLen: 64, steps: 300, batchSize: 32 }, { seqLen: 128, steps: 300, batchSize: 16 }],
  short: { lr: 5e-3, warmupSteps: 50, weightDecay: 0, seed: 20 },
  train: { steps: 300, batchSize: 8, lr: 2e-3, warmupSteps: 20, weightDecay: 0, seed: 21 },
  initSeed: 21,
  snapshotEvery: 50,
  data: 'backcopy',
};
export const recipes = {
  'sink-softmax': { ...base, attention: 'softmax', sinkToken: false, description: '(a) softmax attention, 2 layers, d=128, 2 heads, RoPE, T=256 (after stages at 32, 64 and 128), Bigram-Backcopy over the characters of Moby Dick, plain windows of the stream' },
  'sink-token': { ...base, attention: 'softmax', sinkToken: true, description: '(b) as (a) with a learnable sink token (a dedicated id) prepended to every sequence' },
  'sink-sigmoid': { ...base, attention: 'sigmoid', sinkToken: true, description: '(c) sigmoid attention without normalisation, σ(s + b) with b = -log n (K3), with the sink token of (b), otherwise as (a)' },
};

/**
 * Alphabet, ids and the train / held-out split. `text`: the characters of the shipped text. `backcopy`: a
 * Bigram-Backcopy stream as long as the text, its bigram counted on the text (the notebook rebuilds the same).
 */
export function loadText(data = 'text', file = join(root, DATA)) {
  const text = readFileSync(file, 'utf8');
  const tok = CharTokenizer.fromText(text);
  let ids = Int32Array.from(tok.encode(text));
  if (data === 'backcopy') {
    const triggers = BACKCOPY.triggers.map((c) => tok.encode(c)[0]);
    ids = sinkMetrics.bigramBackcopy(sinkMetrics.bigramTransitions(ids, tok.vocabSize), tok.vocabSize, { length: ids.length, triggers, seed: BACKCOPY.seed });
  } else if (data !== 'text') throw new Error(`--data must be backcopy or text, got ${data}`);
  const cut = Math.floor(ids.length * 0.9);
  return { tok, ids, train: ids.subarray(0, cut), heldOut: ids.subarray(cut) };
}

/** Next-token windows of length T (streamingLLM.sinkTokenTask: with a sink id, position 0 holds it and T - 1 text tokens follow). */
const windowTask = (ids, vocabSize, sinkId, name, seqLen = T) => streamingLLM.sinkTokenTask(ids, { seqLen, vocabSize, sinkId, name });

/** Fixed held-out rows for the sink snapshots (same rows at every step). */
function snapshotRows(heldOut, sinkId, rows = 4) {
  const r = new Rng(777);
  const textLen = sinkId === null ? T : T - 1;
  return Array.from({ length: rows }, () => {
    const s = r.int(heldOut.length - textLen);
    const row = Array.from(heldOut.subarray(s, s + textLen));
    return sinkId === null ? row : [sinkId, ...row];
  });
}

const summary = (rep) => ({
  metric: rep.metric,
  meanMass: rep.mass.flat().reduce((a, b) => a + b, 0) / rep.mass.flat().length,
  valueNormRatio: rep.valueNorm?.ratio ?? null,
  mass: rep.mass.map((r) => r.map((x) => +x.toFixed(4))),
  share: rep.share.map((r) => r.map((x) => +x.toFixed(4))),
});

async function main() {
  const args = process.argv.slice(2);
  const name = args[0];
  const recipe = recipes[name] && structuredClone(recipes[name]);
  if (!recipe) {
    console.error(`usage: train-sinks.mjs <${Object.keys(recipes).join('|')}> [--steps N] [--snapshot-every K] [--out DIR]`);
    process.exit(2);
  }
  const flag = (f) => {
    const i = args.indexOf(f);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const positive = (f, dflt) => {
    const raw = flag(f);
    if (raw === undefined) return dflt;
    const v = Number(raw);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${f} must be a positive integer, got ${raw}`);
    return v;
  };
  const steps = positive('--steps', recipe.train.steps);
  const every = positive('--snapshot-every', recipe.snapshotEvery);
  const saveEvery = positive('--save-every', 0) || null;
  const workers = positive('--workers', 1);
  const out = flag('--out') ?? join(root, 'examples', 'models', name);
  recipe.data = flag('--data') ?? recipe.data;
  recipe.model.nLayers = positive('--layers', recipe.model.nLayers);
  if (args.includes('--bos')) recipe.sinkToken = true;
  if (args.includes('--no-bos')) recipe.sinkToken = false;
  if (flag('--weight-decay') !== undefined) recipe.train.weightDecay = Number(flag('--weight-decay'));
  if (flag('--lr') !== undefined) recipe.train.lr = Number(flag('--lr'));
  if (flag('--schedule') !== undefined) recipe.train.schedule = flag('--schedule');
  if (flag('--batch') !== undefined) recipe.train.batchSize = positive('--batch', 8);
  for (const [k, v] of [['--weight-decay', recipe.train.weightDecay], ['--lr', recipe.train.lr]]) if (!(Number.isFinite(v) && v >= 0)) throw new Error(`${k} must be a non-negative number, got ${flag(k)}`);

  const { tok, train: trainIds, heldOut } = loadText(recipe.data);
  const sinkId = recipe.sinkToken ? tok.vocabSize : null;
  const vocabSize = tok.vocabSize + (recipe.sinkToken ? 1 : 0);
  // --init DIR continues a checkpoint of this recipe (read from a scratch copy, so DIR may also be --out): the short stage
  // is skipped, step numbers and the sink-metric curve carry on from its metrics.json, which is kept under "previous".
  const init = flag('--init');
  let previous = null;
  let model;
  if (init !== undefined) {
    const scratch = mkdtempSync(join(tmpdir(), 'train-sinks-'));
    cpSync(init, scratch, { recursive: true });
    previous = JSON.parse(readFileSync(join(scratch, 'metrics.json'), 'utf8'));
    if (previous.recipe !== name) throw new Error(`--init ${init} holds recipe '${previous.recipe}', not '${name}'`);
    model = await loadHFModel(scratch, { device: cpuDevice() });
    rmSync(scratch, { recursive: true, force: true });
  } else model = new Transformer({ ...recipe.model, vocabSize }, { seed: recipe.initSeed, device: cpuDevice() });
  const stepBase = previous ? previous.sinks.snapshots.at(-1).step : 0;
  if (recipe.attention !== 'softmax') model.setAttention('all', recipe.attention);
  const src = recipe.data === 'text' ? 'text:moby-dick' : 'backcopy:moby-dick';
  const task = windowTask(trainIds, vocabSize, sinkId, `${src}[0:90%]`);
  const evalTask = windowTask(heldOut, vocabSize, sinkId, `${src}[90%:]`);
  const rows = snapshotRows(heldOut, sinkId);
  console.log(`${name}: ${model} on ${task.name}, vocab ${vocabSize}${sinkId === null ? '' : ` (sink token id ${sinkId})`}`);

  const snapshots = previous ? [...previous.sinks.snapshots] : [];
  /** Whether a stage's step (0-based, of `total`) is snapshotted: every `every` steps and its last. */
  const snapDue = (step, total) => (step + 1) % every === 0 || step === total - 1;
  const snap = async (step, loss) => {
    const s = { step, loss, ...summary(await sinkMetrics.measureSinks(model, rows)) };
    snapshots.push(s);
    console.log(`step ${step} loss ${loss === null ? '-' : loss.toFixed(4)} sink metric ${s.metric.toFixed(3)} mean mass on token 0 ${s.meanMass.toFixed(3)} value-norm ratio ${s.valueNormRatio?.toFixed(3)}`);
  };
  // The checkpoint and metrics.json; with --save-every, also written during training (complete: false),
  // so a run cut short on a shared machine still leaves its latest state and the curve so far.
  const save = async (stepsDone, finalLoss, seconds, tokensPerSecond, complete) => {
    const ev = await evaluate(model, evalTask, { batches: 4, batchSize: 8, seed: 424242 });
    const final = await sinkMetrics.measureSinks(model, rows);
    const metrics = {
      recipe: name,
      description: recipe.description,
      command: `nice -n 10 node packages/sparse/scripts/train-sinks.mjs ${args.join(' ')}`,
      ...(previous ? { init, stepBase, previous } : {}),
      complete,
      data: recipe.data === 'text'
        ? { kind: 'text', file: DATA, split: 'first 90% trains, last 10% held out', tokens: trainIds.length + heldOut.length, tokenizer: 'char' }
        : { kind: 'backcopy', file: DATA, bigram: 'character transitions counted on the whole text', triggers: BACKCOPY.triggers, seed: BACKCOPY.seed, split: 'first 90% of the stream trains, last 10% held out', tokens: trainIds.length + heldOut.length, tokenizer: 'char' },
      tokenizer: { kind: 'char', chars: tok.chars, sinkToken: sinkId },
      model: { ...recipe.model, vocabSize },
      attention: recipe.attention,
      ...(recipe.attention === 'sigmoid' ? { sigmoidBias: '-log(n), n = keys visible to the call (the variant default)' } : {}),
      stages: shortResults,
      train: { ...recipe.train, steps: stepsDone, plannedSteps: steps, finalLoss, seconds, tokensPerSecond, workers },
      eval: { task: evalTask.name, batches: 4, batchSize: 8, seed: 424242, nll: ev.nll, accuracy: ev.accuracy },
      sinks: { eps: final.eps, queryShare: final.queryShare, snapshotEvery: every, rows: rows.length, final: summary(final), snapshots },
      params: model.numParams,
      device: 'cpu',
      trainedAt: new Date().toISOString(),
      wallSeconds: (Date.now() - t0) / 1000,
    };
    await saveModel(model, out, { 'metrics.json': metrics });
    return { ev, final };
  };
  if (!previous) await snap(0, null);
  const t0 = Date.now();
  // Short-window stages before the T = 256 one: the recipe's, or --stages "len:steps:batch,..." (same lr schedule each).
  const stages = init !== undefined || args.includes('--no-short') ? [] : flag('--stages') !== undefined
    ? flag('--stages').split(',').map((st) => { const [seqLen, steps, batchSize] = st.split(':').map(Number); return { ...recipe.short, seqLen, steps, batchSize }; })
    : recipe.stages.map((st) => ({ ...recipe.short, ...st }));
  const shortResults = [];
  let shortSteps = 0;
  for (const st of stages) {
    if (![st.seqLen, st.steps, st.batchSize].every((v) => Number.isInteger(v) && v > 1)) throw new Error(`--stages wants len:steps:batch entries, got ${flag('--stages')}`);
    const stTask = windowTask(trainIds, vocabSize, sinkId, `${src}[0:90%] windows of ${st.seqLen}`, st.seqLen);
    const before = shortSteps;
    const r = await train(model, stTask, {
      ...st, workers, progress: false, progressLine: false,
      onStep: async ({ step, loss, tokensPerSecond }) => {
        if (snapDue(step, st.steps)) {
          console.log(`  stage T=${st.seqLen} ${tokensPerSecond.toFixed(0)} tok/s`);
          await snap(stepBase + before + step + 1, loss);
        }
      },
    });
    shortResults.push({ ...st, finalLoss: r.losses.at(-1), seconds: r.seconds, tokensPerSecond: r.tokensPerSecond });
    shortSteps += st.steps;
  }
  const result = await train(model, task, {
    ...recipe.train,
    steps,
    workers,
    progress: false,
    progressLine: false,
    onStep: async ({ step, loss, tokensPerSecond }) => {
      const saving = saveEvery !== null && (step + 1) % saveEvery === 0 && step < steps - 1;
      if (snapDue(step, steps) || saving) {
        console.log(`  ${tokensPerSecond.toFixed(0)} tok/s`);
        await snap(stepBase + shortSteps + step + 1, loss);
      }
      if (saving) {
        const { ev } = await save(step + 1, loss, (Date.now() - t0) / 1000, tokensPerSecond, false);
        console.log(`  saved at step ${step + 1} (held-out nll ${ev.nll.toFixed(4)}) -> ${relative(root, out)}`);
      }
    },
  });
  const { ev, final } = await save(result.steps, result.losses.at(-1), result.seconds, result.tokensPerSecond, true);
  console.log(`${name}: held-out nll ${ev.nll.toFixed(4)}, sink metric ${final.metric.toFixed(3)} -> ${relative(root, out)}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
