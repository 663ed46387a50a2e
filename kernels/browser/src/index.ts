/**
 * @attnlab/kernel-browser: the in-browser kernel's Web Worker. The bundle (bundle/worker.js and
 * its chunks) is what the lab serves; `protocol.ts` is the contract with the page side
 * (@attnlab/kernel-extension).
 */
export type { ToWorker, FromWorker, WorkerRequest, InitRequest } from './protocol.js';
