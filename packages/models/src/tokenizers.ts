import { show } from './config.js';
import { ModelError } from './errors.js';
import { parseStrictJson } from './strict-json.js';

export interface Tokenizer {
  readonly vocabSize: number;
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  /** Display string of one token id. */
  idToToken(id: number): string;
}

/** One token per character (code point) of a fixed alphabet. */
export class CharTokenizer implements Tokenizer {
  private readonly index: Map<string, number>;
  constructor(readonly chars: readonly string[]) {
    this.index = new Map(chars.map((c, i) => [c, i]));
    if (this.index.size !== chars.length) throw new ModelError('CharTokenizer', 'alphabet has repeated characters');
  }
  /** The sorted set of characters in `text`. */
  static fromText(text: string): CharTokenizer {
    return new CharTokenizer([...new Set([...text])].sort());
  }
  get vocabSize(): number {
    return this.chars.length;
  }
  encode(text: string): number[] {
    return [...text].map((c, i) => {
      const id = this.index.get(c);
      if (id === undefined) throw new ModelError('CharTokenizer', `character ${JSON.stringify(c)} at ${i} is not in the alphabet`);
      return id;
    });
  }
  decode(ids: readonly number[]): string {
    return ids.map((id) => this.idToToken(id)).join('');
  }
  idToToken(id: number): string {
    const c = this.chars[id];
    if (c === undefined) throw new ModelError('CharTokenizer', `id ${id} is out of range (${this.chars.length} characters)`);
    return c;
  }
}

/** UTF-8 bytes as tokens 0..255. */
export class ByteTokenizer implements Tokenizer {
  readonly vocabSize = 256;
  encode(text: string): number[] {
    return [...new TextEncoder().encode(text)];
  }
  decode(ids: readonly number[]): string {
    for (const id of ids) if (!(id >= 0 && id < 256 && Number.isInteger(id))) throw new ModelError('ByteTokenizer', `id ${id} is not a byte`);
    return new TextDecoder().decode(Uint8Array.from(ids));
  }
  idToToken(id: number): string {
    if (!(Number.isInteger(id) && id >= 0 && id < 256)) throw new ModelError('ByteTokenizer', `id ${id} is not a byte`);
    return id >= 32 && id < 127 ? String.fromCharCode(id) : `<0x${id.toString(16).padStart(2, '0')}>`;
  }
}

/** GPT-2's reversible byte -> printable unicode map. */
function bytesToUnicode(): Map<number, string> {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  return new Map(bs.map((b, i) => [b, String.fromCodePoint(cs[i]!)]));
}

const B2U = bytesToUnicode();
const U2B = new Map([...B2U].map(([b, u]) => [u, b]));
/** GPT-2's pre-tokenizer pattern. */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

function preTokenize(text: string): string[] {
  const words = text.match(new RegExp(GPT2_PATTERN.source, 'gu')) ?? [];
  const enc = new TextEncoder();
  return words.map((w) => [...enc.encode(w)].map((b) => B2U.get(b)!).join(''));
}

export interface TokenizerJson {
  model: { type?: string; vocab: Record<string, number>; merges: (string | [string, string])[] };
  added_tokens?: { id: number; content: string; special?: boolean }[];
}

function fail(msg: string): never {
  throw new ModelError('BPETokenizer', msg);
}

/** Read JSON text strictly (repeated keys are errors, objects have no inherited names). */
function parseJson(text: unknown, what: string): unknown {
  if (typeof text !== 'string') return text;
  try {
    return parseStrictJson(text);
  } catch (e) {
    return fail(`${what} is not valid JSON (${(e as Error).message})`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** token -> id entries of a vocab given as a Map or a JSON object; ids are checked later. */
function entriesOf(v: unknown, what: string): [string, unknown][] {
  if (v instanceof Map) return [...(v as Map<unknown, unknown>)].map(([k, id]) => [typeof k === 'string' ? k : fail(`${what} has a non-string token ${show(k)}`), id]);
  if (!isObject(v)) fail(`${what} must map tokens to ids, got ${show(v)}`);
  return Object.entries(v);
}

/**
 * GPT-2 byte-level BPE from a vocab + merges (vocab.json/merges.txt or tokenizer.json).
 * Lookups use Maps, so tokens such as `constructor` or `__proto__` are ordinary tokens. Ids must
 * be non-negative integers, each used once, together numbering 0..N-1; every merge joins two
 * vocabulary symbols into a third (as HF tokenizers requires).
 */
export class BPETokenizer implements Tokenizer {
  readonly merges: readonly [string, string][];
  private readonly ranks = new Map<string, number>();
  private readonly tokenToId = new Map<string, number>();
  private readonly specialToId = new Map<string, number>();
  private readonly idToTok: string[];
  private readonly specialIds = new Set<number>();
  private readonly cache = new Map<string, number[]>();
  private readonly specialRe: RegExp | null;

  constructor(vocab: Readonly<Record<string, number>> | ReadonlyMap<string, number>, merges: readonly (readonly [string, string])[], special: Readonly<Record<string, number>> | ReadonlyMap<string, number> = {}) {
    const byId = new Map<number, string>();
    const take = (tok: string, id: unknown, what: string): number => {
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) fail(`${what} ${JSON.stringify(tok)} has id ${show(id)}; ids must be non-negative integers`);
      const other = byId.get(id);
      if (other !== undefined && other !== tok) fail(`id ${id} is used by both ${JSON.stringify(other)} and ${JSON.stringify(tok)}`);
      byId.set(id, tok);
      return id;
    };
    for (const [tok, id] of entriesOf(vocab, 'the vocabulary')) this.tokenToId.set(tok, take(tok, id, 'token'));
    for (const [tok, id] of entriesOf(special, 'the special tokens')) {
      const inVocab = this.tokenToId.get(tok);
      if (inVocab !== undefined && inVocab !== id) fail(`special token ${JSON.stringify(tok)} has id ${show(id)} but the vocabulary gives it ${inVocab}`);
      if (inVocab === undefined) this.specialToId.set(tok, take(tok, id, 'special token'));
    }
    const n = byId.size;
    this.idToTok = new Array<string>(n);
    for (const [id, tok] of byId) {
      if (id >= n) fail(`token ${JSON.stringify(tok)} has id ${id}, out of range: ${n} tokens take ids 0..${n - 1}`);
      this.idToTok[id] = tok;
    }
    for (const id of this.specialToId.values()) this.specialIds.add(id);
    if (!Array.isArray(merges)) fail(`merges must be a list of symbol pairs, got ${show(merges)}`);
    const pairs: [string, string][] = new Array(merges.length);
    const known = this.tokenToId;
    for (let i = 0; i < merges.length; i++) {
      const m = merges[i];
      if (!Array.isArray(m) || m.length !== 2 || typeof m[0] !== 'string' || typeof m[1] !== 'string' || !m[0] || !m[1]) fail(`merge ${i + 1} ${show(m)} is not two symbols`);
      const a: string = m[0];
      const b: string = m[1];
      if (!known.has(a) || !known.has(b) || !known.has(a + b)) {
        const missing = [a, b, a + b].find((x) => !known.has(x))!;
        fail(`merge ${i + 1} "${a} ${b}" uses ${JSON.stringify(missing)}, which is not in the vocabulary`);
      }
      const key = `${a} ${b}`;
      // A repeated merge keeps its first (highest) rank.
      if (!this.ranks.has(key)) this.ranks.set(key, i);
      pairs[i] = [a, b];
    }
    this.merges = pairs;
    const sp = [...this.specialToId.keys()].sort((a, b) => b.length - a.length);
    this.specialRe = sp.length ? new RegExp(`(${sp.map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`) : null;
  }

  /** token -> id (a null-prototype object: no inherited names), built when first asked for. */
  get vocab(): Readonly<Record<string, number>> {
    return (this.vocabRecord ??= Object.assign(Object.create(null) as Record<string, number>, Object.fromEntries(this.tokenToId)));
  }

  /** Added special tokens -> id, as `vocab`. */
  get special(): Readonly<Record<string, number>> {
    return (this.specialRecord ??= Object.assign(Object.create(null) as Record<string, number>, Object.fromEntries(this.specialToId)));
  }

  private vocabRecord: Record<string, number> | undefined;
  private specialRecord: Record<string, number> | undefined;

  /** From the contents of vocab.json (text or object) and merges.txt. */
  static fromFiles(vocabJson: string | Record<string, number>, mergesTxt: string): BPETokenizer {
    const vocab = parseJson(vocabJson, 'vocab.json');
    if (typeof mergesTxt !== 'string') fail(`merges.txt must be text, got ${show(mergesTxt)}`);
    const merges = mergesTxt.split(/\r?\n/).filter((l) => l.trim() && !l.startsWith('#version')).map((l, i) => {
      const parts = l.split(' ');
      if (parts.length !== 2 || !parts[0] || !parts[1]) fail(`merges line ${i + 1} ${JSON.stringify(l)} is not two symbols`);
      return parts as [string, string];
    });
    return new BPETokenizer(vocab as Record<string, number>, merges);
  }

  /** From a HF tokenizer.json (model.type BPE); added special tokens are matched literally. */
  static fromTokenizerJson(json: string | TokenizerJson): BPETokenizer {
    const j = parseJson(json, 'tokenizer.json');
    if (!isObject(j)) return fail(`tokenizer.json must be a JSON object, got ${show(j)}`);
    const model = j['model'];
    if (!isObject(model)) return fail(`tokenizer.json has no model object (got ${show(model)})`);
    if (model['type'] !== undefined && model['type'] !== 'BPE') fail(`tokenizer.json model type ${show(model['type'])} is not BPE`);
    const vocab = model['vocab'];
    if (!isObject(vocab)) fail(`tokenizer.json model.vocab must map tokens to ids, got ${show(vocab)}`);
    const rawMerges = model['merges'];
    if (!Array.isArray(rawMerges)) return fail(`tokenizer.json model.merges must be a list, got ${show(rawMerges)}`);
    const merges = rawMerges.map((m: unknown, i) => {
      if (typeof m !== 'string') return m as [string, string];
      const parts = m.split(' ');
      if (parts.length !== 2) fail(`tokenizer.json merge ${i + 1} ${JSON.stringify(m)} is not two symbols`);
      return parts as [string, string];
    });
    const added = j['added_tokens'] ?? [];
    if (!Array.isArray(added)) fail(`tokenizer.json added_tokens must be a list, got ${show(added)}`);
    const special = new Map<string, number>();
    added.forEach((t: unknown, i) => {
      if (!isObject(t) || typeof t['content'] !== 'string' || !t['content']) fail(`tokenizer.json added_tokens[${i}] must have a non-empty string content, got ${show(t)}`);
      if (special.has(t['content'] as string)) fail(`tokenizer.json added token ${JSON.stringify(t['content'])} appears twice`);
      special.set(t['content'] as string, t['id'] as number);
    });
    return new BPETokenizer(vocab as Record<string, number>, merges, special as ReadonlyMap<string, number>);
  }

  toTokenizerJson(): TokenizerJson {
    return {
      model: { type: 'BPE', vocab: Object.fromEntries(this.tokenToId), merges: this.merges.map(([a, b]) => `${a} ${b}`) },
      added_tokens: [...this.specialToId].map(([content, id]) => ({ id, content, special: true })),
    };
  }

  toFiles(): { vocabJson: string; mergesTxt: string } {
    return { vocabJson: JSON.stringify(Object.fromEntries(this.tokenToId)), mergesTxt: '#version: 0.2\n' + this.merges.map(([a, b]) => `${a} ${b}`).join('\n') + '\n' };
  }

  get vocabSize(): number {
    return this.idToTok.length;
  }

  private bpe(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    let syms = [...word];
    while (syms.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < syms.length - 1; i++) {
        const r = this.ranks.get(`${syms[i]} ${syms[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const a = syms[best]!;
      const b = syms[best + 1]!;
      const next: string[] = [];
      for (let i = 0; i < syms.length; i++) {
        if (i < syms.length - 1 && syms[i] === a && syms[i + 1] === b) {
          next.push(a + b);
          i++;
        } else next.push(syms[i]!);
      }
      syms = next;
    }
    const ids = syms.map((s) => {
      const id = this.tokenToId.get(s);
      if (id === undefined) fail(`symbol ${JSON.stringify(s)} is not in the vocabulary`);
      return id;
    });
    this.cache.set(word, ids);
    return ids;
  }

  encode(text: string): number[] {
    if (typeof text !== 'string') fail(`encode needs a string, got ${show(text)}`);
    const out: number[] = [];
    const pieces = this.specialRe ? text.split(this.specialRe) : [text];
    for (const piece of pieces) {
      if (!piece) continue;
      const sp = this.specialToId.get(piece);
      if (sp !== undefined) {
        out.push(sp);
        continue;
      }
      for (const w of preTokenize(piece)) out.push(...this.bpe(w));
    }
    return out;
  }

  decode(ids: readonly number[]): string {
    if (!Array.isArray(ids) && !ArrayBuffer.isView(ids)) fail(`decode needs a list of ids, got ${show(ids)}`);
    const bytes: number[] = [];
    let text = '';
    const flush = (): void => {
      text += new TextDecoder().decode(Uint8Array.from(bytes));
      bytes.length = 0;
    };
    for (const id of ids) {
      const tok = this.idToToken(id);
      if (this.specialIds.has(id)) {
        flush();
        text += tok;
        continue;
      }
      for (const ch of tok) {
        const b = U2B.get(ch);
        if (b === undefined) fail(`token ${id} holds ${JSON.stringify(ch)}, not a byte-level symbol`);
        bytes.push(b);
      }
    }
    flush();
    return text;
  }

  idToToken(id: number): string {
    const t = Number.isSafeInteger(id) && id >= 0 ? this.idToTok[id] : undefined;
    if (t === undefined) fail(`id ${show(id)} is not in the vocabulary (ids 0..${this.idToTok.length - 1})`);
    return t;
  }
}

/**
 * Learn a byte-level BPE on `text` (GPT-2 pre-tokenization): the 256 byte symbols, then
 * `numMerges` most-frequent-pair merges (ties broken by the pair's text). Small and exact,
 * for tests and toy corpora.
 */
export function trainBPE(text: string, numMerges: number, special: readonly string[] = []): BPETokenizer {
  const counts = new Map<string, number>();
  for (const w of preTokenize(text)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const words = [...counts].map(([w, c]) => ({ syms: [...w], c }));
  const vocab = new Map<string, number>();
  [...B2U.values()].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!).forEach((u, i) => vocab.set(u, i));
  const merges: [string, string][] = [];
  for (let m = 0; m < numMerges; m++) {
    const pairs = new Map<string, number>();
    for (const { syms, c } of words) for (let i = 0; i < syms.length - 1; i++) {
      const k = `${syms[i]} ${syms[i + 1]}`;
      pairs.set(k, (pairs.get(k) ?? 0) + c);
    }
    let best: string | null = null;
    let bestC = 0;
    for (const [k, c] of pairs) if (c > bestC || (c === bestC && best !== null && k < best)) {
      best = k;
      bestC = c;
    }
    if (!best || bestC < 2) break;
    const [a, b] = best.split(' ') as [string, string];
    merges.push([a, b]);
    if (!vocab.has(a + b)) vocab.set(a + b, vocab.size);
    for (const w of words) {
      const next: string[] = [];
      for (let i = 0; i < w.syms.length; i++) {
        if (i < w.syms.length - 1 && w.syms[i] === a && w.syms[i + 1] === b) {
          next.push(a + b);
          i++;
        } else next.push(w.syms[i]!);
      }
      w.syms = next;
    }
  }
  const sp = new Map<string, number>();
  for (const s of special) if (!sp.has(s) && !vocab.has(s)) sp.set(s, vocab.size + sp.size);
  return new BPETokenizer(vocab, merges, sp);
}
