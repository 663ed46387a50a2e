/**
 * Loading prebuilt (federated) extensions: the same artifacts `jupyter labextension` installs.
 * Each one's remoteEntry registers a container under `window._JUPYTERLAB[name]`; after the
 * shared scope is initialised, the container hands out its plugin modules.
 */
declare const __webpack_init_sharing__: (scope: string) => Promise<void>;
declare const __webpack_share_scopes__: { default: unknown };

export interface FederatedExtension {
  name: string;
  load: string;
  extension?: string;
  mimeExtension?: string;
  style?: string;
}

interface Container {
  init(scope: unknown): Promise<void>;
  get(module: string): Promise<() => { default: unknown }>;
}

function loadScript(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = url;
    s.async = true;
    s.onload = () => resolve();
    s.onerror = () => reject(new Error(`cannot load the extension script ${url}`));
    document.head.appendChild(s);
  });
}

export interface LoadedExtensions {
  plugins: unknown[];
  mimeExtensions: unknown[];
  errors: string[];
}

export async function loadFederated(extensions: FederatedExtension[], baseUrl: string): Promise<LoadedExtensions> {
  await __webpack_init_sharing__('default');
  const out: LoadedExtensions = { plugins: [], mimeExtensions: [], errors: [] };
  const registry = window as unknown as { _JUPYTERLAB?: Record<string, Container> };
  for (const ext of extensions) {
    try {
      await loadScript(`${baseUrl}/${ext.name}/${ext.load}`);
      const container = registry._JUPYTERLAB?.[ext.name];
      if (!container) throw new Error(`${ext.name}: its remoteEntry registered no container`);
      await container.init(__webpack_share_scopes__.default);
      if (ext.style) (await container.get(ext.style))();
      if (ext.extension) out.plugins.push((await container.get(ext.extension))().default);
      if (ext.mimeExtension) out.mimeExtensions.push((await container.get(ext.mimeExtension))().default);
    } catch (e) {
      // One broken extension must not take the lab down: report it and go on.
      out.errors.push(`${ext.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return out;
}
