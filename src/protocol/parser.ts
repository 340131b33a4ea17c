// Incremental RESP request parser: one per connection, fed every socket read, yielding
// commands as zero-copy argv (subarrays of its buffer, valid until the next `append`).
// It owns the connection's unparsed query buffer and its limits; it never executes,
// replies or touches the socket. Hand-written (no parser library) because it is the
// hottest code in the server: every byte of every request passes through it.

import assert from 'node:assert';

/** Redis proto-max-bulk-len default: a single argument may not exceed 512 MB. */
export const BULK_BYTES_MAX_DEFAULT = 512 * 1024 * 1024;
/**
 * Redis 7.0 refuses a multibulk count above INT_MAX; a smaller count is accepted and waited for
 * (the arguments' memory is bounded by the query buffer limit, not by this count).
 */
export const MULTIBULK_COUNT_MAX = 2 ** 31 - 1;
/** Redis client-query-buffer-limit default: 1 GB of unparsed input per client. */
export const QUERY_BUFFER_BYTES_MAX_DEFAULT = 1024 * 1024 * 1024;
/** Redis PROTO_INLINE_MAX_SIZE: an inline line, or a `*`/`$` header line, may not exceed 64 KB. */
export const INLINE_BYTES_MAX = 64 * 1024;
/** Bulks at least this big get their own exact-size buffer (Redis PROTO_MBULK_BIG_ARG) so they are copied once. */
const BIG_ARG_BYTES = 32 * 1024;
/** Initial size of the owned buffer used when a frame spans reads. */
const OWNED_BUFFER_BYTES_MIN = 16 * 1024;

/** Bytes of a header line scanned in JS before falling back to indexOf (a valid header is at most 21). */
const HEADER_SCAN_BYTES = 32;

/**
 * The constructor Buffer#subarray itself uses (Node's FastBuffer, reached through the standard
 * Symbol.species). Calling it directly makes the same Buffer view without subarray's species
 * lookup and argument normalisation, once per argument (docs/perf-notes.md, 'RESP parser').
 */
type ViewConstructor = new (ab: ArrayBufferLike, byteOffset: number, length: number) => Buffer;
const BufferView = (Buffer as unknown as { readonly [Symbol.species]: ViewConstructor })[Symbol.species];
assert(Buffer.isBuffer(new BufferView(new ArrayBuffer(1), 0, 1)), 'Buffer[Symbol.species] must construct Buffers');

const CR = 13;
const LF = 10;

export type ParseStatus = 'command' | 'incomplete' | 'error';

export interface ParserLimits {
  bulkBytesMax: number;
  queryBufferBytesMax: number;
}

/**
 * Usage per read event: `append(chunk)`, then call `next()` until it returns 'incomplete'
 * (wait for more bytes) or 'error' (reply `errorMessage` unless `closeSilently`, then close).
 * After 'command', `argv` holds the arguments until the next `next()`/`append()` call.
 */
export class RespParser {
  /** Reused between commands (no per-request array allocation); length === argc. */
  readonly argv: Buffer[] = [];
  /** Set with status 'error': the full reply text, e.g. "ERR Protocol error: invalid bulk length". */
  errorMessage = '';
  /** Bytes of the last complete frame next() returned (CLIENT LIST counts the running command in qbuf, as Redis). */
  frameBytes = 0;
  /** Query-buffer overflow: Redis closes such clients without a reply. */
  closeSilently = false;

  private buf: Buffer = Buffer.alloc(0);
  /** True when `buf` is our own allocation (we may write into it); false when it is a socket chunk. */
  private owned = false;
  private start = 0; // first unparsed byte
  private end = 0; // one past the last valid byte
  private failed = false;

  // Multibulk state kept across reads so a big request is not rescanned from its start on every read.
  private mbRemaining = 0; // args still to read in the current multibulk; 0 = not inside one
  private mbPos = 0; // offset (from `start`) where the next arg header begins
  private bulkLen = -1; // length of the arg whose header was read, -1 = none
  private readonly argOffsets: number[] = []; // pairs (offset from start, length) of args read so far
  private argsRead = 0; // args recorded in argOffsets (a counter, so the array is never truncated)

  constructor(readonly limits: ParserLimits = { bulkBytesMax: BULK_BYTES_MAX_DEFAULT, queryBufferBytesMax: QUERY_BUFFER_BYTES_MAX_DEFAULT }) {}

  /** Unparsed bytes held (Redis's qbuf). */
  get pendingBytes(): number {
    return this.end - this.start;
  }

  append(chunk: Buffer): void {
    assert(!this.failed, 'append after a parse error');
    if (chunk.length === 0) return;
    if (this.start === this.end) {
      // Nothing pending: parse straight out of the socket's chunk (the common case, zero copies).
      this.buf = chunk;
      this.owned = false;
      this.start = 0;
      this.end = chunk.length;
      return;
    }
    this.ensureRoom(chunk.length);
    chunk.copy(this.buf, this.end);
    this.end += chunk.length;
  }

  /** Make room for `extra` more bytes after `end`, compacting or growing only when needed. */
  private ensureRoom(extra: number): void {
    const pending = this.end - this.start;
    let need = pending + extra;
    if (this.owned && this.end + extra <= this.buf.length) return;
    if (this.owned && need <= this.buf.length && this.start > 0) {
      this.buf.copy(this.buf, 0, this.start, this.end);
      this.end = pending;
      this.start = 0;
      return;
    }
    // A big bulk whose header we have read: size the buffer for the whole frame so it is copied once.
    if (this.bulkLen >= BIG_ARG_BYTES) need = Math.max(need, this.mbPos + this.bulkLen + 2);
    const size = Math.max(OWNED_BUFFER_BYTES_MIN, need, Math.min(need * 2, need + 64 * 1024 * 1024));
    const nb = Buffer.allocUnsafe(size);
    this.buf.copy(nb, 0, this.start, this.end);
    this.buf = nb;
    this.owned = true;
    this.end = pending;
    this.start = 0;
  }

  next(): ParseStatus {
    assert(!this.failed, 'next after a parse error');
    for (;;) {
      if (this.start === this.end) return 'incomplete';
      // A frame's start stays put until the whole frame is parsed (multibulk state is an offset from it).
      const from = this.start;
      let st: ParseStatus | 'empty';
      if (this.mbRemaining > 0 || this.buf[this.start] === 0x2a /* '*' */) st = this.parseMultibulk();
      else st = this.parseInline();
      if (st === 'empty') continue; // Redis skips empty inline lines and *0 / *-1 frames
      this.frameBytes = this.start - from;
      if (st === 'incomplete' && this.end - this.start > this.limits.queryBufferBytesMax) {
        return this.fail('ERR Protocol error: query buffer limit reached', true);
      }
      if (st === 'incomplete' && this.start === this.end) this.release();
      return st;
    }
  }

  /** Drop a big owned buffer once empty so an idle client does not pin memory. */
  private release(): void {
    if (this.owned && this.buf.length > OWNED_BUFFER_BYTES_MIN * 4) {
      this.buf = Buffer.alloc(0);
      this.owned = false;
      this.start = this.end = 0;
    }
  }

  private fail(msg: string, silent = false): 'error' {
    this.failed = true;
    this.errorMessage = msg;
    this.closeSilently = silent;
    this.argv.length = 0;
    return 'error';
  }

  private indexOfCrlfLine(from: number): number {
    // Returns the index of '\r' ending the line starting at `from`, or -1 when not yet complete.
    // Header lines are a few bytes: a JS scan of the first HEADER_SCAN_BYTES avoids the native
    // call of Buffer#indexOf, which costs more than the scan ('RESP parser' in docs/perf-notes.md);
    // longer lines fall back to it.
    const buf = this.buf;
    const stop = Math.min(this.end, from + HEADER_SCAN_BYTES);
    for (let i = from; i < stop; i++) if (buf[i] === CR) return i;
    if (stop === this.end) return -1;
    const i = buf.indexOf(CR, stop);
    if (i < 0 || i >= this.end) return -1;
    return i;
  }

  private parseMultibulk(): ParseStatus | 'empty' {
    const buf = this.buf;
    const base = this.start;
    if (this.mbRemaining === 0) {
      const cr = this.indexOfCrlfLine(base + 1);
      if (cr < 0) {
        if (this.end - base > INLINE_BYTES_MAX) return this.fail('ERR Protocol error: too big mbulk count string');
        return 'incomplete';
      }
      if (cr + 1 >= this.end) return 'incomplete';
      const n = parseInteger(buf, base + 1, cr);
      if (n === null || n > MULTIBULK_COUNT_MAX) return this.fail('ERR Protocol error: invalid multibulk length');
      if (buf[cr + 1] !== LF) return this.fail('ERR Protocol error: invalid multibulk length');
      if (n <= 0) {
        this.start = cr + 2;
        return 'empty';
      }
      this.mbRemaining = n;
      this.mbPos = cr + 2 - base;
      this.argsRead = 0;
      this.bulkLen = -1;
    }
    while (this.mbRemaining > 0) {
      const p = base + this.mbPos;
      if (this.bulkLen < 0) {
        if (p >= this.end) return 'incomplete';
        const cr = this.indexOfCrlfLine(p);
        if (cr < 0) {
          if (this.end - p > INLINE_BYTES_MAX) return this.fail('ERR Protocol error: too big bulk count string');
          // Report a wrong type byte early rather than waiting for a CR that may never come.
          if (buf[p] !== 0x24) return this.fail(`ERR Protocol error: expected '$', got '${String.fromCharCode(buf[p] as number)}'`);
          return 'incomplete';
        }
        if (buf[p] !== 0x24 /* '$' */) return this.fail(`ERR Protocol error: expected '$', got '${String.fromCharCode(buf[p] as number)}'`);
        if (cr + 1 >= this.end) return 'incomplete';
        const len = parseInteger(buf, p + 1, cr);
        if (len === null || len < 0 || len > this.limits.bulkBytesMax || buf[cr + 1] !== LF) {
          return this.fail('ERR Protocol error: invalid bulk length');
        }
        this.bulkLen = len;
        this.mbPos = cr + 2 - base;
      }
      const q = base + this.mbPos;
      if (this.end - q < this.bulkLen + 2) {
        if (this.bulkLen >= BIG_ARG_BYTES && this.owned === false) this.ensureRoom(0); // pre-size for the big arg
        return 'incomplete';
      }
      // Redis does not check the bytes after a bulk; we do, since a missing CRLF means a framing bug.
      if (buf[q + this.bulkLen] !== CR || buf[q + this.bulkLen + 1] !== LF) {
        return this.fail('ERR Protocol error: invalid bulk length');
      }
      const k = 2 * this.argsRead++;
      this.argOffsets[k] = this.mbPos;
      this.argOffsets[k + 1] = this.bulkLen;
      this.mbPos += this.bulkLen + 2;
      this.bulkLen = -1;
      this.mbRemaining--;
    }
    // Complete: materialise argv as subarrays (offsets are relative to `start`, which compaction may have moved).
    const b = this.buf;
    const ab = b.buffer;
    const abOff = b.byteOffset;
    const s = this.start;
    const argv = this.argv;
    const offs = this.argOffsets;
    const argc = this.argsRead;
    // Setting an array's length is a slow runtime call: only do it when argc changes.
    if (argv.length !== argc) argv.length = argc;
    for (let i = 0; i < argc; i++) {
      const off = s + (offs[2 * i] as number);
      argv[i] = new BufferView(ab, abOff + off, offs[2 * i + 1] as number);
    }
    this.start = s + this.mbPos;
    this.mbPos = 0;
    return 'command';
  }

  private parseInline(): ParseStatus | 'empty' {
    const lf = this.buf.indexOf(LF, this.start);
    if (lf < 0 || lf >= this.end) {
      if (this.end - this.start > INLINE_BYTES_MAX) return this.fail('ERR Protocol error: too big inline request');
      return 'incomplete';
    }
    let lineEnd = lf;
    if (lineEnd > this.start && this.buf[lineEnd - 1] === CR) lineEnd--;
    const args = splitInlineArgs(this.buf, this.start, lineEnd);
    this.start = lf + 1;
    if (args === null) return this.fail('ERR Protocol error: unbalanced quotes in request');
    if (args.length === 0) return 'empty';
    const argv = this.argv;
    if (argv.length !== args.length) argv.length = args.length;
    for (let i = 0; i < args.length; i++) argv[i] = args[i] as Buffer;
    return 'command';
  }
}

/** Parse a decimal integer in buf[from, to) like Redis string2ll; null when malformed. */
function parseInteger(buf: Buffer, from: number, to: number): number | null {
  if (from >= to || to - from > 18) return null; // > 18 digits cannot be a valid length/count anyway
  let i = from;
  let neg = false;
  if (buf[i] === 0x2d /* '-' */) {
    neg = true;
    i++;
    if (i === to) return null;
  }
  let n = 0;
  for (; i < to; i++) {
    const c = (buf[i] as number) - 0x30;
    if (c < 0 || c > 9) return null;
    n = n * 10 + c;
  }
  return neg ? -n : n;
}

/** sdssplitargs escapes inside double quotes: \n \r \t \b \a. */
const ESCAPES: ReadonlyMap<number, number> = new Map([[0x6e, 10], [0x72, 13], [0x74, 9], [0x62, 8], [0x61, 7]]);

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/**
 * Redis sdssplitargs over buf[from, to): space-separated words, "double quotes" with
 * \n \r \t \b \a \\ \" \xHH escapes, 'single quotes' with only \' escaped. A closing quote
 * must be followed by a space or the end. Returns null for unbalanced quotes.
 * Not the hot path (only humans type inline commands), so it allocates freely.
 */
export function splitInlineArgs(buf: Buffer, from: number, to: number): Buffer[] | null {
  const out: Buffer[] = [];
  let p = from;
  for (;;) {
    while (p < to && isSpace(buf[p] as number)) p++;
    if (p >= to) return out;
    const bytes: number[] = [];
    let inDq = false;
    let inSq = false;
    let done = false;
    while (!done) {
      if (inDq) {
        if (p >= to) return null;
        const c = buf[p] as number;
        if (c === 0x5c /* \ */ && p + 3 < to && buf[p + 1] === 0x78 /* x */ && hexVal(buf[p + 2] as number) >= 0 && hexVal(buf[p + 3] as number) >= 0) {
          bytes.push(hexVal(buf[p + 2] as number) * 16 + hexVal(buf[p + 3] as number));
          p += 3;
        } else if (c === 0x5c && p + 1 < to) {
          p++;
          const e = buf[p] as number;
          bytes.push(ESCAPES.get(e) ?? e);
        } else if (c === 0x22 /* " */) {
          if (p + 1 < to && !isSpace(buf[p + 1] as number)) return null;
          done = true;
        } else {
          bytes.push(c);
        }
      } else if (inSq) {
        if (p >= to) return null;
        const c = buf[p] as number;
        if (c === 0x5c && p + 1 < to && buf[p + 1] === 0x27) {
          p++;
          bytes.push(0x27);
        } else if (c === 0x27) {
          if (p + 1 < to && !isSpace(buf[p + 1] as number)) return null;
          done = true;
        } else {
          bytes.push(c);
        }
      } else {
        if (p >= to) break;
        const c = buf[p] as number;
        if (isSpace(c)) done = true;
        else if (c === 0x22) inDq = true;
        else if (c === 0x27) inSq = true;
        else bytes.push(c);
      }
      if (p < to) p++;
    }
    out.push(Buffer.from(bytes));
  }
}
