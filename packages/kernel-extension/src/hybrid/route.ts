import type { IKernelSpecs } from '@jupyterlite/services';

/**
 * Which side serves a kernel: the in-page one when its spec is registered in the browser kernel
 * specs or its id is one of the in-page kernels; the Jupyter server otherwise. Spec names must
 * therefore differ between the two sides (see `BROWSER_KERNEL_NAME`).
 */
export function isBrowserKernel(specs: IKernelSpecs, running: Iterable<{ id: string }>, model: { id?: string; name?: string }): boolean {
  if (model.name && specs.specs?.kernelspecs[model.name]) return true;
  if (!model.id) return false;
  for (const k of running) if (k.id === model.id) return true;
  return false;
}
