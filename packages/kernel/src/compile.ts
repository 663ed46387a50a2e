import ts from 'typescript';
import { LineMap } from './source-map.js';
import { eraseTypes } from './erase-types.js';

/**
 * The cell compiler. A cell's TypeScript is type-stripped (TypeScript 5.9's transpiler, no type
 * check), then its top-level statements are rewritten so the cell can run as the body of an async
 * function (top-level await) while its bindings persist across cells:
 * - const/let/var, function, class, enum and namespace bindings become `var`s that are read from
 *   the persistent scope at the start of the next cell and written back when the cell ends (even
 *   when it throws), so re-running `const x = ...` or `class A {}` works;
 * - static imports become awaited dynamic imports through the host's `__import`;
 * - a final expression statement becomes the cell's result.
 */
export interface CompiledCell {
  /** Body of an async function taking (__scope, __import, __interrupt). */
  body: string;
  /**
   * Maps a 1-based line/column of `body` to the cell's own TypeScript line/column (null for
   * positions in code the compiler added).
   */
  locate(line: number, column: number): { line: number; column: number } | null;
  /** Names this cell declares at top level. */
  declared: string[];
  /** Whether the cell ends in an expression whose value is the result. */
  hasResult: boolean;
}

export class CellSyntaxError extends Error {
  constructor(message: string, readonly line: number, readonly column: number) {
    super(message);
    this.name = 'SyntaxError';
  }
}

const RESULT = '__attnlab_result';
const LIVE = '__attnlab_fn';
/** The interrupt check the cell's loops call (third parameter of the cell function). */
export const INTERRUPT = '__interrupt';

export function stripTypes(source: string): string {
  return transpile(source, true).js;
}

/**
 * Type-stripped JavaScript and the map from its positions back to the TypeScript (none when the
 * types were erased in place: positions are unchanged).
 */
function transpile(source: string, full = false): { js: string; map: LineMap | null } {
  if (!full) {
    const erased = eraseTypes(source);
    if (erased !== null) return { js: erased, map: null };
  }
  const out = ts.transpileModule(source, {
    reportDiagnostics: true,
    fileName: 'cell.ts',
    compilerOptions: {
      sourceMap: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      alwaysStrict: false,
      isolatedModules: true,
      // Keep imports a cell does not use yet: later cells will.
      verbatimModuleSyntax: true,
      removeComments: false,
    },
  });
  const err = out.diagnostics?.find((d) => d.category === ts.DiagnosticCategory.Error);
  if (err) {
    const pos = err.file && err.start !== undefined ? err.file.getLineAndCharacterOfPosition(err.start) : { line: 0, character: 0 };
    throw new CellSyntaxError(ts.flattenDiagnosticMessageText(err.messageText, '\n'), pos.line + 1, pos.character + 1);
  }
  const js = out.outputText.replace(/^\/\/# sourceMappingURL=.*$/m, '').replace(/^export \{\};\s*$/m, '');
  let map: LineMap | null = null;
  try {
    map = out.sourceMapText ? new LineMap((JSON.parse(out.sourceMapText) as { mappings: string }).mappings) : null;
  } catch {
    map = null;
  }
  return { js, map };
}

function bindingNames(name: ts.BindingName, out: string[]): void {
  if (ts.isIdentifier(name)) out.push(name.text);
  else for (const el of name.elements) if (!ts.isOmittedExpression(el)) bindingNames(el.name, out);
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

function importToVar(decl: ts.ImportDeclaration, sf: ts.SourceFile, declared: string[]): string {
  const spec = decl.moduleSpecifier.getText(sf);
  const clause = decl.importClause;
  if (!clause) return `await __import(${spec});`;
  if (clause.isTypeOnly) return '';
  const parts: string[] = [];
  const tmp = `__m${decl.pos}`;
  parts.push(`var ${tmp} = await __import(${spec});`);
  if (clause.name) {
    declared.push(clause.name.text);
    parts.push(`var ${clause.name.text} = ${tmp}.default;`);
  }
  const nb = clause.namedBindings;
  if (nb && ts.isNamespaceImport(nb)) {
    declared.push(nb.name.text);
    parts.push(`var ${nb.name.text} = ${tmp};`);
  } else if (nb) {
    for (const el of nb.elements) {
      if (el.isTypeOnly) continue;
      declared.push(el.name.text);
      parts.push(`var ${el.name.text} = ${tmp}[${JSON.stringify((el.propertyName ?? el.name).text)}];`);
    }
  }
  return parts.join(' ');
}

/** Compile a cell given the names earlier cells left in the scope. */
export function compileCell(source: string, known: readonly string[], options: { fullTranspile?: boolean } = {}): CompiledCell {
  const { js, map } = transpile(source, options.fullTranspile);
  const sf = ts.createSourceFile('cell.js', js, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  const declared: string[] = [];
  // Function declarations are hoisted above the scope load: they must not be overwritten by it.
  const functions = new Set<string>();
  // Async and generator declarations are block-scoped inside the cell's `try {}` (no Annex B
  // hoisting, unlike plain functions), so `finally` cannot see them: a closure made at the top of
  // the block reads them for the save.
  const blockFunctions = new Set<string>();
  const edits: Edit[] = [];
  // Dynamic `import(x)` anywhere in the cell goes through the host's importer too: in a browser
  // Worker a bare specifier means nothing to the native import(). (Pushed first: for edits at
  // the same position this replacement must apply before the result wrapper's insertion.)
  const visit = (n: ts.Node): void => {
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
      edits.push({ start: n.expression.getStart(sf), end: n.expression.getEnd(), text: '__import' });
    }
    // Every loop body starts with an interrupt check, so `while (true) {}` can be stopped.
    if (ts.isIterationStatement(n, false)) {
      const body = n.statement;
      if (ts.isBlock(body)) edits.push({ start: body.getStart(sf) + 1, end: body.getStart(sf) + 1, text: ` ${INTERRUPT}();` });
      else {
        edits.push({ start: body.getStart(sf), end: body.getStart(sf), text: `{ ${INTERRUPT}(); ` });
        edits.push({ start: body.getEnd(), end: body.getEnd(), text: ' }' });
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  const stmts = sf.statements;
  let hasResult = false;
  stmts.forEach((st, i) => {
    const start = st.getStart(sf);
    // `export` has no meaning in a cell: drop the keyword.
    const mods = ts.canHaveModifiers(st) ? ts.getModifiers(st) : undefined;
    const exp = mods?.find((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (exp) edits.push({ start: exp.getStart(sf), end: exp.getEnd(), text: '' });
    if (ts.isImportDeclaration(st)) {
      edits.push({ start, end: st.getEnd(), text: importToVar(st, sf, declared) });
    } else if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) bindingNames(d.name, declared);
      const kw = st.declarationList.getFirstToken(sf)!;
      edits.push({ start: kw.getStart(sf), end: kw.getEnd(), text: 'var' });
    } else if (ts.isFunctionDeclaration(st) && st.name) {
      declared.push(st.name.text);
      functions.add(st.name.text);
      if (st.asteriskToken || mods?.some((m) => m.kind === ts.SyntaxKind.AsyncKeyword)) blockFunctions.add(st.name.text);
    } else if (ts.isClassDeclaration(st) && st.name) {
      declared.push(st.name.text);
      const cls = st.getChildren(sf).find((c) => c.kind === ts.SyntaxKind.ClassKeyword)!;
      edits.push({ start: cls.getStart(sf), end: cls.getStart(sf), text: `var ${st.name.text} = ` });
      edits.push({ start: st.getEnd(), end: st.getEnd(), text: ';' });
    } else if (ts.isExpressionStatement(st) && i === stmts.length - 1) {
      hasResult = true;
      edits.push({ start, end: start, text: `${RESULT} = (` });
      edits.push({ start: st.expression.getEnd(), end: st.getEnd(), text: ');' });
    }
  });
  // enum/namespace compile to `var E; (function (E) {...})(E || (E = {}))`, covered above.
  edits.sort((a, b) => b.start - a.start);
  let body = js;
  for (const e of edits) body = body.slice(0, e.start) + e.text + body.slice(e.end);
  const ascending = [...edits].reverse();
  const names = [...new Set([...known, ...declared])].filter((n) => /^[A-Za-z_$][\w$]*$/.test(n));
  const loaded = names.filter((n) => !functions.has(n));
  const load = loaded.length ? `var ${loaded.map((n) => `${n} = __scope[${JSON.stringify(n)}]`).join(', ')};\n` : '';
  const save = names.length ? `${names.map((n) => `__scope[${JSON.stringify(n)}] = ${blockFunctions.has(n) ? `${LIVE}[${JSON.stringify(n)}]()` : n};`).join(' ')}` : '';
  const live = [...blockFunctions].map((n) => `${LIVE}[${JSON.stringify(n)}] = () => ${n};`).join(' ');
  const prelude = `${load}var ${RESULT}${live ? `, ${LIVE} = {}` : ''};\ntry {\n${live ? `${live}\n` : ''}`;
  const preludeLines = prelude.split('\n').length - 1;
  const locate = makeLocator(preludeLines, lineStarts(body), lineStarts(js), map, ascending);
  return {
    body: `${prelude}${body}\n} finally { ${save} }\nreturn ${RESULT};`,
    locate,
    declared: [...new Set(declared)],
    hasResult,
  };
}

/**
 * The position mapper a compiled cell keeps for its whole life. Built apart from compileCell so
 * that its closure holds these arrays only: closures made inside compileCell share one context
 * with the TypeScript AST of the cell, which would then live as long as the cell's function.
 */
function makeLocator(preludeLines: number, bodyLineStarts: number[], jsLineStarts: number[], map: LineMap | null, ascending: Edit[]): CompiledCell['locate'] {
  /** Transpiled-JavaScript offset -> the cell's line/column (through the source map when transpiled). */
  const fromJs = (x: number): { line: number; column: number } => {
    let jl = 0;
    while (jl + 1 < jsLineStarts.length && jsLineStarts[jl + 1]! <= x) jl++;
    const pos = map?.lookup(jl, x - jsLineStarts[jl]!);
    return pos ? { line: pos.line + 1, column: pos.column + 1 } : { line: jl + 1, column: x - jsLineStarts[jl]! + 1 };
  };
  return (line: number, column: number): { line: number; column: number } | null => {
    const l = line - 1 - preludeLines;
    if (l < 0 || l >= bodyLineStarts.length) return null;
    // Undo the edits (all single-line) to get the offset in the transpiled JavaScript; a position
    // inside text an edit inserted maps to where that edit was made.
    const b = bodyLineStarts[l]! + column - 1;
    let shift = 0;
    for (const e of ascending) {
      const start = e.start + shift;
      if (b < start) break;
      if (b < start + e.text.length) return fromJs(e.start);
      shift += e.text.length - (e.end - e.start);
    }
    return fromJs(b - shift);
  };
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}
