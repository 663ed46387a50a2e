// End to end: the built lab served by `attnlab serve`, in Debian's chromium with WebGPU on
// SwiftShader. Screenshots of each step land in test/artifacts/e2e/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from '../../packages/lab/dist/src/serve.js';
import { launchChromium } from './browser.mjs';
import { LabPage, textOf } from './lab-page.mjs';

let server;
let browser;
let lab;

before(async () => {
  const s = await serve({ root: new URL('../../packages/lab/build', import.meta.url).pathname, port: 0 });
  server = s.server;
  browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  lab = new LabPage(page, s.url);
  await lab.open();
  await lab.shot('lab-open');
});

after(async () => {
  await browser?.close();
  server?.close();
});

test('a new attnlab notebook runs top-level await and reports a WebGPU adapter', async () => {
  await lab.newNotebook();
  const out = await lab.run("const { getDevice } = await import('@attnlab/tensor');\nconst d = await getDevice({ prefer: 'webgpu' });\n`${d.kind} ${d.isSoftware ? 'software' : 'hardware'} ${d.adapter}`");
  await lab.shot('webgpu-device');
  const text = textOf(out);
  assert.match(text, /^"webgpu /, `expected a WebGPU device, got: ${text}`);
});

test('attention runs on WebGPU in the worker and matches the CPU', async () => {
  const out = await lab.run(`import { attention, causal } from '@attnlab/attention';
import { randn } from '@attnlab/tensor';
const cpu = await getDevice({ prefer: 'cpu' });
const mk = (dev, s) => randn([1, 2, 7, 16], { device: dev, seed: s });
const g = await attention(mk(d, 1), mk(d, 2), mk(d, 3), { mask: causal() });
const c = await attention(mk(cpu, 1), mk(cpu, 2), mk(cpu, 3), { mask: causal() });
const a = await g.out.data(), b = await c.out.data();
let err = 0; for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i] - b[i]));
({ device: g.out.device.kind, err: err < 1e-4 })`);
  await lab.shot('attention');
  const text = textOf(out);
  assert.match(text, /"device": "webgpu"/, text);
  assert.match(text, /"err": true/, text);
});

test('errors keep the kernel alive and its state intact', async () => {
  const bad = await lab.run('const keep = 41;\nnull.boom');
  assert.match(textOf(bad), /TypeError/);
  const good = await lab.run('keep + 1');
  assert.equal(textOf(good), '42');
});

test('a plotly heatmap of attention probabilities renders, and the output keeps a PNG fallback', async () => {
  const out = await lab.run(`import * as plots from '@attnlab/plots';
const { probs } = await attention(mk(d, 1), mk(d, 2), mk(d, 3), { mask: causal(), returnProbs: { heads: [0, 1] } });
await plots.attention(probs, ['a', 'b', 'c', 'd', 'e', 'f', 'g'])`);
  const cell = lab.page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell').nth((await lab.cellCount()) - 2);
  await cell.locator('.attnlab-plotly .main-svg').first().waitFor({ timeout: 60_000 });
  const heatmaps = await cell.locator('.attnlab-plotly .heatmaplayer image, .attnlab-plotly .hm').count();
  assert.ok(heatmaps >= 2, `expected a heatmap per head, found ${heatmaps}`);
  await lab.page.waitForFunction((i) => {
    const o = window.jupyterapp.shell.currentWidget.content.widgets[i].model.outputs.toJSON();
    return o.some((x) => x.data && typeof x.data['image/png'] === 'string' && x.data['image/png'].length > 1000);
  }, (await lab.cellCount()) - 2, { timeout: 60_000 });
  await lab.shot('attention-plot');
  assert.ok(out.some((o) => o.data?.['application/vnd.plotly.v1+json']));
});

test('a figure updated through its display handle redraws in place (a growing curve)', async () => {
  await lab.run(`const curve = plots.line([1], { title: 'loss' });
const h = display(curve);
for (let i = 1; i <= 5; i++) { curve.extend(0, [i], [1 / (i + 1)]); h.update(curve); await new Promise((r) => setTimeout(r, 50)); }`);
  const idx = (await lab.cellCount()) - 2;
  await lab.page.waitForFunction((i) => {
    const o = window.jupyterapp.shell.currentWidget.content.widgets[i].model.outputs.toJSON();
    const fig = o[0]?.data?.['application/vnd.plotly.v1+json'];
    return o.length === 1 && fig && fig.data[0].x.length === 6;
  }, idx, { timeout: 30_000 });
  await lab.shot('live-curve');
});

test('the page raised no uncaught errors', () => {
  const real = lab.consoleErrors.filter((e) => !/Yjs|Y\.Doc|favicon|language-server/.test(e));
  assert.deepEqual(real, []);
});
