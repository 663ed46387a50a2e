import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { KernelCore, type KernelOutput } from '../src/index.js';
import { formatValue } from '../src/format.js';

function kernel(): { k: KernelCore; out: KernelOutput[] } {
  const out: KernelOutput[] = [];
  return { k: new KernelCore({ send: (m) => out.push(m) }), out };
}

class P {
  x = 1;
  name = 'p';
}
class G {
  a = 1;
  constructor() {
    Object.defineProperty(this, 'g', { get: () => 2, enumerable: true });
  }
  get v(): number {
    return 1;
  }
}

test('formatValue prints like Node\'s util.inspect (the browser worker has no util): 49 values compared', () => {
  const circ: Record<string, unknown> = { a: 1 };
  circ['self'] = circ;
  const corpus: unknown[] = [[4, 3], [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]], { shape: [4, 3], dtype: 'float32', nested: { a: { b: { c: { d: 1 } } } } },
  Array.from({ length: 30 }, (_, i) => i * 1000), Array.from({ length: 120 }, (_, i) => i), Array.from({ length: 8 }, () => Array.from({ length: 8 }, (_, j) => j / 7)),
  { aaaaaaaaaaaaaaa: 1111111111, bbbbbbbbbbbbbbbbbbb: 'ccccccccccccccccccccccc', dddddddddddddddd: [1, 2, 3], eeeeeeeeeeeee: null },
  new Map<string, unknown>([['a', 1], ['b', { c: 2 }]]), new Set([1, 2]), new Float32Array([1, 2.5]), [undefined, null, 1n, Symbol('s'), function f() {}, class A {}, async function g() {}, () => 1],
  new P(), ["it's", 'a', 'x\ny'], { 'a-b': 1, _ok: 2, $: 3, 1: 4 }, [, 1], [], {}, new Map(), [-0, NaN, Infinity], Object.create(null), [['a', 'b'], ['c', 'd']],
  Array.from({ length: 10 }, (_, i) => 'w' + i), Array.from({ length: 7 }, (_, i) => -i * 1.5), { a: [{ b: 1 }, { c: [1, 2, [3, [4]]] }] }, 'boom', new Date(0), /x/g, circ,
  Array.from({ length: 4 }, (_, i) => Array.from({ length: 16 }, (_, j) => i * 16 + j)),
    { a: { b: { c: {} } } }, { a: { b: { c: { d: 1 } } } }, new G(), new Set(['alpha', 'beta', 'gamma']), 'x'.repeat(100), ['x'.repeat(90)],
  Object.fromEntries(Array.from({ length: 12 }, (_, i) => ['key' + i, i])), Array.from({ length: 150 }, (_, i) => 's' + i), new Float64Array(20).map((_, i) => i / 3),
  new Int32Array(10), { f: Math.max, s: Symbol.iterator, [Symbol('k')]: 1 }, [[[[1]]]], [{ a: 1, b: 2 }, { a: 3, b: 4 }], new Map([[{ k: 1 }, [1, 2]]]),
  [true, false, true, false, true, false, true], [1.123456789, 2.2, 3.3, 4.4, 5.5, 6.6, 7.7, 8.8], Array.from({ length: 3 }, () => Array.from({ length: 3 }, () => Array.from({ length: 3 }, (_, k) => k))),
  { nested: [[1, 2], [3, 4]], name: 'test', values: new Float32Array([0.5, 1.5]) }, new Uint8Array(200), [null, undefined, null, undefined, null, undefined, null],
  ];
  const diffs = corpus.map((v) => [formatValue(v), inspect(v)] as const).filter(([a, b]) => a !== b);
  assert.deepEqual(diffs, [], diffs.map(([a, b]) => `ours:\n${a}\nnode:\n${b}`).join('\n\n'));
  assert.equal(corpus.length, 49);
});

test('displayable objects inside arrays and objects read as their summary line, without rendering their bundle', () => {
  let rendered = 0;
  class Fig {
    [Symbol.for('Jupyter.display')](): Record<string, unknown> {
      rendered++;
      return { 'text/plain': 'Fig(2 traces)', 'image/svg+xml': '<svg/>' };
    }
    toString(): string {
      return 'Fig(2 traces)';
    }
  }
  const bare = { [Symbol.for('Jupyter.display')]: () => ({ 'text/plain': 'Bare\nsecond line' }) };
  assert.equal(formatValue([new Fig(), { f: new Fig() }]), '[ Fig(2 traces), { f: Fig(2 traces) } ]');
  assert.equal(rendered, 0);
  assert.equal(formatValue([bare]), '[ Bare ]');
});

test('console.log and cell results print arrays and objects compactly in the kernel', async () => {
  const { k, out } = kernel();
  await k.execute('const shape = [4, 3];\nconsole.log(shape);\nconsole.log({ shape, dtype: "float32" });\n[[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]]');
  const streams = out.filter((o) => o.type === 'stream').map((o) => (o.type === 'stream' ? o.text : ''));
  assert.deepEqual(streams, ['[ 4, 3 ]\n', "{ shape: [ 4, 3 ], dtype: 'float32' }\n"]);
  const result = out.find((o) => o.type === 'execute_result');
  assert.equal(result?.type === 'execute_result' && result.data['text/plain'], '[ [ 1, 2, 3 ], [ 4, 5, 6 ], [ 7, 8, 9 ], [ 10, 11, 12 ] ]');
  // A string result stays JSON-quoted, as before; inside an array strings are quoted as Node does.
  out.length = 0;
  await k.execute("['it\\'s', 'a']");
  assert.equal(out[0]?.type === 'execute_result' && out[0].data['text/plain'], `[ "it's", 'a' ]`);
});
