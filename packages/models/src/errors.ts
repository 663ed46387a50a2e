/** Errors from @attnlab/models name the operation (loader, hook, task, ...) and what was wrong. */
export class ModelError extends Error {
  constructor(readonly op: string, message: string) {
    super(`${op}: ${message}`);
    this.name = 'ModelError';
  }
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
