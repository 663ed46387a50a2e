// A minimal ONNX ModelProto writer (protobuf wire format by hand) for benchmark graphs, so
// onnxruntime-web can run the same computation as ours without any model file.
const enc = new TextEncoder();

function varint(n) {
  const out = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}
const key = (field, wire) => varint((field << 3) | wire);
const bytes = (field, data) => [...key(field, 2), ...varint(data.length), ...data];
const str = (field, s) => bytes(field, [...enc.encode(s)]);
const int = (field, n) => [...key(field, 0), ...varint(n)];

/** A tensor value_info: float32 (elem type 1) with named or fixed dims. */
export function valueInfo(name, dims, elemType = 1) {
  const shape = dims.flatMap((d) => bytes(1, typeof d === 'string' ? str(2, d) : int(1, d)));
  const tensorType = [...int(1, elemType), ...bytes(2, shape)];
  const type = bytes(1, tensorType);
  return [...str(1, name), ...bytes(2, type)];
}

/** attrs: { name: number (int) | number[] (floats, as float attr when 1 value) } */
export function node(opType, inputs, outputs, attrs = {}, domain = '') {
  const parts = [...inputs.flatMap((i) => str(1, i)), ...outputs.flatMap((o) => str(2, o)), ...str(4, opType)];
  for (const [name, value] of Object.entries(attrs)) {
    let a;
    if (Number.isInteger(value)) a = [...str(1, name), ...int(20, 2), ...int(3, value)];
    else {
      const f = new Uint8Array(new Float32Array([value]).buffer);
      a = [...str(1, name), ...int(20, 1), ...key(2, 5), ...f];
    }
    parts.push(...bytes(5, a));
  }
  if (domain) parts.push(...str(7, domain));
  return parts;
}

export function model({ nodes, inputs, outputs, opset = 17, extraOpsets = [] }) {
  const graph = [...nodes.flatMap((n) => bytes(1, n)), ...str(2, 'g'), ...inputs.flatMap((v) => bytes(11, v)), ...outputs.flatMap((v) => bytes(12, v))];
  const opsets = [[ '', opset ], ...extraOpsets].flatMap(([domain, version]) => bytes(8, [...str(1, domain), ...int(2, version)]));
  return new Uint8Array([...int(1, 8), ...str(2, 'attnlab-bench'), ...bytes(7, graph), ...opsets]);
}

export function matmulModel() {
  return model({
    nodes: [node('MatMul', ['A', 'B'], ['C'])],
    inputs: [valueInfo('A', ['m', 'k']), valueInfo('B', ['k', 'n'])],
    outputs: [valueInfo('C', ['m', 'n'])],
  });
}
