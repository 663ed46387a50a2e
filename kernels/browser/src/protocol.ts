/**
 * The messages between the page (the JupyterLab kernel object) and the kernel's Web Worker:
 * @attnlab/kernel's service protocol, with the browser's init settings.
 */
import type { FromService, InitRequest as ServiceInit, ServiceRequest, ToService } from '@attnlab/kernel';

export interface InitRequest extends ServiceInit {
  /** Absolute URL of the folder relative paths resolve against (the notebook's folder under files/). */
  filesUrl: string;
}

export type WorkerRequest = ServiceRequest;
export type ToWorker = ToService;
export type FromWorker = FromService;
