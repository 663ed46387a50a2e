/**
 * @attnlab/kernel-extension: plugins only. It registers the in-browser attnlab kernel (the
 * kernel object and its worker live in @attnlab/kernel-browser) with JupyterLite's kernel specs,
 * and a kernel client whose interrupt reaches the running cell. In JupyterLite the spec is
 * `attnlab`, "TypeScript (attnlab)". In a server-based JupyterLab the hybrid service-manager
 * plugins (hybrid/) host it beside the server's kernels as `attnlab-browser`, so it never
 * shadows the Node kernel a server may also offer as `attnlab`.
 */
import type { JupyterFrontEndPlugin } from '@jupyterlab/application';
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { IKernelClient, IKernelSpecs, type IKernelSpecs as KernelSpecsRegistry } from '@jupyterlite/services';
import { AttnlabKernel, AttnlabKernelClient } from '@attnlab/kernel-browser';
import { browserSpec } from './spec.js';
import { BrowserKernelSpecs, hybridPlugins } from './hybrid/plugins.js';

export { AttnlabKernel, AttnlabKernelClient, liveKernels } from '@attnlab/kernel-browser';
export { KERNEL_SPEC, KERNEL_NAME, BROWSER_KERNEL_NAME, LANGUAGE_INFO } from './spec.js';
export { HYBRID_PLUGIN_IDS } from './hybrid/plugins.js';
export { HybridKernelManager } from './hybrid/kernel-manager.js';
export { HybridKernelSpecManager } from './hybrid/kernelspec-manager.js';
export { HybridSessionManager } from './hybrid/session-manager.js';

/** Where the worker bundle is served: inside this prebuilt extension's static folder. */
export function workerUrl(): string {
  const base = PageConfig.getOption('fullLabextensionsUrl') || URLExt.join(PageConfig.getBaseUrl(), 'extensions');
  return new URL(URLExt.join(base, '@attnlab/kernel-extension/static/worker/attnlab-kernel-worker.js'), location.href).href;
}

const kernelPlugin: JupyterFrontEndPlugin<void> = {
  id: '@attnlab/kernel-extension:kernel',
  description: 'The attnlab TypeScript kernel in a Web Worker',
  autoStart: true,
  requires: [IKernelSpecs],
  activate: (_app: unknown, specs: KernelSpecsRegistry) => {
    specs.register({
      spec: browserSpec(specs instanceof BrowserKernelSpecs),
      create: async (options) => {
        const folder = URLExt.join(PageConfig.getBaseUrl(), 'files', options.location ?? '') + '/';
        return new AttnlabKernel({ ...options, workerUrl: workerUrl(), filesUrl: new URL(folder, location.href).href });
      },
    });
  },
};

const kernelClientPlugin: JupyterFrontEndPlugin<AttnlabKernelClient> = {
  id: '@attnlab/kernel-extension:kernel-client',
  description: 'Kernel client whose interrupt stops a running attnlab cell',
  autoStart: true,
  requires: [IKernelSpecs],
  provides: IKernelClient,
  activate: (_app: unknown, kernelSpecs: KernelSpecsRegistry) => new AttnlabKernelClient({ kernelSpecs }),
};

export default [kernelPlugin, kernelClientPlugin, ...hybridPlugins];
