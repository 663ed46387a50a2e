import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Our prebuilt JupyterLab extensions, in load order. */
export const EXTENSION_PACKAGES = ['@attnlab/kernel-extension', '@attnlab/plots-extension', '@attnlab/widgets-extension'] as const;

export interface PrebuiltExtension {
  name: string;
  version: string;
  /** The built `labextension/` folder (package.json + static/). */
  dir: string;
}

export interface FederatedEntry {
  name: string;
  load: string;
  extension?: string;
  mimeExtension?: string;
  style?: string;
}

const require = createRequire(import.meta.url);

/** Finds each extension's built labextension/ folder; a package that is not built is an error that says so. */
export function findExtensions(names: readonly string[] = EXTENSION_PACKAGES): PrebuiltExtension[] {
  const found: PrebuiltExtension[] = [];
  for (const name of names) {
    let pkgJson: string;
    try {
      pkgJson = require.resolve(`${name}/package.json`);
    } catch {
      continue; // not installed beside the lab: nothing to load
    }
    const dir = join(dirname(pkgJson), 'labextension');
    if (!existsSync(join(dir, 'package.json'))) throw new Error(`${name} is installed but not built: ${dir} is missing (run npm run build)`);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
    found.push({ name, version: pkg.version, dir });
  }
  return found;
}

export function federatedEntry(ext: PrebuiltExtension): FederatedEntry {
  const pkg = JSON.parse(readFileSync(join(ext.dir, 'package.json'), 'utf8')) as { jupyterlab?: { _build?: Partial<FederatedEntry> } };
  const b = pkg.jupyterlab?._build;
  if (!b?.load) throw new Error(`${ext.name}: ${ext.dir}/package.json has no jupyterlab._build.load (not built by @jupyterlab/builder?)`);
  return { name: ext.name, load: b.load, ...(b.extension ? { extension: b.extension } : {}), ...(b.mimeExtension ? { mimeExtension: b.mimeExtension } : {}), ...(b.style ? { style: b.style } : {}) };
}

/** Copies the extensions into `<target>/<name>/`, replacing older copies. */
export function copyExtensions(extensions: PrebuiltExtension[], target: string): void {
  for (const ext of extensions) {
    const to = join(target, ext.name);
    rmSync(to, { recursive: true, force: true });
    mkdirSync(dirname(to), { recursive: true });
    cpSync(ext.dir, to, { recursive: true });
  }
}

/** `attnlab install-extensions --prefix P`: where a JupyterLab installed in prefix P looks for prebuilt extensions. */
export function installIntoPrefix(prefix: string): { target: string; installed: string[] } {
  const target = join(prefix, 'share', 'jupyter', 'labextensions');
  const exts = findExtensions();
  copyExtensions(exts, target);
  return { target, installed: exts.map((e) => e.name) };
}
