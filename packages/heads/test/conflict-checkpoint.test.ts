/**
 * examples/models/conflict-4l (trained by scripts/train-conflict.mjs; its mixed task is not a models
 * task, so the models checkpoint test skips it): reload it and re-measure what metrics.json records.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadHFModel } from '@attnlab/models';
import { thinkedit, vhd } from '../src/index.js';

const dir = fileURLToPath(new URL('../../../../examples/models/conflict-4l/', import.meta.url));

test('conflict-4l reproduces its recorded accuracy per row kind, prior-driven error rate and mean output length', async () => {
  const m = JSON.parse(readFileSync(`${dir}metrics.json`, 'utf8'));
  const model = await loadHFModel(dir);
  assert.equal(model.config.nLayers * model.config.nHeads, 64, 'one head must be <= 2% of heads (F12.5)');
  const L = vhd.conflictLayout(m.tasks.conflict);
  for (const kind of ['agree', 'conflict', 'absent'] as const) {
    const s = await vhd.conflictScore(model, vhd.conflictPrompts(m.tasks.conflict, kind, m.eval.rowsPerKind, m.eval.seed), L.answerPos);
    assert.ok(Math.abs(s.accuracy - m.eval[kind].accuracy) < 2e-3, `${kind}: accuracy ${s.accuracy} vs recorded ${m.eval[kind].accuracy}`);
    assert.ok(Math.abs(s.priorErrorRate - m.eval[kind].priorErrorRate) < 2e-3, `${kind}: prior errors ${s.priorErrorRate} vs recorded ${m.eval[kind].priorErrorRate}`);
  }
  // The model makes prior-driven errors on conflict rows (what VHR is meant to cut), and none elsewhere.
  assert.ok(m.eval.conflict.priorErrorRate > 0.05, `prior-driven errors ${m.eval.conflict.priorErrorRate}`);
  const len = await thinkedit.lengthDistribution(model, m.tasks.length);
  assert.ok(Math.abs(len.meanLength - m.eval.length.meanLength) < 1e-3, `mean length ${len.meanLength} vs recorded ${m.eval.length.meanLength}`);
});
