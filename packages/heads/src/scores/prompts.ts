/**
 * Prompts a head score or sweep runs on: token rows plus, optionally, the next-token targets and
 * the query positions that count (a task batch's evalMask). Accepts a task `Batch`, plain rows of
 * token ids, or this normalised form.
 */
import type { Batch } from '@attnlab/models';
import { HeadsError } from '../errors.js';

export interface Prompts {
  batchSize: number;
  seqLen: number;
  /** [batchSize * seqLen] token ids. */
  tokens: Int32Array;
  /** targets[i] = the token position i must predict (default: the next token in the row). */
  targets?: Int32Array;
  /** Nonzero where a query position counts (default: every position). */
  positions?: ArrayLike<number>;
}

export type PromptInput = Prompts | Batch | readonly (readonly number[])[];

export function toPrompts(input: PromptInput, who: string): Prompts {
  if (Array.isArray(input)) {
    const rows = input as readonly (readonly number[])[];
    if (!rows.length) throw new HeadsError(who, 'prompts: no rows');
    const N = rows[0]!.length;
    if (!N) throw new HeadsError(who, 'prompts: empty row 0');
    const tokens = new Int32Array(rows.length * N);
    rows.forEach((r, b) => {
      if (!Array.isArray(r) || r.length !== N) throw new HeadsError(who, `prompts: row ${b} has ${Array.isArray(r) ? r.length : 'no'} tokens, row 0 has ${N}`);
      r.forEach((t, i) => {
        if (!Number.isInteger(t) || t < 0) throw new HeadsError(who, `prompts: row ${b} position ${i} is ${t}, not a token id`);
        tokens[b * N + i] = t;
      });
    });
    return { batchSize: rows.length, seqLen: N, tokens };
  }
  const p = input as Partial<Prompts & Batch>;
  if (!p || !(p.tokens instanceof Int32Array) || !Number.isInteger(p.batchSize) || !Number.isInteger(p.seqLen)) {
    throw new HeadsError(who, 'prompts must be a task Batch, rows of token ids, or { batchSize, seqLen, tokens: Int32Array }');
  }
  const n = p.batchSize! * p.seqLen!;
  if (p.tokens.length !== n) throw new HeadsError(who, `prompts: tokens has ${p.tokens.length} entries, batchSize x seqLen = ${n}`);
  if (p.targets && p.targets.length !== n) throw new HeadsError(who, `prompts: targets has ${p.targets.length} entries, expected ${n}`);
  const positions = p.positions ?? p.evalMask;
  if (positions && positions.length !== n) throw new HeadsError(who, `prompts: positions has ${positions.length} entries, expected ${n}`);
  return { batchSize: p.batchSize!, seqLen: p.seqLen!, tokens: p.tokens, ...(p.targets ? { targets: p.targets } : {}), ...(positions ? { positions } : {}) };
}

/** The token position (b, q) must predict, or -1 when there is none (last position, no targets). */
export function targetAt(p: Prompts, b: number, q: number): number {
  if (p.targets) return p.targets[b * p.seqLen + q]!;
  return q + 1 < p.seqLen ? p.tokens[b * p.seqLen + q + 1]! : -1;
}

export function counts(p: Prompts, b: number, q: number): boolean {
  return !p.positions || p.positions[b * p.seqLen + q] !== 0;
}
