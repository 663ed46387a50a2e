/**
 * Numerical edge cases of linearAttention on both devices: zero normalisers (relu rows with no
 * positive feature), N = 1, extreme magnitudes. Each answer is the float64 reference or a throw.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuDevice, getDevice, tensor, sum, mul, add, type Device, type Tensor } from '@attnlab/tensor';
import { linearAttention, reference as R, type LinearAttentionOptions } from '../src/index.js';
import { rng, randn, relErr } from './util.js';

async function devices(): Promise<Device[]> {
  // WebGPU must be there (SwiftShader in CI): a missing adapter fails the test, never skips it.
  const gpu = await getDevice({ prefer: 'webgpu' });
  assert.equal(gpu.kind, 'webgpu', 'no WebGPU adapter');
  return [cpuDevice(), gpu];
}

function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

interface Case {
  B: number; H: number; N: number; D: number; Dv: number; o: LinearAttentionOptions;
  /** Row edits applied to q/k after sampling. */
  q?: (q: Float32Array) => void; k?: (k: Float32Array) => void; v?: (v: Float32Array) => void;
  label: string;
}

async function check(dev: Device, c: Case, seed: number): Promise<void> {
  const r = rng(seed);
  const { B, H, N, D, Dv } = c;
  const qa = randn(r, B * H * N * D);
  const ka = randn(r, B * H * N * D);
  const va = randn(r, B * H * N * Dv);
  c.q?.(qa);
  c.k?.(ka);
  c.v?.(va);
  const q = tensor(qa, [B, H, N, D], { device: dev, requiresGrad: true });
  const k = tensor(ka, [B, H, N, D], { device: dev, requiresGrad: true });
  const v = tensor(va, [B, H, N, Dv], { device: dev, requiresGrad: true });
  const res = await linearAttention(q, k, v, { ...c.o, outputFinalState: true });
  const scale = c.o.scale ?? 1 / Math.sqrt(D);
  const refOpts = { featureMap: c.o.featureMap, decay: c.o.decay, normalize: c.o.normalize, scale };
  const ref = R.linearAttentionRef(qa, ka, va, { B, H, N, D, Dv }, refOpts);
  const label = `${dev.kind} ${c.label}`;
  const out = await res.out.data();
  assert.ok(allFinite(out), `out has NaN/Infinity: ${label}`);
  assert.ok(relErr(out, ref.out) < 1e-4, `out ${relErr(out, ref.out)} ${label}`);
  const gOut = randn(r, B * H * N * Dv);
  const gFin = randn(r, res.finalState!.shape.reduce((a, b) => a * b, 1));
  add(sum(mul(res.out, tensor(gOut, res.out.shape, { device: dev }))), sum(mul(res.finalState!, tensor(gFin, res.finalState!.shape, { device: dev })))).backward();
  const g = R.linearAttentionRefBackward(qa, ka, va, gOut, gFin, { B, H, N, D, Dv }, refOpts);
  for (const [name, x, want] of [['dq', q, g.dq], ['dk', k, g.dk], ['dv', v, g.dv]] as const) {
    const got = await (x.grad as Tensor).data();
    assert.ok(allFinite(got), `${name} has NaN/Infinity: ${label}`);
    assert.ok(relErr(got, want) < 1e-4, `${name} ${relErr(got, want)} ${label}`);
  }
}

const negRow = (D: number, rows: number[]) => (x: Float32Array): void => {
  for (const t of rows) for (let d = 0; d < D; d++) x[t * D + d] = -Math.abs(x[t * D + d]!) - 0.1;
};

test('linearAttention relu + normalize: a query row with no positive feature gives 0 (not NaN) and finite gradients on both devices', async () => {
  for (const dev of await devices()) {
    for (const mode of ['chunk', 'recurrent', 'parallel'] as const) {
      // Row 2 of q has no positive entry: its normaliser phi(q).z is exactly 0.
      await check(dev, { B: 1, H: 1, N: 5, D: 4, Dv: 4, o: { featureMap: 'relu', normalize: true, mode, chunkSize: 4 }, q: negRow(4, [2]), label: `q row 2 zero ${mode}` }, 1);
      // The first keys have no positive entry: z is 0 for the first rows whatever q is.
      await check(dev, { B: 1, H: 2, N: 7, D: 4, Dv: 3, o: { featureMap: 'relu', normalize: true, mode, chunkSize: 4, decay: [0.9, 1] }, k: negRow(4, [0, 1, 2, 7, 8]), label: `k rows zero ${mode}` }, 2);
    }
  }
});

test('linearAttention edge sizes and magnitudes match float64 on both devices (N = 1, odd sizes, Dv != D, large and tiny inputs)', async () => {
  const scaleBy = (s: number) => (x: Float32Array): void => { for (let i = 0; i < x.length; i++) x[i]! *= s; };
  const cases: Case[] = [
    { B: 1, H: 1, N: 1, D: 1, Dv: 1, o: { featureMap: 'elu1', normalize: true }, label: 'N=1 D=1' },
    { B: 2, H: 3, N: 1, D: 5, Dv: 2, o: { featureMap: 'identity', decay: 0.5 }, label: 'N=1 Dv<D' },
    { B: 1, H: 2, N: 67, D: 3, Dv: 7, o: { featureMap: 'elu1', normalize: true, chunkSize: 64, decay: [0.97, 1] }, label: 'N=67 Dv>D' },
    { B: 1, H: 1, N: 9, D: 4, Dv: 4, o: { featureMap: 'elu1', normalize: true, chunkSize: 4 }, q: scaleBy(1e3), k: scaleBy(10), label: 'elu1 |q| ~ 1e3, |k| ~ 10' },
    // Rows of q entirely below -88 underflow to phi = 0 in f32; the answer only depends on their ratios.
    { B: 1, H: 1, N: 9, D: 4, Dv: 4, o: { featureMap: 'elu1', normalize: true, chunkSize: 4 }, q: (x) => { for (let i = 0; i < x.length; i++) x[i] = x[i]! - 120; }, label: 'elu1 q ~ -120' },
    { B: 1, H: 1, N: 9, D: 4, Dv: 4, o: { featureMap: 'identity', chunkSize: 4 }, q: scaleBy(1e-18), k: scaleBy(1e-18), label: 'identity |x| ~ 1e-18' },
    { B: 1, H: 1, N: 9, D: 4, Dv: 4, o: { featureMap: 'elu1', normalize: true, chunkSize: 4 }, v: scaleBy(1e15), label: 'elu1 |v| ~ 1e15' },
  ];
  for (const dev of await devices()) {
    for (const [i, c] of cases.entries()) await check(dev, c, 10 + i);
  }
});
