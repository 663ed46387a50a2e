/**
 * A KV cache for decode with per-head eviction. Each key/value head keeps either every token
 * (policy null: retrieval heads) or `sinks` first tokens plus the `window` most recent ones
 * (StreamingLLM; DuoAttention's streaming heads). Heads therefore hold different numbers of
 * tokens; `attend` runs Nq queries (usually 1) against each head's own kept tokens.
 *
 * Storage follows the device of the first append. On the CPU: plain arrays and a float64 loop.
 * On WebGPU: one [1, 1, n, D] tensor pair per (batch, head) kept on the device, appended and
 * evicted with slice/concat, and attended with the flash kernel (queries aligned to the end of
 * the kept keys), so decoding never reads keys back. A query chunk longer than some head's window
 * (prefill into a streaming head) takes the float64 loop instead, with the same meaning.
 */
import { concat, keep, reshape, slice, tensor, TensorError, type Device, type Tensor } from '@attnlab/tensor';
import { attention } from './attention.js';
import { causal } from './mods/mods.js';
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
  /** Device mode: the kept keys and values, [1, 1, n, D]. */
  k?: Tensor;
  v?: Tensor;
}

export class KVCache {
  readonly B: number;
  readonly H: number;
  readonly D: number;
  private readonly policies: (EvictionPolicy | null)[];
  private readonly heads: HeadStore[];
  /** Tokens appended so far (the next token's position). */
  private total = 0;
  /** Where keys and values live: set by the first append. */
  private where: Device | null = null;

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

  /** The device holding keys and values (null before the first append). */
  get device(): Device | null {
    return this.where;
  }

  /** Frees device-held keys and values; the cache is empty afterwards. */
  dispose(): void {
    for (const s of this.heads) {
      s.k?.dispose();
      s.v?.dispose();
      delete s.k;
      delete s.v;
      s.n = 0;
    }
    this.total = 0;
    this.where = null;
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
    if (k.device !== v.device) throw new TensorError('KVCache.append', `k is on ${k.device.kind} but v on ${v.device.kind}`);
    if (this.where && k.device !== this.where) throw new TensorError('KVCache.append', `the cache lives on ${this.where.kind}; got keys on ${k.device.kind}`);
    this.where = k.device;
    if (k.device.kind !== 'cpu') return this.appendOnDevice(k, v);
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
        const runs = this.keptRuns(s, this.policies[h]!, this.total + n);
        if (runs) this.compact(s, runs, true);
      }
    }
    this.total += n;
  }

  private appendOnDevice(k: Tensor, v: Tensor): void {
    const { B, H, D } = this;
    const n = k.shape[2]!;
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const s = this.heads[b * H + h]!;
        const piece = (t: Tensor, old: Tensor | undefined): Tensor => {
          const p = slice(t, [b, h, 0, 0], [1, 1, n, D]);
          if (!old) return p;
          const joined = concat([old, p], 2);
          p.dispose();
          old.dispose();
          return joined;
        };
        let kk = piece(k, s.k);
        let vv = piece(v, s.v);
        this.grow(s, s.n + n, false);
        for (let i = 0; i < n; i++) s.pos[s.n + i] = this.total + i;
        s.n += n;
        const runs = this.keptRuns(s, this.policies[h]!, this.total + n);
        if (runs) {
          // The kept runs (sinks, then the recent window), sliced out and joined.
          const trim = (t: Tensor): Tensor => {
            const parts = runs.map(([from, to]) => slice(t, [0, 0, from, 0], [1, 1, to - from, D]));
            const out = parts.length === 1 ? parts[0]! : concat(parts, 2);
            for (const x of parts) if (x !== out) x.dispose();
            t.dispose();
            return out;
          };
          kk = trim(kk);
          vv = trim(vv);
          this.compact(s, runs, false);
        }
        s.k = keep(kk);
        s.v = keep(vv);
      }
    }
    this.total += n;
  }

  /** Room for `need` tokens: positions always, host keys and values when they live here. */
  private grow(s: HeadStore, need: number, values = true): void {
    if (need <= s.pos.length) return;
    let cap = s.pos.length;
    while (cap < need) cap *= 2;
    const pos = new Int32Array(cap);
    pos.set(s.pos.subarray(0, s.n));
    s.pos = pos;
    if (!values) return;
    const keys = new Float32Array(cap * this.D);
    keys.set(s.keys.subarray(0, s.n * this.D));
    const vals = new Float32Array(cap * this.D);
    vals.set(s.values.subarray(0, s.n * this.D));
    s.keys = keys;
    s.values = vals;
  }

  /**
   * The eviction rule, for both storages: the [from, to) runs of a head's tokens a policy keeps
   * (the first `sinks` positions and the last `window` of `total`), or null when all stay.
   */
  private keptRuns(s: HeadStore, p: EvictionPolicy | null, total: number): [number, number][] | null {
    if (!p) return null;
    const runs: [number, number][] = [];
    for (let i = 0; i < s.n; i++) {
      const t = s.pos[i]!;
      if (!(t < p.sinks || t >= total - p.window)) continue;
      const last = runs[runs.length - 1];
      if (last && last[1] === i) last[1] = i + 1;
      else runs.push([i, i + 1]);
    }
    return runs.length === 1 && runs[0]![0] === 0 && runs[0]![1] === s.n ? null : runs;
  }

  /** Moves the kept runs' positions (and host keys and values) to the front. */
  private compact(s: HeadStore, runs: [number, number][], values: boolean): void {
    const D = this.D;
    let w = 0;
    for (const [from, to] of runs) {
      if (w !== from) {
        s.pos.copyWithin(w, from, to);
        if (values) {
          s.keys.copyWithin(w * D, from * D, to * D);
          s.values.copyWithin(w * D, from * D, to * D);
        }
      }
      w += to - from;
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
    if (this.where && this.where.kind !== 'cpu') {
      if (q.device !== this.where) throw new TensorError('KVCache.attend', `q is on ${q.device.kind}, the cache on ${this.where.kind}`);
      if (this.aligned(Nq)) return this.attendOnDevice(q, scale);
    }
    // The float64 loop: every CPU call, and device calls whose query chunk is longer than some
    // head's window (its queries then see only what that head still holds).
    const heads = await Promise.all(this.heads.map(async (s) => (s.k && s.v ? { ...s, keys: await hostArray(s.k, 'KVCache.attend'), values: await hostArray(s.v, 'KVCache.attend') } : s)));
    const qa = await hostArray(q, 'KVCache.attend');
    const out = new Float32Array(B * Hq * Nq * D);
    const lse = new Float32Array(B * Hq * Nq);
    const G = Hq / H;
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < Hq; h++) {
        const s = heads[b * H + Math.floor(h / G)]!;
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

  /** Whether every head still holds the last Nq tokens, so causal flash with end-aligned queries is exact. */
  private aligned(Nq: number): boolean {
    return this.heads.every((s) => s.n >= Nq && s.pos[s.n - Nq] === this.total - Nq);
  }

  /** Device mode: per (batch, kv head) flash attention of its query heads against the kept keys, queries aligned to the end. */
  private async attendOnDevice(q: Tensor, scale: number): Promise<{ out: Tensor; lse: Tensor }> {
    const { B, H, D } = this;
    const Hq = q.shape[1]!;
    const Nq = q.shape[2]!;
    const G = Hq / H;
    const outs: Tensor[] = [];
    const lses: Tensor[] = [];
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const s = this.heads[b * H + h]!;
        const qh = slice(q, [b, h * G, 0, 0], [1, G, Nq, D]);
        const r = await attention(qh, s.k!, s.v!, { scale, mask: causal() });
        qh.dispose();
        outs.push(r.out);
        lses.push(r.lse);
      }
    }
    const join = (parts: Tensor[], shape: number[]): Tensor => {
      const all = parts.length === 1 ? parts[0]! : concat(parts, 1);
      if (all !== parts[0]) for (const p of parts) p.dispose();
      const shaped = reshape(all, shape);
      if (shaped !== all) all.dispose();
      return shaped;
    };
    return { out: join(outs, [B, Hq, Nq, D]), lse: join(lses, [B, Hq, Nq]) };
  }
}
