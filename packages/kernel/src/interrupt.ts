/** Thrown inside a cell (or raced against it) when the kernel is interrupted. */
export class KernelInterrupt extends Error {
  constructor() {
    super('the cell was interrupted');
    this.name = 'Interrupted';
  }
}
