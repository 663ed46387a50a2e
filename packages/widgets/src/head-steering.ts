import { WidgetModel } from './widget.js';
import type { JSONObject } from './context.js';
import { fromControl, NEUTRAL, parseAction, targets, toControl, type HeadControlLike, type SteeringCell } from './steering-state.js';
import { readScore, scoreRange, type ScoreSource, type ScoreValues } from './score-layer.js';

/** A model's per-head controls (`model.heads` of @attnlab/models), structurally. */
export interface HeadsLike {
  readonly layers: number;
  readonly heads: number;
  set(sel: { layer: number; head: number }, control: HeadControlLike): void;
  get(sel: { layer: number; head: number }): HeadControlLike;
  reset(): void;
  onChange(fn: (sel: { layer: number; head: number } | null, control: HeadControlLike | null) => void): () => void;
}

type SteeringState = JSONObject & {
  layers: number;
  heads: number;
  cells: SteeringCell[];
  title: string;
  busy: boolean;
  error: string;
  runs: number;
  /** The colour layer: names offered, the one shown ('' = none), its values (row-major, null = missing) and range. */
  score_names: string[];
  score: string;
  score_values: (number | null)[];
  score_range: [number, number] | null;
  score_description: string;
};

export interface HeadSteeringOptions {
  onChange?: () => unknown;
  title?: string;
  /** Registered scores to colour the grid by (a dropdown in the view). */
  scores?: ScoreSource;
}

export const WIDGETS_EXTENSION = '@attnlab/widgets-extension';
export const WIDGETS_EXTENSION_VERSION = '0.1.0';

/**
 * A layers x heads grid bound to a model's head controls: per head a gate (0-2), ablate, and a
 * pattern perturbation with a strength; whole-row and whole-column actions. Each change is
 * applied to the model, then the user's callback runs (one at a time: changes that arrive while
 * it runs are applied and followed by one more run with the latest state).
 */
export class HeadSteering extends WidgetModel<SteeringState> {
  private running: Promise<void> | null = null;
  private again = false;
  private applying = false;
  private readonly unsubscribe: () => void;

  private readonly added = new Map<string, { values: ScoreValues; description: string }>();

  constructor(private readonly target: HeadsLike, private readonly options: HeadSteeringOptions = {}) {
    if (!target || typeof target.set !== 'function' || !Number.isInteger(target.layers) || !Number.isInteger(target.heads)) {
      throw new TypeError('HeadSteering: expected a model\'s head controls (model.heads) with layers, heads, get, set, reset, onChange');
    }
    super(
      { modelName: 'HeadSteeringModel', modelModule: WIDGETS_EXTENSION, modelModuleVersion: WIDGETS_EXTENSION_VERSION, viewName: 'HeadSteeringView', viewModule: WIDGETS_EXTENSION, viewModuleVersion: WIDGETS_EXTENSION_VERSION },
      {
        layers: target.layers, heads: target.heads, cells: readCells(target), title: options.title ?? 'Head steering', busy: false, error: '', runs: 0,
        score_names: options.scores ? [...options.scores.names()] : [], score: '', score_values: [], score_range: null, score_description: '',
      },
    );
    // 'score' picks the colour layer (a computation: errors go to the status line); the rest steer heads.
    this.onCustom((content) => {
      if (content['action'] === 'score') void this.showScore(String(content['name'] ?? '')).catch((e: unknown) => this.set({ error: e instanceof Error ? e.message : String(e) }));
      else this.act(content);
    });
    // Changes made elsewhere (code, plugins) show up in the grid.
    this.unsubscribe = target.onChange(() => {
      if (!this.applying) this.set({ cells: readCells(target) });
    });
  }

  /** The control shown for (layer, head). */
  cell(layer: number, head: number): SteeringCell {
    return { ...this.get('cells')[layer * this.get('heads') + head]! };
  }

  /** Applies an action as the front end would (also handy from code): set / row / col / reset. */
  act(content: JSONObject): void {
    const action = parseAction(content);
    const L = this.get('layers'), H = this.get('heads');
    const pairs = targets(action, L, H);
    this.applying = true;
    try {
      if (action.action === 'reset') this.target.reset();
      else for (const [layer, head] of pairs) this.target.set({ layer, head }, toControl({ ...fromControl(this.target.get({ layer, head })), ...action.patch }));
      this.set({ cells: readCells(this.target), error: '' });
    } catch (e) {
      // The model refused: show what it actually holds, and why.
      this.set({ cells: readCells(this.target), error: e instanceof Error ? e.message : String(e) });
      return;
    } finally {
      this.applying = false;
    }
    this.schedule();
  }

  /** Names the dropdown offers: the source's (read again now, so newly registered scores appear) and added layers. */
  scoreNames(): string[] {
    const names = [...(this.options.scores?.names() ?? []), ...this.added.keys()];
    return [...new Set(names)];
  }

  /**
   * Colours the grid by a score: from `values` when given (and kept under that name), else from an
   * added layer, else computed through the score source. '' clears the layer.
   */
  async showScore(name: string, values?: ScoreValues, description = ''): Promise<void> {
    if (typeof name !== 'string') throw new TypeError('HeadSteering.showScore: name must be a string');
    if (name === '') {
      this.set({ score: '', score_values: [], score_range: null, score_description: '', score_names: this.scoreNames() });
      return;
    }
    if (values !== undefined) this.added.set(name, { values, description });
    const layer = this.added.get(name);
    let v: ScoreValues;
    let desc = layer?.description ?? '';
    if (layer) v = layer.values;
    else {
      const src = this.options.scores;
      if (!src) throw new RangeError(`HeadSteering: no score '${name}' (no score source given and no values added under that name)`);
      if (!src.names().includes(name)) throw new RangeError(`HeadSteering: unknown score '${name}' (offered: ${this.scoreNames().join(', ') || 'none'})`);
      this.set({ busy: true, error: '' });
      try {
        v = await src.compute(name);
      } finally {
        this.set({ busy: false });
      }
      desc = src.describe?.(name) ?? '';
    }
    const vals = await readScore(v, this.get('layers'), this.get('heads'), `HeadSteering score '${name}'`);
    this.set({ score: name, score_values: vals, score_range: scoreRange(vals), score_description: desc, score_names: this.scoreNames(), error: '' });
  }

  /** The shown score's value at (layer, head), or null. */
  scoreAt(layer: number, head: number): number | null {
    return this.get('score_values')[layer * this.get('heads') + head] ?? null;
  }

  override toString(): string {
    const changed = this.get('cells').filter((c) => c.gate !== 1 || c.ablate || c.perturb !== 'none').length;
    return `HeadSteering(${this.get('layers')} layers x ${this.get('heads')} heads, ${changed} changed)`;
  }

  /** Resolves when no callback is running or queued. */
  async whenIdle(): Promise<void> {
    while (this.running) await this.running;
  }

  override close(): void {
    this.unsubscribe();
    super.close();
  }

  private schedule(): void {
    const cb = this.options.onChange;
    if (!cb) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        this.set({ busy: true });
        try {
          await cb();
          this.set({ runs: this.get('runs') + 1 });
        } catch (e) {
          this.set({ error: `callback failed: ${e instanceof Error ? e.message : String(e)}` });
        }
      } while (this.again);
      this.set({ busy: false });
      this.running = null;
    })();
  }
}

function readCells(t: HeadsLike): SteeringCell[] {
  const out: SteeringCell[] = [];
  for (let l = 0; l < t.layers; l++) for (let h = 0; h < t.heads; h++) out.push({ ...NEUTRAL, ...fromControl(t.get({ layer: l, head: h })) });
  return out;
}
