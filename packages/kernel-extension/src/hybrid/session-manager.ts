import { SessionManager, type Kernel, type ServerConnection, type Session } from '@jupyterlab/services';
import { LiteSessionClient, type IKernelSpecs, type LiteKernelClient } from '@jupyterlite/services';
import { PairedManager } from './paired.js';
import { isBrowserKernel } from './route.js';

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
export class HybridSessionManager extends PairedManager<Session.IModel, SessionManager> implements Session.IManager {
  private readonly specs: IKernelSpecs;

  constructor(options: HybridSessionManagerOptions) {
    const { kernelManager, serverSettings } = options;
    super(
      new SessionManager({ kernelManager, serverSettings }),
      new SessionManager({ kernelManager, serverSettings, sessionAPIClient: new LiteSessionClient({ serverSettings, kernelClient: options.kernelClient }) }),
      serverSettings,
    );
    this.specs = options.kernelSpecs;
  }

  private sideOf(id: string): SessionManager {
    for (const s of this.browser.running()) if (s.id === id) return this.browser;
    return this.server;
  }

  connectTo(options: Omit<Session.ISessionConnection.IOptions, 'connectToKernel' | 'serverSettings'>): Session.ISessionConnection {
    return this.sideOf(options.model.id).connectTo(options);
  }

  startNew(createOptions: Session.ISessionOptions, connectOptions: ConnectOptions = {}): Promise<Session.ISessionConnection> {
    const side = isBrowserKernel(this.specs, [], { name: createOptions.kernel?.name }) ? this.browser : this.server;
    return side.startNew(createOptions, connectOptions);
  }

  shutdown(id: string): Promise<void> {
    return this.sideOf(id).shutdown(id);
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
}
