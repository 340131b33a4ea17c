// Cluster membership at startup: parsing `--cluster id=host:port,...`, binding a data directory
// to its bootstrap membership (persisted in the store's meta) so a restart with a different
// member list is refused, and reading which cluster a directory belongs to (its log's
// configuration once live membership changed it, or a --join record). Owns that validation
// only; it never dials a member nor decides roles (the core does).

import type { ReplicatedStore } from '../../storage/api.js';
import type { MemberConfig, NodeId } from '../core/types.js';
import { parseAddress } from '../../net/address.js';

import { CONFIG_MEMBERS_MAX as CLUSTER_MEMBERS_MAX, NODE_ID_CHARS_MAX, validNodeId } from '../core/member-config.js';

export { CLUSTER_MEMBERS_MAX, NODE_ID_CHARS_MAX, validNodeId };
/** ReplicatedStore meta keys owned by this module. */
export const META_MEMBERS = 'clusterMembers';
export const META_NODE_ID = 'nodeId';

export interface Membership {
  readonly self: NodeId;
  /** Every member (self included) → where this node dials it (self: where clients reach us). */
  readonly members: ReadonlyMap<NodeId, string>;
}

/** host:port with a port in range; IPv6 literals bracketed. */
function validAddress(a: string): boolean {
  return parseAddress(a) !== null;
}

/** Parse the --cluster value for node `self`. Returns the membership or what is wrong with it. */
export function parseClusterFlag(value: string, self: string): Membership | string {
  if (!validNodeId(self)) return `--node-id must be 1-${NODE_ID_CHARS_MAX} characters of [A-Za-z0-9._-]`;
  const members = new Map<NodeId, string>();
  const addresses = new Set<string>();
  const parts = value.split(',').filter((p) => p.trim() !== '');
  if (parts.length === 0) return '--cluster: expected id=host:port,... (every member, this node included)';
  if (parts.length > CLUSTER_MEMBERS_MAX) return `--cluster: at most ${CLUSTER_MEMBERS_MAX} members, got ${parts.length}`;
  for (const raw of parts) {
    const p = raw.trim();
    const eq = p.indexOf('=');
    if (eq <= 0) return `--cluster: expected id=host:port, got '${p}'`;
    const id = p.slice(0, eq);
    const address = p.slice(eq + 1);
    if (!validNodeId(id)) return `--cluster: bad node id '${id}' (1-${NODE_ID_CHARS_MAX} characters of [A-Za-z0-9._-])`;
    if (!validAddress(address)) return `--cluster: bad address '${address}' for ${id} (expected host:port)`;
    if (members.has(id)) return `--cluster: node id ${id} listed twice`;
    if (addresses.has(address)) return `--cluster: address ${address} listed twice`;
    members.set(id, address);
    addresses.add(address);
  }
  if (!members.has(self)) return `--cluster must list this node (--node-id ${self}) too`;
  return { self, members };
}

/**
 * Bind the data directory to this membership: the first cluster start records the node id and
 * the member ids; later starts must present the same ones. Addresses are only where a node
 * dials (a test puts proxies there; an operator may move a node), so they may change.
 * Why refuse: a majority is counted over the configured members; silently starting with
 * another set could let two disjoint "majorities" elect two primaries in one epoch.
 */
export async function bindMembership(store: ReplicatedStore, m: Membership): Promise<{ ok: true; created: boolean } | { ok: false; error: string }> {
  const meta = store.readMeta();
  const ids = [...m.members.keys()].sort();
  const savedId = meta[META_NODE_ID];
  const saved = meta[META_MEMBERS];
  if (Array.isArray(saved)) {
    const savedIds = saved.filter((x): x is string => typeof x === 'string');
    if (savedIds.join(',') !== ids.join(',')) {
      return {
        ok: false,
        error: `--cluster members ${ids.join(',')} differ from the membership this data directory belongs to (${savedIds.join(',')}); start it with the same member ids, or use a new data directory`,
      };
    }
    if (typeof savedId === 'string' && savedId !== m.self) {
      return { ok: false, error: `this data directory belongs to cluster member ${savedId}, not --node-id ${m.self}` };
    }
    return { ok: true, created: false };
  }
  await store.writeMeta({ ...meta, [META_NODE_ID]: m.self, [META_MEMBERS]: ids });
  return { ok: true, created: true };
}

/** The membership recorded in a data directory, if it was ever started in cluster mode. */
export function recordedMembers(store: ReplicatedStore): readonly string[] | null {
  const saved = store.readMeta()[META_MEMBERS];
  return Array.isArray(saved) ? saved.filter((x): x is string => typeof x === 'string') : null;
}

/** ReplicatedStore meta key: a node that joined with --join, before its log holds a configuration. */
export const META_JOIN = 'clusterJoin';

/** What a node started with --join records once the primary added it (a restart needs no --join). */
export interface JoinRecord {
  /** The voters it was told about, → their addresses (its bootstrap configuration, itself a learner). */
  readonly voters: ReadonlyMap<NodeId, string>;
  /** Its own address, as MEMBER ADD gave it. */
  readonly address: string;
}

/**
 * The cluster a data directory belongs to, strongest evidence first: its log's configuration
 * (live membership: the log decides, never a flag), a join not yet followed by the primary's
 * resync, the bootstrap member ids of a --cluster start, or none.
 */
export type RecordedCluster =
  | { readonly kind: 'log'; readonly config: MemberConfig; readonly seq: number }
  | { readonly kind: 'joined'; readonly join: JoinRecord }
  | { readonly kind: 'bootstrap'; readonly ids: readonly NodeId[] }
  | { readonly kind: 'none' };

export function recordedCluster(store: ReplicatedStore): RecordedCluster {
  const configs = store.memberConfigs;
  const last = configs[configs.length - 1];
  if (last !== undefined) return { kind: 'log', config: last.config, seq: last.seq };
  const meta = store.readMeta();
  const join = parseJoinRecord(meta[META_JOIN]);
  if (join !== null) return { kind: 'joined', join };
  const ids = recordedMembers(store);
  return ids !== null ? { kind: 'bootstrap', ids } : { kind: 'none' };
}

/** The node id a data directory belongs to (null: never started with one recorded). */
export function recordedNodeId(store: ReplicatedStore): NodeId | null {
  const id = store.readMeta()[META_NODE_ID];
  return typeof id === 'string' ? id : null;
}

/** Record a completed join (node id, voters, own address) so a restart finds its cluster. */
export async function recordJoin(store: ReplicatedStore, self: NodeId, join: JoinRecord): Promise<void> {
  const meta = store.readMeta();
  await store.writeMeta({
    ...meta,
    [META_NODE_ID]: self,
    [META_MEMBERS]: [...join.voters.keys()].sort(),
    [META_JOIN]: { voters: [...join.voters].map(([id, address]) => [id, address]), address: join.address },
  });
}

function parseJoinRecord(raw: unknown): JoinRecord | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const o = raw as { voters?: unknown; address?: unknown };
  if (typeof o.address !== 'string' || !Array.isArray(o.voters)) return null;
  const voters = new Map<NodeId, string>();
  for (const row of o.voters as unknown[]) {
    if (!Array.isArray(row) || typeof row[0] !== 'string' || typeof row[1] !== 'string') return null;
    voters.set(row[0], row[1]);
  }
  return voters.size > 0 ? { voters, address: o.address } : null;
}
