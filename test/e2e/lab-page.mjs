// Driving the lab page: open it, make notebooks, run cells and read their outputs, the way a
// user does (typing into CodeMirror, Shift+Enter), with a screenshot after each step.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const ARTIFACTS = new URL('../artifacts/e2e/', import.meta.url).pathname;
mkdirSync(ARTIFACTS, { recursive: true });

export class LabPage {
  constructor(page, url) {
    this.page = page;
    this.url = url;
    this.consoleErrors = [];
    this.step = 0;
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) this.consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => this.consoleErrors.push(`pageerror: ${e.message}`));
    // Name what was missing: the console only says "404".
    page.on('response', (r) => {
      if (r.status() >= 400) this.consoleErrors.push(`HTTP ${r.status()} ${r.url()}`);
    });
  }

  async open() {
    await this.page.goto(this.url);
    await this.page.waitForFunction(() => document.body.dataset.attnlabReady || document.body.dataset.attnlabError, null, { timeout: 120_000 });
    const err = await this.page.evaluate(() => document.body.dataset.attnlabError ?? document.body.dataset.attnlabExtensionErrors);
    if (err) throw new Error(`the lab failed to start: ${err}`);
    await this.page.waitForFunction(() => Boolean(window.jupyterapp?.shell), null, { timeout: 60_000 });
  }

  async shot(name) {
    this.step++;
    await this.page.screenshot({ path: join(ARTIFACTS, `${String(this.step).padStart(2, '0')}-${name}.png`) });
  }

  async newNotebook(kernelName = 'attnlab') {
    const before = await this.page.evaluate(() => window.jupyterapp.shell.currentWidget?.id ?? '');
    await this.page.evaluate((name) => window.jupyterapp.commands.execute('notebook:create-new', { kernelName: name }), kernelName);
    await this.page.waitForFunction((id) => {
      const w = window.jupyterapp.shell.currentWidget;
      return w && w.id !== id && w.node.querySelector('.jp-Cell .cm-content');
    }, before, { timeout: 60_000 });
    await this.waitKernelIdle();
  }

  async openNotebook(path, { waitKernel = true, restart = false } = {}) {
    await this.page.evaluate((p) => window.jupyterapp.commands.execute('docmanager:open', { path: p, factory: 'Notebook', kernel: { name: 'attnlab' } }), path);
    try {
      await this.page.waitForFunction((p) => window.jupyterapp.shell.currentWidget?.context?.path === p, path, { timeout: 60_000 });
    } catch (e) {
      await this.shot(`open-failed-${path.replace(/\W/g, '_')}`);
      const current = await this.page.evaluate(() => `${window.jupyterapp.shell.currentWidget?.title.label}; dialogs: ${document.querySelectorAll('.jp-Dialog').length}`);
      throw new Error(`${path} did not open (current widget: ${current}): ${e.message}`);
    }
    await this.page.waitForSelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell', { timeout: 60_000 });
    if (restart) {
      await this.waitKernelIdle();
      await this.page.evaluate(() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart());
    }
    if (waitKernel) await this.waitKernelIdle();
  }

  /** Runs every cell of the current notebook and waits until all code cells have run. */
  async runAll(timeout = 300_000) {
    await this.page.evaluate(() => window.jupyterapp.commands.execute('notebook:run-all-cells'));
    await this.page.waitForFunction(() => {
      const nb = window.jupyterapp.shell.currentWidget.content;
      const k = window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel;
      return k?.status === 'idle' && nb.widgets.every((c) => c.model.type !== 'code' || (c.model.executionCount !== null && c.promptNode?.textContent?.trim() !== '[*]:'));
    }, null, { timeout, polling: 250 });
  }

  /** `ename: evalue` of every error output in the current notebook. */
  async errorOutputs() {
    return this.page.evaluate(() => window.jupyterapp.shell.currentWidget.content.widgets.flatMap((c) => (c.model.outputs?.toJSON() ?? []).filter((o) => o.output_type === 'error').map((o) => `${o.ename}: ${o.evalue}`)));
  }

  /** Waits until the current notebook's kernel is started and idle. */
  async waitKernelIdle(timeout = 120_000) {
    await this.page.waitForFunction(() => {
      const w = window.jupyterapp.shell.currentWidget;
      const k = w?.sessionContext?.session?.kernel;
      return k && k.status === 'idle';
    }, null, { timeout });
  }

  /** Number of cells in the current notebook. */
  async cellCount() {
    return this.page.evaluate(() => window.jupyterapp.shell.currentWidget.content.widgets.length);
  }

  /** Types code into the last cell, runs it (Shift+Enter) and returns the text of its outputs. */
  async run(code, { timeout = 180_000 } = {}) {
    const index = (await this.cellCount()) - 1;
    const cell = this.page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell').nth(index);
    await cell.locator('.cm-content').click();
    await this.page.evaluate((c) => {
      const nb = window.jupyterapp.shell.currentWidget.content;
      nb.activeCell.model.sharedModel.setSource(c);
    }, code);
    await this.page.keyboard.press('Shift+Enter');
    await this.page.waitForFunction((i) => {
      const nb = window.jupyterapp.shell.currentWidget.content;
      const c = nb.widgets[i];
      return c.model.executionCount !== null && c.promptNode?.textContent?.trim() !== '[*]:';
    }, index, { timeout });
    return this.outputsOf(index);
  }

  async outputsOf(index) {
    return this.page.evaluate((i) => {
      const nb = window.jupyterapp.shell.currentWidget.content;
      const outs = nb.widgets[i].model.outputs.toJSON();
      return outs;
    }, index);
  }
}

export function textOf(outputs) {
  return outputs
    .map((o) => (o.output_type === 'stream' ? o.text : o.output_type === 'error' ? `${o.ename}: ${o.evalue}` : o.data?.['text/plain'] ?? ''))
    .map((t) => (Array.isArray(t) ? t.join('') : t))
    .join('\n');
}
