import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maskMod, scoreMod, causal, slidingWindow, sinks, and, or, perHead, ModError, wgslMods } from '../src/index.js';
import { rng } from './util.js';

const grid = (f: (b: number, h: number, q: number, k: number) => void): void => {
  for (let b = 0; b < 2; b++) for (let h = 0; h < 3; h++) for (let q = 0; q < 9; q++) for (let k = 0; k < 11; k++) f(b, h, q, k);
};

test('maskMod: compiled CPU evaluator agrees with the JS function on the subset', () => {
  const w = 3;
  const fns: [(b: number, h: number, q: number, k: number) => boolean, Record<string, number>][] = [
    [(b, h, q, k) => q >= k, {}],
    [(b, h, q, k) => q - k < w && k <= q, { w }],
    [(_b, h, q, k) => (h % 2 === 0 ? q >= k : Math.abs(q - k) <= 2), {}],
    [(b, h, q, k) => !(q === k) || b + h > 1, {}],
    [(b, h, q, k) => Math.floor(q / 4) === Math.floor(k / 4) || Math.max(q, k, 5) === 5, {}],
    [(b, h, q, k) => Math.min(q * 2, k + 1) % 3 !== 0 && Math.exp(-0.1 * k) > 0.5, {}],
    [function (b, h, q, k) {
      const d = q - k;
      const far = d > w;
      return !far && d >= 0;
    }, { w }],
    [(b, h, q, k) => { return k <= q; }, {}],
    [(b, h, q, k) => 2 ** (q % 4) > k, {}],
  ];
  for (const [fn, captures] of fns) {
    const m = maskMod(fn, { captures });
    const f = m.evaluator(9, 11);
    grid((b, h, q, k) => assert.equal(f(b, h, q, k), fn(b, h, q, k), `${fn.toString()} at ${[b, h, q, k]}`));
  }
});

test('maskMod: captured arrays indexed by b/h/q/k', () => {
  const r = rng(1);
  const H = 3;
  const tbl = Array.from({ length: H }, () => Array.from({ length: 9 }, () => (r() < 0.5 ? 1 : 0)));
  const t = new Float32Array([0.5, 1.5, 2.5]);
  const temp = t;
  const m = maskMod((b, h, q, k) => tbl[h]![q] === 1 && k <= q, { captures: { tbl } });
  const f = m.evaluator(9, 11);
  grid((b, h, q, k) => assert.equal(f(b, h, q, k), tbl[h]![q] === 1 && k <= q));
  const flat = maskMod('(b, h, q, k) => tb[h][q] === 1', { captures: { tb: { shape: [H, 9], dtype: 'int32', data: tbl.flat() } } }).evaluator(9, 11);
  grid((b, h, q, k) => assert.equal(flat(b, h, q, k), tbl[h]![q] === 1));
  const m2 = maskMod((b, h, q, k) => t[h]! * q > k, { captures: { t: temp } });
  const f2 = m2.evaluator(9, 11);
  grid((b, h, q, k) => assert.equal(f2(b, h, q, k), temp[h]! * q > k));
  assert.ok(m2.uses.has('h') && !m2.uses.has('b'));
  assert.throws(() => maskMod((b, h, q, k) => t[q]! > 0, { captures: { t: new Float32Array(2) } }).evaluator(9, 9)(0, 0, 5, 0), /out of range for captured 't'/);
});

test('scoreMod: evaluator and symbolic derivative match finite differences', () => {
  const slopes = new Float32Array([0.25, 0.5, 1]);
  const cap = 7.5;
  const mods = [
    scoreMod((s, b, h, q, k) => s - slopes[h]! * Math.abs(q - k), { captures: { slopes } }),
    scoreMod((s) => cap * Math.tanh(s / cap), { captures: { cap } }),
    scoreMod((s, b, h) => s / (1 + h)),
    scoreMod((s, b, h, q, k) => (k > q ? s * s : Math.exp(s) - Math.log(2 + s * s))),
    scoreMod((s, b, h, q, k) => {
      const t = Math.max(s, -1);
      return Math.min(t * 3, 2) + Math.sqrt(s * s + 1) + Math.pow(s * s + 1, 1.5);
    }),
  ];
  const js = [
    (s: number, b: number, h: number, q: number, k: number) => s - slopes[h]! * Math.abs(q - k),
    (s: number) => cap * Math.tanh(s / cap),
    (s: number, b: number, h: number) => s / (1 + h),
    (s: number, b: number, h: number, q: number, k: number) => (k > q ? s * s : Math.exp(s) - Math.log(2 + s * s)),
    (s: number) => Math.min(Math.max(s, -1) * 3, 2) + Math.sqrt(s * s + 1) + Math.pow(s * s + 1, 1.5),
  ];
  const r = rng(2);
  mods.forEach((m, i) => {
    const [f, df] = m.evaluators(9, 11);
    for (let t = 0; t < 200; t++) {
      const s = (r() - 0.5) * 6;
      const [b, h, q, k] = [Math.floor(r() * 2), Math.floor(r() * 3), Math.floor(r() * 9), Math.floor(r() * 11)];
      const want = js[i]!(s, b, h, q, k);
      assert.ok(Math.abs(f(s, b, h, q, k) - want) < 1e-12, `value of mod ${i}`);
      const e = 1e-6;
      const fd = (js[i]!(s + e, b, h, q, k) - js[i]!(s - e, b, h, q, k)) / (2 * e);
      assert.ok(Math.abs(df(s, b, h, q, k) - fd) < 1e-5 * Math.max(1, Math.abs(fd)), `derivative of mod ${i} at s=${s}: ${df(s, b, h, q, k)} vs ${fd}`);
    }
  });
});

test('named masks: causal aligns queries to the end of the keys; window, sinks, and/or', () => {
  const Nq = 3;
  const Nk = 8;
  const c = causal().evaluator(Nq, Nk);
  for (let q = 0; q < Nq; q++) for (let k = 0; k < Nk; k++) assert.equal(c(0, 0, q, k), k <= q + 5);
  const w = slidingWindow(3).evaluator(8, 8);
  for (let q = 0; q < 8; q++) for (let k = 0; k < 8; k++) assert.equal(w(0, 0, q, k), k <= q && q - k < 3);
  const wn = slidingWindow(2, { causal: false }).evaluator(8, 8);
  for (let q = 0; q < 8; q++) for (let k = 0; k < 8; k++) assert.equal(wn(0, 0, q, k), Math.abs(q - k) < 2);
  const streaming = or(sinks(2), slidingWindow(3));
  const s = streaming.evaluator(8, 8);
  for (let q = 0; q < 8; q++) for (let k = 0; k < 8; k++) assert.equal(s(0, 0, q, k), k <= q && (k < 2 || q - k < 3));
  assert.ok(streaming.isNamed);
  // Interval fast path agrees with evaluation.
  const mixes = [streaming, and(causal(), slidingWindow(4)), or(sinks(1), slidingWindow(2, { causal: false })), causal()];
  for (const m of mixes) {
    for (const [nq, nk] of [[8, 8], [3, 8], [8, 3], [1, 5]] as const) {
      const f = m.evaluator(nq, nk);
      for (let q = 0; q < nq; q++) {
        const iv = m.rowIntervals(0, q, nq, nk);
        for (let k = 0; k < nk; k++) assert.equal(iv.some(([lo, hi]) => k >= lo && k <= hi), f(0, 0, q, k), `${m.name} ${nq}x${nk} q=${q} k=${k}`);
      }
    }
  }
  const mixed = and(causal(), (b: number, h: number, q: number, k: number) => (q + k) % 2 === 0);
  assert.equal(mixed.isNamed, false);
  const ph = perHead([causal(), slidingWindow(2)]).evaluator(4, 4);
  assert.equal(ph(0, 1, 3, 0), false);
  assert.equal(ph(0, 0, 3, 0), true);
});

test('maskMod: unsupported constructs are rejected with an error naming them', () => {
  const cases: [string, RegExp][] = [
    ['(b, h, q, k) => { if (q > k) return true; return false; }', /'if' statement/],
    ['(b, h, q, k) => (q & 1) === 0', /bitwise operator '&'/],
    ['(b, h, q, k) => q >> 1 > k', /shift operator '>>'/],
    ['(b, h, q, k) => { for (;;) {} }', /'for' loop/],
    ['(b, h, q, k) => "a" === "b"', /string literal/],
    ['(b, h, q, k) => foo(q) > k', /call of a non-Math function/],
    ['(b, h, q, k) => Math.random() > 0.5', /Math.random/],
    ['(b, h, q, k) => q.length > k', /property access/],
    ['(b, h, q, k) => q > window', /unknown identifier 'window'.*captures/],
    ['(b, h, q, k) => `x` > k', /template literal/],
    ['async (b, h, q, k) => q > k', /async function/],
    ['(b, h, q, k) => q ?? k', /nullish operator/],
    ['(b, h, q, k) => { let x = 1; x = 2; return x > q; }', /assignment to 'x'/],
    ['(b, h, q, k) => new Date() > q', /'new' expression/],
    ['(b, h, q, k) => [q][0] > k', /array literal/],
    ['(b, h, q, k) => q + k', /must return a boolean/],
    ['(b, h, q, k) => (q > k) + 1 > 0', /needs numbers, got a boolean/],
    ['(b, h, q, k) => q && k', /'&&' needs boolean operands/],
    ['(b, h, q, k) => ((x) => x)(q) > 0', /nested function/],
    ['(b, h, q, k) => typeof q === q', /'typeof'/],
    ['(b, h, q, k) => q!', /non-null assertion/],
  ];
  for (const [src, re] of cases) {
    assert.throws(() => maskMod(src), (e: unknown) => e instanceof ModError && re.test(e.message), src);
  }
  assert.throws(() => scoreMod('(s, b, h, q, k) => s > 0'), /scoreMod must return a number/);
  assert.throws(() => maskMod((b, h, q, k) => q > k, { captures: { w: Number.NaN } }), /finite/);
});

test('wgslMods: emits functions and packs captures for composed masks and score mods', () => {
  const sl = new Float32Array([0.25, 0.5]);
  const blk = new Int32Array([1, 0]);
  const m = and(slidingWindow(16), maskMod((b, h, q, k) => blk[h]! > 0, { captures: { blk } }));
  const s = scoreMod((s, b, h, q, k) => s - sl[h]! * (q - k), { captures: { sl } });
  const w = wgslMods(m, s, { buf: 'aux', base: 'P.md_base' });
  assert.match(w.code, /fn mask_mod\(b: i32, h: i32, q: i32, k: i32, qoff: i32\) -> bool/);
  assert.match(w.code, /fn score_mod\(s: f32/);
  assert.match(w.code, /fn score_mod_grad\(s: f32/);
  // window w=16 (int), blk [1,0], slopes twice (mod and its derivative program).
  assert.equal(w.data.length, 1 + 2 + 2 + 2);
  assert.equal(new Int32Array(w.data.buffer)[0], 16);
  assert.equal(new Float32Array(w.data.buffer)[3], 0.25);
});
