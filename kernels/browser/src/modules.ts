/**
 * The packages a cell can import by name in the browser. Bundled into the worker (each one its
 * own lazily loaded chunk), so `import { x } from '@attnlab/attention'` and
 * `await import('@attnlab/models')` work with no network, exactly as in Node.
 */
export const BUNDLED_MODULES: Record<string, () => Promise<Record<string, unknown>>> = {
  '@attnlab/tensor': () => import('@attnlab/tensor'),
  '@attnlab/attention': () => import('@attnlab/attention'),
  '@attnlab/models': () => import('@attnlab/models'),
  '@attnlab/kernel': () => import('@attnlab/kernel'),
  '@attnlab/plots': () => import('@attnlab/plots'),
  '@attnlab/widgets': () => import('@attnlab/widgets'),
};

/** Resolves a cell's import: a bundled package, or an absolute http(s)/blob URL the user chose. */
export async function importInWorker(specifier: string): Promise<Record<string, unknown>> {
  const bundled = BUNDLED_MODULES[specifier];
  if (bundled) return bundled();
  if (/^(https?|blob|data):/.test(specifier)) {
    return (await import(/* webpackIgnore: true */ specifier)) as Record<string, unknown>;
  }
  const known = Object.keys(BUNDLED_MODULES).join(', ');
  throw new Error(`Cannot import '${specifier}' in the browser kernel: it bundles ${known} (or import an absolute https:// URL)`);
}
