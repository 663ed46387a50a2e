// One AdamW training step of a 2-64-64-2 MLP on 400 points (the two-spirals test model), and of a
// wider 256-512-512-16 MLP on 1024 points, on the CPU device and on WebGPU.
import {
  AdamW, add, cpuDevice, crossEntropy, getDevice, matmul, randint, randn, relu, scope, tanh, zeros, noGrad,
} from '@attnlab/tensor';

function build(device, dims, seed) {
  const params = [];
  for (let i = 0; i < dims.length - 1; i++) {
    params.push(noGrad(() => randn([dims[i], dims[i + 1]], { device, seed: seed + i, std: Math.sqrt(2 / dims[i]) })).requireGrad());
    params.push(zeros([dims[i + 1]], { device, requiresGrad: true }));
  }
  const forward = (x) => {
    let h = x;
    for (let i = 0; i < params.length; i += 2) {
      h = add(matmul(h, params[i]), params[i + 1]);
      if (i + 2 < params.length) h = i === 0 ? tanh(h) : relu(h);
    }
    return h;
  };
  return { params, forward };
}

async function timeSteps(device, dims, batch, steps) {
  const { params, forward } = build(device, dims, 1);
  const x = randn([batch, dims[0]], { device, seed: 9 });
  const y = randint([batch], dims[dims.length - 1], { device, seed: 10 });
  const opt = new AdamW(params, { lr: 1e-3 });
  const step = () => scope(() => {
    const loss = crossEntropy(forward(x), y);
    opt.zeroGrad();
    loss.backward();
    opt.step();
    return loss;
  });
  const warm = step();
  await warm.data();
  warm.dispose();
  const t0 = performance.now();
  let last = null;
  for (let i = 0; i < steps; i++) {
    last?.dispose();
    last = step();
  }
  await last.data(); // waits for queued GPU work
  const ms = (performance.now() - t0) / steps;
  last.dispose();
  opt.dispose();
  for (const p of params) p.dispose();
  x.dispose();
  y.dispose();
  return ms;
}

export async function run() {
  const devices = [cpuDevice()];
  try {
    devices.push(await getDevice({ prefer: 'webgpu' }));
  } catch (e) {
    console.warn(`mlp bench: no WebGPU (${e.message})`);
  }
  const configs = [
    { name: 'mlp-step spirals 2-64-64-2 x400', dims: [2, 64, 64, 2], batch: 400, steps: 20 },
    { name: 'mlp-step 256-512-512-16 x1024', dims: [256, 512, 512, 16], batch: 1024, steps: 5 },
  ];
  const records = [];
  for (const c of configs) {
    const row = {};
    for (const device of devices) {
      const ms = await timeSteps(device, c.dims, c.batch, device.isSoftware ? Math.max(2, c.steps / 5) : c.steps);
      row[device.kind] = ms;
      records.push({ name: c.name, device: device.kind, adapter: device.adapter, msPerStep: +ms.toFixed(3) });
    }
    if (row.cpu && row.webgpu) records.push({ name: `${c.name} webgpu/cpu time ratio`, adapter: devices.map((d) => d.adapter).join(' vs '), ratio: +(row.webgpu / row.cpu).toFixed(3) });
  }
  return records;
}
