/** The power pattern by enumeration of its offsets (0/1 [n, n]). */
import { powerOffsets } from './mask.js';

export function naivePower(n: number, local = 1): Uint8Array {
  const m = new Uint8Array(n * n);
  const offs = powerOffsets(n, local);
  for (let q = 0; q < n; q++) for (const d of offs) if (q - d >= 0) m[q * n + q - d] = 1;
  return m;
}
