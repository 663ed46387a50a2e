/**
 * H8 VHD (vision-aware head divergence), for any "context": VHD_h = E_x D(o_h(x, ctx), o_h(x, ∅)),
 * where o_h is head h's output z (hook_z, [Dh]) at the positions that count. The paper leaves D
 * unspecified; ours is the normalised L2 distance
 *   D(a, b) = ‖a − b‖ / (‖a‖ + ‖b‖)   ∈ [0, 1]   (0 when equal, 1 when opposite or one is zero),
 * which, unlike the cosine distance, also sees a head that goes quiet without its context; the
 * cosine distance 1 − a·b / (‖a‖‖b‖) is available as `distance: 'cosine'`. Both runs must have the
 * same shape (the ∅ run keeps positions and replaces the context tokens).
 */
import { add, concat, div, mul, noGrad, reshape, scope, sqrt, sub, sum, tensor, type Tensor } from '@attnlab/tensor';
import type { Transformer } from '@attnlab/models';
import { HeadsError } from '../errors.js';
import { toPrompts, type PromptInput } from '../scores/prompts.js';

export type VhdDistance = 'l2' | 'cosine';

export interface VhdOptions {
  /** Rows with their context (a Batch's evalMask, or `positions`, picks the query positions; default all). */
  prompts: PromptInput;
  /** The same rows without the context (same shape). */
  nullPrompts: PromptInput;
  distance?: VhdDistance;
}

/** Guards 0/0 (two silent heads): their distance is 0. */
const EPS = 1e-12;

/** [layers, heads] VHD scores on the model's device. */
export async function vhdScores(model: Transformer, o: VhdOptions): Promise<Tensor> {
  const who = 'vhdScores';
  const d = o.distance ?? 'l2';
  if (d !== 'l2' && d !== 'cosine') throw new HeadsError(who, `distance must be 'l2' or 'cosine', got '${String(d)}'`);
  const p = toPrompts(o.prompts, who);
  const q = toPrompts(o.nullPrompts, who);
  if (p.batchSize !== q.batchSize || p.seqLen !== q.seqLen) throw new HeadsError(who, `nullPrompts are ${q.batchSize}x${q.seqLen}, prompts ${p.batchSize}x${p.seqLen}: the ∅ run must keep every row and position`);
  const { nLayers: L, nHeads: H } = model.config;
  const B = p.batchSize;
  const N = p.seqLen;
  const w = new Float32Array(B * N);
  let count = 0;
  for (let i = 0; i < w.length; i++) if (!p.positions || p.positions[i] !== 0) (w[i] = 1), count++;
  if (!count) throw new HeadsError(who, 'prompts select no position (positions/evalMask all zero)');
  const rows = (x: typeof p): number[][] => Array.from({ length: B }, (_, b) => Array.from(x.tokens.subarray(b * N, (b + 1) * N)));
  const names = (n: string): boolean => n.endsWith('.attn.hook_z');
  return noGrad(() => scope(async () => {
    const a = (await model.runWithCache(rows(p), { names })).cache;
    const b = (await model.runWithCache(rows(q), { names })).cache;
    const dev = model.device;
    const weight = tensor(w, [B, N, 1], { device: dev });
    const layers: Tensor[] = [];
    for (let l = 0; l < L; l++) {
      const za = a[`blocks.${l}.attn.hook_z`]!; // [B, N, H, Dh]
      const zb = b[`blocks.${l}.attn.hook_z`]!;
      const norm = (x: Tensor): Tensor => sqrt(sum(mul(x, x), [3]));
      const dist = d === 'l2'
        ? div(norm(sub(za, zb)), add(add(norm(za), norm(zb)), EPS))
        : sub(1, div(sum(mul(za, zb), [3]), add(mul(norm(za), norm(zb)), EPS)));
      layers.push(reshape(mul(sum(mul(dist, weight), [0, 1]), 1 / count), [1, H])); // [B, N, H] -> [1, H]
    }
    return concat(layers, 0);
  }));
}

/** VHD as a registered head score: compute(model, { prompts, nullPrompts, distance? }). */
export const vhdScore = {
  description: 'VHD: mean normalised L2 distance of each head output (hook_z) with vs without the context (options.prompts, options.nullPrompts)',
  compute(model: Transformer, options: Record<string, unknown> = {}): Promise<Tensor> {
    const prompts = options['prompts'] as PromptInput | undefined;
    const nullPrompts = options['nullPrompts'] as PromptInput | undefined;
    if (!prompts || !nullPrompts) throw new HeadsError("score 'vhd'", 'options.prompts (with context) and options.nullPrompts (the same rows without it) are required');
    const distance = options['distance'] as VhdDistance | undefined;
    return vhdScores(model, { prompts, nullPrompts, ...(distance ? { distance } : {}) });
  },
};
