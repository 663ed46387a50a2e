import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attention } from '@attnlab/attention';
import { powerMask, naivePower } from '../src/power-attention/index.js';
import { reachability, receptiveField } from '../src/mask-algebra/index.js';
import { naiveAttention, maxAbsDiff } from '../src/flash-attention/naive.js';
import { denseMask } from '../src/common/dense.js';
import { devices, disposeAll, qkv } from './util.js';

test('power-attention: the compiled mask equals the enumerated offsets {0..local-1} ∪ {2^m}', () => {
  for (const [n, w] of [[1, 1], [2, 1], [40, 3], [257, 1], [100, 8]] as const) assert.deepEqual(denseMask(powerMask({ length: n, local: w }), n), naivePower(n, w), `n=${n} local=${w}`);
  assert.throws(() => powerMask({ length: 0 }), /length must be a positive integer/);
  assert.throws(() => powerMask({ length: 4, local: 0 }), /local must be an integer >= 1/);
});

test('power-attention: after d layers every query reaches the min(q+1, 2^d) keys before it with no gap', () => {
  const n = 300;
  const R = reachability(naivePower(n), n, 8);
  R.forEach((m, i) => {
    const d = i + 1;
    for (let q = 0; q < n; q++) assert.ok(receptiveField(m, n, q).contiguous >= Math.min(q + 1, 2 ** d), `d=${d} q=${q}`);
  });
  // Sums of d offsets from {0, 1, 2, 4, ...} cover every distance with at most d one-bits: 2^(d+1) - 1 in a row.
  assert.equal(receptiveField(R[2]!, n, n - 1).contiguous, 2 ** 4 - 1);
});

test('power-attention: attention under the power mask matches float64 on CPU and WebGPU', async () => {
  for (const dev of await devices()) {
    for (const [n, D, w] of [[1, 16, 1], [65, 32, 2], [150, 64, 4]] as const) {
      const x = qkv(dev, n + w, 1, 2, n, n, D);
      const keep = naivePower(n, w);
      const got = await attention(x.q, x.k, x.v, { mask: powerMask({ length: n, local: w }) });
      const ref = naiveAttention(x.qa, x.ka, x.va, { B: 1, H: 2, Nq: n, Nk: n, D }, { keep: (_h, q, k) => keep[q * n + k] === 1 });
      assert.ok(maxAbsDiff(await got.out.data(), ref) <= 1e-5, `${dev.kind} n=${n}`);
      disposeAll(x);
    }
  }
});
