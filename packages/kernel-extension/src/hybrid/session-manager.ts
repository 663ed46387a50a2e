import { BaseManager, SessionManager, type Kernel, type ServerConnection, type Session } from '@jupyterlab/services';
import { LiteSessionClient, type IKernelSpecs, type LiteKernelClient } from '@jupyterlite/services';
import { Signal, type ISignal } from '@lumino/signaling';

export interface HybridSessionManagerOptions {
  serverSettings?: ServerConnection.ISettings;
  /** The hybrid kernel manager: both session managers connect kernels through it. */
  kernelManager: Kernel.IManager;
  kernelClient: LiteKernelClient;
  kernelSpecs: IKernelSpecs;
}

type ConnectOptions = Omit<Session.ISessionConnection.IOptions, 'model' | 'connectToKernel' | 'serverSettings'>;

/**
 * Sessions (notebook path <-> kernel) from the server for server kernels and kept in the page for
 * browser kernels. A new session goes where its kernel's spec lives.
 */
export class HybridSessionManager extends BaseManager implements Session.IManager {
  private readonly server: SessionManager;
  private readonly browser: SessionManager;
  private readonly specs: IKernelSpecs;
  private readonly changed = new Signal<this, Session.IModel[]>(this);
  private readonly failure = new Signal<this, Error>(this);

  constructor(options: HybridSessionManagerOptions) {
    super({ serverSettings: options.serverSettings });
    this.specs = options.kernelSpecs;
    const { kernelManager, serverSettings } = options;
    this.server = new SessionManager({ kernelManager, serverSettings });
    this.browser = new SessionManager({
      kernelManager,
      serverSettings,
      sessionAPIClient: new LiteSessionClient({ serverSettings, kernelClient: options.kernelClient }),
    });
    for (const m of [this.server, this.browser]) {
      m.runningChanged.connect(() => this.changed.emit([...this.running()]));
      m.connectionFailure.connect((_, e) => this.failure.emit(e));
    }
  }

  private inBrowser(id: string): boolean {
    for (const s of this.browser.running()) if (s.id === id) return true;
    return false;
  }

  get connectionFailure(): ISignal<this, Error> {
    return this.failure;
  }

  get runningChanged(): ISignal<this, Session.IModel[]> {
    return this.changed;
  }

  get isReady(): boolean {
    return this.server.isReady && this.browser.isReady;
  }

  get ready(): Promise<void> {
    return Promise.all([this.server.ready, this.browser.ready]).then(() => undefined);
  }

  *running(): IterableIterator<Session.IModel> {
    yield* this.server.running();
    yield* this.browser.running();
  }

  connectTo(options: Omit<Session.ISessionConnection.IOptions, 'connectToKernel' | 'serverSettings'>): Session.ISessionConnection {
    return (this.inBrowser(options.model.id) ? this.browser : this.server).connectTo(options);
  }

  async refreshRunning(): Promise<void> {
    await Promise.all([this.server.refreshRunning(), this.browser.refreshRunning()]);
  }

  startNew(createOptions: Session.ISessionOptions, connectOptions: ConnectOptions = {}): Promise<Session.ISessionConnection> {
    const name = createOptions.kernel?.name;
    const side = name && this.specs.specs?.kernelspecs[name] ? this.browser : this.server;
    return side.startNew(createOptions, connectOptions);
  }

  shutdown(id: string): Promise<void> {
    return (this.inBrowser(id) ? this.browser : this.server).shutdown(id);
  }

  async shutdownAll(): Promise<void> {
    await Promise.all([this.server.shutdownAll(), this.browser.shutdownAll()]);
  }

  async stopIfNeeded(path: string): Promise<void> {
    await Promise.all([this.server.stopIfNeeded(path), this.browser.stopIfNeeded(path)]);
  }

  async findById(id: string): Promise<Session.IModel | undefined> {
    return (await this.browser.findById(id)) ?? this.server.findById(id);
  }

  async findByPath(path: string): Promise<Session.IModel | undefined> {
    return (await this.browser.findByPath(path)) ?? this.server.findByPath(path);
  }

  override dispose(): void {
    this.server.dispose();
    this.browser.dispose();
    super.dispose();
  }
}
