/**
 * ACT (H6, "Unveiling and Harnessing Hidden Attention Sinks"): detect sinks that are not the first
 * token (key columns receiving more than α/N mean attention), down-weight them by β in selected
 * heads through the per-head 'act' variant, and choose the heads on a calibration set: each head
 * alone is scored by the accuracy change it brings, and heads that help are kept. Detection runs
 * on every input (input-adaptive, no weight tuning); the held-out accuracy change is the result.
 */
import { getAttention, hasAttention, registerAttention } from '@attnlab/attention';
import type { Transformer } from '@attnlab/models';
import { tensor, TensorError, type Tensor } from '@attnlab/tensor';
import { actVariant } from './variant.js';
import { naiveDetectSinks } from './naive.js';

/** One QA item: a prompt and the answer tokens the logits at `pos` must predict (arg-max). */
export interface QAItem {
  tokens: readonly number[];
  answer: readonly { pos: number; token: number }[];
}

export interface DetectOptions {
  /** A key is a sink when its mean attention exceeds alpha / N (default 5). */
  alpha?: number;
  /** First key examined (default 1: non-initial sinks). */
  from?: number;
  /** Keys need at least this many later queries (default 8). */
  minQueries?: number;
}

export interface HeadRef {
  layer: number;
  head: number;
}

/** [layer][head][row] sink positions. */
export type SinkMap = number[][][][];

function rowsTensor(model: Transformer, items: readonly QAItem[]): Tensor {
  if (!items.length) throw new TensorError('act', 'no QA items');
  const N = items[0]!.tokens.length;
  items.forEach((it, i) => {
    if (it.tokens.length !== N) throw new TensorError('act', `item ${i} has ${it.tokens.length} tokens, item 0 ${N} (items batch together)`);
  });
  return tensor(Int32Array.from(items.flatMap((it) => it.tokens)), [items.length, N], { dtype: 'int32', device: model.device });
}

/** Non-initial sinks of every head and row from the model's own patterns. */
export async function detectSinks(model: Transformer, items: readonly QAItem[], opts: DetectOptions = {}): Promise<SinkMap> {
  const o = { alpha: opts.alpha ?? 5, from: opts.from ?? 1, minQueries: opts.minQueries ?? 8 };
  if (!(o.alpha > 0)) throw new TensorError('detectSinks', `alpha must be > 0, got ${o.alpha}`);
  const t = rowsTensor(model, items);
  const { logits, cache } = await model.runWithCache(t, { names: [/attn\.hook_pattern$/] });
  const all = cache as unknown as Record<string, Tensor | undefined>;
  try {
    const { nLayers: L, nHeads: H } = model.config;
    const B = items.length;
    const N = items[0]!.tokens.length;
    const out: SinkMap = [];
    for (let l = 0; l < L; l++) {
      const p = all[`blocks.${l}.attn.hook_pattern`];
      if (!p) throw new TensorError('detectSinks', `the model produced no blocks.${l}.attn.hook_pattern`);
      const a = (await p.data()) as Float32Array;
      out.push(Array.from({ length: H }, (_, h) => Array.from({ length: B }, (_, b) => naiveDetectSinks(a.subarray(((b * H + h) * N) * N, ((b * H + h) * N + N) * N), N, o))));
    }
    return out;
  } finally {
    t.dispose();
    logits.dispose();
    for (const k of Object.keys(all)) all[k]?.dispose?.();
  }
}

/** Arg-max accuracy on the answers, optionally with ACT on the given heads. */
export async function qaAccuracy(model: Transformer, items: readonly QAItem[], act?: { heads: readonly HeadRef[]; sinks: SinkMap; beta: number }): Promise<number> {
  const own = !hasAttention('act') ? registerAttention('act', actVariant) : null;
  if (!own && getAttention('act').description !== actVariant.description) throw new TensorError('qaAccuracy', "another variant is registered as 'act'");
  const before = act?.heads.map((r) => ({ r, choice: model.getAttentionChoice(r.layer, r.head) })) ?? [];
  const t = rowsTensor(model, items);
  try {
    for (const { layer, head } of act?.heads ?? []) {
      const sinks = act!.sinks[layer]?.[head];
      if (!sinks) throw new TensorError('qaAccuracy', `no detected sinks for layer ${layer} head ${head}`);
      model.setAttention({ layer, head }, 'act', { sinks, beta: act!.beta });
    }
    const logits = await model.forward(t);
    const a = (await logits.data()) as Float32Array;
    logits.dispose();
    const V = model.config.vocabSize;
    const N = items[0]!.tokens.length;
    let hit = 0;
    let n = 0;
    items.forEach((it, b) => {
      for (const { pos, token } of it.answer) {
        const row = a.subarray((b * N + pos) * V, (b * N + pos + 1) * V);
        let best = 0;
        for (let i = 1; i < V; i++) if (row[i]! > row[best]!) best = i;
        hit += best === token ? 1 : 0;
        n++;
      }
    });
    return hit / n;
  } finally {
    t.dispose();
    for (const { r, choice } of before) model.setAttention({ layer: r.layer, head: r.head }, choice.name, choice.options);
    own?.dispose();
  }
}

export interface Calibration {
  alpha: number;
  beta: number;
  /** Accuracy without ACT on the calibration items. */
  base: number;
  /** Each head alone: accuracy with ACT on it, the change, and how many sinks it had per row on average. */
  perHead: (HeadRef & { accuracy: number; delta: number; sinksPerRow: number })[];
  /** Heads whose change was above minGain (best first), and the accuracy with all of them. */
  selected: HeadRef[];
  accuracy: number;
}

/** Choose ACT heads on calibration items: per-head accuracy change, keep those above minGain (default 0). */
export async function calibrateACT(model: Transformer, items: readonly QAItem[], opts: DetectOptions & { beta?: number; minGain?: number } = {}): Promise<Calibration> {
  const beta = opts.beta ?? 0.5;
  const sinks = await detectSinks(model, items, opts);
  const base = await qaAccuracy(model, items);
  const perHead: Calibration['perHead'] = [];
  const { nLayers: L, nHeads: H } = model.config;
  for (let layer = 0; layer < L; layer++) {
    for (let head = 0; head < H; head++) {
      const rows = sinks[layer]![head]!;
      const sinksPerRow = rows.reduce((a, r) => a + r.length, 0) / rows.length;
      const accuracy = sinksPerRow > 0 ? await qaAccuracy(model, items, { heads: [{ layer, head }], sinks, beta }) : base;
      perHead.push({ layer, head, accuracy, delta: accuracy - base, sinksPerRow });
    }
  }
  const selected = perHead.filter((h) => h.delta > (opts.minGain ?? 0)).sort((a, b) => b.delta - a.delta).map(({ layer, head }) => ({ layer, head }));
  const accuracy = selected.length ? await qaAccuracy(model, items, { heads: selected, sinks, beta }) : base;
  return { alpha: opts.alpha ?? 5, beta, base, perHead, selected, accuracy };
}

/** ACT at inference on new items: detect their sinks, down-weight them in the chosen heads; accuracy before and after. */
export async function applyACT(model: Transformer, items: readonly QAItem[], heads: readonly HeadRef[], opts: DetectOptions & { beta?: number } = {}): Promise<{ base: number; accuracy: number; delta: number }> {
  const base = await qaAccuracy(model, items);
  if (!heads.length) return { base, accuracy: base, delta: 0 };
  const sinks = await detectSinks(model, items, opts);
  const accuracy = await qaAccuracy(model, items, { heads, sinks, beta: opts.beta ?? 0.5 });
  return { base, accuracy, delta: accuracy - base };
}
