/**
 * ACT's calibration as a per-head attention variant ('act'): exact softmax attention whose
 * listed sink columns are scaled by β < 1 with the removed mass redistributed to the other keys
 * in proportion (H6: "scale their weight by β and redistribute the mass"). Per row of the batch
 * its own sink positions (ACT is input-adaptive). From the flash output and its lse:
 *   P = Σ_{j∈J} p_j,  o' = β Σ_J p_j v_j + (1 − βP)/(1 − P) · (o − Σ_J p_j v_j).
 * Set on selected heads with `model.setAttention({ layer, heads }, 'act', { sinks, beta })`.
 */
import { attention, attentionWeightsFromLse, type AttentionVariant } from '@attnlab/attention';
import { add, addScalar, div, greater, matmul, mul, mulScalar, sub, sum, tensor, TensorError, where, type Tensor } from '@attnlab/tensor';

export const ACT_OPTIONS = ['sinks', 'beta'] as const;

/** Sink positions: one list for every batch row, or one list per row. */
export type SinkPositions = readonly number[] | readonly (readonly number[])[];

function columnMask(sinks: SinkPositions, B: number, Nk: number, device: Tensor['device']): Tensor {
  const perRow = sinks.length > 0 && Array.isArray(sinks[0]);
  if (perRow && sinks.length !== B) throw new TensorError('act', `sinks has ${sinks.length} rows, the batch ${B}`);
  const rows = perRow ? B : 1;
  const m = new Float32Array(rows * Nk);
  for (let b = 0; b < rows; b++) {
    const list = (perRow ? sinks[b] : sinks) as readonly number[];
    for (const j of list) {
      if (!Number.isInteger(j) || j < 0) throw new TensorError('act', `sink position ${String(j)} must be a non-negative integer`);
      if (j < Nk) m[b * Nk + j] = 1;
    }
  }
  return tensor(m, [rows, 1, 1, Nk], { device });
}

export const actVariant: AttentionVariant & { name: string } = {
  name: 'act',
  description: "ACT (H6): softmax with the listed sink columns scaled by β, their mass redistributed proportionally",
  optionNames: ACT_OPTIONS,
  async forward(q, k, v, ctx) {
    const beta = (ctx.options['beta'] as number | undefined) ?? 0.5;
    if (!(Number.isFinite(beta) && beta >= 0 && beta <= 1)) throw new TensorError('act', `beta must be in [0, 1], got ${String(beta)}`);
    const sinks = ctx.options['sinks'] as SinkPositions | undefined;
    if (!Array.isArray(sinks)) throw new TensorError('act', 'option sinks (positions, or one list per batch row) is required');
    if (ctx.mask && ctx.mask.kind === 'blockMask') throw new TensorError('act', 'a BlockMask is not supported; pass a MaskMod');
    if (ctx.scoreMod) throw new TensorError('act', 'a scoreMod is not supported');
    if (q.shape[1] !== k.shape[1]) throw new TensorError('act', `grouped-query heads are not supported (q has ${q.shape[1]} heads, k ${k.shape[1]})`);
    const B = q.shape[0]!;
    const Nk = k.shape[2]!;
    const r = await attention(q, k, v, { scale: ctx.scale, mask: ctx.mask, normalize: 'softmax' });
    const w = attentionWeightsFromLse(q, k, r.lse, { scale: ctx.scale, mask: ctx.mask, normalize: 'softmax' });
    w.scores.dispose();
    const cm = columnMask(sinks, B, Nk, q.device);
    const pj = mul(w.probs, cm); // [B, H, Nq, Nk], sink columns only
    const P = sum(pj, [3], true); // [B, H, Nq, 1]
    const pv = matmul(pj, v); // Σ_J p_j v_j
    const free = sub(1, P);
    const factor = where(greater(free, 1e-6), div(addScalar(mulScalar(P, -beta), 1), where(greater(free, 1e-6), free, 1)), 1);
    const out = add(mulScalar(pv, beta), mul(factor, sub(r.out, pv)));
    const res: { out: Tensor; lse?: Tensor; probs?: Tensor } = { out };
    if (ctx.returnProbs) {
      // p' = β p on sink columns, factor · p elsewhere.
      const scaleCols = add(mulScalar(cm, beta), mul(factor, sub(1, cm)));
      res.probs = mul(w.probs, scaleCols);
    }
    w.probs.dispose();
    return res;
  },
};
