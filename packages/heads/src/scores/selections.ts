/**
 * Which (query, key) pairs each head score looks at, built on the host from the prompt tokens:
 * a key-weight array W [B, N, N] (1 on the keys that count for that query) and a query mask
 * [B, N]. A score then reduces a pattern [B, H, N, N] against W on the model's device.
 */
import { counts, targetAt, type Prompts } from './prompts.js';

export interface Selection {
  /** [B, N, N]: 1 where key k counts for query q; rows of excluded queries are all 0. */
  keys: Float32Array;
  /** [B, N]: 1 where query q counts. */
  queries: Float32Array;
  /** Number of counted queries. */
  count: number;
}

function select(p: Prompts, pick: (b: number, q: number) => number[] | null): Selection {
  const { batchSize: B, seqLen: N } = p;
  const keys = new Float32Array(B * N * N);
  const queries = new Float32Array(B * N);
  let count = 0;
  for (let b = 0; b < B; b++) {
    for (let q = 0; q < N; q++) {
      if (!counts(p, b, q)) continue;
      const ks = pick(b, q);
      if (!ks) continue;
      queries[b * N + q] = 1;
      count++;
      for (const k of ks) keys[(b * N + q) * N + k] = 1;
    }
  }
  return { keys, queries, count };
}

/** Earlier positions j < q holding the token at q. */
function earlier(p: Prompts, b: number, q: number): number[] {
  const row = b * p.seqLen;
  const t = p.tokens[row + q];
  const out: number[] = [];
  for (let j = 0; j < q; j++) if (p.tokens[row + j] === t) out.push(j);
  return out;
}

/** Key q-1 for every query q >= 1. */
export const previousToken = (p: Prompts): Selection => select(p, (_b, q) => (q >= 1 ? [q - 1] : null));

/** Prefix matching: the tokens right after earlier occurrences of the current token (j + 1 for tok[j] = tok[q], j < q). */
export const induction = (p: Prompts): Selection => select(p, (b, q) => {
  const js = earlier(p, b, q);
  return js.length ? js.map((j) => j + 1) : null;
});

/** Earlier occurrences of the current token. */
export const duplicateToken = (p: Prompts): Selection => select(p, (b, q) => {
  const js = earlier(p, b, q);
  return js.length ? js : null;
});

/** Key 0 for every query. */
export const sink = (p: Prompts): Selection => select(p, () => [0]);

/** Every counted query (keys unused). */
export const allQueries = (p: Prompts): Selection => select(p, () => []);

/**
 * Copy steps: queries whose target token already sits in the context (positions s <= q holding
 * it; those are the keys). With `predicted` given, only steps where the model's top prediction
 * is that target count, as H1 scores the tokens a model actually copies.
 */
export const copySteps = (p: Prompts, predicted?: Int32Array): Selection => select(p, (b, q) => {
  const t = targetAt(p, b, q);
  if (t < 0) return null;
  if (predicted && predicted[b * p.seqLen + q] !== t) return null;
  const row = b * p.seqLen;
  const src: number[] = [];
  for (let s = 0; s <= q; s++) if (p.tokens[row + s] === t) src.push(s);
  return src.length ? src : null;
});
