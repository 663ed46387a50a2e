/** Devices, random models and prompts shared by the heads tests. WebGPU must exist: a missing adapter fails. */
import assert from 'node:assert/strict';
import { cpuDevice, getDevice, Rng, type Device } from '@attnlab/tensor';
import { Transformer, type ModelConfigInput } from '@attnlab/models';

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

/** A model whose parameters are all random and large enough that attention is far from uniform. */
export function randomModel(cfg: ModelConfigInput, seed: number, device: Device): Transformer {
  const m = new Transformer(cfg, { seed, device });
  const rng = new Rng(seed + 7);
  const state = new Map<string, { data: Float32Array; shape: readonly number[] }>();
  for (const [name, shape] of m.paramShapes()) {
    const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
    const normW = /ln_\d\.weight|ln_f\.weight/.test(name);
    for (let i = 0; i < a.length; i++) a[i] = normW ? 1 + 0.2 * rng.normal() : 0.5 * rng.normal();
    state.set(name, { data: a, shape });
  }
  m.loadStateDict(state);
  return m;
}

/** Rows with repeats (a random segment, then part of it again) so every score has queries. */
export function repeatRows(rng: Rng, B: number, N: number, V: number): number[][] {
  return Array.from({ length: B }, () => {
    const seg = Array.from({ length: Math.max(1, Math.ceil(N / 2)) }, () => rng.int(V));
    return Array.from({ length: N }, (_, i) => (i < seg.length ? seg[i]! : rng.uniform() < 0.8 ? seg[i - seg.length]! : rng.int(V)));
  });
}

export function close(a: number, b: number, tol: number): boolean {
  return (Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) <= tol;
}
