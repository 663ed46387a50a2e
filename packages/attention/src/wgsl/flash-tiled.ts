/**
 * Cooperative-tile flash attention forward (FlashAttention-2 structure), f32:
 *
 * - a workgroup owns BR query rows and runs TPR threads per row (BR x TPR threads);
 * - the BR query rows and each BC-key tile of K and V are staged in workgroup memory and shared by
 *   every thread (no per-thread copy of the query row, so D = 128 does not spill registers);
 * - thread (r, j) scores keys j, j + TPR, ... of the tile into a shared score tile, then every thread
 *   of row r reads the row of scores and keeps the row statistics (max, sum, special-value flags)
 *   in step with its row group, and accumulates its own output columns j, j + TPR, ...
 *
 * Masks, score mods, block tables, special values (NaN / +Infinity rows, -Infinity scores and masked
 * keys excluded, empty rows giving 0 and -Infinity) and the outputs (out, lse, the backward's stats
 * [m, log(sum)]) are those of the row-per-thread kernel in wgsl/flash.ts, whose helpers it uses;
 * the backward kernels there consume its stats unchanged.
 */
import { BINDINGS_COMMON, header, scoreFn, tableFns, tableRow, type FlashKernelConfig, type KernelSource } from './flash.js';
import { bindingType, stageRows } from './qkv-storage.js';

export interface TiledShape {
  /** Query rows per workgroup (divides the block mask's query block). */
  BR: number;
  /** Keys per staged tile (divides the key block). */
  BC: number;
  /** Threads per query row. */
  TPR: number;
}

/** Workgroup storage the kernel declares, in bytes. */
export function tiledSharedBytes(D: number, t: TiledShape, DV = D): number {
  return (t.BR * D + t.BC * D + t.BC * DV + t.BR * t.BC + 3) * 4;
}

const pow2Divisor = (n: number, cap: number): number => {
  let p = 1;
  while (p * 2 <= cap && n % (p * 2) === 0) p *= 2;
  return p;
};

/**
 * Tile sizes for a forward config: up to 16 rows x 8 (subgroups: 4) threads per row, BC up to 32 keys, shrunk until
 * the staged tiles fit the 16 KiB of workgroup storage every WebGPU device offers.
 */
export function tiledShape(c: FlashKernelConfig, subgroups = false): TiledShape {
  let BR = pow2Divisor(c.BR, 16);
  let BC = pow2Divisor(c.BC, 32);
  // With subgroups 4 lanes per row, the smallest subgroup size adapters report (SwiftShader's).
  let TPR = 1;
  while (TPR < (subgroups ? 4 : 8) && TPR * 2 <= c.D) TPR *= 2;
  while (tiledSharedBytes(c.D, { BR, BC, TPR }, c.DV) > 16384 && (BR > 1 || BC > 1)) {
    if (BC >= BR && BC > 1) BC /= 2;
    else BR /= 2;
  }
  return { BR, BC, TPR };
}

/**
 * Split-K decode shape (Nq = 1): one query row per workgroup, 32 threads, BC keys per tile fitting
 * 16 KiB; the key blocks are dealt round-robin to `splits` workgroups per head.
 */
export function splitShape(c: FlashKernelConfig): TiledShape {
  let BC = pow2Divisor(c.KBLOCK, 64);
  while (tiledSharedBytes(c.D, { BR: 1, BC, TPR: 32 }, c.DV) > 16384 && BC > 1) BC /= 2;
  return { BR: 1, BC, TPR: 32 };
}

/** Floats per (row, split) partial: m (sigmoid: live keys), l, flags, o[DV]. */
export const splitStride = (DV: number): number => DV + 3;

/**
 * Forward: out [B,Hq,Nq,DV], lse [B,Hq,Nq], stats [m (R), log(sum) (R)]. Dispatch (ceil(Nq/BR), Hq, B).
 * `subgroups` (the device has the feature): the row max and special-value flags are reduced with
 * subgroup shuffles over each row's lanes instead of every lane scanning the whole row.
 */
export function flashTiledForwardSource(fwd: FlashKernelConfig, t: TiledShape = tiledShape(fwd), subgroups = false): KernelSource {
  return tiledSource(fwd, t, 0, subgroups);
}

/**
 * Split-K partials for Nq = 1 (flash decoding): workgroup (s, h, b) runs key blocks s, s + splits, ...
 * and writes [m (sigmoid: live keys), l, flags, o[DV] (the split's weighted mean of v)] to Pb[((b Hq + h) splits + s) * (DV + 3)]. Dispatch (splits, Hq, B).
 */
export function flashSplitPartialSource(fwd: FlashKernelConfig, splits: number, t: TiledShape = splitShape(fwd)): KernelSource {
  return tiledSource(fwd, t, splits);
}

function tiledSource(fwd: FlashKernelConfig, t: TiledShape, splits: number, sg = false): KernelSource {
  const c: FlashKernelConfig = { ...fwd, BR: t.BR, BC: t.BC };
  const ND = Math.ceil(c.DV / t.TPR);
  const split = splits > 0;
  const buffers = split ? [
    { name: 'Qb', access: 'read' as const }, { name: 'Kb', access: 'read' as const }, { name: 'Vb', access: 'read' as const },
    { name: 'Pb', access: 'read_write' as const },
  ] : [
    { name: 'Qb', access: 'read' as const }, { name: 'Kb', access: 'read' as const }, { name: 'Vb', access: 'read' as const },
    { name: 'Ob', access: 'read_write' as const }, { name: 'Lb', access: 'read_write' as const }, { name: 'Fb', access: 'read_write' as const },
  ];
  const decl = buffers.map((b, i) => `@group(0) @binding(${i + 2}) var<storage, ${b.access}> ${b.name}: ${bindingType(c, b.name)};`).join('\n');
  // The row scan for max / special values: every score of the row (or, with subgroups, the lane's own).
  const scan = `let s = Ss[r * BC + c];
          if (poisons(s)) {
            bad |= select(1u, 2u, is_nan(s));
          } else if (!is_ninf(s)) {
            if (!seen || s > tmax) { tmax = s; }
            seen = true;
          }`;
  const accumulate = (p: string): string => `
            for (var i = 0u; i < ND; i++) {
              let d = j + i * TPR;
              if (d < DV) { acc[i] += ${p} * Vs[c * DV + d]; }
            }`;
  const ROWS_EPILOGUE = `  if (valid) {
    let R = P.B * P.Hq * P.Nq;
    let rr = (b * P.Hq + h) * P.Nq + row;
    if (bad != 0u) {
      if (j == 0u) {
        Lb[rr] = select(bits_f32(0x7f800000u), nan_f32(), (bad & 2u) != 0u);
        Fb[rr] = nan_f32();
        Fb[R + rr] = nan_f32();
      }
      for (var i = 0u; i < ND; i++) { let d = j + i * TPR; if (d < DV) { Ob[rr * DV + d] = nan_f32(); } }
    } else if (l > 0.0f) {
      let outw = ${c.sigmoid ? 'cnt' : '1.0f'}; // acc is a mean: sigmoid's sum is cnt times it
      if (j == 0u) {
        Fb[rr] = ${c.sigmoid ? '0.0f' : 'm'};
        Fb[R + rr] = log(l);
        Lb[rr] = ${c.sigmoid ? 'log(l)' : 'm + log(l)'};
      }
      for (var i = 0u; i < ND; i++) { let d = j + i * TPR; if (d < DV) { Ob[rr * DV + d] = acc[i] * outw; } }
    } else {
      if (j == 0u) {
        Lb[rr] = ninf_f32();
        Fb[rr] = ninf_f32();
        Fb[R + rr] = 0.0f;
      }
      for (var i = 0u; i < ND; i++) { let d = j + i * TPR; if (d < DV) { Ob[rr * DV + d] = 0.0f; } }
    }
  }
`;
  const SPLIT_EPILOGUE = `  if (valid) {
    let at = ((b * P.Hq + h) * ${splits}u + wid.x) * (DV + 3u);
    if (j == 0u) {
      Pb[at] = ${c.sigmoid ? 'cnt' : 'select(ninf_f32(), m, has_m)'};
      Pb[at + 1u] = l;
      Pb[at + 2u] = f32(bad);
    }
    for (var i = 0u; i < ND; i++) { let d = j + i * TPR; if (d < DV) { Pb[at + 3u + d] = acc[i]; } }
  }
`;
  const code = `${sg ? 'enable subgroups;\ndiagnostic(off, subgroup_uniformity);\n' : ''}${header(c)}${BINDINGS_COMMON(decl)}
${c.modsCode}
${scoreFn(c)}
${tableFns(c)}
const TPR: u32 = ${t.TPR}u;
const ND: u32 = ${ND}u;
var<workgroup> Qs: array<f32, ${t.BR * c.D}>;
var<workgroup> Ks: array<f32, ${t.BC * c.D}>;
var<workgroup> Vs: array<f32, ${t.BC * c.DV}>;
var<workgroup> Ss: array<f32, ${t.BR * t.BC}>;
var<workgroup> wg_u: array<u32, 3>;

@compute @workgroup_size(${t.BR * t.TPR})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32${sg ? ', @builtin(subgroup_invocation_id) sid: u32, @builtin(subgroup_size) sgs: u32' : ''}) {
  let b = wid.z;
  let h = wid.y;
  let hk = h / (P.Hq / P.Hkv);${sg ? `
  // Shuffles stay inside a row's TPR lanes only if lanes follow the invocation index (decided per subgroup).
  let sg_fast = sgs >= TPR && sgs % TPR == 0u && subgroupAll(sid == lid % sgs);` : ''}
  let r = lid / TPR;
  let j = lid % TPR;
  let q0 = ${split ? '0u' : 'wid.x * BR'};
  let row = q0 + r;
  let valid = row < P.Nq;
  let kvbase = (b * P.Hkv + hk) * P.Nk;
  ${stageRows(c, { buf: 'Qb', dst: 'Qs', W: 'D', rows: 'BR', start: 'q0', base: '(b * P.Hq + h) * P.Nq', limit: 'P.Nq', threads: 'BR * TPR' })}
  var acc: array<f32, ${ND}>;
  for (var i = 0u; i < ND; i++) { acc[i] = 0.0f; }
  // Row statistics, kept identically by the TPR threads of a row (they read the same scores).
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
  for (var t = ${split ? 'wid.x' : '0u'}; t < n_part + n_full; t += ${split ? `${splits}u` : '1u'}) {
    if (lid == 0u) { wg_u[2] = block_at(tbl_row, t, nvec, false); }
    let kb = workgroupUniformLoad(&wg_u[2]);
    let partial = t < n_part;
    for (var sub = 0u; sub < KBLOCK; sub += BC) {
      let k0 = kb * KBLOCK + sub;
      if (k0 >= P.Nk) { break; }
      workgroupBarrier();
      ${stageRows(c, { buf: 'Kb', dst: 'Ks', W: 'D', rows: 'BC', start: 'k0', base: 'kvbase', limit: 'P.Nk', threads: 'BR * TPR' })}
      ${stageRows(c, { buf: 'Vb', dst: 'Vs', W: 'DV', rows: 'BC', start: 'k0', base: 'kvbase', limit: 'P.Nk', threads: 'BR * TPR' })}
      workgroupBarrier();
      // Scores: thread (r, j) takes keys j, j + TPR, ...; masked keys become -Infinity.
      for (var c = j; c < BC; c += TPR) {
        let kk = k0 + c;
        var s = ninf_f32();
        if (valid && kk < P.Nk && keep(partial, i32(b), i32(h), i32(row), i32(kk))) {
          var dot = 0.0f;
          for (var d = 0u; d < D; d++) { dot += Qs[r * D + d] * Ks[c * D + d]; }
          s = mod_score(dot * P.scale, i32(b), i32(h), i32(row), i32(kk));
        }
        Ss[r * BC + c] = s;
      }
      workgroupBarrier();
      var tmax = 0.0f;
      var seen = false;
      ${sg ? `if (sg_fast) {
        // Each lane scans its own keys, then an xor butterfly over the row's TPR lanes.
        for (var c = j; c < BC; c += TPR) { ${scan} }
        for (var off = 1u; off < TPR; off = off << 1u) {
          let om = subgroupShuffleXor(tmax, off);
          let os = subgroupShuffleXor(select(0u, 1u, seen), off);
          let ob = subgroupShuffleXor(bad, off);
          if (os != 0u && (!seen || om > tmax)) { tmax = om; }
          seen = seen || os != 0u;
          bad |= ob;
        }
      } else {
        for (var c = 0u; c < BC; c++) { ${scan} }
      }` : `for (var c = 0u; c < BC; c++) { ${scan} }`}
      if (valid) {
        // acc is kept a weighted mean (softmax: sum p v / l; sigmoid: sum p v / live keys), rescaled
        // once per tile: it never exceeds max |v|, where the unnormalised sum overflows f32 for v near its maximum.
        // Ss is shared by the row's lanes, so the weights are computed twice rather than stored.
        ${c.sigmoid ? `
        var nt = 0.0f;
        for (var c = 0u; c < BC; c++) {
          let s = Ss[r * BC + c];
          if (!poisons(s) && !is_ninf(s)) {
            l += sigm(s + P.sig_bias);
            nt += 1.0f;
          }
        }
        if (nt > 0.0f) {
          let nnew = cnt + nt;
          let keepw = cnt / nnew;
          cnt = nnew;
          for (var i = 0u; i < ND; i++) { acc[i] *= keepw; }
          for (var c = 0u; c < BC; c++) {
            let s = Ss[r * BC + c];
            if (!poisons(s) && !is_ninf(s)) {
              let p = sigm(s + P.sig_bias) / nnew;${accumulate('p')}
            }
          }
        }` : `
        if (seen) {
          let mnew = select(tmax, max(m, tmax), has_m);
          let corr = select(0.0f, exp(m - mnew), has_m);
          m = mnew;
          has_m = true;
          var lt = 0.0f;
          for (var c = 0u; c < BC; c++) {
            let s = Ss[r * BC + c];
            if (!poisons(s) && !is_ninf(s)) { lt += exp(s - m); }
          }
          let lold = l * corr;
          let lnew = lold + lt; // >= 1: the tile's or an earlier maximum contributes exp(0)
          let keepw = lold / lnew;
          let inv = 1.0f / lnew;
          l = lnew;
          for (var i = 0u; i < ND; i++) { acc[i] *= keepw; }
          for (var c = 0u; c < BC; c++) {
            let s = Ss[r * BC + c];
            if (!poisons(s) && !is_ninf(s)) {
              let p = exp(s - m) * inv;${accumulate('p')}
            }
          }
        }`}
      }
    }
  }
${split ? SPLIT_EPILOGUE : ROWS_EPILOGUE}}
`;
  return { code, buffers };
}

/**
 * Combine the split partials of each row (one workgroup of 64 threads per row): M = max of the
 * splits' maxima, L = sum l_s e^{m_s - M}, out = sum o_s (l_s e^{m_s - M} / L) with o_s the split's
 * weighted mean (sigmoid: o_s the mean of p v over the split's n_s keys, out = N sum o_s n_s / N),
 * with the special values of the one-pass kernel. Dispatch (Hq, B, 1) for Nq = 1.
 */
export function flashSplitCombineSource(fwd: FlashKernelConfig, splits: number): KernelSource {
  const c = fwd;
  const buffers = [
    { name: 'Pb', access: 'read' as const }, { name: 'Ob', access: 'read_write' as const },
    { name: 'Lb', access: 'read_write' as const }, { name: 'Fb', access: 'read_write' as const },
  ];
  const decl = buffers.map((b, i) => `@group(0) @binding(${i + 2}) var<storage, ${b.access}> ${b.name}: array<f32>;`).join('\n');
  const code = `${header(c)}${BINDINGS_COMMON(decl)}
const SPLITS: u32 = ${splits}u;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let b = wid.y;
  let rr = b * P.Hq + h; // Nq = 1
  let base = rr * SPLITS * (DV + 3u);
  var M = 0.0f;
  var has = false;
  var bad = 0u;
  for (var s = 0u; s < SPLITS; s++) {
    let at = base + s * (DV + 3u);
    bad |= u32(Pb[at + 2u]);
    if (Pb[at + 1u] > 0.0f) {
      let ms = Pb[at];
      if (!has || ms > M) { M = ms; }
      has = true;
    }
  }
  var L = 0.0f;
  var N = 0.0f; // sigmoid: live keys over all splits
  for (var s = 0u; s < SPLITS; s++) {
    let at = base + s * (DV + 3u);
    let ls = Pb[at + 1u];
    if (ls > 0.0f) { L += ${c.sigmoid ? 'ls' : 'ls * exp(Pb[at] - M)'}; }${c.sigmoid ? `
    N += Pb[at];` : ''}
  }
  let R = P.B * P.Hq * P.Nq;
  if (bad != 0u) {
    if (lid == 0u) {
      Lb[rr] = select(bits_f32(0x7f800000u), nan_f32(), (bad & 2u) != 0u);
      Fb[rr] = nan_f32();
      Fb[R + rr] = nan_f32();
    }
    for (var d = lid; d < DV; d += 64u) { Ob[rr * DV + d] = nan_f32(); }
  } else if (L > 0.0f) {
    if (lid == 0u) {
      Fb[rr] = ${c.sigmoid ? '0.0f' : 'M'};
      Fb[R + rr] = log(L);
      Lb[rr] = ${c.sigmoid ? 'log(L)' : 'M + log(L)'};
    }
    for (var d = lid; d < DV; d += 64u) {
      // The partials are means: combined with weights summing to 1, so no sum overflows.
      var o = 0.0f;
      for (var s = 0u; s < SPLITS; s++) {
        let at = base + s * (DV + 3u);
        ${c.sigmoid ? `let ns = Pb[at];
        if (ns > 0.0f) { o += Pb[at + 3u + d] * (ns / N); }` : `let ls = Pb[at + 1u];
        if (ls > 0.0f) { o += Pb[at + 3u + d] * (ls * exp(Pb[at] - M) / L); }`}
      }
      Ob[rr * DV + d] = o${c.sigmoid ? ' * N' : ''};
    }
  } else {
    if (lid == 0u) {
      Lb[rr] = ninf_f32();
      Fb[rr] = ninf_f32();
      Fb[R + rr] = 0.0f;
    }
    for (var d = lid; d < DV; d += 64u) { Ob[rr * DV + d] = 0.0f; }
  }
}
`;
  return { code, buffers };
}
