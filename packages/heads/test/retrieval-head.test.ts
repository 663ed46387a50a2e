/** H1 pipeline on the shipped induction-2l checkpoint: detection agrees with the score, the causal test, Jaccard. */
import assert from 'node:assert/strict';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { Rng } from '@attnlab/tensor';
import { loadHFModel, tasks } from '@attnlab/models';
import { headScores, retrievalHead } from '../src/index.js';

const CKPT = fileURLToPath(new URL('../../../../examples/models/induction-2l', import.meta.url));

test('findRetrievalHeads selects exactly the heads whose retrieval score passes the threshold', async () => {
  const model = await loadHFModel(CKPT);
  const batch = tasks.induction({ vocabSize: 64, len: 12, minLen: 5 }).sample(new Rng(5), 16);
  const scores = (await (await headScores(model, batch, ['retrieval']))['retrieval']!.array()) as number[][];
  for (const threshold of [0.5, 0.2, 0]) {
    const r = await retrievalHead.findRetrievalHeads(model, { prompts: batch, threshold });
    const want = scores.flatMap((row, layer) => row.map((v, head) => ({ layer, head, v }))).filter((x) => x.v >= threshold);
    assert.equal(r.heads.length, want.length, `threshold ${threshold}`);
    assert.equal(r.fraction, want.length / 16);
    for (let i = 1; i < r.heads.length; i++) assert.ok(scores[r.heads[i - 1]!.layer]![r.heads[i - 1]!.head]! >= scores[r.heads[i]!.layer]![r.heads[i]!.head]!, 'ranked');
    assert.deepEqual(r.byLayer, [0, 1].map((l) => want.filter((x) => x.layer === l).length));
  }
  await assert.rejects(retrievalHead.findRetrievalHeads(model, { prompts: batch, threshold: 2 }), /threshold must be in \[0, 1\], got 2/);
});

test('retrievalCausalTest ablates the set and same-size random sets of the other heads', async () => {
  const model = await loadHFModel(CKPT);
  const batch = tasks.induction({ vocabSize: 64, len: 12, minLen: 5 }).sample(new Rng(6), 16);
  const heads = [{ layer: 0, head: 3 }, { layer: 0, head: 6 }];
  const t = await retrievalHead.retrievalCausalTest(model, { prompts: batch, heads, draws: 4, bootstrap: { samples: 200 } });
  assert.equal(t.top.label, 'L0H3+L0H6');
  assert.ok(t.top.delta < 0 && t.top.ci[1] < 0, `ablating L0H3+L0H6 lowers accuracy (${t.top.delta})`);
  assert.equal(t.random.results.length, 4);
  assert.ok(t.random.results.every((r) => r.heads.length === 2 && !r.heads.some((h) => h.layer === 0 && (h.head === 3 || h.head === 6))));
  await assert.rejects(retrievalHead.retrievalCausalTest(model, { prompts: batch, heads: [] }), /heads is empty/);
});

test('jaccard and rankHeads', () => {
  const a = [{ layer: 0, head: 1 }, { layer: 1, head: 2 }];
  assert.equal(retrievalHead.jaccard(a, a), 1);
  assert.equal(retrievalHead.jaccard(a, [{ layer: 1, head: 2 }, { layer: 1, head: 3 }]), 1 / 3);
  assert.equal(retrievalHead.jaccard([], []), 1);
  assert.deepEqual(retrievalHead.rankHeads([[0.1, 0.9], [Number.NaN, 0.9]]), [{ layer: 0, head: 1 }, { layer: 1, head: 1 }, { layer: 0, head: 0 }, { layer: 1, head: 0 }]);
});
