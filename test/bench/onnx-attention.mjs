// Minimal ONNX protobuf writer for the attention comparison graphs (no protobuf dependency).
// Field numbers follow onnx.proto (ModelProto, GraphProto, NodeProto, TensorProto, ...).

class W {
  constructor() { this.b = []; }
  varint(n) {
    let v = BigInt(n);
    if (v < 0n) v += 1n << 64n;
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v) byte |= 0x80;
      this.b.push(byte);
    } while (v);
    return this;
  }
  tag(field, wire) { return this.varint((field << 3) | wire); }
  int(field, n) { return this.tag(field, 0).varint(n); }
  bytes(field, u8) { this.tag(field, 2).varint(u8.length); for (const x of u8) this.b.push(x); return this; }
  str(field, s) { return this.bytes(field, new TextEncoder().encode(s)); }
  msg(field, w) { return this.bytes(field, Uint8Array.from(w.b)); }
  f32(field, x) { this.tag(field, 5); const a = new Uint8Array(new Float32Array([x]).buffer); for (const y of a) this.b.push(y); return this; }
  done() { return Uint8Array.from(this.b); }
}

const FLOAT = 1;
const INT64 = 7;

function valueInfo(name, dims) {
  const shape = new W();
  for (const d of dims) shape.msg(1, typeof d === 'number' ? new W().int(1, d) : new W().str(2, d));
  const tt = new W().int(1, FLOAT).msg(2, shape);
  return new W().str(1, name).msg(2, new W().msg(1, tt));
}

function scalarInit(name, type, value) {
  const t = new W().int(2, type).str(8, name);
  if (type === FLOAT) t.bytes(9, new Uint8Array(new Float32Array([value]).buffer));
  else t.bytes(9, new Uint8Array(new BigInt64Array([BigInt(value)]).buffer));
  return t;
}

function node(op, inputs, outputs, attrs = [], domain = '') {
  const n = new W();
  for (const i of inputs) n.str(1, i);
  for (const o of outputs) n.str(2, o);
  n.str(3, `${op}_${outputs[0]}`).str(4, op);
  if (domain) n.str(7, domain);
  for (const a of attrs) n.msg(5, a);
  return n;
}

const attrInts = (name, ints) => { const a = new W().str(1, name).int(20, 7); for (const i of ints) a.int(8, i); return a; };
const attrInt = (name, i) => new W().str(1, name).int(20, 2).int(3, i);
const attrFloat = (name, f) => new W().str(1, name).int(20, 1).f32(2, f);

/**
 * q, k, v [1, H, N, D] -> out. kind 'matmul': Transpose-MatMul-Mul-(causal Where)-Softmax-MatMul
 * at opset 17, out [1, H, N, D]. kind 'fused': the ONNX Attention op (opset 23, is_causal), out
 * [1, H, N, D]. kind 'mha': onnxruntime's contrib com.microsoft.MultiHeadAttention (the fused op its
 * WebGPU provider implements, flash attention inside), q, k, v reshaped to [1, N, H*D] first, unidirectional = causal, out [1, N, H*D].
 */
export function attentionModel({ H, N, D, causal, kind = 'matmul' }) {
  const g = new W().str(2, `attention_${kind}`);
  const scale = 1 / Math.sqrt(D);
  const nodes = [];
  const inits = [];
  if (kind === 'matmul') {
    nodes.push(node('Transpose', ['k'], ['kt'], [attrInts('perm', [0, 1, 3, 2])]));
    nodes.push(node('MatMul', ['q', 'kt'], ['s0']));
    nodes.push(node('Mul', ['s0', 'scale'], ['s1']));
    inits.push(scalarInit('scale', FLOAT, scale));
    let s = 's1';
    if (causal) {
      inits.push(scalarInit('zero', INT64, 0), scalarInit('n', INT64, N), scalarInit('one', INT64, 1), scalarInit('neg', FLOAT, -1e9));
      inits.push(new W().int(1, 1).int(2, INT64).str(8, 'ax1').bytes(9, new Uint8Array(new BigInt64Array([1n]).buffer)));
      inits.push(new W().int(1, 1).int(2, INT64).str(8, 'ax0').bytes(9, new Uint8Array(new BigInt64Array([0n]).buffer)));
      nodes.push(node('Range', ['zero', 'n', 'one'], ['idx']));
      nodes.push(node('Unsqueeze', ['idx', 'ax1'], ['rows']));
      nodes.push(node('Unsqueeze', ['idx', 'ax0'], ['cols']));
      nodes.push(node('GreaterOrEqual', ['rows', 'cols'], ['keep']));
      nodes.push(node('Where', ['keep', 's1', 'neg'], ['s2']));
      s = 's2';
    }
    nodes.push(node('Softmax', [s], ['p'], [attrInt('axis', -1)]));
    nodes.push(node('MatMul', ['p', 'v'], ['out']));
  } else if (kind === 'mha') {
    inits.push(new W().int(1, 3).int(2, INT64).str(8, 'q3shape').bytes(9, new Uint8Array(new BigInt64Array([1n, BigInt(N), BigInt(H * D)]).buffer)));
    for (const x of ['q', 'k', 'v']) {
      nodes.push(node('Transpose', [x], [`${x}t`], [attrInts('perm', [0, 2, 1, 3])]));
      nodes.push(node('Reshape', [`${x}t`, 'q3shape'], [`${x}3`]));
    }
    nodes.push(node('MultiHeadAttention', ['q3', 'k3', 'v3'], ['out'], [attrInt('num_heads', H), attrFloat('scale', scale), attrInt('unidirectional', causal ? 1 : 0)], 'com.microsoft'));
  } else {
    nodes.push(node('Attention', ['q', 'k', 'v'], ['out'], [attrInt('is_causal', causal ? 1 : 0), attrFloat('scale', scale)]));
  }
  for (const n of nodes) g.msg(1, n);
  for (const i of inits) g.msg(5, i);
  for (const name of ['q', 'k', 'v']) g.msg(11, valueInfo(name, [1, H, N, D]));
  g.msg(12, valueInfo('out', kind === 'mha' ? [1, N, H * D] : [1, H, N, D]));
  const model = new W().int(1, kind === 'fused' ? 10 : 8).str(2, 'attnlab-bench').msg(7, g).msg(8, new W().str(1, '').int(2, kind === 'fused' ? 23 : 17));
  if (kind === 'mha') model.msg(8, new W().str(1, 'com.microsoft').int(2, 1));
  return model.done();
}
