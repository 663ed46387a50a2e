/**
 * L4 Aaren: the prefix scan on the CPU and WebGPU equals the float64 sequential RNN and masked
 * softmax attention of the fixed query (1e-6 relative on the CPU), with ceil(log2 N) steps; the
 * streaming state is constant in N.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attention, causal, getAttention } from '@attnlab/attention';
import { Transformer } from '@attnlab/models';
import { concat, cpuDevice, getDevice, slice, tensor, type Device, type Tensor } from '@attnlab/tensor';
import { aaren, lightning, numeric, registerVariants } from '../src/index.js';

const { aarenScan, AarenStream, sequentialNaive, maskedSoftmaxNaive } = aaren;
const { rng, randnArray, relErr } = numeric;

async function devices(): Promise<Device[]> {
  const gpu = await getDevice({ prefer: 'webgpu' });
  assert.equal(gpu.kind, 'webgpu', 'no WebGPU adapter');
  return [cpuDevice(), gpu];
}

test('naive float64: sequential RNN equals masked softmax attention', () => {
  const r = rng(2);
  const d = { BH: 2, N: 33, D: 4, Dv: 3 };
  const q = randnArray(r, 8, 3), k = randnArray(r, 2 * 33 * 4), v = randnArray(r, 2 * 33 * 3);
  assert.ok(relErr(sequentialNaive(q, k, v, d, 0.5), maskedSoftmaxNaive(q, k, v, d, 0.5)) < 1e-13);
});

test('aarenScan: CPU and WebGPU equal sequential and masked softmax (float64) with depth ceil(log2 N)', async () => {
  const r = rng(9);
  for (const dev of await devices()) {
    for (const [B, H, N, D, Dv] of [[1, 1, 1, 1, 1], [1, 2, 2, 3, 2], [2, 1, 37, 5, 7], [1, 3, 64, 8, 8], [1, 1, 1000, 16, 4]] as const) {
      const q = randnArray(r, B * H * D), k = randnArray(r, B * H * N * D), v = randnArray(r, B * H * N * Dv);
      const res = aarenScan(tensor(q, [B, H, D], { device: dev }), tensor(k, [B, H, N, D], { device: dev }), tensor(v, [B, H, N, Dv], { device: dev }));
      const d = { BH: B * H, N, D, Dv };
      const got = Float64Array.from((await res.out.data()) as Float32Array);
      const tol = dev.kind === 'cpu' ? 1e-6 : 2e-6;
      const where = `${dev.kind} [${B}, ${H}, ${N}, ${D}, ${Dv}]`;
      const e1 = relErr(got, sequentialNaive(q, k, v, d, 1 / Math.sqrt(D)));
      const e2 = relErr(got, maskedSoftmaxNaive(q, k, v, d, 1 / Math.sqrt(D)));
      assert.ok(e1 <= tol && e2 <= tol, `${where}: rel err vs sequential ${e1}, vs masked softmax ${e2}`);
      assert.equal(res.depth, Math.ceil(Math.log2(N)), `${where}: depth`);
    }
  }
});

test("aarenScan equals the library's causal softmax attention with the query repeated at every row", async () => {
  const r = rng(4);
  const [B, H, N, D] = [1, 2, 50, 8];
  const q = randnArray(r, B * H * D), k = randnArray(r, B * H * N * D), v = randnArray(r, B * H * N * D);
  const qRep = new Float32Array(B * H * N * D);
  for (let bh = 0; bh < B * H; bh++) for (let t = 0; t < N; t++) qRep.set(q.subarray(bh * D, (bh + 1) * D), (bh * N + t) * D);
  const ref = await attention(tensor(qRep, [B, H, N, D]), tensor(k, [B, H, N, D]), tensor(v, [B, H, N, D]), { mask: causal() });
  const got = aarenScan(tensor(q, [B, H, D]), tensor(k, [B, H, N, D]), tensor(v, [B, H, N, D]));
  const e = relErr((await got.out.data()) as Float32Array, (await ref.out.data()) as Float32Array);
  assert.ok(e <= 1e-6, `rel err ${e}`);
});

test('AarenStream: token-by-token outputs equal the float64 sequential reference; state bytes do not grow', () => {
  const r = rng(5);
  const [N, D, Dv] = [300, 4, 6];
  const q = randnArray(r, D), k = randnArray(r, N * D), v = randnArray(r, N * Dv);
  const ref = sequentialNaive(q, k, v, { BH: 1, N, D, Dv }, 0.5);
  const st = new AarenStream(Dv);
  const b0 = st.stateBytes;
  for (let t = 0; t < N; t++) {
    let s = 0;
    for (let a = 0; a < D; a++) s += q[a]! * k[t * D + a]!;
    const o = st.push(0.5 * s, v.subarray(t * Dv, (t + 1) * Dv));
    assert.ok(relErr(o, ref.subarray(t * Dv, (t + 1) * Dv)) < 1e-12);
  }
  assert.equal(st.stateBytes, b0);
  assert.throws(() => st.push(NaN, v.subarray(0, Dv)), /score must be finite/);
  assert.throws(() => aarenScan(tensor(q, [1, 1, D]), tensor(k, [1, 1, N, D]), tensor(v.subarray(0, (N - 1) * Dv), [1, 1, N - 1, Dv])), /v \[1, 1, 299, 6\] must be \[1, 1, 300, Dv\]/);
});

test('aarenScan with a carried (m, u, w) state: two calls equal one, CPU and WebGPU', async () => {
  const r = rng(6);
  for (const dev of await devices()) {
    const [B, H, N, D, Dv, cut] = [2, 2, 45, 6, 5, 17];
    const q = randnArray(r, B * H * D), k = randnArray(r, B * H * N * D), v = randnArray(r, B * H * N * Dv);
    const [tq, tk, tv] = [tensor(q, [B, H, D], { device: dev }), tensor(k, [B, H, N, D], { device: dev }), tensor(v, [B, H, N, Dv], { device: dev })];
    const part = (t: Tensor, a: number, n: number): Tensor => slice(t, [0, 0, a, 0], [B, H, n, t.shape[3]!]);
    const first = aarenScan(tq, part(tk, 0, cut), part(tv, 0, cut), { outputFinalState: true });
    const second = aarenScan(tq, part(tk, cut, N - cut), part(tv, cut, N - cut), { initialState: first.finalState!, outputFinalState: true });
    const whole = aarenScan(tq, tk, tv, { outputFinalState: true });
    const e = relErr((await concat([first.out, second.out], 2).data()) as Float32Array, (await whole.out.data()) as Float32Array);
    assert.ok(e <= 1e-6, `${dev.kind}: split vs whole rel err ${e}`);
    assert.throws(() => aarenScan(tq, tk, tv, { initialState: tensor(new Float32Array(B * H * 3), [B, H, 1, 3], { device: dev }) }), /initialState must be \[2, 2, 1, 7\] \(m, u, w\)/);
  }
});

test("variant 'aaren': fixed query per head equals the float64 sequential RNN; in a model it decodes through the cache with O(1) state", async () => {
  const reg = registerVariants();
  try {
    const r = rng(7);
    const [H, N, D] = [2, 30, 4];
    const query = [Array.from(randnArray(r, D)), Array.from(randnArray(r, D))];
    for (const dev of await devices()) {
      const k = randnArray(r, H * N * D), v = randnArray(r, H * N * D);
      const T = (x: Float32Array): Tensor => tensor(x, [1, H, N, D], { device: dev });
      const res = await getAttention('aaren').forward(T(new Float32Array(H * N * D)), T(k), T(v), { options: { query } });
      const e = relErr((await res.out.data()) as Float32Array, sequentialNaive(query.flat(), k, v, { BH: H, N, D, Dv: D }, 1 / Math.sqrt(D)));
      assert.ok(e <= 1e-6, `${dev.kind}: rel err ${e}`);
    }
    const model = new Transformer({ vocabSize: 19, dModel: 16, nLayers: 2, nHeads: 2, nCtx: 64, positional: 'learned' }, { seed: 3 });
    const dh = 8;
    model.setAttention({ layer: 1, heads: [0, 1] }, 'aaren', { query: [Array.from(randnArray(r, dh)), Array.from(randnArray(r, dh))] });
    model.setAttention({ layer: 0, head: 1 }, 'aaren', { query: Array.from(randnArray(r, dh)) });
    const toks = Array.from({ length: 18 }, (_, i) => (i * 3 + 1) % 19);
    const full = (await (await model.forward([toks])).data()) as Float32Array;
    const cache = model.createKVCache({ policy: (l, h) => (l === 1 || h === 1 ? lightning.stateOnlyPolicy() : null) });
    await model.forward([toks.slice(0, 5)], { kvCache: cache });
    const bytes: number[] = [];
    for (let t = 5; t < 18; t++) {
      const step = (await (await model.forward([[toks[t]!]], { kvCache: cache })).data()) as Float32Array;
      const e = relErr(step, full.subarray(t * 19, (t + 1) * 19));
      assert.ok(e < 1e-4, `decode step ${t}: rel err ${e}`);
      bytes.push(lightning.stateBytes(cache));
    }
    // (m, u, w): 2 + Dv numbers per head, 3 aaren heads.
    assert.ok(bytes.every((b) => b === 3 * (2 + dh) * 4), `state bytes ${bytes.join(', ')}`);
    await assert.rejects(getAttention('aaren').forward(tensor(new Float32Array(8), [1, 1, 2, 4]), tensor(new Float32Array(8), [1, 1, 2, 4]), tensor(new Float32Array(8), [1, 1, 2, 4]), { options: { query: [1, 2] } }), /query of head 0 has 2 entries, the head dim is 4/);
  } finally {
    reg.dispose();
  }
});
