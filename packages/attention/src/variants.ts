/**
 * The built-in attention variants, registered on import:
 *   'softmax'                 exact softmax attention (flash); attends through a KV cache
 *   'sigmoid'                 sigmoid attention with bias (FlashSigmoid)
 *   'linear'                  linearAttention (feature map, decay, mode, normalize: its options)
 *   'linear-elu1-normalized'  φ = elu + 1, rows normalised, causal parallel form through tensor
 *                             ops (Katharopoulos et al.; what the models' ONNX export lowers);
 *                             'linear-elu1' is the same variant under its earlier name.
 * Each returns weights for hook_pattern when ctx.returnProbs (softmax/sigmoid also scores).
 */
import { addScalar, concat, div, elu, keep, matmul, mul, slice, sum, tensor, TensorError, zeros, type Device, type Tensor } from '@attnlab/tensor';
import { attention, type AttentionOptions } from './attention.js';
import type { BlockMask } from './blockmask.js';
import { linearAttention, type LinearAttentionOptions } from './linear.js';
import type { MaskMod } from './mods/mods.js';
import type { FeatureMap } from './reference/linear.js';
import { registerAttention, type AttentionContext, type VariantResult } from './registry.js';
import { attentionWeights, attentionWeightsFromLse, linearWeights, maskPredicate } from './weights.js';

const isPlainCausal = (m: MaskMod | BlockMask | null): boolean => !!m && m.kind === 'maskMod' && m.isNamed && m.name === 'causal';

/** Options each built-in accepts (a model rejects others by name). */
export const VARIANT_OPTIONS: Record<string, readonly string[]> = {
  softmax: ['impl', 'headGate'],
  sigmoid: ['impl', 'headGate', 'sigmoidBias'],
  linear: ['featureMap', 'mode', 'chunkSize', 'decay', 'normalize'],
  'linear-elu1-normalized': ['eps'],
};

function pick(o: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  for (const n of names) if (o[n] !== undefined) r[n] = o[n];
  return r;
}

async function exact(normalize: 'softmax' | 'sigmoid', q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> {
  const extra = pick(ctx.options, VARIANT_OPTIONS[normalize]!) as Partial<AttentionOptions>;
  const r = await attention(q, k, v, { ...extra, scale: ctx.scale, mask: ctx.mask, scoreMod: ctx.scoreMod, normalize });
  const res: VariantResult = { out: r.out, lse: r.lse };
  if (ctx.returnProbs || ctx.returnScores) {
    // On q's device through tensor ops from lse; score mods are evaluated on the host in float64.
    const wopts = { scale: ctx.scale, mask: ctx.mask, normalize, ...(extra.sigmoidBias !== undefined ? { sigmoidBias: extra.sigmoidBias } : {}) };
    const w = ctx.scoreMod ? await attentionWeights(q, k, { ...wopts, scoreMod: ctx.scoreMod }) : attentionWeightsFromLse(q, k, r.lse, wopts);
    if (ctx.returnProbs) res.probs = w.probs;
    else w.probs.dispose();
    if (ctx.returnScores) res.scores = w.scores;
    else w.scores.dispose();
  }
  return res;
}

registerAttention('softmax', {
  description: 'exact softmax attention (flash); decodes through a KV cache',
  readsCache: true,
  optionNames: VARIANT_OPTIONS['softmax']!,
  async forward(q, k, v, ctx) {
    if (!ctx.cache) return exact('softmax', q, k, v, ctx);
    if (ctx.scoreMod) throw new TensorError('softmax', 'a scoreMod is not supported when decoding through a KV cache');
    if (ctx.mask && ctx.mask.kind === 'blockMask') throw new TensorError('softmax', 'a BlockMask cannot be used with a KV cache; pass a MaskMod');
    return ctx.cache.attend(q, {
      layer: ctx.layer ?? 0, scale: ctx.scale, mask: ctx.mask, groupSize: ctx.groupSize,
      ...(ctx.heads ? { heads: ctx.heads } : {}), ...(ctx.rotary ? { rotary: ctx.rotary } : {}),
    });
  },
});

registerAttention('sigmoid', {
  description: 'sigmoid attention with bias (FlashSigmoid); weights σ(s + bias)',
  optionNames: VARIANT_OPTIONS['sigmoid']!,
  forward: (q, k, v, ctx) => exact('sigmoid', q, k, v, ctx),
});

/** Per-head option values of a variant that runs on a slice of the model's heads. */
function sliceHeads<T>(x: T | ArrayLike<number>, ctx: AttentionContext, H: number): T | number[] {
  if (typeof x === 'number' || x === undefined || x === null) return x as T;
  const a = Array.from(x as ArrayLike<number>);
  return ctx.heads && a.length !== H ? ctx.heads.map((h) => a[h]!) : a;
}

registerAttention('linear', {
  description: 'causal linear attention (feature map, decay, chunk/recurrent/parallel, normalize)',
  optionNames: VARIANT_OPTIONS['linear']!,
  async forward(q, k, v, ctx) {
    if (ctx.mask && !isPlainCausal(ctx.mask)) throw new TensorError('linear', `linear attention is causal by construction and takes no other mask (got ${String(ctx.mask)}); 'linear-elu1-normalized' takes masks`);
    const [B, H, Nq, D] = q.shape as [number, number, number, number];
    const Nk = k.shape[2]!;
    if (k.shape[1] !== H) throw new TensorError('linear', `linear attention needs as many key heads as query heads (got ${k.shape[1]} and ${H})`);
    const o = pick(ctx.options, VARIANT_OPTIONS['linear']!) as LinearAttentionOptions;
    const decay = sliceHeads(o.decay ?? 1, ctx, H) as number | number[];
    const opts: LinearAttentionOptions = { ...o, decay, scale: ctx.scale, ...(ctx.state ? { initialState: ctx.state, outputFinalState: true } : {}) };
    // Decode without a state: earlier queries are zeros (a causal row reads only its own query).
    let qq = q;
    if (Nq < Nk) qq = concat([zeros([B, H, Nk - Nq, D], { device: q.device }), q], 2);
    const r = await linearAttention(qq, k, v, opts);
    const out = Nq < Nk ? slice(r.out, [0, 0, Nk - Nq, 0], [B, H, Nq, v.shape[3]!]) : r.out;
    const res: VariantResult = { out };
    if (r.finalState) res.state = r.finalState;
    if (ctx.returnProbs) res.probs = await linearWeights(q, k, { featureMap: (o.featureMap ?? 'identity') as FeatureMap, scale: ctx.scale, decay, normalize: o.normalize ?? false });
    return res;
  },
});

const causalCache = new Map<string, Tensor>();

/** 0/1 visibility [Bm, Hm, Nq, Nk] of a mask (the plain causal one cached per device and size). */
function maskMatrix(mask: MaskMod | BlockMask, device: Device, B: number, H: number, Nq: number, Nk: number): Tensor {
  const plain = isPlainCausal(mask);
  const key = `${device.kind}:${device.adapter}:${Nq}:${Nk}`;
  const hit = plain ? causalCache.get(key) : undefined;
  if (hit && !hit.isDisposed) return hit;
  const usesB = mask.kind === 'blockMask' ? mask.Bm > 1 : mask.uses.has('b');
  const usesH = mask.kind === 'blockMask' ? mask.Hm > 1 : mask.uses.has('h');
  const Bm = usesB ? B : 1;
  const Hm = usesH ? H : 1;
  const f = maskPredicate(mask, Nq, Nk)!;
  const m = new Float32Array(Bm * Hm * Nq * Nk);
  for (let b = 0; b < Bm; b++) for (let h = 0; h < Hm; h++) for (let i = 0; i < Nq; i++) for (let j = 0; j < Nk; j++) if (f(b, h, i, j)) m[((b * Hm + h) * Nq + i) * Nk + j] = 1;
  const t = tensor(m, [Bm, Hm, Nq, Nk], { device });
  if (plain) {
    // Bounded: decode asks for a new size every step.
    if (causalCache.size >= 64) {
      const [oldest, old] = causalCache.entries().next().value as [string, Tensor];
      causalCache.delete(oldest);
      old.dispose();
    }
    causalCache.set(key, keep(t));
  }
  return t;
}

const linearElu1Normalized = {
  description: 'linear attention, φ = elu + 1, rows normalised (Katharopoulos et al.), parallel form; takes masks',
  optionNames: VARIANT_OPTIONS['linear-elu1-normalized']!,
  forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): VariantResult {
    const [B, H, Nq] = q.shape as [number, number, number, number];
    const Nk = k.shape[2]!;
    if (k.shape[1] !== H) throw new TensorError('linear-elu1-normalized', `needs as many key heads as query heads (got ${k.shape[1]} and ${H})`);
    const fq = addScalar(elu(q), 1);
    const fk = addScalar(elu(k), 1);
    let a = matmul(fq, fk, { transB: true });
    if (ctx.mask) a = mul(a, maskMatrix(ctx.mask, q.device, B, H, Nq, Nk));
    const eps = typeof ctx.options['eps'] === 'number' ? (ctx.options['eps'] as number) : 1e-6;
    const z = addScalar(sum(a, -1, true), eps);
    const out = div(matmul(a, v), z);
    return ctx.returnProbs ? { out, probs: div(a, z) } : { out };
  },
};
registerAttention('linear-elu1-normalized', linearElu1Normalized);
registerAttention('linear-elu1', { ...linearElu1Normalized, description: "the earlier name of 'linear-elu1-normalized' (checkpoints record it)" });
