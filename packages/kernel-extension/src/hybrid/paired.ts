import { BaseManager, type ServerConnection } from '@jupyterlab/services';
import { Signal, type ISignal } from '@lumino/signaling';

/** What the server-side and page-side managers of one kind have in common. */
interface Side<M> {
  readonly isReady: boolean;
  readonly ready: Promise<void>;
  readonly runningChanged: ISignal<unknown, unknown>;
  readonly connectionFailure: ISignal<unknown, Error>;
  running(): IterableIterator<M>;
  refreshRunning(): Promise<void>;
  shutdownAll(): Promise<void>;
  dispose(): void;
}

/**
 * Two managers of one kind (kernels, sessions) shown as one: the Jupyter server's and the page's.
 * Listings and signals are merged; subclasses route single requests to one side.
 */
export abstract class PairedManager<M, S extends Side<M>> extends BaseManager {
  protected readonly changed = new Signal<this, M[]>(this);
  protected readonly failure = new Signal<this, Error>(this);

  constructor(protected readonly server: S, protected readonly browser: S, serverSettings?: ServerConnection.ISettings) {
    super({ serverSettings });
    for (const m of [server, browser]) {
      m.runningChanged.connect(() => this.changed.emit([...this.running()]));
      m.connectionFailure.connect((_, e) => this.failure.emit(e));
    }
  }

  get connectionFailure(): ISignal<this, Error> {
    return this.failure;
  }

  get runningChanged(): ISignal<this, M[]> {
    return this.changed;
  }

  get isReady(): boolean {
    return this.server.isReady && this.browser.isReady;
  }

  get ready(): Promise<void> {
    return Promise.all([this.server.ready, this.browser.ready]).then(() => undefined);
  }

  *running(): IterableIterator<M> {
    yield* this.server.running();
    yield* this.browser.running();
  }

  async refreshRunning(): Promise<void> {
    await Promise.all([this.server.refreshRunning(), this.browser.refreshRunning()]);
  }

  async shutdownAll(): Promise<void> {
    await Promise.all([this.server.shutdownAll(), this.browser.shutdownAll()]);
  }

  override dispose(): void {
    this.server.dispose();
    this.browser.dispose();
    super.dispose();
  }
}
