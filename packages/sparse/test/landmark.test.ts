import { test } from 'node:test';
import assert from 'node:assert/strict';
import { causal, getAttention } from '@attnlab/attention';
import { landmarkRows, naiveLandmarkKeep, retrievedCounts } from '../src/landmark/index.js';
import { naiveAttention, maxAbsDiff } from '../src/flash-attention/naive.js';
import { registerVariants } from '../src/index.js';
import { devices, disposeAll, qkv } from './util.js';
import { cpuDevice, sum, tensor } from '@attnlab/tensor';
import { gaussian, rng } from '../src/common/random.js';

const cpuOnly = cpuDevice();

test('landmark: retrieved blocks are the top-k by q·mean(k_block) among complete blocks before the window', () => {
  for (const [nq, nk, d, bs, topK, local, pool] of [[1, 1, 4, 1, 1, 1, 'mean'], [20, 20, 3, 4, 2, 4, 'max'], [17, 50, 8, 5, 3, 7, 'mean'], [64, 64, 16, 16, 1, 16, 'max'], [9, 9, 2, 3, 10, 1, 'mean']] as const) {
    const x = qkv(cpuOnly, nq * 13 + nk, 1, 1, nq, nk, d);
    const rows = landmarkRows(x.qa, x.ka, nq, nk, d, { blockSize: bs, topK, local, pool });
    const keep = naiveLandmarkKeep(x.qa, x.ka, nq, nk, d, bs, topK, local, pool);
    const nKB = Math.ceil(nk / bs);
    const counts = retrievedCounts(rows, nq, nk, { blockSize: bs, topK, local, pool });
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

test('landmark-grouped: the grouped softmax (all blocks and top-k) equals its float64 definition on CPU and WebGPU; gradients flow', async () => {
  const { groupedLandmarkAttention, naiveGroupedLandmark } = await import('../src/landmark/index.js');
  for (const dev of await devices()) {
    for (const [H, N, D, bs, topK, every] of [[1, 4, 4, 2, undefined, 1], [2, 48, 8, 8, undefined, 1], [2, 64, 16, 16, 2, 1], [1, 40, 8, 4, 1, 2]] as const) {
      // every = 2: only every other block carries a landmark (the others are unreachable from later blocks).
      const landmarks = Uint8Array.from({ length: N }, (_, p) => (p % bs === bs - 1 && Math.floor(p / bs) % every === 0 ? 1 : 0));
      const x = qkv(dev, N + bs, 1, H, N, N, D);
      const r = await groupedLandmarkAttention(x.q, x.k, x.v, { blockSize: bs, landmarks, ...(topK !== undefined ? { topK } : {}) });
      const out = (await r.out.data()) as Float32Array;
      for (let h = 0; h < H; h++) {
        const sl = (a: Float32Array): Float32Array => a.subarray(h * N * D, (h + 1) * N * D);
        const ref = naiveGroupedLandmark(sl(x.qa), sl(x.ka), sl(x.va), N, D, bs, landmarks, topK);
        assert.ok(maxAbsDiff(out.subarray(h * N * D, (h + 1) * N * D), ref) <= 1e-5, `${dev.kind} N=${N} bs=${bs} topK=${topK} head ${h}`);
      }
      disposeAll(x);
    }
  }
  const q = tensor(gaussian(rng(1), 32 * 4), [1, 1, 32, 4]).requireGrad();
  const landmarks = Uint8Array.from({ length: 32 }, (_, p) => (p % 8 === 7 ? 1 : 0));
  const r = await groupedLandmarkAttention(q, q, q, { blockSize: 8, landmarks });
  sum(r.out).backward();
  assert.ok(q.grad && ((await q.grad.data()) as Float32Array).some((g) => g !== 0), 'q receives a gradient');
  await assert.rejects(groupedLandmarkAttention(q, q, q, { blockSize: 5, landmarks }), /not a multiple of blockSize 5/);
});
