import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KernelCore, extensionPoints, mapPoint, toIopubMessage, type AttnlabPlugin, type KernelOutput, type PluginContext } from '../src/index.js';

/** A kernel whose imports come from a table, with every output kept. */
function kernel(modules: Record<string, Record<string, unknown>>) {
  const out: KernelOutput[] = [];
  const k = new KernelCore({ send: (m) => out.push(m), importModule: async (s) => { const m = modules[s]; if (!m) throw new Error(`no module ${s}`); return m; } });
  const text = (name: 'stdout' | 'stderr' = 'stdout') => out.filter((o) => o.type === 'stream' && o.name === name).map((o) => (o.type === 'stream' ? o.text : '')).join('');
  return { k, out, text };
}

/** A registry the way a method package publishes one (a Map with a label, by kind). */
function publish(kind: string, label: string): Map<string, unknown> {
  const m = new Map<string, unknown>();
  extensionPoints().set(kind, mapPoint(label, m));
  return m;
}

test('activation is idempotent and returns one disposable; dispose undoes every registration, %plugin lists them', async () => {
  const variants = publish('attention', 'attention variant');
  const scores = publish('score', 'score');
  variants.set('softmax', 'built-in softmax');
  let activations = 0;
  let ownDisposals = 0;
  const plugin: AttnlabPlugin = {
    id: 'demo',
    activate(ctx: PluginContext) {
      activations++;
      ctx.registerDisplayFormatter((v) => (v instanceof Set ? { 'text/plain': `Set of ${v.size}` } : undefined));
      ctx.registerMagic('double', { line: (args) => Number(args) * 2 });
      ctx.registerMagic('who', { line: () => 'shadowed' });
      ctx.registerWidget('knob', () => 'a knob');
      ctx.registerAttention({ name: 'softmax', forward: 'demo softmax' } as { name: string });
      ctx.registerAttention('window', { forward: 'w' });
      ctx.registerScore({ name: 'induction' });
      return { dispose: () => void ownDisposals++ };
    },
  };
  const { k, out, text } = kernel({ demo: { attnlabPlugin: plugin, x: 1 } });
  assert.equal((await k.execute("import { x } from 'demo';\nconst again = await import('demo');\nx")).status, 'ok');
  assert.equal(activations, 1);
  const d1 = await k.plugins.activate(plugin);
  assert.equal(d1, await k.plugins.activate(plugin), 'the same disposable for an active plugin');
  assert.equal(activations, 1);
  assert.equal(text('stderr'), '', 'a successful activation is silent');

  assert.deepEqual((variants.get('softmax') as { forward: string }).forward, 'demo softmax');
  assert.ok(variants.has('window') && scores.has('induction') && k.plugins.widgets.has('knob'));
  await k.execute('new Set([1, 2, 3])');
  assert.ok(out.some((o) => o.type === 'execute_result' && o.data['text/plain'] === 'Set of 3'));
  await k.execute('%double 21');
  assert.ok(out.some((o) => o.type === 'execute_result' && o.data['text/plain'] === '42'));

  await k.execute('%plugin');
  assert.match(text(), /^demo: display formatter, magic %double, magic %who, widget 'knob', attention variant 'softmax', attention variant 'window', score 'induction'$/m);

  await k.execute('%plugin dispose demo');
  assert.match(text(), /plugin 'demo' disposed: 7 registrations undone/);
  assert.equal(ownDisposals, 1, "the plugin's own disposable ran");
  assert.equal(variants.get('softmax'), 'built-in softmax', 'a replaced entry comes back');
  assert.ok(!variants.has('window') && !scores.has('induction') && !k.plugins.widgets.has('knob'));
  assert.equal(k.magics.has('double'), false);
  assert.match(String(k.magics.get('who')?.help), /names declared/, 'the built-in %who is back');
  out.length = 0;
  await k.execute('new Set([1])');
  assert.ok(out.some((o) => o.type === 'execute_result' && o.data['text/plain'] !== 'Set of 1'));
  d1.dispose(); // twice: nothing happens
  assert.equal(ownDisposals, 1);
  await k.execute('%plugin');
  assert.match(text(), /no plugins active/);
  // Importing it again activates it again.
  await k.execute("await import('demo')");
  assert.equal(activations, 2);
  assert.equal(k.plugins.active.has('demo'), true);
});

test('two plugins on one name: disposing either leaves the right entry; a cell that replaced it keeps its own', async () => {
  const kvs = publish('kv-policy', 'KV policy');
  const { k } = kernel({});
  const a = await k.plugins.activate({ id: 'a', activate: (ctx) => void ctx.registerKVPolicy('h2o', 'a') });
  const b = await k.plugins.activate({ id: 'b', activate: (ctx) => void ctx.registerKVPolicy('h2o', 'b') });
  assert.equal(kvs.get('h2o'), 'b');
  a.dispose();
  assert.equal(kvs.get('h2o'), 'b', 'the lower layer went; the visible one stays');
  b.dispose();
  assert.equal(kvs.has('h2o'), false);
  const c = await k.plugins.activate({ id: 'c', activate: (ctx) => void ctx.register('kv-policy', 'h2o', 'c') });
  kvs.set('h2o', 'from a cell');
  c.dispose();
  assert.equal(kvs.get('h2o'), 'from a cell');
});

test('a plugin that throws is named, its partial registrations are undone, and the kernel goes on', async () => {
  const broken: AttnlabPlugin = {
    id: 'broken-plugin',
    activate(ctx) {
      ctx.registerMagic('half', { line: (a) => Number(a) / 2 });
      throw new Error('no GPU for me');
    },
  };
  const { k, text } = kernel({ broken: { attnlabPlugin: broken, y: 5 }, 'needs-registry': { attnlabPlugin: { id: 'needs', activate: (ctx: PluginContext) => void ctx.register('no-such-registry', 'x', 1) } } });
  const r = await k.execute("import { y } from 'broken';\ny + 1");
  assert.equal(r.status, 'ok', 'the import works');
  assert.match(text('stderr'), /attnlab: plugin 'broken-plugin' \(from broken\) failed to activate: no GPU for me/);
  assert.equal(k.magics.has('half'), false, 'what it registered before throwing is gone');
  assert.equal(k.plugins.active.has('broken-plugin'), false);
  const p = await k.execute('%plugin broken');
  assert.equal(p.status, 'error');
  assert.match(p.status === 'error' ? p.evalue : '', /plugin 'broken-plugin' \(from broken\) failed to activate: no GPU for me/);
  const n = await k.execute('%plugin needs-registry');
  assert.match(n.status === 'error' ? n.evalue : '', /plugin 'needs'.*no 'no-such-registry' registry is loaded/);
  const bad = await k.execute("%plugin broken extra");
  assert.match(bad.status === 'error' ? bad.evalue : '', /expected a package name or 'dispose <id>'/);
  assert.equal((await k.execute('1 + 1')).status, 'ok');
});

test('outputs map to Jupyter iopub messages in one place', () => {
  assert.deepEqual(toIopubMessage({ type: 'display_data', data: { 'text/plain': 'x' }, displayId: 'd1' }), { msgType: 'display_data', content: { data: { 'text/plain': 'x' }, metadata: {}, transient: { display_id: 'd1' } }, metadata: {}, buffers: [] });
  assert.deepEqual(toIopubMessage({ type: 'execute_result', data: {}, executionCount: 3 }).content['execution_count'], 3);
  assert.deepEqual(toIopubMessage({ type: 'execute_result', data: {}, executionCount: 3 }, { executionCount: 7 }).content['execution_count'], 7);
  const buf = new ArrayBuffer(2);
  const open = toIopubMessage({ type: 'comm_open', commId: 'c', targetName: 't', data: { a: 1 }, metadata: { version: '2.1.0' }, buffers: [buf] });
  assert.deepEqual(open, { msgType: 'comm_open', content: { comm_id: 'c', target_name: 't', data: { a: 1 } }, metadata: { version: '2.1.0' }, buffers: [buf] });
  assert.deepEqual(toIopubMessage({ type: 'clear_output', wait: true }).content, { wait: true });
});
