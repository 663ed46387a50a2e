import { ModelError } from './errors.js';

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

/** GPT-2 byte-level BPE from a vocab + merges (vocab.json/merges.txt or tokenizer.json). */
export class BPETokenizer implements Tokenizer {
  private readonly ranks = new Map<string, number>();
  private readonly idToTok: string[] = [];
  private readonly cache = new Map<string, number[]>();
  private readonly specialRe: RegExp | null;

  constructor(readonly vocab: Readonly<Record<string, number>>, readonly merges: readonly [string, string][], readonly special: Readonly<Record<string, number>> = {}) {
    merges.forEach(([a, b], i) => this.ranks.set(`${a} ${b}`, i));
    for (const [tok, id] of [...Object.entries(vocab), ...Object.entries(special)]) this.idToTok[id] = tok;
    const sp = Object.keys(special).sort((a, b) => b.length - a.length);
    this.specialRe = sp.length ? new RegExp(`(${sp.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`) : null;
  }

  /** From the contents of vocab.json (text or object) and merges.txt. */
  static fromFiles(vocabJson: string | Record<string, number>, mergesTxt: string): BPETokenizer {
    let vocab: Record<string, number>;
    try {
      vocab = typeof vocabJson === 'string' ? (JSON.parse(vocabJson) as Record<string, number>) : vocabJson;
    } catch (e) {
      throw new ModelError('BPETokenizer', `vocab.json is not valid JSON (${(e as Error).message})`);
    }
    const merges = mergesTxt.split('\n').filter((l) => l.trim() && !l.startsWith('#version')).map((l, i) => {
      const parts = l.split(' ');
      if (parts.length !== 2) throw new ModelError('BPETokenizer', `merges line ${i + 1} ${JSON.stringify(l)} is not two symbols`);
      return parts as [string, string];
    });
    return new BPETokenizer(vocab, merges);
  }

  /** From a HF tokenizer.json (model.type BPE); added special tokens are matched literally. */
  static fromTokenizerJson(json: string | TokenizerJson): BPETokenizer {
    const j = typeof json === 'string' ? (JSON.parse(json) as TokenizerJson) : json;
    if (!j.model || (j.model.type !== undefined && j.model.type !== 'BPE')) throw new ModelError('BPETokenizer', `tokenizer.json model type '${j.model?.type}' is not BPE`);
    const merges = j.model.merges.map((m) => (typeof m === 'string' ? (m.split(' ') as [string, string]) : m));
    const special: Record<string, number> = {};
    for (const t of j.added_tokens ?? []) if (!(t.content in j.model.vocab)) special[t.content] = t.id;
    return new BPETokenizer(j.model.vocab, merges, special);
  }

  toTokenizerJson(): TokenizerJson {
    return {
      model: { type: 'BPE', vocab: { ...this.vocab }, merges: this.merges.map(([a, b]) => `${a} ${b}`) },
      added_tokens: Object.entries(this.special).map(([content, id]) => ({ id, content, special: true })),
    };
  }

  toFiles(): { vocabJson: string; mergesTxt: string } {
    return { vocabJson: JSON.stringify(this.vocab), mergesTxt: '#version: 0.2\n' + this.merges.map(([a, b]) => `${a} ${b}`).join('\n') + '\n' };
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
      const id = this.vocab[s];
      if (id === undefined) throw new ModelError('BPETokenizer', `symbol ${JSON.stringify(s)} is not in the vocabulary`);
      return id;
    });
    this.cache.set(word, ids);
    return ids;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    const pieces = this.specialRe ? text.split(this.specialRe) : [text];
    for (const piece of pieces) {
      if (!piece) continue;
      const sp = this.special[piece];
      if (sp !== undefined && this.specialRe) {
        out.push(sp);
        continue;
      }
      for (const w of preTokenize(piece)) out.push(...this.bpe(w));
    }
    return out;
  }

  decode(ids: readonly number[]): string {
    const bytes: number[] = [];
    let text = '';
    const flush = (): void => {
      text += new TextDecoder().decode(Uint8Array.from(bytes));
      bytes.length = 0;
    };
    for (const id of ids) {
      const tok = this.idToToken(id);
      if (tok in this.special) {
        flush();
        text += tok;
        continue;
      }
      for (const ch of tok) {
        const b = U2B.get(ch);
        if (b === undefined) throw new ModelError('BPETokenizer', `token ${id} holds ${JSON.stringify(ch)}, not a byte-level symbol`);
        bytes.push(b);
      }
    }
    flush();
    return text;
  }

  idToToken(id: number): string {
    const t = this.idToTok[id];
    if (t === undefined) throw new ModelError('BPETokenizer', `id ${id} is not in the vocabulary`);
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
  const vocab: Record<string, number> = {};
  [...B2U.values()].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!).forEach((u, i) => (vocab[u] = i));
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
    if (!(a + b in vocab)) vocab[a + b] = Object.keys(vocab).length;
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
  const sp: Record<string, number> = {};
  let id = Object.keys(vocab).length;
  for (const s of special) sp[s] = id++;
  return new BPETokenizer(vocab, merges, sp);
}
