// The replication state machine shared by manual primary/replica mode and cluster mode:
// handshake and fork detection, ordered streaming with acks, heartbeats, elections with
// pre-vote, check-quorum fencing, majority commit, ReadIndex reads and leadership transfer.
// It never touches a socket, a file, a timer, a clock or Math.random: the host feeds events
// with the current time through step() and executes the returned effects in order.

import assert from 'node:assert';
import type { Epoch, EpochStart, LogEntry, Position, Seq } from '../../storage/types.js';
import { formatPosition } from '../../storage/types.js';
import { recordEndAt, recordEpochAt, recordMembersConfig, recordSeqAt } from '../../storage/record.js';
import { appendEntriesOfRecords, appendMessage, type AppendMessage } from './append.js';
import { Backlog } from './backlog.js';
import {
  assertHistory,
  checkSessionToken,
  epochAt,
  forkPoint,
  historyTruncated,
  historyWithEntry,
  isLogUpToDate,
  positionOf,
  type SessionVerdict,
} from './history.js';
import { majorityMatch, majorityOf } from './quorum.js';
import {
  applyChange,
  bootstrapConfig,
  decodeMemberConfig,
  formatConfig,
  isVoter,
  roleIn,
  votersOf,
  withConfig,
} from './member-config.js';
import type {
  ConfigAt,
  CoreConfig,
  CoreEvent,
  CoreStatus,
  Effect,
  MemberChange,
  MemberConfig,
  MemberRole,
  Message,
  NodeId,
  PeerStatus,
  PersistentState,
  ReadCheck,
  ReadFailure,
  Role,
  SyncState,
} from './types.js';
import { READ_OK, validateConfig } from './types.js';

/** How many discarded ranges INFO keeps (the counters keep the totals). */
const DISCARDED_RANGES_MAX = 16;
/** Heartbeat rounds whose send time is remembered for check-quorum (64 × 50–100 ms ≫ an election timeout). */
const ROUND_SEND_TIMES_MAX = 64;
/** Pending quorum reads per primary; beyond this the newest read fails at once (bounded memory). */
const PENDING_READS_MAX = 100_000;
/** Pending quorum writes per primary; beyond this the write's outcome is reported unknown at once. */
const PENDING_WRITES_MAX = 100_000;

/** The primary's view of one replica. */
interface Peer {
  readonly id: NodeId;
  address: string;
  link: 'up' | 'down';
  /** unknown: no hello in this reign yet; snapshot: full resync being streamed; streaming: entries flow. */
  phase: 'unknown' | 'snapshot' | 'streaming';
  /** Highest seq the replica acknowledged as applied and durable in this reign (monotonic). */
  matchSeq: Seq;
  /** Highest seq sent to it (entries in (matchSeq, sentSeq] are in flight). */
  sentSeq: Seq;
  /** Last seq the replica reported having (not necessarily durable). */
  reportedLastSeq: Seq;
  lastProgressMs: number;
  /** Last time any message of the current epoch arrived from it (check-quorum). */
  lastContactMs: number;
  /** Host time of the last message of any kind from it (status). */
  lastHeardMs: number;
  /** Highest heartbeat round it acknowledged in this reign (ReadIndex). */
  ackedRound: number;
}

interface PendingRead {
  readonly readId: number;
  readonly readSeq: Seq;
  readonly round: number;
  readonly deadlineMs: number;
}

interface PendingWrite {
  readonly seq: Seq;
  readonly deadlineMs: number;
}

interface Transfer {
  readonly target: NodeId;
  readonly deadlineMs: number;
  timeoutNowSent: boolean;
}

/** The one membership change in flight on a primary (requestId 0: an automatic promotion). */
interface PendingChange {
  readonly requestId: number;
  /** The seq of its configuration entry; null until the host appended it (appendConfig). */
  seq: Seq | null;
  readonly deadlineMs: number;
}

/** A member the configuration in force removed, still streamed to until it holds that entry. */
interface Departing {
  /** The seq of the entry that removed it. */
  readonly seq: Seq;
  /** When the primary saw that entry committed (-1: not yet); it stops streaming a while after. */
  committedAtMs: number;
  /** The first heartbeat round sent after that commit: acknowledging it, the member knows it was removed for good. */
  roundAfterCommit: number;
}

const NO_EFFECTS: readonly Effect[] = Object.freeze([]);

export class ReplicationCore {
  private readonly cfg: CoreConfig;
  private readonly cluster: boolean;
  private nowMs: number;
  private out: Effect[] = [];
  /**
   * Whether local writes go to the backlog. A standalone primary that started on an empty log and
   * has had no replica keeps none, as Redis creates its backlog only when the first replica
   * attaches: nothing could resume from it (a replica that attaches later holds none of this
   * history, so it is fully resynced either way), and keeping it costs CPU on every write
   * (docs/perf-notes.md, 'Replication: backlog'). Latched: once kept (a replica contacted us, we
   * followed a primary, cluster mode, or we started on a non-empty log that a replica attached
   * before a restart may resume from), it is kept for the life of the process.
   */
  private keepBacklog = true;
  /** A flushSoon is out and its flush has not come yet (local writes wait to be pumped). */
  private flushRequested = false;

  // ---- persistent (mirrored by persistMeta effects) and log shape (mirrored by the store)
  private epoch: Epoch;
  private votedFor: NodeId | null;
  private history: EpochStart[];
  private lastPos: Position;
  private durableSeq: Seq;
  private commitSeq: Seq = 0;
  /**
   * The local log failed (logFailed) and takes no writes until logResumed: no appends are
   * applied, no handshake is started, no election is run or vote granted, and a primary takes no
   * writes (a cluster primary steps down, a manual one resumes in a new epoch).
   */
  private logDown = false;
  /** Times the local log rolled back (logFailed with a shorter log): stale acks may then name lost entries. */
  private logRollbacks = 0;
  private readonly backlog: Backlog;

  // ---- role
  private role: Role;
  private primaryId: NodeId | null = null;
  private primaryAddress: string | null = null;
  private readonly peers = new Map<NodeId, Peer>();

  // ---- membership (cluster mode; manual mode: this node is the only voter)
  /** Configurations of the local log, oldest first (the newest CONFIGS_KEPT); the last is in force. */
  private configs: ConfigAt[];
  private readonly bootstrap: MemberConfig;
  /** The voters of the configuration in force (self included when it is one). */
  private voters: NodeId[];
  private selfRole: MemberRole = 'voter';
  /** Primary: members the configuration in force removed, streamed to until they hold it. */
  private readonly departing = new Map<NodeId, Departing>();
  private change: PendingChange | null = null;
  /**
   * A --join node with an empty log runs its own guess (the voters it was told, itself a
   * learner) until its log holds entries: from then on only the log (or its snapshot) says.
   */
  private provisional = false;
  /** The configuration whose commit last shrank the peers to its members (configCommitted). */
  private peersSyncedForCommit: Seq = -1;

  // ---- replica side
  private sync: SyncState = 'none';
  private syncSinceMs = 0;
  private helloSentMs = -1;
  private lastHeardPrimaryMs = -1;
  private primaryLastSeq: Seq = 0;
  private roundSeen = 0;
  private pendingFullResyncFork: Seq = 0;

  // ---- elections
  private electionDeadlineMs = 0;
  private readonly votes = new Set<NodeId>();

  // ---- primary side
  private round = 0;
  /**
   * Send time of each recent heartbeat round (a bounded window). Check-quorum counts a peer's
   * contact from the send time of the newest round it acknowledged, not from when the ack is
   * processed: acks that sat in socket buffers while this primary was paused (SIGSTOP) must not
   * make a deposed primary believe it still leads.
   */
  private readonly roundSentMs = new Map<number, number>();
  private nextHeartbeatMs = 0;
  private reads: PendingRead[] = [];
  private readonly writes = new Map<number, PendingWrite>();
  private transfer: Transfer | null = null;

  // ---- counters for INFO
  private fullResyncs = 0;
  private partialResyncs = 0;
  private discardedEntries = 0;
  private readonly discardedRanges: { from: Position; to: Position }[] = [];

  constructor(config: CoreConfig, state: PersistentState, nowMs: number) {
    const problem = validateConfig(config);
    assert(problem === null, `invalid replication config: ${problem}`);
    assertHistory(state.epochHistory);
    assert(epochAt(state.epochHistory, state.lastPosition.seq) === state.lastPosition.epoch, 'last position not in history');
    this.cfg = config;
    this.cluster = config.topology.mode === 'cluster';
    this.nowMs = nowMs;
    this.epoch = state.currentEpoch;
    this.votedFor = state.votedFor;
    this.history = [...state.epochHistory];
    this.lastPos = state.lastPosition;
    this.durableSeq = Math.min(state.durableSeq, state.lastPosition.seq);
    const recent = state.recentEntries ?? [];
    const first = recent[0];
    this.backlog = new Backlog(config.timing.backlogBytesMax, first === undefined ? this.lastPos.seq : first.seq - 1, config.backlogMemory);
    for (const e of recent) this.backlog.append(e, nowMs);
    assert(this.backlog.lastSeq === this.lastPos.seq, 'recentEntries must end at lastPosition');
    const last = this.history[this.history.length - 1];
    assert(last === undefined || last.epoch <= this.epoch, 'history ahead of current epoch');

    if (config.topology.mode === 'cluster') {
      // A log (or snapshot) without membership entries runs the founding members' configuration:
      // --cluster's voters. A --join node also starts as a learner of it (its own guess until its
      // log says otherwise); if a snapshot or a truncation then leaves it no entry, it is no member.
      this.bootstrap = bootstrapConfig({ mode: 'cluster', members: config.topology.members });
      const saved = state.configs ?? [];
      for (const c of saved) assert(c.seq <= this.lastPos.seq, `configuration at ${c.seq} beyond the log`);
      this.provisional = saved.length === 0 && this.lastPos.seq === 0 && (config.topology.learners?.size ?? 0) > 0;
      this.configs = saved.length > 0 ? [...saved] : [{ seq: 0, config: this.provisional ? bootstrapConfig(config.topology) : this.bootstrap }];
      this.voters = votersOf(this.inForce.config);
      this.selfRole = roleIn(this.inForce.config, config.nodeId);
      for (const [id, m] of this.inForce.config.members) if (id !== config.nodeId) this.peers.set(id, this.newPeer(id, m.address));
      // Restarted nodes start as replicas: a node cannot know it is still primary (LINEAGE: no fencing).
      this.role = 'replica';
      this.resetElectionTimer();
    } else {
      // Manual mode has no membership: this node is its own only voter (status shows it so).
      this.bootstrap = { members: new Map([[config.nodeId, { address: config.selfAddress, voter: true, autoPromote: false }]]) };
      this.configs = [{ seq: 0, config: this.bootstrap }];
      this.voters = [config.nodeId];
      if (config.topology.initialRole.role === 'primary') {
        this.role = 'primary';
        this.primaryId = config.nodeId;
        this.primaryAddress = config.selfAddress;
      } else {
        this.role = 'replica';
        this.primaryAddress = config.topology.initialRole.primaryAddress;
      }
    }
    this.keepBacklog = this.cluster || this.role !== 'primary' || this.lastPos.seq > 0;
  }

  // ======================================================================== public queries

  get nodeId(): NodeId {
    return this.cfg.nodeId;
  }
  get currentRole(): Role {
    return this.role;
  }
  get currentEpoch(): Epoch {
    return this.epoch;
  }
  get lastPosition(): Position {
    return this.lastPos;
  }
  get committedSeq(): Seq {
    return this.commitSeq;
  }
  get epochHistory(): readonly EpochStart[] {
    return this.history;
  }
  /** Highest seq reported durable by the host (a log failure may never take back more). */
  get durableUpTo(): Seq {
    return this.durableSeq;
  }
  get discardedTotal(): number {
    return this.discardedEntries;
  }
  get knownPrimaryId(): NodeId | null {
    return this.primaryId;
  }
  /** The configuration in force and the seq of the entry that set it (0: bootstrap). */
  get configInForce(): ConfigAt {
    return this.inForce;
  }
  /** This node's place in the configuration in force. */
  get memberRole(): MemberRole {
    return this.selfRole;
  }
  /**
   * Not the primary: the address of the primary we follow when its link is up (what CLUSTER INFO
   * calls cluster_state ok on a replica), else null. Cheap: the cluster gate asks per command.
   */
  reachablePrimaryAddress(): string | null {
    if (this.role === 'primary' || this.primaryId === null) return null;
    return this.peers.get(this.primaryId)?.link === 'up' ? this.primaryAddress : null;
  }

  /**
   * May the host accept a client write now? Primary, not handing over, its epoch's no-op in the
   * log, and (cluster) in contact with a majority within an election timeout — evaluated at
   * `nowMs` so a primary resuming from a long pause is fenced before its first tick.
   */
  acceptsWrites(nowMs: number): boolean {
    if (this.role !== 'primary' || this.transfer !== null || this.logDown) return false;
    // A primary that removed itself only finishes committing that entry: it acknowledges nothing new.
    if (this.selfRole !== 'voter') return false;
    const last = this.history[this.history.length - 1];
    if (last === undefined || last.epoch !== this.epoch) return false;
    return !this.cluster || this.quorumContact(nowMs);
  }

  /** Why quorum consistency is unavailable on this node, or null. */
  quorumUnavailable(): string | null {
    return this.cluster ? null : 'quorum needs cluster mode (--cluster)';
  }

  /** Staleness bounds for EVENTUAL reads on a replica (LINEAGE: heartbeats under load, no underflow). */
  replicaReadCheck(nowMs: number): ReadCheck {
    if (this.role === 'primary') return READ_OK;
    const addr = this.primaryAddress;
    if (this.lastHeardPrimaryMs < 0) return { ok: false, error: 'TOOSTALE', primaryAddress: addr, detail: 'never heard from a primary' };
    const silentMs = nowMs - this.lastHeardPrimaryMs;
    if (silentMs > this.cfg.timing.replicaMaxLagMs) {
      return { ok: false, error: 'TOOSTALE', primaryAddress: addr, detail: `no contact with the primary for ${silentMs} ms` };
    }
    // Clamp at 0: after a role change our log can be ahead of the last heartbeat we saw.
    const lagOps = Math.max(0, this.primaryLastSeq - this.lastPos.seq);
    if (lagOps > this.cfg.timing.replicaMaxLagOps) {
      return { ok: false, error: 'TOOSTALE', primaryAddress: addr, detail: `${lagOps} writes behind the primary` };
    }
    return READ_OK;
  }

  /** Session token check (read-your-writes across nodes); the host waits up to sessionWaitMs on 'wait'. */
  checkSession(token: Position): SessionVerdict {
    return checkSessionToken(this.history, this.lastPos.seq, token);
  }

  /** The host asks right before committing a received snapshot; only the current primary's counts. */
  snapshotAcceptable(peer: NodeId): boolean {
    return this.role === 'replica' && this.sync === 'loading' && this.primaryId === peer;
  }

  // ======================================================================== the step function

  step(event: CoreEvent, nowMs: number): readonly Effect[] {
    // Checked with if/fail, not assert(cond, `...`): the message would be built on every step.
    if (nowMs < this.nowMs) assert.fail(`time went backwards: ${nowMs} < ${this.nowMs}`);
    this.nowMs = nowMs;
    switch (event.type) {
      case 'start':
        this.onStart();
        break;
      case 'tick':
        this.onTick();
        break;
      case 'message':
        this.onMessage(event.from, event.msg);
        break;
      case 'localWrite':
        this.onLocalWrite(event.entry, event.record);
        break;
      case 'flush':
        this.onFlush();
        break;
      case 'durable':
        this.onDurable(event.seq);
        break;
      case 'logFailed':
        this.onLogFailed(event.keptSeq);
        break;
      case 'logResumed':
        this.onLogResumed();
        break;
      case 'linkUp':
        this.onLinkUp(event.peer, event.address, event.outbound);
        break;
      case 'linkDown':
        this.onLinkDown(event.peer);
        break;
      case 'promote':
        this.onPromote();
        break;
      case 'replicaOf':
        this.onReplicaOf(event.address);
        break;
      case 'failover':
        this.onFailover(event.target);
        break;
      case 'setBacklogBytes':
        this.backlog.resize(event.bytes);
        break;
      case 'quorumRead':
        this.onQuorumRead(event.readId);
        break;
      case 'quorumWrite':
        this.onQuorumWrite(event.writeId, event.seq);
        break;
      case 'fullResyncSent':
        this.onFullResyncSent(event.peer, event.from);
        break;
      case 'snapshotLoaded':
        this.onSnapshotLoaded(event.peer, event.position, event.epochHistory, event.configs);
        break;
      case 'changeMembers':
        this.onChangeMembers(event.requestId, event.change);
        break;
      default:
        assertNever(event);
    }
    this.assertInvariants();
    // Most steps (a local write with no replica to pump) emit nothing: no array per step then.
    if (this.out.length === 0) return NO_EFFECTS;
    const out = this.out;
    this.out = [];
    return out;
  }

  private assertInvariants(): void {
    assert(this.backlog.lastSeq === this.lastPos.seq, 'backlog and log disagree on the last seq');
    assert(epochAt(this.history, this.lastPos.seq) === this.lastPos.epoch, 'last position not in history');
    assert(this.durableSeq <= this.lastPos.seq, 'durable beyond the log');
    assert(this.commitSeq <= this.lastPos.seq, 'commit beyond the log');
    const last = this.history[this.history.length - 1];
    assert(last === undefined || last.epoch <= this.epoch, 'log holds an epoch above the current one');
    assert(this.role !== 'primary' || this.primaryId === this.cfg.nodeId, 'primary without itself as primary');
    assert(this.role === 'primary' || (this.reads.length === 0 && this.writes.size === 0), 'pending quorum ops on a non-primary');
  }

  // ======================================================================== small helpers

  private emit(e: Effect): void {
    this.out.push(e);
  }
  private send(to: NodeId, msg: Message): void {
    this.emit({ type: 'send', to, msg });
  }
  private log(level: 'info' | 'warn' | 'error', text: string): void {
    this.emit({ type: 'log', level, text });
  }
  private persist(): void {
    this.emit({ type: 'persistMeta', meta: { currentEpoch: this.epoch, votedFor: this.votedFor } });
  }
  private newPeer(id: NodeId, address: string): Peer {
    return {
      id,
      address,
      link: 'down',
      phase: 'unknown',
      matchSeq: 0,
      sentSeq: 0,
      reportedLastSeq: 0,
      lastProgressMs: this.nowMs,
      lastContactMs: this.nowMs,
      lastHeardMs: -1,
      ackedRound: 0,
    };
  }
  private peer(id: NodeId): Peer | undefined {
    const p = this.peers.get(id);
    if (p !== undefined || this.cluster) return p; // cluster peers are exactly the configured members
    const created = this.newPeer(id, '');
    this.peers.set(id, created);
    this.keepBacklog = true;
    return created;
  }
  private get inForce(): ConfigAt {
    return this.configs[this.configs.length - 1] as ConfigAt;
  }
  /** ⌊voters/2⌋+1 of the configuration in force. */
  private majority(): number {
    return majorityOf(Math.max(1, this.voters.length));
  }
  /** How many voters of the configuration in force are in `ids` (votes, acks of a round...). */
  private votersIn(has: (id: NodeId) => boolean): number {
    let n = 0;
    for (const id of this.voters) if (has(id)) n++;
    return n;
  }
  private addressOf(id: NodeId | null): string | null {
    if (id === null) return null;
    if (id === this.cfg.nodeId) return this.cfg.selfAddress;
    const a = this.peers.get(id)?.address;
    return a === undefined || a === '' ? null : a;
  }
  private resetElectionTimer(): void {
    const t = this.cfg.timing;
    const r = this.cfg.random();
    assert(r >= 0 && r < 1, 'random() must return [0, 1)');
    this.electionDeadlineMs = this.nowMs + t.electionTimeoutMinMs + Math.floor(r * (t.electionTimeoutMaxMs - t.electionTimeoutMinMs));
  }
  /** Contact with a majority of the voters in force within an election timeout (self counts only as a voter). */
  private quorumContact(nowMs: number): boolean {
    // A plain loop: acceptsWrites runs this for every client write.
    let n = 0;
    for (const id of this.voters) {
      if (id === this.cfg.nodeId) n++;
      else {
        const p = this.peers.get(id);
        if (p !== undefined && nowMs - p.lastContactMs < this.cfg.timing.electionTimeoutMinMs) n++;
      }
    }
    return n >= this.majority();
  }
  /** Heard from a live primary recently: refuse to help depose it (pre-vote and disruptive votes). */
  private inLease(): boolean {
    if (this.role === 'primary') return true;
    return this.primaryId !== null && this.lastHeardPrimaryMs >= 0 && this.nowMs - this.lastHeardPrimaryMs < this.cfg.timing.electionTimeoutMinMs;
  }
  private ackMsg(): Message {
    return {
      type: 'ack',
      epoch: this.epoch,
      synced: this.sync === 'streaming',
      matchSeq: Math.min(this.durableSeq, this.lastPos.seq),
      lastSeq: this.lastPos.seq,
      round: this.roundSeen,
    };
  }

  /** Track one entry appended to the local log (by us as primary, or received). */
  private recordAppend(entry: LogEntry, record?: Buffer): void {
    if (this.extendLog(entry.seq, entry.epoch, entry.seq)) this.backlog.append(entry, this.nowMs, record);
    const op = entry.ops.length === 1 ? entry.ops[0] : undefined;
    if (op !== undefined && op.t === 'members') this.adoptConfigBytes(entry.seq, op.config);
  }

  /** recordAppend of the checked records `buf[start..]`, back to back (a replica's frame bytes). */
  private recordAppendRecords(buf: Buffer, start: number): void {
    let epoch = this.lastPos.epoch;
    let seq = this.lastPos.seq;
    let configs: { seq: Seq; bytes: Buffer }[] | null = null;
    for (let off = start; off < buf.length; off = recordEndAt(buf, off)) {
      const s = recordSeqAt(buf, off);
      if (s !== seq + 1) assert.fail(`log gap: entry ${s} after ${seq}`);
      epoch = recordEpochAt(buf, off);
      seq = s;
      this.history = historyWithEntry(this.history, epoch, seq);
      const bytes = recordMembersConfig(buf, off);
      if (bytes !== null) (configs ??= []).push({ seq: s, bytes });
    }
    const firstSeq = this.lastPos.seq + 1;
    if (this.extendLog(firstSeq, epoch, seq)) this.backlog.appendRecords(firstSeq, buf, start, buf.length, this.nowMs);
    // In force from the moment they are in the log (single-server changes): in log order.
    if (configs !== null) for (const c of configs) this.adoptConfigBytes(c.seq, c.bytes);
  }

  /**
   * The log now ends at (epoch, seq) after the entries firstSeq..seq (the history already holds
   * the epochs of those before seq). True when the caller must keep them in the backlog.
   */
  private extendLog(firstSeq: Seq, epoch: Epoch, seq: Seq): boolean {
    if (firstSeq !== this.lastPos.seq + 1) assert.fail(`log gap: entry ${firstSeq} after ${this.lastPos.seq}`);
    if (this.provisional) this.leaveProvisional();
    this.history = historyWithEntry(this.history, epoch, seq);
    this.lastPos = { epoch, seq };
    if (!this.keepBacklog) this.backlog.skipTo(seq);
    return this.keepBacklog;
  }

  // ======================================================================== epochs and roles

  /** A message carried a higher epoch: adopt it (persisted) and follow; a primary steps down. */
  private adoptEpoch(epoch: Epoch, reason: string): void {
    assert(epoch > this.epoch);
    const wasPrimary = this.role === 'primary';
    this.epoch = epoch;
    this.votedFor = null;
    this.persist();
    if (wasPrimary) this.stepDown(`saw epoch ${epoch} (${reason})`, true);
    this.becomeFollower(null); // emits becomeReplica when we were anything but a replica
  }

  private becomeFollower(primary: NodeId | null): void {
    const changed = this.role !== 'replica' || this.primaryId !== primary;
    this.role = 'replica';
    this.keepBacklog = true;
    this.votes.clear();
    if (this.primaryId !== primary) {
      this.sync = 'none';
      this.roundSeen = 0;
    }
    this.primaryId = primary;
    if (this.cluster) this.syncPeers();
    this.primaryAddress = this.addressOf(primary);
    if (this.cluster) this.resetElectionTimer();
    if (changed) this.emit({ type: 'becomeReplica', primaryId: primary, primaryAddress: this.primaryAddress });
  }

  /** Leave the primary role: every pending quorum operation's outcome becomes unknown. */
  private stepDown(reason: string, deposed: boolean): void {
    assert(this.role === 'primary');
    this.log('warn', `stepping down as primary of epoch ${this.epoch}: ${reason}`);
    this.failPendingOps(`leadership lost before commit (${reason})`);
    if (this.transfer !== null) {
      this.emit({ type: 'failoverResult', ok: deposed, reason: deposed ? `handed over (${reason})` : reason });
      this.transfer = null;
    }
    this.endChange('unknown', `leadership lost before the configuration entry was committed (${reason})`);
    this.departing.clear();
    // The caller moves us to the next role (follower, or replica of a new address).
  }

  /** Pending quorum reads fail and pending quorum writes' outcomes become unknown (they may still commit). */
  private failPendingOps(reason: string): void {
    const failure: ReadFailure = { reason: this.selfRole === 'removed' ? 'removed' : 'steppedDown', redirect: null };
    for (const r of this.reads) this.emit({ type: 'readFailed', readId: r.readId, failure });
    this.reads = [];
    for (const [id, w] of this.writes) this.emit({ type: 'quorumWriteResult', writeId: id, seq: w.seq, outcome: 'unknown', reason });
    this.writes.clear();
  }

  private becomePrimary(): void {
    this.role = 'primary';
    this.primaryId = this.cfg.nodeId;
    this.primaryAddress = this.cfg.selfAddress;
    this.sync = 'none';
    this.votes.clear();
    this.transfer = null;
    for (const p of this.peers.values()) {
      p.phase = 'unknown';
      p.matchSeq = 0;
      p.sentSeq = 0;
      p.ackedRound = 0;
      p.lastContactMs = this.nowMs; // a new primary gets one full election timeout before check-quorum
      p.lastProgressMs = this.nowMs;
    }
    this.log('info', `became primary of epoch ${this.epoch} at ${formatPosition(this.lastPos)}`);
    this.emit({ type: 'becomePrimary', epoch: this.epoch });
    this.broadcastHeartbeat();
  }

  // ======================================================================== timers

  private onTick(): void {
    if (this.role === 'primary') {
      if (this.cluster && !this.quorumContact(this.nowMs)) {
        this.stepDown('no contact with a majority within an election timeout (check-quorum)', false);
        this.becomeFollower(null);
        return;
      }
      if (this.nowMs >= this.nextHeartbeatMs) this.broadcastHeartbeat();
      this.resendStalled();
      this.expireQuorumOps();
      this.checkTransfer();
      if (this.cluster) {
        this.dropDeparted();
        this.maybeAutoPromote();
      }
      return;
    }
    if (this.sync === 'loading' && this.nowMs - this.syncSinceMs > this.cfg.timing.fullResyncTimeoutMs) {
      this.log('warn', `full resync from ${this.primaryId ?? '?'} timed out; handshaking again`);
      this.sync = 'none';
      this.sendHello();
    }
    if (this.cluster && this.nowMs >= this.electionDeadlineMs) {
      // A node that cannot log cannot lead (its epoch's no-op would fail): it waits for its disk.
      if (this.logDown) this.resetElectionTimer();
      else if (this.mayCampaign()) this.startPreVote();
      else this.probeVoters();
    }
  }

  private broadcastHeartbeat(): void {
    this.round++;
    this.roundSentMs.set(this.round, this.nowMs);
    this.roundSentMs.delete(this.round - ROUND_SEND_TIMES_MAX);
    this.nextHeartbeatMs = this.nowMs + this.cfg.timing.heartbeatIntervalMs;
    for (const p of this.peers.values()) {
      if (!this.cluster && p.link === 'down' && p.phase === 'unknown') continue;
      this.send(p.id, {
        type: 'heartbeat',
        epoch: this.epoch,
        lastSeq: this.lastPos.seq,
        commitSeq: this.commitSeq,
        primaryTimeMs: this.nowMs,
        round: this.round,
        replicaInSync: p.phase !== 'unknown',
      });
    }
    if (this.transfer?.timeoutNowSent === true) this.send(this.transfer.target, { type: 'timeoutNow', epoch: this.epoch });
    this.checkReads(); // a single-member cluster confirms its rounds by itself
  }

  /** Messages can be lost (a dropped link, the simulator): resume from the acknowledged seq. */
  private resendStalled(): void {
    for (const p of this.peers.values()) {
      if (p.phase !== 'streaming' || p.sentSeq <= p.matchSeq) continue;
      if (this.nowMs - p.lastProgressMs < this.cfg.timing.resendAfterMs) continue;
      p.sentSeq = Math.max(p.matchSeq, Math.min(p.sentSeq, p.reportedLastSeq));
      p.lastProgressMs = this.nowMs;
      this.pump(p);
    }
  }

  private expireQuorumOps(): void {
    const keep: PendingRead[] = [];
    for (const r of this.reads) {
      if (this.nowMs >= r.deadlineMs) this.emit({ type: 'readFailed', readId: r.readId, failure: { reason: 'timeout', redirect: null } });
      else keep.push(r);
    }
    this.reads = keep;
    for (const [id, w] of this.writes) {
      if (this.nowMs < w.deadlineMs) continue;
      this.writes.delete(id);
      this.emit({ type: 'quorumWriteResult', writeId: id, seq: w.seq, outcome: 'unknown', reason: 'not committed by a majority within the quorum timeout' });
    }
    if (this.change !== null && this.nowMs >= this.change.deadlineMs) {
      // It stays in force if appended (a later primary may still commit it); the next change waits for its commit.
      if (this.change.seq === null) this.endChange('refused', 'the configuration entry could not be appended (is the log failing?)');
      else this.endChange('unknown', 'the configuration entry was not committed within the quorum timeout');
    }
  }

  // ======================================================================== elections

  private startPreVote(): void {
    this.resetElectionTimer();
    if (this.voters.length === 1 && this.voters[0] === this.cfg.nodeId) {
      this.startElection(false);
      return;
    }
    this.role = 'preCandidate';
    this.votes.clear();
    this.votes.add(this.cfg.nodeId);
    this.log('info', `election timeout in epoch ${this.epoch}: pre-vote for epoch ${this.epoch + 1}`);
    for (const id of this.voters) if (id !== this.cfg.nodeId) this.send(id, { type: 'preVote', epoch: this.epoch + 1, lastPos: this.lastPos });
  }

  /** Real election: the new epoch and our own vote are persisted before any request leaves. */
  private startElection(transfer: boolean): void {
    assert(this.role !== 'primary', 'a primary never campaigns');
    this.epoch++;
    this.votedFor = this.cfg.nodeId;
    this.role = 'candidate';
    this.primaryId = null;
    this.primaryAddress = null;
    this.sync = 'none';
    this.votes.clear();
    this.votes.add(this.cfg.nodeId);
    this.persist();
    this.resetElectionTimer();
    for (const id of this.voters) if (id !== this.cfg.nodeId) this.send(id, { type: 'vote', epoch: this.epoch, lastPos: this.lastPos, transfer });
    if (this.votersIn((id) => this.votes.has(id)) >= this.majority()) this.becomePrimary();
  }

  private onPreVote(from: NodeId, epoch: Epoch, lastPos: Position): void {
    // Does not adopt `epoch`: a pre-vote must not disturb anyone (a rejoining node cannot depose a healthy primary).
    const granted = epoch > this.epoch && !this.logDown && isLogUpToDate(lastPos, this.lastPos) && !this.inLease();
    this.send(from, { type: 'preVoteReply', epoch, granted, voterEpoch: this.epoch });
  }

  private onPreVoteReply(from: NodeId, epoch: Epoch, granted: boolean, voterEpoch: Epoch): void {
    if (voterEpoch > this.epoch && !granted) {
      this.adoptEpoch(voterEpoch, `pre-vote reply from ${from}`);
      return;
    }
    if (this.role !== 'preCandidate' || epoch !== this.epoch + 1 || !granted) return;
    this.votes.add(from);
    if (this.votersIn((id) => this.votes.has(id)) >= this.majority()) this.startElection(false);
  }

  private onVote(from: NodeId, epoch: Epoch, lastPos: Position, transfer: boolean): void {
    // Ignore (without adopting the epoch) while a live primary leads, unless it asked for the handover.
    if (!transfer && epoch > this.epoch && this.inLease()) return;
    if (epoch > this.epoch) this.adoptEpoch(epoch, `vote request from ${from}`);
    const granted =
      epoch === this.epoch &&
      this.role !== 'primary' &&
      !this.logDown && // a vote must be persisted, and the disk it goes to is failing
      (this.votedFor === null || this.votedFor === from) &&
      isLogUpToDate(lastPos, this.lastPos);
    if (granted && this.votedFor !== from) {
      this.votedFor = from;
      this.persist(); // durable before the reply: a node votes at most once per epoch, even across restarts
    }
    if (granted) this.resetElectionTimer();
    this.send(from, { type: 'voteReply', epoch: this.epoch, granted });
  }

  private onVoteReply(from: NodeId, epoch: Epoch, granted: boolean): void {
    if (epoch > this.epoch) {
      this.adoptEpoch(epoch, `vote reply from ${from}`);
      return;
    }
    if (this.role !== 'candidate' || epoch !== this.epoch || !granted) return;
    this.votes.add(from);
    if (this.votersIn((id) => this.votes.has(id)) >= this.majority()) this.becomePrimary();
  }

  // ======================================================================== messages

  private onMessage(from: NodeId, msg: Message): void {
    if (from === this.cfg.nodeId) return;
    if (this.cluster && !this.peers.has(from)) {
      // A primary we do not know as a member (our configuration is older than its log: a node
      // that joins or was re-added) is followed like any primary: its log decides. Anything
      // else from a non-member (votes, replica messages of a removed node) is ignored.
      const fromPrimary = msg.type === 'welcome' || msg.type === 'append' || msg.type === 'heartbeat' || msg.type === 'timeoutNow';
      if (fromPrimary) {
        this.peers.set(from, this.newPeer(from, ''));
      } else if (this.role === 'primary') {
        // A node outside our configuration that believes it is a member (removed while it was
        // cut off or down, or added by an entry our log discarded): stream it our log as a
        // departing member so it learns where it stands, and stops campaigning. It never counts.
        this.departing.set(from, { seq: this.inForce.seq, committedAtMs: this.inForce.seq <= this.commitSeq ? this.nowMs : -1, roundAfterCommit: this.round + 1 });
        this.peers.set(from, this.newPeer(from, ''));
        this.log('info', `${from}, no longer a member, contacted us: sending it the log so it learns it was removed`);
        this.emitMembersChanged();
      } else {
        // Not the primary: tell it who is (answered on its own link), or it may never find out.
        const asks = msg.type === 'preVote' || msg.type === 'vote' || msg.type === 'hello';
        const address = this.primaryAddress;
        if (asks && this.primaryId !== null && this.primaryId !== from && address !== null) {
          this.send(from, { type: 'notMember', epoch: this.epoch, primaryId: this.primaryId, primaryAddress: address });
        }
        return;
      }
    }
    const p = this.peer(from);
    if (p !== undefined) p.lastHeardMs = this.nowMs;
    switch (msg.type) {
      case 'hello':
        this.onHello(from, msg.epoch, msg.lastPos, msg.epochHistory);
        break;
      case 'welcome':
        if (this.acceptFromPrimary(from, msg.epoch)) this.onWelcome(from, msg);
        break;
      case 'refuse':
        if (msg.epoch >= this.epoch) this.log('error', `primary ${from} refused us: ${msg.reason}`);
        break;
      case 'append':
        if (this.acceptFromPrimary(from, msg.epoch)) this.onAppend(from, msg);
        break;
      case 'heartbeat':
        if (this.acceptFromPrimary(from, msg.epoch)) this.onHeartbeat(from, msg.lastSeq, msg.commitSeq, msg.round, msg.replicaInSync);
        break;
      case 'timeoutNow':
        if (this.acceptFromPrimary(from, msg.epoch) && this.cluster && !this.logDown && this.mayCampaign()) {
          this.log('info', `leadership transfer from ${from}: starting an election now`);
          this.startElection(true);
        }
        break;
      case 'ack':
        if (this.fromReplica(msg.epoch, from)) this.onAck(from, msg.synced, msg.matchSeq, msg.lastSeq, msg.round);
        break;
      case 'nack':
        if (this.fromReplica(msg.epoch, from)) this.onNack(from, msg.lastPos);
        break;
      case 'preVote':
        if (this.cluster) this.onPreVote(from, msg.epoch, msg.lastPos);
        break;
      case 'preVoteReply':
        if (this.cluster) this.onPreVoteReply(from, msg.epoch, msg.granted, msg.voterEpoch);
        break;
      case 'vote':
        if (this.cluster) this.onVote(from, msg.epoch, msg.lastPos, msg.transfer);
        break;
      case 'voteReply':
        if (this.cluster) this.onVoteReply(from, msg.epoch, msg.granted);
        break;
      case 'notMember':
        if (this.cluster) this.onNotMember(msg.primaryId, msg.primaryAddress);
        break;
      default:
        assertNever(msg);
    }
  }

  /**
   * Common rules for messages only a primary sends. Returns true when `from` is our primary
   * in our epoch after applying the epoch rules.
   */
  private acceptFromPrimary(from: NodeId, epoch: Epoch): boolean {
    if (!this.cluster) return this.acceptFromManualPrimary(from, epoch);
    if (epoch < this.epoch) {
      // Tell the stale primary about our epoch so it steps down at once (fencing).
      this.send(from, this.ackMsg());
      return false;
    }
    if (epoch > this.epoch) this.adoptEpoch(epoch, `message from primary ${from}`);
    if (this.role === 'primary') {
      assert.fail(`two primaries in epoch ${epoch}: ${this.cfg.nodeId} and ${from}`);
    }
    if (this.role !== 'replica' || this.primaryId !== from) this.becomeFollower(from);
    this.lastHeardPrimaryMs = this.nowMs;
    this.resetElectionTimer();
    return true;
  }

  private acceptFromManualPrimary(from: NodeId, epoch: Epoch): boolean {
    if (this.role === 'primary' || from !== this.primaryId) {
      if (this.role === 'primary') this.log('warn', `${from} acts as a primary of epoch ${epoch} while we are primary of ${this.epoch}`);
      return false;
    }
    if (epoch < this.epoch) return false; // refused at the handshake: the operator must resolve it
    if (epoch > this.epoch) {
      this.epoch = epoch;
      this.votedFor = null;
      this.persist();
    }
    this.lastHeardPrimaryMs = this.nowMs;
    return true;
  }

  /** Common rules for messages only replicas send to the primary. */
  private fromReplica(epoch: Epoch, from: NodeId): boolean {
    if (epoch > this.epoch) {
      if (this.cluster) this.adoptEpoch(epoch, `message from ${from}`);
      else this.log('error', `replica ${from} is at epoch ${epoch}, above ours (${this.epoch}); REPLICAOF/PROMOTE needed`);
      return false;
    }
    if (epoch < this.epoch || this.role !== 'primary') return false;
    return this.peers.has(from);
  }

  // ---------------------------------------------------------------- replica side

  private sendHello(): void {
    // While the log is failed nothing could be applied: stay out of sync (acks say so) until it resumes.
    if (this.primaryId === null || this.logDown) return;
    this.sync = 'handshaking';
    this.syncSinceMs = this.nowMs;
    this.helloSentMs = this.nowMs;
    this.send(this.primaryId, { type: 'hello', epoch: this.epoch, lastPos: this.lastPos, epochHistory: this.history });
  }

  /** Not in sync with our primary: say hello (again, at most once per heartbeat interval). */
  private ensureHandshake(): void {
    if (this.sync === 'none') this.sendHello();
    else if (this.sync === 'handshaking' && this.nowMs - this.helloSentMs >= this.cfg.timing.heartbeatIntervalMs) this.sendHello();
  }

  private onWelcome(from: NodeId, msg: Extract<Message, { type: 'welcome' }>): void {
    const expected = this.sync === 'handshaking' || this.sync === 'streaming';
    // A welcome answers a hello for exactly our current log; anything else is stale (dropped, duplicated, reordered).
    if (!expected || msg.replicaLast.seq !== this.lastPos.seq || msg.replicaLast.epoch !== this.lastPos.epoch) return;
    assert(msg.forkSeq <= this.lastPos.seq, 'fork beyond our log');
    this.primaryLastSeq = msg.primaryLast.seq;
    if (msg.resync === 'full') {
      this.sync = 'loading';
      this.syncSinceMs = this.nowMs;
      this.pendingFullResyncFork = msg.forkSeq;
      this.log('info', `full resync from ${from} (we are at ${formatPosition(this.lastPos)}, fork at ${msg.forkSeq})`);
      this.emit({ type: 'expectFullResync', primary: from });
      return;
    }
    if (msg.forkSeq < this.lastPos.seq) this.truncateDiverged(msg.forkSeq, from);
    this.sync = 'streaming';
    this.send(from, this.ackMsg());
  }

  /** Discard exactly the diverged suffix after `fork` (never wipe: LINEAGE's REPLICAOF wiped the store). */
  private truncateDiverged(fork: Seq, primary: NodeId): void {
    // Committed entries are in every later primary's log, so the fork can never be below our commit.
    assert(fork >= this.commitSeq, `fork ${fork} below commit ${this.commitSeq}`);
    const from = positionOf(this.history, fork + 1);
    const to = this.lastPos;
    const discarded = to.seq - fork;
    this.noteDiscarded(discarded, from, to);
    this.log('warn', `discarding ${discarded} diverged entries ${formatPosition(from)}..${formatPosition(to)} (not in ${primary}'s history)`);
    this.emit({ type: 'truncateAfter', seq: fork, discarded, from, to });
    this.history = historyTruncated(this.history, fork);
    this.lastPos = positionOf(this.history, fork);
    this.durableSeq = Math.min(this.durableSeq, fork);
    this.backlog.truncateAfter(fork);
    this.configsTruncated(fork);
  }

  private noteDiscarded(n: number, from: Position, to: Position): void {
    this.discardedEntries += n;
    this.discardedRanges.push({ from, to });
    if (this.discardedRanges.length > DISCARDED_RANGES_MAX) this.discardedRanges.shift();
  }

  private onAppend(from: NodeId, m: AppendMessage): void {
    const prev = m.prev;
    if (this.sync !== 'streaming') {
      this.ensureHandshake();
      return;
    }
    if (prev.seq > this.lastPos.seq) {
      this.send(from, { type: 'nack', epoch: this.epoch, lastPos: this.lastPos }); // a gap: something was lost
      return;
    }
    if (epochAt(this.history, prev.seq) !== prev.epoch) {
      // Cannot happen after a handshake in this epoch (Log Matching); re-handshake rather than guess.
      this.log('error', `append from ${from} does not match our log at ${formatPosition(prev)}; handshaking again`);
      this.sync = 'none';
      this.sendHello();
      return;
    }
    // Duplicates of what we hold are ignored: entries are consecutive, so the fresh ones are a suffix.
    const records = m.records;
    if (records !== undefined) {
      // The frame's checked record bytes go to the backlog and, as one piece, to the host to log
      // and apply: entries are never decoded into objects here.
      let freshStart = 0;
      while (freshStart < records.length && recordSeqAt(records, freshStart) <= this.lastPos.seq) freshStart = recordEndAt(records, freshStart);
      if (freshStart < records.length) {
        this.recordAppendRecords(records, freshStart);
        this.emit(appendEntriesOfRecords(freshStart === 0 ? records : records.subarray(freshStart)));
      }
    } else {
      const fresh = m.entries.filter((e) => e.seq > this.lastPos.seq);
      for (const e of fresh) this.recordAppend(e);
      if (fresh.length > 0) this.emit({ type: 'appendEntries', entries: fresh });
    }
    this.primaryLastSeq = Math.max(this.primaryLastSeq, this.lastPos.seq);
    this.learnCommit(m.commitSeq);
    this.send(from, this.ackMsg());
  }

  private learnCommit(primaryCommit: Seq): void {
    const c = Math.min(primaryCommit, this.lastPos.seq); // every entry we hold matches the primary's log
    if (c <= this.commitSeq) return;
    const crossed = this.commitSeq < this.inForce.seq && c >= this.inForce.seq;
    this.commitSeq = c;
    if (crossed && this.cluster) this.syncPeers(); // the members before the newest change are no longer needed
  }

  private onHeartbeat(from: NodeId, lastSeq: Seq, commitSeq: Seq, round: number, inSync: boolean): void {
    this.roundSeen = Math.max(this.roundSeen, round);
    // The primary forgot our stream (its link to us dropped): hand-shake again or we would ack forever unseen.
    if (!inSync && this.sync === 'streaming') this.sync = 'none';
    this.primaryLastSeq = Math.max(this.primaryLastSeq, lastSeq);
    if (this.sync === 'streaming') this.learnCommit(commitSeq);
    else this.ensureHandshake();
    this.send(from, this.ackMsg());
  }

  private onSnapshotLoaded(peer: NodeId, position: Position, epochHistory: readonly EpochStart[], configs: readonly ConfigAt[]): void {
    assertHistory(epochHistory);
    const expected = this.snapshotAcceptable(peer);
    const oldLast = this.lastPos;
    // The store now holds the snapshot whatever we think: mirror it.
    this.history = [...epochHistory];
    this.lastPos = position;
    this.durableSeq = position.seq;
    this.backlog.reset(position.seq);
    this.provisional = false;
    this.replaceConfigs(configs.length > 0 ? [...configs] : [{ seq: 0, config: this.bootstrap }]);
    if (!expected) {
      this.log('warn', `snapshot from ${peer} was not expected; handshaking again`);
      this.commitSeq = Math.min(this.commitSeq, position.seq);
      this.sync = 'none';
      this.ensureHandshake();
      return;
    }
    if (oldLast.seq > this.pendingFullResyncFork) {
      this.noteDiscarded(oldLast.seq - this.pendingFullResyncFork, positionOf(this.history, this.pendingFullResyncFork + 1), oldLast);
    }
    this.fullResyncs++;
    this.sync = 'streaming';
    this.log('info', `full resync from ${peer} loaded at ${formatPosition(position)}`);
    this.send(peer, this.ackMsg());
  }

  private onDurable(seq: Seq): void {
    const d = Math.min(seq, this.lastPos.seq);
    if (d <= this.durableSeq) return;
    this.durableSeq = d;
    if (this.role === 'primary') {
      this.advanceCommit();
    } else if (this.sync === 'streaming' && this.primaryId !== null) {
      this.send(this.primaryId, this.ackMsg());
    }
  }

  // ---------------------------------------------------------------- local log failure

  /**
   * The local log failed and the store rolled back to `keptSeq`. The entries after it never
   * existed here: the core forgets them as a truncation would (counted as discarded; they were
   * never acknowledged), but no effect runs, the store already cut them. Other nodes may hold
   * them (a primary streams before its own write fails): a replica discards them at its next
   * handshake with a primary whose log lacks them, like any diverged suffix, and the positions
   * after `keptSeq` are written again only in a later epoch (see onLogResumed), so no position
   * ever names two different entries.
   */
  private onLogFailed(keptSeq: Seq): void {
    assert(keptSeq >= this.durableSeq, `log failure kept ${keptSeq}, below the durable ${this.durableSeq}`);
    const wasDown = this.logDown;
    this.logDown = true;
    if (keptSeq < this.lastPos.seq) this.rollBack(keptSeq);
    if (!wasDown) this.log('warn', `the local log failed at ${formatPosition(this.lastPos)}: no writes, appends or votes until it recovers`);
    if (this.role === 'primary') {
      if (this.cluster) {
        // Another member takes over: this one could neither log writes nor count for their quorum.
        this.stepDown('the local log failed', false);
        this.becomeFollower(null);
      }
      // Manual mode: it stays primary, taking no writes (acceptsWrites); replicas re-handshake.
      return;
    }
    if (this.role !== 'replica') this.becomeFollower(null); // a campaign ends: it could not write its no-op
    this.sync = 'none';
  }

  /** Forget the entries after `keep` (the store lost them): history, backlog, commit and every peer's stream. */
  private rollBack(keep: Seq): void {
    this.logRollbacks++;
    const from = positionOf(this.history, keep + 1);
    const to = this.lastPos;
    this.noteDiscarded(to.seq - keep, from, to);
    this.log('warn', `the local log kept ${keep}: entries ${formatPosition(from)}..${formatPosition(to)} were not logged and are discarded`);
    this.history = historyTruncated(this.history, keep);
    this.lastPos = positionOf(this.history, keep);
    this.durableSeq = Math.min(this.durableSeq, keep);
    // Entries a majority holds stay committed in the group; this node only stops claiming them.
    this.commitSeq = Math.min(this.commitSeq, keep);
    this.backlog.truncateAfter(keep);
    this.configsTruncated(keep);
    for (const p of this.peers.values()) {
      p.matchSeq = Math.min(p.matchSeq, keep);
      p.sentSeq = Math.min(p.sentSeq, keep);
      p.reportedLastSeq = Math.min(p.reportedLastSeq, keep);
      // Its log (or the snapshot it is loading) may hold what we lost: only a handshake resumes it.
      p.phase = 'unknown';
    }
  }

  /**
   * The log takes writes again. A manual primary continues in a new epoch: the positions after its
   * rollback may already name entries its replicas hold, so reusing them in the old epoch would
   * give one position two entries. A replica handshakes (its primary's log decides the fork).
   */
  private onLogResumed(): void {
    if (!this.logDown) return;
    this.logDown = false;
    this.log('info', `the local log takes writes again at ${formatPosition(this.lastPos)}`);
    if (this.role === 'primary') {
      assert(!this.cluster, 'a cluster primary steps down when its log fails');
      this.epoch++;
      this.votedFor = null;
      this.persist();
      this.becomePrimary();
      return;
    }
    this.sync = 'none';
    this.ensureHandshake();
  }

  // ---------------------------------------------------------------- primary side

  private onHello(from: NodeId, epoch: Epoch, lastPos: Position, history: readonly EpochStart[]): void {
    if (epoch > this.epoch) {
      if (this.cluster) {
        this.adoptEpoch(epoch, `hello from ${from}`);
      } else {
        const reason = `replica ${from} is at epoch ${epoch}, above ours (${this.epoch}): it was promoted after us; make this node its replica instead`;
        this.log('error', reason);
        this.send(from, { type: 'refuse', epoch: this.epoch, reason });
      }
      return;
    }
    if (this.role !== 'primary') return;
    const p = this.peer(from);
    if (p === undefined) return;
    const fork = forkPoint(history, lastPos.seq, this.history, this.lastPos.seq);
    const partial = this.backlog.rangeEnd(fork + 1, 1) !== undefined;
    const behind = this.lastPos.seq - fork;
    this.log(
      'info',
      `replica ${from} last saw ${formatPosition(lastPos)}, we are at ${formatPosition(this.lastPos)} (${behind} behind) → ${partial ? 'partial' : 'full'}` +
        (lastPos.seq > fork ? `; it discards ${lastPos.seq - fork} diverged entries after ${fork}` : ''),
    );
    this.send(from, { type: 'welcome', epoch: this.epoch, replicaLast: lastPos, forkSeq: fork, resync: partial ? 'partial' : 'full', primaryLast: this.lastPos });
    if (partial) {
      this.partialResyncs++;
      p.phase = 'streaming';
      p.sentSeq = fork;
      p.reportedLastSeq = fork;
      p.lastProgressMs = this.nowMs;
      this.pump(p);
    } else {
      this.beginFullResync(p);
    }
  }

  private beginFullResync(p: Peer): void {
    this.fullResyncs++;
    p.phase = 'snapshot';
    this.emit({ type: 'startFullResync', peer: p.id });
  }

  private onFullResyncSent(peer: NodeId, from: Position): void {
    const p = this.peers.get(peer);
    if (this.role !== 'primary' || p === undefined || p.phase !== 'snapshot') return;
    if (from.seq > this.lastPos.seq) {
      // Taken before our log rolled back past it: that snapshot may hold lost entries; hello again.
      assert(this.logRollbacks > 0, 'snapshot position beyond our log');
      p.phase = 'unknown';
      return;
    }
    assert(from.seq <= this.lastPos.seq && epochAt(this.history, from.seq) === from.epoch, 'snapshot position not in our log');
    p.phase = 'streaming';
    p.sentSeq = from.seq;
    p.reportedLastSeq = from.seq;
    p.lastProgressMs = this.nowMs;
    this.pump(p);
  }

  /** Send the next entries to a streaming peer while its in-flight bytes allow (never drop: pause instead). */
  private pump(p: Peer): void {
    const t = this.cfg.timing;
    const stepsMax = this.lastPos.seq - p.sentSeq + 1; // each round sends at least one entry
    for (let i = 0; i < stepsMax && p.phase === 'streaming' && p.sentSeq < this.lastPos.seq; i++) {
      if (this.backlog.bytesBetween(p.matchSeq, p.sentSeq) >= t.inflightBytesMax) return;
      const from = p.sentSeq + 1;
      const to = this.backlog.rangeEnd(from, t.appendBytesMax);
      if (to === undefined) {
        this.log('warn', `replica ${p.id} needs ${p.sentSeq + 1}, which left the backlog (first ${this.backlog.firstSeq}) → full`);
        this.send(p.id, { type: 'welcome', epoch: this.epoch, replicaLast: positionOf(this.history, p.sentSeq), forkSeq: p.sentSeq, resync: 'full', primaryLast: this.lastPos });
        this.beginFullResync(p);
        return;
      }
      const prev = positionOf(this.history, p.sentSeq);
      this.send(p.id, appendMessage(this.epoch, prev, this.commitSeq, this.backlog.recordsOf(from, to)));
      p.sentSeq = to;
    }
  }

  private onAck(from: NodeId, synced: boolean, matchSeq: Seq, lastSeq: Seq, round: number): void {
    const p = this.peers.get(from);
    if (p === undefined) return;
    p.ackedRound = Math.max(p.ackedRound, round);
    const sentMs = this.roundSentMs.get(round);
    if (sentMs !== undefined) p.lastContactMs = Math.max(p.lastContactMs, sentMs);
    if (synced && p.phase === 'streaming') {
      if (matchSeq > this.lastPos.seq) {
        // Only an ack sent before our log failed and rolled back can name entries we do not hold
        // while streaming (a later reign's acks carry a newer epoch): it is stale.
        assert(this.logRollbacks > 0, `replica ${from} acked ${matchSeq} beyond our log`);
        return;
      }
      p.reportedLastSeq = lastSeq;
      if (matchSeq > p.matchSeq) {
        p.matchSeq = matchSeq;
        p.lastProgressMs = this.nowMs;
      }
      this.pump(p);
    }
    this.advanceCommit();
    this.checkReads();
    this.checkTransfer();
  }

  private onNack(from: NodeId, lastPos: Position): void {
    const p = this.peers.get(from);
    if (p === undefined || p.phase !== 'streaming') return;
    const inOurLog = lastPos.seq <= this.lastPos.seq && epochAt(this.history, lastPos.seq) === lastPos.epoch;
    if (!inOurLog) return; // a stale nack from before a re-handshake; the replica will say hello
    p.sentSeq = Math.max(lastPos.seq, p.matchSeq);
    p.reportedLastSeq = lastPos.seq;
    p.lastProgressMs = this.nowMs;
    this.pump(p);
  }

  private onLocalWrite(entry: LogEntry, record: Buffer | undefined): void {
    // Record it whatever our role: the store holds it, and fork detection must know (a deposed primary's orphan).
    this.recordAppend(entry, record);
    if (this.change !== null && this.change.seq === null && this.inForce.seq === entry.seq) this.change.seq = entry.seq;
    if (this.role !== 'primary' || entry.epoch !== this.epoch) {
      this.log('warn', `local write ${formatPosition(entry)} while not primary of epoch ${this.epoch}: it will be discarded if it diverges`);
      return;
    }
    // Sent at the flush, not per write: one append per replica per batch of writes instead of
    // one per write that the host then merged ('Replication: records as bytes, batches and frames').
    if (!this.flushRequested) {
      for (const p of this.peers.values()) {
        if (p.phase !== 'streaming') continue;
        this.flushRequested = true;
        this.emit({ type: 'flushSoon' });
        break;
      }
    }
    this.advanceCommit();
  }

  private onFlush(): void {
    this.flushRequested = false;
    if (this.role !== 'primary') return;
    for (const p of this.peers.values()) this.pump(p);
  }

  /**
   * Commit = highest seq durable on a majority of the voters of the configuration in force (the
   * newest in our log, committed or not: Raft's single-server change), counted only in our own
   * epoch (Raft §5.4.2). A primary that removed itself is not counted.
   */
  private advanceCommit(): void {
    if (!this.cluster || this.role !== 'primary') return;
    const matches: Seq[] = [];
    for (const id of this.voters) matches.push(id === this.cfg.nodeId ? Math.min(this.durableSeq, this.lastPos.seq) : (this.peers.get(id)?.matchSeq ?? 0));
    const n = majorityMatch(matches, this.voters.length);
    if (n <= this.commitSeq || epochAt(this.history, n) !== this.epoch) return;
    this.commitSeq = n;
    this.emit({ type: 'commitAdvanced', commitSeq: n });
    for (const [id, w] of this.writes) {
      if (w.seq > n) continue;
      this.writes.delete(id);
      this.emit({ type: 'quorumWriteResult', writeId: id, seq: w.seq, outcome: 'ok', reason: '' });
    }
    this.checkReads();
    this.configCommitted();
  }

  private currentEpochStartSeq(): Seq | null {
    const last = this.history[this.history.length - 1];
    return last !== undefined && last.epoch === this.epoch ? last.startSeq : null;
  }

  /** ReadIndex: leadership confirmed by a round started after the read, and the state read is committed. */
  private checkReads(): void {
    if (this.role !== 'primary' || this.reads.length === 0) return;
    const start = this.currentEpochStartSeq();
    const need = this.majority();
    const keep: PendingRead[] = [];
    for (const r of this.reads) {
      let confirmed = 0;
      for (const id of this.voters) if (id === this.cfg.nodeId || (this.peers.get(id)?.ackedRound ?? 0) >= r.round) confirmed++;
      const ready = confirmed >= need && start !== null && this.commitSeq >= start && this.commitSeq >= r.readSeq;
      if (ready) this.emit({ type: 'readReady', readId: r.readId, readSeq: r.readSeq });
      else keep.push(r);
    }
    this.reads = keep;
  }

  private onQuorumRead(readId: number): void {
    const failure = this.quorumFailure();
    if (failure !== null) {
      this.emit({ type: 'readFailed', readId, failure });
      return;
    }
    if (this.reads.length >= PENDING_READS_MAX) {
      this.emit({ type: 'readFailed', readId, failure: { reason: 'timeout', redirect: null } });
      return;
    }
    // The round is the next heartbeat's, which we send now: its acks prove we still lead after the read began.
    this.reads.push({ readId, readSeq: this.lastPos.seq, round: this.round + 1, deadlineMs: this.nowMs + this.cfg.timing.quorumTimeoutMs });
    this.broadcastHeartbeat();
  }

  private quorumFailure(): ReadFailure | null {
    if (!this.cluster) return { reason: 'manualMode', redirect: null };
    if (this.selfRole === 'removed') return { reason: 'removed', redirect: null };
    if (this.role !== 'primary') return { reason: 'notPrimary', redirect: this.primaryAddress };
    return null;
  }

  private onQuorumWrite(writeId: number, seq: Seq): void {
    const failure = this.quorumFailure();
    if (failure !== null) {
      const reason = failure.reason === 'manualMode' ? 'quorum needs cluster mode' : 'not the primary';
      this.emit({ type: 'quorumWriteResult', writeId, seq, outcome: 'unknown', reason });
      return;
    }
    assert(seq <= this.lastPos.seq, 'quorum write beyond the log');
    if (epochAt(this.history, seq) !== this.epoch || this.writes.size >= PENDING_WRITES_MAX) {
      this.emit({ type: 'quorumWriteResult', writeId, seq, outcome: 'unknown', reason: 'written outside this reign' });
      return;
    }
    if (seq <= this.commitSeq) {
      this.emit({ type: 'quorumWriteResult', writeId, seq, outcome: 'ok', reason: '' });
      return;
    }
    this.writes.set(writeId, { seq, deadlineMs: this.nowMs + this.cfg.timing.quorumTimeoutMs });
  }

  // ---------------------------------------------------------------- leadership transfer

  private onFailover(target: NodeId | null): void {
    if (!this.cluster) {
      this.emit({ type: 'failoverResult', ok: false, reason: 'FAILOVER needs cluster mode; use REPLICAOF / PROMOTE' });
      return;
    }
    if (this.role !== 'primary') {
      this.emit({ type: 'failoverResult', ok: false, reason: 'not the primary' });
      return;
    }
    if (this.transfer !== null) {
      this.emit({ type: 'failoverResult', ok: false, reason: `a failover to ${this.transfer.target} is in progress` });
      return;
    }
    const chosen = target ?? this.mostUpToDatePeer();
    if (chosen === null || !this.peers.has(chosen) || chosen === this.cfg.nodeId) {
      this.emit({ type: 'failoverResult', ok: false, reason: chosen === null ? 'no other voter' : `unknown member ${chosen}` });
      return;
    }
    if (!isVoter(this.inForce.config, chosen)) {
      this.emit({ type: 'failoverResult', ok: false, reason: `${chosen} is not a voter (MEMBER PROMOTE it first)` });
      return;
    }
    // Writes stop now (acceptsWrites is false) so the target can catch up with everything: zero loss.
    this.transfer = { target: chosen, deadlineMs: this.nowMs + this.cfg.timing.failoverTimeoutMs, timeoutNowSent: false };
    this.log('info', `failover to ${chosen}: writes paused until it has ${formatPosition(this.lastPos)}`);
    this.checkTransfer();
  }

  /** The voter (other than us) holding the most of our log. */
  private mostUpToDatePeer(): NodeId | null {
    let best: Peer | null = null;
    for (const id of this.voters) {
      const p = this.peers.get(id);
      if (p !== undefined && (best === null || p.matchSeq > best.matchSeq)) best = p;
    }
    return best === null ? null : best.id;
  }

  private checkTransfer(): void {
    const t = this.transfer;
    if (t === null || this.role !== 'primary') return;
    if (this.nowMs >= t.deadlineMs) {
      this.transfer = null;
      this.log('warn', `failover to ${t.target} timed out; resuming as primary`);
      this.emit({ type: 'failoverResult', ok: false, reason: `${t.target} did not take over within ${this.cfg.timing.failoverTimeoutMs} ms` });
      return;
    }
    const p = this.peers.get(t.target);
    if (!t.timeoutNowSent && p !== undefined && p.matchSeq >= this.lastPos.seq) {
      t.timeoutNowSent = true;
      this.send(t.target, { type: 'timeoutNow', epoch: this.epoch });
    }
  }

  // ---------------------------------------------------------------- links and manual commands

  private onLinkUp(peerId: NodeId, address: string, outbound: boolean): void {
    const p = this.peer(peerId);
    if (p === undefined) {
      this.log('warn', `link from ${peerId}, which is not a configured member`);
      return;
    }
    p.link = 'up';
    // Cluster members are dialled at their configured address; a primary we follow without knowing it as a member is not.
    if (address !== '' && (!this.cluster || !this.inForce.config.members.has(peerId))) p.address = address;
    p.lastHeardMs = this.nowMs;
    if (this.role === 'primary') return;
    if (!this.cluster && outbound) {
      this.primaryId = peerId; // the host dialled our configured primary address and met this node
      this.sync = 'none';
      this.roundSeen = 0;
      this.sendHello();
    } else if (peerId === this.primaryId) {
      this.sync = 'none';
      this.sendHello(); // every reconnect re-handshakes: the primary may have changed its log meanwhile
    }
  }

  private onLinkDown(peerId: NodeId): void {
    const p = this.peers.get(peerId);
    if (p === undefined) return;
    p.link = 'down';
    if (this.role === 'primary') {
      p.phase = 'unknown'; // resume only after its next hello
    } else if (peerId === this.primaryId && this.sync !== 'loading') {
      this.sync = 'none';
    }
  }

  /**
   * A manual-mode primary begins a new epoch at every start: its log may have lost a tail that
   * replicas already hold, and reusing (epoch, seq) for different writes would break Log Matching.
   */
  private onStart(): void {
    if (this.cluster) {
      this.emitMembersChanged();
      return;
    }
    if (this.role !== 'primary') return;
    this.epoch++;
    this.votedFor = null;
    this.persist();
    this.becomePrimary();
  }

  private onPromote(): void {
    if (this.cluster) {
      this.log('error', 'PROMOTE / REPLICAOF NO ONE is for manual mode; use FAILOVER in cluster mode');
      return;
    }
    if (this.role === 'primary') return;
    // A new epoch above every epoch this node has seen orders this promotion after the old primary's reign.
    this.epoch++;
    this.votedFor = null;
    this.persist();
    this.log('info', `promoted: epoch ${this.epoch}, continuing the log at ${formatPosition(this.lastPos)} (nothing wiped)`);
    this.becomePrimary();
  }

  private onReplicaOf(address: string): void {
    if (this.cluster) {
      this.log('error', 'REPLICAOF is for manual mode; cluster roles come from elections');
      return;
    }
    if (this.role === 'primary') this.stepDown(`REPLICAOF ${address}`, false);
    this.role = 'replica';
    this.keepBacklog = true;
    this.primaryId = null; // learned when the host's link to `address` is up
    this.primaryAddress = address;
    this.sync = 'none';
    this.lastHeardPrimaryMs = -1;
    this.primaryLastSeq = 0;
    this.emit({ type: 'becomeReplica', primaryId: null, primaryAddress: address });
  }

  // ---------------------------------------------------------------- membership

  /** A membership entry is in the log now (appended, received or replayed): its configuration is in force. */
  private adoptConfigBytes(seq: Seq, bytes: Buffer): void {
    if (!this.cluster) return; // manual mode has no membership
    const config = decodeMemberConfig(bytes);
    if (config === null) {
      this.log('error', `membership entry at ${seq} holds no configuration this version knows; ignored`);
      return;
    }
    const prev = this.inForce.config;
    this.configs = withConfig(this.configs, { seq, config });
    if (this.role === 'primary') {
      // A removed member still gets the stream until it holds the entry that removed it: it learns that it was removed.
      for (const id of prev.members.keys()) if (id !== this.cfg.nodeId && !config.members.has(id)) this.departing.set(id, { seq, committedAtMs: -1, roundAfterCommit: 0 });
    }
    this.configChanged();
  }

  /** The log lost its entries after `keep`: so did the configurations they set. */
  private configsTruncated(keep: Seq): void {
    if (!this.cluster || this.inForce.seq <= keep) return;
    const kept = this.configs.filter((c) => c.seq <= keep);
    this.replaceConfigs(kept.length > 0 ? kept : [{ seq: 0, config: this.bootstrap }]);
  }

  private leaveProvisional(): void {
    this.provisional = false;
    this.replaceConfigs([{ seq: 0, config: this.bootstrap }]);
  }

  private replaceConfigs(list: ConfigAt[]): void {
    if (!this.cluster) return;
    this.configs = list;
    this.configChanged();
  }

  /** The configuration in force changed: voters, peers, our own place in it, and the host's links. */
  private configChanged(): void {
    const c = this.inForce;
    const before = this.selfRole;
    this.voters = votersOf(c.config);
    this.selfRole = roleIn(c.config, this.cfg.nodeId);
    const peersChanged = this.syncPeers();
    this.log('info', `configuration at ${c.seq} in force: voters ${formatConfig(c.config)}${this.selfRole === 'voter' ? '' : `; this node is ${this.selfRole === 'removed' ? 'not a member' : 'a learner'}`}`);
    if (before !== 'removed' && this.selfRole === 'removed') {
      this.log('warn', 'this node was removed from the cluster');
      if (this.role === 'primary') this.failPendingOps('this node was removed from the cluster');
    }
    if (!peersChanged) this.emitMembersChanged();
    if (!this.mayCampaign() && (this.role === 'candidate' || this.role === 'preCandidate')) this.becomeFollower(null);
  }

  /**
   * Voters campaign; learners never do. A node whose newest configuration removed it still does
   * while it does not know that entry committed, counting only the votes of that configuration's
   * voters (Raft §4.2.2): its log may hold the entry the others need (a primary that removed
   * itself and lost its majority before the commit), and without it they could not elect anyone.
   * Once it knows the removal committed it stays silent: it cannot disturb the rest.
   */
  private mayCampaign(): boolean {
    return this.selfRole === 'voter' || (this.selfRole === 'removed' && this.inForce.seq > this.commitSeq);
  }

  /**
   * A learner that heard from no primary for an election timeout says hello to every voter it
   * knows: the primary among them resumes its stream (or, if this node was removed meanwhile,
   * streams it the log as a departing member so it learns). Learners never campaign, so
   * without this a learner cut off during its removal would never hear of it.
   */
  private probeVoters(): void {
    this.resetElectionTimer();
    if (this.selfRole !== 'learner' || this.inLease()) return;
    for (const id of this.voters) if (id !== this.cfg.nodeId) this.send(id, { type: 'hello', epoch: this.epoch, lastPos: this.lastPos, epochHistory: this.history });
  }

  /** A member says we are not in its configuration and names its primary: say hello to that primary, which streams us the log. */
  private onNotMember(primaryId: NodeId, address: string): void {
    if (this.role === 'primary' || primaryId === this.cfg.nodeId || this.inLease()) return;
    if (!this.peers.has(primaryId)) {
      this.peers.set(primaryId, this.newPeer(primaryId, address));
      this.emitMembersChanged();
    }
    this.send(primaryId, { type: 'hello', epoch: this.epoch, lastPos: this.lastPos, epochHistory: this.history });
  }

  private emitMembersChanged(): void {
    const peers = new Map<NodeId, string>();
    for (const p of this.peers.values()) peers.set(p.id, p.address);
    this.emit({ type: 'membersChanged', config: this.inForce.config, seq: this.inForce.seq, self: this.selfRole, peers });
  }

  /**
   * Peers = the members in force (self excluded), the members of every configuration of our log
   * from the newest one we know committed on (while a change is uncommitted it may be discarded,
   * and the votes that elect the next primary may have to come from the members before it), the
   * primary we follow, and (primary) departing members. Emits membersChanged when the set changed
   * (and says so).
   */
  private syncPeers(): boolean {
    const wanted = new Map<NodeId, string>();
    let from = 0;
    for (let i = 0; i < this.configs.length; i++) if ((this.configs[i] as ConfigAt).seq <= this.commitSeq) from = i;
    for (let i = from; i < this.configs.length; i++) for (const [id, m] of (this.configs[i] as ConfigAt).config.members) wanted.set(id, m.address);
    wanted.delete(this.cfg.nodeId);
    let changed = false;
    for (const [id, address] of wanted) {
      const p = this.peers.get(id);
      if (p === undefined) {
        this.peers.set(id, this.newPeer(id, address));
        changed = true;
      } else if (p.address !== address && this.inForce.config.members.has(id)) {
        p.address = address;
        changed = true;
      }
      if (this.inForce.config.members.has(id)) this.departing.delete(id);
    }
    for (const id of [...this.peers.keys()]) {
      if (wanted.has(id) || id === this.primaryId || (this.role === 'primary' && this.departing.has(id))) continue;
      this.peers.delete(id);
      changed = true;
    }
    if (changed) this.emitMembersChanged();
    return changed;
  }

  /** Primary: a departing member is dropped once its removal is committed and it holds it (or a failover timeout after the commit: it may be gone). */
  private dropDeparted(): void {
    for (const [id, d] of this.departing) {
      const p = this.peers.get(id);
      const reached = p === undefined || (p.matchSeq >= d.seq && p.ackedRound >= d.roundAfterCommit);
      if (d.committedAtMs < 0 || (!reached && this.nowMs - d.committedAtMs < this.cfg.timing.failoverTimeoutMs)) continue;
      this.departing.delete(id);
      this.syncPeers();
    }
  }

  /** Commit advanced on the primary: the pending change, departing members, and our own removal. */
  private configCommitted(): void {
    const ch = this.change;
    if (ch !== null && ch.seq !== null && ch.seq <= this.commitSeq) this.endChange('ok', '');
    if (this.inForce.seq <= this.commitSeq && this.peersSyncedForCommit !== this.inForce.seq) {
      this.peersSyncedForCommit = this.inForce.seq; // once per configuration: this runs at every commit
      this.syncPeers();
    }
    for (const d of this.departing.values()) {
      if (d.committedAtMs >= 0 || d.seq > this.commitSeq) continue;
      d.committedAtMs = this.nowMs;
      d.roundAfterCommit = this.round + 1;
    }
    if (this.selfRole === 'removed' && this.inForce.seq <= this.commitSeq && this.role === 'primary') {
      // Raft: a primary outside the committed configuration steps down; the most up-to-date voter is told to campaign now.
      const target = this.mostUpToDatePeer();
      this.stepDown('removed from the cluster (the configuration entry is committed)', false);
      if (target !== null) this.send(target, { type: 'timeoutNow', epoch: this.epoch });
      this.becomeFollower(null);
    }
  }

  private endChange(outcome: 'ok' | 'refused' | 'unknown', reason: string): void {
    const ch = this.change;
    if (ch === null) return;
    this.change = null;
    this.emit({ type: 'memberChangeResult', requestId: ch.requestId, outcome, seq: ch.seq ?? 0, reason });
  }

  private onChangeMembers(requestId: number, change: MemberChange): void {
    const why = this.changeRefusal(change);
    const next = why === null ? applyChange(this.inForce.config, change) : why;
    if (typeof next === 'string') {
      this.emit({ type: 'memberChangeResult', requestId, outcome: 'refused', seq: 0, reason: next });
      return;
    }
    this.log('info', `membership change requested: ${change.op} ${change.id}`);
    this.proposeConfig(requestId, next);
  }

  /**
   * Why the primary cannot start a configuration change now, or null. One change at a time
   * (the previous entry committed), and only after this reign committed an entry of its own
   * epoch (the fix to single-server changes in Ongaro's errata: an uncommitted entry of a
   * deposed primary's configuration could otherwise be overtaken).
   */
  private changeRefusal(change: MemberChange): string | null {
    if (!this.cluster) return 'membership changes need cluster mode (--cluster)';
    if (this.role !== 'primary') return 'not the primary';
    if (this.selfRole !== 'voter') return 'this node was removed from the cluster';
    if (!this.acceptsWrites(this.nowMs)) return 'the primary takes no writes now (failover in progress, failing log, or no majority in contact)';
    const start = this.currentEpochStartSeq();
    if (start === null || this.commitSeq < start) return 'the primary has not committed an entry of its epoch yet; retry shortly';
    if (this.cfg.unsafeConcurrentConfigChanges !== true) {
      if (this.change !== null) return 'another membership change is in progress; retry when it is done';
      if (this.inForce.seq > this.commitSeq) return `the previous membership change (entry ${this.inForce.seq}) is not committed yet; retry shortly`;
    }
    if (change.op === 'promote') {
      const p = this.peers.get(change.id);
      if (p !== undefined && this.inForce.config.members.get(change.id)?.voter === false && !this.caughtUp(p)) {
        return `${change.id} has not caught up yet (it holds ${p.reportedLastSeq} of ${this.lastPos.seq}); it would stall commits as a voter`;
      }
    }
    return null;
  }

  private proposeConfig(requestId: number, config: MemberConfig): void {
    this.endChange('unknown', 'superseded by another change'); // only with the unsafe test seam: one change at a time otherwise
    this.change = { requestId, seq: null, deadlineMs: this.nowMs + this.cfg.timing.quorumTimeoutMs };
    this.emit({ type: 'appendConfig', config });
  }

  /** A learner close enough to our log that, as a voter, it would not hold back commits. */
  private caughtUp(p: Peer): boolean {
    if (p.phase !== 'streaming' || p.reportedLastSeq < this.inForce.seq) return false;
    if (this.lastPos.seq - p.reportedLastSeq <= this.cfg.timing.replicaMaxLagOps) return true;
    const oldestMissingMs = this.backlog.appendedMs(p.reportedLastSeq + 1);
    return oldestMissingMs !== undefined && this.nowMs - oldestMissingMs < this.cfg.timing.electionTimeoutMinMs;
  }

  /**
   * Primary: promote one caught-up learner that asked for it (MEMBER ADD without LEARNER), under
   * exactly the rules of a MEMBER PROMOTE (changeRefusal), when no change is in flight.
   */
  private maybeAutoPromote(): void {
    if (this.change !== null) return;
    for (const [id, m] of this.inForce.config.members) {
      const p = this.peers.get(id);
      if (m.voter || !m.autoPromote || p === undefined) continue;
      const change: MemberChange = { op: 'promote', id };
      if (this.changeRefusal(change) !== null) continue;
      const next = applyChange(this.inForce.config, change);
      if (typeof next === 'string') continue;
      this.log('info', `learner ${id} caught up (holds ${p.reportedLastSeq} of ${this.lastPos.seq}): promoting it to voter`);
      this.proposeConfig(0, next);
      return;
    }
  }

  // ======================================================================== status

  status(nowMs: number): CoreStatus {
    const peers: PeerStatus[] = [];
    for (const p of this.peers.values()) peers.push(this.peerStatus(p, nowMs));
    return {
      nodeId: this.cfg.nodeId,
      mode: this.cluster ? 'cluster' : 'manual',
      role: this.role,
      epoch: this.epoch,
      primaryId: this.primaryId,
      primaryAddress: this.primaryAddress,
      sync: this.sync,
      lastPos: this.lastPos,
      commitSeq: this.commitSeq,
      durableSeq: this.durableSeq,
      acceptsWrites: this.acceptsWrites(nowMs),
      logFailed: this.logDown,
      peers,
      fullResyncs: this.fullResyncs,
      partialResyncs: this.partialResyncs,
      discardedEntries: this.discardedEntries,
      discardedRanges: [...this.discardedRanges],
      backlogBytes: this.backlog.bytes,
      backlogBytesMax: this.backlog.bytesMax,
      backlogFirstSeq: this.backlog.firstSeq,
      membership: { config: this.inForce.config, seq: this.inForce.seq, committed: this.inForce.seq <= this.commitSeq, self: this.selfRole },
    };
  }

  private peerStatus(p: Peer, nowMs: number): PeerStatus {
    const isPrimary = this.role === 'primary';
    const lagOps = isPrimary ? Math.max(0, this.lastPos.seq - p.matchSeq) : 0;
    // Lag in ms: how long ago we appended the oldest entry the replica still lacks.
    const oldestMissingMs = lagOps > 0 ? this.backlog.appendedMs(p.matchSeq + 1) : undefined;
    return {
      id: p.id,
      address: p.address,
      role: p.id === this.primaryId ? 'primary' : isPrimary ? 'replica' : 'unknown',
      matchSeq: isPrimary ? p.matchSeq : 0,
      lagOps,
      lagMs: oldestMissingMs === undefined ? 0 : Math.max(0, nowMs - oldestMissingMs),
      link: p.link,
      sync: isPrimary ? p.phase : 'unknown',
      lastHeardMs: p.lastHeardMs,
    };
  }
}

function assertNever(x: never): never {
  throw new Error(`unhandled variant: ${JSON.stringify(x)}`);
}
