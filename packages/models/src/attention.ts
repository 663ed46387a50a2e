import {
  add, customGrad, exp, keep, logsumexp, matmul, mul, mulScalar, noGrad, sub, sum, tensor,
  type Device, type Tensor,
} from '@attnlab/tensor';
import type { BlockMask, MaskMod } from '@attnlab/attention';
import { ModelError } from './errors.js';

/**
 * The model's inspectable softmax path. Variants themselves live in @attnlab/attention's one
 * registry (registerAttention / getAttention); the model runs them per head (transformer.ts).
 * This path materialises scores and pattern [B, H, Nq, Nk] so hooks can replace them and head
 * perturbations can act on them; the model takes it only for hooked scores, perturbations, or a
 * pattern hook on a gradient run. Everything else runs the registered variant (flash for 'softmax').
 */

// ---------------------------------------------------------------------------------------------
// Masks, cached per (device, Nq, Nk) and kept out of scopes.

const maskCache = new Map<string, Tensor>();

function cached(device: Device, key: string, make: () => Float32Array, shape: number[]): Tensor {
  const k = `${device.kind}:${device.adapter}:${key}`;
  let t = maskCache.get(k);
  if (!t || t.isDisposed || t.device !== device) {
    // Bounded: decode asks for a new (Nq, Nk) every step.
    if (maskCache.size >= 64) {
      const [oldest, old] = maskCache.entries().next().value as [string, Tensor];
      maskCache.delete(oldest);
      old.dispose();
    }
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

const isPlainCausal = (m: MaskMod | BlockMask | null): boolean => !!m && m.kind === 'maskMod' && m.isNamed && m.name === 'causal';

/** Additive 0 / -Infinity bias [Bm, Hm, Nq, Nk] of a mask (rows aligned as attention() aligns them). */
export function maskBias(mask: MaskMod | BlockMask, device: Device, B: number, H: number, nq: number, nk: number): Tensor {
  if (isPlainCausal(mask)) return causalBias(device, nq, nk);
  if (mask.kind === 'blockMask') throw new ModelError('attention', 'the dense path takes a MaskMod, not a BlockMask');
  const Bm = mask.uses.has('b') ? B : 1;
  const Hm = mask.uses.has('h') ? H : 1;
  const f = mask.evaluator(nq, nk);
  const m = new Float32Array(Bm * Hm * nq * nk).fill(-Infinity);
  for (let b = 0; b < Bm; b++) for (let h = 0; h < Hm; h++) for (let i = 0; i < nq; i++) for (let j = 0; j < nk; j++) if (f(b, h, i, j)) m[((b * Hm + h) * nq + i) * nk + j] = 0;
  return tensor(m, [Bm, Hm, nq, nk], { device });
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

/** The layer's HeadControls perturbations as per-head arrays; undefined when no head is perturbed. */
export function patternPerturbFor(controls: readonly ({ perturb?: { mode: string; strength: number } | null } | undefined)[]): PatternPerturb | undefined {
  if (!controls.some((c) => c?.perturb)) return undefined;
  const H = controls.length;
  const p: PatternPerturb = { temperature: new Float32Array(H).fill(1), toIdentity: new Float32Array(H), toUniform: new Float32Array(H) };
  controls.forEach((c, h) => {
    const pt = c?.perturb;
    if (!pt) return;
    if (pt.mode === 'temperature') p.temperature[h] = pt.strength;
    else if (pt.mode === 'identity') p.toIdentity[h] = Math.min(1, Math.max(0, pt.strength));
    else p.toUniform[h] = Math.min(1, Math.max(0, pt.strength));
  });
  return p;
}

export interface DenseHooks {
  /** Called with masked scores [B, H, Nq, Nk]; may return a replacement. */
  scores?: (t: Tensor) => Promise<Tensor>;
  /** Called with the pattern [B, H, Nq, Nk]; may return a replacement. */
  pattern?: (t: Tensor) => Promise<Tensor>;
}

export interface DenseOptions {
  scale: number;
  /** Causal mask (end-aligned) when no `mask` is given. */
  causal?: boolean;
  /** The effective mask (a MaskMod); overrides `causal`. */
  mask?: MaskMod | BlockMask | null;
  perturb?: PatternPerturb;
  hooks?: DenseHooks;
}

/**
 * The inspectable softmax path: scores = QKᵀ·scale, masked with -Infinity, softmax, @V.
 * Materialises [B, H, Nq, Nk]; returns the scores and pattern the hooks saw (after replacement).
 */
export async function denseAttention(q: Tensor, k: Tensor, v: Tensor, opts: DenseOptions): Promise<{ out: Tensor; probs: Tensor; scores: Tensor }> {
  const nq = q.shape[2]!;
  const nk = k.shape[2]!;
  const H = q.shape[1]!;
  if (k.shape[1] !== H) throw new ModelError('denseAttention', `needs as many key heads as query heads (got ${k.shape[1]} and ${H})`);
  // Scale q (N·D work) rather than the scores (N·N).
  let scores = matmul(mulScalar(q, opts.scale), k, { transB: true });
  const p = opts.perturb;
  if (p && p.temperature.some((t) => t !== 1)) {
    const inv = tensor(Float32Array.from(p.temperature, (t) => 1 / t), [1, H, 1, 1], { device: q.device });
    scores = mul(scores, inv);
  }
  // Additive 0/-Infinity mask: one broadcast add (cheaper than where, forward and backward).
  const mask = opts.mask ?? null;
  if (mask) scores = add(scores, maskBias(mask, q.device, q.shape[0]!, H, nq, nk));
  else if (opts.causal) scores = add(scores, causalBias(q.device, nq, nk));
  if (opts.hooks?.scores) scores = await opts.hooks.scores(scores);
  let probs = fastSoftmax(scores);
  if (p && (p.toIdentity.some((s) => s !== 0) || p.toUniform.some((s) => s !== 0))) {
    const keepW = Float32Array.from(p.toIdentity, (s, h) => 1 - s - p.toUniform[h]!);
    probs = mul(probs, tensor(keepW, [1, H, 1, 1], { device: q.device }));
    if (p.toIdentity.some((s) => s !== 0)) {
      probs = add(probs, mul(identityPattern(q.device, nq, nk), tensor(p.toIdentity, [1, H, 1, 1], { device: q.device })));
    }
    if (p.toUniform.some((s) => s !== 0)) {
      probs = add(probs, mul(uniformPattern(q.device, nq, nk, !!(opts.causal || mask)), tensor(p.toUniform, [1, H, 1, 1], { device: q.device })));
    }
  }
  if (opts.hooks?.pattern) probs = await opts.hooks.pattern(probs);
  return { out: matmul(probs, v), probs, scores };
}

/**
 * Softmax over the last axis as exp(x - lse) with a fused-style backward
 * (dx = y ⊙ (g - Σ g⊙y)): fewer broadcast ops than composing div/exp gradients.
 */
export function fastSoftmax(x: Tensor): Tensor {
  const y = noGrad(() => exp(sub(x, logsumexp(x, -1, true))));
  return customGrad(y, 'softmax', [x], (g) => [mul(y, sub(g, sum(mul(g, y), -1, true)))]);
}
