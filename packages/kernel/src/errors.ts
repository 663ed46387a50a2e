/**
 * Tracebacks that speak about the user's cells: frames in cell code (V8 names them
 * `cell-<id>.ts` through the sourceURL each compiled cell carries) are mapped back to the cell's
 * own TypeScript line and column and labelled with the cell's execution count; the kernel's own
 * frames are dropped; the failing line is quoted with a caret.
 */
import { CellSyntaxError } from './compile.js';
import { KernelInterrupt } from './interrupt.js';
import type { CellScope } from './run.js';

export interface ErrorContent {
  ename: string;
  evalue: string;
  traceback: string[];
}

const FRAME = /^\s*at (?:(.+?) \()?cell-(\d+)\.ts:(\d+):(\d+)\)?$/;

/** `%typecheck on` found type errors: the cell did not run. */
export class CellTypeError extends Error {
  constructor(readonly errors: { line: number; column: number; message: string }[]) {
    super(`${errors.length} type error${errors.length === 1 ? '' : 's'}; the cell did not run (%typecheck off to run anyway)`);
    this.name = 'TypeCheckError';
  }
}

export function describeError(e: unknown, scope: CellScope, labelOf: (id: number) => string): ErrorContent {
  if (e instanceof CellTypeError) {
    return { ename: e.name, evalue: e.message, traceback: [`${e.name}: ${e.message}`, ...e.errors.map((x) => `    line ${x.line}, column ${x.column}: ${x.message}`)] };
  }
  if (e instanceof KernelInterrupt) {
    return { ename: 'Interrupted', evalue: 'the cell was interrupted; earlier state is kept', traceback: ['Interrupted: the cell was interrupted; earlier state is kept'] };
  }
  if (e instanceof CellSyntaxError) {
    return { ename: 'SyntaxError', evalue: e.message, traceback: [`SyntaxError: ${e.message}`, `    at cell line ${e.line}, column ${e.column}`] };
  }
  if (!(e instanceof Error)) return { ename: 'Error', evalue: String(e), traceback: [`Uncaught ${String(e)}`] };
  const frames: string[] = [];
  let quoted: string[] = [];
  for (const line of (e.stack ?? '').split('\n').slice(1)) {
    const m = FRAME.exec(line);
    if (!m) continue; // the kernel's own frames say nothing about the user's cell
    const id = Number(m[2]);
    const fn = m[1] && m[1] !== 'eval' && m[1] !== 'async eval' ? `${m[1].replace(/^async /, '')} ` : '';
    if (scope.isForgotten(id)) {
      frames.push(`    at ${fn}(an older cell, whose positions are no longer kept)`);
      continue;
    }
    const pos = scope.locate(id, Number(m[3]), Number(m[4]));
    if (!pos) continue;
    frames.push(`    at ${fn}(cell ${labelOf(id)}, line ${pos.line}, column ${pos.column})`);
    if (quoted.length === 0) {
      const text = scope.sources.get(id)?.split('\n')[pos.line - 1];
      if (text !== undefined) quoted = [`Cell ${labelOf(id)}, line ${pos.line}:`, `    ${text}`, `    ${' '.repeat(Math.max(0, pos.column - 1))}^`];
    }
  }
  return { ename: e.name, evalue: e.message, traceback: [...quoted, `${e.name}: ${e.message}`, ...frames] };
}
