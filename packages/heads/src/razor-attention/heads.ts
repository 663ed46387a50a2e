/**
 * RazorAttention on a model: retrieval heads keep every token, the other heads keep sinks + window
 * plus the compensation token (or, with `compensate: false`, plain dropping). As hooks (q, k, v
 * captured, hook_z replaced on the non-retrieval heads), so the same run gives accuracy; and
 * `headOutputErrors` measures, per head, how far each compressed output is from the full one.
 */
import { add, mul, noGrad, permute, scope, sqrt, square, sub, sum, tensor, type Tensor } from '@attnlab/tensor';
import type { HeadSelector, Hook, Transformer } from '@attnlab/models';
import { HeadsError } from '../errors.js';
import { toPrompts, type PromptInput } from '../scores/prompts.js';
import { compensatedAttention, type CompensationOptions } from './compensated.js';

function captureNames(model: Transformer): [string, string] {
  return model.config.positional === 'rotary' ? ['hook_rot_q', 'hook_rot_k'] : ['hook_q', 'hook_k'];
}

function softmaxOnly(model: Transformer, who: string): void {
  const { nLayers: L, nHeads: H } = model.config;
  for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) {
    const c = model.getAttentionChoice(l, h);
    if (c.name !== 'softmax') throw new HeadsError(who, `layer ${l} head ${h} runs '${c.name}'; RazorAttention needs 'softmax' heads`);
  }
}

/** Hooks that give every head outside `full` the compressed output (compensated unless compensate: false). */
export function razorHooks(model: Transformer, full: readonly HeadSelector[], o: CompensationOptions): Hook[] {
  softmaxOnly(model, 'razorHooks');
  const { nLayers: L, nHeads: H, dHead: Dh } = model.config;
  const [qn, kn] = captureNames(model);
  const hooks: Hook[] = [];
  for (let l = 0; l < L; l++) {
    const keepFull = new Float32Array(H).map((_, h) => (full.some((s) => s.layer === l && s.head === h) ? 1 : 0));
    if (keepFull.every((x) => x === 1)) continue;
    const seen: { q?: Tensor; k?: Tensor; v?: Tensor } = {};
    const a = `blocks.${l}.attn`;
    hooks.push([`${a}.${qn}`, (t: Tensor) => void (seen.q = t)], [`${a}.${kn}`, (t: Tensor) => void (seen.k = t)], [`${a}.hook_v`, (t: Tensor) => void (seen.v = t)]);
    hooks.push([`${a}.hook_z`, async (z: Tensor) => {
      const { q, k, v } = seen;
      if (!q || !k || !v) throw new HeadsError('razorHooks', `layer ${l}: q, k or v did not pass through its hook point`);
      const tr = (t: Tensor): Tensor => permute(t, [0, 2, 1, 3]);
      const comp = tr(await compensatedAttention(tr(q), tr(k), tr(v), { scale: 1 / Math.sqrt(Dh), ...o }));
      const f = tensor(keepFull, [1, 1, H, 1], { device: z.device });
      return add(mul(z, f), mul(comp, sub(tensor(new Float32Array(H).fill(1), [1, 1, H, 1], { device: z.device }), f)));
    }]);
  }
  return hooks;
}

export interface HeadErrors {
  /** Relative L2 error ‖o − o_full‖ / ‖o_full‖ per [layer][head], over positions that drop tokens. */
  dropped: number[][];
  compensated: number[][];
}

/**
 * Per-head output error of plain dropping and of the compensation token against full attention,
 * on the model's own q, k, v for the prompts (each layer's input is the full model's, so errors do
 * not compound). Positions t whose query drops nothing are left out (both errors are 0 there).
 */
export async function headOutputErrors(model: Transformer, prompts: PromptInput, o: CompensationOptions): Promise<HeadErrors> {
  softmaxOnly(model, 'headOutputErrors');
  const p = toPrompts(prompts, 'headOutputErrors');
  const { nLayers: L, nHeads: H, dHead: Dh } = model.config;
  const first = o.sinks + o.window; // first query position that drops a token
  if (p.seqLen <= first) throw new HeadsError('headOutputErrors', `prompts have ${p.seqLen} positions; with sinks ${o.sinks} + window ${o.window} no query drops a token`);
  const [qn, kn] = captureNames(model);
  const names = new Set<string>();
  for (let l = 0; l < L; l++) for (const n of [qn, kn, 'hook_v', 'hook_z']) names.add(`blocks.${l}.attn.${n}`);
  const dropped: number[][] = [];
  const compensated: number[][] = [];
  await noGrad(() => scope(async () => {
    const tokens = tensor(p.tokens, [p.batchSize, p.seqLen], { dtype: 'int32', device: model.device });
    const { cache } = await model.runWithCache(tokens, { names: (n: string) => names.has(n) });
    for (let l = 0; l < L; l++) {
      const a = `blocks.${l}.attn`;
      const get = (n: string): Tensor => permute(cache[`${a}.${n}`] as Tensor, [0, 2, 1, 3]);
      const [q, k, v, z] = [get(qn), get(kn), get('hook_v'), get('hook_z')];
      const opts = { scale: 1 / Math.sqrt(Dh), ...o };
      const drop = await compensatedAttention(q, k, v, { ...opts, compensate: false });
      const comp = await compensatedAttention(q, k, v, { ...opts, compensate: true });
      const tail = (t: Tensor): Tensor => t.shape[2] === p.seqLen ? sliceFrom(t, first) : t;
      const norm = async (t: Tensor): Promise<Float32Array> => Float32Array.from(await sqrt(sum(square(tail(t)), [0, 2, 3])).data());
      const nz = await norm(z);
      const nd = await norm(sub(drop, z));
      const nc = await norm(sub(comp, z));
      dropped.push(Array.from(nd, (x, h) => x / nz[h]!));
      compensated.push(Array.from(nc, (x, h) => x / nz[h]!));
    }
  }));
  return { dropped, compensated };
}

import { slice } from '@attnlab/tensor';
const sliceFrom = (t: Tensor, from: number): Tensor => slice(t, [0, 0, from, 0], [t.shape[0]!, t.shape[1]!, t.shape[2]! - from, t.shape[3]!]);
