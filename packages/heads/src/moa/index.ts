/**
 * MoA (S7), Mixture of Sparse Attention: every head gets its own span rule w_h(N) = α_h + β_h·N
 * (papers.md's linear rule; sinks kept too), chosen from a candidate grid by profiled loss
 * sensitivity on short calibration lengths under an average-span budget at a target length. The
 * plan is deployed as per-head sinks + window policies of the model's one KVCache.
 *
 * Profiling: for each head, each rule and each profiling length, the increase of NLL at the scored
 * positions when only that head is restricted to the rule's span (a masked forward through hooks;
 * same key sets the cache policy gives). Choosing: the plan minimising the summed increases subject
 * to mean_h w_h(N_target) <= budget, solved exactly by dynamic programming over integer spans.
 */
import { add, mul, noGrad, permute, scope, sub, tensor, type Tensor } from '@attnlab/tensor';
import { attention, type EvictionPolicy } from '@attnlab/attention';
import type { Hook, Transformer } from '@attnlab/models';
import { HeadsError } from '../errors.js';
import { streamingMask } from '../duo-attention/mix.js';
import { toPrompts, type PromptInput } from '../scores/prompts.js';
import { nllMetric } from '../sweeps/metrics.js';

export interface SpanRule {
  /** Fixed part of the span. */
  alpha: number;
  /** Part that grows with the sequence length. */
  beta: number;
}

/** The span of a rule at length N, in [1, N]. */
export function spanAt(r: SpanRule, N: number): number {
  return Math.max(1, Math.min(N, Math.round(r.alpha + r.beta * N)));
}

/** A small default grid: fixed local spans and spans that scale with the length (β = 1 is full attention). */
export const DEFAULT_RULES: readonly SpanRule[] = [
  { alpha: 2, beta: 0 }, { alpha: 4, beta: 0 }, { alpha: 8, beta: 0 },
  { alpha: 0, beta: 0.25 }, { alpha: 0, beta: 0.5 }, { alpha: 0, beta: 1 },
];

const ruleLabel = (r: SpanRule): string => (r.beta === 0 ? `${r.alpha}` : r.alpha === 0 ? `${r.beta}N` : `${r.alpha}+${r.beta}N`);

/** Hooks restricting heads to spans: span(layer, head) = window, or null for full attention. */
export function spanHooks(model: Transformer, span: (layer: number, head: number) => number | null, sinks = 1): Hook[] {
  const { nLayers: L, nHeads: H, dHead: Dh } = model.config;
  const [qn, kn] = model.config.positional === 'rotary' ? ['hook_rot_q', 'hook_rot_k'] : ['hook_q', 'hook_k'];
  const hooks: Hook[] = [];
  for (let l = 0; l < L; l++) {
    const w = Array.from({ length: H }, (_, h) => span(l, h));
    const windows = [...new Set(w.filter((x): x is number => x !== null))];
    if (!windows.length) continue;
    for (let h = 0; h < H; h++) {
      const c = model.getAttentionChoice(l, h);
      if (w[h] !== null && c.name !== 'softmax') throw new HeadsError('spanHooks', `layer ${l} head ${h} runs '${c.name}'; spans apply to 'softmax' heads`);
    }
    const seen: { q?: Tensor; k?: Tensor; v?: Tensor } = {};
    const a = `blocks.${l}.attn`;
    hooks.push([`${a}.${qn}`, (t: Tensor) => void (seen.q = t)], [`${a}.${kn}`, (t: Tensor) => void (seen.k = t)], [`${a}.hook_v`, (t: Tensor) => void (seen.v = t)]);
    hooks.push([`${a}.hook_z`, async (z: Tensor) => {
      const { q, k, v } = seen;
      if (!q || !k || !v) throw new HeadsError('spanHooks', `layer ${l}: q, k or v did not pass through its hook point`);
      const tr = (t: Tensor): Tensor => permute(t, [0, 2, 1, 3]);
      let out = z;
      for (const win of windows) {
        const sel = new Float32Array(H).map((_, h) => (w[h] === win ? 1 : 0));
        const o = tr((await attention(tr(q), tr(k), tr(v), { mask: streamingMask({ sinks, window: win }), scale: 1 / Math.sqrt(Dh) })).out);
        const s = tensor(sel, [1, 1, H, 1], { device: z.device });
        out = add(out, mul(sub(o, out), s));
      }
      return out;
    }]);
  }
  return hooks;
}

export interface ProfileOptions {
  /** Prompts per profiling length (e.g. passkey batches of 32 and 48 tokens). */
  prompts: PromptInput[];
  rules?: readonly SpanRule[];
  sinks?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface MoAProfile {
  rules: SpanRule[];
  sinks: number;
  lengths: number[];
  /** [layer][head][rule]: NLL increase summed over the profiling lengths (0 for a rule that spans the whole prompt). */
  sensitivity: number[][][];
  forwards: number;
}

async function nll(model: Transformer, tokens: Tensor, prompts: ReturnType<typeof toPrompts>, hooks: Hook[]): Promise<number> {
  return noGrad(() => scope(async () => {
    const { num, den } = await nllMetric(await model.run(tokens, { hooks }), prompts);
    let a = 0;
    let b = 0;
    for (let i = 0; i < num.length; i++) {
      a += num[i]!;
      b += den[i]!;
    }
    return a / b;
  }));
}

export async function profileMoA(model: Transformer, o: ProfileOptions): Promise<MoAProfile> {
  const rules = [...(o.rules ?? DEFAULT_RULES)];
  if (!rules.length) throw new HeadsError('profileMoA', 'rules: empty grid');
  rules.forEach((r, i) => {
    if (!Number.isFinite(r.alpha) || !Number.isFinite(r.beta) || r.alpha < 0 || r.beta < 0) throw new HeadsError('profileMoA', `rules[${i}] needs finite alpha, beta >= 0, got ${JSON.stringify(r)}`);
  });
  const sinks = o.sinks ?? 1;
  if (!Array.isArray(o.prompts) || !o.prompts.length) throw new HeadsError('profileMoA', 'prompts: give one prompt set per profiling length');
  const sets = o.prompts.map((p, i) => toPrompts(p, `profileMoA prompts[${i}]`));
  const { nLayers: L, nHeads: H } = model.config;
  const sens = Array.from({ length: L }, () => Array.from({ length: H }, () => new Array<number>(rules.length).fill(0)));
  let forwards = 0;
  const total = sets.reduce((s, p) => s + L * H * new Set(rules.map((r) => spanAt(r, p.seqLen)).filter((w) => w < p.seqLen)).size, 0);
  for (const p of sets) {
    const tokens = tensor(p.tokens, [p.batchSize, p.seqLen], { dtype: 'int32', device: model.device });
    try {
      const base = await nll(model, tokens, p, []);
      forwards++;
      const windows = [...new Set(rules.map((r) => spanAt(r, p.seqLen)))];
      for (let l = 0; l < L; l++) {
        for (let h = 0; h < H; h++) {
          const byWindow = new Map<number, number>();
          for (const w of windows) {
            if (w >= p.seqLen) {
              byWindow.set(w, 0);
              continue;
            }
            byWindow.set(w, (await nll(model, tokens, p, spanHooks(model, (ll, hh) => (ll === l && hh === h ? w : null), sinks))) - base);
            forwards++;
            o.onProgress?.(forwards - sets.length, total);
          }
          rules.forEach((r, i) => (sens[l]![h]![i] += byWindow.get(spanAt(r, p.seqLen))!));
        }
      }
    } finally {
      tokens.dispose();
    }
  }
  return { rules, sinks, lengths: sets.map((p) => p.seqLen), sensitivity: sens, forwards };
}

export interface MoAPlan {
  /** [layer][head] rule index. */
  choice: number[][];
  rules: SpanRule[];
  sinks: number;
  target: number;
  /** Spans at the target length, [layer][head]. */
  spans: number[][];
  meanSpan: number;
  /** Summed profiled sensitivity of the plan. */
  cost: number;
  labels: string[][];
}

/**
 * The rule per head minimising summed sensitivity with mean span at `target` <= budget (exact DP).
 * Spans count the window only (sinks are the same for every head and the uniform baseline).
 */
export function planMoA(profile: MoAProfile, o: { target: number; budget: number }): MoAPlan {
  const { rules, sensitivity } = profile;
  const L = sensitivity.length;
  const H = sensitivity[0]!.length;
  const n = L * H;
  if (!Number.isInteger(o.target) || o.target < 1) throw new HeadsError('planMoA', `target must be a positive integer length, got ${o.target}`);
  const cap = Math.floor(o.budget * n);
  const spans = rules.map((r) => spanAt(r, o.target));
  if (cap < Math.min(...spans) * n) throw new HeadsError('planMoA', `budget ${o.budget} is below the smallest rule's span ${Math.min(...spans)} at length ${o.target}`);
  // dp[i][s]: least cost for the first i heads using total span s.
  const INF = Number.POSITIVE_INFINITY;
  let dp = new Float64Array(cap + 1).fill(INF);
  dp[0] = 0;
  const back: Int16Array[] = [];
  for (let i = 0; i < n; i++) {
    const sens = sensitivity[Math.floor(i / H)]![i % H]!;
    const next = new Float64Array(cap + 1).fill(INF);
    const pick = new Int16Array(cap + 1).fill(-1);
    for (let s = 0; s <= cap; s++) {
      if (dp[s] === INF) continue;
      for (let r = 0; r < rules.length; r++) {
        const t = s + spans[r]!;
        if (t > cap) continue;
        const c = dp[s]! + sens[r]!;
        if (c < next[t]!) {
          next[t] = c;
          pick[t] = r;
        }
      }
    }
    back.push(pick);
    dp = next;
  }
  let best = -1;
  for (let s = 0; s <= cap; s++) if (dp[s] !== INF && (best < 0 || dp[s]! < dp[best]! - 1e-12)) best = s;
  const choice = Array.from({ length: L }, () => new Array<number>(H).fill(0));
  let s = best;
  for (let i = n - 1; i >= 0; i--) {
    const r = back[i]![s]!;
    choice[Math.floor(i / H)]![i % H] = r;
    s -= spans[r]!;
  }
  const planSpans = choice.map((row) => row.map((r) => spans[r]!));
  return {
    choice, rules, sinks: profile.sinks, target: o.target, spans: planSpans,
    meanSpan: planSpans.flat().reduce((a, b) => a + b, 0) / n, cost: dp[best]!,
    labels: choice.map((row) => row.map((r) => ruleLabel(rules[r]!))),
  };
}

/** The plan's per-head cache policies at length N ({ sinks, window }; a head whose span covers N keeps everything). */
export function moaPolicies(plan: Pick<MoAPlan, 'choice' | 'rules' | 'sinks'>, N: number): (layer: number, head: number) => EvictionPolicy | null {
  return (l, h) => {
    const w = spanAt(plan.rules[plan.choice[l]![h]!]!, N);
    return w + plan.sinks >= N ? null : { sinks: plan.sinks, window: w };
  };
}
