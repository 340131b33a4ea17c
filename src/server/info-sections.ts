// The built-in INFO sections (server, clients, memory, persistence, stats, replication, cpu,
// commandstats, errorstats, latencystats, keyspace) as providers over the server's live state.
// Owns field names and formats only; it never mutates the server or the store.

import { randomBytes } from 'node:crypto';
import { arch, platform, release, totalmem } from 'node:os';
import type { InfoField } from './info.js';
import type { KvServer } from './server.js';
import { EXPIRE_SWEEP_INTERVAL_MS } from '../storage/store.js';

/** The Redis version whose protocol and INFO fields kv-ts follows (clients gate features on it). */
export const REDIS_COMPAT_VERSION = '7.0.0';
export const KV_TS_VERSION = '0.1.0';

export interface ServerCounters {
  readonly startedMs: number;
  connectionsReceived: number;
  rejectedConnections: number;
  commandsProcessed: number;
  errorReplies: number;
  netInputBytes: number;
  netOutputBytes: number;
  opsPerSec: number;
  /** Highest used_memory the server sampled (with the ops rate); INFO shows the larger of it and a reading taken then. */
  usedMemoryPeak: number;
  /** Clients closed by client-query-buffer-limit / client-output-buffer-limit (Redis 7.2's fields). */
  queryLimitDisconnections: number;
  outputLimitDisconnections: number;
  /** Error replies by their first word ("ERR", "WRONGTYPE"...): INFO errorstats. */
  readonly errorsByKind: Map<string, number>;
  /** Commands whose handler threw (a bug) and were answered with an internal error (server/dispatch.ts). */
  internalErrors: number;
  /** Network rates over the last sampling interval, in KiB per second (instantaneous_*_kbps). */
  inputKbps: number;
  outputKbps: number;
  /** TLS clients whose handshake failed or timed out (server/tls.ts). */
  tlsHandshakeFailures: number;
  /** Accepts a listener failed (EMFILE and kin): the server logs them and goes on. */
  acceptErrors: number;
}

/** Redis's run_id: 40 random hex characters, new for every process. */
const RUN_ID = randomBytes(20).toString('hex');

/** The event loop libuv uses on this platform (Redis multiplexing_api). */
function multiplexingApi(): string {
  const p = platform();
  if (p === 'linux') return 'epoll';
  if (p === 'win32') return 'iocp';
  if (p === 'sunos') return 'evport';
  return 'kqueue';
}

/** CPU seconds as Redis prints them: seconds.microseconds. */
function cpuSeconds(us: number): string {
  return (us / 1e6).toFixed(6);
}

function human(bytes: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${bytes}B` : `${v.toFixed(2)}${units[i]}`;
}

const secs = (ms: number): number => Math.floor(ms / 1000);

export function registerDefaultInfoSections(srv: KvServer): void {
  srv.info.register('Server', (): InfoField[] => {
    const up = Date.now() - srv.counters.startedMs;
    return [
      ['redis_version', REDIS_COMPAT_VERSION],
      ['kv_ts_version', KV_TS_VERSION],
      ['redis_mode', 'standalone'],
      ['os', `${platform()} ${release()} ${arch()}`],
      ['arch_bits', arch().includes('64') ? 64 : 32],
      ['multiplexing_api', multiplexingApi()],
      ['process_id', process.pid],
      ['node_version', process.versions.node],
      ['run_id', RUN_ID],
      ['tcp_port', srv.config.port],
      ['server_time_usec', Math.floor((performance.timeOrigin + performance.now()) * 1000)],
      ['uptime_in_seconds', secs(up)],
      ['uptime_in_days', Math.floor(up / 86_400_000)],
      // The expiry sweep is kv-ts's periodic task (Redis's serverCron runs at hz).
      ['hz', Math.round(1000 / EXPIRE_SWEEP_INTERVAL_MS)],
      ['configured_hz', Math.round(1000 / EXPIRE_SWEEP_INTERVAL_MS)],
      ['executable', process.argv[1] ?? ''],
      ['config_file', srv.configFile],
      // Network I/O and commands run on the one event-loop thread.
      ['io_threads_active', 0],
    ];
  });
  srv.info.register('Clients', (): InfoField[] => {
    let qbufMax = 0;
    let obufMax = 0;
    for (const c of srv.clients.all()) {
      qbufMax = Math.max(qbufMax, c.parser.pendingBytes);
      obufMax = Math.max(obufMax, c.outputBytes);
    }
    return [
      ['connected_clients', srv.clients.size],
      ['maxclients', srv.config.maxclients],
      ['client_recent_max_input_buffer', qbufMax],
      ['client_recent_max_output_buffer', obufMax],
      // Like Redis, clients held by CLIENT PAUSE count as blocked.
      ['blocked_clients', srv.blocking.blockedClients + srv.clientPause.heldCount],
      ['tracking_clients', srv.tracking.clients],
      // The pause in effect, with the field names later Redis versions use.
      ['paused_reason', srv.clientPause.mode === null ? 'none' : 'client_pause'],
      ['paused_actions', srv.clientPause.mode ?? 'none'],
      ['paused_timeout_milliseconds', srv.clientPause.remainingMs(Date.now())],
    ];
  });
  srv.info.register('Memory', (): InfoField[] => {
    const m = srv.memory.gauge.figures();
    // The sampled peak may predate a higher reading taken now.
    const peak = Math.max(srv.counters.usedMemoryPeak, m.used);
    const max = srv.config.maxmemory;
    return [
      ['used_memory', m.used],
      ['used_memory_human', human(m.used)],
      ['used_memory_rss', m.rss],
      ['used_memory_rss_human', human(m.rss)],
      ['used_memory_peak', peak],
      ['used_memory_peak_human', human(peak)],
      ['used_memory_heap_total', m.heapTotal],
      ['maxmemory', max],
      ['maxmemory_human', human(max)],
      ['maxmemory_policy', srv.config.maxmemoryPolicy],
      ['mem_fragmentation_ratio', m.used > 0 ? (m.rss / m.used).toFixed(2) : '0'],
      // A replica never evicts: over its limit it keeps applying the primary's writes and says so here.
      ['mem_not_counted_for_evict', srv.memory.gauge.notCountedBytes],
      // Deletes free their memory at once (FLUSHALL ASYNC drops the keyspace by reference): nothing waits.
      ['lazyfree_pending_objects', 0],
      ['number_of_cached_scripts', srv.scripts.scripts],
      ['used_memory_scripts_eval', srv.scripts.memoryBytes],
      ['kv_maxmemory_exceeded', max !== 0 && srv.memory.gauge.usedForLimit() > max ? 1 : 0],
      ['kv_dataset_bytes', srv.store.datasetBytes],
      ['total_system_memory', totalmem()],
      ['total_system_memory_human', human(totalmem())],
      // Buffers (the keyspace's slabs) come from the C library's malloc, objects from V8's heap.
      ['mem_allocator', 'libc'],
    ];
  });
  srv.info.register('Persistence', (): InfoField[] => {
    const s = srv.store.stats();
    return [
      ['loading', 0],
      // Log entries not yet covered by a snapshot (Redis: writes since the last save).
      ['rdb_changes_since_last_save', s.lastPosition.seq - s.snapshotSeq],
      // There is no RDB child: compaction is the background save (aof_rewrite_in_progress).
      ['rdb_bgsave_in_progress', 0],
      ['aof_enabled', 1],
      ['aof_rewrite_in_progress', s.compacting ? 1 : 0],
      ['aof_last_bgrewrite_status', 'ok'],
      ['aof_current_size', s.logBytes],
      ['aof_fsync_policy', s.fsync],
      ['log_segments', s.segments],
      ['log_last_position', `${s.lastPosition.epoch}:${s.lastPosition.seq}`],
      ['log_durable_seq', s.durableSeq],
      ['last_fsync_time', secs(s.lastFsyncMs)],
      ['compactions', s.compactions],
      ['last_compaction_time', secs(s.lastCompactionMs)],
      ['last_compaction_duration_ms', s.lastCompactionDurationMs],
      ['snapshot_seq', s.snapshotSeq],
      // Like Redis's aof_last_write_status: writes are refused while it is err.
      ['log_write_status', (s.logError ?? null) === null ? 'ok' : 'err'],
      ['log_last_error', s.logError ?? ''],
      ['log_error_since', secs(s.logErrorSinceMs ?? 0)],
      ['log_write_errors', s.logWriteErrors ?? 0],
    ];
  });
  srv.info.register('Stats', (): InfoField[] => [
    ['total_connections_received', srv.counters.connectionsReceived],
    ['total_commands_processed', srv.counters.commandsProcessed],
    ['instantaneous_ops_per_sec', srv.counters.opsPerSec],
    ['total_net_input_bytes', srv.counters.netInputBytes],
    ['total_net_output_bytes', srv.counters.netOutputBytes],
    ['instantaneous_input_kbps', srv.counters.inputKbps.toFixed(2)],
    ['instantaneous_output_kbps', srv.counters.outputKbps.toFixed(2)],
    ['rejected_connections', srv.counters.rejectedConnections],
    ['expired_keys', srv.store.stats().expiredKeys],
    ['evicted_keys', srv.store.stats().evictedKeys ?? 0],
    ['keyspace_hits', srv.store.lookupStats.hits],
    ['keyspace_misses', srv.store.lookupStats.misses],
    ['pubsub_channels', srv.pubsub.channelCount],
    ['pubsub_patterns', srv.pubsub.patternCount],
    ['pubsubshard_channels', srv.pubsub.shardChannelCount],
    ['migrate_cached_sockets', srv.migrateLinks.size],
    ['tracking_total_keys', srv.tracking.totalKeys],
    ['tracking_total_items', srv.tracking.totalItems],
    ['tracking_total_prefixes', srv.tracking.totalPrefixes],
    ['total_error_replies', srv.counters.errorReplies],
    ['kv_internal_errors', srv.counters.internalErrors],
    ['kv_tls_handshake_failures', srv.counters.tlsHandshakeFailures],
    ['kv_accept_errors', srv.counters.acceptErrors],
    ['client_query_buffer_limit_disconnections', srv.counters.queryLimitDisconnections],
    ['client_output_buffer_limit_disconnections', srv.counters.outputLimitDisconnections],
  ]);
  // The replication layer replaces this section (addInfoSection('Replication', ...)).
  srv.info.register('Replication', (): InfoField[] => [
    ['role', 'master'],
    ['connected_slaves', 0],
    ['master_repl_offset', srv.store.lastPosition.seq],
    ['kv_epoch', srv.store.epoch],
  ]);
  srv.info.register('CPU', (): InfoField[] => {
    const cpu = process.cpuUsage();
    return [
      ['used_cpu_sys', cpuSeconds(cpu.system)],
      ['used_cpu_user', cpuSeconds(cpu.user)],
      // kv-server never starts child processes (compaction and snapshots run in-process).
      ['used_cpu_sys_children', cpuSeconds(0)],
      ['used_cpu_user_children', cpuSeconds(0)],
    ];
  });
  // Redis's order: commandstats, errorstats (a default section), latencystats, cluster, then keyspace.
  srv.info.register('Commandstats', () => srv.commandStats.commandStatsLines(), false);
  // By name, as Redis lists them (a radix tree's order: bytes compared, which latin1 strings' code units are).
  srv.info.register('Errorstats', () => [...srv.counters.errorsByKind].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([kind, n]) => `errorstat_${kind}:count=${n}`));
  srv.info.register('Latencystats', () => srv.commandStats.latencyLines(), false);
  // 1 when every connection speaks Redis Cluster (cluster-enabled yes; replication/cluster/redis-cluster.ts).
  srv.info.register('Cluster', (): InfoField[] => [['cluster_enabled', srv.config.clusterEnabled ? 1 : 0]]);
  srv.info.register('Keyspace', (): InfoField[] => {
    const n = srv.store.size;
    if (n === 0) return [];
    return [['db0', `keys=${n},expires=${srv.store.stats().expiresCount ?? 0},avg_ttl=0`]];
  });
}
