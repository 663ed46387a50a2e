/**
 * The attnlab lab: JupyterLab 4 with JupyterLite's in-browser services, our kernel and
 * extensions loaded as prebuilt extensions. Page configuration comes from the inline
 * `jupyter-config-data` JSON the build writes into index.html.
 */
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { JupyterLab } from '@jupyterlab/application';
import { IServiceManager } from '@jupyterlab/services';
import { PluginRegistry, type IPlugin } from '@lumino/coreutils';
import { CORE_MODULES, DISABLED, DISABLED_SERVER_MODE, MIME_MODULES } from './plugins';
import { loadFederated, type FederatedExtension } from './federation';
import { patchWidgetStatePersistence } from './widget-state';
import './style';

type AnyPlugin = IPlugin<JupyterLab, unknown>;

function flatten(mod: unknown): AnyPlugin[] {
  const d = (mod as { default?: unknown }).default ?? mod;
  return (Array.isArray(d) ? d : [d]) as AnyPlugin[];
}

/** The compiled list for the mode, plus the page config's `disabledExtensions` (as in JupyterLab). */
function disabledList(): string[] {
  const fromPage = JSON.parse(PageConfig.getOption('disabledExtensions') || '[]') as string[];
  return [...(PageConfig.getOption('attnlabServices') === 'server' ? DISABLED_SERVER_MODE : DISABLED), ...fromPage];
}

function enabled(p: { id: string }, disabled: string[]): boolean {
  return !disabled.some((d) => p.id === d || (d.endsWith(':') && p.id.startsWith(d)));
}

async function main(): Promise<void> {
  const federated = JSON.parse(PageConfig.getOption('federated_extensions') || '[]') as FederatedExtension[];
  const extBase = URLExt.join(PageConfig.getBaseUrl(), PageConfig.getOption('labextensionsUrl') || 'extensions');
  const loaded = await loadFederated(federated, extBase);
  for (const e of loaded.errors) console.error(`attnlab: extension failed to load: ${e}`);

  patchWidgetStatePersistence();
  const core = (await Promise.all(CORE_MODULES.map((m) => m()))).flatMap(flatten);
  const mime = (await Promise.all(MIME_MODULES.map((m) => m()))).map((m) => m.default);
  const disabled = disabledList();
  const plugins = [...core, ...loaded.plugins.flatMap(flatten)].filter((p) => enabled(p, disabled));

  const pluginRegistry = new PluginRegistry();
  pluginRegistry.registerPlugins(plugins);
  const serviceManager = await pluginRegistry.resolveRequiredService(IServiceManager);
  const lab = new JupyterLab({
    pluginRegistry,
    serviceManager,
    mimeExtensions: [...mime, ...loaded.mimeExtensions] as JupyterLab.IOptions['mimeExtensions'],
  } as JupyterLab.IOptions);
  await lab.start();
  await lab.restored;
  // Tests and power users reach the app here (as JupyterLab's exposeAppInBrowser does).
  (window as unknown as { jupyterapp?: JupyterLab }).jupyterapp = lab;
  document.body.dataset['attnlabReady'] = 'true';
  if (loaded.errors.length) document.body.dataset['attnlabExtensionErrors'] = loaded.errors.join('\n');
}

main().catch((e: unknown) => {
  console.error('attnlab: the lab failed to start', e);
  document.body.dataset['attnlabError'] = e instanceof Error ? e.message : String(e);
});
