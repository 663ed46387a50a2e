import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TensorError, add, cpuDevice, getDevice, ones, randn, tensor } from '../src/index.js';
import type { WebGPUBackend } from '../src/webgpu/backend.js';

test('getDevice: the CPU by default without a hardware GPU, SwiftShader WebGPU when asked', async () => {
  const d = await getDevice();
  const gpu = await getDevice({ prefer: 'webgpu' });
  assert.equal(gpu.kind, 'webgpu');
  assert.match(gpu.adapter, /\S/);
  if (gpu.isSoftware) {
    assert.equal(d, cpuDevice(), 'a software adapter is never the default');
    assert.match(gpu.adapter, /software/i);
  } else {
    assert.equal(d.kind, 'webgpu');
  }
  assert.ok(gpu.limits['maxStorageBufferBindingSize']! > 0);
  assert.equal((await getDevice({ prefer: 'cpu' })).kind, 'cpu');
});

test('the same seed gives the same numbers on every device', async () => {
  const gpu = await getDevice({ prefer: 'webgpu' });
  const a = await randn([5, 7], { seed: 42, device: cpuDevice() }).data();
  const b = await randn([5, 7], { seed: 42, device: gpu }).data();
  assert.deepEqual(Array.from(a), Array.from(b));
  const c = await randn([5, 7], { seed: 43, device: gpu }).data();
  assert.notDeepEqual(Array.from(a), Array.from(c));
});

test('int32 tensors round-trip and compute on both devices', async () => {
  for (const device of [cpuDevice(), await getDevice({ prefer: 'webgpu' })]) {
    const t = tensor(new Int32Array([1, -2, 3]), [3], { device });
    assert.equal(t.dtype, 'int32');
    assert.deepEqual(Array.from(await add(t, t).data()), [2, -4, 6]);
  }
});

test('after a device loss the next op raises a clear error and getDevice() opens a fresh device', async () => {
  const gpu = await getDevice({ prefer: 'webgpu' });
  const x = ones([4], { device: gpu });
  (gpu.backend as WebGPUBackend).gpu.destroy();
  // The loss is reported asynchronously.
  for (let i = 0; i < 50 && !(gpu.backend as WebGPUBackend).lost; i++) await new Promise((r) => setTimeout(r, 20));
  assert.throws(() => add(x, x), (e: unknown) => e instanceof TensorError && /device lost/.test(e.message) && /getDevice/.test(e.message));
  const fresh = await getDevice({ prefer: 'webgpu' });
  assert.notEqual(fresh, gpu);
  assert.deepEqual(Array.from(await add(ones([2], { device: fresh }), 1).data()), [2, 2]);
});
