import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CellScope, CellSyntaxError } from '../src/index.js';

test('types are stripped and the last expression is the result', async () => {
  const s = new CellScope();
  const r = await s.run('const n: number = 1 + 1;\nn * 21');
  assert.deepEqual(r, { value: 42, hasResult: true, declared: ['n'] });
  assert.deepEqual(await s.run('const m = 3;'), { value: undefined, hasResult: false, declared: ['m'] });
});

test('bindings persist across cells and can be redeclared', async () => {
  const s = new CellScope();
  await s.run('const x = 1; let y = 2; var z = 3;');
  assert.equal((await s.run('x + y + z')).value, 6);
  await s.run('const x = 10;');
  assert.equal((await s.run('x')).value, 10);
  await s.run('function f(a: number): number { return a + x; }');
  assert.equal((await s.run('f(1)')).value, 11);
  await s.run('function f(a: number): number { return a * 2; }');
  assert.equal((await s.run('f(4)')).value, 8);
});

test('classes, enums, namespaces and destructuring persist; classes can be redefined', async () => {
  const s = new CellScope();
  await s.run('class A { v = 1 }\nenum Color { Red, Green }\nnamespace NS { export const k = 5; }\nconst { p, q: [r] } = { p: 1, q: [2] };');
  assert.equal((await s.run('new A().v + Color.Green + NS.k + p + r')).value, 1 + 1 + 5 + 1 + 2);
  await s.run('class A { v = 7 }');
  assert.equal((await s.run('new A().v')).value, 7);
});

test('top-level await and static imports become awaited dynamic imports', async () => {
  const s = new CellScope();
  await s.run("import { join } from 'node:path';\nimport * as os from 'node:os';\nimport fs, { existsSync as ex } from 'node:fs';");
  assert.equal((await s.run("join('a', 'b')")).value, 'a/b');
  assert.equal((await s.run('typeof os.cpus === "function" && typeof fs.readFileSync === "function" && ex("/")')).value, true);
  assert.equal((await s.run('await new Promise<number>((r) => setTimeout(() => r(7), 1))')).value, 7);
});

test('a throwing cell keeps earlier state and what it declared before the throw', async () => {
  const s = new CellScope();
  await s.run('const keep = 1;');
  await assert.rejects(s.run('const before = 2;\nthrow new Error("boom");'), /boom/);
  assert.equal((await s.run('keep + before')).value, 3);
});

test('syntax errors name the line and column', async () => {
  const s = new CellScope();
  await assert.rejects(s.run('const ok = 1;\nconst = 2;'), (e: unknown) => e instanceof CellSyntaxError && e.line === 2);
  assert.equal((await s.run('1')).value, 1);
});

test('dynamic import() anywhere in a cell goes through the host importer', async () => {
  const asked: string[] = [];
  const s = new CellScope(async (spec) => {
    asked.push(spec);
    return { answer: spec.length };
  });
  const r = await s.run("const m = await import('pkg-a');\nconst f = async () => (await import('pkg-bb')).answer;\nawait import('pkg-c');\n[m.answer, await f()]");
  assert.deepEqual(r.value, [5, 6]);
  assert.deepEqual(asked, ['pkg-a', 'pkg-c', 'pkg-bb']);
  assert.deepEqual((await s.run("(await import('xyz')).answer")).value, 3);
});
