import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { AdamW, Rng, add, addScalar, clipGradNorm, cpuDevice, div, full, getDevice, minimum, mul, sqrt, sum, tensor } from '../src/index.js';
import { SEED, assertClose, randomData } from './helpers.js';

/** Three AdamW steps with clipping on both devices against the float64 update rule. */
test('AdamW and clipGradNorm follow the float64 update rule on every device', async () => {
  const rng = new Rng(SEED);
  const n = 37;
  const p0 = randomData(rng, n);
  const grads = [randomData(rng, n), randomData(rng, n), randomData(rng, n)].map((g) => g.map((x) => x * 3));
  const lr = 0.01;
  const [b1, b2, eps, wd, maxNorm] = [0.9, 0.99, 1e-8, 0.1, 2];
  // float64 reference
  const p = Float64Array.from(p0);
  const m = new Float64Array(n);
  const v = new Float64Array(n);
  grads.forEach((g, t) => {
    const norm = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
    const f = Math.min(1, maxNorm / (norm + 1e-6));
    for (let i = 0; i < n; i++) {
      const gi = g[i]! * f;
      m[i] = b1 * m[i]! + (1 - b1) * gi;
      v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
      const mh = m[i]! / (1 - b1 ** (t + 1));
      const vh = v[i]! / (1 - b2 ** (t + 1));
      p[i] = p[i]! * (1 - lr * wd) - (lr * mh) / (Math.sqrt(vh) + eps);
    }
  });
  for (const device of [cpuDevice(), await getDevice({ prefer: 'webgpu' })]) {
    const w = tensor(p0, [1, n], { device, requiresGrad: true });
    const opt = new AdamW([w], { lr, betas: [b1, b2], eps, weightDecay: wd });
    for (const g of grads) {
      w.grad = tensor(g, [1, n], { device });
      clipGradNorm([w], maxNorm);
      opt.step();
    }
    assertClose(await w.data(), p, 1e-6, 1e-5, `AdamW on ${device.kind}`);
  }
});

/**
 * The CPU device's one-pass clip (in place) against the op-by-op formula it replaces, bit for bit,
 * and against float64: odd shapes, rank 0-3, an empty tensor, a clipping and a non-clipping norm.
 */
test('clipGradNorm on the CPU equals the op-by-op float32 formula bit for bit, and float64', async () => {
  const rng = new Rng(SEED + 7);
  const dev = cpuDevice();
  const shapes: number[][] = [[], [1], [7], [3, 5], [1, 33], [2, 3, 17], [0, 4], [129, 3]];
  for (const maxNorm of [0.5, 1e6]) {
    const data = shapes.map((s) => randomData(rng, s.reduce((a, b) => a * b, 1)).map((x) => x * 2));
    const params = shapes.map((s, i) => {
      const p = tensor(new Float32Array(data[i]!.length), s, { device: dev, requiresGrad: true });
      p.grad = tensor(data[i]!, s, { device: dev });
      return p;
    });
    // The formula of the generic path: float32 squares, sum(), float32 running total.
    const grads = data.map((d, i) => tensor(d, shapes[i]!, { device: dev }));
    let total = full([], 0, { device: dev });
    for (const g of grads) total = add(total, sum(mul(g, g)));
    const norm = sqrt(total);
    const factor = minimum(div(full([], maxNorm, { device: dev }), addScalar(norm, 1e-6)), full([], 1, { device: dev }));
    const want = grads.map((g) => mul(g, factor));
    const got = clipGradNorm(params, maxNorm);
    assert.equal(await got.item(), await norm.item(), `norm (maxNorm ${maxNorm})`);
    for (let i = 0; i < shapes.length; i++) {
      assert.deepEqual(await params[i]!.grad!.data(), await want[i]!.data(), `clipped grad ${JSON.stringify(shapes[i])} (maxNorm ${maxNorm})`);
    }
    const norm64 = Math.sqrt(data.reduce((s, d) => s + d.reduce((t, x) => t + x * x, 0), 0));
    assertClose(new Float32Array([await got.item()]), new Float64Array([norm64]), 1e-6, 1e-6, 'norm vs float64');
  }
});
