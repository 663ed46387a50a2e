/** A horizontal colour legend for a score layer: name, low label, gradient, high label. */
import { legendStops } from '@attnlab/widgets';
import { formatValue } from './score-format.js';

export function scoreLegend(name: string, range: readonly [number, number] | null, description = ''): HTMLDivElement {
  const box = document.createElement('div');
  box.className = 'attnlab-legend';
  if (!name) return box;
  const label = document.createElement('span');
  label.className = 'attnlab-legend-name';
  label.textContent = name;
  if (description) label.title = description;
  box.append(label);
  if (!range) {
    box.append(document.createTextNode(' (no values)'));
    return box;
  }
  const stops = legendStops(range, 7);
  const bar = document.createElement('span');
  bar.className = 'attnlab-legend-bar';
  bar.style.background = `linear-gradient(to right, ${stops.map((s) => s.color).join(', ')})`;
  const lo = document.createElement('span');
  lo.textContent = formatValue(stops[0]!.value);
  const hi = document.createElement('span');
  hi.textContent = formatValue(stops[stops.length - 1]!.value);
  box.append(lo, bar, hi);
  return box;
}
