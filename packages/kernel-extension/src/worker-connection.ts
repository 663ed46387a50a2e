import type { FromWorker, ToWorker, WorkerRequest } from '@attnlab/kernel-browser';
import type { KernelOutput } from '@attnlab/kernel';

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

/**
 * The page side of the kernel worker: numbered requests, one reply each, outputs in between.
 * `terminate()` fails every pending request, so nothing waits on a dead worker.
 */
export class WorkerConnection {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private dead: string | null = null;

  constructor(
    url: string,
    private readonly handlers: { output(out: KernelOutput): void; inputRequest(prompt: string, password: boolean): void; fatal(error: string): void },
  ) {
    this.worker = new Worker(url, { name: 'attnlab-kernel' });
    this.worker.onmessage = (e: MessageEvent<FromWorker>) => this.receive(e.data);
    this.worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.handlers.fatal(`kernel worker error: ${e.message || 'failed to load ' + url}`);
    };
  }

  request<T>(req: WorkerRequest, transfer: Transferable[] = []): Promise<T> {
    if (this.dead) return Promise.reject(new Error(this.dead));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...req, id } as ToWorker, transfer);
    });
  }

  terminate(reason: string): void {
    this.dead = reason;
    this.worker.terminate();
    for (const p of this.pending.values()) p.reject(new Error(reason));
    this.pending.clear();
  }

  private receive(msg: FromWorker): void {
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
