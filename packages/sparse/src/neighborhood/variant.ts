/**
 * The 'neighborhood' variant: attention restricted to NA/GNA neighbours (1-D over the sequence;
 * options kernelSize, dilation, stride, and grid: [height, width] for 2-D), AND the model's mask.
 */
import { and, attention, type AttentionContext, type AttentionVariant, type MaskMod, type VariantResult } from '@attnlab/attention';
import { TensorError, type Tensor } from '@attnlab/tensor';
import { na1d, na2d } from './mask.js';

export function neighborhoodMask(n: number, opts: Record<string, unknown>): MaskMod {
  const grid = opts['grid'];
  if (grid !== undefined) {
    if (!Array.isArray(grid) || grid.length !== 2) throw new TensorError('neighborhood', `grid must be [height, width], got ${JSON.stringify(grid)}`);
    const [height, width] = grid as [number, number];
    if (height * width !== n) throw new TensorError('neighborhood', `grid ${height}x${width} has ${height * width} tokens, the sequence has ${n}`);
    return na2d({ height, width, kernelSize: opts['kernelSize'] as number, dilation: opts['dilation'] as number, stride: opts['stride'] as number });
  }
  return na1d({ length: n, kernelSize: opts['kernelSize'] as number, dilation: opts['dilation'] as number | undefined, stride: opts['stride'] as number | undefined });
}

export const neighborhoodVariant: AttentionVariant = {
  name: 'neighborhood',
  description: 'K2 neighbourhood attention NA/GNA (options kernelSize, dilation, stride, grid [h, w] for 2-D)',
  optionNames: ['kernelSize', 'dilation', 'stride', 'grid'],
  async forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> {
    const [nq, nk] = [q.shape[2]!, k.shape[2]!];
    if (nq !== nk) throw new TensorError('neighborhood', `needs the whole sequence (Nq = Nk), got Nq=${nq}, Nk=${nk}; it does not decode through a cache`);
    if (ctx.mask && ctx.mask.kind === 'blockMask') throw new TensorError('neighborhood', 'pass a MaskMod, not a BlockMask, to combine with the neighbourhood');
    const na = neighborhoodMask(nk, ctx.options);
    const r = await attention(q, k, v, { scale: ctx.scale, mask: ctx.mask ? and(ctx.mask, na) : na, scoreMod: ctx.scoreMod });
    return { out: r.out, lse: r.lse };
  },
};
