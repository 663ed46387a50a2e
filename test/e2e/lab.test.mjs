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

test('the page raised no uncaught errors', () => {
  const real = lab.consoleErrors.filter((e) => !/Yjs|Y\.Doc|favicon|language-server/.test(e));
  assert.deepEqual(real, []);
});
