// Stream entry ids (Redis's streamID: two unsigned 64-bit parts, ms and seq) as the storage and
// the commands hold them: a 16-char latin1 string, both parts big-endian, so comparing two ids
// is comparing two strings and an id is a Map key by value. Owns that form, its text form
// ("ms-seq") and Redis's id parsing rules; never touches a stream.

export type StreamId = string;

export const STREAM_ID_CHARS = 16;
export const UINT64_MAX_BIG = 0xffff_ffff_ffff_ffffn;
export const ID_MIN: StreamId = '\0'.repeat(STREAM_ID_CHARS);
export const ID_MAX: StreamId = '\xff'.repeat(STREAM_ID_CHARS);

const CHARS: string[] = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i));

function u64(n: bigint): string {
  let s = '';
  for (let shift = 56n; shift >= 0n; shift -= 8n) s += CHARS[Number((n >> shift) & 0xffn)] as string;
  return s;
}

export function makeId(ms: bigint, seq: bigint): StreamId {
  return u64(ms) + u64(seq);
}

function wordAt(id: StreamId, at: number): number {
  return ((id.charCodeAt(at) << 24) | (id.charCodeAt(at + 1) << 16) | (id.charCodeAt(at + 2) << 8) | id.charCodeAt(at + 3)) >>> 0;
}

function partText(id: StreamId, at: number): string {
  const hi = wordAt(id, at);
  const lo = wordAt(id, at + 4);
  if (hi < 0x20_0000) return String(hi * 0x1_0000_0000 + lo);
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}

function partBig(id: StreamId, at: number): bigint {
  return (BigInt(wordAt(id, at)) << 32n) | BigInt(wordAt(id, at + 4));
}

export function idMs(id: StreamId): bigint {
  return partBig(id, 0);
}

export function idSeq(id: StreamId): bigint {
  return partBig(id, 8);
}

/** Redis's "ms-seq" text. */
export function formatId(id: StreamId): string {
  return `${partText(id, 0)}-${partText(id, 8)}`;
}

/** Redis streamIncrID: the next id, or null past the last possible one. */
export function idIncr(id: StreamId): StreamId | null {
  if (id === ID_MAX) return null;
  const ms = idMs(id);
  const seq = idSeq(id);
  return seq === UINT64_MAX_BIG ? makeId(ms + 1n, 0n) : makeId(ms, seq + 1n);
}

/** Redis streamDecrID: the previous id, or null before 0-0. */
export function idDecr(id: StreamId): StreamId | null {
  if (id === ID_MIN) return null;
  const ms = idMs(id);
  const seq = idSeq(id);
  return seq === 0n ? makeId(ms - 1n, UINT64_MAX_BIG) : makeId(ms, seq - 1n);
}

/**
 * Redis string2ull: an int64 in string2ll's strict form (negative: invalid), else C's strtoull
 * (leading blanks, a sign, leading zeros; a '-' negates modulo 2^64), the whole text consumed.
 */
function parseU64(s: string): bigint | null {
  const strict = /^(0|-?[1-9][0-9]{0,19})$/.test(s) ? BigInt(s) : null;
  if (strict !== null && strict >= -(1n << 63n) && strict < 1n << 63n) return strict < 0n ? null : strict;
  const m = /^[ \t\n\v\f\r]*([+-]?)([0-9]+)$/.exec(s);
  if (m === null) return null;
  const v = BigInt(m[2] as string);
  if (v > UINT64_MAX_BIG) return null;
  return m[1] === '-' && v !== 0n ? (1n << 64n) - v : v;
}

export const ERR_INVALID_STREAM_ID = 'ERR Invalid stream ID specified as stream command argument';

/** A parsed id argument: `seqGiven` false for the `ms-*` form (XADD only). */
export interface ParsedId {
  readonly id: StreamId;
  readonly seqGiven: boolean;
}

/**
 * Redis streamGenericParseIDOrReply: "-" and "+" (unless strict), "ms" (seq = missingSeq),
 * "ms-seq", and with `allowSeqStar` "ms-*". Null when invalid (ERR_INVALID_STREAM_ID).
 */
export function parseStreamId(b: Buffer, missingSeq: bigint, strict: boolean, allowSeqStar = false): ParsedId | null {
  if (b.length > 127) return null;
  // C string semantics: the argument ends at its first NUL.
  const nul = b.indexOf(0);
  const s = b.toString('latin1', 0, nul === -1 ? b.length : nul);
  if (s === '-' || s === '+') {
    if (strict) return null;
    return { id: s === '-' ? ID_MIN : ID_MAX, seqGiven: true };
  }
  const dash = s.indexOf('-');
  const ms = parseU64(dash === -1 ? s : s.slice(0, dash));
  if (ms === null) return null;
  if (dash === -1) return { id: makeId(ms, missingSeq), seqGiven: true };
  const rest = s.slice(dash + 1);
  if (allowSeqStar && rest === '*') return { id: makeId(ms, 0n), seqGiven: false };
  const seq = parseU64(rest);
  return seq === null ? null : { id: makeId(ms, seq), seqGiven: true };
}

/**
 * The id XADD gives (Redis streamAppendItem): `given` null for '*' (the clock `nowMs`, or the last
 * id's next in the same millisecond), `ms-*` (seqGiven false) the next seq of that millisecond.
 * Null when it would not be above `last`.
 */
export function nextStreamId(last: StreamId, given: ParsedId | null, nowMs: number): StreamId | null {
  let id: StreamId | null;
  if (given === null) {
    const ms = BigInt(nowMs);
    id = ms > idMs(last) ? makeId(ms, 0n) : idIncr(last);
  } else if (given.seqGiven) id = given.id;
  else if (idMs(last) === idMs(given.id)) id = idSeq(last) === UINT64_MAX_BIG ? null : makeId(idMs(last), idSeq(last) + 1n);
  else id = given.id;
  return id !== null && id > last ? id : null;
}
