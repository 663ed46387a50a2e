import { BaseManager, KernelManager, ServerConnection, type Kernel } from '@jupyterlab/services';
import { LiteKernelSpecClient, type IKernelClient, type IKernelSpecs } from '@jupyterlite/services';
import { Signal, type ISignal } from '@lumino/signaling';
import { WebSocket } from 'mock-socket';
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
export class HybridKernelManager extends BaseManager implements Kernel.IManager {
  private readonly server: KernelManager;
  private readonly browser: KernelManager;
  private readonly specs: IKernelSpecs;
  private readonly changed = new Signal<this, Kernel.IModel[]>(this);
  private readonly failure = new Signal<this, Error>(this);

  constructor(options: HybridKernelManagerOptions) {
    super({ serverSettings: options.serverSettings });
    this.specs = options.kernelSpecs;
    this.server = new KernelManager({ serverSettings: options.serverSettings });
    this.browser = new KernelManager({
      // The page kernels answer on mock-socket servers that JupyterLite's client opens.
      serverSettings: { ...ServerConnection.makeSettings(), ...options.serverSettings, WebSocket: WebSocket as unknown as typeof globalThis.WebSocket },
      kernelAPIClient: options.kernelClient,
      kernelSpecAPIClient: new LiteKernelSpecClient({ kernelSpecs: options.kernelSpecs, serverSettings: options.serverSettings }),
    });
    for (const m of [this.server, this.browser]) {
      m.runningChanged.connect(() => this.changed.emit([...this.running()]));
      m.connectionFailure.connect((_, e) => this.failure.emit(e));
    }
  }

  private sideOf(model: { id?: string; name?: string }): KernelManager {
    return isBrowserKernel(this.specs, this.browser.running(), model) ? this.browser : this.server;
  }

  get connectionFailure(): ISignal<this, Error> {
    return this.failure;
  }

  get runningChanged(): ISignal<this, Kernel.IModel[]> {
    return this.changed;
  }

  get isReady(): boolean {
    return this.server.isReady && this.browser.isReady;
  }

  get ready(): Promise<void> {
    return Promise.all([this.server.ready, this.browser.ready]).then(() => undefined);
  }

  get runningCount(): number {
    return this.server.runningCount + this.browser.runningCount;
  }

  *running(): IterableIterator<Kernel.IModel> {
    yield* this.server.running();
    yield* this.browser.running();
  }

  connectTo(options: Kernel.IKernelConnection.IOptions): Kernel.IKernelConnection {
    return this.sideOf(options.model).connectTo(options);
  }

  async refreshRunning(): Promise<void> {
    await Promise.all([this.server.refreshRunning(), this.browser.refreshRunning()]);
  }

  startNew(createOptions: Kernel.IKernelOptions = {}, connectOptions: Omit<Kernel.IKernelConnection.IOptions, 'model' | 'serverSettings'> = {}): Promise<Kernel.IKernelConnection> {
    return this.sideOf({ name: createOptions.name }).startNew(createOptions, connectOptions);
  }

  shutdown(id: string): Promise<void> {
    return this.sideOf({ id }).shutdown(id);
  }

  async shutdownAll(): Promise<void> {
    await Promise.all([this.server.shutdownAll(), this.browser.shutdownAll()]);
  }

  async findById(id: string): Promise<Kernel.IModel | undefined> {
    return (await this.browser.findById(id)) ?? this.server.findById(id);
  }

  override dispose(): void {
    this.server.dispose();
    this.browser.dispose();
    super.dispose();
  }
}
