import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KernelCore, type KernelOutput } from '@attnlab/kernel';
import { Transformer } from '@attnlab/models';
import { AttentionExplorer, Button, Dropdown, HeadSteering, IntSlider, Output, VBox, WIDGET_VIEW_MIME, liveWidgets } from '../src/index.js';

// One kernel for the file: widgets find it through the kernel context global, as in a notebook.
const out: KernelOutput[] = [];
const kernel = new KernelCore({ send: (m) => out.push(m) });
const DISPLAY = Symbol.for('Jupyter.display');

type Open = Extract<KernelOutput, { type: 'comm_open' }>;
type Msg = Extract<KernelOutput, { type: 'comm_msg' }>;
const opens = () => out.filter((o): o is Open => o.type === 'comm_open');
const msgsFor = (id: string) => out.filter((o): o is Msg => o.type === 'comm_msg' && o.commId === id);
const stderr = () => out.filter((o) => o.type === 'stream' && o.name === 'stderr').map((o) => (o as { text: string }).text).join('');
const front = (id: string, data: Record<string, unknown>, buffers: ArrayBuffer[] = []) => kernel.commMsg({ comm_id: id, data }, {}, buffers);

test('a slider opens a jupyter.widget comm with controls 2.0.0 state, its layout and style as models, and displays as a widget view', () => {
  const s = new IntSlider({ value: 3, min: 0, max: 10, description: 'k' });
  const open = opens().find((o) => o.commId === s.modelId)!;
  assert.equal(open.targetName, 'jupyter.widget');
  assert.deepEqual(open.metadata, { version: '2.1.0' });
  const st = open.data['state'] as Record<string, unknown>;
  assert.equal(st['_model_name'], 'IntSliderModel');
  assert.equal(st['_model_module_version'], '2.0.0');
  assert.equal(st['value'], 3);
  const layoutId = String(st['layout']).replace('IPY_MODEL_', '');
  assert.equal((opens().find((o) => o.commId === layoutId)!.data['state'] as Record<string, unknown>)['_model_name'], 'LayoutModel');
  assert.equal((opens().find((o) => o.commId === String(st['style']).replace('IPY_MODEL_', ''))!.data['state'] as Record<string, unknown>)['_model_name'], 'SliderStyleModel');
  const bundle = (s as unknown as { [DISPLAY](): Record<string, unknown> })[DISPLAY]();
  assert.deepEqual(bundle[WIDGET_VIEW_MIME], { model_id: s.modelId, version_major: 2, version_minor: 1 });
});

test('front-end updates change the value and fire observers; kernel-side sets send updates; values clamp like ipywidgets', () => {
  const s = new IntSlider({ value: 1, max: 5 });
  const seen: unknown[] = [];
  s.observe('value', (c) => seen.push([c.old, c.new, c.source]));
  front(s.modelId, { method: 'update', state: { value: 4 }, buffer_paths: [] });
  assert.equal(s.value, 4);
  s.value = 9;
  assert.equal(s.value, 5);
  assert.deepEqual(seen, [[1, 4, 'frontend'], [4, 5, 'kernel']]);
  assert.deepEqual(msgsFor(s.modelId).at(-1)!.data, { method: 'update', state: { value: 5 }, buffer_paths: [] });
});

test('a malformed update is reported, the front end gets the kernel values back, state stays intact', () => {
  const s = new IntSlider({ value: 2 });
  front(s.modelId, { method: 'update', state: { value: 'high' } });
  assert.equal(s.value, 2);
  assert.deepEqual(msgsFor(s.modelId).at(-1)!.data['state'], { value: 2 });
  assert.match(stderr(), /IntSlider\.value must be a finite integer, got "high"/);
  front(s.modelId, { method: 'explode' });
  assert.match(stderr(), /unknown widget message method "explode"/);
  front(s.modelId, { method: 'update', state: { nonsense: 1 } });
  assert.match(stderr(), /unknown property 'nonsense'/);
  assert.throws(() => new IntSlider({ min: 5, max: 1 }), /min 5 is greater than max 1/);
  assert.throws(() => new Dropdown({ options: ['a'], value: 'b' }), /not one of the options/);
});

test('request_state and jupyter.widget.control update_states return full state, typed arrays as binary buffers', async () => {
  const e = new AttentionExplorer(['a', 'b'], { data: new Float32Array([1, 0, 0.5, 0.5]), shape: [1, 1, 2, 2] });
  front(e.modelId, { method: 'request_state' });
  const full = msgsFor(e.modelId).at(-1)!;
  assert.deepEqual(full.data['buffer_paths'], [['patterns']]);
  assert.deepEqual([...new Float32Array(full.buffers[0]!)], [1, 0, 0.5, 0.5]);
  kernel.commOpen({ comm_id: 'ctl', target_name: 'jupyter.widget.control', data: {} });
  front('ctl', { method: 'request_states' });
  const reply = msgsFor('ctl').at(-1)!;
  assert.equal(reply.data['method'], 'update_states');
  const states = reply.data['states'] as Record<string, Record<string, unknown>>;
  assert.equal(Object.keys(states).length, liveWidgets.size);
  assert.equal(states[e.modelId]!['_model_name'], 'AttentionExplorerModel');
  const paths = reply.data['buffer_paths'] as unknown[][];
  const i = paths.findIndex((p) => p[0] === e.modelId);
  assert.deepEqual(paths[i], [e.modelId, 'patterns']);
  assert.deepEqual([...new Float32Array(reply.buffers[i]!)], [1, 0, 0.5, 0.5]);
  await e.refresh({ data: [0, 1, 1, 0], shape: [1, 1, 2, 2] });
  assert.deepEqual([...new Float32Array(msgsFor(e.modelId).at(-1)!.buffers[0]!)], [0, 1, 1, 0]);
  await assert.rejects(e.refresh({ data: [1], shape: [1, 1, 2, 2] }), /needs 4 values, got 1/);
});

test('buttons get clicks as custom messages; boxes reference children; Output holds outputs as state', () => {
  const b = new Button({ description: 'go' });
  let clicks = 0;
  b.onClick(() => clicks++);
  front(b.modelId, { method: 'custom', content: { event: 'click' } });
  assert.equal(clicks, 1);
  const box = new VBox([b]);
  const st = opens().find((o) => o.commId === box.modelId)!.data['state'] as Record<string, unknown>;
  assert.deepEqual(st['children'], [`IPY_MODEL_${b.modelId}`]);
  const o = new Output();
  o.appendStdout('hello\n');
  assert.deepEqual((msgsFor(o.modelId).at(-1)!.data['state'] as { outputs: unknown[] }).outputs, [{ output_type: 'stream', name: 'stdout', text: 'hello\n' }]);
});

test('HeadSteering on a real Transformer: a front-end change reaches model.heads and re-runs the callback once per burst', async () => {
  const model = new Transformer({ vocabSize: 11, dModel: 16, nLayers: 2, nHeads: 2, nCtx: 8 }, { seed: 1 });
  let runs = 0;
  const w = new HeadSteering(model.heads, { onChange: async () => { runs++; await new Promise((r) => setTimeout(r, 20)); } });
  const st = opens().find((o) => o.commId === w.modelId)!.data['state'] as Record<string, unknown>;
  assert.equal(st['_model_module'], '@attnlab/widgets-extension');
  assert.equal((st['cells'] as unknown[]).length, 4);
  front(w.modelId, { method: 'custom', content: { action: 'set', layer: 1, head: 0, patch: { gate: 0.25 } } });
  front(w.modelId, { method: 'custom', content: { action: 'set', layer: 0, head: 1, patch: { ablate: true } } });
  front(w.modelId, { method: 'custom', content: { action: 'col', head: 1, patch: { perturb: 'temperature', strength: 2 } } });
  await w.whenIdle();
  assert.equal(model.heads.get({ layer: 1, head: 0 }).gate, 0.25);
  assert.equal(model.heads.get({ layer: 0, head: 1 }).ablate, 'zero');
  assert.deepEqual(model.heads.get({ layer: 1, head: 1 }).perturb, { mode: 'temperature', strength: 2 });
  assert.equal(runs, 2, 'one run for the first change, one more for the changes that arrived meanwhile');
  assert.deepEqual(w.cell(0, 1), { gate: 1, ablate: true, perturb: 'temperature', strength: 2 });
  // A change made in code shows up in the grid.
  model.heads.set({ layer: 0, head: 0 }, { gate: 1.5 });
  assert.equal(w.cell(0, 0).gate, 1.5);
  front(w.modelId, { method: 'custom', content: { action: 'row', layer: 0, patch: { gate: 7 } } });
  assert.match(stderr(), /gate must be a number in \[0, 2\], got 7/);
  assert.equal(model.heads.get({ layer: 0, head: 0 }).gate, 1.5, 'a rejected change leaves the model as it was');
  front(w.modelId, { method: 'custom', content: { action: 'reset' } });
  await w.whenIdle();
  assert.equal(model.heads.entries().length, 0);
  assert.equal(w.get('runs'), 3);
});

test('without a kernel, creating a widget says what is missing', async () => {
  const g = globalThis as Record<symbol, unknown>;
  const saved = g[Symbol.for('attnlab.kernel')];
  delete g[Symbol.for('attnlab.kernel')];
  try {
    assert.throws(() => new IntSlider(), /no running attnlab kernel/);
  } finally {
    g[Symbol.for('attnlab.kernel')] = saved;
  }
});
