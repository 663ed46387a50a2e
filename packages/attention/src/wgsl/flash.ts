/**
 * WGSL sources for tiled flash attention (f32): forward with online softmax (or sigmoid
 * weights), a backward preprocess (delta per row), and FlashAttention-2 style recompute kernels
 * for dQ (per query tile) and dK/dV (per key tile, summing over the query heads of a GQA group).
 *
 * Block tables and mod captures share one `aux: array<u32>` buffer (offsets in the uniform
 * params), keeping every kernel within 8 storage buffers. Tiles the block mask marks absent are
 * never visited; full tiles skip mask evaluation; partial tiles evaluate `mask_mod` per element.
 * Without a table every key block is visited as full.
 *
 * Special values (kept exact, as the float64 reference): a masked key and a score of -Infinity
 * are excluded (no magnitude sentinel: any finite score, however negative, counts); a NaN score
 * makes the row's out and lse NaN, a +Infinity one (softmax) out NaN and lse +Infinity, as
 * PyTorch's attention and logsumexp do; a row with nothing left gives out 0 and lse -Infinity. WGSL lets compilers assume no NaN or
 * infinity, so these are tested on bit patterns. The forward also writes the row max m and
 * log(sum) separately (`stats`), and the backward recomputes p = exp((s - m) - log(sum)): an f32
 * lse = m + log(sum) loses log(sum) entirely once |m| is large (1e8), which made dv wrong.
 * The forward's accumulator is a running weighted mean of v (never above max |v|), not the
 * unnormalised sum, which overflows f32 for v near its maximum (v = 3e38 gave Infinity).
 */

import { bindingType, loadElem, stageRows, storageConsts, storageEnable } from './qkv-storage.js';

export interface FlashKernelConfig {
  /** Head dim of q and k. */
  D: number;
  /** Head dim of v and out (may differ from D). */
  DV: number;
  /** Query rows per workgroup (one thread per row) in forward/dQ; key rows per workgroup in dK/dV. */
  BR: number;
  /** Inner tile: keys staged in workgroup memory per step (forward/dQ); query rows per step (dK/dV). */
  BC: number;
  /** Block-mask tile sizes (multiples of BR / BC as used). */
  QBLOCK: number;
  KBLOCK: number;
  hasTable: boolean;
  /** WGSL of mask_mod / score_mod / score_mod_grad (from wgslMods), '' when none. */
  modsCode: string;
  hasMask: boolean;
  hasScore: boolean;
  sigmoid: boolean;
  /** `cap_grads` (wgslMods' capGradCode) when a captured tensor wants a gradient; '' otherwise. */
  capGradCode?: string;
  /** q, k, v in f16 storage (packed halves, wgsl/qkv-storage.ts); f32 arithmetic either way. */
  f16?: boolean;
  /** With f16: read them as WGSL f16 (`enable f16;`, adapters with `shader-f16`) instead of unpack2x16float. */
  f16Native?: boolean;
}

/** Uniform params shared by all flash kernels (16 x u32). */
export const FLASH_PARAMS_WORDS = 24;

export interface FlashParams {
  B: number; Hq: number; Hkv: number; Nq: number; Nk: number; scale: number; sigBias: number;
  nQB: number; nKB: number; Bm: number; Hm: number;
  kvNumOff: number; kvIdxOff: number; fullNumOff: number; fullIdxOff: number;
  qNumOff: number; qIdxOff: number; fullQNumOff: number; fullQIdxOff: number; mdBase: number;
}

export function packFlashParams(p: FlashParams): ArrayBuffer {
  const buf = new ArrayBuffer(FLASH_PARAMS_WORDS * 4);
  const u = new Uint32Array(buf);
  const i = new Int32Array(buf);
  const f = new Float32Array(buf);
  u[0] = p.B; u[1] = p.Hq; u[2] = p.Hkv; u[3] = p.Nq; u[4] = p.Nk;
  i[5] = p.Nk - p.Nq;
  f[6] = p.scale; f[7] = p.sigBias;
  u[8] = p.nQB; u[9] = p.nKB; u[10] = p.Bm; u[11] = p.Hm;
  u[12] = p.kvNumOff; u[13] = p.kvIdxOff; u[14] = p.fullNumOff; u[15] = p.fullIdxOff;
  u[16] = p.qNumOff; u[17] = p.qIdxOff; u[18] = p.fullQNumOff; u[19] = p.fullQIdxOff;
  u[20] = p.mdBase;
  u[21] = 0xff800000; // bits of -Infinity (WGSL constants cannot hold it)
  return buf;
}

const PARAMS_STRUCT = /* wgsl */ `
struct Params {
  B: u32, Hq: u32, Hkv: u32, Nq: u32, Nk: u32, qoff: i32, scale: f32, sig_bias: f32,
  nQB: u32, nKB: u32, Bm: u32, Hm: u32,
  kv_num: u32, kv_idx: u32, full_num: u32, full_idx: u32,
  q_num: u32, q_idx: u32, full_q_num: u32, full_q_idx: u32,
  md_base: u32, ninf_bits: u32, pad0: u32, pad1: u32,
}
`;

export function header(c: FlashKernelConfig): string {
  return `${storageEnable(c)}${PARAMS_STRUCT}
const D: u32 = ${c.D}u;
const DV: u32 = ${c.DV}u;
const BR: u32 = ${c.BR}u;
const BC: u32 = ${c.BC}u;
const QBLOCK: u32 = ${c.QBLOCK}u;
const KBLOCK: u32 = ${c.KBLOCK}u;
${storageConsts(c)}${SPECIALS}`;
}

const SPECIALS = /* wgsl */ `
fn bits_f32(b: u32) -> f32 { var v = b; return bitcast<f32>(v); }
fn is_ninf(x: f32) -> bool { return bitcast<u32>(x) == 0xff800000u; }
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn nan_f32() -> f32 { return bits_f32(0x7fc00000u); }
fn ninf_f32() -> f32 { return bits_f32(0xff800000u); }
`;

/** Modified score; masking is decided by keep(), never by the score's magnitude. */
export function scoreFn(c: FlashKernelConfig): string {
  return `
fn mod_score(raw: f32, b: i32, h: i32, q: i32, k: i32) -> f32 {
  ${c.hasScore ? 'return score_mod(raw, b, h, q, k, P.qoff);' : 'return raw;'}
}
fn mod_grad(raw: f32, b: i32, h: i32, q: i32, k: i32) -> f32 {
  ${c.hasScore ? 'return score_mod_grad(raw, b, h, q, k, P.qoff);' : 'return 1.0f;'}
}
fn keep(partial: bool, b: i32, h: i32, q: i32, k: i32) -> bool {
  ${c.hasMask ? 'return !partial || mask_mod(b, h, q, k, P.qoff);' : 'return true;'}
}
fn sigm(x: f32) -> f32 {
  if (is_nan(x)) { return x; } // exp(NaN) is not NaN on every adapter (SwiftShader: +Infinity)
  if (x >= 0.0f) { return 1.0f / (1.0f + exp(-x)); }
  let e = exp(x);
  return e / (1.0f + e);
}
// A score that makes the whole row NaN: NaN, or +Infinity under softmax (exp(inf - inf)).
fn poisons(s: f32) -> bool {
  ${c.sigmoid ? 'return is_nan(s);' : 'return is_nan(s) || bitcast<u32>(s) == 0x7f800000u;'}
}
`;
}

/** Block-table helpers: how many blocks a (b, h, row block) visits and which. */
export function tableFns(c: FlashKernelConfig): string {
  if (!c.hasTable) {
    return `
fn n_blocks(tbl_row: u32, transposed: bool) -> vec2<u32> {
  if (transposed) { return vec2<u32>(0u, (P.Nq + QBLOCK - 1u) / QBLOCK); }
  return vec2<u32>(0u, (P.Nk + KBLOCK - 1u) / KBLOCK);
}
fn block_at(tbl_row: u32, t: u32, n: vec2<u32>, transposed: bool) -> u32 { return t; }
`;
  }
  return `
fn n_blocks(tbl_row: u32, transposed: bool) -> vec2<u32> {
  if (transposed) { return vec2<u32>(aux[P.q_num + tbl_row], aux[P.full_q_num + tbl_row]); }
  return vec2<u32>(aux[P.kv_num + tbl_row], aux[P.full_num + tbl_row]);
}
// Partial blocks first (t < n.x), then full ones.
fn block_at(tbl_row: u32, t: u32, n: vec2<u32>, transposed: bool) -> u32 {
  let width = select(P.nKB, P.nQB, transposed);
  if (t < n.x) {
    return aux[select(P.kv_idx, P.q_idx, transposed) + tbl_row * width + t];
  }
  return aux[select(P.full_idx, P.full_q_idx, transposed) + tbl_row * width + (t - n.x)];
}
`;
}

export function tableRow(bExpr: string, hExpr: string, blockExpr: string, width: string): string {
  return `((select(${bExpr}, 0u, P.Bm == 1u) * P.Hm + select(${hExpr}, 0u, P.Hm == 1u)) * ${width} + ${blockExpr})`;
}

export const BINDINGS_COMMON = (extra: string) => `
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> aux: array<u32>;
${extra}`;

export interface KernelSource {
  code: string;
  /** Storage bindings after (0: uniform params, 1: aux), in order: name and access. */
  buffers: { name: string; access: 'read' | 'read_write' }[];
}

/** Forward: out [B,Hq,Nq,DV] (ungated), lse [B,Hq,Nq]. Dispatch (ceil(Nq/BR), Hq, B). */
export function flashForwardSource(c: FlashKernelConfig): KernelSource {
  const buffers = [
    { name: 'Qb', access: 'read' as const }, { name: 'Kb', access: 'read' as const }, { name: 'Vb', access: 'read' as const },
    { name: 'Ob', access: 'read_write' as const }, { name: 'Lb', access: 'read_write' as const }, { name: 'Fb', access: 'read_write' as const },
  ];
  const decl = buffers.map((b, i) => `@group(0) @binding(${i + 2}) var<storage, ${b.access}> ${b.name}: ${bindingType(c, b.name)};`).join('\n');
  const code = `${header(c)}${BINDINGS_COMMON(decl)}
${c.modsCode}
${scoreFn(c)}
${tableFns(c)}
var<workgroup> Ks: array<f32, ${c.BC * c.D}>;
var<workgroup> Vs: array<f32, ${c.BC * c.DV}>;
var<workgroup> wg_u: array<u32, 3>;

@compute @workgroup_size(${c.BR})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.z;
  let h = wid.y;
  let hk = h / (P.Hq / P.Hkv);
  let q0 = wid.x * BR;
  let row = q0 + lid;
  let valid = row < P.Nq;
  let qrow = (b * P.Hq + h) * P.Nq + row;
  let kvbase = (b * P.Hkv + hk) * P.Nk;
  var qr: array<f32, ${c.D}>;
  var acc: array<f32, ${c.DV}>;
  if (valid) {
    for (var d = 0u; d < D; d++) { qr[d] = ${loadElem(c, 'Qb', 'qrow', 'd', 'D')}; }
    for (var d = 0u; d < DV; d++) { acc[d] = 0.0f; }
  }
  var m = 0.0f;
  var has_m = false;
  var l = 0.0f;
  var cnt = 0.0f; // sigmoid: keys summed so far
  var bad = 0u; // bit 1: a NaN score, bit 0: +Infinity under softmax
  let tbl_row = ${tableRow('b', 'h', 'q0 / QBLOCK', 'P.nQB')};
  if (lid == 0u) {
    let n = n_blocks(tbl_row, false);
    wg_u[0] = n.x;
    wg_u[1] = n.y;
  }
  let n_part = workgroupUniformLoad(&wg_u[0]);
  let n_full = workgroupUniformLoad(&wg_u[1]);
  let nvec = vec2<u32>(n_part, n_full);
  for (var t = 0u; t < n_part + n_full; t++) {
    if (lid == 0u) { wg_u[2] = block_at(tbl_row, t, nvec, false); }
    let kb = workgroupUniformLoad(&wg_u[2]);
    let partial = t < n_part;
    for (var sub = 0u; sub < KBLOCK; sub += BC) {
      let k0 = kb * KBLOCK + sub;
      if (k0 >= P.Nk) { break; }
      workgroupBarrier();
      ${stageRows(c, { buf: 'Kb', dst: 'Ks', W: 'D', rows: 'BC', start: 'k0', base: 'kvbase', limit: 'P.Nk', threads: 'BR' })}
      ${stageRows(c, { buf: 'Vb', dst: 'Vs', W: 'DV', rows: 'BC', start: 'k0', base: 'kvbase', limit: 'P.Nk', threads: 'BR' })}
      workgroupBarrier();
      if (valid) {
        var sc: array<f32, ${c.BC}>;
        var live: array<bool, ${c.BC}>;
        var tmax = 0.0f;
        var seen = false;
        for (var j = 0u; j < BC; j++) {
          let kk = k0 + j;
          live[j] = false;
          if (kk < P.Nk && keep(partial, i32(b), i32(h), i32(row), i32(kk))) {
            var dot = 0.0f;
            for (var d = 0u; d < D; d++) { dot += qr[d] * Ks[j * D + d]; }
            let s = mod_score(dot * P.scale, i32(b), i32(h), i32(row), i32(kk));
            sc[j] = s;
            if (poisons(s)) {
              bad |= select(1u, 2u, is_nan(s));
            } else if (!is_ninf(s)) {
              live[j] = true;
              if (!seen || s > tmax) { tmax = s; }
              seen = true;
            }
          }
        }
        // acc is kept a weighted mean (softmax: sum p v / l; sigmoid: sum p v / live keys), rescaled
        // once per tile: it never exceeds max |v|, where the unnormalised sum overflows f32 for v near its maximum.
        ${c.sigmoid ? `
        var nt = 0.0f;
        for (var j = 0u; j < BC; j++) {
          if (live[j]) {
            let p = sigm(sc[j] + P.sig_bias);
            sc[j] = p;
            l += p;
            nt += 1.0f;
          }
        }
        if (nt > 0.0f) {
          let nnew = cnt + nt;
          let keepw = cnt / nnew;
          cnt = nnew;
          for (var d = 0u; d < DV; d++) { acc[d] *= keepw; }
          for (var j = 0u; j < BC; j++) {
            if (live[j]) {
              let w = sc[j] / nnew;
              for (var d = 0u; d < DV; d++) { acc[d] += w * Vs[j * DV + d]; }
            }
          }
        }` : `
        if (seen) {
          let mnew = select(tmax, max(m, tmax), has_m);
          let corr = select(0.0f, exp(m - mnew), has_m);
          m = mnew;
          has_m = true;
          var lt = 0.0f;
          for (var j = 0u; j < BC; j++) {
            if (live[j]) {
              let p = exp(sc[j] - m);
              sc[j] = p;
              lt += p;
            }
          }
          let lold = l * corr;
          let lnew = lold + lt; // >= 1: the tile's or an earlier maximum contributes exp(0)
          let keepw = lold / lnew;
          let inv = 1.0f / lnew;
          l = lnew;
          for (var d = 0u; d < DV; d++) { acc[d] *= keepw; }
          for (var j = 0u; j < BC; j++) {
            if (live[j]) {
              let w = sc[j] * inv;
              for (var d = 0u; d < DV; d++) { acc[d] += w * Vs[j * DV + d]; }
            }
          }
        }`}
      }
    }
  }
  if (valid) {
    let R = P.B * P.Hq * P.Nq;
    let r = (b * P.Hq + h) * P.Nq + row;
    if (bad != 0u) {
      Lb[r] = select(bits_f32(0x7f800000u), nan_f32(), (bad & 2u) != 0u);
      Fb[r] = nan_f32();
      Fb[R + r] = nan_f32();
      for (var d = 0u; d < DV; d++) { Ob[r * DV + d] = nan_f32(); }
    } else if (l > 0.0f) {
      ${c.sigmoid ? `let outw = cnt; // acc is the mean over the summed keys
      Fb[r] = 0.0f;` : `let outw = 1.0f; // acc is already divided by l
      Fb[r] = m;`}
      Fb[R + r] = log(l);
      Lb[r] = ${c.sigmoid ? 'log(l)' : 'm + log(l)'};
      for (var d = 0u; d < DV; d++) { Ob[r * DV + d] = acc[d] * outw; }
    } else {
      Lb[r] = ninf_f32();
      Fb[r] = ninf_f32();
      Fb[R + r] = 0.0f;
      for (var d = 0u; d < DV; d++) { Ob[r * DV + d] = 0.0f; }
    }
  }
}
`;
  return { code, buffers };
}

/**
 * The backward works with dp = dO . v and delta for row r scaled by sc_r, a power of two putting
 * max |dO_r| in [2^-SD, 2^(1-SD)) with SD = ceil(log2 DV) + 2: both dots can overflow f32 (v or dO
 * near its maximum) while their difference, ds and the gradients are finite, and tiny dO would
 * lose its bits in f32 underflow. ds is unscaled (times 1 / sc_r) before it is summed into dq, dk.
 * Powers of two are exact (sc_r is kept within [2^-126, 2^126], normal both ways).
 */
const gradScaleConsts = (DV: number): string => `const SD: i32 = ${Math.ceil(Math.log2(Math.max(DV, 1))) + 2};
// 2^k for k in [-126, 127], built from the exponent bits (exact).
fn pow2i(k: i32) -> f32 { return bitcast<f32>(u32(k + 127) << 23u); }
fn inv_pow2(sc: f32) -> f32 { return pow2i(127 - i32((bitcast<u32>(sc) >> 23u) & 0xffu)); }
`;

/**
 * Backward preprocess: from the forward's stats Fb = [m (R), log(sum) (R)] to
 * Sb = [m (R), log(sum) (R), delta' (R), sc (R)] with softmax: delta' = sc (sum(dO * O) - dLse);
 * sigmoid: delta' = -sc dLse * exp(-lse); sc the row's power-of-two scale (gradScaleConsts). One thread per row. Dispatch (ceil(R / 64), 1, 1).
 * The kernel reads dLse from `DLb` (zeros when lse is unused).
 */
/** `c.D` here is the value head dim (the width of out and dOut). */
export function flashPreprocessSource(c: { D: number; sigmoid: boolean }): KernelSource {
  const buffers = [
    { name: 'Ob', access: 'read' as const }, { name: 'DOb', access: 'read' as const }, { name: 'Fb', access: 'read' as const },
    { name: 'DLb', access: 'read' as const }, { name: 'Sb', access: 'read_write' as const },
  ];
  const decl = buffers.map((b, i) => `@group(0) @binding(${i + 2}) var<storage, ${b.access}> ${b.name}: array<f32>;`).join('\n');
  const code = `${PARAMS_STRUCT}
const D: u32 = ${c.D}u;
${gradScaleConsts(c.D)}${SPECIALS}
${BINDINGS_COMMON(decl)}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let R = P.B * P.Hq * P.Nq;
  let r = gid.x + gid.y * 65535u * 64u;
  if (r >= R) { return; }
  let m = Fb[r];
  let ll = Fb[R + r];
  Sb[r] = m;
  Sb[R + r] = ll;
  var amax = 0.0f;
  for (var d = 0u; d < D; d++) { amax = max(amax, abs(DOb[r * D + d])); }
  var k = 0; // non-finite or zero dO: no scaling, so specials propagate as before
  let eb = i32((bitcast<u32>(amax) >> 23u) & 0xffu);
  if (amax > 0.0f && eb < 255) { k = clamp(-(max(eb, 1) - 127 + SD), -126, 126); }
  let sc = pow2i(k);
  Sb[3u * R + r] = sc;
  ${c.sigmoid ? `
  var delta = 0.0f;
  if (!is_ninf(m)) { delta = -(DLb[r] * sc) * exp(-ll); }
  Sb[2u * R + r] = delta;` : `
  var dot = 0.0f;
  for (var d = 0u; d < D; d++) { dot += (DOb[r * D + d] * sc) * Ob[r * D + d]; }
  Sb[2u * R + r] = dot - DLb[r] * sc;`}
  _ = aux[0];
}
`;
  return { code, buffers };
}

/**
 * Probability and d(score) of one element given the raw score, the row's m and log(sum), and
 * delta' (dp and delta' scaled by the row's sc, so ds is too). Returns vec4(p, ds_raw, 1, ds) (ds: the gradient of the modified score), or vec4(0) for a
 * score of -Infinity (excluded, like a mask).
 */
function gradElem(c: FlashKernelConfig): string {
  return `
${gradScaleConsts(c.DV)}
fn p_ds(raw: f32, m: f32, ll: f32, delta: f32, dp: f32, b: i32, h: i32, q: i32, k: i32) -> vec4<f32> {
  let s = mod_score(raw, b, h, q, k);
  if (is_ninf(s)) { return vec4<f32>(0.0f); }
  ${c.sigmoid ? `let p = sigm(s + P.sig_bias);
  let ds = (dp - delta) * p * (1.0f - p);` : `let e = (s - m) - ll;
  let p = select(exp(e), nan_f32(), is_nan(e));
  let ds = p * (dp - delta);`}
  return vec4<f32>(p, ds * mod_grad(raw, b, h, q, k), 1.0f, ds);
}
`;
}

/** dQ: one thread per query row, visiting the same tiles as forward. Dispatch (ceil(Nq/BR), Hq, B). */
export function flashBackwardDqSource(c: FlashKernelConfig): KernelSource {
  const buffers = [
    { name: 'Qb', access: 'read' as const }, { name: 'Kb', access: 'read' as const }, { name: 'Vb', access: 'read' as const },
    { name: 'DOb', access: 'read' as const }, { name: 'Sb', access: 'read' as const }, { name: 'DQb', access: 'read_write' as const },
  ];
  // Gradients into captured tensors are summed here (float bits in atomics), one add per score.
  const capGrad = c.capGradCode ?? '';
  if (capGrad) buffers.push({ name: 'CGb', access: 'read_write' as const });
  const decl = buffers.map((b, i) => `@group(0) @binding(${i + 2}) var<storage, ${b.access}> ${b.name}: ${b.name === 'CGb' ? 'array<atomic<u32>>' : bindingType(c, b.name)};`).join('\n');
  const code = `${header(c)}${BINDINGS_COMMON(decl)}
${c.modsCode}
${scoreFn(c)}
${tableFns(c)}
${gradElem(c)}
${capGrad}
var<workgroup> Ks: array<f32, ${c.BC * c.D}>;
var<workgroup> Vs: array<f32, ${c.BC * c.DV}>;
var<workgroup> wg_u: array<u32, 3>;

@compute @workgroup_size(${c.BR})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.z;
  let h = wid.y;
  let hk = h / (P.Hq / P.Hkv);
  let q0 = wid.x * BR;
  let row = q0 + lid;
  let R = P.B * P.Hq * P.Nq;
  let r = (b * P.Hq + h) * P.Nq + row;
  let kvbase = (b * P.Hkv + hk) * P.Nk;
  var valid = row < P.Nq;
  var qr: array<f32, ${c.D}>;
  var dor: array<f32, ${c.DV}>;
  var dq: array<f32, ${c.D}>;
  var m = 0.0f;
  var ll = 0.0f;
  var delta = 0.0f;
  var sc = 1.0f;
  if (valid) {
    m = Sb[r];
    ll = Sb[R + r];
    delta = Sb[2u * R + r];
    sc = Sb[3u * R + r];
    valid = !is_ninf(m);
    for (var d = 0u; d < D; d++) { qr[d] = ${loadElem(c, 'Qb', 'r', 'd', 'D')}; dq[d] = 0.0f; }
    for (var d = 0u; d < DV; d++) { dor[d] = DOb[r * DV + d] * sc; } // scaled: only dp uses it
  }
  let inv_sc = inv_pow2(sc);
  let tbl_row = ${tableRow('b', 'h', 'q0 / QBLOCK', 'P.nQB')};
  if (lid == 0u) {
    let n = n_blocks(tbl_row, false);
    wg_u[0] = n.x;
    wg_u[1] = n.y;
  }
  let n_part = workgroupUniformLoad(&wg_u[0]);
  let n_full = workgroupUniformLoad(&wg_u[1]);
  let nvec = vec2<u32>(n_part, n_full);
  for (var t = 0u; t < n_part + n_full; t++) {
    if (lid == 0u) { wg_u[2] = block_at(tbl_row, t, nvec, false); }
    let kb = workgroupUniformLoad(&wg_u[2]);
    let partial = t < n_part;
    for (var sub = 0u; sub < KBLOCK; sub += BC) {
      let k0 = kb * KBLOCK + sub;
      if (k0 >= P.Nk) { break; }
      workgroupBarrier();
      ${stageRows(c, { buf: 'Kb', dst: 'Ks', W: 'D', rows: 'BC', start: 'k0', base: 'kvbase', limit: 'P.Nk', threads: 'BR' })}
      ${stageRows(c, { buf: 'Vb', dst: 'Vs', W: 'DV', rows: 'BC', start: 'k0', base: 'kvbase', limit: 'P.Nk', threads: 'BR' })}
      workgroupBarrier();
      if (valid) {
        for (var j = 0u; j < BC; j++) {
          let kk = k0 + j;
          if (kk < P.Nk && keep(partial, i32(b), i32(h), i32(row), i32(kk))) {
            var dot = 0.0f;
            var dp = 0.0f;
            for (var d = 0u; d < D; d++) { dot += qr[d] * Ks[j * D + d]; }
            for (var d = 0u; d < DV; d++) { dp += dor[d] * Vs[j * DV + d]; }
            let g = p_ds(dot * P.scale, m, ll, delta, dp, i32(b), i32(h), i32(row), i32(kk));
            if (g.z != 0.0f) {
              let c = g.y * P.scale;
              for (var d = 0u; d < D; d++) { dq[d] += c * Ks[j * D + d]; }
              ${capGrad ? 'cap_grads(g.w * inv_sc, dot * P.scale, i32(b), i32(h), i32(row), i32(kk), P.qoff);' : ''}
            }
          }
        }
      }
    }
  }
  if (row < P.Nq) {
    for (var d = 0u; d < D; d++) { DQb[r * D + d] = select(0.0f, dq[d] * inv_sc, valid); }
  }
}
`;
  return { code, buffers };
}

/**
 * dK, dV: one thread per key row (BR keys per workgroup), looping over the query heads of the
 * GQA group and their active query blocks (transposed table). Dispatch (ceil(Nk/BR), Hkv, B).
 */
export function flashBackwardDkvSource(c: FlashKernelConfig): KernelSource {
  const buffers = [
    { name: 'Qb', access: 'read' as const }, { name: 'Kb', access: 'read' as const }, { name: 'Vb', access: 'read' as const },
    { name: 'DOb', access: 'read' as const }, { name: 'Sb', access: 'read' as const },
    { name: 'DKb', access: 'read_write' as const }, { name: 'DVb', access: 'read_write' as const },
  ];
  const decl = buffers.map((b, i) => `@group(0) @binding(${i + 2}) var<storage, ${b.access}> ${b.name}: ${bindingType(c, b.name)};`).join('\n');
  const code = `${header(c)}${BINDINGS_COMMON(decl)}
${c.modsCode}
${scoreFn(c)}
${tableFns(c)}
${gradElem(c)}
var<workgroup> Qs: array<f32, ${c.BC * c.D}>;
var<workgroup> DOs: array<f32, ${c.BC * c.DV}>;
var<workgroup> Ms: array<f32, ${c.BC}>;
var<workgroup> LLs: array<f32, ${c.BC}>;
var<workgroup> Ds: array<f32, ${c.BC}>;
var<workgroup> SCs: array<f32, ${c.BC}>;
var<workgroup> wg_u: array<u32, 3>;

@compute @workgroup_size(${c.BR})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.z;
  let hk = wid.y;
  let G = P.Hq / P.Hkv;
  let k0 = wid.x * BR;
  let col = k0 + lid;
  let valid = col < P.Nk;
  let R = P.B * P.Hq * P.Nq;
  let kr = (b * P.Hkv + hk) * P.Nk + col;
  var kr_: array<f32, ${c.D}>;
  var vr: array<f32, ${c.DV}>;
  var dk: array<f32, ${c.D}>;
  var dv: array<f32, ${c.DV}>;
  if (valid) {
    for (var d = 0u; d < D; d++) { kr_[d] = ${loadElem(c, 'Kb', 'kr', 'd', 'D')}; dk[d] = 0.0f; }
    for (var d = 0u; d < DV; d++) { vr[d] = ${loadElem(c, 'Vb', 'kr', 'd', 'DV')}; dv[d] = 0.0f; }
  }
  for (var gi = 0u; gi < G; gi++) {
    let h = hk * G + gi;
    let tbl_row = ${tableRow('b', 'h', 'k0 / KBLOCK', 'P.nKB')};
    workgroupBarrier();
    if (lid == 0u) {
      let n = n_blocks(tbl_row, true);
      wg_u[0] = n.x;
      wg_u[1] = n.y;
    }
    let n_part = workgroupUniformLoad(&wg_u[0]);
    let n_full = workgroupUniformLoad(&wg_u[1]);
    let nvec = vec2<u32>(n_part, n_full);
    let qrow0 = (b * P.Hq + h) * P.Nq;
    for (var t = 0u; t < n_part + n_full; t++) {
      if (lid == 0u) { wg_u[2] = block_at(tbl_row, t, nvec, true); }
      let qb = workgroupUniformLoad(&wg_u[2]);
      let partial = t < n_part;
      for (var sub = 0u; sub < QBLOCK; sub += BC) {
        let i0 = qb * QBLOCK + sub;
        if (i0 >= P.Nq) { break; }
        workgroupBarrier();
        ${stageRows(c, { buf: 'Qb', dst: 'Qs', W: 'D', rows: 'BC', start: 'i0', base: 'qrow0', limit: 'P.Nq', threads: 'BR' })}
        for (var e = lid; e < BC * DV; e += BR) {
          let ii = i0 + e / DV;
          var dov = 0.0f;
          if (ii < P.Nq) { dov = DOb[(qrow0 + ii) * DV + e % DV]; }
          DOs[e] = dov;
        }
        for (var e = lid; e < BC; e += BR) {
          let ii = i0 + e;
          var mv = ninf_f32();
          var lv = 0.0f;
          var dl = 0.0f;
          var sv = 1.0f;
          if (ii < P.Nq) { mv = Sb[qrow0 + ii]; lv = Sb[R + qrow0 + ii]; dl = Sb[2u * R + qrow0 + ii]; sv = Sb[3u * R + qrow0 + ii]; }
          Ms[e] = mv;
          LLs[e] = lv;
          Ds[e] = dl;
          SCs[e] = sv;
        }
        workgroupBarrier();
        if (valid) {
          for (var i = 0u; i < BC; i++) {
            let ii = i0 + i;
            if (ii < P.Nq && !is_ninf(Ms[i]) && keep(partial, i32(b), i32(h), i32(ii), i32(col))) {
              var dot = 0.0f;
              var dp = 0.0f;
              for (var d = 0u; d < D; d++) { dot += Qs[i * D + d] * kr_[d]; }
              let sc = SCs[i];
              for (var d = 0u; d < DV; d++) { dp += (DOs[i * DV + d] * sc) * vr[d]; }
              let g = p_ds(dot * P.scale, Ms[i], LLs[i], Ds[i], dp, i32(b), i32(h), i32(ii), i32(col));
              if (g.z != 0.0f) {
                let c = (g.y * inv_pow2(sc)) * P.scale;
                for (var d = 0u; d < DV; d++) { dv[d] += g.x * DOs[i * DV + d]; }
                for (var d = 0u; d < D; d++) { dk[d] += c * Qs[i * D + d]; }
              }
            }
          }
        }
      }
    }
  }
  if (valid) {
    for (var d = 0u; d < D; d++) { DKb[kr * D + d] = dk[d]; }
    for (var d = 0u; d < DV; d++) { DVb[kr * DV + d] = dv[d]; }
  }
}
`;
  return { code, buffers };
}
