// The replication host: owns one ReplicationCore, steps it with the host's inputs (frames,
// ticks, local writes, commands) and runs its effects in order through one task FIFO, so the
// store and the core never disagree on the log. Its parts: outbox.ts (per-turn frames),
// links.ts (links and dialers), log-apply.ts (the store's log), resync-send.ts and
// resync-receive.ts (full resyncs), tasks.ts (the FIFO), pubsub-relay.ts (published messages,
// which are not log entries); runtime.ts is its clock, timers and transport. It never parses
// RESP nor decides replication policy itself (the core does).

import assert from 'node:assert';
import type { Socket } from 'node:net';
import type { ReplicatedStore } from '../../storage/api.js';
import { StoreUnavailableError } from '../../storage/errors.js';
import { formatPosition, type EpochStart, type Op, type Position, type Seq } from '../../storage/types.js';
import { appendLast } from '../core/append.js';
import { ReplicationCore } from '../core/core.js';
import type { CoreEvent, CoreStatus, Effect, MemberChange, MemberConfig, MemberRole, Message, NodeId, Timing } from '../core/types.js';
import { encodeMemberConfig, formatConfig } from '../core/member-config.js';
import { READ_OK } from '../core/types.js';
import type { ClusterResultEffect } from '../cluster/commands.js';
import { BackupStreams } from './backup-send.js';
import { ChunkPool } from './chunk-pool.js';
import { KIND_APPEND, KIND_MESSAGE, KIND_PUBSUB, KIND_SNAP_BEGIN, KIND_SNAP_CHUNK, KIND_SNAP_END, decodeMessage, type Frame } from './framing.js';
import { LinkTable } from './links.js';
import { LogApplier } from './log-apply.js';
import { Outbox } from './outbox.js';
import { PubSubRelay } from './pubsub-relay.js';
import { SnapshotReceiver } from './resync-receive.js';
import { SnapshotSender } from './resync-send.js';
import { nodeRuntime, type HostRuntime, type LinkEvents, type ReplLink } from './runtime.js';
import { TaskQueue } from './tasks.js';
import { Link } from './transport.js';

/** The core's timers are driven this often. */
export const TICK_INTERVAL_MS = 10;
/** Discarded ranges INFO lists (the core keeps as many; totals are counted separately). */
const DISCARDED_RANGES_KEPT = 16;
/** Log-failure rollbacks remembered for lostInLogFailure (older ones are forgotten). */
const LOG_ROLLBACKS_KEPT = 16;

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
  /** User sent in KVREPL with primaryAuth ('' or absent: the default user). */
  readonly primaryUser?: string;
  readonly timing: Timing;
  readonly log: HostLog;
  /**
   * Cluster mode: the bootstrap voters (self included, unless joining) → where this node dials
   * them, in force until the log holds a configuration. The host dials every member of the
   * configuration in force, sends on the links it dialled and receives on the links peers dialled.
   */
  readonly clusterMembers?: ReadonlyMap<NodeId, string>;
  /** Cluster mode, a node started with --join: itself, a learner of the bootstrap configuration. */
  readonly clusterLearners?: ReadonlyMap<NodeId, string>;
  /** Clock, timers, randomness and transport; default: this process's (real time, TCP). */
  readonly runtime?: HostRuntime;
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
  /** Every effect of the core, right before the host runs it (checks and tracing). */
  onEffect?(e: Effect): void;
}

export class ReplicationHost implements LinkEvents {
  readonly store: ReplicatedStore;
  readonly nodeId: NodeId;
  readonly selfAddress: string;
  readonly timing: Timing;
  private readonly opts: HostOptions;
  private readonly log: HostLog;
  private readonly runtime: HostRuntime;
  private core!: ReplicationCore;
  private cancelTick: (() => void) | null = null;
  private readonly tasks: TaskQueue;
  private readonly links: LinkTable;
  private readonly outbox: Outbox;
  private readonly applier: LogApplier;
  private readonly sender: SnapshotSender;
  private readonly receiver: SnapshotReceiver;
  /** Published messages between members: outside the core and the log (pubsub-relay.ts). */
  readonly pubsub: PubSubRelay;
  /** KVSNAPSHOT streams (backup-send.ts): outside the core, fed by the store's record tap. */
  readonly backups: BackupStreams;
  /** The core asked for a flush (flushSoon); it is stepped at the start of the outbox turn. */
  private flushWanted = false;
  /** The backlog's chunks, recycled once no link queues a frame that may view them. */
  private readonly chunkPool = new ChunkPool();
  private durableWatchScheduled = false;
  /**
   * The local writes of one event-loop turn share one clock reading, taken at the turn's first
   * write (-1: none yet this turn): the core dates a local write only for lag in ms, so one
   * turn early is fine and a clock read per write is saved (docs/perf-notes.md, 'Clock reads').
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
  /**
   * Bumped when the store's log fails and rolls back. Effect batches decided before that carry
   * the older value; their log effects (appends, truncation, a new epoch) no longer apply to the
   * store and are skipped: the core forgot those entries when it stepped logFailed.
   */
  private logGeneration = 0;
  /**
   * Cluster: where to dial members, from --cluster, over the configuration's addresses: a test's
   * proxies, or an operator's own route. A later configuration that moves a member (MEMBER
   * ADDRESS) takes its override's place.
   */
  private readonly dialOverrides = new Map<NodeId, string>();
  /** The nodes the mesh links to now (id → the core's address for it). */
  private meshPeers: ReadonlyMap<NodeId, string> = new Map();
  /** This node's place in the configuration in force (cluster mode; read on every write by the gate). */
  private selfRole: MemberRole = 'voter';
  /** Positions the local log lost in its recent failures: writes there were refused, never acknowledged. */
  private readonly logRollbacks: { readonly epoch: number; readonly afterSeq: Seq; readonly toSeq: Seq }[] = [];

  constructor(opts: HostOptions) {
    this.opts = opts;
    this.store = opts.store;
    this.nodeId = opts.nodeId;
    this.selfAddress = opts.selfAddress;
    this.timing = opts.timing;
    this.log = opts.log;
    this.runtime = opts.runtime ?? nodeRuntime();
    this.tasks = new TaskQueue((e) => this.onTaskError(e));
    for (const [id, address] of opts.clusterMembers ?? []) if (id !== opts.nodeId) this.dialOverrides.set(id, address);
    this.links = this.newLinkTable();
    this.outbox = new Outbox({
      linkTo: (peer) => this.links.sendLink(peer),
      afterTurn: (fn) => this.runtime.afterTurn(fn),
      beforeFlush: () => this.stepPendingFlush(),
      afterFlush: () => this.settleChunks(),
    });
    this.applier = new LogApplier(this.store, {
      durable: (seq) => {
        if (!this.stopped) this.stepNow({ type: 'durable', seq });
      },
      warn: (m) => this.log.warn(m),
      fatal: (e) => this.onTaskError(e),
    });
    this.sender = this.newSnapshotSender();
    this.receiver = this.newSnapshotReceiver();
    this.backups = new BackupStreams({
      store: this.store,
      nodeId: this.nodeId,
      members: () => (opts.clusterMembers === undefined || !this.coreBuilt ? null : [...this.core.status(this.lastStepMs).membership.config.members.keys()]),
      info: (m) => this.log.info(m),
      warn: (m) => this.log.warn(m),
    });
    this.pubsub = new PubSubRelay({
      role: () => (this.coreBuilt && !this.stopped ? this.core.currentRole : 'replica'),
      primaryId: () => (this.coreBuilt ? this.core.knownPrimaryId : null),
      linkTo: (peer) => this.links.sendLink(peer),
      sendPeers: () => this.links.sendPeers(),
      afterTurn: (fn) => this.runtime.afterTurn(fn),
    });
    // Expiry is a logged event: only a primary that takes writes deletes expired keys, and each
    // delete is shipped like a client's write; a replica hides them until that delete arrives.
    this.store.setExpiryAuthority({
      mayDelete: () => !this.stopped && this.coreBuilt && this.core.currentRole === 'primary' && this.acceptsWrites(),
      deleted: (pos, ops) => this.onLocalWrite(pos, ops),
    });
    this.store.setLogListener({
      failed: (keptSeq) => this.onStoreLogFailed(keptSeq),
      resumed: () => {
        if (!this.stopped && this.coreBuilt) this.stepNow({ type: 'logResumed' });
      },
    });
  }

  /**
   * The store's log failed and rolled back to `keptSeq`: the core forgets what the store lost (a
   * primary stops taking writes; in a cluster it steps down), and the member keeps serving reads
   * and replicating what it can until the log takes writes again (logResumed).
   */
  private onStoreLogFailed(keptSeq: Seq | null): void {
    if (this.stopped || !this.coreBuilt) return;
    if (keptSeq === null || keptSeq < this.core.durableUpTo) {
      const why = keptSeq === null ? 'the log could not be reopened' : `the log kept ${keptSeq}, less than it had reported durable (${this.core.durableUpTo})`;
      this.onTaskError(new StoreUnavailableError(why));
      return;
    }
    this.logGeneration++;
    this.applier.rolledBack(keptSeq);
    const last = this.core.lastPosition;
    if (keptSeq < last.seq) {
      this.logRollbacks.push({ epoch: last.epoch, afterSeq: keptSeq, toSeq: last.seq });
      if (this.logRollbacks.length > LOG_ROLLBACKS_KEPT) this.logRollbacks.shift();
    }
    // A snapshot being streamed may hold writes the rollback discarded: end it, and the link it
    // ran on, so the replica (which cannot resume a half-sent snapshot) handshakes again.
    for (const peer of this.sender.cancelAll()) this.links.sendLink(peer)?.close('the log failed during a full resync to this replica');
    this.stepNow({ type: 'logFailed', keptSeq });
    this.observer?.onReplicaProgress();
  }

  /**
   * Was `pos` written here and then taken back by a log failure? Such a write was answered
   * MISCONF, never acknowledged: a session must not keep requiring it (it would wait, then be told
   * the write was lost by a failover).
   */
  lostInLogFailure(pos: Position): boolean {
    return this.logRollbacks.some((r) => pos.epoch === r.epoch && pos.seq > r.afterSeq && pos.seq <= r.toSeq);
  }

  /** start() built the core (reads before it only hide expired keys). */
  private get coreBuilt(): boolean {
    return (this.core as ReplicationCore | undefined) !== undefined;
  }

  private newLinkTable(): LinkTable {
    const o = this.opts;
    return new LinkTable(
      { transport: this.runtime.transport, nodeId: this.nodeId, password: o.primaryAuth, user: o.primaryUser ?? '', announce: this.selfAddress, cluster: o.clusterMembers !== undefined },
      {
        events: this,
        up: (peer, address, outbound) => this.stepNow({ type: 'linkUp', peer, address, outbound }),
        isStopped: () => this.stopped,
        info: (m) => this.log.info(m),
        warn: (m) => this.log.warn(m),
        error: (m) => this.log.error(m),
      },
    );
  }

  private newSnapshotSender(): SnapshotSender {
    return new SnapshotSender(this.store, {
      nowMs: () => this.nowMs(),
      info: (m) => this.log.info(m),
      warn: (m) => this.log.warn(m),
      isPrimary: () => this.core.currentRole === 'primary',
      flushOutbox: (peer) => this.outbox.flush(peer),
      sent: (peer, from) => this.stepNow({ type: 'fullResyncSent', peer, from }),
    });
  }

  private newSnapshotReceiver(): SnapshotReceiver {
    return new SnapshotReceiver(this.store, {
      nowMs: () => this.nowMs(),
      info: (m) => this.log.info(m),
      warn: (m) => this.log.warn(m),
      error: (m) => this.log.error(m),
      acceptable: (peer) => this.core.snapshotAcceptable(peer),
      loaded: async (peer, h) => {
        this.applier.replaced(h.from.seq);
        await this.stepInTask({ type: 'snapshotLoaded', peer, position: h.from, epochHistory: h.epochHistory, configs: this.store.memberConfigs });
        this.observer?.onApplied();
      },
    });
  }

  /** Monotonic ms for the core (wall clocks can step backwards). */
  nowMs(): number {
    return this.runtime.nowMs();
  }

  setObserver(o: HostObserver): void {
    this.observer = o;
  }

  /** Build the core from the store, run its start (a primary begins its epoch) and the tick timer. */
  async start(): Promise<void> {
    this.core = this.buildCore(this.opts.replicaOf);
    this.stepNow({ type: 'start' });
    if (this.opts.replicaOf !== null) this.links.dialPrimary(this.opts.replicaOf);
    // The core's start reported its peers (membersChanged); following them again is a no-op.
    if (this.isCluster) {
      const st = this.status();
      this.followPeers(new Map(st.peers.map((p) => [p.id, p.address])), st.membership.self);
    }
    this.cancelTick = this.runtime.every(TICK_INTERVAL_MS, () => this.onTickTimer());
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
            ? { mode: 'cluster', members: this.opts.clusterMembers, ...(this.opts.clusterLearners !== undefined ? { learners: this.opts.clusterLearners } : {}) }
            : { mode: 'manual', initialRole: replicaOf === null ? { role: 'primary' } : { role: 'replica', primaryAddress: replicaOf } },
        timing: this.timing,
        random: this.runtime.random,
        backlogMemory: this.chunkPool,
      },
      {
        currentEpoch: Math.max(metaEpoch, this.store.epoch),
        votedFor: typeof meta['votedFor'] === 'string' ? meta['votedFor'] : null,
        epochHistory: this.store.epochHistory,
        lastPosition: this.store.lastPosition,
        durableSeq: s.durableSeq,
        configs: this.store.memberConfigs,
      },
      this.stepClock(this.nowMs()),
    );
  }

  /** Resolves when no task is queued or running. */
  idle(): Promise<void> {
    return this.tasks.idle();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTick?.();
    this.cancelTick = null;
    this.links.stopAll('shutting down');
    this.backups.stopAll();
    this.receiver.abort();
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
  /** The core, read-only (its queries and checks; simulation tests compare it with the store). */
  get coreView(): Pick<ReplicationCore, 'currentRole' | 'currentEpoch' | 'lastPosition' | 'committedSeq' | 'configInForce' | 'memberRole'> {
    return this.core;
  }
  get role(): CoreStatus['role'] {
    return this.core.currentRole;
  }
  /** See ReplicationCore.reachablePrimaryAddress. */
  reachablePrimaryAddress(): string | null {
    return this.core.reachablePrimaryAddress();
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
  /**
   * Replication's own buffers: the backlog and every link's unsent output. Like Redis's
   * mem_not_counted_for_evict, maxmemory does not count them (evicting keys would only add
   * deletes to them).
   */
  bufferedBytes(): number {
    const st = this.status();
    let n = st.backlogBytes + this.pubsub.queuedBytes;
    for (const p of st.peers) n += this.links.outputBytes(p.id);
    return n;
  }

  /** Bytes written to the link to `peer` that it has not handed to the kernel yet (Redis's omem). */
  linkOutputBytes(peer: NodeId): number {
    return this.links.outputBytes(peer);
  }
  linkUpTo(peer: NodeId | null): boolean {
    return peer !== null && this.links.sendLink(peer)?.isClosed === false;
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

  /** MEMBER ADD / PROMOTE / REMOVE / ADDRESS: answered by a memberChangeResult effect with `requestId`. */
  changeMembers(requestId: number, change: MemberChange): void {
    this.stepNow({ type: 'changeMembers', requestId, change });
  }

  // ================================================================ inputs

  /** Server hook: a client write was applied at `pos` (primary path). */
  onLocalWrite(pos: Position, ops: readonly Op[]): void {
    // Values may be views of a connection's read buffer: the backlog copies the store's encoded
    // record of them (or encodes them) during this step.
    if (this.writeClockMs < 0) this.writeClockMs = this.nowMs();
    this.stepNow({ type: 'localWrite', entry: { epoch: pos.epoch, seq: pos.seq, ops }, record: this.store.lastRecord(pos.seq) }, this.writeClockMs);
    // One durability watch per turn, after every read event of it was applied (Redis's
    // beforeSleep): a write later in the turn is covered by the same flush. The turn's write clock ends there too.
    if (!this.durableWatchScheduled) {
      this.durableWatchScheduled = true;
      this.runtime.afterTurn(() => {
        this.durableWatchScheduled = false;
        this.writeClockMs = -1;
        if (!this.stopped) this.applier.watchDurable();
      });
    }
  }

  promote(): void {
    this.stepNow({ type: 'promote' });
  }

  replicaOf(address: string): void {
    this.stepNow({ type: 'replicaOf', address });
  }

  /** CONFIG SET repl-backlog-size. */
  setBacklogBytes(bytes: number): void {
    this.stepNow({ type: 'setBacklogBytes', bytes });
  }

  /** A KVREPL command handed us this socket: `peerId` dialled us (it is, or wants to be, our replica). */
  acceptLink(socket: Socket, peerId: NodeId, announce: string): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    this.acceptPeerLink(peerId, announce, (events) => new Link(socket, peerId, announce, false, events, Buffer.alloc(0)));
  }

  /** `peerId` dialled us over any transport; `open` builds the link that reports to `events`. */
  acceptPeerLink(peerId: NodeId, announce: string, open: (events: LinkEvents) => ReplLink): void {
    if (this.stopped) return;
    this.links.accept(peerId, announce, open);
  }

  // ================================================================ LinkEvents

  onFrame(link: ReplLink, f: Frame): void {
    if (!this.links.isCurrent(link)) return;
    if (f.kind === KIND_PUBSUB) {
      // Delivered on arrival, not behind log work in the task FIFO: a message is not state.
      if (!this.pubsub.onFrame(link.peerId, f.payload)) link.close(`bad pub/sub frame from ${link.peerId}`);
      return;
    }
    if (!this.tasks.pushFrame(() => this.handleFrame(link, f))) link.close('too many frames queued behind slow work');
  }

  onClose(link: ReplLink, reason: string): void {
    const kind = this.links.closed(link);
    const loadDropped = this.receiver.linkClosed(link, kind !== 'stale');
    if (kind === 'stale') return;
    this.log.warn(`replication link ${kind === 'inbound' || !link.outbound ? 'from' : 'to'} ${link.peerId} (${link.peerAddress}) down: ${reason}`);
    if (kind === 'inbound') {
      // The snapshot arrived on this link and cannot resume on another: handshake again.
      const out = this.links.sendLink(link.peerId);
      if (loadDropped && out !== undefined) this.stepNow({ type: 'linkUp', peer: link.peerId, address: out.peerAddress, outbound: true });
      return;
    }
    this.sender.cancel(link.peerId);
    this.stepNow({ type: 'linkDown', peer: link.peerId });
    this.links.redial(link);
  }

  // ================================================================ stepping the core

  private onTaskError(e: unknown): void {
    if (e instanceof StoreUnavailableError) {
      // The store closed under us (shutdown), or its log failed: replication ends with it.
      this.log.warn(`replication stopped: ${e.message}`);
      void this.stop();
      return;
    }
    // A failed effect means the store and the core disagree: continuing would corrupt data.
    this.log.error(`replication host failed: ${(e as Error).stack ?? String(e)}`);
    this.runtime.fatal(e);
  }

  /** Step the core now and queue its effects behind everything already queued. */
  private stepNow(ev: CoreEvent, nowMs: number = this.nowMs()): void {
    if (this.stopped && ev.type !== 'linkDown') return;
    const effects = this.core.step(ev, this.stepClock(nowMs));
    const generation = this.logGeneration;
    if (effects.length > 0) this.tasks.push(() => this.execute(effects, generation));
  }

  /** Step inside a task: its effects run before the next queued task. */
  private async stepInTask(ev: CoreEvent): Promise<void> {
    await this.execute(this.core.step(ev, this.stepClock(this.nowMs())), this.logGeneration);
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

  /** The outbox turn begins with the core's pending flush: its appends join this turn's frames. */
  private stepPendingFlush(): void {
    if (!this.flushWanted) return;
    this.flushWanted = false;
    this.stepNow({ type: 'flush' });
  }

  /**
   * Backlog chunks given back may be reused once no link still queues bytes: every frame
   * written so far (whose records may view those chunks) is then in the kernel.
   */
  private settleChunks(): void {
    if (this.links.allDrained()) this.chunkPool.settle();
  }

  // ================================================================ frames

  private async handleFrame(link: ReplLink, f: Frame): Promise<void> {
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
        return this.receiver.begin(link, f);
      case KIND_SNAP_CHUNK:
        return this.receiver.chunk(link, f);
      case KIND_SNAP_END:
        return this.receiver.end(link, f);
      case KIND_PUBSUB:
        throw new Error('pub/sub frames are delivered on arrival (onFrame), never queued');
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

  // ================================================================ effects

  private async execute(effects: readonly Effect[], generation: number): Promise<void> {
    for (const e of effects) {
      const logEffect = e.type === 'appendEntries' || e.type === 'truncateAfter' || e.type === 'becomePrimary' || e.type === 'appendConfig';
      if (logEffect && generation !== this.logGeneration) continue; // decided before the log rolled back
      this.observer?.onEffect?.(e);
      const r = this.executeOne(e);
      if (r !== undefined) await (logEffect ? r.catch((err: unknown) => this.logEffectFailed(err, generation)) : r);
    }
    this.checkLogAgrees();
  }

  /** A log effect met the log's failure midway: the core heard logFailed meanwhile, so it is dropped. */
  private logEffectFailed(err: unknown, generation: number): void {
    if (err instanceof StoreUnavailableError && generation !== this.logGeneration && !this.stopped) {
      this.log.warn(`a log step was cut short by the log's failure: ${err.message}`);
      return;
    }
    throw err;
  }

  /** After each effect batch the store's log ends where the core's does. */
  private checkLogAgrees(): void {
    if (this.stopped) return;
    const s = this.store.lastPosition;
    const c = this.core.lastPosition;
    if (s.seq === c.seq && s.epoch === c.epoch) return;
    // The log failed where the core could not follow it (the store could not say what it kept, or
    // it failed in the middle of a truncation): replication stops (onTaskError), the store keeps
    // serving reads and reports the failure; a restart rejoins.
    const refusal = this.store.writeRefusal;
    if (refusal !== null) throw new StoreUnavailableError(refusal);
    assert.fail(`store at ${formatPosition(s)}, core at ${formatPosition(c)} after an effect batch`);
  }

  private executeOne(e: Effect): void | Promise<void> {
    switch (e.type) {
      case 'send':
        this.outbox.queue(e.to, e.msg);
        return;
      case 'flushSoon':
        this.flushWanted = true;
        this.outbox.schedule();
        return;
      case 'persistMeta':
        return this.applier.persistMeta(e.meta);
      case 'appendEntries':
        this.applier.appendEntries(e);
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
        this.startFullResync(e.peer);
        return;
      case 'expectFullResync':
        this.receiver.expect(e.primary);
        return;
      case 'log':
        this.log[e.level](e.text);
        return;
      case 'commitAdvanced':
        return; // the core answers quorum operations from its commit index; nothing to do here
      case 'appendConfig':
        this.appendConfig(e.config);
        return;
      case 'membersChanged':
        this.membersChanged(e.config, e.seq, e.self, e.peers);
        return;
      case 'readReady':
      case 'readFailed':
      case 'quorumWriteResult':
      case 'failoverResult':
      case 'memberChangeResult':
        return this.clusterResult(e);
      default: {
        const never: never = e;
        throw new Error(`unhandled effect ${JSON.stringify(never)}`);
      }
    }
  }

  private clusterResult(e: ClusterResultEffect): void {
    if (this.observer?.onClusterResult !== undefined) {
      this.observer.onClusterResult(e);
      return;
    }
    // Quorum operations are refused before they reach the core in manual mode (NOQUORUM).
    this.log.warn(`unexpected ${e.type} effect in manual mode`);
  }

  private startFullResync(peer: NodeId): void {
    const link = this.links.sendLink(peer);
    if (link !== undefined) void this.sender.stream(peer, link);
  }

  private async truncate(seq: Seq, discarded: number, from: Position, to: Position): Promise<void> {
    const r = await this.applier.truncate(seq, discarded);
    if (r.ok) {
      this.log.warn(`discarded ${discarded} diverged writes ${formatPosition(from)}..${formatPosition(to)}`);
    } else {
      // The store's snapshot already covers the fork: only a full resync can fix this log.
      this.truncateFallbacks++;
      this.log.warn(`cannot truncate after ${seq} (${r.error}); wiping to an empty log and resyncing from scratch`);
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
    this.applier.replaced(0);
    this.links.closeSendLinks('log wiped for a full resync');
    this.core = this.buildCore(primary);
    this.stepNow({ type: 'start' });
    // Cluster: the peer dialers redial the links just closed; the elected primary streams to us again.
    if (primary !== null && !this.isCluster) this.links.dialPrimary(primary);
  }

  private async becomePrimary(epoch: number): Promise<void> {
    // Cluster links are a fixed mesh between members whatever their roles; manual links follow the role.
    if (!this.isCluster) {
      this.links.stopPrimaryDialer();
      this.links.closeSendLinks('this node became primary', true);
    }
    this.receiver.abort();
    this.primaryLastSeq = 0;
    const { pos, record } = await this.applier.beginEpoch(epoch);
    this.stepNow({ type: 'localWrite', entry: { epoch: pos.epoch, seq: pos.seq, ops: [] }, record });
    this.applier.watchDurable();
    this.observer?.onReplicaProgress();
  }

  /** The primary's configuration change: an entry holding only the 'members' op, shipped like the epoch's no-op. */
  private appendConfig(config: MemberConfig): void {
    const refusal = this.store.writeRefusal;
    if (refusal !== null) throw new StoreUnavailableError(refusal);
    const before = this.store.lastPosition.seq;
    const ops: Op[] = [{ t: 'members', config: encodeMemberConfig(config) }];
    const pos = this.store.apply(ops);
    assert.equal(pos.seq, before + 1, 'the configuration entry directly follows the log');
    this.log.info(`membership: appended configuration ${formatConfig(config)} at ${formatPosition(pos)}`);
    this.stepNow({ type: 'localWrite', entry: { epoch: pos.epoch, seq: pos.seq, ops }, record: this.store.lastRecord(pos.seq) });
    this.applier.watchDurable();
  }

  /** The configuration in force, or the nodes the core talks to, changed: the mesh follows (the core logs the change). */
  private membersChanged(config: MemberConfig, seq: Seq, self: MemberRole, peers: ReadonlyMap<NodeId, string>): void {
    if (self !== this.selfRole) this.log.info(`membership: this node is ${self === 'removed' ? 'not a member' : `a ${self}`} of the configuration of seq ${seq} (${formatConfig(config)})`);
    this.followPeers(peers, self);
    this.observer?.onReplicaProgress();
  }

  /** Dial exactly `peers` (by our --cluster route where we have one, until the member moves). */
  private followPeers(peers: ReadonlyMap<NodeId, string>, self: MemberRole): void {
    const prev = this.meshPeers;
    this.meshPeers = peers;
    this.selfRole = self;
    const targets = new Map<NodeId, string>();
    for (const [id, address] of peers) {
      const before = prev.get(id);
      if (before !== undefined && before !== address) this.dialOverrides.delete(id); // moved (MEMBER ADDRESS): the new address wins
      targets.set(id, this.dialOverrides.get(id) ?? address);
    }
    this.links.setPeers(targets);
  }

  /** Cluster: this node's place in the configuration in force ('voter' in manual mode). */
  get memberRole(): MemberRole {
    return this.selfRole;
  }

  private becomeReplica(primaryAddress: string | null): void {
    this.primaryLastSeq = 0;
    if (!this.isCluster) {
      this.links.closeSendLinks('this node became a replica');
      this.links.stopPrimaryDialer();
      if (primaryAddress !== null) this.links.dialPrimary(primaryAddress);
    }
    // Cluster: snapshot streams to peers stop (they check the role); the mesh stays up.
    this.observer?.onReplicaProgress();
  }
}
