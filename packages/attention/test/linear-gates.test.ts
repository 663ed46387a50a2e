/**
 * Data-dependent decay (GLA / simple_gla gate g, log decay per token and head) and packed
 * variable-length sequences (cu_seqlens), on the CPU and WebGPU, against the float64 reference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuDevice, getDevice, tensor, sum, mul, add, type Device, type Tensor } from '@attnlab/tensor';
import { linearAttention, reference as R, type LinearAttentionOptions } from '../src/index.js';
import type { FeatureMap } from '../src/reference/linear.js';
import { rng, randn, relErr } from './util.js';

async function devices(): Promise<Device[]> {
  // WebGPU must be there (SwiftShader in CI): a missing adapter fails the test, never skips it.
  const gpu = await getDevice({ prefer: 'webgpu' });
  assert.equal(gpu.kind, 'webgpu', 'no WebGPU adapter');
  return [cpuDevice(), gpu];
}

/** log sigmoid of normal draws (fla's usual gate), with a few near-resets. */
function gates(r: () => number, n: number): Float32Array {
  const x = randn(r, n, 2);
  return Float32Array.from(x, (z, i) => (i % 11 === 5 ? -25 : -Math.log1p(Math.exp(-z))));
}

interface Shape {
  B: number; H: number; N: number; D: number; Dv: number; map: FeatureMap; normalize: boolean;
  decay: number[]; C: number;
}

function inputs(r: () => number, s: Shape) {
  const F = R.featureDim(s.map, s.D);
  const W = s.Dv + (s.normalize ? 1 : 0);
  return {
    F, W,
    q: randn(r, s.B * s.H * s.N * s.D),
    k: randn(r, s.B * s.H * s.N * s.D),
    v: randn(r, s.B * s.H * s.N * s.Dv),
    g: gates(r, s.B * s.H * s.N),
    s0: Float32Array.from(randn(r, s.B * s.H * F * W), (x) => Math.abs(x) + 0.1),
  };
}

test('reference: gate gradient matches finite differences, parallel form matches the recurrence', () => {
  const r = rng(71);
  const s: Shape = { B: 1, H: 2, N: 9, D: 3, Dv: 2, map: 'elu1', normalize: true, decay: [0.9, 1], C: 4 };
  const x = inputs(r, s);
  const dims = { B: s.B, H: s.H, N: s.N, D: s.D, Dv: s.Dv };
  const o = { featureMap: s.map, normalize: s.normalize, decay: s.decay, initialState: x.s0 };
  const gOut = randn(r, s.B * s.H * s.N * s.Dv);
  const gFin = randn(r, s.B * s.H * x.F * x.W);
  const loss = (g: Float64Array): number => {
    const res = R.linearAttentionRef(x.q, x.k, x.v, dims, { ...o, gate: g });
    let l = 0;
    for (let i = 0; i < gOut.length; i++) l += gOut[i]! * res.out[i]!;
    for (let i = 0; i < gFin.length; i++) l += gFin[i]! * res.finalState[i]!;
    return l;
  };
  const g64 = Float64Array.from(x.g);
  const an = R.linearAttentionRefBackward(x.q, x.k, x.v, gOut, gFin, dims, { ...o, gate: g64 }).dGate;
  const fd = new Float64Array(g64.length);
  const h = 1e-6;
  for (let i = 0; i < g64.length; i++) {
    const p = g64.slice();
    const m = g64.slice();
    p[i]! += h;
    m[i]! -= h;
    fd[i] = (loss(p) - loss(m)) / (2 * h);
  }
  assert.ok(relErr(an, fd) < 1e-6, `dGate vs finite differences ${relErr(an, fd)}`);
  const par = R.linearAttentionParallelRef(x.q, x.k, x.v, dims, { ...o, gate: g64 });
  const rec = R.linearAttentionRef(x.q, x.k, x.v, dims, { ...o, gate: g64 }).out;
  assert.ok(relErr(par, rec) < 1e-12, `parallel vs recurrent ${relErr(par, rec)}`);
});

test('linearAttention with a per-token gate: three modes, initial/final state, gradients (q, k, v, S0, gate) vs float64 on both devices', async () => {
  const shapes: Shape[] = [
    { B: 1, H: 1, N: 1, D: 1, Dv: 1, map: 'identity', normalize: false, decay: [1], C: 4 },
    { B: 2, H: 2, N: 37, D: 8, Dv: 5, map: 'elu1', normalize: true, decay: [0.99, 1], C: 16 },
    { B: 1, H: 3, N: 70, D: 4, Dv: 9, map: 'identity', normalize: false, decay: [1, 0.9, 0.5], C: 64 },
    { B: 1, H: 1, N: 13, D: 3, Dv: 3, map: 'taylor2', normalize: true, decay: [0.95], C: 4 },
    { B: 1, H: 2, N: 65, D: 16, Dv: 16, map: 'relu', normalize: false, decay: [1, 1], C: 32 },
  ];
  const r = rng(72);
  for (const dev of await devices()) {
    for (const s of shapes) {
      const x = inputs(r, s);
      const dims = { B: s.B, H: s.H, N: s.N, D: s.D, Dv: s.Dv };
      const refOpts = { featureMap: s.map, normalize: s.normalize, decay: s.decay, initialState: x.s0, gate: x.g };
      const ref = R.linearAttentionRef(x.q, x.k, x.v, dims, refOpts);
      const gOut = randn(r, s.B * s.H * s.N * s.Dv);
      const gFin = randn(r, s.B * s.H * x.F * x.W);
      const gref = R.linearAttentionRefBackward(x.q, x.k, x.v, gOut, gFin, dims, refOpts);
      for (const mode of ['chunk', 'recurrent', 'parallel'] as const) {
        const label = `${dev.kind} ${mode} ${JSON.stringify(s)}`;
        const opt = { device: dev, requiresGrad: true };
        const q = tensor(x.q, [s.B, s.H, s.N, s.D], opt);
        const k = tensor(x.k, [s.B, s.H, s.N, s.D], opt);
        const v = tensor(x.v, [s.B, s.H, s.N, s.Dv], opt);
        const g = tensor(x.g, [s.B, s.H, s.N], opt);
        const s0 = tensor(x.s0, [s.B, s.H, x.F, x.W], opt);
        const o: LinearAttentionOptions = { featureMap: s.map, normalize: s.normalize, decay: s.decay, chunkSize: s.C, mode, gate: g, initialState: s0, outputFinalState: true };
        const res = await linearAttention(q, k, v, o);
        assert.ok(relErr(await res.out.data(), ref.out) < 1e-4, `out ${relErr(await res.out.data(), ref.out)} ${label}`);
        assert.ok(relErr(await res.finalState!.data(), ref.finalState) < 1e-4, `state ${label}`);
        add(sum(mul(res.out, tensor(gOut, res.out.shape, { device: dev }))), sum(mul(res.finalState!, tensor(gFin, res.finalState!.shape, { device: dev })))).backward();
        for (const [name, t, want] of [['dq', q, gref.dq], ['dk', k, gref.dk], ['dv', v, gref.dv], ['dS0', s0, gref.dInitialState], ['dgate', g, gref.dGate]] as const) {
          const e = relErr(await (t.grad as Tensor).data(), want);
          assert.ok(e < 1e-4, `${name} ${e} ${label}`);
        }
        if (dev.kind === 'webgpu') break; // every mode is the chunk kernel there
      }
    }
  }
});

test('linearAttention cuSeqlens: packed sequences restart the state (outputs, per-sequence states, gradients) on both devices', async () => {
  const r = rng(73);
  const H = 2;
  const D = 4;
  const Dv = 3;
  const cu = [0, 1, 8, 25, 26];
  const N = cu[cu.length - 1]!;
  const nSeq = cu.length - 1;
  const map: FeatureMap = 'elu1';
  const F = D;
  const W = Dv + 1;
  const qa = randn(r, H * N * D);
  const ka = randn(r, H * N * D);
  const va = randn(r, H * N * Dv);
  const ga = gates(r, H * N);
  const sa = Float32Array.from(randn(r, nSeq * H * F * W), (x) => Math.abs(x) + 0.1);
  const gOut = randn(r, H * N * Dv);
  const gFin = randn(r, nSeq * H * F * W);
  // Expected: each sequence alone through the reference.
  const want = { out: new Float64Array(H * N * Dv), fin: new Float64Array(nSeq * H * F * W), dq: new Float64Array(H * N * D), dk: new Float64Array(H * N * D), dv: new Float64Array(H * N * Dv), dg: new Float64Array(H * N), ds0: new Float64Array(nSeq * H * F * W) };
  for (let i = 0; i < nSeq; i++) {
    const a = cu[i]!;
    const n = cu[i + 1]! - a;
    const part = (x: Float32Array, w: number): Float32Array => {
      const o = new Float32Array(H * n * w);
      for (let h = 0; h < H; h++) o.set(x.subarray((h * N + a) * w, (h * N + a + n) * w), h * n * w);
      return o;
    };
    const put = (dst: Float64Array, src: Float64Array, w: number): void => {
      for (let h = 0; h < H; h++) dst.set(src.subarray(h * n * w, (h + 1) * n * w), (h * N + a) * w);
    };
    const opts = { featureMap: map, normalize: true, decay: [0.9, 1], gate: part(ga, 1), initialState: sa.subarray(i * H * F * W, (i + 1) * H * F * W) };
    const dims = { B: 1, H, N: n, D, Dv };
    const ref = R.linearAttentionRef(part(qa, D), part(ka, D), part(va, Dv), dims, opts);
    const g = R.linearAttentionRefBackward(part(qa, D), part(ka, D), part(va, Dv), part(gOut, Dv), gFin.subarray(i * H * F * W, (i + 1) * H * F * W), dims, opts);
    put(want.out, ref.out, Dv);
    want.fin.set(ref.finalState, i * H * F * W);
    put(want.dq, g.dq, D);
    put(want.dk, g.dk, D);
    put(want.dv, g.dv, Dv);
    put(want.dg, g.dGate, 1);
    want.ds0.set(g.dInitialState, i * H * F * W);
  }
  for (const dev of await devices()) {
    const opt = { device: dev, requiresGrad: true };
    const q = tensor(qa, [1, H, N, D], opt);
    const k = tensor(ka, [1, H, N, D], opt);
    const v = tensor(va, [1, H, N, Dv], opt);
    const g = tensor(ga, [1, H, N], opt);
    const s0 = tensor(sa, [nSeq, H, F, W], opt);
    const res = await linearAttention(q, k, v, { featureMap: map, normalize: true, decay: [0.9, 1], chunkSize: 4, gate: g, initialState: s0, outputFinalState: true, cuSeqlens: cu });
    assert.deepEqual(res.finalState!.shape, [nSeq, H, F, W]);
    assert.ok(relErr(await res.out.data(), want.out) < 1e-4, `${dev.kind} out`);
    assert.ok(relErr(await res.finalState!.data(), want.fin) < 1e-4, `${dev.kind} final states`);
    add(sum(mul(res.out, tensor(gOut, res.out.shape, { device: dev }))), sum(mul(res.finalState!, tensor(gFin, res.finalState!.shape, { device: dev })))).backward();
    for (const [name, t, w] of [['dq', q, want.dq], ['dk', k, want.dk], ['dv', v, want.dv], ['dgate', g, want.dg], ['dS0', s0, want.ds0]] as const) {
      const e = relErr(await (t.grad as Tensor).data(), w);
      assert.ok(e < 1e-4, `${dev.kind} ${name} ${e}`);
    }
  }
});

test('linearAttention gate / cuSeqlens errors name the problem', async () => {
  const q = tensor(new Float32Array(2 * 4 * 8), [1, 2, 4, 8]);
  await assert.rejects(linearAttention(q, q, q, { gate: tensor(new Float32Array(8), [1, 2, 4, 1]) }), /gate must be \[1, 2, 4\]/);
  await assert.rejects(linearAttention(q, q, q, { gate: tensor(Float32Array.from([0, -1, 0.5, 0, 0, 0, 0, 0]), [1, 2, 4]) }), /gate values are log decays: finite and <= 0, got 0.5 at index 2/);
  await assert.rejects(linearAttention(q, q, q, { gate: tensor(Float32Array.from([0, -Infinity, 0, 0, 0, 0, 0, 0]), [1, 2, 4]) }), /finite and <= 0, got -Infinity/);
  await assert.rejects(linearAttention(q, q, q, { cuSeqlens: [0, 3] }), /cuSeqlens must run from 0 to N = 4/);
  await assert.rejects(linearAttention(q, q, q, { cuSeqlens: [0, 2, 2, 4] }), /strictly increasing/);
  const q2 = tensor(new Float32Array(2 * 4 * 8), [2, 1, 4, 8]);
  await assert.rejects(linearAttention(q2, q2, q2, { cuSeqlens: [0, 4] }), /needs B = 1, got B = 2/);
  await assert.rejects(linearAttention(q, q, q, { cuSeqlens: [0, 1, 4], initialState: tensor(new Float32Array(2 * 8 * 8), [1, 2, 8, 8]) }), /initialState with cuSeqlens must be \[nSeq, H, F, W\] = \[2, 2, 8, 8\]/);
});

test('CPU chunk mode: the plain JS core (ATTNLAB_CPU_KERNELS=js) and the WebAssembly one both match float64, forward and gradients', async () => {
  const r = rng(74);
  const s: Shape = { B: 1, H: 2, N: 45, D: 6, Dv: 5, map: 'elu1', normalize: true, decay: [0.97, 1], C: 8 };
  const x = inputs(r, s);
  const dims = { B: s.B, H: s.H, N: s.N, D: s.D, Dv: s.Dv };
  const refOpts = { featureMap: s.map, normalize: s.normalize, decay: s.decay, initialState: x.s0, gate: x.g };
  const ref = R.linearAttentionRef(x.q, x.k, x.v, dims, refOpts);
  const gOut = randn(r, s.B * s.H * s.N * s.Dv);
  const gref = R.linearAttentionRefBackward(x.q, x.k, x.v, gOut, null, dims, refOpts);
  for (const kernels of ['js', 'default']) {
    if (kernels === 'js') process.env['ATTNLAB_CPU_KERNELS'] = 'js';
    try {
      const opt = { requiresGrad: true };
      const q = tensor(x.q, [s.B, s.H, s.N, s.D], opt);
      const k = tensor(x.k, [s.B, s.H, s.N, s.D], opt);
      const v = tensor(x.v, [s.B, s.H, s.N, s.Dv], opt);
      const g = tensor(x.g, [s.B, s.H, s.N], opt);
      const res = await linearAttention(q, k, v, { featureMap: s.map, normalize: true, decay: s.decay, chunkSize: s.C, gate: g, initialState: tensor(x.s0, [s.B, s.H, x.F, x.W]) });
      assert.ok(relErr(await res.out.data(), ref.out) < 1e-4, `${kernels} out`);
      sum(mul(res.out, tensor(gOut, res.out.shape))).backward();
      for (const [name, t, want] of [['dq', q, gref.dq], ['dk', k, gref.dk], ['dv', v, gref.dv], ['dgate', g, gref.dGate]] as const) {
        const e = relErr(await (t.grad as Tensor).data(), want);
        assert.ok(e < 1e-4, `${kernels} ${name} ${e}`);
      }
    } finally {
      delete process.env['ATTNLAB_CPU_KERNELS'];
    }
  }
});
