import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TensorError, add, addScalar, cpuDevice, cpuView, getDevice, mulScalar, ones, randn, tensor, useCpuMemory, zeros } from '../src/index.js';
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

/**
 * The CPU device recycles the arrays of disposed tensors: a later op of the same length reuses
 * the memory, results stay right (no junk where an op relies on zeros), and memory given to
 * useCpuMemory is never handed to another tensor.
 */
test('CPU memory of disposed tensors is reused without changing results', async () => {
  const dev = cpuDevice();
  const n = 5003; // odd, above the pool's minimum length
  const a = tensor(Float32Array.from({ length: n }, (_, i) => i % 7), [n], { device: dev });
  const junk = mulScalar(a, 3);
  const junkData = cpuView(junk);
  junk.dispose();
  // Same length: takes the recycled array and must overwrite it completely.
  const b = addScalar(a, 1);
  assert.equal(cpuView(b), junkData, 'the recycled array is reused');
  assert.deepEqual(Array.from(await b.data()).slice(0, 8), [1, 2, 3, 4, 5, 6, 7, 1]);
  b.dispose();
  // Zeros must really be zeros after reuse.
  const z = zeros([n], { device: dev });
  assert.ok((await z.data()).every((x) => x === 0), 'zeros() from a recycled array');
  // Memory handed to useCpuMemory stays the caller's after dispose.
  // (an array that came from the pool itself, the case that could go wrong).
  const mine = cpuView(mulScalar(a, 0)).fill(2);
  const t = useCpuMemory(tensor(new Float32Array(n), [n], { device: dev }), mine);
  t.dispose();
  const c = mulScalar(a, 0);
  assert.notEqual(cpuView(c), mine, 'caller memory was recycled');
  assert.ok(mine.every((x) => x === 2), 'caller memory was overwritten');
});
