import { LiteKernelClient } from '@jupyterlite/services';
import { liveKernels } from './kernel.js';

/**
 * JupyterLite's kernel client cancels queued cells on interrupt but cannot reach into a running
 * one. This subclass first tells an attnlab kernel to stop its running cell (shared-memory flag,
 * or a restart where the page is not cross-origin isolated), then does the usual cancelling.
 */
export class AttnlabKernelClient extends LiteKernelClient {
  override async interrupt(kernelId: string): Promise<void> {
    liveKernels.get(kernelId)?.interrupt();
    await super.interrupt(kernelId);
  }
}
