// Open-time recovery: finish an interrupted full-resync commit, load the newest valid
// snapshot, replay the log after it, apply the torn-tail / corruption / repair rules, and
// rebuild the epoch history (and, with the keyspace, the membership configurations: the
// snapshot's, then those the replay sets). Also serves truncateAfter (replay stopping at a seq).
// Owns the recovery rules; never keeps files open and never serves requests.

import assert from 'node:assert';
import { existsSync, fstatSync, statSync, ftruncateSync, fsyncSync, openSync, closeSync, readSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { EpochStart, Position, Seq } from './types.js';
import { Keyspace, keyspaceSink } from './keyspace.js';
import { checkRecord, replayRecordOps, seqFromWords, RECORD_BODY_BYTES_MAX, RECORD_HEADER_BYTES, type CheckResult } from './record.js';
import { REDIS_ENCODING_LIMITS, TYPE_STRING, type EncodingLimits } from './collection.js';
import { readSnapshot, sealSnapshotPrefix, snapshotKeyCountHint } from './snapshot.js';
import { CorruptLogError } from './errors.js';
import { describeSpan, encodeCheckedJson, readCheckedJson, scanRecords, type RepairFolder } from './damage.js';
import { atomicWriteFileSync, fsyncDirSync, listSeqFiles, seqName, unlinkIfExists } from './fsutil.js';
import { SEGMENT_EXT, type SegmentFile } from './wal.js';

export const SNAPSHOT_EXT = '.snap';
export const RESYNC_SNAPSHOT = 'resync.snap';
export const EPOCHS_FILE = 'epochs.json';
/** Log bytes read per window during replay (a record larger than this gets its own window). */
const REPLAY_READ_BYTES = 4 * 1024 * 1024;
/** Records replayed before the keyspace is sized from the log's average record size. */
const REPLAY_SAMPLE_RECORDS = 1024;
/** Seq window used to recognise a plausible record when deciding "torn tail or corruption". */
const TAIL_PROBE_SEQ_WINDOW = 1_000_000;

export interface Layout {
  readonly dir: string;
  readonly logDir: string;
  readonly snapDir: string;
}

export interface RecoveredState {
  readonly ks: Keyspace;
  readonly lastPosition: Position;
  readonly history: EpochStart[];
  readonly snapshotSeq: Seq;
  readonly snapshotBytes: number;
  /** Sealed segments then the active one (last); the active one exists on disk. */
  readonly segments: SegmentFile[];
}

/**
 * Extend `history` for an entry of `epoch` at `seq`. An older epoch than the newest is
 * accepted only if the newer ones are empty (a beginEpoch that wrote nothing): they are
 * dropped. Returns null, or an error message.
 */
export function extendHistory(history: EpochStart[], epoch: number, seq: Seq): string | null {
  let last = history[history.length - 1];
  if (last !== undefined && epoch === last.epoch) return null;
  while (last !== undefined && last.epoch > epoch) {
    if (last.startSeq < seq) return `entry ${epoch}:${seq} is older than epoch ${last.epoch}, which has entries`;
    history.pop();
    last = history[history.length - 1];
  }
  if (last === undefined || last.epoch < epoch) history.push({ epoch, startSeq: seq });
  return null;
}

export function encodeEpochs(history: readonly EpochStart[]): Buffer {
  return encodeCheckedJson({ history: history.map((h) => [h.epoch, h.startSeq]) });
}

const EPOCHS_LOST = 'the epochs begun without entries (the log and snapshot keep the others)';

function epochsFault(doc: unknown): string | null {
  const history = typeof doc === 'object' && doc !== null ? (doc as { history?: unknown }).history : undefined;
  if (!Array.isArray(history)) return 'no history array';
  for (const pair of history as unknown[]) {
    if (!Array.isArray(pair) || !Number.isSafeInteger(pair[0]) || !Number.isSafeInteger(pair[1])) return 'bad history entry';
  }
  return null;
}

/** epochs.json's history (checksummed, or the plain JSON of earlier versions); missing = []. */
function readEpochs(layout: Layout, repair: RepairFolder | null, warn: (msg: string) => void): EpochStart[] {
  const doc = readDocument(layout, EPOCHS_FILE, EPOCHS_LOST, epochsFault, repair, warn) as { history: Array<[number, number]> } | undefined;
  return doc === undefined ? [] : doc.history.map(([epoch, startSeq]) => ({ epoch, startSeq }));
}

/** Remove leftovers of interrupted atomic writes (they were never renamed into place). */
function removeTempFiles(dir: string): void {
  for (const name of readdirSync(dir)) if (name.endsWith('.tmp')) unlinkIfExists(join(dir, name));
}

/**
 * A full-resync commit is made durable by renaming its snapshot to snap/resync.snap; the
 * rest (dropping the old log and snapshots, renaming to <seq>.snap, epochs.json) is redone
 * here if a crash interrupted it. An invalid resync.snap cannot come from a crash (renamed
 * after fsync): damaged later, it is refused, or a repair removes it and the older files count.
 */
export function finishResync(layout: Layout, repair: RepairFolder | null = null, warn: (msg: string) => void = () => undefined): void {
  const path = join(layout.snapDir, RESYNC_SNAPSHOT);
  if (!existsSync(path)) return;
  const r = readSnapshot(path, () => undefined);
  if (!r.ok) {
    const lost = 'the full resync it commits (the files from before it are read instead)';
    if (repair === null) throw new CorruptLogError(path, r.offset, r.reason, { dir: layout.dir, lost });
    const copy = repair.keep(path, 0);
    unlinkIfExists(path);
    fsyncDirSync(layout.snapDir);
    warn(`repair: removed ${path} (offset ${r.offset}: ${r.reason}): dropped ${lost}; the original is kept as ${copy}`);
    return;
  }
  for (const s of listSeqFiles(layout.logDir, SEGMENT_EXT)) unlinkIfExists(s.path);
  fsyncDirSync(layout.logDir);
  for (const s of listSeqFiles(layout.snapDir, SNAPSHOT_EXT)) unlinkIfExists(s.path);
  renameSync(path, join(layout.snapDir, seqName(r.header.position.seq, SNAPSHOT_EXT)));
  fsyncDirSync(layout.snapDir);
  atomicWriteFileSync(layout.dir, EPOCHS_FILE, encodeEpochs(r.header.history));
}

/**
 * Reads one log segment forward in REPLAY_READ_BYTES windows (one reused buffer) instead of
 * the whole file: recovery's memory stays bounded and no 64 MiB segment buffer lingers in RSS
 * after open. Offsets given to it are file offsets; `view` and the check results are relative
 * to the window starting at `base`.
 */
class SegmentReader {
  readonly size: number;
  private readonly fd: number;
  /** File offset of view[0]. */
  base = 0;
  view: Buffer;

  /** `shared.b` is one read buffer reused across all segments of a recovery (grown in place). */
  constructor(
    path: string,
    private readonly shared: { b: Buffer },
  ) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
    this.view = shared.b.subarray(0, 0);
  }

  /** Check the record at file offset `off`, loading a window that holds it whole if the file does. */
  check(off: number): CheckResult {
    assert(off >= this.base, 'segments are read forward');
    const end = this.base + this.view.length;
    if (off + RECORD_HEADER_BYTES > end && end < this.size) this.load(off, RECORD_HEADER_BYTES);
    const r = checkRecord(this.view, off - this.base);
    if (r.ok || r.why !== 'short' || this.base + this.view.length >= this.size) return r;
    // The record runs past the window, not past the file: load a window that starts at it.
    this.load(off, RECORD_HEADER_BYTES + this.view.readUInt32LE(off - this.base));
    return checkRecord(this.view, 0);
  }

  /** Everything from `off` to the end of the file (the rare torn-tail probe). */
  readFrom(off: number): Buffer {
    const b = Buffer.allocUnsafe(this.size - off);
    readFully(this.fd, b, off);
    return b;
  }

  close(): void {
    closeSync(this.fd);
  }

  private load(off: number, bytes: number): void {
    const n = Math.min(this.size - off, Math.max(bytes, REPLAY_READ_BYTES));
    if (n > this.shared.b.length) this.shared.b = Buffer.allocUnsafeSlow(n);
    readFully(this.fd, this.shared.b.subarray(0, n), off);
    this.base = off;
    this.view = this.shared.b.subarray(0, n);
  }
}

function readFully(fd: number, b: Buffer, pos: number): void {
  let got = 0;
  while (got < b.length) {
    const r = readSync(fd, b, got, b.length - got, pos + got);
    assert(r > 0, 'segment shrank while being read');
    got += r;
  }
}

function truncateFile(path: string, size: number): void {
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, size);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function allZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** True if some offset after `from` holds a valid record with a plausible seq (i.e. not a torn tail). */
function validRecordAfter(buf: Buffer, from: number, afterSeq: Seq): boolean {
  for (let k = from; k + RECORD_HEADER_BYTES + 16 <= buf.length; k++) {
    const len = buf.readUInt32LE(k);
    if (len < 16 || len > RECORD_BODY_BYTES_MAX || k + RECORD_HEADER_BYTES + len > buf.length) continue;
    const seq = seqFromWords(buf.readUInt32LE(k + 12), buf.readUInt32LE(k + 16));
    if (seq <= afterSeq || seq > afterSeq + TAIL_PROBE_SEQ_WINDOW) continue;
    if (checkRecord(buf, k).ok) return true;
  }
  return false;
}

interface InvalidSnapshot {
  readonly path: string;
  readonly seq: Seq;
  readonly offset: number;
  readonly reason: string;
  readonly validEnd: number;
  readonly keys: number;
  readonly blocks: number;
}

type LoadedSnapshot =
  | { readonly ok: true; readonly ks: Keyspace; readonly position: Position; readonly history: EpochStart[]; readonly bytes: number }
  | ({ readonly ok: false } & InvalidSnapshot);

function loadSnapshot(path: string, seq: Seq, limits: Readonly<EncodingLimits>): LoadedSnapshot {
  const scratch = new Keyspace(limits);
  const hint = snapshotKeyCountHint(path);
  if (hint !== null) scratch.reserve(hint);
  // Items go from the block buffer straight into the slabs: no key string, no value Buffer.
  const r = readSnapshot(path, (b, ko, kl, vo, vl, e, type) => {
    if (type === TYPE_STRING) scratch.putBytes(b, ko, kl, vo, vl, e);
    else scratch.loadObject(b.latin1Slice(ko, ko + kl), b, vo, vl, e);
  }, (users) => scratch.setAclUsers(users), (configs) => scratch.setMemberConfigs(configs), (libraries) => scratch.setFunctionLibraries(libraries));
  if (!r.ok) return { ok: false, path, seq, offset: r.offset, reason: r.reason, validEnd: r.validEnd, keys: r.keys, blocks: r.blocks };
  assert.equal(r.header.position.seq, seq, 'snapshot name and header disagree');
  return { ok: true, ks: scratch, position: r.header.position, history: r.header.history, bytes: r.bytes };
}

/** What cutting a damaged snapshot at its last whole block loses. */
function snapshotLoss(inv: InvalidSnapshot): string {
  const size = statSync(inv.path).size;
  const total = snapshotKeyCountHint(inv.path);
  if (inv.validEnd === 0) return `all of its keys (${total ?? 'count unknown'}; written up to seq ${inv.seq}), ${size} byte(s)`;
  const keys = total === null ? 'the keys (count unknown: the trailer is cut)' : `${total - inv.keys} of its ${total} keys`;
  return `${keys} in bytes ${inv.validEnd}..${size} (written up to seq ${inv.seq}), keeping the ${inv.keys} keys before them`;
}

/**
 * Read meta.json or epochs.json (checksummed; earlier versions' plain JSON accepted). A damaged
 * one is refused, or under repair moved into the repair folder (the caller reads it as absent).
 */
export function readDocument(
  layout: Layout,
  name: string,
  lost: string,
  fault: (doc: unknown) => string | null,
  repair: RepairFolder | null,
  warn: (msg: string) => void,
): unknown {
  const path = join(layout.dir, name);
  try {
    const doc = readCheckedJson(path, layout.dir);
    const why = doc === undefined ? null : fault(doc);
    if (why !== null) throw new CorruptLogError(path, 0, why, { dir: layout.dir, lost });
    return doc;
  } catch (e) {
    if (!(e instanceof CorruptLogError) || repair === null) throw e;
    const copy = repair.keep(path, 0);
    unlinkIfExists(path);
    fsyncDirSync(layout.dir);
    warn(`repair: removed ${path} (${e.reason}): dropped ${lost}; the file is kept as ${copy}`);
    return undefined;
  }
}

export function recover(args: {
  layout: Layout;
  /** Where a repair keeps the bytes it cuts; null = refuse damaged files. */
  repair: RepairFolder | null;
  warn: (msg: string) => void;
  /** truncateAfter: stop the log after this seq, cutting the files there. */
  stopAfterSeq?: Seq;
  /** The store's live encoding limits (default: Redis's). */
  limits?: Readonly<EncodingLimits>;
}): RecoveredState {
  const { layout, warn, repair } = args;
  const limits = args.limits ?? REDIS_ENCODING_LIMITS;
  finishResync(layout, repair, warn);
  removeTempFiles(layout.snapDir);
  removeTempFiles(layout.logDir);
  removeTempFiles(layout.dir);

  // 1. The newest valid snapshot. An invalid one is passed over only while the log it replaced
  // still holds its data (checked here and after replay); else the open is refused, or a
  // repair cuts it to its whole blocks.
  let ks = new Keyspace(limits);
  let lastPosition: Position = { epoch: 0, seq: 0 };
  let history: EpochStart[] = [{ epoch: 1, startSeq: 1 }];
  let snapshotSeq = 0;
  let snapshotBytes = 0;
  const adopt = (s: LoadedSnapshot & { ok: true }): void => {
    ks = s.ks;
    lastPosition = s.position;
    history = s.history.length > 0 ? s.history.slice() : history;
    snapshotSeq = s.position.seq;
    snapshotBytes = s.bytes;
  };
  const files = listSeqFiles(layout.logDir, SEGMENT_EXT);
  const logFirstSeq = files[0]?.seq ?? Number.POSITIVE_INFINITY;
  const invalid: InvalidSnapshot[] = [];
  for (const s of listSeqFiles(layout.snapDir, SNAPSHOT_EXT).reverse()) {
    const loaded = loadSnapshot(s.path, s.seq, limits);
    if (!loaded.ok) {
      invalid.push(loaded);
      continue;
    }
    adopt(loaded);
    break;
  }
  const passedOver: InvalidSnapshot[] = [];
  for (const inv of invalid) {
    const where = `${inv.path} (offset ${inv.offset}: ${inv.reason})`;
    if (logFirstSeq <= snapshotSeq + 1) {
      warn(`invalid snapshot ${where}: replaying the log it replaced instead (from seq ${snapshotSeq + 1})`);
      passedOver.push(inv);
      continue;
    }
    const lost = `${snapshotLoss(inv)}; no other file holds them (the log starts at seq ${logFirstSeq})`;
    if (repair === null) throw new CorruptLogError(inv.path, inv.offset, inv.reason, { dir: layout.dir, lost });
    const copy = repair.keep(inv.path, 0);
    warn(`repair: cut snapshot ${where} at offset ${inv.validEnd}: dropped ${lost}; the original is kept as ${copy}`);
    if (inv.validEnd === 0) {
      unlinkIfExists(inv.path);
      fsyncDirSync(layout.snapDir);
      continue;
    }
    sealSnapshotPrefix(inv.path, inv.validEnd, inv.keys, inv.blocks);
    const again = loadSnapshot(inv.path, inv.seq, limits);
    assert(again.ok, 'a sealed snapshot prefix reads back');
    adopt(again);
    break;
  }
  if (args.stopAfterSeq !== undefined && snapshotSeq > args.stopAfterSeq) {
    throw new Error(`cannot truncate after seq ${args.stopAfterSeq}: the snapshot already covers up to ${snapshotSeq} (full resync needed)`);
  }

  // 2. Replay the log after it.
  const segments: SegmentFile[] = [];
  let lastSeqInLog: Seq = 0;
  let lastRecordSegment = -1;
  const dropFrom = (i: number): void => {
    for (const f of files.slice(i)) unlinkIfExists(f.path);
    fsyncDirSync(layout.logDir);
  };
  // Replay decodes each record's ops straight into the keyspace (no LogEntry / Op objects).
  // `ks` is reassigned only above, before replay starts, so the sink may close over it.
  const replayKs = ks;
  const sink = keyspaceSink(replayKs);
  // Size the keyspace once from the log's length and the first records' average size (like
  // Redis's RESIZEDB hint, which an AOF lacks): a 1M-key log then replays without ~15 table
  // rehashes. An over-estimate (overwrites, deletes) is given back by trim() below.
  const logBytes = files.reduce((n, f) => n + statSync(f.path).size, 0);
  let sampled = false;
  const readBuf = { b: Buffer.allocUnsafeSlow(REPLAY_READ_BYTES) };
  outer: for (let i = 0; i < files.length; i++) {
    const f = files[i] as { seq: number; path: string };
    const reader = new SegmentReader(f.path, readBuf);
    const isLast = i === files.length - 1;
    let off = 0;
    let failure: string | null = null;
    try {
      while (off < reader.size) {
        const r = reader.check(off);
        if (!r.ok) {
          failure = `${r.why}: ${r.detail}`;
          break;
        }
        const e = r;
        if (off === 0 && e.seq !== f.seq) {
          failure = `first record has seq ${e.seq} but the file name says ${f.seq}`;
          break;
        }
        if (lastSeqInLog !== 0 && e.seq !== lastSeqInLog + 1 && e.seq > snapshotSeq) {
          failure = `seq ${e.seq} follows ${lastSeqInLog} (gap or duplicate)`;
          break;
        }
        if (args.stopAfterSeq !== undefined && e.seq > args.stopAfterSeq) {
          truncateFile(f.path, off);
          segments.push({ firstSeq: f.seq, path: f.path, bytes: off });
          dropFrom(i + 1);
          break outer;
        }
        if (e.seq > snapshotSeq) {
          if (e.seq !== lastPosition.seq + 1) {
            failure = `seq ${e.seq} does not follow ${lastPosition.seq} (the log has a gap after the snapshot)`;
            break;
          }
          const herr = extendHistory(history, e.epoch, e.seq);
          if (herr !== null) {
            failure = herr;
            break;
          }
          replayKs.beginEntry(e.seq);
          replayRecordOps(reader.view, r, sink);
          lastPosition = { epoch: e.epoch, seq: e.seq };
        }
        lastSeqInLog = e.seq;
        lastRecordSegment = i;
        off = reader.base + r.next;
        if (!sampled && i === 0 && e.seq - f.seq + 1 === REPLAY_SAMPLE_RECORDS) {
          sampled = true;
          replayKs.reserve(replayKs.size + (logBytes * REPLAY_SAMPLE_RECORDS) / off);
        }
      }
      if (failure === null && off === 0 && !isLast) failure = 'empty sealed segment';
      if (failure !== null) {
        const rest = isLast ? reader.readFrom(off) : null;
        if (rest !== null && allZero(rest)) {
          // The active segment's zeros ahead of its records under 'always' (wal.ts PREZERO_BYTES),
          // or a crash right after they were written: not log, and no record is lost.
          truncateFile(f.path, off);
        } else if (rest !== null && !validRecordAfter(rest, 1, lastSeqInLog)) {
          warn(`torn record at the end of ${f.path} at offset ${off} (${failure}); truncated ${reader.size - off} bytes (no whole record after seq ${lastSeqInLog})`);
          truncateFile(f.path, off);
        } else {
          // Everything from here on goes if the log is cut here: this file's rest and the later segments.
          const cut = [{ path: f.path, from: off, minSeq: lastSeqInLog + 1 }, ...files.slice(i + 1).map((x) => ({ path: x.path, from: 0, minSeq: x.seq }))];
          const lost = `${describeSpan(scanRecords(cut))} after seq ${lastSeqInLog}`;
          if (repair === null) throw new CorruptLogError(f.path, off, failure, { dir: layout.dir, lost });
          for (const c of cut) repair.keep(c.path, c.from);
          truncateFile(f.path, off);
          dropFrom(i + 1);
          warn(`repair: cut ${f.path} at offset ${off} (${failure}) and removed ${files.length - 1 - i} later segment(s): dropped ${lost}; the cut bytes are kept in ${repair.where ?? ''}`);
          segments.push({ firstSeq: f.seq, path: f.path, bytes: off });
          break;
        }
      }
    } finally {
      reader.close();
    }
    segments.push({ firstSeq: f.seq, path: f.path, bytes: off });
  }

  ks.trim();

  // An invalid snapshot passed over must be covered by the log that replaced it.
  for (const inv of passedOver) {
    if (inv.seq <= lastPosition.seq) continue;
    const lost = `${snapshotLoss(inv)}; the log ends at seq ${lastPosition.seq}`;
    if (repair === null) throw new CorruptLogError(inv.path, inv.offset, inv.reason, { dir: layout.dir, lost });
    const copy = repair.keep(inv.path, 0);
    unlinkIfExists(inv.path);
    fsyncDirSync(layout.snapDir);
    warn(`repair: removed snapshot ${inv.path} (offset ${inv.offset}: ${inv.reason}): dropped ${lost}; the original is kept as ${copy}`);
  }

  // 3. The active segment must start right after the last position.
  const nextSeq = lastPosition.seq + 1;
  const last = segments[segments.length - 1];
  const lastHoldsTail = last !== undefined && last.bytes > 0 && lastRecordSegment === segments.length - 1 && lastSeqInLog === lastPosition.seq;
  if (last !== undefined && last.bytes === 0 && last.firstSeq !== nextSeq) {
    unlinkIfExists(last.path);
    segments.pop();
  }
  const tail = segments[segments.length - 1];
  if (tail === undefined || (tail.bytes > 0 && !lastHoldsTail)) {
    const path = join(layout.logDir, seqName(nextSeq, SEGMENT_EXT));
    closeSync(openSync(path, 'wx'));
    fsyncDirSync(layout.logDir);
    segments.push({ firstSeq: nextSeq, path, bytes: 0 });
  }

  // 4. Epochs begun but without entries live in epochs.json (written by beginEpoch).
  for (const h of readEpochs(layout, repair, warn)) {
    const top = history[history.length - 1] as EpochStart;
    if (h.epoch > top.epoch) history.push({ epoch: h.epoch, startSeq: Math.max(top.startSeq, Math.min(h.startSeq, nextSeq)) });
  }
  return { ks, lastPosition, history, snapshotSeq, snapshotBytes, segments };
}
