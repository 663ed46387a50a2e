/**
 * @attnlab/kernel — the host-independent kernel core. Landed so far: the cell compiler
 * (type stripping, persistent top-level bindings, imports, top-level await, last-expression
 * result) and the cell scope that runs compiled cells. Messaging, display, comms and the hosts
 * come next (issue 4).
 */
export { compileCell, stripTypes, CellSyntaxError, type CompiledCell } from './compile.js';
export { CellScope, type Importer } from './run.js';
export { KernelCore, type KernelHost, type KernelOutput, type ExecuteReply, type DisplayHandle, type CellGlobals } from './core.js';
export { toMimeBundle, plainText, DISPLAY, type MimeBundle } from './display.js';
