import { test } from 'node:test';
import assert from 'node:assert/strict';
import { causal, getAttention } from '@attnlab/attention';
import { landmarkRows, naiveLandmarkKeep, retrievedCounts } from '../src/landmark/index.js';
import { naiveAttention, maxAbsDiff } from '../src/flash-attention/naive.js';
import { registerVariants } from '../src/index.js';
import { devices, disposeAll, qkv } from './util.js';
import { cpuDevice } from '@attnlab/tensor';

const cpuOnly = cpuDevice();

test('landmark: retrieved blocks are the top-k by q·mean(k_block) among complete blocks before the window', () => {
  for (const [nq, nk, d, bs, topK, local] of [[1, 1, 4, 1, 1, 1], [20, 20, 3, 4, 2, 4], [17, 50, 8, 5, 3, 7], [64, 64, 16, 16, 1, 16], [9, 9, 2, 3, 10, 1]] as const) {
    const x = qkv(cpuOnly, nq * 13 + nk, 1, 1, nq, nk, d);
    const rows = landmarkRows(x.qa, x.ka, nq, nk, d, { blockSize: bs, topK, local });
    const keep = naiveLandmarkKeep(x.qa, x.ka, nq, nk, d, bs, topK, local);
    const nKB = Math.ceil(nk / bs);
    const counts = retrievedCounts(rows, nq, nk, { blockSize: bs, topK, local });
    for (let i = 0; i < nq; i++) {
      let c = 0;
      for (let j = 0; j < nk; j++) {
        const pos = i + nk - nq;
        const mine = j <= pos && (pos - j < local || rows[i * nKB + Math.floor(j / bs)] === 1);
        assert.equal(mine, keep(i, j), `nq=${nq} nk=${nk} row ${i} key ${j}`);
        c += mine ? 1 : 0;
      }
      assert.equal(counts[i], c);
    }
    disposeAll(x);
  }
  assert.throws(() => landmarkRows(new Float32Array(2), new Float32Array(2), 1, 1, 2, { blockSize: 0 }), /blockSize must be a positive integer/);
});

test('landmark: the variant equals float64 attention over retrieved blocks ∪ local window on CPU and WebGPU', async () => {
  const reg = registerVariants();
  try {
    for (const dev of await devices()) {
      for (const [B, H, n, D, bs, topK, local] of [[1, 1, 1, 8, 4, 1, 1], [1, 2, 45, 16, 8, 2, 8], [2, 2, 150, 32, 16, 3, 20]] as const) {
        const x = qkv(dev, n + bs * 3, B, H, n, n, D);
        const res = await getAttention('landmark').forward(x.q, x.k, x.v, { mask: causal(), causal: true, options: { blockSize: bs, topK, local } });
        const out = (await res.out.data()) as Float32Array;
        for (let i = 0; i < B * H; i++) {
          const sl = (a: Float32Array): Float32Array => a.subarray(i * n * D, (i + 1) * n * D);
          const keep = naiveLandmarkKeep(sl(x.qa), sl(x.ka), n, n, D, bs, topK, local);
          const ref = naiveAttention(sl(x.qa), sl(x.ka), sl(x.va), { B: 1, H: 1, Nq: n, Nk: n, D }, { keep: (_h, q, k) => keep(q, k) });
          assert.ok(maxAbsDiff(out.subarray(i * n * D, (i + 1) * n * D), ref) <= 1e-5, `${dev.kind} n=${n} head ${i}`);
        }
        disposeAll(x);
      }
    }
  } finally {
    reg.dispose();
  }
});
