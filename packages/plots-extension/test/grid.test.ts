import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gridMeta, gridView, panelOfCurve } from '../src/grid.js';
import { plotlyConfig } from '../src/config.js';
import { figureKey, needsPng, stripDataUrl } from '../src/fallback.js';
import { attention } from '@attnlab/plots';

const fig = attention(Array.from({ length: 4 }, () => [[1, 0], [0.5, 0.5]]), ['a', 'b'], { heads: [0, 1, 3] }).toJSON();

test('grid metadata from a real @attnlab/plots attention figure', () => {
  assert.deepEqual(gridMeta(fig.layout), { kind: 'attention-grid', heads: [0, 1, 3], rows: 2, cols: 2 });
  assert.equal(gridMeta({}), null);
});

test('enlarging a head gives its axes the whole plot with both tick label sets and hides the others', () => {
  const meta = gridMeta(fig.layout)!;
  const big = gridView(fig.data, fig.layout, meta, 1);
  const ax = (k: string) => big.layout[k] as { domain: number[]; visible: boolean; showticklabels: boolean };
  assert.deepEqual(ax('xaxis2').domain, [0, 1]);
  assert.deepEqual(ax('yaxis2').domain, [0, 1]);
  // Head 3's panel is in the grid's second column, where the y labels are hidden: enlarged, it has them.
  assert.equal(ax('yaxis2').showticklabels, true);
  assert.equal(ax('xaxis2').showticklabels, true);
  assert.equal(ax('xaxis').visible, false);
  assert.deepEqual(big.data.map((t) => t['visible']), [false, true, false]);
  assert.equal(big.data[1]!['showscale'], true, 'the enlarged head keeps a colour bar');
  const ann = big.layout['annotations'] as { visible: boolean }[];
  assert.deepEqual(ann.map((a) => a.visible), [false, true, false]);
  assert.equal(panelOfCurve(meta, 2), 2);
  assert.equal(panelOfCurve(meta, 7), null);
});

test('click, click again: the grid comes back exactly, however the drawn copy was mutated (regression: stuck on one head)', () => {
  const meta = gridMeta(fig.layout)!;
  const before = JSON.stringify(fig);
  const big = gridView(fig.data, fig.layout, meta, 2);
  // What plotly does to the objects it draws: it writes into them.
  (big.layout['xaxis'] as Record<string, unknown>)['domain'] = [0, 0.001];
  big.data.forEach((t) => (t['visible'] = false));
  const back = gridView(fig.data, fig.layout, meta, null);
  assert.equal(JSON.stringify({ data: back.data, layout: back.layout, config: fig.config }), before);
  assert.equal(JSON.stringify(fig), before, 'the figure as sent is never modified');
  assert.notEqual(back.layout, fig.layout, 'a copy is drawn, never the spec itself');
});

test('the plotly config hides the cloud buttons and the logo, whatever the figure asks', () => {
  const c = plotlyConfig({ displaylogo: true, showLink: true, showSendToCloud: true, modeBarButtonsToRemove: ['lasso2d'] });
  assert.equal(c['displaylogo'], false);
  assert.equal(c['showLink'], false);
  assert.equal(c['showSendToCloud'], false);
  assert.equal(c['showEditInChartStudio'], false);
  assert.deepEqual(c['modeBarButtonsToRemove'], ['lasso2d', 'sendDataToCloud', 'editInChartStudio']);
  assert.equal(plotlyConfig(undefined)['responsive'], true);
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
