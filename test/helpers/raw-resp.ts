// A raw RESP2 client for tests that compare servers byte-for-byte in meaning: replies come back
// unmodified as a small tagged tree (no client-library conversions). 127.0.0.1 only.
// Requests are answered in order; never used for anything but tests.

import { connect, type Socket } from 'node:net';

export type Resp =
  | { readonly t: 'simple'; readonly s: string }
  | { readonly t: 'error'; readonly s: string }
  | { readonly t: 'int'; readonly n: bigint }
  | { readonly t: 'bulk'; readonly b: Buffer | null }
  | { readonly t: 'array'; readonly a: Resp[] | null };

function lineEnd(buf: Buffer, at: number): number {
  const i = buf.indexOf('\r\n', at, 'latin1');
  return i;
}

/** Parse one reply at `at`; null when the buffer holds only part of it. */
export function parseReply(buf: Buffer, at: number): { v: Resp; end: number } | null {
  if (at >= buf.length) return null;
  const e = lineEnd(buf, at + 1);
  if (e === -1) return null;
  const line = buf.toString('latin1', at + 1, e);
  const next = e + 2;
  switch (buf[at]) {
    case 0x2b: return { v: { t: 'simple', s: line }, end: next };
    case 0x2d: return { v: { t: 'error', s: line }, end: next };
    case 0x3a: return { v: { t: 'int', n: BigInt(line) }, end: next };
    case 0x24: {
      const n = Number(line);
      if (n < 0) return { v: { t: 'bulk', b: null }, end: next };
      if (buf.length < next + n + 2) return null;
      return { v: { t: 'bulk', b: Buffer.from(buf.subarray(next, next + n)) }, end: next + n + 2 };
    }
    case 0x2a: {
      const n = Number(line);
      if (n < 0) return { v: { t: 'array', a: null }, end: next };
      const items: Resp[] = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, p);
        if (r === null) return null;
        items.push(r.v);
        p = r.end;
      }
      return { v: { t: 'array', a: items }, end: p };
    }
    default:
      throw new Error(`unexpected reply type byte ${buf[at]} in ${JSON.stringify(buf.toString('latin1', at, at + 40))}`);
  }
}

export function encodeCommand(argv: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${argv.length}\r\n`)];
  for (const a of argv) parts.push(Buffer.from(`$${a.length}\r\n`), a, Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

export class RawClient {
  private buf: Buffer = Buffer.alloc(0);
  private readonly waiting: Array<{ resolve: (v: Resp) => void; reject: (e: Error) => void }> = [];
  private failure: Error | null = null;

  private constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('error', (e: Error) => this.fail(e));
    sock.on('close', () => this.fail(new Error('connection closed')));
  }

  static async connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    for (;;) {
      const r = parseReply(this.buf, 0);
      if (r === null) return;
      this.buf = this.buf.subarray(r.end);
      const w = this.waiting.shift();
      if (w === undefined) return this.fail(new Error('reply without a request'));
      w.resolve(r.v);
    }
  }

  private fail(e: Error): void {
    if (this.failure !== null) return;
    this.failure = e;
    for (const w of this.waiting.splice(0)) w.reject(e);
  }

  call(argv: ReadonlyArray<Buffer | string>): Promise<Resp> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const bufs = argv.map((a) => (typeof a === 'string' ? Buffer.from(a, 'latin1') : a));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.sock.write(encodeCommand(bufs));
    });
  }

  close(): void {
    this.failure ??= new Error('closed');
    this.sock.destroy();
  }
}

/** A compact printable form of a reply for failure messages. */
export function showReply(v: Resp): string {
  switch (v.t) {
    case 'simple': return `+${v.s}`;
    case 'error': return `-${v.s}`;
    case 'int': return `:${v.n}`;
    case 'bulk': return v.b === null ? '$nil' : JSON.stringify(v.b.toString('latin1'));
    case 'array': return v.a === null ? '*nil' : `[${v.a.map(showReply).join(', ')}]`;
  }
}
