import { Figure, finiteOrNull, type Trace } from './figure.js';

export interface Series {
  y: readonly number[];
  x?: readonly number[];
  name?: string;
}

export interface ChartOptions {
  title?: string;
  xTitle?: string;
  yTitle?: string;
  logY?: boolean;
}

function axes(o: ChartOptions): Record<string, unknown> {
  return {
    ...(o.title ? { title: { text: o.title } } : {}),
    xaxis: o.xTitle ? { title: { text: o.xTitle } } : {},
    yaxis: { ...(o.yTitle ? { title: { text: o.yTitle } } : {}), ...(o.logY ? { type: 'log' } : {}) },
  };
}

function toSeries(input: readonly number[] | readonly Series[], who: string): Series[] {
  if (input.length > 0 && typeof input[0] === 'number') return [{ y: input as readonly number[] }];
  const list = input as readonly Series[];
  list.forEach((s, i) => {
    if (!s || !Array.isArray(s.y)) throw new TypeError(`${who}: series ${i} has no y array`);
    if (s.x && s.x.length !== s.y.length) throw new RangeError(`${who}: series ${i}${s.name ? ` (${s.name})` : ''} has ${s.x.length} x values and ${s.y.length} y values`);
  });
  return [...list];
}

function traces(series: Series[], mode: string): Trace[] {
  return series.map((s, i) => ({
    type: 'scatter', mode, name: s.name ?? `series ${i}`,
    x: s.x ? [...s.x] : s.y.map((_, j) => j), y: s.y.map(finiteOrNull),
  }));
}

/** Line chart of one series (numbers) or several ({x?, y, name}); grows live with `fig.extend`. */
export function line(input: readonly number[] | readonly Series[], o: ChartOptions = {}): Figure {
  const s = toSeries(input, 'line');
  return new Figure(traces(s, 'lines'), axes(o), `Line chart, ${s.length} series${o.title ? `: ${o.title}` : ''}`);
}

export function scatter(input: readonly Series[] | readonly number[], o: ChartOptions = {}): Figure {
  const s = toSeries(input, 'scatter');
  return new Figure(traces(s, 'markers'), axes(o), `Scatter, ${s.length} series${o.title ? `: ${o.title}` : ''}`);
}

export function bar(labels: readonly (string | number)[], values: readonly number[], o: ChartOptions = {}): Figure {
  if (labels.length !== values.length) throw new RangeError(`bar: ${labels.length} labels for ${values.length} values`);
  return new Figure([{ type: 'bar', x: labels.map(String), y: values.map(finiteOrNull) }], axes(o), `Bar chart, ${values.length} bars${o.title ? `: ${o.title}` : ''}`);
}
