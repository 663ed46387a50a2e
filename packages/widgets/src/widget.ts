import { kernelContext, type Comm, type CommMessage, type JSONObject } from './context.js';
import { join, split } from './buffers.js';
import { liveWidgets, ensureControlTarget } from './registry.js';

const DISPLAY = Symbol.for('Jupyter.display');
export const WIDGET_VIEW_MIME = 'application/vnd.jupyter.widget-view+json';
export const PROTOCOL_VERSION = '2.1.0';

/** Which front-end model and view draw a widget. */
export interface ModelSpec {
  modelName: string;
  modelModule: string;
  modelModuleVersion: string;
  viewName: string | null;
  viewModule: string;
  viewModuleVersion: string;
}

export interface Change<T> {
  name: string;
  old: T;
  new: T;
  /** 'frontend' when the user moved a control, 'kernel' when code set it. */
  source: 'frontend' | 'kernel';
}

type Observer = (change: Change<unknown>) => void;

/**
 * A widget model mirrored between the kernel and the front end over a `jupyter.widget` comm.
 * Setting a property sends an `update`; an `update` from the front end is validated, applied and
 * observed; a bad one is reported and the front end is sent the kernel's values back, so both
 * sides agree and nothing is lost.
 */
export class WidgetModel<S extends JSONObject = JSONObject> {
  readonly modelId: string;
  protected readonly state: S;
  private readonly comm: Comm;
  private readonly observers = new Map<string, Set<Observer>>();
  private readonly customHandlers = new Set<(content: JSONObject, buffers: DataView[]) => void>();

  constructor(readonly spec: ModelSpec, initial: S) {
    const ctx = kernelContext();
    ensureControlTarget(ctx);
    this.state = { ...initial };
    const { state, buffers, paths } = split(this.fullState());
    this.comm = ctx.comms.open('jupyter.widget', { state, buffer_paths: paths }, { metadata: { version: PROTOCOL_VERSION }, buffers });
    this.modelId = this.comm.commId;
    this.comm.onMsg = (m) => this.receive(m);
    this.comm.onClose = () => liveWidgets.delete(this.modelId);
    liveWidgets.set(this.modelId, this as unknown as WidgetModel);
  }

  /** State with the model/view identification the front end needs. */
  fullState(): JSONObject {
    return {
      _model_name: this.spec.modelName,
      _model_module: this.spec.modelModule,
      _model_module_version: this.spec.modelModuleVersion,
      _view_name: this.spec.viewName,
      _view_module: this.spec.viewModule,
      _view_module_version: this.spec.viewModuleVersion,
      _view_count: null,
      ...this.state,
    };
  }

  get<K extends keyof S>(key: K): S[K] {
    return this.state[key];
  }

  /** Sets properties from the kernel side: validated, sent to the front end, observed. */
  set(patch: Partial<S>): void {
    const clean = this.validate(patch);
    const changes = this.apply(clean, 'kernel');
    if (changes.length) this.sendUpdate(Object.fromEntries(changes.map((c) => [c.name, c.new])));
  }

  observe(names: string | string[], fn: (change: Change<unknown>) => void): () => void {
    const list = Array.isArray(names) ? names : [names];
    for (const n of list) {
      if (!this.observers.has(n)) this.observers.set(n, new Set());
      this.observers.get(n)!.add(fn);
    }
    return () => list.forEach((n) => this.observers.get(n)?.delete(fn));
  }

  /** Custom messages from the front end (a Button's click, our widgets' actions). */
  onCustom(fn: (content: JSONObject, buffers: DataView[]) => void): () => void {
    this.customHandlers.add(fn);
    return () => this.customHandlers.delete(fn);
  }

  /** Sends a custom message to the front-end view. */
  sendCustom(content: JSONObject): void {
    const { state, buffers } = split(content);
    this.comm.send({ method: 'custom', content: state }, { buffers });
  }

  close(): void {
    liveWidgets.delete(this.modelId);
    this.comm.close();
  }

  get closed(): boolean {
    return this.comm.closed;
  }

  [DISPLAY](): Record<string, unknown> {
    return { [WIDGET_VIEW_MIME]: { model_id: this.modelId, version_major: 2, version_minor: 1 }, 'text/plain': this.toString() };
  }

  toString(): string {
    const v = (this.state as JSONObject)['value'];
    return `${this.spec.modelName.replace(/Model$/, '')}(${v !== undefined ? `value=${JSON.stringify(v)}` : ''})`;
  }

  /** Checks and normalises a patch; throws an error naming the property. Subclasses extend it. */
  protected validate(patch: Partial<S>): Partial<S> {
    for (const k of Object.keys(patch)) {
      if (!(k in this.state)) throw new RangeError(`${this.spec.modelName}: unknown property '${k}'`);
    }
    return patch;
  }

  private apply(patch: Partial<S>, source: 'frontend' | 'kernel'): Change<unknown>[] {
    const changes: Change<unknown>[] = [];
    for (const [k, v] of Object.entries(patch)) {
      const old = this.state[k];
      if (old === v || (typeof v === 'object' && JSON.stringify(old) === JSON.stringify(v))) continue;
      (this.state as JSONObject)[k] = v;
      changes.push({ name: k, old, new: v, source });
    }
    for (const c of changes) for (const fn of this.observers.get(c.name) ?? []) fn(c);
    return changes;
  }

  private sendUpdate(patch: JSONObject): void {
    const { state, buffers, paths } = split(patch);
    this.comm.send({ method: 'update', state, buffer_paths: paths }, { buffers });
  }

  private receive(msg: CommMessage): void {
    const data = msg.data;
    switch (data['method']) {
      case 'update': {
        const raw = data['state'];
        if (typeof raw !== 'object' || raw === null) throw new TypeError(`${this.spec.modelName}: update without a state object`);
        const patch = join({ ...(raw as JSONObject) }, data['buffer_paths'], msg.buffers) as Partial<S>;
        try {
          this.apply(this.validate(patch), 'frontend');
        } catch (e) {
          // Put the front end back in line with the kernel's values, then report.
          this.sendUpdate(Object.fromEntries(Object.keys(patch).filter((k) => k in this.state).map((k) => [k, this.state[k]])));
          throw e;
        }
        return;
      }
      case 'request_state': {
        const { state, buffers, paths } = split(this.fullState());
        this.comm.send({ method: 'update', state, buffer_paths: paths }, { buffers });
        return;
      }
      case 'custom': {
        const content = data['content'];
        if (typeof content !== 'object' || content === null) throw new TypeError(`${this.spec.modelName}: custom message without content`);
        for (const fn of this.customHandlers) fn(content as JSONObject, msg.buffers);
        return;
      }
      default:
        throw new TypeError(`${this.spec.modelName}: unknown widget message method ${JSON.stringify(data['method'])}`);
    }
  }
}
