/**
 * The head-score colour layer of HeadSteering and the SweepResult widget: state as the front end
 * receives it, front-end messages, the colour scale, and errors that name the problem.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KernelCore, type KernelOutput } from '@attnlab/kernel';
import { computeScore, listScores, registerScore, Transformer } from '@attnlab/models';
import { tensor } from '@attnlab/tensor';
import { HeadSteering, SweepResult, legendStops, readScore, scoreColor, scoreRange, textColorOn } from '../src/index.js';

const out: KernelOutput[] = [];
const kernel = new KernelCore({ send: (m) => out.push(m) });
type Msg = Extract<KernelOutput, { type: 'comm_msg' }>;
const updatesFor = (id: string) => out.filter((o): o is Msg => o.type === 'comm_msg' && o.commId === id && o.data['method'] === 'update').map((o) => o.data['state'] as Record<string, unknown>);
const front = (id: string, data: Record<string, unknown>) => kernel.commMsg({ comm_id: id, data }, {}, []);
const settle = () => new Promise((r) => setTimeout(r, 10));

test('readScore takes a [layers, heads] tensor, rows or a flat array (NaN -> null) and names a wrong shape; colour scale and legend', async () => {
  assert.deepEqual(await readScore(tensor(new Float32Array([1, 2, NaN, 4, 5, 6]), [2, 3]), 2, 3, 'w'), [1, 2, null, 4, 5, 6]);
  assert.deepEqual(await readScore([[1, 2], [3, Infinity]], 2, 2, 'w'), [1, 2, 3, null]);
  assert.deepEqual(await readScore(new Float64Array([0.5, 1]), 1, 2, 'w'), [0.5, 1]);
  await assert.rejects(readScore(tensor(new Float32Array(6), [3, 2]), 2, 3, 'HeadSteering score \'x\''), /score 'x': score has shape \[3, 2\], expected \[2, 3\] \(layers, heads\)/);
  await assert.rejects(readScore([[1, 2], [3]], 2, 2, 'w'), /rows are 2 x \[2, 1\], expected 2 rows of 2/);
  await assert.rejects(readScore([1, 2, 3], 2, 2, 'w'), /3 values, expected 2 x 2 = 4/);
  await assert.rejects(readScore(7 as never, 2, 2, 'w'), /must be a \[layers, heads\] tensor/);
  assert.deepEqual(scoreRange([null, 2, -1, 0.5]), [-1, 2]);
  assert.equal(scoreRange([null, null]), null);
  // Sequential (viridis) from min to max; diverging (blue-white-red) symmetric about 0 when the range crosses 0; grey for missing.
  assert.equal(scoreColor(0, [0, 1]), 'rgb(68, 1, 84)');
  assert.equal(scoreColor(1, [0, 1]), 'rgb(253, 231, 37)');
  assert.equal(scoreColor(3, [3, 3]), scoreColor(0.5, [0, 1]), 'a flat range is mid-scale');
  assert.equal(scoreColor(0, [-1, 2]), 'rgb(247, 247, 247)');
  assert.equal(scoreColor(-2, [-1, 2]), 'rgb(33, 102, 172)');
  assert.equal(scoreColor(2, [-1, 2]), 'rgb(178, 24, 43)');
  assert.equal(scoreColor(null, [0, 1]), 'rgb(200, 200, 200)');
  assert.deepEqual(legendStops([-1, 2], 3).map((s) => s.value), [-2, 0, 2]);
  // Labels on cells: white on the dark ends of both scales, black on the light middle.
  assert.deepEqual([scoreColor(0, [0, 1]), scoreColor(1, [0, 1]), scoreColor(0, [-1, 1]), scoreColor(-1, [-1, 1]), scoreColor(0.1, [-1, 1])].map(textColorOn), ['white', 'black', 'black', 'white', 'black']);
  assert.deepEqual(legendStops([0.2, 0.6], 3).map((s) => s.color), [scoreColor(0.2, [0.2, 0.6]), scoreColor(0.4, [0.2, 0.6]), scoreColor(0.6, [0.2, 0.6])]);
});

test('HeadSteering colours the grid by a registered score picked in the front end; added layers; errors go to the status line', async () => {
  const model = new Transformer({ vocabSize: 11, dModel: 16, nLayers: 2, nHeads: 3, nCtx: 8 }, { seed: 1 });
  // A real registered score: each head's W_O Frobenius norm, from the weights.
  const reg = registerScore('wo-norm', {
    description: 'Frobenius norm of each head\'s W_O',
    compute: async (m) => {
      const { nLayers: L, nHeads: H, dHead: Dh, dModel: D } = m.config;
      const out = new Float32Array(L * H);
      for (let l = 0; l < L; l++) {
        const w = await m.param(`h.${l}.attn.c_proj.weight`).data();
        for (let h = 0; h < H; h++) for (let i = h * Dh * D; i < (h + 1) * Dh * D; i++) out[l * H + h]! += w[i]! * w[i]!;
      }
      return tensor(out.map(Math.sqrt), [L, H]);
    },
  });
  try {
    const w = new HeadSteering(model.heads, { scores: { names: listScores, compute: (n) => computeScore(n, model), describe: (n) => (n === 'wo-norm' ? 'norm of W_O' : undefined) } });
    assert.ok(w.get('score_names').includes('wo-norm'));
    assert.equal(w.get('score'), '');
    front(w.modelId, { method: 'custom', content: { action: 'score', name: 'wo-norm' } });
    await settle();
    const want = [...(await (await computeScore('wo-norm', model)).data())];
    assert.equal(w.get('score'), 'wo-norm');
    w.get('score_values').forEach((v, i) => assert.ok(Math.abs(v! - want[i]!) < 1e-6, `cell ${i}: ${v} vs ${want[i]}`));
    assert.deepEqual(w.get('score_range'), scoreRange(w.get('score_values')));
    assert.equal(w.get('score_description'), 'norm of W_O');
    assert.equal(w.scoreAt(1, 2), w.get('score_values')[5]);
    // The front end was sent the layer.
    assert.ok(updatesFor(w.modelId).some((s) => s['score'] === 'wo-norm' && Array.isArray(s['score_values'])));
    // Values from code under a new name join the dropdown.
    await w.showScore('by hand', [[0, 1, 2], [3, 4, NaN]], 'typed in');
    assert.deepEqual(w.get('score_values'), [0, 1, 2, 3, 4, null]);
    assert.deepEqual(w.get('score_range'), [0, 4]);
    assert.ok(w.get('score_names').includes('by hand'));
    front(w.modelId, { method: 'custom', content: { action: 'score', name: 'nope' } });
    await settle();
    assert.match(w.get('error'), /unknown score 'nope' \(offered: .*wo-norm.*by hand/);
    assert.equal(w.get('score'), 'by hand', 'a failed pick leaves the layer shown');
    await assert.rejects(w.showScore('bad', [[1, 2]]), /score 'bad': score rows are 1 x \[2\], expected 2 rows of 3/);
    await w.showScore('');
    assert.equal(w.get('score'), '');
    assert.deepEqual(w.get('score_values'), []);
    // Steering still works alongside.
    front(w.modelId, { method: 'custom', content: { action: 'set', layer: 0, head: 2, patch: { ablate: true } } });
    assert.equal(model.heads.get({ layer: 0, head: 2 }).ablate, 'zero');
    const plain = new HeadSteering(model.heads);
    await assert.rejects(plain.showScore('wo-norm'), /no score 'wo-norm' \(no score source given/);
    w.close();
    plain.close();
  } finally {
    reg.dispose();
  }
});

test('SweepResult from ablation results: heatmap cells, table with intervals; a click toggles ablation on model.heads and a HeadSteering shows it', async () => {
  const model = new Transformer({ vocabSize: 11, dModel: 16, nLayers: 2, nHeads: 2, nCtx: 8 }, { seed: 2 });
  const steer = new HeadSteering(model.heads);
  let calls = 0;
  const results = [
    { heads: [{ layer: 0, head: 1 }], label: 'L0H1', delta: -0.25, ci: [-0.3, -0.2] as [number, number] },
    { heads: [{ layer: 1, head: 0 }], label: 'L1H0', delta: 0.05, ci: [-0.01, 0.1] as [number, number] },
    { heads: [{ layer: 0, head: 0 }, { layer: 1, head: 1 }], label: 'L0H0+L1H1', delta: NaN, ci: [NaN, NaN] as [number, number] },
  ];
  const w = SweepResult.fromAblation(results, 2, 2, { target: model.heads, onChange: () => { calls++; } });
  assert.deepEqual(w.get('entries')[0], { label: 'L0H1', heads: [[0, 1]], value: -0.25, lo: -0.3, hi: -0.2 });
  assert.deepEqual(w.get('entries')[2]!.value, null, 'NaN travels as null');
  assert.deepEqual(w.get('cell_entry'), [-1, 0, 1, -1], 'cells show single-head entries');
  assert.deepEqual(w.get('range'), [-0.25, 0.05]);
  assert.equal(w.get('clickable'), true);
  front(w.modelId, { method: 'custom', content: { action: 'select', index: 0 } });
  await settle();
  assert.equal(model.heads.get({ layer: 0, head: 1 }).ablate, 'zero');
  assert.equal(steer.cell(0, 1).ablate, true, 'the steering grid shows the click');
  assert.equal(w.get('selected'), 0);
  assert.equal(calls, 1);
  front(w.modelId, { method: 'custom', content: { action: 'select', index: 0 } });
  assert.equal(model.heads.get({ layer: 0, head: 1 }).ablate ?? null, null, 'a second click restores');
  front(w.modelId, { method: 'custom', content: { action: 'select', index: 2 } });
  assert.equal(model.heads.get({ layer: 0, head: 0 }).ablate, 'zero');
  assert.equal(model.heads.get({ layer: 1, head: 1 }).ablate, 'zero');
  front(w.modelId, { method: 'custom', content: { action: 'select', index: 9 } });
  assert.match(w.get('error'), /entry 9 out of range \(0\.\.2\)/);
  assert.throws(() => SweepResult.fromAblation(results, 2, 3, { target: model.heads }), /target has 2 layers x 2 heads, the results 2 x 3 heads/);
  assert.throws(() => SweepResult.fromAblation([{ heads: [{ layer: 2, head: 0 }], label: 'x', delta: 0, ci: [0, 0] }], 2, 2), /entry 'x' names layer 2 head 0, outside 2 layers x 2 heads/);
  assert.throws(() => SweepResult.fromAblation([{ label: 'x' } as never], 2, 2), /result 0 is not \{ heads, label, delta, ci/);
  w.close();
  steer.close();
});

test('SweepResult from patching grids: [layers, heads] with intervals, [layers, positions] (no heads to click), shape errors', async () => {
  const model = new Transformer({ vocabSize: 11, dModel: 16, nLayers: 2, nHeads: 3, nCtx: 8 }, { seed: 3 });
  const g = SweepResult.fromGrid({ shape: [2, 3], dims: ['layer', 'head'], values: [0, 0.1, 0.9, 0.2, NaN, 1], lo: [0, 0, 0.8, 0.1, 0, 0.9], hi: [0, 0.2, 1, 0.3, 0, 1] }, { target: model.heads });
  assert.equal(g.get('column_kind'), 'head');
  assert.deepEqual(g.get('cell_entry'), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(g.get('entries')[2], { label: 'L0H2', heads: [[0, 2]], value: 0.9, lo: 0.8, hi: 1 });
  assert.match(g.get('metric'), /restored share/);
  g.select(5);
  assert.equal(model.heads.get({ layer: 1, head: 2 }).ablate, 'zero');
  const p = SweepResult.fromGrid({ shape: [2, 4], dims: ['layer', 'position'], values: new Float64Array(8).fill(0.5) }, { target: model.heads, title: 'by position' });
  assert.equal(p.get('column_kind'), 'position');
  assert.equal(p.get('entries')[5]!.label, 'L1@1');
  assert.equal(p.get('entries')[5]!.lo, null);
  const before = model.heads.entries().length;
  p.select(5);
  assert.equal(model.heads.entries().length, before, 'a position cell names no head');
  assert.throws(() => SweepResult.fromGrid({ shape: [2, 3, 4], values: new Float64Array(24) }), /expected a 2-D grid .* got shape \[2, 3, 4\] \(slice a 3-D grid first\)/);
  assert.throws(() => SweepResult.fromGrid({ shape: [2, 3], values: [1, 2] }), /values has 2 entries for a 2 x 3 grid/);
  assert.match(String(g), /SweepResult\(6 results over 2 layers x 3 heads\)/);
  g.close();
  p.close();
});
