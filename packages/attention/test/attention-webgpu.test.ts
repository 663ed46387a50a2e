import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getDevice, tensor, sum, mul, add, type Device, type Tensor } from '@attnlab/tensor';
import { attention, causal, slidingWindow, sinks, or, scoreMod, createBlockMask, maskMod, reference as R, type AttentionOptions, type MaskMod, type BlockMask } from '../src/index.js';
import { rng, randn, maxAbsDiff } from './util.js';

async function webgpu(): Promise<Device | null> {
  try {
    return await getDevice({ prefer: 'webgpu' });
  } catch {
    return null;
  }
}

async function check(dev: Device, c: { B: number; Hq: number; Hkv: number; Nq: number; Nk: number; D: number; mask?: MaskMod | BlockMask | null; opts?: AttentionOptions }, seed: number): Promise<void> {
  const r = rng(seed);
  const { B, Hq, Hkv, Nq, Nk, D } = c;
  const qa = randn(r, B * Hq * Nq * D);
  const ka = randn(r, B * Hkv * Nk * D);
  const va = randn(r, B * Hkv * Nk * D);
  const q = tensor(qa, [B, Hq, Nq, D], { device: dev, requiresGrad: true });
  const k = tensor(ka, [B, Hkv, Nk, D], { device: dev, requiresGrad: true });
  const v = tensor(va, [B, Hkv, Nk, D], { device: dev, requiresGrad: true });
  const res = await attention(q, k, v, { ...c.opts, mask: c.mask ?? null });
  const dims = { B, Hq, Hkv, Nq, Nk, D };
  const refMask = c.mask && c.mask.kind === 'blockMask' ? c.mask.mask : (c.mask as MaskMod | null);
  const refOpts = { mask: refMask, scoreMod: (c.opts?.scoreMod as never) ?? null, normalize: c.opts?.normalize };
  const ref = R.attentionRef(qa, ka, va, dims, refOpts);
  const label = JSON.stringify({ ...dims, mask: refMask?.name, n: c.opts?.normalize });
  assert.ok(maxAbsDiff(await res.out.data(), ref.out) <= 1e-4, `out ${label}`);
  assert.ok(maxAbsDiff(await res.lse.data(), ref.lse) <= 1e-4, `lse ${label}`);
  const gOut = randn(r, ref.out.length);
  const gLse = ref.lse.some((x) => x === -Infinity) ? null : randn(r, ref.lse.length);
  const t = (a: Float32Array, s: readonly number[]): Tensor => tensor(a, s, { device: dev });
  const loss = gLse ? add(sum(mul(res.out, t(gOut, res.out.shape))), sum(mul(res.lse, t(gLse, res.lse.shape)))) : sum(mul(res.out, t(gOut, res.out.shape)));
  loss.backward();
  const g = R.attentionRefBackward(qa, ka, va, gOut, gLse, dims, refOpts);
  for (const [name, x, want] of [['dq', q, g.dq], ['dk', k, g.dk], ['dv', v, g.dv]] as const) {
    const e = maxAbsDiff(await (x.grad as Tensor).data(), want);
    assert.ok(e <= 1e-4, `${name} ${e} ${label}`);
  }
}

test('attention on the WebGPU device (tensor backend buffers): forward, lse and gradients vs float64 reference', async (t) => {
  const dev = await webgpu();
  if (!dev) {
    t.skip('no WebGPU adapter');
    return;
  }
  const slopes = new Float32Array([0.5, 0.25, 0.125, 0.0625]);
  const r = rng(5);
  const blk = Array.from({ length: 4 }, () => Array.from({ length: 4 }, () => (r() < 0.5 ? 1 : 0)));
  await check(dev, { B: 1, Hq: 4, Hkv: 4, Nq: 1, Nk: 1, D: 16 }, 1);
  await check(dev, { B: 2, Hq: 8, Hkv: 2, Nq: 7, Nk: 7, D: 32, mask: causal() }, 2);
  await check(dev, { B: 1, Hq: 8, Hkv: 1, Nq: 64, Nk: 127, D: 64, mask: or(sinks(2), slidingWindow(24)) }, 3);
  await check(dev, { B: 1, Hq: 4, Hkv: 2, Nq: 33, Nk: 33, D: 128, mask: causal(), opts: { scoreMod: scoreMod((s, b, h, q, k) => s - slopes[h]! * (q - k), { captures: { slopes } }) } }, 4);
  await check(dev, { B: 1, Hq: 4, Hkv: 4, Nq: 64, Nk: 64, D: 16, mask: createBlockMask(maskMod((b, h, q, k) => blk[Math.floor(q / 16)]![Math.floor(k / 16)] === 1, { captures: { blk } }), { B: 1, H: 4, Nq: 64, Nk: 64, blockSize: 16 }) }, 5);
  await check(dev, { B: 1, Hq: 2, Hkv: 2, Nq: 20, Nk: 20, D: 16, mask: causal(), opts: { normalize: 'sigmoid' } }, 6);
  await check(dev, { B: 1, Hq: 2, Hkv: 1, Nq: 12, Nk: 5, D: 16, mask: causal() }, 7);
});

test('attention on WebGPU: naive impl, headGate and returnProbs', async (t) => {
  const dev = await webgpu();
  if (!dev) {
    t.skip('no WebGPU adapter');
    return;
  }
  const r = rng(8);
  const [Hq, Hkv, N, D] = [4, 2, 30, 16];
  const qa = randn(r, Hq * N * D);
  const ka = randn(r, Hkv * N * D);
  const va = randn(r, Hkv * N * D);
  const q = tensor(qa, [1, Hq, N, D], { device: dev });
  const k = tensor(ka, [1, Hkv, N, D], { device: dev });
  const v = tensor(va, [1, Hkv, N, D], { device: dev });
  const flash = await attention(q, k, v, { mask: causal(), headGate: [1, 0, 2, 1], returnProbs: { heads: [2], rows: [25, 30] } });
  const naive = await attention(q, k, v, { mask: causal(), headGate: [1, 0, 2, 1], impl: 'naive' });
  const dims = { B: 1, Hq, Hkv, Nq: N, Nk: N, D };
  const ref = R.attentionRef(qa, ka, va, dims, { mask: causal(), headGate: [1, 0, 2, 1] });
  assert.ok(maxAbsDiff(await flash.out.data(), ref.out) <= 1e-4);
  assert.ok(maxAbsDiff(await naive.out.data(), ref.out) <= 1e-4);
  assert.ok(maxAbsDiff(await naive.lse.data(), ref.lse) <= 1e-4);
  const p = R.attentionProbsRef(qa, ka, dims, 0, 2, { mask: causal() }).subarray(25 * N, 30 * N);
  assert.ok(maxAbsDiff(await flash.probs!.data(), p) <= 1e-5);
});

test('attention on WebGPU: N = 8192, D = 64, one head stays under 5% of an N x N float32 buffer', async (t) => {
  const dev = await webgpu();
  if (!dev) {
    t.skip('no WebGPU adapter');
    return;
  }
  const N = 8192;
  const D = 64;
  const r = rng(12);
  const q = tensor(randn(r, N * D), [1, 1, N, D], { device: dev });
  const k = tensor(randn(r, N * D), [1, 1, N, D], { device: dev });
  const v = tensor(randn(r, N * D), [1, 1, N, D], { device: dev });
  const before = dev.stats.bytes;
  dev.resetPeak();
  // A narrow window keeps SwiftShader time down; the buffers allocated do not depend on the mask.
  const { out, lse } = await attention(q, k, v, { mask: slidingWindow(64) });
  const l = await lse.data();
  const peak = dev.stats.peakBytes - before;
  console.log(`webgpu flash N=8192 D=64: peak ${(peak / 2 ** 20).toFixed(2)} MiB of ${((0.05 * N * N * 4) / 2 ** 20).toFixed(2)} MiB budget`);
  assert.ok(peak <= 0.05 * N * N * 4, `peak ${peak}`);
  assert.ok(l.every(Number.isFinite));
  assert.equal(out.shape[2], N);
});

test('attention on WebGPU: compiled pipelines are cached; captured values do not recompile', async (t) => {
  const dev = await webgpu();
  if (!dev) {
    t.skip('no WebGPU adapter');
    return;
  }
  const { gpu } = await import('../src/index.js');
  const device = (dev.backend as unknown as { gpu: GPUDevice }).gpu;
  const r = rng(13);
  const q = tensor(randn(r, 2 * 40 * 16), [1, 2, 40, 16], { device: dev });
  await attention(q, q, q, { mask: slidingWindow(8) });
  const n0 = gpu.pipelineCount(device);
  const a = await attention(q, q, q, { mask: slidingWindow(20) });
  await attention(q, q, q, { mask: slidingWindow(8) });
  assert.equal(gpu.pipelineCount(device), n0, 'a different window is data, not code');
  const ref = R.attentionRef(await q.data(), await q.data(), await q.data(), { B: 1, Hq: 2, Hkv: 2, Nq: 40, Nk: 40, D: 16 }, { mask: slidingWindow(20) });
  assert.ok(maxAbsDiff(await a.out.data(), ref.out) <= 1e-4);
});

test('KVCache on WebGPU: keys stay on the device; decode and chunked prefill match the CPU cache under per-head eviction', async (t) => {
  const dev = await webgpu();
  if (!dev) {
    t.skip('no WebGPU adapter');
    return;
  }
  const { KVCache } = await import('../src/index.js');
  const { cpuDevice, slice } = await import('@attnlab/tensor');
  const r = rng(77);
  const [B, H, Hq, T, D] = [2, 2, 4, 27, 16];
  const ka = randn(r, B * H * T * D);
  const va = randn(r, B * H * T * D);
  const qa = randn(r, B * Hq * T * D);
  const policy = [null, { sinks: 2, window: 5 }];
  const caches = [new KVCache({ B, H, D, policy }), new KVCache({ B, H, D, policy })];
  const devs = [cpuDevice(), dev];
  const whole = devs.map((d) => [ka, va].map((a) => tensor(a, [B, H, T, D], { device: d })) as [Tensor, Tensor]);
  const qs = devs.map((d) => tensor(qa, [B, Hq, T, D], { device: d }));
  // Prefill 12 (longer than head 1's window: the float64 path), a chunk of 3 and single-token
  // decode (the flash path on the device).
  const steps: [number, number][] = [[0, 12], [12, 3]];
  for (let t0 = 15; t0 < T; t0++) steps.push([t0, 1]);
  for (const [t0, n] of steps) {
    const got = [];
    for (let i = 0; i < 2; i++) {
      const [k, v] = whole[i]!;
      await caches[i]!.append(slice(k, [0, 0, t0, 0], [B, H, n, D]), slice(v, [0, 0, t0, 0], [B, H, n, D]));
      got.push(await caches[i]!.attend(slice(qs[i]!, [0, 0, t0, 0], [B, Hq, n, D])));
    }
    assert.equal(got[1]!.out.device.kind, 'webgpu');
    assert.ok(maxAbsDiff(await got[1]!.out.data(), await got[0]!.out.data()) < 1e-4, `out at ${t0}+${n}`);
    assert.ok(maxAbsDiff(await got[1]!.lse.data(), await got[0]!.lse.data()) < 1e-4, `lse at ${t0}+${n}`);
  }
  assert.equal(caches[1]!.device?.kind, 'webgpu');
  assert.deepEqual([...caches[1]!.positions(1, 1)], [...caches[0]!.positions(1, 1)]);
  assert.equal(caches[1]!.kept(1), 7);
  assert.equal(caches[1]!.bytes(), caches[0]!.bytes());
  await assert.rejects(caches[1]!.attend(qs[0]!), /q is on cpu, the cache on webgpu/);
  await assert.rejects(caches[1]!.append(whole[0]![0], whole[0]![1]), /the cache lives on webgpu; got keys on cpu/);
  caches[1]!.dispose();
  assert.equal(caches[1]!.length, 0);
});
