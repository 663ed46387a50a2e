/**
 * MoH: a ViT with a router per layer = a float64 forward whose head outputs are weighted by the
 * top-k renormalised softmax gates (randomized shapes incl. one head, odd head counts; CPU and
 * WebGPU); k = H with a uniform router is plain MHA; the load-balance loss and the router
 * gradient match float64 / finite differences; router statistics and Spearman's rho by hand.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { Rng, cpuDevice, crossEntropy, tensor, type Device } from '@attnlab/tensor';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ViT, evaluateViT, shapes, writeSafetensors, type ViTConfigInput } from '@attnlab/models';
import { moh } from '../src/index.js';
import { devices } from './util.js';
import { vitRef64, type RefGates } from './moh-ref64.js';

function randomViT(cfg: ViTConfigInput, seed: number, device: Device): ViT {
  const m = new ViT(cfg, { seed, device });
  const rng = new Rng(seed + 3);
  const st = new Map<string, { data: Float32Array; shape: readonly number[] }>();
  for (const [name, shape] of m.paramShapes()) {
    const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
    const normW = /ln_\d\.weight|ln_f\.weight/.test(name);
    for (let i = 0; i < a.length; i++) a[i] = normW ? 1 + 0.2 * rng.normal() : 0.3 * rng.normal();
    st.set(name, { data: a, shape });
  }
  m.loadStateDict(st);
  return m;
}

/** Float64 MoH gates from the routers' weights: top-k of softmax(x W_r), renormalised, times k. */
function refGates(W: Float32Array[], H: number, k: number): RefGates {
  return (l, xs) => xs.map((x) => {
    const D = x.length;
    const s = Array.from({ length: H }, (_, h) => {
      let v = 0;
      for (let d = 0; d < D; d++) v += x[d]! * W[l]![d * H + h]!;
      return v;
    });
    const mx = Math.max(...s);
    const e = s.map((v) => Math.exp(v - mx));
    const z = e.reduce((a, b) => a + b, 0);
    const p = e.map((v) => v / z);
    const top = p.map((v, h) => [v, h] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k).map((t) => t[1]);
    const kept = top.reduce((a, h) => a + p[h]!, 0);
    return p.map((v, h) => (top.includes(h) ? (k * v) / kept : 0));
  });
}

const CASES: { cfg: ViTConfigInput; active: number }[] = [
  { cfg: { imageSize: 8, patchSize: 4, nClasses: 3, dModel: 12, nLayers: 2, nHeads: 3 }, active: 2 },
  { cfg: { imageSize: 5, patchSize: 5, nClasses: 2, dModel: 6, nLayers: 1, nHeads: 1 }, active: 1 },
  { cfg: { imageSize: 9, patchSize: 3, nClasses: 4, dModel: 8, nLayers: 1, nHeads: 4, dHead: 3 }, active: 0.75 },
  { cfg: { imageSize: 6, patchSize: 2, channels: 3, nClasses: 2, dModel: 10, nLayers: 2, nHeads: 5 }, active: 1 },
];

test('MoH ViT forward = float64 reference with top-k renormalised gates (CPU and WebGPU)', async () => {
  for (const dev of await devices()) {
    for (const [ci, { cfg, active }] of CASES.entries()) {
      for (const B of [1, 3]) {
        const m = randomViT(cfg, 40 + ci, dev);
        const routers = moh.attachMoH(m, { active, seed: ci, initStd: 0.5 });
        const c = m.config;
        const k = moh.activeHeads(active, c.nHeads);
        assert.equal(routers[0]!.k, k);
        const imgs = Float32Array.from({ length: B * c.channels * c.imageSize ** 2 }, (_, i) => Math.sin(i * 1.7 + ci + B));
        const got = await (await m.run({ data: imgs, shape: [B, c.channels, c.imageSize, c.imageSize] })).data();
        const W = await Promise.all(routers.map(async (r) => (await r.weight.data()) as Float32Array));
        const want = vitRef64(c, await m.stateDict(), imgs, B, refGates(W, c.nHeads, k));
        let e = 0;
        for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[i]! - want[i]!));
        assert.ok(e < 3e-4 * Math.max(1, ...Array.from(want, Math.abs)), `${dev.kind} case ${ci} B ${B}: max error ${e}`);
        const rec = routers[0]!.last!;
        for (let r = 0; r < rec.B * rec.T; r++) assert.equal(rec.picked.subarray(r * c.nHeads, (r + 1) * c.nHeads).reduce((a, b) => a + b, 0), k);
      }
    }
  }
});

test('MoH with every head active and a uniform router is exactly multi-head attention', async () => {
  for (const dev of await devices()) {
    const cfg = CASES[0]!.cfg;
    const m = randomViT(cfg, 50, dev);
    const imgs = Float32Array.from({ length: 2 * 64 }, (_, i) => Math.cos(i));
    const mha = await (await m.run({ data: imgs, shape: [2, 8, 8] })).data();
    moh.attachMoH(m, { active: 3, initStd: 0 });
    const routed = await (await m.run({ data: imgs, shape: [2, 8, 8] })).data();
    for (let i = 0; i < mha.length; i++) assert.ok(Math.abs(mha[i]! - routed[i]!) < 1e-5, `${dev.kind}: logit ${i}: ${mha[i]} vs ${routed[i]}`);
  }
});

test('MoH load-balance loss = H·Σ f_h·P_h in float64; router gradient = finite differences (CPU and WebGPU)', async () => {
  for (const dev of await devices()) {
    const { cfg } = CASES[2]!;
    const m = randomViT(cfg, 60, dev);
    const routers = moh.attachMoH(m, { active: 2, seed: 9, initStd: 0.5 });
    const c = m.config;
    const B = 2;
    const imgs = Float32Array.from({ length: B * 81 }, (_, i) => Math.sin(0.3 * i));
    const labels = Int32Array.from([1, 3]);
    const logits = await m.run({ data: imgs, shape: [B, 9, 9] }, { grad: true });
    const ce = crossEntropy(logits, tensor(labels, [B], { device: dev, dtype: 'int32' }));
    const aux = m.routerAuxLosses();
    assert.equal(aux.length, 1);
    const rec = routers[0]!.last!;
    const H = c.nHeads;
    let want = 0;
    for (let h = 0; h < H; h++) {
      let f = 0;
      let P = 0;
      for (let r = 0; r < rec.B * rec.T; r++) {
        f += rec.picked[r * H + h]!;
        P += rec.probs[r * H + h]!;
      }
      want += (f / (rec.B * rec.T * 2)) * (P / (rec.B * rec.T));
    }
    want *= H;
    assert.ok(Math.abs((await aux[0]!.item()) - want) < 1e-5, `${dev.kind}: balance loss ${await aux[0]!.item()} vs ${want}`);
    ce.backward();
    const g = (await routers[0]!.weight.grad!.data()) as Float32Array;
    const W0 = (await routers[0]!.weight.data()) as Float32Array;
    const st = await m.stateDict();
    const loss = (W: Float32Array): number => {
      const z = vitRef64(c, st, imgs, B, refGates([W], H, 2));
      let L = 0;
      for (let b = 0; b < B; b++) {
        const row = Array.from(z.subarray(b * c.nClasses, (b + 1) * c.nClasses));
        const mx = Math.max(...row);
        L += mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0)) - row[labels[b]!]!;
      }
      return L / B;
    };
    for (const i of [0, 5, 13, 30]) {
      const up = Float32Array.from(W0);
      const dn = Float32Array.from(W0);
      up[i] = W0[i]! + 1e-3;
      dn[i] = W0[i]! - 1e-3;
      const fd = (loss(up) - loss(dn)) / (up[i]! - dn[i]!);
      assert.ok(Math.abs(fd - g[i]!) <= 2e-2 * Math.max(1e-2, Math.abs(fd)), `${dev.kind} router weight ${i}: autograd ${g[i]} vs finite difference ${fd}`);
    }
  }
});

test('routerStats: usage sums to k, entropy within [0, log k], type maps per token type; Spearman by hand', async () => {
  const m = new ViT({ imageSize: 16, patchSize: 4, nClasses: 4, dModel: 16, nLayers: 2, nHeads: 4 }, { seed: 3 });
  moh.attachMoH(m, { active: 0.5, seed: 4, initStd: 0.3 });
  const data = shapes(20, 7);
  const s = await moh.routerStats(m, data, 8);
  for (let l = 0; l < 2; l++) {
    assert.ok(Math.abs(s.usage[l]!.reduce((a, b) => a + b, 0) - 2) < 1e-9);
    assert.ok(s.entropy[l]! >= 0 && s.entropy[l]! <= Math.log(2) + 1e-9);
    assert.ok(s.imbalance[l]! >= 1 && s.imbalance[l]! <= 2);
    for (const row of s.byType[l]!) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 2) < 1e-9);
  }
  assert.equal(s.typeCounts[0], 20);
  assert.equal(s.typeCounts.reduce((a, b) => a + b, 0), 20 * 17);
  assert.ok(s.typeCounts[2]! > 0 && s.typeCounts[1]! > 0);
  assert.equal(moh.spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1);
  assert.equal(moh.spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  // ranks a = [1, 2.5, 2.5, 4], b = [1, 2, 3, 4]: rho = 4.5 / sqrt(4.5 · 5)
  assert.ok(Math.abs(moh.spearman([1, 2, 2, 3], [1, 2, 3, 4]) - 4.5 / Math.sqrt(4.5 * 5)) < 1e-12);
  const imp = await moh.ablationImportance(m, shapes(16, 8));
  assert.equal(imp.drop.length, 2);
  assert.equal(imp.drop[0]!.length, 4);
  assert.equal(m.heads.entries().length, 0, 'ablation sweep leaves no head control behind');
});

test('vitFromCheckpoint restores the ViT and its routers (same logits); mismatches are errors', async () => {
  const cfg = CASES[0]!.cfg;
  const m = randomViT(cfg, 80, cpuDevice());
  const routers = moh.attachMoH(m, { active: 2, seed: 81, initStd: 0.5 });
  const tensors = await m.stateDict();
  for (const [l, r] of routers.entries()) tensors.set(`h.${l}.attn.router.weight`, { data: (await r.weight.data()) as Float32Array, shape: [...r.weight.shape] });
  const bytes = writeSafetensors(tensors);
  const back = moh.vitFromCheckpoint({ kind: 'vit', ...cfg, moh: { active: 2 } }, bytes);
  const imgs = { data: Float32Array.from({ length: 3 * 64 }, (_, i) => Math.sin(i)), shape: [3, 8, 8] };
  assert.deepEqual(await (await back.model.run(imgs)).data(), await (await m.run(imgs)).data());
  assert.equal(back.routers.length, 2);
  assert.throws(() => moh.vitFromCheckpoint({ kind: 'vit', ...cfg, moh: null }, bytes), /router weights but config.json has no moh entry/);
  assert.throws(() => moh.vitFromCheckpoint({ kind: 'lm', ...cfg }, bytes), /kind is 'lm', expected 'vit'/);
  const plain = writeSafetensors(await m.stateDict());
  assert.throws(() => moh.vitFromCheckpoint({ kind: 'vit', ...cfg, moh: { active: 2 } }, plain), /no 'h.0.attn.router.weight'/);
});

test('shipped F11 checkpoints (examples/models/vit-*) reload and reproduce their recorded accuracy', async () => {
  const dir = fileURLToPath(new URL('../../../../examples/models/', import.meta.url));
  const names = readdirSync(dir).filter((n) => n.startsWith('vit-')).sort();
  assert.deepEqual(names, ['vit-mha', 'vit-moh-50', 'vit-moh-75', 'vit-moh-90', 'vit-sqa']);
  for (const n of names) {
    const metrics = JSON.parse(readFileSync(join(dir, n, 'metrics.json'), 'utf8')) as { accuracy: number; eval: { n: number; seed: number } };
    const config = JSON.parse(readFileSync(join(dir, n, 'config.json'), 'utf8')) as moh.ViTCheckpointConfig;
    const { model, routers } = moh.vitFromCheckpoint(config, new Uint8Array(readFileSync(join(dir, n, 'model.safetensors'))));
    assert.equal(routers.length, config.moh ? model.config.nLayers : 0);
    const acc = await evaluateViT(model, shapes(metrics.eval.n, metrics.eval.seed));
    assert.ok(Math.abs(acc - metrics.accuracy) <= 2 / metrics.eval.n, `${n}: accuracy ${acc} vs recorded ${metrics.accuracy}`);
  }
});

test('MoH: bad input is an error naming it', async () => {
  assert.throws(() => moh.activeHeads(5, 4), /active must be a head count 1\.\.4/);
  assert.throws(() => moh.activeHeads(0, 4), /active must be/);
  assert.throws(() => moh.activeHeads(1.5, 4), /active must be/);
  assert.equal(moh.activeHeads(0.75, 4), 3);
  assert.equal(moh.activeHeads(0.5, 4), 2);
  assert.throws(() => new moh.MoHRouter({ dModel: 0, nHeads: 2, active: 1 }), /dModel must be a positive integer/);
  assert.throws(() => moh.spearman([1], [2]), /at least 2/);
  const m = new ViT({ imageSize: 8, patchSize: 4, nClasses: 2, dModel: 8, nLayers: 1, nHeads: 2 });
  await assert.rejects(moh.routerStats(m, shapes(2, 1, { size: 8 })), /layer 0 has no MoH router/);
});
