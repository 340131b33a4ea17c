// A stream key's contents (Redis's stream: a radix tree of listpack nodes, its consumer groups and
// their pending entries lists). Owns the representation, its memory estimate, the stream's replay
// stamp and the apply of stream effects (stream-effects.ts decodes them); never logs and never sees
// the keyspace (the keyspace changes it only while applying an op; commands only read it).
//
// Entries live in nodes as Redis's do (at most STREAM_NODE_ENTRIES_MAX entries, deleted ones
// included, and about STREAM_NODE_BYTES_MAX bytes), so XTRIM ~ removes the same whole nodes as
// Redis and replies the same counts. An entry is one latin1 string:
//   [u8 flags][16-char id][varint pairs]([varint len][bytes])*   flags bit 0: deleted
// A node is "open" (an array of entry strings: the tail node, which XADD appends to) or "packed"
// (one flat string of [varint len][entry] items, packed-list.ts): about the entry's bytes plus two
// bytes of overhead each, and one heap string per node of up to a hundred entries. XDEL and exact
// trimming mark entries deleted in place (a packed node is rebuilt, bounded by its size), and a
// node whose entries are all deleted by XDEL goes, as in Redis.

import { entryAt, nextAt, splice } from './packed-list.js';
import { ID_MAX, ID_MIN, type StreamId, STREAM_ID_CHARS } from './stream-id.js';
import type { Key } from './types.js';

/** Redis's cap on a node's listpack (STREAM_LISTPACK_MAX_SIZE), whatever stream-node-max-bytes says. */
const STREAM_LISTPACK_BYTES_MAX = 1 << 30;
/** What a node's listpack holds besides its entries (header, master entry). */
const NODE_BASE_BYTES = 16;
const OBJECT_OVERHEAD_BYTES = 96;
const NODE_OVERHEAD_BYTES = 80;
const OPEN_ENTRY_OVERHEAD_BYTES = 32;
const GROUP_OVERHEAD_BYTES = 128;
const CONSUMER_OVERHEAD_BYTES = 96;
const PEL_ENTRY_BYTES = 80;

export const ENTRY_DELETED = 1;
/** Set only in a payload (object-codec.ts): the entry starts a new node. */
export const ENTRY_NODE_START = 2;
const ID_AT = 1;
const FIELDS_AT = ID_AT + STREAM_ID_CHARS;

// ---------------------------------------------------------------- entries

function varint(n: number): string {
  let s = '';
  while (n >= 0x80) {
    s += String.fromCharCode((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  return s + String.fromCharCode(n);
}

/** [value, position after it] of the varint at `pos`. */
function readVarint(s: string, pos: number): [number, number] {
  let n = 0;
  let scale = 1;
  for (;;) {
    const c = s.charCodeAt(pos++);
    n += (c & 0x7f) * scale;
    if (!(c >= 0x80)) return [n, pos];
    scale *= 0x80;
  }
}

/** An entry string for `id` and its field/value pairs (latin1 strings). */
export function makeEntry(id: StreamId, pairs: readonly Key[], flags = 0): string {
  let s = String.fromCharCode(flags) + id + varint(pairs.length / 2);
  for (const p of pairs) s += varint(p.length) + p;
  return s;
}

export function entryId(e: string): StreamId {
  return e.slice(ID_AT, FIELDS_AT);
}

export function entryDeleted(e: string): boolean {
  return (e.charCodeAt(0) & ENTRY_DELETED) !== 0;
}

export function entryFlags(e: string): number {
  return e.charCodeAt(0);
}

export function withFlags(e: string, flags: number): string {
  return String.fromCharCode(flags) + e.slice(1);
}

/** Calls `each(off, len)` for every field and value of entry `e`, in order; returns the pair count. */
export function entryFields(e: string, each: (off: number, len: number) => void): number {
  const [pairs, start] = readVarint(e, FIELDS_AT);
  let pos = start;
  for (let i = 0; i < 2 * pairs; i++) {
    const [len, at] = readVarint(e, pos);
    each(at, len);
    pos = at + len;
  }
  return pairs;
}

export function entryPairs(e: string): number {
  return readVarint(e, FIELDS_AT)[0];
}

/** Null when `e` is a well-formed entry string (flags of `flagsMask` allowed), else why not. */
export function entryFault(e: string, flagsMask: number): string | null {
  if (e.length < FIELDS_AT + 1) return 'stream entry too short';
  if ((e.charCodeAt(0) & ~flagsMask) !== 0) return `unknown stream entry flags ${e.charCodeAt(0)}`;
  let pos = FIELDS_AT;
  const varAt = (): number | null => {
    let n = 0;
    let scale = 1;
    for (let k = 0; k < 5; k++) {
      if (pos >= e.length) return null;
      const c = e.charCodeAt(pos++);
      n += (c & 0x7f) * scale;
      if (c < 0x80) return n;
      scale *= 0x80;
    }
    return null;
  };
  const pairs = varAt();
  if (pairs === null || pairs === 0) return 'bad stream entry field count';
  for (let i = 0; i < 2 * pairs; i++) {
    const len = varAt();
    if (len === null || pos + len > e.length) return 'stream entry field runs past its end';
    pos += len;
  }
  return pos === e.length ? null : 'stream entry has trailing bytes';
}

/** Bytes Redis's listpack would add for these pairs, about (the node split rule). */
function entryNodeBytes(e: string): number {
  return e.length + 2;
}

// ---------------------------------------------------------------- nodes

class StreamNode {
  /** The entries while open; null while packed. */
  items: string[] | null = [];
  packed = '';
  /** Entries held, deleted ones included (Redis's count + deleted). */
  total = 0;
  live = 0;
  bytes = NODE_BASE_BYTES;
  /** Ids of the first and last entries held (deleted ones included: Redis's master id and edge). */
  first: StreamId = ID_MIN;
  last: StreamId = ID_MIN;

  entries(): string[] {
    if (this.items !== null) return this.items;
    const out = new Array<string>(this.total);
    let pos = 0;
    for (let i = 0; i < this.total; i++) {
      out[i] = entryAt(this.packed, pos);
      pos = nextAt(this.packed, pos);
    }
    return out;
  }
}

// ---------------------------------------------------------------- consumer groups

export interface StreamNack {
  consumer: Key;
  /** Last delivery, Date.now() milliseconds of the primary that delivered it. */
  deliveryMs: number;
  deliveries: number;
}

export interface StreamConsumer {
  readonly name: Key;
  seenMs: number;
  /** Entries of the group's PEL that name this consumer. */
  pending: number;
}

export class StreamGroup {
  lastId: StreamId;
  /** Redis's entries_read; -1 when unknown (SCG_INVALID_ENTRIES_READ). */
  entriesRead: number;
  readonly consumers = new Map<Key, StreamConsumer>();
  readonly pel = new Map<StreamId, StreamNack>();
  /** The PEL's ids ascending (kept sorted: deliveries mostly append). */
  private order: StreamId[] = [];

  constructor(lastId: StreamId, entriesRead: number) {
    this.lastId = lastId;
    this.entriesRead = entriesRead;
  }

  /** PEL ids from `from` (inclusive) ascending. */
  *pendingFrom(from: StreamId): IterableIterator<StreamId> {
    for (let i = lowerBound(this.order, from); i < this.order.length; i++) yield this.order[i] as StreamId;
  }

  get firstPending(): StreamId | undefined {
    return this.order[0];
  }

  get lastPending(): StreamId | undefined {
    return this.order[this.order.length - 1];
  }

  setNack(id: StreamId, consumer: Key, deliveryMs: number, deliveries: number): void {
    const cur = this.pel.get(id);
    if (cur === undefined) {
      const o = this.order;
      if (o.length === 0 || (o[o.length - 1] as StreamId) < id) o.push(id);
      else o.splice(lowerBound(o, id), 0, id);
      this.pel.set(id, { consumer, deliveryMs, deliveries });
    } else {
      this.countPending(cur.consumer, -1);
      cur.consumer = consumer;
      cur.deliveryMs = deliveryMs;
      cur.deliveries = deliveries;
    }
    this.consumer(consumer, 0).pending++;
  }

  deleteNack(id: StreamId): void {
    const cur = this.pel.get(id);
    if (cur === undefined) return;
    this.pel.delete(id);
    const i = lowerBound(this.order, id);
    this.order.splice(i, 1);
    this.countPending(cur.consumer, -1);
  }

  /** The consumer `name`, created (seen at `seenMs`) when missing. */
  consumer(name: Key, seenMs: number): StreamConsumer {
    let c = this.consumers.get(name);
    if (c === undefined) {
      c = { name, seenMs, pending: 0 };
      this.consumers.set(name, c);
    }
    return c;
  }

  /** Remove a consumer and its pending entries. */
  deleteConsumer(name: Key): void {
    if (!this.consumers.has(name)) return;
    const ids = [...this.pel].filter(([, n]) => n.consumer === name).map(([id]) => id);
    for (const id of ids) this.deleteNack(id);
    this.consumers.delete(name);
  }

  private countPending(name: Key, d: number): void {
    const c = this.consumers.get(name);
    if (c !== undefined) c.pending += d;
  }
}

function lowerBound(a: readonly StreamId[], id: StreamId): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as StreamId) < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------- the stream

/** What trimming would do (StreamObject.planTrim): whole head nodes, then entries of the next up to an id. */
export interface TrimPlan {
  readonly nodes: number;
  /** Entries of the next node with ids up to this are marked deleted; null: none. */
  readonly upTo: StreamId | null;
  readonly deleted: number;
}

export interface TrimArgs {
  readonly strategy: 'maxlen' | 'minid';
  readonly maxlen: number;
  readonly minid: StreamId;
  readonly approx: boolean;
  /** 0: no limit. */
  readonly limit: number;
}

/** A stream's contents at one moment (StreamObject.freeze): entries that later changes cannot reach. */
export interface FrozenStream {
  readonly nodes: ReadonlyArray<{ readonly items: readonly string[] | null; readonly packed: string; readonly total: number }>;
  readonly stamp: number;
}

export class StreamObject {
  private nodes: StreamNode[] = [];
  private len = 0;
  private nodeBytes = 0;
  private openEntries = 0;
  lastId: StreamId = ID_MIN;
  maxDeletedId: StreamId = ID_MIN;
  entriesAdded = 0;
  readonly groups = new Map<Key, StreamGroup>();
  /** The seq of the last log entry applied and which apply call did it (keyspace.ts, 'list stamps'). */
  appliedSeq = 0;
  appliedMark = 0;

  get size(): number {
    return this.len;
  }

  get encoding(): 'stream' {
    return 'stream';
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  get bytes(): number {
    let n = OBJECT_OVERHEAD_BYTES + this.nodes.length * NODE_OVERHEAD_BYTES + this.nodeBytes + this.openEntries * OPEN_ENTRY_OVERHEAD_BYTES;
    for (const g of this.groups.values()) n += GROUP_OVERHEAD_BYTES + g.consumers.size * CONSUMER_OVERHEAD_BYTES + g.pel.size * PEL_ENTRY_BYTES;
    return n;
  }

  // ---------------------------------------------------------------- reads

  /** The first live entry's id (Redis first_id; 0-0 when empty). */
  get firstId(): StreamId {
    for (const e of this.range(ID_MIN, ID_MAX, false)) return entryId(e);
    return ID_MIN;
  }

  /** The last live entry's id (streamLastValidID; 0-0 when empty). */
  get lastValidId(): StreamId {
    for (const e of this.range(ID_MIN, ID_MAX, true)) return entryId(e);
    return ID_MIN;
  }

  /** Live entries with start <= id <= end, ascending (or descending with `rev`). */
  *range(start: StreamId, end: StreamId, rev: boolean): IterableIterator<string> {
    if (start > end || this.nodes.length === 0) return;
    const nodes = this.nodes;
    // The last node whose first id <= start holds start or the gap before the next.
    let ni = Math.max(0, this.nodeAtOrBefore(start));
    if (!rev) {
      for (; ni < nodes.length; ni++) {
        const n = nodes[ni] as StreamNode;
        if (n.first > end) return;
        if (n.last < start || n.live === 0) continue;
        for (const e of n.entries()) {
          const id = entryId(e);
          if (id > end) return;
          if (id >= start && !entryDeleted(e)) yield e;
        }
      }
      return;
    }
    for (let i = this.nodeAtOrBefore(end); i >= 0; i--) {
      const n = nodes[i] as StreamNode;
      if (n.last < start) return;
      if (n.first > end || n.live === 0) continue;
      const es = n.entries();
      for (let k = es.length - 1; k >= 0; k--) {
        const e = es[k] as string;
        const id = entryId(e);
        if (id < start) return;
        if (id <= end && !entryDeleted(e)) yield e;
      }
    }
  }

  /** The live entry with this id. */
  get(id: StreamId): string | undefined {
    for (const e of this.range(id, id, false)) return e;
    return undefined;
  }

  /** Index of the last node whose first id <= id, or -1. */
  private nodeAtOrBefore(id: StreamId): number {
    let lo = 0;
    let hi = this.nodes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.nodes[mid] as StreamNode).first <= id) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /**
   * Whether XADD of entry `e` goes to the tail node under these node limits (Redis
   * streamAppendItem's rule: a new node past the bytes or the entries, deleted ones counted).
   */
  fitsTail(e: string, nodeEntries: number, nodeBytes: number): boolean {
    const n = this.nodes[this.nodes.length - 1];
    if (n === undefined) return false;
    const bytesMax = nodeBytes === 0 || nodeBytes > STREAM_LISTPACK_BYTES_MAX ? STREAM_LISTPACK_BYTES_MAX : nodeBytes;
    return n.bytes + entryNodeBytes(e) < bytesMax && (nodeEntries === 0 || n.total < nodeEntries);
  }

  /** The nodes as trimming sees them, with `extra` (an entry being added; ENTRY_NODE_START: in a node of its own) appended. */
  private *trimView(extra: string | null): IterableIterator<{ live: number; last: StreamId; entries(): string[] }> {
    const last = this.nodes.length - 1;
    const fits = extra !== null && last >= 0 && (entryFlags(extra) & ENTRY_NODE_START) === 0;
    for (let i = 0; i < this.nodes.length; i++) {
      const n = this.nodes[i] as StreamNode;
      if (i === last && fits && extra !== null) yield { live: n.live + 1, last: entryId(extra), entries: () => [...n.entries(), extra] };
      else yield n;
    }
    if (extra !== null && !fits) yield { live: 1, last: entryId(extra), entries: () => [extra] };
  }

  /** Redis streamTrim, planned without changing anything (the command logs the plan); `extra`: an entry XADD appends first. */
  planTrim(a: TrimArgs, extra: string | null = null): TrimPlan {
    let length = this.len + (extra === null ? 0 : 1);
    let deleted = 0;
    let nodes = 0;
    for (const n of this.trimView(extra)) {
      if (a.strategy === 'maxlen' && length <= a.maxlen) break;
      const entries = n.live;
      if (a.limit !== 0 && deleted + entries > a.limit) break;
      const removeNode = a.strategy === 'maxlen' ? length - entries >= a.maxlen : n.last < a.minid;
      if (removeNode) {
        nodes++;
        length -= entries;
        deleted += entries;
        continue;
      }
      if (a.approx) break;
      let upTo: StreamId | null = null;
      for (const e of n.entries()) {
        const id = entryId(e);
        if (a.strategy === 'maxlen' ? length <= a.maxlen : id >= a.minid) break;
        upTo = id;
        if (!entryDeleted(e)) {
          length--;
          deleted++;
        }
      }
      return { nodes, upTo, deleted };
    }
    return { nodes, upTo: null, deleted };
  }

  /**
   * The contents now, as node contents later changes cannot reach (a packed node's string is
   * immutable; the open tail is copied): how a snapshot walk holds a stream exact at its stamp.
   */
  freeze(): FrozenStream {
    return { nodes: this.nodes.map((n) => ({ items: n.items === null ? null : n.items.slice(), packed: n.packed, total: n.total })), stamp: this.appliedSeq };
  }

  // ---------------------------------------------------------------- writes (the keyspace's, while applying an op)

  /**
   * Append entry `e` (its id above every id held) to the tail node, or to a new node when it is
   * flagged ENTRY_NODE_START (the command decided by fitsTail; a payload marks its layout so).
   */
  append(e: string, countAdded = true): void {
    const deleted = entryDeleted(e);
    let n = this.nodes[this.nodes.length - 1];
    const eb = entryNodeBytes(e);
    if (n === undefined || (entryFlags(e) & ENTRY_NODE_START) !== 0) {
      if (n !== undefined) this.pack(n);
      n = new StreamNode();
      n.first = entryId(e);
      this.nodes.push(n);
      this.nodeBytes += n.bytes;
    }
    const items = this.open(n);
    const plain = (e.charCodeAt(0) & ENTRY_NODE_START) !== 0 ? withFlags(e, e.charCodeAt(0) & ~ENTRY_NODE_START) : e;
    items.push(plain);
    n.total++;
    n.bytes += eb;
    this.nodeBytes += eb;
    this.openEntries++;
    const id = entryId(e);
    n.last = id;
    if (!deleted) {
      n.live++;
      this.len++;
    }
    if (countAdded) {
      this.lastId = id;
      this.entriesAdded++;
    }
  }

  /** Apply a trim plan: drop `nodes` head nodes, then mark the next node's entries up to `upTo` deleted. */
  trim(nodes: number, upTo: StreamId | null): void {
    const gone = this.nodes.splice(0, Math.min(nodes, this.nodes.length));
    for (const n of gone) this.forget(n);
    const n = this.nodes[0];
    if (upTo === null || n === undefined) return;
    const items = this.open(n);
    for (let k = 0; k < items.length; k++) {
      const e = items[k] as string;
      if (entryId(e) > upTo) break;
      if (entryDeleted(e)) continue;
      items[k] = withFlags(e, ENTRY_DELETED);
      n.live--;
      this.len--;
    }
    this.sealIfInner(0);
  }

  /** XDEL of one id: true when it was a live entry. A node left without live entries goes. */
  delete(id: StreamId): boolean {
    const ni = this.nodeAtOrBefore(id);
    const n = this.nodes[ni];
    if (n === undefined || n.last < id) return false;
    const es = n.entries();
    const k = es.findIndex((e) => entryId(e) === id);
    if (k < 0 || entryDeleted(es[k] as string)) return false;
    if (n.live === 1) {
      this.nodes.splice(ni, 1);
      this.forget(n);
      return true;
    }
    const items = this.open(n);
    items[k] = withFlags(items[k] as string, ENTRY_DELETED);
    n.live--;
    this.len--;
    this.sealIfInner(ni);
    return true;
  }

  /** Every entry held, deleted ones included, with ENTRY_NODE_START on each node's first (a payload's layout). */
  *layout(): IterableIterator<string> {
    for (const n of this.nodes) yield* layoutOf(n.entries());
  }

  private forget(n: StreamNode): void {
    this.len -= n.live;
    this.nodeBytes -= n.bytes;
    if (n.items !== null) this.openEntries -= n.total;
  }

  private open(n: StreamNode): string[] {
    if (n.items === null) {
      n.items = n.entries();
      n.packed = '';
      this.openEntries += n.total;
    }
    return n.items;
  }

  private pack(n: StreamNode): void {
    if (n.items === null) return;
    n.packed = splice('', 0, 0, n.items);
    this.openEntries -= n.total;
    n.items = null;
  }

  /** Pack node `ni` unless it is the tail (which XADD appends to). */
  private sealIfInner(ni: number): void {
    const n = this.nodes[ni];
    if (n !== undefined && ni < this.nodes.length - 1) this.pack(n);
  }
}

/** The entry XADD appends to `s` (undefined: a new stream), ENTRY_NODE_START when it starts a node under `limits`. */
export function entryFor(s: StreamObject | undefined, id: StreamId, pairs: readonly Key[], limits: { readonly streamNodeEntries: number; readonly streamNodeBytes: number }): string {
  const e = makeEntry(id, pairs);
  return s !== undefined && s.fitsTail(e, limits.streamNodeEntries, limits.streamNodeBytes) ? e : makeEntry(id, pairs, ENTRY_NODE_START);
}

/** A node's entries with ENTRY_NODE_START on the first. */
export function* layoutOf(entries: readonly string[]): IterableIterator<string> {
  for (let k = 0; k < entries.length; k++) {
    const e = entries[k] as string;
    yield k === 0 ? withFlags(e, entryFlags(e) | ENTRY_NODE_START) : e;
  }
}

/** The entries of a frozen node. */
export function frozenNodeEntries(n: FrozenStream['nodes'][number]): readonly string[] {
  if (n.items !== null) return n.items;
  const out: string[] = [];
  let pos = 0;
  for (let i = 0; i < n.total; i++) {
    out.push(entryAt(n.packed, pos));
    pos = nextAt(n.packed, pos);
  }
  return out;
}
