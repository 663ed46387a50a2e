import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CellScope } from '../src/index.js';

// Issue 19 item 7: async and generator declarations are block-scoped inside the compiled cell's
// try block; they must persist like plain functions do.
test('top-level async, generator and async generator declarations persist across cells', async () => {
  const s = new CellScope();
  await s.run('async function f(): Promise<number> { return 1; }\nfunction* g() { yield 2; }\nasync function* h() { yield 3; }');
  assert.equal((await s.run('await f()')).value, 1);
  assert.equal((await s.run('g().next().value')).value, 2);
  assert.equal((await s.run('(await h().next()).value')).value, 3);
  assert.deepEqual((await s.run('export async function e() {}')).declared, ['e']);
  assert.equal((await s.run('typeof e')).value, 'function');
});

test('they are hoisted within their cell and can be redefined by a later cell', async () => {
  const s = new CellScope();
  assert.equal((await s.run('const early = [...gen()];\nfunction* gen() { yield 1; yield 2; }\nearly.length')).value, 2);
  assert.equal((await s.run('const eight = await twice(4);\nasync function twice(n: number) { return 2 * n; }\neight')).value, 8);
  await s.run('async function twice(n: number) { return 3 * n; }');
  assert.equal((await s.run('await twice(4)')).value, 12);
  // A cell that throws after declaring one keeps it, as with every other declaration.
  await assert.rejects(s.run('function* kept() { yield "k"; }\nthrow new Error("after")'), /after/);
  assert.equal((await s.run('kept().next().value')).value, 'k');
});
