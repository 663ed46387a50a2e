import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reference as R, causal, slidingWindow, scoreMod, maskMod, or, sinks } from '../src/index.js';
import type { AttnDims, AttnRefOptions, LinearDims, LinearRefOptions } from '../src/reference/index.js';
import { rng, randn, maxAbsDiff } from './util.js';

function f64(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(a);
}

/** Central finite differences of L = <gOut, out> + <gLse, lse> w.r.t. one input array. */
function fdGrad(x: Float64Array, loss: () => number, idx: number[]): number[] {
  const e = 1e-6;
  return idx.map((i) => {
    const old = x[i]!;
    x[i] = old + e;
    const up = loss();
    x[i] = old - e;
    const dn = loss();
    x[i] = old;
    return (up - dn) / (2 * e);
  });
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i]!)) s += a[i]! * b[i]!;
  return s;
};

test('softmax reference: naive definition on a tiny case (uniform keys give the mean of values)', () => {
  const dims: AttnDims = { B: 1, Hq: 1, Hkv: 1, Nq: 1, Nk: 3, D: 2 };
  const q = [1, 2];
  const k = [0, 0, 0, 0, 0, 0];
  const v = [1, 2, 3, 4, 5, 6];
  const { out, lse } = R.attentionRef(q, k, v, dims);
  assert.deepEqual([...out], [3, 4]);
  assert.ok(Math.abs(lse[0]! - Math.log(3)) < 1e-15);
  const masked = R.attentionRef(q, k, v, dims, { mask: maskMod(() => false) });
  assert.deepEqual([...masked.out], [0, 0]);
  assert.equal(masked.lse[0], -Infinity);
});

test('softmax/sigmoid reference backward matches finite differences (masks, scoreMod, GQA, gate, dLse)', () => {
  const r = rng(4);
  const slopes = new Float32Array([0.5, 0.25, 0.125, 0.0625]);
  const configs: { dims: AttnDims; opts: AttnRefOptions }[] = [
    { dims: { B: 1, Hq: 2, Hkv: 2, Nq: 5, Nk: 5, D: 3 }, opts: {} },
    { dims: { B: 2, Hq: 4, Hkv: 2, Nq: 3, Nk: 6, D: 4 }, opts: { mask: causal(), headGate: [1, 0.5, 0, 2] } },
    { dims: { B: 1, Hq: 4, Hkv: 1, Nq: 6, Nk: 6, D: 2 }, opts: { mask: or(sinks(1), slidingWindow(2)), scoreMod: scoreMod((s, b, h, q, k) => 5 * Math.tanh(s / 5) - slopes[h]! * (q - k), { captures: { slopes } }) } },
    { dims: { B: 1, Hq: 2, Hkv: 1, Nq: 4, Nk: 7, D: 3, Dv: 2 }, opts: { normalize: 'sigmoid', mask: causal(), headGate: [0.7, 1.3] } },
    { dims: { B: 1, Hq: 1, Hkv: 1, Nq: 4, Nk: 4, D: 3 }, opts: { normalize: 'sigmoid', sigmoidBias: -1.5, scale: 0.9 } },
  ];
  for (const { dims, opts } of configs) {
    const Dv = dims.Dv ?? dims.D;
    const q = f64(randn(r, dims.B * dims.Hq * dims.Nq * dims.D));
    const k = f64(randn(r, dims.B * dims.Hkv * dims.Nk * dims.D));
    const v = f64(randn(r, dims.B * dims.Hkv * dims.Nk * Dv));
    const gOut = f64(randn(r, dims.B * dims.Hq * dims.Nq * Dv));
    const gLse = f64(randn(r, dims.B * dims.Hq * dims.Nq));
    const loss = (): number => {
      const { out, lse } = R.attentionRef(q, k, v, dims, opts);
      return dot(out, gOut) + dot(lse, gLse);
    };
    const g = R.attentionRefBackward(q, k, v, gOut, gLse, dims, opts);
    for (const [name, x, an] of [['q', q, g.dq], ['k', k, g.dk], ['v', v, g.dv]] as const) {
      const idx = Array.from({ length: Math.min(12, x.length) }, () => Math.floor(r() * x.length));
      const fd = fdGrad(x, loss, idx);
      idx.forEach((i, j) => assert.ok(Math.abs(an[i]! - fd[j]!) < 1e-6, `d${name}[${i}] ${an[i]} vs fd ${fd[j]} (${JSON.stringify(dims)})`));
    }
    if (opts.headGate) {
      const gate = Float64Array.from(opts.headGate as number[]);
      const o2 = { ...opts, headGate: gate };
      const fd = fdGrad(gate, () => {
        const { out, lse } = R.attentionRef(q, k, v, dims, o2);
        return dot(out, gOut) + dot(lse, gLse);
      }, [0, 1]);
      assert.ok(Math.abs(g.dGate[0]! - fd[0]!) < 1e-6 && Math.abs(g.dGate[1]! - fd[1]!) < 1e-6, 'dGate');
    }
    if (opts.normalize === 'sigmoid') {
      const b0 = opts.sigmoidBias ?? -Math.log(dims.Nk);
      const e = 1e-6;
      const lossB = (bias: number): number => {
        const { out, lse } = R.attentionRef(q, k, v, dims, { ...opts, sigmoidBias: bias });
        return dot(out, gOut) + dot(lse, gLse);
      };
      const fd = (lossB(b0 + e) - lossB(b0 - e)) / (2 * e);
      assert.ok(Math.abs(g.dBias - fd) < 1e-6, `dBias ${g.dBias} vs ${fd}`);
    }
  }
});

test('linear reference: recurrent == parallel form for every feature map, decay, normalize, initial state', () => {
  const r = rng(5);
  for (const featureMap of ['identity', 'elu1', 'relu', 'taylor2'] as const) {
    for (const decay of [1, 0.9, [0.99, 0.8]]) {
      for (const normalize of [false, true]) {
        if (normalize && (featureMap === 'identity' || featureMap === 'relu')) continue;
        const dims: LinearDims = { B: 1, H: 2, N: 9, D: 3, Dv: 2 };
        const F = R.featureDim(featureMap, 3);
        const W = 2 + (normalize ? 1 : 0);
        const q = randn(r, 2 * 9 * 3);
        const k = randn(r, 2 * 9 * 3);
        const v = randn(r, 2 * 9 * 2);
        const init = Float64Array.from(randn(r, 2 * F * W), (x) => (normalize ? Math.abs(x) : x));
        const opts: LinearRefOptions = { featureMap, decay, normalize, initialState: init };
        const a = R.linearAttentionRef(q, k, v, dims, opts).out;
        const b = R.linearAttentionParallelRef(q, k, v, dims, opts);
        assert.ok(maxAbsDiff(a, b) < 1e-10, `${featureMap} ${String(decay)} ${normalize}: ${maxAbsDiff(a, b)}`);
      }
    }
  }
});

test('linear reference backward matches finite differences (incl. initial and final state)', () => {
  const r = rng(6);
  for (const featureMap of ['identity', 'elu1', 'relu', 'taylor2'] as const) {
    for (const normalize of [false, true]) {
      if (normalize && (featureMap === 'identity' || featureMap === 'relu')) continue;
      const dims: LinearDims = { B: 1, H: 2, N: 6, D: 3 };
      const F = R.featureDim(featureMap, 3);
      const W = 3 + (normalize ? 1 : 0);
      const q = f64(randn(r, 2 * 6 * 3));
      const k = f64(randn(r, 2 * 6 * 3));
      const v = f64(randn(r, 2 * 6 * 3));
      const init = Float64Array.from(randn(r, 2 * F * W), (x) => (normalize ? Math.abs(x) + 0.5 : x));
      const opts: LinearRefOptions = { featureMap, decay: [0.9, 1], normalize, initialState: init };
      const gOut = f64(randn(r, 2 * 6 * 3));
      const gFin = f64(randn(r, 2 * F * W));
      const loss = (): number => {
        const res = R.linearAttentionRef(q, k, v, dims, opts);
        return dot(res.out, gOut) + dot(res.finalState, gFin);
      };
      const g = R.linearAttentionRefBackward(q, k, v, gOut, gFin, dims, opts);
      for (const [name, x, an] of [['q', q, g.dq], ['k', k, g.dk], ['v', v, g.dv], ['S0', init, g.dInitialState]] as const) {
        const idx = Array.from({ length: 10 }, () => Math.floor(r() * x.length));
        const fd = fdGrad(x, loss, idx);
        idx.forEach((i, j) => assert.ok(Math.abs(an[i]! - fd[j]!) < 1e-5 * Math.max(1, Math.abs(fd[j]!)), `${featureMap} norm=${normalize} d${name}[${i}] ${an[i]} vs ${fd[j]}`));
      }
    }
  }
});
