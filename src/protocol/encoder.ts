// RESP2/RESP3 reply encoder: implements ReplyWriter into a connection's pending output.
// Owns the bytes of replies not yet handed to the socket; it never touches the socket
// itself (the connection calls `take()` once per read event and writes the result).

import assert from 'node:assert';
import type { ProtocolVersion, ReplyWriter } from './reply.js';

/** Size of each output chunk; replies of one read event are carved out of it without copying. */
const CHUNK_BYTES = 64 * 1024;
/** Largest integer encoded through the pre-encoded table (`:0`..`:N`). */
const SHARED_INTEGERS_MAX = 9999;

/** Cap on the extra room added when the pending output grows. */
const GROWTH_BYTES_MAX = 64 * 1024 * 1024;

const CRLF = '\r\n';
/** bulkRange copies up to this many bytes with a JS loop (cheaper than making a view for them). */
const COPY_LOOP_BYTES_MAX = 16;
/** bulkLatin1 copies up to this many chars with a JS loop (a native write costs more below it). */
const LATIN1_LOOP_CHARS_MAX = 32;
/** Room for one `$<len>\r\n` / `*<n>\r\n` header: type byte, up to 16 digits (safe integers), CRLF. */
const HEADER_BYTES_MAX = 1 + 16 + 2;

/** Pre-encoded frequent replies (Redis's `shared` objects): copied with one memcpy. */
export const SHARED = {
  ok: Buffer.from('+OK\r\n'),
  pong: Buffer.from('+PONG\r\n'),
  zero: Buffer.from(':0\r\n'),
  one: Buffer.from(':1\r\n'),
  nullBulk2: Buffer.from('$-1\r\n'),
  nullArray2: Buffer.from('*-1\r\n'),
  null3: Buffer.from('_\r\n'),
  true3: Buffer.from('#t\r\n'),
  false3: Buffer.from('#f\r\n'),
  emptyArray: Buffer.from('*0\r\n'),
};

const SHARED_INTS: Buffer[] = [];
for (let i = 0; i <= SHARED_INTEGERS_MAX; i++) SHARED_INTS.push(Buffer.from(`:${i}\r\n`));

/**
 * Redis 7.0 double text ("%.17g", both RESP2 bulk and RESP3 ','): 17 significant digits,
 * exponent form when the rounded exponent is < -4 or >= 17, trailing zeros dropped.
 */
export function formatDouble(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  // toExponential rounds first, so the exponent is the one %g decides with (9.99..97e16 -> 1e+17).
  const [m, e] = x.toExponential(16).split('e') as [string, string];
  const en = Number(e);
  const sign = m.startsWith('-') ? '-' : '';
  const digits = m.replace('-', '').replace('.', '');
  const trim = (s: string): string => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (en < -4 || en >= 17) {
    return `${sign}${trim(`${digits[0]}.${digits.slice(1)}`)}e${en < 0 ? '-' : '+'}${String(Math.abs(en)).padStart(2, '0')}`;
  }
  const fixed = en >= 0 ? `${digits.slice(0, en + 1)}.${digits.slice(en + 1)}` : `0.${'0'.repeat(-en - 1)}${digits}`;
  return sign + trim(fixed);
}

export class RespEncoder implements ReplyWriter {
  protocol: ProtocolVersion = 2;
  /** Error replies written so far (the dispatcher diffs it to count failed calls). */
  errors = 0;
  /** The text of the last error reply (INFO errorstats reads its first word). */
  lastError = '';
  private chunk: Buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  private start = 0; // first byte not yet taken
  private pos = 0; // next write position

  setProtocol(p: ProtocolVersion): void {
    this.protocol = p;
  }

  /** Bytes encoded and not yet taken. */
  get pendingBytes(): number {
    return this.pos - this.start;
  }

  /**
   * Hand every pending reply to the caller as one Buffer (a view of the chunk: the chunk is
   * not written at or before `pos` again until the caller says, through rewind(), that nothing
   * holds the view any more, so the socket may keep it as long as its write takes).
   */
  take(): Buffer | null {
    if (this.pos === this.start) return null;
    const out = this.chunk.subarray(this.start, this.pos);
    this.start = this.pos;
    // A full chunk is replaced only when the next reply needs room (reserve): if the write
    // completes synchronously first, rewind() reuses it whole (a GET of a large value at -P 1
    // then allocates nothing).
    return out;
  }

  /**
   * The caller's socket let go of every view take() returned (the write completed synchronously:
   * Node keeps a reference only for a write that went asynchronous). With nothing pending, the
   * next replies go to the start of the same chunk: no fresh 64 KiB chunk per 64 KiB of replies,
   * and the bytes written stay in cache.
   */
  rewind(): void {
    if (this.pos === this.start) this.start = this.pos = 0;
  }

  /** Drop the pending replies after the first `keep` pending bytes (replies refused after the fact). */
  truncatePending(keep: number): void {
    if (keep < 0 || keep > this.pos - this.start) throw new RangeError(`truncatePending(${keep}) of ${this.pos - this.start} pending bytes`);
    this.pos = this.start + keep;
  }

  /** Discard pending output (the client is being disconnected). */
  discard(): void {
    this.start = this.pos;
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.chunk.length) return;
    const pending = this.pos - this.start;
    // Geometric growth in the pending bytes (amortised copies for long pipelines). A lone reply
    // of a chunk or more gets exactly its size: the socket may queue it for long (a slow reader)
    // and keeps its whole allocation alive, so room after it would be memory held for nothing.
    const size = pending === 0 && n >= CHUNK_BYTES ? n : pending + n + Math.min(pending, GROWTH_BYTES_MAX) + CHUNK_BYTES;
    const nb = Buffer.allocUnsafe(size);
    this.chunk.copy(nb, 0, this.start, this.pos);
    this.chunk = nb;
    this.start = 0;
    this.pos = pending;
  }

  raw(b: Buffer): void {
    this.reserve(b.length);
    // TypedArray#set is a V8 builtin: cheaper than Buffer#copy's C++ call for the tiny shared replies.
    this.chunk.set(b, this.pos);
    this.pos += b.length;
  }

  /** ASCII-only text (headers, simple strings, numbers). */
  private ascii(s: string): void {
    this.reserve(s.length);
    this.pos += this.chunk.write(s, this.pos, 'latin1');
  }

  simple(s: string): void {
    const n = s.length;
    if (n <= LATIN1_LOOP_CHARS_MAX) {
      // Short ASCII text (PONG, QUEUED, a status word): copied char by char, CR/LF checked on the way.
      this.reserve(n + 3);
      const c = this.chunk;
      let p = this.pos;
      c[p++] = 0x2b;
      let i = 0;
      for (; i < n; i++) {
        const ch = s.charCodeAt(i);
        if (ch >= 0x80) break;
        assert(ch !== 13 && ch !== 10, 'simple string with CR/LF');
        c[p++] = ch;
      }
      if (i === n) {
        c[p++] = 13;
        c[p++] = 10;
        this.pos = p;
        return;
      }
    }
    assert(!/[\r\n]/.test(s), 'simple string with CR/LF');
    this.reserve(Buffer.byteLength(s) + 3);
    this.chunk[this.pos++] = 0x2b;
    this.pos += this.chunk.write(s, this.pos, 'utf8');
    this.chunk[this.pos++] = 13;
    this.chunk[this.pos++] = 10;
  }

  ok(): void {
    this.raw(SHARED.ok);
  }

  pong(): void {
    this.raw(SHARED.pong);
  }

  error(msg: string): void {
    this.errors++;
    this.lastError = msg;
    // Errors must be one line: Redis replaces newlines in error text with spaces.
    const line = msg.replace(/[\r\n]+/g, ' ');
    this.reserve(Buffer.byteLength(line) + 3);
    this.chunk[this.pos++] = 0x2d;
    this.pos += this.chunk.write(line, this.pos, 'utf8');
    this.chunk[this.pos++] = 13;
    this.chunk[this.pos++] = 10;
  }

  integer(n: number | bigint): void {
    if (typeof n === 'number') {
      assert(Number.isInteger(n), 'integer reply must be an integer');
      if (n >= 0 && n <= SHARED_INTEGERS_MAX) return this.raw(SHARED_INTS[n] as Buffer);
    }
    this.ascii(`:${n}\r\n`);
  }

  bulk(b: Buffer | string): void {
    if (typeof b === 'string') {
      const len = Buffer.byteLength(b);
      this.reserve(len + HEADER_BYTES_MAX + 2);
      this.header(0x24 /* $ */, len);
      this.pos += this.chunk.write(b, this.pos, 'utf8');
    } else {
      this.reserve(b.length + HEADER_BYTES_MAX + 2);
      this.header(0x24 /* $ */, b.length);
      this.chunk.set(b, this.pos); // TypedArray#set: no native-call overhead for small values
      this.pos += b.length;
    }
    this.chunk[this.pos++] = 13;
    this.chunk[this.pos++] = 10;
  }

  /**
   * A bulk copied from another buffer's byte range, without a Buffer view of it: the GET hot
   * path (Store.readValueInto). A plain Uint8Array view for TypedArray#set is the cheapest copy
   * from 32 bytes up (docs/perf-notes.md, 'Reply encoding').
   */
  bulkRange(src: Buffer, off: number, len: number): void {
    assert(off >= 0 && len >= 0 && off + len <= src.length, 'bulkRange outside its source');
    this.reserve(len + HEADER_BYTES_MAX + 2);
    this.header(0x24 /* $ */, len);
    const c = this.chunk;
    let p = this.pos;
    if (len <= COPY_LOOP_BYTES_MAX) for (let i = 0; i < len; i++) c[p++] = src[off + i] as number;
    else {
      c.set(new Uint8Array(src.buffer, src.byteOffset + off, len), p);
      p += len;
    }
    c[p++] = 13;
    c[p++] = 10;
    this.pos = p;
  }

  bulkLatin1(s: string, off = 0, len = s.length): void {
    if (!(off >= 0 && len >= 0 && off + len <= s.length)) throw new RangeError('bulkLatin1 outside its source');
    const need = len + HEADER_BYTES_MAX + 2;
    if (this.pos + need > this.chunk.length) this.reserve(need);
    const c = this.chunk;
    let p = this.pos;
    // Members and fields are mostly short: their one- or two-digit header is written here, with
    // the bytes, into locals (a collection reply is a run of these calls; see docs/perf-notes.md).
    if (len < 100) {
      c[p++] = 0x24; /* $ */
      if (len < 10) c[p++] = 0x30 + len;
      else {
        const tens = (len / 10) | 0;
        c[p++] = 0x30 + tens;
        c[p++] = 0x30 + (len - 10 * tens);
      }
      c[p++] = 13;
      c[p++] = 10;
    } else {
      this.header(0x24 /* $ */, len);
      p = this.pos;
    }
    // Short members in a JS loop: cheaper than the native latin1 write's call overhead.
    if (len <= LATIN1_LOOP_CHARS_MAX) for (let i = off, end = off + len; i < end; i++) c[p++] = s.charCodeAt(i);
    else p += c.latin1Write(off === 0 && len === s.length ? s : s.slice(off, off + len), p, len);
    c[p++] = 13;
    c[p++] = 10;
    this.pos = p;
  }


  /**
   * `<type byte><decimal n>\r\n` written digit by digit: no template string per reply.
   * The caller reserved HEADER_BYTES_MAX bytes.
   */
  private header(type: number, n: number): void {
    const c = this.chunk;
    c[this.pos++] = type;
    if (n < 10 && n >= 0) {
      // Most member and field lengths: one digit, no division.
      c[this.pos++] = 0x30 + n;
      c[this.pos++] = 13;
      c[this.pos++] = 10;
      return;
    }
    assert(Number.isSafeInteger(n) && n >= 0, 'header length must be a non-negative safe integer');
    let digits = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
    let p = this.pos + digits;
    this.pos = p;
    let x = n;
    do {
      c[--p] = 0x30 + (x % 10);
      x = Math.floor(x / 10);
    } while (x > 0);
    c[this.pos++] = 13;
    c[this.pos++] = 10;
  }

  nullBulk(): void {
    this.raw(this.protocol === 3 ? SHARED.null3 : SHARED.nullBulk2);
  }

  nullArray(): void {
    this.raw(this.protocol === 3 ? SHARED.null3 : SHARED.nullArray2);
  }

  array(n: number): void {
    if (n === 0) return this.raw(SHARED.emptyArray);
    this.reserve(HEADER_BYTES_MAX);
    this.header(0x2a /* * */, n);
  }

  pushArray(n: number): void {
    if (this.protocol !== 3) return this.array(n);
    this.reserve(HEADER_BYTES_MAX);
    this.header(0x3e /* > */, n);
  }

  map(n: number): void {
    if (this.protocol !== 3) return this.array(2 * n);
    this.reserve(HEADER_BYTES_MAX);
    this.header(0x25 /* % */, n);
  }

  set(n: number): void {
    if (this.protocol !== 3) return this.array(n);
    this.reserve(HEADER_BYTES_MAX);
    this.header(0x7e /* ~ */, n);
  }

  double(x: number): void {
    if (this.protocol === 3) {
      this.ascii(`,${formatDouble(x)}${CRLF}`);
    } else {
      this.bulk(formatDouble(x));
    }
  }

  doubleText(text: string): void {
    if (this.protocol === 3) this.ascii(`,${text}${CRLF}`);
    else this.bulk(text);
  }

  verbatim(text: string): void {
    if (this.protocol === 3) {
      const len = Buffer.byteLength(text) + 4;
      this.reserve(len + 16 + 2);
      this.pos += this.chunk.write(`=${len}\r\ntxt:`, this.pos, 'latin1');
      this.pos += this.chunk.write(text, this.pos, 'utf8');
      this.chunk[this.pos++] = 13;
      this.chunk[this.pos++] = 10;
    } else {
      this.bulk(text);
    }
  }

  boolean(b: boolean): void {
    if (this.protocol === 3) this.raw(b ? SHARED.true3 : SHARED.false3);
    else this.raw(b ? SHARED_INTS[1] as Buffer : SHARED_INTS[0] as Buffer);
  }
}
