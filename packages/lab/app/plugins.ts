/**
 * The JupyterLab and JupyterLite plugins the app is made of, and those it turns off.
 * JupyterLite's service plugins replace JupyterLab's server-backed ones, so kernels run in the
 * browser and files live in the browser's storage, over the read-only examples the build ships.
 */
type PluginModule = { default: unknown };

export const CORE_MODULES: (() => Promise<PluginModule>)[] = [
  () => import('@jupyterlab/application-extension'),
  () => import('@jupyterlab/apputils-extension'),
  () => import('@jupyterlab/codemirror-extension'),
  () => import('@jupyterlab/completer-extension'),
  () => import('@jupyterlab/console-extension'),
  () => import('@jupyterlab/docmanager-extension'),
  () => import('@jupyterlab/documentsearch-extension'),
  () => import('@jupyterlab/filebrowser-extension'),
  () => import('@jupyterlab/fileeditor-extension'),
  () => import('@jupyterlab/htmlviewer-extension'),
  () => import('@jupyterlab/imageviewer-extension'),
  () => import('@jupyterlab/launcher-extension'),
  () => import('@jupyterlab/lsp-extension'),
  () => import('@jupyterlab/mainmenu-extension'),
  () => import('@jupyterlab/markdownviewer-extension'),
  () => import('@jupyterlab/markedparser-extension'),
  () => import('@jupyterlab/mathjax-extension'),
  () => import('@jupyterlab/metadataform-extension'),
  () => import('@jupyterlab/notebook-extension'),
  () => import('@jupyterlab/rendermime-extension'),
  () => import('@jupyterlab/services-extension'),
  () => import('@jupyterlab/shortcuts-extension'),
  () => import('@jupyterlab/statusbar-extension'),
  () => import('@jupyterlab/theme-dark-extension'),
  () => import('@jupyterlab/theme-light-extension'),
  () => import('@jupyterlab/toc-extension'),
  () => import('@jupyterlab/tooltip-extension'),
  () => import('@jupyterlab/translation-extension'),
  () => import('@jupyterlab/ui-components-extension'),
  () => import('@jupyterlite/application-extension'),
  () => import('@jupyterlite/apputils-extension'),
  () => import('@jupyterlite/services-extension'),
  () => import('@jupyter-widgets/jupyterlab-manager'),
];

export const MIME_MODULES: (() => Promise<PluginModule>)[] = [
  () => import('@jupyterlab/json-extension'),
];

/** Plugin ids (or `package:` prefixes) left out in the JupyterLite app (the default). */
export const DISABLED = [
  // @attnlab/kernel-extension's hybrid managers are for server-based JupyterLab; JupyterLite has its own.
  '@attnlab/kernel-extension:hybrid-kernel-specs',
  '@attnlab/kernel-extension:hybrid-kernel-manager',
  '@attnlab/kernel-extension:hybrid-kernel-spec-manager',
  '@attnlab/kernel-extension:hybrid-session-manager',
  // Server-backed service managers: JupyterLite's in-browser ones take their place.
  '@jupyterlab/services-extension:config-section-manager',
  '@jupyterlab/services-extension:default-drive',
  '@jupyterlab/services-extension:event-manager',
  '@jupyterlab/services-extension:kernel-manager',
  '@jupyterlab/services-extension:kernel-spec-manager',
  '@jupyterlab/services-extension:nbconvert-manager',
  '@jupyterlab/services-extension:session-manager',
  '@jupyterlab/services-extension:setting-manager',
  '@jupyterlab/services-extension:terminal-manager',
  '@jupyterlab/services-extension:user-manager',
  '@jupyterlab/services-extension:workspace-manager',
  // Our kernel client (@attnlab/kernel-extension) replaces it so interrupts reach running cells.
  '@jupyterlite/services-extension:kernel-client',
  // As JupyterLite: no server router, tree resolver, logo, licenses, announcements, sharing.
  '@jupyterlab/application-extension:logo',
  '@jupyterlab/application-extension:main',
  '@jupyterlab/application-extension:router',
  '@jupyterlab/application-extension:tree-resolver',
  '@jupyterlab/apputils-extension:announcements',
  '@jupyterlab/apputils-extension:resolver',
  '@jupyterlab/apputils-extension:workspaces',
  '@jupyterlab/apputils-extension:licenses-client',
  '@jupyterlite/application-extension:share-file',
  '@jupyterlite/application-extension:download',
  '@jupyterlite/application-extension:service-worker-manager',
  '@jupyterlab/filebrowser-extension:share-file',
  '@jupyterlab/help-extension:licenses',
];

/**
 * Server mode (page config `attnlabServices: "server"`): files, kernels, kernelspecs and sessions
 * come from a Jupyter server through JupyterLab's own managers, with @attnlab/kernel-extension's
 * hybrid managers in place of JupyterLab's kernel/kernelspec/session managers (the page config
 * lists those in `disabledExtensions`, from the extension's package.json, as jupyterlab_server
 * does). This is how a server-based JupyterLab runs our extensions; the Python `jupyterlab`
 * package is not installable here, so the e2e test serves this app from Debian's jupyter-server,
 * whose 1.x has no /lab/api/settings|workspaces|translations: those stay in the browser.
 */
export const DISABLED_SERVER_MODE = [
  '@jupyterlab/services-extension:event-manager',
  '@jupyterlab/services-extension:nbconvert-manager',
  '@jupyterlab/services-extension:setting-manager',
  '@jupyterlab/services-extension:terminal-manager',
  '@jupyterlab/services-extension:user-manager',
  '@jupyterlab/services-extension:workspace-manager',
  '@jupyterlite/services-extension:config-section-manager',
  '@jupyterlite/services-extension:default-drive',
  '@jupyterlite/services-extension:kernel-client',
  '@jupyterlite/services-extension:kernel-manager',
  '@jupyterlite/services-extension:kernel-spec-client',
  '@jupyterlite/services-extension:kernel-spec-manager',
  '@jupyterlite/services-extension:kernel-specs',
  '@jupyterlite/services-extension:session-manager',
  ...DISABLED.filter((id) => !id.startsWith('@jupyterlab/services-extension:') && !id.startsWith('@jupyterlite/services-extension:') && !id.startsWith('@attnlab/kernel-extension:hybrid-')),
];
