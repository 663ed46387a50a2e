/**
 * Kernel plugins: `{ id, activate(ctx) }`. A package that exports `attnlabPlugin` is activated the
 * first time a cell imports it (or with `%plugin name`), in every host. `ctx` registers display
 * formatters, magics, widgets, and entries of registries the kernel does not depend on (attention
 * variants, KV policies, scores, analyses: see ExtensionPoint). The kernel records each
 * registration, so activation is idempotent and the Disposable it returns undoes exactly what the
 * plugin added. A plugin that throws is reported by id, its partial registrations are undone, and
 * the cell's import still works.
 */
import type { MimeBundle } from './display.js';
import type { Magic } from './magics.js';

/** Turns a value into a mime bundle, or returns undefined to let the next formatter try. */
export type DisplayFormatter = (value: unknown) => MimeBundle | undefined;

export interface Disposable {
  dispose(): void;
}

/**
 * A registry a package owns that plugins add to: attention variants and KV policies in
 * @attnlab/attention, scores and analyses in @attnlab/models. The kernel depends on none of them:
 * a package publishes its registries by kind under `globalThis[EXTENSION_POINTS]` when it loads,
 * and the kernel only calls these three primitives (a `Map` with a label fits). Replacing and
 * restoring entries is the kernel's bookkeeping, so every registry gets it the same way.
 */
export interface ExtensionPoint<T = unknown> {
  /** What one entry is, for listings and errors: 'attention variant'. */
  readonly label: string;
  get(name: string): T | undefined;
  /** Adds or replaces an entry. */
  set(name: string, item: T): void;
  delete(name: string): void;
}

export const EXTENSION_POINTS = Symbol.for('attnlab.extension-points');

/** Which package publishes the registries the context's shorthands use (only for error messages). */
const PROVIDERS: Record<string, string> = { attention: '@attnlab/attention', 'kv-policy': '@attnlab/attention', score: '@attnlab/models', analysis: '@attnlab/models' };

/** A Map as an ExtensionPoint. */
export function mapPoint<T>(label: string, map: Map<string, T>): ExtensionPoint<T> {
  return { label, get: (name) => map.get(name), set: (name, item) => void map.set(name, item), delete: (name) => void map.delete(name) };
}

/** The registries published so far, by kind. */
export function extensionPoints(): Map<string, ExtensionPoint> {
  const g = globalThis as unknown as Record<symbol, Map<string, ExtensionPoint> | undefined>;
  return (g[EXTENSION_POINTS] ??= new Map());
}

/** An entry that carries its own name (an attention variant `{ name, forward }`, a policy, a score). */
export interface Named {
  name: string;
}

/** Registers into a published registry: `(entry)` for an entry with a `name`, or `(name, entry)`. */
export interface Registrar {
  (entry: Named): Disposable;
  (name: string, entry: unknown): Disposable;
}

export interface PluginContext {
  /** The plugin's id. */
  readonly id: string;
  /** Formatters run before the built-in display (newest first). */
  registerDisplayFormatter(formatter: DisplayFormatter): Disposable;
  /** A line magic `%name args` (and cell magic `%%name` when `cell` is set). */
  registerMagic(name: string, magic: Magic): Disposable;
  /** A widget factory other code can find by name (`kernelContext.widgets`). */
  registerWidget(name: string, factory: (...args: never[]) => unknown): Disposable;
  /** An attention variant `{ name, forward(q, k, v, ctx) }` in @attnlab/attention's registry. */
  registerAttention: Registrar;
  /** A KV-cache eviction policy in @attnlab/attention's registry. */
  registerKVPolicy: Registrar;
  /** A head score (returns [layers, heads]) in @attnlab/models' registry. */
  registerScore: Registrar;
  /** An analysis in @attnlab/models' registry. */
  registerAnalysis: Registrar;
  /** Any published registry, by kind ('attention', 'kv-policy', 'score', 'analysis', ...) or the registry itself. */
  register<T>(point: string | ExtensionPoint<T>, name: string, entry: T): Disposable;
  /** Imports a module the way cells do. */
  import(specifier: string): Promise<Record<string, unknown>>;
}

export interface AttnlabPlugin {
  id: string;
  /** May return its own Disposable (timers, listeners): run after the kernel undoes the registrations. */
  activate(ctx: PluginContext): void | Disposable | Promise<void | Disposable>;
}

export function isPlugin(v: unknown): v is AttnlabPlugin {
  return typeof v === 'object' && v !== null && typeof (v as AttnlabPlugin).id === 'string' && typeof (v as AttnlabPlugin).activate === 'function';
}

/** A plugin's activate() threw; the message names the plugin and where it came from. */
export class PluginError extends Error {
  constructor(readonly pluginId: string, readonly source: string, readonly reason: unknown) {
    super(`plugin '${pluginId}'${source !== pluginId ? ` (from ${source})` : ''} failed to activate: ${reason instanceof Error ? reason.message : String(reason)}`);
    this.name = 'PluginError';
  }
}

/** One registration: what it is (for %plugin) and how to undo it. */
interface Registration {
  what: string;
  undo(): void;
}

export interface ActivePlugin {
  plugin: AttnlabPlugin;
  /** The module it came from ('%plugin' or a cell's import). */
  source: string;
  /** What it registered, for `%plugin`: "magic %double", "attention variant 'x'". */
  readonly registered: readonly string[];
  disposable: Disposable;
}

/** Entries plugins put into one registry under one name, oldest first, above what was there before. */
interface Layers {
  base: unknown;
  stack: { item: unknown; visible: unknown }[];
}

/** What the kernel gives the registry: where magics live and how cells import. */
export interface PluginHost {
  magics: Map<string, Magic>;
  import(specifier: string): Promise<Record<string, unknown>>;
}

export class PluginRegistry {
  /** Active plugins by id. */
  readonly active = new Map<string, ActivePlugin>();
  readonly formatters: DisplayFormatter[] = [];
  readonly widgets = new Map<string, (...args: never[]) => unknown>();
  private readonly pending = new Map<string, Promise<Disposable>>();
  private readonly layers = new Map<ExtensionPoint<unknown>, Map<string, Layers>>();
  private readonly magicPoint: ExtensionPoint<Magic>;
  private readonly widgetPoint: ExtensionPoint<(...args: never[]) => unknown>;

  constructor(private readonly host: PluginHost) {
    this.magicPoint = mapPoint('magic', host.magics);
    this.widgetPoint = mapPoint('widget', this.widgets);
  }

  /** Activates the `attnlabPlugin` export of a module if it has one; true when newly activated. */
  async fromModule(specifier: string, mod: Record<string, unknown>): Promise<boolean> {
    const p = mod['attnlabPlugin'];
    if (p === undefined) return false;
    if (!isPlugin(p)) throw new Error(`${specifier}: attnlabPlugin must be { id: string, activate(ctx) }`);
    if (this.active.has(p.id)) return false;
    await this.activate(p, specifier);
    return true;
  }

  /**
   * Activates a plugin once per id; later calls return the same Disposable. If activate() throws,
   * whatever it registered is undone and a PluginError naming it is thrown: the kernel goes on.
   */
  activate(plugin: AttnlabPlugin, source: string = plugin.id): Promise<Disposable> {
    const active = this.active.get(plugin.id);
    if (active) return Promise.resolve(active.disposable);
    const running = this.pending.get(plugin.id);
    if (running) return running;
    const p = this.run(plugin, source).finally(() => this.pending.delete(plugin.id));
    this.pending.set(plugin.id, p);
    return p;
  }

  private async run(plugin: AttnlabPlugin, source: string): Promise<Disposable> {
    const regs: Registration[] = [];
    const undoAll = () => {
      for (const r of regs.splice(0).reverse()) {
        try {
          r.undo();
        } catch {
          // One failed undo must not keep the others from running.
        }
      }
    };
    let own: unknown;
    try {
      own = await plugin.activate(this.context(plugin.id, regs));
    } catch (e) {
      undoAll();
      throw new PluginError(plugin.id, source, e);
    }
    const disposable: Disposable = {
      dispose: () => {
        if (this.active.get(plugin.id)?.disposable !== disposable) return;
        this.active.delete(plugin.id);
        undoAll();
        if (typeof (own as Disposable | undefined)?.dispose === 'function') (own as Disposable).dispose();
      },
    };
    this.active.set(plugin.id, { plugin, source, get registered() { return regs.map((r) => r.what); }, disposable });
    return disposable;
  }

  private context(id: string, regs: Registration[]): PluginContext {
    const track = (what: string, undo: () => void): Disposable => {
      const reg: Registration = { what, undo };
      regs.push(reg);
      let done = false;
      return {
        dispose: () => {
          if (done) return;
          done = true;
          const i = regs.indexOf(reg);
          if (i >= 0) regs.splice(i, 1);
          undo();
        },
      };
    };
    const put = <T>(point: ExtensionPoint<T>, name: string, item: T, what: string): Disposable => {
      if (typeof name !== 'string' || !name) throw new Error(`plugin '${id}': a ${point.label} needs a non-empty name`);
      return track(what, this.layer(point as ExtensionPoint<unknown>, name, item));
    };
    const registrar = (kind: string): Registrar =>
      ((a: Named | string, b?: unknown) => {
        const point = this.point(kind, id);
        const [name, item] = typeof a === 'string' ? [a, b] : [a?.name, a];
        if (typeof name !== 'string') throw new Error(`plugin '${id}': register a ${point.label} as (entry with a name) or (name, entry)`);
        return put(point, name, item, `${point.label} '${name}'`);
      }) as Registrar;
    return {
      id,
      registerDisplayFormatter: (f) => {
        if (typeof f !== 'function') throw new Error(`plugin '${id}': registerDisplayFormatter needs a function`);
        this.formatters.push(f);
        return track('display formatter', () => {
          const i = this.formatters.lastIndexOf(f);
          if (i >= 0) this.formatters.splice(i, 1);
        });
      },
      registerMagic: (name, magic) => {
        if (!magic || (typeof magic.line !== 'function' && typeof magic.cell !== 'function')) throw new Error(`plugin '${id}': magic %${name} needs line() or cell()`);
        return put(this.magicPoint, name, magic, `magic %${name}`);
      },
      registerWidget: (name, factory) => put(this.widgetPoint, name, factory, `widget '${name}'`),
      registerAttention: registrar('attention'),
      registerKVPolicy: registrar('kv-policy'),
      registerScore: registrar('score'),
      registerAnalysis: registrar('analysis'),
      register: (point, name, entry) => {
        const p = typeof point === 'string' ? this.point(point, id) : point;
        return put(p, name, entry, `${p.label} '${name}'`);
      },
      import: (spec) => this.host.import(spec),
    };
  }

  private point(kind: string, id: string): ExtensionPoint {
    const p = extensionPoints().get(kind);
    if (p) return p;
    const from = PROVIDERS[kind];
    const known = [...extensionPoints().keys()].join(', ') || 'none';
    throw new Error(`plugin '${id}': no '${kind}' registry is loaded${from ? ` (${from} publishes it when imported)` : ''}; loaded: ${known}`);
  }

  /** Puts `item` on top of `name` in `point`; the returned undo restores whatever belongs there without it. */
  private layer(point: ExtensionPoint<unknown>, name: string, item: unknown): () => void {
    let byName = this.layers.get(point);
    if (!byName) this.layers.set(point, (byName = new Map()));
    let l = byName.get(name);
    if (!l) byName.set(name, (l = { base: point.get(name), stack: [] }));
    point.set(name, item);
    // What the registry holds now (it may wrap the item): how a later replacement is recognised.
    const entry = { item, visible: point.get(name) };
    l.stack.push(entry);
    const layers = l;
    return () => {
      const i = layers.stack.indexOf(entry);
      if (i < 0) return;
      const wasTop = i === layers.stack.length - 1;
      layers.stack.splice(i, 1);
      // Only the visible entry changes the registry, and only if nobody outside plugins replaced it since.
      if (!wasTop || point.get(name) !== entry.visible) {
        if (!layers.stack.length) byName.delete(name);
        return;
      }
      const below = layers.stack.at(-1);
      if (below) {
        point.set(name, below.item);
        below.visible = point.get(name);
      } else {
        byName.delete(name);
        if (layers.base === undefined) point.delete(name);
        else point.set(name, layers.base);
      }
    };
  }

  format(value: unknown): MimeBundle | undefined {
    for (let i = this.formatters.length - 1; i >= 0; i--) {
      const b = this.formatters[i]!(value);
      if (b !== undefined) return b;
    }
    return undefined;
  }

  /** `%plugin`'s listing: one line per active plugin with what it registered. */
  describe(): string {
    if (!this.active.size) return 'no plugins active';
    return [...this.active.entries()]
      .map(([id, a]) => `${id}${a.source !== id ? ` (from ${a.source})` : ''}: ${a.registered.length ? a.registered.join(', ') : 'registered nothing'}`)
      .join('\n');
  }
}

/**
 * `%plugin` (list what is active and what each registered), `%plugin <package>` (import it and
 * activate its attnlabPlugin, reporting a failure on the cell), `%plugin dispose <id>`.
 */
export function pluginMagic(plugins: PluginRegistry, importModule: (specifier: string) => Promise<Record<string, unknown>>, print: (text: string) => void): Magic {
  return {
    help: '%plugin <package>: import a package and activate its attnlabPlugin; %plugin alone lists active plugins; %plugin dispose <id> undoes one',
    line: async (args) => {
      const words = args.trim().split(/\s+/).filter(Boolean);
      if (!words.length) return print(plugins.describe());
      if (words[0] === 'dispose' && words.length === 2) {
        const a = plugins.active.get(words[1]!);
        if (!a) throw new Error(`%plugin dispose: no active plugin '${words[1]}' (active: ${[...plugins.active.keys()].join(', ') || 'none'})`);
        const n = a.registered.length;
        a.disposable.dispose();
        return print(`plugin '${words[1]}' disposed: ${n} registration${n === 1 ? '' : 's'} undone`);
      }
      if (words.length !== 1) throw new Error(`%plugin: expected a package name or 'dispose <id>', got '${args.trim()}'`);
      const name = words[0]!;
      const mod = await importModule(name);
      const plugin = mod['attnlabPlugin'];
      if (!isPlugin(plugin)) throw new Error(`%plugin: ${name} does not export attnlabPlugin ({ id, activate(ctx) })`);
      // The import above already tried to activate it; this retries a failed activation and
      // lets its error reach the cell (an active plugin is left as it is).
      await plugins.activate(plugin, name);
      print(`plugin '${plugin.id}' is active`);
    },
  };
}

/**
 * A cell's import activates the module's plugin. Success is silent (`%plugin` lists what is
 * active); a failure is reported on stderr by plugin id, and the import goes on.
 */
export async function activateOnImport(plugins: PluginRegistry, specifier: string, mod: Record<string, unknown>, report: (text: string) => void): Promise<void> {
  try {
    await plugins.fromModule(specifier, mod);
  } catch (e) {
    report(`attnlab: ${e instanceof Error ? e.message : String(e)}${e instanceof PluginError ? ` (the module's other exports work; %plugin ${specifier} retries)` : ''}\n`);
  }
}
