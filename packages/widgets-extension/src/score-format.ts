/** DOM-free text of score values: cell labels, tooltips and a legend's end labels. */

/** A value in at most 3 significant digits ('–' when missing); small and large magnitudes in exponent form. */
export function formatValue(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '–';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e4) return v.toExponential(1);
  return String(Number(v.toPrecision(3)));
}

/** "value [lo, hi]" (the interval only when both ends are known). */
export function formatWithInterval(v: number | null, lo: number | null, hi: number | null): string {
  const base = formatValue(v);
  return lo === null || hi === null ? base : `${base} [${formatValue(lo)}, ${formatValue(hi)}]`;
}
