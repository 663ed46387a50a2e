import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AdamW, Rng, argmax, clipGradNorm, cpuDevice, crossEntropy, equal, getDevice, matmul, mean, noGrad, randn, relu,
  scope, tanh, tensor, warmupCosine, add, zeros, type Device, type Tensor,
} from '../src/index.js';

/** Two interleaved spirals (the classic hard 2-D classification problem). */
function twoSpirals(n: number, seed: number): { x: Float32Array; y: Int32Array } {
  const rng = new Rng(seed);
  const x = new Float32Array(2 * n * 2);
  const y = new Int32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const r = (i / n) * 5 + 0.3;
    const t = 1.75 * (i / n) * 2 * Math.PI;
    for (const cls of [0, 1]) {
      const j = 2 * i + cls;
      const sgn = cls === 0 ? 1 : -1;
      x[2 * j] = (sgn * r * Math.cos(t) + 0.05 * rng.normal()) / 3;
      x[2 * j + 1] = (sgn * r * Math.sin(t) + 0.05 * rng.normal()) / 3;
      y[j] = cls;
    }
  }
  return { x, y };
}

async function trainSpirals(device: Device): Promise<number> {
  const { x, y } = twoSpirals(200, 7);
  const X = tensor(x, [400, 2], { device });
  const Y = tensor(y, [400], { device });
  const h = 64;
  const init = (shape: number[], fanIn: number, seed: number): Tensor =>
    noGrad(() => randn(shape, { device, seed, std: Math.sqrt(2 / fanIn) })).requireGrad();
  const params = [
    init([2, h], 2, 1), zeros([h], { device, requiresGrad: true }),
    init([h, h], h, 2), zeros([h], { device, requiresGrad: true }),
    init([h, 2], h, 3), zeros([2], { device, requiresGrad: true }),
  ];
  const [w1, b1, w2, b2, w3, b3] = params as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
  const forward = (inp: Tensor): Tensor => {
    const a = tanh(add(matmul(inp, w1), b1));
    const b = relu(add(matmul(a, w2), b2));
    return add(matmul(b, w3), b3);
  };
  const steps = 600;
  const opt = new AdamW(params, { lr: 0.02, weightDecay: 1e-4 });
  const lr = warmupCosine({ lr: 0.02, warmupSteps: 20, totalSteps: steps, minLr: 0.002 });
  for (let s = 0; s < steps; s++) {
    opt.lr = lr(s);
    scope(() => {
      const loss = crossEntropy(forward(X), Y);
      opt.zeroGrad();
      loss.backward();
      clipGradNorm(params, 5);
      opt.step();
    });
  }
  const acc = await scope(() => noGrad(() => mean(equal(argmax(forward(X), -1), Y)))).item();
  opt.dispose();
  return acc;
}

test('a small MLP trained with AdamW reaches >= 99% on two spirals (CPU)', async () => {
  const acc = await trainSpirals(cpuDevice());
  assert.ok(acc >= 0.99, `accuracy ${acc}`);
});

test('a small MLP trained with AdamW reaches >= 99% on two spirals (WebGPU)', async () => {
  const acc = await trainSpirals(await getDevice({ prefer: 'webgpu' }));
  assert.ok(acc >= 0.99, `accuracy ${acc}`);
});
