/**
 * Pack a float32 tensor of rows of W values into float16 storage (wgsl/qkv-storage.ts: two halves
 * per u32, each row padded to an even length with a zero half). The rounding is integer
 * round-to-nearest-even written out (pack2x16float may round either way and leaves values beyond
 * float16's range indeterminate), identical to f16.ts's f16Bits. A finite value beyond ±65504 is
 * not packed silently: the lowest such element index is kept in Flag[slot] (atomicMin; the host
 * sets it to 0xffffffff first and throws naming the tensor). One thread per output word; dispatch
 * (min(groups, 65535), ceil(groups / 65535), 1) with groups = ceil(words / 64).
 */
import type { KernelSource } from './flash.js';

export const F16_PACK_PARAMS_WORDS = 4;

export function f16PackSource(): KernelSource {
  const buffers = [
    { name: 'X', access: 'read' as const }, { name: 'Y', access: 'read_write' as const }, { name: 'Flag', access: 'read_write' as const },
  ];
  const code = /* wgsl */ `
struct PackParams { W: u32, WW: u32, words: u32, slot: u32 }
@group(0) @binding(0) var<uniform> PK: PackParams;
@group(0) @binding(1) var<storage, read> aux: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<u32>; // float32 bits: no float ops touch them
@group(0) @binding(3) var<storage, read_write> Y: array<u32>;
@group(0) @binding(4) var<storage, read_write> Flag: array<atomic<u32>>;

fn half_bits(b: u32, at: u32) -> u32 {
  let sign = (b >> 16u) & 0x8000u;
  let ex = (b >> 23u) & 0xffu;
  let mant = b & 0x7fffffu;
  if (ex == 0xffu) { return sign | 0x7c00u | select(0u, 0x200u | (mant >> 13u), mant != 0u); }
  if ((b & 0x7fffffffu) > 0x477fe000u) { atomicMin(&Flag[PK.slot], at); } // |x| > 65504
  let e = i32(ex) - 112;
  if (e >= 31) { return sign | 0x7c00u; }
  if (e <= 0) {
    if (e < -10) { return sign; }
    let m = mant | 0x800000u;
    let s = u32(14 - e);
    var h = m >> s;
    let rem = m & ((1u << s) - 1u);
    let half = 1u << (s - 1u);
    if (rem > half || (rem == half && (h & 1u) != 0u)) { h += 1u; }
    return sign | h;
  }
  var h = (u32(e) << 10u) | (mant >> 13u);
  let rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) != 0u)) { h += 1u; }
  return sign | h;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let w = gid.x + gid.y * 65535u * 64u;
  if (w >= PK.words) { return; }
  let row = w / PK.WW;
  let d = (w % PK.WW) * 2u;
  let at = row * PK.W + d;
  let lo = half_bits(X[at], at);
  var hi = 0u;
  if (d + 1u < PK.W) { hi = half_bits(X[at + 1u], at + 1u); }
  Y[w] = lo | (hi << 16u);
  _ = aux[0];
}
`;
  return { code, buffers };
}
