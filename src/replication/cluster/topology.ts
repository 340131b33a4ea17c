// TOPOLOGY and the cluster fields of INFO replication: this node's view of every member of the
// configuration in force (id, address, voter or learner, role, epoch, applied position, lag,
// link, last heard) built from the core's status.
// Owns the shapes and texts; it never changes state. A replica knows little about its peers,
// so the complete picture comes from the primary (documented in docs/consistency.md).

import type { ReplyWriter } from '../../protocol/reply.js';
import { formatPosition, type EpochStart, type Position, type Seq } from '../../storage/types.js';
import { positionOf } from '../core/history.js';
import { learnersOf, roleIn, votersOf } from '../core/member-config.js';
import type { CoreStatus, MemberRole, Role } from '../core/types.js';

export interface MemberView {
  readonly id: string;
  readonly address: string;
  readonly self: boolean;
  /** Its place in the configuration in force (a node outside it shows only itself, 'removed'). */
  readonly member: MemberRole;
  readonly role: Role | 'unknown';
  /** -1: unknown from here. */
  readonly epoch: number;
  /** null: unknown from here. */
  readonly applied: Position | null;
  readonly lagOps: number;
  readonly lagMs: number;
  readonly link: 'self' | 'up' | 'down';
  /** How long ago this node heard from the member; -1: never (0 for self). */
  readonly lastHeardMsAgo: number;
}

export interface TopologyInput {
  readonly status: CoreStatus;
  readonly epochHistory: readonly EpochStart[];
  readonly nowMs: number;
  /** The primary's last seq as this replica last heard it (lag of a replica behind its primary). */
  readonly knownPrimaryLastSeq: Seq;
}

/** A seq of our own log as a position (Log Matching: a peer's acknowledged seq names the same entry here). */
function positionIn(history: readonly EpochStart[], seq: Seq): Position | null {
  if (seq <= 0) return { epoch: 0, seq: 0 };
  const first = history[0];
  return first === undefined || seq < first.startSeq ? null : positionOf(history, seq);
}

export function memberViews(t: TopologyInput): MemberView[] {
  const st = t.status;
  const primary = st.role === 'primary';
  const selfLag = primary ? 0 : Math.max(0, t.knownPrimaryLastSeq - st.lastPos.seq);
  const views: MemberView[] = [
    {
      id: st.nodeId,
      address: '',
      self: true,
      member: st.membership.self,
      role: st.role,
      epoch: st.epoch,
      applied: st.lastPos,
      lagOps: selfLag,
      lagMs: 0,
      link: 'self',
      lastHeardMsAgo: 0,
    },
  ];
  const config = st.membership.config;
  for (const p of st.peers) {
    // A peer outside the configuration (joining, or removed) is not a member to route to.
    if (!config.members.has(p.id)) continue;
    const isPrimary = p.id === st.primaryId;
    const streaming = primary && p.sync === 'streaming';
    views.push({
      id: p.id,
      address: config.members.get(p.id)?.address ?? p.address,
      self: false,
      member: roleIn(config, p.id),
      role: isPrimary ? 'primary' : primary ? 'replica' : 'unknown',
      // A member that streams from us (or leads us) is in our epoch; otherwise we cannot know.
      epoch: streaming || isPrimary ? st.epoch : -1,
      applied: streaming ? positionIn(t.epochHistory, p.matchSeq) : isPrimary && t.knownPrimaryLastSeq > 0 ? positionIn(t.epochHistory, Math.min(t.knownPrimaryLastSeq, st.lastPos.seq)) : null,
      lagOps: streaming ? p.lagOps : 0,
      lagMs: streaming ? p.lagMs : 0,
      link: p.link,
      lastHeardMsAgo: p.lastHeardMs < 0 ? -1 : Math.max(0, t.nowMs - p.lastHeardMs),
    });
  }
  // Members the core has no peer entry for yet (just added): known only by the configuration.
  for (const [id, m] of config.members) {
    if (id === st.nodeId || views.some((v) => v.id === id)) continue;
    views.push({ id, address: m.address, self: false, member: m.voter ? 'voter' : 'learner', role: 'unknown', epoch: -1, applied: null, lagOps: 0, lagMs: 0, link: 'down', lastHeardMsAgo: -1 });
  }
  return views.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Fields of each TOPOLOGY entry. */
const TOPOLOGY_FIELDS = 13;

/**
 * TOPOLOGY reply: an array with one map per member (RESP3 maps; flattened pairs in RESP2); each
 * also names the configuration it belongs to (config_seq, config_committed: the same in all).
 */
export function writeTopology(out: ReplyWriter, views: readonly MemberView[], selfAddress: string, membership: CoreStatus['membership']): void {
  out.array(views.length);
  for (const v of views) {
    out.map(TOPOLOGY_FIELDS);
    out.bulk('id');
    out.bulk(v.id);
    out.bulk('address');
    out.bulk(v.self ? selfAddress : v.address);
    out.bulk('self');
    out.boolean(v.self);
    out.bulk('member');
    out.bulk(v.member);
    out.bulk('role');
    out.bulk(v.role);
    out.bulk('epoch');
    out.integer(v.epoch);
    out.bulk('applied');
    if (v.applied === null) out.nullBulk();
    else out.bulk(formatPosition(v.applied));
    out.bulk('lag_ops');
    out.integer(v.lagOps);
    out.bulk('lag_ms');
    out.integer(v.lagMs);
    out.bulk('link');
    out.bulk(v.link);
    out.bulk('last_heard_ms');
    out.integer(v.lastHeardMsAgo);
    out.bulk('config_seq');
    out.integer(membership.seq);
    out.bulk('config_committed');
    out.boolean(membership.committed);
  }
}

/** INFO replication additions in cluster mode (kv_cluster_* fields). */
export function clusterInfoFields(t: TopologyInput, majority: number, quorumPending: number): Array<[string, string | number]> {
  const st = t.status;
  const views = memberViews(t);
  const m = st.membership;
  const f: Array<[string, string | number]> = [
    ['kv_cluster_enabled', 1],
    ['member_role', m.self],
    ['config_seq', m.seq],
    ['config_committed', m.committed ? 1 : 0],
    ['voters', votersOf(m.config).sort().join(',')],
    ['learners', learnersOf(m.config).sort().join(',')],
    ['kv_cluster_members', m.config.members.size],
    ['kv_cluster_majority', majority],
    ['kv_cluster_role', st.role],
    ['kv_cluster_primary', st.primaryId ?? ''],
    ['kv_cluster_commit_seq', st.commitSeq],
    ['kv_cluster_accepts_writes', st.acceptsWrites ? 1 : 0],
    ['kv_cluster_links_up', views.filter((v) => v.link === 'up').length],
    ['kv_cluster_quorum_pending', quorumPending],
  ];
  views.forEach((v, i) => {
    const applied = v.applied === null ? '?' : formatPosition(v.applied);
    f.push([`kv_member${i}`, `id=${v.id},member=${v.member},role=${v.role},epoch=${v.epoch},applied=${applied},lag_ops=${v.lagOps},lag_ms=${v.lagMs},link=${v.link},last_heard_ms=${v.lastHeardMsAgo}`]);
  });
  return f;
}
