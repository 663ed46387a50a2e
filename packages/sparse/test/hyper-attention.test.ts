/**
 * L5 HyperAttention. The estimator is a sampling algorithm on plain float arrays (CPU); its fast
 * path is checked against the float64 masked-sum formulation for the same plan, and the variant
 * (which reads tensors from their device) on CPU and WebGPU tensors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { causal, getAttention, slidingWindow } from '@attnlab/attention';
import { Transformer } from '@attnlab/models';
import { tensor } from '@attnlab/tensor';
import { causalHyperAttention, causalHyperAttention64, exactAttention64, hardness, hyperAttention, hyperAttention64, hyperAttentionWithPlan, hyperPlan, outputError, type HeadShape } from '../src/hyper-attention/index.js';
import { registerVariants } from '../src/index.js';
import { gaussian, rng } from '../src/common/random.js';
import { logLogSlope } from '../src/common/stats.js';
import { devices, disposeAll, qkv } from './util.js';

function head(seed: number, s: HeadShape): { q: Float32Array; k: Float32Array; v: Float32Array } {
  const r = rng(seed);
  return { q: gaussian(r, s.nq * s.d), k: gaussian(r, s.nk * s.d), v: gaussian(r, s.nk * s.dv) };
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('hyper-attention: fast path equals its float64 version for the same plan (random and edge sizes)', () => {
  const r = rng(1);
  const cases: [HeadShape, { bits?: number; blockSize?: number; samples?: number }][] = [
    [{ nq: 1, nk: 1, d: 1, dv: 1 }, {}],
    [{ nq: 1, nk: 37, d: 5, dv: 3 }, { blockSize: 8, samples: 5 }],
    [{ nq: 65, nk: 33, d: 16, dv: 7 }, { blockSize: 16, samples: 0 }],
    [{ nq: 50, nk: 129, d: 8, dv: 8 }, { blockSize: 0, samples: 31 }],
  ];
  for (let i = 0; i < 8; i++) cases.push([{ nq: 1 + Math.floor(r() * 200), nk: 1 + Math.floor(r() * 200), d: 1 + Math.floor(r() * 40), dv: 1 + Math.floor(r() * 20) }, { bits: 1 + Math.floor(r() * 6), blockSize: Math.floor(r() * 70), samples: 1 + Math.floor(r() * 90) }]);
  for (const [i, [s, o]] of cases.entries()) {
    const x = head(100 + i, s);
    const plan = hyperPlan(x.q, x.k, x.v, s, { ...o, seed: i });
    const fast = hyperAttentionWithPlan(x.q, x.k, x.v, plan).out;
    const ref = hyperAttention64(x.q, x.k, x.v, plan);
    assert.ok(maxAbs(fast, ref) <= 1e-5, `${JSON.stringify({ s, o })}: max |Δ| ${maxAbs(fast, ref)}`);
  }
});

test('hyper-attention: one block holding every key is exact attention', () => {
  const s = { nq: 70, nk: 45, d: 12, dv: 9 };
  const x = head(7, s);
  const got = hyperAttention(x.q, x.k, x.v, s, { blockSize: 45, samples: 13 }).out;
  assert.ok(maxAbs(got, exactAttention64(x.q, x.k, x.v, s)) <= 1e-5);
});

test('hyper-attention: deterministic for a seed, different for another', () => {
  const s = { nq: 128, nk: 128, d: 16, dv: 16 };
  const x = head(3, s);
  const a = hyperAttention(x.q, x.k, x.v, s, { seed: 5, blockSize: 16, samples: 20 });
  const b = hyperAttention(x.q, x.k, x.v, s, { seed: 5, blockSize: 16, samples: 20 });
  const c = hyperAttention(x.q, x.k, x.v, s, { seed: 6, blockSize: 16, samples: 20 });
  assert.deepEqual(a.out, b.out);
  assert.deepEqual(a.plan.samples, b.plan.samples);
  assert.notDeepEqual(a.plan.samples, c.plan.samples);
  assert.ok(maxAbs(a.out, c.out) > 0);
});

test('hyper-attention: the error falls as m grows, close to 1/sqrt(m)', () => {
  const s = { nq: 256, nk: 512, d: 16, dv: 16 };
  const ms = [8, 32, 128, 512, 2048];
  const errs = ms.map((m) => {
    let e = 0;
    for (let seed = 0; seed < 4; seed++) {
      const x = head(50 + seed, s);
      e += outputError(hyperAttention(x.q, x.k, x.v, s, { samples: m, blockSize: 32, seed }).out, exactAttention64(x.q, x.k, x.v, s), x.v);
    }
    return e / 4;
  });
  for (let i = 1; i < ms.length; i++) assert.ok(errs[i]! < errs[i - 1]!, `errors ${errs.join(', ')}`);
  const p = logLogSlope(ms, errs);
  assert.ok(p > -0.7 && p < -0.3, `fitted exponent ${p}`);
});

test('hyper-attention: a heavy column the LSH block misses raises the max column norm and breaks the estimate', () => {
  const s = { nq: 256, nk: 256, d: 16, dv: 16 };
  const x = head(9, s);
  const o = { samples: 32, blockSize: 32, seed: 1 };
  const benign = outputError(hyperAttention(x.q, x.k, x.v, s, o).out, exactAttention64(x.q, x.k, x.v, s), x.v);
  const hBenign = hardness(x.q, x.k, hyperPlan(x.q, x.k, x.v, s, o));
  // Key 0 aligned with the mean query, scaled up: every row puts most of its mass on it.
  const k = Float32Array.from(x.k);
  for (let e = 0; e < s.d; e++) {
    let mean = 0;
    for (let i = 0; i < s.nq; i++) mean += x.q[i * s.d + e]!;
    k[e] = (mean / s.nq) * 40;
  }
  for (let e = 0; e < s.dv; e++) x.v[e] = 10;
  const plan = hyperPlan(x.q, k, x.v, s, o);
  const adv = outputError(hyperAttentionWithPlan(x.q, k, x.v, plan).out, exactAttention64(x.q, k, x.v, s), x.v);
  const hAdv = hardness(x.q, k, plan);
  assert.ok(hAdv.maxColumnNorm > 3 * hBenign.maxColumnNorm, `max column norm ${hBenign.maxColumnNorm} -> ${hAdv.maxColumnNorm}`);
  assert.ok(adv > 3 * benign, `error ${benign} -> ${adv}`);
});

test('hyper-attention: bad arguments are named', () => {
  const s = { nq: 4, nk: 4, d: 2, dv: 2 };
  const x = head(1, s);
  assert.throws(() => hyperAttention(x.q.subarray(1), x.k, x.v, s), /q has 7 values, expected nq·d/);
  assert.throws(() => hyperAttention(x.q, x.k, x.v, s, { blockSize: 0, samples: 0 }), /nothing would be attended/);
  assert.throws(() => hyperAttention(x.q, x.k, x.v, s, { bits: 0 }), /bits must be an integer/);
  assert.throws(() => hyperAttention(x.q, x.k, x.v, { ...s, nq: 0 }), /nq must be a positive integer/);
});

test('hyper-attention: the registered variant equals the float64 estimator per head, on CPU and WebGPU tensors', async () => {
  const reg = registerVariants();
  try {
    const variant = getAttention('hyper-attention');
    for (const dev of await devices()) {
      const [B, H, nq, nk, D] = [2, 3, 33, 47, 8];
      const x = qkv(dev, 21, B, H, nq, nk, D);
      const r = await variant.forward(x.q, x.k, x.v, { options: { samples: 9, blockSize: 8, seed: 2 } });
      const got = await r.out.data();
      const s = { nq, nk, d: D, dv: D };
      for (let bh = 0; bh < B * H; bh++) {
        const [q, k, v] = [x.qa.subarray(bh * nq * D, (bh + 1) * nq * D), x.ka.subarray(bh * nk * D, (bh + 1) * nk * D), x.va.subarray(bh * nk * D, (bh + 1) * nk * D)];
        const ref = hyperAttention64(q, k, v, hyperPlan(q, k, v, s, { samples: 9, blockSize: 8, seed: 2 }));
        assert.ok(maxAbs(got.subarray(bh * nq * D, (bh + 1) * nq * D), ref) <= 1e-5, `${dev.kind} head ${bh}`);
      }
      await assert.rejects(async () => variant.forward(x.q, x.k, x.v, { mask: slidingWindow(3) }), /only no mask or the plain causal mask/);
      await assert.rejects(async () => variant.forward(x.q, x.k, x.v, { mask: causal(), causal: true }), /as many queries as keys, got 33 and 47/);
      r.out.dispose();
      r.lse?.dispose();
      disposeAll(x);
    }
  } finally {
    reg.dispose();
  }
});

test('hyper-attention causal: the block recursion equals its float64 weight-matrix form (random and edge sizes)', () => {
  const r = rng(12);
  const cases: [number, number, number, { leafSize: number; blockSize: number; samples: number }][] = [[1, 1, 1, { leafSize: 1, blockSize: 1, samples: 1 }], [2, 3, 2, { leafSize: 1, blockSize: 1, samples: 2 }], [37, 8, 5, { leafSize: 4, blockSize: 3, samples: 5 }], [64, 16, 16, { leafSize: 64, blockSize: 8, samples: 8 }]];
  for (let i = 0; i < 6; i++) cases.push([2 + Math.floor(r() * 200), 1 + Math.floor(r() * 24), 1 + Math.floor(r() * 12), { leafSize: 1 + Math.floor(r() * 40), blockSize: Math.floor(r() * 20), samples: 1 + Math.floor(r() * 30) }]);
  for (const [i, [n, d, dv, o]] of cases.entries()) {
    const s = { nq: n, nk: n, d, dv };
    const x = head(300 + i, s);
    const got = causalHyperAttention(x.q, x.k, x.v, s, { ...o, seed: i });
    const ref = causalHyperAttention64(x.q, x.k, x.v, s, got.layout);
    assert.ok(maxAbs(got.out, ref) <= 1e-5, `${JSON.stringify({ n, d, dv, o })}: max |Δ| ${maxAbs(got.out, ref)}`);
    // Every (row, key ≤ row) pair is covered by exactly one part: leaves and off-diagonal blocks tile the causal triangle.
    let covered = 0;
    for (const l of got.layout.leaves) covered += (l.size * (l.size + 1)) / 2;
    for (const b of got.layout.offDiagonal) covered += b.plan.shape.nq * b.plan.shape.nk;
    assert.equal(covered, (n * (n + 1)) / 2);
  }
});

test('hyper-attention causal: exact when every off-diagonal block is one LSH block; leafSize ≥ n is exact causal attention', () => {
  const s = { nq: 150, nk: 150, d: 8, dv: 6 };
  const x = head(8, s);
  const exact = exactAttention64(x.q, x.k, x.v, s, 1 / Math.sqrt(8), true);
  assert.ok(maxAbs(causalHyperAttention(x.q, x.k, x.v, s, { leafSize: 150 }).out, exact) <= 1e-5);
  assert.ok(maxAbs(causalHyperAttention(x.q, x.k, x.v, s, { leafSize: 10, blockSize: 150, samples: 3 }).out, exact) <= 1e-5);
  assert.throws(() => causalHyperAttention(x.q.subarray(8), x.k, x.v, { ...s, nq: 149 }), /needs nq = nk, got nq = 149, nk = 150/);
  assert.throws(() => causalHyperAttention(x.q, x.k, x.v, s, { leafSize: 0 }), /leafSize must be a positive integer/);
});

test("hyper-attention causal: in a model with leafSize ≥ n, 'hyper-attention' gives softmax's logits (CPU and WebGPU)", async () => {
  const reg = registerVariants();
  try {
    for (const dev of await devices()) {
      const model = new Transformer({ vocabSize: 19, dModel: 32, nLayers: 2, nHeads: 4, nCtx: 32 }, { seed: 5, device: dev });
      const toks = tensor(Int32Array.from({ length: 2 * 23 }, (_, i) => (i * 3 + 2) % 19), [2, 23], { dtype: 'int32', device: dev });
      const want = await (await model.forward(toks)).data();
      model.setAttention('all', 'hyper-attention', { leafSize: 32 });
      assert.ok(maxAbs(await (await model.forward(toks)).data(), want) <= 1e-4, dev.kind);
      // With small leaves the estimate differs but stays finite.
      model.setAttention('all', 'hyper-attention', { leafSize: 4, blockSize: 4, samples: 4 });
      const approx = await (await model.forward(toks)).data();
      assert.ok(approx.every((x) => Number.isFinite(x)) && maxAbs(approx, want) > 0, dev.kind);
    }
  } finally {
    reg.dispose();
  }
});

test('hyper-attention: blocks of one key over 200k keys (one block per key) run', () => {
  const s = { nq: 2, nk: 200_000, d: 1, dv: 1 };
  const x = head(2, s);
  const r = hyperAttention(x.q, x.k, x.v, s, { blockSize: 1, samples: 4, bits: 1 });
  assert.ok(r.out.every(Number.isFinite));
});
