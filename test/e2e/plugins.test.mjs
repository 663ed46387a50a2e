// End to end: a package the browser host has never heard of becomes importable in the lab, and its
// plugin runs there. A throwaway package (with "attnlab": { "importable": true } and an
// attnlabPlugin) is written to a temp folder; the worker bundle and its declarations are rebuilt
// from the manifest with that folder added (ATTNLAB_EXTRA_PACKAGES, no node_modules relink, no
// edit of kernels/browser); a copy of the built lab gets that worker and is served. In a notebook
// the package imports, its plugin activates (a magic, a display formatter, an attention variant in
// @attnlab/attention's registry, a head score in @attnlab/models'), `%plugin` lists it beside the
// real @attnlab/attention and @attnlab/models plugins, and disposing it undoes what it added.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './browser.mjs';
import { LabPage, textOf } from './lab-page.mjs';
import { serveLab } from './serve-lab.mjs';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const builtLab = join(repo, 'packages/lab/build');
const tmp = mkdtempSync(join(tmpdir(), 'attnlab-plugin-e2e-'));
const pkgDir = join(tmp, 'throwaway');
const NAME = 'attnlab-e2e-throwaway';

let server;
let browser;
let lab;

/** The throwaway package: plain ESM with declarations, a function, and a plugin using every kind of registration. */
function writePackage() {
  mkdirSync(join(pkgDir, 'dist'), { recursive: true });
  writeFileSync(join(pkgDir, 'package.json'), JSON.stringify({ name: NAME, version: '0.0.1', type: 'module', main: './dist/index.js', types: './dist/index.d.ts', attnlab: { importable: true } }, null, 2));
  writeFileSync(join(pkgDir, 'dist/index.js'), `import { getAttention } from '@attnlab/attention';
import { zeros } from '@attnlab/tensor';
import '@attnlab/models';
export function greet(name) { return 'hello ' + name + ' from a throwaway package'; }
export class Marker { constructor(label) { this.label = label; } }
export const attnlabPlugin = {
  id: 'throwaway',
  activate(ctx) {
    ctx.registerMagic('throwaway', { help: 'says hello', line: (args) => 'magic says ' + args });
    ctx.registerDisplayFormatter((v) => (v instanceof Marker ? { 'text/plain': 'Marker<' + v.label + '>' } : undefined));
    const softmax = getAttention('softmax');
    ctx.registerAttention({ name: 'throwaway-softmax', description: 'softmax, registered by a plugin', forward: (q, k, v, c) => softmax.forward(q, k, v, c) });
    ctx.registerScore('throwaway-score', { compute: (model) => zeros([model.config.nLayers, model.config.nHeads]) });
  },
};
`);
  writeFileSync(join(pkgDir, 'dist/index.d.ts'), `/** Greets from the throwaway package. */
export declare function greet(name: string): string;
export declare class Marker { readonly label: string; constructor(label: string); }
export declare const attnlabPlugin: { id: string; activate(ctx: unknown): void };
`);
}

before(async () => {
  if (!existsSync(join(builtLab, 'index.html'))) throw new Error(`${builtLab} is not built: run npm run build (or npm start once)`);
  writePackage();
  // The worker bundle and its declarations, from the manifest plus the throwaway folder.
  const bundle = join(tmp, 'worker');
  const env = { ...process.env, ATTNLAB_EXTRA_PACKAGES: pkgDir };
  for (const script of ['bundle.mjs', 'types.mjs']) {
    const r = spawnSync(process.execPath, [join(repo, 'kernels/browser/scripts', script), '--out', bundle], { env, encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `${script}: ${r.stdout}\n${r.stderr}`);
    if (script === 'bundle.mjs') assert.match(r.stdout, new RegExp(`importable: .*${NAME}`));
  }
  // A copy of the built lab whose kernel extension serves that worker.
  const site = join(tmp, 'site');
  cpSync(builtLab, site, { recursive: true });
  const worker = join(site, 'extensions/@attnlab/kernel-extension/static/worker');
  rmSync(worker, { recursive: true, force: true });
  cpSync(bundle, worker, { recursive: true });
  const s = await serveLab({ dir: site });
  server = s.proc;
  browser = await launchChromium();
  lab = new LabPage(await browser.newPage({ viewport: { width: 1400, height: 900 } }), s.url);
  await lab.open();
  await lab.newNotebook();
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) server.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
});

test('a throwaway package imports in the lab and its plugin activates: magic, formatter, attention variant', async () => {
  const out = await lab.run(`import { greet, Marker } from '${NAME}';\ngreet('lab')`);
  assert.equal(textOf(out), '"hello lab from a throwaway package"');
  assert.equal(textOf(await lab.run('%throwaway twice')), '"magic says twice"');
  assert.equal(textOf(await lab.run("new Marker('m1')")), 'Marker<m1>');
  const listed = textOf(await lab.run("import { listAttention } from '@attnlab/attention';\nlistAttention().includes('throwaway-softmax')"));
  assert.equal(listed, 'true');
  assert.equal(textOf(await lab.run("import { listScores } from '@attnlab/models';\nlistScores().includes('throwaway-score')")), 'true');
  const active = textOf(await lab.run('%plugin'));
  assert.match(active, /^throwaway \(from attnlab-e2e-throwaway\): magic %throwaway, display formatter, attention variant 'throwaway-softmax', head score 'throwaway-score'$/m);
  assert.match(active, /^@attnlab\/attention: magic %attention$/m, 'the real @attnlab/attention plugin is active too');
  assert.match(active, /^@attnlab\/models: magic %scores$/m, 'and @attnlab/models');
  await lab.shot('plugin-active');
});

test('the package types ship with the worker: completion and hover see them', async () => {
  const replies = await lab.page.evaluate(async () => {
    const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
    const complete = async (code) => (await kernel.requestComplete({ code, cursor_pos: code.length })).content.matches;
    const inspect = async (code) => (await kernel.requestInspect({ code, cursor_pos: code.length, detail_level: 0 })).content.data['text/plain'];
    return { names: await complete('gre'), hover: await inspect('greet') };
  });
  assert.ok(replies.names.includes('greet'), `completion: ${replies.names}`);
  assert.match(replies.hover ?? '', /function greet\(name: string\): string/);
});

test('%plugin dispose undoes what the plugin registered; a re-import activates it again', async () => {
  assert.match(textOf(await lab.run('%plugin dispose throwaway')), /plugin 'throwaway' disposed: 4 registrations undone/);
  assert.equal(textOf(await lab.run("listAttention().includes('throwaway-softmax') || listScores().includes('throwaway-score')")), 'false');
  assert.match(textOf(await lab.run('%throwaway again')), /%throwaway: no such line magic/);
  assert.notEqual(textOf(await lab.run("new Marker('m2')")), 'Marker<m2>');
  await lab.run(`await import('${NAME}'); 0`);
  assert.equal(textOf(await lab.run("listAttention().includes('throwaway-softmax')")), 'true');
});

test('the page raised no uncaught errors', () => {
  assert.deepEqual(lab.consoleErrors.filter((e) => !/Yjs|Y\.Doc/.test(e)), []);
});
