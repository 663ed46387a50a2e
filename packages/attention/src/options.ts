/**
 * Option names are checked: cells are type-stripped, not type-checked, so a misspelt option
 * (`cuSeqLens`, `scoremod`) would otherwise be ignored and the call return another computation.
 */
import { TensorError } from '@attnlab/tensor';

function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const t = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = t;
    }
  }
  return d[b.length]!;
}

/** Throw a TensorError naming the first unknown option (and the closest known one). */
export function checkOptionNames(op: string, opts: object | null | undefined, known: readonly string[]): void {
  if (opts === null || opts === undefined) return;
  if (typeof opts !== 'object') throw new TensorError(op, `options must be an object, got ${typeof opts}`);
  for (const key of Object.keys(opts)) {
    if (known.includes(key)) continue;
    let best = '';
    let bestD = Infinity;
    for (const k of known) {
      const dd = distance(key, k);
      if (dd < bestD) [best, bestD] = [k, dd];
    }
    const hint = bestD <= Math.max(2, Math.floor(key.length / 4)) ? ` (did you mean '${best}'?)` : '';
    throw new TensorError(op, `unknown option '${key}'${hint}; options are ${known.join(', ')}`);
  }
}
