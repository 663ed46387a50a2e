/** Float64 sigmoid attention: out_i = Σ_j σ(q_i·k_j·scale + b) v_j over kept keys (no normaliser). */
import { naiveAttention, type NaiveDims } from '../flash-attention/naive.js';
import type { KeepFn } from '../common/dense.js';

export function naiveSigmoidAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dims: NaiveDims, o: { bias: number; scale?: number; keep?: KeepFn | null; rows?: readonly number[] }): Float64Array {
  return naiveAttention(q, k, v, dims, { normalize: 'sigmoid', sigmoidBias: o.bias, keep: o.keep ?? null, ...(o.scale !== undefined ? { scale: o.scale } : {}), ...(o.rows ? { rows: o.rows } : {}) });
}
