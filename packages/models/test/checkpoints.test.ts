import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { evaluate, loadHFModel, tasks, type Task } from '../src/index.js';

const dir = fileURLToPath(new URL('../../../../examples/models/', import.meta.url));
const names = existsSync(dir) ? readdirSync(dir).filter((n) => existsSync(join(dir, n, 'metrics.json'))).sort() : [];

interface Metrics {
  recipe: string;
  package?: string;
  task: { name: keyof typeof tasks } & Record<string, unknown>;
  eval: { batches: number; batchSize: number; seed: number; accuracy: number; nll: number };
}

test('checkpoints: each is under 5 MB and all under 20 MB', () => {
  assert.ok(names.length >= 4, `expected the 4 shipped checkpoints in ${dir}, found ${names.join(', ')}`);
  let total = 0;
  for (const n of names) {
    for (const f of readdirSync(join(dir, n))) {
      const size = statSync(join(dir, n, f)).size;
      total += size;
      if (f === 'model.safetensors') assert.ok(size < 5 * 2 ** 20, `${n}/${f} is ${size} bytes`);
    }
  }
  assert.ok(total < 20 * 2 ** 20, `checkpoints take ${total} bytes`);
});

for (const name of names) {
  test(`checkpoint ${name} reloads and reproduces its recorded metrics`, async (t) => {
    const m = JSON.parse(readFileSync(join(dir, name, 'metrics.json'), 'utf8')) as Metrics;
    // Checkpoints of another package's recipe (e.g. @attnlab/sparse's sink-* on text) are re-measured by that package's tests.
    if (!m.task || !Object.hasOwn(tasks, m.task.name)) return t.skip(`${name}: task ${JSON.stringify(m.task?.name)} is not a @attnlab/models task; its recipe's package tests it`);
    // Checkpoints whose mixer another package registers (metrics.package, e.g. @attnlab/linear's mqar-*-shift) are re-measured there.
    if (m.package && m.package !== '@attnlab/models') return t.skip(`${name}: trained by ${m.package}, whose tests re-measure it`);
    const { name: kind, ...params } = m.task;
    const task = (tasks[kind] as (o: Record<string, unknown>) => Task)(params);
    const model = await loadHFModel(join(dir, name));
    const ev = await evaluate(model, task, { batches: m.eval.batches, batchSize: m.eval.batchSize, seed: m.eval.seed });
    assert.ok(Math.abs(ev.accuracy - m.eval.accuracy) < 2e-3, `${name}: accuracy ${ev.accuracy} vs recorded ${m.eval.accuracy}`);
    assert.ok(Math.abs(ev.nll - m.eval.nll) < 2e-3, `${name}: nll ${ev.nll} vs recorded ${m.eval.nll}`);
    if (name === 'induction-2l') {
      assert.equal(model.config.nLayers, 2);
      assert.equal(model.config.nHeads, 8);
      assert.equal(model.config.attnOnly, true);
      assert.ok(ev.accuracy >= 0.95, `induction accuracy ${ev.accuracy} < 0.95`);
      // An induction circuit, not a positional shortcut: the repeat distance varies, and the task
      // needs both layers (previous-token heads in layer 0, induction heads in layer 1).
      assert.ok(Number(m.task['minLen']) < Number(m.task['len']), 'the segment length must vary');
      for (const layer of [0, 1]) {
        model.heads.reset();
        for (let h = 0; h < 8; h++) model.heads.set({ layer, head: h }, { ablate: 'zero' });
        const ablated = await evaluate(model, task, { batches: 2, batchSize: 16, seed: 7 });
        assert.ok(ablated.accuracy < 0.5, `ablating layer ${layer} leaves accuracy ${ablated.accuracy}`);
      }
      model.heads.reset();
    }
  });
}
