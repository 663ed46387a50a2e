/**
 * MoA: span hooks = float64 forward with each head's window (CPU and WebGPU); the plan's cache
 * policies give the same logits as the span hooks; the DP plan is the brute-force optimum under
 * the budget; profiled sensitivity is the NLL change of restricting that one head.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { cpuDevice, Rng, tensor } from '@attnlab/tensor';
import { moa, evaluateWithCache } from '../src/index.js';
import { devices, randomModel } from './util.js';
import { attendRow, attnOnlyRef64, fullRef, maxAbsDiff } from './ref64.js';

const cfg = { vocabSize: 9, dModel: 12, nLayers: 2, nHeads: 3, attnOnly: true, nCtx: 24 };

test('spanHooks: each head restricted to sinks + its own window = float64 forward (CPU and WebGPU)', async () => {
  for (const dev of await devices()) {
    const model = randomModel(cfg, 51, dev);
    const rng = new Rng(52);
    const rows = Array.from({ length: 2 }, () => Array.from({ length: 15 }, () => rng.int(9)));
    const spans = [[2, null, 5], [1, 2, null]];
    const got = await (await model.run(rows, { hooks: moa.spanHooks(model, (l, h) => spans[l]![h]!, 1) })).data();
    const want = await attnOnlyRef64(model, rows, (l, h, Q, K, V, s) => {
      const w = spans[l]![h]!;
      return w === null ? fullRef(Q, K, V, s) : Q.map((q, i) => attendRow(q, K, V, i, (j) => j < 1 || i - j < w, s));
    });
    const e = maxAbsDiff(got, want);
    assert.ok(e < 2e-4, `${dev.kind}: max error ${e}`);
  }
});

test('planMoA = brute-force optimum under the average-span budget; moaPolicies through the KV cache = span hooks', async () => {
  const rng = new Rng(61);
  const rules = [{ alpha: 2, beta: 0 }, { alpha: 0, beta: 0.5 }, { alpha: 0, beta: 1 }];
  const N = 16;
  const spans = rules.map((r) => moa.spanAt(r, N));
  assert.deepEqual(spans, [2, 8, 16]);
  for (let trial = 0; trial < 5; trial++) {
    const sensitivity = [Array.from({ length: 4 }, () => [2 * rng.uniform(), rng.uniform(), 0])];
    const profile = { rules, sinks: 1, lengths: [8], sensitivity, forwards: 0 };
    const budget = 3 + 10 * rng.uniform();
    const plan = moa.planMoA(profile, { target: N, budget });
    let best = Infinity;
    for (let code = 0; code < 81; code++) {
      const pick = [0, 1, 2, 3].map((i) => Math.floor(code / 3 ** i) % 3);
      if (pick.reduce((s, r) => s + spans[r]!, 0) > Math.floor(budget * 4)) continue;
      best = Math.min(best, pick.reduce((s, r, i) => s + sensitivity[0]![i]![r]!, 0));
    }
    assert.ok(Math.abs(plan.cost - best) < 1e-12, `trial ${trial}: DP ${plan.cost} vs brute force ${best}`);
    assert.ok(plan.meanSpan <= budget);
  }
  assert.throws(() => moa.planMoA({ rules, sinks: 1, lengths: [8], sensitivity: [[[0, 0, 0]]], forwards: 0 }, { target: N, budget: 1 }), /budget 1 is below the smallest rule's span 2/);

  const model = randomModel(cfg, 62, cpuDevice());
  const plan = { rules, sinks: 1, choice: [[0, 1, 2], [1, 0, 0]] };
  const rows = Array.from({ length: 3 }, () => Array.from({ length: N }, () => rng.int(9)));
  const hooked = await (await model.run(rows, { hooks: moa.spanHooks(model, (l, h) => { const w = moa.spanAt(rules[plan.choice[l]![h]!]!, N); return w + 1 >= N ? null : w; }, 1) })).data();
  const cache = model.createKVCache({ batch: 3, policy: moa.moaPolicies(plan, N) });
  const viaCache = await (await model.forward(tensor(Int32Array.from(rows.flat()), [3, N], { dtype: 'int32', device: cpuDevice() }), { kvCache: cache })).data();
  assert.ok(maxAbsDiff(hooked, viaCache) < 1e-5);
  cache.dispose();
  // Accuracy through the cache with a decode after the prefill equals argmax of the hooked forward.
  const targets = rows.map((r) => [...r.slice(1), 0]);
  const evalMask = new Float32Array(3 * N).map((_, i) => (i % N >= 10 && i % N < N - 1 ? 1 : 0));
  const prompts = { batchSize: 3, seqLen: N, tokens: Int32Array.from(rows.flat()), targets: Int32Array.from(targets.flat()), positions: evalMask };
  const r = await evaluateWithCache(model, { prompts, policy: moa.moaPolicies(plan, N) });
  let hit = 0;
  let n = 0;
  for (let i = 0; i < 3 * N; i++) {
    if (!evalMask[i]) continue;
    n++;
    let am = 0;
    for (let t = 1; t < 9; t++) if (hooked[i * 9 + t]! > hooked[i * 9 + am]!) am = t;
    if (am === prompts.targets[i]) hit++;
  }
  assert.equal(r.scored, n);
  assert.equal(r.accuracy, hit / n);
  // Held tokens at the end: sinks + span per restricted head, N on full heads; 3 rows, D = 4, k and v.
  const held = plan.choice.flat().map((c) => { const w = spans[c]!; return w + 1 >= N ? N : 1 + w; });
  assert.equal(r.bytes, held.reduce((a, b) => a + b, 0) * 3 * 4 * 2 * 4);
  assert.equal(r.fullBytes, 6 * N * 3 * 4 * 2 * 4);
});

test('profileMoA: a rule spanning the prompt costs 0; a restricted head costs the NLL change of restricting it alone', async () => {
  const model = randomModel(cfg, 71, cpuDevice());
  const rng = new Rng(72);
  const rows = Array.from({ length: 4 }, () => Array.from({ length: 12 }, () => rng.int(9)));
  const rules = [{ alpha: 2, beta: 0 }, { alpha: 0, beta: 1 }];
  const p = await moa.profileMoA(model, { prompts: [rows], rules, sinks: 1 });
  assert.equal(p.forwards, 1 + 6);
  assert.ok(p.sensitivity.flat().every((s) => s[1] === 0));
  const { nllMetric, ratio } = await import('../src/index.js');
  const nllWith = async (hooks: Parameters<typeof model.run>[1]): Promise<number> => ratio(await nllMetric(await model.run(rows, hooks), { batchSize: 4, seqLen: 12, tokens: Int32Array.from(rows.flat()) }));
  const base = await nllWith({});
  const one = await nllWith({ hooks: moa.spanHooks(model, (l, h) => (l === 1 && h === 2 ? 2 : null), 1) });
  assert.ok(Math.abs(p.sensitivity[1]![2]![0]! - (one - base)) < 1e-9);
  await assert.rejects(moa.profileMoA(model, { prompts: [] }), /one prompt set per profiling length/);
  await assert.rejects(moa.profileMoA(model, { prompts: [rows], rules: [{ alpha: -1, beta: 0 }] }), /rules\[0\] needs finite alpha, beta >= 0/);
});
