// ElementTable: the elements of a large sorted set by id (member string, score, member hash),
// and the member -> id index, an open-addressing hash over typed arrays. Owns those arrays and
// the ids; never orders elements (zset.ts's tree holds ids in score order) and never touches
// the keyspace.
//
// Why not a Map<Key, number>: a V8 Map entry is three tagged words plus its bucket share, at a
// load that halves on every doubling; here an element costs its member pointer, a Float64 score,
// an Int32 hash and an Int32 slot at a load of 3/8 to 3/4, all but the member pointer off the
// GC heap (docs/storage.md, 'Sorted sets').
//
// An element keeps its id from insert to delete (a freed id is reused by a later insert), so
// ids serve as ZSCAN cursors: a walk returns every member present for the whole walk at least
// once. The exception is compaction, when fewer than a quarter of the ids are in use: ids then
// move down (in id order), and a walk in progress may miss some, as DenseTable's positions.

import { randomInt } from 'node:crypto';
import type { Key } from './types.js';

/** Slots of a new index (a power of two). */
const SLOTS_MIN = 16;
/** Grow the slot array once more than SLOT_FILL_NUM / SLOT_FILL_DEN of it is in use (probe runs stay short). */
const SLOT_FILL_NUM = 3;
const SLOT_FILL_DEN = 4;
/** Ids of a new table. */
const IDS_MIN = 16;
/** Compact when fewer than 1/COMPACT_SPARSENESS of the ids are in use... */
const COMPACT_SPARSENESS = 4;
/** ...and at least this many ids were handed out (not worth it below). */
const COMPACT_IDS_MIN = 256;

/**
 * The per-process seed of member hashes, so a client cannot precompute members that collide
 * (the probe runs of an open-addressing table would turn lookups linear).
 */
const HASH_SEED = (0x811c_9dc5 ^ randomInt(0x7fff_ffff)) >>> 0;

/** FNV-1a over the member's bytes (one char per byte), finished with murmur3's mix for the low bits. */
function hashMember(m: Key): number {
  let h = HASH_SEED;
  for (let i = 0; i < m.length; i++) h = Math.imul(h ^ m.charCodeAt(i), 0x0100_0193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85eb_ca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2_ae35);
  return h ^ (h >>> 16);
}

function grownTo(capacity: number, need: number): number {
  let c = capacity;
  while (c < need) c += (c >> 1) + IDS_MIN;
  return c;
}

export class ElementTable {
  /** id -> member (undefined = free id). */
  private members: Array<Key | undefined> = [];
  private scores = new Float64Array(IDS_MIN);
  private hashes = new Int32Array(IDS_MIN);
  private readonly freeIds: number[] = [];
  /** Open addressing with linear probing: id + 1, 0 = empty. Length is a power of two. */
  private slots = new Int32Array(SLOTS_MIN);
  size = 0;

  /** Ids handed out (the cursor range). */
  get ids(): number {
    return this.members.length;
  }

  member(id: number): Key {
    return this.members[id] as Key;
  }

  score(id: number): number {
    return this.scores[id] as number;
  }

  setScore(id: number, score: number): void {
    this.scores[id] = score;
  }

  /** The id of `member`, or -1. */
  find(member: Key): number {
    const h = hashMember(member);
    const mask = this.slots.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = this.slots[i] as number;
      if (v === 0) return -1;
      if (this.hashes[v - 1] === h && this.members[v - 1] === member) return v - 1;
    }
  }

  /** Insert `member` (absent) with `score`; returns its id. */
  add(member: Key, score: number): number {
    if ((this.size + 1) * SLOT_FILL_DEN > this.slots.length * SLOT_FILL_NUM) this.rehash(this.slots.length * 2);
    const id = this.freeIds.length > 0 ? (this.freeIds.pop() as number) : this.members.length;
    if (id >= this.scores.length) this.resizeIds(grownTo(this.scores.length, id + 1));
    const h = hashMember(member);
    this.members[id] = member;
    this.scores[id] = score;
    this.hashes[id] = h;
    this.place(id, h);
    this.size++;
    return id;
  }

  /** Remove element `id` (in use). Its id is free afterwards. */
  remove(id: number): void {
    const mask = this.slots.length - 1;
    let i = (this.hashes[id] as number) & mask;
    while (this.slots[i] !== id + 1) i = (i + 1) & mask;
    // Backward-shift deletion: pull later members of the run into the hole when their home
    // slot allows it, so lookups never need tombstones.
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const v = this.slots[j] as number;
      if (v === 0) break;
      const home = (this.hashes[v - 1] as number) & mask;
      // v may move to i when its home is not cyclically within (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        this.slots[i] = v;
        i = j;
      }
    }
    this.slots[i] = 0;
    this.members[id] = undefined;
    this.freeIds.push(id);
    this.size--;
  }

  /** True when the ids are sparse enough for `compact` (the owner calls it, as it must renumber its own ids). */
  get sparse(): boolean {
    return this.members.length >= COMPACT_IDS_MIN && this.size * COMPACT_SPARSENESS < this.members.length;
  }

  /**
   * Renumber the elements 0..size-1 in id order and shrink every array to fit; returns the
   * mapping old id -> new id (-1 for a free id).
   */
  compact(): Int32Array {
    const n = this.members.length;
    const remap = new Int32Array(n).fill(-1);
    let to = 0;
    for (let from = 0; from < n; from++) {
      const m = this.members[from];
      if (m === undefined) continue;
      remap[from] = to;
      this.members[to] = m;
      this.scores[to] = this.scores[from] as number;
      this.hashes[to] = this.hashes[from] as number;
      to++;
    }
    this.members.length = to;
    this.freeIds.length = 0;
    this.resizeIds(Math.max(IDS_MIN, to + (to >> 2)));
    let slots = SLOTS_MIN;
    while (to * SLOT_FILL_DEN > slots * SLOT_FILL_NUM) slots *= 2;
    this.rehash(slots);
    return remap;
  }

  /** Ids in use from `cursor`, at most `count` ids examined; returns the next cursor (0 = done). */
  scan(cursor: number, count: number, emit: (id: number) => void): number {
    const end = Math.min(this.members.length, cursor + Math.max(1, count));
    let id = cursor;
    for (; id < end; id++) if (this.members[id] !== undefined) emit(id);
    return id >= this.members.length ? 0 : id;
  }

  private place(id: number, h: number): void {
    const mask = this.slots.length - 1;
    let i = h & mask;
    while (this.slots[i] !== 0) i = (i + 1) & mask;
    this.slots[i] = id + 1;
  }

  private rehash(slotCount: number): void {
    this.slots = new Int32Array(slotCount);
    for (let id = 0; id < this.members.length; id++) if (this.members[id] !== undefined) this.place(id, this.hashes[id] as number);
  }

  private resizeIds(capacity: number): void {
    const scores = new Float64Array(capacity);
    const hashes = new Int32Array(capacity);
    const keep = Math.min(capacity, this.scores.length);
    scores.set(this.scores.subarray(0, keep));
    hashes.set(this.hashes.subarray(0, keep));
    this.scores = scores;
    this.hashes = hashes;
  }
}
