// WAL record codec: encodes one LogEntry as a length-prefixed, CRC32C-checked record and
// decodes/validates records from a byte buffer. Hand-written (no schema library) because
// this is the write hot path. Owns the byte format only; never touches files or memory state.
//
// Record = [u32 bodyLen][u32 crc32c(body)][body]
// body   = [u32 epoch][u32 seqHi][u32 seqLo][u32 opCount][op...]
// op     = set:      [u8 1][u32 keyLen][key][u32 valLen][value][f64 expireAtMs]
//          del:      [u8 2][u32 keyLen][key]
//          expire:   [u8 3][u32 keyLen][key][f64 expireAtMs]
//          flushall: [u8 4]
//          hset:     [u8 5][u32 keyLen][key][u32 fieldLen][field][u32 valLen][value]
//          hdel:     [u8 6][u32 keyLen][key][u32 fieldLen][field]
//          sadd:     [u8 7][u32 keyLen][key][u32 memberLen][member]      srem: tag 8, same shape
//          zadd:     [u8 9][u32 keyLen][key][u32 memberLen][member][f64 score]
//          zrem:     [u8 10][u32 keyLen][key][u32 memberLen][member]
//          restore:  [u8 11][u32 keyLen][key][u32 payloadLen][payload][f64 expireAtMs]  (payload: object-codec.ts)
//          lpush:    [u8 12][u32 keyLen][key][u32 count]([u32 valLen][value])*      rpush: tag 13, same shape
//          lpop:     [u8 14][u32 keyLen][key][f64 count]                           rpop: tag 15, same shape
//          lset:     [u8 16][u32 keyLen][key][f64 index][u32 valLen][value]        linsert: tag 17, same shape
//          lrem:     [u8 18][u32 keyLen][key][f64 count][u32 valLen][value]        (count signed)
//          acl:      [u8 19][u32 len][users]          (the whole user table; server/acl.ts owns its form)
//          members:  [u8 20][u32 len][config]         (a membership configuration, the entry's only op;
//                                                      replication/core/member-config.ts owns its form)
//          functions:[u8 21][u32 len][libraries]      (the whole function library table;
//                                                      server/scripting/functions.ts owns its form)
//          xstream:  [u8 22][u32 keyLen][key][u32 len][body]    (a stream command's effects;
//                                                      stream-effects.ts owns the body's form)
// All integers little-endian. The decoder requires the ops to consume exactly bodyLen bytes,
// so a record whose CRC happens to match but whose structure is wrong is still rejected; a
// 'members' op must also be its entry's only op and hold a configuration decodeMemberConfig reads.
// Decoding is one op walker used two ways: decodeRecord builds a LogEntry (replication), and
// checkRecord + replayRecordOps validate a whole record and then feed its ops as byte ranges to
// a sink (recovery's replay: no Op objects, no key strings).

import assert from 'node:assert';
import { crc32cRange } from './crc32c.js';
import { checkObject } from './object-codec.js';
import { checkEffects } from './stream-effects.js';
import type { LogEntry, Op } from './types.js';
import { decodeMemberConfig } from '../replication/core/member-config.js';

export const RECORD_HEADER_BYTES = 8;
const BODY_FIXED_BYTES = 16;
/** Largest value one op may carry (Redis's proto-max-bulk-len default). */
export const VALUE_BYTES_MAX = 512 * 1024 * 1024;
/** Largest record body; bounds what the decoder will believe a length field says. */
export const RECORD_BODY_BYTES_MAX = 1024 * 1024 * 1024 + 1024 * 1024;
/** Ops per entry; bounds the decoder's loop on a corrupt count. */
export const RECORD_OPS_MAX = 1_000_000;

const TAG_SET = 1;
const TAG_DEL = 2;
const TAG_EXPIRE = 3;
const TAG_FLUSHALL = 4;
const TAG_HSET = 5;
const TAG_HDEL = 6;
const TAG_SADD = 7;
const TAG_SREM = 8;
const TAG_ZADD = 9;
const TAG_ZREM = 10;
const TAG_RESTORE = 11;
const TAG_LPUSH = 12;
const TAG_RPUSH = 13;
const TAG_LPOP = 14;
const TAG_RPOP = 15;
const TAG_LSET = 16;
const TAG_LINSERT = 17;
const TAG_LREM = 18;
const TAG_ACL = 19;
const TAG_MEMBERS = 20;
const TAG_FUNCTIONS = 21;
const TAG_XSTREAM = 22;
/** The ops holding a whole table as [u32 len][bytes], by tag, named for errors. */
const TABLE_OPS: ReadonlyMap<number, string> = new Map([
  [TAG_ACL, 'acl users'],
  [TAG_MEMBERS, 'members config'],
  [TAG_FUNCTIONS, 'function libraries'],
]);
/** Elements one push op may carry; bounds the decoder's loop on a corrupt count. */
export const LIST_PUSH_VALUES_MAX = 1 << 24;
const SEQ_HI_FACTOR = 0x1_0000_0000;

/**
 * A seq stored as two u32 words (high, low). Below 2^32 it is `lo` itself: `hi * 2^32 + lo` is
 * a heap double even when hi is 0, and a double stored where positions held small integers
 * changes their hidden class, which deoptimizes the optimized code that had seen the old one
 * (docs/perf-notes.md, 'V8: hidden classes and deoptimization').
 */
export function seqFromWords(hi: number, lo: number): number {
  return hi === 0 ? lo : hi * SEQ_HI_FACTOR + lo;
}

export function opBytes(op: Op): number {
  switch (op.t) {
    case 'set':
      return 1 + 4 + op.key.length + 4 + op.value.length + 8;
    case 'del':
      return 1 + 4 + op.key.length;
    case 'expire':
      return 1 + 4 + op.key.length + 8;
    case 'flushall':
      return 1;
    case 'hset':
      return 1 + 4 + op.key.length + 4 + op.field.length + 4 + op.value.length;
    case 'hdel':
      return 1 + 4 + op.key.length + 4 + op.field.length;
    case 'sadd':
    case 'srem':
    case 'zrem':
      return 1 + 4 + op.key.length + 4 + op.member.length;
    case 'zadd':
      return 1 + 4 + op.key.length + 4 + op.member.length + 8;
    case 'restore':
      return 1 + 4 + op.key.length + 4 + op.payload.length + 8;
    case 'lpush':
    case 'rpush': {
      let n = 1 + 4 + op.key.length + 4;
      for (const v of op.values) n += 4 + v.length;
      return n;
    }
    case 'lpop':
    case 'rpop':
      return 1 + 4 + op.key.length + 8;
    case 'lset':
    case 'linsert':
    case 'lrem':
      return 1 + 4 + op.key.length + 8 + 4 + op.value.length;
    case 'acl':
      return 1 + 4 + op.users.length;
    case 'members':
      return 1 + 4 + op.config.length;
    case 'functions':
      return 1 + 4 + op.libraries.length;
    case 'xstream':
      return 1 + 4 + op.key.length + 4 + op.body.length;
    default: {
      const never: never = op;
      throw new Error(`unknown op ${JSON.stringify(never)}`);
    }
  }
}

/** Total encoded size of a record for these ops (header included). */
export function recordBytes(ops: readonly Op[]): number {
  let n = RECORD_HEADER_BYTES + BODY_FIXED_BYTES;
  for (const op of ops) n += opBytes(op);
  return n;
}

/**
 * Encode a record into `out` at `off` (the caller sized it with recordBytes) and return the
 * offset after it. Keys are latin1 strings (one char per byte), so key.length is its byte size.
 */
export function encodeRecordInto(out: Buffer, off: number, epoch: number, seq: number, ops: readonly Op[]): number {
  assert(Number.isSafeInteger(seq) && seq > 0, 'seq must be a positive safe integer');
  assert(Number.isInteger(epoch) && epoch > 0 && epoch <= 0xffff_ffff, 'epoch out of range');
  assert(ops.length <= RECORD_OPS_MAX, 'too many ops in one entry');
  // The append hot path (one call per write command): byte stores instead of writeUInt32LE,
  // a char loop for short keys, TypedArray#set for values and a JS CRC for small bodies
  // (see crc32c.ts), because the Buffer methods' checks cost more than the encode itself
  // (docs/perf-notes.md, 'WAL: record encode and CRC32C').
  const bodyStart = off + RECORD_HEADER_BYTES;
  let p = bodyStart;
  p = putU32(out, p, epoch);
  p = putU32(out, p, Math.floor(seq / SEQ_HI_FACTOR));
  p = putU32(out, p, seq % SEQ_HI_FACTOR);
  p = putU32(out, p, ops.length);
  for (const op of ops) {
    switch (op.t) {
      case 'set':
        assert(op.value.length <= VALUE_BYTES_MAX, 'value too large');
        out[p++] = TAG_SET;
        p = putKey(out, p, op.key);
        p = putU32(out, p, op.value.length);
        out.set(op.value, p);
        p += op.value.length;
        p = out.writeDoubleLE(op.expireAtMs, p);
        break;
      case 'del':
        out[p++] = TAG_DEL;
        p = putKey(out, p, op.key);
        break;
      case 'expire':
        out[p++] = TAG_EXPIRE;
        p = putKey(out, p, op.key);
        p = out.writeDoubleLE(op.expireAtMs, p);
        break;
      case 'flushall':
        out[p++] = TAG_FLUSHALL;
        break;
      case 'hset':
        assert(op.value.length <= VALUE_BYTES_MAX && op.field.length <= VALUE_BYTES_MAX, 'field or value too large');
        out[p++] = TAG_HSET;
        p = putKey(out, p, op.key);
        p = putKey(out, p, op.field);
        p = putU32(out, p, op.value.length);
        out.set(op.value, p);
        p += op.value.length;
        break;
      case 'hdel':
        out[p++] = TAG_HDEL;
        p = putKey(out, p, op.key);
        p = putKey(out, p, op.field);
        break;
      case 'sadd':
      case 'srem':
      case 'zrem':
        out[p++] = op.t === 'sadd' ? TAG_SADD : op.t === 'srem' ? TAG_SREM : TAG_ZREM;
        p = putKey(out, p, op.key);
        p = putKey(out, p, op.member);
        break;
      case 'zadd':
        assert(!Number.isNaN(op.score), 'a zadd score is never NaN');
        out[p++] = TAG_ZADD;
        p = putKey(out, p, op.key);
        p = putKey(out, p, op.member);
        p = out.writeDoubleLE(op.score, p);
        break;
      case 'restore':
        out[p++] = TAG_RESTORE;
        p = putKey(out, p, op.key);
        p = putU32(out, p, op.payload.length);
        out.set(op.payload, p);
        p += op.payload.length;
        p = out.writeDoubleLE(op.expireAtMs, p);
        break;
      case 'lpush':
      case 'rpush':
        assert(op.values.length <= LIST_PUSH_VALUES_MAX, 'too many values in one push');
        out[p++] = op.t === 'lpush' ? TAG_LPUSH : TAG_RPUSH;
        p = putKey(out, p, op.key);
        p = putU32(out, p, op.values.length);
        for (const v of op.values) {
          assert(v.length <= VALUE_BYTES_MAX, 'value too large');
          p = putU32(out, p, v.length);
          out.set(v, p);
          p += v.length;
        }
        break;
      case 'lpop':
      case 'rpop':
        assert(Number.isSafeInteger(op.count) && op.count >= 0, 'a pop count is a non-negative integer');
        out[p++] = op.t === 'lpop' ? TAG_LPOP : TAG_RPOP;
        p = putKey(out, p, op.key);
        p = out.writeDoubleLE(op.count, p);
        break;
      case 'lset':
      case 'linsert':
      case 'lrem': {
        const n = op.t === 'lrem' ? op.count : op.index;
        assert(Number.isSafeInteger(n) && (op.t === 'lrem' || n >= 0), 'a list index or count is an integer');
        assert(op.value.length <= VALUE_BYTES_MAX, 'value too large');
        out[p++] = op.t === 'lset' ? TAG_LSET : op.t === 'linsert' ? TAG_LINSERT : TAG_LREM;
        p = putKey(out, p, op.key);
        p = out.writeDoubleLE(n, p);
        p = putU32(out, p, op.value.length);
        out.set(op.value, p);
        p += op.value.length;
        break;
      }
      case 'acl':
        assert(op.users.length <= VALUE_BYTES_MAX, 'user table too large');
        p = putTable(out, p, TAG_ACL, op.users);
        break;
      case 'members':
        // The reader refuses anything else, so the writer never logs it.
        assert(ops.length === 1, 'a members op is its entry\'s only op');
        assert(decodeMemberConfig(op.config) !== null, 'a members op holds a membership configuration');
        p = putTable(out, p, TAG_MEMBERS, op.config);
        break;
      case 'functions':
        assert(op.libraries.length <= VALUE_BYTES_MAX, 'function table too large');
        p = putTable(out, p, TAG_FUNCTIONS, op.libraries);
        break;
      case 'xstream':
        assert(op.body.length <= VALUE_BYTES_MAX, 'stream effects too large');
        out[p++] = TAG_XSTREAM;
        p = putKey(out, p, op.key);
        p = putU32(out, p, op.body.length);
        out.set(op.body, p);
        p += op.body.length;
        break;
      default: {
        const never: never = op;
        throw new Error(`unknown op ${JSON.stringify(never)}`);
      }
    }
  }
  const bodyLen = p - bodyStart;
  assert(bodyLen <= RECORD_BODY_BYTES_MAX, 'record too large');
  putU32(out, off, bodyLen);
  putU32(out, off + 4, crc32cRange(out, bodyStart, p));
  return p;
}

/** Little-endian u32 at `p` (n is a non-negative integer < 2^32); returns p + 4. */
/** A whole-table op: [u8 tag][u32 len][bytes]; returns the offset after it. */
function putTable(out: Buffer, p: number, tag: number, bytes: Buffer): number {
  out[p++] = tag;
  p = putU32(out, p, bytes.length);
  out.set(bytes, p);
  return p + bytes.length;
}

function putU32(out: Buffer, p: number, n: number): number {
  out[p] = n & 0xff;
  out[p + 1] = (n >>> 8) & 0xff;
  out[p + 2] = (n >>> 16) & 0xff;
  out[p + 3] = (n >>> 24) & 0xff;
  return p + 4;
}

/** Keys no longer than this are copied char by char (cheaper than latin1Write's native call). */
const KEY_LOOP_CHARS_MAX = 32;

/** [u32 keyLen][key bytes]; a Key is latin1 (one char per byte). Returns the offset after it. */
function putKey(out: Buffer, p: number, key: string): number {
  const n = key.length;
  p = putU32(out, p, n);
  if (n <= KEY_LOOP_CHARS_MAX) for (let j = 0; j < n; j++) out[p + j] = key.charCodeAt(j);
  else out.latin1Write(key, p, n);
  return p + n;
}

export function encodeRecord(epoch: number, seq: number, ops: readonly Op[]): Buffer {
  const out = Buffer.allocUnsafe(recordBytes(ops));
  const end = encodeRecordInto(out, 0, epoch, seq, ops);
  assert.equal(end, out.length);
  return out;
}

/** Why a record could not be decoded. 'short' = the buffer ends inside the record. */
export type DecodeFailure = 'short' | 'crc' | 'format';

export type DecodeResult =
  | { readonly ok: true; readonly entry: LogEntry; readonly next: number }
  | { readonly ok: false; readonly why: DecodeFailure; readonly detail: string };

// Decode-side readers. The callers check bounds first, so these skip Buffer#readUInt32LE's
// argument validation, a large share of replay's record parsing ('WAL: record encode and CRC32C').
function getU32(b: Buffer, p: number): number {
  return ((b[p] as number) | ((b[p + 1] as number) << 8) | ((b[p + 2] as number) << 16)) + (b[p + 3] as number) * 0x100_0000;
}

const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);
// getF64 reinterprets the bytes in host order; the format is little-endian.
assert.equal(new Uint8Array(new Uint16Array([1]).buffer)[0], 1, 'kv-ts storage needs a little-endian host');

/** Little-endian f64 from 8 bytes at p. */
function getF64(b: Buffer, p: number): number {
  for (let i = 0; i < 8; i++) F64_BYTES[i] = b[p + i] as number;
  return F64[0] as number;
}

/** Receives the ops of a record as byte ranges of the record's buffer (no Op objects, no copies). */
export interface RecordOpSink {
  set(buf: Buffer, keyOff: number, keyLen: number, valOff: number, valLen: number, expireAtMs: number): void;
  del(buf: Buffer, keyOff: number, keyLen: number): void;
  expire(buf: Buffer, keyOff: number, keyLen: number, expireAtMs: number): void;
  flushall(): void;
  /** The user table `buf[off, +len)` (an 'acl' op). */
  acl(buf: Buffer, off: number, len: number): void;
  /** The encoded membership configuration `buf[off, +len)` (a 'members' op; decodeMemberConfig accepted it). */
  members(buf: Buffer, off: number, len: number): void;
  /** The function library table `buf[off, +len)` (a 'functions' op). */
  functions(buf: Buffer, off: number, len: number): void;
  hset(buf: Buffer, keyOff: number, keyLen: number, fieldOff: number, fieldLen: number, valOff: number, valLen: number): void;
  hdel(buf: Buffer, keyOff: number, keyLen: number, fieldOff: number, fieldLen: number): void;
  sadd(buf: Buffer, keyOff: number, keyLen: number, memberOff: number, memberLen: number): void;
  srem(buf: Buffer, keyOff: number, keyLen: number, memberOff: number, memberLen: number): void;
  zadd(buf: Buffer, keyOff: number, keyLen: number, memberOff: number, memberLen: number, score: number): void;
  zrem(buf: Buffer, keyOff: number, keyLen: number, memberOff: number, memberLen: number): void;
  /** `buf[payloadOff, +payloadLen)` passed checkObject. */
  restore(buf: Buffer, keyOff: number, keyLen: number, payloadOff: number, payloadLen: number, expireAtMs: number): void;
  /** `count` values laid out as ([u32 len][bytes])* from `valuesOff` (checked; readListValues walks them). */
  listPush(buf: Buffer, keyOff: number, keyLen: number, head: boolean, valuesOff: number, count: number): void;
  listPop(buf: Buffer, keyOff: number, keyLen: number, head: boolean, count: number): void;
  /** lset, linsert (n = index) and lrem (n = count). */
  listElement(t: 'lset' | 'linsert' | 'lrem', buf: Buffer, keyOff: number, keyLen: number, n: number, valOff: number, valLen: number): void;
  /** A stream command's effects `buf[bodyOff, +bodyLen)` (checkEffects accepted them). */
  xstream(buf: Buffer, keyOff: number, keyLen: number, bodyOff: number, bodyLen: number): void;
}

/** The values of a checked push op, as (offset, length) pairs passed to `each`. */
export function readListValues(buf: Buffer, off: number, count: number, each: (valOff: number, valLen: number) => void): void {
  for (let i = 0; i < count; i++) {
    const len = getU32(buf, off);
    each(off + 4, len);
    off += 4 + len;
  }
}

/** A record whose header, CRC and op structure were checked; its ops are not decoded yet. */
export interface CheckedRecord {
  readonly epoch: number;
  readonly seq: number;
  readonly opCount: number;
  readonly opsStart: number;
  /** Offset just past the record. */
  readonly next: number;
}

export type CheckResult =
  | ({ readonly ok: true } & CheckedRecord)
  | { readonly ok: false; readonly why: DecodeFailure; readonly detail: string };

/**
 * Validate the record at `off` (length, CRC, position, and the whole op structure) without
 * building anything: the allocation-free first half of decoding, used by recovery's replay.
 */
export function checkRecord(buf: Buffer, off: number): CheckResult {
  const fault = recordFault(buf, off);
  if (fault !== null) return fault;
  const body = off + RECORD_HEADER_BYTES;
  return { ok: true, epoch: recordEpochAt(buf, off), seq: recordSeqAt(buf, off), opCount: getU32(buf, body + 12), opsStart: body + BODY_FIXED_BYTES, next: recordEndAt(buf, off) };
}

/** checkRecord's verdict without the result object: null when the record at `off` is whole and valid. */
function recordFault(buf: Buffer, off: number): { readonly ok: false; readonly why: DecodeFailure; readonly detail: string } | null {
  if (buf.length - off < RECORD_HEADER_BYTES) return { ok: false, why: 'short', detail: 'truncated header' };
  const bodyLen = getU32(buf, off);
  if (bodyLen < BODY_FIXED_BYTES || bodyLen > RECORD_BODY_BYTES_MAX) {
    return { ok: false, why: 'format', detail: `implausible record length ${bodyLen}` };
  }
  const bodyStart = off + RECORD_HEADER_BYTES;
  const end = bodyStart + bodyLen;
  if (end > buf.length) return { ok: false, why: 'short', detail: `record of ${bodyLen} bytes runs past end of file` };
  const crc = getU32(buf, off + 4);
  if (crc32cRange(buf, bodyStart, end) !== crc) return { ok: false, why: 'crc', detail: 'checksum mismatch' };
  const epoch = getU32(buf, bodyStart);
  const seq = seqFromWords(getU32(buf, bodyStart + 4), getU32(buf, bodyStart + 8));
  const opCount = getU32(buf, bodyStart + 12);
  if (epoch === 0 || seq === 0 || !Number.isSafeInteger(seq)) return { ok: false, why: 'format', detail: `bad position ${epoch}:${seq}` };
  if (opCount > RECORD_OPS_MAX) return { ok: false, why: 'format', detail: `bad op count ${opCount}` };
  const err = walkOps(buf, bodyStart + BODY_FIXED_BYTES, end, opCount, null);
  if (err !== null) return { ok: false, why: 'format', detail: err };
  return null;
}

/** Feed the ops of a record that checkRecord accepted to `sink`, in order. */
export function replayRecordOps(buf: Buffer, rec: CheckedRecord, sink: RecordOpSink): void {
  const err = walkOps(buf, rec.opsStart, rec.next, rec.opCount, sink);
  assert.equal(err, null, 'a checked record must walk cleanly');
}

/**
 * Decode the record at `off`. Values in the returned ops are SLICES of `buf` (no copy):
 * callers that retain them must copy (the keyspace does).
 */
export function decodeRecord(buf: Buffer, off: number): DecodeResult {
  const c = checkRecord(buf, off);
  if (!c.ok) return c;
  const ops: Op[] = [];
  replayRecordOps(buf, c, {
    set: (b, ko, kl, vo, vl, expireAtMs) => ops.push({ t: 'set', key: b.latin1Slice(ko, ko + kl), value: b.subarray(vo, vo + vl), expireAtMs }),
    del: (b, ko, kl) => ops.push({ t: 'del', key: b.latin1Slice(ko, ko + kl) }),
    expire: (b, ko, kl, expireAtMs) => ops.push({ t: 'expire', key: b.latin1Slice(ko, ko + kl), expireAtMs }),
    flushall: () => ops.push({ t: 'flushall' }),
    acl: (b, o, l) => ops.push({ t: 'acl', users: b.subarray(o, o + l) }),
    members: (b, o, l) => ops.push({ t: 'members', config: b.subarray(o, o + l) }),
    functions: (b, o, l) => ops.push({ t: 'functions', libraries: b.subarray(o, o + l) }),
    hset: (b, ko, kl, fo, fl, vo, vl) => ops.push({ t: 'hset', key: b.latin1Slice(ko, ko + kl), field: b.latin1Slice(fo, fo + fl), value: b.subarray(vo, vo + vl) }),
    hdel: (b, ko, kl, fo, fl) => ops.push({ t: 'hdel', key: b.latin1Slice(ko, ko + kl), field: b.latin1Slice(fo, fo + fl) }),
    sadd: (b, ko, kl, mo, ml) => ops.push({ t: 'sadd', key: b.latin1Slice(ko, ko + kl), member: b.latin1Slice(mo, mo + ml) }),
    srem: (b, ko, kl, mo, ml) => ops.push({ t: 'srem', key: b.latin1Slice(ko, ko + kl), member: b.latin1Slice(mo, mo + ml) }),
    zadd: (b, ko, kl, mo, ml, score) => ops.push({ t: 'zadd', key: b.latin1Slice(ko, ko + kl), member: b.latin1Slice(mo, mo + ml), score }),
    zrem: (b, ko, kl, mo, ml) => ops.push({ t: 'zrem', key: b.latin1Slice(ko, ko + kl), member: b.latin1Slice(mo, mo + ml) }),
    restore: (b, ko, kl, po, pl, expireAtMs) => ops.push({ t: 'restore', key: b.latin1Slice(ko, ko + kl), payload: b.subarray(po, po + pl), expireAtMs }),
    listPush: (b, ko, kl, head, vo, count) => {
      const values: Buffer[] = [];
      readListValues(b, vo, count, (o, l) => values.push(b.subarray(o, o + l)));
      ops.push({ t: head ? 'lpush' : 'rpush', key: b.latin1Slice(ko, ko + kl), values });
    },
    listPop: (b, ko, kl, head, count) => ops.push({ t: head ? 'lpop' : 'rpop', key: b.latin1Slice(ko, ko + kl), count }),
    xstream: (b, ko, kl, bo, bl) => ops.push({ t: 'xstream', key: b.latin1Slice(ko, ko + kl), body: b.subarray(bo, bo + bl) }),
    listElement: (t, b, ko, kl, n, vo, vl) => {
      const key = b.latin1Slice(ko, ko + kl);
      const value = b.subarray(vo, vo + vl);
      ops.push(t === 'lrem' ? { t, key, count: n, value } : { t, key, index: n, value });
    },
  });
  return { ok: true, entry: { epoch: c.epoch, seq: c.seq, ops }, next: c.next };
}

/**
 * Decode every record laid back to back in `buf` from `off` to its end (an append frame's
 * records, or the backlog's). Values are slices of `buf`, as in decodeRecord.
 */
export function decodeRecords(buf: Buffer, off = 0): { readonly ok: true; readonly entries: LogEntry[] } | { readonly ok: false; readonly detail: string } {
  const entries: LogEntry[] = [];
  while (off < buf.length) {
    const r = decodeRecord(buf, off);
    if (!r.ok) return { ok: false, detail: r.detail };
    entries.push(r.entry);
    off = r.next;
  }
  return { ok: true, entries };
}

/** Null when the records laid back to back in `buf` from `off` to its end all check, else why not. */
export function checkRecords(buf: Buffer, off = 0): string | null {
  for (; off < buf.length; off = recordEndAt(buf, off)) {
    const fault = recordFault(buf, off);
    if (fault !== null) return fault.detail;
  }
  return null;
}

// Header readers for records that were already checked (no CRC, no bounds check, no object):
// a replica walks a frame's records with them, after the frame decoder checked every record.
export function recordEpochAt(buf: Buffer, off: number): number {
  return getU32(buf, off + RECORD_HEADER_BYTES);
}
export function recordSeqAt(buf: Buffer, off: number): number {
  const body = off + RECORD_HEADER_BYTES;
  return seqFromWords(getU32(buf, body + 4), getU32(buf, body + 8));
}
/** Offset just past the record at `off`. */
export function recordEndAt(buf: Buffer, off: number): number {
  return off + RECORD_HEADER_BYTES + getU32(buf, off);
}

/** Feed the ops of the checked record at `off` to `sink`, in order (replayRecordOps by offset). */
export function replayRecordAt(buf: Buffer, off: number, sink: RecordOpSink): void {
  const body = off + RECORD_HEADER_BYTES;
  const err = walkOps(buf, body + BODY_FIXED_BYTES, recordEndAt(buf, off), getU32(buf, body + 12), sink);
  if (err !== null) assert.fail(`a checked record must walk cleanly: ${err}`);
}

/**
 * The configuration bytes of the checked record at `off` when it is a membership entry (its only
 * op a 'members' op), else null. Reads two fixed offsets, so it costs next to nothing per record
 * (the replication core asks it of every entry it receives). The result is a slice of `buf`.
 */
export function recordMembersConfig(buf: Buffer, off: number): Buffer | null {
  const body = off + RECORD_HEADER_BYTES;
  if (getU32(buf, body + 12) !== 1 || buf[body + BODY_FIXED_BYTES] !== TAG_MEMBERS) return null;
  const at = body + BODY_FIXED_BYTES + 1;
  return buf.subarray(at + 4, at + 4 + getU32(buf, at));
}

/**
 * Position of the last of the well-formed records laid back to back in `buf` (undefined when
 * there is none), read from the headers alone: no CRC, no op decoding.
 */
export function lastRecordPosition(buf: Buffer): { epoch: number; seq: number } | undefined {
  let last = -1;
  for (let off = 0; off + RECORD_HEADER_BYTES + BODY_FIXED_BYTES <= buf.length; off += RECORD_HEADER_BYTES + getU32(buf, off)) last = off;
  if (last < 0) return undefined;
  const body = last + RECORD_HEADER_BYTES;
  return { epoch: getU32(buf, body), seq: seqFromWords(getU32(buf, body + 4), getU32(buf, body + 8)) };
}

/**
 * The one op parser. With `sink === null` it only validates; otherwise it also calls the sink
 * per op (only ever on a range that validated, so a sink never sees half a record).
 * Returns an error string instead of throwing (a CRC-valid but malformed body).
 */
function walkOps(buf: Buffer, start: number, end: number, count: number, sink: RecordOpSink | null): string | null {
  let p = start;
  for (let i = 0; i < count; i++) {
    if (p >= end) return 'ops run past record end';
    const tag = buf[p++] as number;
    if (tag === TAG_FLUSHALL) {
      if (sink !== null) sink.flushall();
      continue;
    }
    if (tag === TAG_XSTREAM) {
      const r = walkStreamOp(buf, p, end, sink);
      if (typeof r === 'string') return r;
      p = r;
      continue;
    }
    // Table tags are the highest: one comparison keeps the key ops' path free of the lookup.
    const table = tag >= TAG_ACL ? TABLE_OPS.get(tag) : undefined;
    if (table !== undefined) {
      // A whole table (users, membership, function libraries): [u32 len][bytes].
      if (tag === TAG_MEMBERS && count !== 1) return 'a members op shares its entry with other ops';
      if (p + 4 > end) return `${table} length runs past record end`;
      const len = getU32(buf, p);
      p += 4;
      if (len > end - p) return `${table} run past record end`;
      if (sink === null) {
        // A configuration is checked with the record (as a restore's payload), so applying it never fails.
        if (tag === TAG_MEMBERS && decodeMemberConfig(buf.subarray(p, p + len)) === null) return 'members op holds no valid configuration';
      } else if (tag === TAG_ACL) sink.acl(buf, p, len);
      else if (tag === TAG_MEMBERS) sink.members(buf, p, len);
      else sink.functions(buf, p, len);
      p += len;
      continue;
    }
    if (tag < TAG_SET || tag > TAG_LREM) return `unknown op tag ${String(tag)}`;
    if (p + 4 > end) return 'key length runs past record end';
    const keyLen = getU32(buf, p);
    p += 4;
    if (p + keyLen > end) return 'key runs past record end';
    const keyOff = p;
    p += keyLen;
    if (tag === TAG_DEL) {
      if (sink !== null) sink.del(buf, keyOff, keyLen);
      continue;
    }
    if (tag === TAG_EXPIRE) {
      if (p + 8 > end) return 'expiry runs past record end';
      const expireAtMs = getF64(buf, p);
      p += 8;
      if (!validExpiry(expireAtMs)) return `bad expiry ${expireAtMs}`;
      if (sink !== null) sink.expire(buf, keyOff, keyLen, expireAtMs);
      continue;
    }
    if (tag >= TAG_LPUSH) {
      const r = walkListOp(buf, p, end, tag, keyOff, keyLen, sink);
      if (typeof r === 'string') return r;
      p = r;
      continue;
    }
    if (tag !== TAG_SET && tag !== TAG_RESTORE) {
      const r = walkElementOp(buf, p, end, tag, keyOff, keyLen, sink);
      if (typeof r === 'string') return r;
      p = r;
      continue;
    }
    if (p + 4 > end) return 'value length runs past record end';
    const valLen = getU32(buf, p);
    p += 4;
    if ((tag === TAG_SET && valLen > VALUE_BYTES_MAX) || p + valLen + 8 > end) return 'value runs past record end';
    const valOff = p;
    p += valLen;
    const expireAtMs = getF64(buf, p);
    p += 8;
    if (!validExpiry(expireAtMs)) return `bad expiry ${expireAtMs}`;
    if (tag === TAG_SET) {
      if (sink !== null) sink.set(buf, keyOff, keyLen, valOff, valLen, expireAtMs);
      continue;
    }
    // A restore's payload is checked with the record, so applying it never fails.
    if (sink === null) {
      const bad = checkObject(buf, valOff, valLen);
      if (bad !== null) return `bad restore payload: ${bad}`;
    } else sink.restore(buf, keyOff, keyLen, valOff, valLen, expireAtMs);
  }
  if (p !== end) return `record has ${end - p} trailing bytes`;
  return null;
}

/** The element ops (hset hdel sadd srem zadd zrem) after their key: returns the offset after the op, or why it is malformed. */
function walkElementOp(buf: Buffer, p: number, end: number, tag: number, keyOff: number, keyLen: number, sink: RecordOpSink | null): number | string {
  if (p + 4 > end) return 'member length runs past record end';
  const mLen = getU32(buf, p);
  p += 4;
  if (mLen > VALUE_BYTES_MAX || p + mLen > end) return 'member runs past record end';
  const mOff = p;
  p += mLen;
  switch (tag) {
    case TAG_HSET: {
      if (p + 4 > end) return 'value length runs past record end';
      const valLen = getU32(buf, p);
      p += 4;
      if (valLen > VALUE_BYTES_MAX || p + valLen > end) return 'value runs past record end';
      if (sink !== null) sink.hset(buf, keyOff, keyLen, mOff, mLen, p, valLen);
      return p + valLen;
    }
    case TAG_ZADD: {
      if (p + 8 > end) return 'score runs past record end';
      const score = getF64(buf, p);
      if (Number.isNaN(score)) return 'NaN score';
      if (sink !== null) sink.zadd(buf, keyOff, keyLen, mOff, mLen, score);
      return p + 8;
    }
    case TAG_HDEL:
      if (sink !== null) sink.hdel(buf, keyOff, keyLen, mOff, mLen);
      return p;
    case TAG_SADD:
      if (sink !== null) sink.sadd(buf, keyOff, keyLen, mOff, mLen);
      return p;
    case TAG_SREM:
      if (sink !== null) sink.srem(buf, keyOff, keyLen, mOff, mLen);
      return p;
    case TAG_ZREM:
      if (sink !== null) sink.zrem(buf, keyOff, keyLen, mOff, mLen);
      return p;
    default:
      return `unknown op tag ${tag}`;
  }
}

/** The list ops after their key: returns the offset after the op, or why it is malformed. */
function walkListOp(buf: Buffer, p: number, end: number, tag: number, keyOff: number, keyLen: number, sink: RecordOpSink | null): number | string {
  if (tag === TAG_LPUSH || tag === TAG_RPUSH) {
    if (p + 4 > end) return 'value count runs past record end';
    const count = getU32(buf, p);
    p += 4;
    if (count > LIST_PUSH_VALUES_MAX) return `bad value count ${count}`;
    const valuesOff = p;
    for (let i = 0; i < count; i++) {
      if (p + 4 > end) return 'value length runs past record end';
      const len = getU32(buf, p);
      p += 4;
      if (len > VALUE_BYTES_MAX || p + len > end) return 'value runs past record end';
      p += len;
    }
    if (sink !== null) sink.listPush(buf, keyOff, keyLen, tag === TAG_LPUSH, valuesOff, count);
    return p;
  }
  if (p + 8 > end) return 'list count runs past record end';
  const n = getF64(buf, p);
  p += 8;
  if (!Number.isSafeInteger(n) || (tag !== TAG_LREM && n < 0)) return `bad list index or count ${n}`;
  if (tag === TAG_LPOP || tag === TAG_RPOP) {
    if (sink !== null) sink.listPop(buf, keyOff, keyLen, tag === TAG_LPOP, n);
    return p;
  }
  if (p + 4 > end) return 'value length runs past record end';
  const valLen = getU32(buf, p);
  p += 4;
  if (valLen > VALUE_BYTES_MAX || p + valLen > end) return 'value runs past record end';
  if (sink !== null) sink.listElement(tag === TAG_LSET ? 'lset' : tag === TAG_LINSERT ? 'linsert' : 'lrem', buf, keyOff, keyLen, n, p, valLen);
  return p + valLen;
}

/** An xstream op after its tag: returns the offset after it, or why it is malformed. The body is checked with the record, so applying it never fails. */
function walkStreamOp(buf: Buffer, p: number, end: number, sink: RecordOpSink | null): number | string {
  if (p + 4 > end) return 'key length runs past record end';
  const keyLen = getU32(buf, p);
  p += 4;
  if (p + keyLen + 4 > end) return 'key runs past record end';
  const keyOff = p;
  p += keyLen;
  const len = getU32(buf, p);
  p += 4;
  if (len > end - p) return 'stream effects run past record end';
  if (sink === null) {
    const bad = checkEffects(buf, p, len);
    if (bad !== null) return `bad stream effects: ${bad}`;
  } else sink.xstream(buf, keyOff, keyLen, p, len);
  return p + len;
}

function validExpiry(x: number): boolean {
  return Number.isSafeInteger(x) && x >= 0;
}
