import { compileCell, INTERRUPT, type CompiledCell } from './compile.js';

// `new AsyncFunction(params, body)` puts `(async function anonymous(params\n) {\n` before the body.
const FUNCTION_HEADER_LINES = 2;

// The constructor of async functions, so a cell body can use top-level await.
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<unknown>;

export type Importer = (specifier: string) => Promise<Record<string, unknown>>;

/**
 * How many recent cells keep their source and position map, so a session of many thousand cells
 * holds a bounded amount (errors in functions from older cells still name their cell, without
 * the line).
 */
export const KEPT_CELLS = 1000;

/**
 * Persistent cell state: what earlier cells declared. Runs cells compiled by `compileCell`;
 * a cell that throws keeps what it declared before the throw, and earlier state is untouched.
 */
export class CellScope {
  readonly values: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  private readonly names = new Set<string>();

  constructor(
    private readonly importer: Importer = (s) => import(s) as Promise<Record<string, unknown>>,
    /** Called at the top of every loop iteration in cell code; throws to interrupt. */
    private readonly interruptCheck: () => void = () => {},
  ) {}

  /** Names declared so far (for `%who`). */
  get declared(): string[] {
    return [...this.names];
  }

  /** Position mappers of compiled cells, by the id in their `//# sourceURL=cell-<id>.ts`. */
  private readonly locators = new Map<number, CompiledCell['locate']>();
  /** Cell sources by id, to quote the failing line in tracebacks. */
  readonly sources = new Map<number, string>();
  private nextId = 1;

  /** The id the next `run` will give its cell (stack frames name it `cell-<id>.ts`). */
  get nextCellId(): number {
    return this.nextId;
  }

  /**
   * A cell's own line and column for a position V8 reports in `cell-<id>.ts` (the function
   * source starts with two lines of header before the body).
   */
  /** How many cells' sources and position maps are held (at most KEPT_CELLS). */
  get keptCells(): number {
    return this.locators.size;
  }

  /** A cell that ran but whose source and position map were let go (see KEPT_CELLS). */
  isForgotten(id: number): boolean {
    return id < this.nextId && !this.locators.has(id);
  }

  locate(id: number, line: number, column: number): { line: number; column: number } | null {
    return this.locators.get(id)?.(line - FUNCTION_HEADER_LINES, column) ?? null;
  }

  async run(source: string): Promise<{ value: unknown; hasResult: boolean; declared: string[] }> {
    let cell = compileCell(source, [...this.names]);
    const id = this.nextId++;
    // Named so that stack frames (and the browser's devtools) say which cell they are in.
    const make = (c: CompiledCell) => new AsyncFunction('__scope', '__import', INTERRUPT, `${c.body}\n//# sourceURL=cell-${id}.ts`);
    let fn: (...a: unknown[]) => Promise<unknown>;
    try {
      fn = make(cell);
    } catch (e) {
      // Erasing types in place left something the engine cannot parse: use the full transpiler.
      if (!(e instanceof SyntaxError)) throw e;
      cell = compileCell(source, [...this.names], { fullTranspile: true });
      fn = make(cell);
    }
    this.locators.set(id, cell.locate);
    this.sources.set(id, source);
    // Maps iterate in insertion order: the first key is the oldest cell.
    while (this.locators.size > KEPT_CELLS) {
      const oldest = this.locators.keys().next().value as number;
      this.locators.delete(oldest);
      this.sources.delete(oldest);
    }
    for (const n of cell.declared) this.names.add(n);
    const value = await fn(this.values, this.importer, this.interruptCheck);
    return { value, hasResult: cell.hasResult, declared: cell.declared };
  }

  reset(): void {
    for (const n of this.names) delete this.values[n];
    this.names.clear();
  }
}
