// A ReplyWriter for in-process command tests: records replies as plain JS values instead of
// encoding RESP. Simple strings become "+OK", errors "-ERR ...", integers numbers (bigint when
// unsafe), bulks latin1 strings, nulls null, arrays/maps/sets arrays. Test use only.

import type { ProtocolVersion, ReplyWriter } from '../../src/protocol/reply.js';

export type Recorded = string | number | bigint | boolean | null | Recorded[];

export class RecordingWriter implements ReplyWriter {
  protocol: ProtocolVersion = 2;
  private readonly top: Recorded[] = [];
  private readonly open: Array<{ items: Recorded[]; left: number }> = [];

  private push(v: Recorded): void {
    const frame = this.open[this.open.length - 1];
    if (frame === undefined) {
      this.top.push(v);
      return;
    }
    frame.items.push(v);
    frame.left--;
    this.closeDone();
  }

  private closeDone(): void {
    for (;;) {
      const frame = this.open[this.open.length - 1];
      if (frame === undefined || frame.left > 0) return;
      this.open.pop();
      this.push(frame.items);
    }
  }

  private header(n: number): void {
    if (n === 0) return this.push([]);
    this.open.push({ items: [], left: n });
  }

  /** Every complete top-level reply written since the last take. */
  take(): Recorded[] {
    if (this.open.length > 0) throw new Error('incomplete aggregate reply');
    return this.top.splice(0);
  }

  simple(s: string): void { this.push(`+${s}`); }
  ok(): void { this.push('+OK'); }
  error(msg: string): void { this.push(`-${msg}`); }
  integer(n: number | bigint): void {
    this.push(typeof n === 'bigint' && n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n);
  }
  bulk(b: Buffer | string): void { this.push(typeof b === 'string' ? Buffer.from(b).toString('latin1') : b.toString('latin1')); }
  bulkLatin1(s: string, off = 0, len = s.length): void { this.push(s.slice(off, off + len)); }
  nullBulk(): void { this.push(null); }
  nullArray(): void { this.push(null); }
  array(n: number): void { this.header(n); }
  map(n: number): void { this.header(2 * n); }
  set(n: number): void { this.header(n); }
  double(x: number): void { this.push(x); }
  doubleText(text: string): void { this.push(text); }
  verbatim(text: string): void { this.push(text); }
  boolean(b: boolean): void { this.push(b); }
}
