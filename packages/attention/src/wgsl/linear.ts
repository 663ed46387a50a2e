/**
 * Chunked causal linear attention on featurised inputs (Lightning Attention-2 / fla "chunk"):
 *
 *   y_t = scale * ( sum_{s<=t} lambda^{t-s} (q_t . k_s) v_s + lambda^{t+1} q_t S0 )
 *
 * for q, k [BH, N, F], v [BH, N, W], S0 [BH, F, W], split into chunks of C rows:
 *   1. chunkStates: dS_c = sum_{j in c} lambda^{end_c - 1 - j} k_j^T v_j          (parallel over chunks)
 *   2. scan:        Sprev_c = state before chunk c; S_final                        (sequential over chunks, parallel over F x W)
 *   3. output:      intra-chunk attention + lambda^{t - start_c + 1} q_t Sprev_c    (parallel over chunks and rows)
 * `reverse` runs time backwards (row t reads index N-1-t), which gives the backward pass from
 * the same kernels. Decay is per row: aux holds log a_t [BH, N] (log lambda_h + gate) in row
 * order; within a chunk the decays are exp of sums of these logs (all exponents <= 0, no overflow).
 * In reverse time, run position u steps with the log decay of original row N-u (position 0: none).
 */
import type { KernelSource } from './flash.js';

export const LINEAR_PARAMS_WORDS = 8;

export interface LinearParams {
  BH: number; H: number; N: number; F: number; W: number; C: number; scale: number;
}

export function packLinearParams(p: LinearParams): ArrayBuffer {
  const buf = new ArrayBuffer(LINEAR_PARAMS_WORDS * 4);
  const u = new Uint32Array(buf);
  const f = new Float32Array(buf);
  u[0] = p.BH; u[1] = p.H; u[2] = p.N; u[3] = p.F; u[4] = p.W; u[5] = p.C; f[6] = p.scale;
  u[7] = Math.ceil(p.N / p.C);
  return buf;
}

const PARAMS = /* wgsl */ `
struct Params { BH: u32, H: u32, N: u32, F: u32, W: u32, C: u32, scale: f32, nC: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> aux: array<f32>;
`;

function timeFn(reverse: boolean): string {
  const ldec = reverse
    ? 'let r = P.N - 1u - t; if (r + 1u >= P.N) { return 0.0f; } return aux[bh * P.N + r + 1u];'
    : 'return aux[bh * P.N + t];';
  return `fn tix(t: u32) -> u32 { ${reverse ? 'return P.N - 1u - t;' : 'return t;'} }
// Log decay of the step into run position t.
fn ldec(bh: u32, t: u32) -> f32 { ${ldec} }
fn ex(x: f32) -> f32 { if (x == 0.0f) { return 1.0f; } return exp(x); }
`;
}

/** dS per chunk: out [BH, nC, F, W]. Dispatch (ceil(F*W/64), nC, BH). */
export function linearChunkStatesSource(reverse: boolean): KernelSource {
  const buffers = [
    { name: 'Kb', access: 'read' as const }, { name: 'Vb', access: 'read' as const }, { name: 'DSb', access: 'read_write' as const },
  ];
  const code = `${PARAMS}
@group(0) @binding(2) var<storage, read> Kb: array<f32>;
@group(0) @binding(3) var<storage, read> Vb: array<f32>;
@group(0) @binding(4) var<storage, read_write> DSb: array<f32>;
${timeFn(reverse)}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  let c = gid.y;
  let bh = gid.z;
  if (e >= P.F * P.W) { return; }
  let f = e / P.W;
  let w = e % P.W;
  let t0 = c * P.C;
  let t1 = min(t0 + P.C, P.N);
  var acc = 0.0f;
  var suf = 0.0f;
  for (var t = t1; t > t0; ) {
    t--;
    let r = bh * P.N + tix(t);
    acc += ex(suf) * Kb[r * P.F + f] * Vb[r * P.W + w];
    suf += ldec(bh, t);
  }
  DSb[((bh * P.nC + c) * P.F + f) * P.W + w] = acc;
}
`;
  return { code, buffers };
}

/** Sprev [BH, nC, F, W] and S_final [BH, F, W] from S0 and the chunk deltas. Dispatch (ceil(F*W/64), BH, 1). */
export function linearScanSource(reverse: boolean): KernelSource {
  const buffers = [
    { name: 'S0b', access: 'read' as const }, { name: 'DSb', access: 'read' as const },
    { name: 'SPb', access: 'read_write' as const }, { name: 'SFb', access: 'read_write' as const },
  ];
  const code = `${PARAMS}
@group(0) @binding(2) var<storage, read> S0b: array<f32>;
@group(0) @binding(3) var<storage, read> DSb: array<f32>;
@group(0) @binding(4) var<storage, read_write> SPb: array<f32>;
@group(0) @binding(5) var<storage, read_write> SFb: array<f32>;
${timeFn(reverse)}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  let bh = gid.y;
  let FW = P.F * P.W;
  if (e >= FW) { return; }
  var s = S0b[bh * FW + e];
  for (var c = 0u; c < P.nC; c++) {
    let at = (bh * P.nC + c) * FW + e;
    SPb[at] = s;
    let t1 = min(c * P.C + P.C, P.N);
    var tot = 0.0f;
    for (var t = c * P.C; t < t1; t++) { tot += ldec(bh, t); }
    s = ex(tot) * s + DSb[at];
  }
  SFb[bh * FW + e] = s;
}
`;
  return { code, buffers };
}

/** y [BH, N, W]. One thread per row of a chunk (workgroup = C). Dispatch (nC, BH, 1). */
export function linearOutputSource(reverse: boolean, C: number): KernelSource {
  const buffers = [
    { name: 'Qb', access: 'read' as const }, { name: 'Kb', access: 'read' as const }, { name: 'Vb', access: 'read' as const },
    { name: 'SPb', access: 'read' as const }, { name: 'Yb', access: 'read_write' as const },
  ];
  const code = `${PARAMS}
@group(0) @binding(2) var<storage, read> Qb: array<f32>;
@group(0) @binding(3) var<storage, read> Kb: array<f32>;
@group(0) @binding(4) var<storage, read> Vb: array<f32>;
@group(0) @binding(5) var<storage, read> SPb: array<f32>;
@group(0) @binding(6) var<storage, read_write> Yb: array<f32>;
${timeFn(reverse)}
@compute @workgroup_size(${C})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x;
  let bh = wid.y;
  let t0 = c * P.C;
  let t = t0 + lid;
  if (t >= P.N) { return; }
  let rq = bh * P.N + tix(t);
  var a: array<f32, ${C}>;
  // Walk j down from lid, so suf = sum of the log decays over (j, lid].
  var suf = 0.0f;
  for (var jj = lid + 1u; jj > 0u; jj--) {
    let j = jj - 1u;
    let rk = bh * P.N + tix(t0 + j);
    var d = 0.0f;
    for (var f = 0u; f < P.F; f++) { d += Qb[rq * P.F + f] * Kb[rk * P.F + f]; }
    a[j] = d * ex(suf);
    suf += ldec(bh, t0 + j);
  }
  let inter = ex(suf);
  let sp = (bh * P.nC + c) * P.F * P.W;
  for (var w = 0u; w < P.W; w++) {
    var y = 0.0f;
    for (var j = 0u; j <= lid; j++) { y += a[j] * Vb[(bh * P.N + tix(t0 + j)) * P.W + w]; }
    var s = 0.0f;
    for (var f = 0u; f < P.F; f++) { s += Qb[rq * P.F + f] * SPb[sp + f * P.W + w]; }
    Yb[rq * P.W + w] = P.scale * (y + inter * s);
  }
}
`;
  return { code, buffers };
}
