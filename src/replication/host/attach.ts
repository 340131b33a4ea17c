// Wires replication into a KvServer: resolves the node id (flag, or a random id persisted in
// the store's meta), builds the host and its client-facing frontend, and installs the gate,
// the afterWrite hook, the commands and the INFO section. Owns that assembly and the
// replication flags' validation; it never runs commands or touches links itself.

import assert from 'node:assert';
import { randomBytes } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import type { CommandGate } from '../../server/dispatch.js';
import type { KvServer } from '../../server/server.js';
import type { ReplicatedStore } from '../../storage/api.js';
import { DEFAULT_TIMING, type Timing } from '../core/types.js';
import { ClusterFrontend } from '../cluster/commands.js';
import { clusterCommandSpecs, RedisClusterFrontend } from '../cluster/redis-cluster.js';
import { bindMembership, parseClusterFlag, recordedMembers, type Membership } from '../cluster/membership.js';
import { ReplicationFrontend } from './commands.js';
import { ReplicationHost, type HostLog } from './host.js';
import { nodeRuntime, tlsTransport } from './runtime.js';
import { parseAddress } from './transport.js';

/** Bytes of randomness in a generated node id (hex-encoded). */
const NODE_ID_RANDOM_BYTES = 8;
/** Smallest backlog accepted: one small entry must fit. */
const BACKLOG_BYTES_MIN = 1024;

export interface ReplicationFlags {
  readonly replicaOf: string | null;
  readonly primaryAuth: string;
  /** The user the link authenticates as on the primary (Redis's masteruser); '' = the default user. */
  readonly primaryUser: string;
  readonly replicaMaxLagMs: number;
  readonly replicaMaxLagOps: number;
  readonly backlogBytes: number;
  readonly nodeId: string | null;
  /** Cluster mode: `--cluster id=host:port,...` parsed (requires --node-id). */
  readonly cluster: Membership | null;
  /** Cluster timing overrides (--election-timeout-ms MIN: timeouts drawn from [MIN, 2*MIN); --heartbeat-interval-ms). */
  readonly electionTimeoutMs: number | null;
  readonly heartbeatIntervalMs: number | null;
}

/**
 * Cluster timing defaults: faster than the core's generic ones so a new primary takes writes
 * well under a second after the old one dies, while 10 heartbeats fit in the
 * shortest election timeout (a loaded event loop can delay a few without causing elections).
 */
export const CLUSTER_HEARTBEAT_INTERVAL_MS = 50;
export const CLUSTER_ELECTION_TIMEOUT_MIN_MS = 500;

/** A configuration the data directory refuses (other cluster membership): kv-server exits with the usage code. */
export class ConfigRefusedError extends Error {}

export const DEFAULT_REPLICATION_FLAGS: ReplicationFlags = {
  replicaOf: null,
  primaryAuth: '',
  primaryUser: '',
  replicaMaxLagMs: DEFAULT_TIMING.replicaMaxLagMs,
  replicaMaxLagOps: DEFAULT_TIMING.replicaMaxLagOps,
  backlogBytes: DEFAULT_TIMING.backlogBytesMax,
  nodeId: null,
  cluster: null,
  electionTimeoutMs: null,
  heartbeatIntervalMs: null,
};

/** Flag names (without --) this module understands, for the CLI's parser. */
export const REPLICATION_FLAG_NAMES = ['replica-of', 'primary-auth', 'primary-user', 'replica-max-lag-ms', 'replica-max-lag-ops', 'repl-backlog-bytes', 'node-id', 'cluster', 'election-timeout-ms', 'heartbeat-interval-ms'] as const;

/**
 * Validate raw flag values. `parseBytes` is the server's size parser (accepts 16mb etc.).
 * Returns the flags or an error message naming the flag.
 */
export function parseReplicationFlags(
  values: Readonly<Record<string, string | boolean | undefined>>,
  parseBytes: (s: string) => number | null,
): ReplicationFlags | string {
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const int = (k: string, min: number): number | string | undefined => {
    const v = str(k);
    if (v === undefined) return undefined;
    if (!/^\d{1,15}$/.test(v) || Number(v) < min) return `--${k}: expected an integer >= ${min}, got '${v}'`;
    return Number(v);
  };
  const replicaOf = str('replica-of') ?? null;
  if (replicaOf !== null && parseAddress(replicaOf) === null) return `--replica-of: expected HOST:PORT, got '${replicaOf}'`;
  const lagMs = int('replica-max-lag-ms', 1);
  if (typeof lagMs === 'string') return lagMs;
  const lagOps = int('replica-max-lag-ops', 0);
  if (typeof lagOps === 'string') return lagOps;
  let backlog = DEFAULT_REPLICATION_FLAGS.backlogBytes;
  const b = str('repl-backlog-bytes');
  if (b !== undefined) {
    const n = parseBytes(b);
    if (n === null || n < BACKLOG_BYTES_MIN) return `--repl-backlog-bytes: expected a size >= ${BACKLOG_BYTES_MIN} bytes, got '${b}'`;
    backlog = n;
  }
  const nodeId = str('node-id') ?? null;
  if (nodeId !== null && (nodeId === '' || nodeId.length > 64 || /\s/.test(nodeId))) return `--node-id: must be 1-64 characters without spaces`;
  let cluster: Membership | null = null;
  const clusterArg = str('cluster');
  if (clusterArg !== undefined) {
    if (nodeId === null) return '--cluster needs --node-id (this node\'s id in the list)';
    if (replicaOf !== null) return '--cluster and --replica-of exclude each other (cluster roles come from elections)';
    const m = parseClusterFlag(clusterArg, nodeId);
    if (typeof m === 'string') return m;
    cluster = m;
  }
  const election = int('election-timeout-ms', 2);
  if (typeof election === 'string') return election;
  const heartbeat = int('heartbeat-interval-ms', 1);
  if (typeof heartbeat === 'string') return heartbeat;
  if ((election !== undefined || heartbeat !== undefined) && cluster === null) return '--election-timeout-ms and --heartbeat-interval-ms need --cluster';
  const hb = heartbeat ?? CLUSTER_HEARTBEAT_INTERVAL_MS;
  const el = election ?? CLUSTER_ELECTION_TIMEOUT_MIN_MS;
  if (el <= hb) return `--election-timeout-ms (${el}) must exceed --heartbeat-interval-ms (${hb})`;
  return {
    cluster,
    electionTimeoutMs: election ?? null,
    heartbeatIntervalMs: heartbeat ?? null,
    replicaOf,
    primaryAuth: str('primary-auth') ?? '',
    primaryUser: str('primary-user') ?? '',
    replicaMaxLagMs: lagMs ?? DEFAULT_REPLICATION_FLAGS.replicaMaxLagMs,
    replicaMaxLagOps: lagOps ?? DEFAULT_REPLICATION_FLAGS.replicaMaxLagOps,
    backlogBytes: backlog,
    nodeId,
  };
}

/** The node id: the flag, else the one persisted in the store's meta, else a new random one (persisted). */
export async function resolveNodeId(store: ReplicatedStore, flag: string | null): Promise<string> {
  const meta = store.readMeta();
  const saved = typeof meta['nodeId'] === 'string' ? meta['nodeId'] : null;
  const id = flag ?? saved ?? randomBytes(NODE_ID_RANDOM_BYTES).toString('hex');
  if (id !== saved) await store.writeMeta({ ...meta, nodeId: id });
  return id;
}

export interface Replication {
  readonly host: ReplicationHost;
  readonly frontend: ReplicationFrontend;
}

/**
 * Start replication for `server` (call before listen so no client sees an unfenced primary).
 * `selfAddress` is where clients reach this node (the redirect target for its replicas).
 * `linkTls`: the links this node dials use TLS with these options (tls-replication / tls-cluster).
 */
export async function attachReplication(server: KvServer, store: ReplicatedStore, flags: ReplicationFlags, listenAddress: string, log: HostLog, linkTls: ConnectionOptions | null = null): Promise<Replication> {
  // Until the host decides (it may be a replica), expired keys are hidden, never deleted.
  store.setExpiryAuthority({ mayDelete: () => false, deleted: () => assert.fail('no expiry deletes before replication starts') });
  const cluster = flags.cluster;
  if (cluster !== null) {
    // Before resolveNodeId, which would record the flag's id over the one this directory belongs to.
    const bound = await bindMembership(store, cluster);
    if (!bound.ok) throw new ConfigRefusedError(bound.error);
  } else {
    const members = recordedMembers(store);
    if (members !== null) {
      throw new ConfigRefusedError(`this data directory belongs to cluster ${members.join(',')}; start it with --node-id and --cluster (a manual-mode start would begin an epoch outside the cluster's elections)`);
    }
  }
  const nodeId = await resolveNodeId(store, flags.nodeId);
  // In cluster mode our own entry in the list is where peers and clients reach us.
  const selfAddress = cluster?.members.get(nodeId) ?? listenAddress;
  const electionMin = flags.electionTimeoutMs ?? CLUSTER_ELECTION_TIMEOUT_MIN_MS;
  const timing: Timing = {
    ...DEFAULT_TIMING,
    ...(cluster !== null
      ? { heartbeatIntervalMs: flags.heartbeatIntervalMs ?? CLUSTER_HEARTBEAT_INTERVAL_MS, electionTimeoutMinMs: electionMin, electionTimeoutMaxMs: 2 * electionMin }
      : {}),
    replicaMaxLagMs: flags.replicaMaxLagMs,
    replicaMaxLagOps: flags.replicaMaxLagOps,
    backlogBytesMax: flags.backlogBytes,
  };
  const host = new ReplicationHost({
    store,
    nodeId,
    selfAddress,
    replicaOf: flags.replicaOf,
    primaryAuth: flags.primaryAuth,
    primaryUser: flags.primaryUser,
    timing,
    log,
    runtime: linkTls === null ? nodeRuntime() : nodeRuntime(tlsTransport(linkTls)),
    ...(cluster !== null ? { clusterMembers: cluster.members } : {}),
  });
  // Published messages reach every member: the hub hands clients' messages to the relay, the
  // relay hands other members' messages to the hub's subscribers (never back to the relay).
  server.pubsub.relay = (kind, channel, message) => host.pubsub.published(kind, channel, message);
  host.pubsub.setDelivery((kind, channel, message) => void (kind === 'shard' ? server.pubsub.spublish(channel, message) : server.pubsub.publish(channel, message)));
  const frontend = new ReplicationFrontend(host);
  // Redis answers blocked clients with -UNBLOCKED when its primary becomes a replica.
  frontend.onDemoted = () => server.unblockForRoleChange();
  // CONFIG GET replicaof: Redis prints "host port", "" on a primary.
  const replicaOf = (): string => {
    const st = host.status();
    if (st.role === 'primary' || st.primaryAddress === null) return '';
    const colon = st.primaryAddress.lastIndexOf(':');
    return colon < 0 ? st.primaryAddress : `${st.primaryAddress.slice(0, colon)} ${st.primaryAddress.slice(colon + 1)}`;
  };
  // CONFIG GET/SET repl-backlog-size: the core's backlog budget (at least BACKLOG_BYTES_MIN, as the flag).
  const backlog = { get: (): number => host.status().backlogBytesMax, set: (bytes: number): void => host.setBacklogBytes(Math.max(BACKLOG_BYTES_MIN, bytes)) };
  server.addCommands(frontend.commands());
  if (cluster !== null) {
    const cf = new ClusterFrontend(host, (client) => frontend.sessions.peek(client)?.mode === 'quorum');
    frontend.onClusterResult = (e) => cf.onResult(e);
    server.addCommands(cf.commands());
    const redisCluster = new RedisClusterFrontend(host, () => server.config.clusterEnabled);
    server.addCommands(redisCluster.commands());
    // -MOVED / -CLUSTERDOWN for cluster connections first; the replication gate then as always.
    const gate: CommandGate = (spec, argv, client) => redisCluster.redirect(spec, argv, client) ?? frontend.gate(spec, argv, client);
    server.addInfoSection('Replication', () => [...frontend.infoSection(), ...cf.infoFields()]);
    server.setHooks({ gate, afterWrite: frontend.afterWrite, intercept: cf.quorum.intercept, beforeClose: () => host.stop(), memoryNotCounted: () => host.bufferedBytes(), replicaOf, backlog, portFixed: "a cluster member keeps the address its membership lists (--cluster)" });
    log.info(`replication: cluster member ${nodeId} at ${selfAddress} of ${[...cluster.members.keys()].join(',')} (starts as a replica; elections decide the primary)`);
  } else {
    server.addInfoSection('Replication', frontend.infoSection);
    server.addCommands(clusterCommandSpecs(null));
    server.setHooks({ gate: frontend.gate, afterWrite: frontend.afterWrite, beforeClose: () => host.stop(), memoryNotCounted: () => host.bufferedBytes(), replicaOf, backlog });
    log.info(`replication: node ${nodeId} at ${selfAddress}, ${flags.replicaOf === null ? 'primary' : `replica of ${flags.replicaOf}`}`);
  }
  await host.start();
  return { host, frontend };
}
