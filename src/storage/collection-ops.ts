// The element writes of hashes, sets, sorted sets and lists as the log's absolute ops, shared by the
// server's commands (commands/hashes.ts, sets.ts, zsets.ts) and the embedded API (embedded.ts),
// so each write's rules live once. Pure functions of a collection's current contents (read only):
// never reads the store and never writes; the caller checks the key's type first and logs the
// returned ops as one entry (none when there are none).

import type { HashObject } from './hash-object.js';
import type { SetObject } from './set-object.js';
import type { SortedSet } from './zset.js';
import type { EncodingLimits } from './collection.js';
import type { ListObject } from './list-object.js';
import { keyFromBytes, keyToBytes, type Key, type Op } from './types.js';
import { INT64_MAX, INT64_MIN, parseInt64 } from './int64.js';

/**
 * The ops for removing elements (hdel/srem/zrem ops of `key`) from a collection that keeps
 * `remaining` elements afterwards: those removals, or one 'del' of the key when it empties. A
 * write must never log a removal that empties a collection: the keyspace keeps an emptied
 * collection (see keyspace.ts, 'collections'), and the logged del is what removes the key.
 */
export function removalOps(key: Key, removals: Op[], remaining: number): Op[] {
  return remaining === 0 ? [{ t: 'del', key }] : removals;
}

// ---------------------------------------------------------------- hashes

/** HSET: one hset op per pair, in order (a repeated field: the last wins); `added` counts new fields. */
export function hsetOps(key: Key, h: HashObject | undefined, pairs: Iterable<readonly [Key, Buffer]>): { ops: Op[]; added: number } {
  const ops: Op[] = [];
  const added = new Set<Key>();
  for (const [field, value] of pairs) {
    if (h?.has(field) !== true) added.add(field);
    ops.push({ t: 'hset', key, field, value });
  }
  return { ops, added: added.size };
}

/** HDEL: the fields present, removed (a 'del' when none would be left). */
export function hdelOps(key: Key, h: HashObject | undefined, fields: Iterable<Key>): { ops: Op[]; removed: number } {
  if (h === undefined) return { ops: [], removed: 0 };
  const gone = new Set<Key>();
  for (const f of fields) if (h.has(f)) gone.add(f);
  if (gone.size === 0) return { ops: [], removed: 0 };
  const removals: Op[] = [...gone].map((field) => ({ t: 'hdel', key, field }));
  return { ops: removalOps(key, removals, h.size - gone.size), removed: gone.size };
}

/** HINCRBY: the field's new value logged as text; 'not-integer' / 'overflow' refuse it. */
export function hincrbyOps(key: Key, h: HashObject | undefined, field: Key, incr: bigint): { ops: Op[]; value: bigint } | { error: 'not-integer' | 'overflow' } {
  const cur = h?.get(field);
  const old = cur === undefined ? 0n : parseInt64(cur);
  if (old === null) return { error: 'not-integer' };
  const value = old + incr;
  if (value > INT64_MAX || value < INT64_MIN) return { error: 'overflow' };
  return { ops: [{ t: 'hset', key, field, value: Buffer.from(value.toString(), 'latin1') }], value };
}

// ---------------------------------------------------------------- sets

/** SADD: one sadd op per new member. */
export function saddOps(key: Key, s: SetObject | undefined, members: Iterable<Key>): { ops: Op[]; added: number } {
  const added = new Set<Key>();
  for (const m of members) if (s?.has(m) !== true) added.add(m);
  return { ops: [...added].map((member) => ({ t: 'sadd', key, member })), added: added.size };
}

/** Ops removing `members` (all present, distinct) from `s`: a 'del' when nothing would be left. */
export function sremPresentOps(key: Key, s: SetObject, members: readonly Key[]): Op[] {
  return removalOps(key, members.map((member): Op => ({ t: 'srem', key, member })), s.size - members.length);
}

/** SREM: the members present, removed. */
export function sremOps(key: Key, s: SetObject | undefined, members: Iterable<Key>): { ops: Op[]; removed: number } {
  if (s === undefined) return { ops: [], removed: 0 };
  const removed = new Set<Key>();
  for (const m of members) if (s.has(m)) removed.add(m);
  return { ops: removed.size === 0 ? [] : sremPresentOps(key, s, [...removed]), removed: removed.size };
}

// ---------------------------------------------------------------- sorted sets

/**
 * The score Redis 7.0 keeps: its listpack holds scores as text and reads "-0" back as 0, while
 * its skiplist keeps the double. Writes log what Redis would hold, so replies stay identical.
 */
export function keptScore(score: number, listpack: boolean): number {
  return listpack && score === 0 ? 0 : score;
}

export interface ZAddFlags {
  readonly nx: boolean;
  readonly xx: boolean;
  readonly gt: boolean;
  readonly lt: boolean;
  readonly incr: boolean;
}

export const ZADD_PLAIN: ZAddFlags = Object.freeze({ nx: false, xx: false, gt: false, lt: false, incr: false });

export interface ZAddResult {
  readonly ops: Op[];
  readonly added: number;
  readonly updated: number;
  /** Pairs not skipped by NX/XX/GT/LT; `last` is the score of the last one (ZINCRBY's reply). */
  readonly processed: number;
  readonly last: number;
}

/**
 * ZADD (and ZINCRBY, which is ZADD INCR) over `pairs` of (member, score) in order: later pairs
 * see earlier ones, as Redis applies them. 'nan' when an increment gives NaN (nothing is logged).
 */
export function zaddOps(key: Key, z: SortedSet | undefined, f: ZAddFlags, pairs: readonly (readonly [Key, number])[], limits: Readonly<EncodingLimits>): ZAddResult | { error: 'nan' } {
  const changed = new Map<Key, number>();
  let added = 0;
  let updated = 0;
  let processed = 0;
  let last = 0;
  // The encoding Redis would have as it adds each element (it converts before adding a member
  // past zset-max-listpack-entries or longer than zset-max-listpack-value), for the score it
  // keeps (keptScore). SortedSet.set converts by the same rule.
  let size = z?.size ?? 0;
  let listpack = z === undefined || z.encoding === 'listpack';
  if (z === undefined && f.xx) return { ops: [], added, updated, processed, last };
  for (const [member, s] of pairs) {
    let score = s;
    const cur = changed.has(member) ? changed.get(member) : z?.score(member);
    if (cur === undefined) {
      if (f.xx) continue;
      size++;
      if (size > limits.zsetListpackEntries || member.length > limits.zsetListpackValueBytes) listpack = false;
      changed.set(member, keptScore(score, listpack));
      added++;
    } else {
      if (f.nx) continue;
      if (f.incr) {
        score += cur;
        if (Number.isNaN(score)) return { error: 'nan' };
      }
      if ((f.lt && score >= cur) || (f.gt && score <= cur)) continue;
      if (score !== cur) {
        changed.set(member, keptScore(score, listpack));
        updated++;
      }
    }
    processed++;
    last = score;
  }
  const ops: Op[] = [...changed].map(([member, score]) => ({ t: 'zadd', key, member, score }));
  return { ops, added, updated, processed, last };
}

/** Ops removing `members` (all present, distinct) from `z`: a 'del' when nothing would be left. */
export function zremPresentOps(key: Key, z: SortedSet, members: readonly Key[]): Op[] {
  return removalOps(key, members.map((member): Op => ({ t: 'zrem', key, member })), z.size - members.length);
}

/** ZREM: the members present, removed. */
export function zremOps(key: Key, z: SortedSet | undefined, members: Iterable<Key>): { ops: Op[]; removed: number } {
  if (z === undefined) return { ops: [], removed: 0 };
  const removed = new Set<Key>();
  for (const m of members) if (z.score(m) !== undefined) removed.add(m);
  return { ops: removed.size === 0 ? [] : zremPresentOps(key, z, [...removed]), removed: removed.size };
}

// ---------------------------------------------------------------- lists
// List ops are applied at most once per list (keyspace.ts, 'list stamps'), so each may be a
// deterministic function of the list it finds; an indexed op carries the index the command
// resolved (an LINSERT's pivot is found here, not at apply).

/** LPUSH / RPUSH: one push op with every value in order; `length` is the list's new length. */
export function pushOps(key: Key, list: ListObject | undefined, head: boolean, values: readonly Buffer[]): { ops: Op[]; length: number } {
  return { ops: [{ t: head ? 'lpush' : 'rpush', key, values }], length: (list?.size ?? 0) + values.length };
}

/** LPOP / RPOP of up to `count` elements: the elements (in pop order) and one pop op, or a 'del' when none would be left. */
export function popOps(key: Key, list: ListObject | undefined, head: boolean, count: number): { ops: Op[]; values: Key[] } {
  if (list === undefined || count <= 0 || list.size === 0) return { ops: [], values: [] };
  const n = Math.min(count, list.size);
  const values = head ? [...list.range(0, n - 1)] : [...list.range(list.size - n, list.size - 1)].reverse();
  return { ops: removalOps(key, [{ t: head ? 'lpop' : 'rpop', key, count: n }], list.size - n), values };
}

/** Redis's index rule: negative counts from the tail. The index from the head, or -1 when out of range. */
export function listIndex(list: ListObject, index: number): number {
  const i = index < 0 ? list.size + index : index;
  return i >= 0 && i < list.size ? i : -1;
}

/** LSET: the op, or 'out-of-range'. */
export function lsetOps(key: Key, list: ListObject, index: number, value: Buffer): { ops: Op[] } | { error: 'out-of-range' } {
  const i = listIndex(list, index);
  return i < 0 ? { error: 'out-of-range' } : { ops: [{ t: 'lset', key, index: i, value }] };
}

/** LINSERT: the op at the index the pivot resolves to; `length` -1 when the pivot is absent (no op). */
export function linsertOps(key: Key, list: ListObject, after: boolean, pivot: Key, value: Buffer): { ops: Op[]; length: number } {
  let i = 0;
  for (const v of list.values()) {
    if (v === pivot) return { ops: [{ t: 'linsert', key, index: after ? i + 1 : i, value }], length: list.size + 1 };
    i++;
  }
  return { ops: [], length: -1 };
}

/** LREM: how many go, and the op (a 'del' when none would be left). */
export function lremOps(key: Key, list: ListObject | undefined, count: number, value: Buffer): { ops: Op[]; removed: number } {
  if (list === undefined) return { ops: [], removed: 0 };
  // |count| past the length removes as 0 would; clamped so the logged count stays a safe integer.
  const c = Math.abs(count) >= list.size ? 0 : count;
  const removed = list.countEqual(keyFromBytes(value), c);
  if (removed === 0) return { ops: [], removed };
  return { ops: removalOps(key, [{ t: 'lrem', key, count: c, value }], list.size - removed), removed };
}

/** LTRIM key start stop (Redis's index rules): pops at either end, or a 'del' when nothing is kept. */
export function ltrimOps(key: Key, list: ListObject | undefined, start: number, stop: number): Op[] {
  if (list === undefined) return [];
  const len = list.size;
  if (start < 0) start += len;
  if (stop < 0) stop += len;
  if (start < 0) start = 0;
  if (start > stop || start >= len) return [{ t: 'del', key }];
  if (stop >= len) stop = len - 1;
  const ops: Op[] = [];
  if (start > 0) ops.push({ t: 'lpop', key, count: start });
  if (stop < len - 1) ops.push({ t: 'rpop', key, count: len - 1 - stop });
  return ops;
}

/**
 * LMOVE src dst (RPOPLPUSH, LMPOP's single-key pop is popOps): the element moved and the ops of
 * one entry. A list moved onto itself never empties (the element comes back), so it logs no del.
 */
export function lmoveOps(src: Key, srcList: ListObject, dst: Key, dstList: ListObject | undefined, fromHead: boolean, toHead: boolean): { ops: Op[]; value: Key } {
  const value = (fromHead ? srcList.at(0) : srcList.at(srcList.size - 1)) as Key;
  const pop: Op = { t: fromHead ? 'lpop' : 'rpop', key: src, count: 1 };
  const push: Op = { t: toHead ? 'lpush' : 'rpush', key: dst, values: [keyToBytes(value)] };
  if (src === dst) return { ops: [pop, push], value };
  return { ops: [...removalOps(src, [pop], srcList.size - 1), push], value };
}
