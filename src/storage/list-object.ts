// A list key's contents (Redis's quicklist): a deque of chunks of at most LIST_CHUNK_ENTRIES_MAX
// elements and LIST_CHUNK_BYTES_MAX bytes (list-max-listpack-size -2). Owns the representation,
// its memory estimate and the list's replay stamp; never logs and never sees the keyspace (the
// keyspace mutates it only while applying an op; commands only read it).
//
// Elements are latin1 strings (one char per byte). A chunk is "open" (a JS array of strings, cheap
// to push and pop at either end) or "packed" (one flat string of [varint length][bytes] entries,
// packed-list.ts, about one byte of overhead per small element). Only chunks within one of either
// end stay open after a change; a chunk further in is packed again, so a long list costs about its
// bytes, while pushes and pops at the ends touch an open chunk and are O(1) (amortized: a packed
// chunk reaching an end is opened once, in O(chunk)). Indexing walks chunks from the nearer end,
// so LINDEX / LRANGE near either end are cheap on a list of any length.

import type { MemberSink } from './collection.js';
import { dataAt, entryAt, entryBytes, entryEquals, lengthAt, nextAt, splice } from './packed-list.js';
import type { Key } from './types.js';

/** Elements per chunk (bounds an open chunk's array shifts). */
export const LIST_CHUNK_ENTRIES_MAX = 128;
/** Packed bytes per chunk: Redis's list-max-listpack-size -2 (8 KiB); a larger element gets a chunk of its own. */
export const LIST_CHUNK_BYTES_MAX = 8192;
const OBJECT_OVERHEAD_BYTES = 64;
/** A chunk object and its packed string's header. */
const CHUNK_OVERHEAD_BYTES = 72;
/** An element of an open chunk: its own string header and the array slot. */
const OPEN_ELEMENT_OVERHEAD_BYTES = 32;
const RING_INITIAL = 4;

class Chunk {
  /** The elements while open; null while packed. */
  items: Key[] | null = [];
  /** The packed form ('' while open). */
  packed = '';
  n = 0;
  /** Sum of entryBytes over the elements (what the packed form takes). */
  size = 0;
}

function packItems(items: readonly Key[]): string {
  return splice('', 0, 0, items);
}

/** Where entry `off` of a packed chunk starts. */
function packedPos(p: string, off: number): number {
  let pos = 0;
  for (let k = 0; k < off; k++) pos = nextAt(p, pos);
  return pos;
}

function unpack(p: string, n: number): Key[] {
  const out = new Array<Key>(n);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    out[i] = entryAt(p, pos);
    pos = nextAt(p, pos);
  }
  return out;
}

/** A list's contents at one moment (ListObject.freeze). */
export interface FrozenList {
  readonly chunks: ReadonlyArray<string | readonly Key[]>;
  readonly counts: readonly number[];
  readonly size: number;
  readonly appliedSeq: number;
}

/** The elements of chunk `ci` of a frozen list. */
export function frozenChunk(f: FrozenList, ci: number): readonly Key[] {
  const c = f.chunks[ci] as string | readonly Key[];
  return typeof c === 'string' ? unpack(c, f.counts[ci] as number) : c;
}

export class ListObject {
  /** Ring of chunks: chunk i is ring[(start + i) & (ring.length - 1)]. */
  private ring: Array<Chunk | undefined> = new Array<Chunk | undefined>(RING_INITIAL);
  private start = 0;
  private chunks = 0;
  private len = 0;
  private entryBytesSum = 0;
  /** Elements held by open chunks (their per-element overhead in `bytes`). */
  private openElements = 0;
  /**
   * The seq of the last log entry applied to this list, and which apply call (keyspace.ts,
   * 'list stamps') did it: replay over a fuzzy snapshot skips entries the list already holds.
   */
  appliedSeq = 0;
  appliedMark = 0;

  get size(): number {
    return this.len;
  }

  /** Redis 7.0 reports every list as a quicklist. */
  get encoding(): 'quicklist' {
    return 'quicklist';
  }

  get bytes(): number {
    return OBJECT_OVERHEAD_BYTES + this.chunks * CHUNK_OVERHEAD_BYTES + this.entryBytesSum + this.openElements * OPEN_ELEMENT_OVERHEAD_BYTES;
  }

  // ---------------------------------------------------------------- reads

  /** The element at index `i` (0 <= i < size), else undefined. */
  at(i: number): Key | undefined {
    if (!(i >= 0 && i < this.len)) return undefined;
    const [ci, off] = this.locate(i);
    const c = this.chunk(ci);
    if (c.items !== null) return c.items[off];
    return entryAt(c.packed, packedPos(c.packed, off));
  }

  /** Where `from`..`to` (clamped) starts (chunk, offset in it) and how many elements it has; null when empty. */
  private span(from: number, to: number): { ci: number; off: number; left: number } | null {
    from = Math.max(0, from);
    to = Math.min(this.len - 1, to);
    if (from > to) return null;
    const [ci, off] = this.locate(from);
    return { ci, off, left: to - from + 1 };
  }

  /** Elements from index `from` to `to` inclusive (clamped), head to tail. */
  *range(from: number, to: number): IterableIterator<Key> {
    const span = this.span(from, to);
    if (span === null) return;
    let { ci, off, left } = span;
    while (left > 0) {
      const c = this.chunk(ci);
      if (c.items !== null) {
        for (let k = off; k < c.n && left > 0; k++, left--) yield c.items[k] as Key;
      } else {
        let pos = packedPos(c.packed, off);
        for (let k = off; k < c.n && left > 0; k++, left--) {
          yield entryAt(c.packed, pos);
          pos = nextAt(c.packed, pos);
        }
      }
      ci++;
      off = 0;
    }
  }

  /**
   * LRANGE's reply: elements `from` to `to` (clamped) written into `sink` as bulk strings, a
   * packed chunk's straight from its string (no string made per element, as range() must).
   */
  writeRange(from: number, to: number, sink: MemberSink): void {
    const span = this.span(from, to);
    if (span === null) return;
    let { ci, off, left } = span;
    while (left > 0) {
      const c = this.chunk(ci);
      const end = Math.min(c.n, off + left);
      if (c.items !== null) {
        for (let k = off; k < end; k++) {
          const v = c.items[k] as Key;
          sink.bulkLatin1(v, 0, v.length);
        }
      } else {
        const p = c.packed;
        for (let k = off, pos = packedPos(p, off); k < end; k++, pos = nextAt(p, pos)) sink.bulkLatin1(p, dataAt(p, pos), lengthAt(p, pos));
      }
      left -= end - off;
      ci++;
      off = 0;
    }
  }

  /**
   * The list's contents now, as chunk contents that later changes cannot reach: a packed chunk's
   * string (immutable) or a copy of an open chunk's array (only chunks near the ends are open).
   * O(chunks): how a snapshot walk holds a list exact at one moment while writing it in parts.
   */
  freeze(): FrozenList {
    const out: Array<string | Key[]> = new Array<string | Key[]>(this.chunks);
    const counts = new Array<number>(this.chunks);
    for (let ci = 0; ci < this.chunks; ci++) {
      const c = this.chunk(ci);
      out[ci] = c.items !== null ? c.items.slice(0, c.n) : c.packed;
      counts[ci] = c.n;
    }
    return { chunks: out, counts, size: this.len, appliedSeq: this.appliedSeq };
  }

  /** Every element, head to tail. */
  values(): IterableIterator<Key> {
    return this.range(0, this.len - 1);
  }

  /** Every element, tail to head. */
  *valuesReverse(): IterableIterator<Key> {
    for (let ci = this.chunks - 1; ci >= 0; ci--) {
      const c = this.chunk(ci);
      const items = c.items ?? unpack(c.packed, c.n);
      for (let k = c.n - 1; k >= 0; k--) yield items[k] as Key;
    }
  }

  /** How many elements equal `v`, scanning from the head (count > 0), the tail (count < 0), up to |count| (0: all). */
  countEqual(v: Key, count: number): number {
    const limit = count === 0 ? Infinity : Math.abs(count);
    let found = 0;
    for (const x of count < 0 ? this.valuesReverse() : this.values()) {
      if (x === v && ++found >= limit) break;
    }
    return found;
  }

  // ---------------------------------------------------------------- writes (the keyspace's, while applying an op)

  pushHead(v: Key): void {
    const eb = entryBytes(v);
    let c = this.chunks > 0 ? this.chunk(0) : undefined;
    if (c === undefined || !this.fits(c, eb)) {
      c = this.insertChunk(0);
      this.sealIfInner(2);
    }
    this.open(c).unshift(v);
    this.grew(c, eb, 1);
  }

  pushTail(v: Key): void {
    const eb = entryBytes(v);
    let c = this.chunks > 0 ? this.chunk(this.chunks - 1) : undefined;
    if (c === undefined || !this.fits(c, eb)) {
      c = this.insertChunk(this.chunks);
      this.sealIfInner(this.chunks - 3);
    }
    this.open(c).push(v);
    this.grew(c, eb, 1);
  }

  /** Remove and return up to `n` elements from the head (in pop order). */
  popHead(n: number): Key[] {
    const out: Key[] = [];
    while (out.length < n && this.len > 0) {
      const c = this.chunk(0);
      const items = this.open(c);
      const v = items.shift() as Key;
      this.grew(c, -entryBytes(v), -1);
      if (c.n === 0) this.removeChunk(0);
      out.push(v);
    }
    return out;
  }

  /** Remove and return up to `n` elements from the tail (in pop order). */
  popTail(n: number): Key[] {
    const out: Key[] = [];
    while (out.length < n && this.len > 0) {
      const ci = this.chunks - 1;
      const c = this.chunk(ci);
      const items = this.open(c);
      const v = items.pop() as Key;
      this.grew(c, -entryBytes(v), -1);
      if (c.n === 0) this.removeChunk(ci);
      out.push(v);
    }
    return out;
  }

  /** Drop `n` elements from the head (whole chunks at once). */
  dropHead(n: number): void {
    while (n > 0 && this.len > 0) {
      const c = this.chunk(0);
      if (c.n <= n) {
        n -= c.n;
        this.removeChunk(0);
      } else {
        this.popHead(n);
        n = 0;
      }
    }
  }

  /** Drop `n` elements from the tail (whole chunks at once). */
  dropTail(n: number): void {
    while (n > 0 && this.len > 0) {
      const c = this.chunk(this.chunks - 1);
      if (c.n <= n) {
        n -= c.n;
        this.removeChunk(this.chunks - 1);
      } else {
        this.popTail(n);
        n = 0;
      }
    }
  }

  /** Replace the element at `i`; false when out of range. */
  set(i: number, v: Key): boolean {
    if (!(i >= 0 && i < this.len)) return false;
    const [ci, off] = this.locate(i);
    const c = this.chunk(ci);
    const items = this.open(c);
    const old = items[off] as Key;
    items[off] = v;
    this.grew(c, entryBytes(v) - entryBytes(old), 0);
    this.sealIfInner(ci);
    return true;
  }

  /** Insert `v` so that it ends at index `i` (0 <= i <= size; clamped). */
  insert(i: number, v: Key): void {
    if (i <= 0) return this.pushHead(v);
    if (i >= this.len) return this.pushTail(v);
    const [ci, off] = this.locate(i);
    const c = this.chunk(ci);
    this.open(c).splice(off, 0, v);
    this.grew(c, entryBytes(v), 1);
    if (c.n > LIST_CHUNK_ENTRIES_MAX || c.size > LIST_CHUNK_BYTES_MAX) this.split(ci);
    else this.sealIfInner(ci);
  }

  /** Redis LREM: remove elements equal to `v`, up to |count| (0: all), from the head (count >= 0) or the tail; returns how many. */
  remove(v: Key, count: number): number {
    const limit = count === 0 ? Infinity : Math.abs(count);
    const fromTail = count < 0;
    let removed = 0;
    for (let step = 0; step < this.chunks && removed < limit; step++) {
      const ci = fromTail ? this.chunks - 1 - step : step;
      const c = this.chunk(ci);
      if (!this.holds(c, v)) continue;
      const items = this.open(c);
      const kept: Key[] = [];
      const order = fromTail ? items.slice().reverse() : items;
      for (const x of order) {
        if (x === v && removed < limit) removed++;
        else kept.push(x);
      }
      if (fromTail) kept.reverse();
      const gone = c.n - kept.length;
      this.openElements -= gone;
      this.len -= gone;
      this.entryBytesSum -= gone * entryBytes(v);
      c.size -= gone * entryBytes(v);
      c.n = kept.length;
      c.items = kept;
      if (c.n === 0) {
        this.removeChunk(ci);
        if (!fromTail) step--;
      } else this.sealIfInner(ci);
    }
    return removed;
  }

  // ---------------------------------------------------------------- chunks

  private chunk(ci: number): Chunk {
    return this.ring[(this.start + ci) & (this.ring.length - 1)] as Chunk;
  }

  /** [chunk index, offset in it] of element `i` (0 <= i < size), walking from the nearer end. */
  private locate(i: number): [number, number] {
    if (i < this.len / 2) {
      for (let ci = 0; ; ci++) {
        const n = this.chunk(ci).n;
        if (i < n) return [ci, i];
        i -= n;
      }
    }
    let fromTail = this.len - 1 - i;
    for (let ci = this.chunks - 1; ; ci--) {
      const n = this.chunk(ci).n;
      if (fromTail < n) return [ci, n - 1 - fromTail];
      fromTail -= n;
    }
  }

  private fits(c: Chunk, eb: number): boolean {
    return c.n === 0 || (c.n < LIST_CHUNK_ENTRIES_MAX && c.size + eb <= LIST_CHUNK_BYTES_MAX);
  }

  /** Whether chunk `c` may hold `v` (a packed chunk is searched without opening it). */
  private holds(c: Chunk, v: Key): boolean {
    if (c.items !== null) return c.items.includes(v);
    for (let k = 0, pos = 0; k < c.n; k++, pos = nextAt(c.packed, pos)) if (entryEquals(c.packed, pos, v)) return true;
    return false;
  }

  /** The open elements of `c`, unpacking it first when packed. */
  private open(c: Chunk): Key[] {
    if (c.items === null) {
      c.items = unpack(c.packed, c.n);
      c.packed = '';
      this.openElements += c.n;
    }
    return c.items;
  }

  /** Account a change of `c` by `eb` bytes and `dn` elements (c is open). */
  private grew(c: Chunk, eb: number, dn: number): void {
    c.size += eb;
    c.n += dn;
    this.entryBytesSum += eb;
    this.len += dn;
    this.openElements += dn;
  }

  /** Pack chunk `ci` when it is more than one chunk away from both ends. */
  private sealIfInner(ci: number): void {
    if (ci < 2 || ci > this.chunks - 3) return;
    const c = this.chunk(ci);
    if (c.items === null) return;
    c.packed = packItems(c.items);
    c.items = null;
    this.openElements -= c.n;
  }

  /** Split the open chunk `ci` in two halves (after an insert made it too large). */
  private split(ci: number): void {
    const c = this.chunk(ci);
    const items = c.items as Key[];
    const tail = items.splice(items.length >> 1);
    const next = this.insertChunk(ci + 1);
    next.items = tail;
    let moved = 0;
    for (const v of tail) moved += entryBytes(v);
    next.n = tail.length;
    next.size = moved;
    c.n -= tail.length;
    c.size -= moved;
    this.sealIfInner(ci);
    this.sealIfInner(ci + 1);
  }

  /** A new empty open chunk at index `ci` (0 <= ci <= chunks). */
  private insertChunk(ci: number): Chunk {
    if (this.chunks === this.ring.length) this.growRing();
    const mask = this.ring.length - 1;
    const c = new Chunk();
    if (ci === 0) {
      this.start = (this.start - 1) & mask;
    } else {
      for (let k = this.chunks; k > ci; k--) this.ring[(this.start + k) & mask] = this.ring[(this.start + k - 1) & mask];
    }
    this.ring[(this.start + ci) & mask] = c;
    this.chunks++;
    return c;
  }

  private removeChunk(ci: number): void {
    const c = this.chunk(ci);
    if (c.items !== null) this.openElements -= c.n;
    this.len -= c.n;
    this.entryBytesSum -= c.size;
    const mask = this.ring.length - 1;
    if (ci === 0) {
      this.ring[this.start] = undefined;
      this.start = (this.start + 1) & mask;
    } else {
      for (let k = ci; k < this.chunks - 1; k++) this.ring[(this.start + k) & mask] = this.ring[(this.start + k + 1) & mask];
      this.ring[(this.start + this.chunks - 1) & mask] = undefined;
    }
    this.chunks--;
  }

  private growRing(): void {
    const next = new Array<Chunk | undefined>(this.ring.length * 2);
    for (let k = 0; k < this.chunks; k++) next[k] = this.chunk(k);
    this.ring = next;
    this.start = 0;
  }
}
