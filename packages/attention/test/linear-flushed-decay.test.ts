/**
 * Gated linear attention where a row's features meet only keys decayed far below float32 range
 * (cumulative gate under -70): the CPU kernels flush such decay factors to 0 for speed, and a
 * normalised relu row whose own key adds nothing must still get those keys' weighted mean (the
 * float64 answer), or a clear error, never a silent 0. Every device and mode, forward and backward.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuDevice, getDevice, tensor, sum, mul, type Device, type Tensor } from '@attnlab/tensor';
import { linearAttention, reference as R } from '../src/index.js';
import type { FeatureMap } from '../src/reference/linear.js';
import { rng, randn, maxAbs, maxAbsDiff } from './util.js';

/** Max error relative to the reference's largest entry (an all-zero gradient, e.g. a first step's gate, compares absolutely at 1e-2: float32 noise). */
const relErr = (a: ArrayLike<number>, b: ArrayLike<number>): number => maxAbsDiff(a, b) / Math.max(maxAbs(b), 1e-2);

async function devices(): Promise<Device[]> {
  // WebGPU must be there (SwiftShader in CI): a missing adapter fails the test, never skips it.
  const gpu = await getDevice({ prefer: 'webgpu' });
  assert.equal(gpu.kind, 'webgpu', 'no WebGPU adapter');
  return [cpuDevice(), gpu];
}

interface Case { N: number; D: number; Dv: number; q: Float32Array; k: Float32Array; v: Float32Array; g: Float32Array }

/** The issue's example: row 1's query meets only key 0, decayed by e^-70. */
const example: Case = { N: 2, D: 2, Dv: 1, q: Float32Array.of(0, 0, 1, 0), k: Float32Array.of(1, 0, 0, 1), v: Float32Array.of(3, 5), g: Float32Array.of(0, -70) };

/**
 * Keys before step p live in feature 0 only, keys from p on in the other features; gate g_p is
 * very negative. Queries after p that are positive only in feature 0 meet only the decayed keys.
 */
function variant(r: () => number, N: number, D: number, Dv: number, p: number, big: number): Case {
  const a = (x: number): number => Math.abs(x) + 0.1;
  const q = randn(r, N * D);
  const k = randn(r, N * D);
  for (let t = 0; t < N; t++) {
    for (let d = 0; d < D; d++) {
      if (t < p) k[t * D + d] = d === 0 ? a(k[t * D + d]!) : -a(k[t * D + d]!);
      else if (d === 0) k[t * D] = -a(k[t * D]!);
      // Every other query after p looks only at feature 0.
      if (t >= p && t % 2 === 0) q[t * D + d] = d === 0 ? a(q[t * D + d]!) : -a(q[t * D + d]!);
    }
  }
  const g = Float32Array.from(randn(r, N), (z) => -Math.log1p(Math.exp(-z)));
  g[p] = big;
  return { N, D, Dv, q, k, v: randn(r, N * Dv), g };
}

/** Failures (output and gradients vs float64) of one case, as messages. */
async function check(dev: Device, c: Case, map: FeatureMap, normalize: boolean, mode: 'chunk' | 'recurrent' | 'parallel', C: number, label: string): Promise<string[]> {
  const bad: string[] = [];
  const dims = { B: 1, H: 1, N: c.N, D: c.D, Dv: c.Dv };
  const refOpts = { featureMap: map, normalize, gate: c.g };
  const ref = R.linearAttentionRef(c.q, c.k, c.v, dims, refOpts);
  const gOut = randn(rng(c.N * 31 + C), c.N * c.Dv);
  const gref = R.linearAttentionRefBackward(c.q, c.k, c.v, gOut, null, dims, refOpts);
  const opt = { device: dev, requiresGrad: true };
  const q = tensor(c.q, [1, 1, c.N, c.D], opt);
  const k = tensor(c.k, [1, 1, c.N, c.D], opt);
  const v = tensor(c.v, [1, 1, c.N, c.Dv], opt);
  const g = tensor(c.g, [1, 1, c.N], opt);
  let res: Awaited<ReturnType<typeof linearAttention>>;
  try {
    res = await linearAttention(q, k, v, { featureMap: map, normalize, mode, chunkSize: C, gate: g });
  } catch (e) {
    // WebGPU's float32 chunk kernels cannot hold keys decayed past about e^-75: such a normalised row must refuse clearly.
    const msg = e instanceof Error ? e.message : String(e);
    if (dev.kind === 'webgpu' && normalize && /underflows in WebGPU's float32 chunk kernels/.test(msg)) refusedGpu.push(label);
    else bad.push(`forward threw ${msg} ${label}`);
    return bad;
  }
  const out = await res.out.data();
  if (!(relErr(out, ref.out) < 1e-4)) bad.push(`out ${relErr(out, ref.out)} ${label}: got [${Array.from(out.slice(0, 4))}...] want [${Array.from(ref.out.slice(0, 4))}...]`);
  try {
    sum(mul(res.out, tensor(gOut, res.out.shape, { device: dev }))).backward();
  } catch (e) {
    // The CPU gradient kernels flush the decay factors: a row that needs them must refuse clearly.
    const msg = e instanceof Error ? e.message : String(e);
    if (dev.kind === 'cpu' && normalize && /decayed below 2\^-100/.test(msg)) refused.push(label);
    else bad.push(`backward threw ${msg} ${label}`);
    return bad;
  }
  for (const [name, t, want] of [['dq', q, gref.dq], ['dk', k, gref.dk], ['dv', v, gref.dv], ['dgate', g, gref.dGate]] as const) {
    const e = relErr(await (t.grad as Tensor).data(), want);
    if (!(e < 1e-4)) bad.push(`${name} ${e} ${label}`);
  }
  return bad;
}

const modes = ['chunk', 'recurrent', 'parallel'] as const;
/** Cases whose CPU backward refused (with the clear error) instead of giving the gradient. */
const refused: string[] = [];
/** Cases whose WebGPU forward refused (normaliser underflowed in float32) instead of returning 0. */
const refusedGpu: string[] = [];

test('linearAttention relu+normalize: the row that meets only keys decayed by e^-70 gets their mean, not 0 (issue example, every device and mode)', async () => {
  const bad: string[] = [];
  for (const dev of await devices()) {
    for (const mode of modes) bad.push(...await check(dev, example, 'relu', true, mode, 64, `${dev.kind} ${mode} example`));
  }
  assert.deepEqual(bad, []);
});

test('linearAttention with very negative gates: random variants vs float64 (feature maps, normalize on/off, N = 1, odd N, chunk boundaries)', async () => {
  const r = rng(913);
  const bad: string[] = [];
  const cases: [number, number, number, number, number][] = [
    // N, D, Dv, p, C
    [1, 2, 1, 0, 4], [7, 3, 2, 3, 4], [19, 2, 3, 5, 4], [33, 4, 2, 9, 8], [70, 3, 5, 40, 64],
  ];
  const gpuRefusedBefore = refusedGpu.length;
  for (const dev of await devices()) {
    // The GPU chunk kernels cannot hold keys decayed below about e^-75 (they refuse those rows: last test); -50 they hold.
    for (const big of dev.kind === 'webgpu' ? [-50] : [-80, -200]) {
      for (const [N, D, Dv, p, C] of cases) {
        const c = variant(r, N, D, Dv, p, big);
        for (const map of ['relu', 'elu1', 'identity'] as const) {
          for (const normalize of [true, false]) {
            for (const mode of modes) {
              bad.push(...await check(dev, c, map, normalize, mode, C, `${dev.kind} ${mode} ${map} normalize=${normalize} N=${N} p=${p} C=${C} gate ${big}`));
              if (dev.kind === 'webgpu') break; // every mode is the chunk kernel there
            }
          }
        }
      }
    }
  }
  assert.deepEqual(bad, []);
  assert.deepEqual(refusedGpu.slice(gpuRefusedBefore), [], 'WebGPU refused rows it can compute (gate -50)');
});

// Under ATTNLAB_CPU_KERNELS=js (float64 kernels, nothing flushed) nothing is refused.
test('linearAttention CPU backward refuses (clear error) only rows that need the flushed keys: normalised relu rows cut off by the big gate', () => {
  console.log(`refused: ${refused.length}\n${refused.join('\n')}`);
  for (const l of refused) assert.match(l, /^cpu \w+ (example|relu normalize=true)/, l);
});

test('linearAttention on WebGPU: rows that meet only keys decayed past float32 (gate -120, -300) refuse clearly instead of returning 0; the CPU gives float64', async () => {
  const [cpu, gpu] = await devices();
  const r = rng(4242);
  const bad: string[] = [];
  for (const big of [-120, -300]) {
    for (const [N, D, Dv, p, C] of [[2, 2, 1, 1, 64], [19, 2, 3, 5, 4], [70, 3, 5, 40, 64]] as const) {
      const c = N === 2 ? { ...example, g: Float32Array.of(0, big) } : variant(r, N, D, Dv, p, big);
      for (const map of ['relu'] as const) { // elu1 rows always meet undecayed keys (phi > 0)
        const label = `webgpu ${map} N=${N} gate ${big}`;
        const before = refusedGpu.length;
        bad.push(...await check(gpu!, c, map, true, 'chunk', C, label));
        if (refusedGpu.length === before) bad.push(`did not refuse: ${label}`);
        // The CPU recomputes those rows exactly (its backward may refuse, recorded in \`refused\`).
        bad.push(...await check(cpu!, c, map, true, 'chunk', C, `cpu chunk ${map} normalize=true N=${N} gate ${big}`));
      }
    }
  }
  assert.deepEqual(bad, []);
  console.log(`WebGPU refused: ${refusedGpu.length}\n${refusedGpu.join('\n')}`);
  for (const l of refusedGpu) assert.match(l, /^webgpu .*(normalize=true|relu N=)/, l);
});
