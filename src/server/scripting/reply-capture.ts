// The reply of a command a script called (redis.call), captured as a value instead of wire
// bytes: a ReplyWriter whose replies build a tree the Lua engine converts to Lua values. Owns
// that tree while one command runs; it never encodes RESP and never sees a socket.

import type { ProtocolVersion, ReplyWriter } from '../../protocol/reply.js';
import { formatDouble } from '../../protocol/encoder.js';

/** A captured reply, in the RESP type it was written as (under the script's RESP version). */
export type CapturedReply =
  | { readonly t: 'status'; readonly s: string }
  | { readonly t: 'error'; readonly s: string }
  | { readonly t: 'int'; readonly n: number }
  | { readonly t: 'bulk'; readonly b: Buffer }
  | { readonly t: 'null' }
  | { readonly t: 'array'; readonly items: CapturedReply[] }
  | { readonly t: 'map'; readonly items: CapturedReply[] }
  | { readonly t: 'set'; readonly items: CapturedReply[] }
  | { readonly t: 'double'; readonly x: number }
  | { readonly t: 'bool'; readonly v: boolean }
  | { readonly t: 'verbatim'; readonly s: string };

type Frame = { readonly t: 'array' | 'map' | 'set'; readonly items: CapturedReply[]; left: number };

export class ReplyCapture implements ReplyWriter {
  /** Counted as the encoder counts them: the dispatcher's error statistics read these. */
  errors = 0;
  lastError = '';
  private readonly top: CapturedReply[] = [];
  private readonly open: Frame[] = [];

  constructor(public protocol: ProtocolVersion) {}

  /** The one complete reply written since the last take (null when the command wrote none). */
  take(): CapturedReply | null {
    this.open.length = 0;
    const r = this.top.pop() ?? null;
    this.top.length = 0;
    return r;
  }

  private push(v: CapturedReply): void {
    for (;;) {
      const frame = this.open[this.open.length - 1];
      if (frame === undefined) {
        this.top.push(v);
        return;
      }
      frame.items.push(v);
      if (--frame.left > 0) return;
      this.open.pop();
      v = { t: frame.t, items: frame.items };
    }
  }

  private header(t: Frame['t'], n: number): void {
    if (n <= 0) return this.push({ t, items: [] });
    this.open.push({ t, items: [], left: n });
  }

  simple(s: string): void { this.push({ t: 'status', s }); }
  ok(): void { this.push({ t: 'status', s: 'OK' }); }
  error(msg: string): void {
    this.errors++;
    this.lastError = msg;
    this.push({ t: 'error', s: msg });
  }
  integer(n: number | bigint): void { this.push({ t: 'int', n: Number(n) }); }
  bulk(b: Buffer | string): void { this.push({ t: 'bulk', b: typeof b === 'string' ? Buffer.from(b) : Buffer.from(b) }); }
  bulkRange(src: Buffer, off: number, len: number): void { this.push({ t: 'bulk', b: Buffer.from(src.subarray(off, off + len)) }); }
  bulkLatin1(s: string, off = 0, len = s.length - off): void { this.push({ t: 'bulk', b: Buffer.from(s.slice(off, off + len), 'latin1') }); }
  nullBulk(): void { this.push({ t: 'null' }); }
  nullArray(): void { this.push({ t: 'null' }); }
  array(n: number): void { this.header('array', n); }
  map(n: number): void {
    this.header(this.protocol === 3 ? 'map' : 'array', 2 * n);
  }
  set(n: number): void { this.header(this.protocol === 3 ? 'set' : 'array', n); }
  pushArray(n: number): void { this.header('array', n); }
  double(x: number): void {
    if (this.protocol === 3) this.push({ t: 'double', x });
    else this.bulk(formatDouble(x));
  }
  doubleText(text: string): void {
    if (this.protocol === 3) this.push({ t: 'double', x: Number(text) });
    else this.bulk(text);
  }
  verbatim(text: string): void {
    if (this.protocol === 3) this.push({ t: 'verbatim', s: text });
    else this.bulk(text);
  }
  boolean(b: boolean): void {
    if (this.protocol === 3) this.push({ t: 'bool', v: b });
    else this.integer(b ? 1 : 0);
  }
  setProtocol(p: ProtocolVersion): void { this.protocol = p; }
}
