/**
 * L6 RAT: the chunked layer on the CPU and WebGPU equals its float64 token-by-token reference; L = 1
 * equals causal softmax attention and L >= N the gated RNN exactly (float64 references); gradients
 * flow; in a model the variant decodes through the KV cache equal to the full forward.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Transformer } from '@attnlab/models';
import { cpuDevice, getDevice, mul, sum, tensor, type Device, type Tensor } from '@attnlab/tensor';
import { numeric, rat, registerVariants } from '../src/index.js';

const { ratAttention, ratNaive, causalSoftmaxNaive, gatedRnnNaive, ratFlops, ratStateBytes } = rat;
const { rng, randnArray, relErr } = numeric;

async function devices(): Promise<Device[]> {
  const gpu = await getDevice({ prefer: 'webgpu' });
  assert.equal(gpu.kind, 'webgpu', 'no WebGPU adapter');
  return [cpuDevice(), gpu];
}
const f64 = async (t: Tensor): Promise<Float64Array> => Float64Array.from((await t.data()) as Float32Array);

test('naive float64: L = 1 is causal softmax attention, L >= N is the gated RNN', () => {
  const r = rng(1);
  const d = { BH: 2, H: 2, N: 23, D: 4, Dv: 3 };
  const q = randnArray(r, 2 * 23 * 4), k = randnArray(r, 2 * 23 * 4), v = randnArray(r, 2 * 23 * 3);
  assert.ok(relErr(ratNaive(q, k, v, d, { chunkSize: 1, decay: [0.3, 0.9], scale: 0.5 }), causalSoftmaxNaive(q, k, v, d, 0.5)) < 1e-14);
  for (const L of [23, 24, 100]) assert.ok(relErr(ratNaive(q, k, v, d, { chunkSize: L, decay: [0.3, 0.9], scale: 0.5 }), gatedRnnNaive(v, d, [0.3, 0.9])) < 1e-14);
});

test('ratAttention on CPU and WebGPU equals the float64 reference for L = 1, 2, 3, 7, N, > N (N odd, not a multiple of L)', async () => {
  const r = rng(2);
  for (const dev of await devices()) {
    for (const [B, H, N, D, Dv] of [[1, 1, 1, 1, 1], [2, 2, 37, 5, 3], [1, 3, 64, 8, 8]] as const) {
      const q = randnArray(r, B * H * N * D), k = randnArray(r, B * H * N * D), v = randnArray(r, B * H * N * Dv);
      const decay = Array.from({ length: H }, (_, h) => [0, 0.5, 0.95][h % 3]!);
      const dims = { BH: B * H, H, N, D, Dv };
      const T = (x: Float32Array, w: number): Tensor => tensor(x, [B, H, N, w], { device: dev });
      for (const L of [1, 2, 3, 7, N, N + 5]) {
        const res = await ratAttention(T(q, D), T(k, D), T(v, Dv), { chunkSize: L, decay });
        const got = await f64(res.out);
        const where = `${dev.kind} [${B}, ${H}, ${N}, ${D}, ${Dv}] L=${L}`;
        const e = relErr(got, ratNaive(q, k, v, dims, { chunkSize: L, decay, scale: 1 / Math.sqrt(D) }));
        assert.ok(e <= 2e-6, `${where}: rel err ${e}`);
        if (L === 1) assert.ok(relErr(got, causalSoftmaxNaive(q, k, v, dims, 1 / Math.sqrt(D))) <= 2e-6, `${where}: != attention`);
        if (L >= N) assert.ok(relErr(got, gatedRnnNaive(v, dims, decay)) <= 2e-6, `${where}: != RNN`);
        assert.deepEqual(res.keysPerQuery, Array.from({ length: N }, (_, t) => Math.floor(t / L) + 1));
      }
    }
  }
});

test('ratAttention: gradients equal finite differences of the float64 reference (CPU)', async () => {
  const r = rng(3);
  const [B, H, N, D] = [1, 2, 9, 3];
  const q = randnArray(r, B * H * N * D), k = randnArray(r, B * H * N * D), v = randnArray(r, B * H * N * D), g = randnArray(r, B * H * N * D);
  const decay = [0.4, 0.8];
  const dims = { BH: 2, H, N, D, Dv: D };
  const loss = (qq: ArrayLike<number>, kk: ArrayLike<number>, vv: ArrayLike<number>) => ratNaive(qq, kk, vv, dims, { chunkSize: 4, decay, scale: 1 / Math.sqrt(D) }).reduce((a, x, i) => a + x * g[i]!, 0);
  const [tq, tk, tv] = [q, k, v].map((x) => tensor(x, [B, H, N, D], { requiresGrad: true })) as [Tensor, Tensor, Tensor];
  const res = await ratAttention(tq, tk, tv, { chunkSize: 4, decay });
  sum(mul(res.out, tensor(g, [B, H, N, D]))).backward();
  for (const [name, t, x] of [['dq', tq, q], ['dk', tk, k], ['dv', tv, v]] as const) {
    const got = (await t.grad!.data()) as Float32Array;
    const fd = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const p = Float64Array.from(x), m = Float64Array.from(x);
      p[i]! += 1e-5;
      m[i]! -= 1e-5;
      const args = (y: Float64Array) => (name === 'dq' ? [y, k, v] : name === 'dk' ? [q, y, v] : [q, k, y]) as [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>];
      fd[i] = (loss(...args(p)) - loss(...args(m))) / 2e-5;
    }
    const e = relErr(got, fd);
    assert.ok(e <= 1e-3, `${name}: rel err ${e}`);
  }
});

test('ratFlops and ratStateBytes interpolate monotonically between attention (L = 1) and the RNN (L = N)', () => {
  const N = 256;
  const Ls = [1, 2, 4, 8, 16, 32, 64, 128, 256];
  const fl = Ls.map((L) => ratFlops(N, L, 16, 16));
  const by = Ls.map((L) => ratStateBytes(N, L, 16, 16));
  for (let i = 1; i < Ls.length; i++) assert.ok(fl[i]! < fl[i - 1]! && by[i]! <= by[i - 1]!, `L=${Ls[i]}`);
  assert.equal(ratStateBytes(N, N, 16, 16), 4 * 2 * 32);
});

test("variant 'rat' in a model: decode through the KV cache equals the full forward; bad options are named", async () => {
  const reg = registerVariants();
  try {
    const m = new Transformer({ vocabSize: 32, dModel: 16, nLayers: 2, nHeads: 2, nCtx: 32, positional: 'rotary' }, { seed: 4 });
    m.setAttention('all', 'rat', { chunkSize: 4, decay: [0.5, 0.9] });
    const toks = Array.from({ length: 13 }, (_, i) => (i * 7 + 3) % 32);
    const full = (await (await m.forward([toks])).data()) as Float32Array;
    const cache = m.createKVCache();
    await m.forward([toks.slice(0, 6)], { kvCache: cache });
    let worst = 0;
    for (let t = 6; t < 13; t++) {
      const lg = (await (await m.forward([[toks[t]!]], { kvCache: cache })).data()) as Float32Array;
      worst = Math.max(worst, relErr(lg, full.subarray(t * 32, (t + 1) * 32)));
    }
    cache.dispose();
    assert.ok(worst <= 1e-5, `decode vs full: ${worst}`);
    m.setAttention('all', 'rat', { chunkSize: 0 });
    await assert.rejects(m.forward([toks]), /chunkSize must be a positive integer, got 0/);
    m.setAttention('all', 'rat', { chunkSize: 2, decay: 1 });
    await assert.rejects(m.forward([toks]), /decay must be in \[0, 1\), got 1/);
  } finally {
    reg.dispose();
  }
});
