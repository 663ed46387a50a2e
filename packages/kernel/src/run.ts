import { compileCell, INTERRUPT } from './compile.js';

// The constructor of async functions, so a cell body can use top-level await.
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<unknown>;

export type Importer = (specifier: string) => Promise<Record<string, unknown>>;

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

  async run(source: string): Promise<{ value: unknown; hasResult: boolean; declared: string[] }> {
    const cell = compileCell(source, [...this.names]);
    const fn = new AsyncFunction('__scope', '__import', INTERRUPT, cell.body);
    for (const n of cell.declared) this.names.add(n);
    const value = await fn(this.values, this.importer, this.interruptCheck);
    return { value, hasResult: cell.hasResult, declared: cell.declared };
  }

  reset(): void {
    for (const n of this.names) delete this.values[n];
    this.names.clear();
  }
}
