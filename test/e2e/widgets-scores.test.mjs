// End to end in the built lab: HeadSteering's score colour layer picked from the dropdown (a score registered in the
// kernel, computed there, drawn with a legend), and a SweepResult whose cell click ablates that head in the model, which
// the HeadSteering grid shows. Screenshots land in test/artifacts/e2e/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openBuiltLab } from './serve-lab.mjs';
import { textOf } from './lab-page.mjs';

let lab;
let closeLab;

before(async () => {
  ({ lab, close: closeLab } = await openBuiltLab());
});

after(async () => {
  await closeLab?.();
});

const current = '.jp-NotebookPanel:not(.lm-mod-hidden)';

test('HeadSteering colours heads by a registered score chosen in the dropdown; a SweepResult click ablates the head in the model and the grid', async () => {
  await lab.newNotebook();
  const setup = await lab.run(`import { HeadSteering, SweepResult } from '@attnlab/widgets';
import { Transformer, registerScore, listScores, computeScore } from '@attnlab/models';
import { tensor } from '@attnlab/tensor';
const model = new Transformer({ vocabSize: 11, dModel: 16, nLayers: 2, nHeads: 4, nCtx: 8 }, { seed: 1 });
registerScore('ramp', { description: 'head index minus 3', compute: () => tensor(Float32Array.from({ length: 8 }, (_, i) => i - 3), [2, 4]) });
new HeadSteering(model.heads, { title: 'scored', scores: { names: listScores, compute: (n) => computeScore(n, model) } })`);
  assert.doesNotMatch(textOf(setup), /Error/, textOf(setup));
  const grid = lab.page.locator(`${current} .attnlab-steering`).last();
  await grid.waitFor({ timeout: 60_000 });
  const select = grid.locator('.attnlab-steering-score');
  assert.ok((await select.locator('option').allTextContents()).includes('ramp'));
  await select.selectOption('ramp');
  // The kernel computes the score and sends it back: every cell carries its value and colour.
  await lab.page.waitForFunction((sel) => [...document.querySelectorAll(`${sel} .attnlab-steering`)].pop()?.querySelectorAll('[data-score]').length === 8, current, { timeout: 30_000 });
  const scores = await grid.locator('td[data-score]').evaluateAll((tds) => tds.map((td) => td.dataset.score));
  assert.deepEqual(scores, ['-3', '-2', '-1', '0', '1', '2', '3', '4']);
  // Values of both signs: a diverging scale symmetric about 0 (white at 0), legend from -4 to 4.
  const paint = await grid.locator('td[data-score="0"]').evaluate((td) => getComputedStyle(td).boxShadow || getComputedStyle(td.querySelector('.attnlab-swatch')).backgroundColor);
  assert.match(paint, /rgb\(247, 247, 247\)/);
  const legend = await grid.locator('.attnlab-legend').textContent();
  assert.match(legend, /ramp.*-4.*4/);
  await grid.scrollIntoViewIfNeeded();
  await lab.shot('widgets-score-layer');

  await lab.run(`SweepResult.fromAblation([
  { heads: [{ layer: 1, head: 2 }], label: 'L1H2', delta: -0.3, ci: [-0.4, -0.2] },
  { heads: [{ layer: 0, head: 0 }], label: 'L0H0', delta: 0.05, ci: [-0.01, 0.1] },
], 2, 4, { target: model.heads, title: 'ablations' })`);
  const sweep = lab.page.locator(`${current} .attnlab-sweep`).last();
  await sweep.waitFor({ timeout: 60_000 });
  assert.equal(await sweep.locator('.attnlab-sweep-cell').count(), 8);
  assert.match(await sweep.locator('.attnlab-sweep-table').textContent(), /L1H2-0\.3\[-0\.4, -0\.2\]/);
  await sweep.locator('.attnlab-sweep-cell[data-entry="0"]').click();
  // The click reaches model.heads; the steering grid (listening to the same controls) shows the ablation.
  await lab.page.waitForFunction((sel) => [...document.querySelectorAll(`${sel} .attnlab-steering`)].pop()?.querySelectorAll('.attnlab-ablated').length === 1, current, { timeout: 30_000 });
  await lab.page.waitForFunction((sel) => [...document.querySelectorAll(`${sel} .attnlab-sweep`)].pop()?.querySelector('.attnlab-sweep-cell.attnlab-selected')?.dataset.entry === '0', current, { timeout: 30_000 });
  const check = await lab.run('model.heads.get({ layer: 1, head: 2 }).ablate');
  assert.match(textOf(check), /zero/);
  await sweep.scrollIntoViewIfNeeded();
  await lab.shot('widgets-sweep-result');
  assert.deepEqual(await lab.errorOutputs(), []);
});
