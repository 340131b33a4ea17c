// Full resync, primary side: streams a fuzzy snapshot of the store to one replica in chunks,
// each written only when the link's window has room, then tells the core where the stream
// began. Owns the per-peer stream tokens (a newer stream, a role change or a closed link ends
// one); never touches the log.

import assert from 'node:assert';
import type { SnapshotItem, ReplicatedStore } from '../../storage/api.js';
import { formatPosition, type Position } from '../../storage/types.js';
import type { NodeId } from '../core/types.js';
import { KIND_SNAP_BEGIN, KIND_SNAP_END, configsToWire, encodeSnapshotChunk, encodeSnapshotHeader, type SnapshotHeader } from './framing.js';
import type { ReplLink } from './runtime.js';

/** Keys per snapshot chunk streamed during a full resync (bounded frame size and memory). */
export const SNAPSHOT_BATCH_KEYS = 1000;
/** A full resync logs its progress at most this often. */
export const SNAPSHOT_PROGRESS_LOG_MS = 1000;

export interface SnapshotSendHooks {
  nowMs(): number;
  info(msg: string): void;
  warn(msg: string): void;
  /** Streams run only while this node is primary. */
  isPrimary(): boolean;
  /** Send what the outbox holds for `peer` (the welcome that announced the resync goes first). */
  flushOutbox(peer: NodeId): void;
  /** The whole snapshot, taken at `from`, is on the link: the core streams entries after it. */
  sent(peer: NodeId, from: Position): void;
}

export class SnapshotSender {
  /** Per peer, the token of the stream allowed to run. */
  private readonly streams = new Map<NodeId, object>();

  constructor(
    private readonly store: ReplicatedStore,
    private readonly hooks: SnapshotSendHooks,
  ) {}

  /** Stop the stream to `peer`, if any (its link went down). */
  cancel(peer: NodeId): void {
    this.streams.delete(peer);
  }

  /** Stop every stream (the log rolled back under their snapshots); returns the peers they were for. */
  cancelAll(): NodeId[] {
    const peers = [...this.streams.keys()];
    this.streams.clear();
    return peers;
  }

  async stream(peer: NodeId, link: ReplLink): Promise<void> {
    const token = {};
    this.streams.set(peer, token);
    const alive = (): boolean => !link.isClosed && this.streams.get(peer) === token && this.hooks.isPrimary();
    const snap = this.store.exportSnapshot(SNAPSHOT_BATCH_KEYS);
    const keysTotal = this.store.size;
    this.hooks.info(`full resync to ${peer}: streaming about ${keysTotal} keys from ${formatPosition(snap.from)}`);
    this.hooks.flushOutbox(peer);
    const begin: SnapshotHeader = {
      from: snap.from,
      epochHistory: snap.epochHistory,
      keys: keysTotal,
      bytes: 0,
      ...(snap.users !== null ? { users: snap.users.toString('base64') } : {}),
      ...(snap.functions !== null ? { functions: snap.functions.toString('base64') } : {}),
      // The replica's core takes its configuration in force from them (snapshotLoaded).
      ...(snap.configs.length > 0 ? { configs: configsToWire(snap.configs) } : {}),
    };
    link.send(encodeSnapshotHeader(KIND_SNAP_BEGIN, begin));
    const sent = { keys: 0, bytes: 0, chunks: 0, lastLogMs: this.hooks.nowMs() };
    for await (const batch of snap.batches()) {
      // Checked after the window opens, so an ended stream never writes a chunk after a newer stream's begin.
      if (!(await link.whenWritable()) || !alive()) {
        this.hooks.warn(`full resync to ${peer} abandoned after ${sent.keys} keys (link or role changed)`);
        return;
      }
      this.sendChunk(peer, link, batch, sent, keysTotal);
    }
    if (!alive()) return;
    this.hooks.flushOutbox(peer);
    link.send(encodeSnapshotHeader(KIND_SNAP_END, { from: snap.from, epochHistory: snap.epochHistory, keys: sent.keys, bytes: sent.bytes }));
    this.streams.delete(peer);
    this.hooks.info(`full resync to ${peer}: sent ${sent.keys} keys, ${sent.bytes} bytes in ${sent.chunks} chunks; streaming entries after ${formatPosition(snap.from)}`);
    this.hooks.sent(peer, snap.from);
  }

  private sendChunk(peer: NodeId, link: ReplLink, batch: readonly SnapshotItem[], sent: { keys: number; bytes: number; chunks: number; lastLogMs: number }, keysTotal: number): void {
    assert(batch.length > 0 && batch.length <= SNAPSHOT_BATCH_KEYS, 'a snapshot batch holds 1..SNAPSHOT_BATCH_KEYS keys');
    const frame = encodeSnapshotChunk(++sent.chunks, batch);
    sent.keys += batch.length;
    sent.bytes += frame.length;
    link.sendChunk(frame);
    const now = this.hooks.nowMs();
    if (now - sent.lastLogMs >= SNAPSHOT_PROGRESS_LOG_MS) {
      sent.lastLogMs = now;
      this.hooks.info(`full resync to ${peer}: ${progressText(sent.keys, sent.bytes, keysTotal)}`);
    }
  }
}

export function progressText(keys: number, bytes: number, keysTotal: number): string {
  const pct = keysTotal > 0 ? Math.min(100, Math.floor((keys * 100) / keysTotal)) : 100;
  return `${keys} keys, ${bytes} bytes (${pct}%)`;
}
