/**
 * The tiny DiT: forward = a float64 reference written here from the definition (randomized shapes
 * incl. one patch, one head, odd sizes, two channels; per-head gate, zero ablation and identity
 * interpolation of the pattern; CPU and WebGPU), autograd gradients = central finite differences
 * of that reference, the DDIM sampler is deterministic given a seed, and bad input names itself.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { Rng, cpuDevice, getDevice, mean, square, sub, tensor, type Device } from '@attnlab/tensor';
import { DiT, alphasCumprod, sampleDDIM, trainDiT, type DiTConfig, type DiTConfigInput } from '../src/index.js';
import { maxAbsDiff } from './helpers.js';

async function devices(): Promise<Device[]> {
  let gpu: Device;
  try {
    gpu = await getDevice({ prefer: 'webgpu' });
  } catch (e) {
    assert.fail(`no WebGPU device (SwiftShader expected): ${(e as Error).message}`);
  }
  assert.equal(gpu.kind, 'webgpu', 'no WebGPU adapter: the WebGPU half of this test cannot run');
  return [cpuDevice(), gpu];
}

type RefState = Map<string, { data: Float32Array; shape: readonly number[] }>;

/** Every parameter random (adaLN and output projections included, which start at zero in training). */
function randomDiT(cfg: DiTConfigInput, seed: number, device: Device): DiT {
  const m = new DiT(cfg, { seed, device });
  const rng = new Rng(seed + 3);
  const st: RefState = new Map();
  for (const [name, shape] of m.paramShapes()) {
    const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
    for (let i = 0; i < a.length; i++) a[i] = 0.3 * rng.normal();
    st.set(name, { data: a, shape });
  }
  m.loadStateDict(st);
  return m;
}

const CASES: DiTConfigInput[] = [
  { imageSize: 8, patchSize: 4, nClasses: 4, dModel: 12, nLayers: 2, nHeads: 3, timesteps: 50 },
  { imageSize: 5, patchSize: 5, nClasses: 1, dModel: 8, nLayers: 1, nHeads: 1, timesteps: 7 },
  { imageSize: 6, patchSize: 2, channels: 2, nClasses: 3, dModel: 10, nLayers: 1, nHeads: 2, dHead: 3, dMlp: 7, freqDim: 6 },
  { imageSize: 9, patchSize: 3, nClasses: 2, dModel: 6, nLayers: 2, nHeads: 3, dHead: 5, timesteps: 1000 },
];

interface RefHeads {
  gate?: (l: number, h: number) => number;
  /** Interpolation weight toward the identity pattern. */
  u?: (l: number, h: number) => number;
}

test('DiT forward = float64 reference on randomized shapes, with head controls (CPU and WebGPU)', async () => {
  for (const dev of await devices()) {
    for (const [ci, cfg] of CASES.entries()) {
      for (const B of [1, 3]) {
        const m = randomDiT(cfg, 10 + ci, dev);
        const c = m.config;
        const rng = new Rng(100 + ci * 7 + B);
        const imgs = Float32Array.from({ length: B * c.channels * c.imageSize ** 2 }, () => rng.normal());
        const t = Array.from({ length: B }, () => rng.int(c.timesteps));
        const y = Array.from({ length: B }, () => rng.int(c.nClasses + 1));
        const shape = [B, c.channels, c.imageSize, c.imageSize];
        const tol = (want: Float64Array): number => 2e-4 * Math.max(1, ...Array.from(want, Math.abs));
        const got = await (await m.run({ data: imgs, shape }, t, y)).data();
        const want = ditRef64(c, await m.stateDict(), imgs, B, t, y);
        assert.ok(maxAbsDiff(got, want) < tol(want), `${dev.kind} case ${ci} B ${B}: max error ${maxAbsDiff(got, want)}`);
        // Gate, zero ablation and identity interpolation on some heads.
        const L = c.nLayers;
        const H = c.nHeads;
        m.heads.set({ layer: L - 1, head: H - 1 }, { perturb: { mode: 'identity', strength: 0.6 } });
        m.heads.set({ layer: 0, head: 0 }, { gate: H > 1 ? 0 : 1.5 });
        const ctl: RefHeads = {
          gate: (l, h) => (l === 0 && h === 0 ? (H > 1 ? 0 : 1.5) : 1),
          u: (l, h) => (l === L - 1 && h === H - 1 ? 0.6 : 0),
        };
        const got2 = await (await m.run({ data: imgs, shape }, t, y)).data();
        const want2 = ditRef64(c, await m.stateDict(), imgs, B, t, y, ctl);
        assert.ok(maxAbsDiff(got2, want2) < tol(want2), `${dev.kind} case ${ci} B ${B} with head controls: max error ${maxAbsDiff(got2, want2)}`);
        assert.ok(maxAbsDiff(want2, want) > 1e-3, 'the head controls change the reference output');
        m.heads.reset();
      }
    }
  }
});

test('DiT gradients = central differences of the float64 reference (every parameter tensor)', async () => {
  const cfg = CASES[3]!;
  const m = randomDiT(cfg, 31, cpuDevice());
  const c = m.config;
  const B = 2;
  const rng = new Rng(32);
  const imgs = Float32Array.from({ length: B * 81 }, () => rng.normal());
  const target = Float32Array.from({ length: B * 81 }, () => rng.normal());
  const t = [3, 700];
  const y = [0, 2];
  const pred = await m.run({ data: imgs, shape: [B, 9, 9] }, t, y, { grad: true });
  mean(square(sub(pred, tensor(target, [B, 1, 9, 9])))).backward();
  const st = await m.stateDict();
  const lossRef = (s: RefState): number => {
    const out = ditRef64(c, s, imgs, B, t, y);
    let L = 0;
    for (let i = 0; i < out.length; i++) L += (out[i]! - target[i]!) ** 2;
    return L / out.length;
  };
  let worst = 0;
  for (const [name, p] of m.namedParameters()) {
    const g = (await p.grad!.data()) as Float32Array;
    for (let k = 0; k < 2; k++) {
      const i = rng.int(p.size);
      const eps = 1e-3;
      const orig = st.get(name)!.data;
      // The reference reads float32 parameters: perturb in float32 and divide by the step actually taken.
      const up = Float32Array.from(orig);
      up[i] = orig[i]! + eps;
      const dn = Float32Array.from(orig);
      dn[i] = orig[i]! - eps;
      const fd = (lossRef(new Map(st).set(name, { data: up, shape: st.get(name)!.shape })) - lossRef(new Map(st).set(name, { data: dn, shape: st.get(name)!.shape }))) / (up[i]! - dn[i]!);
      const err = Math.abs(fd - g[i]!) / Math.max(1e-2, Math.abs(fd));
      worst = Math.max(worst, err);
      assert.ok(err < 2e-2, `${name}[${i}]: autograd ${g[i]} vs finite difference ${fd}`);
    }
  }
  assert.ok(worst < 2e-2);
});

test('DDIM sampling is deterministic given a seed; guidance hooks see every step', async () => {
  const m = randomDiT({ imageSize: 8, patchSize: 4, nClasses: 2, dModel: 8, nLayers: 1, nHeads: 2, timesteps: 100 }, 5, cpuDevice());
  const labels = [0, 1, 2];
  const a = await sampleDDIM(m, { labels, steps: 6, seed: 9, cfgScale: 1.5 });
  const b = await sampleDDIM(m, { labels, steps: 6, seed: 9, cfgScale: 1.5 });
  assert.deepEqual(a.images, b.images);
  assert.deepEqual(a.shape, [3, 1, 8, 8]);
  const c = await sampleDDIM(m, { labels, steps: 6, seed: 10, cfgScale: 1.5 });
  assert.ok(maxAbsDiff(a.images, c.images) > 1e-3, 'another seed gives other images');
  // η > 0 draws noise from the same seeded stream: still reproducible.
  const e1 = await sampleDDIM(m, { labels, steps: 6, seed: 9, eta: 1 });
  const e2 = await sampleDDIM(m, { labels, steps: 6, seed: 9, eta: 1 });
  assert.deepEqual(e1.images, e2.images);
  // An identity guidance hook changes nothing; it is called once per step, noisiest first.
  const seen: number[] = [];
  const g = await sampleDDIM(m, { labels, steps: 6, seed: 9, cfgScale: 1.5, guidance: ({ t, eps }) => (seen.push(t), eps) });
  assert.deepEqual(g.images, a.images);
  assert.deepEqual(seen, [99, 79, 59, 40, 20, 0]);
  // A hook that re-runs the model with a perturbed head changes the samples.
  const pag = await sampleDDIM(m, {
    labels, steps: 6, seed: 9, cfgScale: 1.5,
    guidance: async ({ eps, predict }) => {
      m.heads.set({ layer: 0, head: 1 }, { perturb: { mode: 'identity', strength: 1 } });
      const weak = await predict();
      m.heads.reset();
      const [e, w] = [(await eps.data()) as Float32Array, (await weak.data()) as Float32Array];
      return tensor(Float32Array.from(e, (v, i) => v + 2 * (v - w[i]!)), [...eps.shape]);
    },
  });
  assert.ok(maxAbsDiff(pag.images, a.images) > 1e-3);
});

test('DiT trains: ε-MSE falls over 60 steps on the shapes', async () => {
  const m = new DiT({ imageSize: 16, patchSize: 4, nClasses: 4, dModel: 32, nLayers: 1, nHeads: 2 }, { seed: 1 });
  const { losses } = await trainDiT(m, { steps: 60, batchSize: 16, lr: 3e-3, seed: 2 });
  const avg = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
  // Starts near 1 (ε has unit variance and the output projection starts at zero); measured about 0.5 at the end.
  assert.ok(avg(losses.slice(0, 5)) > 0.9, `first losses ${losses.slice(0, 5)}`);
  assert.ok(avg(losses.slice(-10)) < 0.8 * avg(losses.slice(0, 5)), `last losses ${losses.slice(-10)}`);
});

test('DiT: bad input is an error naming it', async () => {
  assert.throws(() => new DiT({ imageSize: 10, patchSize: 4, nClasses: 2, dModel: 8, nLayers: 1, nHeads: 2 }), /imageSize 10 is not a multiple of patchSize 4/);
  assert.throws(() => new DiT({ imageSize: 8, patchSize: 4, nClasses: 2, dModel: 9, nLayers: 1, nHeads: 2 }), /dModel 9 is not divisible by nHeads 2/);
  assert.throws(() => new DiT({ imageSize: 8, patchSize: 4, nClasses: 2, dModel: 8, nLayers: 1, nHeads: 2, freqDim: 5 }), /freqDim must be even/);
  const m = new DiT({ imageSize: 8, patchSize: 4, nClasses: 2, dModel: 8, nLayers: 1, nHeads: 2, timesteps: 10 });
  const x = { data: new Float32Array(2 * 64), shape: [2, 1, 8, 8] };
  await assert.rejects(m.run({ data: new Float32Array(2 * 63), shape: [2, 7, 9] }, [0, 0], [0, 0]), /images have shape \[2, 7, 9\], expected \[B, 1, 8, 8\]/);
  await assert.rejects(m.run({ data: new Float32Array(5), shape: [2, 1, 8, 8] }, [0, 0], [0, 0]), /images data has 5 values, shape \[2, 1, 8, 8\] needs 128/);
  await assert.rejects(m.run(x, [0, 10], [0, 0]), /timestep 10 \(image 1\) must be an integer in \[0, 10\)/);
  await assert.rejects(m.run(x, [0, 1.5], [0, 0]), /timestep 1.5/);
  await assert.rejects(m.run(x, [0], [0, 0]), /timesteps has 1 entries for 2 images/);
  await assert.rejects(m.run(x, [0, 0], [3, 0]), /class id 3 \(image 0\) must be an integer in \[0, 2\] \(2 = null class\)/);
  await assert.rejects(m.run(x, [0, 0], [-1, 0]), /class id -1/);
  await assert.rejects(m.run(x, [0, 0], [0, 0], { hookz: [] } as never), /unknown option 'hookz'/);
  await assert.rejects(sampleDDIM(m, { labels: [0], steps: 11 }), /steps must be an integer in \[1, 10\]/);
  await assert.rejects(sampleDDIM(m, { labels: [5] }), /class id 5 must be in \[0, 2\]/);
  await assert.rejects(sampleDDIM(m, { labels: [0], steps: 2, noise: new Float32Array(3) }), /noise has 3 values, expected 64/);
  assert.throws(() => DiT.fromSafetensors({ kind: 'vit', imageSize: 8, patchSize: 4, nClasses: 2, dModel: 8, nLayers: 1, nHeads: 2 }, new Uint8Array(16)), /kind is 'vit', expected 'dit'/);
  // ᾱ is decreasing and starts at 1 − β₀.
  const ab = alphasCumprod(m.config);
  assert.ok(Math.abs(ab[0]! - (1 - 1e-4)) < 1e-12 && ab.every((v, i) => i === 0 || v < ab[i - 1]!));
});

// ------------------------------------------------------------------ float64 reference (from the definition)

function ditRef64(c: DiTConfig, st: RefState, imgs: Float32Array, B: number, t: number[], y: number[], heads: RefHeads = {}): Float64Array {
  const P = c.patchSize;
  const S = c.imageSize;
  const side = S / P;
  const N = side * side;
  const C = c.channels;
  const F = C * P * P;
  const D = c.dModel;
  const H = c.nHeads;
  const Dh = c.dHead;
  const w = (name: string): Float32Array => st.get(name)!.data;
  // rows (n × k) @ W (k × m) + b
  const linear = (rows: Float64Array[], W: Float32Array, b: Float32Array, m: number): Float64Array[] =>
    rows.map((r) => {
      const o = new Float64Array(m);
      for (let j = 0; j < m; j++) {
        let s = b[j]!;
        for (let k = 0; k < r.length; k++) s += r[k]! * W[k * m + j]!;
        o[j] = s;
      }
      return o;
    });
  const silu = (v: number): number => v / (1 + Math.exp(-v));
  const norm = (r: Float64Array): Float64Array => {
    let mu = 0;
    for (const v of r) mu += v;
    mu /= r.length;
    let va = 0;
    for (const v of r) va += (v - mu) ** 2;
    va /= r.length;
    return r.map((v) => (v - mu) / Math.sqrt(va + c.normEps));
  };
  const out = new Float64Array(B * C * S * S);
  for (let b = 0; b < B; b++) {
    // Condition: MLP of the sinusoidal timestep features + class embedding, through SiLU.
    const half = c.freqDim / 2;
    const tf = new Float64Array(c.freqDim);
    for (let i = 0; i < half; i++) {
      const f = Math.pow(10000, -i / half);
      tf[i] = Math.cos(t[b]! * f);
      tf[half + i] = Math.sin(t[b]! * f);
    }
    const te = linear(linear([tf], w('t_embed.fc1.weight'), w('t_embed.fc1.bias'), D).map((r) => r.map(silu)), w('t_embed.fc2.weight'), w('t_embed.fc2.bias'), D)[0]!;
    const cond = te.map((v, j) => silu(v + w('y_embed.weight')[y[b]! * D + j]!));
    // Tokens: patches (channel, row, column inside a patch) @ W + b + position.
    let x: Float64Array[] = [];
    for (let py = 0; py < side; py++) {
      for (let px = 0; px < side; px++) {
        const f = new Float64Array(F);
        let k = 0;
        for (let ch = 0; ch < C; ch++) for (let yy = 0; yy < P; yy++) for (let xx = 0; xx < P; xx++) f[k++] = imgs[((b * C + ch) * S + py * P + yy) * S + px * P + xx]!;
        x.push(f);
      }
    }
    x = linear(x, w('patch_embed.weight'), w('patch_embed.bias'), D).map((r, n) => r.map((v, j) => v + w('pos_embed')[n * D + j]!));
    const mod = (name: string, k: number): Float64Array[] => {
      const m = linear([cond], w(`${name}.weight`), w(`${name}.bias`), k * D)[0]!;
      return Array.from({ length: k }, (_, i) => m.slice(i * D, (i + 1) * D));
    };
    const modulate = (r: Float64Array, sh: Float64Array, sc: Float64Array): Float64Array => norm(r).map((v, j) => v * (1 + sc[j]!) + sh[j]!);
    for (let l = 0; l < c.nLayers; l++) {
      const [sh1, sc1, g1, sh2, sc2, g2] = mod(`h.${l}.adaLN`, 6) as Float64Array[] as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
      const x1 = x.map((r) => modulate(r, sh1, sc1));
      const qkv = linear(x1, w(`h.${l}.attn.c_attn.weight`), w(`h.${l}.attn.c_attn.bias`), 3 * H * Dh);
      const z = Array.from({ length: N }, () => new Float64Array(H * Dh));
      for (let h = 0; h < H; h++) {
        const u = heads.u?.(l, h) ?? 0;
        const gate = heads.gate?.(l, h) ?? 1;
        for (let i = 0; i < N; i++) {
          const sc = new Float64Array(N);
          for (let j = 0; j < N; j++) {
            let s = 0;
            for (let d = 0; d < Dh; d++) s += qkv[i]![h * Dh + d]! * qkv[j]![H * Dh + h * Dh + d]!;
            sc[j] = s / Math.sqrt(Dh);
          }
          const mx = Math.max(...sc);
          const e = sc.map((v) => Math.exp(v - mx));
          const tot = e.reduce((a, v) => a + v, 0);
          const p = e.map((v, j) => (1 - u) * (v / tot) + (i === j ? u : 0));
          for (let d = 0; d < Dh; d++) {
            let s = 0;
            for (let j = 0; j < N; j++) s += p[j]! * qkv[j]![2 * H * Dh + h * Dh + d]!;
            z[i]![h * Dh + d] = gate * s;
          }
        }
      }
      const ao = linear(z, w(`h.${l}.attn.c_proj.weight`), w(`h.${l}.attn.c_proj.bias`), D);
      x = x.map((r, n) => r.map((v, j) => v + g1[j]! * ao[n]![j]!));
      const x2 = x.map((r) => modulate(r, sh2, sc2));
      const hmid = linear(x2, w(`h.${l}.mlp.c_fc.weight`), w(`h.${l}.mlp.c_fc.bias`), c.dMlp).map((r) => r.map(silu));
      const mo = linear(hmid, w(`h.${l}.mlp.c_proj.weight`), w(`h.${l}.mlp.c_proj.bias`), D);
      x = x.map((r, n) => r.map((v, j) => v + g2[j]! * mo[n]![j]!));
    }
    const [shf, scf] = mod('final.adaLN', 2) as [Float64Array, Float64Array];
    const o = linear(x.map((r) => modulate(r, shf, scf)), w('final.linear.weight'), w('final.linear.bias'), F);
    for (let py = 0; py < side; py++) {
      for (let px = 0; px < side; px++) {
        let k = 0;
        for (let ch = 0; ch < C; ch++) for (let yy = 0; yy < P; yy++) for (let xx = 0; xx < P; xx++) out[((b * C + ch) * S + py * P + yy) * S + px * P + xx] = o[py * side + px]![k++]!;
      }
    }
  }
  return out;
}
