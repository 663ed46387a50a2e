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

export class Signer {
  constructor(private readonly key: string) {}

  sign(parts: readonly (Buffer | string)[]): string {
    if (!this.key) return '';
    const h = createHmac('sha256', this.key);
    for (const p of parts) h.update(p);
    return h.digest('hex');
  }

  /** Parse frames; throws WireError for a bad or missing signature or malformed JSON. */
  parse(frames: Buffer[]): Message {
    const d = frames.findIndex((f) => f.toString() === DELIM);
    if (d < 0 || frames.length < d + 6) throw new WireError(`malformed message: ${frames.length} frames, no '${DELIM}' delimiter`);
    const [sig, h, p, m, c] = frames.slice(d + 1, d + 6) as [Buffer, Buffer, Buffer, Buffer, Buffer];
    const want = Buffer.from(this.sign([h, p, m, c]));
    if (this.key && (sig.length !== want.length || !timingSafeEqual(sig, want))) throw new WireError('bad or missing signature: message dropped');
    try {
      return {
        identities: frames.slice(0, d),
        header: JSON.parse(h.toString()) as Header,
        parent_header: JSON.parse(p.toString()) as Partial<Header>,
        metadata: JSON.parse(m.toString()) as Record<string, unknown>,
        content: JSON.parse(c.toString()) as Record<string, unknown>,
        buffers: frames.slice(d + 6),
      };
    } catch (e) {
      throw new WireError(`malformed JSON in message: ${(e as Error).message}`);
    }
  }

  /** Frames of a message; binary buffers (comms) follow the signed parts, unsigned, as the protocol says. */
  serialize(msgType: string, content: Record<string, unknown>, parent: Message | null, session: string, identities: Buffer[] = [], extra: { metadata?: Record<string, unknown>; buffers?: ArrayBuffer[] } = {}): Buffer[] {
    const header: Header = { msg_id: randomUUID(), session, username: 'attnlab', date: new Date().toISOString(), msg_type: msgType, version: '5.3' };
    const parts = [header, parent?.header ?? {}, extra.metadata ?? {}, content].map((x) => Buffer.from(JSON.stringify(x)));
    return [...identities, Buffer.from(DELIM), Buffer.from(this.sign(parts)), ...parts, ...(extra.buffers ?? []).map((b) => Buffer.from(b))];
  }
}
