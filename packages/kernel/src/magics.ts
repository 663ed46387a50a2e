/**
 * IPython-style magics. A line starting with `%name` runs the magic with the rest of the line;
 * `%%name` on a cell's first line hands it the whole cell body. Lines between magics run as
 * ordinary TypeScript, in order, so `%time` can sit beside code.
 */
export interface MagicContext {
  /** Runs TypeScript in the cell scope; resolves to the value of its last expression. */
  run(code: string): Promise<{ value: unknown; hasResult: boolean; declared: string[] }>;
  print(text: string): void;
}

export interface Magic {
  /** Line magic: `%name args`. The returned value (if any) becomes the cell's result. */
  line?(args: string, ctx: MagicContext): unknown;
  /** Cell magic: `%%name args` then the body. */
  cell?(args: string, body: string, ctx: MagicContext): unknown;
  help?: string;
}

export type CellPart = { kind: 'code'; code: string } | { kind: 'line'; name: string; args: string } | { kind: 'cell'; name: string; args: string; body: string };

const LINE = /^\s*%([A-Za-z_][\w-]*)(?:[ \t]+(.*))?$/;
const CELL = /^\s*%%([A-Za-z_][\w-]*)(?:[ \t]+(.*))?$/;

/** Splits a cell into code runs and magic lines. Code lines keep their places (blank-padded) so line numbers in errors stay right. */
export function splitMagics(source: string): CellPart[] {
  const lines = source.split('\n');
  const first = CELL.exec(lines[0] ?? '');
  if (first) return [{ kind: 'cell', name: first[1]!, args: (first[2] ?? '').trim(), body: '\n' + lines.slice(1).join('\n') }];
  const parts: CellPart[] = [];
  let code: string[] = [];
  const flush = () => {
    if (code.some((l) => l.trim())) parts.push({ kind: 'code', code: code.join('\n') });
    code = [];
  };
  for (const [i, line] of lines.entries()) {
    const m = LINE.exec(line);
    if (m && !line.trimStart().startsWith('%%')) {
      flush();
      parts.push({ kind: 'line', name: m[1]!, args: (m[2] ?? '').trim() });
      // Keep the following code's line numbers: pad with the lines consumed so far.
      code = new Array<string>(i + 1).fill('');
    } else {
      code.push(line);
    }
  }
  flush();
  return parts;
}

/** True when the cell has any magic (the fast path skips splitting otherwise). */
export function hasMagic(source: string): boolean {
  return /^\s*%/m.test(source);
}

export function formatSeconds(s: number): string {
  return s < 1e-3 ? `${(s * 1e6).toFixed(0)} µs` : s < 1 ? `${(s * 1e3).toFixed(2)} ms` : `${s.toFixed(3)} s`;
}
