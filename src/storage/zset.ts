// Minimal sorted set used by the multi-type keyspace until the full implementation (owned by
// the sorted-set work) is merged over this file; only the storage-facing API is here.
// Owns member -> score; never logs and never sees the keyspace.

import type { Key } from './types.js';

const ZSET_LISTPACK_ENTRIES_MAX = 128;
const ZSET_LISTPACK_VALUE_BYTES_MAX = 64;

function compareMembers(a: Key, b: Key): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class SortedSet {
  private readonly scores = new Map<Key, number>();
  private big = false;
  private contentBytes = 0;

  get size(): number {
    return this.scores.size;
  }

  get encoding(): 'listpack' | 'skiplist' {
    return this.big ? 'skiplist' : 'listpack';
  }

  get bytes(): number {
    return 64 + this.contentBytes + this.scores.size * 64;
  }

  score(member: Key): number | undefined {
    return this.scores.get(member);
  }

  set(member: Key, score: number): boolean {
    const isNew = !this.scores.has(member);
    if (member.length > ZSET_LISTPACK_VALUE_BYTES_MAX) this.big = true;
    this.scores.set(member, score);
    if (isNew) this.contentBytes += member.length + 8;
    if (this.scores.size > ZSET_LISTPACK_ENTRIES_MAX) this.big = true;
    return isNew;
  }

  delete(member: Key): boolean {
    if (!this.scores.delete(member)) return false;
    this.contentBytes -= member.length + 8;
    return true;
  }

  entries(): IterableIterator<[Key, number]> {
    const all = [...this.scores];
    all.sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : compareMembers(a[0], b[0])));
    return all[Symbol.iterator]();
  }
}
