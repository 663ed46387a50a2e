/**
 * Packed variable-length documents for softmax / sigmoid attention (cuSeqlens, document masks and
 * document block masks; issue 13): forward, lse and gradients (dq, dk, dv, captured tensors) on the
 * CPU and on WebGPU (rowwise and tiled kernels) against a float64 reference that attends each
 * document alone (test/varlen-ref.ts), on random document lengths including 1, odd lengths and
 * lengths that are not multiples of the tile size.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuDevice, getDevice, tensor, sum, mul, add, TensorError, type Device, type Tensor } from '@attnlab/tensor';
import {
  attention, attentionWeights, attentionWeightsFromLse, causal, slidingWindow, maskMod, scoreMod, createBlockMask, createDocumentBlockMask, documentMask,
  cuSeqlensFromDocumentIds, ModError, type MaskLike, type ScoreMod, type AttentionOptions,
} from '../src/index.js';
import { docRef, randomDocs, type DocRefOptions } from './varlen-ref.js';
import { rng, randn } from './util.js';

type Kernel = 'rowwise' | 'tiled';

async function targets(): Promise<[Device, Kernel][]> {
  // WebGPU must be there (SwiftShader in CI): a missing adapter fails the test, never skips it.
  const gpu = await getDevice({ prefer: 'webgpu' });
  assert.equal(gpu.kind, 'webgpu', 'no WebGPU adapter');
  return [[cpuDevice(), 'rowwise'], [gpu, 'rowwise'], [gpu, 'tiled']];
}

/** max |a - b| / max(1, |b|), equal infinities counting as equal. */
function err(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    const d = Math.abs(x - y) / Math.max(1, Math.abs(y));
    if (!(d <= m)) m = d;
  }
  return m;
}

const causalKeep = (_h: number, q: number, k: number, qLen: number, kLen: number): boolean => k <= q + kLen - qLen;
const windowKeep = (w: number) => (h: number, q: number, k: number, qLen: number, kLen: number): boolean => causalKeep(h, q, k, qLen, kLen) && q + kLen - qLen - k < w;

const alibi = {
  mod: scoreMod((s, b, h, q, k) => s - 0.25 * (h + 1) * Math.abs(q - k), { name: 'alibi' }),
  f: (s: number, h: number, q: number, k: number) => s - 0.25 * (h + 1) * Math.abs(q - k), df: () => 1,
};
/** A bias on the absolute key position: only document positions make a packed call equal the documents alone. */
const keyBias = {
  mod: scoreMod((s, b, h, q, k) => s + 0.05 * (h + 1) * k - 0.02 * q, { name: 'key position bias' }),
  f: (s: number, h: number, q: number, k: number) => s + 0.05 * (h + 1) * k - 0.02 * q, df: () => 1,
};
const softcap = {
  mod: scoreMod((s) => 20 * Math.tanh(s / 20), { name: 'softcap' }),
  f: (s: number) => 20 * Math.tanh(s / 20), df: (s: number) => 1 - Math.tanh(s / 20) ** 2,
};

interface Case {
  label: string;
  cuQ: number[];
  /** Keys packed differently (Nq != Nk). */
  cuK?: number[];
  Hq: number;
  Hkv: number;
  D: number;
  Dv?: number;
  mask?: MaskLike | MaskLike[];
  keep?: DocRefOptions['keep'];
  mod?: { mod: ScoreMod; f: NonNullable<DocRefOptions['mod']>['f']; df: NonNullable<DocRefOptions['mod']>['df'] };
  sigmoid?: boolean;
  sigmoidBias?: number;
  /** Pass a document BlockMask with this tile size instead of cuSeqlens. */
  block?: number | [number, number];
}

async function check(dev: Device, kernel: Kernel, c: Case, seed: number): Promise<void> {
  const r = rng(seed);
  const cuK = c.cuK ?? c.cuQ;
  const Nq = c.cuQ.at(-1)!;
  const Nk = cuK.at(-1)!;
  const { Hq, Hkv, D } = c;
  const Dv = c.Dv ?? D;
  const qa = randn(r, Hq * Nq * D);
  const ka = randn(r, Hkv * Nk * D);
  const va = randn(r, Hkv * Nk * Dv);
  const q = tensor(qa, [1, Hq, Nq, D], { device: dev, requiresGrad: true });
  const k = tensor(ka, [1, Hkv, Nk, D], { device: dev, requiresGrad: true });
  const v = tensor(va, [1, Hkv, Nk, Dv], { device: dev, requiresGrad: true });
  const opts: AttentionOptions = { kernel, scoreMod: c.mod?.mod ?? null, normalize: c.sigmoid ? 'sigmoid' : 'softmax' };
  if (c.sigmoidBias !== undefined) opts.sigmoidBias = c.sigmoidBias;
  if (c.block !== undefined) {
    opts.mask = createDocumentBlockMask(c.cuQ, { mask: c.mask ?? null, H: Hq, blockSize: c.block, cuSeqlensK: c.cuK ?? null });
  } else {
    opts.mask = (c.mask ?? null) as AttentionOptions['mask'];
    opts.cuSeqlens = c.cuQ;
    if (c.cuK) opts.cuSeqlensK = c.cuK;
  }
  const res = await attention(q, k, v, opts);
  const refOpts: DocRefOptions = { cuQ: c.cuQ, cuK, Hq, Hkv, D, Dv, scale: 1 / Math.sqrt(D), ...(c.keep ? { keep: c.keep } : {}), ...(c.mod ? { mod: c.mod } : {}), sigmoid: c.sigmoid ?? false, ...(c.sigmoidBias !== undefined ? { sigmoidBias: c.sigmoidBias } : {}) };
  const base = docRef(qa, ka, va, refOpts);
  const gOut = randn(r, base.out.length);
  // Upstream lse gradient, zero on empty rows (lse -Infinity has no gradient).
  const gLse = randn(r, base.lse.length).map((x, i) => (Number.isFinite(base.lse[i]!) ? x : 0));
  const ref = docRef(qa, ka, va, refOpts, gOut, gLse);
  const label = `${dev.kind}/${kernel} ${c.label} cu=[${c.cuQ.join(',')}]${c.cuK ? ` cuK=[${c.cuK.join(',')}]` : ''}`;
  const eo = err(await res.out.data(), ref.out);
  assert.ok(eo <= 2e-5, `out err ${eo} ${label}`);
  const el = err(await res.lse.data(), ref.lse);
  assert.ok(el <= 2e-5, `lse err ${el} ${label}`);
  const t = (a: Float32Array, s: readonly number[]): Tensor => tensor(a, s, { device: dev });
  add(sum(mul(res.out, t(gOut, res.out.shape))), sum(mul(res.lse, t(gLse, res.lse.shape)))).backward();
  for (const [name, x, want] of [['dq', q, ref.dq], ['dk', k, ref.dk], ['dv', v, ref.dv]] as const) {
    const e = err(await (x.grad as Tensor).data(), want);
    assert.ok(e <= 5e-5, `${name} err ${e} ${label}`);
  }
}

function cases(seed: number): Case[] {
  const r = rng(seed);
  // Totals around 150: documents straddle the 64-row tiles; lengths 1, odd, longer than a tile.
  const docs = (N: number, maxLen: number): number[] => randomDocs(r, N, maxLen);
  const cuQ = docs(151, 70);
  // Keys: each document gets 0..3 extra keys in front (a cache), so Nq != Nk.
  const cuK = [0];
  for (let d = 1; d < cuQ.length; d++) cuK.push(cuK[d - 1]! + cuQ[d]! - cuQ[d - 1]! + Math.floor(r() * 4));
  // Not translation invariant: packed positions would keep other pairs.
  const odd = maskMod((b, h, q, k) => (q * k + h) % 3 !== 0, { name: 'odd' });
  const oddKeep = (h: number, q: number, k: number): boolean => (q * k + h) % 3 !== 0;
  return [
    { label: 'softmax, no mask, D 16 (SIMD on the CPU)', cuQ, Hq: 2, Hkv: 1, D: 16 },
    { label: 'causal, GQA, Dv != D, key-position bias', cuQ: docs(133, 67), Hq: 4, Hkv: 2, D: 5, Dv: 3, mask: causal(), keep: causalKeep, mod: keyBias },
    { label: 'sliding window + ALiBi at document positions', cuQ: docs(97, 40), Hq: 2, Hkv: 2, D: 8, mask: slidingWindow(4), keep: windowKeep(4), mod: alibi },
    { label: 'user mask with empty rows + softcap', cuQ: docs(70, 9), Hq: 2, Hkv: 1, D: 7, mask: odd, keep: oddKeep, mod: softcap },
    { label: 'sigmoid, default per-document bias, causal', cuQ: docs(90, 50), Hq: 2, Hkv: 1, D: 8, mask: causal(), keep: causalKeep, sigmoid: true },
    { label: 'sigmoid, explicit bias, ALiBi', cuQ: docs(66, 30), Hq: 2, Hkv: 1, D: 4, sigmoid: true, sigmoidBias: -2, mod: alibi },
    { label: 'Nq != Nk (cuSeqlensK), causal bottom-right per document', cuQ, cuK, Hq: 2, Hkv: 1, D: 8, mask: causal(), keep: causalKeep },
    { label: 'document BlockMask, causal, 16-tiles, key-position bias', cuQ: docs(120, 45), Hq: 2, Hkv: 1, D: 8, mask: causal(), keep: causalKeep, mod: keyBias, block: 16 },
    { label: 'document BlockMask, user mask, 8x32 tiles', cuQ: docs(101, 33), Hq: 2, Hkv: 1, D: 6, mask: odd, keep: oddKeep, block: [8, 32] },
    { label: 'per-head masks', cuQ: docs(77, 30), Hq: 2, Hkv: 1, D: 4, mask: [causal(), slidingWindow(3)], keep: (h, q, k, ql, kl) => (h === 0 ? causalKeep(h, q, k, ql, kl) : windowKeep(3)(h, q, k, ql, kl)) },
  ];
}

test('cuSeqlens: packed documents match each document attended alone (float64), forward and gradients, CPU + WebGPU rowwise + tiled', async () => {
  const seed0 = Number(process.env['ATTNLAB_TEST_SEED'] ?? 11);
  let seed = seed0;
  for (const [dev, kernel] of await targets()) {
    for (const c of cases(seed0)) await check(dev, kernel, c, seed++);
  }
});

test('cuSeqlens: gradients into a captured relative-bias table read at document positions (central differences of float64)', async () => {
  const r = rng(5);
  const cuQ = randomDocs(r, 23, 9);
  const maxLen = Math.max(...cuQ.slice(1).map((x, i) => x - cuQ[i]!));
  const M = maxLen - 1;
  const Hq = 2;
  const D = 4;
  const Nq = cuQ.at(-1)!;
  const init = randn(r, Hq * (2 * M + 1), 0.5);
  const qa = randn(r, Hq * Nq * D);
  const ka = randn(r, Nq * D);
  const va = randn(r, Nq * D);
  const gOut = randn(r, Hq * Nq * D);
  // A relative table and an absolute key-position table (k < maxLen <= 2M + 1), both learnable.
  const src = `(s, b, h, q, k) => s + c[h][q - k + ${M}] * c[h][k]`;
  const refLoss = (table: Float32Array): number => {
    const res = docRef(qa, ka, va, {
      cuQ, cuK: cuQ, Hq, Hkv: 1, D, Dv: D, scale: 0.5, keep: causalKeep,
      mod: { f: (s, h, q, k) => s + table[h * (2 * M + 1) + q - k + M]! * table[h * (2 * M + 1) + k]!, df: () => 1 },
    });
    return res.out.reduce((a, x, i) => a + x * gOut[i]!, 0);
  };
  for (const [dev, kernel] of await targets()) {
    const c = tensor(init, [Hq, 2 * M + 1], { device: dev, requiresGrad: true });
    const mod = scoreMod(src, { captures: { c }, name: 'relative bias' });
    const q = tensor(qa, [1, Hq, Nq, D], { device: dev });
    const k = tensor(ka, [1, 1, Nq, D], { device: dev });
    const v = tensor(va, [1, 1, Nq, D], { device: dev });
    const res = await attention(q, k, v, { cuSeqlens: cuQ, mask: causal(), scoreMod: mod, kernel });
    sum(mul(res.out, tensor(gOut, res.out.shape, { device: dev }))).backward();
    const got = await (c.grad as Tensor).data();
    for (let i = 0; i < init.length; i++) {
      const h = 1e-3;
      const up = Float32Array.from(init);
      const dn = Float32Array.from(init);
      up[i] = up[i]! + h;
      dn[i] = dn[i]! - h;
      const want = (refLoss(up) - refLoss(dn)) / (up[i]! - dn[i]!);
      assert.ok(Math.abs(got[i]! - want) <= 2e-4 + 2e-3 * Math.abs(want), `${dev.kind}/${kernel}: d/dc[${i}] is ${got[i]}, central difference ${want} (cu [${cuQ.join(',')}])`);
    }
  }
});

test('createDocumentBlockMask: tiles across documents are absent, tiles are classified exactly, toDense is the per-document mask', () => {
  const r = rng(8);
  for (const [inner, keep, block] of [
    [null, () => true, 16],
    [causal(), causalKeep, 16],
    [slidingWindow(5), windowKeep(5), [8, 32]],
    [maskMod((b, h, q, k) => (q * k) % 4 !== 1, { name: 'odd' }), (_h: number, q: number, k: number) => (q * k) % 4 !== 1, 24],
  ] as [MaskLike | null, NonNullable<DocRefOptions['keep']>, number | [number, number]][]) {
    const cu = randomDocs(r, 203, 77);
    const N = 203;
    const bm = createDocumentBlockMask(cu, { mask: inner, blockSize: block });
    assert.deepEqual(bm.documents, { cuSeqlens: cu, cuSeqlensK: cu });
    const want = new Uint8Array(N * N);
    for (let d = 0; d + 1 < cu.length; d++) {
      const a = cu[d]!;
      const n = cu[d + 1]! - a;
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (keep(0, i, j, n, n)) want[(a + i) * N + a + j] = 1;
    }
    assert.deepEqual(bm.toDense(0, 0), want, `toDense ${bm}`);
    const [qB, kB] = Array.isArray(block) ? block : [block, block];
    for (let qb = 0; qb < bm.nQB; qb++) {
      const { partial, full } = bm.kvBlocks(0, 0, qb);
      for (let kb = 0; kb < bm.nKB; kb++) {
        let kept = 0;
        let all = 0;
        for (let i = qb * qB; i < Math.min(N, (qb + 1) * qB); i++) {
          for (let j = kb * kB; j < Math.min(N, (kb + 1) * kB); j++) {
            kept += want[i * N + j]!;
            all++;
          }
        }
        const state = full.includes(kb) ? 'full' : partial.includes(kb) ? 'partial' : 'absent';
        assert.equal(state, kept === 0 ? 'absent' : kept === all ? 'full' : 'partial', `tile (${qb}, ${kb}) of ${bm}`);
      }
    }
    // The same tables as a block mask evaluated element by element from the document MaskMod.
    const slow = createBlockMask(documentMask(inner, cu), { B: 1, H: 1, Nq: N, Nk: N, blockSize: block });
    assert.deepEqual(slow.kvNum, bm.kvNum);
    assert.deepEqual(slow.fullKvIdx, bm.fullKvIdx);
  }
});

test('cuSeqlens: naive impl and returnProbs follow the documents', async () => {
  const r = rng(21);
  const cu = randomDocs(r, 37, 12);
  const N = 37;
  const D = 4;
  const qa = randn(r, 2 * N * D);
  const ka = randn(r, N * D);
  const va = randn(r, N * D);
  for (const dev of [cpuDevice(), await getDevice({ prefer: 'webgpu' })]) {
    for (const sigmoid of [false, true]) {
      const t = (a: Float32Array, h: number): Tensor => tensor(a, [1, h, N, D], { device: dev });
      const normalize = sigmoid ? 'sigmoid' as const : 'softmax' as const;
      const ref = docRef(qa, ka, va, { cuQ: cu, cuK: cu, Hq: 2, Hkv: 1, D, Dv: D, scale: 0.5, keep: causalKeep, sigmoid });
      const naive = await attention(t(qa, 2), t(ka, 1), t(va, 1), { impl: 'naive', cuSeqlens: cu, mask: causal(), normalize });
      assert.ok(err(await naive.out.data(), ref.out) <= 2e-5, `${dev.kind} naive ${normalize}`);
      assert.ok(err(await naive.lse.data(), ref.lse) <= 2e-5, `${dev.kind} naive lse ${normalize}`);
      const flash = await attention(t(qa, 2), t(ka, 1), t(va, 1), { cuSeqlens: cu, mask: causal(), normalize, returnProbs: { heads: [1] } });
      const p = await flash.probs!.data();
      // Row i of head 1: weights only on its own document's keys up to i.
      for (let d = 0; d + 1 < cu.length; d++) {
        for (let i = cu[d]!; i < cu[d + 1]!; i++) {
          let inside = 0;
          for (let j = 0; j < N; j++) {
            const w = p[i * N + j]!;
            if (j < cu[d]! || j > i) assert.equal(w, 0, `${dev.kind} ${normalize}: row ${i} weighs key ${j} outside its document`);
            else inside += w;
          }
          const want = sigmoid ? Math.exp(ref.lse[N + i]!) : 1;
          assert.ok(Math.abs(inside - want) <= 1e-5, `${dev.kind} ${normalize}: row ${i} weights sum ${inside}, want ${want}`);
        }
      }
      // Inspection weights from a document mask: weights @ v is the per-document output.
      const refMod = docRef(qa, ka, va, { cuQ: cu, cuK: cu, Hq: 2, Hkv: 1, D, Dv: D, scale: 0.5, keep: causalKeep, sigmoid, mod: keyBias });
      const wOpts = { scale: 0.5, mask: documentMask(causal(), cu), normalize };
      const viaHost = await attentionWeights(t(qa, 2), t(ka, 1), { ...wOpts, scoreMod: keyBias.mod });
      const fromLse = attentionWeightsFromLse(t(qa, 2), t(ka, 1), naive.lse, wOpts);
      for (const [what, w, want] of [['attentionWeights', await viaHost.probs.data(), refMod.out], ['attentionWeightsFromLse', await fromLse.probs.data(), ref.out]] as const) {
        const o = new Float64Array(2 * N * D);
        for (let h = 0; h < 2; h++) for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) for (let c = 0; c < D; c++) o[(h * N + i) * D + c] += w[(h * N + i) * N + j]! * va[j * D + c]!;
        assert.ok(err(o, want) <= 2e-5, `${dev.kind} ${normalize}: ${what} @ v differs from the documents alone by ${err(o, want)}`);
      }
    }
  }
});

test('cuSeqlens: a score mod sees document positions (a key-position bias on the packed call = each document alone)', async () => {
  // The same document twice, packed: with local positions both copies give identical rows.
  const r = rng(3);
  const n = 13;
  const D = 4;
  const doc = randn(r, n * D);
  const packed = new Float32Array(2 * n * D);
  packed.set(doc, 0);
  packed.set(doc, n * D);
  for (const dev of [cpuDevice(), await getDevice({ prefer: 'webgpu' })]) {
    const x = tensor(packed, [1, 1, 2 * n, D], { device: dev });
    const res = await attention(x, x, x, { cuSeqlens: [0, n, 2 * n], mask: causal(), scoreMod: keyBias.mod });
    const o = await res.out.data();
    assert.deepEqual(Array.from(o.subarray(n * D)), Array.from(o.subarray(0, n * D)), `${dev.kind}: second copy differs`);
  }
});

test('cuSeqlens: bad layouts throw naming the problem', async () => {
  const dev = cpuDevice();
  const x = (N: number, B = 1): Tensor => tensor(new Float32Array(B * N * 2), [B, 1, N, 2], { device: dev });
  const bad: [string, Promise<unknown>, RegExp][] = [
    ['not increasing', attention(x(6), x(6), x(6), { cuSeqlens: [0, 4, 3, 6] }), /cuSeqlens must be strictly increasing.*cuSeqlens\[2\] = 3 after 4/],
    ['empty document', attention(x(6), x(6), x(6), { cuSeqlens: [0, 3, 3, 6] }), /strictly increasing \(every document non-empty\)/],
    ['wrong total', attention(x(6), x(6), x(6), { cuSeqlens: [0, 2, 5] }), /cuSeqlens must end at the packed length N = 6, got 5/],
    ['not integer', attention(x(6), x(6), x(6), { cuSeqlens: [0, 2.5, 6] }), /cuSeqlens\[1\] is 2.5: cumulative lengths must be integers/],
    ['NaN', attention(x(6), x(6), x(6), { cuSeqlens: [0, NaN, 6] }), /cuSeqlens\[1\] is NaN/],
    ['no start at 0', attention(x(6), x(6), x(6), { cuSeqlens: [1, 6] }), /cuSeqlens must start at 0, got 1/],
    ['one entry', attention(x(6), x(6), x(6), { cuSeqlens: [6] }), /at least \[0, N\]/],
    ['B > 1', attention(x(6, 2), x(6, 2), x(6, 2), { cuSeqlens: [0, 6] }), /needs B = 1, got B = 2/],
    ['Nq != Nk without cuSeqlensK', attention(x(4), x(6), x(6), { cuSeqlens: [0, 4] }), /pass cuSeqlensK/],
    ['cuSeqlensK wrong total', attention(x(4), x(6), x(6), { cuSeqlens: [0, 4], cuSeqlensK: [0, 5] }), /cuSeqlensK must end at the packed length N = 6/],
    ['document counts differ', attention(x(4), x(6), x(6), { cuSeqlens: [0, 4], cuSeqlensK: [0, 2, 6] }), /cuSeqlens has 1 documents but cuSeqlensK has 2/],
    ['cuSeqlensK alone', attention(x(6), x(6), x(6), { cuSeqlensK: [0, 6] }), /cuSeqlensK needs cuSeqlens/],
    ['plain BlockMask', attention(x(6), x(6), x(6), { cuSeqlens: [0, 6], mask: createBlockMask(causal(), { B: 1, H: 1, Nq: 6, Nk: 6 }) }), /BlockMask built without documents cannot take cuSeqlens/],
    ['mask for other documents', attention(x(6), x(6), x(6), { cuSeqlens: [0, 3, 6], mask: documentMask(causal(), [0, 2, 6]) }), /built for documents \[0, 2, 6\] but cuSeqlens is \[0, 3, 6\]/],
    ['document mask of another length', attention(x(6), x(6), x(6), { mask: documentMask(null, [0, 2, 5]) }), /document mask covers Nq = 5/],
  ];
  for (const [what, p, re] of bad) {
    await assert.rejects(p, (e: unknown) => (e instanceof TensorError || e instanceof ModError) && re.test((e as Error).message), what);
  }
  assert.throws(() => createDocumentBlockMask([0, 3, 2]), /strictly increasing/);
  // Cells are type-stripped: a misspelt option used to be ignored (attending across documents).
  await assert.rejects(attention(x(6), x(6), x(6), { cuSeqLens: [0, 3, 6] } as never), /attention: unknown option 'cuSeqLens' \(did you mean 'cuSeqlens'\?\)/);
  await assert.rejects(attention(x(6), x(6), x(6), { scoremod: null } as never), /unknown option 'scoremod' \(did you mean 'scoreMod'\?\)/);
  await assert.rejects(attention(x(6), x(6), x(6), { documentIds: [0, 0, 1] } as never), /unknown option 'documentIds'; options are scale, mask/);
  assert.throws(() => createDocumentBlockMask([0, 3], { blocksize: 16 } as never), /unknown option 'blocksize' \(did you mean 'blockSize'\?\)/);
  assert.throws(() => cuSeqlensFromDocumentIds([0, 0, 1, 0]), /documentIds\[3\] = 0 returns to a document that ended earlier/);
  assert.deepEqual(cuSeqlensFromDocumentIds([7, 7, 7, 2, 5, 5]), [0, 3, 4, 6]);
});

test('cuSeqlens edges: one token, decode (Nq = 1, split-K on the tiled kernel), huge finite scores, documents with only empty rows', async () => {
  // The first two keys of every document score 1e8: weights 1/2 each, lse 1e8 + log 2 (float32 cannot
  // hold it; the backward must not recompute the weights from it).
  const huge = { mod: scoreMod((s, b, h, q, k) => (k <= 1 ? 1e8 : s), { name: 'first two keys 1e8' }), f: (s: number, _h: number, _q: number, k: number) => (k <= 1 ? 1e8 : s), df: (_s: number, _h: number, _q: number, k: number) => (k <= 1 ? 0 : 1) };
  const late = maskMod((b, h, q, k) => q + k > 20, { name: 'q + k > 20' });
  const edges: Case[] = [
    { label: 'N = 1', cuQ: [0, 1], Hq: 1, Hkv: 1, D: 3 },
    { label: 'N = 1, causal, sigmoid', cuQ: [0, 1], Hq: 2, Hkv: 1, D: 4, mask: causal(), keep: causalKeep, sigmoid: true },
    { label: 'decode: Nq = 1 against 37 keys', cuQ: [0, 1], cuK: [0, 37], Hq: 2, Hkv: 1, D: 8, mask: causal(), keep: causalKeep },
    { label: 'first two keys of each document at 1e8', cuQ: [0, 1, 4, 5, 30, 31, 70], Hq: 2, Hkv: 1, D: 4, mask: causal(), keep: causalKeep, mod: huge },
    { label: 'short documents with no kept key', cuQ: [0, 3, 4, 9, 40, 41, 52], Hq: 1, Hkv: 1, D: 4, mask: late, keep: (_h, q, k) => q + k > 20 },
  ];
  let seed = 300;
  for (const [dev, kernel] of await targets()) for (const c of edges) await check(dev, kernel, c, seed++);
});
