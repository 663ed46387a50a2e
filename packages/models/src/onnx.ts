import { ModelError } from './errors.js';
import type { Transformer } from './transformer.js';

/**
 * ONNX export of the forward graph (opset 17), written with a small protobuf encoder (no
 * dependency). Input `tokens` int32 [batch, seqLen] (batch dynamic, seqLen fixed at export),
 * output `logits` float32 [batch, seqLen, vocab]. Attention is exported unfused (MatMul,
 * Softmax), so an independent engine (onnxruntime-web) can check our numbers.
 * Exportable: every config option, 'softmax' and 'linear-elu1-normalized' variants (uniform per layer, no options), head
 * gates and zero ablation. Mean ablation, pattern perturbations and hooks are not.
 */

// ------------------------------------------------------------------------------- protobuf

class PB {
  private readonly parts: Uint8Array[] = [];
  private len = 0;
  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.len += b.length;
  }
  private varint(v: bigint): void {
    let x = BigInt.asUintN(64, v);
    const out: number[] = [];
    while (x >= 0x80n) {
      out.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    out.push(Number(x));
    this.push(Uint8Array.from(out));
  }
  private key(field: number, wire: number): void {
    this.varint(BigInt((field << 3) | wire));
  }
  int(field: number, v: number): this {
    this.key(field, 0);
    this.varint(BigInt(v));
    return this;
  }
  float(field: number, v: number): this {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
    return this;
  }
  bytes(field: number, b: Uint8Array): this {
    this.key(field, 2);
    this.varint(BigInt(b.length));
    this.push(b);
    return this;
  }
  str(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  msg(field: number, m: PB): this {
    return this.bytes(field, m.finish());
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.len);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

const FLOAT = 1;
const INT32 = 6;
const INT64 = 7;

type Attr = { name: string } & ({ f: number } | { i: number } | { ints: number[] });

function attrPB(a: Attr): PB {
  const p = new PB().str(1, a.name);
  if ('f' in a) p.float(2, a.f).int(20, 1);
  else if ('i' in a) p.int(3, a.i).int(20, 2);
  else {
    for (const v of a.ints) p.int(8, v);
    p.int(20, 7);
  }
  return p;
}

function tensorPB(name: string, dims: readonly number[], type: number, data: Float32Array | Int32Array | BigInt64Array): PB {
  const p = new PB();
  for (const d of dims) p.int(1, d);
  p.int(2, type).str(8, name);
  p.bytes(9, new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)));
  return p;
}

function valueInfo(name: string, type: number, dims: readonly (number | string)[]): PB {
  const shape = new PB();
  for (const d of dims) shape.msg(1, typeof d === 'number' ? new PB().int(1, d) : new PB().str(2, d));
  return new PB().str(1, name).msg(2, new PB().msg(1, new PB().int(1, type).msg(2, shape)));
}

// ------------------------------------------------------------------------------- graph building

class Graph {
  readonly nodes: PB[] = [];
  readonly inits: PB[] = [];
  private n = 0;
  private fresh(hint: string): string {
    return `${hint}_${this.n++}`;
  }
  init(name: string, dims: readonly number[], data: Float32Array): string {
    this.inits.push(tensorPB(name, dims, FLOAT, data));
    return name;
  }
  ints(values: readonly number[]): string {
    const name = this.fresh('i64');
    this.inits.push(tensorPB(name, [values.length], INT64, BigInt64Array.from(values.map((v) => BigInt(v)))));
    return name;
  }
  scalar(v: number): string {
    const name = this.fresh('c');
    this.inits.push(tensorPB(name, [], FLOAT, Float32Array.of(v)));
    return name;
  }
  op(type: string, inputs: readonly string[], attrs: readonly Attr[] = [], hint = type.toLowerCase()): string {
    const out = this.fresh(hint);
    const p = new PB();
    for (const i of inputs) p.str(1, i);
    p.str(2, out).str(3, out).str(4, type);
    for (const a of attrs) p.msg(5, attrPB(a));
    this.nodes.push(p);
    return out;
  }
}

export interface OnnxExportOptions {
  /** Sequence length the graph is built for (positions, masks and rotary tables are constants). */
  seqLen: number;
}

/** Serialise the model's forward to ONNX bytes. */
export async function exportOnnx(model: Transformer, options: OnnxExportOptions): Promise<Uint8Array> {
  const c = model.config;
  const N = options.seqLen;
  if (!(Number.isInteger(N) && N > 0)) throw new ModelError('exportOnnx', `seqLen must be a positive integer, got ${N}`);
  if (c.positional === 'learned' && N > c.nCtx) throw new ModelError('exportOnnx', `seqLen ${N} exceeds the context ${c.nCtx}`);
  const state = await model.stateDict();
  const g = new Graph();
  const W = (name: string): string => {
    const p = state.get(name);
    if (!p) throw new ModelError('exportOnnx', `missing parameter ${name}`);
    return g.init(name, p.shape, p.data);
  };
  const H = c.nHeads;
  const Dh = c.dHead;
  const D = c.dModel;

  let x = g.op('Gather', [W('wte.weight'), 'tokens'], [{ name: 'axis', i: 0 }]);
  if (c.positional === 'learned') {
    const wpe = state.get('wpe.weight')!;
    x = g.op('Add', [x, g.init('wpe_used', [N, D], wpe.data.slice(0, N * D))]);
  }
  const norm = (prefix: string, v: string): string => {
    if (c.norm === 'none') return v;
    if (c.norm === 'layernorm') return g.op('LayerNormalization', [v, W(`${prefix}.weight`), W(`${prefix}.bias`)], [{ name: 'axis', i: -1 }, { name: 'epsilon', f: c.normEps }]);
    const ms = g.op('ReduceMean', [g.op('Mul', [v, v])], [{ name: 'axes', ints: [-1] }, { name: 'keepdims', i: 1 }]);
    return g.op('Mul', [g.op('Div', [v, g.op('Sqrt', [g.op('Add', [ms, g.scalar(c.normEps)])])]), W(`${prefix}.weight`)]);
  };
  // Constants shared by layers.
  const maskBias = new Float32Array(N * N);
  const mask01 = new Float32Array(N * N);
  for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) {
    maskBias[i * N + j] = j <= i ? 0 : -1e9;
    mask01[i * N + j] = j <= i ? 1 : 0;
  }
  const maskBiasName = g.init('causal_bias', [N, N], maskBias);
  const mask01Name = g.init('causal_mask', [N, N], mask01);
  let cosName = '';
  let sinName = '';
  if (c.positional === 'rotary') {
    const half = Dh / 2;
    const cos = new Float32Array(N * Dh);
    const sin = new Float32Array(N * Dh);
    for (let p = 0; p < N; p++) for (let i = 0; i < half; i++) {
      const ang = p * Math.pow(c.rotaryBase, (-2 * i) / Dh);
      cos[p * Dh + i] = cos[p * Dh + i + half] = Math.cos(ang);
      sin[p * Dh + i] = sin[p * Dh + i + half] = Math.sin(ang);
    }
    cosName = g.init('rope_cos', [N, Dh], cos);
    sinName = g.init('rope_sin', [N, Dh], sin);
  }
  const rope = (v: string): string => {
    const half = Dh / 2;
    const x1 = g.op('Slice', [v, g.ints([0]), g.ints([half]), g.ints([-1])]);
    const x2 = g.op('Slice', [v, g.ints([half]), g.ints([Dh]), g.ints([-1])]);
    const rot = g.op('Concat', [g.op('Neg', [x2]), x1], [{ name: 'axis', i: -1 }]);
    return g.op('Add', [g.op('Mul', [v, cosName]), g.op('Mul', [rot, sinName])]);
  };

  for (let l = 0; l < c.nLayers; l++) {
    const variant = model.getAttentionChoice(l, 0).name;
    for (let h = 1; h < H; h++) if (model.getAttentionChoice(l, h).name !== variant) throw new ModelError('exportOnnx', `layer ${l} mixes attention variants per head; export supports one variant per layer`);
    if (variant !== 'softmax' && variant !== 'linear-elu1-normalized' && variant !== 'linear-elu1') throw new ModelError('exportOnnx', `attention variant '${variant}' has no ONNX lowering (exportable: softmax, linear-elu1-normalized)`);
    for (let h = 0; h < H; h++) {
      const opts = Object.keys(model.getAttentionChoice(l, h).options);
      if (opts.length) throw new ModelError('exportOnnx', `layer ${l} head ${h} sets attention options (${opts.join(', ')}), which export does not lower`);
    }
    const ctl = model.heads.layer(l);
    if (ctl.some((k) => k?.perturb || k?.ablate === 'mean')) throw new ModelError('exportOnnx', `layer ${l} has mean ablation or a pattern perturbation, which export does not support`);

    const xn = norm(`h.${l}.ln_1`, x);
    const qkv = g.op('Add', [g.op('MatMul', [xn, W(`h.${l}.attn.c_attn.weight`)]), W(`h.${l}.attn.c_attn.bias`)]);
    const split = g.op('Transpose', [g.op('Reshape', [qkv, g.ints([0, N, 3, H, Dh])])], [{ name: 'perm', ints: [2, 0, 3, 1, 4] }]);
    const part = (i: number): string => g.op('Squeeze', [g.op('Slice', [split, g.ints([i]), g.ints([i + 1]), g.ints([0])]), g.ints([0])]);
    let q = part(0);
    let k = part(1);
    const v = part(2);
    if (c.positional === 'rotary') {
      q = rope(q);
      k = rope(k);
    }
    let z: string;
    if (variant === 'softmax') {
      const qs = g.op('Mul', [q, g.scalar(1 / Math.sqrt(Dh))]);
      const scores = g.op('Add', [g.op('MatMul', [qs, g.op('Transpose', [k], [{ name: 'perm', ints: [0, 1, 3, 2] }])]), maskBiasName]);
      z = g.op('MatMul', [g.op('Softmax', [scores], [{ name: 'axis', i: -1 }]), v]);
    } else {
      const one = g.scalar(1);
      const fq = g.op('Add', [g.op('Elu', [q]), one]);
      const fk = g.op('Add', [g.op('Elu', [k]), one]);
      const a = g.op('Mul', [g.op('MatMul', [fq, g.op('Transpose', [fk], [{ name: 'perm', ints: [0, 1, 3, 2] }])]), mask01Name]);
      const den = g.op('Add', [g.op('ReduceSum', [a, g.ints([-1])], [{ name: 'keepdims', i: 1 }]), g.scalar(1e-6)]);
      z = g.op('Div', [g.op('MatMul', [a, v]), den]);
    }
    if (ctl.some((k2) => k2 && ((k2.gate ?? 1) !== 1 || k2.ablate === 'zero'))) {
      const gate = Float32Array.from(ctl, (k2) => (k2?.ablate === 'zero' ? 0 : k2?.gate ?? 1));
      z = g.op('Mul', [z, g.init(`head_gate_${l}`, [1, H, 1, 1], gate)]);
    }
    const zf = g.op('Reshape', [g.op('Transpose', [z], [{ name: 'perm', ints: [0, 2, 1, 3] }]), g.ints([0, N, H * Dh])]);
    const attnOut = g.op('Add', [g.op('MatMul', [zf, W(`h.${l}.attn.c_proj.weight`)]), W(`h.${l}.attn.c_proj.bias`)]);
    x = g.op('Add', [x, attnOut]);
    if (!c.attnOnly) {
      const x2 = norm(`h.${l}.ln_2`, x);
      const pre = g.op('Add', [g.op('MatMul', [x2, W(`h.${l}.mlp.c_fc.weight`)]), W(`h.${l}.mlp.c_fc.bias`)]);
      let post: string;
      if (c.act === 'relu') post = g.op('Relu', [pre]);
      else {
        // GPT-2 tanh GELU: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        const cube = g.op('Mul', [pre, g.op('Mul', [pre, pre])]);
        const inner = g.op('Mul', [g.op('Add', [pre, g.op('Mul', [cube, g.scalar(0.044715)])]), g.scalar(Math.sqrt(2 / Math.PI))]);
        post = g.op('Mul', [g.op('Mul', [pre, g.scalar(0.5)]), g.op('Add', [g.op('Tanh', [inner]), g.scalar(1)])]);
      }
      x = g.op('Add', [x, g.op('Add', [g.op('MatMul', [post, W(`h.${l}.mlp.c_proj.weight`)]), W(`h.${l}.mlp.c_proj.bias`)])]);
    }
  }
  const xf = norm('ln_f', x);
  const U = state.get(c.tiedEmbeddings ? 'wte.weight' : 'lm_head.weight')!;
  const ut = new Float32Array(D * c.vocabSize);
  for (let t = 0; t < c.vocabSize; t++) for (let d = 0; d < D; d++) ut[d * c.vocabSize + t] = U.data[t * D + d]!;
  const logits = g.op('MatMul', [xf, g.init('unembed_T', [D, c.vocabSize], ut)]);
  // Name the output 'logits'.
  g.nodes.push(new PB().str(1, logits).str(2, 'logits').str(3, 'logits_identity').str(4, 'Identity'));

  const graph = new PB();
  for (const n of g.nodes) graph.msg(1, n);
  graph.str(2, 'attnlab_transformer');
  for (const i of g.inits) graph.msg(5, i);
  graph.msg(11, valueInfo('tokens', INT32, ['batch', N]));
  graph.msg(12, valueInfo('logits', FLOAT, ['batch', N, c.vocabSize]));
  const m = new PB().int(1, 8).str(2, 'attnlab').str(3, '0.1.0').msg(7, graph).msg(8, new PB().str(1, '').int(2, 17));
  return m.finish();
}
