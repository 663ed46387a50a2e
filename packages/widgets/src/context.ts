/**
 * The running kernel, reached without depending on @attnlab/kernel (ARCHITECTURE.md: widgets
 * depend on nothing heavier than tensor). These are the structural shapes of its comm API.
 */
export type JSONObject = Record<string, unknown>;
export type BufferLike = ArrayBuffer | ArrayBufferView;

export interface CommMessage {
  data: JSONObject;
  metadata: JSONObject;
  buffers: DataView[];
}

export interface Comm {
  readonly commId: string;
  readonly closed: boolean;
  send(data: JSONObject, options?: { metadata?: JSONObject; buffers?: BufferLike[] }): void;
  close(data?: JSONObject): void;
  onMsg?: (msg: CommMessage) => void;
  onClose?: (msg: CommMessage) => void;
}

export interface CommManager {
  open(targetName: string, data?: JSONObject, options?: { metadata?: JSONObject; buffers?: BufferLike[]; commId?: string }): Comm;
  registerTarget(targetName: string, handler: (comm: Comm, msg: CommMessage) => void): void;
}

export interface KernelContextLike {
  comms: CommManager;
}

export function kernelContext(): KernelContextLike {
  const ctx = (globalThis as Record<symbol, unknown>)[Symbol.for('attnlab.kernel')] as KernelContextLike | undefined;
  if (!ctx?.comms) throw new Error('@attnlab/widgets: no running attnlab kernel (widgets talk to the front end through kernel comms; create them in a notebook cell)');
  return ctx;
}
