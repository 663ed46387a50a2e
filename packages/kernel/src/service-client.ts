/**
 * The I/O side of a kernel service (see service.ts): numbered requests with one reply each,
 * outputs and input requests in between. Transport-free: the browser page wraps a Web Worker
 * with it, the Node host a worker thread. `fail()` rejects every pending request, so nothing
 * waits on a dead worker. Imports only types, so a page bundle can use it without TypeScript.
 */
import type { KernelOutput } from './core.js';
import type { FromService, ServiceRequest, ToService } from './service.js';

export interface ServiceHandlers {
  output(out: KernelOutput): void;
  inputRequest(prompt: string, password: boolean): void;
  fatal(error: string): void;
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

export class ServiceClient {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private dead: string | null = null;

  constructor(
    private readonly postMessage: (msg: ToService, transfer: ArrayBuffer[]) => void,
    private readonly handlers: ServiceHandlers,
  ) {}

  request<T>(req: ServiceRequest, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.dead) return Promise.reject(new Error(this.dead));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.postMessage({ ...req, id } as ToService, transfer);
    });
  }

  /** Marks the service dead: pending and later requests fail with `reason`. */
  fail(reason: string): void {
    this.dead = reason;
    for (const p of this.pending.values()) p.reject(new Error(reason));
    this.pending.clear();
  }

  /** Feed every message from the service here. */
  receive(msg: FromService): void {
    switch (msg.type) {
      case 'reply': {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.result);
        else p.reject(new Error(msg.error));
        return;
      }
      case 'output':
        this.handlers.output(msg.out);
        return;
      case 'inputRequest':
        this.handlers.inputRequest(msg.prompt, msg.password);
        return;
      case 'fatal':
        this.handlers.fatal(msg.error);
        return;
    }
  }
}

/**
 * ipykernel's stop_on_error for hosts that cannot see their request queue (the browser kernel
 * gets one request at a time): when an execute_request fails (an error, an interrupt) and did
 * not say `stop_on_error: false`, every execute_request sent before that moment, i.e. queued
 * behind the failed cell, is answered 'aborted' without running. Requests are dated by their
 * header (the page's clock, the same the kernel reads).
 */
export class StopOnError {
  private failedAt = Number.NEGATIVE_INFINITY;

  /** Call with each execute_request's content and reply status. */
  executed(content: { silent?: boolean; stop_on_error?: boolean }, status: string, now = Date.now()): void {
    if (status === 'error' && content.silent !== true && content.stop_on_error !== false) this.failedAt = now;
  }

  /** Whether an execute_request with this header date was sent before the last failure. */
  aborts(date: string | undefined): boolean {
    const sent = Date.parse(date ?? '');
    return Number.isFinite(sent) && sent <= this.failedAt;
  }
}
