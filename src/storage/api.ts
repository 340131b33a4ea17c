// The contracts of the storage engine: `Store`, the embedded API that `openStore` from 'kv-ts'
// returns (embedded.ts), and `ReplicatedStore`, the engine's whole interface that the server's
// command layer and the replication host use (store.ts implements it).
// Reads are synchronous and honour lazy expiry; writes mutate memory synchronously and
// buffer one log record, whose durability is awaited separately (group commit).

import type { LogFs } from './log-fs.js';
import type { EncodingLimits, KeyTypeName, TypeName } from './collection.js';
import type { HashObject } from './hash-object.js';
import type { ListObject } from './list-object.js';
import type { StreamObject } from './stream-object.js';
import type { SetObject } from './set-object.js';
import type { SortedSet } from './zset.js';
import type { EpochStart, ExpireAtMs, FsyncPolicy, Key, LogEntry, Op, Position, Seq } from './types.js';
import type { AccessQuery, MaxmemoryPolicy } from './eviction.js';
import type { ConfigAt } from '../replication/core/types.js';

export interface StoreOptions {
  /** Data directory; created if missing. One process owns it (lock file). */
  readonly dir: string;
  /** Default 'everysec'. */
  readonly fsync?: FsyncPolicy;
  /** Max bytes of one log segment before rotation. Default 64 MiB. */
  readonly segmentBytesMax?: number;
  /** Auto-compact when log bytes > live-data estimate * (1 + percent/100) ... Default 100. */
  readonly compactPercent?: number;
  /** ... and log bytes >= this. Default 64 MiB. 0 disables auto-compaction. */
  readonly compactMinBytes?: number;
  /** Truncate at the first corrupt record instead of refusing to open. Default false. */
  readonly repair?: boolean;
  /** Warnings (torn tail truncated, repair) go here. Default: process.emitWarning. */
  readonly onWarning?: (message: string) => void;
  /** Clock for expiry, injectable for tests. Default Date.now. */
  readonly now?: () => number;
  /**
   * Under fsync 'always': run a group-commit fsync on the event loop, blocking it as Redis does,
   * while the previous one took less than this many ms; otherwise in the libuv pool. Default 0:
   * every fsync runs in the pool, so an embedding application's loop is never blocked by one.
   * kv-server uses 2 (SERVER_FSYNC_ON_LOOP_MAX_MS in wal.ts).
   */
  readonly fsyncOnLoopMaxMs?: number;
  /** Told each group-commit fdatasync's duration in seconds (kv-server's fsync latency histogram). */
  readonly onFsyncSeconds?: (seconds: number) => void;
  /** The log's file calls; default node:fs. Tests inject failures (ENOSPC, EIO) through it. */
  readonly logFs?: LogFs;
  /**
   * After a log failure that discarded unlogged writes, resume writing in-process once a retry
   * succeeds (default true). False keeps the store read-only until a restart instead, for an
   * embedder that has handed those positions to someone it cannot tell of the rollback (the
   * replication host is told through setLogListener, and starts a new epoch before writing).
   */
  readonly resumeAfterDiscard?: boolean;
  /** The encoding limits collections follow: a live object the caller may change later (CONFIG SET). Default: Redis's. */
  readonly encodingLimits?: EncodingLimits;
}

export interface StoreStats {
  readonly keys: number;
  readonly logBytes: number;
  readonly segments: number;
  readonly lastPosition: Position;
  readonly durableSeq: Seq;
  readonly fsync: FsyncPolicy;
  readonly lastFsyncMs: number;
  readonly compactions: number;
  readonly lastCompactionMs: number;
  readonly lastCompactionDurationMs: number;
  readonly compacting: boolean;
  readonly snapshotSeq: Seq;
  readonly expiredKeys: number;
  /** Keys with an expiry set (INFO keyspace `expires=`). Optional: added by the server engineer. */
  readonly expiresCount?: number;
  /** fsync/fdatasync calls completed on log segments (group commit makes this << writes under 'always'). Added by storage. */
  readonly fsyncs: number;
  /** Estimated live data bytes (keys + values + per-key overhead): the auto-compaction baseline. Added by storage. */
  readonly liveBytes: number;
  /** While log writes are refused after a failed write or fsync: the MISCONF text; else null. */
  readonly logError?: string | null;
  /** Since when (ms since the epoch) they are refused; 0 when writable. */
  readonly logErrorSinceMs?: number;
  /** Failed log writes and fsyncs since open. */
  readonly logWriteErrors?: number;
  /** Keys deleted by the maxmemory policy since open (INFO stats `evicted_keys`). */
  readonly evictedKeys?: number;
}

/** How an eviction run (ReplicatedStore.evict) ended. */
export interface EvictionResult {
  /** Dataset bytes (liveBytes) the evicted keys held. */
  readonly freedBytes: number;
  readonly keys: number;
  /**
   * 'done': freed what was asked; 'time': the time budget ran out first (call again);
   * 'none': no key qualifies under the policy (noeviction, volatile-* without TTLs, empty);
   * 'refused': this node may not log deletes now (a replica, a failed log).
   */
  readonly outcome: 'done' | 'time' | 'none' | 'refused';
}

export interface ScanResult {
  /** "0" when the scan is complete. */
  readonly cursor: string;
  readonly keys: Key[];
}

export interface SetOptions {
  /** Relative expiry in ms. */
  readonly px?: number;
  /** Absolute expiry, ms since the Unix epoch. */
  readonly pxAt?: number;
}

/**
 * Receives a value as a byte range (Store.readValueInto). The reply encoder implements it, so a
 * GET copies the stored bytes straight into the output buffer.
 */
export interface ValueSink {
  /** `src[off, off + len)` is valid only during this call: copy it, never keep or mutate it. */
  bulkRange(src: Buffer, off: number, len: number): void;
}

/** Fields for Store.hset: an object's own string keys, or a Map (string keys UTF-8, Buffers as bytes). */
export type HashFields = Readonly<Record<string, string | Buffer>> | ReadonlyMap<string | Buffer, string | Buffer>;

/** One sorted-set element as the embedded API gives and takes it. */
export interface ZMember<M = string | Buffer> {
  readonly score: number;
  readonly member: M;
}

/** Elements for Store.zadd: a list, or a member -> score Map or object. */
export type ZMembers = ReadonlyArray<ZMember> | ReadonlyMap<string | Buffer, number> | Readonly<Record<string, number>>;

/** A stream entry as the embedded API returns it. */
export interface StreamEntry {
  readonly id: string;
  readonly fields: ReadonlyArray<readonly [Buffer, Buffer]>;
}

export interface ZRangeOptions {
  /** Index from the highest score (ZRANGE ... REV). */
  readonly rev?: boolean;
  readonly withScores?: boolean;
}

export interface ZRangeByScoreOptions extends ZRangeOptions {
  /** Skip `offset` elements of the range, then return at most `count` (count < 0: all). */
  readonly limit?: { readonly offset: number; readonly count: number };
}

/** The string and key calls the embedded API shares with the engine. Strings are UTF-8. */
export interface StoreCore {
  /** Resolves once the write is durable under the fsync policy. */
  set(key: string | Buffer, value: string | Buffer, opts?: SetOptions): Promise<Position>;
  get(key: string | Buffer): Buffer | undefined;
  /** False when the key did not exist. */
  delete(key: string | Buffer): Promise<boolean>;
  /** Set a relative expiry; false when the key does not exist. */
  expire(key: string | Buffer, ms: number): Promise<boolean>;
  /** Remaining ms; -2 missing, -1 no expiry. */
  pttl(key: string | Buffer): number;
  /** Async iterator over all keys (as Buffers), SCAN guarantees. */
  scanIterator(opts?: { match?: string; count?: number }): AsyncIterable<Buffer>;
  compact(): Promise<void>;
  stats(): StoreStats;
  close(): Promise<void>;
}

/**
 * The embedded API: what `openStore` from 'kv-ts' returns (embedded.ts). Collections' calls live
 * here, not on the engine: they are built from its read API and `apply` (collection-ops.ts).
 */
export interface Store extends StoreCore {
  // Collections. Each write is one log entry of absolute ops, durable on resolve; a call on a key
  // of another type rejects with WrongTypeError; removing the last element deletes the key.
  // delete / expire / pttl / scanIterator work on collection keys as on strings.
  /** 'none' when the key is missing or expired. */
  type(key: string | Buffer): Promise<KeyTypeName>;
  /** Set fields; resolves with the number of fields that were new. */
  hset(key: string | Buffer, fields: HashFields): Promise<number>;
  hget(key: string | Buffer, field: string | Buffer): Promise<Buffer | undefined>;
  /** Field names decoded as UTF-8, in the hash's order; empty when the key is missing. */
  hgetall(key: string | Buffer): Promise<Map<string, Buffer>>;
  /** Resolves with the number of fields removed. */
  hdel(key: string | Buffer, ...fields: (string | Buffer)[]): Promise<number>;
  hlen(key: string | Buffer): Promise<number>;
  /** Add `by` to a field holding a 64-bit integer (a missing field counts as 0); the new value (exact up to 2^53). */
  hincrby(key: string | Buffer, field: string | Buffer, by: number): Promise<number>;
  /** Resolves with the number of members that were new. */
  sadd(key: string | Buffer, ...members: (string | Buffer)[]): Promise<number>;
  srem(key: string | Buffer, ...members: (string | Buffer)[]): Promise<number>;
  sismember(key: string | Buffer, member: string | Buffer): Promise<boolean>;
  smembers(key: string | Buffer): Promise<Buffer[]>;
  scard(key: string | Buffer): Promise<number>;
  /** Add members or update their scores; resolves with the number of members that were new. */
  zadd(key: string | Buffer, members: ZMembers): Promise<number>;
  /** Add `by` to a member's score (a missing member counts as 0); the new score. */
  zincrby(key: string | Buffer, by: number, member: string | Buffer): Promise<number>;
  zrem(key: string | Buffer, ...members: (string | Buffer)[]): Promise<number>;
  zscore(key: string | Buffer, member: string | Buffer): Promise<number | undefined>;
  zcard(key: string | Buffer): Promise<number>;
  /** Members by rank, `start`/`stop` inclusive, negative from the end (ZRANGE). */
  zrange(key: string | Buffer, start: number, stop: number, opts?: ZRangeOptions & { readonly withScores?: false }): Promise<Buffer[]>;
  zrange(key: string | Buffer, start: number, stop: number, opts: ZRangeOptions & { readonly withScores: true }): Promise<ZMember<Buffer>[]>;
  /** Members with min <= score <= max (±Infinity allowed), lowest first, or highest first with `rev` (ZRANGEBYSCORE). */
  zrangeByScore(key: string | Buffer, min: number, max: number, opts?: ZRangeByScoreOptions & { readonly withScores?: false }): Promise<Buffer[]>;
  zrangeByScore(key: string | Buffer, min: number, max: number, opts: ZRangeByScoreOptions & { readonly withScores: true }): Promise<ZMember<Buffer>[]>;
  /** Push elements at the head (each in turn, so the last ends first) or the tail; resolves with the new length. */
  lpush(key: string | Buffer, ...elements: (string | Buffer)[]): Promise<number>;
  rpush(key: string | Buffer, ...elements: (string | Buffer)[]): Promise<number>;
  /** Remove and return up to `count` (default 1) elements from the head or tail, in pop order. */
  lpop(key: string | Buffer, count?: number): Promise<Buffer[]>;
  rpop(key: string | Buffer, count?: number): Promise<Buffer[]>;
  llen(key: string | Buffer): Promise<number>;
  /**
   * XADD: append an entry of these field/value pairs with `id` ('*' by default: the clock; or
   * 'ms-seq', 'ms-*'); resolves with the id. InvalidValueError for a bad id or one not above the
   * stream's last. Not safe to resend after an unknown outcome (a second entry).
   */
  xadd(key: string | Buffer, pairs: ReadonlyArray<readonly [string | Buffer, string | Buffer]>, id?: string): Promise<string>;
  xlen(key: string | Buffer): Promise<number>;
  /** XRANGE: entries with start <= id <= end ('-' / '+' / 'ms' / 'ms-seq'), up to `count`. */
  xrange(key: string | Buffer, start?: string, end?: string, count?: number): Promise<StreamEntry[]>;
  /** Elements `start`..`stop` inclusive, negative from the end (LRANGE). */
  lrange(key: string | Buffer, start: number, stop: number): Promise<Buffer[]>;
  /** The element at `index` (negative from the end); undefined out of range. */
  lindex(key: string | Buffer, index: number): Promise<Buffer | undefined>;
  /** Replace the element at `index`; InvalidValueError when the key is missing or the index out of range. */
  lset(key: string | Buffer, index: number, element: string | Buffer): Promise<void>;
  /** Remove elements equal to `element`: `count` > 0 from the head, < 0 from the tail, 0 all; resolves with how many. */
  lrem(key: string | Buffer, count: number, element: string | Buffer): Promise<number>;
  /** Keep only elements `start`..`stop` (LTRIM's rules). */
  ltrim(key: string | Buffer, start: number, stop: number): Promise<void>;
  /** Pop from one end of `source`, push onto one end of `destination`, as one write (LMOVE); undefined when `source` is missing. */
  lmove(source: string | Buffer, destination: string | Buffer, from: 'left' | 'right', to: 'left' | 'right'): Promise<Buffer | undefined>;
  /** The key's value in Redis's DUMP format (kv-server's and redis-server's RESTORE take it); undefined when missing. */
  dump(key: string | Buffer): Promise<Buffer | undefined>;
  /**
   * Make `key` hold the value of a DUMP payload (from kv-ts or redis-server), as one entry.
   * Rejects with InvalidValueError for a payload that is corrupt or holds a type kv-ts lacks,
   * and when the key exists unless `replace`.
   */
  restore(key: string | Buffer, payload: Buffer, opts?: RestoreOptions): Promise<void>;
}

/** Store.restore's options: an expiry (relative or absolute, as SetOptions) and whether to overwrite. */
export interface RestoreOptions extends SetOptions {
  readonly replace?: boolean;
}

/**
 * The engine's whole interface: the embedded API's StoreCore plus the binary read path, positioned writes
 * and the replication support (epochs, truncation, meta, snapshot export and load). Internal:
 * kv-server and the replication host use it; the package root never exports it.
 */
export interface ReplicatedStore extends StoreCore {
  // ---- low-level read API used by the command layer (binary keys, no copies)
  getValue(key: Key): Buffer | undefined;
  /**
   * The value's bytes as held in memory, without a copy: a view into the keyspace's slab, valid
   * only until the next write of that key (a same-size SET overwrites it in place). Callers copy
   * it out at once (the reply encoder does) and never mutate or retain it. The GET hot path.
   */
  getStored(key: Key): Buffer | undefined;
  /**
   * The GET hot path: find the key by its bytes (no key string) and pass the value to
   * `sink.bulkRange` as a byte range of the keyspace's memory, valid only during that call (no
   * copy, no view object). False, without calling `sink`, when the key is missing or expired.
   */
  readValueInto(key: Buffer, sink: ValueSink): boolean;
  /** 0 = no expiry; undefined = key missing (or expired). */
  getExpireAt(key: Key): ExpireAtMs | undefined;
  has(key: Key): boolean;
  /**
   * The key's type ('none' when missing or expired). The string reads above (getValue,
   * getStored, readValueInto) miss on a collection key: a command checks the type first to
   * answer WRONGTYPE (commands/keytype.ts).
   */
  typeOf(key: Key): KeyTypeName;
  /**
   * A collection key's contents, undefined when missing, expired or of another type. READ ONLY:
   * commands never mutate what these return; they log ops through apply, which changes it.
   */
  /** The encoding limits its collections follow: live, CONFIG SET changes them (ZADD predicts a zset's encoding from them). */
  readonly encodingLimits: Readonly<EncodingLimits>;
  getHash(key: Key): HashObject | undefined;
  getSet(key: Key): SetObject | undefined;
  getZSet(key: Key): SortedSet | undefined;
  getList(key: Key): ListObject | undefined;
  getStream(key: Key): StreamObject | undefined;
  /** Estimated bytes a live key takes (MEMORY USAGE); undefined when missing. */
  memoryUsage(key: Key): number | undefined;
  /** Live keys (may include not-yet-swept expired ones; DBSIZE semantics like Redis). */
  readonly size: number;
  /** Redis SCAN: every key present for the whole scan is returned at least once. */
  scan(cursor: string, count: number, match?: Buffer): ScanResult;
  /** Iterate every live key (used by KEYS, DEBUG DIGEST). */
  keys(): IterableIterator<Key>;
  /** A random live key (RANDOMKEY), undefined when there is none. */
  randomKey(): Key | undefined;
  /** Key lookups (INFO keyspace_hits / keyspace_misses): the server sets `counting` while a read command runs. */
  readonly lookupStats: LookupStats;
  now(): number;

  // ---- low-level write API
  /**
   * Primary path: assign the next position in the current epoch, apply to memory, buffer the record.
   * Inside a batch (beginBatch) it applies to memory only and returns the position the batch will
   * take; commitBatch logs every op of the batch as that one entry.
   */
  apply(ops: readonly Op[]): Position;
  /**
   * Start a batch (a transaction's EXEC): until commitBatch, apply() changes memory at once (later
   * reads see it) and defers the log. Begin and commit in one synchronous turn: nothing else may
   * write between them. Throws when writes are refused.
   */
  beginBatch(): void;
  /**
   * Log the batch's ops as one entry (one position): see BatchCommit. Null when the batch
   * applied nothing (no entry).
   */
  commitBatch(): BatchCommit | null;
  /** Who hears which keys each applied entry changed (WATCH); null (the default) costs the write path nothing. */
  setTouchListener(l: TouchListener | null): void;
  /** Replica path: apply an entry positioned elsewhere. Requires entry.seq === lastPosition.seq + 1. */
  applyEntry(entry: LogEntry): void;
  /**
   * Replica path, from bytes: apply and log the entries of `records`, whole log records laid back
   * to back that checkRecords accepted (a frame's), the first at lastPosition.seq + 1. The log
   * copies the bytes as they are; the keyspace reads keys and values from them (no Op objects).
   */
  applyRecords(records: Buffer): void;
  /**
   * The log record the last apply/applyEntry encoded, if it was for `seq`: a view of the log's
   * append buffer, valid only until the next write (copy it at once). Lets replication keep the
   * record without encoding it again.
   */
  lastRecord(seq: Seq): Buffer | undefined;
  /** Write buffered records to the OS now (synchronous). The engine also does this once per event-loop turn by itself. */
  flush(): void;
  /** Resolves once `seq` is durable under the policy: fsynced for 'always', written to the OS otherwise. */
  whenDurable(seq: Seq): Promise<void>;
  readonly lastPosition: Position;
  readonly fsyncPolicy: FsyncPolicy;
  /**
   * Null while writes are accepted. After a failed log write or fsync: the reply to refuse them
   * with (`MISCONF Errors writing to the log: <cause>`), until a retry succeeds by itself.
   */
  readonly writeRefusal: string | null;
  /**
   * How many mutations of memory and log have started (apply, applyEntry, applyRecords past their
   * checks). A caller that sees it change across a call knows the store may be partway through an
   * entry if that call threw (server/dispatch.ts: such an exception is never answered and survived).
   */
  readonly mutationsStarted: number;

  // ---- replication support
  /** Start a new epoch (> every epoch seen); persisted before returning. */
  beginEpoch(epoch: number): Promise<void>;
  readonly epoch: number;
  /** Where each epoch began; the last element is the current epoch. */
  readonly epochHistory: readonly EpochStart[];
  /** Discard every entry with seq > `seq` and rebuild memory without them. Resolves with the discarded entries' range, or rejects when a snapshot already covers beyond `seq` (caller must full-resync). */
  truncateAfter(seq: Seq): Promise<{ discarded: number; from: Position | null; to: Position | null }>;
  /** Small atomic metadata document for the replication layer (votes, membership): write-temp, fsync, rename, fsync dir. */
  readMeta(): Record<string, unknown>;
  writeMeta(meta: Record<string, unknown>): Promise<void>;

  /**
   * Full-resync source: a fuzzy snapshot streamed in batches without stalling the event loop.
   * `from` is the position when the stream started; applying every entry after `from.seq` on
   * top of the batches yields the live state (all ops are idempotent and absolute).
   */
  exportSnapshot(batchKeysMax?: number, opts?: ExportOptions): ExportedSnapshot;
  /** The user table the log last set (an 'acl' op; server/acl.ts reads it), or null when none ever was. */
  readonly aclUsers: Buffer | null;
  /** The function library table the log last set (a 'functions' op; server/scripting/functions.ts reads it), or null when none ever was. */
  readonly functionLibraries: Buffer | null;
  /**
   * The membership configurations the log set (entries holding a 'members' op), each with its
   * entry's seq, oldest first, the newest CONFIGS_KEPT (replication/core/member-config.ts), all
   * at or below lastPosition.seq: what the replication core's PersistentState.configs and
   * snapshotLoaded.configs take. Snapshots and full resyncs carry them; FLUSHALL keeps them;
   * truncateAfter drops those it cuts. Empty: the log never set one.
   */
  readonly memberConfigs: readonly ConfigAt[];
  /**
   * Full-resync sink: build a new dataset beside the live one (which keeps serving reads),
   * then `commit` swaps it in atomically and durably (snapshot file written, old log dropped).
   */
  beginLoad(): SnapshotLoader;

  /**
   * Who decides expiry deletes. Null (the default): this store is the only writer (standalone,
   * embedded) and logs the delete of every key a read or the sweep finds expired. The
   * replication host installs itself, so only a primary deletes and each delete is shipped.
   */
  setExpiryAuthority(a: ExpiryAuthority | null): void;

  /**
   * Who hears of the deletes this store decides itself (an expired key, an eviction), after each
   * is logged and applied: keyspace notifications. Optional: a store without it emits none.
   */
  setDeleteListener?(l: StoreDeleteListener | null): void;

  /**
   * Who hears of each entry applied from elsewhere (applyEntry, applyRecords: a replica), after
   * it is applied: its changes in op order; and of memory replaced wholesale (a full resync, a
   * truncation, a rollback after a log failure) as one 'flushall'. Optional, like setDeleteListener.
   */
  setReplicatedApplyListener?(l: ReplicatedApplyListener | null): void;

  /** Who hears how long each active expiry sweep took (the latency monitor's expire-cycle). Optional. */
  setSweepListener?(l: ((durationMs: number) => void) | null): void;

  /** Who hears of log failures and recoveries (the replication host: its core must forget lost entries). */
  setLogListener(l: LogListener | null): void;

  /**
   * Who is told of every record the log appends from now on (a backup stream: a fuzzy snapshot
   * plus the records after its start is the exact state at the last one). Null: nobody.
   */
  setRecordTap(t: RecordTap | null): void;

  // ---- memory limit (eviction.ts picks the keys; each eviction is logged as a `del`, as an expiry is)
  /** Dataset bytes by the keyspace's estimate (liveBytes): what an eviction frees; cheap to read per command. */
  readonly datasetBytes: number;
  /** Memory the keyspace holds (datasetBytes plus dead space not yet reclaimed, arrays' slack); O(slabs). */
  readonly heldBytes: number;
  /** The maxmemory policy and its sample count (they also choose LRU or LFU access words). */
  setEvictionPolicy(policy: MaxmemoryPolicy, samples: number): void;
  /**
   * Evict keys under the policy until their dataset bytes reach `bytesToFree` or `timeBudgetMs`
   * passes. Each eviction is one logged `del` entry, shipped through the ExpiryAuthority like an
   * expiry delete; only a node that may log deletes evicts.
   */
  evict(bytesToFree: number, timeBudgetMs: number): EvictionResult;
  /**
   * CLIENT NO-TOUCH: while on, reads and overwrites leave keys' LRU/LFU access data unchanged
   * (the server turns it on around each command of such a client, TOUCH excepted).
   */
  setNoTouch(on: boolean): void;
  /**
   * CLIENT PAUSE: while on, expired keys are hidden but not deleted and nothing is evicted, so
   * the dataset does not change (as when this node may not delete: see ExpiryAuthority).
   */
  setDeletesPaused(paused: boolean): void;
  /** OBJECT FREQ / IDLETIME of a live key (not counted as an access); undefined if missing. */
  objectAccess(key: Key, what: AccessQuery): { value: number } | { error: string } | undefined;
  /**
   * RESTORE's IDLETIME / FREQ for a live key (AccessTracker.setAccess). Access words are this
   * node's own eviction bookkeeping, never logged: a replica keeps its own.
   */
  setObjectAccess(key: Key, idleSeconds: number | null, freq: number | null): void;
}

/**
 * How a batch ended. 'logged': its ops are one entry at `pos`. 'refused': its effects cannot be
 * one log record (past RECORD_OPS_MAX ops or RECORD_BODY_BYTES_MAX bytes); the store handled it as a
 * failed log write (memory rebuilt from the log without the batch, writes refused until a retry),
 * so nothing of the batch is visible and its replies must be refused like a failed write's.
 */
export type BatchCommit = { readonly logged: true; readonly pos: Position; readonly ops: readonly Op[] } | { readonly logged: false; readonly reason: string };

/**
 * Told which keys each applied entry changed (ReplicatedStore.setTouchListener): local writes,
 * replicated entries, expiry and eviction deletes. Called synchronously after memory changed.
 */
export interface TouchListener {
  /** The ops of one applied entry (or of one command inside a batch). */
  touched(ops: readonly Op[]): void;
  /** Memory was rebuilt or replaced wholesale (log rollback, truncation, full resync): any key may have changed. */
  touchedAll(): void;
}

/**
 * Told when the log fails and when it takes writes again (ReplicatedStore.setLogListener). Called
 * synchronously once the store has rolled back, so the listener sees the store's new position.
 */
export interface LogListener {
  /**
   * The log failed; the store now ends at `keptSeq` (every entry after it is gone from memory and
   * disk, and none of them was reported durable). Null: the log could not even be reopened, the
   * store cannot say what it holds (a restart recovers what is on disk).
   */
  failed(keptSeq: Seq | null): void;
  /** A retry succeeded: writes are accepted again. */
  resumed(): void;
}

/** Told of the log's records as they are appended (ReplicatedStore.setRecordTap). */
export interface RecordTap {
  /** Whole records back to back, in seq order: the log's own bytes, valid only during the call (copy them). */
  appended(records: Buffer): void;
  /** The log was cut or replaced (truncation, full resync, rollback after a failure): records told before may be gone. */
  reset(): void;
}

/**
 * Who may delete expired keys (ReplicatedStore.setExpiryAuthority). Expiry is a logged event:
 * the node that takes writes logs a `del` entry for each key it finds expired (as Redis
 * propagates DEL), every other node only hides such keys until that entry arrives.
 */
export interface ExpiryAuthority {
  /** True while this node may log writes (a primary that accepts them); false hides expired keys only. */
  mayDelete(): boolean;
  /** The store logged the delete of an expired key as entry `pos`: ship it as any local write. */
  deleted(pos: Position, ops: readonly Op[]): void;
}

/** A delete the store decided: why, and which key. */
export type StoreDeleteListener = (key: Key, reason: 'expired' | 'evicted') => void;

/**
 * One op of an entry applied from elsewhere: its kind, key, (set, expire) the expiry it set and
 * (xstream) its effects, a view valid only during the listener's call.
 */
export interface AppliedKeyChange {
  readonly t: Exclude<Op['t'], 'flushall' | 'acl' | 'members' | 'functions'>;
  readonly key: Key;
  readonly expireAtMs: number;
  readonly body?: Buffer;
  /** The op added the key (it was not in the keyspace before): Redis's 'new' event. */
  readonly created?: boolean;
}
/** A key's change, or the whole dataset dropped (FLUSHALL). */
export type AppliedChange = AppliedKeyChange | { readonly t: 'flushall' } | { readonly t: 'acl' } | { readonly t: 'members' } | { readonly t: 'functions' };
export type ReplicatedApplyListener = (changes: readonly AppliedChange[]) => void;

/** Hits and misses of the read API (getValue, getStored, readValueInto, getExpireAt, has) while `counting`. */
export interface LookupStats {
  counting: boolean;
  hits: number;
  misses: number;
}

/** exportSnapshot's options. */
export interface ExportOptions {
  /**
   * Keep keys expired by this node's clock (a backup: only a logged delete removes a key, as in a
   * snapshot file). Default false: a full resync leaves them out, the primary's delete follows.
   */
  readonly keepExpired?: boolean;
}

export interface SnapshotItem {
  readonly key: Key;
  /**
   * A string's value bytes, or a collection in its object-codec form (object-codec.ts): whole, or
   * for a big collection one bounded chunk of it, its first (a whole payload holding the first
   * members: replaces the key) then parts (add members; expireAtMs 0), in order in the stream.
   */
  readonly type: TypeName;
  readonly value: Buffer;
  readonly expireAtMs: ExpireAtMs;
}

/** exportSnapshot's result: the state at `from` (the user table and configurations as they were then), keys in batches. */
export interface ExportedSnapshot {
  readonly from: Position;
  readonly epochHistory: readonly EpochStart[];
  readonly users: Buffer | null;
  /** The function library table at `from` (functionLibraries), null when the log never set one. */
  readonly functions: Buffer | null;
  /** memberConfigs at `from`. */
  readonly configs: readonly ConfigAt[];
  batches(): AsyncIterable<SnapshotItem[]>;
}

export interface SnapshotLoader {
  add(items: readonly SnapshotItem[]): void;
  /** The source's user table (sent with the stream's start). */
  setUsers(users: Buffer): void;
  /** The source's membership configurations at the stream's start (seqs ascending, none above the committed position). */
  setConfigs(configs: readonly ConfigAt[]): void;
  /** The source's function library table (sent with the stream's start). */
  setFunctions(libraries: Buffer): void;
  readonly keys: number;
  readonly bytes: number;
  /** Make the loaded dataset the store's state at `position` with `epochHistory`; durable on resolve. */
  commit(position: Position, epochHistory: readonly EpochStart[]): Promise<void>;
  abort(): void;
}
