import { add, keep, matmul, permute, reshape, slice, tensor, type Device, type Tensor } from '@attnlab/tensor';
import { ModelError, fmtShape } from './errors.js';
import { matches, type Hook } from './hooks.js';

/** Named trainable parameters of a small model (ViT, DiT): kept out of scopes, gradients on. */
export class ParamStore extends Map<string, Tensor> {
  constructor(private readonly owner: string) {
    super();
  }

  /** Replace (or create) `name` with a copy of data on `device`. */
  put(name: string, data: Float32Array, shape: readonly number[], device: Device): void {
    this.get(name)?.dispose();
    const t = keep(tensor(data, [...shape], { device, name }));
    t.requireGrad();
    this.set(name, t);
  }

  require(name: string): Tensor {
    const p = this.get(name);
    if (!p) throw new ModelError('param', `no ${this.owner} parameter '${name}' (have ${[...this.keys()].slice(0, 6).join(', ')}, ...)`);
    return p;
  }

  get numel(): number {
    let n = 0;
    for (const p of this.values()) n += p.size;
    return n;
  }

  /** Load every parameter of `shapes` from `state` (all present, shapes equal, nothing extra). */
  load(shapes: Map<string, number[]>, state: Map<string, { data: Float32Array; shape: readonly number[] }>, device: Device): void {
    for (const [name, shape] of shapes) {
      const t = state.get(name);
      if (!t) throw new ModelError('loadStateDict', `missing ${this.owner} parameter '${name}'`);
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) throw new ModelError('loadStateDict', `'${name}' has shape ${fmtShape(t.shape)}, expected ${fmtShape(shape)}`);
    }
    for (const k of state.keys()) if (!shapes.has(k)) throw new ModelError('loadStateDict', `unexpected parameter '${k}'`);
    for (const [name, shape] of shapes) this.put(name, state.get(name)!.data, shape, device);
  }

  async snapshot(): Promise<Map<string, { data: Float32Array; shape: number[] }>> {
    const out = new Map<string, { data: Float32Array; shape: number[] }>();
    for (const [name, t] of this) out.set(name, { data: (await t.data()) as Float32Array, shape: [...t.shape] });
    return out;
  }
}

/** A forward's hook points: point(name, t, layer) runs the matching hooks in order; a replacement must keep the shape. */
export function hookPoints(hooks: readonly Hook[]): (name: string, t: Tensor, layer: number | null) => Promise<Tensor> {
  return async (name, t, layer) => {
    let cur = t;
    for (const [f, fn] of hooks) {
      if (!matches(f, name)) continue;
      const r = await fn(cur, { name, layer });
      if (r && r !== cur) {
        if (r.rank !== cur.rank || r.shape.some((d, i) => d !== cur.shape[i])) throw new ModelError('hook', `${name}: replacement has shape ${fmtShape(r.shape)}, expected ${fmtShape(cur.shape)}`);
        cur = r;
      }
    }
    return cur;
  };
}

/**
 * q, k, v of one bidirectional layer (ViT, DiT) from its fused `c_attn` weight [dModel, 3·H·Dh] and bias: each hooked at
 * `${prefix}.hook_q|k|v` as [B, T, H, Dh] (the LM's hook shapes) and returned as [B, H, T, Dh] for attention.
 */
export async function hookedQKV(
  x: Tensor, W: Tensor, bias: Tensor, dims: { B: number; T: number; H: number; Dh: number; dModel: number },
  prefix: string, layer: number, point: (name: string, t: Tensor, layer: number | null) => Promise<Tensor>,
): Promise<[Tensor, Tensor, Tensor]> {
  const { B, T, H, Dh, dModel } = dims;
  const HD = H * Dh;
  const proj = async (i: number, name: string): Promise<Tensor> => {
    const t = reshape(add(matmul(x, slice(W, [0, i * HD], [dModel, HD])), slice(bias, [i * HD], [HD])), [B, T, H, Dh]);
    return permute(await point(`${prefix}.${name}`, t, layer), [0, 2, 1, 3]);
  };
  return [await proj(0, 'hook_q'), await proj(1, 'hook_k'), await proj(2, 'hook_v')];
}
