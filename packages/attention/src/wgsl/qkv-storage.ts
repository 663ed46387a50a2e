/**
 * How the flash kernels read q, k and v: f32 arrays, or f16 storage — two halves per u32 word in
 * pack2x16float's layout (element 2i in the low half), each row of D (or DV) padded to an even
 * length so every row starts on a word. unpack2x16float is core WGSL (no `shader-f16` needed), so
 * this halves the bytes read on any adapter; every value is widened to f32 in registers and all
 * arithmetic (dots, softmax statistics, accumulators) stays f32.
 * The native variant (`f16Native`, adapters with `shader-f16`) binds the same words as
 * array<vec2<f16>> (identical bytes) and widens with vec2<f32>(...) instead of unpack2x16float, so
 * the two can be compared on one GPU.
 */
import type { FlashKernelConfig } from './flash.js';

/** Words per packed row of `width` halves. */
export const packedWords = (width: number): number => (width + 1) >> 1;

/** `enable f16;` for the native variant (a directive: emitted before every declaration). */
export function storageEnable(c: FlashKernelConfig): string {
  return c.f16 && c.f16Native ? 'enable f16;\n' : '';
}

/** WGSL constants for the packed row widths (harmless for f32 kernels). */
export function storageConsts(c: FlashKernelConfig): string {
  return `const DW: u32 = ${packedWords(c.D)}u;
const DVW: u32 = ${packedWords(c.DV)}u;
`;
}

const QKV = new Set(['Qb', 'Kb', 'Vb']);

/** The WGSL element type of a storage binding: q/k/v are u32 words under f16 storage. */
export function bindingType(c: FlashKernelConfig, name: string): string {
  if (!c.f16 || !QKV.has(name)) return 'array<f32>';
  return c.f16Native ? 'array<vec2<f16>>' : 'array<u32>';
}

/** Element `d` of row `row` (row-major rows of `W`, 'D' or 'DV') of q, k or v, as f32. */
export function loadElem(c: FlashKernelConfig, buf: string, row: string, d: string, W: 'D' | 'DV'): string {
  if (!c.f16) return `${buf}[(${row}) * ${W} + ${d}]`;
  return `${widen(c)}(${buf}[(${row}) * ${W === 'D' ? 'DW' : 'DVW'} + (${d}) / 2u])[(${d}) & 1u]`;
}

/** Two stored halves (one word) to vec2<f32>. */
function widen(c: FlashKernelConfig): string {
  return c.f16Native ? 'vec2<f32>' : 'unpack2x16float';
}

export interface StageSpec {
  /** Source binding (Qb, Kb, Vb) and workgroup destination array. */
  buf: string;
  dst: string;
  W: 'D' | 'DV';
  /** Rows staged, first row (relative to base), global row offset, row limit, threads sharing the copy. */
  rows: string;
  start: string;
  base: string;
  limit: string;
  threads: string;
}

/**
 * Copy rows [start, start + rows) of q, k or v into workgroup memory (zeros past `limit`), each
 * thread taking elements (f32) or words of two halves (f16) lid, lid + threads, ...
 */
export function stageRows(c: FlashKernelConfig, s: StageSpec): string {
  if (!c.f16) {
    return `for (var e = lid; e < ${s.rows} * ${s.W}; e += ${s.threads}) {
        let sr = ${s.start} + e / ${s.W};
        var sx = 0.0f;
        if (sr < ${s.limit}) { sx = ${s.buf}[(${s.base} + sr) * ${s.W} + e % ${s.W}]; }
        ${s.dst}[e] = sx;
      }`;
  }
  const WW = s.W === 'D' ? 'DW' : 'DVW';
  return `for (var e = lid; e < ${s.rows} * ${WW}; e += ${s.threads}) {
        let sr = ${s.start} + e / ${WW};
        let sd = (e % ${WW}) * 2u;
        var sx = vec2<f32>(0.0f);
        if (sr < ${s.limit}) { sx = ${widen(c)}(${s.buf}[(${s.base} + sr) * ${WW} + e % ${WW}]); }
        let sat = (e / ${WW}) * ${s.W} + sd;
        ${s.dst}[sat] = sx.x;
        if (sd + 1u < ${s.W}) { ${s.dst}[sat + 1u] = sx.y; } // an odd row's pad half is never stored
      }`;
}
