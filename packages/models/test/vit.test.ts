/**
 * The tiny ViT: forward = a float64 reference written here from the definition (randomized shapes
 * incl. one patch, one head, odd sizes, three channels, per-head variant options and head ablation;
 * CPU and WebGPU), autograd gradients = central finite differences of that reference, and a few
 * hundred steps on the synthetic shapes reach well-above-chance accuracy.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { Rng, cpuDevice, crossEntropy, getDevice, tensor, type Device } from '@attnlab/tensor';
import { ViT, SHAPE_CLASSES, evaluateViT, shapes, trainViT, type ViTConfigInput } from '../src/index.js';
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

function randomViT(cfg: ViTConfigInput, seed: number, device: Device): ViT {
  const m = new ViT(cfg, { seed, device });
  const rng = new Rng(seed + 3);
  const st = new Map<string, { data: Float32Array; shape: readonly number[] }>();
  for (const [name, shape] of m.paramShapes()) {
    const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
    const normW = /ln_\d\.weight|ln_f\.weight/.test(name);
    for (let i = 0; i < a.length; i++) a[i] = normW ? 1 + 0.2 * rng.normal() : 0.3 * rng.normal();
    st.set(name, { data: a, shape });
  }
  m.loadStateDict(st);
  return m;
}

function randomImages(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

const CASES: ViTConfigInput[] = [
  { imageSize: 8, patchSize: 4, nClasses: 4, dModel: 12, nLayers: 2, nHeads: 3 },
  { imageSize: 5, patchSize: 5, nClasses: 1, dModel: 8, nLayers: 1, nHeads: 1 },
  { imageSize: 6, patchSize: 2, channels: 3, nClasses: 5, dModel: 10, nLayers: 1, nHeads: 2, dHead: 3, dMlp: 7 },
  { imageSize: 9, patchSize: 3, nClasses: 3, dModel: 6, nLayers: 2, nHeads: 3, dHead: 5 },
];

test('ViT forward = float64 reference on randomized shapes (CPU and WebGPU)', async () => {
  for (const dev of await devices()) {
    for (const [ci, cfg] of CASES.entries()) {
      for (const B of [1, 3]) {
        const m = randomViT(cfg, 10 + ci, dev);
        const c = m.config;
        const rng = new Rng(100 + ci * 7 + B);
        const imgs = randomImages(rng, B * c.channels * c.imageSize * c.imageSize);
        const got = await (await m.run({ data: imgs, shape: [B, c.channels, c.imageSize, c.imageSize] })).data();
        const want = vitRef64(c, await m.stateDict(), imgs, B);
        const e = maxAbsDiff(got, want);
        assert.ok(e < 2e-4 * Math.max(1, ...Array.from(want, Math.abs)), `${dev.kind} case ${ci} B ${B}: max error ${e}`);
      }
    }
  }
});

test('ViT per-head variant options and head ablation follow the reference; hooks fire with LM shapes', async () => {
  for (const dev of await devices()) {
    const cfg = CASES[0]!;
    const m = randomViT(cfg, 21, dev);
    const c = m.config;
    const B = 2;
    const imgs = randomImages(new Rng(22), B * 64);
    m.setAttention(1, 'softmax', { scale: 0.25 }, [0, 2]);
    m.heads.set({ layer: 0, head: 1 }, { ablate: 'zero' });
    const seen: Record<string, readonly number[]> = {};
    const logits = await m.run({ data: imgs, shape: [B, 8, 8] }, { hooks: [[() => true, (t, ctx) => {
      seen[ctx.name] = t.shape;
    }]] });
    const want = vitRef64(c, await m.stateDict(), imgs, B,
      (l, x) => (l === 0 ? x.map(() => [1, 0, 1]) : null), (l, h) => (l === 1 && h !== 1 ? 0.25 : 1 / Math.sqrt(c.dHead)));
    assert.ok(maxAbsDiff(await logits.data(), want) < 2e-4, `${dev.kind}: ablated/per-head-scale forward`);
    assert.deepEqual(seen['blocks.1.attn.hook_pattern'], [B, 3, 5, 5]);
    assert.deepEqual(seen['blocks.0.attn.hook_z'], [B, 5, 3, 4]);
    assert.deepEqual(seen['blocks.0.attn.hook_q'], [B, 5, 3, 4]);
    assert.deepEqual(seen['hook_cls'], [B, 12]);
    for (const n of Object.keys(seen)) assert.ok(m.hookNames().includes(n), `hook ${n} is listed by hookNames()`);
    const { cache } = await m.runWithCache({ data: imgs, shape: [B, 8, 8] }, (n) => n === 'blocks.0.attn.hook_pattern');
    const p = (await cache['blocks.0.attn.hook_pattern']!.data()) as Float32Array;
    for (let r = 0; r < p.length / 5; r++) {
      const s = p.slice(r * 5, r * 5 + 5).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(s - 1) < 1e-5, 'pattern rows sum to 1 (bidirectional: every key visible)');
    }
    assert.ok(p.every((v) => v > 0), 'no causal zeros in a bidirectional pattern');
    m.heads.reset();
  }
});

test('ViT gradients = central finite differences of the float64 reference (CPU and WebGPU)', async () => {
  for (const dev of await devices()) {
    const cfg = CASES[3]!;
    const m = randomViT(cfg, 31, dev);
    const c = m.config;
    const B = 3;
    const imgs = randomImages(new Rng(32), B * 81);
    const labels = Int32Array.from([0, 2, 1]);
    const logits = await m.run({ data: imgs, shape: [B, 9, 9] }, { grad: true });
    crossEntropy(logits, tensor(labels, [B], { device: dev, dtype: 'int32' })).backward();
    const st = await m.stateDict();
    const lossRef = (s: typeof st): number => {
      const z = vitRef64(c, s, imgs, B);
      let L = 0;
      for (let b = 0; b < B; b++) {
        const row = Array.from(z.subarray(b * c.nClasses, (b + 1) * c.nClasses));
        const mx = Math.max(...row);
        L += mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0)) - row[labels[b]!]!;
      }
      return L / B;
    };
    const rng = new Rng(33);
    let worst = 0;
    for (const [name, p] of m.namedParameters()) {
      const g = (await p.grad!.data()) as Float32Array;
      for (let t = 0; t < 2; t++) {
        const i = rng.int(p.size);
        const eps = 1e-3;
        const orig = st.get(name)!.data;
        // The reference reads float32 parameters; perturb in float32 and divide by the step actually taken.
        const up = Float32Array.from(orig);
        up[i] = orig[i]! + eps;
        const dn = Float32Array.from(orig);
        dn[i] = orig[i]! - eps;
        const fd = (lossRef(new Map(st).set(name, { data: up, shape: st.get(name)!.shape })) - lossRef(new Map(st).set(name, { data: dn, shape: st.get(name)!.shape }))) / (up[i]! - dn[i]!);
        const err = Math.abs(fd - g[i]!) / Math.max(1e-2, Math.abs(fd));
        worst = Math.max(worst, err);
        assert.ok(err < 2e-2, `${dev.kind} ${name}[${i}]: autograd ${g[i]} vs finite difference ${fd}`);
      }
    }
    assert.ok(worst < 2e-2);
  }
});

test('ViT trains on the synthetic shapes to well above chance in 300 steps', async () => {
  const m = new ViT({ imageSize: 16, patchSize: 4, nClasses: SHAPE_CLASSES.length, dModel: 24, nLayers: 1, nHeads: 4 }, { seed: 1 });
  const before = await evaluateViT(m, shapes(256, 999));
  const { losses } = await trainViT(m, { steps: 300, batchSize: 32, lr: 1e-2, seed: 5 });
  const acc = await evaluateViT(m, shapes(512, 999));
  // Chance is 0.25; this run measured 0.71.
  assert.ok(acc >= 0.55, `accuracy ${acc} after 300 steps (chance 0.25; before training ${before}; last loss ${losses.at(-1)})`);
  assert.ok(losses.slice(-20).reduce((a, b) => a + b, 0) / 20 < losses.slice(0, 20).reduce((a, b) => a + b, 0) / 20);
});

test('ViT and shapes: bad input is an error naming it', async () => {
  assert.throws(() => new ViT({ imageSize: 10, patchSize: 4, nClasses: 2, dModel: 8, nLayers: 1, nHeads: 2 }), /imageSize 10 is not a multiple of patchSize 4/);
  assert.throws(() => new ViT({ imageSize: 8, patchSize: 4, nClasses: 2, dModel: 9, nLayers: 1, nHeads: 2 }), /dModel 9 is not divisible by nHeads 2/);
  const m = new ViT({ imageSize: 8, patchSize: 4, nClasses: 2, dModel: 8, nLayers: 1, nHeads: 2 });
  await assert.rejects(m.run({ data: new Float32Array(2 * 64), shape: [2, 7, 9] }), /images have shape \[2, 7, 9\], expected \[B, 1, 8, 8\]/);
  await assert.rejects(m.run({ data: new Float32Array(64), shape: [1, 8, 8] }, { grad: true, hookz: [] } as never), /unknown option 'hookz'/);
  assert.throws(() => m.setAttention(0, 'no-such-variant'), /no attention variant 'no-such-variant'/);
  assert.throws(() => m.setRouter(3, null), /layer 3 out of range/);
  assert.throws(() => shapes(0, 1), /n must be a positive integer/);
  const a = shapes(8, 4);
  const b = shapes(8, 4);
  assert.deepEqual(a.labels, b.labels);
  assert.deepEqual(a.images, b.images);
});

/** Float64 ViT forward written from the definition (independent of @attnlab/tensor): logits [B, classes]. */
interface RefConfig {
  imageSize: number; patchSize: number; channels: number; nClasses: number; dModel: number; nLayers: number; nHeads: number; dHead: number; dMlp: number; normEps: number;
}
type RefState = Map<string, { data: Float32Array; shape: readonly number[] }>;
/** Per-token head weights of layer l from the normalised rows x (T rows of D): T rows of H, or null for none. */
type RefGates = (l: number, x: Float64Array[]) => number[][] | null;

const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

function layerNorm(x: Float64Array, w: Float32Array, b: Float32Array, eps: number): Float64Array {
  const n = x.length;
  let m = 0;
  for (const v of x) m += v;
  m /= n;
  let s = 0;
  for (const v of x) s += (v - m) ** 2;
  const r = 1 / Math.sqrt(s / n + eps);
  return x.map((v, i) => (v - m) * r * w[i]! + b[i]!);
}

/** y = x @ W + b for W stored [I, O] row-major, optionally a column window [c0, c0 + O). */
function linear(x: Float64Array, W: Float32Array, b: Float32Array | null, I: number, cols: number, c0 = 0, O = cols): Float64Array {
  const y = new Float64Array(O);
  for (let o = 0; o < O; o++) {
    let s = b ? b[c0 + o]! : 0;
    for (let i = 0; i < I; i++) s += x[i]! * W[i * cols + c0 + o]!;
    y[o] = s;
  }
  return y;
}

function vitRef64(c: RefConfig, st: RefState, images: Float32Array, B: number, gates?: RefGates, scale?: (l: number, h: number) => number): Float64Array {
  const P = (n: string): Float32Array => {
    const t = st.get(n);
    if (!t) throw new Error(`ref: missing ${n}`);
    return t.data;
  };
  const S = c.imageSize;
  const side = S / c.patchSize;
  const T = side * side + 1;
  const D = c.dModel;
  const F = c.channels * c.patchSize * c.patchSize;
  const HD = c.nHeads * c.dHead;
  const out = new Float64Array(B * c.nClasses);
  for (let b = 0; b < B; b++) {
    let X: Float64Array[] = [];
    X.push(Float64Array.from(P('cls_token')));
    for (let py = 0; py < side; py++) {
      for (let px = 0; px < side; px++) {
        const f = new Float64Array(F);
        let i = 0;
        for (let ch = 0; ch < c.channels; ch++) for (let y = 0; y < c.patchSize; y++) for (let x = 0; x < c.patchSize; x++) f[i++] = images[((b * c.channels + ch) * S + py * c.patchSize + y) * S + px * c.patchSize + x]!;
        X.push(linear(f, P('patch_embed.weight'), P('patch_embed.bias'), F, D));
      }
    }
    const pos = P('pos_embed');
    X = X.map((r, t) => r.map((v, d) => v + pos[t * D + d]!));
    for (let l = 0; l < c.nLayers; l++) {
      const h = `h.${l}`;
      const xn = X.map((r) => layerNorm(r, P(`${h}.ln_1.weight`), P(`${h}.ln_1.bias`), c.normEps));
      const Wq = P(`${h}.attn.c_attn.weight`);
      const bq = P(`${h}.attn.c_attn.bias`);
      const q = xn.map((r) => linear(r, Wq, bq, D, 3 * HD, 0, HD));
      const k = xn.map((r) => linear(r, Wq, bq, D, 3 * HD, HD, HD));
      const v = xn.map((r) => linear(r, Wq, bq, D, 3 * HD, 2 * HD, HD));
      const g = gates?.(l, xn) ?? null;
      const z = Array.from({ length: T }, () => new Float64Array(HD));
      for (let hh = 0; hh < c.nHeads; hh++) {
        const o = hh * c.dHead;
        for (let i = 0; i < T; i++) {
          const s = new Float64Array(T);
          let mx = -Infinity;
          for (let j = 0; j < T; j++) {
            let d = 0;
            for (let e = 0; e < c.dHead; e++) d += q[i]![o + e]! * k[j]![o + e]!;
            s[j] = d * (scale ? scale(l, hh) : 1 / Math.sqrt(c.dHead));
            mx = Math.max(mx, s[j]!);
          }
          let den = 0;
          for (let j = 0; j < T; j++) den += (s[j] = Math.exp(s[j]! - mx));
          const w = g ? g[i]![hh]! : 1;
          for (let j = 0; j < T; j++) for (let e = 0; e < c.dHead; e++) z[i]![o + e] = z[i]![o + e]! + (w * s[j]! / den) * v[j]![o + e]!;
        }
      }
      X = X.map((r, t) => {
        const a = linear(z[t]!, P(`${h}.attn.c_proj.weight`), P(`${h}.attn.c_proj.bias`), HD, D);
        return r.map((x, d) => x + a[d]!);
      });
      X = X.map((r) => {
        const x2 = layerNorm(r, P(`${h}.ln_2.weight`), P(`${h}.ln_2.bias`), c.normEps);
        const pre = linear(x2, P(`${h}.mlp.c_fc.weight`), P(`${h}.mlp.c_fc.bias`), D, c.dMlp).map(gelu);
        const m = linear(pre, P(`${h}.mlp.c_proj.weight`), P(`${h}.mlp.c_proj.bias`), c.dMlp, D);
        return r.map((x, d) => x + m[d]!);
      });
    }
    const f = layerNorm(X[0]!, P('ln_f.weight'), P('ln_f.bias'), c.normEps);
    out.set(linear(f, P('head.weight'), P('head.bias'), D, c.nClasses), b * c.nClasses);
  }
  return out;
}
