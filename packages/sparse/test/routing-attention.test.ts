import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attention, causal, getAttention } from '@attnlab/attention';
import { kmeansRouting, naiveRoutingKeep, naiveRoutingPairs, routingMask } from '../src/routing-attention/index.js';
import { naiveAttention, maxAbsDiff } from '../src/flash-attention/naive.js';
import { gaussian, rng } from '../src/common/random.js';
import { registerVariants } from '../src/index.js';
import { devices, disposeAll, qkv } from './util.js';

test('routing-attention: k-means assigns every vector to its nearest centroid; the counter equals the enumerated pairs', () => {
  const r = rng(4);
  for (const [nq, nk, d] of [[1, 1, 1], [7, 7, 3], [33, 50, 8], [100, 100, 16]] as const) {
    const q = gaussian(r, nq * d);
    const k = gaussian(r, nk * d);
    const res = kmeansRouting(q, k, nq, nk, d, { seed: 1 });
    assert.equal(res.clusters, Math.ceil(Math.sqrt(nk)));
    // Nearest centroid (cosine) by brute force, float64.
    const nearest = (x: Float32Array, i: number): number => {
      let best = 0;
      let bv = -Infinity;
      let nrm = 0;
      for (let e = 0; e < d; e++) nrm += x[i * d + e]! ** 2;
      for (let c = 0; c < res.clusters; c++) {
        let s = 0;
        for (let e = 0; e < d; e++) s += (x[i * d + e]! / Math.sqrt(nrm)) * res.centroids[c * d + e]!;
        if (s > bv) [bv, best] = [s, c];
      }
      return best;
    };
    for (let i = 0; i < nq; i++) assert.equal(res.qCluster[i], nearest(q, i), `query ${i}`);
    for (let j = 0; j < nk; j++) assert.equal(res.kCluster[j], nearest(k, j), `key ${j}`);
    assert.equal(res.compute.attend, naiveRoutingPairs(res.qCluster, res.kCluster, nq, nk) * d);
    assert.equal(res.compute.assign, (4 + 1) * (nq + nk) * res.clusters * d);
  }
  assert.throws(() => kmeansRouting(new Float32Array(4), new Float32Array(4), 2, 2, 2, { clusters: 0 }), /clusters must be a positive integer/);
  assert.throws(() => kmeansRouting(new Float32Array(4), new Float32Array(4), 2, 2, 2, { decay: 1 }), /decay must be in \[0, 1\)/);
});

test('routing-attention: compute grows as n^1.5 with k = sqrt(n) clusters (log-log slope of the counter)', () => {
  const r = rng(9);
  const ns = [256, 1024, 4096];
  const c = ns.map((n) => {
    const x = gaussian(r, n * 16);
    return kmeansRouting(x, x, n, n, 16, { seed: 2 }).compute.total;
  });
  const slope = Math.log(c[2]! / c[0]!) / Math.log(ns[2]! / ns[0]!);
  assert.ok(slope > 1.3 && slope < 1.7, `slope ${slope}`);
});

test('routing-attention: the routing mask and the variant match float64 within-cluster attention on CPU and WebGPU', async () => {
  const reg = registerVariants();
  try {
    for (const dev of await devices()) {
      for (const [B, H, n, D] of [[1, 1, 1, 8], [1, 2, 37, 16], [2, 3, 130, 32]] as const) {
        const x = qkv(dev, n * 7 + H, B, H, n, n, D);
        const qc = new Int32Array(B * H * n);
        const kc = new Int32Array(B * H * n);
        const keeps: ((i: number, j: number) => boolean)[] = [];
        for (let i = 0; i < B * H; i++) {
          const res = kmeansRouting(x.qa.subarray(i * n * D, (i + 1) * n * D), x.ka.subarray(i * n * D, (i + 1) * n * D), n, n, D, { seed: 5 });
          qc.set(res.qCluster, i * n);
          kc.set(res.kCluster, i * n);
          keeps.push(naiveRoutingKeep(res.qCluster, res.kCluster, n, n));
        }
        const got = await attention(x.q, x.k, x.v, { mask: routingMask(qc, kc, B, H, n, n) });
        for (let b = 0; b < B; b++) {
          const sl = (a: Float32Array): Float32Array => a.subarray(b * H * n * D, (b + 1) * H * n * D);
          const ref = naiveAttention(sl(x.qa), sl(x.ka), sl(x.va), { B: 1, H, Nq: n, Nk: n, D }, { keep: (h, i, j) => keeps[b * H + h]!(i, j) });
          const out = ((await got.out.data()) as Float32Array).subarray(b * H * n * D, (b + 1) * H * n * D);
          assert.ok(maxAbsDiff(out, ref) <= 1e-5, `${dev.kind} B=${B} H=${H} n=${n} b=${b}`);
        }
        const v = await getAttention('routing-attention').forward(x.q, x.k, x.v, { mask: causal(), causal: true, options: { seed: 5 } });
        assert.ok(maxAbsDiff(await v.out.data(), await got.out.data()) <= 1e-6, `${dev.kind} variant n=${n}`);
        disposeAll(x);
      }
    }
  } finally {
    reg.dispose();
  }
});
