import { test } from 'node:test';
import assert from 'node:assert/strict';
import { causal, getAttention } from '@attnlab/attention';
import { cumulativeTopP, flexPrefillPlan, jsDivergence, naiveVerticalSlashTiles, pooledBlockScores } from '../src/flexprefill/index.js';
import { naiveAttention, maxAbsDiff } from '../src/flash-attention/naive.js';
import { gaussian, rng } from '../src/common/random.js';
import { registerVariants } from '../src/index.js';
import { devices, disposeAll, qkv } from './util.js';

test('flexprefill: JS divergence and cumulative top-p by definition', () => {
  assert.equal(jsDivergence([0.5, 0.5], [0.5, 0.5]), 0);
  assert.ok(Math.abs(jsDivergence([1, 0], [0, 1]) - Math.log(2)) < 1e-12);
  assert.deepEqual(cumulativeTopP([0.1, 0.6, 0.3], 3, 0.65), [1, 2]);
  assert.deepEqual(cumulativeTopP([0.1, 0.6, 0.3], 3, 0.6), [1]);
  assert.deepEqual(cumulativeTopP([0.25, 0.25, 0.25, 0.25], 4, 1), [0, 1, 2, 3]);
  assert.throws(() => flexPrefillPlan(new Float32Array(2), new Float32Array(2), 1, 1, 2, { gamma: 0 }), /gamma must be in \(0, 1\]/);
});

test('flexprefill: vertical-slash tiles equal the enumerated entries; query-aware keeps fewest blocks reaching gamma', () => {
  const r = rng(21);
  for (const [nq, nk, d, bs] of [[1, 1, 2, 1], [13, 13, 4, 4], [50, 77, 8, 16], [64, 64, 8, 16]] as const) {
    const q = gaussian(r, nq * d);
    const k = gaussian(r, nk * d);
    const vs = flexPrefillPlan(q, k, nq, nk, d, { blockSize: bs, tau: 0, gamma: 0.8 });
    assert.equal(vs.pattern, 'vertical-slash');
    assert.deepEqual(vs.table, naiveVerticalSlashTiles(new Set(vs.columns), new Set(vs.offsets), nq, nk, bs), `nq=${nq} nk=${nk}`);
    const qa = flexPrefillPlan(q, k, nq, nk, d, { blockSize: bs, tau: 10, gamma: 0.8 });
    assert.equal(qa.pattern, 'query-aware');
    // Query-aware tiles: the diagonal plus the fewest pooled-estimate blocks reaching γ, row by row.
    const est = pooledBlockScores(q, k, nq, nk, d, bs);
    const nKB = Math.ceil(nk / bs);
    for (let qb = 0; qb < Math.ceil(nq / bs); qb++) {
      const last = Math.min(nKB - 1, Math.floor((Math.min(nq - 1, qb * bs + bs - 1) + nk - nq) / bs));
      const row = Array.from(est.subarray(qb * nKB, qb * nKB + last + 1));
      assert.ok(Math.abs(row.reduce((a, x) => a + x, 0) - 1) < 1e-12, 'a softmax row');
      const want = new Set([last, ...cumulativeTopP(row, last + 1, 0.8)]);
      for (let kb = 0; kb < nKB; kb++) assert.equal(qa.table[qb * nKB + kb], want.has(kb) ? 1 : 0, `nq=${nq} tile ${qb},${kb}`);
    }
    assert.ok(qa.jsDistance >= 0 && qa.jsDistance <= Math.sqrt(Math.log(2)) + 1e-12);
    // γ = 1 keeps every causal tile in both patterns.
    for (const tau of [0, 10]) {
      const full = flexPrefillPlan(q, k, nq, nk, d, { blockSize: bs, tau, gamma: 1 });
      const nKB = Math.ceil(nk / bs);
      for (let qb = 0; qb < Math.ceil(nq / bs); qb++) for (let kb = 0; kb < nKB; kb++) {
        const causalTile = kb * bs <= Math.min(nq - 1, qb * bs + bs - 1) + nk - nq;
        assert.equal(full.table[qb * nKB + kb], causalTile ? 1 : 0, `tau=${tau} tile ${qb},${kb}`);
      }
    }
  }
});

test('flexprefill: the variant equals float64 attention over its tiles on CPU and WebGPU', async () => {
  const reg = registerVariants();
  try {
    for (const dev of await devices()) {
      for (const [B, H, n, D, bs, gamma, tau] of [[1, 1, 1, 8, 16, 0.9, 0.1], [1, 2, 47, 16, 16, 0.7, 0], [2, 2, 140, 32, 32, 0.8, 10]] as const) {
        const x = qkv(dev, n * 3 + 1, B, H, n, n, D);
        const res = await getAttention('flexprefill').forward(x.q, x.k, x.v, { mask: causal(), causal: true, scale: 1 / Math.sqrt(D), options: { blockSize: bs, gamma, tau } });
        const out = (await res.out.data()) as Float32Array;
        const nKB = Math.ceil(n / bs);
        for (let i = 0; i < B * H; i++) {
          const sl = (a: Float32Array): Float32Array => a.subarray(i * n * D, (i + 1) * n * D);
          const t = flexPrefillPlan(sl(x.qa), sl(x.ka), n, n, D, { blockSize: bs, gamma, tau }).table;
          const ref = naiveAttention(sl(x.qa), sl(x.ka), sl(x.va), { B: 1, H: 1, Nq: n, Nk: n, D }, { keep: (_h, q, k) => k <= q && t[Math.floor(q / bs) * nKB + Math.floor(k / bs)] === 1 });
          assert.ok(maxAbsDiff(out.subarray(i * n * D, (i + 1) * n * D), ref) <= 1e-5, `${dev.kind} n=${n} head ${i}`);
        }
        disposeAll(x);
      }
    }
  } finally {
    reg.dispose();
  }
});
