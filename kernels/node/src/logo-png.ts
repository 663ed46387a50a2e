// PNG versions of the kernel logo for the kernelspec (Jupyter front ends read logo-32x32.png and
// logo-64x64.png): the squares of @attnlab/kernel's logo rasterised with 4 x 4 supersampling and
// written as an 8-bit RGBA PNG with node:zlib. No image library needed for 16 squares.
import { deflateSync } from 'node:zlib';
import { LOGO_BACKGROUND, logoCells } from '@attnlab/kernel/logo';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  Buffer.from(data).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Colour of the logo at (x, y) in its 64-unit space: [r, g, b, a] in 0..1. */
function sample(x: number, y: number): [number, number, number, number] {
  const r = 12; // corner radius of the background
  const cx = Math.min(Math.max(x, r), 64 - r), cy = Math.min(Math.max(y, r), 64 - r);
  if ((x - cx) ** 2 + (y - cy) ** 2 > r * r) return [0, 0, 0, 0];
  const bg = [1, 3, 5].map((i) => parseInt(LOGO_BACKGROUND.slice(i, i + 2), 16) / 255) as [number, number, number];
  let [red, green, blue] = bg;
  for (const c of logoCells()) {
    if (x >= c.x && x < c.x + c.size && y >= c.y && y < c.y + c.size) {
      red += (1 - red) * c.opacity; green += (1 - green) * c.opacity; blue += (1 - blue) * c.opacity;
    }
  }
  return [red, green, blue, 1];
}

export function logoPng(size: number): Buffer {
  const ss = 4;
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let py = 0; py < size; py++) {
    raw[py * (size * 4 + 1)] = 0; // filter: none
    for (let px = 0; px < size; px++) {
      const acc = [0, 0, 0, 0];
      for (let sy = 0; sy < ss; sy++) for (let sx = 0; sx < ss; sx++) {
        const [r, g, b, a] = sample(((px + (sx + 0.5) / ss) * 64) / size, ((py + (sy + 0.5) / ss) * 64) / size);
        acc[0]! += r * a; acc[1]! += g * a; acc[2]! += b * a; acc[3]! += a;
      }
      const o = py * (size * 4 + 1) + 1 + px * 4;
      const alpha = acc[3]! / (ss * ss);
      for (let ch = 0; ch < 3; ch++) raw[o + ch] = alpha > 0 ? Math.round((acc[ch]! / acc[3]!) * 255) : 0;
      raw[o + 3] = Math.round(alpha * 255);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, deflate, no filter set, no interlace
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}
