// Membership configurations: their byte form in a log entry's 'members' op, the bootstrap
// configuration, applying one MEMBER change, and the majority arithmetic over voters. Pure: it
// never decides when a change may happen (the core does) and never touches the log.

import type { ClusterConfig, ConfigAt, Member, MemberChange, MemberConfig, MemberRole, NodeId } from './types.js';
import { majorityOf } from './quorum.js';

/** More members make every commit wait on more acks and every election on more votes; 15 is plenty for a KV store. */
export const CONFIG_MEMBERS_MAX = 15;
/** Node ids appear in logs, INFO and TOPOLOGY. */
export const NODE_ID_CHARS_MAX = 64;
/** An encoded configuration is at most this long (15 members of short ids and addresses). */
export const CONFIG_BYTES_MAX = 64 * 1024;
/** Removed ids a configuration remembers (MemberConfig.removed). */
export const REMOVED_KEPT = 32;
/** Form version inside the encoded bytes, so a later form can be told apart. */
const CONFIG_FORM = 1;

export function validNodeId(id: string): boolean {
  return id.length > 0 && id.length <= NODE_ID_CHARS_MAX && /^[A-Za-z0-9._-]+$/.test(id);
}

/** The configuration a cluster starts with, before its log holds any membership entry. */
export function bootstrapConfig(topology: ClusterConfig): MemberConfig {
  const members = new Map<NodeId, Member>();
  for (const [id, address] of topology.members) members.set(id, { address, voter: true, autoPromote: false });
  for (const [id, address] of topology.learners ?? []) if (!members.has(id)) members.set(id, { address, voter: false, autoPromote: true });
  return { members };
}

export function votersOf(c: MemberConfig): NodeId[] {
  const out: NodeId[] = [];
  for (const [id, m] of c.members) if (m.voter) out.push(id);
  return out;
}

export function learnersOf(c: MemberConfig): NodeId[] {
  const out: NodeId[] = [];
  for (const [id, m] of c.members) if (!m.voter) out.push(id);
  return out;
}

export function isVoter(c: MemberConfig, id: NodeId): boolean {
  return c.members.get(id)?.voter === true;
}

export function roleIn(c: MemberConfig, id: NodeId): MemberRole {
  const m = c.members.get(id);
  return m === undefined ? 'removed' : m.voter ? 'voter' : 'learner';
}

export function voterCount(c: MemberConfig): number {
  let n = 0;
  for (const m of c.members.values()) if (m.voter) n++;
  return n;
}

/** ⌊voters/2⌋+1: how many voters make a majority of this configuration. */
export function configMajority(c: MemberConfig): number {
  return majorityOf(Math.max(1, voterCount(c)));
}

/**
 * Could a majority of `a`'s voters and a majority of `b`'s voters be disjoint? Each majority
 * takes the voters only it has first; they are forced to share only if those run out.
 * Two configurations one single-server change apart never can (Raft §4.2).
 */
export function majoritiesCanBeDisjoint(a: MemberConfig, b: MemberConfig): boolean {
  const va = new Set(votersOf(a));
  const vb = new Set(votersOf(b));
  if (va.size === 0 || vb.size === 0) return false;
  let shared = 0;
  for (const id of va) if (vb.has(id)) shared++;
  const needA = Math.max(0, configMajority(a) - (va.size - shared));
  const needB = Math.max(0, configMajority(b) - (vb.size - shared));
  return needA + needB <= shared;
}

/** Apply one MEMBER change to `c`; returns the new configuration or why it is refused. */
export function applyChange(c: MemberConfig, change: MemberChange): MemberConfig | string {
  const members = new Map(c.members);
  let removed = (c.removed ?? []).filter((id) => id !== change.id);
  const cur = members.get(change.id);
  switch (change.op) {
    case 'add': {
      if (!validNodeId(change.id)) return `bad node id '${change.id}' (1-${NODE_ID_CHARS_MAX} characters of [A-Za-z0-9._-])`;
      if (cur !== undefined) return `${change.id} is already a member (${cur.voter ? 'voter' : 'learner'} at ${cur.address})`;
      if (members.size >= CONFIG_MEMBERS_MAX) return `a cluster has at most ${CONFIG_MEMBERS_MAX} members`;
      const taken = addressOwner(c, change.address);
      if (taken !== null) return `address ${change.address} belongs to member ${taken}`;
      members.set(change.id, { address: change.address, voter: false, autoPromote: change.autoPromote });
      break;
    }
    case 'promote':
      if (cur === undefined) return `${change.id} is not a member`;
      if (cur.voter) return `${change.id} is already a voter`;
      members.set(change.id, { ...cur, voter: true, autoPromote: false });
      break;
    case 'remove':
      if (cur === undefined) return `${change.id} is not a member`;
      if (cur.voter && voterCount(c) === 1) return `${change.id} is the only voter`;
      members.delete(change.id);
      removed = [...removed, change.id].slice(-REMOVED_KEPT);
      break;
    case 'address': {
      if (cur === undefined) return `${change.id} is not a member`;
      if (cur.address === change.address) return `${change.id} is already at ${change.address}`;
      const taken = addressOwner(c, change.address);
      if (taken !== null) return `address ${change.address} belongs to member ${taken}`;
      members.set(change.id, { ...cur, address: change.address });
      break;
    }
  }
  return removed.length > 0 ? { members, removed } : { members };
}

function addressOwner(c: MemberConfig, address: string): NodeId | null {
  for (const [id, m] of c.members) if (m.address === address) return id;
  return null;
}

/** The byte form of a 'members' op: JSON, members sorted by id (equal configurations encode equal). */
export function encodeMemberConfig(c: MemberConfig): Buffer {
  const members = [...c.members].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, m]) => [id, m.address, m.voter ? 1 : 0, m.autoPromote ? 1 : 0]);
  const removed = c.removed ?? [];
  return Buffer.from(JSON.stringify(removed.length > 0 ? { v: CONFIG_FORM, members, removed } : { v: CONFIG_FORM, members }), 'utf8');
}

/** Parse a 'members' op's bytes; null when they are not a configuration this version knows. */
export function decodeMemberConfig(b: Buffer): MemberConfig | null {
  if (b.length > CONFIG_BYTES_MAX) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(b.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const o = raw as { v?: unknown; members?: unknown; removed?: unknown };
  if (o.v !== CONFIG_FORM || !Array.isArray(o.members) || o.members.length > CONFIG_MEMBERS_MAX) return null;
  const members = new Map<NodeId, Member>();
  for (const row of o.members as unknown[]) {
    if (!Array.isArray(row) || row.length !== 4) return null;
    const [id, address, voter, auto] = row as unknown[];
    if (typeof id !== 'string' || !validNodeId(id) || typeof address !== 'string' || members.has(id)) return null;
    if ((voter !== 0 && voter !== 1) || (auto !== 0 && auto !== 1)) return null;
    members.set(id, { address, voter: voter === 1, autoPromote: auto === 1 });
  }
  if (voterCount({ members }) === 0) return null;
  if (o.removed === undefined) return { members };
  if (!Array.isArray(o.removed) || o.removed.length > REMOVED_KEPT) return null;
  const removed: NodeId[] = [];
  for (const id of o.removed as unknown[]) {
    if (typeof id !== 'string' || !validNodeId(id) || members.has(id) || removed.includes(id)) return null;
    removed.push(id);
  }
  return { members, removed };
}

export function sameConfig(a: MemberConfig, b: MemberConfig): boolean {
  return encodeMemberConfig(a).equals(encodeMemberConfig(b));
}

/** One line for logs: `a,b,c (+learner d)`. */
export function formatConfig(c: MemberConfig): string {
  const voters = votersOf(c).sort();
  const learners = [...c.members].filter(([, m]) => !m.voter).map(([id]) => id).sort();
  return voters.join(',') + (learners.length > 0 ? ` (learners ${learners.join(',')})` : '');
}

/** Configurations kept by a log's owner: the newest CONFIGS_KEPT (a log never truncates below the one before its last). */
export const CONFIGS_KEPT = 8;

/** `list` with `next` appended, keeping the newest CONFIGS_KEPT. */
export function withConfig(list: readonly ConfigAt[], next: ConfigAt): ConfigAt[] {
  const out = [...list, next];
  return out.length > CONFIGS_KEPT ? out.slice(out.length - CONFIGS_KEPT) : out;
}
