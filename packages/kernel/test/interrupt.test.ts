import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { KernelCore, compileCell, type KernelOutput } from '../src/index.js';

function kernel(flag?: Int32Array): { k: KernelCore; out: KernelOutput[] } {
  const out: KernelOutput[] = [];
  return { k: new KernelCore({ send: (m) => out.push(m), ...(flag ? { interruptFlag: flag } : {}) }), out };
}

test('every loop body in a cell, nested functions included, starts with an interrupt check', () => {
  const { body } = compileCell('while (true) {}\nfor (const x of [1]) f(x);\nfunction g() { do { } while (0); for (;;) break; }\nlet i = 0; for (const k in {}) i++;', []);
  assert.equal(body.match(/__interrupt\(\)/g)?.length, 5);
});

test('a running while (true) {} is stopped by another thread setting the shared flag; state survives', async () => {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { k } = kernel(flag);
  await k.execute('const before = 42;');
  // Another thread, as the page (browser) or the I/O thread (Node) would be.
  const w = new Worker('const { workerData } = require("node:worker_threads"); setTimeout(() => Atomics.store(workerData, 0, 1), 300);', { eval: true, workerData: flag });
  const r = await k.execute('let spins = 0;\nwhile (true) { spins++; }');
  await w.terminate();
  assert.equal(r.status, 'error');
  assert.equal(r.status === 'error' && r.ename, 'Interrupted');
  const after = await k.execute('before + 1');
  assert.equal(after.status, 'ok');
  assert.equal(Atomics.load(flag, 0), 0, 'the flag is cleared for the next cell');
});

test('interrupt() cancels a cell waiting on a promise that never settles', async () => {
  const { k, out } = kernel();
  await k.execute('const kept = "yes";');
  setTimeout(() => k.interrupt(), 100);
  const r = await k.execute('await new Promise(() => {});');
  assert.equal(r.status === 'error' && r.ename, 'Interrupted');
  const after = await k.execute('kept');
  assert.equal(after.status, 'ok');
  assert.ok(out.some((o) => o.type === 'execute_result' && o.data['text/plain'] === '"yes"'));
});
