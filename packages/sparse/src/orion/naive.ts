/** Orion's pattern by set construction per query (0/1 [n, n]). */
import { randomBlockTable, type OrionOptions } from './mask.js';

export function naiveOrion(o: OrionOptions): Uint8Array {
  const n = o.length;
  const g = o.globalTokens ?? 0;
  const r = o.randomBlocks ?? 0;
  const bs = o.blockSize ?? 16;
  const t = randomBlockTable(n, r, bs, o.seed ?? 0);
  const m = new Uint8Array(n * n);
  for (let q = 0; q < n; q++) {
    const keys = new Set<number>();
    for (let k = Math.max(0, q - o.window + 1); k < Math.min(n, q + o.window); k++) keys.add(k);
    for (let k = 0; k < Math.min(g, n); k++) keys.add(k);
    if (q < g) for (let k = 0; k < n; k++) keys.add(k);
    for (let i = 0; i < r; i++) {
      const kb = t[Math.floor(q / bs) * r + i]!;
      for (let k = kb * bs; k < Math.min(n, (kb + 1) * bs); k++) keys.add(k);
    }
    for (const k of keys) if (!(o.causal ?? true) || k <= q) m[q * n + k] = 1;
  }
  return m;
}
