import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  TensorError, add, concat, cpuDevice, crossEntropy, embedding, getDevice, matmul, ones, reshape, scope, slice, tensor,
  zeros, keep, softmax, warmupCosine, sum, mul,
} from '../src/index.js';

const throwsNaming = (fn: () => unknown, ...parts: string[]): void => {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TensorError, `expected a TensorError, got ${String(e)}`);
    for (const p of parts) assert.ok(e.message.includes(p), `message "${e.message}" should mention "${p}"`);
    return true;
  });
};

test('mismatched shapes name the op and both shapes', () => {
  throwsNaming(() => add(ones([2, 3]), ones([4, 3])), 'add', '[2, 3]', '[4, 3]');
  throwsNaming(() => matmul(ones([2, 3]), ones([4, 5])), 'matmul', '[2, 3]', '[4, 5]');
  throwsNaming(() => reshape(ones([2, 3]), [4, 2]), 'reshape', '[2, 3]', '[4, 2]');
  throwsNaming(() => concat([ones([2, 3]), ones([2, 4])], 0), 'concat', '[2, 3]', '[2, 4]');
  throwsNaming(() => slice(ones([2, 3]), [0, 2], [1, 2]), 'slice', '[2, 3]');
  throwsNaming(() => tensor([1, 2, 3], [2, 2]), 'tensor', '[2, 2]');
});

test('wrong dtypes are named', () => {
  const idx = tensor(new Int32Array([0, 1]), [2]);
  throwsNaming(() => softmax(idx), 'softmax', 'int32');
  throwsNaming(() => embedding(ones([3, 2]), ones([2])), 'embedding', 'int32');
  throwsNaming(() => add(ones([2]), idx), 'add', 'float32', 'int32');
  throwsNaming(() => crossEntropy(ones([2, 3]), tensor(new Int32Array([0, 1, 2]), [3])), 'pick', '[3]', '[2, 3]');
});

test('out-of-range indices are named', () => {
  throwsNaming(() => embedding(ones([3, 2]), tensor(new Int32Array([0, 3]), [2])), 'embedding', 'index 3');
});

test('a disposed tensor cannot be used', () => {
  const t = ones([2, 2]);
  t.dispose();
  throwsNaming(() => add(t, t), 'add', 'disposed', '[2, 2]');
});

test('mixing devices is refused', async () => {
  const gpu = await getDevice({ prefer: 'webgpu' });
  throwsNaming(() => add(ones([2], { device: cpuDevice() }), ones([2], { device: gpu })), 'add', 'different devices', 'cpu', 'webgpu');
});

test('scope frees everything but its result; memory stats follow', async () => {
  for (const device of [cpuDevice(), await getDevice({ prefer: 'webgpu' })]) {
    const before = device.stats;
    const kept = scope(() => {
      const a = ones([64, 64], { device });
      const b = mul(a, a);
      const c = add(b, a);
      keep(zeros([1], { device })).dispose();
      return sum(c);
    });
    const mid = device.stats;
    assert.equal(mid.liveBuffers, before.liveBuffers + 1, `${device.kind}: only the result survives`);
    assert.ok(mid.peakBytes >= before.bytes + 3 * 64 * 64 * 4, `${device.kind}: peak counts the intermediates`);
    assert.equal(await kept.item(), 2 * 64 * 64);
    kept.dispose();
    assert.equal(device.stats.bytes, before.bytes);
  }
});

test('backward through a graph accumulates into leaves; noGrad records nothing', async () => {
  const x = tensor([1, 2, 3], [3], { requiresGrad: true });
  const y = sum(add(mul(x, x), x)); // d/dx = 2x + 1
  y.backward();
  assert.deepEqual(Array.from(await x.grad!.data()), [3, 5, 7]);
  sum(x).backward();
  assert.deepEqual(Array.from(await x.grad!.data()), [4, 6, 8]);
});

test('warmup + cosine schedule', () => {
  const f = warmupCosine({ lr: 1, warmupSteps: 10, totalSteps: 110, minLr: 0.1 });
  assert.equal(f(0), 0.1);
  assert.equal(f(9), 1);
  assert.ok(Math.abs(f(60) - 0.55) < 1e-9);
  assert.equal(f(110), 0.1);
});
