/**
 * DOM-free choices of the head-steering grid: which layout fits how many heads, and the colour
 * that shows a head's state in the colour-only layout.
 */
import type { SteeringCell } from '@attnlab/widgets';

/** full: every control in every cell; compact: small controls; color: one swatch per head, click for its controls. */
export type SteeringLayout = 'full' | 'compact' | 'color';
export const LAYOUTS: readonly SteeringLayout[] = ['full', 'compact', 'color'];

/** The layout that fits `heads` columns in `width` pixels (a notebook output at 1400 px is about 1100 px). */
export function autoLayout(heads: number, width: number): SteeringLayout {
  const header = 96;
  if (header + heads * 132 <= width) return 'full';
  if (header + heads * 92 <= width) return 'compact';
  return 'color';
}

/** A swatch colour: ablated red; gate below 1 fades towards white, above 1 deepens; perturbed violet. */
export function cellColor(c: SteeringCell): string {
  if (c.ablate) return 'rgb(214, 39, 40)';
  if (c.perturb !== 'none') return 'rgb(148, 103, 189)';
  const g = Math.max(0, Math.min(2, c.gate));
  // gate 0 -> near white, 1 -> mid blue, 2 -> dark blue.
  const t = g / 2;
  const lerp = (a: number, b: number) => Math.round(a + (b - a) * t);
  return `rgb(${lerp(240, 8)}, ${lerp(245, 48)}, ${lerp(250, 107)})`;
}

/** The swatch's tooltip and accessible name. */
export function cellSummary(layer: number, head: number, c: SteeringCell): string {
  const parts = [`layer ${layer} head ${head}`, `gate ${c.gate.toFixed(2)}`];
  if (c.ablate) parts.push('ablated');
  if (c.perturb !== 'none') parts.push(`${c.perturb} ${c.strength}`);
  return parts.join(', ');
}
