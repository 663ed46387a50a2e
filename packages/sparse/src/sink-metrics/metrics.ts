/**
 * Attention-sink statistics (H7, "When Attention Sink Emerges"): per head, the mean attention on
 * the sink key and the share of queries putting more than ε on it; a head is a sink head when at
 * least `queryShare` of its queries do, and the sink metric is the share of sink heads. Also the
 * sink token's value-vector norm against the other tokens' (H7: sinks act like key biases whose
 * values are small). Computed on the patterns' device with tensor ops; naive.ts is the float64
 * reference.
 */
import { noGrad, scope, slice, sqrt, square, sum, tensor, greater, where, TensorError, type Tensor } from '@attnlab/tensor';
import type { Transformer } from '@attnlab/models';

export interface SinkMetricOptions {
  /** Mass threshold ε (default 0.3, H7's choice). */
  eps?: number;
  /** Share of queries above ε that makes a sink head (default 0.5). */
  queryShare?: number;
  /** The key examined (default 0, the first token). */
  sinkIndex?: number;
  /** First query counted (default sinkIndex + 1: the sink's own row and those before it see little else). */
  fromQuery?: number;
}

export interface HeadSink {
  layer: number;
  head: number;
  /** Mean attention on the sink key over the counted queries. */
  mass: number;
  /** Share of counted queries putting more than ε on it. */
  share: number;
  sink: boolean;
}

export interface SinkReport {
  eps: number;
  queryShare: number;
  sinkIndex: number;
  /** Share of heads (all layers) that are sink heads: H7's metric. */
  metric: number;
  /** [layer][head] mean mass on the sink key. */
  mass: number[][];
  /** [layer][head] share of queries above ε. */
  share: number[][];
  heads: HeadSink[];
  /** Value-vector norms, when measured: [layer][head] mean ‖v‖ at the sink index and elsewhere. */
  valueNorm?: { sink: number[][]; others: number[][]; ratio: number };
}

function resolve(o: SinkMetricOptions): Required<SinkMetricOptions> {
  const eps = o.eps ?? 0.3;
  const queryShare = o.queryShare ?? 0.5;
  const sinkIndex = o.sinkIndex ?? 0;
  const fromQuery = o.fromQuery ?? sinkIndex + 1;
  if (!(Number.isFinite(eps) && eps >= 0 && eps < 1)) throw new TensorError('sinkMetrics', `eps must be in [0, 1), got ${eps}`);
  if (!(Number.isFinite(queryShare) && queryShare > 0 && queryShare <= 1)) throw new TensorError('sinkMetrics', `queryShare must be in (0, 1], got ${queryShare}`);
  if (!Number.isInteger(sinkIndex) || sinkIndex < 0) throw new TensorError('sinkMetrics', `sinkIndex must be a non-negative integer, got ${sinkIndex}`);
  if (!Number.isInteger(fromQuery) || fromQuery < 0) throw new TensorError('sinkMetrics', `fromQuery must be a non-negative integer, got ${fromQuery}`);
  return { eps, queryShare, sinkIndex, fromQuery };
}

/**
 * Per-head mass and share from one layer's pattern [B, H, N, N] (probabilities on any device):
 * two [H] arrays read back once.
 */
export async function sinkStats(pattern: Tensor, options: SinkMetricOptions = {}): Promise<{ mass: Float32Array; share: Float32Array }> {
  const o = resolve(options);
  if (pattern.rank !== 4 || pattern.shape[2] !== pattern.shape[3]) throw new TensorError('sinkStats', `pattern must be [B, H, N, N], got [${pattern.shape.join(', ')}]`);
  const [B, H, N] = pattern.shape as [number, number, number, number];
  if (o.sinkIndex >= N) throw new TensorError('sinkStats', `sinkIndex ${o.sinkIndex} is outside the ${N} keys`);
  if (o.fromQuery >= N) throw new TensorError('sinkStats', `fromQuery ${o.fromQuery} leaves no query of ${N}`);
  const n = B * (N - o.fromQuery);
  const [m, s] = noGrad(() => scope(() => {
    const col = slice(pattern, [0, 0, o.fromQuery, o.sinkIndex], [B, H, N - o.fromQuery, 1]);
    return [sum(col, [0, 2, 3]), sum(where(greater(col, o.eps), 1, 0), [0, 2, 3])];
  }));
  const [md, sd] = await Promise.all([m!.data(), s!.data()]);
  m!.dispose();
  s!.dispose();
  return { mass: Float32Array.from(md as Float32Array, (x) => x / n), share: Float32Array.from(sd as Float32Array, (x) => x / n) };
}

/** Mean ‖v‖ per head at the sink index and at the other indices, from hook_v [B, N, H, D]. */
export async function valueNorms(v: Tensor, sinkIndex = 0): Promise<{ sink: Float32Array; others: Float32Array }> {
  if (v.rank !== 4) throw new TensorError('valueNorms', `v must be [B, N, H, D], got [${v.shape.join(', ')}]`);
  const [B, N, H] = v.shape as [number, number, number, number];
  if (sinkIndex >= N) throw new TensorError('valueNorms', `sinkIndex ${sinkIndex} is outside the ${N} tokens`);
  const norms = noGrad(() => scope(() => sum(sqrt(sum(square(v), [3])), [0]))); // [N, H]
  const a = (await norms.data()) as Float32Array;
  norms.dispose();
  const sink = new Float32Array(H);
  const others = new Float32Array(H);
  for (let h = 0; h < H; h++) {
    let o = 0;
    for (let i = 0; i < N; i++) if (i !== sinkIndex) o += a[i * H + h]!;
    sink[h] = a[sinkIndex * H + h]! / B;
    others[h] = N > 1 ? o / (B * (N - 1)) : Number.NaN;
  }
  return { sink, others };
}

/** The report from per-layer patterns (and optionally per-layer hook_v tensors). */
export async function sinkReport(patterns: readonly Tensor[], options: SinkMetricOptions = {}, values?: readonly Tensor[]): Promise<SinkReport> {
  const o = resolve(options);
  if (!patterns.length) throw new TensorError('sinkReport', 'no patterns (one [B, H, N, N] per layer)');
  const mass: number[][] = [];
  const share: number[][] = [];
  const heads: HeadSink[] = [];
  for (const [l, p] of patterns.entries()) {
    const st = await sinkStats(p, o);
    mass.push(Array.from(st.mass));
    share.push(Array.from(st.share));
    st.share.forEach((s, h) => heads.push({ layer: l, head: h, mass: st.mass[h]!, share: s, sink: s >= o.queryShare }));
  }
  const report: SinkReport = { eps: o.eps, queryShare: o.queryShare, sinkIndex: o.sinkIndex, metric: heads.filter((h) => h.sink).length / heads.length, mass, share, heads };
  if (values) {
    const sink: number[][] = [];
    const others: number[][] = [];
    for (const v of values) {
      const r = await valueNorms(v, o.sinkIndex);
      sink.push(Array.from(r.sink));
      others.push(Array.from(r.others));
    }
    const mean = (x: number[][]): number => x.flat().reduce((a, b) => a + b, 0) / x.flat().length;
    report.valueNorm = { sink, others, ratio: mean(sink) / mean(others) };
  }
  return report;
}

/**
 * Runs the model on token rows [B][N] and reports its sinks (patterns and value norms of every
 * layer). The model's attention variant must return weights (softmax and sigmoid do).
 */
export async function measureSinks(model: Transformer, tokens: readonly (readonly number[])[], options: SinkMetricOptions = {}): Promise<SinkReport> {
  if (!tokens.length || !tokens[0]!.length) throw new TensorError('measureSinks', 'tokens must be a non-empty [B][N] array');
  const L = model.config.nLayers;
  const t = tensor(Int32Array.from(tokens.flat()), [tokens.length, tokens[0]!.length], { dtype: 'int32', device: model.device });
  const { logits, cache } = await model.runWithCache(t, { names: [/attn\.hook_pattern$/, /attn\.hook_v$/] });
  const all = cache as unknown as Record<string, Tensor | undefined>;
  try {
    const get = (l: number, n: string): Tensor => {
      const x = all[`blocks.${l}.attn.${n}`];
      if (!x) throw new TensorError('measureSinks', `the model produced no blocks.${l}.attn.${n} (its attention variant returns no weights)`);
      return x;
    };
    const ls = Array.from({ length: L }, (_, l) => l);
    return await sinkReport(ls.map((l) => get(l, 'hook_pattern')), options, ls.map((l) => get(l, 'hook_v')));
  } finally {
    t.dispose();
    logits.dispose();
    for (const k of Object.keys(all)) all[k]?.dispose?.();
  }
}
