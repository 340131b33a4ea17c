// Wires replication into a KvServer: resolves the node id (flag, or a random id persisted in
// the store's meta) and, in cluster mode, the cluster this data directory belongs to (its log's
// configuration, a --join, or --cluster's bootstrap), builds the host and its client-facing
// frontend, and installs the gate, the afterWrite hook, the commands and the INFO section. Owns that assembly and the
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
import { bindMembership, parseClusterFlag, recordedCluster, recordedNodeId, recordJoin, type Membership } from '../cluster/membership.js';
import { joinCluster } from '../cluster/join.js';
import { formatConfig } from '../core/member-config.js';
import type { NodeId } from '../core/types.js';
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
  /** `--join host:port`: an empty data directory joins the running cluster of that member (requires --node-id). */
  readonly join: string | null;
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
  join: null,
  electionTimeoutMs: null,
  heartbeatIntervalMs: null,
};

/** Flag names (without --) this module understands, for the CLI's parser. */
export const REPLICATION_FLAG_NAMES = ['replica-of', 'primary-auth', 'primary-user', 'replica-max-lag-ms', 'replica-max-lag-ops', 'repl-backlog-bytes', 'node-id', 'cluster', 'join', 'election-timeout-ms', 'heartbeat-interval-ms'] as const;

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
  const join = str('join') ?? null;
  if (join !== null) {
    if (parseAddress(join) === null) return `--join: expected HOST:PORT of a cluster member, got '${join}'`;
    if (nodeId === null) return '--join needs --node-id (the id this node joins under)';
    if (cluster !== null) return '--join and --cluster exclude each other (--join learns the members from the cluster)';
    if (replicaOf !== null) return '--join and --replica-of exclude each other';
  }
  const election = int('election-timeout-ms', 2);
  if (typeof election === 'string') return election;
  const heartbeat = int('heartbeat-interval-ms', 1);
  if (typeof heartbeat === 'string') return heartbeat;
  // (A restart of a member whose log holds its configuration needs neither --cluster nor --join: attach checks these then.)
  const hb = heartbeat ?? CLUSTER_HEARTBEAT_INTERVAL_MS;
  const el = election ?? CLUSTER_ELECTION_TIMEOUT_MIN_MS;
  if (el <= hb) return `--election-timeout-ms (${el}) must exceed --heartbeat-interval-ms (${hb})`;
  return {
    cluster,
    join,
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
  // Before resolveNodeId, which would record the flag's id over the one this directory belongs to.
  const cluster = await resolveCluster(store, flags, listenAddress, log);
  if (cluster === null && (flags.electionTimeoutMs !== null || flags.heartbeatIntervalMs !== null)) {
    throw new ConfigRefusedError('--election-timeout-ms and --heartbeat-interval-ms need cluster mode (--cluster, --join, or a data directory that belongs to a cluster)');
  }
  if (cluster === null && server.config.clusterEnabled) {
    throw new ConfigRefusedError('--cluster-enabled yes needs cluster mode (--cluster, --join, or a data directory that belongs to a cluster)');
  }
  const nodeId = await resolveNodeId(store, flags.nodeId);
  const selfAddress = cluster?.selfAddress ?? listenAddress;
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
    ...(cluster !== null ? { clusterMembers: cluster.members, ...(cluster.learners !== undefined ? { clusterLearners: cluster.learners } : {}) } : {}),
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
    log.info(`replication: cluster member ${nodeId} at ${selfAddress}; ${cluster.summary} (starts as a replica; elections decide the primary)`);
  } else {
    server.addInfoSection('Replication', frontend.infoSection);
    server.addCommands(clusterCommandSpecs(null));
    server.setHooks({ gate: frontend.gate, afterWrite: frontend.afterWrite, beforeClose: () => host.stop(), memoryNotCounted: () => host.bufferedBytes(), replicaOf, backlog });
    log.info(`replication: node ${nodeId} at ${selfAddress}, ${flags.replicaOf === null ? 'primary' : `replica of ${flags.replicaOf}`}`);
  }
  await host.start();
  return { host, frontend };
}

/** How this node starts in cluster mode: the bootstrap configuration for the core and where we are. */
interface ClusterStart {
  /** Bootstrap voters (→ where we dial them), or --cluster's routes when the log holds the configuration. */
  readonly members: ReadonlyMap<NodeId, string>;
  readonly learners?: ReadonlyMap<NodeId, string>;
  /** Where peers and clients reach us. */
  readonly selfAddress: string;
  /** For the start's log line. */
  readonly summary: string;
}

/**
 * Which cluster this start belongs to, null for manual mode. The data directory decides once it
 * belongs to one: a configuration in its log is never overridden by a flag (a flag could otherwise
 * change the voter set behind the log's back and let two majorities elect two primaries); --cluster
 * then only gives routes to the ids it lists. A fresh directory takes --cluster as the bootstrap
 * configuration, or joins with --join.
 */
async function resolveCluster(store: ReplicatedStore, flags: ReplicationFlags, listenAddress: string, log: HostLog): Promise<ClusterStart | null> {
  const rec = recordedCluster(store);
  const savedId = recordedNodeId(store);
  if (rec.kind !== 'none' && savedId !== null && flags.nodeId !== null && savedId !== flags.nodeId) {
    throw new ConfigRefusedError(`this data directory belongs to cluster member ${savedId}, not --node-id ${flags.nodeId}`);
  }
  const self = flags.nodeId ?? savedId ?? '';
  if (rec.kind !== 'none' && flags.join !== null) log.info(`--join ${flags.join} ignored: this data directory already belongs to a cluster`);
  switch (rec.kind) {
    case 'log': {
      const config = rec.config;
      const ids = [...config.members.keys()].sort().join(',');
      const flagIds = flags.cluster === null ? null : [...flags.cluster.members.keys()].sort().join(',');
      if (flagIds !== null && flagIds !== ids) log.warn(`--cluster lists ${flagIds}, but this data directory's log holds the configuration ${formatConfig(config)} (seq ${rec.seq}): using the log's; --cluster only gives the addresses of the ids it lists`);
      const voters = new Map<NodeId, string>();
      const learners = new Map<NodeId, string>();
      for (const [id, m] of config.members) (m.voter ? voters : learners).set(id, flags.cluster?.members.get(id) ?? m.address);
      // Our --cluster entry, else the configuration's address unless we now listen on another port
      // (the node moved: MEMBER ADDRESS tells the others), else where we listen.
      const recorded = config.members.get(self)?.address;
      const moved = recorded === undefined || parseAddress(recorded)?.port !== parseAddress(listenAddress)?.port;
      const selfAddress = flags.cluster?.members.get(self) ?? (moved ? listenAddress : recorded);
      // A removed node keeps its place in the bootstrap only to start: the log's configuration is what the core follows.
      if (!config.members.has(self)) learners.set(self, selfAddress);
      // Routes from --cluster for ids the log knows too (the host prefers them over the configuration's addresses).
      for (const [id, a] of flags.cluster?.members ?? []) if (id !== self && config.members.has(id)) (voters.has(id) ? voters : learners).set(id, a);
      return { members: voters, learners, selfAddress, summary: `configuration ${formatConfig(config)} from the log (seq ${rec.seq})` };
    }
    case 'joined': {
      if (flags.cluster !== null) log.warn('--cluster ignored: this node joined with --join and follows the configuration the primary sends');
      return { members: rec.join.voters, learners: new Map([[self, rec.join.address]]), selfAddress: rec.join.address, summary: `joined ${[...rec.join.voters.keys()].join(',')} as a learner` };
    }
    case 'bootstrap':
    case 'none': {
      if (flags.cluster !== null) {
        const bound = await bindMembership(store, flags.cluster);
        if (!bound.ok) throw new ConfigRefusedError(bound.error);
        const members = flags.cluster.members;
        return { members, selfAddress: members.get(self) ?? listenAddress, summary: `of ${[...members.keys()].join(',')}` };
      }
      if (rec.kind === 'bootstrap') {
        throw new ConfigRefusedError(`this data directory belongs to cluster ${rec.ids.join(',')}; start it with --node-id and --cluster (a manual-mode start would begin an epoch outside the cluster's elections)`);
      }
      if (flags.join === null) return null;
      return join(store, flags, self, listenAddress, log);
    }
  }
}

/** --join on a fresh data directory: be added by the primary as a learner, record it, start as one. */
async function join(store: ReplicatedStore, flags: ReplicationFlags, self: NodeId, address: string, log: HostLog): Promise<ClusterStart> {
  const seed = flags.join as string;
  if (store.lastPosition.seq !== 0) throw new ConfigRefusedError(`--join needs an empty data directory (this one holds writes up to seq ${store.lastPosition.seq} outside any cluster)`);
  log.info(`join: asking ${seed} to add ${self} at ${address} as a learner`);
  const r = await joinCluster({ seed, nodeId: self, address, user: flags.primaryUser, password: flags.primaryAuth, info: (m) => log.info(m) });
  if (!r.ok) throw new ConfigRefusedError(`--join ${seed}: ${r.error}`);
  await recordJoin(store, self, { voters: r.voters, address });
  log.info(`join: added as a learner; voters ${[...r.voters.keys()].join(',')}`);
  return { members: r.voters, learners: new Map([[self, address]]), selfAddress: address, summary: `joined ${[...r.voters.keys()].join(',')} as a learner` };
}
