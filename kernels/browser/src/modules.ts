/**
 * How a cell's import resolves in the browser: a package from the worker's module table, or an
 * absolute http(s)/blob/data URL the user chose. The table itself is not written here: the
 * bundle script generates it from the packages whose package.json has
 * `"attnlab": { "importable": true }` (scripts/manifest.mjs), each package its own lazily
 * loaded chunk, so `import { x } from '@attnlab/attention'` works with no network, as in Node.
 */
export type ModuleTable = Readonly<Record<string, () => Promise<Record<string, unknown>>>>;

export function moduleImporter(table: ModuleTable): (specifier: string) => Promise<Record<string, unknown>> {
  return async (specifier) => {
    const bundled = Object.hasOwn(table, specifier) ? table[specifier] : undefined;
    if (bundled) return bundled();
    if (/^(https?|blob|data):/.test(specifier)) {
      return (await import(/* webpackIgnore: true */ specifier)) as Record<string, unknown>;
    }
    const known = Object.keys(table).join(', ');
    throw new Error(
      `Cannot import '${specifier}' in the browser kernel: it bundles ${known} (or import an absolute https:// URL). ` +
        `A workspace package joins this list with "attnlab": { "importable": true } in its package.json and a rebuild.`,
    );
  };
}
