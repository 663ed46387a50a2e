import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@attnlab/tensor';
import { accuracy, logitDiff, patchingSweep } from '../src/index.js';
import { SEED, randomModel, randomTokens } from './helpers.js';

test('patching sweep over layer x head x position and over residual positions', async () => {
  const model = randomModel({ vocabSize: 13, dModel: 12, nLayers: 2, nHeads: 3, nCtx: 16, attnOnly: true }, SEED);
  const rng = new Rng(SEED);
  const clean = randomTokens(rng, 2, 5, 13);
  const corrupted = clean.map((r) => [...r.slice(0, 2), (r[2]! + 1) % 13, ...r.slice(3)]);
  const metric = (l: Parameters<typeof logitDiff>[0]): Promise<number> => logitDiff(l, [clean[0]![1]!, clean[1]![1]!], [0, 0]);
  const seen: number[] = [];
  const r = await patchingSweep(model, { clean, corrupted, metric, onProgress: (d) => void seen.push(d) });
  assert.deepEqual(r.shape, [2, 3, 5]);
  assert.deepEqual(r.result.shape, [2, 3, 5]);
  assert.equal(seen.length, 30);
  assert.notEqual(r.clean, r.corrupted);
  // Positions before the corruption see identical inputs: patching there changes nothing.
  for (let l = 0; l < 2; l++) for (let h = 0; h < 3; h++) for (let p = 0; p < 2; p++) assert.ok(Math.abs(r.values[(l * 3 + h) * 5 + p]!) < 1e-4);
  // Residual patching at the corrupted position before layer 0 fully restores the clean run.
  const res = await patchingSweep(model, { clean, corrupted, metric, site: 'resid_pre', layers: [0] });
  assert.deepEqual(res.shape, [1, 5]);
  assert.ok(Math.abs(res.values[2]! - 1) < 1e-4, `resid_pre patch at the corrupted position gives ${res.values[2]}`);
  // Unnormalised values are raw metric values.
  const raw = await patchingSweep(model, { clean, corrupted, metric, site: 'resid_pre', layers: [0], normalize: false });
  assert.ok(Math.abs(raw.values[2]! - r.clean) < 1e-4);
  assert.ok(Math.abs(raw.values[0]! - r.corrupted) < 1e-4);
});

test('logitDiff and accuracy', async () => {
  const model = randomModel({ vocabSize: 7, dModel: 8, nLayers: 1, nHeads: 2, nCtx: 8 }, SEED);
  const toks = randomTokens(new Rng(SEED), 2, 4, 7);
  const logits = await model.forward(toks);
  const d = (await logits.array()) as number[][][];
  assert.ok(Math.abs((await logitDiff(logits, [1, 2], [3, 4])) - ((d[0]![3]![1]! - d[0]![3]![3]!) + (d[1]![3]![2]! - d[1]![3]![4]!)) / 2) < 1e-6);
  const argmax = d.flat().map((row) => row.indexOf(Math.max(...row)));
  assert.equal(await accuracy(logits, argmax), 1);
  assert.equal(await accuracy(logits, argmax.map((t) => (t + 1) % 7)), 0);
  assert.equal(await accuracy(logits, argmax, argmax.map((_, i) => (i === 0 ? 1 : 0))), 1);
  await assert.rejects(logitDiff(logits, 9, 0), /outside the vocabulary of 7/);
});
