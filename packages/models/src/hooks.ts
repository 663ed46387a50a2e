import type { Tensor } from '@attnlab/tensor';

/** Passed to every hook: which point fired, in which layer (null outside blocks). */
export interface HookContext {
  name: string;
  layer: number | null;
}

/**
 * A hook sees an activation and may return a replacement of the same shape (void keeps it).
 * Tensors a hook stores beyond the run must be protected with `keep()` from @attnlab/tensor,
 * since the run frees its intermediates (runWithCache does this for you).
 */
export type HookFn = (t: Tensor, ctx: HookContext) => Tensor | void | Promise<Tensor | void>;

/** Which hook points a hook applies to: an exact name, a RegExp, or a predicate on the name. */
export type HookFilter = string | RegExp | ((name: string) => boolean);

export type Hook = readonly [HookFilter, HookFn];

/**
 * A backward hook sees the gradient of the loss with respect to the activation at a hook point
 * (during `loss.backward()`, so it is synchronous) and may return a replacement of its shape.
 */
export type BackwardHookFn = (grad: Tensor, ctx: HookContext) => Tensor | void;

export type BackwardHook = readonly [HookFilter, BackwardHookFn];

export function matches(filter: HookFilter, name: string): boolean {
  if (typeof filter === 'string') return filter === name;
  if (filter instanceof RegExp) return filter.test(name);
  return filter(name);
}

/**
 * Every hook point of a model with `nLayers` layers, in forward order (names as in
 * TransformerLens). Optional points (rotary, MLP) are included when the config has them.
 */
export function hookNames(cfg: { nLayers: number; attnOnly: boolean; positional: string; norm: string }, opts: { splitQkvInput?: boolean } = {}): string[] {
  const names = ['hook_tokens', 'hook_embed'];
  if (cfg.positional === 'learned') names.push('hook_pos_embed');
  const ln = (p: string): string[] => (cfg.norm === 'none' ? [] : [`${p}.hook_scale`, `${p}.hook_normalized`]);
  for (let l = 0; l < cfg.nLayers; l++) {
    const b = `blocks.${l}`;
    names.push(`${b}.hook_resid_pre`, ...ln(`${b}.ln1`));
    if (opts.splitQkvInput) names.push(`${b}.attn.hook_q_input`, `${b}.attn.hook_k_input`, `${b}.attn.hook_v_input`);
    names.push(`${b}.attn.hook_q`, `${b}.attn.hook_k`, `${b}.attn.hook_v`);
    if (cfg.positional === 'rotary') names.push(`${b}.attn.hook_rot_q`, `${b}.attn.hook_rot_k`);
    names.push(`${b}.attn.hook_attn_scores`, `${b}.attn.hook_pattern`, `${b}.attn.hook_z`, `${b}.attn.hook_result`, `${b}.hook_attn_out`);
    if (!cfg.attnOnly) {
      names.push(`${b}.hook_resid_mid`, `${b}.hook_mlp_in`, ...ln(`${b}.ln2`));
      names.push(`${b}.mlp.hook_pre`, `${b}.mlp.hook_post`, `${b}.hook_mlp_out`);
    }
    names.push(`${b}.hook_resid_post`);
  }
  names.push(...ln('ln_final'));
  return names;
}
