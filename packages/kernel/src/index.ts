/**
 * @attnlab/kernel — the host-independent kernel core. Landed so far: the cell compiler
 * (type stripping, persistent top-level bindings, imports, top-level await, last-expression
 * result) and the cell scope that runs compiled cells. Messaging, display, comms and the hosts
 * come next (issue 4).
 */
export { compileCell, stripTypes, CellSyntaxError, type CompiledCell } from './compile.js';
export { CellScope, type Importer } from './run.js';
export { KernelCore, KernelInterrupt, KERNEL_CONTEXT, type KernelHost, type KernelOutput, type ExecuteReply, type DisplayHandle, type CellGlobals, type KernelContext } from './core.js';
export { CommRegistry, toArrayBuffers, type Comm, type CommManager, type CommMessage, type CommData, type BufferLike, type CommOutput } from './comm.js';
export { toMimeBundle, plainText, DISPLAY, type MimeBundle } from './display.js';
export { LOGO_SVG, LOGO_BACKGROUND, logoCells } from './logo.js';
