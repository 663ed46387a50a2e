/**
 * ThinkEdit-style head edit. (1) A behaviour direction per layer: the weighted mean of the
 * residual stream (hook_resid_post) over positions of one behaviour minus that over the other
 * (ThinkEdit: short minus long reasoning), unit-normalised. (2) Each head's alignment: the mean,
 * over the first behaviour's positions, of its contribution to the residual (hook_result, z_h W_O[h])
 * projected on its layer's direction. (3) The edit: W_O[h] ← W_O[h](I − d̂d̂ᵀ) for the chosen heads,
 * so they can no longer write along d̂. The projection is computed in float64 and stored in
 * float32; `restore()` puts back the original rows bit for bit.
 */
import { mul, noGrad, reshape, scope, sum, tensor } from '@attnlab/tensor';
import type { HeadSelector, Transformer } from '@attnlab/models';
import { HeadsError } from '../errors.js';

export interface DirectionOptions {
  /** Token rows (all the same length). */
  prompts: readonly (readonly number[])[];
  /** [rows * seqLen] weights of each position in the first behaviour's mean (e.g. short outputs). */
  positive: ArrayLike<number>;
  /** Weights of the second behaviour's mean (e.g. long outputs). */
  negative: ArrayLike<number>;
}

export interface BehaviourDirections {
  /** Per layer, the unit direction (positive mean − negative mean) of hook_resid_post. */
  directions: Float64Array[];
  /** Per layer, the norm of the mean difference before normalising. */
  norms: number[];
}

function checkWeights(who: string, w: ArrayLike<number>, n: number, name: string): number {
  if (w.length !== n) throw new HeadsError(who, `${name} has ${w.length} weights, rows x seqLen = ${n}`);
  let s = 0;
  for (let i = 0; i < n; i++) {
    if (!(w[i]! >= 0) || !Number.isFinite(w[i]!)) throw new HeadsError(who, `${name}[${i}] = ${w[i]} (weights must be finite and >= 0)`);
    s += w[i]!;
  }
  if (!(s > 0)) throw new HeadsError(who, `${name} selects no position (all weights 0)`);
  return s;
}

function shapeOf(who: string, rows: readonly (readonly number[])[]): [number, number] {
  if (!rows.length || !rows[0]!.length) throw new HeadsError(who, 'prompts: no rows');
  const N = rows[0]!.length;
  rows.forEach((r, b) => {
    if (r.length !== N) throw new HeadsError(who, `prompts: row ${b} has ${r.length} tokens, row 0 has ${N}`);
  });
  return [rows.length, N];
}

/** Weighted mean over positions of a [B, N, ...rest] activation, in float64. */
function weightedMean(x: Float32Array, w: ArrayLike<number>, total: number, width: number): Float64Array {
  const out = new Float64Array(width);
  for (let i = 0; i < w.length; i++) {
    const wi = w[i]!;
    if (!wi) continue;
    for (let d = 0; d < width; d++) out[d]! += (wi * x[i * width + d]!) / total;
  }
  return out;
}

/** The per-layer behaviour directions (positive minus negative mean of hook_resid_post). */
export async function behaviourDirections(model: Transformer, o: DirectionOptions): Promise<BehaviourDirections> {
  const who = 'behaviourDirections';
  const [B, N] = shapeOf(who, o.prompts);
  const sp = checkWeights(who, o.positive, B * N, 'positive');
  const sn = checkWeights(who, o.negative, B * N, 'negative');
  const { nLayers: L, dModel: D } = model.config;
  const names = (n: string): boolean => n.endsWith('hook_resid_post');
  const resid = await noGrad(() => scope(async () => {
    const { cache } = await model.runWithCache(o.prompts, { names });
    const out: Float32Array[] = [];
    for (let l = 0; l < L; l++) out.push((await cache[`blocks.${l}.hook_resid_post`]!.data()) as Float32Array);
    return out;
  }));
  const directions: Float64Array[] = [];
  const norms: number[] = [];
  for (let l = 0; l < L; l++) {
    const p = weightedMean(resid[l]!, o.positive, sp, D);
    const q = weightedMean(resid[l]!, o.negative, sn, D);
    const d = p.map((v, i) => v - q[i]!);
    const n = Math.hypot(...d);
    if (!(n > 0)) throw new HeadsError(who, `layer ${l}: the two means are identical, no direction`);
    norms.push(n);
    directions.push(d.map((v) => v / n));
  }
  return { directions, norms };
}

/**
 * [layers][heads] alignment: mean over the `weights` positions of each head's residual
 * contribution (hook_result) projected on its layer's unit direction.
 */
export async function headAlignment(model: Transformer, prompts: readonly (readonly number[])[], weights: ArrayLike<number>, dirs: BehaviourDirections): Promise<number[][]> {
  const who = 'headAlignment';
  const [B, N] = shapeOf(who, prompts);
  const total = checkWeights(who, weights, B * N, 'weights');
  const { nLayers: L, nHeads: H, dModel: D } = model.config;
  if (dirs.directions.length !== L || dirs.directions.some((d) => d.length !== D)) throw new HeadsError(who, `directions must be ${L} vectors of ${D} (one per layer)`);
  return noGrad(() => scope(async () => {
    const { cache } = await model.runWithCache(prompts, { names: (n: string) => n.endsWith('attn.hook_result') });
    const w = tensor(Float32Array.from(weights, (x) => x / total), [B, N, 1], { device: model.device });
    const out: number[][] = [];
    for (let l = 0; l < L; l++) {
      const dir = tensor(Float32Array.from(dirs.directions[l]!), [1, 1, 1, D], { device: model.device });
      const proj = sum(mul(cache[`blocks.${l}.attn.hook_result`]!, dir), [3]); // [B, N, H]
      out.push(Array.from((await reshape(sum(mul(proj, w), [0, 1]), [H]).data()) as Float32Array));
    }
    return out;
  }));
}

export interface HeadEdit {
  heads: HeadSelector[];
  /** Parameters rewritten (dHead x dModel per head) and their share of the model's parameters. */
  paramsTouched: number;
  paramFraction: number;
  headFraction: number;
  /** Puts back the original W_O rows (bit-exact). */
  restore(): void;
}

/** Projects each chosen head's layer direction out of its W_O slice (rows h·dHead … of c_proj.weight). */
export async function projectOutOfWO(model: Transformer, heads: readonly HeadSelector[], dirs: BehaviourDirections): Promise<HeadEdit> {
  const who = 'projectOutOfWO';
  const { nLayers: L, nHeads: H, dHead: Dh, dModel: D } = model.config;
  if (!heads.length) throw new HeadsError(who, 'heads is empty: nothing to edit');
  if (dirs.directions.length !== L || dirs.directions.some((d) => d.length !== D)) throw new HeadsError(who, `directions must be ${L} vectors of ${D} (one per layer)`);
  const seen = new Set<string>();
  for (const s of heads) {
    if (!Number.isInteger(s.layer) || s.layer < 0 || s.layer >= L || !Number.isInteger(s.head) || s.head < 0 || s.head >= H) throw new HeadsError(who, `head L${s.layer}H${s.head} is outside the model (${L} layers x ${H} heads)`);
    const k = `${s.layer}:${s.head}`;
    if (seen.has(k)) throw new HeadsError(who, `head L${s.layer}H${s.head} is listed twice`);
    seen.add(k);
  }
  const originals = new Map<number, Float32Array>();
  for (const l of new Set(heads.map((s) => s.layer))) {
    const name = `h.${l}.attn.c_proj.weight`;
    const orig = Float32Array.from((await model.param(name).data()) as Float32Array);
    originals.set(l, orig);
    const w = Float32Array.from(orig);
    const d = dirs.directions[l]!;
    const nd = Math.hypot(...d);
    if (!(Math.abs(nd - 1) < 1e-9)) throw new HeadsError(who, `direction of layer ${l} has norm ${nd}, expected a unit vector`);
    for (const s of heads.filter((x) => x.layer === l)) {
      for (let r = s.head * Dh; r < (s.head + 1) * Dh; r++) {
        let c = 0;
        for (let j = 0; j < D; j++) c += orig[r * D + j]! * d[j]!;
        for (let j = 0; j < D; j++) w[r * D + j] = orig[r * D + j]! - c * d[j]!;
      }
    }
    model.loadStateDict(new Map([[name, { data: w, shape: [H * Dh, D] }]]), { strict: false });
  }
  const paramsTouched = heads.length * Dh * D;
  return {
    heads: heads.map((s) => ({ ...s })),
    paramsTouched,
    paramFraction: paramsTouched / model.numParams,
    headFraction: heads.length / (L * H),
    restore: () => {
      for (const [l, orig] of originals) model.loadStateDict(new Map([[`h.${l}.attn.c_proj.weight`, { data: Float32Array.from(orig), shape: [H * Dh, D] }]]), { strict: false });
    },
  };
}
