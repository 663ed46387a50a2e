/** Head gates core: freezing restores exactly the flags it found; gates stay in their box after steps; gradients reach them. */
import assert from 'node:assert/strict';
import test from 'node:test';
import { cpuDevice, mul, sum, tensor } from '@attnlab/tensor';
import { Transformer } from '@attnlab/models';
import { freeze, withFrozen, HeadGates } from '../src/index.js';

test('freeze stops gradients on every parameter and unfreeze restores the flags it changed (also when the body throws)', async () => {
  const m = new Transformer({ vocabSize: 5, dModel: 8, nLayers: 1, nHeads: 2, attnOnly: true, nCtx: 4 }, { seed: 1, device: cpuDevice() });
  const ps = m.parameters();
  ps[0]!.requireGrad(false); // already frozen by the user: must stay frozen
  const f = freeze(m);
  assert.ok(ps.every((p) => !p.requiresGrad));
  assert.equal(f.params.length, ps.length - 1);
  f.unfreeze();
  f.unfreeze();
  assert.equal(ps[0]!.requiresGrad, false);
  assert.ok(ps.slice(1).every((p) => p.requiresGrad));
  await assert.rejects(withFrozen(m, () => { throw new Error('boom'); }), /boom/);
  assert.ok(ps.slice(1).every((p) => p.requiresGrad));
  assert.throws(() => freeze(null as never), /freeze: expected a model/);
});

test('HeadGates: init clamped into [min, max], bad arguments named, gradient through layer(l), project keeps the box', async () => {
  const device = cpuDevice();
  const g = new HeadGates({ layers: 2, heads: 3, init: [-1, 0.5, 2, 0, 1, 0.25], device });
  assert.deepEqual(Array.from(await g.values()), [0, 0.5, 1, 0, 1, 0.25]);
  assert.throws(() => new HeadGates({ layers: 0, heads: 3, device }), /HeadGates: layers must be a positive integer, got 0/);
  assert.throws(() => new HeadGates({ layers: 1, heads: 3, init: [1, 2], device }), /init has 2 values for 1 x 3 gates/);
  assert.throws(() => new HeadGates({ layers: 1, heads: 1, min: 1, max: 0, device }), /min <= max/);
  assert.throws(() => g.layer(2), /layer 2 is out of range \(2 layers\)/);
  // d/dg of sum(layer(1) * w) is w on row 1 and 0 on row 0.
  const loss = sum(mul(g.layer(1), tensor(new Float32Array([3, -2, 5]), [3], { device })));
  loss.backward();
  assert.deepEqual(Array.from(await g.param.grad!.data()), [0, 0, 0, 3, -2, 5]);
  const opt = g.optimizer(10); // a huge step leaves the box; project brings it back
  opt.step();
  g.project();
  const v = await g.values();
  assert.ok(v.every((x) => x >= 0 && x <= 1), `gates ${Array.from(v)}`);
  assert.equal(v[3], 0); // moved against +3 and clamped
  assert.equal(v[4], 1);
  g.set([0.1, 0.2, 0.3, 0.4, 0.5, 7]);
  assert.deepEqual(Array.from(await g.values()).map((x) => +x.toFixed(6)), [0.1, 0.2, 0.3, 0.4, 0.5, 1]);
  assert.ok(Math.abs((await g.l1().item()) - Array.from(await g.values()).reduce((a, b) => a + b, 0)) < 1e-6);
  g.dispose();
});
