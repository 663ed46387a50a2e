// The in-browser kernel inside a server-based JupyterLab, beside the server's kernels
// (@attnlab/kernel-extension's hybrid service-manager plugins). The Python `jupyterlab` package
// cannot be installed here (no PyPI), so the stand-in is: Debian's jupyter-server 1.23 with our
// Node kernelspec installed, serving the built lab in server mode (JupyterLab's own server-backed
// contents, kernel, kernelspec and session managers; see packages/lab/app/plugins.ts) through a
// small server extension (hybrid/attnlab_hybrid_fixture.py). The extension's package.json
// `disabledExtensions` go into the page config, as jupyterlab_server puts them there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installKernelspec } from '../../kernels/node/dist/src/index.js';
import { launchChromium } from './browser.mjs';
import { LabPage, textOf } from './lab-page.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const build = fileURLToPath(new URL('../../packages/lab/build', import.meta.url));
const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const hasServer = await new Promise((ok) => {
  const p = spawn(python, ['-c', 'import jupyter_server'], { stdio: 'ignore' });
  p.on('exit', (code) => ok(code === 0));
  p.on('error', () => ok(false));
});

let tmp;
let server;
let serverLog = '';
let browser;
let lab;
let base;

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
    s.on('error', fail);
  });
}

/** The built lab's page config turned to server mode, with the extensions' disabledExtensions. */
function serverModeIndex() {
  const html = readFileSync(join(build, 'index.html'), 'utf8');
  const m = html.match(/<script id="jupyter-config-data" type="application\/json">([\s\S]*?)<\/script>/);
  if (!m) throw new Error('packages/lab/build/index.html has no jupyter-config-data');
  const config = JSON.parse(m[1]);
  const disabled = config.federated_extensions.flatMap((e) => JSON.parse(readFileSync(join(build, 'extensions', e.name, 'package.json'), 'utf8')).jupyterlab?.disabledExtensions ?? []);
  Object.assign(config, {
    attnlabServices: 'server',
    baseUrl: '/',
    appUrl: '/attnlab/lab',
    fullStaticUrl: '/attnlab/static',
    settingsUrl: '/attnlab/api/settings',
    themesUrl: '/attnlab/themes',
    labextensionsUrl: 'attnlab/extensions',
    fullLabextensionsUrl: '/attnlab/extensions',
    disabledExtensions: disabled,
  });
  delete config.defaultKernelName;
  delete config.contentsAllJsonFile;
  const json = JSON.stringify(config).replace(/</g, '\\u003c');
  return html.replace(m[0], `<script id="jupyter-config-data" type="application/json">${json}</script>`).replace(/src="\/static\//g, 'src="/attnlab/static/');
}

before(async () => {
  if (!hasServer) throw new Error(`${python} cannot import jupyter_server: install Debian's python3-jupyter-server (.ci/run does)`);
  tmp = mkdtempSync(join(tmpdir(), 'attnlab-hybrid-'));
  installKernelspec({ prefix: tmp });
  const root = join(tmp, 'root');
  mkdirSync(root);
  writeFileSync(join(tmp, 'index.html'), serverModeIndex());
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(python, ['-m', 'jupyter_server', '--no-browser', `--port=${port}`, '--ip=127.0.0.1', '--ServerApp.token=', '--ServerApp.password=',
    '--ServerApp.disable_check_xsrf=True', `--ServerApp.root_dir=${root}`, '--ServerApp.jpserver_extensions', 'attnlab_hybrid_fixture=True', '--allow-root'], {
    env: {
      ...process.env,
      PYTHONPATH: join(here, 'hybrid'),
      JUPYTER_PATH: join(tmp, 'share', 'jupyter'),
      JUPYTER_CONFIG_DIR: join(tmp, 'config'),
      JUPYTER_DATA_DIR: join(tmp, 'data'),
      JUPYTER_RUNTIME_DIR: join(tmp, 'runtime'),
      ATTNLAB_LAB_BUILD: build,
      ATTNLAB_HYBRID_INDEX: join(tmp, 'index.html'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout.on('data', (d) => (serverLog += d));
  server.stderr.on('data', (d) => (serverLog += d));
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/api/kernelspecs`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || server.exitCode !== null) throw new Error(`jupyter-server did not start:\n${serverLog}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  browser = await launchChromium();
  lab = new LabPage(await browser.newPage({ viewport: { width: 1400, height: 900 } }), `${base}/attnlab/lab`);
  await lab.open();
  await lab.shot('hybrid-open');
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('the kernel list holds the server Node kernel and the in-browser one under its own name', async () => {
  const specs = await lab.page.evaluate(async () => {
    const m = window.jupyterapp.serviceManager.kernelspecs;
    await m.ready;
    for (let i = 0; i < 100 && !m.specs?.kernelspecs['attnlab-browser']; i++) await new Promise((r) => setTimeout(r, 100));
    return Object.fromEntries(Object.entries(m.specs.kernelspecs).map(([k, v]) => [k, v.display_name]));
  });
  assert.equal(specs['attnlab'], 'TypeScript (attnlab)', JSON.stringify(specs));
  assert.equal(specs['attnlab-browser'], 'TypeScript (attnlab) in browser', JSON.stringify(specs));
  const server = await (await fetch(`${base}/api/kernelspecs`)).json();
  assert.ok(server.kernelspecs['attnlab'] && !server.kernelspecs['attnlab-browser'], 'the server knows only its own kernels');
});

test('an attnlab-browser notebook runs in the page worker with WebGPU; the server never sees its kernel', async () => {
  await lab.newNotebook('attnlab-browser');
  const out = await lab.run("const where = typeof WorkerGlobalScope !== 'undefined' && typeof process === 'undefined' ? 'worker' : 'elsewhere';\nconst { getDevice } = await import('@attnlab/tensor');\n`${where} ${(await getDevice({ prefer: 'webgpu' })).kind}`");
  await lab.shot('hybrid-browser-kernel');
  assert.equal(textOf(out), '"worker webgpu"');
  const kernels = await (await fetch(`${base}/api/kernels`)).json();
  assert.equal(kernels.length, 0, `server kernels: ${JSON.stringify(kernels)}`);
});

test('an attnlab notebook runs on the server (Node) while the browser kernel keeps its state', async () => {
  await lab.newNotebook('attnlab');
  const out = await lab.run("typeof process !== 'undefined' ? `node ${process.versions.node.split('.')[0]}` : 'not node'");
  await lab.shot('hybrid-server-kernel');
  assert.match(textOf(out), /^"node \d+"$/);
  const kernels = await (await fetch(`${base}/api/kernels`)).json();
  assert.deepEqual(kernels.map((k) => k.name), ['attnlab']);
  const running = await lab.page.evaluate(() => [...window.jupyterapp.serviceManager.kernels.running()].map((k) => k.name).sort());
  assert.deepEqual(running, ['attnlab', 'attnlab-browser']);
  // Back to the browser notebook: its kernel and its variables are still there.
  await lab.page.evaluate(() => {
    const panels = [...window.jupyterapp.shell.widgets('main')].filter((w) => w.sessionContext?.session?.kernel?.name === 'attnlab-browser');
    window.jupyterapp.shell.activateById(panels[0].id);
  });
  assert.equal(textOf(await lab.run('where')), '"worker"');
});

test('notebooks live in the server contents; interrupt reaches a running browser cell', async () => {
  // context.save(): the save command would first ask to rename an Untitled notebook.
  const path = await lab.page.evaluate(async () => {
    const { context } = window.jupyterapp.shell.currentWidget;
    await context.save();
    return context.path;
  });
  const saved = JSON.parse(readFileSync(join(tmp, 'root', path), 'utf8'));
  assert.equal(saved.metadata.kernelspec.name, 'attnlab-browser');
  assert.ok(saved.cells.some((c) => [].concat(c.source).join('').includes('WorkerGlobalScope')), 'the saved notebook holds the cell');
  const isolated = await lab.page.evaluate(() => crossOriginIsolated);
  assert.equal(isolated, true, 'the fixture serves the page cross-origin isolated');
  const index = await lab.cellCount() - 1;
  await lab.page.evaluate((c) => { window.jupyterapp.shell.currentWidget.content.activeCell.model.sharedModel.setSource(c); }, 'while (true) {}');
  await lab.page.keyboard.press('Shift+Enter');
  await lab.page.waitForFunction(() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'busy');
  await lab.page.evaluate(() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.interrupt());
  await lab.page.waitForFunction((i) => {
    const c = window.jupyterapp.shell.currentWidget.content.widgets[i];
    return c.model.executionCount !== null && c.promptNode?.textContent?.trim() !== '[*]:';
  }, index, { timeout: 60_000 });
  assert.match(textOf(await lab.outputsOf(index)), /Interrupt/);
  assert.equal(textOf(await lab.run('where')), '"worker"');
});

test('after a reload both notebooks come back, each on its own kernel', async () => {
  const before = (await (await fetch(`${base}/api/kernels`)).json()).map((k) => k.id);
  await lab.page.reload();
  await lab.page.waitForFunction(() => document.body.dataset.attnlabReady, null, { timeout: 120_000 });
  await lab.page.waitForFunction(() => Boolean(window.jupyterapp?.shell), null, { timeout: 60_000 });
  const kernels = await lab.page.waitForFunction(() => {
    const names = [...window.jupyterapp.shell.widgets('main')].map((w) => w.sessionContext?.session?.kernel);
    return names.length >= 2 && names.every((k) => k && k.status === 'idle') ? names.map((k) => k.name).sort() : null;
  }, null, { timeout: 120_000 }).then((h) => h.jsonValue());
  assert.deepEqual(kernels, ['attnlab', 'attnlab-browser']);
  await lab.page.evaluate(() => {
    const w = [...window.jupyterapp.shell.widgets('main')].find((x) => x.sessionContext.session.kernel.name === 'attnlab-browser');
    window.jupyterapp.shell.activateById(w.id);
  });
  // The page kernel is new (a tab's kernels end with the tab); the server kernel lived on.
  assert.equal(textOf(await lab.run("typeof where === 'undefined' && typeof WorkerGlobalScope !== 'undefined' ? 'fresh worker' : 'other'")), '"fresh worker"');
  const after = (await (await fetch(`${base}/api/kernels`)).json()).map((k) => k.id);
  assert.deepEqual(after, before, 'the server kernel survived the reload');
  const reconnected = await lab.page.evaluate(() => [...window.jupyterapp.serviceManager.kernels.running()].filter((k) => k.name === 'attnlab').map((k) => k.id));
  assert.deepEqual(reconnected, before, 'and the page reconnected to it');
});

test('no uncaught page errors or failed requests', () => {
  assert.deepEqual(lab.consoleErrors, []);
});
