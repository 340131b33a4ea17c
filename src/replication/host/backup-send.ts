// Backups, node side (KVSNAPSHOT): streams an exact snapshot of this node (primary or replica)
// to one client socket without stopping it. The stream is the full resync's: a fuzzy snapshot
// taken at `from` (exportSnapshot, in SNAPSHOT_BATCH_KEYS chunks, each written only when the
// socket's window has room) plus every log record appended after `from` (the store's record
// tap, sent as append frames once per turn), closed at `end`, the last record sent, once `end`
// is durable here. Loading the chunks and then applying the records gives the state at `end`
// exactly (every op is absolute and idempotent: docs/storage.md, 'Snapshots and compaction').
// Owns the streams and their bounds; never changes the store, and never holds more than a
// stream's bounded output: a reader that falls behind is cut, nothing else waits for it.

import type { Socket } from 'node:net';
import type { RecordTap, ReplicatedStore } from '../../storage/api.js';
import { formatPosition, type Position } from '../../storage/types.js';
import { recordEpochAt, recordSeqAt, recordEndAt } from '../../storage/record.js';
import { appendMessage } from '../core/append.js';
import type { NodeId } from '../core/types.js';
import { KIND_SNAP_BEGIN, KIND_SNAP_END, encodeMessageParts, encodeSnapshotChunk, encodeSnapshotHeader, type SnapshotHeader } from './framing.js';
import { SNAPSHOT_BATCH_KEYS, SNAPSHOT_PROGRESS_LOG_MS, progressText } from './resync-send.js';
import { Link } from './transport.js';

/** Snapshot streams one node serves at once (each walks the whole keyspace). */
export const BACKUP_STREAMS_MAX = 4;
/**
 * Unsent bytes a backup stream may queue (records appended faster than its reader takes them,
 * on top of the snapshot window); past it the stream is cut and the reader's file is never completed.
 */
export const BACKUP_OUTPUT_BYTES_MAX = 64 * 1024 * 1024;

/**
 * A reader that takes nothing from the stream for this long is cut: its walk would otherwise
 * hold a collection cursor, and its stream slot, forever.
 */
export const BACKUP_STALL_MS = 60_000;

/** What BEGIN says besides the snapshot header: whose data this is (restore refuses to reuse its ids). */
export interface BackupBegin extends SnapshotHeader {
  readonly nodeId: NodeId;
  /** The source's cluster members (null: not in cluster mode). */
  readonly members: readonly NodeId[] | null;
}

/** What END says besides the snapshot header: the position the backup is exact at. */
export interface BackupEnd extends SnapshotHeader {
  readonly end: Position;
}

export interface BackupSource {
  readonly store: ReplicatedStore;
  readonly nodeId: NodeId;
  readonly members: () => readonly NodeId[] | null;
  info(msg: string): void;
  warn(msg: string): void;
}

/** One stream's record feed: records after `from`, batched per turn, cut past the bound. */
interface Stream {
  readonly link: Link;
  /** Position of the last record sent or queued (the next append frame's `prev`). */
  last: Position;
  pending: Buffer[];
  pendingBytes: number;
  flushQueued: boolean;
  /** Why the stream must end early (log cut under it, reader too slow), or null. */
  failed: string | null;
}

export class BackupStreams {
  private readonly streams = new Set<Stream>();
  private nextId = 1;
  private readonly tap: RecordTap = {
    appended: (records) => {
      for (const s of this.streams) this.queueRecords(s, records);
    },
    reset: () => {
      for (const s of this.streams) this.fail(s, 'the log was cut or replaced under the snapshot (truncation, full resync or log failure)');
    },
  };

  constructor(private readonly src: BackupSource) {}

  /** Null when another stream may start, else the refusal. */
  refusal(): string | null {
    return this.streams.size >= BACKUP_STREAMS_MAX ? `ERR ${BACKUP_STREAMS_MAX} snapshot streams already running on this node; retry later` : null;
  }

  /** The KVSNAPSHOT reply is written: the socket is ours. Streams until done or cut; never throws. */
  start(socket: Socket, peer: string): void {
    const id = `backup-${this.nextId++}`;
    const link = new Link(socket, id, peer, false, {
      onFrame: (l) => l.close('a snapshot reader sent data'),
      onClose: (_l, reason) => this.closed(stream, reason),
    }, Buffer.alloc(0));
    const store = this.src.store;
    const snap = store.exportSnapshot(SNAPSHOT_BATCH_KEYS, { keepExpired: true });
    const stream: Stream = { link, last: snap.from, pending: [], pendingBytes: 0, flushQueued: false, failed: null };
    this.streams.add(stream);
    if (this.streams.size === 1) store.setRecordTap(this.tap);
    void this.run(stream, snap, id).catch((e: Error) => this.fail(stream, e.message)).finally(() => this.stop(stream));
  }

  private async run(s: Stream, snap: ReturnType<ReplicatedStore['exportSnapshot']>, id: string): Promise<void> {
    const store = this.src.store;
    const keysTotal = store.size;
    // The user table travels as a full resync's does: later ACL changes are records after `from`.
    const begin: BackupBegin = { from: snap.from, epochHistory: snap.epochHistory, keys: keysTotal, bytes: 0, nodeId: this.src.nodeId, members: this.src.members(), ...(snap.users !== null ? { users: snap.users.toString('base64') } : {}), ...(snap.functions !== null ? { functions: snap.functions.toString('base64') } : {}) };
    s.link.send(encodeSnapshotHeader(KIND_SNAP_BEGIN, begin));
    this.src.info(`${id} to ${s.link.peerAddress}: streaming about ${keysTotal} keys from ${formatPosition(snap.from)}`);
    const sent = { items: 0, bytes: 0, chunks: 0, lastLogMs: Date.now() };
    for await (const batch of snap.batches()) {
      if (!(await this.writable(s)) || s.failed !== null) return this.abandon(s, id, sent.items);
      const frame = encodeSnapshotChunk(++sent.chunks, batch);
      sent.items += batch.length;
      sent.bytes += frame.length;
      s.link.sendChunk(frame);
      if (Date.now() - sent.lastLogMs >= SNAPSHOT_PROGRESS_LOG_MS) {
        sent.lastLogMs = Date.now();
        this.src.info(`${id}: ${progressText(sent.items, sent.bytes, keysTotal)}`);
      }
    }
    // The walk is done: the records up to the store's last position complete it. Stop feeding
    // this stream in the same turn, so `end` is exactly its last record.
    this.detachFeed(s);
    this.flushRecords(s);
    const end = s.last;
    if (s.failed !== null || s.link.isClosed) return this.abandon(s, id, sent.items);
    // A backup holds only what this node has made durable (a crash here could not take it back).
    await store.whenDurable(end.seq);
    if (s.failed !== null || s.link.isClosed) return this.abandon(s, id, sent.items);
    const endFrame: BackupEnd = { from: snap.from, epochHistory: store.epochHistory, keys: sent.items, bytes: sent.bytes, end };
    s.link.send(encodeSnapshotHeader(KIND_SNAP_END, endFrame));
    this.src.info(`${id}: sent ${sent.items} items, ${sent.bytes} bytes of snapshot and the log to ${formatPosition(end)}`);
    // end() sends what is queued, then the end of the stream; a reader that stops taking it
    // before that is cut like any stalled one.
    s.link.socket.end();
    setTimeout(() => s.link.socket.destroy(), BACKUP_STALL_MS).unref();
  }

  /** The link's window has room (true), or the stream ended: closed, or cut after BACKUP_STALL_MS without progress. */
  private async writable(s: Stream): Promise<boolean> {
    if (s.link.isClosed) return false;
    const timer = setTimeout(() => this.fail(s, `the reader took nothing for ${BACKUP_STALL_MS} ms`), BACKUP_STALL_MS);
    try {
      return await s.link.whenWritable();
    } finally {
      clearTimeout(timer);
    }
  }

  private abandon(s: Stream, id: string, items: number): void {
    this.src.warn(`${id} abandoned after ${items} items: ${s.failed ?? 'the reader closed the connection'}`);
    s.link.close(s.failed ?? 'closed');
  }

  /** Copy the tapped records (a view of the log's buffer) into the stream's next append frame. */
  private queueRecords(s: Stream, records: Buffer): void {
    if (s.failed !== null) return;
    if (s.link.outputBytes + s.pendingBytes + records.length > BACKUP_OUTPUT_BYTES_MAX) {
      this.fail(s, `the reader fell more than ${BACKUP_OUTPUT_BYTES_MAX} bytes behind the log`);
      return;
    }
    s.pending.push(Buffer.from(records));
    s.pendingBytes += records.length;
    if (!s.flushQueued) {
      s.flushQueued = true;
      setImmediate(() => {
        s.flushQueued = false;
        this.flushRecords(s);
      });
    }
  }

  /** Send the queued records as one append frame (the frame checks their order when read). */
  private flushRecords(s: Stream): void {
    if (s.pendingBytes === 0 || s.failed !== null) return;
    const records = s.pending.length === 1 ? (s.pending[0] as Buffer) : Buffer.concat(s.pending, s.pendingBytes);
    s.pending = [];
    s.pendingBytes = 0;
    let lastOff = 0;
    for (let off = 0; off < records.length; off = recordEndAt(records, off)) lastOff = off;
    const prev = s.last;
    s.last = { epoch: recordEpochAt(records, lastOff), seq: recordSeqAt(records, lastOff) };
    s.link.sendParts(encodeMessageParts(appendMessage(s.last.epoch, prev, 0, records)));
  }

  private fail(s: Stream, why: string): void {
    if (s.failed !== null) return;
    s.failed = why;
    s.pending = [];
    s.pendingBytes = 0;
    // The walk notices at its next chunk; a stream waiting for its window is woken by the close.
    s.link.close(why);
  }

  private closed(s: Stream, reason: string): void {
    if (s.failed === null && this.streams.has(s)) s.failed = reason;
  }

  private detachFeed(s: Stream): void {
    if (!this.streams.delete(s)) return;
    if (this.streams.size === 0) this.src.store.setRecordTap(null);
  }

  private stop(s: Stream): void {
    this.detachFeed(s);
    if (s.failed !== null) s.link.close(s.failed);
  }

  /** Shutdown: cut every stream (their readers never complete a file). */
  stopAll(): void {
    for (const s of [...this.streams]) this.fail(s, 'the node is shutting down');
  }
}
