/**
 * Head ablation sweeps: single heads, pairs and arbitrary sets, zero or mean ablation, with a
 * random-head baseline and paired bootstrap intervals. Ablation is a hook on `hook_z` (the
 * model's public hook API), so it acts on top of whatever `model.heads` holds and never changes
 * that shared state (the HeadSteering grid stays as the person left it). The clean run is
 * computed once and reused until `model.heads` changes.
 */
import { add, concat, mean, mul, Rng, scope, slice, tensor, type Tensor } from '@attnlab/tensor';
import type { HeadSelector, Hook, Transformer } from '@attnlab/models';
import { HeadsError } from '../errors.js';
import { toPrompts, type PromptInput, type Prompts } from '../scores/prompts.js';
import { meanBootstrapCI, pairedBootstrapCI, randomSubsets, ratio, type BootstrapOptions, type RowTotals } from './bootstrap.js';
import { accuracyMetric, nllMetric, type RowMetric } from './metrics.js';

/**
 * zero: z = 0; mean: z = its mean over batch and positions of the run; resample: z taken from the
 * next prompt of the batch (row b gets row (b + 1) mod B, same positions), so the head carries
 * plausible activations with the wrong content.
 */
export type AblationMode = 'zero' | 'mean' | 'resample';
const MODES: readonly string[] = ['zero', 'mean', 'resample'];

export interface SweepProgress {
  done: number;
  total: number;
  label: string;
}

export interface SweepOptions {
  prompts: PromptInput;
  /** 'accuracy' (default), 'nll', or per-row totals from logits. */
  metric?: 'accuracy' | 'nll' | RowMetric;
  mode?: AblationMode;
  bootstrap?: BootstrapOptions;
  onProgress?: (p: SweepProgress) => void;
}

export interface AblationResult {
  heads: HeadSelector[];
  label: string;
  /** Metric with these heads ablated. */
  value: number;
  /** value - clean. */
  delta: number;
  /** Bootstrap interval of delta (rows resampled, paired with the clean run). */
  ci: [number, number];
}

export interface RandomBaseline {
  k: number;
  results: AblationResult[];
  meanDelta: number;
  /** Percentile interval of the mean delta over draws (draws resampled). */
  meanCI: [number, number];
  maxAbsDelta: number;
}

export const headLabel = (heads: readonly HeadSelector[]): string => heads.length ? heads.map((s) => `L${s.layer}H${s.head}`).join('+') : 'none';

export function allHeads(model: Transformer): HeadSelector[] {
  const out: HeadSelector[] = [];
  for (let layer = 0; layer < model.config.nLayers; layer++) for (let head = 0; head < model.config.nHeads; head++) out.push({ layer, head });
  return out;
}

/** The hooks that ablate `heads` in `mode` (see AblationMode). */
export function ablationHooks(model: Transformer, heads: readonly HeadSelector[], mode: AblationMode = 'zero'): Hook[] {
  if (!MODES.includes(mode)) throw new HeadsError('ablationHooks', `mode must be 'zero', 'mean' or 'resample', got '${String(mode)}'`);
  const { nLayers: L, nHeads: H } = model.config;
  const byLayer = new Map<number, Set<number>>();
  for (const s of heads) {
    if (!s || !Number.isInteger(s.layer) || s.layer < 0 || s.layer >= L) throw new HeadsError('ablationHooks', `layer ${s?.layer} is out of range (model has ${L})`);
    if (!Number.isInteger(s.head) || s.head < 0 || s.head >= H) throw new HeadsError('ablationHooks', `head ${s.head} is out of range (${H} per layer)`);
    let set = byLayer.get(s.layer);
    if (!set) byLayer.set(s.layer, (set = new Set()));
    set.add(s.head);
  }
  return [...byLayer].map(([layer, hs]): Hook => {
    const keep = new Float32Array(H).map((_, h) => (hs.has(h) ? 0 : 1));
    return [`blocks.${layer}.attn.hook_z`, (z: Tensor) => {
      const k = tensor(keep, [1, 1, H, 1], { device: z.device });
      if (mode === 'zero') return mul(z, k);
      const gone = tensor(keep.map((v) => 1 - v), [1, 1, H, 1], { device: z.device });
      if (mode === 'mean') return add(mul(z, k), mul(mean(z, [0, 1], true), gone));
      const B = z.shape[0]!;
      if (B < 2) throw new HeadsError('ablationHooks', 'resample ablation needs at least 2 prompts (it takes z from another row)');
      const shifted = concat([slice(z, [1], [B - 1]), slice(z, [0], [1])], 0);
      return add(mul(z, k), mul(shifted, gone));
    }];
  });
}

function metricOf(m: SweepOptions['metric']): RowMetric {
  if (m === undefined || m === 'accuracy') return accuracyMetric;
  if (m === 'nll') return nllMetric;
  if (typeof m === 'function') return m;
  throw new HeadsError('headSweep', `metric must be 'accuracy', 'nll' or a function, got '${String(m)}'`);
}

/** Options of a random-head baseline: how many draws (default 20), heads never drawn, the seed (default 1). */
export interface RandomSetOptions {
  draws?: number;
  exclude?: readonly HeadSelector[];
  seed?: number;
}

/** `draws` random sets of k distinct heads outside `exclude`, and the generator (it goes on to the bootstrap). */
export function randomHeadSets(model: Transformer, k: number, o: RandomSetOptions = {}): { sets: HeadSelector[][]; rng: Rng; draws: number } {
  const ex = new Set((o.exclude ?? []).map((s) => `${s.layer}:${s.head}`));
  const pool = allHeads(model).filter((s) => !ex.has(`${s.layer}:${s.head}`));
  if (!Number.isInteger(k) || k < 1 || k > pool.length) throw new HeadsError('randomBaseline', `k must be an integer in [1, ${pool.length}] (heads outside exclude), got ${k}`);
  const draws = o.draws ?? 20;
  if (!Number.isInteger(draws) || draws < 1) throw new HeadsError('randomBaseline', `draws must be a positive integer, got ${draws}`);
  const rng = new Rng(o.seed ?? 1);
  return { sets: randomSubsets(pool, k, draws, rng), rng, draws };
}

export class HeadSweep {
  readonly prompts: Prompts;
  readonly mode: AblationMode;
  private readonly metric: RowMetric;
  private cleanTotals: RowTotals | null = null;
  private cleanAt = -1;
  private runs = 0;

  constructor(readonly model: Transformer, private readonly options: SweepOptions) {
    this.prompts = toPrompts(options.prompts, 'headSweep');
    this.mode = options.mode ?? 'zero';
    if (!MODES.includes(this.mode)) throw new HeadsError('headSweep', `mode must be 'zero', 'mean' or 'resample', got '${String(this.mode)}'`);
    this.metric = metricOf(options.metric);
  }

  /** Forward passes run so far (the clean one included). */
  get forwardRuns(): number {
    return this.runs;
  }

  private async measure(hooks: Hook[]): Promise<RowTotals> {
    const p = this.prompts;
    this.runs++;
    return scope(async () => {
      const tokens = tensor(p.tokens, [p.batchSize, p.seqLen], { dtype: 'int32', device: this.model.device });
      const logits = await this.model.run(tokens, { hooks });
      return this.metric(logits, p);
    });
  }

  /** Per-row totals of the unablated model (cached until model.heads changes). */
  async cleanRun(): Promise<RowTotals> {
    if (!this.cleanTotals || this.cleanAt !== this.model.heads.changeCount) {
      this.cleanTotals = await this.measure([]);
      this.cleanAt = this.model.heads.changeCount;
    }
    return this.cleanTotals;
  }

  async clean(): Promise<number> {
    return ratio(await this.cleanRun());
  }

  async ablate(heads: readonly HeadSelector[], mode: AblationMode = this.mode): Promise<AblationResult> {
    const clean = await this.cleanRun();
    const t = await this.measure(ablationHooks(this.model, heads, mode));
    const value = ratio(t);
    return { heads: heads.map((s) => ({ ...s })), label: headLabel(heads), value, delta: value - ratio(clean), ci: pairedBootstrapCI(t, clean, this.options.bootstrap) };
  }

  /** Ablates each set in turn, reporting progress. */
  async sets(list: readonly (readonly HeadSelector[])[]): Promise<AblationResult[]> {
    const out: AblationResult[] = [];
    for (const heads of list) {
      out.push(await this.ablate(heads));
      this.options.onProgress?.({ done: out.length, total: list.length, label: out[out.length - 1]!.label });
    }
    return out;
  }

  /** Every head alone. */
  singles(): Promise<AblationResult[]> {
    return this.sets(allHeads(this.model).map((s) => [s]));
  }

  /** Every pair among `among` (default all heads). */
  pairs(among: readonly HeadSelector[] = allHeads(this.model)): Promise<AblationResult[]> {
    const list: HeadSelector[][] = [];
    for (let i = 0; i < among.length; i++) for (let j = i + 1; j < among.length; j++) list.push([among[i]!, among[j]!]);
    return this.sets(list);
  }

  /** `draws` random sets of k distinct heads drawn from those not in `exclude`. */
  async randomBaseline(k: number, o: RandomSetOptions = {}): Promise<RandomBaseline> {
    const { sets, rng, draws } = randomHeadSets(this.model, k, o);
    const results = await this.sets(sets);
    const deltas = results.map((r) => r.delta);
    const meanDelta = deltas.reduce((s, v) => s + v, 0) / draws;
    return { k, results, meanDelta, meanCI: meanBootstrapCI(deltas, rng, this.options.bootstrap), maxAbsDelta: Math.max(...deltas.map(Math.abs)) };
  }
}

/** A sweep over a model and prompts; the clean run happens on the first measurement. */
export function headSweep(model: Transformer, options: SweepOptions): HeadSweep {
  return new HeadSweep(model, options);
}
