import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBlockMask, causal, slidingWindow, sinks, or, and, maskMod } from '../src/index.js';
import { rng } from './util.js';

/** Check block classification against brute force: full = all in-range kept, absent = none kept. */
function checkAgainstBruteForce(bm: ReturnType<typeof createBlockMask>, B: number, H: number): void {
  const f = bm.mask.evaluator(bm.Nq, bm.Nk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let qb = 0; qb < bm.nQB; qb++) {
        const { partial, full } = bm.kvBlocks(b, h, qb);
        for (let kb = 0; kb < bm.nKB; kb++) {
          let kept = 0;
          let total = 0;
          for (let q = qb * bm.qBlock; q < Math.min((qb + 1) * bm.qBlock, bm.Nq); q++) {
            for (let k = kb * bm.kBlock; k < Math.min((kb + 1) * bm.kBlock, bm.Nk); k++) {
              total++;
              if (f(b, h, q, k)) kept++;
            }
          }
          const want = kept === 0 ? 'empty' : kept === total ? 'full' : 'partial';
          const got = full.includes(kb) ? 'full' : partial.includes(kb) ? 'partial' : 'empty';
          assert.equal(got, want, `${bm.mask.name} b=${b} h=${h} qb=${qb} kb=${kb}`);
        }
      }
      // toDense equals the mask exactly.
      const dense = bm.toDense(b, h);
      for (let q = 0; q < bm.Nq; q++) for (let k = 0; k < bm.Nk; k++) assert.equal(dense[q * bm.Nk + k], f(b, h, q, k) ? 1 : 0);
    }
  }
}

test('createBlockMask: named masks (interval path) classify tiles exactly, incl. Nq != Nk and ragged edges', () => {
  const masks = [causal(), slidingWindow(5), or(sinks(3), slidingWindow(7)), and(causal(), slidingWindow(20)), slidingWindow(4, { causal: false })];
  for (const m of masks) {
    for (const [Nq, Nk, bs] of [[37, 37, 8], [5, 37, 4], [37, 11, 4], [1, 13, 16], [64, 64, 16], [33, 70, [8, 16]]] as const) {
      const bm = createBlockMask(m, { B: 1, H: 1, Nq, Nk, blockSize: bs as number | [number, number] });
      checkAgainstBruteForce(bm, 1, 1);
    }
  }
});

test('createBlockMask: user masks, per-head masks, random block masks, density', () => {
  const r = rng(3);
  const H = 3;
  const blk = Array.from({ length: H }, () => Array.from({ length: 4 }, () => Array.from({ length: 4 }, () => (r() < 0.4 ? 1 : 0))));
  const randomBlocks = maskMod((b, h, q, k) => blk[h]![Math.floor(q / 8)]![Math.floor(k / 8)] === 1, { captures: { blk } });
  const bm = createBlockMask(randomBlocks, { B: 2, H, Nq: 30, Nk: 29, blockSize: 8 });
  assert.equal(bm.Bm, 1);
  assert.equal(bm.Hm, H);
  checkAgainstBruteForce(bm, 2, H);
  // Every active tile of an aligned random block mask is full.
  assert.equal([...bm.kvNum].reduce((a, b) => a + b, 0), 0);
  const ones = blk.flat(2).reduce((a: number, b) => a + b, 0);
  assert.ok(Math.abs(bm.density() - ones / (H * 16)) < 1e-12);

  const ph = createBlockMask([causal(), slidingWindow(3), (b: number, h: number, q: number, k: number) => (q + k) % 3 === 0], { B: 1, H: 3, Nq: 20, Nk: 20, blockSize: 4 });
  checkAgainstBruteForce(ph, 1, 3);
  const full = createBlockMask(() => true, { B: 1, H: 1, Nq: 10, Nk: 10, blockSize: 4 });
  assert.equal(full.density(), 1);
  const none = createBlockMask(() => false, { B: 1, H: 1, Nq: 10, Nk: 10, blockSize: 4 });
  assert.equal(none.density(), 0);
  const c = createBlockMask(causal(), { B: 1, H: 1, Nq: 256, Nk: 256, blockSize: 64 });
  assert.equal(c.density(), 10 / 16);
  // Transposed tables list the same tiles.
  let nT = 0;
  for (let i = 0; i < c.nKB; i++) nT += c.qNum[i]! + c.fullQNum[i]!;
  assert.equal(nT, 10);
  assert.throws(() => createBlockMask(causal(), { B: 1, H: 0, Nq: 4, Nk: 4 }), /H must be an integer/);
  assert.throws(() => createBlockMask([causal()], { B: 1, H: 2, Nq: 4, Nk: 4 }), /1 per-head masks for H = 2/);
});

test('createBlockMask: N = 8192 causal+window is fast via intervals', () => {
  const t0 = performance.now();
  const bm = createBlockMask(or(sinks(4), slidingWindow(1024)), { B: 1, H: 8, Nq: 8192, Nk: 8192, blockSize: 64 });
  const ms = performance.now() - t0;
  assert.ok(bm.density() > 0.1 && bm.density() < 0.2, String(bm.density()));
  console.log(`blockmask 8192 named: ${ms.toFixed(1)} ms, density ${bm.density().toFixed(4)}`);
});
