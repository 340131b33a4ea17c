// The client-facing side of replication: REPLICAOF/SLAVEOF/PROMOTE, ROLE, WAIT, CONSISTENCY,
// POSITION and KVREPL as command specs for the one table, the command gate (READONLY,
// TOOSTALE, SESSIONLOST) and the INFO replication section. Owns the texts and per-connection
// rules; it never touches the store's log or a link directly (the host does).

import type { CommandContext, CommandSpec, ClientState } from '../../server/command-types.js';
import type { InfoField } from '../../server/info.js';
import type { Op, Position, Seq } from '../../storage/types.js';
import { formatPosition } from '../../storage/types.js';
import type { CoreStatus, PeerStatus } from '../core/types.js';
import type { HostObserver, ReplicationHost } from './host.js';
import { formatToken, laterToken, parseToken, Sessions, type ClientRepl } from './sessions.js';
import { parseAddress } from './transport.js';
import { ERR_REMOVED } from '../cluster/member-commands.js';

/** Longest node id accepted in KVREPL (ids appear in logs and INFO). */
const NODE_ID_CHARS_MAX = 64;
/** WAIT timeouts above this are treated as this (bounded timers; ~24 days is setTimeout's limit anyway). */
const WAIT_TIMEOUT_MS_MAX = 2_000_000_000;

export const ERR_NOQUORUM = 'NOQUORUM quorum needs cluster mode (--cluster)';

function arg(argv: readonly Buffer[], i: number): string {
  const b = argv[i];
  return b === undefined ? '' : b.toString('utf8');
}

const ERR_LINK_AUTH = 'WRONGPASS invalid password for the replication link (--primary-auth)';

/**
 * KVREPL's credentials: `user` (--primary-user) with its password, or the default user's
 * password (--primary-auth alone), or a connection already authenticated; the user must also be
 * allowed to run KVREPL (see docs/operations.md, 'Users per application'). Null: accepted.
 */
function linkAuthRefusal(ctx: CommandContext, spec: CommandSpec, argv: readonly Buffer[], password: string): string | null {
  const acl = ctx.server.acl;
  const name = arg(argv, 4);
  if (acl === undefined) {
    const required = ctx.server.requirePass();
    return required !== null && password !== required && !ctx.client.authenticated ? ERR_LINK_AUTH : null;
  }
  const pass = Buffer.from(password, 'utf8');
  let user = acl.table.get(name === '' ? 'default' : name);
  if (user === undefined || !user.checkPassword(pass)) {
    if (name !== '' || !ctx.client.authenticated || ctx.client.user === undefined) return ERR_LINK_AUTH;
    user = ctx.client.user;
  }
  // KVREPL may run before AUTH (the noauth flag), so the user's permission is checked here.
  return user.unrestricted || acl.table.allowsCommand(user, spec.name) ? null : `NOPERM this user has no permissions to run the '${spec.name}' command`;
}

function splitAddress(a: string | null): { host: string; port: number } {
  return (a === null ? null : parseAddress(a)) ?? { host: '?', port: 0 };
}

export class ReplicationFrontend implements HostObserver {
  readonly sessions = new Sessions();
  /** Cluster mode installs the receiver of quorum/failover results (ClusterFrontend.onResult). */
  onClusterResult?: HostObserver['onClusterResult'];
  /** Told when this node stops being the primary (the server answers its blocked clients). */
  onDemoted?: () => void;
  /** The role at the last onReplicaProgress (which the host calls at every role change). */
  private wasPrimary = false;
  /** The client whose command is running (the gate runs right before the handler, synchronously). */
  private current: ClientState | null = null;

  constructor(private readonly host: ReplicationHost) {
    host.setObserver(this);
  }

  // ================================================================ hooks for the server

  /**
   * CommandGate: READONLY on replicas, TOOSTALE beyond the staleness bounds, SESSIONLOST; in a
   * cluster, a node removed from it takes no write and no quorum read (it counts for no majority).
   */
  gate = (spec: CommandSpec, _argv: readonly Buffer[], client: ClientState): string | null => {
    this.current = client;
    const h = this.host;
    if (spec.flags.includes('write')) {
      if (h.memberRole === 'removed') return ERR_REMOVED;
      if (h.role !== 'primary') return `READONLY You can't write against a read only replica. primary=${this.primaryAddr()}`;
      const refusal = h.store.writeRefusal; // a failed log: MISCONF names the cause
      if (refusal !== null) return refusal;
      if (!h.acceptsWrites()) return 'TRYAGAIN this node is becoming primary; retry shortly';
      return null;
    }
    if (!spec.flags.includes('readonly') || spec.flags.includes('stale')) return null;
    const s = this.sessions.peek(client);
    if (s !== undefined && s.mode === 'quorum' && h.memberRole === 'removed') return ERR_REMOVED;
    if (s !== undefined && s.mode === 'session') {
      this.ownLastWrite(s);
      for (const t of this.sessions.required(s)) {
        const v = h.checkSession(t);
        if (v === 'lost') return this.sessionLost(t);
        if (v === 'wait') return this.tooStale(`session position ${formatToken(t)} not applied yet`);
      }
    }
    const rc = h.readCheck();
    return rc.ok ? null : this.tooStale(rc.detail);
  };

  /** Server afterWrite hook: ship the entry and remember it as the writer's session position. */
  afterWrite = (pos: Position, ops: readonly Op[]): void => {
    if (this.current !== null) this.sessions.noteWrite(this.current, pos);
    this.host.onLocalWrite(pos, ops);
  };

  // ================================================================ HostObserver

  onApplied(): void {
    this.sessions.checkSessionWaiters(this.host.nowMs(), (t) => this.host.checkSession(t));
  }
  onReplicaProgress(): void {
    const primary = this.host.role === 'primary';
    if (this.wasPrimary && !primary) this.onDemoted?.();
    this.wasPrimary = primary;
    this.sessions.checkReplicaWaiters(this.host.nowMs(), (seq) => this.ackedAtLeast(seq), !primary);
  }
  onTick(nowMs: number): void {
    this.sessions.checkSessionWaiters(nowMs, (t) => this.host.checkSession(t));
    this.sessions.checkReplicaWaiters(nowMs, (seq) => this.ackedAtLeast(seq), this.host.role !== 'primary');
  }

  private ackedAtLeast(seq: Seq): number {
    let n = 0;
    for (const p of this.host.status().peers) if (p.link === 'up' && p.sync === 'streaming' && p.matchSeq >= seq) n++;
    return n;
  }

  // ================================================================ error texts

  private primaryAddr(): string {
    return this.host.status().primaryAddress ?? 'unknown';
  }

  private tooStale(detail: string): string {
    const st = this.host.status();
    const ops = Math.max(0, this.host.knownPrimaryLastSeq - st.lastPos.seq);
    const p = st.peers.find((x) => x.id === st.primaryId);
    const ms = p === undefined || p.lastHeardMs < 0 ? -1 : this.host.nowMs() - p.lastHeardMs;
    return `TOOSTALE replica is ${ops} ops / ${ms} ms behind; primary=${st.primaryAddress ?? 'unknown'} (${detail})`;
  }

  private sessionLost(t: Position): string {
    return `SESSIONLOST position ${formatToken(t)} is not in this node's history (a failover discarded it); primary=${this.primaryAddr()}`;
  }

  // ================================================================ INFO replication

  infoSection = (): InfoField[] => {
    const st = this.host.status();
    const t = this.host.timing;
    const f: InfoField[] = [];
    const primary = st.role === 'primary';
    const replicas = st.peers.filter((p) => p.link === 'up' && p.role !== 'primary');
    f.push(['role', primary ? 'master' : 'slave']);
    if (!primary) {
      const a = splitAddress(st.primaryAddress);
      const p = st.peers.find((x) => x.id === st.primaryId);
      const up = st.primaryId !== null && this.host.linkUpTo(st.primaryId);
      f.push(['master_host', a.host], ['master_port', a.port], ['master_link_status', up ? 'up' : 'down']);
      f.push(['master_last_io_seconds_ago', p === undefined || p.lastHeardMs < 0 ? -1 : Math.floor((this.host.nowMs() - p.lastHeardMs) / 1000)]);
      f.push(['master_sync_in_progress', st.sync === 'loading' ? 1 : 0]);
      f.push(['slave_read_repl_offset', st.lastPos.seq], ['slave_repl_offset', st.lastPos.seq], ['slave_priority', 100], ['slave_read_only', 1]);
      f.push(['replica_announced', 1]);
    }
    f.push(['connected_slaves', primary ? replicas.length : 0]);
    if (primary) replicas.forEach((p, i) => f.push([`slave${i}`, this.replicaLine(p)]));
    f.push(['master_failover_state', 'no-failover'], ['master_replid', st.nodeId], ['master_repl_offset', st.lastPos.seq]);
    f.push(['repl_backlog_active', 1], ['repl_backlog_size', st.backlogBytesMax], ['repl_backlog_first_byte_offset', st.backlogFirstSeq + 1]);
    f.push(['repl_backlog_histlen', st.backlogBytes]);
    f.push(['kv_node_id', st.nodeId], ['kv_epoch', st.epoch], ['kv_position', formatPosition(st.lastPos)], ['kv_sync_state', st.sync]);
    f.push(['kv_full_resyncs', st.fullResyncs], ['kv_partial_resyncs', st.partialResyncs]);
    f.push(['kv_discarded_writes', st.discardedEntries]);
    f.push(['kv_discarded_ranges', st.discardedRanges.map((r) => `${formatPosition(r.from)}-${formatPosition(r.to)}`).join(',')]);
    f.push(['kv_truncate_fallbacks', this.host.truncateFallbacks]);
    f.push(['kv_log_failed', st.logFailed ? 1 : 0]);
    if (!primary) {
      const rc = this.host.readCheck();
      f.push(['kv_lag_ops', Math.max(0, this.host.knownPrimaryLastSeq - st.lastPos.seq)], ['kv_stale', rc.ok ? 0 : 1]);
    }
    const ss = this.sessions;
    f.push(['kv_session_waits', ss.sessionWaits], ['kv_session_waits_timed_out', ss.sessionWaitsTimedOut], ['kv_session_waits_lost', ss.sessionWaitsLost]);
    f.push(['kv_replica_max_lag_ms', t.replicaMaxLagMs], ['kv_replica_max_lag_ops', t.replicaMaxLagOps], ['kv_session_wait_ms', t.sessionWaitMs]);
    const ps = this.host.pubsub.counters;
    f.push(['kv_pubsub_relay_sent', ps.sent], ['kv_pubsub_relay_received', ps.received], ['kv_pubsub_relay_dropped_full', ps.droppedFull]);
    f.push(['kv_pubsub_relay_dropped_no_route', ps.droppedNoRoute], ['kv_pubsub_relay_refused', ps.refused]);
    return f;
  };

  private replicaLine(p: PeerStatus): string {
    const a = splitAddress(p.address);
    const state = p.sync === 'streaming' ? 'online' : p.sync === 'snapshot' ? 'send_bulk' : 'wait_bgsave';
    const lagS = p.lastHeardMs < 0 ? -1 : Math.floor((this.host.nowMs() - p.lastHeardMs) / 1000);
    return `ip=${a.host},port=${a.port},state=${state},offset=${p.matchSeq},lag=${lagS},id=${p.id},lag_ops=${p.lagOps},lag_ms=${p.lagMs},omem=${this.host.linkOutputBytes(p.id)},pubsub_dropped=${this.host.pubsub.droppedFor(p.id)}`;
  }

  // ================================================================ commands

  commands(): CommandSpec[] {
    const base = { firstKey: 0, lastKey: 0, keyStep: 0, group: 'replication' as const };
    return [
      { ...base, name: 'replicaof', arity: 3, flags: ['admin', 'noscript', 'stale'], summary: 'Make this node a replica of another, or a primary (NO ONE).', syntax: 'host port | NO ONE', handler: (c, a) => this.replicaOf(c, a) },
      { ...base, name: 'slaveof', arity: 3, flags: ['admin', 'noscript', 'stale'], summary: 'Alias of REPLICAOF.', syntax: 'host port | NO ONE', handler: (c, a) => this.replicaOf(c, a) },
      { ...base, name: 'promote', arity: 1, flags: ['admin', 'noscript', 'stale'], summary: 'Make this replica a primary (REPLICAOF NO ONE).', syntax: '', handler: (c) => this.promote(c) },
      { ...base, name: 'role', acl: ['@admin', '@dangerous'], arity: 1, flags: ['noscript', 'loading', 'stale', 'fast'], summary: 'Replication role of this node (Redis format).', syntax: '', handler: (c) => this.role(c) },
      { ...base, name: 'wait', acl: ['@connection'], arity: 3, flags: ['noscript'], summary: "Block until this connection's writes reached N replicas or timeout ms passed.", syntax: 'numreplicas timeout', handler: (c, a) => this.wait(c, a) },
      { ...base, name: 'consistency', arity: -1, flags: ['fast', 'stale', 'loading'], summary: 'Get or set this connection’s consistency mode.', syntax: '[EVENTUAL | SESSION [token] | QUORUM]', handler: (c, a) => this.consistency(c, a) },
      { ...base, name: 'position', arity: 1, flags: ['fast', 'stale', 'loading'], summary: 'Session token (epoch:seq) covering this connection’s writes and reads here.', syntax: '', handler: (c) => this.position(c) },
      { ...base, name: 'kvsnapshot', arity: 1, flags: ['admin', 'noscript', 'stale', 'no_multi'], summary: 'Turn this connection into a backup stream: an exact snapshot of this node and its position (kv-cli --snapshot reads it).', syntax: '', handler: (c) => this.kvsnapshot(c) },
      { ...base, name: 'kvrepl', arity: -3, flags: ['admin', 'noauth', 'stale', 'loading', 'noscript', 'no_multi'], summary: 'Internal: turn this connection into a replication link.', syntax: 'node-id password [announce-address [user]]', handler: (c, a) => this.kvrepl(c, a) },
    ];
  }

  private replicaOf(ctx: CommandContext, argv: readonly Buffer[]): void {
    const hostArg = arg(argv, 1);
    const portArg = arg(argv, 2);
    if (hostArg.toLowerCase() === 'no' && portArg.toLowerCase() === 'one') return this.promote(ctx);
    if (!/^\d{1,5}$/.test(portArg) || Number(portArg) < 1 || Number(portArg) > 65535) return ctx.out.error('ERR Invalid master port');
    const address = `${hostArg.includes(':') ? `[${hostArg}]` : hostArg}:${portArg}`;
    if (address === this.host.selfAddress) return ctx.out.error("ERR can't replicate myself");
    this.host.replicaOf(address);
    ctx.out.ok();
  }

  private promote(ctx: CommandContext): void {
    this.host.promote();
    ctx.out.ok();
  }

  private role(ctx: CommandContext): void {
    const st = this.host.status();
    const out = ctx.out;
    if (st.role === 'primary') {
      const replicas = st.peers.filter((p) => p.link === 'up' && p.role !== 'primary');
      out.array(3);
      out.bulk('master');
      out.integer(st.lastPos.seq);
      out.array(replicas.length);
      for (const p of replicas) {
        const a = splitAddress(p.address);
        out.array(3);
        out.bulk(a.host);
        out.bulk(String(a.port));
        out.bulk(String(p.matchSeq));
      }
      return;
    }
    const a = splitAddress(st.primaryAddress);
    out.array(5);
    out.bulk('slave');
    out.bulk(a.host);
    out.integer(a.port);
    out.bulk(this.replicaState(st));
    out.integer(st.sync === 'none' && st.lastPos.seq === 0 ? -1 : st.lastPos.seq);
  }

  /** Redis replica states: connect (no link), connecting (handshake), sync (full resync), connected. */
  private replicaState(st: CoreStatus): string {
    if (!this.host.linkUpTo(st.primaryId)) return 'connect';
    if (st.sync === 'loading') return 'sync';
    if (st.sync === 'streaming') return 'connected';
    return 'connecting';
  }

  /** The connection's last write here, forgetting one a log failure took back (refused with MISCONF, never acknowledged). */
  private ownLastWrite(s: ClientRepl): Position | null {
    if (s.lastWrite !== null && this.host.lostInLogFailure(s.lastWrite)) s.lastWrite = null;
    return s.lastWrite;
  }

  private wait(ctx: CommandContext, argv: readonly Buffer[]): void {
    const nArg = arg(argv, 1);
    const tArg = arg(argv, 2);
    if (!/^-?\d{1,18}$/.test(nArg) || !/^-?\d{1,18}$/.test(tArg)) return ctx.out.error('ERR value is not an integer or out of range');
    const replicas = Number(nArg);
    const timeoutMs = Number(tArg);
    if (timeoutMs < 0) return ctx.out.error('ERR timeout is negative');
    // (Cluster mode: links form a fixed mesh between members whatever their roles.)
    if (this.host.role !== 'primary' && !this.host.isCluster) return ctx.out.error('ERR WAIT cannot be used with replica instances.');
    const s = this.sessions.peek(ctx.client);
    const seq = s === undefined ? 0 : (this.ownLastWrite(s)?.seq ?? 0);
    const now = this.host.nowMs();
    const acked = this.ackedAtLeast(seq);
    // Inside EXEC nothing blocks (Redis's DENY_BLOCKING): the count as it stands.
    if (acked >= replicas || ctx.inTransaction === true) return ctx.out.integer(acked);
    const finish = ctx.defer?.();
    if (finish === undefined) return ctx.out.error('ERR WAIT needs deferred replies, which this server does not provide');
    const deadline = timeoutMs === 0 ? Infinity : now + Math.min(timeoutMs, WAIT_TIMEOUT_MS_MAX);
    if (!this.sessions.addReplicaWaiter(seq, replicas, deadline, finish)) finish((out) => out.integer(acked));
  }

  private consistency(ctx: CommandContext, argv: readonly Buffer[]): void {
    const s = this.sessions.state(ctx.client);
    if (argv.length === 1) return ctx.out.bulk(s.mode.toUpperCase());
    const mode = arg(argv, 1).toLowerCase();
    if (mode === 'quorum') {
      if (this.host.quorumUnavailable() !== null) return ctx.out.error(ERR_NOQUORUM);
      if (argv.length !== 2) return ctx.out.error('ERR syntax error');
      s.mode = 'quorum';
      s.token = null;
      return ctx.out.ok();
    }
    if (mode === 'eventual') {
      if (argv.length !== 2) return ctx.out.error('ERR syntax error');
      s.mode = 'eventual';
      s.token = null;
      s.lastWrite = null;
      return ctx.out.ok();
    }
    if (mode !== 'session' || argv.length > 3) return ctx.out.error('ERR syntax error');
    s.mode = 'session';
    if (argv.length === 2) return ctx.out.ok();
    const token = parseToken(arg(argv, 2));
    if (token === null) return ctx.out.error('ERR invalid session token (expected <epoch>:<seq>, as returned by POSITION)');
    // The presented token replaces the previous one: clients present their latest POSITION,
    // which only grows within one history; after a SESSIONLOST they present a fresh one.
    s.token = token;
    const need = token;
    const v = this.host.checkSession(need);
    if (v === 'ok') return ctx.out.ok();
    if (v === 'lost') return ctx.out.error(this.sessionLost(need));
    // Not applied yet: wait up to sessionWaitMs for replication to bring it.
    const finish = ctx.defer?.();
    if (finish === undefined) return ctx.out.error(this.tooStale(`session position ${formatToken(need)} not applied yet`));
    const deadline = this.host.nowMs() + this.host.timing.sessionWaitMs;
    const done = (verdict: 'ok' | 'wait' | 'lost'): void => {
      if (verdict === 'ok') finish((out) => out.ok());
      else if (verdict === 'lost') finish((out) => out.error(this.sessionLost(need)));
      else finish((out) => out.error(this.tooStale(`session position ${formatToken(need)} not applied within ${this.host.timing.sessionWaitMs} ms`)));
    };
    if (!this.sessions.addSessionWaiter(need, deadline, done)) done('wait');
  }

  private position(ctx: CommandContext): void {
    // Covers this connection's writes here and everything it could have read here (monotonic reads).
    const s = this.sessions.peek(ctx.client);
    const t = laterToken(laterToken(s?.token ?? null, s === undefined ? null : this.ownLastWrite(s)), this.host.lastPosition);
    ctx.out.bulk(formatToken(t as Position));
  }

  private kvsnapshot(ctx: CommandContext): void {
    const refusal = this.host.backups.refusal();
    if (refusal !== null) return ctx.out.error(refusal);
    if (ctx.detach === undefined) return ctx.out.error('ERR this server cannot hand connections to a snapshot stream');
    const peer = ctx.client.addr;
    ctx.detach((socket) => this.host.backups.start(socket, peer));
    ctx.out.simple(`KVSNAPSHOT ${this.host.nodeId}`);
  }

  private kvrepl(ctx: CommandContext, argv: readonly Buffer[]): void {
    const peerId = arg(argv, 1);
    const password = arg(argv, 2);
    const announce = argv.length > 3 ? arg(argv, 3) : ctx.client.addr;
    const refused = linkAuthRefusal(ctx, ctx.server.commands.get('kvrepl') as CommandSpec, argv, password);
    if (refused !== null) return ctx.out.error(refused);
    if (peerId === '' || peerId.length > NODE_ID_CHARS_MAX || /\s/.test(peerId)) return ctx.out.error('ERR invalid node id');
    if (peerId === this.host.nodeId) return ctx.out.error('ERR a node cannot replicate from itself (same node id)');
    // No chained replication: a replica would accept the link and never answer its hello.
    // (Cluster mode: links form a fixed mesh between members whatever their roles.)
    if (this.host.role !== 'primary' && !this.host.isCluster) return ctx.out.error(`ERR this node is a replica; replicate from its primary ${this.primaryAddr()}`);
    if (ctx.detach === undefined) return ctx.out.error('ERR this server cannot hand connections to the replication layer');
    ctx.detach((socket) => this.host.acceptLink(socket, peerId, announce));
    ctx.out.simple(`KVREPL ${this.host.nodeId}`);
  }
}
