/**
 * The stock controls of @jupyter-widgets/controls 5 (protocol 2.x, module version 2.0.0), usable
 * from TypeScript. Property names are the front end's (snake_case) so saved notebooks and other
 * kernels' widgets agree.
 */
import { WidgetModel, type ModelSpec } from './widget.js';
import type { JSONObject } from './context.js';

const CONTROLS = '@jupyter-widgets/controls';
const BASE = '@jupyter-widgets/base';
const V = '2.0.0';

function spec(name: string, module = CONTROLS, view: string | null = name, viewModule = CONTROLS): ModelSpec {
  return { modelName: `${name}Model`, modelModule: module, modelModuleVersion: V, viewName: view === null ? null : `${view}View`, viewModule, viewModuleVersion: V };
}

function ref(w: WidgetModel): string {
  return `IPY_MODEL_${w.modelId}`;
}

/** CSS layout of a widget (width, height, margin, ...); every DOM widget has one. */
export class Layout extends WidgetModel {
  constructor(props: { width?: string; height?: string; margin?: string; padding?: string; border?: string; flex_flow?: string; align_items?: string; grid_template_columns?: string } = {}) {
    super(spec('Layout', BASE, 'Layout', BASE), { width: null, height: null, margin: null, padding: null, border: null, flex_flow: null, align_items: null, grid_template_columns: null, ...props });
  }
}

class Style extends WidgetModel {
  constructor(name: string, state: JSONObject) {
    super(spec(name, CONTROLS, 'Style', BASE), state);
  }
}

interface DescribedProps {
  description?: string;
  disabled?: boolean;
  tooltip?: string | null;
}

abstract class DOMControl<S extends JSONObject> extends WidgetModel<S> {
  readonly layout: Layout;
  constructor(name: string, styleName: string | null, styleState: JSONObject, state: S) {
    const layout = new Layout();
    const style = styleName ? new Style(styleName, styleState) : null;
    super(spec(name), { _dom_classes: [], layout: ref(layout), ...(style ? { style: ref(style) } : {}), tabbable: null, tooltip: null, ...state } as unknown as S);
    this.layout = layout;
  }
}

function num(v: unknown, what: string, int: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (int && !Number.isInteger(v))) throw new TypeError(`${what} must be a finite ${int ? 'integer' : 'number'}, got ${JSON.stringify(v)}`);
  return v;
}

type SliderState = JSONObject & { value: number; min: number; max: number; step: number; description: string };

abstract class Slider extends DOMControl<SliderState> {
  constructor(name: string, private readonly int: boolean, o: { value?: number; min?: number; max?: number; step?: number } & DescribedProps) {
    const min = o.min ?? 0, max = o.max ?? (int ? 100 : 10), step = o.step ?? (int ? 1 : 0.1);
    num(min, `${name}.min`, int);
    num(max, `${name}.max`, int);
    if (min > max) throw new RangeError(`${name}: min ${min} is greater than max ${max}`);
    const value = o.value ?? min;
    num(value, `${name}.value`, int);
    super(name, 'SliderStyle', { description_width: '', handle_color: null }, {
      value: Math.min(max, Math.max(min, value)), min, max, step, description: o.description ?? '', description_allow_html: false,
      disabled: o.disabled ?? false, continuous_update: true, orientation: 'horizontal', readout: true, readout_format: int ? 'd' : '.2f', behavior: 'drag-tap',
    });
  }

  get value(): number {
    return this.get('value');
  }

  set value(v: number) {
    this.set({ value: v });
  }

  protected override validate(patch: Partial<SliderState>): Partial<SliderState> {
    super.validate(patch);
    const name = this.spec.modelName.replace(/Model$/, '');
    const out = { ...patch };
    if ('value' in patch) {
      // As ipywidgets: values outside [min, max] are clamped, not rejected.
      const v = num(patch.value, `${name}.value`, this.int);
      out.value = Math.min(patch.max ?? this.get('max'), Math.max(patch.min ?? this.get('min'), v));
    }
    if ('min' in patch) num(patch.min, `${name}.min`, this.int);
    if ('max' in patch) num(patch.max, `${name}.max`, this.int);
    if ((patch.min ?? this.get('min')) > (patch.max ?? this.get('max'))) throw new RangeError(`${name}: min is greater than max`);
    return out;
  }
}

export class IntSlider extends Slider {
  constructor(o: { value?: number; min?: number; max?: number; step?: number } & DescribedProps = {}) {
    super('IntSlider', true, o);
  }
}

export class FloatSlider extends Slider {
  constructor(o: { value?: number; min?: number; max?: number; step?: number } & DescribedProps = {}) {
    super('FloatSlider', false, o);
  }
}

type CheckboxState = JSONObject & { value: boolean };

export class Checkbox extends DOMControl<CheckboxState> {
  constructor(o: { value?: boolean; indent?: boolean } & DescribedProps = {}) {
    super('Checkbox', 'CheckboxStyle', { description_width: '', background: null }, { value: o.value ?? false, description: o.description ?? '', description_allow_html: false, disabled: o.disabled ?? false, indent: o.indent ?? true });
  }

  get value(): boolean {
    return this.get('value');
  }

  set value(v: boolean) {
    this.set({ value: v });
  }

  protected override validate(patch: Partial<CheckboxState>): Partial<CheckboxState> {
    super.validate(patch);
    if ('value' in patch && typeof patch.value !== 'boolean') throw new TypeError(`Checkbox.value must be a boolean, got ${JSON.stringify(patch.value)}`);
    return patch;
  }
}

type TextState = JSONObject & { value: string };

export class Text extends DOMControl<TextState> {
  constructor(o: { value?: string; placeholder?: string } & DescribedProps = {}) {
    super('Text', 'TextStyle', { description_width: '', background: null, font_size: null, text_color: null }, { value: o.value ?? '', placeholder: o.placeholder ?? '', description: o.description ?? '', description_allow_html: false, disabled: o.disabled ?? false, continuous_update: true });
  }

  get value(): string {
    return this.get('value');
  }

  set value(v: string) {
    this.set({ value: v });
  }

  protected override validate(patch: Partial<TextState>): Partial<TextState> {
    super.validate(patch);
    if ('value' in patch && typeof patch.value !== 'string') throw new TypeError(`Text.value must be a string, got ${JSON.stringify(patch.value)}`);
    return patch;
  }
}

type DropdownState = JSONObject & { index: number | null; _options_labels: string[] };

/** A choice among labelled values; `value` is the chosen option's value. */
export class Dropdown<T = string> extends DOMControl<DropdownState> {
  private readonly values: T[];

  constructor(o: { options: readonly (T | [string, T])[]; value?: T } & DescribedProps) {
    if (!Array.isArray(o?.options) || o.options.length === 0) throw new RangeError('Dropdown: options must be a non-empty array');
    const pairs = o.options.map((x) => (Array.isArray(x) && x.length === 2 && typeof x[0] === 'string' ? (x as [string, T]) : ([String(x), x as T] as [string, T])));
    const index = o.value === undefined ? 0 : pairs.findIndex(([, v]) => v === o.value);
    if (index < 0) throw new RangeError(`Dropdown: value ${JSON.stringify(o.value)} is not one of the options`);
    super('Dropdown', 'DescriptionStyle', { description_width: '' }, { index, _options_labels: pairs.map(([l]) => l), description: o.description ?? '', description_allow_html: false, disabled: o.disabled ?? false });
    this.values = pairs.map(([, v]) => v);
  }

  get value(): T {
    return this.values[this.get('index') ?? 0]!;
  }

  set value(v: T) {
    const i = this.values.indexOf(v);
    if (i < 0) throw new RangeError(`Dropdown: ${JSON.stringify(v)} is not one of the options`);
    this.set({ index: i });
  }

  protected override validate(patch: Partial<DropdownState>): Partial<DropdownState> {
    super.validate(patch);
    if ('index' in patch && patch.index !== null && (!Number.isInteger(patch.index) || patch.index! < 0 || patch.index! >= this.values.length)) {
      throw new RangeError(`Dropdown.index must be in 0..${this.values.length - 1}, got ${JSON.stringify(patch.index)}`);
    }
    return patch;
  }
}

export class Button extends DOMControl<JSONObject & { description: string }> {
  constructor(o: { description?: string; icon?: string; button_style?: '' | 'primary' | 'success' | 'info' | 'warning' | 'danger' } & Omit<DescribedProps, 'description'> = {}) {
    super('Button', 'ButtonStyle', { button_color: null, font_weight: '' }, { description: o.description ?? '', icon: o.icon ?? '', button_style: o.button_style ?? '', disabled: o.disabled ?? false });
  }

  /** Runs `fn` on each click in the front end. */
  onClick(fn: () => void): () => void {
    return this.onCustom((c) => {
      if (c['event'] === 'click') fn();
    });
  }
}

type BoxState = JSONObject & { children: string[] };

abstract class Box extends DOMControl<BoxState> {
  private kids: WidgetModel[];
  constructor(name: string, children: readonly WidgetModel[]) {
    for (const c of children) if (!(c instanceof WidgetModel)) throw new TypeError(`${name}: children must be widgets`);
    super(name, null, {}, { children: children.map(ref), box_style: '' });
    this.kids = [...children];
  }

  get children(): readonly WidgetModel[] {
    return this.kids;
  }

  set children(c: readonly WidgetModel[]) {
    this.kids = [...c];
    this.set({ children: c.map(ref) });
  }
}

export class HBox extends Box {
  constructor(children: readonly WidgetModel[]) {
    super('HBox', children);
  }
}

export class VBox extends Box {
  constructor(children: readonly WidgetModel[]) {
    super('VBox', children);
  }
}

type OutputState = JSONObject & { outputs: JSONObject[]; msg_id: string };

/**
 * An output area as a widget. The kernel writes into it directly (`appendStdout`, `display`,
 * `clear`): its `outputs` are synced state, so it works the same in every front end.
 */
export class Output extends WidgetModel<OutputState> {
  readonly layout: Layout;
  constructor() {
    const layout = new Layout();
    super({ modelName: 'OutputModel', modelModule: '@jupyter-widgets/output', modelModuleVersion: '1.0.0', viewName: 'OutputView', viewModule: '@jupyter-widgets/output', viewModuleVersion: '1.0.0' }, { _dom_classes: [], layout: ref(layout), outputs: [], msg_id: '', tabbable: null, tooltip: null });
    this.layout = layout;
  }

  appendStdout(text: string): void {
    this.set({ outputs: [...this.get('outputs'), { output_type: 'stream', name: 'stdout', text }] });
  }

  appendStderr(text: string): void {
    this.set({ outputs: [...this.get('outputs'), { output_type: 'stream', name: 'stderr', text }] });
  }

  /** Shows a value (anything with a `Symbol.for('Jupyter.display')` bundle, or text). */
  display(value: unknown): void {
    const disp = (value as Record<symbol, unknown> | null)?.[Symbol.for('Jupyter.display')];
    const data = typeof disp === 'function' ? (disp as () => JSONObject).call(value) : { 'text/plain': typeof value === 'string' ? value : JSON.stringify(value) };
    this.set({ outputs: [...this.get('outputs'), { output_type: 'display_data', data, metadata: {} }] });
  }

  clear(): void {
    this.set({ outputs: [] });
  }
}
