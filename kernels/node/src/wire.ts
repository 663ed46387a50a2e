import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

/** Jupyter messaging protocol 5.3 framing and HMAC-SHA256 signing. */
export interface Header {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
}

export interface Message {
  identities: Buffer[];
  header: Header;
  parent_header: Partial<Header>;
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
  buffers: Buffer[];
}

const DELIM = '<IDS|MSG>';

export class WireError extends Error {}

/** How many signatures of received messages are remembered to refuse replays (as jupyter_client's Session). */
export const DIGEST_HISTORY = 1 << 16;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class Signer {
  /** Signatures seen, oldest first (a Set iterates in insertion order). */
  private readonly seen = new Set<string>();

  constructor(private readonly key: string, private readonly historySize = DIGEST_HISTORY) {}

  sign(parts: readonly (Buffer | string)[]): string {
    if (!this.key) return '';
    const h = createHmac('sha256', this.key);
    for (const p of parts) h.update(p);
    return h.digest('hex');
  }

  /**
   * Parse frames; throws WireError for a bad or missing signature, a signature already seen (a
   * replay), malformed JSON, or parts of the wrong type (a header without a string msg_type,
   * content that is not an object).
   */
  parse(frames: Buffer[]): Message {
    const d = frames.findIndex((f) => f.toString() === DELIM);
    if (d < 0 || frames.length < d + 6) throw new WireError(`malformed message: ${frames.length} frames, no '${DELIM}' delimiter`);
    const [sig, h, p, m, c] = frames.slice(d + 1, d + 6) as [Buffer, Buffer, Buffer, Buffer, Buffer];
    const want = Buffer.from(this.sign([h, p, m, c]));
    if (this.key && (sig.length !== want.length || !timingSafeEqual(sig, want))) throw new WireError('bad or missing signature: message dropped');
    let parts: unknown[];
    try {
      parts = [h, p, m, c].map((b) => JSON.parse(b.toString()) as unknown);
    } catch (e) {
      throw new WireError(`malformed JSON in message: ${(e as Error).message}`);
    }
    const [header, parent, metadata, content] = parts;
    if (!isObject(header) || typeof header['msg_type'] !== 'string') throw new WireError(`malformed message: the header must be an object with a string msg_type, got ${JSON.stringify(header)?.slice(0, 80)}`);
    const type = header['msg_type'];
    if (!isObject(content)) throw new WireError(`malformed ${type}: content must be an object, got ${content === null ? 'null' : typeof content}`);
    if (parent !== null && !isObject(parent)) throw new WireError(`malformed ${type}: parent_header must be an object`);
    if (metadata !== null && !isObject(metadata)) throw new WireError(`malformed ${type}: metadata must be an object`);
    // Only a well-formed, correctly signed message counts as seen, so forgeries cannot fill the history.
    if (this.key) this.remember(sig.toString(), type);
    return {
      identities: frames.slice(0, d),
      header: header as unknown as Header,
      parent_header: (parent ?? {}) as Partial<Header>,
      metadata: metadata ?? {},
      content,
      buffers: frames.slice(d + 6),
    };
  }

  private remember(signature: string, type: string): void {
    if (this.seen.has(signature)) throw new WireError(`replayed ${type}: its signature was already received; message dropped`);
    this.seen.add(signature);
    // Bounded: the oldest signature goes first.
    if (this.seen.size > this.historySize) this.seen.delete(this.seen.values().next().value as string);
  }

  /** Frames of a message; binary buffers (comms) follow the signed parts, unsigned, as the protocol says. */
  serialize(msgType: string, content: Record<string, unknown>, parent: Message | null, session: string, identities: Buffer[] = [], extra: { metadata?: Record<string, unknown>; buffers?: ArrayBuffer[] } = {}): Buffer[] {
    const header: Header = { msg_id: randomUUID(), session, username: 'attnlab', date: new Date().toISOString(), msg_type: msgType, version: '5.3' };
    const parts = [header, parent?.header ?? {}, extra.metadata ?? {}, content].map((x) => Buffer.from(JSON.stringify(x)));
    return [...identities, Buffer.from(DELIM), Buffer.from(this.sign(parts)), ...parts, ...(extra.buffers ?? []).map((b) => Buffer.from(b))];
  }
}
