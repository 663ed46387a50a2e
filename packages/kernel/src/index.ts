/**
 * @attnlab/kernel — the host-independent TypeScript kernel core: the cell compiler and scope,
 * execution with streams/display/errors, comms, interrupt, stdin, magics, plugins, progress bars,
 * completion and inspection from the TypeScript language service, and the message service the
 * worker-based hosts run it behind. Hosts (kernels/node, kernels/browser) add only transport.
 */
export { compileCell, stripTypes, CellSyntaxError, type CompiledCell } from './compile.js';
export { CellScope, type Importer } from './run.js';
export { KernelCore, KERNEL_CONTEXT, type KernelHost, type KernelOutput, type ExecuteReply, type DisplayHandle, type DisplayFunction, type CellGlobals, type KernelContext } from './core.js';
export { KernelInterrupt } from './interrupt.js';
export { CommRegistry, toArrayBuffers, type Comm, type CommManager, type CommMessage, type CommData, type BufferLike, type CommOutput } from './comm.js';
export { toMimeBundle, plainText, DISPLAY, type MimeBundle } from './display.js';
export { CellLanguageService, type CompleteReply, type InspectReply } from './language.js';
export { splitMagics, type Magic, type MagicContext, type CellPart } from './magics.js';
export {
  PluginRegistry, PluginError, isPlugin, pluginMagic, activateOnImport, extensionPoints, mapPoint, EXTENSION_POINTS,
  type AttnlabPlugin, type PluginContext, type PluginHost, type DisplayFormatter, type Disposable, type ExtensionPoint, type Named, type Registrar, type ActivePlugin,
} from './plugins.js';
export { toIopubMessage, type IopubMessage, type IopubOptions } from './jupyter-messages.js';
export { makeProgress, type ProgressBar, type ProgressOptions } from './progress.js';
export { isCompleteCode } from './is-complete.js';
export { createInputBuffer, writeInput } from './stdin.js';
export { createKernelService, isFromService, type ServiceRequest, type ToService, type FromService, type InitRequest, type ServiceOptions } from './service.js';
export { LOGO_SVG, LOGO_BACKGROUND, logoCells } from './logo.js';
export { ServiceClient, type ServiceHandlers } from './service-client.js';
export { eraseTypes } from './erase-types.js';
export { KERNEL_NAME, DISPLAY_NAME, LANGUAGE_INFO } from './kernel-info.js';
