/**
 * The 'hyper-attention' variant: per (batch, head) the CPU estimator on the tensors' values,
 * the result written back on q's device. No mask: the non-causal estimator; the plain causal mask
 * (nq = nk, as in a model's forward): the causal block recursion. Other masks are refused.
 * Options: bits, blockSize, samples, seed (see HyperOptions), leafSize (causal).
 */
import type { AttentionContext, AttentionVariant, VariantResult } from '@attnlab/attention';
import { tensor, TensorError, type Tensor } from '@attnlab/tensor';
import { causalHyperAttention, type CausalHyperOptions } from './causal.js';
import { hyperAttention } from './estimator.js';

function option(ctx: AttentionContext, name: string): number | undefined {
  const x = ctx.options[name];
  if (x === undefined) return undefined;
  if (typeof x !== 'number') throw new TensorError('hyper-attention', `option ${name} must be a number, got ${typeof x}`);
  return x;
}

export const hyperAttentionVariant: AttentionVariant = {
  name: 'hyper-attention',
  description: 'L5 HyperAttention: sortLSH block diagonal + m uniformly sampled columns (options bits, blockSize, samples, seed, leafSize); no mask or causal (block recursion), CPU estimator',
  optionNames: ['bits', 'blockSize', 'samples', 'seed', 'leafSize'],
  async forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> {
    const m = ctx.mask;
    const causal = m !== null;
    if (m !== null && !('isNamed' in m && m.isNamed && m.name === 'causal')) throw new TensorError('hyper-attention', 'only no mask or the plain causal mask is supported');
    if (ctx.scoreMod) throw new TensorError('hyper-attention', 'a scoreMod is not supported');
    if (ctx.returnProbs || ctx.returnScores) throw new TensorError('hyper-attention', 'the estimator has no dense weights to return (returnProbs/returnScores)');
    const [B, Hq, nq, d] = q.shape as [number, number, number, number];
    const [, Hk, nk, dv] = [k.shape[0]!, k.shape[1]!, k.shape[2]!, v.shape[3]!];
    if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4 || Hq % Hk !== 0) throw new TensorError('hyper-attention', `q, k, v must be [B, H, N, D] with Hq a multiple of Hk, got q [${q.shape.join(', ')}], k [${k.shape.join(', ')}], v [${v.shape.join(', ')}]`);
    const [qa, ka, va] = (await Promise.all([q.data(), k.data(), v.data()])).map((x) => Float32Array.from(x as ArrayLike<number>)) as [Float32Array, Float32Array, Float32Array];
    if (causal && nq !== nk) throw new TensorError('hyper-attention', `the causal recursion needs as many queries as keys, got ${nq} and ${nk}`);
    const o: CausalHyperOptions = { scale: ctx.scale };
    for (const n of ['bits', 'blockSize', 'samples', 'seed', 'leafSize'] as const) {
      const x = option(ctx, n);
      if (x !== undefined) o[n] = x;
    }
    const out = new Float32Array(B * Hq * nq * dv);
    const lse = new Float32Array(B * Hq * nq);
    for (let b = 0; b < B; b++) for (let h = 0; h < Hq; h++) {
      const kh = b * Hk + Math.floor(h / (Hq / Hk));
      const r = (causal ? causalHyperAttention : hyperAttention)(qa.subarray((b * Hq + h) * nq * d, (b * Hq + h + 1) * nq * d), ka.subarray(kh * nk * d, (kh + 1) * nk * d), va.subarray(kh * nk * dv, (kh + 1) * nk * dv), { nq, nk, d, dv }, o);
      out.set(r.out, (b * Hq + h) * nq * dv);
      lse.set(r.lse, (b * Hq + h) * nq);
    }
    return { out: tensor(out, [B, Hq, nq, dv], { device: q.device }), lse: tensor(lse, [B, Hq, nq], { device: q.device }) };
  },
};
