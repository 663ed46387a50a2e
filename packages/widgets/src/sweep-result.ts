/**
 * SweepResult: a sweep's results as a layers x (heads | positions) heatmap plus a table with
 * confidence intervals. Clicking a cell or a row whose entry names heads toggles their ablation
 * on the bound head controls (model.heads), so a HeadSteering grid on the same model shows it.
 */
import { WidgetModel } from './widget.js';
import type { JSONObject } from './context.js';
import { WIDGETS_EXTENSION, WIDGETS_EXTENSION_VERSION, type HeadsLike } from './head-steering.js';
import { fromControl, toControl } from './steering-state.js';
import { scoreRange } from './score-layer.js';

/** One result: the heads it concerns (none for a position), its value and interval. */
export interface SweepEntry {
  label: string;
  heads: [number, number][];
  value: number | null;
  lo: number | null;
  hi: number | null;
}

type SweepState = JSONObject & {
  title: string;
  metric: string;
  layers: number;
  columns: number;
  column_kind: 'head' | 'position';
  entries: SweepEntry[];
  /** Per grid cell (row-major, layers x columns): the index of its entry, or -1. */
  cell_entry: number[];
  range: [number, number] | null;
  selected: number;
  clickable: boolean;
  error: string;
};

/** An ablation result as @attnlab/heads' HeadSweep returns it (structurally). */
export interface AblationLike {
  heads: readonly { layer: number; head: number }[];
  label: string;
  delta: number;
  ci: readonly [number, number];
}

/** A 2-D patching grid as @attnlab/heads returns it (structurally): [layers, heads] or [layers, positions]. */
export interface GridLike {
  shape: readonly number[];
  dims?: readonly string[];
  values: ArrayLike<number>;
  lo?: ArrayLike<number>;
  hi?: ArrayLike<number>;
}

export interface SweepResultOptions {
  title?: string;
  /** What a value is (the colour bar's and the table's heading). */
  metric?: string;
  /** Head controls a click toggles ablation on. */
  target?: HeadsLike;
  /** Runs after a click changed the head controls. */
  onChange?: () => unknown;
}

const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

export class SweepResult extends WidgetModel<SweepState> {
  constructor(layers: number, columns: number, columnKind: 'head' | 'position', entries: SweepEntry[], private readonly options: SweepResultOptions = {}) {
    if (!Number.isInteger(layers) || layers < 1 || !Number.isInteger(columns) || columns < 1) throw new RangeError(`SweepResult: a grid needs layers >= 1 and columns >= 1, got ${layers} x ${columns}`);
    const t = options.target;
    if (t && (t.layers !== layers || (columnKind === 'head' && t.heads !== columns))) throw new RangeError(`SweepResult: the target has ${t.layers} layers x ${t.heads} heads, the results ${layers} x ${columns} ${columnKind}s`);
    const cell = new Array<number>(layers * columns).fill(-1);
    entries.forEach((e, i) => {
      for (const [l, h] of e.heads) {
        if (!Number.isInteger(l) || l < 0 || l >= layers || !Number.isInteger(h) || h < 0 || h >= (t?.heads ?? (columnKind === 'head' ? columns : Infinity))) {
          throw new RangeError(`SweepResult: entry '${e.label}' names layer ${l} head ${h}, outside ${layers} layers x ${t?.heads ?? columns} heads`);
        }
      }
      // Grid cells show single-head entries (head columns) or the positions' own entries.
      if (columnKind === 'head' && e.heads.length === 1) cell[e.heads[0]![0] * columns + e.heads[0]![1]] = i;
      else if (columnKind === 'position' && i < cell.length) cell[i] = i;
    });
    super(
      { modelName: 'SweepResultModel', modelModule: WIDGETS_EXTENSION, modelModuleVersion: WIDGETS_EXTENSION_VERSION, viewName: 'SweepResultView', viewModule: WIDGETS_EXTENSION, viewModuleVersion: WIDGETS_EXTENSION_VERSION },
      {
        title: options.title ?? 'Sweep results', metric: options.metric ?? 'value', layers, columns, column_kind: columnKind,
        entries, cell_entry: cell, range: scoreRange(entries.map((e) => e.value)), selected: -1, clickable: Boolean(t), error: '',
      },
    );
    this.onCustom((content) => {
      if (content['action'] !== 'select') throw new RangeError(`SweepResult: unknown action ${JSON.stringify(content['action'])}`);
      this.select(Number(content['index']));
    });
  }

  /** Ablation results (value = delta with its interval); the heatmap shows the single-head ones. */
  static fromAblation(results: readonly AblationLike[], layers: number, heads: number, options: SweepResultOptions = {}): SweepResult {
    if (!Array.isArray(results)) throw new TypeError('SweepResult.fromAblation: results must be an array of { heads, label, delta, ci }');
    const entries = results.map((r, i): SweepEntry => {
      if (!r || !Array.isArray(r.heads) || !Array.isArray(r.ci) || r.ci.length !== 2) throw new TypeError(`SweepResult.fromAblation: result ${i} is not { heads, label, delta, ci: [lo, hi] }`);
      return { label: String(r.label), heads: r.heads.map((s: { layer: number; head: number }) => [s.layer, s.head] as [number, number]), value: num(r.delta), lo: num(r.ci[0]), hi: num(r.ci[1]) };
    });
    return new SweepResult(layers, heads, 'head', entries, { metric: 'Δ metric (ablated − clean)', ...options });
  }

  /** A [layers, heads] or [layers, positions] grid (patching): one entry per cell. */
  static fromGrid(grid: GridLike, options: SweepResultOptions = {}): SweepResult {
    if (!grid || !Array.isArray(grid.shape) || grid.shape.length !== 2) throw new RangeError(`SweepResult.fromGrid: expected a 2-D grid [layers, heads | positions], got shape [${grid?.shape?.join?.(', ') ?? '?'}] (slice a 3-D grid first)`);
    const [L, C] = grid.shape as [number, number];
    const kind = grid.dims?.[1] === 'position' ? 'position' : 'head';
    for (const [k, a] of [['values', grid.values], ['lo', grid.lo], ['hi', grid.hi]] as const) {
      if (a && a.length !== L * C) throw new RangeError(`SweepResult.fromGrid: ${k} has ${a.length} entries for a ${L} x ${C} grid`);
    }
    const entries: SweepEntry[] = [];
    for (let l = 0; l < L; l++) for (let c = 0; c < C; c++) {
      const i = l * C + c;
      entries.push({
        label: kind === 'head' ? `L${l}H${c}` : `L${l}@${c}`, heads: kind === 'head' ? [[l, c]] : [],
        value: num(grid.values[i]), lo: grid.lo ? num(grid.lo[i]) : null, hi: grid.hi ? num(grid.hi[i]) : null,
      });
    }
    return new SweepResult(L, C, kind, entries, { metric: 'restored share (0 = corrupted, 1 = clean)', ...options });
  }

  /** Selects an entry; with a target, toggles ablation of its heads (all ablated -> restored, else ablated). */
  select(index: number): void {
    const entries = this.get('entries');
    if (!Number.isInteger(index) || index < 0 || index >= entries.length) {
      this.set({ error: `SweepResult: entry ${index} out of range (0..${entries.length - 1})` });
      return;
    }
    const t = this.options.target;
    const e = entries[index]!;
    this.set({ selected: index, error: '' });
    if (!t || !e.heads.length) return;
    try {
      const on = !e.heads.every(([layer, head]) => fromControl(t.get({ layer, head })).ablate);
      for (const [layer, head] of e.heads) t.set({ layer, head }, toControl({ ...fromControl(t.get({ layer, head })), ablate: on }));
    } catch (err) {
      this.set({ error: err instanceof Error ? err.message : String(err) });
      return;
    }
    void Promise.resolve()
      .then(() => this.options.onChange?.())
      .catch((err: unknown) => this.set({ error: `callback failed: ${err instanceof Error ? err.message : String(err)}` }));
  }

  override toString(): string {
    return `SweepResult(${this.get('entries').length} results over ${this.get('layers')} layers x ${this.get('columns')} ${this.get('column_kind')}s)`;
  }
}
