import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eraseTypes, stripTypes, KernelCore } from '../src/index.js';

const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (body: string) => () => Promise<unknown>;

// Each snippet sets `result`; erased in place and fully transpiled, it must compute the same.
const SNIPPETS: string[] = [
  'let result: number = 1 + 1;',
  'const xs: Array<number> = [1, 2, 3];\nlet result = xs.map((x: number): number => x * 2);',
  'interface P {\n  x: number;\n  y?: string;\n}\nconst p: P = { x: 3 };\nlet result = p.x;',
  'type Pair<T> = [T, T];\nconst pr = [1, 2] as Pair<number>;\nlet result = pr[0]! + pr[1]!;',
  'function id<T>(v: T): T { return v; }\nlet result = id<string>("a") + id<number>(1);',
  'class A<T> implements Iterable<T> {\n  private items: T[] = [];\n  readonly name?: string;\n  declare tag: string;\n  static count: number = 0;\n  add(v: T): this { this.items.push(v); A.count++; return this; }\n  *[Symbol.iterator](): Iterator<T> { yield* this.items; }\n}\nlet result = [...new A<number>().add(1).add(2)].concat(A.count);',
  'abstract class Base {\n  abstract area(): number;\n  describe(): string { return `area ${this.area()}`; }\n}\nclass Sq extends Base {\n  constructor(private readonly sideLen: number) { super(); }\n  override area(): number { return this.sideLen ** 2; }\n}\nlet result = new Sq(3).describe();',
  'enum Color { Red, Green = 5 }\nlet result = Color.Green + Color.Red;',
  'namespace NS { export const v = 4; }\nlet result = NS.v;',
  'function over(a: string): string;\nfunction over(a: number): number;\nfunction over(a: any): any { return a; }\nlet result = over(2);',
  'let d!: number;\nd = 5;\nconst o = { k: 1 } satisfies Record<string, number>;\nlet result = d + o.k;',
  'const f = async <T,>(x: T): Promise<T> => x;\nlet result = await f(9);',
  'declare const nope: number;\ndeclare function alsoNope(): void;\nlet result = typeof (globalThis as any).nope;',
  'let result: unknown;\ntry { throw new Error("x"); } catch (e: unknown) { result = (e as Error).message; }',
  'const m = new Map<string, number[]>([["a", [1]]]);\nlet result = m.get("a")!.length;',
  'let result = (<number>(<unknown>"5" as any)) + 1;',
  'const obj = { method(this: void, a?: number): number { return a ?? 7; } };\nlet result = obj.method();',
  'let result = [1, 2, 3].reduce<number>((acc, v) => acc + v, 0);',
  'function guard(v: unknown): v is string { return typeof v === "string"; }\nlet result = guard("s");',
  'const g = <T extends { n: number }>(o: T) => o.n;\nlet result = g({ n: 12 });',
  'let result = ((a: number,\n  b: number): number => a * b)(6, 7);',
];

test('erased types compute what the full transpiler computes; runtime TypeScript falls back', async () => {
  let erasedCount = 0;
  for (const src of SNIPPETS) {
    const full = stripTypes(src);
    const expected = await new AsyncFunction(`${full}\n;return result;`)();
    const erased = eraseTypes(src);
    if (erased === null) continue;
    erasedCount++;
    assert.equal(erased.length, src.length, `positions kept: ${src}`);
    assert.deepEqual(erased.split('\n').length, src.split('\n').length);
    const got = await new AsyncFunction(`${erased}\n;return result;`)();
    assert.deepEqual(got, expected, src);
  }
  assert.ok(erasedCount >= SNIPPETS.length - 5, `most cells take the fast path (${erasedCount}/${SNIPPETS.length})`);
  assert.equal(eraseTypes('enum E { A }'), null);
  assert.equal(eraseTypes('namespace N { export const x = 1; }'), null);
  assert.equal(eraseTypes('class C { constructor(private x: number) {} }'), null);
  assert.equal(eraseTypes('const = ;'), null, 'syntax errors go to the transpiler, which reports them');
});

test('the kernel runs every snippet, fast path or not, with the same results', async () => {
  const k = new KernelCore({ send: () => {} });
  for (const src of SNIPPETS) {
    const r = await k.execute(`{\n${src.replace(/^let result/m, 'var result')}\n}\nresult`);
    assert.equal(r.status, 'ok', src);
  }
});
