/**
 * `is_complete` for consoles: 'incomplete' while a bracket, a string, a template literal or a
 * block comment is left open, so Enter adds a line instead of running the cell.
 */
export function isCompleteCode(code: string): 'complete' | 'incomplete' {
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < code.length; i++) {
    const c = code[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
    } else if (c === '/' && code[i + 1] === '/') {
      const end = code.indexOf('\n', i);
      if (end < 0) break;
      i = end;
    } else if (c === '/' && code[i + 1] === '*') {
      const end = code.indexOf('*/', i + 2);
      if (end < 0) return 'incomplete';
      i = end + 1;
    } else if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
  }
  return depth > 0 || quote ? 'incomplete' : 'complete';
}
