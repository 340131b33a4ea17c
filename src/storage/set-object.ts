// A set key's contents: distinct members, with the encoding Redis 7.0 would report.
// Owns the representation and its memory estimate; never logs and never sees the keyspace
// (the keyspace mutates it only while applying an op; commands only read it).
//
// The encoding is Redis 7.0's: 'intset' while every member is an int64 in canonical form and
// there are at most set-max-intset-entries of them, then 'hashtable' for good (7.0 has no
// listpack sets). An intset iterates in ascending numeric order, as Redis's does, so SMEMBERS
// on a small integer set replies exactly as Redis.
// Two representations: an intset, and a 'hashtable' set of at most SET_PACKED_ENTRIES_MAX
// short members, are one packed string (packed-list.ts; an intset's kept in numeric order),
// searched linearly; a larger set lives in a DenseTable (O(1) lookup and random member,
// positions as SCAN cursors) and never goes back.

import { DenseTable, type TableCursor } from './dense-table.js';
import { entryAt, entryBytes, find, nextAt, PACKED_BYTES_MAX, splice } from './packed-list.js';
import { REDIS_ENCODING_LIMITS, type EncodingLimits } from './collection.js';
import type { Key } from './types.js';

/** Redis 7.0 default set-max-intset-entries (EncodingLimits may change it). */
export const SET_INTSET_ENTRIES_MAX = REDIS_ENCODING_LIMITS.setIntsetEntries;
/** A non-intset set stays packed up to this many members of at most SET_PACKED_MEMBER_BYTES_MAX (Redis 7.2's listpack set limits). */
export const SET_PACKED_ENTRIES_MAX = 128;
export const SET_PACKED_MEMBER_BYTES_MAX = 64;
const OBJECT_OVERHEAD_BYTES = 64;
/** The packed string's header (its bytes are counted one for one). */
const PACKED_STRING_OVERHEAD_BYTES = 24;
const HASHTABLE_ENTRY_OVERHEAD_BYTES = 72;
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/** Redis string2ll on a member: "0", or an optional '-' then a non-zero digit and digits, within int64. */
export function isInt64Text(s: Key): boolean {
  const n = s.length;
  if (n === 0 || n > 20) return false;
  if (s === '0') return true;
  let i = s.charCodeAt(0) === 0x2d ? 1 : 0;
  if (i === n) return false;
  const first = s.charCodeAt(i);
  if (first < 0x31 || first > 0x39) return false;
  for (i++; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  if (n < 18) return true;
  const v = BigInt(s);
  return v >= INT64_MIN && v <= INT64_MAX;
}

/** Numeric order of two canonical int64 texts (isInt64Text), without parsing: sign, then length, then digits. */
export function compareInt64Text(a: Key, b: Key): number {
  const an = a.charCodeAt(0) === 0x2d;
  const bn = b.charCodeAt(0) === 0x2d;
  if (an !== bn) return an ? -1 : 1;
  const mag = a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
  return an && mag !== 0 ? -mag : mag;
}

export class SetObject {
  /** Packed form (table === null): members, in numeric order while an intset, else insertion order. */
  private packed = '';
  private packedEntries = 0;
  private table: DenseTable | null = null;
  private intset = true;
  /** Sum of member lengths in the table form. */
  private contentBytes = 0;

  constructor(private readonly limits: Readonly<EncodingLimits> = REDIS_ENCODING_LIMITS) {}

  get size(): number {
    return this.table === null ? this.packedEntries : this.table.size;
  }

  get encoding(): 'intset' | 'hashtable' {
    return this.intset ? 'intset' : 'hashtable';
  }

  get bytes(): number {
    if (this.table === null) return OBJECT_OVERHEAD_BYTES + PACKED_STRING_OVERHEAD_BYTES + this.packed.length;
    return OBJECT_OVERHEAD_BYTES + this.contentBytes + this.table.size * HASHTABLE_ENTRY_OVERHEAD_BYTES;
  }

  /** Switch to the hashtable encoding now (a copy of a hashtable-encoded set stays one, as in Redis). */
  toHashtable(): void {
    this.intset = false;
    if (this.table === null && this.packedEntries > SET_PACKED_ENTRIES_MAX) this.convert();
  }

  has(member: Key): boolean {
    return this.table === null ? find(this.packed, member, 1) >= 0 : this.table.positionOf(member) >= 0;
  }

  /** True when the member is new. */
  add(member: Key): boolean {
    if (this.has(member)) return false;
    if (this.intset && (!isInt64Text(member) || this.size >= this.limits.setIntsetEntries)) this.toHashtable();
    if (this.table === null && !this.intset) {
      const full = this.packedEntries >= SET_PACKED_ENTRIES_MAX || member.length > SET_PACKED_MEMBER_BYTES_MAX;
      if (full || this.packed.length + entryBytes(member) > PACKED_BYTES_MAX) this.convert();
    }
    if (this.table !== null) {
      this.table.add(member);
      this.contentBytes += member.length;
      return true;
    }
    const at = this.intset ? this.intsetInsertAt(member) : this.packed.length;
    this.packed = splice(this.packed, at, at, [member]);
    this.packedEntries++;
    return true;
  }

  /** True when the member existed. */
  delete(member: Key): boolean {
    if (this.table === null) {
      const p = find(this.packed, member, 1);
      if (p < 0) return false;
      this.packed = splice(this.packed, p, nextAt(this.packed, p), []);
      this.packedEntries--;
      return true;
    }
    const noop = (): void => undefined;
    if (this.table.remove(member, noop, noop) < 0) return false;
    this.contentBytes -= member.length;
    return true;
  }

  /** Members: ascending numeric order for an intset (as Redis), else packed or position order. */
  *members(): IterableIterator<Key> {
    if (this.table !== null) {
      yield* this.table.keys();
      return;
    }
    const p = this.packed;
    for (let pos = 0; pos < p.length; pos = nextAt(p, pos)) yield entryAt(p, pos);
  }

  /** A uniformly random member, or undefined when empty. `random(n)` returns an integer in [0, n). */
  randomMember(random: (n: number) => number): Key | undefined {
    if (this.size === 0) return undefined;
    const t = this.table;
    if (t !== null) return t.memberAt(t.randomPosition(random));
    let pos = 0;
    for (let i = random(this.packedEntries); i > 0; i--) pos = nextAt(this.packed, pos);
    return entryAt(this.packed, pos);
  }

  /** One SSCAN step: a packed set returns everything at once (cursor 0), as Redis does for an intset. Returns the next cursor. */
  scan(cursor: number, count: number, emit: (member: Key) => void): number {
    const t = this.table;
    if (t === null) {
      for (const m of this.members()) emit(m);
      return 0;
    }
    return t.scan(cursor, count, (p) => emit(t.memberAt(p) as Key));
  }

  /** As HashObject.trackCursor: false while packed (small: a walk copies its members). */
  trackCursor(c: TableCursor): boolean {
    if (this.table === null) return false;
    this.table.track(c);
    return true;
  }

  untrackCursor(c: TableCursor): void {
    this.table?.untrack(c);
  }

  /** Char position of the first member numerically greater than `member` (or the end). */
  private intsetInsertAt(member: Key): number {
    const p = this.packed;
    let pos = 0;
    while (pos < p.length && compareInt64Text(entryAt(p, pos), member) < 0) pos = nextAt(p, pos);
    return pos;
  }

  private convert(): void {
    const t = new DenseTable();
    for (const m of this.members()) {
      t.add(m);
      this.contentBytes += m.length;
    }
    this.table = t;
    this.packed = '';
    this.packedEntries = 0;
  }
}
