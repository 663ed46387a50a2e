import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stats, mulberry32, gaussianArray, roundFp16, toFp16Values } from '../src/index.js';

test('linearFit: exact on a line, R² of noisy data, log-log slope; bad input is named', () => {
  const f = stats.linearFit([1, 2, 3, 4], [3, 5, 7, 9]);
  assert.equal(f.slope, 2);
  assert.equal(f.intercept, 1);
  assert.equal(f.r2, 1);
  // y = x with one point moved: R² from the float64 formula computed by hand (sxy² / (sxx·syy)).
  const g = stats.linearFit([0, 1, 2], [0, 2, 2]);
  assert.ok(Math.abs(g.slope - 1) < 1e-15 && Math.abs(g.intercept - 1 / 3) < 1e-15 && Math.abs(g.r2 - 0.75) < 1e-15);
  assert.ok(Math.abs(stats.logLogSlope([1, 10, 100], [3, 300, 30000]) - 2) < 1e-12);
  assert.throws(() => stats.linearFit([1], [1]), /linearFit: needs two equal-length series of at least 2 points, got 1 and 1/);
  assert.throws(() => stats.linearFit([1, 2], [1]), /got 2 and 1/);
  assert.throws(() => stats.linearFit([2, 2], [1, 3]), /all x values are equal/);
  assert.throws(() => stats.logLogSlope([0, 1], [1, 2]), /must be positive/);
  assert.equal(stats.median([3, 1, 2]), 2);
  assert.equal(stats.median([4, 1, 2, 3]), 2.5);
  assert.throws(() => stats.median([]), /no values/);
});

test('spearman: ranks with ties, monotone maps give ±1, constant side gives NaN', () => {
  assert.deepEqual(stats.ranks([10, 30, 20, 20]), [1, 4, 2.5, 2.5]);
  assert.equal(stats.spearman([1, 2, 3, 4], [1, 8, 27, 64]), 1);
  assert.equal(stats.spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  // ranks [1, 2.5, 2.5, 4] vs [1, 2, 3, 4]: Σ(dx·dy) = 4.5, Σdx² = 4.5, Σdy² = 5
  assert.ok(Math.abs(stats.spearman([1, 2, 2, 3], [1, 2, 3, 4]) - 4.5 / Math.sqrt(4.5 * 5)) < 1e-12);
  assert.ok(Number.isNaN(stats.spearman([1, 1, 1], [1, 2, 3])));
  assert.ok(Math.abs(stats.pearson([1, 2, 3], [2, 4, 7]) - 0.9933992677987828) < 1e-12);
  assert.throws(() => stats.spearman([1], [2]), /spearman: needs two equal-length lists of at least 2 values/);
});

test('mulberry32 and gaussianArray: deterministic per seed, uniform in [0, 1), Gaussian moments', () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(xs, Array.from({ length: 1000 }, () => b()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.notDeepEqual(xs.slice(0, 5), Array.from({ length: 5 }, mulberry32(43)));
  const g = gaussianArray(mulberry32(7), 20000, 3);
  const m = g.reduce((s, x) => s + x, 0) / g.length;
  const v = g.reduce((s, x) => s + (x - m) ** 2, 0) / g.length;
  assert.ok(Math.abs(m) < 0.1, `mean ${m}`);
  assert.ok(Math.abs(v - 9) < 0.4, `variance ${v}`);
});

test('roundFp16: nearest half-precision value, ties to even, subnormals, overflow', () => {
  assert.equal(roundFp16(65504), 65504);
  assert.equal(roundFp16(65519), 65504);
  assert.equal(roundFp16(65520), Infinity);
  assert.equal(roundFp16(-1e6), -Infinity);
  assert.equal(roundFp16(1 / 3), 0.333251953125);
  assert.equal(roundFp16(2049), 2048); // tie: 2048 (even mantissa) wins over 2050
  assert.equal(roundFp16(2051), 2052);
  assert.equal(roundFp16(2 ** -24), 2 ** -24); // smallest subnormal
  assert.equal(roundFp16(2 ** -26), 0);
  assert.ok(Number.isNaN(roundFp16(NaN)));
  assert.deepEqual(Array.from(toFp16Values([1, 1 + 2 ** -11, 1 + 3 * 2 ** -11])), [1, 1, 1 + 2 ** -9]);
});
