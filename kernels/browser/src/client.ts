import { LiteKernelClient } from '@jupyterlite/services';
import { liveKernels } from './kernel.js';

/**
 * JupyterLite's kernel client cannot reach into a running cell, and on interrupt it cancels its
 * queue itself: the first queued cell gets a "Kernel Interrupt: Interrupted" error it never ran
 * into, and other queued requests are dropped. For an attnlab kernel this subclass only tells
 * the kernel to stop its running cell (shared-memory flag, or a restart where the page is not
 * cross-origin isolated); that cell ends with an error, and the kernel then answers the execute
 * requests queued behind it 'aborted', as ipykernel does. Other kernels get the usual handling.
 */
export class AttnlabKernelClient extends LiteKernelClient {
  override async interrupt(kernelId: string): Promise<void> {
    const kernel = liveKernels.get(kernelId);
    if (!kernel) return super.interrupt(kernelId);
    await kernel.ready;
    kernel.interrupt();
  }
}
