import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatValue, formatWithInterval } from '../src/score-format.js';

test('score values read in 3 significant digits, missing as a dash, intervals only with both ends', () => {
  assert.equal(formatValue(0.123456), '0.123');
  assert.equal(formatValue(-1.5), '-1.5');
  assert.equal(formatValue(0), '0');
  assert.equal(formatValue(2e-5), '2.0e-5');
  assert.equal(formatValue(123456), '1.2e+5');
  assert.equal(formatValue(null), '–');
  assert.equal(formatValue(NaN), '–');
  assert.equal(formatWithInterval(0.5, 0.25, 0.75), '0.5 [0.25, 0.75]');
  assert.equal(formatWithInterval(0.5, null, 0.75), '0.5');
});
