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

import type { Key } from './types.js';

/** Compact when fewer than 1/COMPACT_SPARSENESS of the positions are in use (random picks stay O(1)). */
const COMPACT_SPARSENESS = 4;
/** Tables with fewer positions than this are never compacted (not worth it). */
const COMPACT_POSITIONS_MIN = 256;

/**
 * A walk's next position to examine. While tracked (DenseTable.track), a compaction moves it to
 * where the first member at or after it moved to: compaction keeps the members' order, so the
 * walk still sees every member it has not passed, and none twice.
 */
export interface TableCursor {
  pos: number;
}

export class DenseTable {
  private readonly index = new Map<Key, number>();
  /** Position -> member (undefined = free). */
  private readonly members: Array<Key | undefined> = [];
  private readonly freePositions: number[] = [];
  /** Cursors of walks in progress (snapshot chunks); null when none (most tables, all the time). */
  private cursors: TableCursor[] | null = null;

  get size(): number {
    return this.index.size;
  }

  /** Positions handed out (the cursor range). */
  get positions(): number {
    return this.members.length;
  }

  positionOf(member: Key): number {
    return this.index.get(member) ?? -1;
  }

  memberAt(pos: number): Key | undefined {
    return this.members[pos];
  }

  /** Insert `member` (absent) and return its position. */
  add(member: Key): number {
    const pos = this.freePositions.length > 0 ? (this.freePositions.pop() as number) : this.members.length;
    this.members[pos] = member;
    this.index.set(member, pos);
    return pos;
  }

  /**
   * Remove `member`; returns its former position or -1. May compact afterwards: then `moved(from,
   * to)` is called for every member that changes position, in increasing order of `to`, and
   * `truncate(n)` once with the new number of positions.
   */
  remove(member: Key, moved: (from: number, to: number) => void, truncate: (positions: number) => void): number {
    const pos = this.index.get(member);
    if (pos === undefined) return -1;
    this.index.delete(member);
    this.members[pos] = undefined;
    this.freePositions.push(pos);
    if (this.members.length >= COMPACT_POSITIONS_MIN && this.index.size * COMPACT_SPARSENESS < this.members.length) {
      this.compact(moved, truncate);
    }
    return pos;
  }

  /** A uniformly random position in use (the table is never sparser than 1/COMPACT_SPARSENESS). */
  randomPosition(random: (n: number) => number): number {
    if (this.index.size === 0) return -1;
    for (;;) {
      const pos = random(this.members.length);
      if (this.members[pos] !== undefined) return pos;
    }
  }

  *keys(): IterableIterator<Key> {
    for (const m of this.members) if (m !== undefined) yield m;
  }

  /** Positions in use from `cursor`, at most `count` positions examined; returns the next cursor (0 = done). */
  scan(cursor: number, count: number, emit: (pos: number) => void): number {
    const end = Math.min(this.members.length, cursor + Math.max(1, count));
    let p = cursor;
    for (; p < end; p++) if (this.members[p] !== undefined) emit(p);
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
      const m = this.members[from];
      if (m === undefined) continue;
      if (from !== to) {
        this.members[to] = m;
        this.index.set(m, to);
        moved(from, to);
      }
      to++;
    }
    for (let k = 0; k < cs.length; k++) if ((olds[k] as number) >= end) (cs[k] as TableCursor).pos = to;
    this.members.length = to;
    this.freePositions.length = 0;
    truncate(to);
  }
}
