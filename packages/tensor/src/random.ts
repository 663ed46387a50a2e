import type { Device } from './device.js';
import { TensorError } from './errors.js';
import { tensor, type CreateOptions } from './ops/create.js';
import { checkShape, sizeOf, type Shape } from './shape.js';
import type { Tensor } from './tensor.js';

/**
 * A small, fast, seedable generator (xoshiro128**, seeded by splitmix32). Numbers are made on
 * the host and uploaded, so the same seed gives the same values on every device.
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare: number | null = null;

  constructor(seed: number) {
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** The generator's full state (JSON-safe), for checkpoints that resume a stream exactly. */
  getState(): RngState {
    // The words are used only through 32-bit operations: unsigned is the same bits.
    return { s: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0], spare: this.spare };
  }

  /** Continue from a state saved by getState(). */
  setState(state: RngState): this {
    const s = state?.s;
    if (!Array.isArray(s) || s.length !== 4 || s.some((x) => !Number.isInteger(x) || x < 0 || x > 0xffffffff) || (state.spare !== null && typeof state.spare !== 'number')) {
      throw new TensorError('Rng.setState', `state must be { s: four uint32, spare: number | null }, got ${JSON.stringify(state)}`);
    }
    [this.s0, this.s1, this.s2, this.s3] = s as [number, number, number, number];
    this.spare = state.spare;
    return this;
  }
}

/** Saved state of an Rng. */
export interface RngState {
  s: number[];
  spare: number | null;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

let globalRng = new Rng(0);

/** Reseed the generator used when no seed is passed. */
export function manualSeed(seed: number): void {
  globalRng = new Rng(seed);
}

export interface RandomOptions extends CreateOptions {
  seed?: number;
  device?: Device;
}

function gen(shape: Shape, options: RandomOptions, f: (r: Rng) => number): Tensor {
  checkShape('random', shape);
  const rng = options.seed === undefined ? globalRng : new Rng(options.seed);
  const a = new Float32Array(sizeOf(shape));
  for (let i = 0; i < a.length; i++) a[i] = f(rng);
  return tensor(a, shape, options);
}

/** Normal samples with mean and std. */
export function randn(shape: Shape, options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const m = options.mean ?? 0;
  const s = options.std ?? 1;
  return gen(shape, options, (r) => m + s * r.normal());
}

/** Uniform samples in [low, high). */
export function rand(shape: Shape, options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  const lo = options.low ?? 0;
  const hi = options.high ?? 1;
  return gen(shape, options, (r) => lo + (hi - lo) * r.uniform());
}

/** Uniform integers in [0, high) as int32. */
export function randint(shape: Shape, high: number, options: RandomOptions = {}): Tensor {
  checkShape('randint', shape);
  // int32 values, and the generator's 32 random bits must cover the range without bias beyond 2^-32 * high.
  if (typeof high !== 'number' || !Number.isInteger(high) || high < 1 || high > 2 ** 31) {
    throw new TensorError('randint', `high must be an integer in [1, 2^31], got ${String(high)}`);
  }
  const rng = options.seed === undefined ? globalRng : new Rng(options.seed);
  const a = new Int32Array(sizeOf(shape));
  for (let i = 0; i < a.length; i++) a[i] = rng.int(high);
  return tensor(a, shape, { ...options, dtype: 'int32' });
}

/**
 * A tiny seeded uniform [0, 1) generator (mulberry32) as a plain function: the tests and notebooks
 * of every package draw their random cases from it, so a case is the same wherever it is rebuilt.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n standard normal float32 values (Box-Muller on two draws of `r`) times `scale`. */
export function gaussianArray(r: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  return out;
}
