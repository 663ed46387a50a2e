#!/usr/bin/env node
// Trains the F12 tiny DiT (examples/models/dit-shapes/) on @attnlab/models' shapes() (16x16, four
// classes, clean images mapped to [-1, 1]): ε-prediction on a DDPM linear-β schedule, 10% null-class
// dropout for classifier-free guidance. Sample quality: the F11 ViT classifier (examples/models/vit-mha)
// labels DDIM samples (25 steps, fixed seeds) of each class; metrics.json has its accuracy on them
// beside its accuracy on real clean shapes, plus the command, steps, wall time and images/s.
// Usage (after building tensor, attention, models and heads):
//   nice -n 10 node packages/heads/scripts/train-dit.mjs [--steps N] [--lr X] [--seed S] [--init DIR] [--out DIR]
// --init continues from a checkpoint (a second stage with a fresh warmup + cosine schedule and its own data seed);
// metrics.json then lists every stage's command, steps and wall time.
import { DiT, evaluateViT, sampleDDIM, shapes, trainDiT, writeSafetensors } from '@attnlab/models';
import { moh } from '../dist/src/index.js';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const config = { imageSize: 16, patchSize: 4, nClasses: 4, dModel: 64, nLayers: 4, nHeads: 4, dMlp: 128, timesteps: 1000 };
const train = { steps: 1200, batchSize: 32, lr: 2e-3, seed: 3, classDropout: 0.1 };
export const SAMPLE = { perClass: 32, steps: 25, seed: 7, cfgScale: 1 };

/** The F11 ViT classifier (vit-mha) used as the sample-quality score. */
export function loadClassifier() {
  const dir = join(root, 'examples', 'models', 'vit-mha');
  return moh.vitFromCheckpoint(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), new Uint8Array(readFileSync(join(dir, 'model.safetensors')))).model;
}

/** Classifier accuracy on DDIM samples of every class (images mapped back to [0, 1]). */
export async function sampleAccuracy(model, classifier, opts = SAMPLE) {
  const labels = Int32Array.from({ length: 4 * opts.perClass }, (_, i) => i % 4);
  const { images, shape } = await sampleDDIM(model, { labels, steps: opts.steps, seed: opts.seed, cfgScale: opts.cfgScale });
  const imgs01 = Float32Array.from(images, (v) => (v + 1) / 2);
  return evaluateViT(classifier, { images: imgs01, labels, shape, ink: new Uint8Array(0) });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (k) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);
  const steps = Number(opt('--steps') ?? train.steps);
  const lr = Number(opt('--lr') ?? train.lr);
  const seed = Number(opt('--seed') ?? train.seed);
  const init = opt('--init');
  const dir = opt('--out') ?? join(root, 'examples', 'models', 'dit-shapes');
  const model = init ? DiT.fromSafetensors(JSON.parse(readFileSync(join(init, 'config.json'), 'utf8')), new Uint8Array(readFileSync(join(init, 'model.safetensors')))) : new DiT(config, { seed: 11 });
  const previous = init ? JSON.parse(readFileSync(join(init, 'metrics.json'), 'utf8')) : null;
  const t0 = performance.now();
  const { losses } = await trainDiT(model, {
    ...train, steps, lr, seed,
    onStep: ({ step, loss }) => {
      if ((step + 1) % 50 === 0) console.log(`dit step ${step + 1}/${steps} loss ${loss.toFixed(4)} ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    },
  });
  const wallMs = performance.now() - t0;
  const classifier = loadClassifier();
  const real = shapes(4 * SAMPLE.perClass, 999, { noise: 0 });
  const realAcc = await evaluateViT(classifier, real);
  const sampleAcc = await sampleAccuracy(model, classifier);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(await model.stateDict(), { format: 'attnlab-dit' }));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ kind: 'dit', ...config }, null, 2) + '\n');
  const metrics = {
    recipe: 'dit-shapes', description: 'tiny DiT: 4 layers, d=64, 4 heads of 16, MLP 128, patches 4x4 of 16x16 shapes, 4 classes + null, ε-prediction, DDPM linear β (1000 steps)',
    params: model.numParams,
    finalLoss: losses.slice(-100).reduce((a, b) => a + b, 0) / Math.min(100, losses.length),
    firstLoss: losses.slice(0, 20).reduce((a, b) => a + b, 0) / Math.min(20, losses.length),
    sampleQuality: {
      classifier: 'examples/models/vit-mha (F11 ViT, 4-class shapes)', sampler: SAMPLE,
      accuracyOnSamples: sampleAcc, accuracyOnRealCleanShapes: realAcc, chance: 0.25,
    },
    train: { ...train, steps, lr, seed }, wallSeconds: wallMs / 1000, imagesPerSecond: (steps * train.batchSize) / (wallMs / 1000),
    tokensPerSecond: (steps * train.batchSize * 16) / (wallMs / 1000), machine: 'loaded (shared 2-core machine)',
    command: `nice -n 10 node packages/heads/scripts/train-dit.mjs${args.filter((a, i) => a !== '--out' && args[i - 1] !== '--out').map((a) => ` ${a}`).join('')}`,
  };
  // A continued run: the stages so far, and totals over them.
  const stages = [...(previous?.stages ?? (previous ? [{ command: previous.command, steps: previous.train.steps, wallSeconds: previous.wallSeconds, train: previous.train }] : [])),
    { command: metrics.command, steps, wallSeconds: metrics.wallSeconds, train: metrics.train }];
  if (previous) Object.assign(metrics, { stages, totalSteps: stages.reduce((a, x) => a + x.steps, 0), totalWallSeconds: stages.reduce((a, x) => a + x.wallSeconds, 0) });
  writeFileSync(join(dir, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
  console.log(`dit-shapes: final loss ${metrics.finalLoss.toFixed(4)}, classifier accuracy on samples ${sampleAcc.toFixed(3)} (real ${realAcc.toFixed(3)}), ${metrics.wallSeconds.toFixed(0)} s`);
}
