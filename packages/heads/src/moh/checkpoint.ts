/**
 * F11 checkpoints (packages/heads/scripts/train-vit-moh.mjs): config.json holds the ViT config and
 * `moh: { active } | null`; model.safetensors holds the ViT's parameters and, for MoH, each layer's
 * router as `h.{l}.attn.router.weight` [dModel, nHeads]. Reading the files is the caller's (Node or browser).
 */
import { ViT, readSafetensors, type ViTConfigInput } from '@attnlab/models';
import type { Device } from '@attnlab/tensor';
import { HeadsError } from '../errors.js';
import { MoHRouter } from './router.js';

export interface ViTCheckpointConfig extends ViTConfigInput {
  kind?: string;
  moh?: { active: number; renormalize?: boolean } | null;
}

/** Build the ViT (and its MoH routers) from a checkpoint's config.json object and safetensors bytes. */
export function vitFromCheckpoint(config: ViTCheckpointConfig, safetensors: Uint8Array, options: { device?: Device } = {}): { model: ViT; routers: MoHRouter[] } {
  if (config.kind !== undefined && config.kind !== 'vit') throw new HeadsError('vitFromCheckpoint', `config.json kind is '${config.kind}', expected 'vit'`);
  const { kind: _k, moh, ...cfg } = config;
  void _k;
  const model = new ViT(cfg, { ...(options.device ? { device: options.device } : {}) });
  const file = readSafetensors(safetensors);
  const state = new Map<string, { data: Float32Array; shape: readonly number[] }>();
  const routerW = new Map<number, Float32Array>();
  for (const [name, t] of file.tensors) {
    if (!(t.data instanceof Float32Array)) throw new HeadsError('vitFromCheckpoint', `tensor '${name}' is not F32`);
    const m = /^h\.(\d+)\.attn\.router\.weight$/.exec(name);
    if (m) routerW.set(Number(m[1]), t.data);
    else state.set(name, { data: t.data, shape: t.shape });
  }
  model.loadStateDict(state);
  const routers: MoHRouter[] = [];
  if (moh) {
    for (let l = 0; l < model.config.nLayers; l++) {
      const w = routerW.get(l);
      if (!w) throw new HeadsError('vitFromCheckpoint', `config.json asks for MoH but model.safetensors has no 'h.${l}.attn.router.weight'`);
      const r = new MoHRouter({ dModel: model.config.dModel, nHeads: model.config.nHeads, active: moh.active, renormalize: moh.renormalize ?? true, weight: w, device: model.device });
      model.setRouter(l, r);
      routers.push(r);
    }
  } else if (routerW.size) throw new HeadsError('vitFromCheckpoint', 'model.safetensors has router weights but config.json has no moh entry');
  return { model, routers };
}
