// Cluster membership: parsing `--cluster id=host:port,...` and binding a data directory to one
// membership (persisted in the store's meta) so a restart with a different member list is
// refused. Owns that validation only; it never dials a member nor decides roles (the core does).

import type { ReplicatedStore } from '../../storage/api.js';
import type { NodeId } from '../core/types.js';
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
