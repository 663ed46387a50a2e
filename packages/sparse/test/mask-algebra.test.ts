import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boolMatmul, boolMatmulNaive, reachability, reachabilityOnDevice, receptiveField, slidingPattern, dilatedPattern, stridedPattern } from '../src/mask-algebra/index.js';
import { rng } from '../src/common/random.js';
import { devices } from './util.js';

const randomMask = (r: () => number, n: number, p: number): Uint8Array => Uint8Array.from({ length: n * n }, () => (r() < p ? 1 : 0));

test('mask-algebra: bit-parallel boolean products and M^d equal the naive triple loop (random sizes incl. 1, 31, 33, 65)', () => {
  const r = rng(1);
  for (const n of [1, 2, 31, 32, 33, 65, 1 + Math.floor(r() * 90)]) {
    const a = randomMask(r, n, 0.1);
    const b = randomMask(r, n, 0.2);
    assert.deepEqual(boolMatmul(a, b, n), boolMatmulNaive(a, b, n), `n=${n}`);
    const R = reachability(a, n, 3);
    assert.deepEqual(R[2], boolMatmulNaive(boolMatmulNaive(a, a, n), a, n), `n=${n} M^3`);
  }
  assert.throws(() => boolMatmul(new Uint8Array(3), new Uint8Array(4), 2), /matrix has 3 entries, expected 2 x 2/);
  assert.throws(() => reachability(new Uint8Array(4), 2, 0), /layers must be a positive integer/);
});

test('mask-algebra: M^d on the tensor device (float32 matmuls) equals the exact product on CPU and WebGPU', async () => {
  const r = rng(2);
  for (const dev of await devices()) {
    for (const [n, d] of [[1, 3], [17, 2], [70, 4], [129, 3]] as const) {
      const m = randomMask(r, n, 3 / n);
      for (let i = 0; i < n; i++) m[i * n + i] = 1;
      assert.deepEqual(await reachabilityOnDevice(m, n, d, dev), reachability(m, n, d)[d - 1], `${dev.kind} n=${n} d=${d}`);
    }
  }
});

test('mask-algebra: a sliding window of width w reaches d(w-1)+1 keys after d layers, gap-free; patterns are causal', () => {
  const n = 200;
  for (const w of [1, 2, 5, 9]) {
    const R = reachability(slidingPattern(n, w), n, 6);
    R.forEach((m, i) => {
      const f = receptiveField(m, n, n - 1);
      assert.deepEqual([f.count, f.contiguous, f.gaps], [Math.min(n, (i + 1) * (w - 1) + 1), Math.min(n, (i + 1) * (w - 1) + 1), 0], `w=${w} d=${i + 1}`);
    });
  }
  for (const m of [dilatedPattern(50, 4, 3), stridedPattern(50, 3, 7)]) for (let q = 0; q < 50; q++) for (let k = q + 1; k < 50; k++) assert.equal(m[q * 50 + k], 0);
  assert.deepEqual(receptiveField(dilatedPattern(50, 4, 3), 50, 49), { count: 4, contiguous: 1, gaps: 6 });
});
