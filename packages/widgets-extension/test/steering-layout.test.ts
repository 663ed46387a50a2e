import assert from 'node:assert/strict';
import { test } from 'node:test';
import { autoLayout, cellColor, cellSummary } from '../src/steering-layout.js';

test('the layout fits the heads into the width: 8 heads in a 1400 px page are compact, 16 colour-only', () => {
  const output = 1050; // the output area of a notebook in a 1400 px window
  assert.equal(autoLayout(4, output), 'full');
  assert.equal(autoLayout(8, output), 'compact');
  assert.equal(autoLayout(10, output), 'compact');
  assert.equal(autoLayout(16, output), 'color');
  assert.equal(autoLayout(8, 2000), 'full');
});

test('swatches tell ablated, perturbed and gated heads apart; the summary names the state', () => {
  const base = { gate: 1, ablate: false, perturb: 'none', strength: 0.5 } as const;
  const colors = new Set([cellColor(base), cellColor({ ...base, ablate: true }), cellColor({ ...base, perturb: 'uniform' }), cellColor({ ...base, gate: 0 }), cellColor({ ...base, gate: 2 })]);
  assert.equal(colors.size, 5);
  assert.equal(cellSummary(1, 3, { ...base, ablate: true, perturb: 'temperature', strength: 2 }), 'layer 1 head 3, gate 1.00, ablated, temperature 2');
});
