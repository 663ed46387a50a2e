/**
 * SQA: the score-FLOP formula equals the multiply-adds of a naive float64 QKᵀ counted one by one
 * (randomized shapes incl. 1 and odd), H_q = H/2 halves it exactly, and an SQA ViT (H/2 heads of
 * the base head size) = the float64 reference on CPU and WebGPU.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { Rng } from '@attnlab/tensor';
import { ViT } from '@attnlab/models';
import { sqa } from '../src/index.js';
import { devices } from './util.js';
import { vitRef64 } from './moh-ref64.js';

/** QKᵀ in float64, counting one multiply and one accumulate per term (the usual 2·D FLOPs per dot). */
function countedScores(B: number, H: number, Nq: number, Nk: number, D: number, rng: Rng): number {
  let flops = 0;
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const q = Array.from({ length: Nq * D }, () => rng.normal());
    const k = Array.from({ length: Nk * D }, () => rng.normal());
    for (let i = 0; i < Nq; i++) for (let j = 0; j < Nk; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) {
        s += q[i * D + d]! * k[j * D + d]!;
        flops += 2; // one multiply, one accumulate
      }
      if (!Number.isFinite(s)) throw new Error('non-finite score');
    }
  }
  return flops;
}

test('scoreFlops = counted multiply-adds of QKᵀ; SQA with H/2 query heads halves it exactly', () => {
  const rng = new Rng(5);
  for (let trial = 0; trial < 12; trial++) {
    const s = { batch: 1 + rng.int(3), heads: 1 + rng.int(5), queries: 1 + rng.int(9), keys: 1 + rng.int(9), dHead: 1 + rng.int(7) };
    assert.equal(sqa.scoreFlops(s), countedScores(s.batch, s.heads, s.queries, s.keys, s.dHead, rng), JSON.stringify(s));
    assert.equal(sqa.attentionFlops(s), 2 * sqa.scoreFlops(s));
  }
  for (const H of [2, 4, 6, 8]) {
    const base = { imageSize: 16, patchSize: 4, nClasses: 4, dModel: 8 * H, nLayers: 3, nHeads: H };
    const q = sqa.sqaConfig(base);
    assert.equal(q.nHeads, H / 2);
    assert.equal(q.dHead, 8);
    assert.equal(sqa.vitScoreFlops(q, 7) * 2, sqa.vitScoreFlops(base, 7));
    assert.equal(sqa.vitScoreFlops(base, 1), 3 * 2 * H * 17 * 17 * 8);
  }
});

test('SQA ViT (H/2 query heads, base head size) = float64 reference (CPU and WebGPU)', async () => {
  for (const dev of await devices()) {
    for (const [ci, base] of [
      { imageSize: 8, patchSize: 4, nClasses: 3, dModel: 12, nLayers: 2, nHeads: 2 },
      { imageSize: 9, patchSize: 3, nClasses: 5, dModel: 12, nLayers: 1, nHeads: 6 },
    ].entries()) {
      const m = new ViT(sqa.sqaConfig(base), { seed: 70 + ci, device: dev });
      const rng = new Rng(71 + ci);
      const st = new Map<string, { data: Float32Array; shape: readonly number[] }>();
      for (const [name, shape] of m.paramShapes()) st.set(name, { data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (/ln_.*weight/.test(name) ? 1 : 0) + 0.3 * rng.normal()), shape });
      m.loadStateDict(st);
      const c = m.config;
      assert.deepEqual(m.paramShapes().get('h.0.attn.c_proj.weight'), [(base.nHeads / 2) * (base.dModel / base.nHeads), base.dModel]);
      const B = 3;
      const imgs = Float32Array.from({ length: B * c.imageSize ** 2 }, () => rng.normal());
      const got = await (await m.run({ data: imgs, shape: [B, c.imageSize, c.imageSize] })).data();
      const want = vitRef64(c, st, imgs, B);
      let e = 0;
      for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[i]! - want[i]!));
      assert.ok(e < 2e-4 * Math.max(1, ...Array.from(want, Math.abs)), `${dev.kind} case ${ci}: max error ${e}`);
    }
  }
});

test('SQA: bad input is an error naming it', () => {
  assert.throws(() => sqa.scoreFlops({ batch: 1, heads: 0, queries: 1, keys: 1, dHead: 1 }), /heads must be a positive integer/);
  assert.throws(() => sqa.sqaConfig({ imageSize: 8, patchSize: 4, nClasses: 2, dModel: 12, nLayers: 1, nHeads: 3 }), /queryHeads must be an integer in \[1, 3\], got 1.5/);
  assert.throws(() => sqa.sqaConfig({ imageSize: 8, patchSize: 4, nClasses: 2, dModel: 12, nLayers: 1, nHeads: 4 }, 5), /queryHeads must be an integer in \[1, 4\], got 5/);
});
