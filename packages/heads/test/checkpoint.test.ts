/**
 * examples/models/retrieval-2l (trained by scripts/train-retrieval.mjs; its mixed task is not a
 * @attnlab/models task, so this package re-measures it): the recorded accuracies reproduce, and
 * the circuit is the one F9 and F10 rely on (retrieval heads only in layer 1, a previous-token
 * head in layer 0).
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpuDevice, Rng } from '@attnlab/tensor';
import { evaluate, induction, loadHFModel, passkey } from '@attnlab/models';
import { headScores, retrievalHead } from '../src/index.js';

const dir = fileURLToPath(new URL('../../../../examples/models/retrieval-2l/', import.meta.url));

test('retrieval-2l reproduces its recorded induction and passkey accuracy; retrieval heads in layer 1, previous-token head in layer 0', async () => {
  const m = JSON.parse(readFileSync(`${dir}metrics.json`, 'utf8'));
  const model = await loadHFModel(dir, { device: cpuDevice() });
  const opts = { batches: m.eval.batches, batchSize: m.eval.batchSize, seed: m.eval.seed };
  for (const [name, task] of [['induction', induction(m.task.induction)], ['passkey', passkey(m.task.passkey)]] as const) {
    const ev = await evaluate(model, task, opts);
    assert.ok(Math.abs(ev.accuracy - m.eval[name].accuracy) < 2e-3, `${name}: accuracy ${ev.accuracy} vs recorded ${m.eval[name].accuracy}`);
    assert.ok(Math.abs(ev.nll - m.eval[name].nll) < 2e-3, `${name}: nll ${ev.nll} vs recorded ${m.eval[name].nll}`);
  }
  const prompts = induction(m.task.induction).sample(new Rng(5), 32);
  const found = await retrievalHead.findRetrievalHeads(model, { prompts });
  assert.ok(found.heads.length > 0 && found.heads.every((h) => h.layer === 1), `retrieval heads ${JSON.stringify(found.heads)}`);
  const prev = (await (await headScores(model, prompts, ['previous-token']))['previous-token']!.array()) as number[][];
  const best = retrievalHead.rankHeads(prev)[0]!;
  assert.equal(best.layer, 0, `strongest previous-token head L${best.layer}H${best.head}`);
  assert.ok(prev[0]![best.head]! > 0.5, `previous-token score ${prev[0]![best.head]}`);
});
