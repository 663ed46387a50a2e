/**
 * Kernel plugins: `{ id, activate(ctx) }`. A package that exports `attnlabPlugin` is activated the
 * first time a cell imports it (or with `%plugin name`); `ctx` registers display formatters,
 * magics, attention variants and widgets. Activation happens once per id per kernel; a plugin
 * that throws is reported and left inactive, the cell's import still works.
 */
import type { MimeBundle } from './display.js';
import type { Magic } from './magics.js';

/** Turns a value into a mime bundle, or returns undefined to let the next formatter try. */
export type DisplayFormatter = (value: unknown) => MimeBundle | undefined;

export interface PluginContext {
  /** Formatters run before the built-in display (newest first). */
  registerDisplayFormatter(formatter: DisplayFormatter): void;
  /** A line magic `%name args` (and cell magic `%%name` when `cell` is set). */
  registerMagic(name: string, magic: Magic): void;
  /** An attention variant in @attnlab/attention's registry, for models to pick per layer/head. */
  registerAttention(name: string, impl: unknown, options?: { replace?: boolean }): Promise<void>;
  /** A widget factory other code can find by name (`kernelContext.widgets`). */
  registerWidget(name: string, factory: (...args: never[]) => unknown): void;
  /** Imports a module the way cells do. */
  import(specifier: string): Promise<Record<string, unknown>>;
}

export interface AttnlabPlugin {
  id: string;
  activate(ctx: PluginContext): void | Promise<void>;
}

export function isPlugin(v: unknown): v is AttnlabPlugin {
  return typeof v === 'object' && v !== null && typeof (v as AttnlabPlugin).id === 'string' && typeof (v as AttnlabPlugin).activate === 'function';
}

export class PluginRegistry {
  readonly active = new Map<string, AttnlabPlugin>();
  readonly formatters: DisplayFormatter[] = [];
  readonly widgets = new Map<string, (...args: never[]) => unknown>();

  constructor(private readonly ctx: PluginContext) {}

  /** Activates the `attnlabPlugin` export of a module if it has one; true when newly activated. */
  async fromModule(specifier: string, mod: Record<string, unknown>): Promise<boolean> {
    const p = mod['attnlabPlugin'];
    if (p === undefined) return false;
    if (!isPlugin(p)) throw new Error(`${specifier}: attnlabPlugin must be { id: string, activate(ctx) }`);
    return this.activate(p);
  }

  async activate(plugin: AttnlabPlugin): Promise<boolean> {
    if (this.active.has(plugin.id)) return false;
    await plugin.activate(this.ctx);
    this.active.set(plugin.id, plugin);
    return true;
  }

  format(value: unknown): MimeBundle | undefined {
    for (let i = this.formatters.length - 1; i >= 0; i--) {
      const b = this.formatters[i]!(value);
      if (b !== undefined) return b;
    }
    return undefined;
  }
}
