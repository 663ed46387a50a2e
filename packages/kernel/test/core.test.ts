import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KernelCore, type KernelOutput } from '../src/index.js';

function kernel(): { core: KernelCore; out: KernelOutput[] } {
  const out: KernelOutput[] = [];
  return { core: new KernelCore({ send: (m) => out.push(m) }), out };
}

test('execute: streams, results with execution counts, and state across cells', async () => {
  const { core, out } = kernel();
  assert.deepEqual(await core.execute('const a: number = 20;\nconsole.log("hi", a);\nconsole.error("warn");'), { status: 'ok', executionCount: 1 });
  assert.deepEqual(out.splice(0), [
    { type: 'stream', name: 'stdout', text: 'hi 20\n' },
    { type: 'stream', name: 'stderr', text: 'warn\n' },
  ]);
  await core.execute('a + 22');
  assert.deepEqual(out.splice(0), [{ type: 'execute_result', data: { 'text/plain': '42' }, executionCount: 2 }]);
  assert.deepEqual(core.who(), ['a']);
});

test('objects display through Symbol.for("Jupyter.display"); display handles update in place', async () => {
  const { core, out } = kernel();
  await core.execute(`const fig = { [Symbol.for('Jupyter.display')]() { return { 'text/html': '<b>x</b>' }; } };
const h = display(fig);
h.update(3);
fig`);
  assert.equal(out[0]!.type, 'display_data');
  const id = (out[0] as { displayId: string }).displayId;
  assert.deepEqual(out[0], { type: 'display_data', data: { 'text/plain': '{}', 'text/html': '<b>x</b>' }, displayId: id });
  assert.deepEqual(out[1], { type: 'update_display_data', data: { 'text/plain': '3' }, displayId: id });
  assert.equal(out[2]!.type, 'execute_result');
});

test('errors are reported on the cell and the kernel keeps its state', async () => {
  const { core, out } = kernel();
  await core.execute('const keep = 5;');
  const r = await core.execute('throw new RangeError("bad shape [2, 3]")');
  assert.equal(r.status, 'error');
  assert.deepEqual(out.at(-1)!.type, 'error');
  assert.equal((out.at(-1) as { ename: string }).ename, 'RangeError');
  const s = await core.execute('const = ;');
  assert.equal(s.status === 'error' && s.ename, 'SyntaxError');
  out.length = 0;
  await core.execute('keep');
  assert.deepEqual(out, [{ type: 'execute_result', data: { 'text/plain': '5' }, executionCount: 4 }]);
});

test('tensors from @attnlab/tensor display a summary', async () => {
  const { core, out } = kernel();
  await core.execute("import { ones } from '@attnlab/tensor';\nones([2, 3])");
  const res = out.find((m) => m.type === 'execute_result') as { data: Record<string, string> } | undefined;
  assert.ok(res, JSON.stringify(out));
  assert.match(res.data['text/plain']!, /Tensor\(float32 \[2, 3\] on cpu\)/);
});
