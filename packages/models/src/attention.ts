import {
  add, addScalar, customGrad, div, elu, exp, keep, logsumexp, matmul, mul, mulScalar, noGrad, reshape, sub, sum, tensor,
  type Device, type Tensor,
} from '@attnlab/tensor';
import * as flashAttention from '@attnlab/attention';
import { ModelError } from './errors.js';

/**
 * The attention-variant registry the model picks from, per layer or per head.
 *
 * The contract matches @attnlab/attention's `registerAttention(name, impl)` / `getAttention(name)`:
 * an impl takes q [B, H, Nq, D] and k, v [B, H, Nk, D] (queries aligned to the end of the keys
 * when causal and Nq < Nk, as in flash-attn decode) and returns `{ out, lse?, probs? }` with out
 * [B, H, Nq, D], probs [B, H, Nq, Nk] only when `returnProbs` is asked.
 *
 * @attnlab/attention's registry is consulted first (installed at the end of this module), so its
 * 'softmax' (flash attention: tiled, never materialises Nq x Nk, WASM SIMD on CPU and WGSL on
 * WebGPU) serves every unhooked forward, and its 'sigmoid'/'linear' and any variant a plugin
 * registers there are usable by name. A pattern asked for without gradients (runWithCache) is
 * recomputed from flash's lse (`patternFromLse`, the probe path), so caching it leaves the logits
 * bit-identical; hooking `hook_attn_scores`, a pattern perturbation, or a hook on a gradient run
 * takes the inspectable dense path in `denseAttention` below. Measured on the mqar-softmax recipe (CPU, batch 32): a training step
 * 441 ms with flash against 521 ms dense, the same loss.
 */
export interface AttentionImplOptions {
  scale: number;
  causal: boolean;
  /** Ask for probabilities (for hook_pattern); an impl may ignore it. */
  returnProbs?: boolean;
  /** Options given to `model.setAttention(selector, name, options)`. */
  [option: string]: unknown;
}

export interface AttentionOutput {
  out: Tensor;
  lse?: Tensor;
  probs?: Tensor;
}

export type AttentionImpl = (q: Tensor, k: Tensor, v: Tensor, options: AttentionImplOptions) => AttentionOutput | Promise<AttentionOutput>;

/** Anything with `getAttention(name)`: this module's shape. */
export interface AttentionRegistry {
  getAttention(name: string): AttentionImpl | undefined;
}

/** A variant as @attnlab/attention registers it: `{ forward(q, k, v, opts) }` or a bare function. */
export type ExternalVariant =
  | { forward(q: Tensor, k: Tensor, v: Tensor, opts?: Record<string, unknown>): Promise<AttentionOutput> | AttentionOutput }
  | ((q: Tensor, k: Tensor, v: Tensor, opts?: Record<string, unknown>) => Promise<AttentionOutput> | AttentionOutput);

/**
 * The parts of @attnlab/attention the model uses: its registry (which throws on unknown names)
 * and the named `causal()` mask. Variants named in `masked` ('softmax', 'sigmoid' by default)
 * get `{ scale, mask: causal() }`; the others only get the options given to `setAttention`
 * (linear attention is causal by construction there).
 */
export interface ExternalAttentionModule {
  getAttention(name: string): ExternalVariant | undefined;
  causal?: () => unknown;
}

const local = new Map<string, AttentionImpl>();
const external: AttentionRegistry[] = [];

export function registerAttention(name: string, impl: AttentionImpl): void {
  if (typeof impl !== 'function') throw new ModelError('registerAttention', `impl for '${name}' must be a function`);
  local.set(name, impl);
}

/** Resolve a variant: registries added with useAttentionRegistry first (newest first), then the local ones. */
export function getAttention(name: string): AttentionImpl | undefined {
  for (let i = external.length - 1; i >= 0; i--) {
    let impl: AttentionImpl | undefined;
    try {
      impl = external[i]!.getAttention(name);
    } catch {
      impl = undefined;
    }
    if (impl) return impl;
  }
  return local.get(name);
}

/** Names in the local registry (external registries are consulted by name only). */
export function listAttention(): string[] {
  return [...local.keys()].sort();
}

/**
 * Route variant lookups through another module with @attnlab/attention's registry shape before
 * the ones already installed (@attnlab/attention itself is installed by default). Names in
 * `skip` are left to the registries below. Returns a function that undoes it.
 */
export function useAttentionRegistry(mod: ExternalAttentionModule | AttentionRegistry, options: { masked?: readonly string[]; skip?: readonly string[] } = {}): () => void {
  const masked = new Set(options.masked ?? ['softmax', 'sigmoid']);
  const skip = new Set(options.skip ?? []);
  const ext = mod as ExternalAttentionModule;
  const reg: AttentionRegistry = {
    getAttention(name) {
      if (skip.has(name)) return undefined;
      const v = ext.getAttention(name);
      if (!v) return undefined;
      const fwd = typeof v === 'function' ? v : v.forward.bind(v);
      return async (q, k, vv, o) => {
        const { scale, causal: isCausal, returnProbs: _probs, ...rest } = o;
        void _probs;
        const opts: Record<string, unknown> = masked.has(name)
          ? { ...rest, scale, ...(isCausal ? { mask: ext.causal ? ext.causal() : 'causal' } : {}) }
          : rest;
        const r = await fwd(q, k, vv, opts);
        // lse lets the model recompute a pattern that is asked for without leaving flash.
        return r.lse ? { out: r.out, lse: r.lse } : { out: r.out };
      };
    },
  };
  external.push(reg);
  return () => {
    const i = external.indexOf(reg);
    if (i >= 0) external.splice(i, 1);
  };
}

// ---------------------------------------------------------------------------------------------
// Masks and targets, cached per (device, Nq, Nk) and kept out of scopes.

const maskCache = new Map<string, Tensor>();

function cached(device: Device, key: string, make: () => Float32Array, shape: number[]): Tensor {
  const k = `${device.kind}:${device.adapter}:${key}`;
  let t = maskCache.get(k);
  if (!t || t.isDisposed || t.device !== device) {
    t = keep(tensor(make(), shape, { device }));
    maskCache.set(k, t);
  }
  return t;
}

/** 1 where key j is visible from query i (queries aligned to the end of the keys). */
export function causalMask(device: Device, nq: number, nk: number): Tensor {
  return cached(device, `causal:${nq}:${nk}`, () => {
    const m = new Float32Array(nq * nk);
    const off = nk - nq;
    for (let i = 0; i < nq; i++) for (let j = 0; j <= i + off && j < nk; j++) m[i * nk + j] = 1;
    return m;
  }, [nq, nk]);
}

/** 0 where key j is visible from query i, -Infinity elsewhere. */
export function causalBias(device: Device, nq: number, nk: number): Tensor {
  return cached(device, `causalBias:${nq}:${nk}`, () => {
    const m = new Float32Array(nq * nk).fill(-Infinity);
    const off = nk - nq;
    for (let i = 0; i < nq; i++) for (let j = 0; j <= i + off && j < nk; j++) m[i * nk + j] = 0;
    return m;
  }, [nq, nk]);
}

/** The causal uniform pattern (row i spreads 1 over its visible keys). */
function uniformPattern(device: Device, nq: number, nk: number, isCausal: boolean): Tensor {
  return cached(device, `uniform:${nq}:${nk}:${isCausal}`, () => {
    const m = new Float32Array(nq * nk);
    const off = nk - nq;
    for (let i = 0; i < nq; i++) {
      const n = isCausal ? Math.min(nk, i + off + 1) : nk;
      for (let j = 0; j < n; j++) m[i * nk + j] = 1 / n;
    }
    return m;
  }, [nq, nk]);
}

/** Each query attends to itself (its own position among the keys). */
function identityPattern(device: Device, nq: number, nk: number): Tensor {
  return cached(device, `identity:${nq}:${nk}`, () => {
    const m = new Float32Array(nq * nk);
    const off = nk - nq;
    for (let i = 0; i < nq; i++) if (i + off < nk) m[i * nk + i + off] = 1;
    return m;
  }, [nq, nk]);
}

/** Per-head pattern perturbation, resolved to [H]-long arrays. */
export interface PatternPerturb {
  /** Divide scores by this per head (1 = none). */
  temperature: Float32Array;
  /** Interpolation weight toward the identity pattern per head. */
  toIdentity: Float32Array;
  /** Interpolation weight toward the uniform pattern per head. */
  toUniform: Float32Array;
}

export interface DenseHooks {
  /** Called with masked scores [B, H, Nq, Nk]; may return a replacement. */
  scores?: (t: Tensor) => Promise<Tensor>;
  /** Called with the pattern [B, H, Nq, Nk]; may return a replacement. */
  pattern?: (t: Tensor) => Promise<Tensor>;
}

/**
 * The inspectable softmax path: scores = QKᵀ·scale, masked with -Infinity, softmax, @V.
 * Materialises [B, H, Nq, Nk]; used when scores or patterns are hooked or perturbed.
 */
export async function denseAttention(q: Tensor, k: Tensor, v: Tensor, opts: { scale: number; causal: boolean; perturb?: PatternPerturb; hooks?: DenseHooks }): Promise<{ out: Tensor; probs: Tensor }> {
  const nq = q.shape[2]!;
  const nk = k.shape[2]!;
  const H = q.shape[1]!;
  // Scale q (N·D work) rather than the scores (N·N).
  let scores = matmul(mulScalar(q, opts.scale), k, { transB: true });
  const p = opts.perturb;
  if (p && p.temperature.some((t) => t !== 1)) {
    const inv = tensor(Float32Array.from(p.temperature, (t) => 1 / t), [1, H, 1, 1], { device: q.device });
    scores = mul(scores, inv);
  }
  // Additive 0/-Infinity mask: one broadcast add (cheaper than where, forward and backward).
  if (opts.causal) scores = add(scores, causalBias(q.device, nq, nk));
  if (opts.hooks?.scores) scores = await opts.hooks.scores(scores);
  let probs = fastSoftmax(scores);
  if (p && (p.toIdentity.some((s) => s !== 0) || p.toUniform.some((s) => s !== 0))) {
    const keepW = Float32Array.from(p.toIdentity, (s, h) => 1 - s - p.toUniform[h]!);
    probs = mul(probs, tensor(keepW, [1, H, 1, 1], { device: q.device }));
    if (p.toIdentity.some((s) => s !== 0)) {
      probs = add(probs, mul(identityPattern(q.device, nq, nk), tensor(p.toIdentity, [1, H, 1, 1], { device: q.device })));
    }
    if (p.toUniform.some((s) => s !== 0)) {
      probs = add(probs, mul(uniformPattern(q.device, nq, nk, opts.causal), tensor(p.toUniform, [1, H, 1, 1], { device: q.device })));
    }
  }
  if (opts.hooks?.pattern) probs = await opts.hooks.pattern(probs);
  return { out: matmul(probs, v), probs };
}

/**
 * The probe path: the pattern a flash forward used, recomputed from its log-sum-exp
 * (exp(QKᵀ·scale + mask - lse)) for a hook that asked for it; no softmax reductions, no gradient.
 */
export function patternFromLse(q: Tensor, k: Tensor, lse: Tensor, opts: { scale: number; causal: boolean }): Tensor {
  return noGrad(() => {
    let scores = matmul(mulScalar(q, opts.scale), k, { transB: true });
    if (opts.causal) scores = add(scores, causalBias(q.device, q.shape[2]!, k.shape[2]!));
    return exp(sub(scores, reshape(lse, [...lse.shape, 1])));
  });
}

/**
 * Softmax over the last axis as exp(x - lse) with a fused-style backward
 * (dx = y ⊙ (g - Σ g⊙y)): fewer broadcast ops than composing div/exp gradients.
 */
export function fastSoftmax(x: Tensor): Tensor {
  const y = noGrad(() => exp(sub(x, logsumexp(x, -1, true))));
  return customGrad(y, 'softmax', [x], (g) => [mul(y, sub(g, sum(mul(g, y), -1, true)))]);
}

/** Default 'softmax' variant: dense tensor ops (the flash kernel replaces it once registered). */
const softmaxImpl: AttentionImpl = async (q, k, v, o) => {
  const r = await denseAttention(q, k, v, { scale: o.scale, causal: o.causal });
  return o.returnProbs ? r : { out: r.out };
};

/**
 * Linear attention with the elu(x)+1 feature map (Katharopoulos et al.), causal parallel form:
 * A = φ(Q)φ(K)ᵀ ⊙ M, out = A V / rowsum(A). `probs` is the normalised A.
 */
const linearElu1: AttentionImpl = (q, k, v, o) => {
  const fq = addScalar(elu(q), 1);
  const fk = addScalar(elu(k), 1);
  let a = matmul(fq, fk, { transB: true });
  if (o.causal) a = mul(a, causalMask(q.device, q.shape[2]!, k.shape[2]!));
  const z = addScalar(sum(a, -1, true), typeof o['eps'] === 'number' ? o['eps'] : 1e-6);
  const out = div(matmul(a, v), z);
  return o.returnProbs ? { out, probs: div(a, z) } : { out };
};

registerAttention('softmax', softmaxImpl);
registerAttention('linear', linearElu1);
registerAttention('linear-elu1', linearElu1);

// Flash attention by default (see the top of this module); `useAttentionRegistry` adds more.
// 'linear' stays the model's own (elu(x)+1 features, normalised: what the ONNX export lowers and
// the MQAR recipe trains); @attnlab/attention's bare 'linear' defaults to identity features.
useAttentionRegistry(flashAttention, { skip: ['linear'] });
