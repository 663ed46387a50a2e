/**
 * @attnlab/kernel-browser: the in-browser kernel, both halves, as JupyterLite splits a kernel
 * package from its extension. The page side (AttnlabKernel, a JupyterLite BaseKernel; its
 * WorkerConnection; AttnlabKernelClient) is what @attnlab/kernel-extension's plugins register.
 * The Web Worker side is bundled separately (bundle/attnlab-kernel-worker.js and its chunks, from
 * worker.ts and the modules the manifest lists); `protocol.ts` is the contract between the two.
 */
export type { ToWorker, FromWorker, WorkerRequest, InitRequest } from './protocol.js';
export { AttnlabKernel, liveKernels, type AttnlabKernelOptions } from './kernel.js';
export { AttnlabKernelClient } from './client.js';
export { WorkerConnection } from './worker-connection.js';
