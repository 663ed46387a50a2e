export { NodeKernel, LANGUAGE_INFO, type ConnectionInfo } from './host.js';
export { Signer, WireError, type Message, type Header } from './wire.js';
export { installKernelspec, uninstallKernelspec, kernelspecDir, jupyterDataDir, KERNEL_NAME } from './install.js';
