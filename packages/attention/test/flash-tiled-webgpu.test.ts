/**
 * The cooperative-tile WebGPU flash kernel (kernel: 'tiled') on the float64 grid of the
 * row-per-thread kernel: masks, score mods, block masks, GQA, sigmoid, Nq != Nk, odd and large D,
 * special values; forward, lse and (through the shared backward kernels) gradients.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getDevice, tensor, sum, mul, add, type Device, type Tensor } from '@attnlab/tensor';
import { attention, causal, slidingWindow, sinks, or, scoreMod, createBlockMask, maskMod, reference as R, type AttentionOptions, type MaskMod, type BlockMask } from '../src/index.js';
import { flashTiledForwardSource, tiledShape, tiledSharedBytes } from '../src/wgsl/flash-tiled.js';
import { planFlash } from '../src/flash-plan.js';
import { flashForwardTiledGpu, splitsFor } from '../src/gpu/flash-tiled.js';
import { uploadPlan, destroyPlan } from '../src/gpu/flash.js';
import { createBufferFrom, readBuffer } from '../src/gpu/runner.js';
import { testDevice } from './gpu.js';
import { rng, randn, diffSpecials as diff } from './util.js';

async function webgpu(): Promise<Device> {
  // WebGPU must be there (SwiftShader in CI): a missing adapter fails the test, never skips it.
  const dev = await getDevice({ prefer: 'webgpu' });
  assert.equal(dev.kind, 'webgpu', 'no WebGPU adapter');
  return dev;
}

interface Case { B: number; Hq: number; Hkv: number; Nq: number; Nk: number; D: number; Dv?: number; mask?: MaskMod | BlockMask | null; opts?: AttentionOptions; grads?: boolean; edit?: (q: Float32Array) => void }

async function check(dev: Device, c: Case, seed: number): Promise<void> {
  const r = rng(seed);
  const { B, Hq, Hkv, Nq, Nk, D } = c;
  const Dv = c.Dv ?? D;
  const qa = randn(r, B * Hq * Nq * D);
  const ka = randn(r, B * Hkv * Nk * D);
  const va = randn(r, B * Hkv * Nk * Dv);
  c.edit?.(qa);
  const grads = c.grads ?? true;
  const q = tensor(qa, [B, Hq, Nq, D], { device: dev, requiresGrad: grads });
  const k = tensor(ka, [B, Hkv, Nk, D], { device: dev, requiresGrad: grads });
  const v = tensor(va, [B, Hkv, Nk, Dv], { device: dev, requiresGrad: grads });
  const res = await attention(q, k, v, { ...c.opts, mask: c.mask ?? null, kernel: 'tiled' });
  const dims = { B, Hq, Hkv, Nq, Nk, D, Dv };
  const refMask = c.mask && c.mask.kind === 'blockMask' ? c.mask.mask : (c.mask as MaskMod | null);
  const refOpts = { mask: refMask, scoreMod: (c.opts?.scoreMod as never) ?? null, normalize: c.opts?.normalize };
  const ref = R.attentionRef(qa, ka, va, dims, refOpts);
  const label = JSON.stringify({ ...dims, mask: refMask?.name, n: c.opts?.normalize });
  assert.ok(diff(await res.out.data(), ref.out) <= 1e-4, `out ${diff(await res.out.data(), ref.out)} ${label}`);
  assert.ok(diff(await res.lse.data(), ref.lse, true) <= 1e-4, `lse ${diff(await res.lse.data(), ref.lse, true)} ${label}`);
  if (!grads) return;
  const gOut = randn(r, ref.out.length);
  const gLse = ref.lse.some((x) => !Number.isFinite(x)) ? null : randn(r, ref.lse.length);
  const t = (a: Float32Array, s: readonly number[]): Tensor => tensor(a, s, { device: dev });
  const loss = gLse ? add(sum(mul(res.out, t(gOut, res.out.shape))), sum(mul(res.lse, t(gLse, res.lse.shape)))) : sum(mul(res.out, t(gOut, res.out.shape)));
  loss.backward();
  const g = R.attentionRefBackward(qa, ka, va, gOut, gLse, dims, refOpts);
  for (const [name, x, want] of [['dq', q, g.dq], ['dk', k, g.dk], ['dv', v, g.dv]] as const) {
    const e = diff(await (x.grad as Tensor).data(), want);
    assert.ok(e <= 1e-4, `${name} ${e} ${label}`);
  }
}

test('tiled WebGPU flash kernel: forward, lse and gradients vs float64 on the grid (masks, score mods, block masks, GQA, sigmoid, odd sizes)', async () => {
  const dev = await webgpu();
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
  await check(dev, { B: 1, Hq: 3, Hkv: 3, Nq: 45, Nk: 71, D: 5 }, 8);
  await check(dev, { B: 1, Hq: 2, Hkv: 1, Nq: 1, Nk: 300, D: 24, mask: causal() }, 9);
  await check(dev, { B: 1, Hq: 2, Hkv: 2, Nq: 17, Nk: 9, D: 3, opts: { scoreMod: scoreMod((s) => 30 * Math.tanh(s / 30)) } }, 10);
  // Value head dim different from the query/key dim.
  await check(dev, { B: 1, Hq: 4, Hkv: 2, Nq: 40, Nk: 70, D: 16, Dv: 40, mask: causal() }, 14);
  await check(dev, { B: 1, Hq: 2, Hkv: 2, Nq: 9, Nk: 33, D: 128, Dv: 8 }, 15);
});

test('tiled WebGPU flash kernel, split-K decode (Nq = 1): forward, lse and gradients vs float64 for 2 to 32 splits, masks, GQA, sigmoid', async () => {
  const dev = await webgpu();
  for (const [Nk, Nkb] of [[300, 2], [1000, 8], [4100, 32]] as const) {
    const plan = planFlash({ B: 1, Hq: 2, Hkv: 1, Nq: 1, Nk, D: 24 }, { mask: null, scoreMod: null, normalize: 'softmax', scale: 1, sigmoidBias: 0 });
    assert.equal(splitsFor(plan), Nkb, `splits for Nk = ${Nk}`);
  }
  await check(dev, { B: 2, Hq: 4, Hkv: 2, Nq: 1, Nk: 1000, D: 24 }, 21);
  await check(dev, { B: 1, Hq: 2, Hkv: 1, Nq: 1, Nk: 600, D: 16, Dv: 72 }, 27);
  await check(dev, { B: 1, Hq: 2, Hkv: 1, Nq: 1, Nk: 300, D: 128, mask: slidingWindow(100) }, 22);
  await check(dev, { B: 1, Hq: 2, Hkv: 2, Nq: 1, Nk: 517, D: 7, mask: or(sinks(4), slidingWindow(33)), opts: { normalize: 'sigmoid' } }, 23);
  await check(dev, { B: 1, Hq: 1, Hkv: 1, Nq: 1, Nk: 4100, D: 64, mask: causal(), grads: false }, 24);
  // Every key masked away in some splits (and everywhere for one head) still combines exactly.
  await check(dev, { B: 1, Hq: 2, Hkv: 2, Nq: 1, Nk: 700, D: 16, opts: { scoreMod: scoreMod((s, b, h, q, k) => (h === 1 || k < 650 ? -1 / 0 : s)) } }, 25);
  // A NaN query entry in head 1: that head's row is NaN after the combine, head 0 is not.
  await check(dev, { B: 1, Hq: 2, Hkv: 2, Nq: 1, Nk: 700, D: 16, edit: (q) => { q[16 + 3] = NaN; }, grads: false }, 26);
});

test('tiled WebGPU flash kernel: special values as the float64 reference (NaN rows, -Infinity scores, empty rows, huge finite scores)', async () => {
  const dev = await webgpu();
  const nanRow = (q: Float32Array): void => { q[3 * 8 + 1] = NaN; };
  // Row 3 gets a NaN query entry: that row is NaN, the others are untouched.
  await check(dev, { B: 1, Hq: 1, Hkv: 1, Nq: 6, Nk: 6, D: 8, edit: nanRow, grads: false }, 11);
  // A score mod returning -Infinity drops keys like a mask; rows with nothing left give 0 / -Infinity.
  await check(dev, { B: 1, Hq: 2, Hkv: 2, Nq: 9, Nk: 9, D: 8, opts: { scoreMod: scoreMod((s, b, h, q, k) => (k > q || q === 4 ? -1 / 0 : s)) } }, 12);
  // Every score a huge finite negative number: still an average, not masked.
  await check(dev, { B: 1, Hq: 1, Hkv: 1, Nq: 5, Nk: 6, D: 4, opts: { scoreMod: scoreMod((s) => s - 1e30) }, grads: false }, 13);
});

test('tiled WebGPU flash kernel: tile shapes fit 16 KiB of workgroup storage and 256 invocations for every head dim', () => {
  for (const D of [1, 3, 8, 16, 64, 96, 128, 256]) {
    for (const mask of [null, causal()]) {
      const plan = planFlash({ B: 1, Hq: 1, Hkv: 1, Nq: 300, Nk: 300, D }, { mask, scoreMod: null, normalize: 'softmax', scale: 1, sigmoidBias: 0 });
      const t = tiledShape(plan.fwd);
      assert.ok(tiledSharedBytes(D, t) <= 16384, `D=${D} ${JSON.stringify(t)}`);
      assert.ok(t.BR * t.TPR <= 256, `D=${D} ${JSON.stringify(t)}`);
      assert.ok(plan.fwd.QBLOCK % t.BR === 0 && plan.fwd.KBLOCK % t.BC === 0, `D=${D} ${JSON.stringify(t)}`);
      assert.match(flashTiledForwardSource(plan.fwd, t).code, /var<workgroup> Qs/);
    }
  }
});

test('attention kernel option: a name other than rowwise / tiled is an error naming it', async () => {
  const q = tensor(new Float32Array(8), [1, 1, 2, 4]);
  await assert.rejects(attention(q, q, q, { kernel: 'warp' as never }), /kernel must be 'rowwise' or 'tiled', got 'warp'/);
});

test('tiled WebGPU flash kernel without the subgroups feature (a bare device): forward and lse vs float64', async () => {
  const device = await testDevice();
  assert.ok(device, 'no WebGPU adapter');
  assert.equal(device.features.has('subgroups'), false, 'the bare test device must lack subgroups to test this path');
  const r = rng(31);
  const cases = [
    { dims: { B: 1, Hq: 4, Hkv: 2, Nq: 37, Nk: 70, D: 16 }, mask: causal() },
    { dims: { B: 2, Hq: 2, Hkv: 2, Nq: 64, Nk: 64, D: 128 }, mask: or(sinks(2), slidingWindow(9)) },
    { dims: { B: 1, Hq: 2, Hkv: 1, Nq: 9, Nk: 33, D: 5 }, mask: null },
  ];
  for (const { dims, mask } of cases) {
    const { B, Hq, Hkv, Nq, Nk, D } = dims;
    const qa = randn(r, B * Hq * Nq * D);
    const ka = randn(r, B * Hkv * Nk * D);
    const va = randn(r, B * Hkv * Nk * D);
    const plan = planFlash(dims, { mask, scoreMod: null, normalize: 'softmax', scale: 1 / Math.sqrt(D), sigmoidBias: 0 });
    const st = uploadPlan(device, plan);
    const S = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
    const [qb, kb, vb] = [qa, ka, va].map((x) => createBufferFrom(device, x, S)) as [GPUBuffer, GPUBuffer, GPUBuffer];
    const res = flashForwardTiledGpu(device, plan, st, qb, kb, vb);
    const out = (await readBuffer(device, res.out, B * Hq * Nq * D * 4)).subarray(0, B * Hq * Nq * D);
    const lse = (await readBuffer(device, res.lse, B * Hq * Nq * 4)).subarray(0, B * Hq * Nq);
    const ref = R.attentionRef(qa, ka, va, dims, { mask });
    assert.ok(diff(out, ref.out) <= 1e-4, `out ${diff(out, ref.out)} ${JSON.stringify(dims)}`);
    assert.ok(diff(lse, ref.lse, true) <= 1e-4, `lse ${JSON.stringify(dims)}`);
    for (const b of [qb, kb, vb, res.out, res.lse, res.stats]) b.destroy();
    destroyPlan(st);
  }
});
