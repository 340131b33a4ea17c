// Client-side RESP2/RESP3 wire helpers shared by kv-bench and kv-cli: command encoding,
// a reply framer that allocates nothing (the bench hot loop) and a typed decoder (the CLI).
// Owns bytes only: never touches a socket, never throws on bad input (returns a status).
// Kept apart from the server's parser (src/protocol/parser.ts), which parses requests, not replies.

import assert from 'node:assert';

/** Redis's proto-max-bulk-len default; a longer length on the wire is malformed. */
export const BULK_BYTES_MAX = 512 * 1024 * 1024;
/** Aggregate element count bound (Redis's multibulk limit is 2^31-1 elements). */
export const AGGREGATE_ELEMENTS_MAX = 2 ** 31 - 1;
/** Nesting bound for the typed decoder (recursion depth); replies nest a few levels at most. */
export const DECODE_DEPTH_MAX = 64;

/** Framing results that are not an offset. */
export const INCOMPLETE = -1;
export const MALFORMED = -2;

const CR = 13;
const LF = 10;

/** Encode one command as a RESP array of bulk strings (binary-safe). */
export function encodeCommand(args: readonly (string | Buffer)[]): Buffer {
  assert(args.length > 0, 'a command has at least a name');
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`, 'latin1')];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a, 'utf8') : a;
    parts.push(Buffer.from(`$${b.length}\r\n`, 'latin1'), b, Buffer.from('\r\n', 'latin1'));
  }
  return Buffer.concat(parts);
}

/**
 * Parse a signed decimal integer in buf[from, to). Returns NaN when it is not one.
 * Hand-written because the bench calls it for every reply and Number(string) allocates.
 */
function parseIntAt(buf: Buffer, from: number, to: number): number {
  if (from >= to) return NaN;
  let i = from;
  let neg = false;
  if (buf[i] === 45 /* - */) {
    neg = true;
    i++;
    if (i === to) return NaN;
  }
  let n = 0;
  for (; i < to; i++) {
    const c = buf[i] as number;
    if (c < 48 || c > 57) return NaN;
    n = n * 10 + (c - 48);
    if (n > Number.MAX_SAFE_INTEGER) return NaN;
  }
  return neg ? -n : n;
}

/** Offset of the CR of the CRLF ending the line that starts at `from`, INCOMPLETE or MALFORMED. */
function lineEnd(buf: Buffer, from: number): number {
  const cr = buf.indexOf(CR, from);
  if (cr < 0 || cr + 1 >= buf.length) return INCOMPLETE;
  return buf[cr + 1] === LF ? cr : MALFORMED;
}

/**
 * Frame one complete reply starting at `start`. Returns the offset just past it, INCOMPLETE when
 * more bytes are needed, or MALFORMED. The reply's type is buf[start]. Iterative (a counter of
 * replies still owed) so that deep or long aggregates cost no stack and no allocation.
 */
export function scanReply(buf: Buffer, start: number): number {
  let pos = start;
  let owed = 1;
  while (owed > 0) {
    if (pos >= buf.length) return INCOMPLETE;
    const type = buf[pos] as number;
    const eol = lineEnd(buf, pos + 1);
    if (eol < 0) return eol;
    owed--;
    switch (type) {
      case 43: // + simple
      case 45: // - error
      case 58: // : integer
      case 95: // _ null
      case 44: // , double
      case 35: // # boolean
      case 40: // ( big number
        pos = eol + 2;
        break;
      case 36: // $ bulk
      case 33: // ! blob error
      case 61: {
        // = verbatim
        const len = parseIntAt(buf, pos + 1, eol);
        if (Number.isNaN(len) || len < -1 || len > BULK_BYTES_MAX) return MALFORMED;
        if (len === -1) {
          pos = eol + 2;
          break;
        }
        const end = eol + 2 + len;
        if (end + 2 > buf.length) return INCOMPLETE;
        if (buf[end] !== CR || buf[end + 1] !== LF) return MALFORMED;
        pos = end + 2;
        break;
      }
      case 42: // * array
      case 126: // ~ set
      case 62: // > push
      case 37: // % map
      case 124: {
        // | attribute (its pairs, then the reply it annotates)
        const n = parseIntAt(buf, pos + 1, eol);
        if (Number.isNaN(n) || n < -1 || n > AGGREGATE_ELEMENTS_MAX) return MALFORMED;
        pos = eol + 2;
        if (n <= 0) break;
        owed += type === 37 ? 2 * n : type === 124 ? 2 * n + 1 : n;
        break;
      }
      default:
        return MALFORMED;
    }
  }
  return pos;
}

/**
 * The first word of an error reply that starts at `start` ("-ERR x" -> "ERR"), for classifying
 * errors by kind. Only called for error replies, which are rare on the hot path.
 */
export function errorKind(buf: Buffer, start: number): string {
  const t = buf[start];
  assert(t === 45 || t === 33, 'errorKind called on a non-error reply');
  let from = start + 1;
  if (t === 33) from = buf.indexOf(LF, start) + 1; // blob error: the text follows its length line
  const eol = buf.indexOf(CR, from);
  let end = from;
  while (end < eol && buf[end] !== 32) end++;
  return buf.toString('latin1', from, end);
}

/** A decoded reply; null bulk and null array are one `null` (redis-cli prints them alike). */
export type Reply =
  | { readonly type: 'simple'; readonly value: Buffer }
  | { readonly type: 'error'; readonly message: string }
  | { readonly type: 'integer'; readonly value: bigint }
  | { readonly type: 'bulk'; readonly value: Buffer }
  | { readonly type: 'null' }
  | { readonly type: 'double'; readonly text: string }
  | { readonly type: 'boolean'; readonly value: boolean }
  | { readonly type: 'bignum'; readonly text: string }
  | { readonly type: 'verbatim'; readonly format: string; readonly value: Buffer }
  | { readonly type: 'array' | 'set' | 'push'; readonly items: readonly Reply[] }
  /** Map entries flattened: key, value, key, value ... */
  | { readonly type: 'map'; readonly items: readonly Reply[] };

export type DecodeResult = { readonly reply: Reply; readonly end: number } | typeof INCOMPLETE | typeof MALFORMED;

/**
 * Decode one reply starting at `start`. Callers with partial input should scanReply first and
 * decode only complete replies, so a large reply arriving in many chunks is decoded once.
 */
export function decodeReply(buf: Buffer, start: number, depth = 0): DecodeResult {
  if (depth > DECODE_DEPTH_MAX) return MALFORMED;
  if (start >= buf.length) return INCOMPLETE;
  const type = buf[start] as number;
  const eol = lineEnd(buf, start + 1);
  if (eol < 0) return eol === INCOMPLETE ? INCOMPLETE : MALFORMED;
  const line = (): string => buf.toString('utf8', start + 1, eol);
  const next = eol + 2;
  switch (type) {
    case 43:
      return { reply: { type: 'simple', value: buf.subarray(start + 1, eol) }, end: next };
    case 45:
      return { reply: { type: 'error', message: line() }, end: next };
    case 58: {
      const text = line();
      if (!/^-?\d+$/.test(text)) return MALFORMED;
      return { reply: { type: 'integer', value: BigInt(text) }, end: next };
    }
    case 95:
      return { reply: { type: 'null' }, end: next };
    case 44:
      return { reply: { type: 'double', text: line() }, end: next };
    case 35:
      return { reply: { type: 'boolean', value: buf[start + 1] === 116 /* t */ }, end: next };
    case 40:
      return { reply: { type: 'bignum', text: line() }, end: next };
    case 36:
    case 33:
    case 61:
      return decodeBlob(buf, type, start, eol);
    case 42:
    case 126:
    case 62:
    case 37:
    case 124:
      return decodeAggregate(buf, type, start, eol, depth);
    default:
      return MALFORMED;
  }
}

function decodeBlob(buf: Buffer, type: number, start: number, eol: number): DecodeResult {
  const len = parseIntAt(buf, start + 1, eol);
  if (Number.isNaN(len) || len < -1 || len > BULK_BYTES_MAX) return MALFORMED;
  if (len === -1) return { reply: { type: 'null' }, end: eol + 2 };
  const from = eol + 2;
  const end = from + len;
  if (end + 2 > buf.length) return INCOMPLETE;
  if (buf[end] !== CR || buf[end + 1] !== LF) return MALFORMED;
  // Copy: the connection's buffer is reused, a reply handed to the caller must not alias it.
  const body = Buffer.from(buf.subarray(from, end));
  if (type === 33) return { reply: { type: 'error', message: body.toString('utf8') }, end: end + 2 };
  if (type === 61) {
    // Verbatim: "txt:" then the text; redis-cli prints the text without the format prefix.
    if (len < 4 || body[3] !== 58) return MALFORMED;
    return { reply: { type: 'verbatim', format: body.toString('latin1', 0, 3), value: body.subarray(4) }, end: end + 2 };
  }
  return { reply: { type: 'bulk', value: body }, end: end + 2 };
}

function decodeAggregate(buf: Buffer, type: number, start: number, eol: number, depth: number): DecodeResult {
  const n = parseIntAt(buf, start + 1, eol);
  if (Number.isNaN(n) || n < -1 || n > AGGREGATE_ELEMENTS_MAX) return MALFORMED;
  if (n === -1) return { reply: { type: 'null' }, end: eol + 2 };
  const count = type === 37 || type === 124 ? 2 * n : n;
  const items: Reply[] = [];
  let pos = eol + 2;
  for (let i = 0; i < count; i++) {
    const r = decodeReply(buf, pos, depth + 1);
    if (typeof r === 'number') return r;
    items.push(r.reply);
    pos = r.end;
  }
  switch (type) {
    case 124: {
      // Attributes annotate the reply that follows; like redis-cli we show only that reply.
      const r = decodeReply(buf, pos, depth + 1);
      return r;
    }
    case 37:
      return { reply: { type: 'map', items }, end: pos };
    case 126:
      return { reply: { type: 'set', items }, end: pos };
    case 62:
      return { reply: { type: 'push', items }, end: pos };
    default:
      return { reply: { type: 'array', items }, end: pos };
  }
}
