// The serialized form of one key's value, of any type: what a 'restore' op carries (RENAME,
// COPY of a collection), what a snapshot item and a full-resync item hold for a collection, and
// what DEBUG DIGEST-VALUE hashes. Owns this byte format; never touches the keyspace or files.
//
// payload = [u8 version=1][u8 type][body], integers little-endian:
//   string: body = the value bytes
//   hash:   [u8 flags][u32 count]([u32 fieldLen][field][u32 valueLen][value])*   listpack order kept
//   set:    [u8 flags][u32 count]([u32 memberLen][member])*
//   zset:   [u8 flags][u32 count]([u32 memberLen][member][f64 score])*            ascending order
//   list:   [u8 flags][u32 count][f64 appliedSeq]([u32 len][element])*           head to tail
//           appliedSeq: the list's replay stamp (keyspace.ts, 'list stamps'), kept by snapshot
//           and full-resync loads; a 'restore' op stamps the list with its own entry instead.
//   stream: [u8 flags][u32 count][f64 appliedSeq][u32 stateLen][state]([u32 len][entry])*
//           state: the counters, groups, consumers and pending entries as stream effects
//           (stream-effects.ts; absent from a part); entries in stream-object.ts's string form,
//           deleted ones included and each node's first marked, so the node layout is kept.
// flags bit 0: the collection has its large encoding (hashtable, or skiplist) even if its
// contents alone would not make it so (RENAME and COPY keep the encoding, as in Redis).
// flags bit 1: a part: the members are to be added to the key's collection of this type (created
// if missing, replacing another type, as an element op does) rather than replace the key: how a
// snapshot or a full resync carries a big collection in bounded chunks (snapshot-walk.ts).
// The decoder checks every length against the payload's end and refuses NaN scores and
// trailing bytes. Count 0 is valid: commands never leave an empty collection, but a replay over a
// fuzzy snapshot may hold one for a while (keyspace.ts, 'collections'), and a snapshot then keeps it.

import { HashObject } from './hash-object.js';
import { SetObject } from './set-object.js';
import { SortedSet } from './zset.js';
import { ListObject } from './list-object.js';
import { ENTRY_DELETED, ENTRY_NODE_START, entryFault, entryId, StreamObject } from './stream-object.js';
import { applyEffects, decodeEffects, encodeEffects, streamStateEffects } from './stream-effects.js';
import { REDIS_ENCODING_LIMITS, TYPE_HASH, TYPE_LIST, TYPE_SET, TYPE_STREAM, TYPE_STRING, TYPE_ZSET, type EncodingLimits, type KvCollection } from './collection.js';
import type { Key } from './types.js';

export const OBJECT_CODEC_VERSION = 1;
const HEAD_BYTES = 2;
/** Collections: [u8 flags][u32 count] after the head. */
const COLLECTION_HEAD_BYTES = HEAD_BYTES + 5;
const FLAG_LARGE_ENCODING = 1;
/**
 * The payload is a part of a collection: members to add to the key's collection of its type (a
 * snapshot's or full resync's later chunks of a big collection), not a whole value.
 */
const FLAG_PART = 2;
/**
 * A sorted set kept in its small (listpack) encoding though a member passes the value limit: set
 * by a RESTORE of a listpack payload and kept by RENAME/COPY and snapshots, as Redis keeps the
 * object (only the entry count converts it when loaded).
 */
const FLAG_SMALL_ENCODING = 4;
const FLAGS_KNOWN = FLAG_LARGE_ENCODING | FLAG_PART | FLAG_SMALL_ENCODING;
/** Members up to this long are copied a char at a time (cheaper than a latin1Write call). */
const KEY_LOOP_CHARS_MAX = 32;

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
 * Builds one collection payload member by member into a buffer that doubles as it fills:
 * encodeCollection, and the snapshot walk's chunks (snapshot-walk.ts), which stop adding once a
 * chunk is full (`memberBytes` tells what the next member would add).
 */
export class PayloadBuilder {
  private buf: Buffer;
  private p = COLLECTION_HEAD_BYTES;
  private n = 0;

  /** `listStamp`: a list's replay stamp (its payload carries one after the count; other types none). */
  constructor(
    readonly type: number,
    flags: number,
    initialBytes = 256,
    listStamp = 0,
  ) {
    if (type !== TYPE_HASH && type !== TYPE_SET && type !== TYPE_ZSET && type !== TYPE_LIST && type !== TYPE_STREAM) throw new Error(`bug: no collection payload of type ${type}`);
    this.buf = Buffer.allocUnsafe(Math.max(COLLECTION_HEAD_BYTES + 8, initialBytes));
    this.buf[0] = OBJECT_CODEC_VERSION;
    this.buf[1] = type;
    this.buf[HEAD_BYTES] = flags;
    if (type === TYPE_LIST || type === TYPE_STREAM) this.p = this.buf.writeDoubleLE(listStamp, COLLECTION_HEAD_BYTES);
  }

  /** A stream's state, once, before its entries (a whole payload's; a part has none). */
  streamState(state: Buffer): void {
    this.room(4 + state.length);
    this.u32(state.length);
    this.buf.set(state, this.p);
    this.p += state.length;
  }

  /** Members added. */
  get count(): number {
    return this.n;
  }

  /** Bytes so far, head included. */
  get bytes(): number {
    return this.p;
  }

  /** What one member adds to a payload of `type` (`valueLen`: a hash value's length). */
  static memberBytes(type: number, memberLen: number, valueLen: number): number {
    return 4 + memberLen + (type === TYPE_HASH ? 4 + valueLen : type === TYPE_ZSET ? 8 : 0);
  }

  field(f: Key, v: Buffer): void {
    this.room(8 + f.length + v.length);
    this.key(f);
    this.u32(v.length);
    this.buf.set(v, this.p);
    this.p += v.length;
    this.n++;
  }

  /** A set member, or a list element (appended at the tail). */
  member(m: Key): void {
    this.room(4 + m.length);
    this.key(m);
    this.n++;
  }

  scored(m: Key, score: number): void {
    this.room(12 + m.length);
    this.key(m);
    this.p = this.buf.writeDoubleLE(score, this.p);
    this.n++;
  }

  /** The payload (exact size; the builder is spent). */
  finish(): Buffer {
    const end = this.p;
    this.p = HEAD_BYTES + 1;
    this.u32(this.n);
    const out = this.buf.subarray(0, end);
    // A chunk is kept until its block or batch goes out: do not pin a mostly empty buffer.
    return end * 4 < this.buf.length * 3 ? Buffer.from(out) : out;
  }

  // Byte by byte: Buffer's write methods check their arguments, which costs more than the
  // write for the short members a chunk holds thousands of.
  private u32(n: number): void {
    const b = this.buf;
    const p = this.p;
    b[p] = n & 0xff;
    b[p + 1] = (n >>> 8) & 0xff;
    b[p + 2] = (n >>> 16) & 0xff;
    b[p + 3] = n >>> 24;
    this.p = p + 4;
  }

  private key(k: Key): void {
    const n = k.length;
    this.u32(n);
    const b = this.buf;
    const p = this.p;
    if (n <= KEY_LOOP_CHARS_MAX) for (let j = 0; j < n; j++) b[p + j] = k.charCodeAt(j);
    else b.latin1Write(k, p, n);
    this.p = p + n;
  }

  private room(n: number): void {
    if (this.p + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.p + n, this.buf.length * 2));
    this.buf.copy(grown, 0, 0, this.p);
    this.buf = grown;
  }
}

/** The flags byte of a payload for `obj`, whole (`part` false) or a part of it (see FLAG_PART). */
export function collectionFlags(obj: KvCollection, part: boolean): number {
  const large = obj.encoding === 'hashtable' || obj.encoding === 'skiplist' ? FLAG_LARGE_ENCODING : obj.encoding === 'listpack' && obj instanceof SortedSet ? FLAG_SMALL_ENCODING : 0;
  return large | (part ? FLAG_PART : 0);
}

/**
 * Serialize a collection of type `type` (its class must match) whole, in one go (RENAME, COPY, DEBUG
 * DIGEST-VALUE). `keepEncoding` false leaves the large-encoding flag off, so the keyspace picks the
 * encoding from the contents (RESTORE, as Redis).
 */
export function encodeCollection(type: number, obj: KvCollection, keepEncoding = true): Buffer {
  const b = new PayloadBuilder(type, keepEncoding ? collectionFlags(obj, false) : 0, 256, obj instanceof ListObject || obj instanceof StreamObject ? obj.appliedSeq : 0);
  if (type === TYPE_HASH && obj instanceof HashObject) {
    for (const [f, v] of obj.entries()) b.field(f, v);
  } else if (type === TYPE_SET && obj instanceof SetObject) {
    for (const m of obj.members()) b.member(m);
  } else if (type === TYPE_ZSET && obj instanceof SortedSet) {
    for (const [m, score] of obj.entries()) b.scored(m, score);
  } else if (type === TYPE_LIST && obj instanceof ListObject) {
    for (const v of obj.values()) b.member(v);
  } else if (type === TYPE_STREAM && obj instanceof StreamObject) {
    b.streamState(encodeEffects(streamStateEffects(obj)));
    for (const e of obj.layout()) b.member(e);
  } else {
    throw new Error(`bug: a collection of type ${type} is not a ${obj.constructor.name}`);
  }
  return b.finish();
}

/** True when the valid collection payload at `off` is a part (FLAG_PART): members to add, not a whole value. */
export function isPartPayload(buf: Buffer, off: number): boolean {
  return buf[off + 1] !== TYPE_STRING && ((buf[off + HEAD_BYTES] as number) & FLAG_PART) !== 0;
}

/** Add the members of a valid collection payload (checked, of `into`'s type) to `into`. */
export function addMembers(buf: Buffer, off: number, len: number, into: KvCollection): void {
  const r = walk(buf, off, len, into);
  if (typeof r === 'string') throw new Error(`bug: members added from an unchecked payload: ${r}`);
}

/** The list payload's body after the head: validates, and fills `into` when given. */
function walkList(buf: Buffer, p: number, end: number, into: ListObject | null): string | number {
  const flags = buf[p++] as number;
  if (flags !== 0 && flags !== FLAG_PART) return `unknown list flags ${flags}`;
  const count = buf.readUInt32LE(p);
  p += 4;
  if (p + 8 > end) return 'list stamp runs past payload';
  const appliedSeq = buf.readDoubleLE(p);
  p += 8;
  if (!Number.isSafeInteger(appliedSeq) || appliedSeq < 0) return `bad list stamp ${appliedSeq}`;
  if (into !== null) into.appliedSeq = appliedSeq;
  for (let i = 0; i < count; i++) {
    if (p + 4 > end) return 'element length runs past payload';
    const len = buf.readUInt32LE(p);
    p += 4;
    if (p + len > end) return 'element runs past payload';
    if (into !== null) into.pushTail(buf.latin1Slice(p, p + len));
    p += len;
  }
  if (p !== end) return `object payload has ${end - p} trailing bytes`;
  return TYPE_LIST;
}

/** The stream payload's body after the head: validates, and fills `into` when given. */
function walkStream(buf: Buffer, p: number, end: number, into: StreamObject | null): string | number {
  const flags = buf[p++] as number;
  if (flags !== 0 && flags !== FLAG_PART) return `unknown stream flags ${flags}`;
  const count = buf.readUInt32LE(p);
  p += 4;
  if (p + 8 > end) return 'stream stamp runs past payload';
  const appliedSeq = buf.readDoubleLE(p);
  p += 8;
  if (!Number.isSafeInteger(appliedSeq) || appliedSeq < 0) return `bad stream stamp ${appliedSeq}`;
  if (into !== null) into.appliedSeq = appliedSeq;
  if (flags !== FLAG_PART) {
    if (p + 4 > end) return 'stream state length runs past payload';
    const len = buf.readUInt32LE(p);
    p += 4;
    if (p + len > end) return 'stream state runs past payload';
    let fx;
    try {
      fx = decodeEffects(buf, p, len);
    } catch (e) {
      if (e instanceof RangeError) return `bad stream state: ${e.message}`;
      throw e;
    }
    if (fx.some((f) => f.k === 'add' || f.k === 'trim' || f.k === 'del')) return 'stream state holds entry changes';
    if (into !== null) applyEffects(into, fx);
    p += len;
  }
  let prev = '';
  for (let i = 0; i < count; i++) {
    if (p + 4 > end) return 'entry length runs past payload';
    const len = buf.readUInt32LE(p);
    p += 4;
    if (p + len > end) return 'entry runs past payload';
    const e = buf.latin1Slice(p, p + len);
    p += len;
    const bad = entryFault(e, ENTRY_DELETED | ENTRY_NODE_START);
    if (bad !== null) return bad;
    if (entryId(e) <= prev) return 'stream entries out of order';
    prev = entryId(e);
    if (into !== null) into.append(e, false);
  }
  if (p !== end) return `object payload has ${end - p} trailing bytes`;
  return TYPE_STREAM;
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
  const obj = type === TYPE_HASH ? new HashObject(limits) : type === TYPE_SET ? new SetObject(limits) : type === TYPE_ZSET ? new SortedSet(limits) : type === TYPE_LIST ? new ListObject() : type === TYPE_STREAM ? new StreamObject() : null;
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
  if (type === TYPE_LIST) {
    if (off + HEAD_BYTES + 5 > end) return 'object count runs past payload';
    return walkList(buf, off + HEAD_BYTES, end, into instanceof ListObject ? into : null);
  }
  if (type === TYPE_STREAM) {
    if (off + HEAD_BYTES + 5 > end) return 'object count runs past payload';
    return walkStream(buf, off + HEAD_BYTES, end, into instanceof StreamObject ? into : null);
  }
  if (type !== TYPE_HASH && type !== TYPE_SET && type !== TYPE_ZSET) return `unknown object type ${type}`;
  let p = off + HEAD_BYTES;
  if (p + 5 > end) return 'object count runs past payload';
  const flags = buf[p++] as number;
  if ((flags & ~FLAGS_KNOWN) !== 0) return `unknown object flags ${flags}`;
  if ((flags & FLAG_LARGE_ENCODING) !== 0) {
    if (into instanceof HashObject || into instanceof SetObject) into.toHashtable();
    else if (into instanceof SortedSet) into.toSkiplist();
  }
  if (into instanceof SortedSet) into.loadingListpack = (flags & FLAG_SMALL_ENCODING) !== 0;
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
  if (into instanceof SortedSet) into.loadingListpack = false;
  if (p !== end) return `object payload has ${end - p} trailing bytes`;
  return type;
}
