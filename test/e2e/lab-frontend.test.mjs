// End to end, what a new user sees in the lab (issue 15): the attention grid's click-to-enlarge,
// widget state through save and reload (AttentionExplorer's binary patterns, disconnected
// widgets), a notebook that stays saved after a reload, readable class names in %who, the
// HeadSteering layouts at 1400 px, and model paths resolved from the notebook's folder.
// Serves the built lab (the test runner builds first); screenshots land in test/artifacts/e2e/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openBuiltLab } from './serve-lab.mjs';

let lab;
let closeLab;

before(async () => {
  ({ lab, close: closeLab } = await openBuiltLab());
});

after(async () => {
  await closeLab?.();
});

/** Runs code in the current notebook's kernel without adding a cell; resolves with its text outputs. */
function execute(code) {
  return lab.page.evaluate(async (c) => {
    const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
    const parts = [];
    const future = kernel.requestExecute({ code: c, store_history: false });
    future.onIOPub = (m) => {
      const ct = m.content;
      if (m.header.msg_type === 'stream') parts.push(ct.text);
      else if (m.header.msg_type === 'execute_result' || m.header.msg_type === 'display_data') parts.push(ct.data['text/plain'] ?? '');
      else if (m.header.msg_type === 'error') parts.push(`${ct.ename}: ${ct.evalue}`);
    };
    await future.done;
    return parts.join('\n');
  }, code);
}

const current = '.jp-NotebookPanel:not(.lm-mod-hidden)';

/** Clicks the middle of the plot panel of subplot `xy` (e.g. 'x4y4') as a user does. */
async function clickPanel(plot, xy) {
  const box = await plot.locator(`.draglayer .${xy} .nsewdrag`).boundingBox();
  assert.ok(box, `no drag layer for subplot ${xy}`);
  await lab.page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
}

test('quickstart runs; clicking a head enlarges it with its labels, clicking again restores the whole grid (issue 15.1)', async () => {
  await lab.openNotebook('examples/quickstart.ipynb');
  await lab.runAll();
  assert.deepEqual(await lab.errorOutputs(), []);
  const plot = lab.page.locator(`${current} .attnlab-plotly`).first();
  await plot.locator('.main-svg').first().waitFor({ timeout: 60_000 });
  await plot.scrollIntoViewIfNeeded();
  const axes = () => plot.evaluate((el) => {
    const fl = el._fullLayout;
    const names = Object.keys(fl).filter((k) => /^[xy]axis\d*$/.test(k)).sort();
    return Object.fromEntries(names.map((k) => [k, { domain: fl[k].domain.map((v) => Math.round(v * 1000) / 1000), visible: fl[k].visible, labels: fl[k].showticklabels }]));
  });
  const grid = await axes();
  assert.equal(Object.keys(grid).length, 8, 'four heads, an x and a y axis each');
  await clickPanel(plot, 'x4y4');
  await lab.page.waitForFunction((sel) => document.querySelector(`${sel} .attnlab-plotly`)?.dataset.enlarged === '3', current, { timeout: 10_000 });
  await lab.shot('frontend-head-enlarged');
  const big = await axes();
  assert.deepEqual(big.yaxis4.domain, [0, 1]);
  assert.deepEqual(big.xaxis4.domain, [0, 1]);
  assert.equal(big.yaxis4.labels, true, 'the enlarged head (second column) has its query labels');
  const visibleTraces = await plot.evaluate((el) => el._fullData.filter((t) => t.visible === true).map((t) => t.name));
  assert.deepEqual(visibleTraces, ['head 3']);
  // The second click restores the grid exactly (it used to stay on one head with the other axes collapsed).
  await clickPanel(plot, 'x4y4');
  await lab.page.waitForFunction((sel) => document.querySelector(`${sel} .attnlab-plotly`)?.dataset.enlarged === '', current, { timeout: 10_000 });
  await lab.shot('frontend-grid-restored');
  assert.deepEqual(await axes(), grid);
  assert.equal(await plot.evaluate((el) => el._fullData.filter((t) => t.visible === true).length), 4);
  // An offline tool: no cloud button in the mode bar.
  assert.equal(await plot.locator('.modebar-btn[data-title*="Chart Studio"], .modebar-btn[data-title*="cloud"]').count(), 0);
});

test('%who names classes as written (Transformer, HeadSteering), not minified letters (issue 15.7)', async () => {
  const who = await execute('%who');
  assert.match(who, /model: Transformer/, who);
  assert.match(who, /steer: HeadSteering/, who);
  const err = await execute("class Probe {}\nnew Probe().constructor.name + ' ' + (await import('@attnlab/tensor')).Tensor.name");
  assert.match(err, /Probe Tensor/, err);
});

test('model paths resolve from the notebook folder, / from the lab root, and a failed fetch names the URL (issue 15.9)', async () => {
  // quickstart.ipynb lives in examples/.
  assert.equal(await execute("(await loadHFModel('/examples/models/induction-2l')).config.nLayers"), '2');
  assert.equal(await execute("(await loadHFModel('models/induction-2l')).config.nLayers"), '2');
  const err = await execute("await loadHFModel('examples/models/induction-2l')");
  assert.match(err, /fetching http:\/\/127\.0\.0\.1:\d+\/files\/examples\/examples\/models\/induction-2l\/config\.json failed: HTTP 404/, err);
  assert.match(err, /relative path starts at the notebook's folder, '\/' at the lab's root/, err);
});

test('HeadSteering with 8 heads fits a 1400 px page (compact layout); 16 heads fit as colour swatches with sticky layer labels', async () => {
  const steering = lab.page.locator(`${current} .attnlab-steering`).first();
  await steering.scrollIntoViewIfNeeded();
  assert.equal(await steering.getAttribute('data-layout'), 'compact');
  const fits = (loc) => loc.locator('.attnlab-steering-scroll').evaluate((s) => ({ scroll: s.scrollWidth, client: s.clientWidth }));
  const f8 = await fits(steering);
  assert.ok(f8.scroll <= f8.client + 1, `8 heads overflow: ${f8.scroll} > ${f8.client}`);
  await lab.shot('frontend-steering-8-heads');
});

test('an 8-head attention grid: no head title overlaps a tick label; the block mask has axis titles (plot polish)', async () => {
  await lab.newNotebook();
  await lab.run(`import * as plots from '@attnlab/plots';
import { createBlockMask, causal } from '@attnlab/attention';
const toks = Array.from({ length: 16 }, (_, i) => 'tok' + i);
const eight = Array.from({ length: 8 }, (_, h) => toks.map((_, q) => toks.map((_, k) => (k <= q ? (k === Math.max(0, q - h) ? 0.6 : 0.4 / q) : 0))));
display(plots.attention(eight, toks, { title: '8 heads' }));
display(plots.mask(createBlockMask(causal(), { B: 1, H: 1, Nq: 64, Nk: 64, blockSize: 16 })));`);
  const plotsIn = lab.page.locator(`${current} .attnlab-plotly`);
  await plotsIn.nth(1).locator('.main-svg').first().waitFor({ timeout: 60_000 });
  await plotsIn.first().scrollIntoViewIfNeeded();
  await lab.shot('frontend-8-heads');
  const overlaps = await plotsIn.first().evaluate((el) => {
    const titles = [...el.querySelectorAll('.annotation-text')].map((t) => t.getBoundingClientRect());
    const ticks = [...el.querySelectorAll('.xtick text, .ytick text')].map((t) => t.getBoundingClientRect()).filter((r) => r.width > 0);
    const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
    return { titles: titles.length, ticks: ticks.length, overlaps: titles.flatMap((a, i) => ticks.filter((b) => hit(a, b)).map(() => i)) };
  });
  assert.equal(overlaps.titles, 8);
  assert.ok(overlaps.ticks > 0);
  assert.deepEqual(overlaps.overlaps, [], 'head titles overlap tick labels');
  const axisTitles = await plotsIn.nth(1).evaluate((el) => [...el.querySelectorAll('.g-xtitle, .g-ytitle')].map((t) => t.textContent));
  assert.deepEqual(axisTitles, ['key position', 'query position']);
});

test('AttentionExplorer and HeadSteering survive save and reload: patterns saved as a base64 buffer, the explorer renders, restored widgets show as disconnected and take no clicks (issues 15.2, 15.8, 15.6)', async () => {
  // In the notebook the previous test made.
  const path = await lab.page.evaluate(() => window.jupyterapp.shell.currentWidget.context.path);
  await lab.run(`import { AttentionExplorer, HeadSteering } from '@attnlab/widgets';
const tokens = ['the', 'cat', 'sat', 'on', 'the', 'mat'];
const N = tokens.length, L = 2, H = 3;
const data = new Float32Array(L * H * N * N);
for (let i = 0; i < L * H * N; i++) { const q = i % N; for (let k = 0; k <= q; k++) data[i * N + k] = 1 / (q + 1); }
new AttentionExplorer(tokens, { data, shape: [L, H, N, N] })`);
  await lab.page.locator(`${current} .attnlab-explorer .attnlab-token`).first().waitFor({ timeout: 60_000 });
  await lab.run(`const controls = new Map();
const heads16 = { layers: 2, heads: 16, set: (s, c) => void controls.set(s.layer * 16 + s.head, c), get: (s) => controls.get(s.layer * 16 + s.head) ?? {}, reset: () => controls.clear(), onChange: () => () => {} };
new HeadSteering(heads16, { title: '16 heads' })`);
  const wide = lab.page.locator(`${current} .attnlab-steering`).last();
  await wide.waitFor({ timeout: 60_000 });
  assert.equal(await wide.getAttribute('data-layout'), 'color');
  const fit16 = await wide.locator('.attnlab-steering-scroll').evaluate((s) => ({ scroll: s.scrollWidth, client: s.clientWidth }));
  assert.ok(fit16.scroll <= fit16.client + 1, `16 heads overflow: ${fit16.scroll} > ${fit16.client}`);
  // A swatch opens that head's controls; ablating it goes to the kernel and comes back.
  await wide.locator('.attnlab-swatch').nth(16 + 5).click();
  await wide.locator('.attnlab-steering-detail .attnlab-ablate').check();
  await lab.page.waitForFunction((sel) => [...document.querySelectorAll(`${sel} .attnlab-steering`)].pop()?.querySelectorAll('.attnlab-cell.attnlab-ablated').length === 1, current, { timeout: 30_000 });
  assert.equal(await execute('controls.get(21).ablate'), '"zero"');
  await lab.shot('frontend-steering-16-heads');

  // Save everything open (the quickstart too), as a user does before closing the tab.
  await lab.page.evaluate(() => window.jupyterapp.commands.execute('docmanager:save-all'));
  await lab.page.waitForFunction(() => [...window.jupyterapp.shell.widgets('main')].every((w) => !w.context?.model.dirty), null, { timeout: 30_000 });
  const saved = await lab.page.evaluate(async (p) => (await window.jupyterapp.serviceManager.contents.get(p, { content: true })).content.metadata.widgets['application/vnd.jupyter.widget-state+json'].state, path);
  const explorerState = Object.values(saved).find((m) => m.model_name === 'AttentionExplorerModel');
  assert.ok(explorerState, 'the explorer is in the saved widget state');
  assert.equal(explorerState.state.patterns, undefined, 'patterns are not saved as JSON');
  assert.deepEqual(explorerState.buffers.map((b) => [b.path, b.encoding]), [[['patterns'], 'base64']]);
  assert.equal(Buffer.from(explorerState.buffers[0].data, 'base64').length, 2 * 3 * 6 * 6 * 4);

  const errorsBefore = lab.consoleErrors.length;
  await lab.open();
  await lab.openNotebook(path, { waitKernel: false });
  const explorer = lab.page.locator(`${current} .attnlab-explorer`);
  await explorer.locator('.attnlab-token').first().waitFor({ timeout: 60_000 });
  // Hover still reads the restored patterns: 'cat' (query 1) attends to 'the' and 'cat' equally.
  await explorer.locator('.attnlab-queries .attnlab-token').nth(1).hover();
  assert.match(await explorer.locator('.attnlab-explorer-info').textContent(), /"cat" attends most to "the" \(0\.500\)/);
  const newErrors = lab.consoleErrors.slice(errorsBefore).filter((e) => /can not be instantiated|deserialize|reading 'slice'/.test(e));
  assert.deepEqual(newErrors, []);

  // Restored from the file, no kernel behind them: shown as disconnected, and clicks change nothing.
  const restored = lab.page.locator(`${current} .attnlab-steering`).last();
  await restored.waitFor({ timeout: 60_000 });
  assert.equal(await restored.getAttribute('data-connected'), 'false');
  assert.match(await restored.locator('.attnlab-disconnected-notice').textContent(), /disconnected from the kernel: run its cell again/);
  assert.equal(await explorer.getAttribute('data-connected'), 'false');
  const swatch = restored.locator('.attnlab-swatch').first();
  const box = await swatch.boundingBox();
  await lab.page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await lab.page.waitForTimeout(300);
  assert.equal(await restored.locator('.attnlab-steering-detail .attnlab-ablate').count(), 0, 'a disconnected grid opens no controls');
  await lab.shot('frontend-reloaded-disconnected');

  // Nothing changed since the save: the notebook stays saved (it turned "unsaved" ~5 s after a reload).
  await lab.page.waitForTimeout(8000);
  assert.equal(await lab.page.evaluate(() => window.jupyterapp.shell.currentWidget.context.model.dirty), false, 'the notebook became dirty after a reload with no change');

  // Saved again before re-running (widgets still disconnected): their state is kept, not dropped.
  await lab.page.evaluate(() => window.jupyterapp.commands.execute('docmanager:save'));
  await lab.page.waitForFunction(() => !window.jupyterapp.shell.currentWidget.context.model.dirty, null, { timeout: 30_000 });
  const resaved = await lab.page.evaluate(async (p) => (await window.jupyterapp.serviceManager.contents.get(p, { content: true })).content.metadata.widgets['application/vnd.jupyter.widget-state+json'].state, path);
  assert.deepEqual(Object.values(resaved).map((m) => m.model_name).sort(), Object.values(saved).map((m) => m.model_name).sort());
  await lab.open();
  await lab.openNotebook(path, { waitKernel: false });
  await lab.page.locator(`${current} .attnlab-explorer .attnlab-token`).first().waitFor({ timeout: 60_000 });
});

test('the quickstart, saved and reloaded, stays unmodified (issue 15.6)', async () => {
  await lab.openNotebook('examples/quickstart.ipynb', { waitKernel: false });
  await lab.page.evaluate(() => window.jupyterapp.commands.execute('docmanager:save'));
  await lab.page.waitForFunction(() => !window.jupyterapp.shell.currentWidget.context.model.dirty, null, { timeout: 30_000 });
  await lab.open();
  // Records what changes the documents after the reload (the failure message shows it).
  await lab.page.evaluate(() => {
    window.__dirty = [];
    const watch = (w) => {
      if (!w?.context || w.__watched) return;
      w.__watched = true;
      const ctx = w.context;
      ctx.ready.then(() => {
        window.__dirty.push(`ready ${ctx.path} dirty=${ctx.model.dirty}`);
        let meta = JSON.stringify(ctx.model.sharedModel.getMetadata());
        ctx.model.stateChanged.connect((m, a) => { if (a.name === 'dirty' && a.newValue) window.__dirty.push(`DIRTY ${ctx.path}`); });
        ctx.model.sharedModel.changed.connect((m, ev) => { const now = JSON.stringify(ctx.model.sharedModel.getMetadata()); window.__dirty.push(`changed ${ctx.path} ${JSON.stringify(Object.keys(ev))} ${now === meta ? '' : 'BEFORE ' + meta.slice(0, 1500) + ' AFTER ' + now.slice(0, 1500)}`); meta = now; });
        for (const c of ctx.model.sharedModel.cells) c.changed.connect((cc, ev) => window.__dirty.push(`cell ${cc.cell_type} ${JSON.stringify(Object.keys(ev))} ${JSON.stringify(ev.outputsChange ?? ev.executionCountChange ?? ev.metadataChange ?? '').slice(0, 400)}`));
      });
    };
    for (const w of window.jupyterapp.shell.widgets('main')) watch(w);
    window.jupyterapp.shell.currentChanged.connect((s, a) => watch(a.newValue));
  });
  await lab.openNotebook('examples/quickstart.ipynb', { waitKernel: false });
  await lab.page.evaluate(async () => {
    const nb = window.jupyterapp.shell.currentWidget.content;
    for (let i = 0; i < nb.widgets.length; i += 3) await nb.scrollToItem(i, 'center');
  });
  await lab.page.waitForTimeout(8000);
  const dirty = await lab.page.evaluate(() => window.jupyterapp.shell.currentWidget.context.model.dirty);
  const events = await lab.page.evaluate(() => window.__dirty.join('\n'));
  assert.equal(dirty, false, `quickstart turned unsaved after a reload with no change; what happened:\n${events}`);
});
