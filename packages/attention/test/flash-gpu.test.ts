import { test } from 'node:test';
import assert from 'node:assert/strict';
import { causal, slidingWindow, sinks, or, maskMod, scoreMod, createBlockMask, reference as R } from '../src/index.js';
import type { MaskMod, ScoreMod, BlockMask } from '../src/index.js';
import { planFlash } from '../src/flash-plan.js';
import { flashForwardGpu, flashBackwardGpu, uploadPlan, destroyPlan } from '../src/gpu/flash.js';
import { createBufferFrom, readBuffer } from '../src/gpu/runner.js';
import { testDevice, checkErrors } from './gpu.js';
import { rng, randn, maxAbsDiff } from './util.js';

interface Case {
  B: number; Hq: number; Hkv: number; Nq: number; Nk: number; D: number;
  mask?: MaskMod | BlockMask | null; scoreMod?: ScoreMod | null; normalize?: 'softmax' | 'sigmoid'; backward?: boolean;
}

async function runCase(device: GPUDevice, c: Case, seed: number): Promise<void> {
  const r = rng(seed);
  const dims = { B: c.B, Hq: c.Hq, Hkv: c.Hkv, Nq: c.Nq, Nk: c.Nk, D: c.D };
  const q = randn(r, c.B * c.Hq * c.Nq * c.D);
  const k = randn(r, c.B * c.Hkv * c.Nk * c.D);
  const v = randn(r, c.B * c.Hkv * c.Nk * c.D);
  const scale = 1 / Math.sqrt(c.D);
  const normalize = c.normalize ?? 'softmax';
  const sigmoidBias = -Math.log(c.Nk);
  const plan = planFlash(dims, { mask: c.mask ?? null, scoreMod: c.scoreMod ?? null, normalize, scale, sigmoidBias });
  const refMask = plan.mask;
  const refOpts = { mask: refMask, scoreMod: c.scoreMod ?? null, normalize, scale, sigmoidBias };
  const ref = R.attentionRef(q, k, v, dims, refOpts);
  const label = JSON.stringify({ ...dims, mask: refMask?.name, score: c.scoreMod?.name, normalize });
  await checkErrors(device, async () => {
    const st = uploadPlan(device, plan);
    const S = GPUBufferUsage.STORAGE;
    const [qb, kb, vb] = [q, k, v].map((x) => createBufferFrom(device, x, S | GPUBufferUsage.COPY_SRC)) as [GPUBuffer, GPUBuffer, GPUBuffer];
    const { out, lse, stats } = flashForwardGpu(device, plan, st, qb, kb, vb);
    const o = (await readBuffer(device, out, ref.out.length * 4)).subarray(0, ref.out.length);
    const l = (await readBuffer(device, lse, ref.lse.length * 4)).subarray(0, ref.lse.length);
    assert.ok(o.every(Number.isFinite), `out has non-finite values ${label}`);
    const eo = maxAbsDiff(o, ref.out);
    const el = maxAbsDiff(l, ref.lse);
    assert.ok(eo <= 1e-4, `out err ${eo} ${label}`);
    assert.ok(el <= 1e-4, `lse err ${el} ${label}`);
    if (c.backward) {
      const dO = randn(r, ref.out.length);
      const dL = randn(r, ref.lse.length);
      const g = R.attentionRefBackward(q, k, v, dO, dL, dims, refOpts);
      const dob = createBufferFrom(device, dO, S);
      const dlb = createBufferFrom(device, dL, S);
      const { dq, dk, dv } = flashBackwardGpu(device, plan, st, qb, kb, vb, out, stats, dob, dlb);
      for (const [name, buf, want] of [['dq', dq, g.dq], ['dk', dk, g.dk], ['dv', dv, g.dv]] as const) {
        const got = (await readBuffer(device, buf, want.length * 4)).subarray(0, want.length);
        const e = maxAbsDiff(got, want);
        assert.ok(e <= 1e-4, `${name} err ${e} ${label}`);
        buf.destroy();
      }
      dob.destroy();
      dlb.destroy();
    }
    for (const b of [qb, kb, vb, out, lse, stats]) b.destroy();
    destroyPlan(st);
  });
}

test('flash WGSL forward + backward vs float64 reference (SwiftShader grid)', async (t) => {
  const device = await testDevice();
  if (!device) {
    t.skip('no WebGPU adapter');
    return;
  }
  const slopes = new Float32Array([0.5, 0.25, 0.125, 0.0625, 0.03, 0.02, 0.01, 0.005]);
  const r = rng(11);
  const blk = Array.from({ length: 4 }, () => Array.from({ length: 3 }, () => Array.from({ length: 3 }, () => (r() < 0.5 ? 1 : 0))));
  const randomBlocks = maskMod((b, h, q, k) => blk[h]![Math.floor(q / 16)]![Math.floor(k / 16)] === 1, { captures: { blk } });
  const cases: Case[] = [
    { B: 1, Hq: 1, Hkv: 1, Nq: 1, Nk: 1, D: 16, backward: true },
    { B: 2, Hq: 4, Hkv: 4, Nq: 7, Nk: 7, D: 16, mask: causal(), backward: true },
    { B: 1, Hq: 8, Hkv: 2, Nq: 64, Nk: 64, D: 32, mask: causal(), backward: true },
    { B: 1, Hq: 8, Hkv: 1, Nq: 127, Nk: 127, D: 64, mask: or(sinks(4), slidingWindow(32)), backward: true },
    { B: 1, Hq: 4, Hkv: 4, Nq: 7, Nk: 130, D: 32, mask: causal(), backward: true },
    { B: 1, Hq: 4, Hkv: 2, Nq: 40, Nk: 9, D: 16, mask: causal(), backward: true },
    { B: 1, Hq: 4, Hkv: 4, Nq: 48, Nk: 48, D: 16, mask: createBlockMask(randomBlocks, { B: 1, H: 4, Nq: 48, Nk: 48, blockSize: 16 }), backward: true },
    { B: 1, Hq: 2, Hkv: 1, Nq: 33, Nk: 65, D: 128, mask: null, backward: true },
    { B: 1, Hq: 8, Hkv: 8, Nq: 50, Nk: 50, D: 16, mask: causal(), scoreMod: scoreMod((s, b, h, q, k) => 8 * Math.tanh(s / 8) - slopes[h]! * (q - k), { captures: { slopes } }), backward: true },
    { B: 1, Hq: 2, Hkv: 2, Nq: 21, Nk: 21, D: 16, normalize: 'sigmoid', mask: causal(), backward: true },
    { B: 1, Hq: 1, Hkv: 1, Nq: 513, Nk: 513, D: 16, mask: causal() },
    // The grid's largest N on WebGPU too (one head keeps SwiftShader and the float64 reference quick).
    { B: 1, Hq: 1, Hkv: 1, Nq: 2048, Nk: 2048, D: 64, mask: causal(), backward: true },
  ];
  let seed = 100;
  for (const c of cases) {
    if (process.env["FLASH_DEBUG"]) console.log("case", JSON.stringify({ ...c, mask: undefined, scoreMod: undefined }));
    await runCase(device, c, seed++);
  }
});

test('flash WGSL: fully masked rows give out 0 and lse -Infinity, no NaN', async (t) => {
  const device = await testDevice();
  if (!device) {
    t.skip('no WebGPU adapter');
    return;
  }
  // Nq > Nk with causal (bottom-right): the first Nq - Nk rows see no key.
  await runCase(device, { B: 1, Hq: 1, Hkv: 1, Nq: 20, Nk: 5, D: 16, mask: causal(), backward: true }, 7);
  await runCase(device, { B: 1, Hq: 2, Hkv: 1, Nq: 9, Nk: 9, D: 16, mask: maskMod((b, h, q, k) => q % 2 === 0 && k <= q), backward: true }, 8);
});
