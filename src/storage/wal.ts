// The write-ahead log appender: encodes records into an append buffer, writes the buffer to
// the active segment once per event-loop turn (one write for every record of the turn),
// rotates segments at record boundaries, and runs group-commit fsync rounds.
// Owns the open segment fds and the durability frontier; never touches the in-memory dataset
// and reads records back only in retry(). After a write/fsync error it refuses all further work
// and tells its owner (the store rolls back to keepSeq and replaces it); only retry() clears the
// error, and after a failed fsync it first rewrites the active segment (a failed fsync leaves
// the page cache in an unknown state: fsyncing again would prove nothing).

import assert from 'node:assert';
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { FsyncPolicy, Op, Seq } from './types.js';
import { checkRecord, encodeRecordInto, recordBytes } from './record.js';
import { copyBytes } from './bytes.js';
import { unlink } from 'node:fs/promises';
import { fsyncDir, fsyncDirSync, seqName, writeAllSync } from './fsutil.js';
import { StoreUnavailableError } from './errors.js';
import type { LogFs } from './log-fs.js';

export const SEGMENT_EXT = '.wal';
/** The store's errors after a failed log write start with this (the server answers `-MISCONF <it>`). */
export const LOG_ERROR_PREFIX = 'Errors writing to the log: ';
/** The reusable encode buffer; records larger than half of it get their own buffer. */
const APPEND_CHUNK_BYTES = 256 * 1024;
/** If one turn buffers more than this, write early: bounds append-buffer memory per turn. */
export const APPEND_BUFFER_BYTES_MAX = 16 * 1024 * 1024;
/** appendEncoded runs longer than this are cut (at a record boundary) by callers: a run up to twice it still shares the append buffer. */
export const ENCODED_RUN_BYTES_MAX = APPEND_CHUNK_BYTES / 4;
/** Background fsync period under 'everysec'. */
export const EVERYSEC_INTERVAL_MS = 1000;
/**
 * Under 'everysec' and 'no', an fsync round starts (in the libuv pool) once the active segment
 * has less than this share of its size left, so that the rotation's synchronous fsync, which
 * blocks the loop, finds little unsynced data (docs/perf-notes.md, 'WAL: segment rotation').
 */
const PRESYNC_SEGMENT_FRACTION = 1 / 16;
/**
 * kv-server's `fsyncOnLoopMaxMs` (StoreOptions): under 'always', a group-commit round calls
 * fdatasync on the event loop, as Redis does in its beforeSleep, while the previous round took
 * less than this; otherwise the round runs in the libuv pool. On the loop a round costs no thread
 * hand-offs, and the requests that arrive during it are read together in the next poll phase
 * instead of waking the loop one by one (docs/perf-notes.md, 'WAL: group commit and fsync on the
 * loop'). A slow disk (an fsync past the bound) moves the rounds to the
 * pool, so that reads, replication and timers keep running while they wait; the first pool round
 * that ends within the bound (its time includes the hand-offs) brings them back. So the loop is
 * blocked by at most one slow fsync in a row.
 */
export const SERVER_FSYNC_ON_LOOP_MAX_MS = 2;
/**
 * Under 'always', the active segment is kept zero-filled ahead of the write position by this
 * much: when less than half of it is left, the next PREZERO_BYTES past the records are written
 * with zeros (on the loop, into the page cache; the next round's fdatasync makes them durable).
 * A record then overwrites blocks the file already has, within its size, so fdatasync flushes
 * data only: appending would change the file's size (and often its block map) every round, and
 * fdatasync(2) must make such metadata durable too (on ext4, a journal commit), which makes each
 * round slower (docs/perf-notes.md, 'WAL: zero-filled log under always'). Costs: one round per
 * PREZERO_BYTES of log also flushes the zeros, and the active segment's file is up to
 * PREZERO_BYTES longer than its records until it is sealed or closed (then it is cut to size).
 * Recovery reads an all-zero tail as the log's end: a record's length field is never 0. Under
 * 'everysec' and 'no' one fsync a second does not pay for writing every log byte twice.
 */
export const PREZERO_BYTES = 1024 * 1024;
let zeros: Buffer | null = null;
/**
 * retry() writes this many zeros past the records (and cuts them again unless the policy keeps a
 * zero tail), then fsyncs: writes resume only once the disk has room for at least this much log.
 */
export const RETRY_PROBE_BYTES = PREZERO_BYTES;

/** Which call failed: a failed fsync makes the unsynced tail suspect (see retry). */
export type LogFailureKind = 'write' | 'fsync';

/** Pending durability waiters; beyond this whenDurable() still works but we assert (a caller leak). */
const WAITERS_MAX = 10_000_000;

export interface SegmentFile {
  readonly firstSeq: Seq;
  readonly path: string;
  bytes: number;
}

interface Waiter {
  readonly seq: Seq;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

export class Wal {
  /** Sealed segments then the active one (last). */
  readonly segments: SegmentFile[];
  private activeFd: number;
  private readonly chunks: Buffer[] = [];
  private cur = Buffer.allocUnsafeSlow(APPEND_CHUNK_BYTES);
  private curOff = 0;
  private pendingBytes = 0;
  private pendingLastSeq: Seq = 0;
  private lastAppendedSeq: Seq;
  /** Highest seq handed to the OS (write(2) returned). */
  writtenSeq: Seq;
  /** Highest seq covered by a completed fsync. */
  durableSeq: Seq;
  fsyncs = 0;
  lastFsyncMs = 0;
  private syncing = false;
  /**
   * Where the next round runs: on the loop while the last round took less than fsyncOnLoopMaxMs.
   * A boolean, not the round's duration: a double stored over the initial 0 would change this
   * object's hidden class at the first round (docs/perf-notes.md, 'V8: hidden classes and
   * deoptimization').
   */
  private nextRoundOnLoop: boolean;
  /** The active segment's file holds records or zeros up to here (PREZERO_BYTES; 'always' only). */
  private zeroedTo: number;
  /** The active segment already had its early round (see PRESYNC_SEGMENT_FRACTION). */
  private presynced = false;
  private readonly fdsToClose: number[] = [];
  private readonly waiters: Waiter[] = [];
  /** Callbacks run when the in-flight fsync round ends (syncAsync waits on them). */
  private readonly roundListeners: Array<() => void> = [];
  private flushScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private failed: Error | null = null;
  /** Set around the flushes append() itself starts: the owner is told of a failure there only after the caller's turn (see fail). */
  private inAppend = false;
  private closed = false;
  /**
   * Told of every record appended, as its bytes (valid only during the call): a backup stream's
   * record feed (store.setRecordTap). Null, the default, costs an append one comparison.
   */
  tap: ((records: Buffer) => void) | null = null;

  constructor(
    private readonly logDir: string,
    readonly policy: FsyncPolicy,
    private readonly segmentBytesMax: number,
    /** See SERVER_FSYNC_ON_LOOP_MAX_MS; 0: every round runs in the libuv pool. */
    private readonly fsyncOnLoopMaxMs: number,
    segments: SegmentFile[],
    lastSeq: Seq,
    /** Called after each batch reaches the OS (the store checks auto-compaction there). */
    private readonly afterFlush: () => void,
    /** The segment calls (node:fs in production). */
    private readonly fs: LogFs,
    /** Called once, at the first failed write or fsync (see fail). */
    private readonly onFailure: (cause: Error, kind: LogFailureKind) => void,
    /**
     * Told each group-commit round's fdatasync duration (kv-server's fsync histogram). The rounds
     * already read the clock around the call to choose where the next one runs: no extra cost.
     */
    private readonly onFsyncSeconds: ((seconds: number) => void) | null = null,
  ) {
    assert(segments.length > 0, 'the WAL needs an active segment');
    this.nextRoundOnLoop = fsyncOnLoopMaxMs > 0;
    this.segments = segments;
    const active = segments[segments.length - 1] as SegmentFile;
    // Writes are positional (at active.bytes), not O_APPEND: under 'always' the file extends past them (PREZERO_BYTES).
    this.activeFd = fs.openSync(active.path, 'r+');
    this.zeroedTo = active.bytes; // recovery cut the file after its last record
    this.lastAppendedSeq = lastSeq;
    this.writtenSeq = lastSeq;
    this.durableSeq = lastSeq; // recovery only replays what is on disk; open fsyncs it (see store)
    if (policy === 'everysec') {
      this.timer = setInterval(() => this.backgroundSync(), EVERYSEC_INTERVAL_MS);
      this.timer.unref();
    }
  }

  get logBytes(): number {
    let n = this.pendingBytes;
    for (const s of this.segments) n += s.bytes;
    return n;
  }

  get error(): Error | null {
    return this.failed;
  }

  /**
   * After a failure, the last seq that must survive: under 'always' the durable one (nothing
   * after it was acknowledged), otherwise the last one handed to the OS (acknowledged at the write).
   */
  get keepSeq(): Seq {
    return this.policy === 'always' ? this.durableSeq : this.writtenSeq;
  }

  private get active(): SegmentFile {
    return this.segments[this.segments.length - 1] as SegmentFile;
  }

  /**
   * Encode and buffer one record. The caller assigns consecutive seqs. Returns the record: a view
   * of the append buffer, valid only until the next append (the buffer is reused after a flush),
   * for callers that copy it at once (the backlog).
   */
  append(epoch: number, seq: Seq, ops: readonly Op[]): Buffer {
    const size = recordBytes(ops);
    const buf = this.reserve(seq, size);
    const at = this.reservedAt;
    encodeRecordInto(buf, at, epoch, seq, ops);
    const record = buf.subarray(at, at + size); // before commit: a flush may reuse the buffer after it
    if (this.tap !== null) this.tap(record);
    this.commit(seq, size);
    return record;
  }

  /**
   * append() of records already encoded: `src[start, end)` holds the records `firstSeq..lastSeq`
   * back to back (a replica's frame bytes, checked when the frame was decoded), copied as they
   * are, in one piece. Returns nothing: the caller has the bytes.
   */
  appendEncoded(firstSeq: Seq, lastSeq: Seq, src: Buffer, start: number, end: number): void {
    const size = end - start;
    const buf = this.reserve(firstSeq, size);
    copyBytes(src, start, buf, this.reservedAt, size);
    if (this.tap !== null) this.tap(src.subarray(start, end));
    this.commit(lastSeq, size);
  }

  /** Where reserve() placed the record: its offset in the returned buffer. */
  private reservedAt = 0;

  /** Room for `size` bytes of records, the first of them `seq` (rotating the segment first when it is full). */
  private reserve(seq: Seq, size: number): Buffer {
    // Not refused once failed: the append that met the failure is buffered like any other and
    // dropped with the log (the store refuses later writes before they get here).
    if (this.closed) throw new StoreUnavailableError('store is closed');
    if (seq !== this.lastAppendedSeq + 1) assert.fail(`WAL seqs must be consecutive: ${seq} after ${this.lastAppendedSeq}`);
    const used = this.active.bytes + this.pendingBytes;
    if (used > 0 && used + size > this.segmentBytesMax && this.failed === null) {
      this.inAppend = true;
      this.flush();
      if (this.failed === null) this.rotate(seq);
      this.inAppend = false;
    }
    if (size > APPEND_CHUNK_BYTES / 2) {
      this.sealChunk();
      const record = Buffer.allocUnsafe(size);
      this.chunks.push(record);
      this.reservedAt = 0;
      return record;
    }
    if (this.cur.length - this.curOff < size) this.sealChunk();
    this.reservedAt = this.curOff;
    this.curOff += size;
    return this.cur;
  }

  /** Account for `size` bytes of records, the last of them `seq`, just written where reserve() said. */
  private commit(seq: Seq, size: number): void {
    this.pendingBytes += size;
    this.pendingLastSeq = seq;
    this.lastAppendedSeq = seq;
    if (this.pendingBytes >= APPEND_BUFFER_BYTES_MAX) {
      this.inAppend = true;
      this.flush();
      this.inAppend = false;
    } else this.scheduleFlush();
  }

  /** Move the filled part of the encode buffer into the chunk list and start a fresh buffer. */
  private sealChunk(): void {
    if (this.curOff === 0) return;
    this.chunks.push(this.cur.subarray(0, this.curOff));
    this.cur = Buffer.allocUnsafeSlow(APPEND_CHUNK_BYTES);
    this.curOff = 0;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (!this.closed) this.flush();
    });
  }

  /** Write everything buffered to the OS now (one writev-equivalent for the whole turn). */
  flush(): void {
    if (this.failed !== null || this.closed) return;
    if (this.pendingBytes > 0) {
      if (this.curOff > 0) this.chunks.push(this.cur.subarray(0, this.curOff));
      try {
        writeAllSync(this.activeFd, this.chunks, this.active.bytes, this.fs.writeSync);
        if (this.policy === 'always') this.prezero(this.active.bytes + this.pendingBytes);
      } catch (e) {
        this.fail(e as Error, 'write');
        return;
      }
      this.chunks.length = 0;
      this.curOff = 0;
      this.active.bytes += this.pendingBytes;
      this.pendingBytes = 0;
      this.writtenSeq = this.pendingLastSeq;
      if (this.policy !== 'always') this.resolveWaiters(this.writtenSeq);
      this.maybePresync();
    }
    this.kickRound();
    this.afterFlush();
  }

  /** Keep zeros ahead of the records, which now end at `end` (PREZERO_BYTES). */
  private prezero(end: number): void {
    if (this.zeroedTo - end >= PREZERO_BYTES / 2) return;
    zeros ??= Buffer.alloc(PREZERO_BYTES);
    const from = Math.max(this.zeroedTo, end);
    const to = end + PREZERO_BYTES;
    writeAllSync(this.activeFd, [zeros.subarray(0, to - from)], from, this.fs.writeSync);
    this.zeroedTo = to;
  }

  /** Cut the active segment's file to its records (the zeros past them are not log). */
  private trimActive(): void {
    if (this.zeroedTo > this.active.bytes) this.fs.ftruncateSync(this.activeFd, this.active.bytes);
    this.zeroedTo = this.active.bytes;
  }

  /** Under 'everysec'/'no': the active segment's early round, once, when it is nearly full. */
  private maybePresync(): void {
    if (this.policy === 'always' || this.presynced || this.syncing) return;
    if (this.active.bytes < this.segmentBytesMax * (1 - PRESYNC_SEGMENT_FRACTION)) return;
    this.presynced = true;
    this.startRound();
  }

  /** Under 'always', start an fsync round when someone waits and none is in flight. */
  private kickRound(): void {
    if (this.policy !== 'always' || this.syncing || this.waiters.length === 0) return;
    const first = this.waiters[0] as Waiter;
    if (first.seq <= this.durableSeq) return;
    if (this.nextRoundOnLoop) this.roundOnLoop();
    else this.startRound();
  }

  /** One group-commit round on the loop (see SERVER_FSYNC_ON_LOOP_MAX_MS); its waiters are resolved at once. */
  private roundOnLoop(): void {
    const target = this.writtenSeq;
    const t0 = performance.now();
    let err: Error | null = null;
    try {
      this.fs.fdatasyncSync(this.activeFd);
    } catch (e) {
      err = e as Error;
    }
    this.roundTook(performance.now() - t0);
    this.roundDone(target, err);
  }

  /**
   * One group-commit round: fdatasync the active segment in the libuv pool. Records written
   * while it runs are not covered; they share the NEXT round (started when this one ends).
   */
  private startRound(): void {
    assert(!this.syncing);
    const target = this.writtenSeq;
    const fd = this.activeFd;
    this.syncing = true;
    const t0 = performance.now();
    this.fs.fdatasync(fd, (err) => {
      this.syncing = false;
      this.roundTook(performance.now() - t0);
      for (const f of this.fdsToClose.splice(0)) this.closeQuietly(f);
      for (const l of this.roundListeners.splice(0)) l();
      if (this.closed) return;
      this.roundDone(target, err);
      if (err === null) this.nextRoundAfterReplies();
    });
  }

  /** A round's fdatasync took `ms`: where the next one runs, and the observer's sample. */
  private roundTook(ms: number): void {
    this.nextRoundOnLoop = ms < this.fsyncOnLoopMaxMs;
    if (this.onFsyncSeconds !== null) this.onFsyncSeconds(ms / 1000);
  }

  /** A round (or a blocking sync) covered everything up to `target`, or failed. */
  private roundDone(target: Seq, err: Error | null): void {
    if (err !== null) {
      this.fail(err, 'fsync');
      return;
    }
    this.fsyncs++;
    this.lastFsyncMs = Date.now();
    if (target > this.durableSeq) this.durableSeq = target;
    // Under everysec/no waiters were released at the write; none is left at or below target.
    this.resolveWaiters(this.durableSeq);
  }

  /**
   * Start the round for what was written meanwhile one loop iteration later, not at once: the
   * replies this round released go out in this iteration, and the writes their clients send back
   * are read in the next poll phase and join the same round. Starting at once split concurrent
   * clients into two groups that took turns, each fsync covering half of them, twice Redis's
   * fsyncs (docs/perf-notes.md, 'WAL: group commit and fsync on the loop'). Immediates queued now run in this iteration's check phase, the
   * nested one in the next iteration's, after its poll phase; flush() there writes whatever
   * that poll phase appended, so the round covers it.
   */
  private nextRoundAfterReplies(): void {
    setImmediate(() =>
      setImmediate(() => {
        if (this.closed || this.failed !== null || this.syncing) return;
        if (this.pendingBytes > 0) this.flush();
        else this.kickRound();
      }),
    );
  }

  private backgroundSync(): void {
    if (this.syncing || this.closed || this.failed !== null) return;
    this.flush();
    if (this.writtenSeq > this.durableSeq && !this.syncing) this.startRound();
  }

  /**
   * Flush and fsync everything written so far WITHOUT blocking the loop (rounds run in the
   * libuv pool). Compaction calls it before rotating, so the rotation's synchronous fsync
   * finds (almost) nothing dirty.
   */
  async syncAsync(): Promise<void> {
    this.flush();
    const target = this.writtenSeq;
    while (this.durableSeq < target && this.failed === null && !this.closed) {
      if (!this.syncing) this.startRound();
      await new Promise<void>((r) => this.roundListeners.push(r));
    }
  }

  whenDurable(seq: Seq): Promise<void> {
    const frontier = this.policy === 'always' ? this.durableSeq : this.writtenSeq;
    if (seq <= frontier) return Promise.resolve();
    if (this.failed !== null) return Promise.reject(this.failed);
    if (this.closed) return Promise.reject(new StoreUnavailableError('store is closed'));
    assert(this.waiters.length < WAITERS_MAX, 'durability waiters leak');
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { seq, resolve, reject };
      // Usually seqs arrive in order: append; otherwise insert from the end to keep it sorted.
      let i = this.waiters.length;
      while (i > 0 && (this.waiters[i - 1] as Waiter).seq > seq) i--;
      this.waiters.splice(i, 0, w);
      // Already written (the server flushes at the end of its turn, then waits): under 'always'
      // start the fsync now. Going through scheduleFlush would start it only in the next loop
      // iteration's check phase, after a whole poll phase, which every waiter's reply pays.
      if (seq <= this.writtenSeq) this.kickRound();
      else this.scheduleFlush();
    });
  }

  private resolveWaiters(upTo: Seq): void {
    let n = 0;
    while (n < this.waiters.length && (this.waiters[n] as Waiter).seq <= upTo) n++;
    if (n === 0) return;
    for (const w of this.waiters.splice(0, n)) w.resolve();
  }

  /** Reject waiters beyond `seq` (their entries were discarded by truncation or a resync). */
  rejectWaitersAfter(seq: Seq, why: Error): void {
    const keep = this.waiters.filter((w) => w.seq <= seq);
    for (const w of this.waiters) if (w.seq > seq) w.reject(why);
    this.waiters.length = 0;
    this.waiters.push(...keep);
  }

  /**
   * Refuse all further work, reject every waiter (each is past keepSeq: earlier ones were
   * released at the write or the fsync), and tell the owner. Inside append() the owner hears of
   * it on a microtask, once the caller has finished applying the record that met the failure.
   */
  private fail(e: Error, kind: LogFailureKind): void {
    if (this.failed !== null || this.closed) return;
    this.failed = new StoreUnavailableError(`${LOG_ERROR_PREFIX}${e.message}`);
    for (const w of this.waiters.splice(0)) w.reject(this.failed);
    if (this.inAppend) queueMicrotask(() => this.onFailure(e, kind));
    else this.onFailure(e, kind);
  }

  /** A log reopened after a failure starts refusing work (until retry succeeds); its owner already knows. */
  markFailed(why: Error): void {
    this.failed = why;
  }

  /**
   * Try to make the log writable again: after a failed fsync (`rewrite`), read the active
   * segment back, check every record and write the bytes again, so that the next fsync covers
   * them whatever the page cache did with the failed writeback; then write RETRY_PROBE_BYTES of
   * zeros past the records and fsync. Returns null once writable (everything written is then
   * durable), the error if the disk still fails, or 'lost' if the records read back are not the
   * ones written (the log cannot be trusted until a restart recovers what is on disk).
   */
  retry(rewrite: boolean): Error | 'lost' | null {
    assert(this.failed !== null && !this.closed, 'retry a failed, open log');
    if (this.syncing || this.pendingBytes > 0) return new Error('the log is still busy with an earlier round');
    const end = this.active.bytes;
    try {
      if (rewrite) {
        const bytes = this.readActive();
        if (!this.holdsRecords(bytes)) return 'lost';
        writeAllSync(this.activeFd, [bytes], 0, this.fs.writeSync);
      }
      this.fs.ftruncateSync(this.activeFd, end);
      zeros ??= Buffer.alloc(PREZERO_BYTES);
      writeAllSync(this.activeFd, [zeros.subarray(0, RETRY_PROBE_BYTES)], end, this.fs.writeSync);
      if (this.policy !== 'always') this.fs.ftruncateSync(this.activeFd, end);
      this.zeroedTo = this.policy === 'always' ? end + RETRY_PROBE_BYTES : end;
      this.fs.fsyncSync(this.activeFd);
    } catch (e) {
      return e as Error;
    }
    this.failed = null;
    this.fsyncs++;
    this.lastFsyncMs = Date.now();
    this.durableSeq = this.writtenSeq;
    return null;
  }

  private readActive(): Buffer {
    const b = Buffer.allocUnsafe(this.active.bytes);
    const fd = openSync(this.active.path, 'r');
    try {
      let got = 0;
      while (got < b.length) {
        const n = readSync(fd, b, got, b.length - got, got);
        if (n === 0) break;
        got += n;
      }
      return b.subarray(0, got);
    } finally {
      closeSync(fd);
    }
  }

  /** `bytes` are exactly the active segment's records, firstSeq..writtenSeq, each with a valid checksum. */
  private holdsRecords(bytes: Buffer): boolean {
    if (bytes.length !== this.active.bytes) return false;
    let expect = this.active.firstSeq;
    let off = 0;
    while (off < bytes.length) {
      const r = checkRecord(bytes, off);
      if (!r.ok || r.seq !== expect) return false;
      expect++;
      off = r.next;
    }
    return expect - 1 === this.writtenSeq || (bytes.length === 0 && this.active.firstSeq === this.writtenSeq + 1);
  }

  /**
   * Give the log up after a failure without syncing: cut the active segment back to its last
   * written record (best effort: recovery cuts it too) and close the fds. The owner reopens the
   * directory through recovery.
   */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const l of this.roundListeners.splice(0)) l();
    for (const w of this.waiters.splice(0)) w.reject(this.failed ?? new StoreUnavailableError('log abandoned'));
    try {
      this.fs.ftruncateSync(this.activeFd, this.active.bytes);
    } catch {
      // recovery cuts the same tail
    }
    if (this.syncing) this.fdsToClose.push(this.activeFd);
    else this.closeQuietly(this.activeFd);
  }

  private closeQuietly(fd: number): void {
    try {
      this.fs.closeSync(fd);
    } catch {
      // already closed by a failed rotation; nothing else holds it
    }
  }

  private checkUsable(): void {
    if (this.failed !== null) throw this.failed;
    if (this.closed) throw new StoreUnavailableError('store is closed');
  }

  /**
   * Seal the active segment and start `<nextSeq>.wal`. The old segment is fsynced first
   * (synchronously) and the directory after creating the new file, so a power loss can only
   * ever tear the tail of the LAST segment: the recovery rules depend on that.
   */
  rotate(nextSeq: Seq): void {
    this.checkUsable();
    assert.equal(this.pendingBytes, 0, 'rotate after flush');
    if (this.active.bytes === 0) return; // the empty active segment already starts at nextSeq
    assert.equal(nextSeq, this.lastAppendedSeq + 1);
    const path = join(this.logDir, seqName(nextSeq, SEGMENT_EXT));
    let next = -1;
    try {
      this.trimActive(); // a sealed segment ends at its last record (only the last one may have a zero tail)
      this.fs.fsyncSync(this.activeFd);
      next = this.fs.openSync(path, 'wx');
      fsyncDirSync(this.logDir);
    } catch (e) {
      // The old segment stays active; recovery drops an empty new one.
      if (next >= 0) this.closeQuietly(next);
      this.fail(e as Error, 'fsync');
      return;
    }
    this.fsyncs++;
    if (this.syncing) this.fdsToClose.push(this.activeFd); // a round still uses it
    else this.fs.closeSync(this.activeFd);
    this.activeFd = next;
    this.zeroedTo = 0;
    this.segments.push({ firstSeq: nextSeq, path, bytes: 0 });
    this.presynced = false;
    if (this.writtenSeq > this.durableSeq) this.durableSeq = this.writtenSeq;
    if (this.policy === 'always') this.resolveWaiters(this.durableSeq);
  }

  /** Start a new segment now (compaction seals everything it will cover). */
  rotateNow(): void {
    this.flush();
    this.checkUsable();
    this.rotate(this.lastAppendedSeq + 1);
    this.checkUsable();
  }

  /**
   * Delete sealed segments whose entries are all <= seq. Unlinking a large file can take
   * milliseconds, so it runs in the libuv pool. Returns how many were removed.
   */
  async dropSealedThrough(seq: Seq): Promise<number> {
    const doomed: SegmentFile[] = [];
    while (this.segments.length > 1) {
      const next = this.segments[1] as SegmentFile;
      if (next.firstSeq - 1 > seq) break;
      doomed.push(this.segments.shift() as SegmentFile);
    }
    for (const s of doomed) {
      await unlink(s.path).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
    }
    if (doomed.length > 0) await fsyncDir(this.logDir);
    return doomed.length;
  }

  /** Flush and fsync synchronously (close, shutdown). */
  syncNowBlocking(trim = false): void {
    this.flush();
    if (this.failed !== null || this.closed) return;
    let err: Error | null = null;
    try {
      if (trim) this.trimActive();
      this.fs.fsyncSync(this.activeFd);
    } catch (e) {
      err = e as Error;
    }
    this.roundDone(this.writtenSeq, err);
  }

  /** Flush, fsync and release the fds. Waiters past the durable point are rejected. */
  close(): void {
    if (this.closed) return;
    this.syncNowBlocking(true); // a cleanly closed log has no zero tail
    this.closed = true;
    for (const l of this.roundListeners.splice(0)) l();
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const w of this.waiters.splice(0)) w.reject(this.failed ?? new StoreUnavailableError('store is closed'));
    // An fsync round still in flight closes its fds in its callback.
    if (this.syncing) this.fdsToClose.push(this.activeFd);
    else this.closeQuietly(this.activeFd);
  }
}
