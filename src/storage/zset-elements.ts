// ElementTable: the elements of a large sorted set by id (member bytes and score), and the
// member -> id index, an open-addressing hash over typed arrays. Owns those arrays, the member
// arena and the ids; never orders elements (zset.ts's tree holds ids in score order) and never
// touches the keyspace.
//
// Why typed arrays and an arena (docs/storage.md, 'Sorted sets: memory'): a member of up to
// ARENA_MEMBER_BYTES_MAX bytes is a length byte and its bytes in a shared arena, where a JS
// string would add a header, padding and a pointer to it, all on the GC heap; the score is a
// Float64, the arena offset an Int32, and the index an Int32 slot (hashes are recomputed from
// the bytes when slots move). A V8 Map entry alone is three tagged words plus its bucket share.
// Only longer members stay JS strings.
//
// An element keeps its id from insert to delete (a freed id is reused by a later insert), so
// ids serve as ZSCAN cursors: a walk returns every member present for the whole walk at least
// once. The exception is compaction, when fewer than a quarter of the ids are in use: ids then
// move down (in id order), and a walk in progress may miss some, as DenseTable's positions.

import { hashBytes, hashStr, MEMBER_HASH_SEED as HASH_SEED } from './fnv.js';
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
/** Members this long or shorter live in the arena (their length fits its one length byte). */
const ARENA_MEMBER_BYTES_MAX = 255;
/** The arena's first size, and the size below which freed bytes are not worth a compaction. */
const ARENA_BYTES_MIN = 256;
/** The arena never grows past this (offsets are Int32); members that do not fit stay strings. */
const ARENA_BYTES_MAX = 2 ** 31 - 1;
/** offsets[id] for a free id, and for a member kept as a string (`strings`). */
const FREE = -2;
const AS_STRING = -1;

function grownTo(capacity: number, need: number): number {
  let c = capacity;
  while (c < need) c += (c >> 1) + IDS_MIN;
  return c;
}

export class ElementTable {
  /** Entries [length byte][member bytes] at offsets[id]; bytes of removed members are `arenaDead` until compaction. */
  private arena = Buffer.allocUnsafeSlow(ARENA_BYTES_MIN);
  private arenaEnd = 0;
  private arenaDead = 0;
  /** id -> arena offset, or FREE, or AS_STRING. */
  private offsets = new Int32Array(IDS_MIN).fill(FREE);
  private scores = new Float64Array(IDS_MIN);
  /** The members too long for the arena (or past ARENA_BYTES_MAX), by id. */
  private strings = new Map<number, Key>();
  private readonly freeIds: number[] = [];
  /** Ids handed out: 0 .. idEnd - 1, some of them free. */
  private idEnd = 0;
  /** Open addressing with linear probing: id + 1, 0 = empty. Length is a power of two. */
  private slots = new Int32Array(SLOTS_MIN);
  size = 0;

  /** Ids handed out (the cursor range). */
  get ids(): number {
    return this.idEnd;
  }

  /** The member of `id` (in use), as a new string when it lives in the arena. */
  member(id: number): Key {
    const o = this.offsets[id] as number;
    if (o < 0) return this.strings.get(id) as Key;
    return this.arena.latin1Slice(o + 1, o + 1 + (this.arena[o] as number));
  }

  /** Whether the member of `id` sorts before `member` (memcmp of the bytes, then the shorter first), without a copy. */
  memberBefore(id: number, member: Key): boolean {
    const o = this.offsets[id] as number;
    if (o < 0) return (this.strings.get(id) as Key) < member;
    const a = this.arena;
    const len = a[o] as number;
    const n = Math.min(len, member.length);
    for (let i = 0; i < n; i++) {
      const d = (a[o + 1 + i] as number) - member.charCodeAt(i);
      if (d !== 0) return d < 0;
    }
    return len < member.length;
  }

  score(id: number): number {
    return this.scores[id] as number;
  }

  setScore(id: number, score: number): void {
    this.scores[id] = score;
  }

  /** The id of `member`, or -1. */
  find(member: Key): number {
    const h = hashStr(HASH_SEED, member);
    const mask = this.slots.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = this.slots[i] as number;
      if (v === 0) return -1;
      if (this.memberIs(v - 1, member)) return v - 1;
    }
  }

  /** Insert `member` (absent) with `score`; returns its id. */
  add(member: Key, score: number): number {
    if ((this.size + 1) * SLOT_FILL_DEN > this.slots.length * SLOT_FILL_NUM) this.rehash(this.slots.length * 2);
    const id = this.freeIds.length > 0 ? (this.freeIds.pop() as number) : this.idEnd++;
    if (id >= this.scores.length) this.resizeIds(grownTo(this.scores.length, id + 1));
    this.store(id, member);
    this.scores[id] = score;
    this.place(id, hashStr(HASH_SEED, member));
    this.size++;
    return id;
  }

  /** Remove element `id` (in use). Its id is free afterwards. */
  remove(id: number): void {
    const mask = this.slots.length - 1;
    let i = this.hashOf(id) & mask;
    while (this.slots[i] !== id + 1) i = (i + 1) & mask;
    // Backward-shift deletion: pull later members of the run into the hole when their home
    // slot allows it, so lookups never need tombstones.
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const v = this.slots[j] as number;
      if (v === 0) break;
      const home = this.hashOf(v - 1) & mask;
      // v may move to i when its home is not cyclically within (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        this.slots[i] = v;
        i = j;
      }
    }
    this.slots[i] = 0;
    const o = this.offsets[id] as number;
    if (o >= 0) this.arenaDead += 1 + (this.arena[o] as number);
    else this.strings.delete(id);
    this.offsets[id] = FREE;
    this.freeIds.push(id);
    this.size--;
    if (this.arenaDead >= ARENA_BYTES_MIN && this.arenaDead * 2 > this.arenaEnd) this.compactArena();
  }

  /** True when the ids are sparse enough for `compact` (the owner calls it, as it must renumber its own ids). */
  get sparse(): boolean {
    return this.idEnd >= COMPACT_IDS_MIN && this.size * COMPACT_SPARSENESS < this.idEnd;
  }

  /**
   * Renumber the elements 0..size-1 in id order and shrink every array to fit; returns the
   * mapping old id -> new id (-1 for a free id).
   */
  compact(): Int32Array {
    const n = this.idEnd;
    const remap = new Int32Array(n).fill(-1);
    const strings = new Map<number, Key>();
    let to = 0;
    for (let from = 0; from < n; from++) {
      const o = this.offsets[from] as number;
      if (o === FREE) continue;
      remap[from] = to;
      if (o === AS_STRING) strings.set(to, this.strings.get(from) as Key);
      this.offsets[to] = o;
      this.scores[to] = this.scores[from] as number;
      to++;
    }
    this.strings = strings;
    this.idEnd = to;
    this.freeIds.length = 0;
    this.resizeIds(Math.max(IDS_MIN, to + (to >> 2)));
    this.compactArena();
    let slots = SLOTS_MIN;
    while (to * SLOT_FILL_DEN > slots * SLOT_FILL_NUM) slots *= 2;
    this.rehash(slots);
    return remap;
  }

  /** Ids in use from `cursor`, at most `count` ids examined; returns the next cursor (0 = done). */
  scan(cursor: number, count: number, emit: (id: number) => void): number {
    const end = Math.min(this.idEnd, cursor + Math.max(1, count));
    let id = cursor;
    for (; id < end; id++) if (this.offsets[id] !== FREE) emit(id);
    return id >= this.idEnd ? 0 : id;
  }

  /** The hash of element `id`'s member, from its bytes (a stored hash would cost 4 bytes an element for a few probes saved). */
  private hashOf(id: number): number {
    const o = this.offsets[id] as number;
    if (o < 0) return hashStr(HASH_SEED, this.strings.get(id) as Key);
    return hashBytes(HASH_SEED, this.arena, o + 1, this.arena[o] as number);
  }

  private memberIs(id: number, member: Key): boolean {
    const o = this.offsets[id] as number;
    if (o < 0) return this.strings.get(id) === member;
    const a = this.arena;
    if (a[o] !== member.length) return false;
    for (let i = 0; i < member.length; i++) if (a[o + 1 + i] !== member.charCodeAt(i)) return false;
    return true;
  }

  /** Put `member`'s bytes in the arena when it is short and the arena can hold it, else keep the string. */
  private store(id: number, member: Key): void {
    const need = member.length + 1;
    if (member.length <= ARENA_MEMBER_BYTES_MAX && this.arenaEnd + need > this.arena.length && this.arenaEnd + need <= ARENA_BYTES_MAX) {
      this.moveArena(Math.min(ARENA_BYTES_MAX, Math.max(this.arenaEnd + need, this.arena.length + (this.arena.length >> 1))));
    }
    if (member.length > ARENA_MEMBER_BYTES_MAX || this.arenaEnd + need > this.arena.length) {
      this.offsets[id] = AS_STRING;
      this.strings.set(id, member);
      return;
    }
    const o = this.arenaEnd;
    this.arena[o] = member.length;
    this.arena.latin1Write(member, o + 1, member.length);
    this.offsets[id] = o;
    this.arenaEnd += need;
  }

  /** Copy the live entries into a new arena of `capacity` bytes (at least the live bytes), in id order. */
  private moveArena(capacity: number): void {
    const old = this.arena;
    const next = Buffer.allocUnsafeSlow(Math.max(ARENA_BYTES_MIN, capacity));
    let end = 0;
    for (let id = 0; id < this.idEnd; id++) {
      const o = this.offsets[id] as number;
      if (o < 0) continue;
      const len = 1 + (old[o] as number);
      old.copy(next, end, o, o + len);
      this.offsets[id] = end;
      end += len;
    }
    this.arena = next;
    this.arenaEnd = end;
    this.arenaDead = 0;
  }

  /** Drop the bytes of removed members, keeping a quarter of the live size as room to grow. */
  private compactArena(): void {
    const live = this.arenaEnd - this.arenaDead;
    this.moveArena(live + (live >> 2));
  }

  private place(id: number, h: number): void {
    const mask = this.slots.length - 1;
    let i = h & mask;
    while (this.slots[i] !== 0) i = (i + 1) & mask;
    this.slots[i] = id + 1;
  }

  private rehash(slotCount: number): void {
    this.slots = new Int32Array(slotCount);
    for (let id = 0; id < this.idEnd; id++) if (this.offsets[id] !== FREE) this.place(id, this.hashOf(id));
  }

  private resizeIds(capacity: number): void {
    const keep = Math.min(capacity, this.scores.length);
    const offsets = new Int32Array(capacity).fill(FREE);
    const scores = new Float64Array(capacity);
    offsets.set(this.offsets.subarray(0, keep));
    scores.set(this.scores.subarray(0, keep));
    this.offsets = offsets;
    this.scores = scores;
  }
}
