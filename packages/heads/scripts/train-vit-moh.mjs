#!/usr/bin/env node
// Trains the F11 ViT checkpoints in examples/models/vit-*/ on the synthetic shapes (16x16, four
// classes, @attnlab/models' shapes()): the MHA baseline, MoH with 4/6/7 of 8 heads active per
// token (50/75/87.5%), and SQA with 4 query heads of the same head size. Every recipe shares the
// data stream, seeds, steps and optimiser; MoH adds one [d, H] router per layer.
// Usage (after building tensor, attention, models and heads):
//   nice -n 10 node packages/heads/scripts/train-vit-moh.mjs <recipe|all|r1,r2,...> [--steps N] [--out DIR]
// metrics.json: held-out accuracy (1000 images, seed 999), the command, steps, wall time, images/s.
// The char-LM recipes (lm-mha-f11, lm-moh-75-f11: F11's perplexity form) train 2-layer character LMs on
// examples/data/moby-dick.txt (first 90%; held-out NLL on the last 10%) with the same routers
// (attachMoHToLM), in a loop that updates the model's and the routers' weights; the routers go to
// routers.safetensors beside the GPT-2 checkpoint.
import { AdamW, Rng, add, clipGradNorm, mulScalar, noGrad, scope, warmupCosine } from '@attnlab/tensor';
import { CharTokenizer, Transformer, ViT, batchTensors, evaluateViT, maskedCrossEntropy, saveModel, shapes, textTask, trainViT, writeSafetensors } from '@attnlab/models';
import { readFileSync } from 'node:fs';
import { moh, sqa } from '../dist/src/index.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const base = { imageSize: 16, patchSize: 4, nClasses: 4, dModel: 32, nLayers: 2, nHeads: 8, dHead: 4, dMlp: 64 };
const train = { steps: 300, batchSize: 32, lr: 1e-2, seed: 5, auxWeight: 0.01 };
export const EVAL = { n: 1000, seed: 999 };
export const recipes = {
  'vit-mha': { config: base, active: null, description: 'MHA baseline: 2 layers, d=32, 8 heads of 4, patches 4x4 of 16x16 shapes' },
  'vit-moh-50': { config: base, active: 4, description: 'MoH, top-4 of 8 heads per token (50%)' },
  'vit-moh-75': { config: base, active: 6, description: 'MoH, top-6 of 8 heads per token (75%)' },
  'vit-moh-90': { config: base, active: 7, description: 'MoH, top-7 of 8 heads per token (87.5%, the closest to 90% with 8 heads)' },
  'vit-sqa': { config: sqa.sqaConfig(base), active: null, description: 'SQA: 4 query heads (H/2) of size 4; K/V heads = query heads (symmetric)' },
};

const lmBase = { dModel: 32, nLayers: 2, nHeads: 8, dHead: 4, dMlp: 64, nCtx: 64 };
const lmTrain = { steps: 400, batchSize: 16, lr: 1e-2, seed: 5, auxWeight: 0.01 };
export const LM_EVAL = { batches: 16, batchSize: 16, seed: 4242 };
export const lmRecipes = {
  'lm-mha-f11': { active: null, description: 'char LM, 2 layers, d=32, 8 heads of 4, MLP 64, 64 positions, MHA' },
  'lm-moh-75-f11': { active: 6, description: 'same, MoH top-6 of 8 heads per token (75%)' },
};

/** Characters of the shipped text, the train / held-out split (the notebook rebuilds the same). */
export function loadText() {
  const text = readFileSync(join(root, 'examples', 'data', 'moby-dick.txt'), 'utf8');
  const tok = CharTokenizer.fromText(text);
  const ids = Int32Array.from(tok.encode(text));
  const cut = Math.floor(ids.length * 0.9);
  return { tok, train: ids.subarray(0, cut), heldOut: ids.subarray(cut) };
}

/** Mean held-out next-character NLL (nats) over fixed windows. */
export async function lmNll(model, heldOut, vocabSize) {
  const task = textTask({ tokens: heldOut, vocabSize, seqLen: lmBase.nCtx, name: 'moby-held-out' });
  const rng = new Rng(LM_EVAL.seed);
  let total = 0;
  for (let i = 0; i < LM_EVAL.batches; i++) {
    const b = task.sample(rng, LM_EVAL.batchSize);
    total += await noGrad(() => scope(async () => {
      const bt = batchTensors(model, b);
      return maskedCrossEntropy(await model.run(bt.tokens), bt.targets, bt.lossMask).item();
    }));
  }
  return total / LM_EVAL.batches;
}

async function runLM(name, steps, outDir) {
  const r = lmRecipes[name];
  const { tok, train: ids, heldOut } = loadText();
  const model = new Transformer({ ...lmBase, vocabSize: tok.vocabSize }, { seed: 11 });
  const routers = r.active ? moh.attachMoHToLM(model, { active: r.active, seed: 12 }).routers : [];
  const params = [...model.parameters(), ...routers.flatMap((x) => x.parameters())];
  const opt = new AdamW(params, { lr: lmTrain.lr, weightDecay: 0.01 });
  const sched = warmupCosine({ lr: lmTrain.lr, warmupSteps: 20, totalSteps: steps });
  const task = textTask({ tokens: ids, vocabSize: tok.vocabSize, seqLen: lmBase.nCtx, name: 'moby-train' });
  const rng = new Rng(lmTrain.seed);
  const t0 = performance.now();
  const losses = [];
  for (let step = 0; step < steps; step++) {
    const b = task.sample(rng, lmTrain.batchSize);
    losses.push(await scope(async () => {
      const bt = batchTensors(model, b);
      let loss = maskedCrossEntropy(await model.run(bt.tokens, { grad: true }), bt.targets, bt.lossMask);
      const ce = loss;
      for (const x of routers) loss = add(loss, mulScalar(x.auxLoss(), lmTrain.auxWeight));
      loss.backward();
      clipGradNorm(params, 1);
      opt.lr = sched(step);
      opt.step();
      opt.zeroGrad();
      return ce.item();
    }));
    if ((step + 1) % 50 === 0) console.log(`${name} step ${step + 1}/${steps} loss ${losses.at(-1).toFixed(3)} ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  const wallMs = performance.now() - t0;
  const nll = await lmNll(model, heldOut, tok.vocabSize);
  const dir = outDir ?? join(root, 'examples', 'models', name);
  const nParams = model.parameters().reduce((a, p) => a + p.size, 0);
  const metrics = {
    recipe: name, description: r.description, package: '@attnlab/heads', heldOutNll: nll, perplexity: Math.exp(nll), eval: LM_EVAL,
    moh: r.active ? { active: r.active, renormalize: true } : null, params: nParams, routerParams: routers.length * lmBase.dModel * lmBase.nHeads,
    finalLoss: losses.slice(-50).reduce((a, b) => a + b, 0) / Math.min(50, losses.length),
    train: { ...lmTrain, steps }, wallSeconds: wallMs / 1000, tokensPerSecond: (steps * lmTrain.batchSize * lmBase.nCtx) / (wallMs / 1000),
    command: `nice -n 10 node packages/heads/scripts/train-vit-moh.mjs ${name}${steps !== lmTrain.steps ? ` --steps ${steps}` : ''}`,
  };
  await saveModel(model, dir, { 'metrics.json': metrics });
  if (routers.length) {
    const t = new Map();
    for (const [l, x] of routers.entries()) t.set(`h.${l}.attn.router.weight`, { data: await x.weight.data(), shape: [...x.weight.shape] });
    writeFileSync(join(dir, 'routers.safetensors'), writeSafetensors(t, { format: 'attnlab-moh-routers' }));
  }
  console.log(`${name}: held-out NLL ${nll.toFixed(4)} (perplexity ${Math.exp(nll).toFixed(3)}), ${metrics.wallSeconds.toFixed(0)} s`);
}

async function run(name, steps, outDir) {
  if (lmRecipes[name]) return runLM(name, steps, outDir);
  const r = recipes[name];
  const model = new ViT(r.config, { seed: 11 });
  const routers = r.active ? moh.attachMoH(model, { active: r.active, seed: 12 }) : [];
  const t0 = performance.now();
  const { losses } = await trainViT(model, {
    ...train, steps,
    onStep: ({ step, loss }) => {
      if ((step + 1) % 50 === 0) console.log(`${name} step ${step + 1}/${steps} loss ${loss.toFixed(3)} ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    },
  });
  const wallMs = performance.now() - t0;
  const accuracy = await evaluateViT(model, shapes(EVAL.n, EVAL.seed));
  const tensors = await model.stateDict();
  for (const [l, rt] of routers.entries()) tensors.set(`h.${l}.attn.router.weight`, { data: await rt.weight.data(), shape: [...rt.weight.shape] });
  const dir = outDir ?? join(root, 'examples', 'models', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(tensors, { format: 'attnlab-vit' }));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ kind: 'vit', ...r.config, moh: r.active ? { active: r.active, renormalize: true } : null }, null, 2) + '\n');
  const metrics = {
    recipe: name, description: r.description, accuracy, eval: EVAL, chance: 0.25,
    params: model.numParams, routerParams: routers.length * r.config.dModel * r.config.nHeads,
    scoreFlopsPerImage: sqa.vitScoreFlops(r.config, 1),
    finalLoss: losses.slice(-50).reduce((a, b) => a + b, 0) / Math.min(50, losses.length),
    train: { ...train, steps }, wallSeconds: wallMs / 1000, imagesPerSecond: (steps * train.batchSize) / (wallMs / 1000),
    command: `nice -n 10 node packages/heads/scripts/train-vit-moh.mjs ${name}${steps !== train.steps ? ` --steps ${steps}` : ''}`,
  };
  writeFileSync(join(dir, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
  console.log(`${name}: accuracy ${accuracy.toFixed(4)}, ${metrics.wallSeconds.toFixed(0)} s`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (k) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);
  const which = args[0];
  const names = which === 'all' ? Object.keys(recipes) : (which ?? '').split(',');
  if (!which || names.some((n) => !recipes[n] && !lmRecipes[n])) {
    console.error(`usage: train-vit-moh.mjs <${[...Object.keys(recipes), ...Object.keys(lmRecipes)].join('|')}|all|a,b,...> [--steps N] [--out DIR]`);
    process.exit(2);
  }
  const steps = Number(opt('--steps') ?? (lmRecipes[names[0]] ? lmTrain.steps : train.steps));
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps must be a positive integer, got ${opt('--steps')}`);
  for (const name of names) await run(name, steps, names.length > 1 ? undefined : opt('--out'));
}
