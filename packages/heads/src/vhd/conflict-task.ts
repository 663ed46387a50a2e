/**
 * A context-vs-prior conflict task (F12.4). Every entity has a memorised attribute (the prior,
 * a fixed random map); a row states K facts "entity attribute" and then asks about one entity:
 *   BOS e1 a1 … eK aK QUERY e? → answer
 * The answer is the attribute the context states when the entity is in it (the context wins),
 * else the prior. Most stated facts agree with the prior and a minority conflict, so a trained
 * model leans on the prior and makes prior-driven errors on conflict prompts.
 * Token layout: entities [0, E), attributes [E, E + A), then BOS, QUERY, FILL, PAD (`firstSpecial`).
 */
import { Rng } from '@attnlab/tensor';
import type { Batch, Task } from '@attnlab/models';
import { HeadsError } from '../errors.js';

export interface ConflictTaskOptions {
  entities?: number;
  attributes?: number;
  /** Facts stated per row. */
  facts?: number;
  /** Row length (>= 2·facts + 3; the rest is PAD). */
  seqLen?: number;
  /** Vocabulary size of the model (>= the tokens this task uses). */
  vocabSize?: number;
  /** Seed of the prior (entity -> attribute map). */
  priorSeed?: number;
  /** Share of rows whose queried entity is stated with a conflicting attribute. */
  conflictRate?: number;
  /** Share of rows whose queried entity is not stated (the prior answers). */
  absentRate?: number;
  /** First of the four special tokens (default entities + attributes). */
  firstSpecial?: number;
}

export type ConflictKind = 'agree' | 'conflict' | 'absent';

export interface ConflictLayout {
  entities: number;
  attributes: number;
  facts: number;
  seqLen: number;
  vocabSize: number;
  bos: number;
  query: number;
  fill: number;
  pad: number;
  /** prior[e] = the attribute token of entity e. */
  prior: Int32Array;
  /** Position whose next token is the answer. */
  answerPos: number;
}

export interface ConflictPrompts extends Batch {
  kind: ConflictKind;
  /** Per row: the queried entity, the answer (context wins) and the prior attribute. */
  entity: Int32Array;
  answer: Int32Array;
  priorAnswer: Int32Array;
  /** The same rows with every fact replaced by FILL (positions kept). */
  nullContext: Batch;
  /**
   * The same rows with only the queried entity's fact (its two tokens) replaced by FILL: the
   * ∅-context run of VHD when "the context" is the statement that may contradict the prior
   * (absent rows have no such fact and are unchanged).
   */
  nullFact: Batch;
}

export function conflictLayout(o: ConflictTaskOptions = {}): ConflictLayout {
  const E = o.entities ?? 40;
  const A = o.attributes ?? 10;
  const K = o.facts ?? 5;
  const N = o.seqLen ?? 2 * K + 3;
  const s = o.firstSpecial ?? E + A;
  const V = o.vocabSize ?? s + 4;
  const who = 'conflictTask';
  for (const [k, v] of Object.entries({ entities: E, attributes: A, facts: K, seqLen: N, vocabSize: V, firstSpecial: s })) {
    if (!Number.isInteger(v) || v < 1) throw new HeadsError(who, `${k} must be a positive integer, got ${v}`);
  }
  if (A < 2) throw new HeadsError(who, `attributes must be >= 2 (a conflict needs another attribute), got ${A}`);
  if (K >= E) throw new HeadsError(who, `facts (${K}) must be fewer than entities (${E}): absent rows need an unstated entity`);
  if (N < 2 * K + 3) throw new HeadsError(who, `seqLen ${N} is too short for ${K} facts (needs >= ${2 * K + 3})`);
  if (s < E + A) throw new HeadsError(who, `firstSpecial ${s} overlaps entities/attributes (< ${E + A})`);
  if (V < s + 4) throw new HeadsError(who, `vocabSize ${V} < ${s + 4} (the task's tokens)`);
  const rng = new Rng(o.priorSeed ?? 1);
  const prior = Int32Array.from({ length: E }, () => E + rng.int(A));
  return { entities: E, attributes: A, facts: K, seqLen: N, vocabSize: V, bos: s, query: s + 1, fill: s + 2, pad: s + 3, prior, answerPos: 2 * K + 2 };
}

function rates(o: ConflictTaskOptions): { conflict: number; absent: number } {
  const conflict = o.conflictRate ?? 0.15;
  const absent = o.absentRate ?? 0.2;
  if (!(conflict >= 0 && absent >= 0 && conflict + absent <= 1)) throw new HeadsError('conflictTask', `conflictRate ${conflict} and absentRate ${absent} must be >= 0 with sum <= 1`);
  return { conflict, absent };
}

/** Writes one row at `r` of `out`; returns the entity, answer and prior. */
function writeRow(L: ConflictLayout, rng: Rng, kind: ConflictKind, out: Batch, r: number): [number, number, number] {
  const { entities: E, attributes: A, facts: K, seqLen: N } = L;
  const o = r * N;
  const ents: number[] = [];
  while (ents.length < K + 1) {
    const e = rng.int(E);
    if (!ents.includes(e)) ents.push(e);
  }
  // ents[0..K) are stated; the query is one of them, or ents[K] (unstated) for 'absent'.
  const slot = rng.int(K);
  const q = kind === 'absent' ? ents[K]! : ents[slot]!;
  const other = (e: number): number => E + ((L.prior[e]! - E + 1 + rng.int(A - 1)) % A);
  out.tokens[o] = L.bos;
  for (let i = 0; i < K; i++) {
    const e = ents[i]!;
    // Non-queried facts agree with the prior; the queried one conflicts only in 'conflict' rows.
    const a = kind === 'conflict' && i === slot ? other(e) : L.prior[e]!;
    out.tokens[o + 1 + 2 * i] = e;
    out.tokens[o + 2 + 2 * i] = a;
  }
  out.tokens[o + 2 * K + 1] = L.query;
  out.tokens[o + 2 * K + 2] = q;
  for (let i = 2 * K + 3; i < N; i++) out.tokens[o + i] = L.pad;
  const answer = kind === 'absent' ? L.prior[q]! : out.tokens[o + 2 + 2 * slot]!;
  for (let i = 0; i + 1 < N; i++) out.targets[o + i] = out.tokens[o + i + 1]!;
  out.targets[o + N - 1] = L.pad;
  out.targets[o + L.answerPos] = answer;
  // Loss: each stated attribute (teaches the prior) and the answer; evaluated: the answer only.
  for (let i = 0; i < K; i++) out.lossMask[o + 1 + 2 * i] = 1;
  out.lossMask[o + L.answerPos] = 1;
  out.evalMask[o + L.answerPos] = 1;
  return [q, answer, L.prior[q]!];
}

function emptyBatch(B: number, N: number): Batch {
  const n = B * N;
  return { batchSize: B, seqLen: N, tokens: new Int32Array(n), targets: new Int32Array(n), lossMask: new Float32Array(n), evalMask: new Float32Array(n) };
}

/** The training task: rows are agree / conflict / absent with the configured rates. */
export function conflictTask(o: ConflictTaskOptions = {}): Task & { layout: ConflictLayout } {
  const L = conflictLayout(o);
  const r = rates(o);
  return {
    name: 'context-conflict',
    vocabSize: L.vocabSize,
    seqLen: L.seqLen,
    layout: L,
    params: { entities: L.entities, attributes: L.attributes, facts: L.facts, seqLen: L.seqLen, vocabSize: L.vocabSize, priorSeed: o.priorSeed ?? 1, conflictRate: r.conflict, absentRate: r.absent, firstSpecial: L.bos },
    sample(rng: Rng, B: number): Batch {
      const out = emptyBatch(B, L.seqLen);
      for (let b = 0; b < B; b++) {
        const u = rng.uniform();
        writeRow(L, rng, u < r.conflict ? 'conflict' : u < r.conflict + r.absent ? 'absent' : 'agree', out, b);
      }
      return out;
    },
  };
}

/** `n` evaluation rows of one kind (seeded), with their ∅-context twins. */
export function conflictPrompts(o: ConflictTaskOptions, kind: ConflictKind, n: number, seed: number): ConflictPrompts {
  if (!['agree', 'conflict', 'absent'].includes(kind)) throw new HeadsError('conflictPrompts', `kind must be 'agree', 'conflict' or 'absent', got '${String(kind)}'`);
  if (!Number.isInteger(n) || n < 1) throw new HeadsError('conflictPrompts', `n must be a positive integer, got ${n}`);
  const L = conflictLayout(o);
  const rng = new Rng(seed);
  const out = emptyBatch(n, L.seqLen);
  const entity = new Int32Array(n);
  const answer = new Int32Array(n);
  const priorAnswer = new Int32Array(n);
  for (let b = 0; b < n; b++) [entity[b], answer[b], priorAnswer[b]] = writeRow(L, rng, kind, out, b);
  const nul: Batch = { ...out, tokens: Int32Array.from(out.tokens) };
  const fact: Batch = { ...out, tokens: Int32Array.from(out.tokens) };
  for (let b = 0; b < n; b++) {
    const o = b * L.seqLen;
    for (let i = 1; i <= 2 * L.facts; i++) nul.tokens[o + i] = L.fill;
    for (let i = 0; i < L.facts; i++) if (out.tokens[o + 1 + 2 * i] === entity[b]) fact.tokens[o + 1 + 2 * i] = fact.tokens[o + 2 + 2 * i] = L.fill;
  }
  return { ...out, kind, entity, answer, priorAnswer, nullContext: nul, nullFact: fact };
}
