// A hash key's contents: field -> value bytes, with the encoding Redis 7.0 would report.
// Owns the representation and its memory estimate; never logs and never sees the keyspace
// (the keyspace mutates it only while applying an op; commands only read it).
//
// Two representations, as Redis's listpack and hashtable: a small hash is one packed string of
// field, value, field, value… in insertion order (packed-list.ts; what HGETALL returns for a
// listpack in Redis, so replies match byte for byte), searched linearly like a listpack; past
// hash-max-listpack-entries entries, or once a field or value is longer than
// hash-max-listpack-value bytes, it becomes a DenseTable index with parallel values (O(1)
// lookups and random fields) and never goes back, as in Redis. Large-form values are latin1
// strings (one char per byte: far less heap than a Buffer each).
//
// The keyspace keeps a small packed hash as its bare packed string (a HashCell), with no object
// around it: an object would cost more heap than the string of a typical small hash. Reads get a
// HashObject view of the string (hashView); the keyspace changes a bare hash through setBare and
// deleteBare, which return the next cell. A bare hash is at most HASH_BARE_BYTES_MAX long, so a
// snapshot walk always copies it in one chunk and never has to follow one across changes.

import { DenseTable, type TableCursor } from './dense-table.js';
import { PagedArray } from './paged-array.js';
import { dataAt, entryAt, entryBytes, entryEquals, find, lengthAt, nextAt, PACKED_BYTES_MAX, splice } from './packed-list.js';
import { REDIS_ENCODING_LIMITS, type EncodingLimits, type MemberSink } from './collection.js';
import type { Key } from './types.js';

/** Redis 7.0 defaults: hash-max-listpack-entries / hash-max-listpack-value (EncodingLimits may change them). */
export const HASH_LISTPACK_ENTRIES_MAX = REDIS_ENCODING_LIMITS.hashListpackEntries;
export const HASH_LISTPACK_VALUE_BYTES_MAX = REDIS_ENCODING_LIMITS.hashListpackValueBytes;
/** Values longer than this stay Buffers (a string that long is close to V8's string length limit). */
const VALUE_STRING_BYTES_MAX = 64 * 1024 * 1024;
/** Memory estimate (MEMORY USAGE, liveBytes): per object and per entry, beyond the bytes themselves. */
const OBJECT_OVERHEAD_BYTES = 64;
/** The packed string's header (its bytes are counted one for one). */
const PACKED_STRING_OVERHEAD_BYTES = 24;
const HASHTABLE_ENTRY_OVERHEAD_BYTES = 96;
/**
 * A packed hash is kept bare up to this many bytes: at least 2 bytes per field and value, so at
 * most 1024 fields, and at most 8 KiB as a snapshot payload (one chunk: snapshot-walk.ts).
 */
export const HASH_BARE_BYTES_MAX = 2048;

/** What the keyspace holds for a hash: a small packed hash's bare string, else its HashObject. */
export type HashCell = string | HashObject;

type Stored = string | Buffer;

function toStored(v: Buffer): Stored {
  return v.length <= VALUE_STRING_BYTES_MAX ? v.latin1Slice(0, v.length) : Buffer.from(v);
}

function storedToBuffer(v: Stored): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'latin1') : v;
}

/** The large form: a field index and values parallel to its positions (undefined = free position). */
interface Table {
  readonly index: DenseTable;
  /** Paged, as the index's members: growing never copies every value in one call. */
  readonly vals: PagedArray<Stored>;
  /** Sum of field and value lengths. */
  contentBytes: number;
}

export class HashObject {
  /** Packed form (table === null): field, value, field, value… in insertion order. */
  private packed = '';
  /** Fields in `packed`; -1 until counted (a view of a bare hash counts only when asked). */
  private packedEntries = 0;
  private table: Table | null = null;

  constructor(private readonly limits: Readonly<EncodingLimits> = REDIS_ENCODING_LIMITS) {}

  /** A hash holding the packed string `packed` (a bare cell's view, or the object it grows into). */
  static ofPacked(packed: string, limits: Readonly<EncodingLimits>): HashObject {
    const h = new HashObject(limits);
    h.packed = packed;
    h.packedEntries = packed.length === 0 ? 0 : -1;
    return h;
  }

  get size(): number {
    return this.table === null ? this.packedFields() : this.table.index.size;
  }

  private packedFields(): number {
    if (this.packedEntries < 0) this.packedEntries = countFields(this.packed);
    return this.packedEntries;
  }

  /** The cell the keyspace keeps after loading this hash whole: bare when packed and small enough. */
  toCell(): HashCell {
    return this.table === null && this.packed.length <= HASH_BARE_BYTES_MAX ? this.packed : this;
  }

  get encoding(): 'listpack' | 'hashtable' {
    return this.table === null ? 'listpack' : 'hashtable';
  }

  get bytes(): number {
    const t = this.table;
    if (t === null) return OBJECT_OVERHEAD_BYTES + PACKED_STRING_OVERHEAD_BYTES + this.packed.length;
    return OBJECT_OVERHEAD_BYTES + t.contentBytes + t.index.size * HASHTABLE_ENTRY_OVERHEAD_BYTES;
  }

  /** Packed: char position of the field's entry; table: its position; -1 when missing. */
  private posOf(field: Key): number {
    return this.table === null ? find(this.packed, field, 2) : this.table.index.positionOf(field);
  }

  has(field: Key): boolean {
    return this.posOf(field) >= 0;
  }

  /** A copy of the value (the caller may keep it). */
  get(field: Key): Buffer | undefined {
    const p = this.posOf(field);
    if (p < 0) return undefined;
    if (this.table !== null) return storedToBuffer(this.table.vals.get(p) as Stored);
    return this.packedValue(p);
  }

  /** Value length without a copy; -1 if the field is missing. */
  valueLength(field: Key): number {
    const p = this.posOf(field);
    if (p < 0) return -1;
    if (this.table !== null) return (this.table.vals.get(p) as Stored).length;
    return lengthAt(this.packed, nextAt(this.packed, p));
  }

  /** Insert or replace; true when the field is new. The bytes are copied. */
  set(field: Key, value: Buffer): boolean {
    if (this.table === null && packedRefuses(this.packed, field, value, this.limits)) this.convert();
    const t = this.table;
    if (t === null) return this.setPacked(field, value.latin1Slice(0, value.length));
    const p = t.index.positionOf(field);
    const v = toStored(value);
    if (p >= 0) {
      t.contentBytes += v.length - (t.vals.get(p) as Stored).length;
      t.vals.set(p, v);
      return false;
    }
    t.contentBytes += field.length + v.length;
    t.vals.set(t.index.add(field), v);
    return true;
  }

  private setPacked(field: Key, value: string): boolean {
    const p = find(this.packed, field, 2);
    if (p >= 0) {
      const at = nextAt(this.packed, p);
      this.packed = splice(this.packed, at, nextAt(this.packed, at), [value]);
      return false;
    }
    this.packedEntries = this.packedFields() + 1;
    this.packed = splice(this.packed, this.packed.length, this.packed.length, [field, value]);
    if (this.packedEntries > this.limits.hashListpackEntries) this.convert();
    return true;
  }

  /** True when the field existed. */
  delete(field: Key): boolean {
    const p = this.posOf(field);
    if (p < 0) return false;
    const t = this.table;
    if (t === null) {
      this.packedEntries = this.packedFields() - 1;
      this.packed = splice(this.packed, p, nextAt(this.packed, nextAt(this.packed, p)), []);
      return true;
    }
    t.contentBytes -= field.length + (t.vals.get(p) as Stored).length;
    t.vals.set(p, undefined);
    const vals = t.vals;
    t.index.remove(
      field,
      (from, to) => {
        vals.set(to, vals.get(from));
      },
      (n) => {
        vals.truncate(n);
      },
    );
    return true;
  }

  /** Fields and values (copies), in Redis's order for a listpack (insertion), else position order. */
  *entries(): IterableIterator<[Key, Buffer]> {
    const t = this.table;
    if (t === null) {
      const p = this.packed;
      for (let pos = 0; pos < p.length; pos = nextAt(p, nextAt(p, pos))) yield [entryAt(p, pos), this.packedValue(pos)];
      return;
    }
    for (let pos = 0; pos < t.index.positions; pos++) {
      const f = t.index.memberAt(pos);
      if (f !== undefined) yield [f, storedToBuffer(t.vals.get(pos) as Stored)];
    }
  }

  /**
   * Fields and/or values to `sink` in entries() order, straight from where they are held (the
   * HGETALL/HKEYS/HVALS reply path: no copy per element).
   */
  writeEntries(sink: MemberSink, fields: boolean, values: boolean): void {
    const t = this.table;
    if (t === null) {
      const p = this.packed;
      for (let pos = 0; pos < p.length; ) {
        const fLen = lengthAt(p, pos);
        const fAt = dataAt(p, pos);
        if (fields) sink.bulkLatin1(p, fAt, fLen);
        const vPos = fAt + fLen;
        const vLen = lengthAt(p, vPos);
        const vAt = dataAt(p, vPos);
        if (values) sink.bulkLatin1(p, vAt, vLen);
        pos = vAt + vLen;
      }
      return;
    }
    for (let pos = 0; pos < t.index.positions; pos++) {
      const f = t.index.memberAt(pos);
      if (f === undefined) continue;
      if (fields) sink.bulkLatin1(f, 0, f.length);
      if (values) {
        const v = t.vals.get(pos) as Stored;
        if (typeof v === 'string') sink.bulkLatin1(v, 0, v.length);
        else sink.bulk(v);
      }
    }
  }

  *keys(): IterableIterator<Key> {
    if (this.table !== null) {
      yield* this.table.index.keys();
      return;
    }
    const p = this.packed;
    for (let pos = 0; pos < p.length; pos = nextAt(p, nextAt(p, pos))) yield entryAt(p, pos);
  }

  /** A uniformly random field, or undefined when empty. `random(n)` returns an integer in [0, n). */
  randomField(random: (n: number) => number): Key | undefined {
    if (this.size === 0) return undefined;
    const t = this.table;
    if (t !== null) return t.index.memberAt(t.index.randomPosition(random));
    const p = this.packed;
    let pos = 0;
    for (let i = random(this.packedFields()); i > 0; i--) pos = nextAt(p, nextAt(p, pos));
    return entryAt(p, pos);
  }

  /**
   * One HSCAN step: a listpack returns everything at once (cursor 0), as Redis does; a hashtable
   * examines `count` positions from `cursor`. Returns the next cursor (0 = done).
   */
  scan(cursor: number, count: number, emit: (field: Key, value: Buffer) => void): number {
    const t = this.table;
    if (t === null) {
      for (const [f, v] of this.entries()) emit(f, v);
      return 0;
    }
    return t.index.scan(cursor, count, (p) => emit(t.index.memberAt(p) as Key, storedToBuffer(t.vals.get(p) as Stored)));
  }

  /**
   * Start a walk of the large form by positions that the table's compactions cannot make skip a
   * field (dense-table.ts, TableCursor); false while packed (a packed hash is small: a walk
   * copies its entries). Walk with `scan(cursor.pos, …)`, and untrack when done.
   */
  trackCursor(c: TableCursor): boolean {
    if (this.table === null) return false;
    this.table.index.track(c);
    return true;
  }

  untrackCursor(c: TableCursor): void {
    this.table?.index.untrack(c);
  }

  /** Switch to the hashtable form now (a copy of a hashtable-encoded hash stays one, as in Redis). */
  toHashtable(): void {
    if (this.table === null) this.convert();
  }

  /** The value after the field entry at `fieldPos`, as a new Buffer. */
  private packedValue(fieldPos: number): Buffer {
    const p = this.packed;
    const at = nextAt(p, fieldPos);
    const start = dataAt(p, at);
    return Buffer.from(p.slice(start, start + lengthAt(p, at)), 'latin1');
  }

  private convert(): void {
    const t: Table = { index: new DenseTable(), vals: new PagedArray<Stored>(), contentBytes: 0 };
    const p = this.packed;
    for (let pos = 0; pos < p.length; pos = nextAt(p, nextAt(p, pos))) {
      const f = entryAt(p, pos);
      const v = entryAt(p, nextAt(p, pos));
      t.vals.set(t.index.add(f), v);
      t.contentBytes += f.length + v.length;
    }
    this.table = t;
    this.packed = '';
    this.packedEntries = 0;
  }
}

/** Whether setting `field` to `value` in packed `p` converts it to the hashtable form first (a long field or value, or a packed string past its bound). */
function packedRefuses(p: string, field: Key, value: Buffer, limits: Readonly<EncodingLimits>): boolean {
  const valueMax = limits.hashListpackValueBytes;
  return field.length > valueMax || value.length > valueMax || p.length + entryBytes(field) + value.length + 10 > PACKED_BYTES_MAX;
}

/** Fields of a packed hash. */
function countFields(p: string): number {
  let n = 0;
  for (let pos = 0; pos < p.length; pos = nextAt(p, nextAt(p, pos))) n++;
  return n;
}

/** Char position of `field`'s entry in packed `p`, or -1 - (the number of fields) when missing: one walk for both. */
function findField(p: string, field: Key): number {
  let n = 0;
  for (let pos = 0; pos < p.length; pos = nextAt(p, nextAt(p, pos)), n++) if (entryEquals(p, pos, field)) return pos;
  return -1 - n;
}

/** Bytes of a hash cell in the memory estimate (MEMORY USAGE, liveBytes): a bare string is its header and bytes. */
export function hashCellBytes(cell: HashCell): number {
  return typeof cell === 'string' ? PACKED_STRING_OVERHEAD_BYTES + cell.length : cell.bytes;
}

/** A HashObject to read `cell` through (a bare string gets a new view; commands only read it). */
export function hashView(cell: HashCell, limits: Readonly<EncodingLimits>): HashObject {
  return typeof cell === 'string' ? HashObject.ofPacked(cell, limits) : cell;
}

/**
 * HSET on a bare hash: the next cell. Stays bare (a new string, as HashObject.set builds one) unless
 * the hash converts or grows past HASH_BARE_BYTES_MAX; then the HashObject it became.
 */
export function setBare(p: string, field: Key, value: Buffer, limits: Readonly<EncodingLimits>): HashCell {
  if (packedRefuses(p, field, value, limits)) return grown(p, field, value, limits);
  const at = findField(p, field);
  let next: string;
  if (at >= 0) {
    const vAt = nextAt(p, at);
    next = splice(p, vAt, nextAt(p, vAt), [value.latin1Slice(0, value.length)]);
  } else if (-at > limits.hashListpackEntries) return grown(p, field, value, limits);
  else next = splice(p, p.length, p.length, [field, value.latin1Slice(0, value.length)]);
  return next.length <= HASH_BARE_BYTES_MAX ? next : HashObject.ofPacked(next, limits);
}

/** The HashObject a bare hash becomes when `field` is set (HashObject.set converts it as Redis would). */
function grown(p: string, field: Key, value: Buffer, limits: Readonly<EncodingLimits>): HashObject {
  const h = HashObject.ofPacked(p, limits);
  h.set(field, value);
  return h;
}

/** HDEL on a bare hash: the next string (`p` itself when the field is missing). */
export function deleteBare(p: string, field: Key): string {
  const at = find(p, field, 2);
  return at < 0 ? p : splice(p, at, nextAt(p, nextAt(p, at)), []);
}
