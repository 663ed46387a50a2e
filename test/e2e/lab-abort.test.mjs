// End to end, Run All stops as ipykernel does (issue 15.5): interrupting a running cell, or a cell
// that throws, ends the cells queued behind it as 'aborted' — no output, no execution count —
// and only the cell that ran shows an error. Later cells run normally.
// Serves the built lab (the test runner builds first); screenshots land in test/artifacts/e2e/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { textOf } from './lab-page.mjs';
import { openBuiltLab } from './serve-lab.mjs';

let lab;
let closeLab;

before(async () => {
  ({ lab, close: closeLab } = await openBuiltLab());
});

after(async () => {
  await closeLab?.();
});

/**
 * A new notebook holding exactly these code cells; the kernel's execute replies (status, ename)
 * are recorded in order in window.__replies, execute_input codes in window.__started.
 */
async function notebookWith(sources) {
  await lab.newNotebook();
  await lab.page.evaluate((srcs) => {
    const w = window.jupyterapp.shell.currentWidget;
    const shared = w.content.model.sharedModel;
    shared.transact(() => {
      shared.insertCells(shared.cells.length, srcs.map((source) => ({ cell_type: 'code', source, metadata: {}, outputs: [], execution_count: null })));
      shared.deleteCell(0);
    });
    window.__replies = [];
    window.__started = [];
    w.sessionContext.session.kernel.anyMessage.connect((_, { msg, direction }) => {
      if (direction !== 'recv') return;
      if (msg.header.msg_type === 'execute_reply') window.__replies.push({ status: msg.content.status, ename: msg.content.ename });
      if (msg.header.msg_type === 'execute_input') window.__started.push(msg.content.code);
    });
  }, sources);
}

/** Waits for `n` execute replies, the kernel idle and no cell showing [*]; names what is missing. */
async function settled(n) {
  try {
    await lab.page.waitForFunction((count) => {
      const w = window.jupyterapp.shell.currentWidget;
      return window.__replies.length >= count && w.sessionContext.session.kernel.status === 'idle' && w.content.widgets.every((c) => c.model.executionState !== 'running');
    }, n, { timeout: 60_000, polling: 250 });
  } catch {
    const state = await lab.page.evaluate(() => ({ replies: window.__replies, prompts: window.jupyterapp.shell.currentWidget.content.widgets.map((c) => c.promptNode?.textContent?.trim()) }));
    assert.fail(`expected ${n} execute replies and no running cell; got ${JSON.stringify(state)}`);
  }
}

/** Per cell: outputs, execution count and the prompt text the user sees. */
function cells() {
  return lab.page.evaluate(() => window.jupyterapp.shell.currentWidget.content.widgets.map((c) => ({
    outputs: c.model.outputs.toJSON(),
    count: c.model.executionCount,
    prompt: c.promptNode?.textContent?.trim(),
  })));
}

test('interrupting a Run All stops the running cell; the queued cells are aborted without output (issue 15.5)', async () => {
  await notebookWith(['let spins = 0;\nwhile (true) { spins++; }', '1 + 1', '2 + 2']);
  await lab.page.evaluate(() => { void window.jupyterapp.commands.execute('notebook:run-all-cells'); });
  await lab.page.waitForFunction(() => window.__started.some((c) => c.includes('while (true)')), null, { timeout: 60_000 });
  await lab.page.waitForTimeout(500);
  await lab.page.evaluate(() => window.jupyterapp.commands.execute('notebook:interrupt-kernel'));
  await settled(3);
  await lab.shot('abort-after-interrupt');
  const replies = await lab.page.evaluate(() => window.__replies);
  assert.deepEqual(replies.map((r) => r.status), ['error', 'aborted', 'aborted'], JSON.stringify(replies));
  assert.equal(replies[0].ename, 'Interrupted');
  assert.deepEqual(await lab.page.evaluate(() => window.__started), ['let spins = 0;\nwhile (true) { spins++; }'], 'the queued cells never ran');
  const [loop, second, third] = await cells();
  assert.deepEqual(loop.outputs.filter((o) => o.output_type === 'error').map((o) => o.ename), ['Interrupted'], 'the running cell shows the interruption');
  for (const c of [second, third]) {
    assert.deepEqual(c.outputs, [], 'an aborted cell has no output (it used to get "Kernel Interrupt: Interrupted")');
    assert.equal(c.count, null, 'an aborted cell shows no execution count');
    assert.equal(c.prompt, '[ ]:');
  }
  // The kernel goes on: the last cell runs when asked, and state from before the loop survives.
  assert.equal(textOf(await lab.run('typeof spins === "number" ? 40 + 2 : -1')), '42');
});

test('a cell that throws during Run All aborts the cells queued behind it (stop_on_error; issue 15.5)', async () => {
  await notebookWith(["throw new Error('boom')", '1 + 1']);
  await lab.page.evaluate(() => { void window.jupyterapp.commands.execute('notebook:run-all-cells'); });
  // The queued cell must get its 'aborted' reply: JupyterLite's client used to drop it unanswered.
  await settled(2);
  await lab.shot('abort-after-error');
  const replies = await lab.page.evaluate(() => window.__replies);
  assert.deepEqual(replies.map((r) => r.status), ['error', 'aborted'], JSON.stringify(replies));
  const [thrower, queued] = await cells();
  assert.match(textOf(thrower.outputs), /boom/);
  assert.deepEqual(queued.outputs, []);
  assert.equal(queued.count, null);
  assert.equal(queued.prompt, '[ ]:');
  assert.equal(textOf(await lab.run('1 + 1')), '2');
});
