/** Errors of @attnlab/heads name the function and the problem. */
export class HeadsError extends Error {
  constructor(readonly op: string, message: string) {
    super(`${op}: ${message}`);
    this.name = 'HeadsError';
  }
}
