import assert from 'node:assert/strict';
import { test } from 'node:test';
import { enlargePatch, gridMeta, panelOfCurve, visibleTraces } from '../src/grid.js';
import { figureKey, needsPng, stripDataUrl } from '../src/fallback.js';
import { attention } from '@attnlab/plots';

const fig = attention(Array.from({ length: 4 }, () => [[1, 0], [0.5, 0.5]]), ['a', 'b'], { heads: [0, 1, 3] }).toJSON();

test('grid metadata from a real @attnlab/plots attention figure', () => {
  assert.deepEqual(gridMeta(fig.layout), { kind: 'attention-grid', heads: [0, 1, 3], rows: 2, cols: 2 });
  assert.equal(gridMeta({}), null);
});

test('enlarging a head gives its axes the whole plot and hides the others; restoring puts the grid back', () => {
  const meta = gridMeta(fig.layout)!;
  const big = enlargePatch(fig.layout, meta, 1);
  assert.deepEqual(big['xaxis2.domain'], [0, 1]);
  assert.deepEqual(big['yaxis2.domain'], [0, 1]);
  assert.equal(big['xaxis.visible'], false);
  assert.equal(big['annotations[1].visible'], true);
  assert.equal(big['annotations[2].visible'], false);
  assert.deepEqual(visibleTraces(meta, 1), [false, true, false]);
  const back = enlargePatch(fig.layout, meta, null);
  assert.deepEqual(back['xaxis2.domain'], (fig.layout['xaxis2'] as { domain: number[] }).domain);
  assert.deepEqual(visibleTraces(meta, null), [true, true, true]);
  assert.equal(panelOfCurve(meta, 2), 2);
  assert.equal(panelOfCurve(meta, 7), null);
});

test('PNG fallback is written once per figure version', () => {
  const k1 = figureKey(fig);
  assert.equal(k1, figureKey(JSON.parse(JSON.stringify(fig))));
  assert.notEqual(k1, figureKey({ ...fig, layout: { ...fig.layout, title: 'x' } }));
  assert.equal(needsPng({}, {}, k1), true);
  assert.equal(needsPng({ 'image/png': 'AAA' }, { 'attnlab-png-key': k1 }, k1), false);
  assert.equal(needsPng({ 'image/png': 'AAA' }, { 'attnlab-png-key': 'old' }, k1), true);
  assert.equal(stripDataUrl('data:image/png;base64,QUJD'), 'QUJD');
  assert.throws(() => stripDataUrl('data:image/svg+xml;base64,QUJD'), /not return a PNG/);
});
