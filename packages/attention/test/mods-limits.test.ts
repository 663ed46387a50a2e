/**
 * The mask/score compiler refuses what it cannot compile with a ModError, never a RangeError or
 * a garbage message (issue 19 item 16), and accepts what FlexAttention users write: -Infinity,
 * Math.sin/cos/tan (issue 13 item 1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maskMod, scoreMod, ModError, wgslMods } from '../src/index.js';
import { MAX_DEPTH } from '../src/mods/parse.js';

function throwsModError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ModError, `expected a ModError, got ${e instanceof Error ? `${e.name}: ${e.message.slice(0, 80)}` : String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('deep nesting is a ModError with the depth limit, not a stack overflow', () => {
  const parens = `(s, b, h, q, k) => ${'('.repeat(410)}s${')'.repeat(410)}`;
  throwsModError(() => scoreMod(parens), new RegExp(`deeper than ${MAX_DEPTH}`));
  const terms = `(s, b, h, q, k) => ${Array.from({ length: 2618 }, () => 's').join(' + ')}`;
  throwsModError(() => scoreMod(terms), new RegExp(`deeper than ${MAX_DEPTH}`));
  const abs = `(s, b, h, q, k) => ${'Math.abs('.repeat(782)}s${')'.repeat(782)}`;
  throwsModError(() => scoreMod(abs), new RegExp(`deeper than ${MAX_DEPTH}`));
  const negs = `(b, h, q, k) => ${'!'.repeat(5000)}(q >= k)`;
  throwsModError(() => maskMod(negs), new RegExp(`deeper than ${MAX_DEPTH}`));
  const ternary = `(s, b, h, q, k) => ${Array.from({ length: 600 }, (_, i) => `q == ${i} ? ${i} :`).join(' ')} s`;
  throwsModError(() => scoreMod(ternary), new RegExp(`deeper than ${MAX_DEPTH}`));
  // Within the limit it compiles and evaluates.
  const ok = scoreMod(`(s, b, h, q, k) => ${'('.repeat(50)}s + 1${')'.repeat(50)} + ${Array.from({ length: 100 }, () => 'k').join(' + ')}`);
  const [f] = ok.evaluators(4, 4);
  assert.equal(f(2, 0, 0, 0, 3), 2 + 1 + 300);
  assert.ok(wgslMods(null, ok, { buf: 'aux', base: '0u' }).code.includes('score_mod'));
});

test('identifiers named like Object.prototype members get ordinary messages', () => {
  for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
    throwsModError(() => scoreMod(`(s, b, h, q, k) => s + ${name}`), new RegExp(`unknown identifier '${name}'`));
    // As a capture they work like any other name.
    const captures: Record<string, number> = Object.create(null) as Record<string, number>;
    Object.defineProperty(captures, name, { value: 2, enumerable: true });
    const m = scoreMod(`(s, b, h, q, k) => s * ${name}`, { captures });
    assert.equal(m.evaluators(2, 2)[0](3, 0, 0, 0, 0), 6, name);
  }
});

test('-x ** 2 is a syntax error, as in JavaScript; the parenthesised forms compile', () => {
  throwsModError(() => scoreMod('(s, b, h, q, k) => -s ** 2'), /unary operator before '\*\*' needs parentheses/);
  throwsModError(() => scoreMod('(s, b, h, q, k) => 2 ** -s ** 2'), /needs parentheses/);
  throwsModError(() => maskMod('(b, h, q, k) => !q ** 2 > 0'), /needs parentheses/);
  const cases: [string, (s: number) => number][] = [
    ['(s, b, h, q, k) => (-s) ** 2', (s) => (-s) ** 2],
    ['(s, b, h, q, k) => -(s ** 2)', (s) => -(s ** 2)],
    ['(s, b, h, q, k) => 2 ** -s', (s) => 2 ** -s],
    ['(s, b, h, q, k) => 2 ** 3 ** s', (s) => 2 ** 3 ** s],
  ];
  for (const [src, f] of cases) assert.equal(scoreMod(src).evaluators(1, 1)[0](0.7, 0, 0, 0, 0), f(0.7), src);
});

test('-Infinity, -1/0 and literal overflow are constants; Math.sin/cos/tan with derivatives', () => {
  for (const src of ['(s, b, h, q, k) => k > q ? -Infinity : s', '(s, b, h, q, k) => k > q ? -1 / 0 : s', '(s, b, h, q, k) => k > q ? -Math.exp(1000) : s']) {
    const m = scoreMod(src);
    const [f] = m.evaluators(4, 4);
    assert.equal(f(1.5, 0, 0, 0, 2), -Infinity, src);
    assert.equal(f(1.5, 0, 0, 2, 0), 1.5, src);
    const code = wgslMods(null, m, { buf: 'aux', base: '0u' }).code;
    assert.ok(code.includes('mods_bits(0xff800000u)'), `${src}: -Infinity is made at run time in WGSL`);
    assert.ok(!/\/\s*0\.0f/.test(code), `${src}: no constant division by zero reaches WGSL`);
  }
  const trig = scoreMod('(s, b, h, q, k) => Math.sin(s) + Math.cos(2 * s) * Math.tan(s / 3)');
  const [f, df] = trig.evaluators(1, 1);
  for (const s of [-2.5, -0.3, 0, 0.9, 4]) {
    assert.ok(Math.abs(f(s, 0, 0, 0, 0) - (Math.sin(s) + Math.cos(2 * s) * Math.tan(s / 3))) < 1e-12);
    const h = 1e-6;
    const fd = (f(s + h, 0, 0, 0, 0) - f(s - h, 0, 0, 0, 0)) / (2 * h);
    assert.ok(Math.abs(df(s, 0, 0, 0, 0) - fd) < 1e-5, `d/ds at ${s}: ${df(s, 0, 0, 0, 0)} vs ${fd}`);
  }
  throwsModError(() => scoreMod('(s, b, h, q, k) => s + NaN'), /'NaN'/);
  throwsModError(() => scoreMod('(s, b, h, q, k) => Math.sin(s, s)'), /Math.sin takes 1/);
});
