// Full resync, replica side: loads the snapshot stream the core said to expect beside the live
// dataset, checks it arrived whole and in order, and commits it. Owns the load in progress and
// the links whose unannounced stream is being dropped; never applies log entries and never
// commits a load the core no longer wants.

import assert from 'node:assert';
import type { SnapshotLoader, ReplicatedStore } from '../../storage/api.js';
import { formatPosition } from '../../storage/types.js';
import type { NodeId } from '../core/types.js';
import { decodeSnapshotChunk, decodeSnapshotHeader, headerConfigs, type Frame, type SnapshotHeader } from './framing.js';
import { SNAPSHOT_PROGRESS_LOG_MS, progressText } from './resync-send.js';
import type { ReplLink } from './runtime.js';

interface Loading {
  readonly peer: NodeId;
  readonly loader: SnapshotLoader;
  header: SnapshotHeader | null;
  /** Items received (a big collection is several items, and a fuzzy snapshot may repeat a key, so this can exceed loader.keys). */
  items: number;
  /** The chunk number the stream sends next (chunks are numbered from 1 per stream). */
  nextChunk: number;
  lastLogMs: number;
}

export interface SnapshotReceiveHooks {
  nowMs(): number;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  /** The core still waits for a snapshot from `peer`. */
  acceptable(peer: NodeId): boolean;
  /** The store now holds the snapshot at `header.from`: step the core. */
  loaded(peer: NodeId, header: SnapshotHeader): Promise<void>;
}

export class SnapshotReceiver {
  private loading: Loading | null = null;
  /** Links whose current stream was not announced: its frames are dropped until its end. */
  private readonly stale = new Set<ReplLink>();

  constructor(
    private readonly store: ReplicatedStore,
    private readonly hooks: SnapshotReceiveHooks,
  ) {}

  /** The core announced a full resync from `primary`: a new load replaces any other. */
  expect(primary: NodeId): void {
    this.loading?.loader.abort();
    this.loading = { peer: primary, loader: this.store.beginLoad(), header: null, items: 0, nextChunk: 1, lastLogMs: this.hooks.nowMs() };
  }

  abort(): void {
    this.loading?.loader.abort();
    this.loading = null;
  }

  /**
   * `link` closed. When it was the peer's current link, a load from that peer cannot resume on
   * another link: it is dropped (true).
   */
  linkClosed(link: ReplLink, current: boolean): boolean {
    this.stale.delete(link);
    if (!current || this.loading?.peer !== link.peerId) return false;
    this.hooks.warn(`full resync from ${link.peerId} interrupted after ${this.loading.loader.keys} keys`);
    this.abort();
    return true;
  }

  begin(link: ReplLink, f: Frame): void {
    const l = this.loading;
    const h = decodeSnapshotHeader(f);
    if (!h.ok) return link.close(h.error);
    // decodeSnapshotHeader checked them.
    const configs = headerConfigs(h.value);
    if (typeof configs === 'string') return link.close(configs);
    this.stale.delete(link);
    if (l === null || l.peer !== link.peerId) {
      // The primary answered a hello of ours twice and we already loaded, or gave up on, the
      // first: dropped whole, the link kept (the primary then streams from its position).
      this.stale.add(link);
      this.hooks.info(`dropping a full resync stream from ${link.peerId} that was not announced (a duplicate answer)`);
      return;
    }
    if (l.header !== null) {
      // A second stream replaces one the primary abandoned midway: start the load over, or keys
      // of the first, older snapshot would survive in this one.
      l.loader.abort();
      this.loading = { ...l, loader: this.store.beginLoad(), items: 0, nextChunk: 1, header: h.value };
    } else {
      l.header = h.value;
    }
    const loader = (this.loading as Loading).loader;
    if (h.value.users !== undefined) loader.setUsers(Buffer.from(h.value.users, 'base64'));
    if (h.value.functions !== undefined) loader.setFunctions(Buffer.from(h.value.functions, 'base64'));
    loader.setConfigs(configs);
    this.hooks.info(`full resync from ${link.peerId}: receiving ${h.value.keys} keys at ${formatPosition(h.value.from)}`);
  }

  chunk(link: ReplLink, f: Frame): void {
    if (this.stale.has(link)) return;
    const l = this.loading;
    if (l === null || l.peer !== link.peerId || l.header === null) return link.close('snapshot chunk outside a snapshot');
    const c = decodeSnapshotChunk(f);
    if (!c.ok) return link.close(c.error);
    if (c.value.chunkNo !== l.nextChunk) {
      // Links deliver frames in order and a stream numbers its chunks: a gap is a bug on one side.
      this.hooks.error(`snapshot chunk ${c.value.chunkNo} from ${link.peerId} where ${l.nextChunk} was due`);
      this.abort();
      return link.close('snapshot chunks out of order');
    }
    l.nextChunk++;
    l.loader.add(c.value.items);
    l.items += c.value.items.length;
    const now = this.hooks.nowMs();
    if (now - l.lastLogMs >= SNAPSHOT_PROGRESS_LOG_MS) {
      l.lastLogMs = now;
      this.hooks.info(`full resync from ${link.peerId}: ${progressText(l.loader.keys, l.loader.bytes, l.header.keys)}`);
    }
  }

  async end(link: ReplLink, f: Frame): Promise<void> {
    const l = this.loading;
    const h = decodeSnapshotHeader(f);
    if (!h.ok) return link.close(h.error);
    if (this.stale.delete(link)) return;
    if (l === null || l.peer !== link.peerId || l.header === null) return link.close('snapshot end outside a snapshot');
    this.loading = null;
    if (!this.hooks.acceptable(link.peerId)) {
      l.loader.abort();
      this.hooks.warn(`full resync from ${link.peerId} no longer wanted; dropped ${l.loader.keys} keys`);
      return;
    }
    if (l.items !== h.value.keys) {
      // Frames are ordered and checksummed: a mismatch is a bug on one side, not a network fault.
      l.loader.abort();
      this.hooks.error(`snapshot from ${link.peerId} sent ${h.value.keys} items, received ${l.items}`);
      return link.close('snapshot item count mismatch');
    }
    await l.loader.commit(h.value.from, h.value.epochHistory);
    const last = this.store.lastPosition;
    assert(last.seq === h.value.from.seq && last.epoch === h.value.from.epoch, 'a committed snapshot leaves the store at its position');
    this.hooks.info(`full resync from ${link.peerId} loaded: ${l.loader.keys} keys, ${l.loader.bytes} bytes at ${formatPosition(h.value.from)}`);
    await this.hooks.loaded(link.peerId, h.value);
  }
}
