/**
 * MoH on @attnlab/models' language model: each layer's router reads the layer's normalised input
 * (`blocks.{l}.ln1.hook_normalized`; `hook_resid_pre` when the model has no norm) and scales each
 * head's output at `attn.hook_z` by its gate, through the model's persistent hooks. The routers'
 * weights are not model parameters: train them with the model's (`[...model.parameters(), ...routers
 * .flatMap((r) => r.parameters())]`) in your own loop; `train()` only updates the model's.
 */
import { mul, reshape, type Tensor } from '@attnlab/tensor';
import type { Transformer } from '@attnlab/models';
import { HeadsError } from '../errors.js';
import { MoHRouter, type MoHOptions } from './router.js';

export interface LMMoH {
  routers: MoHRouter[];
  /** Remove the hooks (the model is plain MHA again). */
  detach(): void;
}

/** `weights`: trained router weights per routed layer (e.g. read from a checkpoint's routers.safetensors). */
export function attachMoHToLM(model: Transformer, options: Omit<MoHOptions, 'dModel' | 'nHeads' | 'device' | 'weight'> & { layers?: readonly number[]; weights?: readonly Float32Array[] }): LMMoH {
  const c = model.config;
  const layers = options.layers ?? Array.from({ length: c.nLayers }, (_, l) => l);
  for (const l of layers) if (!Number.isInteger(l) || l < 0 || l >= c.nLayers) throw new HeadsError('attachMoHToLM', `layer ${l} out of range [0, ${c.nLayers})`);
  if (options.weights && options.weights.length !== layers.length) throw new HeadsError('attachMoHToLM', `weights has ${options.weights.length} entries for ${layers.length} routed layers`);
  const { layers: _l, weights, ...rest } = options;
  void _l;
  const removers: (() => void)[] = [];
  const routers = layers.map((l, i) => {
    const r = new MoHRouter({ ...rest, dModel: c.dModel, nHeads: c.nHeads, device: model.device, seed: (options.seed ?? 0) * 101 + l, ...(weights ? { weight: weights[i]! } : {}) });
    let x: Tensor | null = null;
    const input = c.norm === 'none' ? `blocks.${l}.hook_resid_pre` : `blocks.${l}.ln1.hook_normalized`;
    removers.push(model.addHook(input, (t) => {
      x = t;
    }));
    removers.push(model.addHook(`blocks.${l}.attn.hook_z`, async (z) => {
      if (!x) throw new HeadsError('MoH', `layer ${l}: ${input} did not fire before attn.hook_z`);
      const [B, N, H] = z.shape as [number, number, number, number];
      const g = await r.route(x);
      x = null;
      return mul(z, reshape(g, [B, N, H, 1]));
    }));
    return r;
  });
  return { routers, detach: () => removers.forEach((f) => f()) };
}
