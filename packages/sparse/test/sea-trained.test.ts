/**
 * SEA's trained estimator: the distillation forward (tensors, CPU and WebGPU) and the float64 ranking
 * scores against an independent float64 reference; distillation on a synthetic teacher with a known
 * low-rank structure lowers the KL and raises held-out top-k recall; bad shapes/options are named;
 * the 'sea' variant with a trained estimator selects that estimator's keys in a model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  distillSeaEstimator, estimatorLogProbs, estimatorLogProbs64, estimatorLogScores, exactTopK64, initSeaEstimator,
  maskedAttention64, topKRecall, trainedTopK, type SeaEstimator, type SeaSample,
} from '../src/sea/index.js';
import { gaussian, rng } from '../src/common/random.js';
import { causal as causalMask, getAttention } from '@attnlab/attention';
import { Transformer } from '@attnlab/models';
import { tensor } from '@attnlab/tensor';
import { registerVariants } from '../src/index.js';
import { devices, qkv, disposeAll } from './util.js';

const KINDS = ['exp', 'bilinear'] as const;

test('sea trained: estimatorLogProbs (tensors) and estimatorLogScores equal the float64 reference on CPU and WebGPU, edge sizes', async () => {
  const r = rng(11);
  for (const dev of await devices()) {
    for (const kind of KINDS) {
      for (const [n, d, rank, causal] of [[1, 1, 1, true], [7, 5, 3, true], [33, 8, 17, true], [20, 16, 4, false]] as const) {
        const q = gaussian(r, n * d);
        const k = gaussian(r, n * d);
        const wq = gaussian(r, d * rank).map((x) => x / Math.sqrt(d));
        const wk = gaussian(r, d * rank).map((x) => x / Math.sqrt(d));
        const want = estimatorLogProbs64(q, k, wq, wk, { nq: n, nk: n, d, r: rank }, kind, causal);
        const bias = new Float32Array(n * n);
        if (causal) for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) bias[i * n + j] = -1e4;
        const ts = [tensor(q, [1, n, d], { device: dev }), tensor(k, [1, n, d], { device: dev }), tensor(wq, [1, d, rank], { device: dev }), tensor(wk, [1, d, rank], { device: dev }), tensor(bias, [n, n], { device: dev })] as const;
        const lp = estimatorLogProbs(ts[0], ts[1], ts[2], ts[3], ts[4], kind);
        const got = (await lp.data()) as Float32Array;
        let worst = 0;
        for (let i = 0; i < n * n; i++) {
          if (want[i] === -Infinity) assert.ok(got[i]! < -1e3, `${dev.kind} ${kind} hidden entry ${i}: ${got[i]}`);
          else worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        }
        assert.ok(worst <= 1e-4, `${dev.kind} ${kind} n=${n} d=${d} r=${rank}: max |Δ log p| ${worst}`);
        lp.dispose();
        ts.forEach((t) => t.dispose());
        if (dev.kind !== 'cpu') continue;
        // The float64 ranking scores differ from the reference's log-rows by one constant per row.
        const est: SeaEstimator = { layers: 1, heads: 1, dHead: d, rank, kind, wq, wk };
        const sc = estimatorLogScores(est, 0, q, k, { nq: n, nk: n, d }, causal);
        for (let i = 0; i < n; i++) {
          const len = causal ? i + 1 : n;
          const c = sc[i * n]! - want[i * n]!;
          for (let j = 0; j < len; j++) assert.ok(Math.abs(sc[i * n + j]! - want[i * n + j]! - c) <= 1e-9, `${kind} row ${i} key ${j}`);
          for (let j = len; j < n; j++) assert.equal(sc[i * n + j], -Infinity);
        }
      }
    }
  }
});

/** A head whose q and k live in a random rank-3 subspace of R^d, with peaked rows (large norms). */
function lowRankHead(seed: number, n: number, d: number): { q: Float32Array; k: Float32Array } {
  const r = rng(seed);
  const u = gaussian(rng(99), 3 * d); // the same subspace for every window
  const mk = (scale: number): Float32Array => {
    const z = gaussian(r, n * 3);
    const out = new Float32Array(n * d);
    for (let i = 0; i < n; i++) for (let e = 0; e < d; e++) for (let c = 0; c < 3; c++) out[i * d + e] += scale * z[i * 3 + c]! * u[c * d + e]!;
    return out;
  };
  return { q: mk(1.5), k: mk(1) };
}

function recallOn(est: SeaEstimator, heads: { q: Float32Array; k: Float32Array }[], n: number, d: number, topK: number): number {
  const e: Int32Array[] = [];
  const t: Int32Array[] = [];
  for (const h of heads) {
    const s = { nq: n, nk: n, d };
    const tr = exactTopK64(h.q, h.k, s, topK, true);
    const x = trainedTopK(est, 0, h.q, h.k, s, { topK, causal: true });
    for (let i = topK; i < n; i++) {
      t.push(tr[i]!);
      e.push(x[i]!);
    }
  }
  return topKRecall(e, t);
}

test('sea trained: distillation on a low-rank synthetic teacher lowers the KL and raises held-out top-k recall (both kinds)', async () => {
  const [n, d, topK] = [40, 12, 4];
  const train: SeaSample[] = Array.from({ length: 4 }, (_, i) => {
    const h = lowRankHead(i, n, d);
    return { q: [h.q], k: [h.k], n };
  });
  const heldOut = Array.from({ length: 3 }, (_, i) => lowRankHead(100 + i, n, d));
  for (const kind of KINDS) {
    const init = initSeaEstimator({ layers: 1, heads: 1, dHead: d, rank: 3, kind }, 5);
    const before = recallOn(init, heldOut, n, d, topK);
    const { estimator, losses } = await distillSeaEstimator(init, train, { steps: 150, lr: 0.05 });
    const after = recallOn(estimator, heldOut, n, d, topK);
    assert.ok(losses[losses.length - 1]! < 0.5 * losses[0]!, `${kind}: KL ${losses[0]} -> ${losses[losses.length - 1]}`);
    // A rank-3 bilinear estimator can represent this teacher's scores exactly; exp features only approximate them.
    assert.ok(after >= before + 0.2 && after >= (kind === 'bilinear' ? 0.9 : 0.6), `${kind}: held-out recall ${before} -> ${after}`);
    assert.equal(estimator.kind, kind);
  }
});

test('sea trained: bad shapes and options are named', async () => {
  assert.throws(() => initSeaEstimator({ layers: 1, heads: 2, dHead: 4, rank: 0 }), /rank must be a positive integer, got 0/);
  assert.throws(() => initSeaEstimator({ layers: 1, heads: 1, dHead: 4, rank: 2, kind: 'relu' as 'exp' }), /kind must be 'exp' or 'bilinear', got relu/);
  const est = initSeaEstimator({ layers: 2, heads: 2, dHead: 4, rank: 2 });
  const q = new Float32Array(12);
  assert.throws(() => trainedTopK(est, 4, q, q, { nq: 3, nk: 3, d: 4 }), /head index 4 is outside 0..3/);
  assert.throws(() => trainedTopK(est, 0, q, q, { nq: 4, nk: 3, d: 4 }), /q has 12 values, expected nq·d = 4·4/);
  assert.throws(() => trainedTopK(est, 0, q, q, { nq: 4, nk: 4, d: 3 }), /head dim 3 differs from the estimator's dHead 4/);
  assert.throws(() => trainedTopK(est, 0, q, q, { nq: 3, nk: 3, d: 4 }, { topK: 0 }), /topK must be a positive integer/);
  assert.throws(() => trainedTopK({ ...est, wk: new Float32Array(3) }, 0, q, q, { nq: 3, nk: 3, d: 4 }), /estimator.wk has 3 values, expected layers·heads·dHead·rank = 32/);
  await assert.rejects(distillSeaEstimator(est, [], { steps: 1 }), /no samples/);
  const s = { q: [q, q, q, q], k: [q, q, q, q], n: 3 };
  await assert.rejects(distillSeaEstimator(est, [s, { ...s, n: 2 }], { steps: 1 }), /sample 1 has n = 2; sample 0 has 3/);
  await assert.rejects(distillSeaEstimator(est, [{ ...s, k: [q] }], { steps: 1 }), /sample 0 must hold 4 heads \(layers·heads\) of q and k, got 4 and 1/);
  await assert.rejects(distillSeaEstimator(est, [{ ...s, q: [q, q, q, new Float32Array(5)] }], { steps: 1 }), /sample 0 head 3: q has 5 values, expected n·dHead = 3·4/);
  await assert.rejects(distillSeaEstimator(est, [s], { steps: -1 }), /steps must be a non-negative integer/);
});

test("sea trained: the 'sea' variant with a trained estimator runs exact softmax on that estimator's top-k (CPU and WebGPU); errors without a layer or with a mismatched estimator", async () => {
  const reg = registerVariants();
  try {
    const variant = getAttention('sea');
    for (const dev of await devices()) {
      const [B, H, n, D] = [2, 3, 21, 8];
      const est = initSeaEstimator({ layers: 2, heads: 3, dHead: D, rank: 5, kind: 'exp' }, 3);
      const x = qkv(dev, 17, B, H, n, n, D);
      const base = { scale: 1 / Math.sqrt(D), scoreMod: null, causal: true, returnProbs: false, returnScores: false, cache: null, rotary: null, state: null, groupSize: 1, qPositions: null, kPositions: null };
      // q's heads are the model's heads 2, 0, 1 of layer 1: each must use its own estimator head.
      const heads = [2, 0, 1];
      const r = await variant.forward(x.q, x.k, x.v, { ...base, mask: causalMask(), layer: 1, heads, options: { topK: 4, estimator: est } });
      const got = (await r.out.data()) as Float32Array;
      for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
        const bh = b * H + h;
        const [q, k, v] = [x.qa, x.ka, x.va].map((a) => a.subarray(bh * n * D, (bh + 1) * n * D)) as [Float32Array, Float32Array, Float32Array];
        const s = { nq: n, nk: n, d: D, dv: D };
        const keys = trainedTopK(est, 1 * 3 + heads[h]!, q, k, s, { topK: 4, causal: true });
        const want = maskedAttention64(q, k, v, s, keys);
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[bh * n * D + i]! - want[i]!));
        assert.ok(worst <= 1e-5, `${dev.kind} b ${b} head ${h}: ${worst}`);
      }
      r.out.dispose();
      await assert.rejects(async () => variant.forward(x.q, x.k, x.v, { ...base, mask: causalMask(), layer: null, heads: null, options: { estimator: est } }), /option estimator needs a model layer/);
      await assert.rejects(async () => variant.forward(x.q, x.k, x.v, { ...base, mask: causalMask(), layer: 2, heads: null, options: { estimator: est } }), /layer 2 has no estimator heads/);
      await assert.rejects(async () => variant.forward(x.q, x.k, x.v, { ...base, mask: causalMask(), layer: 0, heads: null, options: { estimator: { ...est, dHead: 4, wq: new Float32Array(2 * 3 * 4 * 5), wk: new Float32Array(2 * 3 * 4 * 5) } } }), /head dim 8 differs from the estimator's dHead 4/);
      await assert.rejects(async () => variant.forward(x.q, x.k, x.v, { ...base, mask: causalMask(), layer: 0, heads: null, options: { estimator: 3 } }), /option estimator must be a SeaEstimator, got number/);
      disposeAll(x);
      // In a model, top-k ≥ n with a trained estimator keeps every visible key: softmax's logits.
      const model = new Transformer({ vocabSize: 19, dModel: 32, nLayers: 2, nHeads: 4, nCtx: 32 }, { seed: 2, device: dev });
      const toks = tensor(Int32Array.from({ length: 2 * 17 }, (_, i) => (i * 5 + 1) % 19), [2, 17], { dtype: 'int32', device: dev });
      const want = (await (await model.forward(toks)).data()) as Float32Array;
      model.setAttention('all', 'sea', { topK: 17, estimator: initSeaEstimator({ layers: 2, heads: 4, dHead: 8, rank: 3 }, 1) });
      const seaLogits = (await (await model.forward(toks)).data()) as Float32Array;
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(seaLogits[i]! - want[i]!));
      assert.ok(worst <= 1e-4, `${dev.kind}: max |Δ| ${worst}`);
    }
  } finally {
    reg.dispose();
  }
});
