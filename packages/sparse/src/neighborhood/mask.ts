/**
 * K2 neighbourhood attention (NA, Hassani et al.) and its generalisation GNA, as maskMods.
 *
 * 1-D, non-causal: with dilation δ the sequence splits into δ interleaved groups (position mod δ);
 * inside its group a query attends exactly `kernelSize` keys, a window centred on it and shifted
 * (clamped) at the borders so border queries keep all k neighbours (a group shorter than k
 * attends the whole group). GNA stride s: queries in groups of s share one window, centred on
 * the group's middle query (s = 1: sliding window NA; s = k: blocked attention).
 * Causal NA: the k most recent keys of the query's group, up to the query itself.
 * 2-D: tokens are a row-major [height, width] grid; the 1-D rule applies per axis (AND).
 */
import { maskMod, type MaskMod } from '@attnlab/attention';
import { TensorError } from '@attnlab/tensor';

export interface NA1dOptions {
  /** Sequence length the window clamps against (the mask is for Nq = Nk = length). */
  length: number;
  kernelSize: number;
  /** Default 1. */
  dilation?: number;
  /** GNA stride: queries per shared window (1 <= stride <= kernelSize). Default 1. */
  stride?: number;
  causal?: boolean;
}

export interface NA2dOptions {
  height: number;
  width: number;
  kernelSize: number | [number, number];
  dilation?: number | [number, number];
  stride?: number | [number, number];
}

function posInt(what: string, x: unknown, min = 1): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min) throw new TensorError('neighborhood', `${what} must be an integer >= ${min}, got ${String(x)}`);
  return x;
}

/** Validated 1-D parameters: [length, kernel, dilation, stride]. */
export function axisParams(axis: string, length: unknown, kernel: unknown, dilation: unknown, stride: unknown): [number, number, number, number] {
  const n = posInt(`${axis} length`, length);
  const K = posInt(`${axis} kernelSize`, kernel);
  const dil = posInt(`${axis} dilation`, dilation ?? 1);
  const st = posInt(`${axis} stride`, stride ?? 1);
  if (st > K) throw new TensorError('neighborhood', `${axis} stride (${st}) must not exceed kernelSize (${K})`);
  return [n, K, dil, st];
}

/** 1-D NA / GNA mask for a sequence of `length` tokens. */
export function na1d(o: NA1dOptions): MaskMod {
  const [n, K, dil, st] = axisParams('1-D', o.length, o.kernelSize, o.dilation, o.stride);
  const name = `na1d(k=${K}${dil > 1 ? `, dilation=${dil}` : ''}${st > 1 ? `, stride=${st}` : ''}${o.causal ? ', causal' : ''})`;
  if (o.causal) {
    if (st !== 1) throw new TensorError('neighborhood', 'causal neighbourhood attention takes stride 1');
    return maskMod((b, h, q, k) => k <= q && (q - k) % dil === 0 && q - k < K * dil, { captures: { K, dil }, name });
  }
  return maskMod(
    (b, h, q, k) => {
      const g = q % dil;
      const L = Math.floor((n - 1 - g) / dil) + 1;
      const c = Math.min(Math.floor(Math.floor(q / dil) / st) * st + Math.floor(st / 2), L - 1);
      const s0 = Math.max(0, Math.min(c - Math.floor(K / 2), L - K));
      const kb = Math.floor(k / dil);
      return k % dil === g && kb >= s0 && kb < s0 + K;
    },
    { captures: { n, K, dil, st }, name },
  );
}

const pair = (x: number | [number, number] | undefined, d: number): [number, number] => (Array.isArray(x) ? x : [x ?? d, x ?? d]);

/** 2-D NA / GNA mask over a row-major [height, width] token grid (Nq = Nk = height * width). */
export function na2d(o: NA2dOptions): MaskMod {
  const [kh, kw] = pair(o.kernelSize, 1);
  const [dh, dw] = pair(o.dilation, 1);
  const [sh, sw] = pair(o.stride, 1);
  const [Hn, Kh, Dh, Sh] = axisParams('height', o.height, kh, dh, sh);
  const [Wn, Kw, Dw, Sw] = axisParams('width', o.width, kw, dw, sw);
  const name = `na2d(${Hn}x${Wn}, k=${Kh}x${Kw}${Dh * Dw > 1 ? `, dilation=${Dh}x${Dw}` : ''}${Sh * Sw > 1 ? `, stride=${Sh}x${Sw}` : ''})`;
  return maskMod(
    (b, h, q, k) => {
      const qy = Math.floor(q / Wn);
      const qx = q % Wn;
      const ky = Math.floor(k / Wn);
      const kx = k % Wn;
      const gy = qy % Dh;
      const gx = qx % Dw;
      const Ly = Math.floor((Hn - 1 - gy) / Dh) + 1;
      const Lx = Math.floor((Wn - 1 - gx) / Dw) + 1;
      const cy = Math.min(Math.floor(Math.floor(qy / Dh) / Sh) * Sh + Math.floor(Sh / 2), Ly - 1);
      const cx = Math.min(Math.floor(Math.floor(qx / Dw) / Sw) * Sw + Math.floor(Sw / 2), Lx - 1);
      const y0 = Math.max(0, Math.min(cy - Math.floor(Kh / 2), Ly - Kh));
      const x0 = Math.max(0, Math.min(cx - Math.floor(Kw / 2), Lx - Kw));
      const by = Math.floor(ky / Dh);
      const bx = Math.floor(kx / Dw);
      return ky % Dh === gy && kx % Dw === gx && by >= y0 && by < y0 + Kh && bx >= x0 && bx < x0 + Kw;
    },
    { captures: { Hn, Wn, Kh, Kw, Dh, Dw, Sh, Sw }, name },
  );
}
