import { add, keep, mul, noGrad, scope, tensor, type Tensor } from '@attnlab/tensor';
import { ModelError, fmtShape } from './errors.js';
import type { TokenInput, Transformer } from './transformer.js';

/** Metric of a run's logits [B, N, V] -> one number (higher = more "clean"). */
export type PatchMetric = (logits: Tensor) => number | Promise<number>;

export type PatchSite = 'z' | 'resid_pre' | 'attn_out' | 'mlp_out' | 'resid_post';

export interface PatchingOptions {
  clean: TokenInput;
  corrupted: TokenInput;
  metric: PatchMetric;
  /** What to patch: per-head outputs 'z' (layer x head x position, default) or a residual stream point (layer x position). */
  site?: PatchSite;
  /** Positions to sweep (default all). */
  positions?: readonly number[];
  layers?: readonly number[];
  heads?: readonly number[];
  /** Report (m - m_corrupted) / (m_clean - m_corrupted) instead of raw metric values (default true). */
  normalize?: boolean;
  /** Called after each patched run (progress). */
  onProgress?: (done: number, total: number) => void;
}

export interface PatchingResult {
  /** [layers, heads, positions] for 'z', else [layers, positions]; float32, ready for a heatmap. */
  result: Tensor;
  values: Float32Array;
  shape: number[];
  clean: number;
  corrupted: number;
  layers: number[];
  heads: number[];
  positions: number[];
}

function hookName(site: PatchSite, l: number): string {
  switch (site) {
    case 'z': return `blocks.${l}.attn.hook_z`;
    case 'resid_pre': return `blocks.${l}.hook_resid_pre`;
    case 'attn_out': return `blocks.${l}.hook_attn_out`;
    case 'mlp_out': return `blocks.${l}.hook_mlp_out`;
    case 'resid_post': return `blocks.${l}.hook_resid_post`;
  }
}

/**
 * Activation patching: run the corrupted input while copying one clean activation slice
 * (one head at one position, or one residual position) into it, for every slice in the sweep.
 */
export async function patchingSweep(model: Transformer, o: PatchingOptions): Promise<PatchingResult> {
  const site = o.site ?? 'z';
  const c = model.config;
  if (site === 'mlp_out' && c.attnOnly) throw new ModelError('patchingSweep', 'the model is attention-only: no mlp_out to patch');
  const layers = [...(o.layers ?? Array.from({ length: c.nLayers }, (_, i) => i))];
  const heads = site === 'z' ? [...(o.heads ?? Array.from({ length: c.nHeads }, (_, i) => i))] : [];
  return noGrad(() => scope(async () => {
    const cleanT = model.toTokens(o.clean);
    const corrT = model.toTokens(o.corrupted);
    if (cleanT.shape.join() !== corrT.shape.join()) throw new ModelError('patchingSweep', `clean ${fmtShape(cleanT.shape)} and corrupted ${fmtShape(corrT.shape)} tokens differ in shape`);
    const N = cleanT.shape[1]!;
    const positions = [...(o.positions ?? Array.from({ length: N }, (_, i) => i))];
    const names = layers.map((l) => hookName(site, l));
    const { logits: cleanLogits, cache } = await model.runWithCache(cleanT, { names });
    const kept: Record<string, Tensor> = {};
    for (const n of names) kept[n] = keep(cache[n]!);
    const mClean = await o.metric(cleanLogits);
    const mCorr = await o.metric(await model.forward(corrT));
    const norm = o.normalize ?? true;
    const denom = mClean - mCorr;
    const shape = site === 'z' ? [layers.length, heads.length, positions.length] : [layers.length, positions.length];
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const total = values.length;
    let done = 0;
    try {
      for (let li = 0; li < layers.length; li++) {
        const name = names[li]!;
        const clean = kept[name]!;
        const hs = site === 'z' ? heads : [-1];
        for (let hi = 0; hi < hs.length; hi++) {
          for (let pi = 0; pi < positions.length; pi++) {
            const p = positions[pi]!;
            const m = await scope(async () => {
              // One-hot selector over (position[, head]) broadcast over batch and features.
              const sel = site === 'z' ? new Float32Array(N * c.nHeads) : new Float32Array(N);
              if (site === 'z') sel[p * c.nHeads + hs[hi]!] = 1;
              else sel[p] = 1;
              const selT = tensor(sel, site === 'z' ? [1, N, c.nHeads, 1] : [1, N, 1], { device: model.device });
              const inv = tensor(sel.map((x) => 1 - x), selT.shape, { device: model.device });
              const logits = await model.run(corrT, { hooks: [[name, (t: Tensor) => add(mul(t, inv), mul(clean, selT))]] });
              return o.metric(logits);
            });
            const idx = site === 'z' ? (li * heads.length + hi) * positions.length + pi : li * positions.length + pi;
            values[idx] = norm ? (denom === 0 ? 0 : (m - mCorr) / denom) : m;
            o.onProgress?.(++done, total);
          }
        }
      }
    } finally {
      for (const t of Object.values(kept)) t.dispose();
    }
    return { result: tensor(values, shape, { device: model.device }), values, shape, clean: mClean, corrupted: mCorr, layers, heads, positions };
  }));
}

/** Mean over the batch of logit[correct] - logit[incorrect] at `position` (default last). */
export async function logitDiff(logits: Tensor, correct: readonly number[] | number, incorrect: readonly number[] | number, position = -1): Promise<number> {
  const [B, N, V] = logits.shape as [number, number, number];
  const p = position < 0 ? N + position : position;
  if (p < 0 || p >= N) throw new ModelError('logitDiff', `position ${position} is out of range for ${N} positions`);
  const d = await logits.data();
  let s = 0;
  for (let b = 0; b < B; b++) {
    const ci = typeof correct === 'number' ? correct : correct[b]!;
    const ii = typeof incorrect === 'number' ? incorrect : incorrect[b]!;
    if (!(ci >= 0 && ci < V && ii >= 0 && ii < V)) throw new ModelError('logitDiff', `token ids ${ci}/${ii} are outside the vocabulary of ${V}`);
    s += d[(b * N + p) * V + ci]! - d[(b * N + p) * V + ii]!;
  }
  return s / B;
}

/** Share of (batch, position) pairs where argmax equals the target; `mask` picks positions (1 = scored). */
export async function accuracy(logits: Tensor, targets: ArrayLike<number>, mask?: ArrayLike<number>): Promise<number> {
  const [B, N, V] = logits.shape as [number, number, number];
  if (targets.length !== B * N) throw new ModelError('accuracy', `${targets.length} targets for logits ${fmtShape(logits.shape)}`);
  const d = await logits.data();
  let hit = 0;
  let n = 0;
  for (let i = 0; i < B * N; i++) {
    if (mask && !mask[i]) continue;
    let best = 0;
    for (let v = 1; v < V; v++) if (d[i * V + v]! > d[i * V + best]!) best = v;
    hit += best === targets[i] ? 1 : 0;
    n++;
  }
  return n ? hit / n : NaN;
}
