/** A horizontal colour legend for a score layer: name, low label, gradient, high label. */
import { legendStops } from '@attnlab/widgets';
import { el } from './dom.js';
import { formatValue } from './score-format.js';

export function scoreLegend(name: string, range: readonly [number, number] | null, description = ''): HTMLDivElement {
  const box = el('div', 'attnlab-legend');
  if (!name) return box;
  const label = el('span', 'attnlab-legend-name', name);
  if (description) label.title = description;
  box.append(label);
  if (!range) {
    box.append(document.createTextNode(' (no values)'));
    return box;
  }
  const stops = legendStops(range, 7);
  const bar = el('span', 'attnlab-legend-bar');
  bar.style.background = `linear-gradient(to right, ${stops.map((s) => s.color).join(', ')})`;
  box.append(el('span', '', formatValue(stops[0]!.value)), bar, el('span', '', formatValue(stops[stops.length - 1]!.value)));
  return box;
}
