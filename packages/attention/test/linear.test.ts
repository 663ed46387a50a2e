import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, sum, mul, add, slice, type Tensor } from '@attnlab/tensor';
import { linearAttention, reference as R, type LinearAttentionOptions } from '../src/index.js';
import { rng, randn, relErr } from './util.js';

test('linearAttention: parallel, recurrent and chunk modes agree with each other and the float64 reference', async () => {
  const r = rng(31);
  const configs: { B: number; H: number; N: number; D: number; Dv: number; o: LinearAttentionOptions }[] = [
    { B: 1, H: 2, N: 1, D: 8, Dv: 8, o: { featureMap: 'elu1', normalize: true } },
    { B: 2, H: 2, N: 37, D: 8, Dv: 5, o: { featureMap: 'identity', decay: [0.99, 0.9], chunkSize: 16 } },
    { B: 1, H: 1, N: 130, D: 16, Dv: 16, o: { featureMap: 'elu1', normalize: true, decay: 0.95, chunkSize: 32 } },
    { B: 1, H: 2, N: 64, D: 4, Dv: 4, o: { featureMap: 'taylor2', normalize: true, chunkSize: 16 } },
    { B: 1, H: 1, N: 100, D: 16, Dv: 16, o: { featureMap: 'relu', decay: 0.9, chunkSize: 128 } },
  ];
  for (const c of configs) {
    const q = tensor(randn(r, c.B * c.H * c.N * c.D), [c.B, c.H, c.N, c.D]);
    const k = tensor(randn(r, c.B * c.H * c.N * c.D), [c.B, c.H, c.N, c.D]);
    const v = tensor(randn(r, c.B * c.H * c.N * c.Dv), [c.B, c.H, c.N, c.Dv]);
    const outs: Float32Array[] = [];
    const states: Float32Array[] = [];
    for (const mode of ['parallel', 'recurrent', 'chunk'] as const) {
      const res = await linearAttention(q, k, v, { ...c.o, mode, outputFinalState: true });
      outs.push((await res.out.data()) as Float32Array);
      states.push((await res.finalState!.data()) as Float32Array);
    }
    const ref = R.linearAttentionRef(await q.data(), await k.data(), await v.data(), { B: c.B, H: c.H, N: c.N, D: c.D, Dv: c.Dv }, { featureMap: c.o.featureMap, decay: c.o.decay, normalize: c.o.normalize, scale: 1 / Math.sqrt(c.D) });
    const label = JSON.stringify(c.o);
    for (let i = 0; i < 3; i++) {
      assert.ok(relErr(outs[i]!, ref.out) < 1e-4, `mode ${i} vs reference ${relErr(outs[i]!, ref.out)} ${label}`);
      assert.ok(relErr(states[i]!, ref.finalState) < 1e-4, `state ${i} vs reference ${label}`);
      assert.ok(relErr(outs[i]!, outs[0]!) < 1e-4, `modes disagree ${label}`);
    }
  }
});

test('linearAttention: initialState/finalState chain two halves into the full sequence', async () => {
  const r = rng(32);
  const [B, H, N, D] = [1, 2, 50, 8];
  const q = tensor(randn(r, B * H * N * D), [B, H, N, D]);
  const k = tensor(randn(r, B * H * N * D), [B, H, N, D]);
  const v = tensor(randn(r, B * H * N * D), [B, H, N, D]);
  const o: LinearAttentionOptions = { featureMap: 'elu1', normalize: true, decay: [0.9, 1], chunkSize: 8 };
  const full = await linearAttention(q, k, v, { ...o, outputFinalState: true });
  const half = (t: Tensor, a: number, n: number): Tensor => slice(t, [0, 0, a, 0], [B, H, n, D]);
  const first = await linearAttention(half(q, 0, 20), half(k, 0, 20), half(v, 0, 20), { ...o, outputFinalState: true });
  const second = await linearAttention(half(q, 20, 30), half(k, 20, 30), half(v, 20, 30), { ...o, initialState: first.finalState!, outputFinalState: true, mode: 'recurrent' });
  const f = (await full.out.data()) as Float32Array;
  const s = (await second.out.data()) as Float32Array;
  for (let h = 0; h < H; h++) {
    const a = f.subarray((h * N + 20) * D, (h + 1) * N * D);
    const b = s.subarray(h * 30 * D, (h + 1) * 30 * D);
    assert.ok(relErr(b, a) < 1e-5, `head ${h}`);
  }
  assert.ok(relErr((await second.finalState!.data()) as Float32Array, (await full.finalState!.data()) as Float32Array) < 1e-5);
});

test('linearAttention: gradients (q, k, v, initial state) match the float64 reference', async () => {
  const r = rng(33);
  const [B, H, N, D] = [1, 2, 19, 4];
  for (const featureMap of ['identity', 'elu1', 'taylor2'] as const) {
    const normalize = featureMap !== 'identity';
    const F = R.featureDim(featureMap, D);
    const W = D + (normalize ? 1 : 0);
    const qa = randn(r, B * H * N * D);
    const ka = randn(r, B * H * N * D);
    const va = randn(r, B * H * N * D);
    const sa = Float32Array.from(randn(r, B * H * F * W), (x) => Math.abs(x) + 0.1);
    const q = tensor(qa, [B, H, N, D], { requiresGrad: true });
    const k = tensor(ka, [B, H, N, D], { requiresGrad: true });
    const v = tensor(va, [B, H, N, D], { requiresGrad: true });
    const s0 = tensor(sa, [B, H, F, W], { requiresGrad: true });
    const o = { featureMap, normalize, decay: [0.9, 1], chunkSize: 8 };
    const res = await linearAttention(q, k, v, { ...o, initialState: s0, outputFinalState: true });
    const gOut = randn(r, B * H * N * D);
    const gFin = randn(r, B * H * F * W);
    add(sum(mul(res.out, tensor(gOut, res.out.shape))), sum(mul(res.finalState!, tensor(gFin, res.finalState!.shape)))).backward();
    const g = R.linearAttentionRefBackward(qa, ka, va, gOut, gFin, { B, H, N, D }, { ...o, scale: 1 / Math.sqrt(D), initialState: sa });
    for (const [name, t, want] of [['dq', q, g.dq], ['dk', k, g.dk], ['dv', v, g.dv], ['dS0', s0, g.dInitialState]] as const) {
      const got = (await (t.grad as Tensor).data()) as Float32Array;
      assert.ok(relErr(got, want) < 1e-4, `${featureMap} ${name} ${relErr(got, want)}`);
    }
  }
});

test('linearAttention: errors name the problem', async () => {
  const q = tensor(new Float32Array(2 * 4 * 8), [1, 2, 4, 8]);
  await assert.rejects(linearAttention(q, q, q, { decay: 1.5 }), /decay must be in \(0, 1\]/);
  await assert.rejects(linearAttention(q, q, q, { decay: [0.9] }), /decay has 1 entries for 2 heads/);
  await assert.rejects(linearAttention(q, q, q, { mode: 'fast' as never }), /unknown mode 'fast'/);
  await assert.rejects(linearAttention(q, q, q, { featureMap: 'cos' as never }), /unknown featureMap 'cos'/);
  await assert.rejects(linearAttention(q, q, q, { initialState: tensor(new Float32Array(4), [1, 1, 2, 2]) }), /initialState must be \[1, 2, 8, 8\]/);
});
