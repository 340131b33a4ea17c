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
// All integers little-endian. The decoder requires the ops to consume exactly bodyLen bytes,
// so a record whose CRC happens to match but whose structure is wrong is still rejected.

import assert from 'node:assert';
import { crc32c } from '@node-rs/crc32';
import type { LogEntry, Op } from './types.js';

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
const SEQ_HI_FACTOR = 0x1_0000_0000;

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
  const bodyStart = off + RECORD_HEADER_BYTES;
  let p = bodyStart;
  p = out.writeUInt32LE(epoch, p);
  p = out.writeUInt32LE(Math.floor(seq / SEQ_HI_FACTOR), p);
  p = out.writeUInt32LE(seq % SEQ_HI_FACTOR, p);
  p = out.writeUInt32LE(ops.length, p);
  for (const op of ops) {
    switch (op.t) {
      case 'set':
        assert(op.value.length <= VALUE_BYTES_MAX, 'value too large');
        out[p++] = TAG_SET;
        p = out.writeUInt32LE(op.key.length, p);
        p += out.write(op.key, p, op.key.length, 'latin1');
        p = out.writeUInt32LE(op.value.length, p);
        p += op.value.copy(out, p);
        p = out.writeDoubleLE(op.expireAtMs, p);
        break;
      case 'del':
        out[p++] = TAG_DEL;
        p = out.writeUInt32LE(op.key.length, p);
        p += out.write(op.key, p, op.key.length, 'latin1');
        break;
      case 'expire':
        out[p++] = TAG_EXPIRE;
        p = out.writeUInt32LE(op.key.length, p);
        p += out.write(op.key, p, op.key.length, 'latin1');
        p = out.writeDoubleLE(op.expireAtMs, p);
        break;
      case 'flushall':
        out[p++] = TAG_FLUSHALL;
        break;
      default: {
        const never: never = op;
        throw new Error(`unknown op ${JSON.stringify(never)}`);
      }
    }
  }
  const bodyLen = p - bodyStart;
  assert(bodyLen <= RECORD_BODY_BYTES_MAX, 'record too large');
  out.writeUInt32LE(bodyLen, off);
  out.writeUInt32LE(crc32c(out.subarray(bodyStart, p)), off + 4);
  return p;
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

/**
 * Decode the record at `off`. Values in the returned ops are SLICES of `buf` (no copy):
 * callers that retain them must copy (the keyspace does).
 */
export function decodeRecord(buf: Buffer, off: number): DecodeResult {
  if (buf.length - off < RECORD_HEADER_BYTES) return { ok: false, why: 'short', detail: 'truncated header' };
  const bodyLen = buf.readUInt32LE(off);
  if (bodyLen < BODY_FIXED_BYTES || bodyLen > RECORD_BODY_BYTES_MAX) {
    return { ok: false, why: 'format', detail: `implausible record length ${bodyLen}` };
  }
  const bodyStart = off + RECORD_HEADER_BYTES;
  const end = bodyStart + bodyLen;
  if (end > buf.length) return { ok: false, why: 'short', detail: `record of ${bodyLen} bytes runs past end of file` };
  const crc = buf.readUInt32LE(off + 4);
  if (crc32c(buf.subarray(bodyStart, end)) !== crc) return { ok: false, why: 'crc', detail: 'checksum mismatch' };
  const parsed = parseBody(buf, bodyStart, end);
  if (typeof parsed === 'string') return { ok: false, why: 'format', detail: parsed };
  return { ok: true, entry: parsed, next: end };
}

/** Body parser; returns an error string instead of throwing (a CRC-valid but malformed body). */
function parseBody(buf: Buffer, start: number, end: number): LogEntry | string {
  let p = start;
  const epoch = buf.readUInt32LE(p);
  const seq = buf.readUInt32LE(p + 4) * SEQ_HI_FACTOR + buf.readUInt32LE(p + 8);
  const count = buf.readUInt32LE(p + 12);
  p += BODY_FIXED_BYTES;
  if (epoch === 0 || seq === 0 || !Number.isSafeInteger(seq)) return `bad position ${epoch}:${seq}`;
  if (count > RECORD_OPS_MAX) return `bad op count ${count}`;
  const ops: Op[] = [];
  for (let i = 0; i < count; i++) {
    if (p >= end) return 'ops run past record end';
    const tag = buf[p++];
    if (tag === TAG_FLUSHALL) {
      ops.push({ t: 'flushall' });
      continue;
    }
    if (tag !== TAG_SET && tag !== TAG_DEL && tag !== TAG_EXPIRE) return `unknown op tag ${String(tag)}`;
    if (p + 4 > end) return 'key length runs past record end';
    const keyLen = buf.readUInt32LE(p);
    p += 4;
    if (p + keyLen > end) return 'key runs past record end';
    const key = buf.toString('latin1', p, p + keyLen);
    p += keyLen;
    if (tag === TAG_DEL) {
      ops.push({ t: 'del', key });
      continue;
    }
    if (tag === TAG_EXPIRE) {
      if (p + 8 > end) return 'expiry runs past record end';
      const expireAtMs = buf.readDoubleLE(p);
      p += 8;
      if (!validExpiry(expireAtMs)) return `bad expiry ${expireAtMs}`;
      ops.push({ t: 'expire', key, expireAtMs });
      continue;
    }
    if (p + 4 > end) return 'value length runs past record end';
    const valLen = buf.readUInt32LE(p);
    p += 4;
    if (valLen > VALUE_BYTES_MAX || p + valLen + 8 > end) return 'value runs past record end';
    const value = buf.subarray(p, p + valLen);
    p += valLen;
    const expireAtMs = buf.readDoubleLE(p);
    p += 8;
    if (!validExpiry(expireAtMs)) return `bad expiry ${expireAtMs}`;
    ops.push({ t: 'set', key, value, expireAtMs });
  }
  if (p !== end) return `record has ${end - p} trailing bytes`;
  return { epoch, seq, ops };
}

function validExpiry(x: number): boolean {
  return Number.isSafeInteger(x) && x >= 0;
}
