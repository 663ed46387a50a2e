/**
 * The 'sea' variant: per (batch, head) the estimated top-k keys (random features, CPU), then exact
 * softmax on them; the result is written back on q's device. Supports no mask or the plain causal
 * mask (queries end-aligned, as in a model's forward); any other mask or a scoreMod is refused.
 * Options: topK, features, seed; or estimator (a trained SeaEstimator from distillSeaEstimator, whose
 * head layer·heads + h ranks the keys of the model's head h in that layer; features/seed then unused).
 */
import type { AttentionContext, AttentionVariant, VariantResult } from '@attnlab/attention';
import { tensor, TensorError, type Tensor } from '@attnlab/tensor';
import { seaTopK, sparseAttention, type SeaOptions } from './estimate.js';
import { checkSeaEstimator, trainedTopK, type SeaEstimator } from './trained.js';

export const seaVariant: AttentionVariant = {
  name: 'sea',
  description: 'SEA: random-feature or trained estimate of each row, exact softmax on its top-k keys (options topK, features, seed, estimator); none or causal mask, CPU estimator',
  optionNames: ['topK', 'features', 'seed', 'estimator'],
  async forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> {
    const m = ctx.mask;
    const causal = m !== null;
    if (m !== null && !('isNamed' in m && m.isNamed && m.name === 'causal')) throw new TensorError('sea', 'only no mask or the plain causal mask is supported');
    if (ctx.scoreMod) throw new TensorError('sea', 'a scoreMod is not supported');
    if (ctx.returnProbs || ctx.returnScores) throw new TensorError('sea', 'returnProbs/returnScores are not available from this variant');
    if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) throw new TensorError('sea', `q, k, v must be [B, H, N, D], got ranks ${q.rank}, ${k.rank}, ${v.rank}`);
    const [B, Hq, nq, d] = q.shape as [number, number, number, number];
    const [Hk, nk, dv] = [k.shape[1]!, k.shape[2]!, v.shape[3]!];
    if (Hq % Hk !== 0) throw new TensorError('sea', `q has ${Hq} heads, not a multiple of k's ${Hk}`);
    const o: SeaOptions = { causal };
    for (const n of ['topK', 'features', 'seed'] as const) {
      const x = ctx.options[n];
      if (x === undefined) continue;
      if (typeof x !== 'number') throw new TensorError('sea', `option ${n} must be a number, got ${typeof x}`);
      o[n] = x;
    }
    const est = ctx.options.estimator as SeaEstimator | undefined;
    if (est !== undefined) {
      if (est === null || typeof est !== 'object') throw new TensorError('sea', `option estimator must be a SeaEstimator, got ${est === null ? 'null' : typeof est}`);
      checkSeaEstimator('sea', est);
      if (typeof ctx.layer !== 'number') throw new TensorError('sea', 'option estimator needs a model layer (its heads are per layer): use it through model.setAttention');
      if (ctx.layer >= est.layers) throw new TensorError('sea', `layer ${ctx.layer} has no estimator heads (the estimator has ${est.layers} layers)`);
      if (d !== est.dHead) throw new TensorError('sea', `head dim ${d} differs from the estimator's dHead ${est.dHead}`);
    }
    const [qa, ka, va] = (await Promise.all([q.data(), k.data(), v.data()])).map((x) => Float32Array.from(x as ArrayLike<number>)) as [Float32Array, Float32Array, Float32Array];
    const out = new Float32Array(B * Hq * nq * dv);
    for (let b = 0; b < B; b++) for (let h = 0; h < Hq; h++) {
      const kh = b * Hk + Math.floor(h / (Hq / Hk));
      const qh = qa.subarray((b * Hq + h) * nq * d, (b * Hq + h + 1) * nq * d);
      const kk = ka.subarray(kh * nk * d, (kh + 1) * nk * d);
      const s = { nq, nk, d, dv };
      let keys: Int32Array[];
      if (est !== undefined) {
        const mh = ctx.heads ? ctx.heads[h]! : h;
        if (mh >= est.heads) throw new TensorError('sea', `head ${mh} has no estimator head (the estimator has ${est.heads} per layer)`);
        keys = trainedTopK(est, (ctx.layer as number) * est.heads + mh, qh, kk, s, { topK: o.topK ?? 8, causal });
      } else keys = seaTopK(qh, kk, s, o);
      out.set(sparseAttention(qh, kk, va.subarray(kh * nk * dv, (kh + 1) * nk * dv), s, keys, ctx.scale), (b * Hq + h) * nq * dv);
    }
    return { out: tensor(out, [B, Hq, nq, dv], { device: q.device }) };
  },
};
