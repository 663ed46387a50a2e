import { KernelManager, ServerConnection, type Kernel } from '@jupyterlab/services';
import { LiteKernelSpecClient, type IKernelClient, type IKernelSpecs } from '@jupyterlite/services';
import { WebSocket } from 'mock-socket';
import { PairedManager } from './paired.js';
import { isBrowserKernel } from './route.js';

export interface HybridKernelManagerOptions {
  serverSettings?: ServerConnection.ISettings;
  /** Starts, interrupts and restarts in-page kernels. */
  kernelClient: IKernelClient;
  /** The browser kernel specs (ours registers `attnlab-browser` there). */
  kernelSpecs: IKernelSpecs;
}

/**
 * Kernels from two places behind one `Kernel.IManager`: the Jupyter server's (REST + websockets)
 * and the page's own (JupyterLite's kernel client, reached through an in-page mock WebSocket).
 * Requests go to one side by spec name or kernel id; listings and signals are merged.
 */
export class HybridKernelManager extends PairedManager<Kernel.IModel, KernelManager> implements Kernel.IManager {
  private readonly specs: IKernelSpecs;

  constructor(options: HybridKernelManagerOptions) {
    super(
      new KernelManager({ serverSettings: options.serverSettings }),
      new KernelManager({
        // The page kernels answer on mock-socket servers that JupyterLite's client opens.
        serverSettings: { ...ServerConnection.makeSettings(), ...options.serverSettings, WebSocket: WebSocket as unknown as typeof globalThis.WebSocket },
        kernelAPIClient: options.kernelClient,
        kernelSpecAPIClient: new LiteKernelSpecClient({ kernelSpecs: options.kernelSpecs, serverSettings: options.serverSettings }),
      }),
      options.serverSettings,
    );
    this.specs = options.kernelSpecs;
  }

  private sideOf(model: { id?: string; name?: string }): KernelManager {
    return isBrowserKernel(this.specs, this.browser.running(), model) ? this.browser : this.server;
  }

  get runningCount(): number {
    return this.server.runningCount + this.browser.runningCount;
  }

  connectTo(options: Kernel.IKernelConnection.IOptions): Kernel.IKernelConnection {
    return this.sideOf(options.model).connectTo(options);
  }

  startNew(createOptions: Kernel.IKernelOptions = {}, connectOptions: Omit<Kernel.IKernelConnection.IOptions, 'model' | 'serverSettings'> = {}): Promise<Kernel.IKernelConnection> {
    return this.sideOf({ name: createOptions.name }).startNew(createOptions, connectOptions);
  }

  shutdown(id: string): Promise<void> {
    return this.sideOf({ id }).shutdown(id);
  }

  async findById(id: string): Promise<Kernel.IModel | undefined> {
    return (await this.browser.findById(id)) ?? this.server.findById(id);
  }
}
