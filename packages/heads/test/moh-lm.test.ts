/**
 * MoH on the language model (attachMoHToLM): a 1-layer model = the float64 forward with each head's
 * causal output scaled by its top-k renormalised gate from ln_1(x) (H = 1 and odd H; CPU and
 * WebGPU); k = H with a uniform router and detach() give the plain model back; router gradients flow.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { Rng, crossEntropy, tensor } from '@attnlab/tensor';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CharTokenizer, batchTensors, loadHFModel, maskedCrossEntropy, readSafetensors, textTask } from '@attnlab/models';
import { moh } from '../src/index.js';
import { devices, randomModel } from './util.js';
import { attendRow, attnOnlyRef64, maxAbsDiff } from './ref64.js';

test('LM with MoH routers = float64 causal forward with top-k renormalised head gates (CPU and WebGPU)', async () => {
  for (const dev of await devices()) {
    for (const [H, active] of [[3, 2], [1, 1], [5, 3]] as const) {
      const cfg = { vocabSize: 11, dModel: 10, nLayers: 1, nHeads: H, dHead: 3, attnOnly: true, nCtx: 16 };
      const model = randomModel(cfg, 90 + H, dev);
      const { routers, detach } = moh.attachMoHToLM(model, { active, seed: H, initStd: 0.6 });
      const W = (await routers[0]!.weight.data()) as Float32Array;
      const rng = new Rng(91 + H);
      const P = new Map<string, Float32Array>();
      for (const [n, p] of model.namedParameters()) P.set(n, (await p.data()) as Float32Array);
      for (const N of [1, 7]) {
        const row = Array.from({ length: N }, () => rng.int(11));
        const got = await (await model.run([row])).data();
        // Gates from ln_1(embedding) in float64.
        const D = cfg.dModel;
        const gates = row.map((t, i) => {
          const e = Array.from({ length: D }, (_, d) => P.get('wte.weight')![t * D + d]! + P.get('wpe.weight')![i * D + d]!);
          const mu = e.reduce((a, b) => a + b, 0) / D;
          const sd = Math.sqrt(e.reduce((a, b) => a + (b - mu) ** 2, 0) / D + model.config.normEps);
          const x = e.map((v, d) => ((v - mu) / sd) * P.get('h.0.ln_1.weight')![d]! + P.get('h.0.ln_1.bias')![d]!);
          const s = Array.from({ length: H }, (_, h) => x.reduce((a, v, d) => a + v * W[d * H + h]!, 0));
          const mx = Math.max(...s);
          const p = s.map((v) => Math.exp(v - mx));
          const z = p.reduce((a, b) => a + b, 0);
          const pr = p.map((v) => v / z);
          const top = pr.map((v, h) => [v, h] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, active).map((q) => q[1]);
          const kept = top.reduce((a, h) => a + pr[h]!, 0);
          return pr.map((v, h) => (top.includes(h) ? (active * v) / kept : 0));
        });
        const want = await attnOnlyRef64(model, [row], (_l, h, Q, K, V, s) => Q.map((q, i) => attendRow(q, K, V, i, (j) => j <= i, s).map((v) => v * gates[i]![h]!)));
        const e = maxAbsDiff(got, want);
        assert.ok(e < 2e-4 * Math.max(1, ...Array.from(want, Math.abs)), `${dev.kind} H ${H} N ${N}: max error ${e}`);
      }
      detach();
    }
  }
});

test('LM MoH: k = H with a uniform router is the plain model; detach() restores it; router gradients flow', async () => {
  for (const dev of await devices()) {
    const cfg = { vocabSize: 9, dModel: 12, nLayers: 2, nHeads: 3, attnOnly: true, nCtx: 16 };
    const model = randomModel(cfg, 95, dev);
    const rows = [[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]];
    const plain = await (await model.run(rows)).data();
    const uniform = moh.attachMoHToLM(model, { active: 3, initStd: 0 });
    assert.ok(maxAbsDiff(await (await model.run(rows)).data(), plain) < 1e-5, `${dev.kind}: uniform k = H differs from MHA`);
    uniform.detach();
    const routed = moh.attachMoHToLM(model, { active: 2, seed: 4, initStd: 0.5 });
    const logits = await model.run(rows, { grad: true });
    assert.ok(maxAbsDiff(await logits.data(), plain) > 1e-3, 'top-2 routing changes the logits');
    crossEntropy(logits, tensor(Int32Array.from({ length: 12 }, (_, i) => i % 9), [2, 6], { device: dev, dtype: 'int32' })).backward();
    for (const r of routed.routers) {
      const g = (await r.weight.grad!.data()) as Float32Array;
      assert.ok(g.some((v) => Math.abs(v) > 1e-7), `${dev.kind}: router gradient is zero`);
    }
    routed.detach();
    assert.ok(maxAbsDiff(await (await model.run(rows)).data(), plain) === 0, 'detach() restores the plain model');
    assert.throws(() => moh.attachMoHToLM(model, { active: 1, layers: [2] }), /layer 2 out of range \[0, 2\)/);
    // Trained weights restore the same routing.
    const again = moh.attachMoHToLM(model, { active: 2, weights: await Promise.all(routed.routers.map(async (r) => (await r.weight.data()) as Float32Array)) });
    const routedLogits = await logits.data();
    assert.ok(maxAbsDiff(await (await model.run(rows)).data(), routedLogits) < 1e-5, 'weights option reproduces the routed model');
    again.detach();
    assert.throws(() => moh.attachMoHToLM(model, { active: 1, weights: [new Float32Array(36)] }), /weights has 1 entries for 2 routed layers/);
  }
});

test('shipped F11 char LMs (examples/models/lm-*-f11) reload with their routers and reproduce their held-out NLL', async () => {
  const root = fileURLToPath(new URL('../../../../', import.meta.url));
  const text = readFileSync(join(root, 'examples', 'data', 'moby-dick.txt'), 'utf8');
  const tok = CharTokenizer.fromText(text);
  const ids = Int32Array.from(tok.encode(text));
  const heldOut = ids.subarray(Math.floor(ids.length * 0.9));
  for (const name of ['lm-mha-f11', 'lm-moh-75-f11']) {
    const dir = join(root, 'examples', 'models', name);
    const m = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8')) as { heldOutNll: number; moh: { active: number } | null; eval: { batches: number; batchSize: number; seed: number } };
    const model = await loadHFModel(dir);
    if (m.moh) {
      const rf = readSafetensors(new Uint8Array(readFileSync(join(dir, 'routers.safetensors'))));
      moh.attachMoHToLM(model, { active: m.moh.active, weights: Array.from({ length: model.config.nLayers }, (_, l) => rf.tensors.get(`h.${l}.attn.router.weight`)!.data as Float32Array) });
    }
    const task = textTask({ tokens: heldOut, vocabSize: tok.vocabSize, seqLen: model.config.nCtx, name: 'moby-held-out' });
    const rng = new Rng(m.eval.seed);
    let total = 0;
    for (let i = 0; i < m.eval.batches; i++) {
      const bt = batchTensors(model, task.sample(rng, m.eval.batchSize));
      total += await maskedCrossEntropy(await model.run(bt.tokens), bt.targets, bt.lossMask).item();
    }
    assert.ok(Math.abs(total / m.eval.batches - m.heldOutNll) < 1e-4, `${name}: NLL ${total / m.eval.batches} vs recorded ${m.heldOutNll}`);
  }
});
