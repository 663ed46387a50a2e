import type { BinaryOp, ReduceOp, UnaryOp } from '../backend.js';
import type { DType } from '../dtype.js';

/**
 * WGSL sources for the backend contract. Every kernel reads its sizes from a `mt` array of u32
 * (float parameters are bitcast), so one pipeline serves every shape. 1-D kernels use 256 threads
 * and a 2-D grid of workgroups so more than 65535 * 256 elements fit.
 */
export const WG = 256;
export const MAX_DIMS = 8;

const ty = (d: DType): string => (d === 'int32' ? 'i32' : 'f32');

const flatId = `let i = gid.x + gid.y * (nwg.x * ${WG}u);`;

// Infinities and NaN must be made at run time: WGSL rejects them in constant expressions.
// WGSL lets compilers assume no NaN or infinity, so `x != x` and max()/min()/clamp() cannot be
// trusted with NaN (SwiftShader drops it): special values are tested on their bit patterns.
const F32_BITS = `fn f32_bits(b: u32) -> f32 { var v = b; return bitcast<f32>(v); }
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn is_inf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }
fn nan_f32() -> f32 { return f32_bits(0x7fc00000u); }`;

function header(bindings: string[]): string {
  return [F32_BITS, ...bindings.map((b, i) => `@group(0) @binding(${i}) ${b};`)].join('\n');
}

const GELU_C = '0.7978845608028654';

// tanh() in WGSL overflows to NaN for large |x| on some drivers: clamp first.
const SAFE_TANH = 'fn safe_tanh(x: f32) -> f32 { let c = clamp(x, -15.0, 15.0); let e = exp(2.0 * c); return (e - 1.0) / (e + 1.0); }';

export function unaryExpr(op: UnaryOp, dtype: DType): string {
  if (dtype === 'int32') {
    switch (op) {
      case 'neg': return '-x';
      case 'abs': return 'abs(x)';
      case 'sign': return 'sign(x)';
      case 'square': return 'x * x';
      case 'mulScalar': return 'i32(f32(x) * p)';
      case 'addScalar': return 'i32(f32(x) + p)';
      case 'clamp': return 'i32(clamp(f32(x), p, p2))';
      default: throw new Error(`unary ${op} has no int32 form`);
    }
  }
  switch (op) {
    case 'neg': return '-x';
    case 'exp': return 'exp(x)';
    // SwiftShader's log() returns finite values for negatives, zero and -infinity.
    case 'log': return 'select(select(select(log(x), f32_bits(0x7f800000u), is_inf(x)), f32_bits(0xff800000u), x == 0.0), nan_f32(), x < 0.0)';
    case 'sqrt': return 'select(sqrt(x), nan_f32(), x < 0.0)';
    case 'rsqrt': return 'select(1.0 / sqrt(x), nan_f32(), x < 0.0)';
    case 'tanh': return 'safe_tanh(x)';
    case 'sigmoid': return '1.0 / (1.0 + exp(-x))';
    case 'relu': return 'select(0.0, x, x > 0.0)';
    case 'elu': return 'select(exp(x) - 1.0, x, x > 0.0)';
    case 'gelu': return `select(0.5 * x * (1.0 + safe_tanh(${GELU_C} * (x + 0.044715 * x * x * x))), select(nan_f32(), x, x > 0.0), is_inf(x))`;
    case 'abs': return 'abs(x)';
    case 'sign': return 'sign(x)';
    case 'square': return 'x * x';
    case 'reciprocal': return '1.0 / x';
    case 'sin': return 'select(sin_acc(x), nan_f32(), is_inf(x))';
    case 'cos': return 'select(sin_acc(x + 1.5707963267948966), nan_f32(), is_inf(x))';
    case 'step': return 'select(0.0, 1.0, x > 0.0)';
    case 'eluGrad': return 'select(exp(x), 1.0, x > 0.0)';
    case 'geluGrad':
      return `gelu_grad(x)`;
    case 'powScalar': return 'pow_any(x, p)';
    case 'mulScalar': return 'x * p';
    case 'addScalar': return 'x + p';
    case 'clamp': return 'clamp(x, p, p2)';
  }
}

/** Float unary ops whose NaN input must give NaN (the WGSL built-ins may not propagate it). */
const NAN_PASS: ReadonlySet<UnaryOp> = new Set<UnaryOp>([
  'neg', 'exp', 'log', 'sqrt', 'rsqrt', 'tanh', 'sigmoid', 'relu', 'elu', 'gelu', 'abs', 'square', 'reciprocal',
  'sin', 'cos', 'geluGrad', 'eluGrad', 'mulScalar', 'addScalar', 'clamp',
]);

/** A float unary op with NaN propagated as IEEE/PyTorch do (powScalar: x^0 = 1 even for NaN). */
export function unaryExprNaN(op: UnaryOp, dtype: DType): string {
  const e = unaryExpr(op, dtype);
  if (dtype === 'int32') return e;
  if (op === 'powScalar') return `select(${e}, x, is_nan(x) && p != 0.0)`;
  return NAN_PASS.has(op) ? `select(${e}, x, is_nan(x))` : e;
}

// pow() in WGSL is undefined for x < 0; integer exponents of negative bases are common (x^2, x^3).
const POW_ANY = `fn pow_any(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  if (is_nan(x) || is_nan(y)) { return nan_f32(); }
  if (x == 0.0) { return select(0.0, f32_bits(0x7f800000u), y < 0.0); }
  let r = select(exp2(y * log2(abs(x))), select(0.0, f32_bits(0x7f800000u), y > 0.0), is_inf(x));
  if (x < 0.0) {
    if (floor(y) != y) { return select(f32_bits(0x7fc00000u), r, is_inf(x)); }
    let odd = (i32(y) & 1) == 1;
    return select(r, -r, odd);
  }
  return r;
}`;

const GELU_GRAD = `fn gelu_grad(x: f32) -> f32 {
  let u = ${GELU_C} * (x + 0.044715 * x * x * x);
  let t = safe_tanh(u);
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * ${GELU_C} * (1.0 + 3.0 * 0.044715 * x * x);
}`;

// Built-in sin/cos may be off by ~2^-11 (the WGSL bound; SwiftShader is): reduce to [-pi/2, pi/2]
// and use the Taylor series to degree 13, accurate to ~1e-7 there.
const SIN_ACC = `fn sin_acc(x: f32) -> f32 {
  var r = x - 6.283185307179586 * round(x * 0.15915494309189535);
  if (r > 1.5707963267948966) { r = 3.141592653589793 - r; } else if (r < -1.5707963267948966) { r = -3.141592653589793 - r; }
  let r2 = r * r;
  return r * (1.0 + r2 * (-1.6666666666666666e-1 + r2 * (8.333333333333333e-3 + r2 * (-1.984126984126984e-4 + r2 * (2.7557319223985893e-6 + r2 * (-2.505210838544172e-8 + r2 * 1.6059043836821613e-10))))));
}`;

const HELPERS = `${SAFE_TANH}\n${POW_ANY}\n${GELU_GRAD}\n${SIN_ACC}`;

export function unaryShader(op: UnaryOp, dtype: DType): string {
  const t = ty(dtype);
  return `${dtype === 'float32' ? HELPERS : ''}
${header([`var<storage, read> mt: array<u32>`, `var<storage, read> xs: array<${t}>`, `var<storage, read_write> out: array<${t}>`])}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${flatId}
  if (i >= mt[0]) { return; }
  let p = bitcast<f32>(mt[1]);
  let p2 = bitcast<f32>(mt[2]);
  let x = xs[i];
  out[i] = ${unaryExprNaN(op, dtype)};
}`;
}

export function binaryExpr(op: BinaryOp, dtype: DType): string {
  const f = dtype === 'float32';
  switch (op) {
    case 'add': return 'a + b';
    case 'sub': return 'a - b';
    case 'mul': return 'a * b';
    case 'div': return f ? 'a / b' : 'select(a / b, 0, b == 0)';
    case 'max': return f ? 'select(select(b, a, a > b), nan_f32(), is_nan(a) || is_nan(b))' : 'max(a, b)';
    case 'min': return f ? 'select(select(b, a, a < b), nan_f32(), is_nan(a) || is_nan(b))' : 'min(a, b)';
    case 'pow': return f ? 'pow_any(a, b)' : 'i32(pow_any(f32(a), f32(b)))';
    case 'eq': return `select(0.0, 1.0, a == b)`;
    case 'gt': return `select(0.0, 1.0, a > b)`;
    case 'ge': return `select(0.0, 1.0, a >= b)`;
    case 'lt': return `select(0.0, 1.0, a < b)`;
    case 'le': return `select(0.0, 1.0, a <= b)`;
  }
}

/** Offset of flat output index `i` in an input with per-dim strides at mt[strideBase..]. */
const OFFSET_FN = `fn offset_of(i: u32, ndim: u32, shapeBase: u32, strideBase: u32) -> u32 {
  var rem = i;
  var off = 0u;
  for (var d = i32(ndim) - 1; d >= 0; d--) {
    let dim = mt[shapeBase + u32(d)];
    let q = rem / dim;
    off += (rem - q * dim) * mt[strideBase + u32(d)];
    rem = q;
  }
  return off;
}`;

/** meta: [n, ndim, shape[8], aStrides[8], bStrides[8], cStrides[8]] */
export function binaryShader(op: BinaryOp, dtype: DType, outDtype: DType): string {
  const t = ty(dtype);
  return `${POW_ANY}
${header([`var<storage, read> mt: array<u32>`, `var<storage, read> as_: array<${t}>`, `var<storage, read> bs: array<${t}>`, `var<storage, read_write> out: array<${ty(outDtype)}>`])}
${OFFSET_FN}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${flatId}
  if (i >= mt[0]) { return; }
  let nd = mt[1];
  let a = as_[offset_of(i, nd, 2u, ${2 + MAX_DIMS}u)];
  let b = bs[offset_of(i, nd, 2u, ${2 + 2 * MAX_DIMS}u)];
  out[i] = ${binaryExpr(op, dtype)};
}`;
}

export function whereShader(dtype: DType): string {
  const t = ty(dtype);
  return `${header([`var<storage, read> mt: array<u32>`, `var<storage, read> cs: array<f32>`, `var<storage, read> as_: array<${t}>`, `var<storage, read> bs: array<${t}>`, `var<storage, read_write> out: array<${t}>`])}
${OFFSET_FN}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${flatId}
  if (i >= mt[0]) { return; }
  let nd = mt[1];
  let c = cs[offset_of(i, nd, 2u, ${2 + 3 * MAX_DIMS}u)];
  let a = as_[offset_of(i, nd, 2u, ${2 + MAX_DIMS}u)];
  let b = bs[offset_of(i, nd, 2u, ${2 + 2 * MAX_DIMS}u)];
  out[i] = select(b, a, c != 0.0 || is_nan(c)); // a NaN condition is true, as on the CPU
}`;
}

/** The identity element of a reduction, as WGSL. */
function reduceInit(op: ReduceOp, dtype: DType): string {
  if (op === 'sum') return dtype === 'int32' ? '0' : '0.0';
  if (op === 'min') return dtype === 'int32' ? '2147483647' : 'f32_bits(0x7f800000u)';
  return dtype === 'int32' ? '-2147483647 - 1' : 'f32_bits(0xff800000u)';
}

/** One step folding value `v` (index `j`) into `acc` (and `ai` for argmax); Kahan sums when asked. */
function reduceStep(op: ReduceOp, dtype: DType, kahan: boolean): string {
  // Kahan's correction is inf - inf = NaN once the sum overflows: it is dropped there.
  if (op === 'sum') return kahan && dtype === 'float32' ? 'let y = v - comp; let s = acc + y; comp = select((s - acc) - y, 0.0, is_inf(s)); acc = s;' : 'acc = acc + v;';
  const nan = dtype === 'float32';
  if (op === 'max') return nan ? 'if (is_nan(v) || (v > acc && !is_nan(acc))) { acc = v; }' : 'if (v > acc) { acc = v; }';
  if (op === 'min') return nan ? 'if (is_nan(v) || (v < acc && !is_nan(acc))) { acc = v; }' : 'if (v < acc) { acc = v; }';
  // argmax: the first NaN wins (as PyTorch); otherwise the first largest value.
  return nan ? 'if (!is_nan(acc) && (is_nan(v) || v > acc || ai == 4294967295u)) { acc = v; ai = j; }' : 'if (v > acc || ai == 4294967295u) { acc = v; ai = j; }';
}

/**
 * One workgroup per output element of x viewed as [outer, len, inner]; threads stride over len
 * and combine in a tree. meta: [outer, len, inner]
 */
export function reduceShader(op: ReduceOp, dtype: DType): string {
  const t = ty(dtype);
  const isArg = op === 'argmax';
  const init = reduceInit(op, dtype);
  const combine = reduceStep(op, dtype, false);
  const merge =
    op === 'sum' ? 'sv[l] = sv[l] + sv[l + s];'
    : op === 'max' ? (dtype === 'float32' ? 'if (!is_nan(sv[l]) && (is_nan(sv[l + s]) || sv[l + s] > sv[l])) { sv[l] = sv[l + s]; }' : 'sv[l] = max(sv[l], sv[l + s]);')
    : op === 'min' ? (dtype === 'float32' ? 'if (!is_nan(sv[l]) && (is_nan(sv[l + s]) || sv[l + s] < sv[l])) { sv[l] = sv[l + s]; }' : 'sv[l] = min(sv[l], sv[l + s]);')
    // argmax: a NaN beats any number, the lower index breaks ties (NaN with NaN too); ai = none loses.
    : `{ let o = sv[l + s]; let oi = si[l + s]; let c = sv[l]; let ci = si[l];
        let better = oi != 4294967295u && (ci == 4294967295u || ${dtype === 'float32' ? '(is_nan(o) && (!is_nan(c) || oi < ci)) || (!is_nan(c) && !is_nan(o) && (o > c || (o == c && oi < ci)))' : 'o > c || (o == c && oi < ci)'});
        if (better) { sv[l] = o; si[l] = oi; } }`;
  return `${header([`var<storage, read> mt: array<u32>`, `var<storage, read> xs: array<${t}>`, `var<storage, read_write> out: array<${isArg ? 'i32' : t}>`])}
var<workgroup> sv: array<${t}, ${WG}>;
var<workgroup> si: array<u32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = wid.x + wid.y * nwg.x;
  let outer = mt[0];
  let len = mt[1];
  let inner = mt[2];
  if (o >= outer * inner) { return; }
  let oo = o / inner;
  let ii = o - oo * inner;
  let base = oo * len * inner + ii;
  let l = lid.x;
  var acc: ${t} = ${init};
  var ai: u32 = 4294967295u;
  for (var j = l; j < len; j += ${WG}u) {
    let v = xs[base + j * inner];
    ${combine}
  }
  sv[l] = acc;
  si[l] = ai;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (l < s) { ${merge} }
    workgroupBarrier();
  }
  if (l == 0u) { out[o] = ${isArg ? 'select(i32(si[0]), 0, si[0] == 4294967295u)' : 'sv[0]'}; }
}`;
}

/**
 * Barrier-free reduction for short axes: one thread per output walks the axis (Kahan-compensated
 * sums). Workgroup barriers are slow on software adapters, and short axes leave a 256-thread
 * workgroup idle anyway. meta: [outer, len, inner]
 */
export function reduceSimpleShader(op: ReduceOp, dtype: DType): string {
  const t = ty(dtype);
  const isArg = op === 'argmax';
  const init = reduceInit(op, dtype);
  const body = reduceStep(op, dtype, true);
  return `${header([`var<storage, read> mt: array<u32>`, `var<storage, read> xs: array<${t}>`, `var<storage, read_write> out: array<${isArg ? 'i32' : t}>`])}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${flatId}
  let outer = mt[0]; let len = mt[1]; let inner = mt[2];
  if (i >= outer * inner) { return; }
  let oo = i / inner;
  let base = oo * len * inner + (i - oo * inner);
  var acc: ${t} = ${init};
  var comp: ${t} = ${dtype === 'int32' ? '0' : '0.0'};
  var ai: u32 = 0u;
  for (var j = 0u; j < len; j++) {
    let v = xs[base + j * inner];
    ${body}
  }
  out[i] = ${isArg ? 'i32(ai)' : 'acc'};
}`;
}

/**
 * Tiled matmul: a 64x64 output tile per workgroup of 16x16 threads, 4x4 outputs per thread held
 * in four vec4 accumulators, K in steps of 16 through workgroup memory. Transposition is baked in
 * per pipeline and everything is unrolled (dynamic array indexing spills on some drivers).
 * Bounds-checked for any size; batch in z. meta: [m, k, n, aBatchStride, bBatchStride]
 */
export function matmulShader(transA: boolean, transB: boolean): string {
  const aAt = transA ? 'A[aOff + gk * m + gr]' : 'A[aOff + gr * k + gk]';
  const bAt = transB ? 'B[bOff + gc * k + gk]' : 'B[bOff + gk * n + gc]';
  const rows = [0, 1, 2, 3];
  return `${header([`var<storage, read> mt: array<u32>`, `var<storage, read> A: array<f32>`, `var<storage, read> B: array<f32>`, `var<storage, read_write> C: array<f32>`])}
var<workgroup> As: array<f32, 1024>; // [16][64]: As[kk * 64 + row]
var<workgroup> Bs: array<vec4<f32>, 256>; // [16][16]: Bs[kk * 16 + col / 4]
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m = mt[0]; let k = mt[1]; let n = mt[2];
  let aOff = wid.z * mt[3];
  let bOff = wid.z * mt[4];
  let row0 = wid.y * 64u;
  let col0 = wid.x * 64u;
  let tid = lid.y * 16u + lid.x;
${rows.map((r) => `  var acc${r} = vec4<f32>(0.0);`).join('\n')}
  for (var k0 = 0u; k0 < k; k0 += 16u) {
    for (var e = tid; e < 1024u; e += 256u) {
      let kk = e / 64u; let rr = e - kk * 64u;
      let gr = row0 + rr; let gk = k0 + kk;
      var av = 0.0;
      if (gr < m && gk < k) { av = ${aAt}; }
      As[e] = av;
    }
    {
      let kk = tid / 16u; let c4 = tid - kk * 16u;
      let gk = k0 + kk;
      var bv = vec4<f32>(0.0);
      if (gk < k) {
${[0, 1, 2, 3].map((c) => `        { let gc = col0 + c4 * 4u + ${c}u; if (gc < n) { bv[${c}] = ${bAt}; } }`).join('\n')}
      }
      Bs[tid] = bv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      let b = Bs[kk * 16u + lid.x];
      let base = kk * 64u + lid.y * 4u;
${rows.map((r) => `      acc${r} = fma(vec4<f32>(As[base + ${r}u]), b, acc${r});`).join('\n')}
    }
    workgroupBarrier();
  }
  let gc = col0 + lid.x * 4u;
${rows.map((r) => `  {
    let gr = row0 + lid.y * 4u + ${r}u;
    if (gr < m) {
      let o = wid.z * m * n + gr * n + gc;
      if (gc < n) { C[o] = acc${r}.x; }
      if (gc + 1u < n) { C[o + 1u] = acc${r}.y; }
      if (gc + 2u < n) { C[o + 2u] = acc${r}.z; }
      if (gc + 3u < n) { C[o + 3u] = acc${r}.w; }
    }
  }`).join('\n')}
}`;
}

/**
 * Barrier-free matmul: each thread computes a 1x4 strip of C from global memory. Software
 * adapters (SwiftShader) run workgroup barriers as coroutine switches, which makes the tiled
 * kernel several times slower there; on hardware the tiled kernel is used.
 * meta: [m, k, n, aBatchStride, bBatchStride]
 */
export function matmulSimpleShader(transA: boolean, transB: boolean): string {
  const aAt = transA ? 'A[aOff + p * m + r]' : 'A[aOff + r * k + p]';
  const bAt = (c: string): string => (transB ? `B[bOff + (${c}) * k + p]` : `B[bOff + p * n + ${c}]`);
  return `${header([`var<storage, read> mt: array<u32>`, `var<storage, read> A: array<f32>`, `var<storage, read> B: array<f32>`, `var<storage, read_write> C: array<f32>`])}
@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let m = mt[0]; let k = mt[1]; let n = mt[2];
  let r = gid.y;
  let c0 = gid.x * 4u;
  if (r >= m || c0 >= n) { return; }
  let aOff = gid.z * mt[3];
  let bOff = gid.z * mt[4];
  let c1 = min(c0 + 1u, n - 1u); let c2 = min(c0 + 2u, n - 1u); let c3 = min(c0 + 3u, n - 1u);
  var acc = vec4<f32>(0.0);
  for (var p = 0u; p < k; p++) {
    let a = ${aAt};
    acc = fma(vec4<f32>(a), vec4<f32>(${bAt('c0')}, ${bAt('c1')}, ${bAt('c2')}, ${bAt('c3')}), acc);
  }
  let o = gid.z * m * n + r * n + c0;
  C[o] = acc.x;
  if (c0 + 1u < n) { C[o + 1u] = acc.y; }
  if (c0 + 2u < n) { C[o + 2u] = acc.z; }
  if (c0 + 3u < n) { C[o + 3u] = acc.w; }
}`;
}

/** meta: [n, ndim, offset, shape[8], strides[8]] */
export function stridedShader(dtype: DType): string {
  const t = ty(dtype);
  return `${header([`var<storage, read> mt: array<u32>`, `var<storage, read> xs: array<${t}>`, `var<storage, read_write> out: array<${t}>`])}
${OFFSET_FN}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${flatId}
  if (i >= mt[0]) { return; }
  out[i] = xs[mt[2] + offset_of(i, mt[1], 3u, ${3 + MAX_DIMS}u)];
}`;
}

/** Writes src into out (already a copy of dst). meta: [n, ndim, offset, srcShape[8], dstStrides[8]] */
export function scatterShader(dtype: DType): string {
  const t = ty(dtype);
  return `${header([`var<storage, read> mt: array<u32>`, `var<storage, read> src: array<${t}>`, `var<storage, read_write> out: array<${t}>`])}
${OFFSET_FN}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${flatId}
  if (i >= mt[0]) { return; }
  out[mt[2] + offset_of(i, mt[1], 3u, ${3 + MAX_DIMS}u)] = src[i];
}`;
}

/**
 * Out-of-range indices cannot throw inside a kernel, so index kernels record the first one in a
 * device-wide fault buffer [count, op, index, position, limit] that the backend checks on every
 * read (as CUDA reports a device-side assert at the next synchronisation).
 */
export const FAULT_WORDS = 8;
export const FAULT_OPS = ['', 'embedding', 'pick'] as const;
const FAULT_DECL = `var<storage, read_write> fault: array<atomic<u32>, ${FAULT_WORDS}>`;
const faultFn = (op: number): string => `fn report(index: i32, pos: u32, limit: u32) {
  if (atomicAdd(&fault[0], 1u) == 0u) {
    atomicStore(&fault[1], ${op}u); atomicStore(&fault[2], bitcast<u32>(index)); atomicStore(&fault[3], pos); atomicStore(&fault[4], limit);
  }
}`;

/** meta: [nIdx, rows, cols]; an out-of-range index writes NaN (0 for int32) and a fault. */
export function gatherRowsShader(dtype: DType): string {
  const t = ty(dtype);
  return `${header([`var<storage, read> mt: array<u32>`, `var<storage, read> table: array<${t}>`, `var<storage, read> idx: array<i32>`, `var<storage, read_write> out: array<${t}>`, FAULT_DECL])}
${faultFn(FAULT_OPS.indexOf('embedding'))}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${flatId}
  let cols = mt[2];
  if (i >= mt[0] * cols) { return; }
  let r = i / cols;
  let c = i - r * cols;
  let row = idx[r];
  if (row < 0 || u32(row) >= mt[1]) {
    out[i] = ${dtype === 'int32' ? '0' : 'f32_bits(0x7fc00000u)'};
    if (c == 0u) { report(row, r, mt[1]); }
    return;
  }
  out[i] = table[u32(row) * cols + c];
}`;
}

/** Deterministic scatter-add: one thread per output (row, col) sums matching indices in order. meta: [nIdx, rows, cols] */
export function scatterAddRowsShader(): string {
  return `${header([`var<storage, read> mt: array<u32>`, `var<storage, read> g: array<f32>`, `var<storage, read> idx: array<i32>`, `var<storage, read_write> out: array<f32>`])}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${flatId}
  let cols = mt[2];
  if (i >= mt[1] * cols) { return; }
  let r = i32(i / cols);
  let c = i - u32(r) * cols;
  var acc = 0.0;
  for (var j = 0u; j < mt[0]; j++) {
    if (idx[j] == r) { acc += g[j * cols + c]; }
  }
  out[i] = acc;
}`;
}

/** meta: [n, c]; an out-of-range class writes NaN and a fault. */
export function pickShader(): string {
  return `${header([`var<storage, read> mt: array<u32>`, `var<storage, read> xs: array<f32>`, `var<storage, read> idx: array<i32>`, `var<storage, read_write> out: array<f32>`, FAULT_DECL])}
${faultFn(FAULT_OPS.indexOf('pick'))}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${flatId}
  if (i >= mt[0]) { return; }
  let j = idx[i];
  if (j < 0 || u32(j) >= mt[1]) { out[i] = f32_bits(0x7fc00000u); report(j, i, mt[1]); return; }
  out[i] = xs[i * mt[1] + u32(j)];
}`;
}

/** meta: [n, c]; one thread per output element. */
export function unpickShader(): string {
  return `${header([`var<storage, read> mt: array<u32>`, `var<storage, read> g: array<f32>`, `var<storage, read> idx: array<i32>`, `var<storage, read_write> out: array<f32>`])}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${flatId}
  let c = mt[1];
  if (i >= mt[0] * c) { return; }
  let r = i / c;
  out[i] = select(0.0, g[r], idx[r] == i32(i - r * c));
}`;
}

export function castShader(from: DType, to: DType): string {
  return `${header([`var<storage, read> mt: array<u32>`, `var<storage, read> xs: array<${ty(from)}>`, `var<storage, read_write> out: array<${ty(to)}>`])}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${flatId}
  if (i >= mt[0]) { return; }
  out[i] = ${ty(to)}(xs[i]);
}`;
}

/** meta: [n, bits] */
export function fillShader(dtype: DType): string {
  return `${header([`var<storage, read> mt: array<u32>`, `var<storage, read_write> out: array<${ty(dtype)}>`])}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${flatId}
  if (i >= mt[0]) { return; }
  out[i] = bitcast<${ty(dtype)}>(mt[1]);
}`;
}
