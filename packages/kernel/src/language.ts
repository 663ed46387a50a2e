/**
 * Completion and inspection from the TypeScript language service. Earlier cells that ran without
 * error form a virtual module ahead of the cell being edited, so completions see their
 * declarations and imports; in Node the real file system gives the standard library and the
 * @attnlab packages' .d.ts files. Hosts without a file system (the browser worker) still complete
 * names from earlier cells and their inferred types.
 */
import ts from 'typescript';
import { hasMagic } from './magics.js';

const DIR = '/attnlab-cells';
const CELLS = `${DIR}/cells.ts`;
const GLOBALS = `${DIR}/globals.d.ts`;

// What the kernel puts on globalThis, so cells see it in completions and hovers.
const GLOBALS_SOURCE = `
interface AttnlabDisplayHandle { readonly id: string; update(value: unknown): void }
declare function display(value: unknown): AttnlabDisplayHandle;
declare namespace display {
  function html(html: string): AttnlabDisplayHandle;
  function markdown(markdown: string): AttnlabDisplayHandle;
  function json(value: unknown): AttnlabDisplayHandle;
  function png(data: Uint8Array | string): AttnlabDisplayHandle;
  function svg(svg: string): AttnlabDisplayHandle;
}
/** Clears the cell's output (wait: until the next output arrives). */
declare function clearOutput(wait?: boolean): void;
interface AttnlabProgressBar extends Iterable<number> { update(n?: number, status?: string): void; set(value: number, status?: string): void; done(status?: string): void; readonly value: number }
/** A progress bar that updates in place; iterating it counts 0..total-1 (like tqdm's trange). */
declare function progress(total: number, options?: { label?: string; throttleMs?: number }): AttnlabProgressBar;
declare function progress<T>(items: Iterable<T>, options?: { label?: string; total?: number; throttleMs?: number }): Iterable<T>;
`;

export interface CompleteReply {
  status: 'ok';
  matches: string[];
  cursor_start: number;
  cursor_end: number;
  metadata: { _jupyter_types_experimental?: { text: string; type: string; start: number; end: number }[] };
}

export interface InspectReply {
  status: 'ok';
  found: boolean;
  data: Record<string, string>;
  metadata: Record<string, never>;
}

/** Jupyter positions count Unicode code points; JavaScript strings count UTF-16 units. */
export function codePointsToUtf16(text: string, pos: number): number {
  let i = 0;
  for (let cp = 0; cp < pos && i < text.length; cp++) i += (text.codePointAt(i) ?? 0) > 0xffff ? 2 : 1;
  return i;
}

export function utf16ToCodePoints(text: string, index: number): number {
  return [...text.slice(0, index)].length;
}

/** Magic lines are not TypeScript: blank them, keeping offsets. */
function blankMagics(code: string): string {
  return hasMagic(code) ? code.replace(/^(\s*%.*)$/gm, (l) => ' '.repeat(l.length)) : code;
}

/**
 * Words without which a cell declares nothing a later cell can see. A keyword scan, not a parse:
 * it runs on every execution, and it only has to be conservative (keep when unsure).
 */
const DECLARES = /\b(?:var|let|const|using|function|class|interface|type|enum|namespace|module|declare|import|export|abstract)\b/;

export class CellLanguageService {
  private readonly cells: { source: string; declared: string[] }[] = [];
  private current = '';
  private version = 0;
  private service: ts.LanguageService | null = null;
  private readonly sys: ts.System | undefined = ts.sys;
  /** Declaration files by absolute path, for hosts without a file system (the browser worker). */
  private files: Map<string, string> | null = null;
  private dirs = new Set<string>();

  /**
   * Gives the service a virtual file system: `/lib/lib.*.d.ts` (the standard library) and
   * `/node_modules/<pkg>/...` (package.json + .d.ts of the importable packages).
   */
  useFiles(files: Map<string, string>): void {
    this.files = files;
    this.dirs = new Set(['/']);
    for (const f of files.keys()) for (let i = f.indexOf('/', 1); i > 0; i = f.indexOf('/', i + 1)) this.dirs.add(f.slice(0, i));
    this.service = null;
  }

  /** Cells kept as context for completion, inspection and type checks. */
  get historyLength(): number {
    return this.cells.length;
  }

  /** Records a cell that ran without error. */
  addCell(source: string, declared: string[]): void {
    // Expression-only cells (`1+1`, `display(x)`, `await train(...)`) declare nothing a later cell
    // can see; keeping them would grow the text every completion re-checks, cell after cell.
    if (declared.length === 0 && !DECLARES.test(source)) return;
    // A cell whose every name a newer cell redeclares would only add duplicate declarations.
    for (let i = this.cells.length - 1; i >= 0; i--) {
      const old = this.cells[i]!;
      if (old.declared.length > 0 && old.declared.every((n) => declared.includes(n)) && !/^\s*import\s/m.test(old.source)) this.cells.splice(i, 1);
    }
    this.cells.push({ source: blankMagics(source), declared });
    this.version++;
  }

  /**
   * Records the imports of a cell that threw. Its import statements ran before the throw and
   * their names stay bound in the kernel's scope, so later cells must see their real types, not
   * `any`. An import whose names are not all bound (`isBound`) failed itself and is left out.
   */
  addImportsOf(source: string, isBound: (name: string) => boolean): void {
    if (!/\bimport\b/.test(source)) return;
    const sf = ts.createSourceFile('cell.ts', blankMagics(source), ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
    const kept: string[] = [];
    const names: string[] = [];
    for (const st of sf.statements) {
      if (!ts.isImportDeclaration(st) || !st.importClause) continue;
      const c = st.importClause;
      // Type-only imports never run: they hold whatever the cell threw.
      if (c.isTypeOnly) {
        kept.push(st.getText(sf));
        continue;
      }
      const local = [
        ...(c.name ? [c.name.text] : []),
        ...(c.namedBindings && ts.isNamespaceImport(c.namedBindings) ? [c.namedBindings.name.text] : []),
        ...(c.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements.filter((e) => !e.isTypeOnly).map((e) => e.name.text) : []),
      ];
      if (local.length === 0 || !local.every(isBound)) continue;
      kept.push(st.getText(sf));
      names.push(...local);
    }
    if (kept.length) this.addCell(kept.join('\n'), names);
  }

  reset(): void {
    this.cells.length = 0;
    this.version++;
  }

  complete(code: string, cursorPos: number): CompleteReply {
    const cursor = codePointsToUtf16(code, cursorPos);
    let start = cursor;
    while (start > 0 && /[\w$]/.test(code[start - 1]!)) start--;
    let end = cursor;
    while (end < code.length && /[\w$]/.test(code[end]!)) end++;
    const prefix = code.slice(start, cursor);
    const { service, offset } = this.prepare(code);
    const info = service.getCompletionsAtPosition(CELLS, offset + cursor, { includeCompletionsWithInsertText: true, includeCompletionsForModuleExports: false });
    const entries = (info?.entries ?? [])
      .filter((e) => e.name.startsWith(prefix) && !e.name.startsWith('__'))
      .sort((a, b) => (a.sortText === b.sortText ? a.name.localeCompare(b.name) : a.sortText < b.sortText ? -1 : 1))
      .slice(0, 500);
    const cs = utf16ToCodePoints(code, start), ce = utf16ToCodePoints(code, end);
    return {
      status: 'ok',
      matches: entries.map((e) => e.name),
      cursor_start: cs,
      cursor_end: ce,
      metadata: { _jupyter_types_experimental: entries.map((e) => ({ text: e.name, type: kindOf(e.kind), start: cs, end: ce })) },
    };
  }

  inspect(code: string, cursorPos: number, detailLevel = 0): InspectReply {
    let cursor = codePointsToUtf16(code, cursorPos);
    // Inspect the identifier the cursor touches (Shift+Tab right after a name).
    if (cursor > 0 && !/[\w$]/.test(code[cursor] ?? '') && /[\w$]/.test(code[cursor - 1]!)) cursor--;
    const { service, offset } = this.prepare(code);
    const onName = /[\w$]/.test(code[cursor] ?? '');
    const q = onName ? service.getQuickInfoAtPosition(CELLS, offset + cursor) : undefined;
    // Inside a call's parentheses (Shift+Tab right after `attention(`): the callee's signature.
    if (!q) return this.signatureHelp(service, offset + codePointsToUtf16(code, cursorPos), detailLevel);
    const signature = ts.displayPartsToString(q.displayParts);
    const docs = ts.displayPartsToString(q.documentation);
    const tags = (q.tags ?? []).map((t) => `@${t.name} ${ts.displayPartsToString(t.text)}`.trim());
    const more = detailLevel > 0 ? tags : tags.slice(0, 3);
    const plain = [signature, docs, ...more].filter(Boolean).join('\n\n');
    const markdown = ['```typescript', signature, '```', docs, ...more.map((t) => `*${t}*`)].filter(Boolean).join('\n');
    return { status: 'ok', found: true, data: { 'text/plain': plain, 'text/markdown': markdown }, metadata: {} };
  }

  /**
   * Signature help for the call around `pos`: every overload, the one TypeScript picks first,
   * with the argument being typed marked, and the docs of the function and that parameter.
   */
  private signatureHelp(service: ts.LanguageService, pos: number, detailLevel: number): InspectReply {
    const help = service.getSignatureHelpItems(CELLS, pos, undefined);
    if (!help || help.items.length === 0) return { status: 'ok', found: false, data: {}, metadata: {} };
    const items = [help.items[help.selectedItemIndex] ?? help.items[0]!, ...help.items.filter((_, i) => i !== help.selectedItemIndex)];
    const render = (it: ts.SignatureHelpItem): string =>
      ts.displayPartsToString(it.prefixDisplayParts) +
      it.parameters.map((p) => ts.displayPartsToString(p.displayParts)).join(ts.displayPartsToString(it.separatorDisplayParts)) +
      ts.displayPartsToString(it.suffixDisplayParts);
    const main = items[0]!;
    const signatures = items.slice(0, detailLevel > 0 ? items.length : 3).map(render);
    if (items.length > signatures.length) signatures.push(`(+${items.length - signatures.length} more overloads)`);
    const docs = ts.displayPartsToString(main.documentation);
    const param = main.parameters[help.argumentIndex];
    const paramLine = param ? `${ts.displayPartsToString(param.displayParts)}${param.documentation.length ? ' — ' + ts.displayPartsToString(param.documentation) : ''}` : '';
    const tags = main.tags.map((t) => `@${t.name} ${ts.displayPartsToString(t.text)}`.trim());
    const more = detailLevel > 0 ? tags : tags.slice(0, 3);
    const plain = [signatures.join('\n'), paramLine && `argument ${help.argumentIndex + 1}: ${paramLine}`, docs, ...more].filter(Boolean).join('\n\n');
    const markdown = ['```typescript', ...signatures, '```', paramLine && `**argument ${help.argumentIndex + 1}**: \`${ts.displayPartsToString(param!.displayParts)}\`${param!.documentation.length ? ' — ' + ts.displayPartsToString(param!.documentation) : ''}`, docs, ...more.map((t) => `*${t}*`)].filter(Boolean).join('\n');
    return { status: 'ok', found: true, data: { 'text/plain': plain, 'text/markdown': markdown }, metadata: {} };
  }

  /** Type errors in `code` (not in earlier cells), with the cell's own line and column. */
  typeErrors(code: string): { line: number; column: number; message: string }[] {
    const { service, offset } = this.prepare(code);
    const sf = service.getProgram()?.getSourceFile(CELLS);
    const diags = [...service.getSyntacticDiagnostics(CELLS), ...service.getSemanticDiagnostics(CELLS)];
    const cellStart = ts.getLineAndCharacterOfPosition(sf!, offset).line;
    return diags
      .filter((d) => d.category === ts.DiagnosticCategory.Error && d.start !== undefined && d.start >= offset)
      .map((d) => {
        const pos = ts.getLineAndCharacterOfPosition(sf!, d.start!);
        return { line: pos.line - cellStart + 1, column: pos.character + 1, message: ts.flattenDiagnosticMessageText(d.messageText, '\n') };
      });
  }

  private prepare(code: string): { service: ts.LanguageService; offset: number } {
    const history = this.cells.map((c) => c.source).join('\n;\n');
    const prefix = history ? history + '\n;\n' : '';
    this.current = prefix + blankMagics(code);
    this.version++;
    this.service ??= this.createService();
    return { service: this.service, offset: prefix.length };
  }

  private createService(): ts.LanguageService {
    const options: ts.CompilerOptions = {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      strict: true,
      skipLibCheck: true,
      allowJs: true,
      noEmit: true,
      types: [],
    };
    const files = this.files;
    const sys = files ? undefined : this.sys;
    const dirs = this.dirs;
    if (files) options.lib = ['lib.es2022.d.ts', 'lib.webworker.d.ts'];
    const cwd = sys ? sys.getCurrentDirectory() : '';
    const read = (f: string): string | undefined => (files ? files.get(f) : sys?.readFile(f));
    const host: ts.LanguageServiceHost = {
      getCompilationSettings: () => options,
      getScriptFileNames: () => [GLOBALS, CELLS],
      getScriptVersion: (f) => (f === CELLS ? String(this.version) : '1'),
      getScriptSnapshot: (f) => {
        const text = f === CELLS ? this.current : f === GLOBALS ? GLOBALS_SOURCE : read(f);
        return text === undefined ? undefined : ts.ScriptSnapshot.fromString(text);
      },
      getCurrentDirectory: () => cwd,
      getDefaultLibFileName: (o) => (sys ? ts.getDefaultLibFilePath(o) : '/lib/lib.d.ts'),
      fileExists: (f) => f === CELLS || f === GLOBALS || (files ? files.has(f) : sys?.fileExists(f) ?? false),
      readFile: (f) => (f === CELLS ? this.current : f === GLOBALS ? GLOBALS_SOURCE : read(f)),
      readDirectory: sys ? (p, e, x, i, d) => sys.readDirectory(p, e, x, i, d) : undefined,
      directoryExists: (d) => d === DIR || (files ? dirs.has(d.replace(/\/$/, '')) : sys?.directoryExists(d) ?? false),
      getDirectories: sys ? (d) => sys.getDirectories(d) : () => [],
      realpath: sys?.realpath ? (p) => sys.realpath!(p) : undefined,
    };
    // Resolve packages from the kernel's working directory (the notebook's), not the virtual one.
    const resolutionHost: ts.ModuleResolutionHost = { fileExists: host.fileExists, readFile: host.readFile, realpath: host.realpath, directoryExists: host.directoryExists, getCurrentDirectory: () => cwd, getDirectories: host.getDirectories };
    host.resolveModuleNameLiterals = (literals, containing, _redirected, opts) =>
      literals.map((lit) => ts.resolveModuleName(lit.text, containing.startsWith(DIR) ? `${cwd}/__cell.ts` : containing, opts, resolutionHost));
    return ts.createLanguageService(host, ts.createDocumentRegistry());
  }
}

/** Jupyter's completion types (the experimental `_jupyter_types_experimental` field) by TypeScript kind. */
const K = ts.ScriptElementKind;
const KINDS = new Map<string, string>([
  [K.functionElement, 'function'], [K.localFunctionElement, 'function'],
  [K.memberFunctionElement, 'method'],
  [K.memberVariableElement, 'property'], [K.memberGetAccessorElement, 'property'], [K.memberSetAccessorElement, 'property'],
  [K.classElement, 'class'], [K.interfaceElement, 'interface'], [K.moduleElement, 'module'], [K.keyword, 'keyword'],
  [K.constElement, 'variable'], [K.letElement, 'variable'], [K.variableElement, 'variable'], [K.localVariableElement, 'variable'],
]);

function kindOf(kind: ts.ScriptElementKind): string {
  return KINDS.get(kind) ?? String(kind);
}
