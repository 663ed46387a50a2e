import type { Rng } from '@attnlab/tensor';
import { ModelError } from './errors.js';

/**
 * A batch of a synthetic task, on the host. At position i the model predicts `targets[i]`;
 * `lossMask` says which positions train, `evalMask` which are scored (accuracy, NLL).
 */
export interface Batch {
  batchSize: number;
  seqLen: number;
  tokens: Int32Array;
  targets: Int32Array;
  lossMask: Float32Array;
  evalMask: Float32Array;
}

export interface Task {
  readonly name: string;
  readonly vocabSize: number;
  readonly seqLen: number;
  /** Parameters that define the task (stored next to checkpoints). */
  readonly params: Record<string, unknown>;
  sample(rng: Rng, batchSize: number): Batch;
  /** Optional token names for displays. */
  tokenName?(id: number): string;
}

function emptyBatch(batchSize: number, seqLen: number): Batch {
  const n = batchSize * seqLen;
  return { batchSize, seqLen, tokens: new Int32Array(n), targets: new Int32Array(n), lossMask: new Float32Array(n), evalMask: new Float32Array(n) };
}

/** Distinct values from [lo, hi) (Fisher-Yates prefix). */
function distinct(rng: Rng, lo: number, hi: number, k: number): number[] {
  const pool = Array.from({ length: hi - lo }, (_, i) => lo + i);
  if (k > pool.length) throw new ModelError('task', `cannot draw ${k} distinct tokens from ${pool.length}`);
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, k);
}

/** Next-token targets for a row: targets[i] = tokens[i + 1]. */
function shiftTargets(b: Batch, row: number): void {
  const N = b.seqLen;
  for (let i = 0; i < N - 1; i++) b.targets[row * N + i] = b.tokens[row * N + i + 1]!;
}

export interface InductionOptions {
  vocabSize?: number;
  /** Length of the random segment; the sequence is [BOS, s, s] of length 2·len + 1. */
  len?: number;
  /**
   * Shortest segment (default len: fixed). With minLen < len each row draws its length in
   * [minLen, len] and pads the end with random unscored tokens, so the repeat sits at a varying
   * distance: copying from a fixed offset no longer works and only an induction circuit does.
   */
  minLen?: number;
  /** Draw the segment without repeats so every second-half token is predictable (default true). */
  distinct?: boolean;
  /** Train on every position ('all') or only the predictable repeat ('repeat', default). */
  lossOn?: 'all' | 'repeat';
}

/**
 * Induction: a random segment repeated twice after a BOS token (0). Scored positions are the
 * second half, from the first repeated token on (predicting the 2nd..last repeated tokens).
 */
export function induction(o: InductionOptions = {}): Task {
  const V = o.vocabSize ?? 64;
  const L = o.len ?? 12;
  const minL = o.minLen ?? L;
  if (!(minL >= 2 && minL <= L)) throw new Error(`induction: minLen must be in [2, len=${L}], got ${minL}`);
  const N = 2 * L + 1;
  const dist = o.distinct ?? true;
  const lossOn = o.lossOn ?? 'repeat';
  return {
    name: 'induction', vocabSize: V, seqLen: N, params: { vocabSize: V, len: L, ...(minL !== L ? { minLen: minL } : {}), distinct: dist, lossOn },
    sample(rng, B) {
      const b = emptyBatch(B, N);
      for (let r = 0; r < B; r++) {
        const l = minL === L ? L : minL + rng.int(L - minL + 1);
        const seg = dist ? distinct(rng, 1, V, l) : Array.from({ length: l }, () => 1 + rng.int(V - 1));
        const pad = Array.from({ length: N - 1 - 2 * l }, () => 1 + rng.int(V - 1));
        const row = [0, ...seg, ...seg, ...pad];
        b.tokens.set(row, r * N);
        shiftTargets(b, r);
        for (let i = 0; i < N - 1; i++) {
          // Position i predicts token i+1: scored from the first repeated token to the segment's end.
          const scored = i >= l + 1 && i < 2 * l ? 1 : 0;
          b.evalMask[r * N + i] = scored;
          b.lossMask[r * N + i] = lossOn === 'all' ? 1 : scored;
        }
      }
      return b;
    },
  };
}

export interface MQAROptions {
  vocabSize?: number;
  /** Number of key-value pairs. */
  numKV?: number;
  seqLen?: number;
  /** Queries asked (default numKV). */
  numQueries?: number;
  /**
   * Each row draws its number of pairs in [minNumKV, numKV] (default numKV: fixed), as Zoology
   * mixes pair counts in training; the query region still starts at 2 * numKV, and a row asks
   * min(numQueries, its pairs) queries.
   */
  minNumKV?: number;
}

/**
 * Multi-query associative recall as Zoology defines it: disjoint key and value vocabularies,
 * `numKV` pairs k1 v1 k2 v2 ... at the start, then a query region (filler token 0) in which a
 * random subset of the keys reappears; at each query the model must emit that key's value.
 * Loss and scoring only at query positions. Keys come from [1, V/2), values from [V/2, V).
 */
export function mqar(o: MQAROptions = {}): Task {
  const V = o.vocabSize ?? 64;
  const n = o.numKV ?? 8;
  const N = o.seqLen ?? 64;
  const q = o.numQueries ?? n;
  const minN = o.minNumKV ?? n;
  if (!Number.isInteger(minN) || minN < 1 || minN > n) throw new ModelError('mqar', `minNumKV must be an integer in [1, ${n}], got ${minN}`);
  const half = Math.floor(V / 2);
  if (n > half - 1 || n > V - half) throw new ModelError('mqar', `${n} pairs need more than ${V} tokens`);
  const region = N - 2 * n;
  if (q > n || q > region) throw new ModelError('mqar', `${q} queries do not fit (${n} pairs, query region of ${region})`);
  return {
    name: 'mqar', vocabSize: V, seqLen: N, params: { vocabSize: V, numKV: n, seqLen: N, numQueries: q, ...(minN !== n ? { minNumKV: minN } : {}) },
    sample(rng, B) {
      const b = emptyBatch(B, N);
      for (let r = 0; r < B; r++) {
        const nr = minN === n ? n : minN + rng.int(n - minN + 1);
        const keys = distinct(rng, 1, half, nr);
        const vals = keys.map(() => half + rng.int(V - half));
        const o0 = r * N;
        for (let i = 0; i < nr; i++) {
          b.tokens[o0 + 2 * i] = keys[i]!;
          b.tokens[o0 + 2 * i + 1] = vals[i]!;
        }
        const qr = Math.min(q, nr);
        const which = distinct(rng, 0, nr, qr);
        const pos = distinct(rng, 2 * n, N, qr);
        for (let j = 0; j < qr; j++) {
          const p = pos[j]!;
          b.tokens[o0 + p] = keys[which[j]!]!;
          b.targets[o0 + p] = vals[which[j]!]!;
          b.lossMask[o0 + p] = 1;
          b.evalMask[o0 + p] = 1;
        }
      }
      return b;
    },
  };
}

export interface CopyOptions {
  vocabSize?: number;
  len?: number;
}

/** Copy: [BOS, s, SEP, s]; scored on reproducing s after SEP. BOS = 0, SEP = 1. */
export function copy(o: CopyOptions = {}): Task {
  const V = o.vocabSize ?? 32;
  const L = o.len ?? 10;
  const N = 2 * L + 2;
  return {
    name: 'copy', vocabSize: V, seqLen: N, params: { vocabSize: V, len: L },
    sample(rng, B) {
      const b = emptyBatch(B, N);
      for (let r = 0; r < B; r++) {
        const seg = Array.from({ length: L }, () => 2 + rng.int(V - 2));
        b.tokens.set([0, ...seg, 1, ...seg], r * N);
        shiftTargets(b, r);
        for (let i = L + 1; i < N - 1; i++) {
          b.lossMask[r * N + i] = 1;
          b.evalMask[r * N + i] = 1;
        }
      }
      return b;
    },
  };
}

export interface PasskeyOptions {
  vocabSize?: number;
  seqLen?: number;
  /** Digits in the passkey. */
  keyLen?: number;
  /** Number of distinct digit tokens. */
  digits?: number;
}

/**
 * Passkey (needle) retrieval: filler tokens, a KEY marker followed by the passkey at a random
 * depth, more filler, then a QUERY marker after which the passkey must be repeated.
 * Tokens: 0 BOS, 1 KEY, 2 QUERY, digits 3..3+digits, filler after that.
 */
export function passkey(o: PasskeyOptions = {}): Task {
  const V = o.vocabSize ?? 32;
  const N = o.seqLen ?? 48;
  const K = o.keyLen ?? 3;
  const D = o.digits ?? 10;
  const fillerLo = 3 + D;
  if (fillerLo >= V) throw new ModelError('passkey', `vocabSize ${V} leaves no filler tokens after ${D} digits`);
  const needle = K + 1;
  const tail = K + 1;
  if (N < 1 + needle + tail + 1) throw new ModelError('passkey', `seqLen ${N} is too short for a ${K}-digit key`);
  return {
    name: 'passkey', vocabSize: V, seqLen: N, params: { vocabSize: V, seqLen: N, keyLen: K, digits: D },
    sample(rng, B) {
      const b = emptyBatch(B, N);
      for (let r = 0; r < B; r++) {
        const key = Array.from({ length: K }, () => 3 + rng.int(D));
        const row = new Array<number>(N);
        row[0] = 0;
        for (let i = 1; i < N; i++) row[i] = fillerLo + rng.int(V - fillerLo);
        const depth = 1 + rng.int(N - tail - needle - 1);
        row[depth] = 1;
        for (let i = 0; i < K; i++) row[depth + 1 + i] = key[i]!;
        row[N - tail] = 2;
        for (let i = 0; i < K; i++) row[N - K + i] = key[i]!;
        b.tokens.set(row, r * N);
        shiftTargets(b, r);
        for (let i = N - tail; i < N - 1; i++) {
          b.lossMask[r * N + i] = 1;
          b.evalMask[r * N + i] = 1;
        }
      }
      return b;
    },
  };
}

// ------------------------------------------------------------------------------ grammar

/**
 * A small probabilistic grammar with number agreement, as a word-level language for LM
 * studies (sinks, streaming):
 *   S -> NP_n VP_n '.'     NP_n -> Det_n (Adj) N_n (PP)     VP_n -> V_n (NP) (PP)    PP -> P NP
 * Token 0 is BOS; every row starts with BOS and continues with sentences.
 */
export const GRAMMAR_WORDS = [
  '<bos>', '.',
  'the', 'a', 'every', 'these', 'those', 'some',
  'big', 'small', 'red', 'old', 'happy', 'quiet',
  'cat', 'dog', 'bird', 'tree', 'house', 'girl', 'car', 'river',
  'cats', 'dogs', 'birds', 'trees', 'houses', 'girls', 'cars', 'rivers',
  'sees', 'likes', 'chases', 'finds', 'sleeps', 'runs',
  'see', 'like', 'chase', 'find', 'sleep', 'run',
  'in', 'on', 'near', 'with',
] as const;

const W = new Map<string, number>(GRAMMAR_WORDS.map((w, i) => [w, i]));
const id = (w: string): number => W.get(w)!;
const DET_SG = ['the', 'a', 'every', 'the'];
const DET_PL = ['the', 'these', 'those', 'some'];
const ADJ = ['big', 'small', 'red', 'old', 'happy', 'quiet'];
const N_SG = ['cat', 'dog', 'bird', 'tree', 'house', 'girl', 'car', 'river'];
const N_PL = ['cats', 'dogs', 'birds', 'trees', 'houses', 'girls', 'cars', 'rivers'];
const VT_SG = ['sees', 'likes', 'chases', 'finds'];
const VT_PL = ['see', 'like', 'chase', 'find'];
const VI_SG = ['sleeps', 'runs'];
const VI_PL = ['sleep', 'run'];
const PREP = ['in', 'on', 'near', 'with'];

function pickW(rng: Rng, xs: readonly string[]): number {
  return id(xs[rng.int(xs.length)]!);
}

function np(rng: Rng, plural: boolean, depth: number, out: number[]): void {
  out.push(pickW(rng, plural ? DET_PL : DET_SG));
  if (rng.uniform() < 0.4) out.push(pickW(rng, ADJ));
  out.push(pickW(rng, plural ? N_PL : N_SG));
  if (depth < 1 && rng.uniform() < 0.25) {
    out.push(pickW(rng, PREP));
    np(rng, rng.uniform() < 0.5, depth + 1, out);
  }
}

/** One sentence (word ids), ending with '.'. */
export function grammarSentence(rng: Rng): number[] {
  const out: number[] = [];
  const plural = rng.uniform() < 0.5;
  np(rng, plural, 0, out);
  if (rng.uniform() < 0.7) {
    out.push(pickW(rng, plural ? VT_PL : VT_SG));
    np(rng, rng.uniform() < 0.5, 0, out);
  } else {
    out.push(pickW(rng, plural ? VI_PL : VI_SG));
    if (rng.uniform() < 0.3) {
      out.push(pickW(rng, PREP));
      np(rng, rng.uniform() < 0.5, 1, out);
    }
  }
  out.push(id('.'));
  return out;
}

export interface GrammarOptions {
  seqLen?: number;
}

/** Language modelling on the synthetic grammar: every position after BOS trains and is scored. */
export function grammar(o: GrammarOptions = {}): Task {
  const N = o.seqLen ?? 64;
  return {
    name: 'grammar', vocabSize: GRAMMAR_WORDS.length, seqLen: N, params: { seqLen: N, words: GRAMMAR_WORDS.length },
    tokenName: (t) => GRAMMAR_WORDS[t] ?? `<${t}>`,
    sample(rng, B) {
      const b = emptyBatch(B, N);
      for (let r = 0; r < B; r++) {
        const row: number[] = [0];
        while (row.length < N) row.push(...grammarSentence(rng));
        b.tokens.set(row.slice(0, N), r * N);
        shiftTargets(b, r);
        for (let i = 0; i < N - 1; i++) {
          b.lossMask[r * N + i] = 1;
          b.evalMask[r * N + i] = 1;
        }
      }
      return b;
    },
  };
}

export const tasks = { induction, mqar, copy, passkey, grammar };
