// The fuzzy walk of a live keyspace that snapshots (snapshot.ts) and full-resync exports
// (store.ts) share: slots in order, a bounded amount of work per step, and every collection cut
// into chunks of at most SNAPSHOT_CHUNK_MEMBERS_MAX members and SNAPSHOT_CHUNK_BYTES_MAX bytes,
// walked across steps with cursors that writes between steps cannot make skip a member.
// Owns the walk's order, cursors and bounds; never encodes files or frames and never changes
// the keyspace or a collection (docs/storage.md, 'Snapshots and compaction').
//
// A collection's first chunk is a whole payload (it replaces the key, with its expiry, when
// loaded); each later chunk is a part (object-codec.ts FLAG_PART: members added to the key's
// collection). Between two chunks clients keep writing. Why loading the chunks and then
// replaying the log after the snapshot's start still reaches the live state:
// - a member present and unchanged for the whole walk is in exactly one chunk: a hash's or set's
//   large form is walked by positions (a member keeps its position for its life; a compaction
//   moves the tracked cursor with the members, in order), a sorted set in (score, member) order
//   from the last element written (a binary search by rank, so removals and inserts around the
//   cursor cannot shift it), a small packed hash or set from a copy taken at its first chunk;
// - every other member was changed after the start, so a logged op (absolute, idempotent) sets
//   its final state during replay, whatever the chunks said (missed, written twice, stale);
// - when the key no longer holds the collection being walked (deleted, expired, replaced by
//   RENAME or another type, FLUSHALL), the walk leaves it: the logged op that removed it comes
//   after the start, and replay applies it over the chunks written so far.

import assert from 'node:assert';
import { newSlotView, type Keyspace } from './keyspace.js';
import { TYPE_HASH, TYPE_LIST, TYPE_SET, TYPE_STRING, TYPE_ZSET, type KvCollection } from './collection.js';
import { collectionFlags, PayloadBuilder } from './object-codec.js';
import { HashObject } from './hash-object.js';
import { SetObject } from './set-object.js';
import { SortedSet, type ZEntry } from './zset.js';
import type { TableCursor } from './dense-table.js';
import { frozenChunk, ListObject, type FrozenList } from './list-object.js';
import { frozenNodeEntries, layoutOf, StreamObject, type FrozenStream } from './stream-object.js';
import { encodeEffects, streamStateEffects } from './stream-effects.js';
import type { Key } from './types.js';

/** Members in one chunk of a collection (bounds the synchronous work of encoding and of loading it). */
export const SNAPSHOT_CHUNK_MEMBERS_MAX = 1024;
/** Payload bytes in one chunk; a single member larger than this gets a chunk of its own. */
export const SNAPSHOT_CHUNK_BYTES_MAX = 64 * 1024;
/** Collection members encoded in one step (several chunks, or many small collections). */
export const SNAPSHOT_STEP_MEMBERS_MAX = 2 * SNAPSHOT_CHUNK_MEMBERS_MAX;

export interface WalkItem {
  /** The key's slot: read its key (a string's value, the expiry) from it in the same turn. */
  readonly slot: number;
  readonly type: number;
  /**
   * Null for a string; else an object-codec payload: the whole collection or its first chunk,
   * or (a part) more of its members.
   */
  readonly payload: Buffer | null;
  readonly part: boolean;
  /** Key plus value or payload bytes. */
  readonly bytes: number;
}

/** What one step may do; it stops before the item that would start past any of them. */
export interface WalkBudget {
  /** Slots examined (free ones too, so a sparse table cannot stretch a step). */
  readonly slots: number;
  readonly items: number;
  /** Key and value bytes (one item may pass it alone). */
  readonly bytes: number;
  /** Collection members encoded. */
  readonly members: number;
}

/** Where a collection's walk stands. */
interface MemberCursor {
  /** Add the members after the cursor to `b` until the chunk is full; true when none are left. */
  fill(b: PayloadBuilder): boolean;
  /** The walk ends (done or abandoned). */
  close(): void;
}

/** A chunk with members that cannot take one more of `bytes`. */
function chunkFull(b: PayloadBuilder, bytes: number): boolean {
  return b.count > 0 && (b.count >= SNAPSHOT_CHUNK_MEMBERS_MAX || b.bytes + bytes > SNAPSHOT_CHUNK_BYTES_MAX);
}

/** A packed hash or set, copied whole at its first chunk (it is small: packed-list.ts bounds it). */
class CopiedCursor implements MemberCursor {
  private i = 0;

  constructor(private readonly entries: ReadonlyArray<readonly [Key, Buffer | null]>) {}

  fill(b: PayloadBuilder): boolean {
    for (; this.i < this.entries.length; this.i++) {
      const [m, v] = this.entries[this.i] as readonly [Key, Buffer | null];
      if (chunkFull(b, PayloadBuilder.memberBytes(b.type, m.length, v === null ? 0 : v.length))) return false;
      if (v === null) b.member(m);
      else b.field(m, v);
    }
    return true;
  }

  close(): void {}
}

/**
 * A list, from the copy frozen at its first chunk: positions shift under pushes and pops, so a
 * live cursor could skip or repeat elements. The copy is exact at the list's replay stamp, which
 * every part carries, and the entries after that stamp follow in the log (keyspace.ts, 'list stamps').
 */
class FrozenListCursor implements MemberCursor {
  private ci = 0;
  private off = 0;
  private items: readonly Key[] | null = null;

  constructor(private readonly f: FrozenList) {}

  fill(b: PayloadBuilder): boolean {
    const f = this.f;
    for (; this.ci < f.chunks.length; this.ci++, this.off = 0, this.items = null) {
      const items = this.items ?? (this.items = frozenChunk(f, this.ci));
      for (; this.off < items.length; this.off++) {
        const v = items[this.off] as Key;
        if (chunkFull(b, PayloadBuilder.memberBytes(TYPE_LIST, v.length, 0))) return false;
        b.member(v);
      }
    }
    return true;
  }

  close(): void {}
}

/**
 * A stream, from the copy frozen at its first chunk (as a list: exact at the stream's replay
 * stamp, which every part carries), entries in their node layout, deleted ones included.
 */
class FrozenStreamCursor implements MemberCursor {
  private ni = 0;
  private off = 0;
  private items: string[] | null = null;

  constructor(private readonly f: FrozenStream) {}

  fill(b: PayloadBuilder): boolean {
    const f = this.f;
    for (; this.ni < f.nodes.length; this.ni++, this.off = 0, this.items = null) {
      const items = this.items ?? (this.items = [...layoutOf(frozenNodeEntries(f.nodes[this.ni] as FrozenStream['nodes'][number]))]);
      for (; this.off < items.length; this.off++) {
        const e = items[this.off] as string;
        if (chunkFull(b, 4 + e.length)) return false;
        b.member(e);
      }
    }
    return true;
  }

  close(): void {}
}

/** The large form of a hash or set, by positions (tracked: see TableCursor). */
class PositionCursor implements MemberCursor {
  private readonly at: TableCursor = { pos: 0 };

  constructor(private readonly obj: HashObject | SetObject) {}

  /** False when the collection is packed (walk a copy instead). */
  start(): boolean {
    return this.obj.trackCursor(this.at);
  }

  fill(b: PayloadBuilder): boolean {
    let full = false;
    const field = (f: Key, v: Buffer): void => {
      if (chunkFull(b, PayloadBuilder.memberBytes(TYPE_HASH, f.length, v.length))) full = true;
      else b.field(f, v);
    };
    const member = (m: Key): void => {
      if (chunkFull(b, PayloadBuilder.memberBytes(TYPE_SET, m.length, 0))) full = true;
      else b.member(m);
    };
    const obj = this.obj;
    for (;;) {
      // One position per call, so a member that does not fit stays under the cursor.
      const next = obj instanceof HashObject ? obj.scan(this.at.pos, 1, field) : obj.scan(this.at.pos, 1, member);
      if (full) return false;
      if (next === 0) return true;
      this.at.pos = next;
    }
  }

  close(): void {
    this.obj.untrackCursor(this.at);
  }
}

/** A sorted set in (score, member) order from the last element written. */
class OrderCursor implements MemberCursor {
  private last: ZEntry | null = null;

  constructor(private readonly z: SortedSet) {}

  fill(b: PayloadBuilder): boolean {
    const z = this.z;
    const from = this.last === null ? 0 : firstAfter(z, this.last);
    const entries = z.rangeByRank(from, from + SNAPSHOT_CHUNK_MEMBERS_MAX - 1);
    for (const e of entries) {
      if (chunkFull(b, PayloadBuilder.memberBytes(TYPE_ZSET, e[0].length, 0))) return false;
      b.scored(e[0], e[1]);
      this.last = e;
    }
    return from + entries.length >= z.size;
  }

  close(): void {}
}

/** The rank of the first element after `e` in the set's (score, member) order (zset.ts `before`). */
function firstAfter(z: SortedSet, [member, score]: ZEntry): number {
  let lo = 0;
  let hi = z.size;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const [m, s] = z.at(mid) as ZEntry;
    if (s < score || (s === score && m <= member)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function openCursor(obj: KvCollection): MemberCursor {
  if (obj instanceof SortedSet) return new OrderCursor(obj);
  if (obj instanceof ListObject) return new FrozenListCursor(obj.freeze());
  if (obj instanceof StreamObject) return new FrozenStreamCursor(obj.freeze());
  const c = new PositionCursor(obj);
  if (c.start()) return c;
  if (obj instanceof HashObject) return new CopiedCursor([...obj.entries()]);
  return new CopiedCursor([...obj.members()].map((m) => [m, null] as const));
}

/** A collection whose walk continues in later steps. */
interface OpenCollection {
  readonly slot: number;
  readonly type: number;
  readonly obj: KvCollection;
  readonly keyLen: number;
  readonly cursor: MemberCursor;
  /** A list's replay stamp at its first chunk (every part repeats it). */
  readonly stamp: number;
}

/**
 * One walk over `ks`, driven by `step` a turn at a time (the keyspace may change in between).
 * `skip(slot)` leaves a key out (a full resync's export: keys expired by the primary's clock).
 * Call `close` when done or abandoned: it releases the cursor of a collection in progress.
 */
export class KeyspaceWalk {
  private slot = 0;
  private open: OpenCollection | null = null;
  private readonly view = newSlotView();

  constructor(
    private readonly ks: Keyspace,
    private readonly skip: (slot: number) => boolean = () => false,
  ) {}

  /** slotCount is re-read: the keyspace grows while we walk it (fuzzy snapshot). */
  get done(): boolean {
    return this.open === null && this.slot >= this.ks.slotCount;
  }

  /** Append this step's items to `out`. */
  step(out: WalkItem[], budget: WalkBudget): void {
    const ks = this.ks;
    const view = this.view;
    let slots = 0;
    let items = 0;
    let bytes = 0;
    let members = 0;
    while (items < budget.items && bytes < budget.bytes && members < budget.members && slots < budget.slots) {
      const o = this.open;
      if (o !== null) {
        if (!ks.isLiveSlot(o.slot) || ks.objectAt(o.slot) !== o.obj) {
          this.closeOpen(); // the key was deleted or replaced after the start: its logged op covers it
          continue;
        }
        const b = new PayloadBuilder(o.type, collectionFlags(o.obj, true), 256, o.stamp);
        if (o.cursor.fill(b)) this.closeOpen();
        if (b.count === 0) continue;
        const payload = b.finish();
        out.push({ slot: o.slot, type: o.type, payload, part: true, bytes: o.keyLen + payload.length });
        items++;
        bytes += o.keyLen + payload.length;
        members += b.count;
        continue;
      }
      if (this.slot >= ks.slotCount) break;
      const slot = this.slot++;
      slots++;
      if (!ks.readSlot(slot, view) || this.skip(slot)) continue;
      items++;
      if (view.type === TYPE_STRING) {
        out.push({ slot, type: TYPE_STRING, payload: null, part: false, bytes: view.keyLen + view.valLen });
        bytes += view.keyLen + view.valLen;
        continue;
      }
      const obj = ks.objectAt(slot) as KvCollection;
      const cursor = openCursor(obj);
      const stamp = obj instanceof ListObject || obj instanceof StreamObject ? obj.appliedSeq : 0;
      const b = new PayloadBuilder(view.type, collectionFlags(obj, false), 256, stamp);
      // A stream's first chunk carries its counters and groups as they are now, with the entries frozen now.
      if (obj instanceof StreamObject) b.streamState(encodeEffects(streamStateEffects(obj)));
      if (cursor.fill(b)) cursor.close();
      else {
        // Later steps find it again by identity: a small hash's view is new per read, but fits one chunk.
        assert(ks.objectAt(slot) === obj, 'a collection walked over several steps is held as itself');
        this.open = { slot, type: view.type, obj, keyLen: view.keyLen, cursor, stamp };
      }
      const payload = b.finish();
      out.push({ slot, type: view.type, payload, part: false, bytes: view.keyLen + payload.length });
      bytes += view.keyLen + payload.length;
      members += b.count;
    }
  }

  close(): void {
    this.closeOpen();
  }

  private closeOpen(): void {
    this.open?.cursor.close();
    this.open = null;
  }
}
