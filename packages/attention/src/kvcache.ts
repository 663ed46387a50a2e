/**
 * A KV cache for decode with per-(layer, head) eviction policies (kv-policy.ts): keep every token,
 * sinks + recent window, or any object with `select` (and optionally `visible`, `observe`), so
 * score-based eviction such as H2O is a plugin. Heads therefore hold different numbers of tokens;
 * `attend` runs Nq queries against each head's own held tokens.
 *
 * Positions: 'absolute' (default) stores keys as given (a model rotates them at their original
 * positions); 'cache' stores keys before rotation and `attend` rotates queries and keys at their
 * index inside the cache (StreamingLLM's re-indexing), which needs `rotary` at attend.
 *
 * Storage follows the device of the first append. On the CPU: plain arrays and a float64 loop.
 * On WebGPU: one [1, 1, n, D] tensor pair per (layer, batch, head) kept on the device, appended
 * and evicted with slice/concat, and attended with the flash kernel (queries aligned to the end of
 * the kept keys), so decoding never reads keys back. Calls the flash path cannot express (a chunk
 * whose queries see different token sets, a user mask, cache positions, an observing policy)
 * take the float64 loop instead, with the same meaning.
 *
 * Recurrent state: a stateful variant's state (e.g. linear attention's S) lives in the same cache,
 * one tensor per (layer, head slice) (`state` / `setState`), so `dispose()` frees it and `bytes()`
 * counts it with the keys and values.
 */
import { concat, keep, reshape, slice, tensor, TensorError, type Device, type Tensor } from '@attnlab/tensor';
import { attention } from './attention.js';
import { causal, type MaskMod } from './mods/mods.js';
import { hostArray } from './tensor-io.js';
import { toPolicy, type KVPolicy, type PolicyLike } from './kv-policy.js';

export type { EvictionPolicy } from './kv-policy.js';

export interface KVCacheOptions {
  /** Batch size. */
  B: number;
  /** Key/value heads. */
  H: number;
  /** Head dim. */
  D: number;
  /** Layers held (default 1); methods take `{ layer }`. */
  layers?: number;
  /**
   * One policy for all heads, one per head (the same on every layer), or (layer, head) => policy.
   * null keeps everything.
   */
  policy?: PolicyLike | PolicyLike[] | ((layer: number, head: number) => PolicyLike);
  /** 'absolute' (default): keys stored as given; 'cache': stored before rotation, rotated at cache indices. */
  positions?: 'absolute' | 'cache';
}

export interface AttendOptions {
  layer?: number;
  /** Default 1/sqrt(D). */
  scale?: number;
  /**
   * Query heads of the model that q's heads are (default 0..Hq-1), and how many query heads share
   * one kv head (default Hq / H): query head h reads kv head floor(h / groupSize).
   */
  heads?: readonly number[];
  groupSize?: number;
  /** Extra mask evaluated at original positions (b, local head, qpos, kpos); attend is always causal. */
  mask?: MaskMod | null;
  /** Needed in 'cache' position mode: the rotary base. */
  rotary?: { base: number };
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

/** A state slot of a layer: the model's query heads the state covers (null: all heads), or a name. */
export type StateKey = readonly number[] | string | null;

interface StateSlot {
  t: Tensor;
  /** Query heads the state covers (null: all, or a named slot). */
  heads: readonly number[] | null;
}

const stateKey = (layer: number, key: StateKey): string => `${layer}:${key === null ? '*' : typeof key === 'string' ? `#${key}` : key.join(',')}`;

const isPlainCausal = (m: MaskMod | null | undefined): boolean => !m || (m.isNamed && m.name === 'causal');

export class KVCache {
  readonly B: number;
  readonly H: number;
  readonly D: number;
  readonly layers: number;
  readonly positionMode: 'absolute' | 'cache';
  /** [layer * H + head] */
  private readonly policies: (KVPolicy | null)[];
  /** [(layer * B + b) * H + h] */
  private readonly heads: HeadStore[];
  /** Tokens appended so far per layer (the next token's position). */
  private readonly totals: number[];
  /** Where keys and values live: set by the first append. */
  private where: Device | null = null;
  /** Recurrent states by stateKey(layer, key). */
  private readonly states = new Map<string, StateSlot & { layer: number }>();

  constructor(opts: KVCacheOptions) {
    const { B, H, D } = opts;
    const L = opts.layers ?? 1;
    for (const [n, x] of [['B', B], ['H', H], ['D', D], ['layers', L]] as const) {
      if (!Number.isInteger(x) || x < 1) throw new TensorError('KVCache', `${n} must be a positive integer, got ${x}`);
    }
    this.B = B;
    this.H = H;
    this.D = D;
    this.layers = L;
    const mode = opts.positions ?? 'absolute';
    if (mode !== 'absolute' && mode !== 'cache') throw new TensorError('KVCache', `positions must be 'absolute' or 'cache', got '${String(mode)}'`);
    this.positionMode = mode;
    const p = opts.policy ?? null;
    if (Array.isArray(p) && p.length !== H) throw new TensorError('KVCache', `got ${p.length} head policies for ${H} heads`);
    this.policies = [];
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < H; h++) {
        const one = typeof p === 'function' ? p(l, h) : Array.isArray(p) ? p[h] : p;
        this.policies.push(toPolicy(one, 'KVCache'));
      }
    }
    this.heads = Array.from({ length: L * B * H }, () => ({ keys: new Float32Array(16 * D), values: new Float32Array(16 * D), pos: new Int32Array(16), n: 0 }));
    this.totals = new Array<number>(L).fill(0);
  }

  /** Tokens seen so far by layer 0 (the next token's position). */
  get length(): number {
    return this.totals[0]!;
  }

  /** Tokens seen by a layer. */
  seen(layer = 0): number {
    return this.totals[this.checkLayer(layer, 'KVCache.seen')]!;
  }

  /** The policy of (layer, kv head); null keeps everything. */
  policy(head: number, layer = 0): KVPolicy | null {
    return this.policies[this.checkLayer(layer, 'KVCache.policy') * this.H + head] ?? null;
  }

  private checkLayer(layer: number, op: string): number {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.layers) throw new TensorError(op, `layer ${layer} is out of range (the cache holds ${this.layers})`);
    return layer;
  }

  private store(layer: number, b: number, h: number): HeadStore {
    return this.heads[(layer * this.B + b) * this.H + h]!;
  }

  /** Tokens kept for (b, h) of a layer. */
  kept(h: number, b = 0, layer = 0): number {
    return this.store(this.checkLayer(layer, 'KVCache.kept'), b, h).n;
  }

  /** Positions kept for (b, h) of a layer. */
  positions(h: number, b = 0, layer = 0): Int32Array {
    const s = this.store(this.checkLayer(layer, 'KVCache.positions'), b, h);
    return s.pos.slice(0, s.n);
  }

  /** The device holding keys and values (null before the first append). */
  get device(): Device | null {
    return this.where;
  }

  /**
   * The recurrent state held for a layer and head slice (the model's query heads, as a variant's
   * ctx.heads; null: all heads), or null when none was set.
   */
  state(layer: number, key: StateKey = null): Tensor | null {
    return this.states.get(stateKey(this.checkLayer(layer, 'KVCache.state'), key))?.t ?? null;
  }

  /**
   * Set (null: remove) the recurrent state of a layer and head slice. The tensor is kept out of
   * tensor scopes and owned by the cache from now on: the slot's previous state is disposed, and
   * `dispose()` / `clearStates()` dispose this one.
   */
  setState(layer: number, key: StateKey, t: Tensor | null): void {
    const k = stateKey(this.checkLayer(layer, 'KVCache.setState'), key);
    if (t && t.isDisposed) throw new TensorError('KVCache.setState', `the state for layer ${layer} (${k}) is a disposed tensor`);
    const old = this.states.get(k);
    if (old && old.t !== t && !old.t.isDisposed) old.t.dispose();
    if (!t) {
      this.states.delete(k);
      return;
    }
    this.states.set(k, { t: keep(t), heads: key === null || typeof key === 'string' ? null : [...key], layer });
  }

  /** Dispose the recurrent states of one layer (default: all); keys and values stay. */
  clearStates(layer?: number): void {
    if (layer !== undefined) this.checkLayer(layer, 'KVCache.clearStates');
    for (const [k, s] of this.states) {
      if (layer !== undefined && s.layer !== layer) continue;
      if (!s.t.isDisposed) s.t.dispose();
      this.states.delete(k);
    }
  }

  /**
   * Bytes of recurrent states: everything, or one layer / head / batch row. A state of a head slice
   * counts in equal shares per head of the slice and per batch row (states are batch-first); a state
   * of all heads or a named one counts only when no head is selected, and split over the batch.
   */
  stateBytes(sel: { layer?: number; head?: number; batch?: number } = {}): number {
    let n = 0;
    for (const s of this.states.values()) {
      if (s.t.isDisposed || (sel.layer !== undefined && sel.layer !== s.layer)) continue;
      // Every dtype (float32, int32) is 4 bytes.
      let b = s.t.size * 4;
      if (sel.head !== undefined) {
        if (!s.heads || !s.heads.includes(sel.head)) continue;
        b /= s.heads.length;
      }
      if (sel.batch !== undefined) b /= this.B;
      n += b;
    }
    return n;
  }

  /** Frees device-held keys and values and every recurrent state; the cache is empty afterwards. */
  dispose(): void {
    this.clearStates();
    for (const s of this.heads) {
      s.k?.dispose();
      s.v?.dispose();
      delete s.k;
      delete s.v;
      s.n = 0;
    }
    this.totals.fill(0);
    this.where = null;
  }

  /**
   * Bytes held by keys and values plus recurrent states (`stateBytes`): everything, or one layer /
   * head / batch row. `head` is a kv head for keys and values and a query head for states (the same
   * without GQA).
   */
  bytes(sel: { layer?: number; head?: number; batch?: number } = {}): number {
    let n = 0;
    for (let l = 0; l < this.layers; l++) {
      if (sel.layer !== undefined && sel.layer !== l) continue;
      for (let b = 0; b < this.B; b++) {
        if (sel.batch !== undefined && sel.batch !== b) continue;
        for (let h = 0; h < this.H; h++) if (sel.head === undefined || sel.head === h) n += this.store(l, b, h).n;
      }
    }
    return n * this.D * 2 * 4 + this.stateBytes(sel);
  }

  /** Bytes per kv head of a layer (summed over the batch). */
  bytesPerHead(layer = 0): number[] {
    return Array.from({ length: this.H }, (_, h) => this.bytes({ layer, head: h }));
  }

  /** Append k, v [B, H, n, D] to a layer; then each head's policy decides what stays. */
  async append(k: Tensor, v: Tensor, opts: { layer?: number } = {}): Promise<void> {
    const { B, H, D } = this;
    const layer = this.checkLayer(opts.layer ?? 0, 'KVCache.append');
    for (const [name, t] of [['k', k], ['v', v]] as const) {
      if (t.rank !== 4 || t.shape[0] !== B || t.shape[1] !== H || t.shape[3] !== D) {
        throw new TensorError('KVCache.append', `${name} must be [${B}, ${H}, n, ${D}], got [${t.shape.join(', ')}]`);
      }
    }
    if (k.shape[2] !== v.shape[2]) throw new TensorError('KVCache.append', `k has ${k.shape[2]} tokens but v has ${v.shape[2]}`);
    if (k.device !== v.device) throw new TensorError('KVCache.append', `k is on ${k.device.kind} but v on ${v.device.kind}`);
    if (this.where && k.device !== this.where) throw new TensorError('KVCache.append', `the cache lives on ${this.where.kind}; got keys on ${k.device.kind}`);
    this.where = k.device;
    if (k.device.kind !== 'cpu') return this.appendOnDevice(k, v, layer);
    const n = k.shape[2]!;
    const first = this.totals[layer]!;
    const [ka, va] = await Promise.all([hostArray(k, 'KVCache.append'), hostArray(v, 'KVCache.append')]);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const s = this.store(layer, b, h);
        this.grow(s, s.n + n);
        const src = ((b * H + h) * n) * D;
        s.keys.set(ka.subarray(src, src + n * D), s.n * D);
        s.values.set(va.subarray(src, src + n * D), s.n * D);
        for (let i = 0; i < n; i++) s.pos[s.n + i] = first + i;
        s.n += n;
        const runs = this.keptRuns(s, layer, b, h, first, first + n);
        if (runs) this.compact(s, runs, true);
      }
    }
    this.totals[layer] = first + n;
  }

  private appendOnDevice(k: Tensor, v: Tensor, layer: number): void {
    const { B, H, D } = this;
    const n = k.shape[2]!;
    const first = this.totals[layer]!;
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const s = this.store(layer, b, h);
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
        for (let i = 0; i < n; i++) s.pos[s.n + i] = first + i;
        s.n += n;
        const runs = this.keptRuns(s, layer, b, h, first, first + n);
        if (runs) {
          // The kept runs, sliced out and joined.
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
    this.totals[layer] = first + n;
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

  /** The policy's choice for one store as [from, to) runs of kept indices, or null when all stay. */
  private keptRuns(s: HeadStore, layer: number, b: number, h: number, first: number, total: number): [number, number][] | null {
    const p = this.policies[layer * this.H + h];
    if (!p) return null;
    const positions = s.pos.subarray(0, s.n);
    const idx = p.select({ layer, head: h, batch: b, positions, first, total });
    if (!idx) return null;
    const runs: [number, number][] = [];
    let prev = -1;
    for (let j = 0; j < idx.length; j++) {
      const i = idx[j]!;
      if (!Number.isInteger(i) || i <= prev || i >= s.n) throw new TensorError('KVCache', `policy '${p.name}' returned index ${i}: indices must be ascending integers in [0, ${s.n})`);
      prev = i;
      const last = runs[runs.length - 1];
      if (last && last[1] === i) last[1] = i + 1;
      else runs.push([i, i + 1]);
    }
    const keptNew = runs.reduce((a, [from, to]) => a + Math.max(0, to - Math.max(from, s.n - (total - first))), 0);
    if (keptNew !== total - first) throw new TensorError('KVCache', `policy '${p.name}' evicted a token of the current append (layer ${layer}, head ${h}); it must keep them`);
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
   * Keys and values of some kv heads of a layer as dense [B, heads, n, D] tensors on the cache's
   * device, with their positions, when every (batch, head) holds the same positions; else null.
   * For variants that do not read the cache themselves (they get the held tokens as plain k, v).
   */
  async gather(opts: { layer?: number; heads?: readonly number[] } = {}): Promise<{ k: Tensor; v: Tensor; positions: Int32Array } | null> {
    const layer = this.checkLayer(opts.layer ?? 0, 'KVCache.gather');
    const heads = opts.heads ?? Array.from({ length: this.H }, (_, h) => h);
    const { B, D } = this;
    const ref = this.store(layer, 0, heads[0]!);
    const positions = ref.pos.slice(0, ref.n);
    const stores: HeadStore[] = [];
    for (let b = 0; b < B; b++) {
      for (const h of heads) {
        const s = this.store(layer, b, h);
        if (s.n !== ref.n) return null;
        for (let i = 0; i < s.n; i++) if (s.pos[i] !== positions[i]) return null;
        stores.push(s);
      }
    }
    const n = ref.n;
    const dev = this.where;
    if (!dev || n === 0) throw new TensorError('KVCache.gather', 'the cache is empty; append keys and values first');
    if (dev.kind !== 'cpu') {
      const join = (parts: Tensor[]): Tensor => reshape(parts.length === 1 ? parts[0]! : concat(parts, 1), [B, heads.length, n, D]);
      return { k: join(stores.map((s) => s.k!)), v: join(stores.map((s) => s.v!)), positions };
    }
    const ka = new Float32Array(stores.length * n * D);
    const va = new Float32Array(stores.length * n * D);
    stores.forEach((s, i) => {
      ka.set(s.keys.subarray(0, n * D), i * n * D);
      va.set(s.values.subarray(0, n * D), i * n * D);
    });
    return { k: tensor(ka, [B, heads.length, n, D], { device: dev }), v: tensor(va, [B, heads.length, n, D], { device: dev }), positions };
  }

  /**
   * Attention of q [B, Hq, Nq, D] against the held tokens of a layer. Query row i sits at position
   * seen - Nq + i and sees held tokens up to its position (causal), the policy's `visible` rule
   * and `mask`. Returns out [B, Hq, Nq, D] and lse [B, Hq, Nq] on q's device.
   */
  async attend(q: Tensor, opts: AttendOptions = {}): Promise<{ out: Tensor; lse: Tensor }> {
    const { B, H, D } = this;
    const layer = this.checkLayer(opts.layer ?? 0, 'KVCache.attend');
    if (q.rank !== 4 || q.shape[0] !== B || q.shape[3] !== D) throw new TensorError('KVCache.attend', `q must be [${B}, Hq, Nq, ${D}], got [${q.shape.join(', ')}]`);
    const Hq = q.shape[1]!;
    const Nq = q.shape[2]!;
    const heads = opts.heads ?? Array.from({ length: Hq }, (_, h) => h);
    if (heads.length !== Hq) throw new TensorError('KVCache.attend', `heads lists ${heads.length} query heads but q has ${Hq}`);
    const G = opts.groupSize ?? (opts.heads ? 1 : Hq / H);
    if (!Number.isInteger(G) || G < 1) throw new TensorError('KVCache.attend', `query heads (${Hq}) must be a multiple of cache heads (${H})`);
    for (const h of heads) if (!Number.isInteger(h) || h < 0 || Math.floor(h / G) >= H) throw new TensorError('KVCache.attend', `query head ${h} reads kv head ${Math.floor(h / G)}, the cache has ${H}`);
    const total = this.totals[layer]!;
    if (total === 0) throw new TensorError('KVCache.attend', 'the cache is empty; append keys and values first');
    if (Nq > total) throw new TensorError('KVCache.attend', `${Nq} queries but only ${total} tokens were appended`);
    const scale = opts.scale ?? 1 / Math.sqrt(D);
    if (!Number.isFinite(scale)) throw new TensorError('KVCache.attend', `scale must be finite, got ${scale}`);
    const cacheMode = this.positionMode === 'cache';
    if (cacheMode && !opts.rotary) throw new TensorError('KVCache.attend', "positions: 'cache' stores keys before rotation; pass { rotary: { base } }");
    const kvHeads = [...new Set(heads.map((h) => Math.floor(h / G)))];
    const pols = kvHeads.map((h) => this.policies[layer * H + h] ?? null);
    if (this.where && this.where.kind !== 'cpu') {
      if (q.device !== this.where) throw new TensorError('KVCache.attend', `q is on ${q.device.kind}, the cache on ${this.where.kind}`);
      const simple = !cacheMode && isPlainCausal(opts.mask) && pols.every((p) => !p?.observe && (Nq === 1 || !p?.visible));
      const contiguous = heads.every((h, i) => h === heads[0]! + i) && heads[0]! % G === 0 && Hq % G === 0;
      if (simple && contiguous && this.aligned(layer, kvHeads, Nq)) return this.attendOnDevice(q, layer, heads[0]! / G, G, scale);
    }
    // The float64 loop.
    const stores = new Map<number, HeadStore & { keysF: Float32Array; valuesF: Float32Array }>();
    for (let b = 0; b < B; b++) {
      for (const h of kvHeads) {
        const s = this.store(layer, b, h);
        const keysF = s.k ? await hostArray(s.k, 'KVCache.attend') : s.keys;
        const valuesF = s.v ? await hostArray(s.v, 'KVCache.attend') : s.values;
        stores.set(b * H + h, { ...s, keysF, valuesF });
      }
    }
    const qa = await hostArray(q, 'KVCache.attend');
    const maskEval = opts.mask && !isPlainCausal(opts.mask) ? opts.mask.evaluator(1, 1) : null;
    const out = new Float32Array(B * Hq * Nq * D);
    const lse = new Float32Array(B * Hq * Nq);
    const rot = cacheMode ? ropeTables(opts.rotary!.base, D) : null;
    for (let b = 0; b < B; b++) {
      for (let hi = 0; hi < Hq; hi++) {
        const kvh = Math.floor(heads[hi]! / G);
        const s = stores.get(b * H + kvh)!;
        const pol = this.policies[layer * H + kvh] ?? null;
        const keys = rot ? rotateRows(s.keysF, s.n, D, 0, rot) : s.keysF;
        for (let i = 0; i < Nq; i++) {
          const r = (b * Hq + hi) * Nq + i;
          const qpos = total - Nq + i;
          let qrow: ArrayLike<number> = qa.subarray(r * D, (r + 1) * D);
          if (rot) {
            let qi = 0;
            for (let j = 0; j < s.n; j++) if (s.pos[j]! <= qpos) qi = j;
            qrow = rotateRows(qa.subarray(r * D, (r + 1) * D), 1, D, qi, rot);
          }
          let m = -Infinity;
          const sc = new Float64Array(s.n);
          for (let j = 0; j < s.n; j++) {
            const kpos = s.pos[j]!;
            if (kpos > qpos || (pol?.visible && !pol.visible(kpos, qpos)) || (maskEval && !maskEval(b, hi, qpos, kpos))) {
              sc[j] = -Infinity;
              continue;
            }
            let dot = 0;
            for (let d = 0; d < D; d++) dot += qrow[d]! * keys[j * D + d]!;
            sc[j] = dot * scale;
            if (sc[j]! > m) m = sc[j]!;
          }
          if (m === -Infinity) {
            lse[r] = -Infinity;
            continue;
          }
          let l = 0;
          const acc = new Float64Array(D);
          const w = new Float64Array(s.n);
          for (let j = 0; j < s.n; j++) {
            if (sc[j] === -Infinity) continue;
            const p = Math.exp(sc[j]! - m);
            w[j] = p;
            l += p;
            for (let d = 0; d < D; d++) acc[d]! += p * s.valuesF[j * D + d]!;
          }
          for (let d = 0; d < D; d++) out[r * D + d] = acc[d]! / l;
          lse[r] = m + Math.log(l);
          if (pol?.observe) {
            for (let j = 0; j < s.n; j++) w[j]! /= l;
            pol.observe({ layer, head: kvh, queryHead: heads[hi]!, batch: b, qpos, positions: s.pos.slice(0, s.n), weights: w });
          }
        }
      }
    }
    return { out: tensor(out, [B, Hq, Nq, D], { device: q.device }), lse: tensor(lse, [B, Hq, Nq], { device: q.device }) };
  }

  /** Whether the given heads still hold the last Nq tokens, so causal flash with end-aligned queries is exact. */
  private aligned(layer: number, kvHeads: number[], Nq: number): boolean {
    const total = this.totals[layer]!;
    for (let b = 0; b < this.B; b++) {
      for (const h of kvHeads) {
        const s = this.store(layer, b, h);
        if (!(s.n >= Nq && s.pos[s.n - Nq] === total - Nq)) return false;
      }
    }
    return true;
  }

  /** Device mode: per (batch, kv head) flash attention of its query heads against the kept keys, queries aligned to the end. */
  private async attendOnDevice(q: Tensor, layer: number, h0: number, G: number, scale: number): Promise<{ out: Tensor; lse: Tensor }> {
    const { B, D } = this;
    const Hq = q.shape[1]!;
    const Nq = q.shape[2]!;
    const nkv = Hq / G;
    const outs: Tensor[] = [];
    const lses: Tensor[] = [];
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < nkv; i++) {
        const s = this.store(layer, b, h0 + i);
        const qh = slice(q, [b, i * G, 0, 0], [1, G, Nq, D]);
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

/** cos/sin angle factors of rotate-half RoPE (as @attnlab/tensor's rotary). */
function ropeTables(base: number, D: number): Float64Array {
  const half = D / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = Math.pow(base, (-2 * i) / D);
  return inv;
}

/** Rows rotated at positions p0, p0 + 1, ... (float64). */
function rotateRows(x: ArrayLike<number>, n: number, D: number, p0: number, inv: Float64Array): Float64Array {
  const half = D / 2;
  const out = new Float64Array(n * D);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < half; i++) {
      const ang = (p0 + r) * inv[i]!;
      const c = Math.cos(ang);
      const s = Math.sin(ang);
      const a = x[r * D + i]!;
      const bb = x[r * D + i + half]!;
      out[r * D + i] = a * c - bb * s;
      out[r * D + i + half] = bb * c + a * s;
    }
  }
  return out;
}
