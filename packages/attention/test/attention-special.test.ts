/**
 * No silent wrong answers in softmax attention (issue 19 item 12, issue 13 items 1-2): NaN and
 * infinities propagate as in PyTorch on every path (flash JS and SIMD, block-sparse, naive,
 * probe) and device; -Infinity from a scoreMod masks exactly; huge negative finite scores are
 * scores, not masks, and their gradients stay exact; a shader the device rejects rejects the
 * call. Every result is judged against the float64 reference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuDevice, getDevice, tensor, sum, mul, add, type Device, type Tensor } from '@attnlab/tensor';
import { attention, causal, maskMod, scoreMod, ModError, reference as R, type AttentionOptions, type MaskMod, type ScoreMod } from '../src/index.js';
import { rng, randn } from './util.js';
import * as gpuKernels from '../src/gpu/runner.js';

const devices = async (): Promise<Device[]> => [cpuDevice(), await getDevice({ prefer: 'webgpu' })];

/** NaN matches only NaN, infinities match exactly, finite values within atol + rtol|want|. */
function assertMatches(got: ArrayLike<number>, want: ArrayLike<number>, what: string, atol = 1e-4, rtol = 1e-4): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const ok = Number.isNaN(w) ? Number.isNaN(g) : !Number.isFinite(w) ? g === w : Math.abs(g - w) <= atol + rtol * Math.abs(w);
    assert.ok(ok, `${what}: element ${i} is ${g}, the float64 reference says ${w}`);
  }
}

interface Case {
  B: number; Hq: number; Hkv: number; Nq: number; Nk: number; D: number;
  mask?: MaskMod | null;
  scoreMod?: ScoreMod | null;
  impl?: 'flash' | 'naive';
  /** Poke special values into the inputs after they are drawn. */
  poke?: (q: Float32Array, k: Float32Array, v: Float32Array) => void;
  grads?: boolean;
}

async function run(dev: Device, c: Case, seed: number, label: string, tol = 1e-4): Promise<void> {
  const r = rng(seed);
  const { B, Hq, Hkv, Nq, Nk, D } = c;
  const qa = randn(r, B * Hq * Nq * D);
  const ka = randn(r, B * Hkv * Nk * D);
  const va = randn(r, B * Hkv * Nk * D);
  c.poke?.(qa, ka, va);
  const grads = c.grads ?? false;
  const q = tensor(qa, [B, Hq, Nq, D], { device: dev, requiresGrad: grads });
  const k = tensor(ka, [B, Hkv, Nk, D], { device: dev, requiresGrad: grads });
  const v = tensor(va, [B, Hkv, Nk, D], { device: dev, requiresGrad: grads });
  const opts: AttentionOptions = { mask: c.mask ?? null, scoreMod: c.scoreMod ?? null, impl: c.impl ?? 'flash', returnProbs: { heads: [0] } };
  const res = await attention(q, k, v, opts);
  const dims = { B, Hq, Hkv, Nq, Nk, D };
  const refOpts = { mask: c.mask ?? null, scoreMod: c.scoreMod ?? null };
  const ref = R.attentionRef(qa, ka, va, dims, refOpts);
  const tag = `${dev.kind} ${label}`;
  assertMatches(await res.out.data(), ref.out, `${tag} out`, tol, tol);
  assertMatches(await res.lse.data(), ref.lse, `${tag} lse`, tol, tol);
  assertMatches(await res.probs!.data(), R.attentionProbsRef(qa, ka, dims, 0, 0, refOpts), `${tag} probs`, tol, tol);
  if (!grads) return;
  const gOut = randn(r, ref.out.length);
  const gLse = randn(r, ref.lse.length);
  const t = (a: Float32Array, s: readonly number[]): Tensor => tensor(a, s, { device: dev });
  const finiteLse = ref.lse.every(Number.isFinite);
  const loss = finiteLse ? add(sum(mul(res.out, t(gOut, res.out.shape))), sum(mul(res.lse, t(gLse, res.lse.shape)))) : sum(mul(res.out, t(gOut, res.out.shape)));
  loss.backward();
  const g = R.attentionRefBackward(qa, ka, va, gOut, finiteLse ? gLse : null, dims, refOpts);
  for (const [name, x, want] of [['dq', q, g.dq], ['dk', k, g.dk], ['dv', v, g.dv]] as const) {
    assertMatches(await (x.grad as Tensor).data(), want, `${tag} ${name}`, tol, tol);
  }
}

const rowOf = (dims: { Nq: number; D: number }, h: number, i: number): number => (h * dims.Nq + i) * dims.D;

test('NaN and infinities in q, k, v propagate as PyTorch on every path and device (issue 19 item 12)', async () => {
  const base = { B: 1, Hq: 2, Hkv: 1, Nq: 7, Nk: 9 };
  const pokes: Record<string, (q: Float32Array, k: Float32Array, v: Float32Array, D: number) => void> = {
    'NaN in q': (q, _k, _v, D) => { q[rowOf({ Nq: 7, D }, 0, 3)] = NaN; },
    'NaN in k': (_q, k, _v, D) => { k[5 * D + 1] = NaN; },
    'NaN in v': (_q, _k, v, D) => { v[2 * D] = NaN; },
    '+Inf in q': (q, _k, _v, D) => { q[rowOf({ Nq: 7, D }, 1, 2)] = Infinity; },
    '-Inf in k': (_q, k, _v, D) => { k[4 * D] = -Infinity; },
  };
  let seed = 1;
  for (const dev of await devices()) {
    // D = 16 takes the SIMD forward on the CPU when the inputs are finite; D = 5 the JS one.
    for (const D of [16, 5]) {
      for (const [name, poke] of Object.entries(pokes)) {
        for (const [mlabel, mask] of [['dense', null], ['causal (block-sparse)', causal()]] as const) {
          await run(dev, { ...base, D, mask, poke: (q, k, v) => poke(q, k, v, D), grads: name !== '+Inf in q' }, seed++, `${name}, ${mlabel}, D ${D}`);
        }
        await run(dev, { ...base, D, impl: 'naive', poke: (q, k, v) => poke(q, k, v, D) }, seed++, `${name}, naive, D ${D}`);
      }
    }
  }
});

test('a scoreMod may return -Infinity (or -1/0): the key is masked exactly, on both devices (issue 13 item 1)', async () => {
  const mods = [
    scoreMod((s, b, h, q, k) => (k > q ? -Infinity : s), { name: 'causal by -Infinity' }),
    scoreMod((s, b, h, q, k) => (k > q ? -1 / 0 : s), { name: 'causal by -1/0' }),
    // Row 0 keeps nothing: out 0, lse -Infinity, no gradient.
    scoreMod((s, b, h, q, k) => (q === 0 || k > q ? -Infinity : s), { name: 'empty first row' }),
    scoreMod((s, b, h, q, k) => s + Math.sin(q - k) * 0.5 + Math.cos(k) - 0.1 * Math.tan(0.3 * s), { name: 'trig' }),
  ];
  let seed = 100;
  for (const dev of await devices()) {
    for (const sm of mods) {
      for (const [Nq, Nk, D] of [[5, 5, 16], [9, 9, 3], [1, 1, 4]] as const) {
        await run(dev, { B: 1, Hq: 2, Hkv: 1, Nq, Nk, D, scoreMod: sm, grads: true }, seed++, `${sm.name} N ${Nq}`);
      }
    }
  }
});

test('scores set to a huge negative finite C are scores, not masks; gradients stay exact (issue 13 item 2)', async () => {
  let seed = 200;
  for (const dev of await devices()) {
    for (const C of [-1e8, -1e20, -5e29, -1e30, -3e38]) {
      const sm = scoreMod((s) => C, { captures: { C }, name: `constant ${C}` });
      // Nk = 6 as the example: dv[0] was 1.4568 where 0.6235 is right.
      await run(dev, { B: 1, Hq: 1, Hkv: 1, Nq: 3, Nk: 6, D: 4, scoreMod: sm, grads: true }, seed++, `C ${C}`, 2e-4);
      // D = 16: the CPU's SIMD kernels apply (the backward must not trust the float32 lse here).
      await run(dev, { B: 1, Hq: 2, Hkv: 1, Nq: 5, Nk: 6, D: 16, scoreMod: sm, grads: true }, seed++, `C ${C} D 16`, 2e-4);
      // Half the keys at C, half masked by -Infinity: C still decides.
      const half = scoreMod((s, b, h, q, k) => (k % 2 === 0 ? C : -Infinity), { captures: { C }, name: `half ${C}` });
      await run(dev, { B: 1, Hq: 2, Hkv: 2, Nq: 5, Nk: 7, D: 3, scoreMod: half, grads: true }, seed++, `half C ${C}`, 2e-4);
    }
  }
});

test('edge sizes and fully masked rows agree with float64 on both devices', async () => {
  // Row q keeps keys k >= q + 3: the last rows keep nothing.
  const late = maskMod((b, h, q, k) => k >= q + 3);
  let seed = 300;
  for (const dev of await devices()) {
    for (const [Nq, Nk, D] of [[1, 1, 1], [1, 70, 16], [70, 1, 3], [4, 4, 16], [65, 67, 5]] as const) {
      for (const mask of [null, late]) {
        await run(dev, { B: 2, Hq: 2, Hkv: 1, Nq, Nk, D, mask, grads: true }, seed++, `Nq ${Nq} Nk ${Nk} D ${D} ${mask ? 'late' : 'dense'}`);
      }
    }
    // Tiny (subnormal-range) and large scores.
    await run(dev, { B: 1, Hq: 1, Hkv: 1, Nq: 3, Nk: 5, D: 4, poke: (q) => q.forEach((_, i) => (q[i] = q[i]! * 1e-20)), grads: true }, seed++, 'tiny q');
    await run(dev, { B: 1, Hq: 1, Hkv: 1, Nq: 3, Nk: 5, D: 4, scoreMod: scoreMod((s) => s * 1e3), grads: true }, seed++, 'scores x 1e3', 1e-3);
  }
});

test('a kernel the WebGPU device rejects rejects attention() with an error naming the mod (issue 13 item 1)', async () => {
  const gpu = await getDevice({ prefer: 'webgpu' });
  // An integer remainder by zero is a WGSL shader-creation error (JavaScript gives NaN). Before,
  // the compile error only reached the console and attention() resolved with out = 0.
  const bad = scoreMod((s, b, h, q, k) => (q >= 0 ? s : s + (7 % 0)), { name: 'remainder by zero' });
  const r = rng(7);
  const mk = (dev: Device): Tensor => tensor(randn(r, 2 * 4 * 8), [1, 2, 4, 8], { device: dev });
  await assert.rejects(attention(mk(gpu), mk(gpu), mk(gpu), { scoreMod: bad }), (e: unknown) => {
    assert.ok(e instanceof ModError, `expected a ModError, got ${String(e)}`);
    assert.match(e.message, /remainder by zero/);
    assert.match(e.message, /division by zero/);
    assert.match(e.message, /rejected by the device/);
    return true;
  });
  // The CPU evaluates the same mod as JavaScript does (the branch with NaN is never taken).
  const cpu = cpuDevice();
  const res = await attention(mk(cpu), mk(cpu), mk(cpu), { scoreMod: bad });
  assert.ok((await res.out.data()).every(Number.isFinite));
  // Raw WGSL the device refuses: compileChecked rejects with the compiler's message.
  const be = gpu.backend as unknown as { gpu: GPUDevice };
  await assert.rejects(gpuKernels.compileChecked(be.gpu, [{ code: '@compute @workgroup_size(1) fn main() { let x = 1 + ; }', buffers: [] }], (m) => new Error(`refused: ${m}`)), /refused: line 1/);
  // The device still works afterwards.
  const ok = await attention(mk(gpu), mk(gpu), mk(gpu), { scoreMod: scoreMod((s) => s * 0.5) });
  assert.ok((await ok.out.data()).every(Number.isFinite));
});
