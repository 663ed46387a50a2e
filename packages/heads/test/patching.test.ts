/**
 * Activation patching: everything patched restores the clean metric exactly, nothing patched
 * leaves the corrupted one; a head patch against a float64 forward that substitutes the clean
 * head output by definition; a residual patch at position p against the run of the hybrid
 * prompt; grids, baselines, caching and errors. CPU and WebGPU.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { Rng } from '@attnlab/tensor';
import type { Transformer } from '@attnlab/models';
import { activationPatching, allHeads, patchingPlot, rowLogitDiff, type PatchTarget } from '../src/index.js';
import { attendRow, attnOnlyRef64, type Mat } from './ref64.js';
import { devices, randomModel } from './util.js';

const V = 9;

/** Clean rows and corrupted rows that differ at a few positions; answers are read off the clean run. */
function prompts(rng: Rng, B: number, N: number): { clean: number[][]; corrupted: number[][] } {
  const clean = Array.from({ length: B }, () => Array.from({ length: N }, () => rng.int(V)));
  const corrupted = clean.map((r) => r.map((t, i) => (i % 3 === 1 ? (t + 1 + rng.int(V - 1)) % V : t)));
  return { clean, corrupted };
}

async function answers(model: Transformer, rows: number[][]): Promise<{ correct: number[]; incorrect: number[] }> {
  const logits = await model.run(rows);
  const [B, N] = logits.shape as [number, number, number];
  const d = await logits.data();
  const correct: number[] = [], incorrect: number[] = [];
  for (let b = 0; b < B; b++) {
    const row = Array.from(d.subarray(((b * N) + N - 1) * V, (b * N + N) * V));
    const order = row.map((v, i) => [v, i] as const).sort((x, y) => y[0] - x[0]);
    correct.push(order[0]![1]);
    incorrect.push(order[V - 1]![1]);
  }
  return { correct, incorrect };
}

test('patching every head, the embeddings and the MLPs restores the clean metric exactly; patching nothing leaves the corrupted one (CPU and WebGPU)', async () => {
  for (const dev of await devices()) {
    for (const attnOnly of [true, false]) {
      const model = randomModel({ vocabSize: V, dModel: 12, nLayers: 2, nHeads: 3, attnOnly, nCtx: 16 }, 5, dev);
      const { clean, corrupted } = prompts(new Rng(6), 4, 7);
      const ap = activationPatching(model, { clean, corrupted, metric: await answers(model, clean), bootstrap: { samples: 100 } });
      const all: PatchTarget[] = [{ site: 'embed' }, { site: 'pos_embed' }, ...allHeads(model).map((s): PatchTarget => ({ site: 'z', layer: s.layer, head: s.head }))];
      if (!attnOnly) for (let l = 0; l < 2; l++) all.push({ site: 'mlp_out', layer: l });
      const what = `${dev.kind} attnOnly=${attnOnly}`;
      const full = await ap.patch(all);
      assert.equal(full.value, 1, `${what}: everything patched gives ${full.value}`);
      const { clean: c } = await ap.baseline();
      assert.equal(full.raw, c.reduce((a, b) => a + b, 0) / c.length);
      assert.equal((await ap.patch([{ site: 'resid_pre', layer: 0 }])).value, 1, `${what}: resid_pre of layer 0 at every position`);
      assert.equal((await ap.patch([{ site: 'resid_post', layer: 1 }])).value, 1, `${what}: resid_post of the last layer`);
      const none = await ap.patch([]);
      assert.equal(none.value, 0, `${what}: nothing patched gives ${none.value}`);
      assert.equal(none.label, 'none');
      ap.dispose();
    }
  }
});

test('a head patch matches a float64 forward that substitutes the clean head output; a residual patch at p = the hybrid prompt (CPU and WebGPU)', async () => {
  for (const dev of await devices()) {
    const model = randomModel({ vocabSize: V, dModel: 10, nLayers: 2, nHeads: 2, dHead: 5, attnOnly: true, nCtx: 16 }, 8, dev);
    for (const [B, N] of [[3, 6], [1, 1], [2, 5]] as const) {
      const { clean, corrupted } = prompts(new Rng(B * 10 + N), B, N);
      // One-position prompts cannot differ at position 1: corrupt the only token.
      if (N === 1) corrupted.forEach((r, b) => (r[0] = (clean[b]![0]! + 1) % V));
      const ans = await answers(model, clean);
      const ap = activationPatching(model, { clean, corrupted, metric: ans, bootstrap: { samples: 100 } });
      const causal = (Q: Mat, K: Mat, Vv: Mat, scale: number): Mat => Q.map((q, i) => attendRow(q, K, Vv, i, () => true, scale));
      // Clean head outputs in call order: rows b, then layers, then heads.
      const rec: Mat[] = [];
      const logitsClean = await attnOnlyRef64(model, clean, (_l, _h, Q, K, Vv, s) => {
        const o = causal(Q, K, Vv, s);
        rec.push(o);
        return o;
      });
      const diff = (lg: Float64Array): number => {
        let s = 0;
        for (let b = 0; b < B; b++) s += lg[(b * N + N - 1) * V + ans.correct[b]!]! - lg[(b * N + N - 1) * V + ans.incorrect[b]!]!;
        return s / B;
      };
      const c64 = diff(logitsClean);
      const r64 = diff(await attnOnlyRef64(model, corrupted, (_l, _h, Q, K, Vv, s) => causal(Q, K, Vv, s)));
      const cases: PatchTarget[][] = [[{ site: 'z', layer: 0, head: 1 }], [{ site: 'z', layer: 1, head: 0, positions: [N - 1] }], [{ site: 'z', layer: 0, head: 0, positions: [0] }, { site: 'z', layer: 1, head: 1 }]];
      for (const targets of cases) {
        let call = 0;
        const lg = await attnOnlyRef64(model, corrupted, (l, h, Q, K, Vv, s) => {
          const cleanOut = rec[call++]!;
          const o = causal(Q, K, Vv, s);
          for (const t of targets) {
            if (t.layer !== l || t.head !== h) continue;
            for (const p of t.positions ?? o.map((_, i) => i)) o[p] = cleanOut[p]!;
          }
          return o;
        });
        const want = (diff(lg) - r64) / (c64 - r64);
        const got = await ap.patch(targets);
        assert.ok(Math.abs(got.value - want) < 2e-4 * Math.max(1, Math.abs(want)), `${dev.kind} B${B} N${N} ${got.label}: ${got.value} vs float64 ${want}`);
        assert.ok(got.ci[0] <= got.ci[1]);
      }
      // resid_pre of layer 0 at position p is the embedding of the clean token there: the hybrid prompt's run.
      const hybrid = await rowLogitDiff(ans)(await model.run(corrupted.map((r, b) => r.map((t, i) => (i === N - 1 ? clean[b]![i]! : t)))));
      const got = await ap.patch([{ site: 'resid_pre', layer: 0, positions: [N - 1] }]);
      const { clean: cr, corrupted: rr } = await ap.baseline();
      const m = (a: Float64Array) => a.reduce((x, y) => x + y, 0) / a.length;
      assert.equal(got.raw, m(hybrid), `${dev.kind} B${B} N${N}: resid patch vs hybrid prompt`);
      assert.equal(got.value, (m(hybrid) - m(rr)) / (m(cr) - m(rr)));
      ap.dispose();
    }
  }
});

test('grids by head, by position and by head and position equal single patches; clean activations are cached; random baseline; plot', async () => {
  const [cpu] = await devices();
  const model = randomModel({ vocabSize: V, dModel: 12, nLayers: 2, nHeads: 3, nCtx: 16 }, 21, cpu!);
  const { clean, corrupted } = prompts(new Rng(22), 4, 5);
  const seen: string[] = [];
  const ap = activationPatching(model, { clean, corrupted, metric: await answers(model, clean), bootstrap: { samples: 50 }, onProgress: (p) => seen.push(`${p.done}/${p.total}`) });
  const byHead = await ap.byHead();
  assert.deepEqual(byHead.shape, [2, 3]);
  assert.deepEqual(byHead.dims, ['layer', 'head']);
  // Two baseline runs, one clean run caching every hook_z, then one per head.
  assert.equal(ap.forwardRuns, 2 + 1 + 6);
  assert.equal(seen.at(-1), '6/6');
  assert.equal(byHead.values[1 * 3 + 2], (await ap.patch([{ site: 'z', layer: 1, head: 2 }])).value);
  assert.equal(ap.forwardRuns, 10, 'hook_z is served from the cache');
  const byPos = await ap.byPosition('resid_mid');
  assert.deepEqual(byPos.shape, [2, 5]);
  assert.equal(byPos.values[1 * 5 + 3], (await ap.patch([{ site: 'resid_mid', layer: 1, positions: [3] }])).value);
  const hp = await ap.byHeadPosition();
  assert.deepEqual(hp.shape, [2, 3, 5]);
  assert.equal(hp.values[(0 * 3 + 1) * 5 + 4], (await ap.patch([{ site: 'z', layer: 0, head: 1, positions: [4] }])).value);
  for (let i = 0; i < byPos.values.length; i++) assert.ok(byPos.lo[i]! <= byPos.hi[i]!);
  const base = await ap.randomBaseline(2, { draws: 4, exclude: [{ layer: 1, head: 0 }], seed: 3 });
  assert.equal(base.results.length, 4);
  assert.ok(base.results.every((r) => !r.label.includes('L1H0') && r.label.split('+').length === 2));
  assert.ok(base.meanCI[0] <= base.mean && base.mean <= base.meanCI[1]);
  // Changing model.heads invalidates the cache (the clean run is retaken).
  model.heads.set({ layer: 0, head: 0 }, { gate: 0.5 });
  const before = ap.forwardRuns;
  await ap.patch([{ site: 'z', layer: 0, head: 1 }]);
  assert.equal(ap.forwardRuns, before + 4);
  model.heads.reset();
  const fig = patchingPlot(byHead);
  assert.match(JSON.stringify(fig), /"H2"/);
  assert.throws(() => patchingPlot(hp), /expected a 2-D grid/);
  ap.dispose();
});

test('patching errors name the problem: prompt shapes, targets, metric, nothing to restore', async () => {
  const [cpu] = await devices();
  const model = randomModel({ vocabSize: V, dModel: 8, nLayers: 1, nHeads: 2, attnOnly: true, nCtx: 16 }, 1, cpu!);
  const metric = { correct: 1, incorrect: 2 };
  assert.throws(() => activationPatching(model, { clean: [[1, 2, 3]], corrupted: [[1, 2]], metric }), /clean prompts are 1 x 3 tokens, corrupted 1 x 2: they must match/);
  assert.throws(() => activationPatching(model, { clean: [[1, 2], [3, 4]], corrupted: [[1, 2]], metric }), /clean prompts are 2 x 2 tokens, corrupted 1 x 2/);
  assert.throws(() => activationPatching(model, { clean: [[1, 2]], corrupted: [[1, 3]], metric: {} as never }), /metric must be/);
  const ap = activationPatching(model, { clean: [[1, 2, 3]], corrupted: [[4, 2, 3]], metric });
  await assert.rejects(ap.patch([{ site: 'z', layer: 1, head: 0 }]), /layer 1 is out of range \(model has 1\)/);
  await assert.rejects(ap.patch([{ site: 'z', layer: 0, head: 2 }]), /head 2 is out of range \(2 per layer\)/);
  await assert.rejects(ap.patch([{ site: 'mlp_out', layer: 0 }]), /attention-only: it has no mlp_out/);
  await assert.rejects(ap.patch([{ site: 'resid_pre', layer: 0, positions: [3] }]), /position 3 is out of range for 3 positions/);
  await assert.rejects(ap.patch([{ site: 'nope' as never, layer: 0 }]), /site must be one of/);
  await assert.rejects(ap.byPosition('z' as never), /site must be one of resid_pre/);
  await assert.rejects(activationPatching(model, { clean: [[1, 2]], corrupted: [[1, 2]], metric }).baseline(), /same metric .*nothing to restore/);
  await assert.rejects(activationPatching(model, { clean: [[1, 2]], corrupted: [[3, 2]], metric: { correct: [1, 2], incorrect: 0 } }).baseline(), /metric.correct has 2 token ids for 1 prompt rows/);
  await assert.rejects(activationPatching(model, { clean: [[1, 2]], corrupted: [[3, 2]], metric: { correct: V, incorrect: 0 } }).baseline(), /metric.correct\[0\] = 9 is outside the vocabulary of 9/);
  await assert.rejects(rowLogitDiff({ correct: 0, incorrect: 1, position: 5 })(await model.run([[1, 2]])), /position 5 is out of range for 2 positions/);
  await assert.rejects(ap.randomBaseline(3), /k must be an integer in \[1, 2\]/);
});
