import type { InitRequest, WorkerRequest } from './protocol.js';
import { ServiceClient, type ServiceHandlers } from '@attnlab/kernel/service-client';

/**
 * The page side of the kernel worker: @attnlab/kernel's ServiceClient over a Web Worker.
 * `terminate()` fails every pending request, so nothing waits on a dead worker.
 */
export class WorkerConnection {
  private readonly worker: Worker;
  private readonly client: ServiceClient;

  constructor(url: string, handlers: ServiceHandlers) {
    this.worker = new Worker(url, { name: 'attnlab-kernel' });
    this.client = new ServiceClient((msg, transfer) => this.worker.postMessage(msg, transfer), handlers);
    this.worker.onmessage = (e: MessageEvent) => this.client.receive(e.data);
    this.worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      handlers.fatal(`kernel worker error: ${e.message || 'failed to load ' + url}`);
    };
  }

  request<T>(req: WorkerRequest | InitRequest, transfer: ArrayBuffer[] = []): Promise<T> {
    return this.client.request<T>(req, transfer);
  }

  terminate(reason: string): void {
    this.client.fail(reason);
    this.worker.terminate();
  }
}
