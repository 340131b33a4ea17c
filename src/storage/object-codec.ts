// The serialized form of one key's value, of any type: what a 'restore' op carries (RENAME,
// COPY of a collection), what a snapshot item and a full-resync item hold for a collection, and
// what DEBUG DIGEST-VALUE hashes. Owns this byte format; never touches the keyspace or files.
//
// payload = [u8 version=1][u8 type][body], integers little-endian:
//   string: body = the value bytes
//   hash:   [u8 flags][u32 count]([u32 fieldLen][field][u32 valueLen][value])*   listpack order kept
//   set:    [u8 flags][u32 count]([u32 memberLen][member])*
//   zset:   [u8 flags][u32 count]([u32 memberLen][member][f64 score])*            ascending order
// flags bit 0: the collection has its large encoding (hashtable, or skiplist) even if its
// contents alone would not make it so (RENAME and COPY keep the encoding, as in Redis).
// The decoder checks every length against the payload's end and refuses NaN scores and
// trailing bytes. Count 0 is valid: commands never leave an empty collection, but a replay over a
// fuzzy snapshot may hold one for a while (keyspace.ts, 'collections'), and a snapshot then keeps it.

import { HashObject } from './hash-object.js';
import { SetObject } from './set-object.js';
import { SortedSet } from './zset.js';
import { REDIS_ENCODING_LIMITS, TYPE_HASH, TYPE_SET, TYPE_STRING, TYPE_ZSET, type EncodingLimits, type KvCollection } from './collection.js';
import type { Key } from './types.js';

export const OBJECT_CODEC_VERSION = 1;
const HEAD_BYTES = 2;
/** Collections: [u8 flags][u32 count] after the head. */
const COLLECTION_HEAD_BYTES = HEAD_BYTES + 5;
const FLAG_LARGE_ENCODING = 1;

/** A decoded payload: a string's value (a slice of the payload) or a fresh collection. */
export type DecodedObject = { readonly type: typeof TYPE_STRING; readonly value: Buffer } | { readonly type: number; readonly obj: KvCollection };

/** Serialize a string value. */
export function encodeStringObject(value: Buffer): Buffer {
  const b = Buffer.allocUnsafe(HEAD_BYTES + value.length);
  b[0] = OBJECT_CODEC_VERSION;
  b[1] = TYPE_STRING;
  b.set(value, HEAD_BYTES);
  return b;
}

/**
 * Serialize a collection of type `type` (its class must match). `keepEncoding` false leaves the
 * large-encoding flag off, so the keyspace picks the encoding from the contents (RESTORE, as Redis).
 */
export function encodeCollection(type: number, obj: KvCollection, keepEncoding = true): Buffer {
  const parts: Buffer[] = [];
  let size = COLLECTION_HEAD_BYTES;
  const push = (b: Buffer): void => {
    parts.push(b);
    size += b.length;
  };
  const u32 = (n: number): void => {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(n, 0);
    push(b);
  };
  const key = (k: Key): void => {
    u32(k.length);
    push(Buffer.from(k, 'latin1'));
  };
  if (type === TYPE_HASH && obj instanceof HashObject) {
    for (const [f, v] of obj.entries()) {
      key(f);
      u32(v.length);
      push(v);
    }
  } else if (type === TYPE_SET && obj instanceof SetObject) {
    for (const m of obj.members()) key(m);
  } else if (type === TYPE_ZSET && obj instanceof SortedSet) {
    for (const [m, score] of obj.entries()) {
      key(m);
      const b = Buffer.allocUnsafe(8);
      b.writeDoubleLE(score, 0);
      push(b);
    }
  } else {
    throw new Error(`bug: a collection of type ${type} is not a ${obj.constructor.name}`);
  }
  const out = Buffer.allocUnsafe(size);
  out[0] = OBJECT_CODEC_VERSION;
  out[1] = type;
  out[HEAD_BYTES] = keepEncoding && (obj.encoding === 'hashtable' || obj.encoding === 'skiplist') ? FLAG_LARGE_ENCODING : 0;
  out.writeUInt32LE(obj.size, HEAD_BYTES + 1);
  let p = COLLECTION_HEAD_BYTES;
  for (const b of parts) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}

/** The type code a valid payload holds (check it with checkObject first). */
export function payloadType(buf: Buffer, off: number): number {
  return buf[off + 1] as number;
}

/** Null when `buf[off, off + len)` is a valid payload, else why not. Builds nothing. */
export function checkObject(buf: Buffer, off: number, len: number): string | null {
  const r = walk(buf, off, len, null);
  return typeof r === 'string' ? r : null;
}

/** Decode a payload (a string's value is a slice of `buf`; a collection is built fresh), or why it is invalid. */
export function decodeObject(buf: Buffer, off: number, len: number, limits: Readonly<EncodingLimits> = REDIS_ENCODING_LIMITS): DecodedObject | string {
  if (len >= HEAD_BYTES && buf[off] === OBJECT_CODEC_VERSION && buf[off + 1] === TYPE_STRING) {
    return { type: TYPE_STRING, value: buf.subarray(off + HEAD_BYTES, off + len) };
  }
  const type = len >= HEAD_BYTES ? (buf[off + 1] as number) : -1;
  const obj = type === TYPE_HASH ? new HashObject(limits) : type === TYPE_SET ? new SetObject(limits) : type === TYPE_ZSET ? new SortedSet() : null;
  const r = walk(buf, off, len, obj);
  if (typeof r === 'string') return r;
  if (obj === null) throw new Error('bug: a collection payload walked without a collection');
  return { type, obj };
}

/** The one payload parser: validates, and fills `into` when given (only after the header checked). */
function walk(buf: Buffer, off: number, len: number, into: KvCollection | null): string | number {
  const end = off + len;
  if (len < HEAD_BYTES) return 'object payload too short';
  if (buf[off] !== OBJECT_CODEC_VERSION) return `unknown object codec version ${String(buf[off])}`;
  const type = buf[off + 1] as number;
  if (type === TYPE_STRING) return type;
  if (type !== TYPE_HASH && type !== TYPE_SET && type !== TYPE_ZSET) return `unknown object type ${type}`;
  let p = off + HEAD_BYTES;
  if (p + 5 > end) return 'object count runs past payload';
  const flags = buf[p++] as number;
  if ((flags & ~FLAG_LARGE_ENCODING) !== 0) return `unknown object flags ${flags}`;
  if ((flags & FLAG_LARGE_ENCODING) !== 0) {
    if (into instanceof HashObject || into instanceof SetObject) into.toHashtable();
    else if (into instanceof SortedSet) into.toSkiplist();
  }
  const count = buf.readUInt32LE(p);
  p += 4;
  for (let i = 0; i < count; i++) {
    if (p + 4 > end) return 'member length runs past payload';
    const ml = buf.readUInt32LE(p);
    p += 4;
    if (p + ml > end) return 'member runs past payload';
    const mOff = p;
    p += ml;
    if (type === TYPE_HASH) {
      if (p + 4 > end) return 'value length runs past payload';
      const vl = buf.readUInt32LE(p);
      p += 4;
      if (p + vl > end) return 'value runs past payload';
      if (into instanceof HashObject) into.set(buf.latin1Slice(mOff, mOff + ml), buf.subarray(p, p + vl));
      p += vl;
    } else if (type === TYPE_SET) {
      if (into instanceof SetObject) into.add(buf.latin1Slice(mOff, mOff + ml));
    } else {
      if (p + 8 > end) return 'score runs past payload';
      const score = buf.readDoubleLE(p);
      p += 8;
      if (Number.isNaN(score)) return 'NaN score';
      if (into instanceof SortedSet) into.set(buf.latin1Slice(mOff, mOff + ml), score);
    }
  }
  if (p !== end) return `object payload has ${end - p} trailing bytes`;
  return type;
}
