import assert from 'node:assert/strict';
import { Rng, getDevice, type Device } from '@attnlab/tensor';
import { Transformer, type ModelConfigInput } from '../src/index.js';

export const SEED = Number(process.env['ATTNLAB_TEST_SEED'] ?? 20261122);

/** A model whose every parameter (biases, norm weights included) is random, so all paths matter. */
export function randomModel(cfg: ModelConfigInput, seed: number, device?: Device): Transformer {
  const m = new Transformer(cfg, { seed, ...(device ? { device } : {}) });
  const rng = new Rng(seed + 7);
  const state = new Map<string, { data: Float32Array; shape: readonly number[] }>();
  for (const [name, shape] of m.paramShapes()) {
    const n = shape.reduce((a, b) => a * b, 1);
    const a = new Float32Array(n);
    const isNormW = /ln_\d\.weight|ln_f\.weight/.test(name);
    for (let i = 0; i < n; i++) a[i] = isNormW ? 1 + 0.2 * rng.normal() : 0.3 * rng.normal();
    state.set(name, { data: a, shape });
  }
  m.loadStateDict(state);
  return m;
}

export function randomTokens(rng: Rng, B: number, N: number, V: number): number[][] {
  return Array.from({ length: B }, () => Array.from({ length: N }, () => rng.int(V)));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, `length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  const d = maxAbsDiff(a, b);
  assert.ok(d <= tol, `${what}: max abs diff ${d} > ${tol}`);
}

/** The WebGPU device, or null with the reason (the WebGPU backend may not be merged yet). */
export async function webgpuOrNull(): Promise<{ device: Device | null; why: string }> {
  try {
    return { device: await getDevice({ prefer: 'webgpu' }), why: '' };
  } catch (e) {
    return { device: null, why: (e as Error).message };
  }
}
