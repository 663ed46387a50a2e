import { describeError, CellTypeError } from './errors.js';
import { toMimeBundle, plainText, asyncMimeBundle, hasAsyncDisplay, type MimeBundle } from './display.js';
import { CellScope, type Importer } from './run.js';
import { CellLanguageService, type CompleteReply, type InspectReply } from './language.js';
import { formatSeconds, hasMagic, splitMagics, type Magic, type MagicContext } from './magics.js';
import { PluginRegistry, activateOnImport, pluginMagic } from './plugins.js';
import { makeProgress } from './progress.js';
import { KernelInterrupt } from './interrupt.js';
import { CommRegistry, type CommManager, type CommOutput, type BufferLike } from './comm.js';

/** What the core asks its host to send (the host maps these to Jupyter messages). */
export type KernelOutput =
  | { type: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | { type: 'display_data'; data: MimeBundle; displayId?: string }
  | { type: 'update_display_data'; data: MimeBundle; displayId: string }
  | { type: 'execute_result'; data: MimeBundle; executionCount: number }
  | { type: 'error'; ename: string; evalue: string; traceback: string[] }
  | { type: 'clear_output'; wait: boolean }
  | CommOutput;

export interface KernelHost {
  send(msg: KernelOutput): void;
  importModule?: Importer;
  /**
   * Int32Array over a SharedArrayBuffer: another thread sets [0] = 1 to interrupt a running cell.
   * Cell loops check it, so even `while (true) {}` stops. Without it, `interrupt()` still cancels
   * a cell that is waiting on a promise.
   */
  interruptFlag?: Int32Array;
  /**
   * Reads a line from the user for `prompt()` (Jupyter stdin), synchronously. Hosts without
   * stdin leave it out and `prompt()` says so.
   */
  input?(prompt: string, password: boolean): string;
}


export type ExecuteReply =
  | { status: 'ok'; executionCount: number }
  | { status: 'error'; executionCount: number; ename: string; evalue: string; traceback: string[] };

export interface DisplayHandle {
  readonly id: string;
  update(value: unknown): void;
}

export interface DisplayFunction {
  (value: unknown): DisplayHandle;
  html(html: string): DisplayHandle;
  markdown(markdown: string): DisplayHandle;
  json(value: unknown): DisplayHandle;
  /** PNG bytes or base64. */
  png(data: Uint8Array | string): DisplayHandle;
  svg(svg: string): DisplayHandle;
}

/** The functions cells see as globals: display, console routed to the cell's streams. */
export interface CellGlobals {
  display: DisplayFunction;
  clearOutput(wait?: boolean): void;
}

/**
 * What packages that must not depend on @attnlab/kernel (widgets, plots) reach through
 * `globalThis[Symbol.for('attnlab.kernel')]`: the running kernel's comms and display.
 */
export interface KernelContext {
  comms: CommManager;
  display(value: unknown): DisplayHandle;
  clearOutput(wait?: boolean): void;
  /** Widget factories registered by plugins. */
  widgets: ReadonlyMap<string, (...args: never[]) => unknown>;
}

export const KERNEL_CONTEXT = Symbol.for('attnlab.kernel');

let nextDisplay = 1;

/**
 * The transport-free kernel core: runs cells, routes console output and displays to the host,
 * and reports errors with the cell's own line. (Comms, completion, interrupt and plugins: next.)
 */
export class KernelCore {
  private readonly scope: CellScope;
  private count = 0;
  /** Comms with the front end (the widget protocol is built on these). */
  readonly comms: CommRegistry;

  private cancelRun: ((e: Error) => void) | null = null;
  private readonly importer: Importer;
  /** Plugins activated in this kernel, and what they registered. */
  readonly plugins: PluginRegistry;
  /** Line and cell magics by name (built-ins and plugins'). */
  readonly magics = new Map<string, Magic>();
  /** Earlier cells' sources for completion; the TypeScript service itself starts on first use. */
  private readonly language = new CellLanguageService();
  private stdinAllowed = true;
  /** `%typecheck on`: cells with type errors are reported and not run. */
  private typecheck = false;
  /** Execution-count labels of compiled cell ids, for tracebacks ('[3]'). */
  private readonly labels = new Map<number, string>();

  constructor(private readonly host: KernelHost) {
    const flag = host.interruptFlag;
    const check = flag
      ? () => {
          if (Atomics.load(flag, 0) !== 0) throw new KernelInterrupt();
        }
      : () => {};
    const base: Importer = host.importModule ?? ((spec) => import(spec) as Promise<Record<string, unknown>>);
    // Every import a cell makes goes through here, so importing a plugin package activates it.
    this.importer = async (spec) => {
      const mod = await base(spec);
      await activateOnImport(this.plugins, spec, mod, (text) => this.host.send({ type: 'stream', name: 'stderr', text }));
      return mod;
    };
    this.scope = new CellScope(this.importer, check);
    this.comms = new CommRegistry((m) => host.send(m), (text) => host.send({ type: 'stream', name: 'stderr', text }));
    this.plugins = new PluginRegistry({ magics: this.magics, import: (spec) => this.importer(spec) });
    this.registerBuiltinMagics();
    const g = globalThis as unknown as Record<string, unknown> & Record<symbol, unknown>;
    const api = this.globals();
    g['display'] = api.display;
    g['clearOutput'] = api.clearOutput;
    g['progress'] = makeProgress(api.display);
    g['prompt'] = (message = '', options: { password?: boolean } = {}): string => this.prompt(String(message), options.password === true);
    const context: KernelContext = { comms: this.comms, display: api.display, clearOutput: api.clearOutput, widgets: this.plugins.widgets };
    g[KERNEL_CONTEXT] = context;
    installRejectionHandler(this);
  }

  /** The bundle a value displays as: plugin formatters first, then its own display method. */
  mimeBundle(value: unknown): MimeBundle {
    return this.plugins.format(value) ?? toMimeBundle(value);
  }

  /** `prompt()` in a cell: a line from the front end (Jupyter stdin), synchronously. */
  private prompt(message: string, password: boolean): string {
    if (!this.host.input) throw new Error('prompt(): this kernel host has no stdin');
    if (!this.stdinAllowed) throw new Error('prompt(): the front end does not accept input for this request (allow_stdin is false)');
    return this.host.input(message, password);
  }

  /** A line on the cell's stdout (magics' output). */
  private print(text: string): void {
    this.host.send({ type: 'stream', name: 'stdout', text: text.endsWith('\n') ? text : text + '\n' });
  }

  private registerBuiltinMagics(): void {
    const print = (text: string) => this.print(text);
    const time = async (code: string, ctx: MagicContext) => {
      const t0 = performance.now();
      try {
        return (await ctx.run(code)).value;
      } finally {
        print(`Wall time: ${formatSeconds((performance.now() - t0) / 1000)}`);
      }
    };
    this.magics.set('time', { help: 'time one statement (%time code) or a whole cell (%%time)', line: (args, ctx) => time(args, ctx), cell: (_args, body, ctx) => time(body, ctx) });
    this.magics.set('who', {
      help: 'names declared by cells, with their types',
      line: () => {
        const names = this.who().sort();
        print(names.length ? names.map((n) => `${n}: ${typeName(this.scope.values[n])}`).join('\n') : 'no variables declared');
      },
    });
    this.magics.set('reset', {
      help: 'forget every name cells declared (plugins stay active)',
      line: () => {
        this.scope.reset();
        this.language.reset();
        print('namespace cleared');
      },
    });
    this.magics.set('plugin', pluginMagic(this.plugins, (spec) => this.importer(spec), print));
    this.magics.set('device', {
      help: 'the WebGPU adapter (or why the CPU is used)',
      line: async () => {
        const tensor = await this.importer('@attnlab/tensor');
        const getDevice = tensor['getDevice'] as (o?: { prefer?: string }) => Promise<{ kind: string; adapter: string; isSoftware: boolean }>;
        try {
          const d = await getDevice({ prefer: 'webgpu' });
          print(`webgpu: ${d.adapter}${d.isSoftware ? ' (software adapter: correct but slow; the default device stays on the CPU)' : ''}`);
        } catch (e) {
          print(`no WebGPU adapter: ${e instanceof Error ? e.message : String(e)}; using the CPU device`);
        }
        const d = await getDevice();
        print(`default device: ${d.kind}`);
      },
    });
    this.magics.set('typecheck', {
      help: '%typecheck on|off: type-check each cell (with earlier cells in view) before running it',
      line: (args) => {
        const a = args.trim();
        if (a !== 'on' && a !== 'off' && a !== '') throw new Error(`%typecheck: expected 'on' or 'off', got '${a}'`);
        if (a) this.typecheck = a === 'on';
        print(`type checking is ${this.typecheck ? 'on' : 'off'}`);
      },
    });
    this.magics.set('lsmagic', {
      help: 'list magics',
      line: () => print([...this.magics.entries()].sort().map(([n, m]) => `%${m.cell && !m.line ? '%' : ''}${n}  ${m.help ?? ''}`).join('\n')),
    });
  }

  /** Declaration files for completion where there is no file system (see CellLanguageService.useFiles). */
  useLanguageFiles(files: Map<string, string>): void {
    this.language.useFiles(files);
  }

  /** Completion for a cell being edited (earlier cells' declarations are in view). */
  complete(code: string, cursorPos: number): CompleteReply {
    return this.language.complete(code, cursorPos);
  }

  /** Hover / Shift+Tab: the type and docs of the name at the cursor. */
  inspect(code: string, cursorPos: number, detailLevel = 0): InspectReply {
    return this.language.inspect(code, cursorPos, detailLevel);
  }

  /** comm_open from the front end. */
  commOpen(content: unknown, metadata: unknown = {}, buffers: readonly BufferLike[] = []): void {
    this.comms.receiveOpen(content, metadata, buffers);
  }

  /** comm_msg from the front end. */
  commMsg(content: unknown, metadata: unknown = {}, buffers: readonly BufferLike[] = []): void {
    this.comms.receiveMsg(content, metadata, buffers);
  }

  /** comm_close from the front end. */
  commClose(content: unknown, metadata: unknown = {}): void {
    this.comms.receiveClose(content, metadata);
  }

  /** comm_info_reply content: the open comms, optionally of one target. */
  commInfo(targetName?: string): { status: 'ok'; comms: Record<string, { target_name: string }> } {
    return { status: 'ok', comms: this.comms.info(targetName) };
  }

  get executionCount(): number {
    return this.count;
  }

  /**
   * What the kernel holds per executed cell, counted: cell sources and position maps, traceback
   * labels, language-service context cells. Each stays bounded however many cells run.
   */
  get retained(): { cells: number; labels: number; languageCells: number } {
    return { cells: this.scope.keptCells, labels: this.labels.size, languageCells: this.language.historyLength };
  }

  /** Names declared by cells so far. */
  who(): string[] {
    return this.scope.declared;
  }

  globals(): CellGlobals {
    const show = (bundle: MimeBundle, value?: unknown): DisplayHandle => {
      const id = `attnlab-${nextDisplay++}`;
      let shown = 0;
      // A value read asynchronously (a WebGPU tensor's values) replaces its sync bundle in place,
      // unless a newer update came first.
      const fill = (v: unknown, n: number): void => {
        if (hasAsyncDisplay(v) && !this.plugins.format(v)) void asyncMimeBundle(v).then((b) => b && n === shown && this.host.send({ type: 'update_display_data', data: b, displayId: id }));
      };
      this.host.send({ type: 'display_data', data: bundle, displayId: id });
      fill(value, shown);
      return {
        id,
        update: (v: unknown) => {
          const n = ++shown;
          this.host.send({ type: 'update_display_data', data: this.mimeBundle(v), displayId: id });
          fill(v, n);
        },
      };
    };
    const display = ((value: unknown) => show(this.mimeBundle(value), value)) as DisplayFunction;
    display.html = (html) => show({ 'text/html': String(html), 'text/plain': '<HTML>' });
    display.markdown = (md) => show({ 'text/markdown': String(md), 'text/plain': String(md) });
    display.json = (v) => show({ 'application/json': JSON.parse(JSON.stringify(v ?? null)) as unknown, 'text/plain': plainText(v) });
    display.png = (data) => show({ 'image/png': typeof data === 'string' ? data : base64(data), 'text/plain': '<PNG image>' });
    display.svg = (svg) => show({ 'image/svg+xml': String(svg), 'text/plain': '<SVG image>' });
    return { display, clearOutput: (wait = false): void => this.host.send({ type: 'clear_output', wait }) };
  }

  /**
   * Stops the running cell: sets the shared flag (loops throw at their next iteration) and
   * cancels the cell's pending await. Earlier cells' state is kept.
   */
  interrupt(): void {
    if (this.host.interruptFlag) Atomics.store(this.host.interruptFlag, 0, 1);
    this.cancelRun?.(new KernelInterrupt());
  }

  async execute(code: string, options: { silent?: boolean; allowStdin?: boolean } = {}): Promise<ExecuteReply> {
    const executionCount = options.silent ? this.count : ++this.count;
    const restore = this.captureConsole();
    this.stdinAllowed = options.allowStdin !== false;
    // A flag left set by an interrupt that arrived between cells must not stop this one.
    if (this.host.interruptFlag) Atomics.store(this.host.interruptFlag, 0, 0);
    const cancelled = new Promise<never>((_, reject) => (this.cancelRun = reject));
    const firstId = this.scope.nextCellId;
    const label = options.silent ? '(silent)' : `[${executionCount}]`;
    const labelIds = () => {
      for (let id = firstId; id < this.scope.nextCellId; id++) this.labels.set(id, label);
      // Labels of cells the scope let go of (see KEPT_CELLS) go with them.
      for (const id of this.labels.keys()) {
        if (!this.scope.isForgotten(id)) break;
        this.labels.delete(id);
      }
    };
    this.currentLabel = label;
    try {
      const { value, hasResult, declared } = await Promise.race([this.runCell(code), cancelled]);
      if (hasResult && value !== undefined && !options.silent) {
        this.host.send({ type: 'execute_result', data: this.plugins.format(value) ?? (await asyncMimeBundle(value)) ?? toMimeBundle(value), executionCount });
      }
      this.language.addCell(code, declared);
      labelIds();
      await settle();
      return { status: 'ok', executionCount };
    } catch (e) {
      labelIds();
      // Imports that ran before the throw stay bound: keep their types in view of later cells.
      this.language.addImportsOf(code, (n) => this.scope.values[n] !== undefined);
      const err = describeError(e, this.scope, (id) => this.labels.get(id) ?? '?');
      this.host.send({ type: 'error', ...err });
      return { status: 'error', executionCount, ...err };
    } finally {
      this.cancelRun = null;
      if (this.host.interruptFlag) Atomics.store(this.host.interruptFlag, 0, 0);
      restore();
    }
  }

  /** Runs a cell: plain TypeScript, or code runs and magics in order. */
  private async runCell(code: string): Promise<{ value: unknown; hasResult: boolean; declared: string[] }> {
    if (this.typecheck && !/^\s*%typecheck\b/m.test(code)) {
      const errors = this.language.typeErrors(code);
      if (errors.length) throw new CellTypeError(errors);
    }
    if (!hasMagic(code)) return this.scope.run(code);
    const declared: string[] = [];
    const ctx: MagicContext = { run: (c) => this.scope.run(c), print: (t) => this.print(t) };
    let last: { value: unknown; hasResult: boolean } = { value: undefined, hasResult: false };
    for (const part of splitMagics(code)) {
      if (part.kind === 'code') {
        const r = await this.scope.run(part.code);
        declared.push(...r.declared);
        last = r;
        continue;
      }
      const magic = this.magics.get(part.name);
      const fn = part.kind === 'cell' ? magic?.cell : magic?.line;
      if (!magic || !fn) throw new Error(`${part.kind === 'cell' ? '%%' : '%'}${part.name}: no such ${part.kind} magic (%lsmagic lists them)`);
      const value = part.kind === 'cell' ? await magic.cell!(part.args, part.body, ctx) : await magic.line!(part.args, ctx);
      last = { value, hasResult: value !== undefined };
    }
    return { ...last, declared };
  }

  private currentLabel = '';

  /**
   * A promise a cell left rejected with no handler: reported on stderr naming the cell whose code
   * created it (and on the running cell's output), never fatal.
   */
  reportUnhandled(reason: unknown): void {
    const err = describeError(reason, this.scope, (id) => this.labels.get(id) ?? this.currentLabel);
    this.host.send({ type: 'stream', name: 'stderr', text: `Unhandled promise rejection:\n${err.traceback.join('\n')}\n` });
  }

  /**
   * An exception thrown in a callback a cell scheduled (a timer, a microtask): reported on stderr
   * naming the cell whose code threw, like an unhandled rejection; the kernel keeps running.
   */
  reportUncaught(error: unknown): void {
    const err = describeError(error, this.scope, (id) => this.labels.get(id) ?? this.currentLabel);
    this.host.send({ type: 'stream', name: 'stderr', text: `Uncaught exception in a callback (the kernel keeps running):\n${err.traceback.join('\n')}\n` });
  }

  private captureConsole(): () => void {
    const c = console as unknown as Record<string, (...a: unknown[]) => void>;
    const saved = { log: c['log']!, info: c['info']!, warn: c['warn']!, error: c['error']! };
    const to = (name: 'stdout' | 'stderr') => (...args: unknown[]): void => {
      this.host.send({ type: 'stream', name, text: args.map((a) => (typeof a === 'string' ? a : toMimeBundle(a)['text/plain'])).join(' ') + '\n' });
    };
    c['log'] = c['info'] = to('stdout');
    c['warn'] = c['error'] = to('stderr');
    return () => Object.assign(c, saved);
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'function') return v.toString().startsWith('class') ? 'class' : 'function';
  if (typeof v !== 'object') return typeof v;
  const ctor = (v as { constructor?: { name?: string } }).constructor?.name;
  return ctor && ctor !== 'Object' ? ctor : 'object';
}

function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}


/** One process-wide handler, routed to the newest kernel core. */
let rejectionTarget: KernelCore | null = null;
function installRejectionHandler(core: KernelCore): void {
  const first = rejectionTarget === null;
  rejectionTarget = core;
  if (!first) return;
  const proc = (globalThis as { process?: { on?(ev: string, cb: (r: unknown) => void): void } }).process;
  if (proc?.on) proc.on('unhandledRejection', (r) => rejectionTarget?.reportUnhandled(r));
  else {
    const g = globalThis as { addEventListener?(t: string, cb: (e: { reason: unknown; preventDefault(): void }) => void): void };
    g.addEventListener?.('unhandledrejection', (e) => {
      e.preventDefault();
      rejectionTarget?.reportUnhandled(e.reason);
    });
  }
}

/** Lets rejections a cell left behind surface while that cell is still the one running. */
function settle(): Promise<void> {
  const g = globalThis as { setImmediate?: (cb: () => void) => void };
  return new Promise((resolve) => (g.setImmediate ? g.setImmediate(resolve) : setTimeout(resolve, 0)));
}
