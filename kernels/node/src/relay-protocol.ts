import type { ToService } from '@attnlab/kernel';

/**
 * Messages between the host process (ZeroMQ) and the kernel process (core-relay.ts), over
 * Node's IPC channel. The relay owns the shared memory its worker thread blocks on, so the host
 * reaches it by message: interrupts ride on the service's 'interrupt' request, input replies and
 * send acknowledgements are their own kinds.
 */
export type ToRelay =
  | { kind: 'service'; msg: ToService }
  /** An input_reply for a prompt() the worker is blocked in. */
  | { kind: 'input'; value: string }
  /** The host sent on `n` outputs: the worker may post that many more. */
  | { kind: 'sent'; n: number };

export type FromRelay =
  /** Whatever the worker thread posted (unchecked: a cell can post anything). */
  | { kind: 'service'; msg: unknown }
  /** The worker thread is gone and why; the relay exits right after. */
  | { kind: 'died'; reason: string };

/** Exit code of a worker whose message port a cell closed (parentPort.close()). */
export const PORT_CLOSED = 86;
