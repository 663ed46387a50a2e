/**
 * Fields of request contents, checked: a well-signed message can still carry anything (a `code`
 * that is an object whose toString is not a function). A wrong type is a BadRequest, answered
 * with an error reply; it never reaches the kernel core.
 */
export class BadRequest extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadRequest';
  }
}

/** A string field; `fallback` when absent (undefined or null). */
export function str(content: Record<string, unknown>, key: string, fallback: string): string {
  const v = content[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'string') throw new BadRequest(`content.${key} must be a string, got ${Array.isArray(v) ? 'an array' : typeof v}`);
  return v;
}

/** A finite number field; `fallback` when absent. */
export function num(content: Record<string, unknown>, key: string, fallback: number): number {
  const v = content[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new BadRequest(`content.${key} must be a number, got ${JSON.stringify(v)?.slice(0, 40) ?? typeof v}`);
  return v;
}
