/**
 * Service-manager plugins (JupyterLab >= 4.4) that let the in-browser attnlab kernel run inside a
 * server-based JupyterLab, beside the server's kernels. This package's `jupyterlab.disabledExtensions`
 * turns off JupyterLab's own kernel, kernelspec and session managers there; these take their
 * place and send each request to the server or to the page. In a JupyterLite app (which has its
 * own in-browser managers) the app disables these instead: see HYBRID_PLUGIN_IDS.
 */
import { IKernelManager, IKernelSpecManager, IServerSettings, ISessionManager, type Kernel, type KernelSpec, type ServerConnection, type ServiceManagerPlugin, type Session } from '@jupyterlab/services';
import { IKernelClient, IKernelSpecs, KernelSpecs, type LiteKernelClient } from '@jupyterlite/services';
import { HybridKernelManager } from './kernel-manager.js';
import { HybridKernelSpecManager } from './kernelspec-manager.js';
import { HybridSessionManager } from './session-manager.js';

/** The browser kernel specs of a server JupyterLab; the kernel plugin names its spec after seeing one. */
export class BrowserKernelSpecs extends KernelSpecs {}

const kernelSpecsPlugin: ServiceManagerPlugin<IKernelSpecs> = {
  id: '@attnlab/kernel-extension:hybrid-kernel-specs',
  description: 'In-browser kernel specs inside a server-based JupyterLab',
  autoStart: true,
  provides: IKernelSpecs,
  activate: () => new BrowserKernelSpecs(),
};

const kernelManagerPlugin: ServiceManagerPlugin<Kernel.IManager> = {
  id: '@attnlab/kernel-extension:hybrid-kernel-manager',
  description: 'Server kernels and in-browser kernels behind one kernel manager',
  autoStart: true,
  provides: IKernelManager,
  requires: [IKernelClient, IKernelSpecs],
  optional: [IServerSettings],
  activate: (_: null, kernelClient: IKernelClient, kernelSpecs: IKernelSpecs, serverSettings?: ServerConnection.ISettings) =>
    new HybridKernelManager({ kernelClient, kernelSpecs, serverSettings }),
};

const kernelSpecManagerPlugin: ServiceManagerPlugin<KernelSpec.IManager> = {
  id: '@attnlab/kernel-extension:hybrid-kernel-spec-manager',
  description: 'Server kernelspecs and in-browser kernelspecs in one list',
  autoStart: true,
  provides: IKernelSpecManager,
  requires: [IKernelSpecs],
  optional: [IServerSettings],
  activate: (_: null, kernelSpecs: IKernelSpecs, serverSettings?: ServerConnection.ISettings) => new HybridKernelSpecManager({ kernelSpecs, serverSettings }),
};

const sessionManagerPlugin: ServiceManagerPlugin<Session.IManager> = {
  id: '@attnlab/kernel-extension:hybrid-session-manager',
  description: 'Sessions on the server for server kernels, in the page for in-browser kernels',
  autoStart: true,
  provides: ISessionManager,
  requires: [IKernelClient, IKernelManager, IKernelSpecs],
  optional: [IServerSettings],
  activate: (_: null, kernelClient: IKernelClient, kernelManager: Kernel.IManager, kernelSpecs: IKernelSpecs, serverSettings?: ServerConnection.ISettings) =>
    new HybridSessionManager({ kernelClient: kernelClient as LiteKernelClient, kernelManager, kernelSpecs, serverSettings }),
};

export const hybridPlugins = [kernelSpecsPlugin, kernelManagerPlugin, kernelSpecManagerPlugin, sessionManagerPlugin];

/** What a JupyterLite app that loads this extension must disable (it has its own managers). */
export const HYBRID_PLUGIN_IDS = hybridPlugins.map((p) => p.id);
