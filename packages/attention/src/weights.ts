/**
 * Attention weights for inspection (hook_attn_scores / hook_pattern): the dense [B, Hq, Nq, Nk]
 * scores and weights a fused forward never materialises, recomputed in float64 on the host with
 * the same mask, score mod and normaliser. No gradient: it reports, it does not train.
 */
import { add, addScalar, broadcastTo, exp, matmul, maximum, mulScalar, reshape, sigmoid, sub, tensor, TensorError, type Tensor } from '@attnlab/tensor';
import { BlockMask } from './blockmask.js';
import { MaskMod, type ScoreMod } from './mods/mods.js';
import { featureDim, featurize, type FeatureMap } from './reference/linear.js';
import { hostArray } from './tensor-io.js';
import { varlenPlan } from './varlen.js';

export interface WeightsOptions {
  scale: number;
  mask: MaskMod | BlockMask | null;
  scoreMod?: ScoreMod | null;
  normalize?: 'softmax' | 'sigmoid';
  /** Sigmoid bias (default -log Nk). */
  sigmoidBias?: number;
}

/** keep(b, h, i, j) for a mask over Nq x Nk (rows aligned as attention() aligns them). */
export function maskPredicate(mask: MaskMod | BlockMask | null, Nq: number, Nk: number): ((b: number, h: number, i: number, j: number) => boolean) | null {
  if (!mask) return null;
  if (mask instanceof MaskMod) return mask.evaluator(Nq, Nk);
  if (mask.Nq !== Nq || mask.Nk !== Nk) throw new TensorError('attention weights', `BlockMask is for ${mask.Nq} x ${mask.Nk}, the call is ${Nq} x ${Nk}`);
  const dense = new Map<number, Uint8Array | ArrayLike<number>>();
  return (b, h, i, j) => {
    const bb = mask.Bm === 1 ? 0 : b;
    const hh = mask.Hm === 1 ? 0 : h;
    const key = bb * mask.Hm + hh;
    let d = dense.get(key);
    if (!d) dense.set(key, (d = mask.toDense(bb, hh)));
    return !!d[i * Nk + j];
  };
}

/** Scores (masked entries -Infinity) and weights of softmax or sigmoid attention, [B, Hq, Nq, Nk]. */
export async function attentionWeights(q: Tensor, k: Tensor, opts: WeightsOptions): Promise<{ scores: Tensor; probs: Tensor }> {
  const [B, Hq, Nq, D] = q.shape as [number, number, number, number];
  const [, Hkv, Nk] = k.shape as [number, number, number, number];
  const G = Hq / Hkv;
  const [qa, ka] = await Promise.all([hostArray(q, 'attention weights'), hostArray(k, 'attention weights')]);
  const keep = maskPredicate(opts.mask, Nq, Nk);
  // A document mask (varlen.ts): the score mod reads document positions, sigmoid's bias is per document.
  const docs = varlenPlan('attention weights', B, Nq, Nk, opts.mask, opts.scoreMod ?? null, { normalize: opts.normalize ?? 'softmax', sigmoidBias: opts.sigmoidBias });
  const scoreMod = docs ? docs.scoreMod : opts.scoreMod;
  const mod = scoreMod ? scoreMod.evaluators(Nq, Nk)[0] : null;
  const sigmoid = opts.normalize === 'sigmoid';
  const bias = (docs ? docs.sigmoidBias : opts.sigmoidBias) ?? -Math.log(Nk);
  const scores = new Float32Array(B * Hq * Nq * Nk);
  const probs = new Float32Array(B * Hq * Nq * Nk);
  const row = new Float64Array(Nk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const kh = Math.floor(h / G);
      for (let i = 0; i < Nq; i++) {
        const qo = ((b * Hq + h) * Nq + i) * D;
        let m = -Infinity;
        for (let j = 0; j < Nk; j++) {
          if (keep && !keep(b, h, i, j)) {
            row[j] = -Infinity;
            continue;
          }
          const ko = ((b * Hkv + kh) * Nk + j) * D;
          let s = 0;
          for (let d = 0; d < D; d++) s += qa[qo + d]! * ka[ko + d]!;
          s *= opts.scale;
          if (mod) s = mod(s, b, h, i, j);
          row[j] = s;
          if (s > m) m = s;
        }
        const o = ((b * Hq + h) * Nq + i) * Nk;
        let l = 0;
        if (!sigmoid && m > -Infinity) for (let j = 0; j < Nk; j++) l += row[j] === -Infinity ? 0 : Math.exp(row[j]! - m);
        for (let j = 0; j < Nk; j++) {
          scores[o + j] = row[j]!;
          if (row[j] === -Infinity) continue;
          probs[o + j] = sigmoid ? 1 / (1 + Math.exp(-(row[j]! + bias))) : Math.exp(row[j]! - m) / l;
        }
      }
    }
  }
  const opt = { device: q.device };
  return { scores: tensor(scores, [B, Hq, Nq, Nk], opt), probs: tensor(probs, [B, Hq, Nq, Nk], opt) };
}

/**
 * The parallel-form weights of causal linear attention, [B, H, Nq, Nk]: out = W V exactly.
 * A_ts = outScale φ(q_t)·φ(k_s) λ^(t-s) for visible s (queries aligned to the end of the keys);
 * normalised rows divide by their sum.
 */
export async function linearWeights(q: Tensor, k: Tensor, opts: { featureMap: FeatureMap; scale: number; decay: number | ArrayLike<number>; normalize: boolean; mask?: MaskMod | BlockMask | null }): Promise<Tensor> {
  const [B, H, Nq, D] = q.shape as [number, number, number, number];
  const Nk = k.shape[2]!;
  const [qa, ka] = await Promise.all([hostArray(q, 'linear weights'), hostArray(k, 'linear weights')]);
  const F = featureDim(opts.featureMap, D);
  const outScale = opts.featureMap === 'taylor2' ? 1 : opts.scale;
  const keep = maskPredicate(opts.mask ?? null, Nq, Nk);
  const off = Nk - Nq;
  const w = new Float32Array(B * H * Nq * Nk);
  const fk = new Float64Array(Nk * F);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const lam = typeof opts.decay === 'number' ? opts.decay : opts.decay[h]!;
      for (let j = 0; j < Nk; j++) fk.set(featurize(opts.featureMap, ka, ((b * H + h) * Nk + j) * D, D, opts.scale), j * F);
      for (let i = 0; i < Nq; i++) {
        const fq = featurize(opts.featureMap, qa, ((b * H + h) * Nq + i) * D, D, opts.scale);
        const o = ((b * H + h) * Nq + i) * Nk;
        const row = new Float64Array(Nk);
        let tot = 0;
        for (let j = 0; j <= i + off && j < Nk; j++) {
          if (keep && !keep(b, h, i, j)) continue;
          let a = 0;
          for (let f = 0; f < F; f++) a += fq[f]! * fk[j * F + f]!;
          row[j] = a * outScale * lam ** (i + off - j);
          tot += row[j]!;
        }
        for (let j = 0; j < Nk; j++) w[o + j] = opts.normalize ? (tot === 0 ? 0 : row[j]! / tot) : row[j]!;
      }
    }
  }
  return tensor(w, [B, H, Nq, Nk], { device: q.device });
}

/** Additive 0 / -Infinity bias [Bm, Hm, Nq, Nk] of a mask on a device (uncached: sizes change every decode step). */
function maskBias(mask: MaskMod | BlockMask, B: number, H: number, Nq: number, Nk: number, device: Tensor['device']): Tensor {
  const usesB = mask instanceof MaskMod ? mask.uses.has('b') : mask.Bm > 1;
  const usesH = mask instanceof MaskMod ? mask.uses.has('h') : mask.Hm > 1;
  const Bm = usesB ? B : 1;
  const Hm = usesH ? H : 1;
  const f = maskPredicate(mask, Nq, Nk)!;
  const m = new Float32Array(Bm * Hm * Nq * Nk).fill(-Infinity);
  for (let b = 0; b < Bm; b++) for (let h = 0; h < Hm; h++) for (let i = 0; i < Nq; i++) for (let j = 0; j < Nk; j++) if (f(b, h, i, j)) m[((b * Hm + h) * Nq + i) * Nk + j] = 0;
  return tensor(m, [Bm, Hm, Nq, Nk], { device });
}

/**
 * The same scores and weights through tensor ops on q's device, from the forward's lse
 * (softmax: exp(s - lse)), so a pattern asked for on WebGPU stays there. No score mods (those
 * take attentionWeights). Differentiable through q, k and lse.
 */
export function attentionWeightsFromLse(q: Tensor, k: Tensor, lse: Tensor, opts: Omit<WeightsOptions, 'scoreMod'>): { scores: Tensor; probs: Tensor } {
  const [B, Hq, Nq] = q.shape as [number, number, number, number];
  const [, Hkv, Nk, D] = k.shape as [number, number, number, number];
  const G = Hq / Hkv;
  const kk = G === 1 ? k : reshape(broadcastTo(reshape(k, [B, Hkv, 1, Nk, D]), [B, Hkv, G, Nk, D]), [B, Hq, Nk, D]);
  let s = matmul(mulScalar(q, opts.scale), kk, { transB: true });
  if (opts.mask) {
    const bias = maskBias(opts.mask, B, Hq, Nq, Nk, q.device);
    s = add(s, bias);
    bias.dispose(); // add's backward does not read a constant operand
  }
  let probs: Tensor;
  if (opts.normalize === 'sigmoid') {
    const docs = varlenPlan('attention weights', B, Nq, Nk, opts.mask, null, { normalize: 'sigmoid', sigmoidBias: opts.sigmoidBias });
    probs = sigmoid(docs?.rowBias ? add(s, tensor(docs.rowBias, [1, 1, Nq, 1], { device: q.device })) : addScalar(s, opts.sigmoidBias ?? -Math.log(Nk)));
  } else {
    // A fully masked row has lse -Infinity: clamp so its weights are exp(-Infinity) = 0, not NaN.
    const l = maximum(reshape(lse, [B, Hq, Nq, 1]), tensor(new Float32Array([-1e30]), [1], { device: q.device }));
    probs = exp(sub(s, l));
  }
  return { scores: s, probs };
}
