import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KernelCore, type KernelOutput } from '../src/index.js';

function kernel(): { k: KernelCore; out: KernelOutput[] } {
  const out: KernelOutput[] = [];
  return { k: new KernelCore({ send: (m) => out.push(m) }), out };
}

test('an import in a cell that then throws keeps its real types for later cells (hover, completion)', async () => {
  const { k } = kernel();
  const r = await k.execute("import { patchingSweep } from '@attnlab/models';\nimport { randn as rn, type Tensor } from '@attnlab/tensor';\nthrow new Error('x')");
  assert.equal(r.status, 'error');
  const typeOf = await k.execute('typeof patchingSweep');
  assert.equal(typeOf.status, 'ok');
  const hover = k.inspect('patchingSweep', 5);
  assert.equal(hover.found, true);
  assert.match(hover.data['text/plain']!, /function patchingSweep\(model: Transformer, /);
  assert.doesNotMatch(hover.data['text/plain']!, /: any/);
  assert.ok(k.complete('patchingSw', 10).matches.includes('patchingSweep'));
  // The renamed import and the type-only one are in view too.
  assert.match(k.inspect('rn', 1).data['text/plain']!, /function rn\(shape: Shape/);
  const c = k.complete('const t: Tensor = rn([2]); t.requ', 33);
  assert.ok(c.matches.includes('requireGrad'), JSON.stringify(c.matches));
});

test('an import that itself failed is not kept (its names are not bound)', async () => {
  const { k } = kernel();
  const r = await k.execute("import { nothingHere } from 'no-such-package-attnlab';\nconst after = 1;");
  assert.equal(r.status, 'error');
  assert.equal(k.retained.languageCells, 0);
});

test('Shift+Tab inside a call shows the callee signature with the current argument', async () => {
  const { k } = kernel();
  await k.execute("import { attention } from '@attnlab/attention';\n/** Scales a vector.\n * @param factor how much */\nfunction scale(v: number[], factor: number): number[] { return v.map((x) => x * factor); }");
  for (const code of ['attention(', 'const o = await attention(']) {
    const r = k.inspect(code, code.length);
    assert.equal(r.found, true, code);
    assert.match(r.data['text/plain']!, /attention\(q: Tensor, k: Tensor, v: Tensor/);
    assert.match(r.data['text/plain']!, /argument 1: q: Tensor/);
    assert.match(r.data['text/markdown']!, /^```typescript\n/);
  }
  const second = k.inspect('scale([1, 2], ', 14);
  assert.equal(second.found, true);
  assert.match(second.data['text/plain']!, /^scale\(v: number\[\], factor: number\): number\[\]/);
  assert.match(second.data['text/plain']!, /argument 2: factor: number — how much/);
  assert.match(second.data['text/plain']!, /Scales a vector\./);
  // On a name, inspection still describes that name; outside any call there is nothing.
  assert.match(k.inspect('scale', 5).data['text/plain']!, /function scale\(v: number\[\], factor: number\): number\[\]/);
  assert.equal(k.inspect('1 + ', 4).found, false);
});
