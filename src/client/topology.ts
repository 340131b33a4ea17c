// The client's picture of the deployment (who is primary, which replicas exist) built from a
// TOPOLOGY reply (cluster mode) or a ROLE reply (manual replication, or plain Redis), and the
// differences between two pictures as events. Pure: no sockets, no timers.

import { formatAddress } from '../net/address.js';

/** One member as the answering node described it. */
export interface MemberInfo {
  readonly id: string;
  readonly address: string;
  readonly role: 'primary' | 'replica' | 'unknown';
  /** -1: unknown to the node that answered. */
  readonly epoch: number;
  /** Applied position "<epoch>:<seq>", or null when the answering node does not know it. */
  readonly applied: string | null;
  readonly lagOps: number;
  readonly lagMs: number;
  readonly link: string;
}

export interface TopologyView {
  /** The node whose answer this is. */
  readonly source: string;
  readonly mode: 'cluster' | 'replication';
  /** The primary's address; null while there is none (an election is running). */
  readonly primary: string | null;
  /** Every other member's address (cluster mode) or the primary's attached replicas. */
  readonly replicas: readonly string[];
  /** Cluster mode: every configured member; replication mode: the primary and its replicas. */
  readonly members: readonly MemberInfo[];
  /** The primary's epoch as the source knows it; -1 when unknown. */
  readonly epoch: number;
}

export type TopologyEvent =
  | { readonly type: 'primaryChanged'; readonly from: string | null; readonly to: string | null }
  | { readonly type: 'replicaAdded'; readonly address: string }
  | { readonly type: 'replicaLost'; readonly address: string };

/** A reply value as @redis/client decodes it (RESP2 or RESP3, default type mapping). */
export type Decoded = string | number | bigint | boolean | null | Buffer | Decoded[] | Map<unknown, Decoded> | { [k: string]: Decoded } | Error;

/** Field lookup over one TOPOLOGY member: a flat [k, v, k, v] array (RESP2) or a map (RESP3). */
function fields(item: Decoded): Map<string, Decoded> {
  const m = new Map<string, Decoded>();
  if (Array.isArray(item)) {
    for (let i = 0; i + 1 < item.length; i += 2) m.set(String(item[i]), item[i + 1] as Decoded);
  } else if (item instanceof Map) {
    for (const [k, v] of item) m.set(String(k), v);
  } else if (item !== null && typeof item === 'object' && !(item instanceof Error) && !Buffer.isBuffer(item)) {
    for (const [k, v] of Object.entries(item)) m.set(k, v);
  }
  return m;
}

const str = (v: Decoded | undefined): string => (v === undefined || v === null ? '' : Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
const num = (v: Decoded | undefined, dflt: number): number => {
  const n = Number(str(v));
  return str(v) === '' || !Number.isFinite(n) ? dflt : n;
};

/** A TOPOLOGY reply from `source` as a view; null when the reply is not that shape. */
export function viewFromTopology(source: string, reply: Decoded): TopologyView | null {
  if (!Array.isArray(reply)) return null;
  const members: MemberInfo[] = [];
  let sourceIsPrimary = false;
  for (const item of reply) {
    const f = fields(item);
    if (!f.has('id') || !f.has('address')) return null;
    const role = str(f.get('role'));
    const member: MemberInfo = {
      id: str(f.get('id')),
      address: str(f.get('address')),
      role: role === 'primary' || role === 'replica' ? role : 'unknown',
      epoch: num(f.get('epoch'), -1),
      applied: f.get('applied') === null || str(f.get('applied')) === '' ? null : str(f.get('applied')),
      lagOps: num(f.get('lag_ops'), 0),
      lagMs: num(f.get('lag_ms'), 0),
      link: str(f.get('link')),
    };
    const self = f.get('self');
    if ((self === true || self === 1 || str(self) === '1') && member.role === 'primary') sourceIsPrimary = true;
    members.push(member);
  }
  const primary = members.find((m) => m.role === 'primary');
  // The primary sees every link, so a member it cannot reach is not offered for reads. A
  // replica names only the primary it follows; every other configured member is then a replica
  // candidate (if it is not one, it answers READONLY/TOOSTALE and the client goes elsewhere).
  const replicas = members.filter((m) => m !== primary && m.address !== '' && !(sourceIsPrimary && m.link === 'down')).map((m) => m.address);
  return { source, mode: 'cluster', primary: primary?.address ?? null, replicas, members, epoch: primary?.epoch ?? -1 };
}

/**
 * A ROLE reply from `source` as a view. A primary lists its replicas; a replica names only its
 * primary (the caller asks the primary for the rest). Null when the reply is not ROLE-shaped.
 */
export function viewFromRole(source: string, reply: Decoded): TopologyView | null {
  if (!Array.isArray(reply) || reply.length < 2) return null;
  const kind = str(reply[0]);
  if (kind === 'master') {
    const list = Array.isArray(reply[2]) ? reply[2] : [];
    const replicas: string[] = [];
    for (const r of list) if (Array.isArray(r) && r.length >= 2) replicas.push(formatAddress(str(r[0]), num(r[1], 0)));
    const members: MemberInfo[] = [
      { id: source, address: source, role: 'primary', epoch: -1, applied: null, lagOps: 0, lagMs: 0, link: 'self' },
      ...replicas.map((a): MemberInfo => ({ id: a, address: a, role: 'replica', epoch: -1, applied: null, lagOps: 0, lagMs: 0, link: 'up' })),
    ];
    return { source, mode: 'replication', primary: source, replicas, members, epoch: -1 };
  }
  if (kind === 'slave' && reply.length >= 3) {
    const primary = formatAddress(str(reply[1]), num(reply[2], 0));
    const members: MemberInfo[] = [
      { id: primary, address: primary, role: 'primary', epoch: -1, applied: null, lagOps: 0, lagMs: 0, link: str(reply[3]) },
      { id: source, address: source, role: 'replica', epoch: -1, applied: null, lagOps: 0, lagMs: 0, link: 'self' },
    ];
    return { source, mode: 'replication', primary, replicas: [source], members, epoch: -1 };
  }
  return null;
}

/** What changed from `before` to `after`, as events for applications that log them. */
export function diffViews(before: TopologyView | null, after: TopologyView): TopologyEvent[] {
  const events: TopologyEvent[] = [];
  const prevPrimary = before?.primary ?? null;
  if (before !== null && prevPrimary !== after.primary) events.push({ type: 'primaryChanged', from: prevPrimary, to: after.primary });
  if (before === null && after.primary !== null) events.push({ type: 'primaryChanged', from: null, to: after.primary });
  const prev = new Set(before?.replicas ?? []);
  const next = new Set(after.replicas);
  for (const a of next) if (!prev.has(a)) events.push({ type: 'replicaAdded', address: a });
  for (const a of prev) if (!next.has(a)) events.push({ type: 'replicaLost', address: a });
  return events;
}
