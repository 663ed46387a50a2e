import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reference as R } from '../src/index.js';
import { linearChunkGpu } from '../src/gpu/linear.js';
import { createBufferFrom, readBuffer } from '../src/gpu/runner.js';
import { testDevice } from './gpu.js';
import { rng, randn, relErr } from './util.js';

/** Featurise on the host in float64 (the kernel works on features), then compare y and the final state. */
test('linear chunk WGSL (forward and reverse time) vs float64 recurrent reference', async () => {
  const device = await testDevice();
  if (!device) {
    assert.fail('no WebGPU adapter (WebGPU tests fail, never skip, without one)');
  }
  const r = rng(21);
  const cases = [
    { B: 1, H: 2, N: 1, D: 4, featureMap: 'elu1' as const, decay: [1, 0.9], normalize: true, chunk: 16 },
    { B: 2, H: 2, N: 37, D: 8, featureMap: 'identity' as const, decay: [0.99, 0.9], normalize: false, chunk: 16 },
    { B: 1, H: 1, N: 130, D: 16, featureMap: 'elu1' as const, decay: [1], normalize: true, chunk: 32 },
    { B: 1, H: 2, N: 64, D: 4, featureMap: 'taylor2' as const, decay: [0.95, 1], normalize: true, chunk: 64 },
    { B: 1, H: 1, N: 100, D: 16, featureMap: 'relu' as const, decay: [0.9], normalize: false, chunk: 16 },
  ];
  for (const c of cases) {
    const { B, H, N, D } = c;
    const scale = 1 / Math.sqrt(D);
    const F = R.featureDim(c.featureMap, D);
    const W = D + (c.normalize ? 1 : 0);
    const q = randn(r, B * H * N * D);
    const k = randn(r, B * H * N * D);
    const v = randn(r, B * H * N * D);
    const s0 = Float32Array.from(randn(r, B * H * F * W), (x) => (c.normalize ? Math.abs(x) : x));
    const ref = R.linearAttentionRef(q, k, v, { B, H, N, D }, { featureMap: c.featureMap, decay: c.decay, normalize: c.normalize, scale, initialState: s0 });
    // Host featurisation; v' = [v, 1] when normalising.
    const fq = new Float32Array(B * H * N * F);
    const fk = new Float32Array(B * H * N * F);
    const vp = new Float32Array(B * H * N * W);
    for (let i = 0; i < B * H * N; i++) {
      fq.set(R.featurize(c.featureMap, q, i * D, D, scale), i * F);
      fk.set(R.featurize(c.featureMap, k, i * D, D, scale), i * F);
      for (let w = 0; w < W; w++) vp[i * W + w] = w < D ? v[i * D + w]! : 1;
    }
    const S = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
    const [qb, kb, vb, sb] = [fq, fk, vp, s0].map((x) => createBufferFrom(device, x, S)) as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
    const outScale = c.featureMap === 'taylor2' ? 1 : scale;
    const { y, finalState } = linearChunkGpu(device, qb, kb, vb, sb, { BH: B * H, H, N, F, W }, { decay: c.decay, scale: outScale, chunkSize: c.chunk, reverse: false });
    const yv = await readBuffer(device, y, B * H * N * W * 4);
    const out = new Float32Array(B * H * N * D);
    for (let i = 0; i < B * H * N; i++) {
      const den = c.normalize ? yv[i * W + D]! : 1;
      for (let d = 0; d < D; d++) out[i * D + d] = yv[i * W + d]! / den;
    }
    const eo = relErr(out, ref.out);
    const fs = (await readBuffer(device, finalState, B * H * F * W * 4)).subarray(0, B * H * F * W);
    const es = relErr(fs, ref.finalState);
    assert.ok(eo < 1e-4, `out rel err ${eo} ${JSON.stringify(c)}`);
    assert.ok(es < 1e-4, `state rel err ${es} ${JSON.stringify(c)}`);
    // Reverse time on the flipped sequence gives the flipped forward result.
    const flip = (x: Float32Array, width: number): Float32Array => {
      const o = new Float32Array(x.length);
      for (let bh = 0; bh < B * H; bh++) for (let tt = 0; tt < N; tt++) o.set(x.subarray((bh * N + tt) * width, (bh * N + tt + 1) * width), (bh * N + (N - 1 - tt)) * width);
      return o;
    };
    // Reverse time steps position u with the decay of original row N-u and none at u = 0, so its
    // initial state enters one decay later: lambda S0 matches the forward run's S0.
    const s0l = Float32Array.from(s0, (x, i) => x * c.decay[Math.floor(i / (F * W)) % H]!);
    const [qr, kr, vr, sl] = [flip(fq, F), flip(fk, F), flip(vp, W), s0l].map((x) => createBufferFrom(device, x, S)) as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
    const rev = linearChunkGpu(device, qr, kr, vr, sl, { BH: B * H, H, N, F, W }, { decay: c.decay, scale: outScale, chunkSize: c.chunk, reverse: true });
    const yr = flip((await readBuffer(device, rev.y, B * H * N * W * 4)).subarray(0, B * H * N * W), W);
    assert.ok(relErr(yr, yv.subarray(0, B * H * N * W)) < 1e-5, 'reverse mode');
    for (const b of [qb, kb, vb, sb, qr, kr, vr, sl, y, finalState, rev.y, rev.finalState]) b.destroy();
  }
});
