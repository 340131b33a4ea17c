// Shared vocabulary of the storage engine, the server and the replication core:
// positions, keys, primitive operations and log entries.
// Owns no behaviour; every other module agrees on these shapes.

/** Epoch of a primary's reign (Raft's "term"). Starts at 1; 0 means "no history". */
export type Epoch = number;
/**
 * Log sequence number. Global and dense: the first mutation ever is seq 1 and every
 * later mutation gets the previous seq + 1, across epochs (like a Raft log index).
 * 0 means "before the first entry". Never repeats: a given seq names one entry in a history.
 */
export type Seq = number;

/** The position of a log entry: which primary reign wrote it and where it sits in the log. */
export interface Position {
  readonly epoch: Epoch;
  readonly seq: Seq;
}

export const ZERO_POSITION: Position = Object.freeze({ epoch: 0, seq: 0 });

/** Positions order by seq; two positions with equal seq and different epochs are different histories. */
export function comparePositions(a: Position, b: Position): number {
  if (a.seq !== b.seq) return a.seq - b.seq;
  return a.epoch - b.epoch;
}

export function formatPosition(p: Position): string {
  return `${p.epoch}:${p.seq}`;
}

/**
 * A key is a binary string: one JS char per byte (latin1), so any byte sequence is a key
 * and Map lookups work by value. Convert with `keyFromBytes` / `keyToBytes`.
 */
export type Key = string;

export function keyFromBytes(b: Buffer): Key {
  // latin1Slice directly: the same string as toString('latin1') without its argument checks
  // (every command builds its key through here; docs/perf-notes.md, 'Keyspace and slabs').
  return b.latin1Slice(0, b.length);
}

export function keyToBytes(k: Key): Buffer {
  return Buffer.from(k, 'latin1');
}

/** Accepts what users of the embedded API pass: strings are UTF-8, Buffers are bytes. */
export function toKey(k: string | Buffer): Key {
  return typeof k === 'string' ? keyFromBytes(Buffer.from(k, 'utf8')) : keyFromBytes(k);
}

export function toValue(v: string | Buffer): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
}

/** Expiry is absolute wall-clock milliseconds since the epoch; 0 means "no expiry". */
export type ExpireAtMs = number;
export const NO_EXPIRY: ExpireAtMs = 0;

/**
 * Primitive, idempotent, absolute mutations. Commands are logged as their effects
 * (INCR is logged as the resulting `set`, EXPIRE as an absolute `expire`), so replaying a
 * log, or applying it on a replica, reaches the same state regardless of the clock or of
 * the order of replay over a fuzzy snapshot. Applying never fails: an element op on a key of
 * another type replaces it with a fresh collection of the op's type (commands refuse
 * WRONGTYPE before logging, so only replay over a fuzzy snapshot meets that case).
 */
export type Op =
  | { readonly t: 'set'; readonly key: Key; readonly value: Buffer; readonly expireAtMs: ExpireAtMs }
  | { readonly t: 'del'; readonly key: Key }
  /** Set (expireAtMs > 0) or clear (expireAtMs = 0) the expiry of an existing key. */
  | { readonly t: 'expire'; readonly key: Key; readonly expireAtMs: ExpireAtMs }
  | { readonly t: 'flushall' }
  /** Set one field of a hash, creating it (or replacing a key of another type: log replay only). */
  | { readonly t: 'hset'; readonly key: Key; readonly field: Key; readonly value: Buffer }
  /**
   * Remove one field; a no-op on a missing key or another type. The last field's removal leaves
   * an empty hash: a command that empties a collection logs a 'del' of the key instead of its
   * element removals (collection-ops.ts removalOps), which is what makes a replay over a fuzzy
   * snapshot converge (an implicit removal there could drop an expiry no later op restores).
   */
  | { readonly t: 'hdel'; readonly key: Key; readonly field: Key }
  | { readonly t: 'sadd'; readonly key: Key; readonly member: Key }
  /** As hdel. */
  | { readonly t: 'srem'; readonly key: Key; readonly member: Key }
  /** Absolute score, never NaN (ZINCRBY logs the result). */
  | { readonly t: 'zadd'; readonly key: Key; readonly member: Key; readonly score: number }
  /** As hdel. */
  | { readonly t: 'zrem'; readonly key: Key; readonly member: Key }
  /** Replace the key with a whole value of any type in the object codec's form (object-codec.ts), with this expiry. */
  | { readonly t: 'restore'; readonly key: Key; readonly payload: Buffer; readonly expireAtMs: ExpireAtMs }
  /**
   * List ops are positional, so they are not idempotent by themselves: the keyspace applies each
   * at most once to a list, by the list's stamp (the seq of the last entry applied to it, kept in
   * snapshots; keyspace.ts, 'list stamps'). Each is a deterministic function of the list it finds.
   * Push `values` in order at the head (lpush: the last ends first) or tail, creating the list
   * (or replacing a key of another type: log replay only).
   */
  | { readonly t: 'lpush' | 'rpush'; readonly key: Key; readonly values: readonly Buffer[] }
  /** Remove `count` elements from the head or tail (fewer if shorter; an emptied list stays, as hdel). */
  | { readonly t: 'lpop' | 'rpop'; readonly key: Key; readonly count: number }
  /** Replace the element at `index` (from the head, >= 0); a no-op out of range. */
  | { readonly t: 'lset'; readonly key: Key; readonly index: number; readonly value: Buffer }
  /** Insert `value` so that it is at `index` (from the head; clamped to the list). */
  | { readonly t: 'linsert'; readonly key: Key; readonly index: number; readonly value: Buffer }
  /** Redis LREM: remove elements equal to `value`, |count| of them (0: all) from the head (count > 0) or tail. */
  | { readonly t: 'lrem'; readonly key: Key; readonly count: number; readonly value: Buffer }
  /**
   * The effects of one stream command (stream-effects.ts owns `body`): entries with resolved ids,
   * the trim done, groups, consumers and pending entries with resolved times. Applied at most once
   * per stream by its stamp, as list ops; creates the stream (or replaces another type: replay only).
   */
  | { readonly t: 'xstream'; readonly key: Key; readonly body: Buffer }
  /**
   * Replace the whole user table (server/acl.ts serializes it): ACL SETUSER, DELUSER and LOAD are
   * logged as the table they leave, so the op is absolute and idempotent. Not a keyspace change:
   * FLUSHALL keeps it, snapshots carry it beside the keys.
   */
  | { readonly t: 'acl'; readonly users: Buffer }
  /**
   * A membership configuration (replication/core/member-config.ts encodes it): an entry holding
   * one is a configuration change and holds nothing else. Absolute, like 'acl'; not a keyspace
   * change: FLUSHALL keeps it, snapshots carry the recent ones beside the keys.
   */
  | { readonly t: 'members'; readonly config: Buffer }
  /**
   * Replace the whole function library table (server/scripting/functions.ts serializes it):
   * FUNCTION LOAD, DELETE, FLUSH and RESTORE are logged as the table they leave, absolute like
   * 'acl'. Not a keyspace change: FLUSHALL keeps it (as Redis keeps functions), snapshots carry it.
   */
  | { readonly t: 'functions'; readonly libraries: Buffer };

/** Ops that name a key (every op but flushall and the user-table, membership and function-table ops). */
export type KeyOp = Exclude<Op, { readonly t: 'flushall' | 'acl' | 'members' | 'functions' }>;

export function isKeyOp(op: Op): op is KeyOp {
  return op.t !== 'flushall' && op.t !== 'acl' && op.t !== 'members' && op.t !== 'functions';
}

/**
 * One log entry = one position = one client-visible mutation (MSET, RENAME, DEL k1 k2 are
 * one entry with several ops). An entry with no ops is a no-op (a new primary writes one
 * at the start of its epoch).
 */
export interface LogEntry {
  readonly epoch: Epoch;
  readonly seq: Seq;
  readonly ops: readonly Op[];
}

export type FsyncPolicy = 'always' | 'everysec' | 'no';
export const FSYNC_POLICIES: readonly FsyncPolicy[] = ['always', 'everysec', 'no'];

/** Where each epoch began in the log: epoch E's first entry has seq `startSeq`. */
export interface EpochStart {
  readonly epoch: Epoch;
  readonly startSeq: Seq;
}
