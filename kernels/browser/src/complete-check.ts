/** 'complete' unless brackets, a string or a template literal are left open (for consoles). */
export function isCompleteCode(code: string): 'complete' | 'incomplete' {
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < code.length; i++) {
    const c = code[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
  }
  return depth > 0 || quote ? 'incomplete' : 'complete';
}
