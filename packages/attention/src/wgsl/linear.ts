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
 * the same kernels. Aux holds one f32 decay per head (bits).
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
@group(0) @binding(1) var<storage, read> aux: array<u32>;
`;

function timeFn(reverse: boolean): string {
  return `fn tix(t: u32) -> u32 { ${reverse ? 'return P.N - 1u - t;' : 'return t;'} }
fn lam(bh: u32) -> f32 { return bitcast<f32>(aux[bh % P.H]); }
fn lpow(l: f32, n: u32) -> f32 { if (n == 0u || l == 1.0f) { return 1.0f; } return exp(f32(n) * log(l)); }
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
  let l = lam(bh);
  var acc = 0.0f;
  for (var t = t0; t < t1; t++) {
    let r = bh * P.N + tix(t);
    acc += lpow(l, t1 - 1u - t) * Kb[r * P.F + f] * Vb[r * P.W + w];
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
  let l = lam(bh);
  var s = S0b[bh * FW + e];
  for (var c = 0u; c < P.nC; c++) {
    let at = (bh * P.nC + c) * FW + e;
    SPb[at] = s;
    let len = min(P.C, P.N - c * P.C);
    s = lpow(l, len) * s + DSb[at];
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
  let l = lam(bh);
  let rq = bh * P.N + tix(t);
  var a: array<f32, ${C}>;
  for (var j = 0u; j <= lid; j++) {
    let rk = bh * P.N + tix(t0 + j);
    var d = 0.0f;
    for (var f = 0u; f < P.F; f++) { d += Qb[rq * P.F + f] * Kb[rk * P.F + f]; }
    a[j] = d * lpow(l, lid - j);
  }
  let inter = lpow(l, lid + 1u);
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
