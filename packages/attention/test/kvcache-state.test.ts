/**
 * KVCache's recurrent-state slots: one tensor per (layer, head slice or name), owned by the cache:
 * replaced states are disposed, scopes do not free them, bytes() counts them, clearStates() and
 * dispose() free them (checked with the device's live-buffer stats, on the CPU and on WebGPU).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuDevice, getDevice, scope, tensor, type Device } from '@attnlab/tensor';
import { KVCache } from '../src/index.js';

async function devices(): Promise<Device[]> {
  // WebGPU must be there (SwiftShader here): a missing adapter fails the test, never skips it.
  const gpu = await getDevice({ prefer: 'webgpu' });
  assert.equal(gpu.kind, 'webgpu', 'no WebGPU adapter');
  return [cpuDevice(), gpu];
}

test('KVCache state slots: set, read, replace, scopes, bytes per layer/head/batch, clearStates, dispose (CPU and WebGPU)', async () => {
  for (const dev of await devices()) {
    const B = 2;
    const cache = new KVCache({ B, H: 3, D: 4, layers: 2 });
    const T = (n: number, shape: number[]) => tensor(new Float32Array(n).fill(1), shape, { device: dev });
    const base = dev.stats;
    // Made inside a scope, the stored state survives it (the cache keeps it).
    const a = scope(() => {
      const t = T(B * 2 * 5, [B, 2, 1, 5]);
      cache.setState(0, [0, 2], t);
      return null;
    });
    assert.equal(a, null);
    const s02 = cache.state(0, [0, 2]);
    assert.ok(s02 && !s02.isDisposed, `${dev.kind}: the scope did not free the cache's state`);
    assert.equal(cache.state(0, [0]), null);
    assert.equal(cache.state(1, [0, 2]), null, 'slots are per layer');
    const all = T(B * 3 * 7, [B, 3, 7, 1]);
    cache.setState(1, null, all);
    const named = T(6, [B, 3]);
    cache.setState(1, 'conv', named);
    assert.equal(cache.state(1), all);
    assert.equal(cache.state(1, 'conv'), named);
    assert.equal(dev.stats.liveBuffers - base.liveBuffers, 3);
    // Bytes: no keys or values yet, so bytes() is the states.
    const b02 = B * 2 * 5 * 4;
    assert.equal(cache.stateBytes(), b02 + B * 3 * 7 * 4 + 6 * 4);
    assert.equal(cache.bytes(), cache.stateBytes());
    assert.equal(cache.bytes({ layer: 0, head: 2 }), b02 / 2, 'a slice state: equal shares per head');
    assert.equal(cache.bytes({ layer: 0, head: 1 }), 0);
    assert.equal(cache.bytes({ layer: 0, head: 0, batch: 1 }), b02 / 2 / B);
    assert.equal(cache.bytes({ layer: 1, head: 0 }), 0, 'all-head and named states count only without a head');
    assert.equal(cache.bytes({ layer: 1 }), B * 3 * 7 * 4 + 6 * 4);
    assert.deepEqual(cache.bytesPerHead(0), [b02 / 2, 0, b02 / 2]);
    // Replacing disposes the slot's previous tensor; setting the same one again keeps it.
    const next = T(B * 2 * 5, [B, 2, 1, 5]);
    cache.setState(0, [0, 2], next);
    assert.ok(s02.isDisposed, 'the replaced state was disposed');
    cache.setState(0, [0, 2], next);
    assert.ok(!next.isDisposed);
    // Keys and values add to bytes().
    await cache.append(T(B * 3 * 2 * 4, [B, 3, 2, 4]), T(B * 3 * 2 * 4, [B, 3, 2, 4]), { layer: 0 });
    assert.equal(cache.bytes({ layer: 0, head: 0 }), B * 2 * 4 * 2 * 4 + b02 / 2);
    // clearStates(layer) frees that layer's states only, keys and values stay.
    let live = dev.stats.liveBuffers;
    cache.clearStates(1);
    assert.ok(all.isDisposed && named.isDisposed && !next.isDisposed);
    assert.equal(live - dev.stats.liveBuffers, 2, `${dev.kind}: clearStates(1) freed two buffers`);
    assert.equal(cache.kept(0, 0, 0), 2);
    // dispose() frees the rest: states (and on WebGPU the device-held keys and values).
    live = dev.stats.liveBuffers;
    const bytes = dev.stats.bytes;
    const held = cache.bytes();
    cache.dispose();
    assert.ok(next.isDisposed, 'dispose() disposes states');
    assert.equal(bytes - dev.stats.bytes, dev.kind === 'cpu' ? b02 : held, `${dev.kind}: device bytes freed`);
    assert.equal(live - dev.stats.liveBuffers, dev.kind === 'cpu' ? 1 : 1 + 2 * B * 3, `${dev.kind}: live buffers freed`);
    assert.equal(cache.bytes(), 0);
    assert.equal(cache.state(0, [0, 2]), null);
    // Setting null removes (and disposes).
    const x = T(3, [3]);
    cache.setState(0, 'x', x);
    cache.setState(0, 'x', null);
    assert.ok(x.isDisposed);
    assert.equal(cache.state(0, 'x'), null);
  }
});

test('KVCache state slots: bad layers and disposed tensors are errors naming them', () => {
  const cache = new KVCache({ B: 1, H: 1, D: 2, layers: 2 });
  assert.throws(() => cache.state(2, null), /KVCache.state.*layer 2 is out of range \(the cache holds 2\)/);
  assert.throws(() => cache.setState(-1, null, null), /KVCache.setState.*layer -1 is out of range/);
  assert.throws(() => cache.clearStates(5), /KVCache.clearStates.*layer 5 is out of range/);
  const t = tensor(new Float32Array(2), [2]);
  t.dispose();
  assert.throws(() => cache.setState(0, [0], t), /KVCache.setState.*layer 0 \(0:0\) is a disposed tensor/);
});
