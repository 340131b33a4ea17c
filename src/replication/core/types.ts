// The vocabulary of the replication core: configuration, wire messages between nodes, input
// events from the host and output effects for the host, and the status snapshot.
// Owns only shapes and defaults; no behaviour beyond validating a configuration.

import type { Epoch, EpochStart, LogEntry, Position, Seq } from '../../storage/types.js';
import type { ChunkMemory } from './backlog.js';

/** A node's stable identity (`--node-id`); addresses are only where to dial it. */
export type NodeId = string;

export interface Timing {
  /** The primary sends a heartbeat to every peer this often, with or without write traffic. */
  readonly heartbeatIntervalMs: number;
  /** Election timeouts are drawn uniformly from [min, max) at every reset. */
  readonly electionTimeoutMinMs: number;
  readonly electionTimeoutMaxMs: number;
  /** A replica refuses reads (TOOSTALE) when it heard nothing from its primary for longer. */
  readonly replicaMaxLagMs: number;
  /** ... or when it is more than this many entries behind the primary's last known seq. */
  readonly replicaMaxLagOps: number;
  /** Byte budget of the in-memory backlog used for partial resyncs. */
  readonly backlogBytesMax: number;
  /** Max bytes sent to one replica and not yet acknowledged; the stream pauses beyond it. */
  readonly inflightBytesMax: number;
  /** Max bytes of entries in one append message. */
  readonly appendBytesMax: number;
  /** How long a replica waits for a session token's position before TOOSTALE (used by the host). */
  readonly sessionWaitMs: number;
  /** Quorum writes and reads that are not done within this fail with outcome unknown. */
  readonly quorumTimeoutMs: number;
  /** A leadership transfer that did not complete within this resumes the old primary. */
  readonly failoverTimeoutMs: number;
  /** A replica stuck loading a full resync this long goes back to the handshake. */
  readonly fullResyncTimeoutMs: number;
  /** The primary re-sends from a replica's acknowledged seq when the stream made no progress this long (lost messages). */
  readonly resendAfterMs: number;
}

export const DEFAULT_TIMING: Timing = Object.freeze({
  heartbeatIntervalMs: 100,
  electionTimeoutMinMs: 1000,
  electionTimeoutMaxMs: 2000,
  replicaMaxLagMs: 5000,
  replicaMaxLagOps: 1000,
  backlogBytesMax: 16 * 1024 * 1024,
  inflightBytesMax: 4 * 1024 * 1024,
  appendBytesMax: 256 * 1024,
  sessionWaitMs: 100,
  quorumTimeoutMs: 5000,
  failoverTimeoutMs: 5000,
  fullResyncTimeoutMs: 600_000,
  resendAfterMs: 1000,
});

/** Manual mode: the operator decides roles (REPLICAOF / PROMOTE); no elections, no commit. */
export interface ManualConfig {
  readonly mode: 'manual';
  /** Initial role; `primaryAddress` is where the host dials for a replica. */
  readonly initialRole: { readonly role: 'primary' } | { readonly role: 'replica'; readonly primaryAddress: string };
}

/**
 * Cluster mode. `members` is the bootstrap configuration (every voter, self included, from
 * --cluster), in force until the log holds a membership entry (PersistentState.configs).
 * A node started with --join bootstraps as a learner: `members` then lists the voters it was
 * told about and `learners` holds itself.
 */
export interface ClusterConfig {
  readonly mode: 'cluster';
  readonly members: ReadonlyMap<NodeId, string>;
  readonly learners?: ReadonlyMap<NodeId, string>;
}

/** One member of a membership configuration. */
export interface Member {
  /** Where the others dial it (its client address). */
  readonly address: string;
  /** Voters elect and count toward every majority; learners only receive the log. */
  readonly voter: boolean;
  /** A learner the primary promotes on its own once it has caught up (MEMBER ADD without LEARNER). */
  readonly autoPromote: boolean;
}

/**
 * A membership configuration. It is set by a log entry holding exactly one 'members' op (the
 * config encoded by member-config.ts) and is in force on a node from the moment that entry is in
 * its log, committed or not (Raft's single-server change): one change at a time, each adding or
 * removing at most one voter, so the majorities of two consecutive configurations always meet.
 */
export interface MemberConfig {
  readonly members: ReadonlyMap<NodeId, Member>;
  /**
   * Ids removed by recent changes (newest last, at most REMOVED_KEPT): a primary that hears from
   * one streams it the log so it learns that it was removed, however many changes came since.
   */
  readonly removed?: readonly NodeId[];
}

/** A configuration and the seq of the entry that set it (0: the bootstrap configuration). */
export interface ConfigAt {
  readonly seq: Seq;
  readonly config: MemberConfig;
}

/** What MEMBER ADD / PROMOTE / REMOVE / ADDRESS ask of the primary. */
export type MemberChange =
  /** A new member, always as a learner; `autoPromote` unless MEMBER ADD ... LEARNER. */
  | { readonly op: 'add'; readonly id: NodeId; readonly address: string; readonly autoPromote: boolean }
  | { readonly op: 'promote'; readonly id: NodeId }
  | { readonly op: 'remove'; readonly id: NodeId }
  /** The member moved: record its new address (same id, same data). */
  | { readonly op: 'address'; readonly id: NodeId; readonly address: string };

/** A node's place in the configuration in force. */
export type MemberRole = 'voter' | 'learner' | 'removed';

export interface CoreConfig {
  readonly nodeId: NodeId;
  /** This node's own address, reported in redirects when it is the primary. */
  readonly selfAddress: string;
  readonly topology: ManualConfig | ClusterConfig;
  readonly timing: Timing;
  /** Injected randomness in [0, 1) (election timeouts). Seeded in tests; never Math.random inside the core. */
  readonly random: () => number;
  /** Memory for the backlog's chunks; default FRESH_CHUNKS (never reused). The host's pool recycles them. */
  readonly backlogMemory?: ChunkMemory;
  /**
   * Test seam, never set by kv-server: allow a membership change while the previous one is not
   * committed (a known way to get two disjoint majorities). The simulator sets it to prove that
   * its checks catch that bug.
   */
  readonly unsafeConcurrentConfigChanges?: boolean;
}

/** What the host restores at start: persisted meta plus the local log's shape. */
export interface PersistentState {
  readonly currentEpoch: Epoch;
  readonly votedFor: NodeId | null;
  readonly epochHistory: readonly EpochStart[];
  readonly lastPosition: Position;
  /** Highest seq durable under the fsync policy (normally lastPosition.seq after recovery). */
  readonly durableSeq: Seq;
  /** Optional recent tail of the log to warm the backlog (oldest first, ending at lastPosition). */
  readonly recentEntries?: readonly LogEntry[];
  /**
   * Configurations set by membership entries of the local log (or carried by its snapshot),
   * oldest first, seqs ascending, all <= lastPosition.seq; the last is in force. Absent or empty:
   * the bootstrap configuration (ClusterConfig) is.
   */
  readonly configs?: readonly ConfigAt[];
}

/** What the host persists for the core; it must be durable before later effects of the same batch run. */
export interface PersistedMeta {
  readonly currentEpoch: Epoch;
  readonly votedFor: NodeId | null;
}

// ---------------------------------------------------------------------------- messages

export type Message =
  /** Replica → primary on every (re)connect and when not yet in sync: "here is my log". */
  | { readonly type: 'hello'; readonly epoch: Epoch; readonly lastPos: Position; readonly epochHistory: readonly EpochStart[] }
  /** Primary → replica: the fork point and how the replica will catch up. Echoes the hello's lastPos. */
  | {
      readonly type: 'welcome';
      readonly epoch: Epoch;
      readonly replicaLast: Position;
      readonly forkSeq: Seq;
      readonly resync: 'partial' | 'full';
      readonly primaryLast: Position;
    }
  /** Primary → replica (manual mode): the replica has a higher epoch; the operator must act. */
  | { readonly type: 'refuse'; readonly epoch: Epoch; readonly reason: string }
  | {
      readonly type: 'append';
      readonly epoch: Epoch;
      readonly prev: Position;
      readonly entries: readonly LogEntry[];
      readonly commitSeq: Seq;
      /** The entries' log records back to back, when the sender holds them encoded (the frame's bytes). */
      readonly records?: Buffer;
    }
  /** Replica → primary: `matchSeq` is applied AND durable; only meaningful when `synced`. */
  | { readonly type: 'ack'; readonly epoch: Epoch; readonly synced: boolean; readonly matchSeq: Seq; readonly lastSeq: Seq; readonly round: number }
  /** Replica → primary: an append did not extend my log; I am at `lastPos`. */
  | { readonly type: 'nack'; readonly epoch: Epoch; readonly lastPos: Position }
  | {
      readonly type: 'heartbeat';
      readonly epoch: Epoch;
      readonly lastSeq: Seq;
      readonly commitSeq: Seq;
      readonly primaryTimeMs: number;
      readonly round: number;
      /** False when the primary has no stream to this replica (it must say hello again). */
      readonly replicaInSync: boolean;
    }
  /** Pre-vote: `epoch` is the epoch the sender would campaign in; does not change anyone's epoch. */
  | { readonly type: 'preVote'; readonly epoch: Epoch; readonly lastPos: Position }
  | { readonly type: 'preVoteReply'; readonly epoch: Epoch; readonly granted: boolean; readonly voterEpoch: Epoch }
  | { readonly type: 'vote'; readonly epoch: Epoch; readonly lastPos: Position; readonly transfer: boolean }
  | { readonly type: 'voteReply'; readonly epoch: Epoch; readonly granted: boolean }
  /** Leadership transfer: the target starts an election at once. */
  | { readonly type: 'timeoutNow'; readonly epoch: Epoch }
  /**
   * A member's answer to a node outside its configuration that campaigns or says hello (one
   * removed while cut off, that never heard of it): who the primary is, so it can ask it and learn.
   */
  | { readonly type: 'notMember'; readonly epoch: Epoch; readonly primaryId: NodeId; readonly primaryAddress: string };

export type MessageType = Message['type'];

// ---------------------------------------------------------------------------- events

export type CoreEvent =
  /** Once, right after construction (a manual primary begins its epoch here). */
  | { readonly type: 'start' }
  /** Timers: the host calls this often (every few ms); the core decides what is due. */
  | { readonly type: 'tick' }
  | { readonly type: 'message'; readonly from: NodeId; readonly msg: Message }
  /** The host appended an entry on the primary (a client write or the epoch's no-op). */
  /** `record`: the entry as the local log encoded it, when the host has it (saves encoding it again). */
  | { readonly type: 'localWrite'; readonly entry: LogEntry; readonly record?: Buffer }
  /** Answer to flushSoon: send replicas what local writes appended since (one append per replica). */
  | { readonly type: 'flush' }
  /** The local log is durable up to `seq` under the fsync policy. */
  | { readonly type: 'durable'; readonly seq: Seq }
  /**
   * The local log failed (a write or fsync error) and was rolled back to `keptSeq`: the entries
   * after it never existed here (never durable, never acknowledged). It takes no writes until
   * logResumed. `keptSeq` is at least every seq reported durable.
   */
  | { readonly type: 'logFailed'; readonly keptSeq: Seq }
  /** The failed local log takes writes again (a retry succeeded). */
  | { readonly type: 'logResumed' }
  /** A link to `peer` is up. `outbound` with manual mode: the host dialled our primary and it is `peer`. */
  | { readonly type: 'linkUp'; readonly peer: NodeId; readonly address: string; readonly outbound: boolean }
  | { readonly type: 'linkDown'; readonly peer: NodeId }
  /** REPLICAOF NO ONE / PROMOTE (manual mode). */
  | { readonly type: 'promote' }
  /** REPLICAOF host port (manual mode): become a replica; the host dials `address`. */
  | { readonly type: 'replicaOf'; readonly address: string }
  /** FAILOVER [TO id] (cluster mode). */
  | { readonly type: 'failover'; readonly target: NodeId | null }
  /** CONFIG SET repl-backlog-size: the backlog's new byte budget (a smaller one evicts at once). */
  | { readonly type: 'setBacklogBytes'; readonly bytes: number }
  /**
   * A linearizable read. The host reads the keyspace at the moment it submits this event (the
   * state at readSeq = lastSeq) and answers the client only on readReady; see docs/replication-core.md.
   */
  | { readonly type: 'quorumRead'; readonly readId: number }
  /** A quorum write was appended at `seq`; answer on quorumWriteResult. */
  | { readonly type: 'quorumWrite'; readonly writeId: number; readonly seq: Seq }
  /** The host finished streaming a snapshot taken at `from` to `peer`; entries after it follow. */
  | { readonly type: 'fullResyncSent'; readonly peer: NodeId; readonly from: Position }
  /** The host committed a snapshot received from `peer` (only after snapshotAcceptable said yes); `configs` as in PersistentState, after the load. */
  | { readonly type: 'snapshotLoaded'; readonly peer: NodeId; readonly position: Position; readonly epochHistory: readonly EpochStart[]; readonly configs: readonly ConfigAt[] }
  /** MEMBER ADD / PROMOTE / REMOVE / ADDRESS on the primary; answered by memberChangeResult with the same id. */
  | { readonly type: 'changeMembers'; readonly requestId: number; readonly change: MemberChange };

// ---------------------------------------------------------------------------- effects

export type ReadFailure = { readonly reason: 'notPrimary' | 'steppedDown' | 'timeout' | 'manualMode' | 'removed'; readonly redirect: string | null };

export type Effect =
  | { readonly type: 'send'; readonly to: NodeId; readonly msg: Message }
  /** Make durable before executing any later effect of the same batch (votes, epochs). */
  | { readonly type: 'persistMeta'; readonly meta: PersistedMeta }
  /**
   * Replica: apply and log these entries in order (each extends the local log by one). `records`:
   * the same entries as checked log records back to back, when the append carried them; the host
   * applies those bytes, and `entries` is then decoded only if read.
   */
  | { readonly type: 'appendEntries'; readonly entries: readonly LogEntry[]; readonly records?: Buffer }
  /** Discard every entry after `seq` (diverged suffix from..to, `discarded` entries). */
  | { readonly type: 'truncateAfter'; readonly seq: Seq; readonly discarded: number; readonly from: Position; readonly to: Position }
  /** Host: store.beginEpoch(epoch), then append a no-op entry and report it as a localWrite. */
  | { readonly type: 'becomePrimary'; readonly epoch: Epoch }
  | { readonly type: 'becomeReplica'; readonly primaryId: NodeId | null; readonly primaryAddress: string | null }
  /** Host: stream a snapshot to `peer`, then report fullResyncSent with its position. */
  | { readonly type: 'startFullResync'; readonly peer: NodeId }
  /** Host (replica): a full resync from `primary` is coming; keep serving old data flagged stale. */
  | { readonly type: 'expectFullResync'; readonly primary: NodeId }
  | { readonly type: 'commitAdvanced'; readonly commitSeq: Seq }
  | { readonly type: 'readReady'; readonly readId: number; readonly readSeq: Seq }
  | { readonly type: 'readFailed'; readonly readId: number; readonly failure: ReadFailure }
  | { readonly type: 'quorumWriteResult'; readonly writeId: number; readonly seq: Seq; readonly outcome: 'ok' | 'unknown'; readonly reason: string }
  | { readonly type: 'failoverResult'; readonly ok: boolean; readonly reason: string }
  /**
   * Primary: append, at once and before any other write, an entry whose only op is
   * { t: 'members', config: encodeMemberConfig(config) }, and step localWrite with it (as the
   * epoch's no-op after becomePrimary). The core treats that entry as the configuration change.
   */
  | { readonly type: 'appendConfig'; readonly config: MemberConfig }
  /**
   * The answer to changeMembers: ok once the configuration entry (at `seq`) is committed by a
   * majority of the voters of the configuration it sets; not ok (seq 0 when nothing was
   * appended) with the reason otherwise. `unknown`: appended but leadership was lost first.
   */
  | { readonly type: 'memberChangeResult'; readonly requestId: number; readonly outcome: 'ok' | 'refused' | 'unknown'; readonly seq: Seq; readonly reason: string }
  /**
   * The configuration in force, or the set of nodes this one talks to, changed (an entry appended,
   * committed or discarded, a snapshot, the start). The host keeps links to exactly `peers`
   * (id → address): the members in force plus, while a change is not committed, the members of
   * the configuration before it (a vote may have to come from them), and the primary we follow.
   */
  | { readonly type: 'membersChanged'; readonly config: MemberConfig; readonly seq: Seq; readonly self: MemberRole; readonly peers: ReadonlyMap<NodeId, string> }
  | { readonly type: 'log'; readonly level: 'info' | 'warn' | 'error'; readonly text: string }
  /**
   * Local writes wait to be sent to replicas: step a 'flush' event once the current batch of
   * writes is in (the server: at the end of the event-loop turn, as Redis writes replica output
   * buffers in beforeSleep). Emitted once per batch; nothing is sent to replicas until the flush.
   */
  | { readonly type: 'flushSoon' };

// ---------------------------------------------------------------------------- status

export type Role = 'primary' | 'replica' | 'preCandidate' | 'candidate';
export type SyncState = 'none' | 'handshaking' | 'loading' | 'streaming';

export interface PeerStatus {
  readonly id: NodeId;
  readonly address: string;
  readonly role: 'primary' | 'replica' | 'unknown';
  readonly matchSeq: Seq;
  readonly lagOps: number;
  readonly lagMs: number;
  readonly link: 'up' | 'down';
  readonly sync: 'unknown' | 'snapshot' | 'streaming';
  /** Wall-clock-free: the host's `nowMs` when we last heard from the peer (-1: never). */
  readonly lastHeardMs: number;
}

export interface CoreStatus {
  readonly nodeId: NodeId;
  readonly mode: 'manual' | 'cluster';
  readonly role: Role;
  readonly epoch: Epoch;
  readonly primaryId: NodeId | null;
  readonly primaryAddress: string | null;
  readonly sync: SyncState;
  readonly lastPos: Position;
  readonly commitSeq: Seq;
  readonly durableSeq: Seq;
  readonly acceptsWrites: boolean;
  /** The local log failed and takes no writes (logFailed until logResumed). */
  readonly logFailed: boolean;
  readonly peers: readonly PeerStatus[];
  readonly fullResyncs: number;
  readonly partialResyncs: number;
  readonly discardedEntries: number;
  readonly discardedRanges: readonly { readonly from: Position; readonly to: Position }[];
  readonly backlogBytes: number;
  /** The backlog's byte budget now (timing.backlogBytesMax until CONFIG SET repl-backlog-size). */
  readonly backlogBytesMax: number;
  readonly backlogFirstSeq: Seq;
  /** The configuration in force, the seq of the entry that set it (0: bootstrap), whether it is committed, and this node's place in it. */
  readonly membership: {
    readonly config: MemberConfig;
    readonly seq: Seq;
    readonly committed: boolean;
    readonly self: MemberRole;
  };
}

export type ReadCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly error: 'TOOSTALE'; readonly primaryAddress: string | null; readonly detail: string };

/** The passing ReadCheck, shared: the check runs before every read command. */
export const READ_OK: ReadCheck = Object.freeze({ ok: true });

/** Returns a description of what is wrong with the configuration, or null. */
export function validateConfig(c: CoreConfig): string | null {
  const t = c.timing;
  if (c.nodeId === '') return 'node id must not be empty';
  if (t.heartbeatIntervalMs <= 0) return 'heartbeat interval must be positive';
  if (t.electionTimeoutMinMs <= t.heartbeatIntervalMs) return 'election timeout must exceed the heartbeat interval';
  if (t.electionTimeoutMaxMs <= t.electionTimeoutMinMs) return 'election timeout max must exceed min';
  if (t.backlogBytesMax <= 0 || t.inflightBytesMax <= 0 || t.appendBytesMax <= 0) return 'byte bounds must be positive';
  if (c.topology.mode === 'cluster' && !c.topology.members.has(c.nodeId) && c.topology.learners?.has(c.nodeId) !== true) {
    return `members must include this node (${c.nodeId})`;
  }
  return null;
}
