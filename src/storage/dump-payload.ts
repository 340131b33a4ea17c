// The DUMP / RESTORE payload: one value in Redis's RDB object format (the RDB type byte, then the
// value's RDB encoding), the 2-byte RDB version and a CRC-64 (Jones) of everything before it, so
// payloads move between kv-ts and redis-server both ways. Owns that byte format, writing and
// reading; never touches the keyspace (RESTORE logs what it decodes as ordinary ops).
//
// Written: a string as RDB_TYPE_STRING, a hash as RDB_TYPE_HASH, a set as RDB_TYPE_SET, a sorted
// set as RDB_TYPE_ZSET_2 (binary scores, highest first), a list as RDB_TYPE_LIST (a count, then
// its elements head to tail: the plainest form, which Redis 7.0's loader still reads and packs
// into its own quicklist), every string plain or int-encoded (never LZF-compressed), RDB version
// 10 (Redis 7.0). Read: those, plus what redis-server 2.6 to 7.0 writes for these five types:
// LZF-compressed strings, intset sets, ziplist and listpack hashes and sorted sets, RDB_TYPE_ZSET's
// text scores, ziplist lists and quicklists (of ziplists, and of plain or listpack nodes). Every length is checked against the payload and
// every blob is validated whole before anything is built (Redis's sanitize-dump-payload yes).

import { HashObject } from './hash-object.js';
import { ListObject } from './list-object.js';
import { SetObject } from './set-object.js';
import { SortedSet } from './zset.js';
import { REDIS_ENCODING_LIMITS, TYPE_HASH, TYPE_LIST, TYPE_SET, TYPE_STRING, TYPE_ZSET, typeCode, type EncodingLimits, type KvCollection } from './collection.js';
import type { ReplicatedStore } from './api.js';
import { keptScore } from './collection-ops.js';
import { encodeCollection, type DecodedObject } from './object-codec.js';
import type { ExpireAtMs, Key, Op } from './types.js';

/** The RDB version payloads are written with and the newest one read (Redis 7.0's). */
export const DUMP_RDB_VERSION = 10;
/** [u16 version][u64 crc]. */
const FOOTER_BYTES = 10;
/** An LZF block expands at most ~88 times (3 input bytes for a 264-byte back reference); anything claiming more is corrupt. */
const LZF_EXPANSION_MAX = 100;
/** No decompressed string may exceed Redis's string limit (proto-max-bulk-len's default). */
const LZF_STRING_BYTES_MAX = 512 * 1024 * 1024;
/** Strings of at most this many bytes are written int-encoded when they spell an int32 (Redis's rule). */
const INT_ENCODING_BYTES_MAX = 11;

// RDB object types (rdb.h).
const RDB_STRING = 0;
const RDB_LIST = 1;
const RDB_SET = 2;
const RDB_ZSET = 3;
const RDB_HASH = 4;
const RDB_ZSET_2 = 5;
const RDB_MODULE = 6;
const RDB_MODULE_2 = 7;
const RDB_HASH_ZIPMAP = 9;
const RDB_LIST_ZIPLIST = 10;
const RDB_SET_INTSET = 11;
const RDB_ZSET_ZIPLIST = 12;
const RDB_HASH_ZIPLIST = 13;
const RDB_LIST_QUICKLIST = 14;
const RDB_STREAM_LISTPACKS = 15;
const RDB_HASH_LISTPACK = 16;
const RDB_ZSET_LISTPACK = 17;
const RDB_LIST_QUICKLIST_2 = 18;
const RDB_STREAM_LISTPACKS_2 = 19;
const UNSUPPORTED_TYPES: ReadonlyMap<number, string> = new Map([
  [RDB_MODULE, 'module'], [RDB_MODULE_2, 'module'], [RDB_STREAM_LISTPACKS, 'stream'], [RDB_STREAM_LISTPACKS_2, 'stream'],
  [RDB_HASH_ZIPMAP, 'zipmap hash'],
]);

// RDB length and string encodings: the top two bits of the first byte.
const LEN_6BIT = 0;
const LEN_14BIT = 1;
const LEN_32BIT = 0x80;
const LEN_64BIT = 0x81;
const ENC_INT8 = 0;
const ENC_INT16 = 1;
const ENC_INT32 = 2;
const ENC_LZF = 3;
// A RDB_TYPE_LIST_QUICKLIST_2 node's container (quicklist.h): one element as is, or a listpack.
const QUICKLIST_NODE_PLAIN = 1;
const QUICKLIST_NODE_PACKED = 2;

/** Why a payload was refused: RESTORE answers 'checksum' and 'format' with Redis's two errors. */
export type DumpRefusal =
  | { readonly reason: 'checksum' }
  | { readonly reason: 'format'; readonly detail: string }
  | { readonly reason: 'type'; readonly typeName: string };

// ---------------------------------------------------------------- CRC-64 (Jones, reflected, as Redis's crc64)

/** The reflected Jones polynomial, as two 32-bit halves per table entry. */
const CRC_TABLE_LO = new Uint32Array(256);
const CRC_TABLE_HI = new Uint32Array(256);
{
  const poly = 0x95ac9329ac4bc9b5n;
  for (let i = 0; i < 256; i++) {
    let c = BigInt(i);
    for (let k = 0; k < 8; k++) c = (c & 1n) === 1n ? (c >> 1n) ^ poly : c >> 1n;
    CRC_TABLE_LO[i] = Number(c & 0xffffffffn);
    CRC_TABLE_HI[i] = Number(c >> 32n);
  }
}

/** CRC-64/Jones of `buf[0, len)` as 8 little-endian bytes (Redis's crc64(0, p, len) as stored in a DUMP footer). */
export function crc64(buf: Buffer, len: number = buf.length): Buffer {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < len; i++) {
    const idx = (lo ^ (buf[i] as number)) & 0xff;
    lo = (((lo >>> 8) | (hi << 24)) ^ (CRC_TABLE_LO[idx] as number)) >>> 0;
    hi = ((hi >>> 8) ^ (CRC_TABLE_HI[idx] as number)) >>> 0;
  }
  const out = Buffer.allocUnsafe(8);
  out.writeUInt32LE(lo, 0);
  out.writeUInt32LE(hi, 4);
  return out;
}

// ---------------------------------------------------------------- writing

class Writer {
  private readonly parts: Buffer[] = [];
  size = 0;

  bytes(b: Buffer): void {
    this.parts.push(b);
    this.size += b.length;
  }

  byte(n: number): void {
    this.bytes(Buffer.of(n));
  }

  len(n: number): void {
    if (n < 1 << 6) return this.byte((LEN_6BIT << 6) | n);
    if (n < 1 << 14) return this.bytes(Buffer.of((LEN_14BIT << 6) | (n >> 8), n & 0xff));
    const b = Buffer.allocUnsafe(n <= 0xffffffff ? 5 : 9);
    b[0] = n <= 0xffffffff ? LEN_32BIT : LEN_64BIT;
    if (n <= 0xffffffff) b.writeUInt32BE(n, 1);
    else b.writeBigUInt64BE(BigInt(n), 1);
    this.bytes(b);
  }

  /** An RDB string: int-encoded when short and the canonical text of an int32 (as Redis writes it), else plain. */
  string(v: Buffer): void {
    const n = v.length <= INT_ENCODING_BYTES_MAX ? canonicalInt32(v) : null;
    if (n === null) {
      this.len(v.length);
      this.bytes(v);
    } else if (n >= -0x80 && n < 0x80) {
      const b = Buffer.of(0xc0 | ENC_INT8, 0);
      b.writeInt8(n, 1);
      this.bytes(b);
    } else if (n >= -0x8000 && n < 0x8000) {
      const b = Buffer.of(0xc0 | ENC_INT16, 0, 0);
      b.writeInt16LE(n, 1);
      this.bytes(b);
    } else {
      const b = Buffer.of(0xc0 | ENC_INT32, 0, 0, 0, 0);
      b.writeInt32LE(n, 1);
      this.bytes(b);
    }
  }

  key(k: Key): void {
    this.string(Buffer.from(k, 'latin1'));
  }

  /** The body followed by the version and the checksum of everything. */
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.size + FOOTER_BYTES);
    let p = 0;
    for (const b of this.parts) {
      out.set(b, p);
      p += b.length;
    }
    out.writeUInt16LE(DUMP_RDB_VERSION, p);
    crc64(out, p + 2).copy(out, p + 2);
    return out;
  }
}

/** The int32 a string spells in canonical form ("0", "-12", never "+1", "01" or "-0"), else null. */
function canonicalInt32(v: Buffer): number | null {
  const s = v.latin1Slice(0, v.length);
  if (!/^(0|-?[1-9][0-9]*)$/.test(s)) return null;
  const n = Number(s);
  return n >= -0x8000_0000 && n <= 0x7fff_ffff ? n : null;
}

/** DUMP of a string value. */
export function dumpString(value: Buffer): Buffer {
  const w = new Writer();
  w.byte(RDB_STRING);
  w.string(value);
  return w.finish();
}

/** DUMP of a collection of type `type` (TYPE_HASH, TYPE_SET, TYPE_ZSET or TYPE_LIST; its class must match). */
export function dumpCollection(type: number, obj: KvCollection): Buffer {
  const w = new Writer();
  if (type === TYPE_HASH && obj instanceof HashObject) {
    w.byte(RDB_HASH);
    w.len(obj.size);
    for (const [f, v] of obj.entries()) {
      w.key(f);
      w.string(v);
    }
  } else if (type === TYPE_SET && obj instanceof SetObject) {
    w.byte(RDB_SET);
    w.len(obj.size);
    for (const m of obj.members()) w.key(m);
  } else if (type === TYPE_ZSET && obj instanceof SortedSet) {
    // Highest score first, as Redis writes a skiplist (its loader then inserts at the head).
    w.byte(RDB_ZSET_2);
    w.len(obj.size);
    const entries = [...obj.entries()];
    for (let i = entries.length - 1; i >= 0; i--) {
      const [m, score] = entries[i] as [Key, number];
      w.key(m);
      const b = Buffer.allocUnsafe(8);
      b.writeDoubleLE(score, 0);
      w.bytes(b);
    }
  } else if (type === TYPE_LIST && obj instanceof ListObject) {
    w.byte(RDB_LIST);
    w.len(obj.size);
    for (const v of obj.values()) w.key(v);
  } else {
    throw new Error(`bug: a collection of type ${type} is not a ${obj.constructor.name}`);
  }
  return w.finish();
}

/** Why DUMP refuses a stream: kv-ts does not write Redis's RDB stream encoding (listpacks with delta ids, group PELs). */
export const ERR_DUMP_STREAM = 'ERR DUMP of a stream is not supported by kv-ts (no RDB stream encoding); COPY and RENAME move streams';

/** DUMP of a live key of any type, undefined when it is missing, null for a stream (ERR_DUMP_STREAM). */
export function dumpKey(store: Pick<ReplicatedStore, 'typeOf' | 'getValue' | 'getHash' | 'getSet' | 'getZSet' | 'getList'>, key: Key): Buffer | undefined | null {
  const type = store.typeOf(key);
  if (type === 'none') return undefined;
  if (type === 'stream') return null;
  if (type === 'string') return dumpString(store.getValue(key) as Buffer);
  return dumpCollection(typeCode(type), (store.getHash(key) ?? store.getSet(key) ?? store.getZSet(key) ?? store.getList(key)) as KvCollection);
}

/**
 * The op a RESTORE of `d` into `key` logs: 'set' for a string, else 'restore' with the encoding
 * left to the keyspace, which picks it from the contents as Redis's loader does.
 */
export function restoreOp(key: Key, d: DecodedObject, expireAtMs: ExpireAtMs): Op {
  // A sorted set keeps the encoding decodeDump chose (a listpack payload may stay small past the value limit).
  return 'value' in d ? { t: 'set', key, value: d.value, expireAtMs } : { t: 'restore', key, payload: encodeCollection(d.type, d.obj, d.obj instanceof SortedSet), expireAtMs };
}

// ---------------------------------------------------------------- reading

/** Thrown inside the reader only, and turned into a 'format' refusal at its boundary. */
class BadPayload extends Error {}

function bad(detail: string): never {
  throw new BadPayload(detail);
}

class Reader {
  constructor(private readonly buf: Buffer, private pos: number, private readonly end: number) {}

  get left(): number {
    return this.end - this.pos;
  }

  byte(): number {
    if (this.pos >= this.end) bad('payload ends early');
    return this.buf[this.pos++] as number;
  }

  take(n: number): Buffer {
    if (n > this.left) bad('a length runs past the payload');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** A plain RDB length (no special encoding). */
  len(): number {
    const first = this.byte();
    const kind = first >> 6;
    if (kind === LEN_6BIT) return first & 0x3f;
    if (kind === LEN_14BIT) return ((first & 0x3f) << 8) | this.byte();
    if (first === LEN_32BIT) return this.take(4).readUInt32BE(0);
    if (first === LEN_64BIT) {
      const n = this.take(8).readBigUInt64BE(0);
      if (n > BigInt(Number.MAX_SAFE_INTEGER)) bad('a 64-bit length is too large');
      return Number(n);
    }
    return bad(`byte ${first} is not a length`);
  }

  /** A count of elements, each taking at least `minBytes` of what is left. */
  count(minBytes: number): number {
    const n = this.len();
    if (n === 0) bad('an empty collection');
    if (n * minBytes > this.left) bad('more elements than the payload can hold');
    return n;
  }

  /** An RDB string (plain, int-encoded or LZF), as a fresh copy. */
  string(): Buffer {
    const first = this.byte();
    if (first >> 6 !== 3) {
      this.pos--;
      return Buffer.from(this.take(this.len()));
    }
    switch (first & 0x3f) {
      case ENC_INT8: return Buffer.from(String(this.take(1).readInt8(0)), 'latin1');
      case ENC_INT16: return Buffer.from(String(this.take(2).readInt16LE(0)), 'latin1');
      case ENC_INT32: return Buffer.from(String(this.take(4).readInt32LE(0)), 'latin1');
      case ENC_LZF: {
        const clen = this.len();
        const len = this.len();
        if (len > clen * LZF_EXPANSION_MAX || len > LZF_STRING_BYTES_MAX) bad('an LZF length beyond any expansion');
        return lzfDecompress(this.take(clen), len);
      }
      default: return bad(`unknown string encoding ${first & 0x3f}`);
    }
  }

  key(): Key {
    const b = this.string();
    return b.latin1Slice(0, b.length);
  }

  /** RDB_TYPE_ZSET's score: [u8 len][text], 253 = NaN, 254 = +inf, 255 = -inf. */
  textScore(): number {
    const n = this.byte();
    if (n === 253) bad('a NaN score');
    if (n === 254) return Infinity;
    if (n === 255) return -Infinity;
    return parseScore(this.take(n));
  }

  f64(): number {
    const v = this.take(8).readDoubleLE(0);
    if (Number.isNaN(v)) bad('a NaN score');
    return v;
  }
}

/** LZF block decompression to exactly `len` bytes (literal runs and back references). */
function lzfDecompress(src: Buffer, len: number): Buffer {
  const out = Buffer.allocUnsafe(len);
  let ip = 0;
  let op = 0;
  while (ip < src.length) {
    const ctrl = src[ip++] as number;
    if (ctrl < 32) {
      const run = ctrl + 1;
      if (ip + run > src.length || op + run > len) bad('an LZF literal runs past its block');
      src.copy(out, op, ip, ip + run);
      ip += run;
      op += run;
      continue;
    }
    let run = ctrl >> 5;
    if (run === 7) {
      if (ip >= src.length) bad('an LZF block ends early');
      run += src[ip++] as number;
    }
    if (ip >= src.length) bad('an LZF block ends early');
    const ref = op - ((ctrl & 0x1f) << 8) - (src[ip++] as number) - 1;
    run += 2;
    if (ref < 0 || op + run > len) bad('an LZF back reference out of range');
    // Byte by byte: a reference may overlap what it writes.
    for (let i = 0; i < run; i++) out[op + i] = out[ref + i] as number;
    op += run;
  }
  if (op !== len) bad('an LZF block of the wrong length');
  return out;
}

/** A score as text: what Redis writes (%.17g, "inf", "-inf", or an integer). */
function parseScore(b: Buffer): number {
  const s = b.latin1Slice(0, b.length).toLowerCase();
  if (s === 'inf' || s === '+inf' || s === 'infinity' || s === '+infinity') return Infinity;
  if (s === '-inf' || s === '-infinity') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(s)) bad('a score that is not a number');
  return Number(s);
}

/** One listpack/ziplist/intset element: bytes, or an integer. */
type Element = Buffer | bigint;

function elementBytes(e: Element): Buffer {
  return typeof e === 'bigint' ? Buffer.from(e.toString(), 'latin1') : e;
}

/** A listpack's elements: [u32 total bytes][u16 count] entries [0xff], each entry followed by its back length. */
function listpackElements(lp: Buffer): Element[] {
  if (lp.length < 7 || lp.readUInt32LE(0) !== lp.length || lp[lp.length - 1] !== 0xff) bad('a listpack header that does not match its size');
  const declared = lp.readUInt16LE(4);
  const out: Element[] = [];
  let p = 6;
  const need = (n: number): void => {
    if (p + n > lp.length - 1) bad('a listpack entry runs past its end');
  };
  while (p < lp.length - 1) {
    const start = p;
    const b = lp[p] as number;
    let e: Element;
    if ((b & 0x80) === 0) {
      e = BigInt(b & 0x7f);
      p += 1;
    } else if ((b & 0xc0) === 0x80) {
      const n = b & 0x3f;
      need(1 + n);
      e = lp.subarray(p + 1, p + 1 + n);
      p += 1 + n;
    } else if ((b & 0xe0) === 0xc0) {
      need(2);
      const u = ((b & 0x1f) << 8) | (lp[p + 1] as number);
      e = BigInt(u >= 1 << 12 ? u - (1 << 13) : u);
      p += 2;
    } else if ((b & 0xf0) === 0xe0) {
      need(2);
      const n = ((b & 0x0f) << 8) | (lp[p + 1] as number);
      need(2 + n);
      e = lp.subarray(p + 2, p + 2 + n);
      p += 2 + n;
    } else if (b === 0xf0) {
      need(5);
      const n = lp.readUInt32LE(p + 1);
      need(5 + n);
      e = lp.subarray(p + 5, p + 5 + n);
      p += 5 + n;
    } else {
      const width = b === 0xf1 ? 2 : b === 0xf2 ? 3 : b === 0xf3 ? 4 : b === 0xf4 ? 8 : 0;
      if (width === 0) bad(`listpack entry encoding ${b}`);
      need(1 + width);
      e = width === 8 ? lp.readBigInt64LE(p + 1) : BigInt(lp.readIntLE(p + 1, width));
      p += 1 + width;
    }
    const back = backLength(p - start);
    need(back.length);
    if (!lp.subarray(p, p + back.length).equals(back)) bad('a listpack entry with a wrong back length');
    p += back.length;
    out.push(e);
  }
  if (declared !== 0xffff && declared !== out.length) bad('a listpack count that does not match its entries');
  return out;
}

/** Entry sizes below these take 2, 3, 4 bytes of back length (Redis's thresholds: each one below a power of 128). */
const BACKLEN_BOUNDS = [127, 16383, 2097151, 268435455];

/** A listpack entry's back length: its size in 7-bit groups, most significant first, all but the first flagged. */
function backLength(n: number): Buffer {
  let bytes = BACKLEN_BOUNDS.findIndex((bound, i) => (i === 0 ? n <= bound : n < bound)) + 1;
  if (bytes === 0) bytes = 5;
  const out = Buffer.allocUnsafe(bytes);
  for (let i = bytes - 1; i >= 0; i--) {
    out[i] = (n & 0x7f) | (i === 0 ? 0 : 0x80);
    n = Math.floor(n / 128);
  }
  return out;
}

/** A ziplist's elements: [u32 bytes][u32 tail offset][u16 count] entries [0xff], each after its previous entry's length. */
function ziplistElements(zl: Buffer): Element[] {
  if (zl.length < 11 || zl.readUInt32LE(0) !== zl.length || zl[zl.length - 1] !== 0xff) bad('a ziplist header that does not match its size');
  const declared = zl.readUInt16LE(8);
  const out: Element[] = [];
  let p = 10;
  let prevLen = 0;
  let lastStart = 10;
  const need = (n: number): void => {
    if (p + n > zl.length - 1) bad('a ziplist entry runs past its end');
  };
  while (p < zl.length - 1) {
    const start = p;
    lastStart = start;
    need(1);
    let prev = zl[p] as number;
    if (prev === 0xfe) {
      need(5);
      prev = zl.readUInt32LE(p + 1);
      p += 5;
    } else if (prev === 0xff) bad('a ziplist entry with a bad previous length');
    else p += 1;
    if (prev !== prevLen) bad('a ziplist entry with a wrong previous length');
    need(1);
    const enc = zl[p] as number;
    let e: Element;
    if (enc >> 6 === 0 || enc >> 6 === 1 || enc === 0x80) {
      let n: number;
      if (enc >> 6 === 0) {
        n = enc & 0x3f;
        p += 1;
      } else if (enc >> 6 === 1) {
        need(2);
        n = ((enc & 0x3f) << 8) | (zl[p + 1] as number);
        p += 2;
      } else {
        need(5);
        n = zl.readUInt32BE(p + 1);
        p += 5;
      }
      need(n);
      e = zl.subarray(p, p + n);
      p += n;
    } else if (enc >= 0xf1 && enc <= 0xfd) {
      e = BigInt((enc & 0x0f) - 1);
      p += 1;
    } else {
      const width = enc === 0xfe ? 1 : enc === 0xc0 ? 2 : enc === 0xf0 ? 3 : enc === 0xd0 ? 4 : enc === 0xe0 ? 8 : 0;
      if (width === 0) bad(`ziplist entry encoding ${enc}`);
      need(1 + width);
      e = width === 8 ? zl.readBigInt64LE(p + 1) : BigInt(zl.readIntLE(p + 1, width));
      p += 1 + width;
    }
    prevLen = p - start;
    out.push(e);
  }
  if (out.length > 0 && zl.readUInt32LE(4) !== lastStart) bad('a ziplist tail offset that does not match');
  if (declared !== 0xffff && declared !== out.length) bad('a ziplist count that does not match its entries');
  return out;
}

/** An intset's members: [u32 width 2|4|8][u32 count] ascending little-endian integers. */
function intsetElements(is: Buffer): Element[] {
  if (is.length < 8) bad('an intset header runs past the blob');
  const width = is.readUInt32LE(0);
  const n = is.readUInt32LE(4);
  if ((width !== 2 && width !== 4 && width !== 8) || is.length !== 8 + width * n) bad('an intset of the wrong size');
  const out: Element[] = [];
  for (let i = 0; i < n; i++) {
    const at = 8 + i * width;
    const v = width === 8 ? is.readBigInt64LE(at) : BigInt(is.readIntLE(at, width));
    if (out.length > 0 && v <= (out[out.length - 1] as bigint)) bad('an intset out of order');
    out.push(v);
  }
  return out;
}

function elementScore(e: Element): number {
  return typeof e === 'bigint' ? Number(e) : parseScore(e);
}

function buildHash(pairs: Element[], limits: Readonly<EncodingLimits>): HashObject {
  if (pairs.length === 0 || pairs.length % 2 !== 0) bad('a hash blob without whole field-value pairs');
  const h = new HashObject(limits);
  for (let i = 0; i < pairs.length; i += 2) {
    const f = elementBytes(pairs[i] as Element);
    if (!h.set(f.latin1Slice(0, f.length), Buffer.from(elementBytes(pairs[i + 1] as Element)))) bad('a duplicate hash field');
  }
  return h;
}

/** Redis reads a listpack's "-0" score back as 0: a restored sorted set small enough for one holds 0 there (keptScore). */
function withListpackZeros(z: SortedSet): SortedSet {
  if (z.encoding !== 'listpack') return z;
  for (const [m, score] of [...z.entries()]) {
    if (!Object.is(keptScore(score, true), score)) {
      z.delete(m);
      z.set(m, keptScore(score, true));
    }
  }
  return z;
}

function buildZSet(pairs: Element[], limits: Readonly<EncodingLimits>): SortedSet {
  if (pairs.length === 0 || pairs.length % 2 !== 0) bad('a sorted-set blob without whole member-score pairs');
  const z = new SortedSet(limits);
  // Redis keeps a listpack payload small unless it has too many entries (not for long members).
  z.loadingListpack = true;
  for (let i = 0; i < pairs.length; i += 2) {
    const m = elementBytes(pairs[i] as Element);
    const score = elementScore(pairs[i + 1] as Element);
    if (Number.isNaN(score)) bad('a NaN score');
    if (!z.set(m.latin1Slice(0, m.length), score)) bad('a duplicate sorted-set member');
  }
  z.loadingListpack = false;
  return withListpackZeros(z);
}

function buildSet(members: Element[], limits: Readonly<EncodingLimits>): SetObject {
  if (members.length === 0) bad('an empty set');
  const s = new SetObject(limits);
  for (const e of members) {
    const m = elementBytes(e);
    if (!s.add(m.latin1Slice(0, m.length))) bad('a duplicate set member');
  }
  return s;
}

/** A list of elements read in order (each copied: never a view of the payload); refuses an empty one. */
function buildList(parts: Iterable<readonly Element[]>): ListObject {
  const l = new ListObject();
  for (const elements of parts) {
    for (const e of elements) {
      const b = elementBytes(e);
      l.pushTail(b.latin1Slice(0, b.length));
    }
  }
  if (l.size === 0) bad('an empty list');
  return l;
}

/**
 * RDB_TYPE_LIST_QUICKLIST's nodes (ziplists) or RDB_TYPE_LIST_QUICKLIST_2's ([container] then a
 * listpack, or one plain element), each node's string possibly LZF-compressed. An empty node is
 * skipped, as Redis's loader does; a list left empty is refused in buildList.
 */
function* quicklistNodes(r: Reader, v2: boolean): IterableIterator<readonly Element[]> {
  const n = r.count(v2 ? 2 : 1);
  for (let i = 0; i < n; i++) {
    const container = v2 ? r.len() : QUICKLIST_NODE_PACKED;
    if (container !== QUICKLIST_NODE_PLAIN && container !== QUICKLIST_NODE_PACKED) bad(`quicklist node container ${container}`);
    const blob = r.string();
    if (container === QUICKLIST_NODE_PLAIN) yield [blob];
    else yield v2 ? listpackElements(blob) : ziplistElements(blob);
  }
}

/** The value after the type byte, by RDB type. */
function readObject(r: Reader, rdbType: number, limits: Readonly<EncodingLimits>): DecodedObject {
  switch (rdbType) {
    case RDB_STRING: return { type: TYPE_STRING, value: r.string() };
    case RDB_SET: {
      const n = r.count(1);
      const s = new SetObject(limits);
      for (let i = 0; i < n; i++) if (!s.add(r.key())) bad('a duplicate set member');
      return { type: TYPE_SET, obj: s };
    }
    case RDB_HASH: {
      const n = r.count(2);
      const h = new HashObject(limits);
      for (let i = 0; i < n; i++) if (!h.set(r.key(), r.string())) bad('a duplicate hash field');
      return { type: TYPE_HASH, obj: h };
    }
    case RDB_ZSET:
    case RDB_ZSET_2: {
      const n = r.count(rdbType === RDB_ZSET ? 2 : 9);
      const z = new SortedSet(limits);
      for (let i = 0; i < n; i++) {
        const m = r.key();
        if (!z.set(m, rdbType === RDB_ZSET ? r.textScore() : r.f64())) bad('a duplicate sorted-set member');
      }
      return { type: TYPE_ZSET, obj: withListpackZeros(z) };
    }
    case RDB_SET_INTSET: return { type: TYPE_SET, obj: buildSet(intsetElements(r.string()), limits) };
    case RDB_HASH_ZIPLIST: return { type: TYPE_HASH, obj: buildHash(ziplistElements(r.string()), limits) };
    case RDB_HASH_LISTPACK: return { type: TYPE_HASH, obj: buildHash(listpackElements(r.string()), limits) };
    case RDB_ZSET_ZIPLIST: return { type: TYPE_ZSET, obj: buildZSet(ziplistElements(r.string()), limits) };
    case RDB_ZSET_LISTPACK: return { type: TYPE_ZSET, obj: buildZSet(listpackElements(r.string()), limits) };
    case RDB_LIST: {
      const n = r.count(1);
      const l = new ListObject();
      for (let i = 0; i < n; i++) l.pushTail(r.key());
      return { type: TYPE_LIST, obj: l };
    }
    case RDB_LIST_ZIPLIST: return { type: TYPE_LIST, obj: buildList([ziplistElements(r.string())]) };
    case RDB_LIST_QUICKLIST: return { type: TYPE_LIST, obj: buildList(quicklistNodes(r, false)) };
    case RDB_LIST_QUICKLIST_2: return { type: TYPE_LIST, obj: buildList(quicklistNodes(r, true)) };
    default: return bad(`unknown RDB type ${rdbType}`);
  }
}

/**
 * Decode a DUMP payload: the value (a fresh copy, never a view of `payload`), or why not.
 * Like Redis, bytes between the value and the footer are ignored (the checksum covers them).
 */
export function decodeDump(payload: Buffer, limits: Readonly<EncodingLimits> = REDIS_ENCODING_LIMITS): DecodedObject | DumpRefusal {
  const body = payload.length - FOOTER_BYTES;
  if (body < 0 || payload.readUInt16LE(body) > DUMP_RDB_VERSION) return { reason: 'checksum' };
  if (!crc64(payload, body + 2).equals(payload.subarray(body + 2))) return { reason: 'checksum' };
  const r = new Reader(payload, 0, body);
  try {
    const rdbType = r.byte();
    const unsupported = UNSUPPORTED_TYPES.get(rdbType);
    if (unsupported !== undefined) return { reason: 'type', typeName: unsupported };
    return readObject(r, rdbType, limits);
  } catch (e) {
    if (e instanceof BadPayload) return { reason: 'format', detail: e.message };
    throw e;
  }
}

/** Whether decodeDump refused the payload. */
export function isRefusal(d: DecodedObject | DumpRefusal): d is DumpRefusal {
  return 'reason' in d;
}
