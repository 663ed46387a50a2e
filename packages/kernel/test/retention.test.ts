import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KernelCore, type KernelOutput } from '../src/index.js';
import { KEPT_CELLS } from '../src/run.js';

// Issue 19 item 6: what the kernel keeps per executed cell is bounded however many cells run.
test('5,000 executed cells keep a bounded number of sources, position maps, labels and context cells', async () => {
  const outs: KernelOutput[] = [];
  const k = new KernelCore({ send: (m) => outs.push(m) });
  await k.execute('function old(): never { throw new Error("from an old cell"); }');
  for (let i = 0; i < 5000; i++) {
    const r = await k.execute(i % 10 === 0 ? `const v${i % 100} = ${i};` : '1 + 1');
    assert.equal(r.status, 'ok');
  }
  const kept = k.retained;
  assert.ok(kept.cells <= KEPT_CELLS, `cells kept: ${kept.cells}`);
  assert.ok(kept.labels <= KEPT_CELLS, `labels kept: ${kept.labels}`);
  // Ten distinct declarations: a cell redeclaring the same names replaces the older one.
  assert.ok(kept.languageCells <= 20, `language-service cells: ${kept.languageCells}`);
  // A function from a cell that was let go still runs, and its frame still says where it came from.
  const r = await k.execute('old()');
  assert.equal(r.status, 'error');
  assert.ok(r.status === 'error' && r.traceback.some((l) => /older cell/.test(l)), r.status === 'error' ? r.traceback.join('\n') : '');
});
