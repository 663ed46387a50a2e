/**
 * A key shift (the one-tap short convolution of H3's shift SSM, RWKV's token shift) in front of any
 * registered mixer: half of each head's key channels are taken from the previous position. Zoology's
 * gated convolution has the shift built in; giving attention and linear attention the same shift
 * makes the comparison about the mixers' state, not about which one can learn a previous-token head
 * (the MQAR plateau at small budgets). Variants 'softmax-shift' and 'linear-elu1-shift'.
 */
import { getAttention, type AttentionContext, type AttentionVariant, type VariantResult } from '@attnlab/attention';
import { TensorError, concat, slice, zeros, type Tensor } from '@attnlab/tensor';

/** k [B, H, N, D] with channels [D - D/2, D) from position t - 1 (zeros at t = 0). */
export function shiftKeys(k: Tensor): Tensor {
  if (k.rank !== 4) throw new TensorError('shiftKeys', `k must be [B, H, N, D], got [${k.shape.join(', ')}]`);
  const [B, H, N, D] = k.shape as [number, number, number, number];
  const s = Math.floor(D / 2);
  if (s === 0) return k;
  const keep = slice(k, [0, 0, 0, 0], [B, H, N, D - s]);
  const z = zeros([B, H, 1, s], { device: k.device });
  const prev = N === 1 ? z : concat([z, slice(k, [0, 0, 0, D - s], [B, H, N - 1, s])], 2);
  return concat([keep, prev], 3);
}

/**
 * The variant `${base}-shift`: the base variant on shifted keys. It does not read the cache (the
 * shift needs the previous key), so decoding through a KV cache the model passes every key so far.
 */
export function keyShiftVariant(base: string): AttentionVariant {
  return {
    name: `${base}-shift`,
    description: `${base} on keys with half their channels shifted by one position (short convolution)`,
    async forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> {
      const b = getAttention(base);
      // The base runs as a plain forward: no cache to attend through, no recurrent state to carry.
      const { state: _unused, ...r } = await b.forward(q, shiftKeys(k), v, { ...ctx, cache: null, state: null });
      return r;
    },
  };
}

export const softmaxShiftVariant = keyShiftVariant('softmax');
export const linearShiftVariant = keyShiftVariant('linear-elu1');
