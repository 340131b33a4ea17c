// Argument parsing shared by the command handlers: Redis's exact integer rules (string2ll,
// strtoul for cursors), option-word matching, and Redis's exact error strings.
// Pure functions of their input; never touches the store, the clock or a reply writer.

import { INT64_MAX, INT64_MIN, parseInt64 } from '../../storage/int64.js';

export { INT64_MAX, INT64_MIN, parseInt64 };
/** strtoul's ULONG_MAX on 64-bit Linux (SCAN cursors). */
export const UINT64_MAX = 18446744073709551615n;
/** Redis proto-max-bulk-len default: the largest string APPEND/SETRANGE may build, in bytes. */
export const STRING_BYTES_MAX = 512 * 1024 * 1024;

export const ERR_SYNTAX = 'ERR syntax error';
export const ERR_NOT_INTEGER = 'ERR value is not an integer or out of range';
export const ERR_NOT_FLOAT = 'ERR value is not a valid float';
export const ERR_WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';
export const ERR_NO_SUCH_KEY = 'ERR no such key';
export const ERR_INCR_OVERFLOW = 'ERR increment or decrement would overflow';
export const ERR_DECR_OVERFLOW = 'ERR decrement would overflow';
export const ERR_FLOAT_NAN_INF = 'ERR increment would produce NaN or Infinity';
export const ERR_OFFSET_RANGE = 'ERR offset is out of range';
export const ERR_STRING_TOO_LONG = 'ERR string exceeds maximum allowed size (proto-max-bulk-len)';
export const ERR_INVALID_CURSOR = 'ERR invalid cursor';
/** Redis getRangeLongFromObjectOrReply for a C int (an integer, but outside int32). */
export const ERR_INT32_RANGE = 'ERR value is out of range, value must between -2147483648 and 2147483647';

/** Redis addReplyErrorArity: the command name as Redis's table spells it (lower-case). */
export function errArity(name: string): string {
  return `ERR wrong number of arguments for '${name}' command`;
}

/** Redis addReplyErrorExpireTime. */
export function errInvalidExpire(name: string): string {
  return `ERR invalid expire time in '${name}' command`;
}

/** Redis's "unknown subcommand" reply; `sub` is echoed as sent (Redis truncates to 128 bytes). */
export function errUnknownSubcommand(sub: Buffer, command: string): string {
  const shown = cString(sub).slice(0, 128);
  return `ERR unknown subcommand or wrong number of arguments for '${shown}'. Try ${command} HELP.`;
}

/** Redis 7.0's reply to an unknown subcommand of a command with a subcommand table (OBJECT, MEMORY). */
export function errUnknownContainerSubcommand(sub: Buffer, command: string): string {
  return `ERR unknown subcommand '${cString(sub).slice(0, 128)}'. Try ${command} HELP.`;
}

/**
 * The argument as C code sees it (`char *` up to the first NUL byte), latin1. Redis compares
 * option words with strcasecmp, so "NX\0junk" is NX there; we keep that behaviour.
 */
export function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString('latin1', 0, nul === -1 ? b.length : nul);
}

/** Case-insensitive match of an option word (`lower` must be lower-case ASCII), C-string semantics. */
export function isWord(b: Buffer, lower: string): boolean {
  // Fast path avoids allocating for the common case: same length, no NUL.
  if (b.length === lower.length) {
    for (let i = 0; i < b.length; i++) {
      const c = b[i] as number;
      const l = c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
      if (l !== lower.charCodeAt(i)) return false;
    }
    return true;
  }
  return b.length > lower.length && b[lower.length] === 0 && isWord(b.subarray(0, lower.length), lower);
}


/** Redis getIntFromObjectOrReply: parseInt64 within C int range (DB indexes), or null. */
export function parseInt32(b: Buffer): number | null {
  const v = parseInt64(b);
  return v === null || v > 2147483647n || v < -2147483648n ? null : Number(v);
}

/** Text this short (at most 15 digits) is always within ±2^53: parseSmallInt reads it exactly. */
export const SMALL_INT_BYTES_MAX = 15;

/** parseInt64's rules (string2ll) for text of at most SMALL_INT_BYTES_MAX bytes, as a number (exact: below 10^15). */
export function parseSmallInt(b: Buffer): number | null {
  const n = b.length;
  if (n === 0) return null;
  const negative = b[0] === 0x2d;
  let i = negative ? 1 : 0;
  if (i === n) return null;
  const first = b[i] as number;
  if (first === 0x30) return n === 1 ? 0 : null; // "0" alone; no leading zeros, no "-0"
  if (first < 0x31 || first > 0x39) return null;
  let v = 0;
  for (; i < n; i++) {
    const c = b[i] as number;
    if (c < 0x30 || c > 0x39) return null;
    v = v * 10 + (c - 0x30);
  }
  return negative ? -v : v;
}

/**
 * parseInt64 narrowed to a JS number, for arguments whose meaningful range is small
 * (counts, offsets). Values beyond ±2^53 are clamped to ±2^53, which callers treat as "huge":
 * every such bound in the store is far smaller, so the clamped value behaves identically.
 */
export function parseIntClamped(b: Buffer): number | null {
  // Up to 15 digits is exact in a double: the common case (indexes, counts) without a BigInt.
  if (b.length <= SMALL_INT_BYTES_MAX) return parseSmallInt(b);
  const v = parseInt64(b);
  if (v === null) return null;
  const lim = BigInt(Number.MAX_SAFE_INTEGER);
  return Number(v > lim ? lim : v < -lim ? -lim : v);
}

const ASCII_SPACES = new Set([0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]);

/** C isspace() for the "C" locale. */
export function isCSpace(c: number | undefined): boolean {
  return c !== undefined && ASCII_SPACES.has(c);
}

/**
 * Redis parseScanCursorOrReply: strtoul(base 10) must consume the whole C string, no
 * leading space, no ERANGE. strtoul accepts '+', leading zeros and '-' (which wraps: "-1"
 * is ULONG_MAX). Returns the cursor as an unsigned decimal string, or null when invalid.
 */
export function parseScanCursor(b: Buffer): string | null {
  const s = cString(b);
  // strtoul("") converts nothing and leaves eptr on the NUL, so Redis accepts "" as cursor 0.
  if (s.length === 0) return '0';
  if (isCSpace(s.charCodeAt(0))) return null;
  const m = /^([+-]?)([0-9]+)$/.exec(s);
  if (m === null) return null;
  const mag = BigInt(m[2] as string);
  if (mag > UINT64_MAX) return null;
  const v = m[1] === '-' && mag !== 0n ? UINT64_MAX + 1n - mag : mag;
  return v.toString();
}
