/**
 * A KV cache for decode with per-head eviction. Each key/value head keeps either every token
 * (policy null: retrieval heads) or `sinks` first tokens plus the `window` most recent ones
 * (StreamingLLM; DuoAttention's streaming heads). Heads therefore hold different numbers of
 * tokens; `attend` runs Nq queries (usually 1) against each head's own kept tokens.
 */
import { tensor, TensorError, type Tensor } from '@attnlab/tensor';
import { hostArray } from './tensor-io.js';

export interface EvictionPolicy {
  /** First tokens always kept. */
  sinks: number;
  /** Most recent tokens kept. */
  window: number;
}

export interface KVCacheOptions {
  /** Batch size. */
  B: number;
  /** Key/value heads. */
  H: number;
  /** Head dim. */
  D: number;
  /** One policy for all heads, or one per head (null = keep everything). */
  policy?: EvictionPolicy | null | (EvictionPolicy | null)[];
}

interface HeadStore {
  keys: Float32Array;
  values: Float32Array;
  /** Original positions of the kept tokens, ascending. */
  pos: Int32Array;
  n: number;
}

export class KVCache {
  readonly B: number;
  readonly H: number;
  readonly D: number;
  private readonly policies: (EvictionPolicy | null)[];
  private readonly heads: HeadStore[];
  /** Tokens appended so far (the next token's position). */
  private total = 0;

  constructor(opts: KVCacheOptions) {
    const { B, H, D } = opts;
    for (const [n, x] of [['B', B], ['H', H], ['D', D]] as const) {
      if (!Number.isInteger(x) || x < 1) throw new TensorError('KVCache', `${n} must be a positive integer, got ${x}`);
    }
    this.B = B;
    this.H = H;
    this.D = D;
    const p = opts.policy ?? null;
    this.policies = Array.isArray(p) ? p : Array.from({ length: H }, () => p);
    if (this.policies.length !== H) throw new TensorError('KVCache', `got ${this.policies.length} head policies for ${H} heads`);
    for (const pol of this.policies) {
      if (pol && (!Number.isInteger(pol.sinks) || pol.sinks < 0 || !Number.isInteger(pol.window) || pol.window < 1)) {
        throw new TensorError('KVCache', `policy needs integer sinks >= 0 and window >= 1, got ${JSON.stringify(pol)}`);
      }
    }
    this.heads = Array.from({ length: B * H }, () => ({ keys: new Float32Array(16 * D), values: new Float32Array(16 * D), pos: new Int32Array(16), n: 0 }));
  }

  /** Tokens seen so far. */
  get length(): number {
    return this.total;
  }

  /** Tokens kept for (b, h). */
  kept(h: number, b = 0): number {
    return this.heads[b * this.H + h]!.n;
  }

  /** Positions kept for (b, h). */
  positions(h: number, b = 0): Int32Array {
    const s = this.heads[b * this.H + h]!;
    return s.pos.slice(0, s.n);
  }

  /** Bytes held by keys and values. */
  bytes(): number {
    return this.heads.reduce((a, s) => a + s.n * this.D * 2 * 4, 0);
  }

  /** Append k, v [B, H, n, D]; then evict per head. */
  async append(k: Tensor, v: Tensor): Promise<void> {
    const { B, H, D } = this;
    for (const [name, t] of [['k', k], ['v', v]] as const) {
      if (t.rank !== 4 || t.shape[0] !== B || t.shape[1] !== H || t.shape[3] !== D) {
        throw new TensorError('KVCache.append', `${name} must be [${B}, ${H}, n, ${D}], got [${t.shape.join(', ')}]`);
      }
    }
    if (k.shape[2] !== v.shape[2]) throw new TensorError('KVCache.append', `k has ${k.shape[2]} tokens but v has ${v.shape[2]}`);
    const n = k.shape[2]!;
    const [ka, va] = await Promise.all([hostArray(k, 'KVCache.append'), hostArray(v, 'KVCache.append')]);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const s = this.heads[b * H + h]!;
        this.grow(s, s.n + n);
        const src = ((b * H + h) * n) * D;
        s.keys.set(ka.subarray(src, src + n * D), s.n * D);
        s.values.set(va.subarray(src, src + n * D), s.n * D);
        for (let i = 0; i < n; i++) s.pos[s.n + i] = this.total + i;
        s.n += n;
        this.evict(s, this.policies[h]!, this.total + n);
      }
    }
    this.total += n;
  }

  private grow(s: HeadStore, need: number): void {
    if (need <= s.pos.length) return;
    let cap = s.pos.length;
    while (cap < need) cap *= 2;
    const keys = new Float32Array(cap * this.D);
    keys.set(s.keys.subarray(0, s.n * this.D));
    const values = new Float32Array(cap * this.D);
    values.set(s.values.subarray(0, s.n * this.D));
    const pos = new Int32Array(cap);
    pos.set(s.pos.subarray(0, s.n));
    s.keys = keys;
    s.values = values;
    s.pos = pos;
  }

  private evict(s: HeadStore, p: EvictionPolicy | null, total: number): void {
    if (!p) return;
    const D = this.D;
    let w = 0;
    for (let i = 0; i < s.n; i++) {
      const t = s.pos[i]!;
      if (t < p.sinks || t >= total - p.window) {
        if (w !== i) {
          s.keys.copyWithin(w * D, i * D, (i + 1) * D);
          s.values.copyWithin(w * D, i * D, (i + 1) * D);
          s.pos[w] = t;
        }
        w++;
      }
    }
    s.n = w;
  }

  /**
   * Attention of q [B, Hq, Nq, D] (Hq a multiple of H) against the kept tokens. Query row i
   * sits at position length - Nq + i and sees kept tokens up to its position (causal).
   * Returns out [B, Hq, Nq, D] and lse [B, Hq, Nq] on q's device.
   */
  async attend(q: Tensor, opts: { scale?: number } = {}): Promise<{ out: Tensor; lse: Tensor }> {
    const { B, H, D } = this;
    if (q.rank !== 4 || q.shape[0] !== B || q.shape[3] !== D) throw new TensorError('KVCache.attend', `q must be [${B}, Hq, Nq, ${D}], got [${q.shape.join(', ')}]`);
    const Hq = q.shape[1]!;
    const Nq = q.shape[2]!;
    if (Hq % H !== 0) throw new TensorError('KVCache.attend', `query heads (${Hq}) must be a multiple of cache heads (${H})`);
    if (this.total === 0) throw new TensorError('KVCache.attend', 'the cache is empty; append keys and values first');
    const scale = opts.scale ?? 1 / Math.sqrt(D);
    if (!Number.isFinite(scale)) throw new TensorError('KVCache.attend', `scale must be finite, got ${scale}`);
    const qa = await hostArray(q, 'KVCache.attend');
    const out = new Float32Array(B * Hq * Nq * D);
    const lse = new Float32Array(B * Hq * Nq);
    const G = Hq / H;
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < Hq; h++) {
        const s = this.heads[b * H + Math.floor(h / G)]!;
        for (let i = 0; i < Nq; i++) {
          const r = (b * Hq + h) * Nq + i;
          const qpos = this.total - Nq + i;
          let m = -Infinity;
          const sc = new Float64Array(s.n);
          for (let j = 0; j < s.n; j++) {
            if (s.pos[j]! > qpos) {
              sc[j] = -Infinity;
              continue;
            }
            let dot = 0;
            for (let d = 0; d < D; d++) dot += qa[r * D + d]! * s.keys[j * D + d]!;
            sc[j] = dot * scale;
            if (sc[j]! > m) m = sc[j]!;
          }
          if (m === -Infinity) {
            lse[r] = -Infinity;
            continue;
          }
          let l = 0;
          const acc = new Float64Array(D);
          for (let j = 0; j < s.n; j++) {
            if (sc[j] === -Infinity) continue;
            const p = Math.exp(sc[j]! - m);
            l += p;
            for (let d = 0; d < D; d++) acc[d]! += p * s.values[j * D + d]!;
          }
          for (let d = 0; d < D; d++) out[r * D + d] = acc[d]! / l;
          lse[r] = m + Math.log(l);
        }
      }
    }
    return { out: tensor(out, [B, Hq, Nq, D], { device: q.device }), lse: tensor(lse, [B, Hq, Nq], { device: q.device }) };
  }
}
