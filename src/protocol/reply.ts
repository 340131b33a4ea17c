// The reply side of the protocol as the command layer sees it: a writer that encodes
// RESP2 or RESP3 into the connection's output buffer. Command handlers call it; they
// never build wire bytes themselves. The encoder (protocol/encoder.ts) implements it.

export type ProtocolVersion = 2 | 3;

export interface ReplyWriter {
  readonly protocol: ProtocolVersion;
  /** +OK style. Must not contain CR or LF. */
  simple(s: string): void;
  ok(): void;
  /** -ERR style. `msg` is the full message including its prefix word ("ERR ...", "WRONGTYPE ..."). */
  error(msg: string): void;
  integer(n: number | bigint): void;
  /** Bulk string: Buffer as bytes, string as UTF-8. */
  bulk(b: Buffer | string): void;
  /**
   * Bulk string from `src[off, off + len)`, copied at once (the GET hot path: the store hands
   * over its bytes without making a view). Optional: writers without it get `bulk(view)`.
   */
  bulkRange?(src: Buffer, off: number, len: number): void;
  /**
   * Bulk string of the latin1 chars `s[off, off + len)` (default: all of `s`) (one char per byte: how keys and collection
   * members are held), written straight into the output: no Buffer per element of a HGETALL or ZRANGE.
   */
  bulkLatin1(s: string, off?: number, len?: number): void;
  /** Null bulk ($-1 in RESP2, _ in RESP3). */
  nullBulk(): void;
  /** Null array (*-1 in RESP2, _ in RESP3). */
  nullArray(): void;
  /** Array header; the caller then writes `n` elements. */
  array(n: number): void;
  /** Map header (RESP3 %n; RESP2 writes *2n). Caller writes 2n elements, key then value. */
  map(n: number): void;
  /** Set header (RESP3 ~n; RESP2 *n). */
  set(n: number): void;
  /** Double (RESP3 ,x; RESP2 bulk string with Redis's formatting). */
  double(x: number): void;
  /** A number already formatted by the command (RESP3 ,text; RESP2 bulk string): Redis's human long doubles. */
  doubleText(text: string): void;
  /** Verbatim text (RESP3 =len\r\ntxt:...; RESP2 bulk string). Used by INFO-like replies. */
  verbatim(text: string): void;
  /** Boolean (RESP3 #t/#f; RESP2 integer 1/0). */
  boolean(b: boolean): void;
  /** Push header (RESP3 >n; RESP2 *n): pub/sub messages. The caller writes `n` elements. */
  pushArray?(n: number): void;
  /** Switch the encoding for this and later replies (HELLO replies in the protocol it selects). */
  setProtocol?(p: ProtocolVersion): void;
}
