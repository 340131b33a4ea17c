// The replication host: owns one ReplicationCore, its tick timer, the links to peers and the
// ordered execution of the core's effects against the Store (apply, truncate, epochs, meta,
// streamed full resyncs). Everything a link receives and every effect runs through one FIFO
// so the store and the core never disagree on the log; it never parses RESP nor decides
// replication policy itself (the core does).

import assert from 'node:assert';
import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import type { SnapshotLoader, ReplicatedStore } from '../../storage/api.js';
import { StoreUnavailableError } from '../../storage/errors.js';
import { recordBytes } from '../../storage/record.js';
import { formatPosition, type EpochStart, type Op, type Position, type Seq } from '../../storage/types.js';
import { appendLast, appendMessage, type AppendMessage } from '../core/append.js';
import { ReplicationCore } from '../core/core.js';
import type { CoreEvent, CoreStatus, Effect, Message, NodeId, Timing } from '../core/types.js';
import { READ_OK } from '../core/types.js';
import type { ClusterResultEffect } from '../cluster/commands.js';
import { ChunkPool } from './chunk-pool.js';
import {
  KIND_APPEND,
  KIND_MESSAGE,
  KIND_SNAP_BEGIN,
  KIND_SNAP_CHUNK,
  KIND_SNAP_END,
  decodeMessage,
  decodeSnapshotChunk,
  decodeSnapshotHeader,
  encodeMessageParts,
  encodeSnapshotChunk,
  encodeSnapshotHeader,
  type Frame,
  type SnapshotHeader,
} from './framing.js';
import { Dialer, Link, type DialerOptions, type LinkEvents } from './transport.js';

/** The core's timers are driven this often. */
export const TICK_INTERVAL_MS = 10;
/** Keys per snapshot chunk streamed during a full resync (bounded frame size and memory). */
export const SNAPSHOT_BATCH_KEYS = 1000;
/** A full resync logs its progress at most this often. */
export const SNAPSHOT_PROGRESS_LOG_MS = 1000;
/** Tasks (received frames and effect batches) queued behind a slow one (a snapshot commit) before the link is dropped. */
export const TASK_QUEUE_MAX = 1_000_000;
/** Discarded ranges INFO lists (the core keeps as many; totals are counted separately). */
const DISCARDED_RANGES_KEPT = 16;

export interface HostLog {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface HostOptions {
  readonly store: ReplicatedStore;
  readonly nodeId: NodeId;
  /** Where clients reach this node (host:port): redirects and the replica's announce. */
  readonly selfAddress: string;
  /** Null: start as primary; else the primary's host:port. */
  readonly replicaOf: string | null;
  /** Password sent in KVREPL to a primary with --requirepass. */
  readonly primaryAuth: string;
  readonly timing: Timing;
  readonly log: HostLog;
  /**
   * Cluster mode (issue 5): every member (self included) → where this node dials it. The host
   * dials every peer, sends only on the links it dialled and receives on the links peers dialled.
   */
  readonly clusterMembers?: ReadonlyMap<NodeId, string>;
}

/** What the host keeps about the replica side's incoming full resync. */
interface Loading {
  readonly peer: NodeId;
  readonly loader: SnapshotLoader;
  header: SnapshotHeader | null;
  /** Items received (a fuzzy snapshot may repeat a key, so this can exceed loader.keys). */
  items: number;
  lastLogMs: number;
}

/** Observers the command layer registers (WAIT and session waiters re-check on these). */
export interface HostObserver {
  /** The local log grew (replica applied entries, or a snapshot was loaded). */
  onApplied(): void;
  /** A replica acknowledged something, or roles changed. */
  onReplicaProgress(): void;
  onTick(nowMs: number): void;
  /** Cluster mode: results of quorum reads/writes and FAILOVER, in the order the core emitted them. */
  onClusterResult?(e: ClusterResultEffect): void;
}

type Task = () => void | Promise<void>;

export class ReplicationHost implements LinkEvents {
  readonly store: ReplicatedStore;
  readonly nodeId: NodeId;
  readonly selfAddress: string;
  readonly timing: Timing;
  private readonly opts: HostOptions;
  private readonly log: HostLog;
  private core!: ReplicationCore;
  private readonly t0 = performance.now();
  private tickTimer: NodeJS.Timeout | null = null;
  private readonly tasks: Task[] = [];
  private running = false;
  private idleWaiters: Array<() => void> = [];
  private readonly links = new Map<NodeId, Link>();
  private readonly outbox = new Map<NodeId, Message[]>();
  private outboxScheduled = false;
  /** The core asked for a flush (flushSoon); it is stepped at the start of the outbox turn. */
  private flushWanted = false;
  private dialer: Dialer | null = null;
  /** Cluster mode: one dialer per peer (outbound links, used for sending) and the links peers dialled to us (receive only). */
  private readonly peerDialers = new Map<NodeId, Dialer>();
  private readonly inbound = new Map<NodeId, Link>();
  /** Links whose current snapshot stream was not announced: its frames are dropped until its end. */
  private readonly staleSnapshots = new Set<Link>();
  /** The backlog's chunks, recycled once no link queues a frame that may view them (settleChunks). */
  private readonly chunkPool = new ChunkPool();
  private loading: Loading | null = null;
  /** Per peer, the token of the snapshot stream currently allowed to run (a newer one cancels it). */
  private readonly snapshotStreams = new Map<NodeId, object>();
  private durableRequested: Seq = 0;
  private durableWatchScheduled = false;
  /**
   * The local writes of one event-loop turn share one clock reading, taken at the turn's first
   * write (-1: none yet this turn). A reading cost ~60 ns per SET on this VM (perf-notes.md,
   * seventh pass); the core uses the time of a local write only to date it in the backlog (lag
   * in ms), which is then at most one turn early.
   */
  private writeClockMs = -1;
  /** The time given to the core's last step (steps must never go back in time). */
  private lastStepMs = 0;
  private stopped = false;
  private observer: HostObserver | null = null;
  /** Highest seq the primary said it has (heartbeats, welcomes): the replica's lag in ops. */
  private primaryLastSeq: Seq = 0;
  /** Truncations the store refused (its snapshot covered the fork), resolved by wiping and resyncing. */
  truncateFallbacks = 0;
  /** Counters of cores replaced by wipeForFullResync, added to the live core's. */
  private carried: CoreStatus | null = null;

  constructor(opts: HostOptions) {
    this.opts = opts;
    this.store = opts.store;
    this.nodeId = opts.nodeId;
    this.selfAddress = opts.selfAddress;
    this.timing = opts.timing;
    this.log = opts.log;
  }

  /** Monotonic ms for the core (wall clocks can step backwards). */
  nowMs(): number {
    return Math.floor(performance.now() - this.t0);
  }

  setObserver(o: HostObserver): void {
    this.observer = o;
  }

  /** Build the core from the store, run its start (a primary begins its epoch) and the tick timer. */
  async start(): Promise<void> {
    this.core = this.buildCore(this.opts.replicaOf);
    this.stepNow({ type: 'start' });
    if (this.opts.replicaOf !== null) this.startDialer(this.opts.replicaOf);
    if (this.opts.clusterMembers !== undefined) {
      for (const [id, address] of this.opts.clusterMembers) if (id !== this.nodeId) this.startPeerDialer(id, address);
    }
    this.tickTimer = setInterval(() => this.onTickTimer(), TICK_INTERVAL_MS);
    this.tickTimer.unref();
    await this.idle();
  }

  private buildCore(replicaOf: string | null): ReplicationCore {
    const meta = this.store.readMeta();
    const metaEpoch = typeof meta['currentEpoch'] === 'number' ? meta['currentEpoch'] : 0;
    const s = this.store.stats();
    return new ReplicationCore(
      {
        nodeId: this.nodeId,
        selfAddress: this.selfAddress,
        topology:
          this.opts.clusterMembers !== undefined
            ? { mode: 'cluster', members: this.opts.clusterMembers }
            : { mode: 'manual', initialRole: replicaOf === null ? { role: 'primary' } : { role: 'replica', primaryAddress: replicaOf } },
        timing: this.timing,
        // Election timeouts must differ between nodes, or they split votes forever; manual mode never draws.
        random: Math.random,
        backlogMemory: this.chunkPool,
      },
      {
        currentEpoch: Math.max(metaEpoch, this.store.epoch),
        votedFor: typeof meta['votedFor'] === 'string' ? meta['votedFor'] : null,
        epochHistory: this.store.epochHistory,
        lastPosition: this.store.lastPosition,
        durableSeq: s.durableSeq,
      },
      this.stepClock(this.nowMs()),
    );
  }

  /** Resolves when no task is queued or running. */
  idle(): Promise<void> {
    if (!this.running && this.tasks.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    this.dialer?.stop();
    this.dialer = null;
    for (const d of this.peerDialers.values()) d.stop();
    this.peerDialers.clear();
    for (const l of [...this.links.values(), ...this.inbound.values()]) l.close('shutting down');
    this.loading?.loader.abort();
    this.loading = null;
    await this.idle();
  }

  // ================================================================ queries for commands

  status(): CoreStatus {
    const s = this.core.status(this.nowMs());
    const c = this.carried;
    if (c === null) return s;
    return {
      ...s,
      fullResyncs: s.fullResyncs + c.fullResyncs,
      partialResyncs: s.partialResyncs + c.partialResyncs,
      discardedEntries: s.discardedEntries + c.discardedEntries,
      discardedRanges: [...c.discardedRanges, ...s.discardedRanges].slice(-DISCARDED_RANGES_KEPT),
    };
  }
  get role(): CoreStatus['role'] {
    return this.core.currentRole;
  }
  acceptsWrites(): boolean {
    // Only cluster mode looks at the time (contact with a majority): no clock read per write otherwise.
    return this.core.acceptsWrites(this.isCluster ? this.nowMs() : this.lastStepMs);
  }
  readCheck(): ReturnType<ReplicationCore['replicaReadCheck']> {
    // A primary always passes: skip the clock read (this runs before every read command).
    if (this.core.currentRole === 'primary') return READ_OK;
    return this.core.replicaReadCheck(this.nowMs());
  }
  checkSession(token: Position): ReturnType<ReplicationCore['checkSession']> {
    return this.core.checkSession(token);
  }
  get lastPosition(): Position {
    return this.core.lastPosition;
  }
  get knownPrimaryLastSeq(): Seq {
    return this.primaryLastSeq;
  }
  /** Bytes written to the link to `peer` that its socket has not handed to the kernel yet (Redis's omem). */
  linkOutputBytes(peer: NodeId): number {
    const l = this.links.get(peer) ?? this.inbound.get(peer);
    return l === undefined || l.isClosed ? 0 : l.socket.writableLength;
  }
  linkUpTo(peer: NodeId | null): boolean {
    return peer !== null && this.links.get(peer)?.isClosed === false;
  }
  get isCluster(): boolean {
    return this.opts.clusterMembers !== undefined;
  }
  get epochHistory(): readonly EpochStart[] {
    return this.core.epochHistory;
  }
  quorumUnavailable(): string | null {
    return this.core.quorumUnavailable();
  }

  /** Cluster: a linearizable read; the caller read the keyspace just now and answers on the result. */
  quorumRead(readId: number): void {
    this.stepNow({ type: 'quorumRead', readId });
  }

  /** Cluster: the write just appended at `seq` is answered when a majority holds it (or outcome unknown). */
  quorumWrite(writeId: number, seq: Seq): void {
    this.stepNow({ type: 'quorumWrite', writeId, seq });
  }

  failover(target: NodeId | null): void {
    this.stepNow({ type: 'failover', target });
  }

  // ================================================================ inputs

  /** Server hook: a client write was applied at `pos` (primary path). */
  onLocalWrite(pos: Position, ops: readonly Op[]): void {
    // Values may be views of a connection's read buffer: the backlog copies the store's encoded
    // record of them (or encodes them) during this step.
    if (this.writeClockMs < 0) this.writeClockMs = this.nowMs();
    this.stepNow({ type: 'localWrite', entry: { epoch: pos.epoch, seq: pos.seq, ops }, record: this.store.lastRecord(pos.seq) }, this.writeClockMs);
    // One durability watch per event-loop iteration, after every read event of it was applied
    // (Redis's beforeSleep): a watch per write cost a promise and two closures per SET. The
    // report is not later: a write that arrives during this iteration is covered by the same
    // flush/fsync as the others of the iteration. The turn's write clock ends there too.
    if (!this.durableWatchScheduled) {
      this.durableWatchScheduled = true;
      setImmediate(() => {
        this.durableWatchScheduled = false;
        this.writeClockMs = -1;
        if (!this.stopped) this.watchDurable();
      });
    }
  }

  promote(): void {
    this.stepNow({ type: 'promote' });
  }

  replicaOf(address: string): void {
    this.stepNow({ type: 'replicaOf', address });
  }

  /** A KVREPL command handed us this socket: `peerId` dialled us (it is, or wants to be, our replica). */
  acceptLink(socket: Socket, peerId: NodeId, announce: string): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    if (this.opts.clusterMembers !== undefined) {
      this.acceptClusterLink(socket, peerId, announce);
      return;
    }
    const old = this.links.get(peerId);
    if (old !== undefined) old.close('replaced by a new connection from the same node');
    const link = new Link(socket, peerId, announce, false, this, Buffer.alloc(0));
    this.links.set(peerId, link);
    this.stepNow({ type: 'linkUp', peer: peerId, address: announce, outbound: false });
  }

  /** Cluster: a member dialled us; we only receive on this link (we send on the link we dialled). */
  private acceptClusterLink(socket: Socket, peerId: NodeId, announce: string): void {
    if (!(this.opts.clusterMembers as ReadonlyMap<NodeId, string>).has(peerId)) {
      this.log.warn(`refusing a replication link from ${peerId} (${announce}): not a configured cluster member`);
      socket.destroy();
      return;
    }
    const old = this.inbound.get(peerId);
    // Forget it before closing, so its close is not taken for the current link's.
    this.inbound.delete(peerId);
    old?.close('replaced by a new connection from the same node');
    this.inbound.set(peerId, new Link(socket, peerId, announce, false, this, Buffer.alloc(0)));
  }

  // ================================================================ LinkEvents

  onFrame(link: Link, f: Frame): void {
    // Frames from a replaced link are ignored (late bytes of an old connection).
    if (this.links.get(link.peerId) !== link && this.inbound.get(link.peerId) !== link) return;
    if (this.tasks.length >= TASK_QUEUE_MAX) {
      link.close(`more than ${TASK_QUEUE_MAX} frames queued behind slow work`);
      return;
    }
    this.enqueue(() => this.handleFrame(link, f));
  }

  onClose(link: Link, reason: string): void {
    this.staleSnapshots.delete(link);
    if (this.inbound.get(link.peerId) === link) {
      this.inbound.delete(link.peerId);
      this.log.warn(`replication link from ${link.peerId} (${link.peerAddress}) down: ${reason}`);
      if (this.loading?.peer === link.peerId) {
        // The snapshot arrived on this link and cannot resume on another: drop it and handshake again.
        this.log.warn(`full resync from ${link.peerId} interrupted after ${this.loading.loader.keys} keys`);
        this.loading.loader.abort();
        this.loading = null;
        const out = this.links.get(link.peerId);
        if (out !== undefined) this.stepNow({ type: 'linkUp', peer: link.peerId, address: out.peerAddress, outbound: true });
      }
      return;
    }
    if (this.links.get(link.peerId) !== link) return;
    this.links.delete(link.peerId);
    this.log.warn(`replication link ${link.outbound ? 'to' : 'from'} ${link.peerId} (${link.peerAddress}) down: ${reason}`);
    this.snapshotStreams.delete(link.peerId);
    if (this.loading?.peer === link.peerId) {
      // The snapshot cannot complete on a new link (it restarts with a new handshake): free it now.
      this.log.warn(`full resync from ${link.peerId} interrupted after ${this.loading.loader.keys} keys`);
      this.loading.loader.abort();
      this.loading = null;
    }
    this.stepNow({ type: 'linkDown', peer: link.peerId });
    if (link.outbound) (this.peerDialers.get(link.peerId) ?? this.dialer)?.linkClosed();
  }

  // ================================================================ the task queue

  private enqueue(t: Task): void {
    this.tasks.push(t);
    if (!this.running) void this.runTasks();
  }

  private async runTasks(): Promise<void> {
    this.running = true;
    try {
      for (let t = this.tasks.shift(); t !== undefined; t = this.tasks.shift()) {
        const r = t();
        if (r !== undefined) await r;
      }
    } catch (e) {
      if (e instanceof StoreUnavailableError) {
        // The store closed under us (shutdown): replication ends with it.
        this.log.warn(`replication stopped: ${e.message}`);
        this.tasks.length = 0;
        void this.stop();
      } else {
        // A failed effect means the store and the core disagree: continuing would corrupt data.
        this.log.error(`replication host failed: ${(e as Error).stack ?? String(e)}`);
        process.nextTick(() => {
          throw e;
        });
      }
    } finally {
      this.running = false;
    }
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /** Step the core now and queue its effects behind everything already queued. */
  private stepNow(ev: CoreEvent, nowMs: number = this.nowMs()): void {
    if (this.stopped && ev.type !== 'linkDown') return;
    const effects = this.core.step(ev, this.stepClock(nowMs));
    if (effects.length > 0) this.enqueue(() => this.execute(effects));
  }

  /** Step inside a task: its effects run before the next queued task. */
  private async stepInTask(ev: CoreEvent): Promise<void> {
    await this.execute(this.core.step(ev, this.stepClock(this.nowMs())));
  }

  /** The time of a step: never before the previous step's (a local write may carry its turn's first reading). */
  private stepClock(nowMs: number): number {
    if (nowMs > this.lastStepMs) this.lastStepMs = nowMs;
    return this.lastStepMs;
  }

  private onTickTimer(): void {
    if (this.stopped) return;
    this.stepNow({ type: 'tick' });
    this.observer?.onTick(this.nowMs());
  }

  // ================================================================ frames

  private async handleFrame(link: Link, f: Frame): Promise<void> {
    if (link.isClosed) return;
    switch (f.kind) {
      case KIND_MESSAGE:
      case KIND_APPEND: {
        const d = decodeMessage(f);
        if (!d.ok) return link.close(`bad frame from ${link.peerId}: ${d.error}`);
        this.notePrimaryProgress(link.peerId, d.value);
        await this.stepInTask({ type: 'message', from: link.peerId, msg: d.value });
        this.observer?.onReplicaProgress();
        return;
      }
      case KIND_SNAP_BEGIN:
        return this.onSnapshotBegin(link, f);
      case KIND_SNAP_CHUNK:
        return this.onSnapshotChunk(link, f);
      case KIND_SNAP_END:
        return this.onSnapshotEnd(link, f);
      default: {
        const never: never = f.kind;
        throw new Error(`unhandled frame kind ${String(never)}`);
      }
    }
  }

  private notePrimaryProgress(from: NodeId, m: Message): void {
    if (this.core.currentRole !== 'replica' || from !== this.core.knownPrimaryId) return;
    if (m.type === 'heartbeat') this.primaryLastSeq = Math.max(this.primaryLastSeq, m.lastSeq);
    else if (m.type === 'welcome') this.primaryLastSeq = m.primaryLast.seq;
    else if (m.type === 'append') this.primaryLastSeq = Math.max(this.primaryLastSeq, appendLast(m).seq); // headers only: no decode
  }

  private onSnapshotBegin(link: Link, f: Frame): void {
    const l = this.loading;
    const h = decodeSnapshotHeader(f);
    if (!h.ok) return link.close(h.error);
    this.staleSnapshots.delete(link);
    if (l === null || l.peer !== link.peerId) {
      // A stream we no longer wait for: the primary answered a hello of ours twice (the core says
      // hello again when a heartbeat comes a heartbeat interval after an unanswered hello) and we
      // already loaded, or gave up on, the first.
      // Dropped whole, as the simulation's host does; the primary then streams from its position,
      // and a gap is repaired as usual (nack). Closing the link here made a replica that had
      // just synced drop out and reconnect.
      this.staleSnapshots.add(link);
      this.log.info(`dropping a full resync stream from ${link.peerId} that was not announced (a duplicate answer)`);
      return;
    }
    if (l.header !== null) {
      // A second stream replaces one the primary abandoned midway (it answered a repeated hello):
      // start the load over, or keys of the first, older snapshot would survive in this one.
      l.loader.abort();
      this.loading = { ...l, loader: this.store.beginLoad(), items: 0, header: h.value };
    } else {
      l.header = h.value;
    }
    this.log.info(`full resync from ${link.peerId}: receiving ${h.value.keys} keys at ${formatPosition(h.value.from)}`);
  }

  private onSnapshotChunk(link: Link, f: Frame): void {
    if (this.staleSnapshots.has(link)) return;
    const l = this.loading;
    if (l === null || l.peer !== link.peerId || l.header === null) return link.close('snapshot chunk outside a snapshot');
    const items = decodeSnapshotChunk(f);
    if (!items.ok) return link.close(items.error);
    l.loader.add(items.value);
    l.items += items.value.length;
    const now = this.nowMs();
    if (now - l.lastLogMs >= SNAPSHOT_PROGRESS_LOG_MS) {
      l.lastLogMs = now;
      this.log.info(`full resync from ${link.peerId}: ${progressText(l.loader.keys, l.loader.bytes, l.header.keys)}`);
    }
  }

  private async onSnapshotEnd(link: Link, f: Frame): Promise<void> {
    const l = this.loading;
    const h = decodeSnapshotHeader(f);
    if (!h.ok) return link.close(h.error);
    if (this.staleSnapshots.delete(link)) return;
    if (l === null || l.peer !== link.peerId || l.header === null) return link.close('snapshot end outside a snapshot');
    this.loading = null;
    if (!this.core.snapshotAcceptable(link.peerId)) {
      l.loader.abort();
      this.log.warn(`full resync from ${link.peerId} no longer wanted; dropped ${l.loader.keys} keys`);
      return;
    }
    if (l.items !== h.value.keys) {
      // Frames are ordered and checksummed: a mismatch is a bug on one side, not a network fault.
      l.loader.abort();
      return link.close(`snapshot from ${link.peerId} sent ${h.value.keys} items, received ${l.items}`);
    }
    await l.loader.commit(h.value.from, h.value.epochHistory);
    this.log.info(`full resync from ${link.peerId} loaded: ${l.loader.keys} keys, ${l.loader.bytes} bytes at ${formatPosition(h.value.from)}`);
    this.durableRequested = h.value.from.seq;
    await this.stepInTask({ type: 'snapshotLoaded', peer: link.peerId, position: h.value.from, epochHistory: h.value.epochHistory });
    this.observer?.onApplied();
  }

  // ================================================================ effects

  private async execute(effects: readonly Effect[]): Promise<void> {
    for (const e of effects) {
      const r = this.executeOne(e);
      if (r !== undefined) await r;
    }
  }

  private executeOne(e: Effect): void | Promise<void> {
    switch (e.type) {
      case 'send':
        this.queueSend(e.to, e.msg);
        return;
      case 'flushSoon':
        this.flushWanted = true;
        this.scheduleOutbox();
        return;
      case 'persistMeta':
        return this.store.writeMeta({ ...this.store.readMeta(), currentEpoch: e.meta.currentEpoch, votedFor: e.meta.votedFor });
      case 'appendEntries':
        if (e.records !== undefined) this.store.applyRecords(e.records);
        else for (const entry of e.entries) this.store.applyEntry(entry);
        this.watchDurable();
        this.observer?.onApplied();
        return;
      case 'truncateAfter':
        return this.truncate(e.seq, e.discarded, e.from, e.to);
      case 'becomePrimary':
        return this.becomePrimary(e.epoch);
      case 'becomeReplica':
        this.becomeReplica(e.primaryAddress);
        return;
      case 'startFullResync':
        void this.streamSnapshot(e.peer);
        return;
      case 'expectFullResync':
        this.loading?.loader.abort();
        this.loading = { peer: e.primary, loader: this.store.beginLoad(), header: null, items: 0, lastLogMs: this.nowMs() };
        return;
      case 'log':
        this.log[e.level](e.text);
        return;
      case 'commitAdvanced':
        return; // the core answers quorum operations from its commit index; nothing to do here
      case 'readReady':
      case 'readFailed':
      case 'quorumWriteResult':
      case 'failoverResult':
        if (this.observer?.onClusterResult !== undefined) {
          this.observer.onClusterResult(e);
          return;
        }
        // Quorum operations are refused before they reach the core in manual mode (NOQUORUM).
        this.log.warn(`unexpected ${e.type} effect in manual mode`);
        return;
      default: {
        const never: never = e;
        throw new Error(`unhandled effect ${JSON.stringify(never)}`);
      }
    }
  }

  private async truncate(seq: Seq, discarded: number, from: Position, to: Position): Promise<void> {
    try {
      const r = await this.store.truncateAfter(seq);
      assert.equal(r.discarded, discarded, 'store and core disagree on the diverged suffix');
      this.log.warn(`discarded ${discarded} diverged writes ${formatPosition(from)}..${formatPosition(to)}`);
    } catch (err) {
      // The store's snapshot already covers the fork: only a full resync can fix this log.
      this.truncateFallbacks++;
      this.log.warn(`cannot truncate after ${seq} (${(err as Error).message}); wiping to an empty log and resyncing from scratch`);
      await this.wipeForFullResync();
    }
    this.observer?.onApplied();
  }

  /**
   * Replace the log with an empty one (keeping the epochs seen) and rebuild the core from it,
   * so the primary's next handshake starts from seq 0 (partial from its backlog if it still
   * holds seq 1, else a full resync). The discarded suffix was already counted by the core;
   * the rebuilt core starts its INFO counters at zero.
   */
  private async wipeForFullResync(): Promise<void> {
    // INFO counters survive the core's rebuild (the discarded writes must stay counted).
    this.carried = this.status();
    const primary = this.carried.primaryAddress;
    const loader = this.store.beginLoad();
    await loader.commit({ epoch: 0, seq: 0 }, [{ epoch: this.store.epoch, startSeq: 1 }]);
    for (const l of [...this.links.values()]) l.close('log wiped for a full resync');
    this.core = this.buildCore(primary);
    this.stepNow({ type: 'start' });
    // Cluster: the peer dialers redial the links just closed; the elected primary streams to us again.
    if (primary !== null && !this.isCluster) this.startDialer(primary);
  }

  private async becomePrimary(epoch: number): Promise<void> {
    // Cluster links are a fixed mesh between members whatever their roles; manual links follow the role.
    if (!this.isCluster) {
      this.dialer?.stop();
      this.dialer = null;
      for (const l of [...this.links.values()]) if (l.outbound) l.close('this node became primary');
    }
    this.loading?.loader.abort();
    this.loading = null;
    this.primaryLastSeq = 0;
    await this.store.beginEpoch(epoch);
    // The epoch's no-op entry: it puts the new epoch into the log, which is what lets it take writes.
    const pos = this.store.apply([]);
    assert.equal(pos.epoch, epoch, 'no-op entry not in the new epoch');
    this.stepNow({ type: 'localWrite', entry: { epoch: pos.epoch, seq: pos.seq, ops: [] }, record: this.store.lastRecord(pos.seq) });
    this.watchDurable();
    this.observer?.onReplicaProgress();
  }

  private becomeReplica(primaryAddress: string | null): void {
    if (this.isCluster) {
      // Snapshot streams to peers stop (they check the role); the mesh stays up.
      this.primaryLastSeq = 0;
      this.observer?.onReplicaProgress();
      return;
    }
    for (const l of [...this.links.values()]) l.close('this node became a replica');
    this.primaryLastSeq = 0;
    this.dialer?.stop();
    this.dialer = null;
    if (primaryAddress !== null) this.startDialer(primaryAddress);
    this.observer?.onReplicaProgress();
  }

  /** Cluster: keep a link to `peer` at `address` forever (capped backoff); it must answer with that node id. */
  private startPeerDialer(peer: NodeId, address: string): void {
    const d = this.newDialer(address, (link) => {
      if (this.stopped || this.peerDialers.get(peer) !== d) {
        link.close('dialer stopped');
        return;
      }
      if (link.peerId !== peer) {
        // A wrong address in --cluster (or a node restarted with another id): never mix identities.
        this.log.error(`${address} answered as node ${link.peerId}, but --cluster lists it as ${peer}; retrying`);
        link.close('wrong node id'); // not in our maps under `peer`, so onClose ignores it

        d.linkClosed();
        return;
      }
      const old = this.links.get(peer);
      this.links.delete(peer);
      old?.close('replaced by a new connection');
      this.links.set(peer, link);
      this.log.info(`replication link to ${peer} (${address}) up`);
      this.stepNow({ type: 'linkUp', peer, address, outbound: true });
    });
    this.peerDialers.set(peer, d);
    d.start();
  }

  /** A dialer to `address` that announces this node (same credentials for every link). */
  private newDialer(address: string, onLinked: DialerOptions['onLinked']): Dialer {
    return new Dialer({
      address,
      nodeId: this.nodeId,
      password: this.opts.primaryAuth,
      announce: this.selfAddress,
      events: this,
      log: (level, text) => this.log[level](text),
      onLinked,
    });
  }

  private startDialer(address: string): void {
    this.dialer?.stop();
    const d = this.newDialer(address, (link) => {
      if (this.dialer !== d || this.stopped) {
        link.close('dialer replaced');
        return;
      }
      const old = this.links.get(link.peerId);
      if (old !== undefined) old.close('replaced by a new connection');
      this.links.set(link.peerId, link);
      this.log.info(`replication link to ${address} up (primary ${link.peerId})`);
      this.stepNow({ type: 'linkUp', peer: link.peerId, address, outbound: true });
    });
    this.dialer = d;
    d.start();
  }

  // ================================================================ outbox (per-turn batching)

  /**
   * Messages wait here until the end of the event-loop turn, then go out coalesced: adjacent
   * appends that continue each other become one frame, and a run of acks becomes its last
   * (acks are cumulative). Fewer, larger frames mean fewer acks and syscalls per write.
   */
  private queueSend(to: NodeId, msg: Message): void {
    let q = this.outbox.get(to);
    if (q === undefined) {
      q = [];
      this.outbox.set(to, q);
    }
    q.push(msg);
    this.scheduleOutbox();
  }

  private scheduleOutbox(): void {
    if (this.outboxScheduled) return;
    this.outboxScheduled = true;
    setImmediate(() => {
      this.outboxScheduled = false;
      // The core's flush runs first: its appends (usually run-to-completion sends, the task
      // queue being idle) join this turn's frames.
      if (this.flushWanted) {
        this.flushWanted = false;
        this.stepNow({ type: 'flush' });
      }
      for (const peer of [...this.outbox.keys()]) this.flushOutbox(peer);
      this.settleChunks();
    });
  }

  /**
   * Backlog chunks given back may be reused once no link's socket still queues bytes: every frame
   * written so far (whose records may be views of those chunks) is then in the kernel, and a
   * closed link's queue is never read again. A backed-up link only delays reuse (chunks are then
   * allocated fresh, as without the pool).
   */
  private settleChunks(): void {
    for (const l of this.links.values()) if (!l.isClosed && l.socket.writableLength > 0) return;
    for (const l of this.inbound.values()) if (!l.isClosed && l.socket.writableLength > 0) return;
    this.chunkPool.settle();
  }

  /** Send what is queued for `peer` now (also before any frame that bypasses the outbox). */
  private flushOutbox(peer: NodeId): void {
    const q = this.outbox.get(peer);
    if (q === undefined) return;
    this.outbox.delete(peer);
    const link = this.links.get(peer);
    // No link: the core learns it from linkDown and re-handshakes on the next linkUp.
    if (link === undefined) return;
    // One write per peer per turn (STYLE: batch socket writes per event-loop turn).
    const parts: Buffer[] = [];
    for (const m of coalesce(q)) for (const b of encodeMessageParts(m)) parts.push(b);
    link.sendParts(parts);
  }

  /** Keep one whenDurable outstanding for the newest seq; report each as a 'durable' event. */
  private watchDurable(): void {
    const target = this.store.lastPosition.seq;
    if (target <= this.durableRequested) return;
    this.durableRequested = target;
    this.store.whenDurable(target).then(
      () => {
        if (!this.stopped) this.stepNow({ type: 'durable', seq: target });
      },
      (err: unknown) => {
        // Truncation or a full resync discarded it; the core already knows. Anything else is logged.
        this.log.warn(`durability of seq ${target} not reached: ${(err as Error).message}`);
        this.durableRequested = Math.min(this.durableRequested, this.store.lastPosition.seq);
      },
    );
  }

  // ================================================================ full resync, primary side

  private async streamSnapshot(peer: NodeId): Promise<void> {
    const link = this.links.get(peer);
    if (link === undefined) return;
    const token = {};
    this.snapshotStreams.set(peer, token);
    const snap = this.store.exportSnapshot(SNAPSHOT_BATCH_KEYS);
    const keysTotal = this.store.size;
    this.log.info(`full resync to ${peer}: streaming about ${keysTotal} keys from ${formatPosition(snap.from)}`);
    this.flushOutbox(peer); // the welcome that announced this resync goes first
    link.send(encodeSnapshotHeader(KIND_SNAP_BEGIN, { from: snap.from, epochHistory: snap.epochHistory, keys: keysTotal, bytes: 0 }));
    let keys = 0;
    let bytes = 0;
    let chunkNo = 0;
    let lastLogMs = this.nowMs();
    const alive = (): boolean => !link.isClosed && this.snapshotStreams.get(peer) === token && this.core.currentRole === 'primary';
    for await (const batch of snap.batches()) {
      if (!alive()) {
        this.log.warn(`full resync to ${peer} abandoned after ${keys} keys (link or role changed)`);
        return;
      }
      const frame = encodeSnapshotChunk(++chunkNo, batch);
      keys += batch.length;
      bytes += frame.length;
      if (!(await link.sendBulk(frame))) return;
      const now = this.nowMs();
      if (now - lastLogMs >= SNAPSHOT_PROGRESS_LOG_MS) {
        lastLogMs = now;
        this.log.info(`full resync to ${peer}: ${progressText(keys, bytes, keysTotal)}`);
      }
    }
    if (!alive()) return;
    this.flushOutbox(peer);
    link.send(encodeSnapshotHeader(KIND_SNAP_END, { from: snap.from, epochHistory: snap.epochHistory, keys, bytes }));
    this.snapshotStreams.delete(peer);
    this.log.info(`full resync to ${peer}: sent ${keys} keys, ${bytes} bytes; streaming entries after ${formatPosition(snap.from)}`);
    this.stepNow({ type: 'fullResyncSent', peer, from: snap.from });
  }
}

/** Largest append frame the outbox builds by merging (bounded frames, bounded decode work). */
export const MERGED_APPEND_BYTES_MAX = 1024 * 1024;

/** Merge adjacent continuing appends (up to MERGED_APPEND_BYTES_MAX) and collapse runs of acks. */
export function coalesce(msgs: readonly Message[]): Message[] {
  const out: Message[] = [];
  // The run of appends being merged. While every one carries its records, the merged append is
  // their bytes joined and nothing is decoded; otherwise their entries are concatenated.
  let open: { parts: AppendMessage[]; commitSeq: Seq; bytes: number; last: Position } | null = null;
  const close = (): void => {
    if (open === null) return;
    const { parts, commitSeq } = open;
    const first = parts[0] as AppendMessage;
    if (parts.length === 1) out.push(first);
    else if (parts.every((m) => m.records !== undefined)) out.push(appendMessage(first.epoch, first.prev, commitSeq, joinRecords(parts.map((m) => m.records as Buffer))));
    else out.push({ type: 'append', epoch: first.epoch, prev: first.prev, entries: parts.flatMap((m) => m.entries), commitSeq });
    open = null;
  };
  for (const m of msgs) {
    if (m.type === 'append') {
      const bytes = m.records?.length ?? m.entries.reduce((n, e) => n + recordBytes(e.ops), 0);
      if (open !== null) {
        const epoch = (open.parts[0] as AppendMessage).epoch;
        if (epoch === m.epoch && open.last.seq === m.prev.seq && open.last.epoch === m.prev.epoch && open.bytes + bytes <= MERGED_APPEND_BYTES_MAX) {
          open.parts.push(m);
          open.commitSeq = m.commitSeq;
          open.bytes += bytes;
          open.last = appendLast(m);
          continue;
        }
      }
      close();
      open = { parts: [m], commitSeq: m.commitSeq, bytes, last: appendLast(m) };
      continue;
    }
    close();
    const prev = out[out.length - 1];
    if (prev !== undefined && prev.type === 'ack' && m.type === 'ack') out[out.length - 1] = m;
    else out.push(m);
  }
  close();
  return out;
}

/**
 * One buffer of record pieces: a single view when they follow each other in memory (the
 * backlog's records of one chunk, the usual case), else a copy.
 */
function joinRecords(pieces: readonly Buffer[]): Buffer {
  const first = pieces[0] as Buffer;
  let end = first.byteOffset + first.length;
  for (let i = 1; i < pieces.length; i++) {
    const b = pieces[i] as Buffer;
    if (b.buffer !== first.buffer || b.byteOffset !== end) return Buffer.concat(pieces);
    end += b.length;
  }
  return pieces.length === 1 ? first : Buffer.from(first.buffer, first.byteOffset, end - first.byteOffset);
}

function progressText(keys: number, bytes: number, keysTotal: number): string {
  const pct = keysTotal > 0 ? Math.min(100, Math.floor((keys * 100) / keysTotal)) : 100;
  return `${keys} keys, ${bytes} bytes (${pct}%)`;
}
