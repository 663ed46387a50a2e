/**
 * The messages between the page (the JupyterLab kernel object) and the kernel's Web Worker.
 * Requests carry an id and get exactly one reply; outputs stream while a request runs.
 * Jupyter message headers stay on the page: the worker only sees contents.
 */
import type { KernelOutput } from '@attnlab/kernel';

export interface InitRequest {
  type: 'init';
  /** Absolute URL of the folder relative paths resolve against (the notebook's folder under files/). */
  filesUrl: string;
  /** Int32Array(1) over a SharedArrayBuffer: the page sets [0] = 1 to interrupt (cross-origin isolated pages only). */
  interruptBuffer?: SharedArrayBuffer;
}

export type WorkerRequest =
  | InitRequest
  | { type: 'execute'; code: string; silent: boolean; allowStdin: boolean }
  | { type: 'complete'; code: string; cursorPos: number }
  | { type: 'inspect'; code: string; cursorPos: number; detailLevel: number }
  | { type: 'isComplete'; code: string }
  | { type: 'commInfo'; targetName?: string }
  | { type: 'commOpen'; commId: string; targetName: string; data: Record<string, unknown>; metadata: Record<string, unknown>; buffers: ArrayBuffer[] }
  | { type: 'commMsg'; commId: string; data: Record<string, unknown>; metadata: Record<string, unknown>; buffers: ArrayBuffer[] }
  | { type: 'commClose'; commId: string; data: Record<string, unknown>; metadata: Record<string, unknown> }
  | { type: 'inputReply'; value: string }
  | { type: 'interrupt' };

export type ToWorker = WorkerRequest & { id: number };

export type FromWorker =
  | { type: 'reply'; id: number; ok: true; result: unknown }
  | { type: 'reply'; id: number; ok: false; error: string }
  | { type: 'output'; out: KernelOutput }
  | { type: 'inputRequest'; prompt: string; password: boolean }
  | { type: 'fatal'; error: string };

export function isFromWorker(v: unknown): v is FromWorker {
  return typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string';
}
