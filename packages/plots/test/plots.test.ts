import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attention, bar, heatmap, line, mask, scatter, PLOTLY_MIME, type PlotlySpec } from '../src/index.js';
import { createBlockMask, causal, slidingWindow } from '@attnlab/attention';
import { tensor } from '@attnlab/tensor';

const DISPLAY = Symbol.for('Jupyter.display');
function bundle(fig: object): { spec: PlotlySpec; text: string } {
  const b = (fig as { [DISPLAY](): Record<string, unknown> })[DISPLAY]();
  // What the kernel sends must survive JSON exactly.
  assert.deepEqual(JSON.parse(JSON.stringify(b)), b);
  return { spec: b[PLOTLY_MIME] as PlotlySpec, text: b['text/plain'] as string };
}

test('heatmap: rows top to bottom, labels as tick text (repeated labels stay separate), NaN becomes a gap', () => {
  const { spec, text } = bundle(heatmap([[1, 2, NaN], [3, 4, 5]], { x: ['a', 'b', 'a'], y: ['r0', 'r1'], title: 't' }));
  assert.equal(spec.data[0]!['type'], 'heatmap');
  assert.deepEqual(spec.data[0]!['z'], [[1, 2, null], [3, 4, 5]]);
  assert.deepEqual((spec.layout['xaxis'] as { ticktext: string[] }).ticktext, ['a', 'b', 'a']);
  assert.equal((spec.layout['yaxis'] as { autorange: string }).autorange, 'reversed');
  assert.match(text, /Heatmap 2x3: t/);
});

test('heatmap: flat typed data with a shape, and tensors (async)', async () => {
  const { spec } = bundle(heatmap({ data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [3, 2] }));
  assert.deepEqual(spec.data[0]!['z'], [[1, 2], [3, 4], [5, 6]]);
  const fromTensor = await heatmap(tensor(new Float32Array([1, 2, 3, 4]), [1, 2, 2]));
  assert.deepEqual(bundle(fromTensor).spec.data[0]!['z'], [[1, 2], [3, 4]]);
});

test('heatmap: ragged rows, wrong label counts and wrong shapes are named', () => {
  assert.throws(() => heatmap([[1, 2], [3]]), /ragged matrix: row 1 has 1 values, row 0 has 2/);
  assert.throws(() => heatmap([[1, 2]], { x: ['a'] }), /x has 1 labels for 2 columns/);
  assert.throws(() => heatmap({ data: [1, 2, 3], shape: [2, 2] }), /needs 4 values, got 3/);
  assert.throws(() => heatmap({ data: [1, 2, 3, 4, 5, 6, 7, 8], shape: [2, 2, 2] }), /expected a 2-D matrix/);
  assert.throws(() => heatmap([]), /empty/);
});

test('attention: one panel per chosen head, hover names the token pair, grid metadata for the renderer', () => {
  const H = 3, N = 4;
  const probs = Array.from({ length: H }, (_, h) => Array.from({ length: N }, (_, q) => Array.from({ length: N }, (_, k) => (k === (q + h) % N ? 1 : 0))));
  const tokens = ['the', 'cat', 'the', 'mat'];
  const { spec, text } = bundle(attention(probs, tokens, { heads: [0, 2] }));
  assert.equal(spec.data.length, 2);
  assert.deepEqual(spec.data[1]!['z'], probs[2]);
  assert.equal(spec.data[1]!['xaxis'], 'x2');
  assert.deepEqual((spec.data[0]!['customdata'] as string[][][])[1]![2], ['cat', 'the']);
  assert.match(String(spec.data[0]!['hovertemplate']), /%\{customdata\[0\]\} → %\{customdata\[1\]\}/);
  assert.deepEqual((spec.layout['meta'] as { attnlab: unknown }).attnlab, { kind: 'attention-grid', heads: [0, 2], rows: 1, cols: 2 });
  assert.match(text, /2 heads, 4x4/);
});

test('attention: decode queries align to the last keys; bad heads and token counts are named', () => {
  const probs = { data: new Float32Array(2 * 1 * 3).fill(1 / 3), shape: [1, 2, 1, 3] };
  const { spec } = bundle(attention(probs, ['a', 'b', 'c']));
  assert.deepEqual((spec.data[0]!['customdata'] as string[][][])[0]![0], ['c', 'a']);
  assert.throws(() => attention(probs, ['a', 'b']), /2 tokens for 3 keys/);
  assert.throws(() => attention(probs, ['a', 'b', 'c'], { heads: [5] }), /head 5 out of range \(the probabilities have 2 heads\)/);
  assert.throws(() => attention({ data: [1, 2], shape: [2] }, ['a']), /expected probabilities of shape \[H, Nq, Nk\]/);
});

test('mask: tile states of a real BlockMask (skipped / partial / full) agree with its dense view', () => {
  const bm = createBlockMask(causal(), { B: 1, H: 1, Nq: 10, Nk: 10, blockSize: 4 });
  const { spec } = bundle(mask(bm));
  const z = spec.data[0]!['z'] as number[][];
  const dense = bm.toDense();
  for (let q = 0; q < 10; q++) for (let k = 0; k < 10; k++) assert.equal(z[q]![k]! >= 2, dense[q * 10 + k] === 1, `cell ${q},${k}`);
  assert.equal(z[9]![0], 3, 'the lower-left tile is full');
  assert.equal(z[0]![9], 0, 'the upper-right tile is skipped');
  assert.equal(z[0]![1], 1, 'above the diagonal inside a diagonal tile: masked in a partial tile');
  const w = bundle(mask(createBlockMask(slidingWindow(2), { B: 1, H: 1, Nq: 16, Nk: 16, blockSize: 4 })));
  assert.match(String((w.spec.layout['title'] as { text: string }).text), /density/);
});

test('line grows in place with extend; scatter and bar validate their inputs', () => {
  const fig = line([1, 0.5], { title: 'loss', logY: true });
  fig.extend(0, [2, 3], [0.25, Infinity]);
  const { spec } = bundle(fig);
  assert.deepEqual(spec.data[0]!['x'], [0, 1, 2, 3]);
  assert.deepEqual(spec.data[0]!['y'], [1, 0.5, 0.25, null]);
  assert.equal((spec.layout['yaxis'] as { type: string }).type, 'log');
  assert.throws(() => fig.extend(3, [1], [1]), /no trace 3/);
  assert.throws(() => fig.extend(0, [1, 2], [1]), /2 x values but 1 y values/);
  assert.throws(() => scatter([{ x: [1, 2], y: [1] }]), /series 0 has 2 x values and 1 y values/);
  assert.throws(() => bar(['a'], [1, 2]), /1 labels for 2 values/);
  assert.equal(bundle(bar(['a', 'b'], [1, 2])).spec.data[0]!['type'], 'bar');
});

test('every figure type carries a static SVG beside the plotly JSON (notebooks render outside the lab)', async () => {
  const { figureSVG, SVG_MIME } = await import('../src/index.js');
  const tokens = ['the', 'cat', '<sat>', 'on'];
  const probs = Array.from({ length: 8 }, () => tokens.map((_, q) => tokens.map((_, k) => (k <= q ? 1 / (q + 1) : 0))));
  const bm = createBlockMask(causal(), { B: 1, H: 1, Nq: 64, Nk: 64, blockSize: 16 });
  const figs = {
    heatmap: heatmap([[1, 2], [3, NaN]], { x: ['a', 'b'], y: ['r0', 'r1'], title: 'h & w' }),
    attention: attention(probs, tokens, { title: '8 heads' }),
    mask: mask(bm),
    line: line([{ y: [1, 0.5, NaN, 0.2], name: 'train' }, { y: [2, 1, 0.5, 0.3], name: 'val' }], { logY: true, xTitle: 'step' }),
    scatter: scatter([3, 1, 2]),
    bar: bar(['a', 'b'], [1, -2]),
  };
  for (const [name, fig] of Object.entries(figs)) {
    const b = (fig as unknown as { [DISPLAY](): Record<string, unknown> })[DISPLAY]();
    const svg = b[SVG_MIME];
    assert.equal(typeof svg, 'string', name);
    assert.match(svg as string, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="720" height="\d+(\.\d)?" viewBox=/, name);
    assert.ok((svg as string).endsWith('</svg>'), name);
    assert.equal(svg, figureSVG(b[PLOTLY_MIME] as PlotlySpec), `${name}: the SVG is drawn from the plotly spec`);
    assert.doesNotMatch(svg as string, /NaN|undefined|Infinity/, name);
  }
  const svgOf = (f: object) => (f as { [DISPLAY](): Record<string, unknown> })[DISPLAY]()[SVG_MIME] as string;
  // Text is escaped; titles, head titles, axis titles and tokens are in the picture.
  assert.match(svgOf(figs.heatmap), />h &amp; w</);
  assert.match(svgOf(figs.attention), />&lt;sat&gt;</);
  for (let h = 0; h < 8; h++) assert.match(svgOf(figs.attention), new RegExp(`>head ${h}<`));
  assert.match(svgOf(figs.mask), />key position</);
  assert.match(svgOf(figs.mask), />query position</);
  assert.match(svgOf(figs.mask), />full tile</);
  // The line chart: one path per series, a legend naming both.
  assert.equal((svgOf(figs.line).match(/<path /g) ?? []).length, 2);
  assert.match(svgOf(figs.line), />train<.*>val</);
  assert.equal((svgOf(figs.bar).match(/<rect x=[^>]*fill="#1f77b4"/g) ?? []).length, 2);
  assert.equal((svgOf(figs.scatter).match(/<circle /g) ?? []).length, 3);
  // A large heatmap is drawn over averaged blocks: the SVG stays small.
  const big = heatmap(Array.from({ length: 600 }, (_, i) => Array.from({ length: 600 }, (_, j) => Math.sin(i * j))));
  assert.ok(svgOf(big).length < 2_000_000, `a 600x600 heatmap's SVG is ${svgOf(big).length} bytes`);
  const toks = Array.from({ length: 128 }, (_, i) => `t${i}`);
  const noisy = Array.from({ length: 12 }, (_, h) => toks.map((_, q) => toks.map((_, k) => Math.abs(Math.sin(h * 7 + q * 13 + k)))));
  const grid = svgOf(attention(noisy, toks));
  assert.ok(grid.length < 2_000_000, `a 12-head 128-token grid's SVG is ${grid.length} bytes`);
});

test('attention grid: tick labels only on outer panels, so 8 heads never put labels under the next titles; mask has axis titles', () => {
  const tokens = Array.from({ length: 12 }, (_, i) => `t${i}`);
  const probs = Array.from({ length: 8 }, () => tokens.map(() => tokens.map(() => 1 / 12)));
  const { spec } = bundle(attention(probs, tokens));
  const ax = (k: string) => spec.layout[k] as { domain: [number, number]; showticklabels: boolean };
  // 3 columns x 3 rows: x labels under each column's last panel (heads 5, 6, 7), y labels on column 0.
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map((i) => ax(`xaxis${i === 1 ? '' : i}`).showticklabels), [false, false, false, false, false, true, true, true]);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map((i) => ax(`yaxis${i === 1 ? '' : i}`).showticklabels), [true, false, false, true, false, false, true, false]);
  // Between a panel and the title of the panel below there is room for the rotated tokens.
  const height = spec.layout['height'] as number;
  const m = spec.layout['margin'] as { t: number; b: number };
  const px = (height - m.t - m.b);
  const gapPx = (ax('yaxis').domain[0] - ax('yaxis4').domain[1]) * px;
  assert.ok(gapPx >= 40, `row gap ${gapPx} px`);
  const mk = bundle(mask(createBlockMask(causal(), { B: 1, H: 1, Nq: 32, Nk: 32, blockSize: 16 }))).spec.layout;
  assert.equal((mk['xaxis'] as { title: { text: string } }).title.text, 'key position');
  assert.equal((mk['yaxis'] as { title: { text: string } }).title.text, 'query position');
  assert.equal(spec.config['showSendToCloud'], false);
  assert.equal(spec.config['displaylogo'], false);
});
