// A set key's contents: distinct members, with the encoding Redis 7.0 would report.
// Owns the representation and its memory estimate; never logs and never sees the keyspace
// (the keyspace mutates it only while applying an op; commands only read it).
//
// Members live in a DenseTable (O(1) lookup and random member, positions as SCAN cursors).
// The encoding is Redis 7.0's: 'intset' while every member is an int64 in canonical form and
// there are at most set-max-intset-entries of them, then 'hashtable' for good (7.0 has no
// listpack sets). An intset iterates in ascending numeric order, as Redis's does, so SMEMBERS
// on a small integer set replies exactly as Redis.

import { DenseTable } from './dense-table.js';
import type { Key } from './types.js';

/** Redis 7.0 default set-max-intset-entries. */
export const SET_INTSET_ENTRIES_MAX = 512;
const OBJECT_OVERHEAD_BYTES = 64;
const INTSET_ENTRY_OVERHEAD_BYTES = 40;
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

function compareInt64Text(a: Key, b: Key): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export class SetObject {
  private readonly table = new DenseTable();
  private intset = true;
  private contentBytes = 0;

  get size(): number {
    return this.table.size;
  }

  get encoding(): 'intset' | 'hashtable' {
    return this.intset ? 'intset' : 'hashtable';
  }

  get bytes(): number {
    return OBJECT_OVERHEAD_BYTES + this.contentBytes + this.size * (this.intset ? INTSET_ENTRY_OVERHEAD_BYTES : HASHTABLE_ENTRY_OVERHEAD_BYTES);
  }

  has(member: Key): boolean {
    return this.table.positionOf(member) >= 0;
  }

  /** True when the member is new. */
  add(member: Key): boolean {
    if (this.table.positionOf(member) >= 0) return false;
    if (this.intset && (!isInt64Text(member) || this.table.size >= SET_INTSET_ENTRIES_MAX)) this.intset = false;
    this.table.add(member);
    this.contentBytes += member.length;
    return true;
  }

  /** True when the member existed. */
  delete(member: Key): boolean {
    const noop = (): void => undefined;
    if (this.table.remove(member, noop, noop) < 0) return false;
    this.contentBytes -= member.length;
    return true;
  }

  /** Members: ascending numeric order for an intset (as Redis), else position order. */
  members(): IterableIterator<Key> {
    if (!this.intset) return this.table.keys();
    return [...this.table.keys()].sort(compareInt64Text)[Symbol.iterator]();
  }

  /** A uniformly random member, or undefined when empty. `random(n)` returns an integer in [0, n). */
  randomMember(random: (n: number) => number): Key | undefined {
    if (this.table.size === 0) return undefined;
    return this.table.memberAt(this.table.randomPosition(random));
  }

  /** One SSCAN step: an intset returns everything at once (cursor 0), as Redis does. Returns the next cursor. */
  scan(cursor: number, count: number, emit: (member: Key) => void): number {
    if (this.intset) {
      for (const m of this.members()) emit(m);
      return 0;
    }
    return this.table.scan(cursor, count, (p) => emit(this.table.memberAt(p) as Key));
  }
}
