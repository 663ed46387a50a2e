import { test } from 'node:test';
import assert from 'node:assert/strict';
import { causal, getAttention } from '@attnlab/attention';
import { blockTargets, distillSeerGate, gateProbs, initSeerGate, naiveGateProbs, naiveTopKKeep, selectBlocks, type SeerSample } from '../src/seer-attention/index.js';
import { causalProbs64 } from '../src/block-select/index.js';
import { naiveAttention, maxAbsDiff } from '../src/flash-attention/naive.js';
import { gaussian, rng } from '../src/common/random.js';
import { registerVariants } from '../src/index.js';
import { devices, disposeAll, qkv } from './util.js';

test('seer-attention: gate scores match the float64 definition; selection keeps the diagonal plus the top-k', () => {
  const r = rng(3);
  for (const [nq, nk, d, bs, topK] of [[1, 1, 2, 1, 1], [9, 9, 3, 4, 1], [40, 70, 8, 16, 2], [33, 33, 5, 8, 0]] as const) {
    const gate = initSeerGate({ layers: 2, heads: 2, dHead: d, hidden: 4, blockSize: bs }, 7);
    const q = gaussian(r, nq * d);
    const k = gaussian(r, nk * d);
    const got = gateProbs(gate, 3, q, k, nq, nk);
    const want = naiveGateProbs(gate, 3, q, k, nq, nk);
    const nKB = Math.ceil(nk / bs);
    want.forEach((row, qb) => row.forEach((x, kb) => assert.ok(Math.abs(got[qb * nKB + kb]! - x) <= 1e-12, `nq=${nq} tile ${qb},${kb}`)));
    const t = selectBlocks(got, nq, nk, bs, { topK });
    const keep = naiveTopKKeep(want, nq, nk, bs, topK);
    for (let i = 0; i < nq; i++) for (let j = 0; j < nk; j++) {
      const mine = j <= i + nk - nq && t[Math.floor(i / bs) * nKB + Math.floor(j / bs)] === 1;
      assert.equal(mine, keep(i, j), `nq=${nq} nk=${nk} (${i}, ${j})`);
    }
  }
  assert.throws(() => selectBlocks(new Float64Array(1), 1, 1, 1, {}), /exactly one of topK and threshold/);
  assert.throws(() => initSeerGate({ layers: 0, heads: 1, dHead: 1, hidden: 1, blockSize: 1 }), /layers must be a positive integer/);
});

test('seer-attention: distillation lowers the KL to the dense block-pooled attention and reports the gate’s float64 KL', async () => {
  // Keys in a few directions, queries near one of them: attention concentrated on some blocks.
  const r = rng(11);
  const n = 96;
  const d = 8;
  const bs = 16;
  const samples: SeerSample[] = [];
  for (let s = 0; s < 4; s++) {
    const k = gaussian(r, n * d);
    const q = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const j = Math.floor(r() * (i + 1));
      for (let e = 0; e < d; e++) q[i * d + e] = 2 * k[j * d + e]! + 0.3 * gaussian(r, 1)[0]!;
    }
    samples.push({ q: [q], k: [k], target: [blockTargets(causalProbs64(q, k, n, n, d), n, n, bs)], nq: n, nk: n });
  }
  const gate0 = initSeerGate({ layers: 1, heads: 1, dHead: d, hidden: 8, blockSize: bs }, 1);
  const { gate, losses } = await distillSeerGate(gate0, samples, { steps: 150, lr: 3e-2 });
  assert.ok(losses.at(-1)! < 0.5 * losses[0]!, `KL ${losses[0]} -> ${losses.at(-1)}`);
  assert.ok(losses.every((l) => l > -1e-4), 'KL is non-negative');
  // The loss reported equals the float64 KL of the trained gate on the samples.
  let kl = 0;
  let rows = 0;
  for (const s of samples) {
    const p = gateProbs(gate, 0, s.q[0]!, s.k[0]!, n, n);
    const t = s.target[0]!;
    for (let i = 0; i < t.length; i++) if (t[i]! > 0) kl += t[i]! * Math.log(t[i]! / p[i]!);
    rows += Math.ceil(n / bs);
  }
  assert.ok(Math.abs(kl / rows - losses.at(-1)!) < 0.05, `KL ${kl / rows} vs reported ${losses.at(-1)}`);
});

test('seer-attention: the variant equals float64 attention over the selected tiles on CPU and WebGPU', async () => {
  const reg = registerVariants();
  try {
    for (const dev of await devices()) {
      for (const [B, H, n, D, bs, topK] of [[1, 1, 1, 8, 16, 1], [1, 2, 50, 16, 16, 1], [2, 2, 133, 32, 32, 2]] as const) {
        const gate = initSeerGate({ layers: 2, heads: H, dHead: D, hidden: 8, blockSize: bs }, n);
        const x = qkv(dev, n + 100, B, H, n, n, D);
        const res = await getAttention('seer-attention').forward(x.q, x.k, x.v, { mask: causal(), causal: true, layer: 1, options: { gate, topK } });
        const out = (await res.out.data()) as Float32Array;
        for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
          const i = b * H + h;
          const sl = (a: Float32Array): Float32Array => a.subarray(i * n * D, (i + 1) * n * D);
          const keep = naiveTopKKeep(naiveGateProbs(gate, H + h, sl(x.qa), sl(x.ka), n, n), n, n, bs, topK);
          const ref = naiveAttention(sl(x.qa), sl(x.ka), sl(x.va), { B: 1, H: 1, Nq: n, Nk: n, D }, { keep: (_h, q, k) => keep(q, k) });
          assert.ok(maxAbsDiff(out.subarray(i * n * D, (i + 1) * n * D), ref) <= 1e-5, `${dev.kind} n=${n} b=${b} h=${h}`);
        }
        disposeAll(x);
      }
      const x = qkv(dev, 1, 1, 1, 8, 8, 4);
      await assert.rejects(getAttention('seer-attention').forward(x.q, x.k, x.v, { options: { topK: 1 } }), /option gate must be a SeerGate/);
      disposeAll(x);
    }
  } finally {
    reg.dispose();
  }
});
