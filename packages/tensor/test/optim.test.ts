import { test } from 'node:test';
import { AdamW, Rng, clipGradNorm, cpuDevice, getDevice, tensor } from '../src/index.js';
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
