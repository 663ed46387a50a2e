/**
 * L2 BASED: the Taylor linear branch (three modes, feature dim d' <= D) and sliding-window
 * softmax on the CPU and WebGPU against float64 kernels written as scalars; a hybrid model decodes
 * through the cache (state for linear heads, last W tokens for window heads) equal to the full
 * forward, with the state size the formula gives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Transformer } from '@attnlab/models';
import { cpuDevice, getDevice, tensor, type Device, type Tensor } from '@attnlab/tensor';
import { based, lightning, numeric, registerVariants } from '../src/index.js';

const { basedLinear, slidingWindowAttention, taylorLinearNaive, windowSoftmaxNaive, useBased, basedCachePolicy, basedStateBytes } = based;
const { rng, randnArray, relErr } = numeric;

async function devices(): Promise<Device[]> {
  const gpu = await getDevice({ prefer: 'webgpu' });
  assert.equal(gpu.kind, 'webgpu', 'no WebGPU adapter');
  return [cpuDevice(), gpu];
}
const f64 = async (t: Tensor): Promise<Float64Array> => Float64Array.from((await t.data()) as Float32Array);

test('basedLinear: three modes on CPU and WebGPU equal the float64 Taylor kernel (1 + s + s^2/2), d\' <= D', async () => {
  const r = rng(21);
  for (const dev of await devices()) {
    for (const [B, H, N, D, Dv, fd, C] of [[1, 1, 1, 1, 1, 1, 16], [2, 1, 37, 6, 5, 3, 16], [1, 2, 70, 8, 8, 8, 32], [1, 1, 129, 16, 4, 4, 64]] as const) {
      const q = randnArray(r, B * H * N * D), k = randnArray(r, B * H * N * D), v = randnArray(r, B * H * N * Dv);
      const want = taylorLinearNaive(q, k, v, { BH: B * H, N, D, Dv }, fd, 1 / Math.sqrt(fd));
      for (const mode of ['parallel', 'recurrent', 'chunk'] as const) {
        const T = (x: Float32Array, w: number): Tensor => tensor(x, [B, H, N, w], { device: dev });
        const res = await basedLinear(T(q, D), T(k, D), T(v, Dv), { featureDim: fd, mode, chunkSize: C });
        const e = relErr(await f64(res.out), want);
        assert.ok(e <= 1e-5, `${dev.kind} ${mode} [${B}, ${H}, ${N}, ${D}, ${Dv}] d'=${fd}: rel err ${e}`);
      }
    }
  }
  await assert.rejects(basedLinear(tensor(new Float32Array(4), [1, 1, 2, 2]), tensor(new Float32Array(4), [1, 1, 2, 2]), tensor(new Float32Array(4), [1, 1, 2, 2]), { featureDim: 3 }), /featureDim must be an integer in \[1, 2\]/);
});

test('slidingWindowAttention on CPU and WebGPU equals float64 windowed softmax (W = 1, 5, N)', async () => {
  const r = rng(22);
  for (const dev of await devices()) {
    for (const W of [1, 5, 41]) {
      const [H, N, D] = [2, 41, 8];
      const q = randnArray(r, H * N * D), k = randnArray(r, H * N * D), v = randnArray(r, H * N * D);
      const T = (x: Float32Array): Tensor => tensor(x, [1, H, N, D], { device: dev });
      const got = await slidingWindowAttention(T(q), T(k), T(v), { window: W });
      const e = relErr(await f64(got), windowSoftmaxNaive(q, k, v, { BH: H, N, D, Dv: D }, W, 1 / Math.sqrt(D)));
      assert.ok(e <= 1e-5, `${dev.kind} W=${W}: rel err ${e}`);
    }
  }
});

test('BASED hybrid model: decode through the cache equals the full forward; linear heads hold the state the formula gives, window heads W tokens', async () => {
  const reg = registerVariants();
  try {
    const model = new Transformer({ vocabSize: 29, dModel: 16, nLayers: 2, nHeads: 2, nCtx: 64, positional: 'rotary' }, { seed: 8 });
    const W = 4;
    useBased(model, { linear: (l, h) => l === 0 || h === 0, window: { layer: 1, head: 1 }, windowSize: W, featureDim: 4, chunkSize: 8 });
    const toks = Array.from({ length: 24 }, (_, i) => (i * 5 + 2) % 29);
    const full = await f64(await model.forward([toks]));
    const cache = model.createKVCache({ policy: basedCachePolicy(model, W) });
    await model.forward([toks.slice(0, 9)], { kvCache: cache });
    for (let t = 9; t < 24; t++) {
      const step = await f64(await model.forward([[toks[t]!]], { kvCache: cache }));
      const e = relErr(step, full.subarray(t * 29, (t + 1) * 29));
      assert.ok(e < 1e-4, `decode step ${t}: rel err ${e}`);
    }
    assert.equal(cache.kept(1, 0, 1), W, 'the window head keeps W tokens');
    assert.equal(cache.kept(0, 0, 0), 1, 'a linear head keeps only the current token');
    // 3 linear heads (layer 0 both, layer 1 head 0), dHead 8, d' = 4.
    assert.equal(lightning.stateBytes(cache), 3 * basedStateBytes({ featureDim: 4, dv: 8, window: W, d: 8 }).linear);
    // The deprecated alias frees the states only; keys and values stay.
    const kvOnly = cache.bytes() - cache.stateBytes();
    lightning.disposeStates(cache);
    assert.equal(cache.stateBytes(), 0);
    assert.equal(cache.bytes(), kvOnly);
    assert.equal(cache.kept(1, 0, 1), W);
    cache.dispose();
  } finally {
    reg.dispose();
  }
});
