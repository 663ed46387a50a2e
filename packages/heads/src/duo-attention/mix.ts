/**
 * DuoAttention's mixed head (H2): attn_h = α_h · full_h + (1 − α_h) · stream_h, where stream_h is
 * the same head's softmax attention restricted to the first `sinks` tokens and the `window` most
 * recent ones (what a sinks + window KV cache lets a query see). Installed as hooks: the layer's q,
 * k, v are captured at their hook points and hook_z is replaced by the mix, so the frozen model's
 * full path is untouched and gradients reach only the gates.
 */
import { add, mul, permute, reshape, sub, tensor, Tensor } from '@attnlab/tensor';
import { attention, or, sinks, slidingWindow, type MaskMod } from '@attnlab/attention';
import type { Hook, Transformer } from '@attnlab/models';
import { HeadsError } from '../errors.js';

export interface StreamingSpec {
  /** First tokens every streaming head keeps (attention sinks). */
  sinks: number;
  /** Most recent tokens kept (the query's own included). */
  window: number;
}

export function checkSpec(spec: StreamingSpec, who: string): void {
  if (!spec || !Number.isInteger(spec.sinks) || spec.sinks < 0 || !Number.isInteger(spec.window) || spec.window < 1) {
    throw new HeadsError(who, `streaming needs integer sinks >= 0 and window >= 1, got ${JSON.stringify(spec)}`);
  }
}

/** The key set of a streaming head as a mask (causal): k < sinks or q − k < window. Same rule as @attnlab/sparse's sinksWindow policy (the { sinks, window } cache policy). */
export function streamingMask(spec: StreamingSpec): MaskMod {
  checkSpec(spec, 'streamingMask');
  return spec.sinks > 0 ? or(sinks(spec.sinks), slidingWindow(spec.window)) : slidingWindow(spec.window);
}

/** Gates of one layer: a [heads] tensor (learnable) or host numbers. */
export type LayerGates = (layer: number) => Tensor | ArrayLike<number>;

/**
 * Hooks that replace every layer's z by α·z_full + (1 − α)·z_stream. q and k are taken after
 * rotation when the model rotates (hook_rot_q/k), else at hook_q/k; every head must run plain
 * 'softmax' (the mix is defined for softmax heads).
 */
export function duoHooks(model: Transformer, gates: LayerGates, spec: StreamingSpec): Hook[] {
  checkSpec(spec, 'duoHooks');
  const { nLayers: L, nHeads: H, dHead: Dh, positional } = model.config;
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      const c = model.getAttentionChoice(l, h);
      if (c.name !== 'softmax') throw new HeadsError('duoHooks', `layer ${l} head ${h} runs '${c.name}'; the DuoAttention mix needs 'softmax' heads`);
    }
  }
  const mask = streamingMask(spec);
  const qName = positional === 'rotary' ? 'hook_rot_q' : 'hook_q';
  const kName = positional === 'rotary' ? 'hook_rot_k' : 'hook_k';
  const hooks: Hook[] = [];
  for (let l = 0; l < L; l++) {
    const seen: { q?: Tensor; k?: Tensor; v?: Tensor } = {};
    const a = `blocks.${l}.attn`;
    hooks.push([`${a}.${qName}`, (t: Tensor) => void (seen.q = t)]);
    hooks.push([`${a}.${kName}`, (t: Tensor) => void (seen.k = t)]);
    hooks.push([`${a}.hook_v`, (t: Tensor) => void (seen.v = t)]);
    hooks.push([`${a}.hook_z`, async (z: Tensor) => {
      const { q, k, v } = seen;
      if (!q || !k || !v) throw new HeadsError('duoHooks', `layer ${l}: q, k or v did not pass through its hook point before hook_z`);
      if (q.shape[1] !== k.shape[1]) throw new HeadsError('duoHooks', `layer ${l}: the mix needs the whole sequence in one run (no KV cache); got ${q.shape[1]} queries over ${k.shape[1]} keys`);
      const tr = (t: Tensor): Tensor => permute(t, [0, 2, 1, 3]);
      const stream = tr((await attention(tr(q), tr(k), tr(v), { mask, scale: 1 / Math.sqrt(Dh) })).out);
      const g = gates(l);
      const alpha = g instanceof Tensor ? reshape(g, [1, 1, H, 1]) : host(g, H, z);
      return add(stream, mul(sub(z, stream), alpha));
    }]);
  }
  return hooks;
}

function host(g: ArrayLike<number>, H: number, like: Tensor): Tensor {
  if (g.length !== H) throw new HeadsError('duoHooks', `gates give ${g.length} values for ${H} heads`);
  return tensor(Float32Array.from(g), [1, 1, H, 1], { device: like.device });
}
