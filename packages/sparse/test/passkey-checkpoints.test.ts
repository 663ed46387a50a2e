/** The shipped passkey checkpoints reload, stay under 5 MB and reproduce the accuracies their metrics.json records. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuDevice, Rng } from '@attnlab/tensor';
import { slidingWindow, type MaskMod } from '@attnlab/attention';
import { loadHFModel } from '@attnlab/models';
import { passkeyTask, scorePasskey } from '../src/passkey/index.js';
import { powerMask } from '../src/power-attention/index.js';
import { s2Mask } from '../src/s2-attention/index.js';
import { registerVariants } from '../src/index.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const models = join(root, 'examples', 'models');

interface Eval { seqLen: number; rows: number; seed: number; topK?: number; accuracy: number; digitAccuracy: number }
interface Metrics { task: Record<string, number>; mask: { kind: string; window?: number; local?: number } | null; landmark?: { blockSize: number }; eval: Eval[] }

function maskFor(m: Metrics['mask'], length: number): MaskMod | null {
  if (!m) return null;
  if (m.kind === 'window') return slidingWindow(m.window!);
  if (m.kind === 'power') return powerMask({ length, local: m.local! });
  if (m.kind === 's2') return s2Mask({ heads: 4, causal: false });
  throw new Error(`unknown mask ${m.kind}`);
}

for (const name of readdirSync(models).filter((n) => n.startsWith('passkey-')).sort()) {
  test(`passkey checkpoint ${name}: reloads, < 5 MB, reproduces its recorded accuracies`, async () => {
    const reg = registerVariants();
    try {
      const dir = join(models, name);
      const bytes = readdirSync(dir).reduce((a, f) => a + statSync(join(dir, f)).size, 0);
      assert.ok(bytes < 5 * 2 ** 20, `${name}: ${bytes} bytes`);
      const m: Metrics = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
      const model = await loadHFModel(dir, { device: cpuDevice() });
      // The grouped landmark path is dense tensor ops: its 4T evaluations are left to the F4 notebook.
      const evals = m.landmark ? m.eval.filter((e) => e.seqLen === m.task['seqLen']) : m.eval;
      for (const e of evals) {
        const task = passkeyTask({ ...m.task, seqLen: e.seqLen });
        const mask = maskFor(m.mask, e.seqLen);
        if (mask) model.setAttention('all', 'softmax', { mask });
        if (m.landmark) {
          model.setAttention({ layer: 0 }, 'landmark-grouped', { blockSize: m.landmark.blockSize, landmarks: task.landmarks!, topK: 0 });
          model.setAttention({ layer: 1 }, 'landmark-grouped', { blockSize: m.landmark.blockSize, landmarks: task.landmarks!, ...(e.topK !== undefined ? { topK: e.topK } : {}) });
        }
        const s = await scorePasskey((t) => model.forward(t), task.sample(new Rng(e.seed), e.rows));
        model.setAttention('all', 'softmax');
        assert.equal(s.accuracy, e.accuracy, `${name} at ${e.seqLen}${e.topK !== undefined ? ` top-${e.topK}` : ''}: accuracy`);
        assert.ok(Math.abs(s.digitAccuracy - e.digitAccuracy) < 1e-9, `${name} at ${e.seqLen}: digit accuracy ${s.digitAccuracy} vs ${e.digitAccuracy}`);
      }
    } finally {
      reg.dispose();
    }
  });
}
