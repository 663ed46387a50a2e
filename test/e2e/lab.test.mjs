// End to end: the lab started the way a user starts it (`npm start`, on a free port), in Debian's
// chromium with WebGPU on SwiftShader. Screenshots of each step land in test/artifacts/e2e/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './browser.mjs';
import { LabPage, textOf } from './lab-page.mjs';

let server;
let browser;
let lab;

/** `npm start -- --port 0`: resolves with the URL it prints (it rebuilds first if a source is newer than the build). */
function npmStart() {
  const proc = spawn('npm', ['start', '--silent', '--', '--port', '0'], { cwd: fileURLToPath(new URL('../..', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let log = '';
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`npm start printed no URL within 5 minutes:\n${log}`)), 300_000);
    const onData = (d) => {
      log += d;
      const m = log.match(/the lab is at (http:\/\/127\.0\.0\.1:\d+\/lab)/);
      if (m) {
        clearTimeout(timer);
        ok({ proc, url: m[1] });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => fail(new Error(`npm start exited (${code}):\n${log}`)));
  });
}

before(async () => {
  const s = await npmStart();
  server = s.proc;
  browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  lab = new LabPage(page, s.url);
  await lab.open();
  await lab.shot('lab-open');
});

after(async () => {
  await browser?.close();
  // npm runs start.mjs in a child: stop the whole process group.
  if (server && server.exitCode === null) process.kill(-server.pid, 'SIGTERM');
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
  // JSON-style or util.inspect-style printing of the result object.
  assert.match(text, /"?device"?: ["']webgpu["']/, text);
  assert.match(text, /"?err"?: true/, text);
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

test('an infinite loop is interrupted (the page is cross-origin isolated) and earlier state survives', async () => {
  assert.equal(await lab.page.evaluate(() => crossOriginIsolated), true, 'attnlab serve must make the page cross-origin isolated');
  await lab.run('const survivor = 7;');
  const index = (await lab.cellCount()) - 1;
  const loop = lab.run('let spins = 0;\nwhile (true) { spins++; }');
  await lab.page.waitForTimeout(1500);
  await lab.page.evaluate(() => window.jupyterapp.commands.execute('notebook:interrupt-kernel'));
  const out = await loop;
  assert.match(textOf(out), /Interrupted/);
  await lab.shot('interrupted');
  const after = await lab.run('survivor * 6');
  assert.equal(textOf(after), '42');
  assert.ok(index >= 0);
});

test('completion comes from the language service in the worker; prompt() asks through the stdin box', async () => {
  await lab.run("const attnWidth = 64;\nimport { randn } from '@attnlab/tensor';\nconst noise = randn([2, 2]);");
  const replies = await lab.page.evaluate(async () => {
    const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
    const complete = async (code) => (await kernel.requestComplete({ code, cursor_pos: code.length })).content.matches;
    const inspect = async (code) => (await kernel.requestInspect({ code, cursor_pos: code.length, detail_level: 0 })).content.data['text/plain'];
    return { own: await complete('attnW'), lib: await complete('Math.ma'), pkg: await complete('noise.requ'), hover: await inspect('randn') };
  });
  assert.deepEqual(replies.own, ['attnWidth']);
  assert.ok(replies.lib.includes('max'), `standard library in the worker: ${replies.lib}`);
  assert.ok(replies.pkg.includes('requireGrad'), `@attnlab/tensor types in the worker: ${replies.pkg}`);
  assert.match(replies.hover, /function randn\(shape/);
  const running = lab.run("const who = prompt('your name?');\n`hello ${who}`");
  const box = lab.page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Stdin-input');
  await box.waitFor({ timeout: 60_000 });
  await box.fill('Ada');
  await box.press('Enter');
  const out = await running;
  assert.match(textOf(out), /"hello Ada"/);
  await lab.shot('stdin');
});

test('malformed comm messages from the page do not kill the kernel', async () => {
  await lab.page.evaluate(async () => {
    const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
    const comm = kernel.createComm('jupyter.widget.control');
    comm.open({});
    comm.send({ method: 42 });
    comm.send({ method: 'request_states', junk: { deep: [1, 2, 3] } });
    const stray = kernel.createComm('no-such-target');
    stray.open({});
    // A comm_msg for a comm id the kernel never saw.
    const ghost = kernel.createComm('jupyter.widget', 'ghost-comm-id');
    ghost.send({ method: 'update', state: { value: 1 } });
  });
  const out = await lab.run('survivor + 1');
  assert.equal(textOf(out), '8');
});

test('the quickstart runs end to end; moving a HeadSteering control changes the model and the output that depends on it', async () => {
  await lab.openNotebook('examples/quickstart.ipynb');
  await lab.runAll();
  const errors = await lab.errorOutputs();
  assert.deepEqual(errors, []);
  await lab.page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .attnlab-plotly .main-svg').first().waitFor({ timeout: 60_000 });
  const steering = lab.page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .attnlab-steering');
  await steering.waitFor({ timeout: 60_000 });
  await steering.scrollIntoViewIfNeeded();
  await lab.shot('quickstart-steering');
  const accuracyText = () => lab.page.evaluate(() => {
    const nb = window.jupyterapp.shell.currentWidget.content;
    for (const c of nb.widgets) for (const o of c.model.outputs?.toJSON() ?? []) {
      const t = o.data?.['text/plain'];
      const s = Array.isArray(t) ? t.join('') : t;
      if (typeof s === 'string' && s.includes('accuracy with these heads')) return s;
    }
    return null;
  });
  // The layer-0 row's "ablate" button: the model's positional-copy heads.
  await steering.locator('.attnlab-row-head').first().locator('button', { hasText: 'ablate' }).click();
  await lab.page.waitForFunction(() => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .attnlab-steering .attnlab-cell.attnlab-ablated').length === 8, null, { timeout: 60_000 });
  await lab.page.waitForFunction(() => {
    const nb = window.jupyterapp.shell.currentWidget.content;
    return nb.widgets.some((c) => (c.model.outputs?.toJSON() ?? []).some((o) => String(o.data?.['text/plain'] ?? '').includes('accuracy with these heads: 0.0')));
  }, null, { timeout: 120_000 });
  assert.match(String(await accuracyText()), /accuracy with these heads: 0\.0/);
  await lab.shot('quickstart-layer0-ablated');
});

test('save, reload: the notebook and its widget state come back', async () => {
  await lab.page.evaluate(() => window.jupyterapp.commands.execute('docmanager:save'));
  await lab.page.waitForFunction(() => !window.jupyterapp.shell.currentWidget.context.model.dirty, null, { timeout: 30_000 });
  await lab.open();
  await lab.openNotebook('examples/quickstart.ipynb', { waitKernel: false });
  // The notebook renders lazily: bring the widget's cell into view first.
  await lab.page.evaluate(async () => {
    const nb = window.jupyterapp.shell.currentWidget.content;
    const i = nb.widgets.findIndex((c) => (c.model.outputs?.toJSON() ?? []).some((o) => o.data?.['application/vnd.jupyter.widget-view+json']));
    await nb.scrollToItem(i, 'center');
  });
  await lab.page.waitForFunction(() => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .attnlab-steering .attnlab-cell.attnlab-ablated').length === 8, null, { timeout: 60_000 });
  await lab.shot('reloaded-widget-state');
});

test('every notebook in examples/ runs all cells without an error output', async () => {
  const { readdirSync } = await import('node:fs');
  const names = readdirSync(new URL('../../examples/', import.meta.url)).filter((n) => n.endsWith('.ipynb')).sort();
  assert.ok(names.length >= 2);
  for (const name of names) {
    await lab.openNotebook(`examples/${name}`, { restart: true });
    await lab.runAll();
    assert.deepEqual(await lab.errorOutputs(), [], name);
  }
});

test('the page raised no uncaught errors', () => {
  const real = lab.consoleErrors.filter((e) => !/Yjs|Y\.Doc|favicon|language-server/.test(e));
  assert.deepEqual(real, []);
});
