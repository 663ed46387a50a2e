/**
 * The delta rule (DeltaNet) and gated delta rule (Gated DeltaNet) in linearAttention: three
 * modes on the CPU and WebGPU against the float64 recurrence; gradients of every input against
 * central differences of that float64 recurrence.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuDevice, getDevice, tensor, sum, mul, add, type Device, type Tensor } from '@attnlab/tensor';
import { linearAttention, reference as R } from '../src/index.js';
import { rng, randn, relErr } from './util.js';

async function devices(): Promise<Device[]> {
  // WebGPU must be there (SwiftShader in CI): a missing adapter fails the test, never skips it.
  const gpu = await getDevice({ prefer: 'webgpu' });
  assert.equal(gpu.kind, 'webgpu', 'no WebGPU adapter');
  return [cpuDevice(), gpu];
}

/** Rows scaled to unit L2 norm (DeltaNet normalises k so the state update stays contractive). */
function unitRows(x: Float32Array, D: number): Float32Array {
  for (let r = 0; r < x.length / D; r++) {
    let n = 0;
    for (let d = 0; d < D; d++) n += x[r * D + d]! ** 2;
    n = Math.sqrt(n) || 1;
    for (let d = 0; d < D; d++) x[r * D + d]! /= n;
  }
  return x;
}

interface Case { B: number; H: number; N: number; D: number; Dv: number; C: number; gated: boolean; decay: number[]; grads: boolean }

function data(r: () => number, c: Case) {
  const { B, H, N, D, Dv } = c;
  return {
    q: randn(r, B * H * N * D),
    k: unitRows(randn(r, B * H * N * D), D),
    v: randn(r, B * H * N * Dv),
    beta: Float32Array.from(randn(r, B * H * N), (x) => 1 / (1 + Math.exp(-x))),
    gate: Float32Array.from(randn(r, B * H * N), (x) => -Math.log1p(Math.exp(-x - 2))),
    s0: randn(r, B * H * D * Dv, 0.5),
  };
}

test('delta rule and gated delta rule: three modes, initial/final state, forward and gradients (q, k, v, beta, gate, S0) vs float64 on both devices', async () => {
  const cases: Case[] = [
    { B: 1, H: 1, N: 1, D: 2, Dv: 3, C: 4, gated: true, decay: [1], grads: true },
    { B: 1, H: 2, N: 9, D: 3, Dv: 2, C: 4, gated: true, decay: [0.9, 1], grads: true },
    { B: 2, H: 1, N: 7, D: 4, Dv: 4, C: 8, gated: false, decay: [1], grads: true },
    { B: 1, H: 2, N: 70, D: 8, Dv: 5, C: 16, gated: true, decay: [1, 0.95], grads: false },
  ];
  const r = rng(91);
  for (const c of cases) {
    const x = data(r, c);
    const dims = { B: c.B, H: c.H, N: c.N, D: c.D, Dv: c.Dv };
    const scale = 1 / Math.sqrt(c.D);
    const refOpts = (o: Partial<typeof x> = {}) => ({ decay: c.decay, scale, gate: c.gated ? o.gate ?? x.gate : null, initialState: o.s0 ?? x.s0 });
    const ref = R.deltaRuleRef(x.q, x.k, x.v, x.beta, dims, refOpts());
    const gOut = randn(r, ref.out.length);
    const gFin = randn(r, ref.finalState.length);
    // Central differences of the float64 recurrence for L = <gOut, out> + <gFin, S_N>.
    const fd: Record<string, Float64Array> = {};
    if (c.grads) {
      const loss = (o: Partial<typeof x>): number => {
        const res = R.deltaRuleRef(o.q ?? x.q, o.k ?? x.k, o.v ?? x.v, o.beta ?? x.beta, dims, refOpts(o));
        let l = 0;
        for (let i = 0; i < gOut.length; i++) l += gOut[i]! * res.out[i]!;
        for (let i = 0; i < gFin.length; i++) l += gFin[i]! * res.finalState[i]!;
        return l;
      };
      for (const name of ['q', 'k', 'v', 'beta', 'gate', 's0'] as const) {
        if (name === 'gate' && !c.gated) continue;
        const base = Float64Array.from(x[name]);
        const g = new Float64Array(base.length);
        for (let i = 0; i < base.length; i++) {
          const h = 1e-6;
          const p = base.slice();
          const m = base.slice();
          p[i]! += h;
          m[i]! -= h;
          g[i] = (loss({ [name]: p } as Partial<typeof x>) - loss({ [name]: m } as Partial<typeof x>)) / (2 * h);
        }
        fd[name] = g;
      }
    }
    for (const dev of await devices()) {
      for (const mode of ['chunk', 'recurrent', 'parallel'] as const) {
        const label = `${dev.kind} ${mode} ${JSON.stringify(c)}`;
        const opt = { device: dev, requiresGrad: c.grads };
        const t = {
          q: tensor(x.q, [c.B, c.H, c.N, c.D], opt),
          k: tensor(x.k, [c.B, c.H, c.N, c.D], opt),
          v: tensor(x.v, [c.B, c.H, c.N, c.Dv], opt),
          beta: tensor(x.beta, [c.B, c.H, c.N], opt),
          gate: tensor(x.gate, [c.B, c.H, c.N], opt),
          s0: tensor(x.s0, [c.B, c.H, c.D, c.Dv], opt),
        };
        const res = await linearAttention(t.q, t.k, t.v, {
          mode, chunkSize: c.C, decay: c.decay, beta: t.beta, gate: c.gated ? t.gate : null, initialState: t.s0, outputFinalState: true,
        });
        assert.ok(relErr(await res.out.data(), ref.out) < 1e-4, `out ${relErr(await res.out.data(), ref.out)} ${label}`);
        assert.ok(relErr(await res.finalState!.data(), ref.finalState) < 1e-4, `state ${label}`);
        if (!c.grads) continue;
        add(sum(mul(res.out, tensor(gOut, res.out.shape, { device: dev }))), sum(mul(res.finalState!, tensor(gFin, res.finalState!.shape, { device: dev })))).backward();
        for (const [name, want] of Object.entries(fd)) {
          const got = await (t[name as keyof typeof t].grad as Tensor).data();
          const e = relErr(got, want);
          assert.ok(e < 1e-4, `d${name} ${e} ${label}`);
        }
      }
    }
  }
});

test('delta rule: packed sequences (cuSeqlens) restart the state; errors name the problem', async () => {
  const r = rng(92);
  const [H, D, Dv] = [2, 3, 2];
  const cu = [0, 3, 4, 11];
  const N = 11;
  const c: Case = { B: 1, H, N, D, Dv, C: 4, gated: true, decay: [1, 1], grads: false };
  const x = data(r, c);
  const nSeq = cu.length - 1;
  const s0 = randn(r, nSeq * H * D * Dv);
  for (const dev of await devices()) {
    const res = await linearAttention(tensor(x.q, [1, H, N, D], { device: dev }), tensor(x.k, [1, H, N, D], { device: dev }), tensor(x.v, [1, H, N, Dv], { device: dev }), {
      beta: tensor(x.beta, [1, H, N], { device: dev }), gate: tensor(x.gate, [1, H, N], { device: dev }),
      initialState: tensor(s0, [nSeq, H, D, Dv], { device: dev }), outputFinalState: true, cuSeqlens: cu,
    });
    const out = await res.out.data();
    const fin = await res.finalState!.data();
    for (let i = 0; i < nSeq; i++) {
      const a = cu[i]!;
      const n = cu[i + 1]! - a;
      const part = (arr: Float32Array, w: number): Float32Array => {
        const o = new Float32Array(H * n * w);
        for (let h = 0; h < H; h++) o.set(arr.subarray((h * N + a) * w, (h * N + a + n) * w), h * n * w);
        return o;
      };
      const ref = R.deltaRuleRef(part(x.q, D), part(x.k, D), part(x.v, Dv), part(x.beta, 1), { B: 1, H, N: n, D, Dv }, { gate: part(x.gate, 1), initialState: s0.subarray(i * H * D * Dv, (i + 1) * H * D * Dv) });
      assert.ok(relErr(part(out as Float32Array, Dv), ref.out) < 1e-4, `${dev.kind} sequence ${i} out`);
      assert.ok(relErr((fin as Float32Array).subarray(i * H * D * Dv, (i + 1) * H * D * Dv), ref.finalState) < 1e-4, `${dev.kind} sequence ${i} state`);
    }
  }
  const q = tensor(new Float32Array(2 * 4 * 8), [1, 2, 4, 8]);
  await assert.rejects(linearAttention(q, q, q, { beta: tensor(new Float32Array(8), [1, 2, 4]), normalize: true }), /normalize is not defined for the delta rule/);
  await assert.rejects(linearAttention(q, q, q, { beta: tensor(new Float32Array(4), [1, 1, 4]) }), /beta must be \[1, 2, 4\]/);
  await assert.rejects(linearAttention(q, q, q, { beta: tensor(Float32Array.from([0, NaN, 0, 0, 0, 0, 0, 0]), [1, 2, 4]) }), /beta must be finite, got NaN at index 1/);
});
