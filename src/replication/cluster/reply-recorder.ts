// A ReplyWriter that records a command's reply so it can be written later, once the cluster has
// confirmed it (quorum reads and writes reply only after commit / ReadIndex). Owns the recorded
// calls only; it never encodes bytes (replay drives the connection's real writer).

import type { ProtocolVersion, ReplyWriter } from '../../protocol/reply.js';

type Call = (w: ReplyWriter) => void;

export class ReplyRecorder implements ReplyWriter {
  private readonly calls: Call[] = [];
  /** Error replies recorded (the dispatcher counts failures through this field, like the encoder's). */
  errors = 0;
  /** Text of the last error recorded, for callers that answer errors at once. */
  lastError: string | null = null;
  /** Top-level replies still open (aggregate headers whose elements are not all written). */
  private depth: number[] = [];
  /** Complete top-level replies recorded. */
  replies = 0;

  constructor(readonly protocol: ProtocolVersion) {}

  /** Write everything recorded to `w`, in order. */
  replay(w: ReplyWriter): void {
    for (const c of this.calls) c(w);
  }

  private leaf(c: Call): void {
    this.calls.push(c);
    this.element();
  }

  /** One element finished: close every aggregate it completes; a finished top level counts as a reply. */
  private element(): void {
    for (;;) {
      const top = this.depth.length - 1;
      if (top < 0) {
        this.replies++;
        return;
      }
      const left = (this.depth[top] as number) - 1;
      if (left > 0) {
        this.depth[top] = left;
        return;
      }
      this.depth.pop();
    }
  }

  private aggregate(c: Call, elements: number): void {
    this.calls.push(c);
    if (elements <= 0) this.element();
    else this.depth.push(elements);
  }

  simple(s: string): void {
    this.leaf((w) => w.simple(s));
  }
  ok(): void {
    this.leaf((w) => w.ok());
  }
  error(msg: string): void {
    this.errors++;
    this.lastError = msg;
    this.leaf((w) => w.error(msg));
  }
  integer(n: number | bigint): void {
    this.leaf((w) => w.integer(n));
  }
  bulk(b: Buffer | string): void {
    // argv-backed buffers may point into the connection's read buffer, which is reused: copy.
    const owned = typeof b === 'string' ? b : Buffer.from(b);
    this.leaf((w) => w.bulk(owned));
  }
  bulkLatin1(s: string, off = 0, len = s.length): void {
    // Strings are immutable: the range stays valid until replay.
    this.leaf((w) => w.bulkLatin1(s, off, len));
  }
  nullBulk(): void {
    this.leaf((w) => w.nullBulk());
  }
  nullArray(): void {
    this.leaf((w) => w.nullArray());
  }
  array(n: number): void {
    this.aggregate((w) => w.array(n), n);
  }
  map(n: number): void {
    this.aggregate((w) => w.map(n), 2 * n);
  }
  set(n: number): void {
    this.aggregate((w) => w.set(n), n);
  }
  double(x: number): void {
    this.leaf((w) => w.double(x));
  }
  doubleText(text: string): void {
    this.leaf((w) => w.doubleText(text));
  }
  verbatim(text: string): void {
    this.leaf((w) => w.verbatim(text));
  }
  boolean(b: boolean): void {
    this.leaf((w) => w.boolean(b));
  }
}
