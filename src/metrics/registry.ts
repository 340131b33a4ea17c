// The Prometheus view of one kv-server: a prom-client Registry of its own (never prom-client's
// global default, so two servers in one process share nothing) whose metrics read the server's,
// the store's and the replication host's existing counters at scrape time.
// Owns metric names, help texts and label sets; it never adds work to a command or a write (the
// one sample it takes itself, fsync duration, reuses the clock reads the WAL makes per round).

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { KvServer } from '../server/server.js';
import type { ReplicationHost } from '../replication/host/host.js';
import type { MemberRole, Role } from '../replication/core/types.js';
import { learnersOf, votersOf } from '../replication/core/member-config.js';

/**
 * Command latency buckets, in seconds: from what a GET costs on the loop to what a slowlog entry
 * means. Bounded: every command name with calls gets this many series plus sum and count.
 */
export const COMMAND_SECONDS_BUCKETS: readonly number[] = [0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** fdatasync buckets, in seconds: from a write-back cache's tens of µs to a failing disk's seconds. */
export const FSYNC_SECONDS_BUCKETS: readonly number[] = [0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The role gauge's label values: every one is exported (0 or 1) so a change shows as two series moving. */
const ROLE_LABELS = ['primary', 'replica', 'candidate'] as const;
/** This node's place in the membership configuration (kv_member_role). */
const MEMBER_ROLE_LABELS: readonly MemberRole[] = ['voter', 'learner', 'removed'];
type RoleLabel = (typeof ROLE_LABELS)[number];

export function roleLabel(r: Role): RoleLabel {
  return r === 'primary' ? 'primary' : r === 'replica' ? 'replica' : 'candidate';
}

/**
 * Per-command latency as a Prometheus histogram built from the histograms INFO latencystats and
 * LATENCY HISTOGRAM already keep (server/latency.ts). The dispatcher records each command into
 * those once; observing a prom-client Histogram as well would add a label lookup and a bucket
 * search to every command. Converting at scrape time costs one pass over each command's buckets
 * per scrape, and the counts are exact to that histogram's bucket width (under 1%).
 */
const COMMAND_SECONDS_CONFIG = { name: 'kv_command_duration_seconds', help: 'Time each command took on the event loop (from INFO latencystats; CONFIG RESETSTAT resets it)', buckets: [...COMMAND_SECONDS_BUCKETS] };

class CommandLatencyHistogram extends Histogram<'command'> {
  private readonly twin = new Histogram<'command'>({ ...COMMAND_SECONDS_CONFIG, labelNames: ['command'], registers: [] });

  constructor(
    registry: Registry,
    private readonly server: KvServer,
  ) {
    super({ ...COMMAND_SECONDS_CONFIG, labelNames: ['command'], registers: [registry] });
  }

  /**
   * Registry.metrics() reads a histogram through getForPromString (prom-client's text path; not
   * in its type declarations), getMetricsAsJSON through get(): both give the converted values.
   */
  getForPromString(): ReturnType<Histogram<'command'>['get']> {
    return this.get();
  }

  override async get(): ReturnType<Histogram<'command'>['get']> {
    // An empty, unregistered twin gives the typed name, help, type and aggregator (super.get()
    // would call getForPromString, which is this method).
    const base = await this.twin.get();
    const boundsNs = COMMAND_SECONDS_BUCKETS.map((s) => Math.round(s * 1e9));
    const values: typeof base.values = [];
    const bucket = (command: string, le: number | string, value: number): void => {
      // `le` is the bucket label prom-client's own histograms add; the declared label set has only `command`.
      const labels: Record<string, string | number> = { command, le };
      values.push({ metricName: 'kv_command_duration_seconds_bucket', labels, value });
    };
    for (const [command, s] of this.server.commandStats.entries()) {
      const h = s.histogram;
      if (h.totalCount === 0) continue;
      const counts = h.countsAtOrBelow(boundsNs);
      COMMAND_SECONDS_BUCKETS.forEach((le, i) => bucket(command, le, counts[i] as number));
      bucket(command, '+Inf', h.totalCount);
      values.push({ metricName: 'kv_command_duration_seconds_sum', labels: { command }, value: s.usecTotal / 1e6 });
      values.push({ metricName: 'kv_command_duration_seconds_count', labels: { command }, value: h.totalCount });
    }
    return { ...base, values };
  }
}

/** A counter whose value is another module's running total, read at scrape time. */
function counterOf(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(Math.max(0, read()));
    },
  });
}

function gaugeOf(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/**
 * The registry of one kv-server. Built before the store opens (the store reports fsync durations
 * to `observeFsync`); `attach` adds everything that reads the server and the replication host.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly fsyncSeconds = new Histogram({ name: 'kv_fsync_duration_seconds', help: 'Duration of each group-commit fdatasync of the log', buckets: [...FSYNC_SECONDS_BUCKETS], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** The store's onFsyncSeconds: once per fsync round, never per write. */
  readonly observeFsync = (seconds: number): void => this.fsyncSeconds.observe(seconds);

  attach(server: KvServer, host: ReplicationHost): void {
    this.serverMetrics(server);
    this.replicationMetrics(host);
  }

  /** Prometheus text exposition (the content type is `contentType`). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private serverMetrics(srv: KvServer): void {
    const r = this.registry;
    const store = srv.store;
    gaugeOf(r, 'kv_used_memory_bytes', 'Memory in use as INFO used_memory counts it (what maxmemory compares)', () => srv.memory.gauge.figures().used);
    gaugeOf(r, 'kv_maxmemory_bytes', 'The maxmemory limit (0 = none)', () => srv.config.maxmemory);
    gaugeOf(r, 'kv_keys', 'Keys in the keyspace', () => store.size);
    gaugeOf(r, 'kv_connected_clients', 'Client connections open now', () => srv.clients.size);
    counterOf(r, 'kv_connections_received_total', 'Client connections accepted', () => srv.counters.connectionsReceived);
    counterOf(r, 'kv_rejected_connections_total', 'Client connections refused (maxclients)', () => srv.counters.rejectedConnections);
    counterOf(r, 'kv_evicted_keys_total', 'Keys deleted by the maxmemory policy', () => store.stats().evictedKeys ?? 0);
    counterOf(r, 'kv_expired_keys_total', 'Keys deleted because their TTL passed', () => store.stats().expiredKeys);
    counterOf(r, 'kv_log_write_errors_total', 'Failed log writes and fsyncs (each stops writes until a retry succeeds)', () => store.stats().logWriteErrors ?? 0);
    gaugeOf(r, 'kv_log_failed', '1 while the log refuses writes after a write or fsync error (INFO log_write_status:err, MISCONF)', () => ((store.stats().logError ?? null) === null ? 0 : 1));
    gaugeOf(r, 'kv_log_durable_seq', 'Highest log position covered by an fsync', () => store.stats().durableSeq);
    counterOf(r, 'kv_error_replies_total', 'Error replies sent to clients', () => srv.counters.errorReplies);
    counterOf(r, 'kv_output_limit_disconnections_total', 'Clients closed by client-output-buffer-limit', () => srv.counters.outputLimitDisconnections);
    new Counter({
      name: 'kv_commands_total',
      help: 'Commands executed, by command (INFO commandstats calls; CONFIG RESETSTAT resets it)',
      labelNames: ['command'],
      registers: [r],
      collect() {
        this.reset();
        for (const [command, s] of srv.commandStats.entries()) if (s.calls > 0) this.inc({ command }, s.calls);
      },
    });
    new Counter({
      name: 'kv_command_failures_total',
      help: 'Commands refused before running (rejected) or answered with an error (failed), by command',
      labelNames: ['command', 'kind'],
      registers: [r],
      collect() {
        this.reset();
        for (const [command, s] of srv.commandStats.entries()) {
          if (s.rejectedCalls > 0) this.inc({ command, kind: 'rejected' }, s.rejectedCalls);
          if (s.failedCalls > 0) this.inc({ command, kind: 'failed' }, s.failedCalls);
        }
      },
    });
    new CommandLatencyHistogram(r, srv);
  }

  /** Cluster mode: the membership configuration in force and this node's place in it (INFO's member_role, config_seq, voters, learners). */
  private membershipMetrics(host: ReplicationHost): void {
    const r = this.registry;
    gaugeOf(r, 'kv_config_seq', 'Cluster mode: log position of the entry that set the membership configuration in force (0: the --cluster list)', () => host.status().membership.seq);
    gaugeOf(r, 'kv_config_committed', 'Cluster mode: 1 once the membership configuration in force is committed (a change is in flight while 0)', () => (host.status().membership.committed ? 1 : 0));
    new Gauge({
      name: 'kv_members',
      help: 'Cluster mode: members of the configuration in force, by kind (voters elect and count toward a majority; learners only receive the log)',
      labelNames: ['kind'],
      registers: [r],
      collect() {
        const c = host.status().membership.config;
        this.set({ kind: 'voter' }, votersOf(c).length);
        this.set({ kind: 'learner' }, learnersOf(c).length);
      },
    });
    new Gauge({
      name: 'kv_member_role',
      help: 'Cluster mode: this node\'s place in the configuration in force: 1 for the one it has now, 0 for the others',
      labelNames: ['role'],
      registers: [r],
      collect() {
        const now = host.status().membership.self;
        for (const role of MEMBER_ROLE_LABELS) this.set({ role }, role === now ? 1 : 0);
      },
    });
  }

  private replicationMetrics(host: ReplicationHost): void {
    const r = this.registry;
    new Gauge({
      name: 'kv_role',
      help: 'This node\'s replication role: 1 for the role it has now, 0 for the others',
      labelNames: ['role'],
      registers: [r],
      collect() {
        const now = roleLabel(host.role);
        for (const role of ROLE_LABELS) this.set({ role }, role === now ? 1 : 0);
      },
    });
    gaugeOf(r, 'kv_epoch', 'Replication epoch (term) this node is in', () => host.status().epoch);
    gaugeOf(r, 'kv_log_last_seq', 'Position (seq) of the last entry in this node\'s log', () => host.lastPosition.seq);
    gaugeOf(r, 'kv_accepts_writes', '1 while this node accepts writes (a primary with its log writable and, in cluster mode, a live majority)', () => (host.acceptsWrites() ? 1 : 0));
    if (host.isCluster) {
      gaugeOf(r, 'kv_commit_seq', 'Cluster mode: highest position a majority holds (committed)', () => host.status().commitSeq);
      this.membershipMetrics(host);
    }
    new Gauge({
      name: 'kv_replica_lag_ops',
      help: 'On a primary: entries each replica is behind this node\'s log',
      labelNames: ['replica'],
      registers: [r],
      collect() {
        this.reset();
        const st = host.status();
        if (st.role === 'primary') for (const p of st.peers) this.set({ replica: p.id }, p.lagOps);
      },
    });
    new Gauge({
      name: 'kv_replica_lag_seconds',
      help: 'On a primary: how old the oldest entry each replica has not acknowledged is',
      labelNames: ['replica'],
      registers: [r],
      collect() {
        this.reset();
        const st = host.status();
        if (st.role === 'primary') for (const p of st.peers) this.set({ replica: p.id }, p.lagMs / 1000);
      },
    });
    new Gauge({
      name: 'kv_replica_link_up',
      help: 'On a primary: 1 while the replication link to each replica is up',
      labelNames: ['replica'],
      registers: [r],
      collect() {
        this.reset();
        const st = host.status();
        if (st.role === 'primary') for (const p of st.peers) this.set({ replica: p.id }, p.link === 'up' ? 1 : 0);
      },
    });
    gaugeOf(r, 'kv_replication_lag_ops', 'On a replica: entries behind the last position the primary announced (0 on a primary)', () =>
      host.role === 'primary' ? 0 : Math.max(0, host.knownPrimaryLastSeq - host.lastPosition.seq),
    );
    gaugeOf(r, 'kv_replication_primary_silence_seconds', 'On a replica: time since it last heard from its primary (-1: never; 0 on a primary)', () => {
      const st = host.status();
      if (st.role === 'primary') return 0;
      const p = st.peers.find((x) => x.id === st.primaryId);
      return p === undefined || p.lastHeardMs < 0 ? -1 : (host.nowMs() - p.lastHeardMs) / 1000;
    });
    counterOf(r, 'kv_full_resyncs_total', 'Full resyncs (snapshot transfers) this node took part in', () => host.status().fullResyncs);
    counterOf(r, 'kv_partial_resyncs_total', 'Partial resyncs (from the backlog) this node took part in', () => host.status().partialResyncs);
    counterOf(r, 'kv_discarded_writes_total', 'Log entries this node discarded (unreplicated writes of a deposed primary, rolled-back writes)', () => host.status().discardedEntries);
    new Counter({
      name: 'kv_pubsub_relay_dropped_total',
      help: 'Published messages the replication links did not relay: link queue full, or no route',
      labelNames: ['reason'],
      registers: [r],
      collect() {
        this.reset();
        const c = host.pubsub.counters;
        this.inc({ reason: 'full' }, c.droppedFull);
        this.inc({ reason: 'no_route' }, c.droppedNoRoute);
      },
    });
  }
}
