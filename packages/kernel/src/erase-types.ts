/**
 * Fast type stripping: TypeScript-only syntax is overwritten with spaces (newlines kept), so the
 * JavaScript has every token at its TypeScript position — no source map needed for tracebacks —
 * and it costs a parse instead of a transpile (about 0.2 ms instead of 1-2 ms a cell, which is
 * most of a `1+1` round trip). Like Node's strip-types mode it handles the erasable subset;
 * cells with runtime TypeScript (enums, namespaces, parameter properties, decorators,
 * `import x = require()`) return null and go through the full transpiler; so does a cell whose
 * erased text the engine cannot parse (CellScope retries).
 */
import ts from 'typescript';

type Range = [start: number, end: number];

class NeedsTranspile extends Error {}

const ERASED_MODIFIERS = new Set([
  ts.SyntaxKind.PublicKeyword,
  ts.SyntaxKind.PrivateKeyword,
  ts.SyntaxKind.ProtectedKeyword,
  ts.SyntaxKind.ReadonlyKeyword,
  ts.SyntaxKind.AbstractKeyword,
  ts.SyntaxKind.OverrideKeyword,
]);

function parseErrors(sf: ts.SourceFile): readonly ts.Diagnostic[] {
  return (sf as unknown as { parseDiagnostics?: readonly ts.Diagnostic[] }).parseDiagnostics ?? [];
}

/** The JavaScript of a cell with its types blanked, or null when it needs the transpiler. */
export function eraseTypes(source: string): string | null {
  const sf = ts.createSourceFile('cell.ts', source, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  if (parseErrors(sf).length) return null; // the transpiler reports syntax errors properly
  const ranges: Range[] = [];
  const text = source;
  const back = (pos: number, ch: string): number => {
    let i = pos - 1;
    while (i >= 0 && text[i] !== ch) i--;
    return i;
  };
  const fwd = (pos: number, ch: string): number => {
    let i = pos;
    while (i < text.length && text[i] !== ch) i++;
    return i;
  };
  const whole = (n: ts.Node): void => void ranges.push([n.getStart(sf), n.end]);
  const typeAnnotation = (type: ts.TypeNode | undefined) => {
    if (type) ranges.push([back(type.pos, ':'), type.end]);
  };
  const typeParams = (list: ts.NodeArray<ts.Node> | undefined) => {
    if (list) ranges.push([back(list.pos, '<'), fwd(list.end, '>') + 1]);
  };
  const modifiers = (n: ts.Node) => {
    for (const m of (ts.canHaveModifiers(n) ? ts.getModifiers(n) : undefined) ?? []) {
      if (ERASED_MODIFIERS.has(m.kind)) ranges.push([m.getStart(sf), m.end]);
      if (m.kind === ts.SyntaxKind.DeclareKeyword) return true;
    }
    return false;
  };

  const visit = (n: ts.Node): void => {
    if (ts.canHaveDecorators(n) && ts.getDecorators(n)?.length) throw new NeedsTranspile();
    switch (n.kind) {
      case ts.SyntaxKind.InterfaceDeclaration:
      case ts.SyntaxKind.TypeAliasDeclaration:
      case ts.SyntaxKind.IndexSignature:
        return whole(n);
      case ts.SyntaxKind.EnumDeclaration:
      case ts.SyntaxKind.ModuleDeclaration:
      case ts.SyntaxKind.ImportEqualsDeclaration:
      case ts.SyntaxKind.ExportAssignment:
        if (ts.canHaveModifiers(n) && ts.getModifiers(n)?.some((m) => m.kind === ts.SyntaxKind.DeclareKeyword)) return whole(n);
        throw new NeedsTranspile();
      case ts.SyntaxKind.ImportDeclaration: {
        const clause = (n as ts.ImportDeclaration).importClause;
        if (clause?.isTypeOnly) return whole(n);
        const named = clause?.namedBindings;
        if (named && ts.isNamedImports(named)) {
          for (const el of named.elements) if (el.isTypeOnly) ranges.push([el.getStart(sf), text[el.end] === ',' ? el.end + 1 : el.end]);
        }
        return;
      }
      case ts.SyntaxKind.ExportDeclaration:
        if ((n as ts.ExportDeclaration).isTypeOnly) return whole(n);
        break;
      case ts.SyntaxKind.AsExpression:
      case ts.SyntaxKind.SatisfiesExpression:
      case ts.SyntaxKind.NonNullExpression: {
        const e = n as ts.AsExpression | ts.SatisfiesExpression | ts.NonNullExpression;
        visit(e.expression);
        ranges.push([e.expression.end, e.end]);
        return;
      }
      case ts.SyntaxKind.TypeAssertionExpression: {
        const e = n as ts.TypeAssertion;
        ranges.push([e.getStart(sf), e.expression.getStart(sf)]);
        return visit(e.expression);
      }
      case ts.SyntaxKind.ExpressionWithTypeArguments:
      case ts.SyntaxKind.CallExpression:
      case ts.SyntaxKind.NewExpression:
      case ts.SyntaxKind.TaggedTemplateExpression:
        typeParams((n as ts.CallExpression).typeArguments);
        break;
      case ts.SyntaxKind.HeritageClause:
        if ((n as ts.HeritageClause).token === ts.SyntaxKind.ImplementsKeyword) return whole(n);
        break;
      case ts.SyntaxKind.Parameter: {
        const p = n as ts.ParameterDeclaration;
        if (ts.getModifiers(p)?.length) throw new NeedsTranspile(); // parameter properties
        if (ts.isIdentifier(p.name) && p.name.text === 'this') throw new NeedsTranspile();
        if (p.questionToken) ranges.push([p.questionToken.getStart(sf), p.questionToken.end]);
        typeAnnotation(p.type);
        if (p.initializer) visit(p.initializer);
        visit(p.name);
        return;
      }
      case ts.SyntaxKind.VariableDeclaration: {
        const d = n as ts.VariableDeclaration;
        if (d.exclamationToken) ranges.push([d.exclamationToken.getStart(sf), d.exclamationToken.end]);
        typeAnnotation(d.type);
        visit(d.name);
        if (d.initializer) visit(d.initializer);
        return;
      }
      case ts.SyntaxKind.PropertyDeclaration: {
        const d = n as ts.PropertyDeclaration;
        if (modifiers(d) || ts.getModifiers(d)?.some((m) => m.kind === ts.SyntaxKind.AbstractKeyword)) return whole(d);
        const q = d.questionToken ?? d.exclamationToken;
        if (q) ranges.push([q.getStart(sf), q.end]);
        typeAnnotation(d.type);
        if (d.initializer) visit(d.initializer);
        if (ts.isComputedPropertyName(d.name)) visit(d.name);
        return;
      }
      case ts.SyntaxKind.FunctionDeclaration:
      case ts.SyntaxKind.MethodDeclaration:
      case ts.SyntaxKind.Constructor:
      case ts.SyntaxKind.GetAccessor:
      case ts.SyntaxKind.SetAccessor:
      case ts.SyntaxKind.FunctionExpression:
      case ts.SyntaxKind.ArrowFunction: {
        const f = n as ts.FunctionLikeDeclaration;
        // Overload signatures and abstract or declared members have no body: they are types.
        if (!f.body && n.kind !== ts.SyntaxKind.ArrowFunction) return whole(n);
        if (modifiers(f)) return whole(n);
        if ((f as ts.MethodDeclaration).questionToken) ranges.push([(f as ts.MethodDeclaration).questionToken!.getStart(sf), (f as ts.MethodDeclaration).questionToken!.end]);
        typeParams(f.typeParameters);
        typeAnnotation(f.type);
        if (f.name) visit(f.name);
        for (const p of f.parameters) visit(p);
        if (f.body) visit(f.body);
        return;
      }
      case ts.SyntaxKind.ClassDeclaration:
      case ts.SyntaxKind.ClassExpression: {
        const c = n as ts.ClassLikeDeclaration;
        if (modifiers(c)) return whole(c);
        typeParams(c.typeParameters);
        for (const h of c.heritageClauses ?? []) visit(h);
        for (const m of c.members) {
          if (modifiers(m) && !ts.isPropertyDeclaration(m)) {
            whole(m);
            continue;
          }
          visit(m);
        }
        return;
      }
      case ts.SyntaxKind.VariableStatement:
        if (modifiers(n)) return whole(n);
        break;
    }
    ts.forEachChild(n, visit);
  };

  try {
    visit(sf);
  } catch (e) {
    if (e instanceof NeedsTranspile) return null;
    throw e;
  }
  if (ranges.length === 0) return source;
  const chars = text.split('');
  for (const [s, e] of ranges) for (let i = Math.max(0, s); i < e && i < chars.length; i++) if (chars[i] !== '\n' && chars[i] !== '\r') chars[i] = ' ';
  const js = chars.join('');
  // A blank can change how the rest parses (a newline before `=>`): the engine's parser is the
  // check — CellScope retries with the transpiler when the compiled cell is not valid JavaScript.
  return js;
}
