import { BaseManager, KernelSpecManager, type KernelSpec, type ServerConnection } from '@jupyterlab/services';
import { LiteKernelSpecClient, type IKernelSpecs } from '@jupyterlite/services';
import { Signal, type ISignal } from '@lumino/signaling';

export interface HybridKernelSpecManagerOptions {
  serverSettings?: ServerConnection.ISettings;
  kernelSpecs: IKernelSpecs;
}

/** The server's kernelspecs and the browser's in one list (the launcher and kernel picker read it). */
export class HybridKernelSpecManager extends BaseManager implements KernelSpec.IManager {
  private readonly server: KernelSpecManager;
  private readonly browser: KernelSpecManager;
  private readonly changed = new Signal<this, KernelSpec.ISpecModels>(this);
  private readonly failure = new Signal<this, Error>(this);
  private merged: KernelSpec.ISpecModels | null = null;
  private readonly first: Promise<void>;
  private readyNow = false;

  constructor(options: HybridKernelSpecManagerOptions) {
    super({ serverSettings: options.serverSettings });
    this.server = new KernelSpecManager({ serverSettings: options.serverSettings });
    this.browser = new KernelSpecManager({
      serverSettings: options.serverSettings,
      kernelSpecAPIClient: new LiteKernelSpecClient({ kernelSpecs: options.kernelSpecs, serverSettings: options.serverSettings }),
    });
    this.server.connectionFailure.connect((_, e) => this.failure.emit(e));
    // Browser kernels register while plugins activate, possibly after the first listing.
    options.kernelSpecs.changed.connect(() => void this.refreshSpecs());
    this.first = this.refreshSpecs().then(() => {
      this.readyNow = true;
    });
  }

  get connectionFailure(): ISignal<this, Error> {
    return this.failure;
  }

  get isReady(): boolean {
    return this.readyNow;
  }

  get ready(): Promise<void> {
    return this.first;
  }

  get specs(): KernelSpec.ISpecModels | null {
    return this.merged;
  }

  get specsChanged(): ISignal<this, KernelSpec.ISpecModels> {
    return this.changed;
  }

  /** Re-reads both sides; a server that cannot answer leaves the browser kernels listed. */
  async refreshSpecs(): Promise<void> {
    await Promise.all([this.server.refreshSpecs().catch((e: unknown) => this.failure.emit(e instanceof Error ? e : new Error(String(e)))), this.browser.refreshSpecs()]);
    const s = this.server.specs;
    const b = this.browser.specs;
    if (!s && !b) return;
    this.merged = { default: s?.default || b?.default || '', kernelspecs: { ...s?.kernelspecs, ...b?.kernelspecs } };
    this.changed.emit(this.merged);
  }

  override dispose(): void {
    this.server.dispose();
    this.browser.dispose();
    super.dispose();
  }
}
