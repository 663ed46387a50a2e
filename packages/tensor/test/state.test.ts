// Saved state for resumable training: the generator and AdamW continue exactly where they stopped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdamW, Rng, cpuDevice, mul, sum, tensor } from '../src/index.js';

test('Rng.getState/setState continue the stream exactly (normals with a spare included)', () => {
  const a = new Rng(7);
  for (let i = 0; i < 5; i++) a.nextU32();
  a.normal(); // leaves a spare
  const saved = JSON.parse(JSON.stringify(a.getState()));
  const want = [a.normal(), a.uniform(), a.nextU32(), a.int(10)];
  const b = new Rng(123).setState(saved);
  assert.deepEqual([b.normal(), b.uniform(), b.nextU32(), b.int(10)], want);
  assert.throws(() => new Rng(1).setState({ s: [1, 2, 3], spare: null }), /four uint32/);
});

test('AdamW.state/loadState resume updates bit-identically; mismatched state is named', async () => {
  const device = cpuDevice();
  const init = Float32Array.from({ length: 7 }, (_, i) => Math.sin(i + 1));
  const target = Float32Array.from({ length: 7 }, (_, i) => Math.cos(i));
  const stepOnce = (opt: AdamW, p: ReturnType<typeof tensor>): void => {
    const d = mul(p, tensor(target, [7], { device }));
    sum(mul(d, d)).backward();
    opt.step();
    opt.zeroGrad();
  };
  const p1 = tensor(init, [7], { device, requiresGrad: true });
  const o1 = new AdamW([p1], { lr: 0.05 });
  for (let i = 0; i < 3; i++) stepOnce(o1, p1);
  const st = await o1.state();
  const mid = await p1.data();
  for (let i = 0; i < 3; i++) stepOnce(o1, p1);
  const p2 = tensor(mid as Float32Array, [7], { device, requiresGrad: true });
  const o2 = new AdamW([p2], { lr: 0.05 });
  o2.loadState(st);
  assert.equal(o2.steps, 3);
  for (let i = 0; i < 3; i++) stepOnce(o2, p2);
  assert.deepEqual(await p2.data(), await p1.data());
  assert.throws(() => o2.loadState({ ...st, moments: [] }), /0 parameter moments, the optimizer 1/);
  assert.throws(() => o2.loadState({ ...st, moments: [{ m: new Float32Array(3), v: new Float32Array(3) }] }), /have 3\/3 values, the parameter 7/);
});
