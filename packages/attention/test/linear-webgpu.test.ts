import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getDevice, tensor, sum, mul, add, type Device, type Tensor } from '@attnlab/tensor';
import { linearAttention, reference as R } from '../src/index.js';
import { rng, randn, relErr } from './util.js';

async function webgpu(): Promise<Device | null> {
  try {
    return await getDevice({ prefer: 'webgpu' });
  } catch {
    return null;
  }
}

test('linearAttention on WebGPU (chunk kernels): outputs, final state and gradients vs float64 reference', async () => {
  const dev = await webgpu();
  if (!dev) {
    assert.fail('no WebGPU adapter (WebGPU tests fail, never skip, without one)');
  }
  const r = rng(51);
  const cases = [
    { B: 1, H: 2, N: 37, D: 8, featureMap: 'elu1' as const, normalize: true, decay: [0.9, 1], chunkSize: 16 },
    { B: 2, H: 1, N: 70, D: 16, featureMap: 'identity' as const, normalize: false, decay: [0.95], chunkSize: 32 },
    { B: 1, H: 2, N: 20, D: 4, featureMap: 'taylor2' as const, normalize: true, decay: [1, 0.8], chunkSize: 8 },
  ];
  for (const c of cases) {
    const { B, H, N, D } = c;
    const F = R.featureDim(c.featureMap, D);
    const W = D + (c.normalize ? 1 : 0);
    const qa = randn(r, B * H * N * D);
    const ka = randn(r, B * H * N * D);
    const va = randn(r, B * H * N * D);
    const sa = Float32Array.from(randn(r, B * H * F * W), (x) => Math.abs(x) + 0.1);
    const q = tensor(qa, [B, H, N, D], { device: dev, requiresGrad: true });
    const k = tensor(ka, [B, H, N, D], { device: dev, requiresGrad: true });
    const v = tensor(va, [B, H, N, D], { device: dev, requiresGrad: true });
    const s0 = tensor(sa, [B, H, F, W], { device: dev, requiresGrad: true });
    const o = { featureMap: c.featureMap, normalize: c.normalize, decay: c.decay, chunkSize: c.chunkSize };
    const res = await linearAttention(q, k, v, { ...o, initialState: s0, outputFinalState: true });
    const refOpts = { featureMap: c.featureMap, normalize: c.normalize, decay: c.decay, scale: 1 / Math.sqrt(D), initialState: sa };
    const ref = R.linearAttentionRef(qa, ka, va, { B, H, N, D }, refOpts);
    const label = JSON.stringify(c);
    assert.ok(relErr(await res.out.data(), ref.out) < 1e-4, `out ${label}`);
    assert.ok(relErr(await res.finalState!.data(), ref.finalState) < 1e-4, `state ${label}`);
    const gOut = randn(r, B * H * N * D);
    const gFin = randn(r, B * H * F * W);
    add(sum(mul(res.out, tensor(gOut, res.out.shape, { device: dev }))), sum(mul(res.finalState!, tensor(gFin, res.finalState!.shape, { device: dev })))).backward();
    const g = R.linearAttentionRefBackward(qa, ka, va, gOut, gFin, { B, H, N, D }, refOpts);
    for (const [name, x, want] of [['dq', q, g.dq], ['dk', k, g.dk], ['dv', v, g.dv], ['dS0', s0, g.dInitialState]] as const) {
      const e = relErr(await (x.grad as Tensor).data(), want);
      assert.ok(e < 1e-4, `${name} ${e} ${label}`);
    }
  }
});
