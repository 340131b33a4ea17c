// A hash key's contents: field -> value bytes, with the encoding Redis 7.0 would report.
// Owns the representation and its memory estimate; never logs and never sees the keyspace
// (the keyspace mutates it only while applying an op; commands only read it).
//
// Two representations, as Redis's listpack and hashtable: a small hash is two parallel arrays
// in insertion order (what HGETALL returns for a listpack in Redis, so replies match byte for
// byte), searched linearly like a listpack; past hash-max-listpack-entries entries, or once a
// field or value is longer than hash-max-listpack-value bytes, it becomes a DenseTable index
// with parallel values (O(1) lookups and random fields) and never goes back, as in Redis.
// Values are held as latin1 strings (one char per byte: far less heap than a Buffer each).

import { DenseTable } from './dense-table.js';
import type { Key } from './types.js';

/** Redis 7.0 defaults: hash-max-listpack-entries / hash-max-listpack-value. */
export const HASH_LISTPACK_ENTRIES_MAX = 128;
export const HASH_LISTPACK_VALUE_BYTES_MAX = 64;
/** Values longer than this stay Buffers (a string that long is close to V8's string length limit). */
const VALUE_STRING_BYTES_MAX = 64 * 1024 * 1024;
/** Memory estimate (MEMORY USAGE, liveBytes): per object and per entry, beyond the bytes themselves. */
const OBJECT_OVERHEAD_BYTES = 64;
const LISTPACK_ENTRY_OVERHEAD_BYTES = 40;
const HASHTABLE_ENTRY_OVERHEAD_BYTES = 96;

type Stored = string | Buffer;

function toStored(v: Buffer): Stored {
  return v.length <= VALUE_STRING_BYTES_MAX ? v.latin1Slice(0, v.length) : Buffer.from(v);
}

function storedToBuffer(v: Stored): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'latin1') : v;
}

export class HashObject {
  /** Listpack form (table === null): fields and values in insertion order. */
  private fields: Key[] = [];
  /** Values: parallel to `fields`, or to the table's positions (undefined = free position). */
  private vals: Array<Stored | undefined> = [];
  private table: DenseTable | null = null;
  /** Sum of field and value lengths. */
  private contentBytes = 0;

  get size(): number {
    return this.table === null ? this.fields.length : this.table.size;
  }

  get encoding(): 'listpack' | 'hashtable' {
    return this.table === null ? 'listpack' : 'hashtable';
  }

  get bytes(): number {
    const per = this.table === null ? LISTPACK_ENTRY_OVERHEAD_BYTES : HASHTABLE_ENTRY_OVERHEAD_BYTES;
    return OBJECT_OVERHEAD_BYTES + this.contentBytes + this.size * per;
  }

  private posOf(field: Key): number {
    return this.table === null ? this.fields.indexOf(field) : this.table.positionOf(field);
  }

  has(field: Key): boolean {
    return this.posOf(field) >= 0;
  }

  /** A copy of the value (the caller may keep it). */
  get(field: Key): Buffer | undefined {
    const p = this.posOf(field);
    return p < 0 ? undefined : storedToBuffer(this.vals[p] as Stored);
  }

  /** Value length without a copy; -1 if the field is missing. */
  valueLength(field: Key): number {
    const p = this.posOf(field);
    return p < 0 ? -1 : (this.vals[p] as Stored).length;
  }

  /** Insert or replace; true when the field is new. The bytes are copied. */
  set(field: Key, value: Buffer): boolean {
    if (this.table === null && (field.length > HASH_LISTPACK_VALUE_BYTES_MAX || value.length > HASH_LISTPACK_VALUE_BYTES_MAX)) this.convert();
    const p = this.posOf(field);
    const v = toStored(value);
    if (p >= 0) {
      this.contentBytes += v.length - (this.vals[p] as Stored).length;
      this.vals[p] = v;
      return false;
    }
    this.contentBytes += field.length + v.length;
    if (this.table === null) {
      this.fields.push(field);
      this.vals.push(v);
      if (this.fields.length > HASH_LISTPACK_ENTRIES_MAX) this.convert();
    } else {
      this.vals[this.table.add(field)] = v;
    }
    return true;
  }

  /** True when the field existed. */
  delete(field: Key): boolean {
    const p = this.posOf(field);
    if (p < 0) return false;
    this.contentBytes -= field.length + (this.vals[p] as Stored).length;
    if (this.table === null) {
      this.fields.splice(p, 1);
      this.vals.splice(p, 1);
    } else {
      this.vals[p] = undefined;
      const vals = this.vals;
      this.table.remove(
        field,
        (from, to) => {
          vals[to] = vals[from];
        },
        (n) => {
          vals.length = n;
        },
      );
    }
    return true;
  }

  /** Fields and values (copies), in Redis's order for a listpack (insertion), else position order. */
  *entries(): IterableIterator<[Key, Buffer]> {
    if (this.table === null) {
      for (let i = 0; i < this.fields.length; i++) yield [this.fields[i] as Key, storedToBuffer(this.vals[i] as Stored)];
      return;
    }
    for (let p = 0; p < this.table.positions; p++) {
      const f = this.table.memberAt(p);
      if (f !== undefined) yield [f, storedToBuffer(this.vals[p] as Stored)];
    }
  }

  *keys(): IterableIterator<Key> {
    if (this.table === null) yield* this.fields;
    else yield* this.table.keys();
  }

  /** A uniformly random field, or undefined when empty. `random(n)` returns an integer in [0, n). */
  randomField(random: (n: number) => number): Key | undefined {
    if (this.size === 0) return undefined;
    if (this.table === null) return this.fields[random(this.fields.length)];
    return this.table.memberAt(this.table.randomPosition(random));
  }

  /**
   * One HSCAN step: a listpack returns everything at once (cursor 0), as Redis does; a hashtable
   * examines `count` positions from `cursor`. Returns the next cursor (0 = done).
   */
  scan(cursor: number, count: number, emit: (field: Key, value: Buffer) => void): number {
    if (this.table === null) {
      for (const [f, v] of this.entries()) emit(f, v);
      return 0;
    }
    const t = this.table;
    return t.scan(cursor, count, (p) => emit(t.memberAt(p) as Key, storedToBuffer(this.vals[p] as Stored)));
  }

  private convert(): void {
    const table = new DenseTable();
    const vals: Array<Stored | undefined> = [];
    for (let i = 0; i < this.fields.length; i++) vals[table.add(this.fields[i] as Key)] = this.vals[i];
    this.table = table;
    this.vals = vals;
    this.fields = [];
  }
}
