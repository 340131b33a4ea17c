// The in-memory dataset: values, expiries, SCAN cursors and the expiry sweep.
// Owns memory state only; never logs, never touches files, never reads the wall clock
// itself (the caller passes `now`). Applying an Op here is the single definition of its meaning.
//
// Layout (why): a Map<Key, slot> plus parallel slot arrays for key and value. A key keeps its
// slot from insertion until deletion, so a SCAN cursor that walks slots in ascending order
// returns every key present for the whole scan at least once, whatever else is added or
// deleted meanwhile (freed slots are reused by later inserts, which a scan may or may not see;
// that is allowed). Map insertion order alone cannot give this guarantee across delete+reinsert.
// Small values are held as latin1 strings (one char per byte): measured ~25% less RSS than
// one Buffer per value at 1M x 100 B (see docs/storage.md); large ones as owned Buffers.

import assert from 'node:assert';
import type { ExpireAtMs, Key, Op } from './types.js';
import { globMatch } from './glob.js';

/** Values up to this many bytes are stored as latin1 strings, larger ones as Buffers. */
export const SMALL_VALUE_BYTES_MAX = 64 * 1024;
/** Rough per-key bookkeeping overhead used for the live-data estimate (not exact RSS). */
const KEY_OVERHEAD_BYTES = 48;
/** SCAN examines at most this many slots per call, whatever COUNT says (bounds one call's work). */
export const SCAN_SLOTS_PER_CALL_MAX = 100_000;
/** Active expiry: keys with a TTL examined per sweep call. */
export const EXPIRE_SWEEP_KEYS_MAX = 1000;
/** Active expiry: time budget of one sweep call. */
export const EXPIRE_SWEEP_MS_MAX = 2;

export type StoredValue = string | Buffer;

export function storeValue(v: Buffer): StoredValue {
  // Copy always: `v` may be a slice of a socket read buffer or of a 64 MiB log segment,
  // and retaining a slice would retain the whole parent buffer.
  if (v.length <= SMALL_VALUE_BYTES_MAX) return v.toString('latin1', 0, v.length);
  const own = Buffer.allocUnsafeSlow(v.length);
  v.copy(own);
  return own;
}

export function valueToBuffer(v: StoredValue): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'latin1') : v;
}

export function valueBytes(v: StoredValue): number {
  return v.length;
}

export class Keyspace {
  private index = new Map<Key, number>();
  private slotKeys: Array<Key | undefined> = [];
  private slotVals: Array<StoredValue | undefined> = [];
  private freeSlots: number[] = [];
  private expires = new Map<Key, ExpireAtMs>();
  private sweepIter: Iterator<[Key, ExpireAtMs]> | undefined;
  /** Sum of key + value bytes + per-key overhead: the auto-compaction baseline. */
  liveBytes = 0;
  /** Keys removed because their expiry passed (lazy or swept). */
  expiredKeys = 0;

  get size(): number {
    return this.index.size;
  }

  get slotCount(): number {
    return this.slotKeys.length;
  }

  // ---- mutations (the meaning of each Op)

  applyOp(op: Op): void {
    switch (op.t) {
      case 'set':
        this.put(op.key, storeValue(op.value), op.expireAtMs);
        return;
      case 'del':
        this.remove(op.key);
        return;
      case 'expire':
        if (!this.index.has(op.key)) return; // absolute and idempotent: a no-op on a missing key
        if (op.expireAtMs === 0) this.expires.delete(op.key);
        else this.expires.set(op.key, op.expireAtMs);
        return;
      case 'flushall':
        this.clear();
        return;
      default: {
        const never: never = op;
        throw new Error(`unknown op ${JSON.stringify(never)}`);
      }
    }
  }

  /** Insert or replace; `value` must already be owned (see storeValue). */
  put(key: Key, value: StoredValue, expireAtMs: ExpireAtMs): void {
    const slot = this.index.get(key);
    if (slot === undefined) {
      const s = this.freeSlots.length > 0 ? (this.freeSlots.pop() as number) : this.slotKeys.length;
      this.index.set(key, s);
      this.slotKeys[s] = key;
      this.slotVals[s] = value;
      this.liveBytes += key.length + valueBytes(value) + KEY_OVERHEAD_BYTES;
    } else {
      const old = this.slotVals[slot];
      assert(old !== undefined && this.slotKeys[slot] === key, 'slot table out of sync');
      this.liveBytes += valueBytes(value) - valueBytes(old);
      this.slotVals[slot] = value;
    }
    // Skip the expires lookup when no key has a TTL (the common bulk-load case).
    if (expireAtMs === 0) {
      if (this.expires.size > 0) this.expires.delete(key);
    } else this.expires.set(key, expireAtMs);
  }

  remove(key: Key): boolean {
    const slot = this.index.get(key);
    if (slot === undefined) return false;
    const old = this.slotVals[slot];
    assert(old !== undefined && this.slotKeys[slot] === key, 'slot table out of sync');
    this.liveBytes -= key.length + valueBytes(old) + KEY_OVERHEAD_BYTES;
    this.index.delete(key);
    this.expires.delete(key);
    this.slotKeys[slot] = undefined;
    this.slotVals[slot] = undefined;
    this.freeSlots.push(slot);
    return true;
  }

  clear(): void {
    this.index = new Map();
    this.slotKeys = [];
    this.slotVals = [];
    this.freeSlots = [];
    this.expires = new Map();
    this.sweepIter = undefined;
    this.liveBytes = 0;
  }

  // ---- reads (lazy expiry: an expired key behaves as missing and is removed locally)

  private expiredNow(key: Key, now: number): boolean {
    const at = this.expires.get(key);
    if (at === undefined || at > now) return false;
    this.remove(key);
    this.expiredKeys++;
    return true;
  }

  getStored(key: Key, now: number): StoredValue | undefined {
    const slot = this.index.get(key);
    if (slot === undefined || this.expiredNow(key, now)) return undefined;
    return this.slotVals[slot];
  }

  has(key: Key, now: number): boolean {
    return this.index.has(key) && !this.expiredNow(key, now);
  }

  /** 0 = no expiry; undefined = missing or expired. */
  getExpireAt(key: Key, now: number): ExpireAtMs | undefined {
    if (!this.has(key, now)) return undefined;
    return this.expires.get(key) ?? 0;
  }

  /** Raw read for snapshots: no expiry check, no side effect. */
  slotAt(slot: number): { key: Key; value: StoredValue; expireAtMs: ExpireAtMs } | undefined {
    const key = this.slotKeys[slot];
    if (key === undefined) return undefined;
    const value = this.slotVals[slot] as StoredValue;
    return { key, value, expireAtMs: this.expires.get(key) ?? 0 };
  }

  *keys(now: number): IterableIterator<Key> {
    for (const key of this.index.keys()) {
      if (!this.expiredNow(key, now)) yield key;
    }
  }

  /**
   * One SCAN step from `cursor` (a slot index): examines `count` slots, returns the live
   * matching keys and the next cursor (0 = done).
   */
  scan(cursor: number, count: number, now: number, match?: string): { next: number; keys: Key[] } {
    const keys: Key[] = [];
    const n = Math.max(1, Math.min(count, SCAN_SLOTS_PER_CALL_MAX));
    let i = cursor;
    const end = Math.min(this.slotKeys.length, cursor + n);
    for (; i < end; i++) {
      const key = this.slotKeys[i];
      if (key === undefined || this.expiredNow(key, now)) continue;
      if (match === undefined || globMatch(match, key)) keys.push(key);
    }
    return { next: i >= this.slotKeys.length ? 0 : i, keys };
  }

  get expiresCount(): number {
    return this.expires.size;
  }

  /**
   * Active expiry (like Redis activeExpireCycle): walk the expires Map round-robin with a
   * persistent iterator, removing due keys, bounded by EXPIRE_SWEEP_KEYS_MAX and a time budget.
   * `clock` is read every 64 keys to check the budget. Returns the number removed.
   */
  sweep(now: number, clock: () => number): number {
    const startMs = clock();
    let removed = 0;
    for (let examined = 0; examined < EXPIRE_SWEEP_KEYS_MAX && this.expires.size > 0; examined++) {
      if (this.sweepIter === undefined) this.sweepIter = this.expires.entries();
      const r = this.sweepIter.next();
      if (r.done === true) {
        this.sweepIter = undefined;
        break; // one full lap per call at most
      }
      const [key, at] = r.value;
      if (at <= now && this.remove(key)) {
        removed++;
        this.expiredKeys++;
      }
      if ((examined & 63) === 63 && clock() - startMs >= EXPIRE_SWEEP_MS_MAX) break;
    }
    return removed;
  }
}
