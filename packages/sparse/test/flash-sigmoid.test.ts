import { test } from 'node:test';
import assert from 'node:assert/strict';
import { causal, createBlockMask, getAttention, maskMod, type BlockMask, type MaskMod } from '@attnlab/attention';
import { flashSigmoid, flashSigmoidVariant, naiveSigmoidAttention, sigmoidBias } from '../src/flash-sigmoid/index.js';
import { maxAbsDiff } from '../src/flash-attention/naive.js';
import { rng } from '../src/common/random.js';
import { registerVariants } from '../src/index.js';
import { devices, disposeAll, qkv } from './util.js';

type MaskCase = { mask: MaskMod | BlockMask | null; keep: ((h: number, q: number, k: number) => boolean) | null };

function randomBlocks(seed: number, n: number, H: number, nk: number, blk: number): MaskCase {
  const r = rng(seed);
  const nb = Math.ceil(n / blk) * Math.ceil(nk / blk);
  const t = Int32Array.from({ length: nb }, () => (r() < 0.5 ? 1 : 0));
  const cols = Math.ceil(nk / blk);
  const m = maskMod((b, h, q, k) => t[Math.floor(q / blk) * cols + Math.floor(k / blk)] === 1, { captures: { t, blk, cols } });
  return { mask: createBlockMask(m, { B: 1, H, Nq: n, Nk: nk, blockSize: blk }), keep: (_h, q, k) => t[Math.floor(q / blk) * cols + Math.floor(k / blk)] === 1 };
}

test('flash-sigmoid: attention with b = -log n matches the float64 reference on CPU and WebGPU (random shapes, edge sizes, masks, bias)', async () => {
  const r = rng(11);
  for (const dev of await devices()) {
    const cases: [number, number, number, number, number][] = [[1, 1, 1, 1, 8], [1, 2, 7, 7, 16], [2, 3, 65, 65, 32], [1, 2, 33, 130, 64], [1, 1, 129, 129, 128]];
    for (let i = 0; i < 3; i++) cases.push([1 + Math.floor(r() * 2), 1 + Math.floor(r() * 3), 1 + Math.floor(r() * 150), 0, [8, 16, 32, 64][Math.floor(r() * 4)]!]);
    for (const [ci, [B, H, Nq, Nk0, D]] of cases.entries()) {
      const Nk = Nk0 || Nq;
      const x = qkv(dev, 100 + ci, B, H, Nq, Nk, D);
      const masks: MaskCase[] = [{ mask: null, keep: null }];
      if (Nq === Nk) masks.push({ mask: causal(), keep: (_h, q, k) => k <= q });
      if (B === 1) masks.push(randomBlocks(ci, Nq, H, Nk, 16));
      for (const [mi, mc] of masks.entries()) {
        const bias = mi === 1 ? 0.75 : undefined;
        const got = await flashSigmoid(x.q, x.k, x.v, { mask: mc.mask, ...(bias !== undefined ? { bias } : {}) });
        const ref = naiveSigmoidAttention(x.qa, x.ka, x.va, { B, H, Nq, Nk, D }, { bias: bias ?? -Math.log(Nk), keep: mc.keep });
        const err = maxAbsDiff(await got.out.data(), ref);
        // With b = -log n the weights are ~1/n and outputs O(1): 1e-5 absolute. A bias of 0.75 makes
        // every weight ~0.7 with no normaliser, so outputs grow like sqrt(n): 1e-5 relative to the largest.
        const tol = bias === undefined ? 1e-5 : 1e-5 * Math.max(1, ref.reduce((m, y) => Math.max(m, Math.abs(y)), 0));
        assert.ok(err <= tol, `${dev.kind} B=${B} H=${H} Nq=${Nq} Nk=${Nk} D=${D} mask ${mi}: max |Δ| = ${err} > ${tol}`);
        got.out.dispose();
        got.lse.dispose();
      }
      disposeAll(x);
    }
  }
});

test('flash-sigmoid: the registered variant reads option bias, returns σ(s + b) weights, and rejects a bad bias', async () => {
  const reg = registerVariants();
  try {
    const v = getAttention('flash-sigmoid');
    for (const dev of await devices()) {
      const x = qkv(dev, 7, 1, 2, 9, 9, 16);
      const res = await v.forward(x.q, x.k, x.v, { mask: causal(), causal: true, options: { bias: -1.5 }, returnProbs: true });
      const ref = naiveSigmoidAttention(x.qa, x.ka, x.va, { B: 1, H: 2, Nq: 9, Nk: 9, D: 16 }, { bias: -1.5, keep: (_h, q, k) => k <= q });
      assert.ok(maxAbsDiff(await res.out.data(), ref) <= 1e-5, dev.kind);
      const p = await res.probs!.data();
      const s = Math.exp(1.5);
      // Row 0 keeps only key 0: its weight is σ(q0·k0/4 - 1.5).
      let dot = 0;
      for (let d = 0; d < 16; d++) dot += x.qa[d]! * x.ka[d]!;
      assert.ok(Math.abs(p[0]! - 1 / (1 + s * Math.exp(-dot / 4))) <= 1e-5, `${dev.kind} weight ${p[0]}`);
      assert.equal(p[1], 0);
      disposeAll(x);
    }
  } finally {
    reg.dispose();
  }
  assert.equal(sigmoidBias('log-n', 100), -Math.log(100));
  assert.throws(() => sigmoidBias(Number.NaN, 4), /bias must be a finite number/);
  assert.equal(flashSigmoidVariant.name, 'flash-sigmoid');
});
