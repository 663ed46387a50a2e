/**
 * K3 sigmoid attention (Ramapuram et al., FlashSigmoid): A_ij = σ(q_i·k_j·scale + b) with
 * b = -log n, no row max and no normaliser. attention() already has a sigmoid path (its flash
 * kernels skip the running max); this wraps it with the paper's bias made explicit and registers
 * it as the variant 'flash-sigmoid' with one option, `bias` (a number, or 'log-n' for -log Nk).
 */
import { attention, attentionWeightsFromLse, type AttentionContext, type AttentionVariant, type BlockMask, type MaskLike, type VariantResult } from '@attnlab/attention';
import { TensorError, type Tensor } from '@attnlab/tensor';

export type SigmoidBias = number | 'log-n';

export interface FlashSigmoidOptions {
  mask?: MaskLike | BlockMask | null;
  scale?: number;
  /** Default 'log-n': b = -log(Nk), the paper's choice for length-n sequences. */
  bias?: SigmoidBias;
  kernel?: 'rowwise' | 'tiled';
  impl?: 'flash' | 'naive';
}

/** The bias for Nk keys. */
export function sigmoidBias(bias: SigmoidBias | undefined, nk: number): number {
  if (bias === undefined || bias === 'log-n') return -Math.log(nk);
  if (typeof bias !== 'number' || !Number.isFinite(bias)) throw new TensorError('flashSigmoid', `bias must be a finite number or 'log-n', got ${String(bias)}`);
  return bias;
}

/** Sigmoid attention out [B, H, Nq, Dv]; lse is the log of each row's total weight. */
export async function flashSigmoid(q: Tensor, k: Tensor, v: Tensor, o: FlashSigmoidOptions = {}): Promise<{ out: Tensor; lse: Tensor }> {
  const nk = k.shape[2];
  if (k.rank !== 4 || nk === undefined) throw new TensorError('flashSigmoid', `k must be [B, H, N, D], got [${k.shape.join(', ')}]`);
  return attention(q, k, v, {
    normalize: 'sigmoid', sigmoidBias: sigmoidBias(o.bias, nk), mask: o.mask ?? null,
    ...(o.scale !== undefined ? { scale: o.scale } : {}), ...(o.kernel ? { kernel: o.kernel } : {}), ...(o.impl ? { impl: o.impl } : {}),
  });
}

export const flashSigmoidVariant: AttentionVariant = {
  name: 'flash-sigmoid',
  description: "K3 sigmoid attention σ(s + b), b = -log n by default (option bias: number | 'log-n'); no max, no normaliser",
  optionNames: ['bias'],
  async forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> {
    const bias = sigmoidBias(ctx.options['bias'] as SigmoidBias | undefined, k.shape[2]!);
    const r = await attention(q, k, v, { normalize: 'sigmoid', sigmoidBias: bias, scale: ctx.scale, mask: ctx.mask, scoreMod: ctx.scoreMod });
    const res: VariantResult = { out: r.out, lse: r.lse };
    if (ctx.returnProbs || ctx.returnScores) {
      if (ctx.scoreMod) throw new TensorError('flash-sigmoid', 'weights with a scoreMod are not available from this variant; use the built-in sigmoid variant');
      const w = attentionWeightsFromLse(q, k, r.lse, { scale: ctx.scale, mask: ctx.mask, normalize: 'sigmoid', sigmoidBias: bias });
      if (ctx.returnProbs) res.probs = w.probs;
      else w.probs.dispose();
      if (ctx.returnScores) res.scores = w.scores;
      else w.scores.dispose();
    }
    return res;
  },
};
