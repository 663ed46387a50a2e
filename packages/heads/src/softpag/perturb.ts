import { add, mulScalar, noGrad, sub, type Tensor } from '@attnlab/tensor';
import type { GuidanceHook, HeadControl, HeadControls, HeadSelector } from '@attnlab/models';
import { HeadsError } from '../errors.js';

/** Any model with per-head controls (Transformer, ViT, DiT). */
export interface SteerableModel {
  readonly heads: HeadControls;
}

function checkStrength(op: string, u: number): void {
  if (!Number.isFinite(u) || u < 0 || u > 1) throw new HeadsError(op, `strength u must be in [0, 1], got ${u}`);
}

/**
 * SoftPAG: Ã_h = (1 − u)·A_h + u·I for every h in `heads` while `fn` runs (the model's generic
 * 'identity' pattern transform); each head's previous perturbation is restored afterwards, even on
 * error, and its gate/ablation is left alone. u = 0 leaves the model exactly as it was.
 */
export async function withSoftPAG<T>(model: SteerableModel, heads: readonly HeadSelector[], u: number, fn: () => Promise<T> | T): Promise<T> {
  checkStrength('withSoftPAG', u);
  const before: [HeadSelector, HeadControl['perturb']][] = heads.map((s) => [s, model.heads.get(s).perturb ?? null]);
  try {
    for (const s of heads) model.heads.set(s, { perturb: { mode: 'identity', strength: u } });
    return await fn();
  } finally {
    for (const [s, p] of before) model.heads.set(s, { perturb: p });
  }
}

export interface PAGOptions {
  /** Heads whose attention maps are perturbed to build the weak model. */
  heads: readonly HeadSelector[];
  /** SoftPAG strength u in [0, 1] (1 = PAG's identity replacement). */
  u: number;
  /** Guidance weight w: ε̃ = ε + w·(ε − ε_{S,u}). */
  w: number;
}

/** PAG-style guidance away from the SoftPAG-perturbed model, as a DDIM guidance hook (sampleDDIM's `guidance`). */
export function pagGuidance(model: SteerableModel, options: PAGOptions): GuidanceHook {
  checkStrength('pagGuidance', options.u);
  if (!Number.isFinite(options.w)) throw new HeadsError('pagGuidance', `guidance weight w must be finite, got ${options.w}`);
  if (options.heads.length === 0) throw new HeadsError('pagGuidance', 'heads is empty: name at least one head to perturb');
  const { heads, u, w } = options;
  return async ({ eps, predict }) => {
    const weak: Tensor = await withSoftPAG(model, heads, u, () => predict());
    return noGrad(() => add(eps, mulScalar(sub(eps, weak), w)));
  };
}

/** Every head of the given layers (whole-layer perturbation, the baseline HeadHunter is compared against). */
export function layerHeads(model: SteerableModel, layers: readonly number[]): HeadSelector[] {
  const { layers: L, heads: H } = model.heads;
  for (const l of layers) if (!Number.isInteger(l) || l < 0 || l >= L) throw new HeadsError('layerHeads', `layer ${l} is out of range (model has ${L})`);
  return layers.flatMap((layer) => Array.from({ length: H }, (_, head) => ({ layer, head })));
}
