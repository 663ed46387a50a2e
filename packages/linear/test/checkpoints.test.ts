/**
 * The MQAR checkpoints this package trains (examples/models/<name>/metrics.json with package
 * '@attnlab/linear', recipes in scripts/train-mqar.mjs) reload with this package's variants and
 * reproduce their recorded recall and NLL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { evaluate, loadHFModel, tasks } from '@attnlab/models';
import { registerVariants } from '../src/index.js';

const dir = fileURLToPath(new URL('../../../../examples/models/', import.meta.url));
const ours = existsSync(dir)
  ? readdirSync(dir).filter((n) => existsSync(join(dir, n, 'metrics.json')) && JSON.parse(readFileSync(join(dir, n, 'metrics.json'), 'utf8')).package === '@attnlab/linear').sort()
  : [];

test('the F6 MQAR checkpoints are shipped', () => {
  for (const n of ['mqar-softmax-shift', 'mqar-linear-shift', 'mqar-gated-conv']) assert.ok(ours.includes(n), `${n} missing from ${dir} (found ${ours.join(', ')})`);
});

for (const name of ours) {
  test(`checkpoint ${name} reloads with this package's variants and reproduces its recorded recall and NLL`, async () => {
    const m = JSON.parse(readFileSync(join(dir, name, 'metrics.json'), 'utf8'));
    const reg = registerVariants();
    try {
      const { name: kind, ...params } = m.task;
      assert.equal(kind, 'mqar');
      const model = await loadHFModel(join(dir, name));
      const ev = await evaluate(model, tasks.mqar(params), { batches: m.eval.batches, batchSize: m.eval.batchSize, seed: m.eval.seed });
      assert.ok(Math.abs(ev.accuracy - m.eval.accuracy) < 2e-3, `${name}: recall ${ev.accuracy} vs recorded ${m.eval.accuracy}`);
      assert.ok(Math.abs(ev.nll - m.eval.nll) < 2e-3, `${name}: nll ${ev.nll} vs recorded ${m.eval.nll}`);
      for (const k of ['steps', 'seconds', 'tokensPerSecond']) assert.ok(Number(m.train[k]) > 0, `${name}: train.${k} recorded`);
      assert.match(m.command, /^node packages\/linear\/scripts\/train-mqar\.mjs /);
    } finally {
      reg.dispose();
    }
  });
}
