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
