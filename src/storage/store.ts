// The storage engine (`Store`): wires the in-memory keyspace, the WAL appender, recovery,
// snapshots/compaction, epochs, meta and the lock together, and offers the embedded API.
// Owns the ordering of a write (position -> log buffer -> memory), the exclusive phases
// (truncate, resync commit), whether an expired key is deleted through the log or only hidden
// (its ExpiryAuthority), and the log-failure state (rollback, refusal, retry); never encodes
// bytes itself and never blocks the loop on big work outside that failure path.

import assert from 'node:assert';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AppliedChange, AppliedKeyChange, BatchCommit, EvictionResult, ExportedSnapshot, ExportOptions, RecordTap, ExpiryAuthority, LogListener, LookupStats, ReplicatedApplyListener, ReplicatedStore, StoreDeleteListener, StoreOptions, StoreStats, ScanResult, SetOptions, SnapshotItem, SnapshotLoader, TouchListener, ValueSink } from './api.js';
import { isKeyOp, toKey, toValue, keyToBytes, type EpochStart, type ExpireAtMs, type FsyncPolicy, type Key, type LogEntry, type Op, type Position, type Seq } from './types.js';
import { DEFRAG_LIVE_FRACTION_MIN, Keyspace, keyspaceSink, memberConfigsFault, valueToBuffer, type ExpiryHandler } from './keyspace.js';
import { Wal, SEGMENT_EXT, ENCODED_RUN_BYTES_MAX, LOG_ERROR_PREFIX, type LogFailureKind } from './wal.js';
import { NODE_LOG_FS, type LogFs } from './log-fs.js';
import { recover, readDocument, extendHistory, encodeEpochs, finishResync, EPOCHS_FILE, RESYNC_SNAPSHOT, SNAPSHOT_EXT, type Layout, type RecoveredState } from './recovery.js';
import { verifySnapshot, writeSnapshot } from './snapshot.js';
import { KeyspaceWalk, SNAPSHOT_STEP_MEMBERS_MAX, type WalkBudget, type WalkItem } from './snapshot-walk.js';
import { encodeCheckedJson, RepairFolder } from './damage.js';
import { acquireLock } from './lock.js';
import { atomicWriteFile, atomicWriteFileSync, fsyncDirSync, listSeqFiles, seqName, unlinkIfExists } from './fsutil.js';
import { CorruptLogError, StoreUnavailableError } from './errors.js';
import type { ConfigAt } from '../replication/core/types.js';
import { Evictor, objectAccessInfo, policyIsLfu, type AccessQuery, type MaxmemoryPolicy } from './eviction.js';
import type { ListObject } from './list-object.js';
import type { StreamObject } from './stream-object.js';
import { REDIS_ENCODING_LIMITS, TYPE_HASH, TYPE_LIST, TYPE_SET, TYPE_STREAM, TYPE_ZSET, typeName, type EncodingLimits, type KeyTypeName } from './collection.js';
import type { HashObject } from './hash-object.js';
import type { SetObject } from './set-object.js';
import type { SortedSet } from './zset.js';
import { checkObject, payloadType } from './object-codec.js';
import { decodeRecords, RECORD_BODY_BYTES_MAX, RECORD_HEADER_BYTES, RECORD_OPS_MAX, recordBytes, recordEndAt, recordEpochAt, recordSeqAt, replayRecordAt, VALUE_BYTES_MAX, type RecordOpSink } from './record.js';

export const SEGMENT_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
export const COMPACT_MIN_BYTES_DEFAULT = 64 * 1024 * 1024;
export const COMPACT_PERCENT_DEFAULT = 100;
/** Active expiry cadence (Redis runs activeExpireCycle at hz=10). */
export const EXPIRE_SWEEP_INTERVAL_MS = 100;
/** Default SnapshotItems per exported batch. */
export const EXPORT_BATCH_KEYS_DEFAULT = 1000;
/** An exported batch is closed once its keys and values reach this many bytes (one item may pass it alone). */
export const EXPORT_BATCH_BYTES_TARGET = 256 * 1024;
/** SCAN COUNT used by scanIterator when none is given. */
const SCAN_ITERATOR_COUNT_DEFAULT = 1000;
const META_FILE = 'meta.json';
const META_LOST = 'the replication metadata (node id, cluster membership, votes): the node starts without them';
/** While the log is failed, how often the store tries it again (a probe write and an fsync, see Wal.retry). */
export const LOG_RETRY_INTERVAL_MS = 1000;
/**
 * Under an evicting policy, a sealed slab is compacted once it is this much live (instead of
 * half): evicted keys are scattered over slabs, and their dead bytes must turn back into free
 * memory for RSS to stay near maxmemory (docs/storage.md, 'Memory accounting').
 */
export const EVICTING_DEFRAG_LIVE_FRACTION_MIN = 0.9;
/** Defrag walk paid per byte an eviction frees (a slab 90% live frees 1 byte per 10 walked; writes pay the rest). */
const DEFRAG_WALK_BYTES_PER_EVICTED_BYTE = 8;
/** Evictions between two reads of the clock for the time budget. */
const EVICTIONS_PER_CLOCK_READ = 16;

/** The log-failure state; replaced whole (see compactionStats on hidden classes). */
interface LogFailure {
  /** The MISCONF reply text: the first failure's cause, or the last retry's. */
  readonly refusal: string;
  readonly sinceMs: number;
  /** An fsync failed since the last successful retry: the next retry rewrites the unsynced tail. */
  readonly fsyncFailed: boolean;
  /** No retry can help (the log could not be reopened or read back); a restart recovers what is on disk. */
  readonly permanent: boolean;
}

/** Open the engine with its whole interface (kv-server, the replication host, tests). */
export async function openReplicatedStore(opts: StoreOptions): Promise<ReplicatedStore> {
  const layout: Layout = { dir: opts.dir, logDir: join(opts.dir, 'log'), snapDir: join(opts.dir, 'snap') };
  for (const d of [layout.dir, layout.logDir, layout.snapDir]) mkdirSync(d, { recursive: true });
  const release = acquireLock(layout.dir);
  try {
    const warn = opts.onWarning ?? ((m: string) => process.emitWarning(m, 'KvStoreWarning'));
    const repair = opts.repair === true ? new RepairFolder(layout.dir) : null;
    const state = recover({ layout, repair, warn, limits: opts.encodingLimits ?? REDIS_ENCODING_LIMITS });
    const meta = readDocument(layout, META_FILE, META_LOST, metaFault, repair, warn) as Record<string, unknown> | undefined;
    return new KvStore(layout, opts, state, meta ?? {}, release, warn);
  } catch (e) {
    release();
    throw e;
  }
}

function metaFault(doc: unknown): string | null {
  return typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? null : 'not a JSON object';
}

/** A walked item as an owned SnapshotItem (read in the turn the walk produced it). */
function exportItem(ks: Keyspace, it: WalkItem): SnapshotItem {
  const type = typeName(it.type);
  if (it.payload === null) {
    const v = ks.slotAt(it.slot); // copies the value
    assert(v !== undefined && v.type === it.type, 'a walked slot changed within the turn');
    return { key: v.key, type, value: v.value, expireAtMs: v.expireAtMs };
  }
  return { key: ks.keyAtSlot(it.slot), type, value: it.payload, expireAtMs: it.part ? 0 : ks.expireAtSlot(it.slot) };
}

class KvStore implements ReplicatedStore {
  private ks!: Keyspace;
  private wal!: Wal;
  private history!: EpochStart[];
  private lastPos!: Position;
  private snapshotSeq: Seq = 0;
  /** Size of the last snapshot (reported by stats as a compaction reference). */
  private snapshotBytes = 0;
  private meta: Record<string, unknown>;
  private compaction: Promise<void> | null = null;
  private compactAbort = false;
  /**
   * Replaced whole, never updated in place: its times are doubles, and storing a double where a
   * small integer (the initial 0) was would change the store object's hidden class, which
   * deoptimizes every optimized function that touches the store (write, apply, the server's
   * reply path), all at once, at the first compaction (docs/perf-notes.md, 'V8: hidden classes
   * and deoptimization').
   */
  private compactionStats: { readonly count: number; readonly lastMs: number; readonly lastDurationMs: number } = { count: 0, lastMs: 0, lastDurationMs: 0 };
  /** Set while truncateAfter / a resync commit swaps the state: writes then are a caller bug. */
  private exclusive: 'truncate' | 'load' | null = null;
  private closed = false;
  /** Serialises writes of epochs.json and meta.json (they share temp-file names). */
  private fileChain: Promise<void> = Promise.resolve();
  private readonly sweepTimer: NodeJS.Timeout;
  readonly lookupStats: LookupStats = { counting: false, hits: 0, misses: 0 };
  readonly fsyncPolicy: FsyncPolicy;
  private readonly segmentBytesMax: number;
  private readonly compactMinBytes: number;
  private readonly compactPercent: number;
  private readonly clock: () => number;
  private readonly fsyncOnLoopMaxMs: number;
  private readonly onFsyncSeconds: ((seconds: number) => void) | null;
  private readonly limits: Readonly<EncodingLimits>;
  private expiryAuthority: ExpiryAuthority | null = null;
  /** CLIENT PAUSE: no expiry or eviction deletes (see setDeletesPaused). */
  private deletesPaused = false;
  private deleteListener: StoreDeleteListener | null = null;
  private sweepListener: ((durationMs: number) => void) | null = null;
  private replicatedListener: ReplicatedApplyListener | null = null;
  /** The keyspace's view of expiry: delete through the log only when this store may write now. */
  private readonly expiryHandler: ExpiryHandler = {
    mayDelete: () => !this.closed && !this.deletesPaused && this.exclusive === null && this.wal.error === null && this.logFailure === null && (this.expiryAuthority?.mayDelete() ?? true),
    deleteExpired: (key) => this.logExpiry(key),
  };
  private readonly logFs: LogFs;
  private readonly resumeAfterDiscard: boolean;
  private logFailure: LogFailure | null = null;
  /** Failed log writes and fsyncs since open (INFO log_write_errors). */
  private logFailures = 0;
  private readonly evictor = new Evictor();
  private evictedKeys = 0;
  private retryTimer: NodeJS.Timeout | undefined = undefined;
  private logListener: LogListener | null = null;
  /** The log failed during an exclusive phase: the listener hears of it once the phase installed its state. */
  private failedDuringExclusive = false;
  /** The constructor finished: a log failure before that fails the open instead. */
  private opened = false;
  /** See ReplicatedStore.writeRefusal. */
  writeRefusal: string | null = null;
  /** See ReplicatedStore.mutationsStarted. */
  mutationsStarted = 0;
  /** The open batch's ops (beginBatch .. commitBatch), applied to memory, not yet logged; null outside one. */
  private batchOps: Op[] | null = null;
  /** Walks of memory waiting for the open batch's commit (see batchClosed). */
  private readonly batchWaiters: Array<() => void> = [];
  /** See setTouchListener: null unless some client watches a key. */
  private touchListener: TouchListener | null = null;
  /** See setRecordTap: null unless a backup is streaming. */
  private recordTap: RecordTap | null = null;

  constructor(
    private readonly layout: Layout,
    opts: StoreOptions,
    state: RecoveredState,
    meta: Record<string, unknown>,
    private readonly releaseLock: () => void,
    private readonly warn: (m: string) => void,
  ) {
    this.fsyncPolicy = opts.fsync ?? 'everysec';
    this.segmentBytesMax = opts.segmentBytesMax ?? SEGMENT_BYTES_MAX_DEFAULT;
    this.compactMinBytes = opts.compactMinBytes ?? COMPACT_MIN_BYTES_DEFAULT;
    this.compactPercent = opts.compactPercent ?? COMPACT_PERCENT_DEFAULT;
    this.clock = opts.now ?? Date.now;
    this.fsyncOnLoopMaxMs = opts.fsyncOnLoopMaxMs ?? 0;
    this.onFsyncSeconds = opts.onFsyncSeconds ?? null;
    this.limits = opts.encodingLimits ?? REDIS_ENCODING_LIMITS;
    this.logFs = opts.logFs ?? NODE_LOG_FS;
    this.resumeAfterDiscard = opts.resumeAfterDiscard ?? true;
    assert(this.segmentBytesMax > 0 && this.compactPercent >= 0 && this.compactMinBytes >= 0 && this.fsyncOnLoopMaxMs >= 0, 'bad store options');
    this.meta = meta;
    this.install(state, true);
    const openError = this.wal.error;
    if (openError !== null) {
      this.wal.close();
      throw openError;
    }
    this.sweepTimer = setInterval(() => {
      const now = this.clock();
      this.ks.access.tick(now);
      const t0 = performance.now();
      this.ks.sweep(now, () => performance.now());
      this.sweepListener?.(performance.now() - t0);
    }, EXPIRE_SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
    this.opened = true;
  }

  /** Adopt a recovered (or freshly loaded) state; opens the active segment. */
  private install(state: RecoveredState, sync = true): void {
    this.ks = state.ks;
    this.ks.expiry = this.expiryHandler;
    this.adoptEvictionPolicy();
    this.history = state.history;
    this.lastPos = state.lastPosition;
    this.snapshotSeq = state.snapshotSeq;
    this.snapshotBytes = state.snapshotBytes;
    assert(this.history.length > 0, 'epoch history is never empty');
    this.wal = new Wal(
      this.layout.logDir,
      this.fsyncPolicy,
      this.segmentBytesMax,
      this.fsyncOnLoopMaxMs,
      state.segments,
      this.lastPos.seq,
      () => this.maybeAutoCompact(),
      this.logFs,
      (cause, kind) => this.onLogFailure(cause, kind),
      this.onFsyncSeconds,
    );
    this.wireRecordTap();
    // What recovery replayed may only be in the page cache (the previous owner crashed):
    // make it durable before anyone builds on it. (After a log failure the retry does it.)
    if (sync) this.wal.syncNowBlocking();
    this.touchListener?.touchedAll();
    // A dataset replaced wholesale (full resync, truncation, rollback) may differ in any key: to
    // the replicated-apply listener it is a flush.
    if (this.opened) this.replicatedListener?.([{ t: 'flushall' }, { t: 'acl' }, { t: 'members' }, { t: 'functions' }]);
    if (this.opened) this.recordTap?.reset();
  }

  setRecordTap(t: RecordTap | null): void {
    this.recordTap = t;
    this.wireRecordTap();
  }

  private wireRecordTap(): void {
    const t = this.recordTap;
    this.wal.tap = t === null ? null : (records) => t.appended(records);
  }

  /**
   * A log write or fsync failed. Memory may hold mutations the log does not: the records after
   * keepSeq (not written, or under 'always' not fsynced, so never acknowledged). Rebuild memory
   * and the log from disk up to keepSeq (recovery, cutting the files there), so that no read
   * shows an unlogged write, then refuse writes until a retry succeeds. The rebuild reads the
   * whole dataset once per failure: the write path pays nothing for it.
   */
  private onLogFailure(cause: Error, kind: LogFailureKind): void {
    this.logFailures++;
    const fsyncFailed = kind === 'fsync' || (this.logFailure?.fsyncFailed ?? false);
    this.setLogFailure(cause.message, fsyncFailed, false);
    if (!this.opened || this.closed) return; // open fails with the error; close reports it
    if (this.exclusive !== null) {
      this.failedDuringExclusive = true; // the exclusive phase reinstalls memory and log from disk itself
      return this.startRetrying();
    }
    this.compactAbort = true;
    this.lastRecordView = undefined;
    const keep = this.wal.keepSeq;
    const discarded = this.lastPos.seq - keep;
    const failedWal = this.wal;
    failedWal.abandon();
    try {
      this.install(recover({ layout: this.layout, repair: null, warn: this.warn, stopAfterSeq: keep, limits: this.limits }), false);
      this.wal.markFailed(failedWal.error ?? cause);
    } catch (e) {
      this.setLogFailure(`${cause.message}; the log could not be reopened (${(e as Error).message}): restart the server`, fsyncFailed, true);
      this.logListener?.failed(null);
      return;
    }
    if (discarded > 0 && !this.resumeAfterDiscard) {
      this.setLogFailure(`${cause.message}; ${discarded} unlogged write(s) after seq ${keep} were discarded: restart the server to accept writes again`, fsyncFailed, true);
      this.warn(`log ${kind} failed (${cause.message}): kept the log up to seq ${keep}, discarded ${discarded} write(s); read-only until restart`);
      this.logListener?.failed(keep);
      return;
    }
    this.warn(`log ${kind} failed (${cause.message}): kept the log up to seq ${keep}, discarded ${discarded} write(s); writes are refused until a retry succeeds`);
    this.startRetrying();
    this.logListener?.failed(keep);
  }

  /** After an exclusive phase installed its state: tell the listener of a failure met during it. */
  private reportExclusiveFailure(): void {
    if (!this.failedDuringExclusive) return;
    this.failedDuringExclusive = false;
    this.logListener?.failed(this.lastPos.seq);
  }

  setLogListener(l: LogListener | null): void {
    this.logListener = l;
  }

  private startRetrying(): void {
    if (this.retryTimer !== undefined) return;
    this.retryTimer = setInterval(() => this.retryLog(), LOG_RETRY_INTERVAL_MS);
    this.retryTimer.unref();
  }

  private setLogFailure(cause: string, fsyncFailed: boolean, permanent: boolean): void {
    const refusal = `MISCONF ${LOG_ERROR_PREFIX}${cause.replace(/[\r\n]+/g, ' ')}`; // one RESP error line
    this.logFailure = { refusal, sinceMs: this.logFailure?.sinceMs ?? Date.now(), fsyncFailed, permanent };
    this.writeRefusal = refusal;
    if (permanent) this.stopRetrying();
  }

  private retryLog(): void {
    const f = this.logFailure;
    if (f === null || f.permanent || this.closed) return this.stopRetrying();
    if (this.exclusive !== null) return;
    const r = this.wal.error === null ? null : this.wal.retry(f.fsyncFailed);
    if (r === null) {
      this.stopRetrying();
      this.logFailure = null;
      this.writeRefusal = null;
      this.warn(`log writes resumed (failed since ${new Date(f.sinceMs).toISOString()})`);
      this.logListener?.resumed();
    } else if (r === 'lost') {
      this.setLogFailure(`${f.refusal.slice(`MISCONF ${LOG_ERROR_PREFIX}`.length)}; records written before a failed fsync did not read back intact: restart the server`, true, true);
    } else {
      this.setLogFailure(r.message, f.fsyncFailed, false);
    }
  }

  private stopRetrying(): void {
    if (this.retryTimer !== undefined) clearInterval(this.retryTimer);
    this.retryTimer = undefined;
  }

  // ---------------------------------------------------------------- expiry

  setExpiryAuthority(a: ExpiryAuthority | null): void {
    this.expiryAuthority = a;
  }

  /** One entry per expired key, as Redis propagates one DEL per key; log first, then memory (apply). */
  private logExpiry(key: Key): boolean {
    this.logDelete(key, 'expired');
    return true;
  }

  /** A delete this store decided (expiry, eviction): one logged entry, shipped like a local write. */
  private logDelete(key: Key, reason: 'expired' | 'evicted'): void {
    const ops: Op[] = [{ t: 'del', key }];
    const pos = this.apply(ops);
    // Inside a batch the delete is one of the batch's ops: its entry is shipped once, at commit.
    if (this.batchOps === null) this.expiryAuthority?.deleted(pos, ops);
    this.deleteListener?.(key, reason);
  }

  setSweepListener(l: ((durationMs: number) => void) | null): void {
    this.sweepListener = l;
  }

  setDeleteListener(l: StoreDeleteListener | null): void {
    this.deleteListener = l;
  }

  setReplicatedApplyListener(l: ReplicatedApplyListener | null): void {
    this.replicatedListener = l;
  }

  /** The replay sink, teed into `changes` while a replicated-apply listener is set. */
  private replaySink(changes: AppliedChange[]): RecordOpSink {
    const base = keyspaceSink(this.ks);
    if (this.replicatedListener === null) return base;
    const note = (t: AppliedKeyChange['t'], b: Buffer, ko: number, kl: number, expireAtMs = 0, created = false): void => {
      changes.push({ t, key: b.latin1Slice(ko, ko + kl), expireAtMs, created });
    };
    // Whether an op that may add its key finds it absent (asked before the op is applied).
    const absent = (b: Buffer, ko: number, kl: number): boolean => !this.ks.holdsKeyBytes(b, ko, kl);
    return {
      set: (b, ko, kl, vo, vl, e) => {
        const created = absent(b, ko, kl);
        base.set(b, ko, kl, vo, vl, e);
        note('set', b, ko, kl, e, created);
      },
      del: (b, ko, kl) => (base.del(b, ko, kl), note('del', b, ko, kl)),
      expire: (b, ko, kl, e) => (base.expire(b, ko, kl, e), note('expire', b, ko, kl, e)),
      flushall: () => (base.flushall(), changes.push({ t: 'flushall' })),
      acl: (b, o, l) => (base.acl(b, o, l), changes.push({ t: 'acl' })),
      members: (b, o, l) => (base.members(b, o, l), changes.push({ t: 'members' })),
      functions: (b, o, l) => (base.functions(b, o, l), changes.push({ t: 'functions' })),
      hset: (b, ko, kl, fo, fl, vo, vl) => {
        const created = absent(b, ko, kl);
        base.hset(b, ko, kl, fo, fl, vo, vl);
        note('hset', b, ko, kl, 0, created);
      },
      hdel: (b, ko, kl, fo, fl) => (base.hdel(b, ko, kl, fo, fl), note('hdel', b, ko, kl)),
      sadd: (b, ko, kl, mo, ml) => {
        const created = absent(b, ko, kl);
        base.sadd(b, ko, kl, mo, ml);
        note('sadd', b, ko, kl, 0, created);
      },
      srem: (b, ko, kl, mo, ml) => (base.srem(b, ko, kl, mo, ml), note('srem', b, ko, kl)),
      zadd: (b, ko, kl, mo, ml, score) => {
        const created = absent(b, ko, kl);
        base.zadd(b, ko, kl, mo, ml, score);
        note('zadd', b, ko, kl, 0, created);
      },
      zrem: (b, ko, kl, mo, ml) => (base.zrem(b, ko, kl, mo, ml), note('zrem', b, ko, kl)),
      restore: (b, ko, kl, po, pl, e) => {
        const created = absent(b, ko, kl);
        base.restore(b, ko, kl, po, pl, e);
        note('restore', b, ko, kl, e, created);
      },
      listPush: (b, ko, kl, head, vo, count) => {
        const created = absent(b, ko, kl);
        base.listPush(b, ko, kl, head, vo, count);
        note(head ? 'lpush' : 'rpush', b, ko, kl, 0, created);
      },
      listPop: (b, ko, kl, head, count) => (base.listPop(b, ko, kl, head, count), note(head ? 'lpop' : 'rpop', b, ko, kl)),
      listElement: (t, b, ko, kl, n, vo, vl) => (base.listElement(t, b, ko, kl, n, vo, vl), note(t, b, ko, kl)),
      xstream: (b, ko, kl, bo, bl) => {
        const created = absent(b, ko, kl);
        base.xstream(b, ko, kl, bo, bl);
        changes.push({ t: 'xstream', key: b.latin1Slice(ko, ko + kl), expireAtMs: 0, body: b.subarray(bo, bo + bl), created });
      },
    };
  }

  /**
   * An embedded read returns at once, so a delete it logged (it found the key expired) is made
   * durable under the policy before it returns, as a write's promise would: written to the OS,
   * and fsynced under 'always'. Otherwise a crash and a clock stepped back could bring back a
   * key this read reported gone. Rare: once per expired key, on the read that finds it.
   */
  private settleEmbeddedRead(seqBefore: Seq): void {
    if (this.lastPos.seq === seqBefore) return;
    if (this.fsyncPolicy === 'always') this.wal.syncNowBlocking();
    else this.wal.flush();
  }

  /** The async embedded calls wait for a delete their read logged, as for their own write. */
  private async settleEmbeddedReadAsync(seqBefore: Seq): Promise<void> {
    if (this.lastPos.seq !== seqBefore) await this.whenDurable(this.lastPos.seq);
  }

  // ---------------------------------------------------------------- memory limit

  get datasetBytes(): number {
    return this.ks.liveBytes;
  }

  get heldBytes(): number {
    return this.ks.heldBytes;
  }

  setEvictionPolicy(policy: MaxmemoryPolicy, samples: number): void {
    assert(Number.isInteger(samples) && samples > 0, 'bad maxmemory-samples');
    this.evictor.policy = policy;
    this.evictor.samples = samples;
    this.adoptEvictionPolicy();
  }

  /** Make the (possibly new) keyspace track what the policy needs. */
  private adoptEvictionPolicy(): void {
    const p = this.evictor.policy;
    this.evictor.reset();
    this.ks.access.tick(this.clock());
    this.ks.access.setLfu(policyIsLfu(p), this.ks.slotCount);
    this.ks.defragLiveFractionMin = p === 'noeviction' ? DEFRAG_LIVE_FRACTION_MIN : EVICTING_DEFRAG_LIVE_FRACTION_MIN;
  }

  evict(bytesToFree: number, timeBudgetMs: number): EvictionResult {
    if (!this.expiryHandler.mayDelete()) return { freedBytes: 0, keys: 0, outcome: 'refused' };
    const startBytes = this.ks.liveBytes;
    const t0 = performance.now();
    const now = this.clock();
    this.ks.access.tick(now);
    let keys = 0;
    let outcome: EvictionResult['outcome'] = 'done';
    while (startBytes - this.ks.liveBytes < bytesToFree) {
      if (!this.expiryHandler.mayDelete()) {
        outcome = 'refused'; // the log failed on the way
        break;
      }
      const key = this.evictor.pick(this.ks, now);
      if (key === undefined) {
        outcome = 'none';
        break;
      }
      const before = this.ks.liveBytes;
      this.logDelete(key, 'evicted');
      this.ks.reclaim(DEFRAG_WALK_BYTES_PER_EVICTED_BYTE * Math.max(0, before - this.ks.liveBytes));
      keys++;
      this.evictedKeys++;
      if (keys % EVICTIONS_PER_CLOCK_READ === 0 && performance.now() - t0 >= timeBudgetMs) {
        outcome = startBytes - this.ks.liveBytes < bytesToFree ? 'time' : 'done';
        break;
      }
    }
    return { freedBytes: startBytes - this.ks.liveBytes, keys, outcome };
  }

  setNoTouch(on: boolean): void {
    this.ks.access.frozen = on;
  }

  setDeletesPaused(paused: boolean): void {
    this.deletesPaused = paused;
  }

  objectAccess(key: Key, what: AccessQuery): { value: number } | { error: string } | undefined {
    const slot = this.ks.peekSlot(key, this.readNow());
    if (slot < 0) return undefined;
    this.ks.access.tick(this.clock());
    return objectAccessInfo(this.ks.access, slot, what);
  }

  setObjectAccess(key: Key, idleSeconds: number | null, freq: number | null): void {
    const slot = this.ks.peekSlot(key, this.readNow());
    if (slot < 0) return;
    this.ks.access.tick(this.clock());
    this.ks.access.setAccess(slot, idleSeconds, freq);
  }

  // ---------------------------------------------------------------- low-level reads

  now(): number {
    return this.clock();
  }

  /**
   * The time for a read's lazy-expiry check. The keyspace only looks at it when some key has a
   * TTL, so without any the clock is not read at all (docs/perf-notes.md, 'Clock reads').
   */
  private readNow(): number {
    return this.ks.expiresCount === 0 ? 0 : this.clock();
  }

  getValue(key: Key): Buffer | undefined {
    const v = this.ks.getStored(key, this.readNow());
    if (this.lookupStats.counting) this.countLookup(v !== undefined);
    return v === undefined ? undefined : valueToBuffer(v);
  }

  getStored(key: Key): Buffer | undefined {
    const v = this.ks.getStored(key, this.readNow());
    if (this.lookupStats.counting) this.countLookup(v !== undefined);
    return v;
  }

  readValueInto(key: Buffer, sink: ValueSink): boolean {
    const found = this.ks.readValueBytes(key, this.readNow(), sink);
    if (this.lookupStats.counting) this.countLookup(found);
    return found;
  }

  getExpireAt(key: Key): ExpireAtMs | undefined {
    const at = this.ks.getExpireAt(key, this.readNow());
    if (this.lookupStats.counting) this.countLookup(at !== undefined);
    return at;
  }

  has(key: Key): boolean {
    const found = this.ks.has(key, this.readNow());
    if (this.lookupStats.counting) this.countLookup(found);
    return found;
  }

  private countLookup(found: boolean): void {
    if (found) this.lookupStats.hits++;
    else this.lookupStats.misses++;
  }

  typeOf(key: Key): KeyTypeName {
    const t = this.ks.typeOf(key, this.readNow());
    return t < 0 ? 'none' : typeName(t);
  }

  get encodingLimits(): Readonly<EncodingLimits> {
    return this.limits;
  }

  getHash(key: Key): HashObject | undefined {
    return this.ks.collectionOf(key, TYPE_HASH, this.readNow()) as HashObject | undefined;
  }

  getSet(key: Key): SetObject | undefined {
    return this.ks.collectionOf(key, TYPE_SET, this.readNow()) as SetObject | undefined;
  }

  getZSet(key: Key): SortedSet | undefined {
    return this.ks.collectionOf(key, TYPE_ZSET, this.readNow()) as SortedSet | undefined;
  }

  getList(key: Key): ListObject | undefined {
    return this.ks.collectionOf(key, TYPE_LIST, this.readNow()) as ListObject | undefined;
  }

  getStream(key: Key): StreamObject | undefined {
    return this.ks.collectionOf(key, TYPE_STREAM, this.readNow()) as StreamObject | undefined;
  }

  memoryUsage(key: Key): number | undefined {
    return this.ks.memoryUsage(key, this.readNow());
  }

  get size(): number {
    return this.ks.size;
  }

  scan(cursor: string, count: number, match?: Buffer): ScanResult {
    if (!/^\d{1,16}$/.test(cursor)) return { cursor: '0', keys: [] };
    const r = this.ks.scan(Number(cursor), count, this.clock(), match === undefined ? undefined : match.toString('latin1', 0, match.length));
    return { cursor: String(r.next), keys: r.keys };
  }

  keys(): IterableIterator<Key> {
    return this.ks.keys(this.clock());
  }

  randomKey(): Key | undefined {
    return this.ks.randomKey(this.clock());
  }

  get lastPosition(): Position {
    return this.lastPos;
  }

  get epoch(): number {
    return (this.history[this.history.length - 1] as EpochStart).epoch;
  }

  get epochHistory(): readonly EpochStart[] {
    return this.history.slice();
  }

  // ---------------------------------------------------------------- low-level writes

  private checkWritable(): void {
    if (this.closed) throw new StoreUnavailableError('store is closed');
    if (this.writeRefusal !== null) throw new StoreUnavailableError(this.writeRefusal);
    if (this.exclusive !== null) throw new Error(`bug: write during ${this.exclusive}`);
  }

  apply(ops: readonly Op[]): Position {
    this.checkWritable();
    this.mutationsStarted++;
    if (this.batchOps !== null) return this.applyInBatch(this.batchOps, ops);
    const pos: Position = { epoch: this.epoch, seq: this.lastPos.seq + 1 };
    // Log first (it validates sizes and copies the bytes), then memory: a rejected op leaves no trace.
    this.lastRecordView = this.wal.append(pos.epoch, pos.seq, ops);
    this.ks.beginEntry(pos.seq);
    for (const op of ops) this.ks.applyOp(op);
    this.lastPos = pos;
    if (this.touchListener !== null) this.touchListener.touched(ops);
    return pos;
  }

  beginBatch(): void {
    this.checkWritable();
    assert(this.batchOps === null, 'bug: nested batch');
    this.batchOps = [];
    // The batch's ops belong to the entry commitBatch will log next (nothing else writes between):
    // a list they change carries that entry's stamp, as replay will give it (keyspace.ts, 'list stamps').
    this.ks.beginEntry(this.lastPos.seq + 1);
  }

  /** Memory now, the log at commit. Values are copied: a command's op may view a buffer the next command reuses. */
  private applyInBatch(batch: Op[], ops: readonly Op[]): Position {
    for (const op of ops) {
      this.ks.applyOp(op);
      batch.push(ownedOp(op));
    }
    if (this.touchListener !== null) this.touchListener.touched(ops);
    return { epoch: this.epoch, seq: this.lastPos.seq + 1 };
  }

  /**
   * Resolves once the open batch is committed; null when none is open. A batch may stay open
   * across event-loop turns (a script running past busy-reply-threshold): a snapshot or an export
   * walking memory waits meanwhile, so it never holds effects the log may never get.
   */
  batchClosed(): Promise<void> | null {
    if (this.batchOps === null) return null;
    return new Promise((resolve) => this.batchWaiters.push(resolve));
  }

  commitBatch(): BatchCommit | null {
    const ops = this.batchOps;
    assert(ops !== null, 'bug: commitBatch without beginBatch');
    this.batchOps = null;
    if (this.batchWaiters.length > 0) {
      for (const w of this.batchWaiters.splice(0)) w();
    }
    if (ops.length === 0) return null;
    const bodyBytes = recordBytes(ops) - RECORD_HEADER_BYTES;
    if (ops.length > RECORD_OPS_MAX || bodyBytes > RECORD_BODY_BYTES_MAX) {
      // Memory holds effects no record can carry: roll back exactly as after a failed log write
      // (memory rebuilt from the log, writes refused until a retry), handing earlier entries to
      // the OS first so that the rollback keeps them.
      const reason = `a transaction of ${ops.length} ops (${bodyBytes} bytes) does not fit one log record (${RECORD_OPS_MAX} ops, ${RECORD_BODY_BYTES_MAX} bytes)`;
      this.wal.flush();
      if (this.logFailure === null) this.onLogFailure(new Error(reason), 'write');
      return { logged: false, reason };
    }
    const pos: Position = { epoch: this.epoch, seq: this.lastPos.seq + 1 };
    this.lastRecordView = this.wal.append(pos.epoch, pos.seq, ops);
    this.lastPos = pos;
    return { logged: true, pos, ops };
  }

  setTouchListener(l: TouchListener | null): void {
    this.touchListener = l;
  }

  /** See Store.lastRecord: the WAL's view of the record the last write encoded (cleared when the state is swapped). */
  private lastRecordView: Buffer | undefined;

  lastRecord(seq: Seq): Buffer | undefined {
    return seq === this.lastPos.seq ? this.lastRecordView : undefined;
  }

  applyEntry(entry: LogEntry): void {
    this.checkWritable();
    this.mutationsStarted++;
    this.extendTo(this.lastPos.epoch, this.lastPos.seq, entry.epoch, entry.seq, 'applyEntry');
    this.lastRecordView = this.wal.append(entry.epoch, entry.seq, entry.ops);
    this.ks.beginEntry(entry.seq);
    for (const op of entry.ops) this.ks.applyOp(op);
    this.lastPos = { epoch: entry.epoch, seq: entry.seq };
    if (this.touchListener !== null) this.touchListener.touched(entry.ops);
    if (this.replicatedListener !== null) {
      const changes: AppliedChange[] = [];
      for (const op of entry.ops) {
        if (op.t === 'xstream') changes.push({ t: op.t, key: op.key, expireAtMs: 0, body: op.body });
        else changes.push(isKeyOp(op) ? { t: op.t, key: op.key, expireAtMs: 'expireAtMs' in op ? op.expireAtMs : 0 } : { t: op.t });
      }
      this.replicatedListener(changes);
    }
  }

  applyRecords(records: Buffer): void {
    this.checkWritable();
    if (records.length === 0) return;
    this.mutationsStarted++;
    // Every header first, so records that do not extend the log change nothing at all.
    let epoch = this.lastPos.epoch;
    let seq = this.lastPos.seq;
    let last = 0;
    for (let off = 0; off < records.length; off = recordEndAt(records, off)) {
      if (records.length - off < RECORD_HEADER_BYTES || recordEndAt(records, off) > records.length) throw new Error(`bug: applyRecords: the record at ${off} runs past the end`);
      const e = recordEpochAt(records, off);
      const s = recordSeqAt(records, off);
      if (s !== seq + 1) throw new Error(`bug: applyRecords seq ${s} after ${seq}`);
      if (e < epoch) throw new Error(`bug: applyRecords epoch ${e} < last entry's epoch ${epoch}`);
      epoch = e;
      seq = s;
      last = off;
    }
    // Log first, then memory, as in apply(). The log takes the records in runs of whole records,
    // one copy per run, since a copy per record costs a view and a call each (docs/perf-notes.md,
    // 'Replication: records as bytes, batches and frames').
    let runStart = 0;
    let prevEpoch = this.lastPos.epoch;
    let prevSeq = this.lastPos.seq;
    for (let off = 0; off < records.length; ) {
      const end = recordEndAt(records, off);
      if (off > runStart && end - runStart > ENCODED_RUN_BYTES_MAX) {
        this.wal.appendEncoded(recordSeqAt(records, runStart), prevSeq, records, runStart, off);
        runStart = off;
      }
      const e = recordEpochAt(records, off);
      const s = recordSeqAt(records, off);
      this.extendTo(prevEpoch, prevSeq, e, s, 'applyRecords');
      prevEpoch = e;
      prevSeq = s;
      off = end;
    }
    this.wal.appendEncoded(recordSeqAt(records, runStart), seq, records, runStart, records.length);
    // The op walk re-checks the structure (not the CRC).
    const changes: AppliedChange[] = [];
    const sink = this.replaySink(changes);
    const listener = this.replicatedListener;
    for (let off = 0; off < records.length; off = recordEndAt(records, off)) {
      this.ks.beginEntry(recordSeqAt(records, off));
      replayRecordAt(records, off, sink);
      // One call per entry: the listener sees entry boundaries (one command's changes).
      if (listener !== null && changes.length > 0) listener(changes.splice(0));
    }
    this.lastPos = { epoch, seq };
    this.lastRecordView = records.subarray(last);
    // Only while some client watches keys: decode the keys the records touched.
    if (this.touchListener !== null) this.touchRecords(this.touchListener, records);
  }

  private touchRecords(l: TouchListener, records: Buffer): void {
    const d = decodeRecords(records);
    if (!d.ok) return l.touchedAll();
    for (const e of d.entries) l.touched(e.ops);
  }

  /** Check that entry (epoch, seq) may follow (prevEpoch, prevSeq) and extend the epoch history to it. */
  private extendTo(prevEpoch: number, prevSeq: Seq, epoch: number, seq: Seq, what: string): void {
    if (seq !== prevSeq + 1) throw new Error(`bug: ${what} seq ${seq} after ${prevSeq}`);
    if (epoch < prevEpoch) throw new Error(`bug: ${what} epoch ${epoch} < last entry's epoch ${prevEpoch}`);
    if ((this.history[this.history.length - 1] as EpochStart).epoch === epoch) return; // the usual case
    const history = this.history.slice();
    const err = extendHistory(history, epoch, seq);
    if (err !== null) throw new Error(`bug: ${err}`);
    const droppedEmptyEpoch = (history[history.length - 1] as EpochStart).epoch < this.epoch;
    this.history = history;
    // Dropping a begun-but-empty epoch must reach disk, or recovery would resurrect it from
    // epochs.json. Rare (a node that began an epoch and then followed an older leader): sync is fine.
    if (droppedEmptyEpoch) atomicWriteFileSync(this.layout.dir, EPOCHS_FILE, encodeEpochs(this.history));
  }

  flush(): void {
    this.wal.flush();
  }

  whenDurable(seq: Seq): Promise<void> {
    return this.wal.whenDurable(seq);
  }

  // ---------------------------------------------------------------- embedded API

  async set(key: string | Buffer, value: string | Buffer, opts?: SetOptions): Promise<Position> {
    const v = toValue(value);
    if (v.length > VALUE_BYTES_MAX) throw new RangeError(`value of ${v.length} bytes exceeds ${VALUE_BYTES_MAX}`);
    let expireAtMs = 0;
    if (opts?.pxAt !== undefined) expireAtMs = opts.pxAt;
    else if (opts?.px !== undefined) expireAtMs = this.clock() + opts.px;
    if (!Number.isSafeInteger(expireAtMs) || expireAtMs < 0) throw new RangeError(`invalid expiry ${expireAtMs}`);
    const pos = this.apply([{ t: 'set', key: toKey(key), value: v, expireAtMs }]);
    await this.whenDurable(pos.seq);
    return pos;
  }

  get(key: string | Buffer): Buffer | undefined {
    const before = this.lastPos.seq;
    const v = this.getValue(toKey(key));
    this.settleEmbeddedRead(before);
    return v;
  }

  async delete(key: string | Buffer): Promise<boolean> {
    const k = toKey(key);
    const before = this.lastPos.seq;
    if (!this.has(k)) {
      await this.settleEmbeddedReadAsync(before);
      return false;
    }
    await this.whenDurable(this.apply([{ t: 'del', key: k }]).seq);
    return true;
  }

  async expire(key: string | Buffer, ms: number): Promise<boolean> {
    const k = toKey(key);
    if (!Number.isSafeInteger(ms)) throw new RangeError(`invalid expiry ${ms}`);
    const before = this.lastPos.seq;
    if (!this.has(k)) {
      await this.settleEmbeddedReadAsync(before);
      return false;
    }
    // Like Redis: a non-positive TTL deletes the key (logged as a del, so replicas agree).
    const op: Op = ms <= 0 ? { t: 'del', key: k } : { t: 'expire', key: k, expireAtMs: this.clock() + ms };
    await this.whenDurable(this.apply([op]).seq);
    return true;
  }

  pttl(key: string | Buffer): number {
    const before = this.lastPos.seq;
    const at = this.getExpireAt(toKey(key));
    this.settleEmbeddedRead(before);
    if (at === undefined) return -2;
    if (at === 0) return -1;
    return Math.max(0, at - this.clock());
  }

  async *scanIterator(opts?: { match?: string; count?: number }): AsyncIterable<Buffer> {
    const match = opts?.match === undefined ? undefined : Buffer.from(opts.match, 'utf8');
    const count = opts?.count ?? SCAN_ITERATOR_COUNT_DEFAULT;
    let cursor = '0';
    do {
      const before = this.lastPos.seq;
      const r = this.scan(cursor, count, match);
      await this.settleEmbeddedReadAsync(before);
      for (const k of r.keys) yield keyToBytes(k);
      cursor = r.cursor;
      if (cursor !== '0') await new Promise<void>((res) => setImmediate(res));
    } while (cursor !== '0');
  }

  stats(): StoreStats {
    return {
      keys: this.ks.size,
      logBytes: this.wal.logBytes,
      segments: this.wal.segments.length,
      lastPosition: this.lastPos,
      durableSeq: this.wal.durableSeq,
      fsync: this.fsyncPolicy,
      lastFsyncMs: this.wal.lastFsyncMs,
      compactions: this.compactionStats.count,
      lastCompactionMs: this.compactionStats.lastMs,
      lastCompactionDurationMs: this.compactionStats.lastDurationMs,
      compacting: this.compaction !== null,
      snapshotSeq: this.snapshotSeq,
      expiredKeys: this.ks.expiredKeys,
      expiresCount: this.ks.expiresCount,
      fsyncs: this.wal.fsyncs,
      liveBytes: this.ks.liveBytes,
      logError: this.logFailure === null ? null : this.logFailure.refusal,
      logErrorSinceMs: this.logFailure === null ? 0 : this.logFailure.sinceMs,
      logWriteErrors: this.logFailures,
      evictedKeys: this.evictedKeys,
    };
  }

  // ---------------------------------------------------------------- compaction

  private maybeAutoCompact(): void {
    if (this.compaction !== null || this.exclusive !== null || this.closed || this.compactMinBytes === 0 || this.logFailure !== null) return;
    const logBytes = this.wal.logBytes;
    if (logBytes < this.compactMinBytes) return;
    // Baseline like Redis's "AOF size after the last rewrite": the larger of the last snapshot
    // and the live-data estimate, so a shrinking dataset does not cause back-to-back compactions.
    const base = Math.max(this.snapshotBytes, this.ks.liveBytes);
    if (logBytes <= (1 + this.compactPercent / 100) * base) return;
    this.compact().catch((e: Error) => this.warn(`auto-compaction failed: ${e.message}`));
  }

  compact(): Promise<void> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('store is closed'));
    if (this.compaction !== null) return this.compaction;
    if (this.exclusive !== null) return Promise.resolve();
    this.compactAbort = false;
    // Start on a microtask, after `this.compaction` is set: runCompaction flushes the log, and
    // the flush hook (maybeAutoCompact) must already see a compaction in progress.
    const p = Promise.resolve()
      .then(() => this.runCompaction())
      .finally(() => {
      this.compaction = null;
    });
    this.compaction = p;
    return p;
  }

  /**
   * Fuzzy snapshot at S = lastPosition: seal the log at S, walk the live keyspace across many
   * turns, make the snapshot durable, and only then drop sealed segments (all <= S) and older
   * snapshots. Replaying the log after S over the snapshot reproduces the state exactly because
   * every Op is absolute and idempotent.
   */
  private async runCompaction(): Promise<void> {
    const t0 = performance.now();
    await this.wal.syncAsync();
    if (this.compactAbort || this.closed) return;
    this.wal.rotateNow();
    const pos = this.lastPos;
    const finalName = seqName(pos.seq, SNAPSHOT_EXT);
    const res = await writeSnapshot({
      dir: this.layout.snapDir,
      tmpName: `${finalName}.tmp`,
      finalName,
      ks: this.ks,
      position: pos,
      history: this.history.slice(),
      aborted: () => this.compactAbort || this.closed,
      batchOpen: () => this.batchClosed(),
    });
    if (res === null) {
      unlinkIfExists(join(this.layout.snapDir, `${finalName}.tmp`));
      return;
    }
    // The walk may have copied mutations still unsynced; if the log fails before they are
    // durable it rolls them back, and this snapshot must not keep them.
    await this.wal.syncAsync();
    if (this.compactAbort || this.logFailure !== null || this.closed) {
      unlinkIfExists(join(this.layout.snapDir, finalName));
      fsyncDirSync(this.layout.snapDir);
      return;
    }
    // The snapshot is durable (fsync + rename + dir fsync); the files it replaces go only once it
    // reads back whole, so a snapshot damaged on its way to disk still has its log to fall back on.
    const fault = await verifySnapshot(join(this.layout.snapDir, finalName));
    if (fault !== null) {
      this.warn(`compaction: the new snapshot ${finalName} failed its read-back (${fault}); it is removed and the log kept`);
      unlinkIfExists(join(this.layout.snapDir, finalName));
      fsyncDirSync(this.layout.snapDir);
      return;
    }
    await this.wal.dropSealedThrough(pos.seq);
    for (const s of listSeqFiles(this.layout.snapDir, SNAPSHOT_EXT)) if (s.seq < pos.seq) unlinkIfExists(s.path);
    fsyncDirSync(this.layout.snapDir);
    this.snapshotSeq = pos.seq;
    this.snapshotBytes = res.bytes;
    this.compactionStats = { count: this.compactionStats.count + 1, lastMs: Date.now(), lastDurationMs: performance.now() - t0 };
  }

  private async stopCompaction(): Promise<void> {
    if (this.compaction === null) return;
    this.compactAbort = true;
    await this.compaction.catch(() => undefined);
  }

  // ---------------------------------------------------------------- epochs, truncation, meta

  private persistFile(name: string, data: Buffer): Promise<void> {
    const next = this.fileChain.then(() => atomicWriteFile(this.layout.dir, name, data));
    this.fileChain = next.catch(() => undefined);
    return next;
  }

  async beginEpoch(epoch: number): Promise<void> {
    this.checkWritable();
    if (!Number.isInteger(epoch) || epoch <= this.epoch) throw new Error(`epoch ${epoch} must exceed every epoch in the history (${this.epoch})`);
    this.history.push({ epoch, startSeq: this.lastPos.seq + 1 });
    await this.persistFile(EPOCHS_FILE, encodeEpochs(this.history));
  }

  private epochOf(seq: Seq): number {
    let e = 0;
    for (const h of this.history) if (h.startSeq <= seq) e = h.epoch;
    return e;
  }

  async truncateAfter(seq: Seq): Promise<{ discarded: number; from: Position | null; to: Position | null }> {
    this.checkWritable();
    if (seq >= this.lastPos.seq) return { discarded: 0, from: null, to: null };
    if (seq < this.snapshotSeq) {
      throw new Error(`cannot truncate after seq ${seq}: the snapshot already covers up to ${this.snapshotSeq} (full resync needed)`);
    }
    await this.stopCompaction();
    this.checkWritable();
    const to = this.lastPos;
    const from: Position = { epoch: this.epochOf(seq + 1), seq: seq + 1 };
    this.exclusive = 'truncate';
    this.lastRecordView = undefined;
    try {
      // Keep the epochs this node has seen (as begun, now-empty epochs): the current epoch never goes back.
      await this.fileChain;
      atomicWriteFileSync(this.layout.dir, EPOCHS_FILE, encodeEpochs(this.history));
      this.wal.rejectWaitersAfter(seq, new StoreUnavailableError(`entry discarded by truncateAfter(${seq})`));
      this.wal.close();
      this.install(recover({ layout: this.layout, repair: null, warn: this.warn, stopAfterSeq: seq, limits: this.limits }));
    } finally {
      this.exclusive = null;
    }
    this.reportExclusiveFailure();
    assert.equal(this.lastPos.seq, seq);
    return { discarded: to.seq - seq, from, to };
  }

  readMeta(): Record<string, unknown> {
    return JSON.parse(JSON.stringify(this.meta)) as Record<string, unknown>;
  }

  async writeMeta(meta: Record<string, unknown>): Promise<void> {
    const copy = JSON.parse(JSON.stringify(meta)) as Record<string, unknown>;
    await this.persistFile(META_FILE, encodeCheckedJson(copy));
    this.meta = copy;
  }

  // ---------------------------------------------------------------- full resync

  get aclUsers(): Buffer | null {
    return this.ks.aclUsers;
  }

  get memberConfigs(): readonly ConfigAt[] {
    return this.ks.memberConfigs;
  }

  get functionLibraries(): Buffer | null {
    return this.ks.functionLibraries;
  }

  exportSnapshot(batchKeysMax = EXPORT_BATCH_KEYS_DEFAULT, opts: ExportOptions = {}): ExportedSnapshot {
    const ks = this.ks;
    const from = this.lastPos;
    const epochHistory = this.history.slice();
    const clock = this.clock;
    const keepExpired = opts.keepExpired === true;
    const batchClosed = (): Promise<void> | null => this.batchClosed();
    const isClosed = (): boolean => this.closed;
    assert(batchKeysMax > 0);
    return {
      from,
      epochHistory,
      users: ks.aclUsers,
      functions: ks.functionLibraries,
      configs: ks.memberConfigs,
      async *batches(): AsyncIterable<SnapshotItem[]> {
        let now = clock();
        // Keys expired by our clock are left out: this node deletes them (logged, shipped after `from`).
        const walk = new KeyspaceWalk(ks, (slot) => {
          if (keepExpired) return false;
          const at = ks.expireAtSlot(slot);
          return at !== 0 && at <= now;
        });
        const budget: WalkBudget = { slots: batchKeysMax * 4, items: batchKeysMax, bytes: EXPORT_BATCH_BYTES_TARGET, members: SNAPSHOT_STEP_MEMBERS_MAX };
        const picked: WalkItem[] = [];
        try {
          while (!walk.done) {
            const open = batchClosed();
            if (open !== null) await open;
            // Closed with the batch never committed (SHUTDOWN NOSAVE during a script): its effects are not exported.
            if (isClosed()) return;
            now = clock();
            picked.length = 0;
            walk.step(picked, budget);
            const batch: SnapshotItem[] = [];
            for (const it of picked) batch.push(exportItem(ks, it));
            if (batch.length > 0) yield batch;
            await new Promise<void>((r) => setImmediate(r));
          }
        } finally {
          walk.close();
        }
      },
    };
  }

  beginLoad(): SnapshotLoader {
    const ks = new Keyspace(this.limits);
    let bytes = 0;
    let done = false;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const store = this;
    return {
      add(items: readonly SnapshotItem[]): void {
        assert(!done, 'loader already committed or aborted');
        for (const it of items) {
          // Copies into the slabs (items may be network slices); a collection item is one bounded
          // chunk: its first (replacing the key) or a part adding members (Keyspace.restore).
          if (it.type === 'string') ks.put(it.key, it.value, it.expireAtMs);
          else {
            const bad = checkObject(it.value, 0, it.value.length);
            if (bad !== null || typeName(payloadType(it.value, 0)) !== it.type) throw new Error(`bad ${it.type} snapshot item: ${bad ?? 'type mismatch'}`);
            ks.loadObject(it.key, it.value, 0, it.value.length, it.expireAtMs);
          }
          bytes += it.key.length + it.value.length;
        }
      },
      setUsers(users: Buffer): void {
        ks.setAclUsers(users);
      },
      setConfigs(configs: readonly ConfigAt[]): void {
        ks.setMemberConfigs(configs);
      },
      setFunctions(libraries: Buffer): void {
        ks.setFunctionLibraries(libraries);
      },
      get keys(): number {
        return ks.size;
      },
      get bytes(): number {
        return bytes;
      },
      async commit(position: Position, epochHistory: readonly EpochStart[]): Promise<void> {
        assert(!done, 'loader already committed or aborted');
        const fault = memberConfigsFault(ks.memberConfigs, position.seq);
        assert(fault === null, `a loaded dataset's configurations: ${fault ?? ''}`);
        done = true;
        await store.commitLoad(ks, position, epochHistory);
      },
      abort(): void {
        done = true;
        ks.clear();
      },
    };
  }

  /**
   * Swap in a loaded dataset. Commit point: snap/resync.snap renamed into place (durable);
   * recovery's finishResync completes the remaining steps if we crash after it.
   */
  private async commitLoad(ks: Keyspace, position: Position, epochHistory: readonly EpochStart[]): Promise<void> {
    this.checkWritable();
    assert(epochHistory.length > 0, 'a loaded dataset needs an epoch history');
    await this.stopCompaction();
    this.checkWritable();
    this.exclusive = 'load';
    this.lastRecordView = undefined;
    try {
      const res = await writeSnapshot({
        dir: this.layout.snapDir,
        tmpName: `${RESYNC_SNAPSHOT}.tmp`,
        finalName: RESYNC_SNAPSHOT,
        ks,
        position,
        history: epochHistory,
        aborted: () => this.closed,
        batchOpen: () => this.batchClosed(),
      });
      if (res === null) throw new StoreUnavailableError('store closed during resync commit');
      await this.fileChain;
      this.wal.rejectWaitersAfter(0, new StoreUnavailableError('entry discarded by a full resync'));
      this.wal.close();
      finishResync(this.layout);
      const path = join(this.layout.logDir, seqName(position.seq + 1, SEGMENT_EXT));
      closeSync(openSync(path, 'wx'));
      fsyncDirSync(this.layout.logDir);
      this.install({
        ks,
        lastPosition: position,
        history: epochHistory.slice(),
        snapshotSeq: position.seq,
        snapshotBytes: res.bytes,
        segments: [{ firstSeq: position.seq + 1, path, bytes: 0 }],
      });
    } finally {
      this.exclusive = null;
    }
    this.reportExclusiveFailure();
  }

  // ---------------------------------------------------------------- lifecycle

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    this.stopRetrying();
    // Walks waiting for a batch that will never commit stop now (they see the store closed).
    for (const w of this.batchWaiters.splice(0)) w();
    this.compactAbort = true;
    if (this.compaction !== null) await this.compaction.catch(() => undefined);
    await this.fileChain;
    this.wal.close();
    this.releaseLock();
    const err = this.wal.error;
    if (err !== null) throw err;
  }
}

export { CorruptLogError };

/** An op that owns its bytes (a batch keeps ops until its commit). */
function ownedOp(op: Op): Op {
  switch (op.t) {
    case 'set':
    case 'hset':
      return { ...op, value: Buffer.from(op.value) };
    case 'restore':
      return { ...op, payload: Buffer.from(op.payload) };
    default:
      return op;
  }
}
