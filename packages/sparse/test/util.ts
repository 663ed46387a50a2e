/** Devices and random tensors shared by the paper tests. WebGPU must exist: a missing adapter fails. */
import assert from 'node:assert/strict';
import { cpuDevice, getDevice, tensor, type Device, type Tensor } from '@attnlab/tensor';
import { gaussian, rng } from '../src/common/random.js';

export async function devices(): Promise<Device[]> {
  let gpu: Device | null = null;
  try {
    gpu = await getDevice({ prefer: 'webgpu' });
  } catch (e) {
    assert.fail(`no WebGPU device (SwiftShader expected): ${(e as Error).message}`);
  }
  assert.equal(gpu.kind, 'webgpu', 'no WebGPU adapter: the WebGPU half of this test cannot run');
  return [cpuDevice(), gpu];
}

export interface Qkv {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  qa: Float32Array;
  ka: Float32Array;
  va: Float32Array;
}

export function qkv(dev: Device, seed: number, B: number, H: number, Nq: number, Nk: number, D: number): Qkv {
  const r = rng(seed);
  const qa = gaussian(r, B * H * Nq * D);
  const ka = gaussian(r, B * H * Nk * D);
  const va = gaussian(r, B * H * Nk * D);
  return { qa, ka, va, q: tensor(qa, [B, H, Nq, D], { device: dev }), k: tensor(ka, [B, H, Nk, D], { device: dev }), v: tensor(va, [B, H, Nk, D], { device: dev }) };
}

export function disposeAll(x: Qkv): void {
  x.q.dispose();
  x.k.dispose();
  x.v.dispose();
}
