import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from '@attnlab/tensor';
import { Transformer, computeScore, getAnalysis, listScores, registerAnalysis, registerScore, unregisterScore } from '../src/index.js';

test('score and analysis registries: by name, re-registering replaces, unknown names list all, [layers, heads] checked, published for plugins', async () => {
  const model = new Transformer({ vocabSize: 5, dModel: 8, nLayers: 2, nHeads: 2, nCtx: 8 });
  const first = registerScore('ones-test', { compute: (m) => tensor(new Float32Array(m.config.nLayers * m.config.nHeads).fill(1), [m.config.nLayers, m.config.nHeads]) });
  registerScore('ones-test', { description: 'twos', compute: (m) => tensor(new Float32Array(4).fill(2), [m.config.nLayers, m.config.nHeads]) });
  first.dispose(); // stale: the re-registration stays
  assert.deepEqual(Array.from(await (await computeScore('ones-test', model)).data()), [2, 2, 2, 2]);
  registerScore('bad-shape-test', { compute: () => tensor([1, 2, 3], [3]) });
  await assert.rejects(computeScore('bad-shape-test', model), /score 'bad-shape-test' returned \[3\], expected \[2, 2\]/);
  await assert.rejects(computeScore('nope', model), /unknown score 'nope' \(registered: ones-test, bad-shape-test/);
  assert.throws(() => registerScore('x', {} as never), /score 'x' needs a compute\(model, options\) function/);
  const a = registerAnalysis('count-test', { run: (m) => m.config.nHeads });
  assert.equal(await getAnalysis('count-test').run(model), 2);
  // The kernel's plugin context reaches these through the published extension points.
  const points = (globalThis as unknown as Record<symbol, Map<string, { label: string; get(n: string): unknown; delete(n: string): void }>>)[Symbol.for('attnlab.extension-points')]!;
  assert.equal(points.get('score')!.label, 'head score');
  assert.ok(points.get('analysis')!.get('count-test'));
  points.get('score')!.delete('bad-shape-test');
  assert.ok(!listScores().includes('bad-shape-test'));
  a.dispose();
  assert.throws(() => getAnalysis('count-test'), /unknown analysis 'count-test'/);
  unregisterScore('ones-test');
});
