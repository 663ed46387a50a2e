/**
 * The Bigram-Backcopy task (Guo et al. 2024, "Active-Dormant Attention Heads", arXiv 2410.13835):
 * a bigram Markov chain in which, after a "trigger" token, the next token copies the token before
 * the trigger. Heads that back-copy are needed only on trigger tokens and are dormant elsewhere,
 * which is where small transformers form attention sinks within a few thousand steps. Here the
 * bigram is estimated from a real text's token stream, so the chain reads like that text's letters.
 */
import { Rng, TensorError } from '@attnlab/tensor';

export interface BigramBackcopyOptions {
  /** Tokens to generate. */
  length: number;
  /** Trigger ids: after one, the next token is the token before it. */
  triggers: readonly number[];
  seed: number;
}

/** Row-stochastic [V × V] transition matrix (row = current token) counted from a token stream; empty rows stay zero. */
export function bigramTransitions(ids: Int32Array, vocabSize: number): Float64Array {
  if (!Number.isInteger(vocabSize) || vocabSize < 2) throw new TensorError('bigramTransitions', `vocabSize must be an integer >= 2, got ${vocabSize}`);
  if (ids.length < 2) throw new TensorError('bigramTransitions', `the stream needs at least 2 tokens, got ${ids.length}`);
  const m = new Float64Array(vocabSize * vocabSize);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id < 0 || id >= vocabSize) throw new TensorError('bigramTransitions', `token ${id} at index ${i} is outside the vocabulary of ${vocabSize}`);
    if (i > 0) m[ids[i - 1]! * vocabSize + id]! += 1;
  }
  for (let r = 0; r < vocabSize; r++) {
    let s = 0;
    for (let c = 0; c < vocabSize; c++) s += m[r * vocabSize + c]!;
    if (s > 0) for (let c = 0; c < vocabSize; c++) m[r * vocabSize + c]! /= s;
  }
  return m;
}

/**
 * A Bigram-Backcopy stream from a transition matrix. The first token is drawn from the non-trigger
 * marginal; a trigger is only ever drawn after a non-trigger (the token after a trigger is a copy),
 * so a copied token is never a trigger and copies cannot chain. An empty row falls back to the marginal.
 */
export function bigramBackcopy(transitions: Float64Array, vocabSize: number, o: BigramBackcopyOptions): Int32Array {
  const V = vocabSize;
  if (transitions.length !== V * V) throw new TensorError('bigramBackcopy', `transitions must hold ${V}×${V} = ${V * V} entries, got ${transitions.length}`);
  if (!Number.isInteger(o.length) || o.length < 1) throw new TensorError('bigramBackcopy', `length must be a positive integer, got ${o.length}`);
  const isTrigger = new Uint8Array(V);
  for (const t of o.triggers) {
    if (!Number.isInteger(t) || t < 0 || t >= V) throw new TensorError('bigramBackcopy', `trigger ${t} is outside the vocabulary of ${V}`);
    isTrigger[t] = 1;
  }
  if (!o.triggers.length || o.triggers.length >= V) throw new TensorError('bigramBackcopy', `triggers must name between 1 and ${V - 1} tokens, got ${o.triggers.length}`);
  for (let i = 0; i < V * V; i++) if (!(transitions[i]! >= 0)) throw new TensorError('bigramBackcopy', `row ${Math.floor(i / V)} of transitions has a negative or NaN entry`);
  // Marginal over non-trigger tokens: column sums of the matrix (each row weighted equally is
  // enough for a start / fallback distribution).
  const marginal = new Float64Array(V);
  for (let r = 0; r < V; r++) for (let c = 0; c < V; c++) if (!isTrigger[c]) marginal[c]! += transitions[r * V + c]!;
  const cumulative = (w: Float64Array): Float64Array | null => {
    const out = new Float64Array(w.length);
    let s = 0;
    for (let i = 0; i < w.length; i++) out[i] = s += w[i]!;
    if (!(s > 0)) return null;
    for (let i = 0; i < w.length; i++) out[i]! /= s;
    return out;
  };
  const start = cumulative(marginal);
  if (!start) throw new TensorError('bigramBackcopy', 'the transitions never reach a non-trigger token');
  const rows: Float64Array[] = [];
  for (let r = 0; r < V; r++) {
    const w = transitions.slice(r * V, (r + 1) * V);
    rows.push(cumulative(w) ?? start);
  }
  const rng = new Rng(o.seed);
  const draw = (cdf: Float64Array): number => {
    const u = rng.uniform();
    let i = 0;
    while (i < V - 1 && cdf[i]! <= u) i++;
    return i;
  };
  const out = new Int32Array(o.length);
  out[0] = draw(start);
  for (let i = 1; i < o.length; i++) {
    const prev = out[i - 1]!;
    out[i] = isTrigger[prev] && i >= 2 ? out[i - 2]! : draw(rows[prev]!);
  }
  return out;
}
