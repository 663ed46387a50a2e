/**
 * Comms (Jupyter messaging: comm_open / comm_msg / comm_close) with binary buffers and a target
 * registry, transport-free: outgoing messages go to the host as KernelOutput, incoming ones
 * arrive through `receive*`. A throwing handler or an unknown comm id is reported, never fatal.
 */
export type CommData = Record<string, unknown>;
export type BufferLike = ArrayBuffer | ArrayBufferView;

export interface CommMessage {
  data: CommData;
  metadata: CommData;
  buffers: DataView[];
}

export interface Comm {
  readonly commId: string;
  readonly targetName: string;
  readonly closed: boolean;
  send(data: CommData, options?: { metadata?: CommData; buffers?: BufferLike[] }): void;
  close(data?: CommData): void;
  /** Called for each comm_msg from the front end. */
  onMsg?: (msg: CommMessage) => void;
  /** Called when the front end closes the comm. */
  onClose?: (msg: CommMessage) => void;
}

export interface CommManager {
  open(targetName: string, data?: CommData, options?: { metadata?: CommData; buffers?: BufferLike[]; commId?: string }): Comm;
  registerTarget(targetName: string, handler: (comm: Comm, msg: CommMessage) => void): void;
  unregisterTarget(targetName: string): void;
  get(commId: string): Comm | undefined;
}

export type CommOutput =
  | { type: 'comm_open'; commId: string; targetName: string; data: CommData; metadata: CommData; buffers: ArrayBuffer[] }
  | { type: 'comm_msg'; commId: string; data: CommData; metadata: CommData; buffers: ArrayBuffer[] }
  | { type: 'comm_close'; commId: string; data: CommData; metadata: CommData };

/** Incoming comm messages as hosts hand them over (Jupyter content fields). */
export interface CommOpenContent {
  comm_id: string;
  target_name: string;
  data?: CommData;
}

export interface CommMsgContent {
  comm_id: string;
  data?: CommData;
}

export function toArrayBuffers(buffers: readonly BufferLike[] | undefined): ArrayBuffer[] {
  return (buffers ?? []).map((b) => {
    if (b instanceof ArrayBuffer) return b;
    return (b.buffer as ArrayBuffer).slice(b.byteOffset, b.byteOffset + b.byteLength);
  });
}

function toViews(buffers: readonly BufferLike[] | undefined): DataView[] {
  return (buffers ?? []).map((b) => (b instanceof ArrayBuffer ? new DataView(b) : new DataView(b.buffer, b.byteOffset, b.byteLength)));
}

function isObject(v: unknown): v is CommData {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

let counter = 0;
function newId(): string {
  const c = globalThis.crypto as Crypto | undefined;
  return c?.randomUUID ? c.randomUUID().replace(/-/g, '') : `attnlab-comm-${Date.now().toString(36)}-${(counter++).toString(36)}`;
}

class KernelComm implements Comm {
  closed = false;
  onMsg?: (msg: CommMessage) => void;
  onClose?: (msg: CommMessage) => void;

  constructor(readonly commId: string, readonly targetName: string, private readonly registry: CommRegistry) {}

  send(data: CommData, options: { metadata?: CommData; buffers?: BufferLike[] } = {}): void {
    if (this.closed) throw new Error(`comm ${this.commId} (${this.targetName}) is closed`);
    this.registry.emit({ type: 'comm_msg', commId: this.commId, data, metadata: options.metadata ?? {}, buffers: toArrayBuffers(options.buffers) });
  }

  close(data: CommData = {}): void {
    if (this.closed) return;
    this.closed = true;
    this.registry.forget(this.commId);
    this.registry.emit({ type: 'comm_close', commId: this.commId, data, metadata: {} });
  }
}

export class CommRegistry implements CommManager {
  private readonly comms = new Map<string, KernelComm>();
  private readonly targets = new Map<string, (comm: Comm, msg: CommMessage) => void>();

  constructor(
    private readonly out: (msg: CommOutput) => void,
    /** Where problems go (the current cell's stderr). */
    private readonly report: (text: string) => void,
  ) {}

  /** @internal */
  emit(msg: CommOutput): void {
    this.out(msg);
  }

  /** @internal */
  forget(id: string): void {
    this.comms.delete(id);
  }

  open(targetName: string, data: CommData = {}, options: { metadata?: CommData; buffers?: BufferLike[]; commId?: string } = {}): Comm {
    if (typeof targetName !== 'string' || !targetName) throw new TypeError('comm open: targetName must be a non-empty string');
    const id = options.commId ?? newId();
    if (this.comms.has(id)) throw new Error(`comm open: a comm with id ${id} is already open`);
    const comm = new KernelComm(id, targetName, this);
    this.comms.set(id, comm);
    this.out({ type: 'comm_open', commId: id, targetName, data, metadata: options.metadata ?? {}, buffers: toArrayBuffers(options.buffers) });
    return comm;
  }

  registerTarget(targetName: string, handler: (comm: Comm, msg: CommMessage) => void): void {
    if (typeof handler !== 'function') throw new TypeError(`registerTarget('${targetName}'): the handler must be a function`);
    this.targets.set(targetName, handler);
  }

  unregisterTarget(targetName: string): void {
    this.targets.delete(targetName);
  }

  get(commId: string): Comm | undefined {
    return this.comms.get(commId);
  }

  info(targetName?: string): Record<string, { target_name: string }> {
    const out: Record<string, { target_name: string }> = {};
    for (const [id, c] of this.comms) if (!targetName || c.targetName === targetName) out[id] = { target_name: c.targetName };
    return out;
  }

  /** comm_open from the front end. An unknown target gets a comm_close back, as the protocol says. */
  receiveOpen(content: unknown, metadata: unknown, buffers?: readonly BufferLike[]): void {
    const c = content as Partial<CommOpenContent>;
    if (!isObject(content) || typeof c.comm_id !== 'string' || typeof c.target_name !== 'string') {
      this.report(`comm_open ignored: malformed content (needs comm_id and target_name strings): ${JSON.stringify(content)}\n`);
      return;
    }
    const handler = this.targets.get(c.target_name);
    if (!handler) {
      this.report(`comm_open for unknown target '${c.target_name}': closing comm ${c.comm_id}\n`);
      this.out({ type: 'comm_close', commId: c.comm_id, data: {}, metadata: {} });
      return;
    }
    const comm = new KernelComm(c.comm_id, c.target_name, this);
    this.comms.set(c.comm_id, comm);
    this.guard(`comm target '${c.target_name}'`, () => handler(comm, this.message(c.data, metadata, buffers)));
  }

  receiveMsg(content: unknown, metadata: unknown, buffers?: readonly BufferLike[]): void {
    const c = content as Partial<CommMsgContent>;
    if (!isObject(content) || typeof c.comm_id !== 'string') {
      this.report(`comm_msg ignored: malformed content (needs a comm_id string)\n`);
      return;
    }
    const comm = this.comms.get(c.comm_id);
    if (!comm) {
      this.report(`comm_msg for unknown comm ${c.comm_id} ignored\n`);
      return;
    }
    const msg = this.message(c.data, metadata, buffers);
    this.guard(`comm ${c.comm_id} (${comm.targetName})`, () => comm.onMsg?.(msg));
  }

  receiveClose(content: unknown, metadata: unknown): void {
    const c = content as Partial<CommMsgContent>;
    if (!isObject(content) || typeof c.comm_id !== 'string') {
      this.report('comm_close ignored: malformed content (needs a comm_id string)\n');
      return;
    }
    const comm = this.comms.get(c.comm_id);
    if (!comm) return; // already closed: nothing to do
    comm.closed = true;
    this.comms.delete(c.comm_id);
    const msg = this.message(c.data, metadata, []);
    this.guard(`comm ${c.comm_id} close`, () => comm.onClose?.(msg));
  }

  /** Closes every comm without messages (kernel reset). */
  clear(): void {
    for (const c of this.comms.values()) c.closed = true;
    this.comms.clear();
  }

  private message(data: unknown, metadata: unknown, buffers: readonly BufferLike[] | undefined): CommMessage {
    return { data: isObject(data) ? data : {}, metadata: isObject(metadata) ? metadata : {}, buffers: toViews(buffers) };
  }

  private guard(what: string, fn: () => unknown): void {
    try {
      const r = fn();
      if (r instanceof Promise) r.catch((e: unknown) => this.report(`error in ${what}: ${describe(e)}\n`));
    } catch (e) {
      this.report(`error in ${what}: ${describe(e)}\n`);
    }
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
