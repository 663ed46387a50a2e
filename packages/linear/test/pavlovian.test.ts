/**
 * The Pavlovian capacity analysis: the memory written and read through linearAttention (CPU and
 * WebGPU) equals the float64 outer-product readout; recall falls with N and the knee grows with d_k;
 * knee interpolation and the line fit are exact on known inputs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuDevice, getDevice } from '@attnlab/tensor';
import { numeric, pavlovian } from '../src/index.js';

const { hebbianRecall, hebbianReadoutNaive, capacityCurve, knee, fitLine } = pavlovian;

test('hebbianRecall: readout through linearAttention (CPU and WebGPU) equals the float64 memory, identity and elu1 maps', async () => {
  const gpu = await getDevice({ prefer: 'webgpu' });
  assert.equal(gpu.kind, 'webgpu', 'no WebGPU adapter');
  for (const device of [cpuDevice(), gpu]) {
    for (const featureMap of ['identity', 'elu1'] as const) {
      for (const [dk, n] of [[1, 1], [5, 13], [16, 70]] as const) {
        const res = await hebbianRecall({ dk, n, dv: 8, codebook: 16, featureMap, minQueries: 1, device, seed: dk + n });
        const f = res.firstTrial;
        const e = numeric.relErr(f.retrieved, hebbianReadoutNaive(f.keys, f.values, n, dk, 8, featureMap));
        assert.ok(e <= 1e-5, `${device.kind} ${featureMap} dk=${dk} n=${n}: rel err ${e}`);
      }
    }
  }
});

test('capacity: recall falls with N, and more key dims hold more pairs', async () => {
  const ns = [4, 16, 64, 256];
  const small = await capacityCurve(8, ns, { minQueries: 256 });
  const large = await capacityCurve(32, ns, { minQueries: 256 });
  assert.ok(small[0]!.recall > 0.9 && small.at(-1)!.recall < 0.5, JSON.stringify(small));
  for (let i = 0; i < ns.length; i++) assert.ok(large[i]!.recall >= small[i]!.recall - 0.05, `n=${ns[i]}: ${large[i]!.recall} vs ${small[i]!.recall}`);
  const k8 = knee(small)!, k32 = knee(large);
  assert.ok(k8 > 4 && (k32 === null || k32 > k8), `knees ${k8}, ${k32}`);
});

test('knee and fitLine on known inputs; bad input is named', async () => {
  assert.equal(knee([{ n: 1, recall: 1 }, { n: 4, recall: 0 }], 0.5), 2);
  assert.equal(knee([{ n: 1, recall: 1 }, { n: 4, recall: 0.9 }]), null);
  const f = fitLine([1, 2, 3], [3, 5, 7]);
  assert.ok(Math.abs(f.slope - 2) < 1e-12 && Math.abs(f.intercept - 1) < 1e-12 && Math.abs(f.r2 - 1) < 1e-12);
  assert.throws(() => fitLine([1], [1]), /linearFit: needs two equal-length series/);
  await assert.rejects(hebbianRecall({ dk: 0, n: 3 }), /dk must be a positive integer, got 0/);
});
