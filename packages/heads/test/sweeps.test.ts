/**
 * Ablation sweeps: zero ablation changes the metric exactly as gating the head to 0 through
 * model.heads does, mean ablation as replacing z by its float64 mean; clean-run caching, random
 * baselines, progress and bootstrap intervals.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { Rng, tensor, type Tensor } from '@attnlab/tensor';
import type { Transformer } from '@attnlab/models';
import { headSweep, pairedBootstrapCI, ratio, accuracyMetric, nllMetric, toPrompts, type RowMetric } from '../src/index.js';
import { devices, randomModel, repeatRows } from './util.js';

async function metricOf(model: Transformer, rows: number[][], metric: RowMetric, hooks: Parameters<Transformer['run']>[1] = {}): Promise<number> {
  const logits = await model.run(rows, hooks);
  return ratio(await metric(logits, toPrompts(rows, 'test')));
}

test('zero ablation = the head gated to 0; mean ablation = z replaced by its float64 mean; resample = the next row z (CPU and WebGPU)', async () => {
  for (const dev of await devices()) {
    const model = randomModel({ vocabSize: 7, dModel: 16, nLayers: 2, nHeads: 4, attnOnly: true, nCtx: 32 }, 11, dev);
    const rows = repeatRows(new Rng(12), 5, 15, 7);
    for (const metric of ['accuracy', 'nll'] as const) {
      const fn = metric === 'nll' ? nllMetric : accuracyMetric;
      const sweep = headSweep(model, { prompts: rows, metric, bootstrap: { samples: 200 } });
      for (const set of [[{ layer: 1, head: 2 }], [{ layer: 0, head: 0 }, { layer: 1, head: 3 }]]) {
        const r = await sweep.ablate(set);
        for (const s of set) model.heads.set(s, { gate: 0 });
        const gated = await metricOf(model, rows, fn);
        model.heads.reset();
        assert.equal(r.value, gated, `${dev.kind} ${metric} ${r.label}: sweep ${r.value} vs gated ${gated}`);
        assert.equal(r.delta, r.value - (await sweep.clean()));
      }
      // Mean ablation against a hook that writes the float64 per-head mean of the clean z.
      const { cache } = await model.runWithCache(rows, { names: ['blocks.0.attn.hook_z'] });
      const z = cache['blocks.0.attn.hook_z']!;
      const [B, N, H, D] = z.shape as [number, number, number, number];
      const zd = await z.data();
      const head = 1;
      const m = new Float64Array(D);
      for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) m[d] += zd[((b * N + n) * H + head) * D + d]! / (B * N);
      const replaced = Float32Array.from(zd);
      for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) replaced[((b * N + n) * H + head) * D + d] = m[d]!;
      const want = await metricOf(model, rows, fn, { hooks: [['blocks.0.attn.hook_z', (t: Tensor) => tensor(replaced, t.shape, { device: t.device })]] });
      const got = (await sweep.ablate([{ layer: 0, head }], 'mean')).value;
      assert.ok(Math.abs(got - want) <= (metric === 'nll' ? 1e-4 : 0), `${dev.kind} ${metric} mean ablation ${got} vs float64-mean hook ${want}`);
      // Resample ablation against a hook that writes row (b + 1) mod B's z for that head, built on the host.
      const moved = Float32Array.from(zd);
      for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) moved[((b * N + n) * H + head) * D + d] = zd[((((b + 1) % B) * N + n) * H + head) * D + d]!;
      const wantR = await metricOf(model, rows, fn, { hooks: [['blocks.0.attn.hook_z', (t: Tensor) => tensor(moved, t.shape, { device: t.device })]] });
      const gotR = (await sweep.ablate([{ layer: 0, head }], 'resample')).value;
      assert.ok(Math.abs(gotR - wantR) <= (metric === 'nll' ? 1e-5 : 0), `${dev.kind} ${metric} resample ablation ${gotR} vs host-shifted hook ${wantR}`);
    }
  }
});

test('the clean run is cached until model.heads changes; singles/pairs report progress; random baseline avoids excluded heads', async () => {
  const dev = (await devices())[0]!;
  const model = randomModel({ vocabSize: 7, dModel: 12, nLayers: 2, nHeads: 3, attnOnly: true, nCtx: 32 }, 21, dev);
  const rows = repeatRows(new Rng(22), 4, 12, 7);
  const seen: string[] = [];
  const sweep = headSweep(model, { prompts: rows, metric: 'nll', bootstrap: { samples: 100 }, onProgress: (p) => seen.push(`${p.done}/${p.total} ${p.label}`) });
  const singles = await sweep.singles();
  assert.equal(singles.length, 6);
  assert.equal(sweep.forwardRuns, 7, 'one clean run + 6 ablations');
  assert.equal(seen[0], '1/6 L0H0');
  assert.equal(seen[5], '6/6 L1H2');
  const pairs = await sweep.pairs([{ layer: 0, head: 0 }, { layer: 0, head: 1 }, { layer: 1, head: 0 }]);
  assert.deepEqual(pairs.map((p) => p.label), ['L0H0+L0H1', 'L0H0+L1H0', 'L0H1+L1H0']);
  assert.equal(sweep.forwardRuns, 10);
  model.heads.set({ layer: 0, head: 2 }, { gate: 0.5 });
  await sweep.clean();
  assert.equal(sweep.forwardRuns, 11, 'a change of model.heads re-runs the clean model');
  model.heads.reset();
  const exclude = [{ layer: 0, head: 0 }, { layer: 1, head: 1 }];
  const base = await sweep.randomBaseline(2, { draws: 5, exclude, seed: 3 });
  assert.equal(base.results.length, 5);
  for (const r of base.results) {
    assert.equal(r.heads.length, 2);
    assert.notEqual(r.heads[0]!.layer * 3 + r.heads[0]!.head, r.heads[1]!.layer * 3 + r.heads[1]!.head, 'distinct heads');
    assert.ok(r.heads.every((h) => !exclude.some((e) => e.layer === h.layer && e.head === h.head)), `${r.label} avoids excluded heads`);
  }
  assert.ok(base.meanCI[0] <= base.meanDelta && base.meanDelta <= base.meanCI[1]);
  await assert.rejects(sweep.randomBaseline(5, { exclude }), /k must be an integer in \[1, 4\]/);
  await assert.rejects(sweep.ablate([{ layer: 2, head: 0 }]), /layer 2 is out of range \(model has 2\)/);
  assert.throws(() => headSweep(model, { prompts: rows, mode: 'shuffle' as 'zero' }), /mode must be 'zero', 'mean' or 'resample', got 'shuffle'/);
  await assert.rejects(headSweep(model, { prompts: rows.slice(0, 1), mode: 'resample' }).ablate([{ layer: 0, head: 0 }]), /resample ablation needs at least 2 prompts/);
});

test('paired bootstrap: identical runs give [0, 0]; a constant shift gives exactly that shift', () => {
  const a = { num: Float64Array.from([3, 1, 4, 1, 5]), den: Float64Array.from([5, 5, 5, 5, 5]) };
  assert.deepEqual(pairedBootstrapCI(a, a, { samples: 200 }), [0, 0]);
  const b = { num: a.num.map((v) => v - 1), den: a.den };
  const [lo, hi] = pairedBootstrapCI(a, b, { samples: 200 });
  assert.ok(Math.abs(lo - 0.2) < 1e-12 && Math.abs(hi - 0.2) < 1e-12, `[${lo}, ${hi}]`);
});
