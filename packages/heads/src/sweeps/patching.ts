/**
 * Activation patching (TransformerLens's patching utilities, by head and by position): run the
 * corrupted prompts while copying activations of the clean run into chosen slices (a head's
 * hook_z at all or some positions, or a residual point at a position), and measure how much of
 * the clean metric comes back, normalised so the corrupted run is 0 and the clean run is 1.
 * The metric is per prompt row (the logit difference of a right and a wrong answer, or a
 * function), so intervals come from a bootstrap over rows. Clean activations are cached per hook
 * until model.heads changes; patches are hooks, so model.heads itself is never touched.
 */
import { add, keep, mul, noGrad, scope, tensor, type Tensor } from '@attnlab/tensor';
import type { Hook, Transformer } from '@attnlab/models';
import { HeadsError } from '../errors.js';
import { toPrompts, type PromptInput, type Prompts } from '../scores/prompts.js';
import { meanBootstrapCI, normalizedBootstrapCI, type BootstrapOptions } from './bootstrap.js';
import { allHeads, headLabel, randomHeadSets, type RandomSetOptions, type SweepProgress } from './ablation.js';

/** Per-layer residual points ([B, N, D]) and the embeddings (no layer). */
export type ResidualSite = 'resid_pre' | 'resid_mid' | 'resid_post' | 'attn_out' | 'mlp_out';
export type PatchSite = 'z' | ResidualSite | 'embed' | 'pos_embed';
const RESIDUAL: readonly string[] = ['resid_pre', 'resid_mid', 'resid_post', 'attn_out', 'mlp_out'];

/** One slice to patch: a head's z (site 'z', layer, head), a residual point (layer) or an embedding; positions default to all. */
export interface PatchTarget {
  site: PatchSite;
  layer?: number;
  head?: number;
  positions?: readonly number[];
}

/** The logit difference logit[correct] - logit[incorrect] at `position` (default the last), per row. */
export interface LogitDiffAnswers {
  correct: number | readonly number[];
  incorrect: number | readonly number[];
  position?: number;
}

/** Maps logits [B, N, V] to one value per prompt row (higher = more like the clean run). */
export type RowValues = (logits: Tensor) => Promise<Float64Array>;

export interface PatchingOptions {
  clean: PromptInput;
  corrupted: PromptInput;
  /** Logit-difference answers, or a per-row metric. */
  metric: LogitDiffAnswers | RowValues;
  bootstrap?: BootstrapOptions;
  onProgress?: (p: SweepProgress) => void;
}

export interface PatchResult {
  label: string;
  /** Restored share: 0 = corrupted, 1 = clean. */
  value: number;
  /** The metric itself (mean over rows) with the patch applied. */
  raw: number;
  /** Bootstrap interval of value over prompt rows. */
  ci: [number, number];
}

/** A grid of patch results: [layers, heads], [layers, positions] or [layers, heads, positions]. */
export interface PatchingGrid {
  site: PatchSite;
  dims: string[];
  shape: number[];
  /** Row-major restored shares, then their interval bounds and the raw metric. */
  values: Float64Array;
  lo: Float64Array;
  hi: Float64Array;
  raw: Float64Array;
  clean: number;
  corrupted: number;
}

export interface PatchingBaseline {
  k: number;
  results: PatchResult[];
  mean: number;
  /** Percentile interval of the mean over draws. */
  meanCI: [number, number];
}

function hookName(site: PatchSite, layer: number): string {
  if (site === 'z') return `blocks.${layer}.attn.hook_z`;
  if (site === 'embed') return 'hook_embed';
  if (site === 'pos_embed') return 'hook_pos_embed';
  return `blocks.${layer}.hook_${site}`;
}

/** Per-row logit differences at a position. */
export function rowLogitDiff(answers: LogitDiffAnswers): RowValues {
  return async (logits) => {
    const [B, N, V] = logits.shape as [number, number, number];
    const pos = answers.position ?? -1;
    const p = pos < 0 ? N + pos : pos;
    if (!Number.isInteger(p) || p < 0 || p >= N) throw new HeadsError('patching', `metric position ${pos} is out of range for ${N} positions`);
    const ids = (a: number | readonly number[], what: string): number[] => {
      const v = typeof a === 'number' ? Array.from({ length: B }, () => a) : [...a];
      if (v.length !== B) throw new HeadsError('patching', `metric.${what} has ${v.length} token ids for ${B} prompt rows`);
      v.forEach((t, b) => {
        if (!Number.isInteger(t) || t < 0 || t >= V) throw new HeadsError('patching', `metric.${what}[${b}] = ${t} is outside the vocabulary of ${V}`);
      });
      return v;
    };
    const c = ids(answers.correct, 'correct');
    const w = ids(answers.incorrect, 'incorrect');
    const d = await logits.data();
    return Float64Array.from({ length: B }, (_, b) => d[(b * N + p) * V + c[b]!]! - d[(b * N + p) * V + w[b]!]!);
  };
}

const mean = (a: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s / a.length;
};

export class ActivationPatching {
  readonly clean: Prompts;
  readonly corrupted: Prompts;
  private readonly metric: RowValues;
  private readonly cache = new Map<string, Tensor>();
  private cleanRows: Float64Array | null = null;
  private corruptedRows: Float64Array | null = null;
  private at = -1;
  private runs = 0;

  constructor(readonly model: Transformer, private readonly options: PatchingOptions) {
    this.clean = toPrompts(options.clean, 'activationPatching (clean)');
    this.corrupted = toPrompts(options.corrupted, 'activationPatching (corrupted)');
    const a = this.clean, b = this.corrupted;
    if (a.batchSize !== b.batchSize || a.seqLen !== b.seqLen) {
      throw new HeadsError('activationPatching', `clean prompts are ${a.batchSize} x ${a.seqLen} tokens, corrupted ${b.batchSize} x ${b.seqLen}: they must match (patching copies position by position)`);
    }
    const m = options.metric;
    if (typeof m === 'function') this.metric = m;
    else if (m && typeof m === 'object' && 'correct' in m && 'incorrect' in m) this.metric = rowLogitDiff(m);
    else throw new HeadsError('activationPatching', 'metric must be { correct, incorrect, position? } (a logit difference) or a function of the logits returning one value per row');
  }

  /** Forward passes run so far (clean and corrupted included). */
  get forwardRuns(): number {
    return this.runs;
  }

  private tokens(p: Prompts): Tensor {
    return tensor(p.tokens, [p.batchSize, p.seqLen], { dtype: 'int32', device: this.model.device });
  }

  private async rowsOf(logits: Tensor): Promise<Float64Array> {
    const v = await this.metric(logits);
    if (v.length !== this.clean.batchSize) throw new HeadsError('activationPatching', `the metric returned ${v.length} values for ${this.clean.batchSize} prompt rows`);
    return v;
  }

  /** Drops cached activations and metrics when model.heads changed since they were taken. */
  private fresh(): void {
    if (this.at === this.model.heads.changeCount) return;
    this.dispose();
    this.at = this.model.heads.changeCount;
  }

  /** Per-row metric of the clean and the corrupted run (cached). */
  async baseline(): Promise<{ clean: Float64Array; corrupted: Float64Array }> {
    this.fresh();
    if (!this.cleanRows || !this.corruptedRows) {
      this.runs += 2;
      this.cleanRows = await noGrad(() => scope(async () => this.rowsOf(await this.model.run(this.tokens(this.clean)))));
      this.corruptedRows = await noGrad(() => scope(async () => this.rowsOf(await this.model.run(this.tokens(this.corrupted)))));
      if (mean(this.cleanRows) === mean(this.corruptedRows)) {
        throw new HeadsError('activationPatching', `the clean and corrupted runs give the same metric (${mean(this.cleanRows)}): there is nothing to restore`);
      }
    }
    return { clean: this.cleanRows, corrupted: this.corruptedRows };
  }

  /** Clean activations at these hooks, from one cached clean run per set of missing hooks. */
  private async cleanActs(names: readonly string[]): Promise<Map<string, Tensor>> {
    this.fresh();
    const missing = [...new Set(names)].filter((n) => !this.cache.has(n));
    if (missing.length) {
      this.runs++;
      await noGrad(() => scope(async () => {
        const { cache } = await this.model.runWithCache(this.tokens(this.clean), { names: missing });
        for (const n of missing) {
          const t = (cache as unknown as Record<string, Tensor | undefined>)[n];
          if (!t) throw new HeadsError('activationPatching', `the model has no hook '${n}' to patch`);
          this.cache.set(n, keep(t));
        }
      }));
    }
    return this.cache;
  }

  private check(t: PatchTarget): void {
    const { nLayers: L, nHeads: H } = this.model.config;
    const N = this.clean.seqLen;
    const sites = ['z', ...RESIDUAL, 'embed', 'pos_embed'];
    if (!t || !sites.includes(t.site)) throw new HeadsError('patch', `site must be one of ${sites.join(', ')}, got '${String(t?.site)}'`);
    if (t.site !== 'embed' && t.site !== 'pos_embed') {
      if (!Number.isInteger(t.layer) || t.layer! < 0 || t.layer! >= L) throw new HeadsError('patch', `layer ${t.layer} is out of range (model has ${L})`);
    }
    if (t.site === 'z' && (!Number.isInteger(t.head) || t.head! < 0 || t.head! >= H)) throw new HeadsError('patch', `head ${t.head} is out of range (${H} per layer)`);
    if (t.site === 'mlp_out' || t.site === 'resid_mid') {
      if (this.model.config.attnOnly) throw new HeadsError('patch', `the model is attention-only: it has no ${t.site}`);
    }
    if (t.site === 'pos_embed' && this.model.config.positional !== 'learned') throw new HeadsError('patch', `the model has ${this.model.config.positional} positions: no pos_embed`);
    for (const p of t.positions ?? []) if (!Number.isInteger(p) || p < 0 || p >= N) throw new HeadsError('patch', `position ${p} is out of range for ${N} positions`);
  }

  /** Hooks that write the clean activations into the given slices of the corrupted run. */
  async hooks(targets: readonly PatchTarget[]): Promise<Hook[]> {
    const { nHeads: H } = this.model.config;
    const N = this.clean.seqLen;
    targets.forEach((t) => this.check(t));
    const masks = new Map<string, { z: boolean; m: Float32Array }>();
    for (const t of targets) {
      const name = hookName(t.site, t.layer ?? 0);
      const z = t.site === 'z';
      let e = masks.get(name);
      if (!e) masks.set(name, (e = { z, m: new Float32Array(z ? N * H : N) }));
      for (const p of t.positions ?? Array.from({ length: N }, (_, i) => i)) e.m[z ? p * H + t.head! : p] = 1;
    }
    const acts = await this.cleanActs([...masks.keys()]);
    return [...masks].map(([name, { z, m }]): Hook => {
      const clean = acts.get(name)!;
      return [name, (x: Tensor) => {
        const shape = z ? [1, N, H, 1] : [1, N, 1];
        const sel = tensor(m, shape, { device: x.device });
        const inv = tensor(m.map((v) => 1 - v), shape, { device: x.device });
        return add(mul(x, inv), mul(clean, sel));
      }];
    });
  }

  /** Patches all the targets at once into the corrupted run. */
  async patch(targets: readonly PatchTarget[], label = targetLabel(targets)): Promise<PatchResult> {
    const { clean, corrupted } = await this.baseline();
    const hooks = await this.hooks(targets);
    this.runs++;
    const rows = await noGrad(() => scope(async () => this.rowsOf(await this.model.run(this.tokens(this.corrupted), { hooks }))));
    const raw = mean(rows);
    const c = mean(clean), r = mean(corrupted);
    return { label, value: (raw - r) / (c - r), raw, ci: normalizedBootstrapCI(rows, clean, corrupted, this.options.bootstrap) };
  }

  private async grid(site: PatchSite, dims: string[], shape: number[], list: PatchTarget[][]): Promise<PatchingGrid> {
    const { clean, corrupted } = await this.baseline();
    // Every clean activation the grid needs, from one clean run.
    await this.cleanActs(list.flat().map((t) => (this.check(t), hookName(t.site, t.layer ?? 0))));
    const n = list.length;
    const g: PatchingGrid = { site, dims, shape, values: new Float64Array(n), lo: new Float64Array(n), hi: new Float64Array(n), raw: new Float64Array(n), clean: mean(clean), corrupted: mean(corrupted) };
    for (let i = 0; i < n; i++) {
      const r = await this.patch(list[i]!);
      g.values[i] = r.value;
      g.lo[i] = r.ci[0];
      g.hi[i] = r.ci[1];
      g.raw[i] = r.raw;
      this.options.onProgress?.({ done: i + 1, total: n, label: r.label });
    }
    return g;
  }

  /** Each head's z patched at every position: [layers, heads]. */
  byHead(): Promise<PatchingGrid> {
    const { nLayers: L, nHeads: H } = this.model.config;
    return this.grid('z', ['layer', 'head'], [L, H], allHeads(this.model).map((s) => [{ site: 'z', layer: s.layer, head: s.head }]));
  }

  /** A residual point patched at one position at a time: [layers, positions]. */
  async byPosition(site: ResidualSite = 'resid_pre'): Promise<PatchingGrid> {
    if (!RESIDUAL.includes(site)) throw new HeadsError('byPosition', `site must be one of ${RESIDUAL.join(', ')}, got '${String(site)}'`);
    const L = this.model.config.nLayers, N = this.clean.seqLen;
    const list: PatchTarget[][] = [];
    for (let l = 0; l < L; l++) for (let p = 0; p < N; p++) list.push([{ site, layer: l, positions: [p] }]);
    return this.grid(site, ['layer', 'position'], [L, N], list);
  }

  /** Each head's z at one position at a time: [layers, heads, positions] (L·H·N runs). */
  byHeadPosition(): Promise<PatchingGrid> {
    const { nLayers: L, nHeads: H } = this.model.config;
    const N = this.clean.seqLen;
    const list: PatchTarget[][] = [];
    for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) for (let p = 0; p < N; p++) list.push([{ site: 'z', layer: l, head: h, positions: [p] }]);
    return this.grid('z', ['layer', 'head', 'position'], [L, H, N], list);
  }

  /** `draws` random sets of k heads (outside `exclude`) patched at every position: what k heads restore by chance. */
  async randomBaseline(k: number, o: RandomSetOptions = {}): Promise<PatchingBaseline> {
    const { sets, rng, draws } = randomHeadSets(this.model, k, o);
    const results: PatchResult[] = [];
    for (const set of sets) {
      results.push(await this.patch(set.map((s) => ({ site: 'z', layer: s.layer, head: s.head })), headLabel(set)));
      this.options.onProgress?.({ done: results.length, total: draws, label: results.at(-1)!.label });
    }
    const vals = results.map((r) => r.value);
    return { k, results, mean: mean(vals), meanCI: meanBootstrapCI(vals, rng, this.options.bootstrap) };
  }

  /** Frees the cached clean activations (they are retaken on the next patch). */
  dispose(): void {
    for (const t of this.cache.values()) t.dispose();
    this.cache.clear();
    this.cleanRows = this.corruptedRows = null;
  }
}

function targetLabel(ts: readonly PatchTarget[]): string {
  if (!ts.length) return 'none';
  return ts.map((t) => {
    const where = t.site === 'z' ? `L${t.layer}H${t.head}` : t.site === 'embed' || t.site === 'pos_embed' ? t.site : `L${t.layer}.${t.site}`;
    return t.positions ? `${where}@${t.positions.join(',')}` : where;
  }).join('+');
}

/** Activation patching of the clean prompts into the corrupted ones (see ActivationPatching). */
export function activationPatching(model: Transformer, options: PatchingOptions): ActivationPatching {
  return new ActivationPatching(model, options);
}

/** Reads a grid's restored shares as a [layers, heads(, positions)] float32 tensor on `model`'s device. */
export function patchingTensor(g: PatchingGrid, model: Transformer): Tensor {
  return tensor(Float32Array.from(g.values), g.shape, { device: model.device });
}
