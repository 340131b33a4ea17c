// The member index of a large collection (a hash or set past its compact encoding): member ->
// position in a dense array, so a random member is O(1) and a scan cursor is a position.
// Owns the positions only (the owner keeps parallel arrays, e.g. a hash's values, through the
// `moved` callback); never decides an encoding and never touches the keyspace.
//
// A member keeps its position from insert to delete (a freed position is reused by a later
// insert), so a cursor walk returns every member present for the whole walk at least once. The
// one exception is compaction, when the table has shrunk to a quarter of its positions: members
// then move down, and a scan in progress may miss some (docs/storage.md, 'Collections'). A walk
// that must not (a snapshot's) tracks its cursor: compaction moves it with the members.
//
// The index is open addressing over an Int32Array (position + 1 per slot; hashes recomputed
// from the member when slots move), not a Map: a Map doubles by rehashing every entry in one
// synchronous call, a pause that grows with the collection. Here growing allocates the doubled
// table and leaves the old one in place; every add, remove and lookup then moves a bounded
// number of old slots (RESIZE_SLOTS_PER_OP) until none are left, and lookups meanwhile check
// both tables. Compaction (a removal past the sparseness bound) still rebuilds the index at once.

import { hashStr, MEMBER_HASH_SEED } from './fnv.js';
import { PagedArray } from './paged-array.js';
import type { Key } from './types.js';

/** Compact when fewer than 1/COMPACT_SPARSENESS of the positions are in use (random picks stay O(1)). */
const COMPACT_SPARSENESS = 4;
/** Tables with fewer positions than this are never compacted (not worth it). */
const COMPACT_POSITIONS_MIN = 256;
/** Slots of a new index (a power of two). */
const SLOTS_MIN = 16;
/** Grow the index once more than SLOT_FILL_NUM / SLOT_FILL_DEN of its slots are in use (probe runs stay short). */
const SLOT_FILL_NUM = 3;
const SLOT_FILL_DEN = 4;
/**
 * Old-index slots moved to the new index per operation while a resize runs. Any value >= 2
 * finishes the move before the new index must grow (it starts half as full as its growth
 * point, so that is at least 3/4 of the old index's slot count in adds away); a few per
 * operation keep the old array's life short.
 */
export const RESIZE_SLOTS_PER_OP = 8;
/** An old-index slot whose member was removed during a resize (that index is only drained, never probed for a place). */
const TOMBSTONE = -1;

/**
 * A walk's next position to examine. While tracked (DenseTable.track), a compaction moves it to
 * where the first member at or after it moved to: compaction keeps the members' order, so the
 * walk still sees every member it has not passed, and none twice.
 */
export interface TableCursor {
  pos: number;
}

export class DenseTable {
  /** Open addressing with linear probing: position + 1, 0 = empty. Length is a power of two. */
  private slots = new Int32Array(SLOTS_MIN);
  /** During a resize, the index being drained into `slots` (from slot `drained` up); null otherwise. */
  private old: Int32Array | null = null;
  /** Slots of `old` below this were moved (and are never read again). */
  private drained = 0;
  private count = 0;
  /** Position -> member (undefined = free). */
  private readonly members = new PagedArray<Key>();
  private readonly freePositions: number[] = [];
  /** Cursors of walks in progress (snapshot chunks); null when none (most tables, all the time). */
  private cursors: TableCursor[] | null = null;
  /** The last member hashed and its hash: an insert or removal right after its lookup (HSET, SADD, HDEL) hashes once. */
  private lastMember: Key | null = null;
  private lastHash = 0;
  /** Slots placed by index maintenance (resize steps and rebuilds), for tests that bound the work per operation. */
  slotsRehashed = 0;

  get size(): number {
    return this.count;
  }

  /** Positions handed out (the cursor range). */
  get positions(): number {
    return this.members.length;
  }

  /** Slots of the index (the new one during a resize). */
  get indexSlots(): number {
    return this.slots.length;
  }

  /** Whether a resize is moving slots. */
  get resizing(): boolean {
    return this.old !== null;
  }

  positionOf(member: Key): number {
    if (this.old !== null) this.drain(RESIZE_SLOTS_PER_OP);
    const h = this.hashOf(member);
    const i = this.slotIn(this.slots, member, h);
    if (i >= 0) return (this.slots[i] as number) - 1;
    if (this.old === null) return -1;
    const j = this.oldSlotOf(member, h);
    return j < 0 ? -1 : (this.old[j] as number) - 1;
  }

  memberAt(pos: number): Key | undefined {
    return this.members.get(pos);
  }

  /** Insert `member` (absent) and return its position. */
  add(member: Key): number {
    if (this.old !== null) this.drain(RESIZE_SLOTS_PER_OP);
    if ((this.count + 1) * SLOT_FILL_DEN > this.slots.length * SLOT_FILL_NUM) this.beginResize();
    const pos = this.freePositions.length > 0 ? (this.freePositions.pop() as number) : this.members.length;
    this.members.set(pos, member);
    this.place(this.slots, pos, this.hashOf(member));
    this.count++;
    return pos;
  }

  /**
   * Remove `member`; returns its former position or -1. May compact afterwards: then `moved(from,
   * to)` is called for every member that changes position, in increasing order of `to`, and
   * `truncate(n)` once with the new number of positions.
   */
  remove(member: Key, moved: (from: number, to: number) => void, truncate: (positions: number) => void): number {
    if (this.old !== null) this.drain(RESIZE_SLOTS_PER_OP);
    const h = this.hashOf(member);
    let pos: number;
    const i = this.slotIn(this.slots, member, h);
    if (i >= 0) {
      pos = (this.slots[i] as number) - 1;
      this.unplace(i);
    } else {
      const j = this.old === null ? -1 : this.oldSlotOf(member, h);
      if (j < 0) return -1;
      const old = this.old as Int32Array;
      pos = (old[j] as number) - 1;
      old[j] = TOMBSTONE;
    }
    this.count--;
    this.members.set(pos, undefined);
    this.freePositions.push(pos);
    if (this.members.length >= COMPACT_POSITIONS_MIN && this.count * COMPACT_SPARSENESS < this.members.length) {
      this.compact(moved, truncate);
    }
    return pos;
  }

  /** A uniformly random position in use (the table is never sparser than 1/COMPACT_SPARSENESS). */
  randomPosition(random: (n: number) => number): number {
    if (this.count === 0) return -1;
    for (;;) {
      const pos = random(this.members.length);
      if (this.members.get(pos) !== undefined) return pos;
    }
  }
  *keys(): IterableIterator<Key> {
    for (let pos = 0; pos < this.members.length; pos++) {
      const m = this.members.get(pos);
      if (m !== undefined) yield m;
    }
  }

  /** Positions in use from `cursor`, at most `count` positions examined; returns the next cursor (0 = done). */
  scan(cursor: number, count: number, emit: (pos: number) => void): number {
    const end = Math.min(this.members.length, cursor + Math.max(1, count));
    let p = cursor;
    for (; p < end; p++) if (this.members.get(p) !== undefined) emit(p);
    return p >= this.members.length ? 0 : p;
  }

  /** Keep `c` pointing at the same next member across compactions until untracked. */
  track(c: TableCursor): void {
    (this.cursors ??= []).push(c);
  }

  untrack(c: TableCursor): void {
    const cs = this.cursors;
    if (cs === null) return;
    const i = cs.indexOf(c);
    if (i >= 0) cs.splice(i, 1);
    if (cs.length === 0) this.cursors = null;
  }

  private compact(moved: (from: number, to: number) => void, truncate: (positions: number) => void): void {
    const cs = this.cursors ?? [];
    const olds = cs.map((c) => c.pos);
    const end = this.members.length;
    let to = 0;
    for (let from = 0; from < end; from++) {
      for (let k = 0; k < cs.length; k++) if (olds[k] === from) (cs[k] as TableCursor).pos = to;
      const m = this.members.get(from);
      if (m === undefined) continue;
      if (from !== to) {
        this.members.set(to, m);
        moved(from, to);
      }
      to++;
    }
    for (let k = 0; k < cs.length; k++) if ((olds[k] as number) >= end) (cs[k] as TableCursor).pos = to;
    this.members.truncate(to);
    this.freePositions.length = 0;
    this.rebuild();
    truncate(to);
  }

  /** A fresh index sized for the members, placed at once (compaction renumbered them all anyway). */
  private rebuild(): void {
    let n = SLOTS_MIN;
    while (this.count * SLOT_FILL_DEN > n * SLOT_FILL_NUM) n *= 2;
    this.old = null;
    this.drained = 0;
    this.slots = new Int32Array(n);
    for (let pos = 0; pos < this.members.length; pos++) {
      const m = this.members.get(pos);
      if (m !== undefined) this.place(this.slots, pos, hashStr(MEMBER_HASH_SEED, m));
    }
    this.slotsRehashed += this.count;
  }

  /** Start moving to an index of twice the slots; a resize still running finishes first (never, by RESIZE_SLOTS_PER_OP's bound). */
  private beginResize(): void {
    if (this.old !== null) this.drain(this.old.length);
    this.old = this.slots;
    this.drained = 0;
    this.slots = new Int32Array(this.old.length * 2);
  }

  /** Move up to `n` slots of the old index into the new one; drop the old one when all are moved. */
  private drain(n: number): void {
    const old = this.old as Int32Array;
    const end = Math.min(old.length, this.drained + n);
    for (let i = this.drained; i < end; i++) {
      const v = old[i] as number;
      if (v > 0) this.place(this.slots, v - 1, hashStr(MEMBER_HASH_SEED, this.members.get(v - 1) as Key));
    }
    this.slotsRehashed += end - this.drained;
    this.drained = end;
    if (end === old.length) this.old = null;
  }

  private hashOf(member: Key): number {
    if (member !== this.lastMember) {
      this.lastHash = hashStr(MEMBER_HASH_SEED, member);
      this.lastMember = member;
    }
    return this.lastHash;
  }

  /** The slot of `member` in `slots` (a complete linear-probing index), or -1. */
  private slotIn(slots: Int32Array, member: Key, h: number): number {
    const mask = slots.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = slots[i] as number;
      if (v === 0) return -1;
      if (this.members.get(v - 1) === member) return i;
    }
  }

  /**
   * The slot of `member` in the old index, or -1. Its slots below `drained` are moved (read as
   * empty, never probed): a probe that reaches them skips to `drained`, which keeps every run of
   * the undrained part reachable from a member's home; at most the undrained slots are probed.
   */
  private oldSlotOf(member: Key, h: number): number {
    const old = this.old as Int32Array;
    const mask = old.length - 1;
    let i = h & mask;
    for (let left = old.length - this.drained; left > 0; left--) {
      if (i < this.drained) i = this.drained;
      const v = old[i] as number;
      if (v === 0) return -1;
      if (v > 0 && this.members.get(v - 1) === member) return i;
      i = (i + 1) & mask;
    }
    return -1;
  }

  private place(slots: Int32Array, pos: number, h: number): void {
    const mask = slots.length - 1;
    let i = h & mask;
    while (slots[i] !== 0) i = (i + 1) & mask;
    slots[i] = pos + 1;
  }

  /** Empty slot `i` of the (new) index by backward-shift deletion: no tombstones in the index that takes inserts. */
  private unplace(at: number): void {
    const slots = this.slots;
    const mask = slots.length - 1;
    let i = at;
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const v = slots[j] as number;
      if (v === 0) break;
      const home = hashStr(MEMBER_HASH_SEED, this.members.get(v - 1) as Key) & mask;
      // v may move to i when its home is not cyclically within (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        slots[i] = v;
        i = j;
      }
    }
    slots[i] = 0;
  }
}
