import assert from 'node:assert/strict';
import { Rng, cpuDevice, getDevice, tensor, type Device, type Tensor } from '../src/index.js';
import type { F64 } from './reference.js';

/** Seed for randomized shapes/values; override with ATTNLAB_TEST_SEED to explore. */
export const SEED = Number(process.env['ATTNLAB_TEST_SEED'] ?? 20261122);

/**
 * The devices every op test runs on. WebGPU is required: on a machine without a GPU the tests
 * use SwiftShader, and they fail (not skip) when no adapter is found.
 */
export async function testDevices(): Promise<Device[]> {
  const gpu = await getDevice({ prefer: 'webgpu' });
  return [cpuDevice(), gpu];
}

export function pickOne<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!;
}

export function randomData(rng: Rng, n: number, kind: 'any' | 'pos' = 'any'): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = kind === 'pos' ? 0.2 + 1.8 * rng.uniform() : rng.normal();
  return a;
}

/** Upload float32 data and return both the tensor and the exact float64 view of its values. */
export function pair(data: Float32Array, shape: readonly number[], device: Device, requiresGrad = false): [Tensor, F64] {
  const t = tensor(data, shape, { device, requiresGrad });
  return [t, { d: Float64Array.from(data), s: [...shape] }];
}

/** |got - want| <= atol + rtol * |want| elementwise, with the worst offender in the message. */
export function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length ${got.length} vs ${want.length}`);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (w === g) continue;
    const err = Math.abs(g - w) - (atol + rtol * Math.abs(w));
    if (!(err <= 0) && (worst < 0 || err > worstErr || Number.isNaN(err))) {
      worst = i;
      worstErr = err;
    }
  }
  if (worst >= 0) {
    assert.fail(`${what}: element ${worst} is ${got[worst]} but the float64 reference says ${want[worst]} (atol ${atol}, rtol ${rtol})`);
  }
}
