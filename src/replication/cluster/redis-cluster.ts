// The Redis Cluster protocol for one kv-ts cluster: CLUSTER SLOTS/SHARDS/NODES/INFO/MYID/
// KEYSLOT/COUNTKEYSINSLOT/GETKEYSINSLOT/HELP, READONLY/READWRITE/ASKING, and the -MOVED /
// -CLUSTERDOWN redirects of cluster connections. The group is one Redis "shard": all 16384
// slots are served by the current primary, the other members are its replicas. Owns those
// texts and the per-connection READONLY state; it never decides roles (the core does) and never
// changes the keyspace.

import { setImmediate } from 'node:timers';
import type { ReplyWriter } from '../../protocol/reply.js';
import type { ClientState, CommandContext, CommandSpec } from '../../server/command-types.js';
import { keyPositions, keySpecsOf } from '../../server/commands/key-specs.js';
import type { Key } from '../../storage/types.js';
import { parseAddress } from '../../net/address.js';
import type { CoreStatus, NodeId, Role } from '../core/types.js';
import { CLUSTER_SLOT_LAST, CLUSTER_SLOTS, keySlot } from './slots.js';

/**
 * Storage slots COUNTKEYSINSLOT / GETKEYSINSLOT examine per event-loop turn: one SCAN call's
 * own bound (storage/keyspace.ts SCAN_SLOTS_PER_CALL_MAX), since no index groups keys by hash
 * slot. A larger keyspace is walked over several turns, the reply deferred.
 */
export const KEYS_IN_SLOT_TURN_SLOTS_MAX = 100_000;
/** Storage slots per SCAN step inside a turn (GETKEYSINSLOT stops as soon as it has its keys). */
const KEYS_IN_SLOT_STEP_SLOTS = 8192;
/** Walks of a large keyspace in progress at once (each holds a deferred reply). */
export const KEYS_IN_SLOT_WALKS_MAX = 16;
/** GETKEYSINSLOT's count is capped here: the reply is built in memory. */
export const GETKEYSINSLOT_KEYS_MAX = 1_000_000;

/**
 * Scripts Redis Cluster routes as writes (a script without `no-writes` may write): the primary
 * runs them. EVAL_RO / EVALSHA_RO are reads.
 */
const SCRIPTS_THAT_MAY_WRITE: ReadonlySet<string> = new Set(['eval', 'evalsha']);

/** What this module needs of the replication host. */
export interface RedisClusterHost {
  readonly nodeId: NodeId;
  readonly selfAddress: string;
  readonly role: Role;
  nowMs(): number;
  status(): CoreStatus;
  /** Not the primary: the primary's address when its link is up, else null (no status built). */
  reachablePrimaryAddress(): string | null;
}

/** One member as the Redis Cluster commands show it. */
export interface ClusterMember {
  readonly id: NodeId;
  /** '' and 0 when this node does not know its address (CLUSTER NODES: noaddr). */
  readonly host: string;
  readonly port: number;
  readonly self: boolean;
  readonly primary: boolean;
  /** False when this node's link to it is down (CLUSTER NODES: fail?, disconnected). */
  readonly reachable: boolean;
  /** Unix ms of the last message from it (0: never; self: now). */
  readonly lastHeardUnixMs: number;
  /** Replication offset as known here (-1: unknown). */
  readonly offset: number;
  /** False for a learner: it never becomes primary (CLUSTER NODES: nofailover). */
  readonly voter: boolean;
}

/**
 * Every member: the primary first (when one is known), then the others by id. Members are this
 * node, its peers, and members of the configuration in force that are not peers (learners).
 */
export function clusterMembers(st: CoreStatus, selfAddress: string, nowMs: number, unixNowMs: number): ClusterMember[] {
  const addr = (a: string): { host: string; port: number } => parseAddress(a) ?? { host: '', port: 0 };
  const config = st.membership.config.members;
  const voter = (id: NodeId): boolean => config.get(id)?.voter !== false;
  const out: ClusterMember[] = [
    { id: st.nodeId, ...addr(selfAddress), self: true, primary: st.role === 'primary', reachable: true, lastHeardUnixMs: unixNowMs, offset: st.lastPos.seq, voter: voter(st.nodeId) },
  ];
  for (const p of st.peers) {
    const heard = p.lastHeardMs < 0 ? 0 : unixNowMs - Math.max(0, nowMs - p.lastHeardMs);
    const offset = st.role === 'primary' && p.sync === 'streaming' ? p.matchSeq : -1;
    out.push({ id: p.id, ...addr(p.address), self: false, primary: p.id === st.primaryId, reachable: p.link === 'up', lastHeardUnixMs: heard, offset, voter: voter(p.id) });
  }
  // The configuration in force also names learners, which may not be peers of a replica.
  for (const [id, m] of config) {
    if (out.some((x) => x.id === id)) continue;
    out.push({ id, ...addr(m.address), self: false, primary: id === st.primaryId, reachable: false, lastHeardUnixMs: 0, offset: -1, voter: m.voter });
  }
  return out.sort((a, b) => (a.primary !== b.primary ? (a.primary ? -1 : 1) : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Whether the group serves its slots: a primary is known and has its majority (as this node sees it). */
export function clusterStateOk(st: CoreStatus): boolean {
  if (st.primaryId === null) return false;
  if (st.role === 'primary') return st.acceptsWrites;
  return st.peers.some((p) => p.id === st.primaryId && p.link === 'up');
}

function str(b: Buffer | undefined): string {
  return b === undefined ? '' : b.toString('utf8');
}

/** Redis's integer parse for slots and counts: a decimal that fits a long, else null. */
function parseLong(b: Buffer | undefined): number | null {
  const s = str(b);
  if (!/^-?\d{1,18}$/.test(s)) return null;
  return Number(s);
}

const HELP: readonly string[] = [
  'CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'COUNTKEYSINSLOT <slot>',
  '    The number of keys in <slot>.',
  'GETKEYSINSLOT <slot> <count>',
  '    Up to <count> key names in <slot>.',
  'INFO',
  '    The cluster state: cluster_state, slots, known nodes, epochs.',
  'KEYSLOT <key>',
  '    The hash slot of <key>.',
  'MYID',
  '    This node\'s id (its kv-ts member id).',
  'NODES',
  '    Every member, one line each:',
  '    <id> <ip:port@cport> <flags> <master> <ping-sent> <pong-recv> <epoch> <link> <slot> ...',
  'SHARDS',
  '    The one shard: its slot range and its nodes.',
  'SLOTS',
  '    Slot ranges with the primary, then the replicas, of each (ip, port, id).',
  'HELP',
  '    Print this help.',
  'All 16384 slots are served by the kv-ts primary; membership and failover are kv-ts\'s own',
  '(FAILOVER, TOPOLOGY), not CLUSTER subcommands.',
];

type Subcommand = (ctx: CommandContext, argv: readonly Buffer[]) => void;

export class RedisClusterFrontend {
  private walks = 0;
  private readonly subcommands: ReadonlyMap<string, Subcommand>;

  constructor(
    private readonly host: RedisClusterHost,
    /** cluster-enabled: every connection of this node is a cluster connection. */
    private readonly clusterEnabled: () => boolean,
  ) {
    this.subcommands = new Map<string, Subcommand>([
      ['countkeysinslot', (c, a) => this.countKeysInSlot(c, a)],
      ['getkeysinslot', (c, a) => this.getKeysInSlot(c, a)],
      ['help', (c) => this.help(c.out)],
      ['info', (c) => c.out.verbatim(this.infoText())],
      ['keyslot', (c, a) => c.out.integer(keySlot(a[2] as Buffer))],
      ['myid', (c) => c.out.bulk(this.host.nodeId)],
      ['nodes', (c) => c.out.verbatim(this.nodesText())],
      ['shards', (c) => this.shards(c.out)],
      ['slots', (c) => this.slots(c.out)],
    ]);
  }

  // ================================================================ redirects

  /** A cluster connection: on a cluster-enabled node, or one that sent READONLY. */
  private clusterConnection(client: ClientState): boolean {
    return client.clusterReadonly === true || this.clusterEnabled();
  }

  /**
   * The CommandGate part of the cluster protocol (runs before the replication gate): on a node
   * that is not the primary, a cluster connection's command that names a key is answered
   * -MOVED <slot> <primary> (a write, or any command from a connection without READONLY), or
   * -CLUSTERDOWN while cluster_state is fail (no primary known, or its link is down). Keyless
   * commands, and commands on the primary, pass.
   */
  redirect = (spec: CommandSpec, argv: readonly Buffer[], client: ClientState): string | null => {
    if (this.host.role === 'primary' || !this.clusterConnection(client)) return null;
    const sub = spec.subcommands !== undefined && argv.length > 1 ? str(argv[1]).toLowerCase() : null;
    const keys = keyPositions(keySpecsOf(spec, sub), argv);
    const first = keys?.[0];
    if (first === undefined) return null;
    // As CLUSTER INFO's cluster_state on a replica: no primary, or none it hears from.
    const primary = this.host.reachablePrimaryAddress();
    if (primary === null) return 'CLUSTERDOWN The cluster is down';
    const writes = spec.flags.includes('write') || SCRIPTS_THAT_MAY_WRITE.has(spec.name) || (sub !== null && spec.writeSubcommands?.includes(sub) === true);
    if (!writes && client.clusterReadonly === true) return null;
    return `MOVED ${keySlot(argv[first[0]] as Buffer)} ${primary}`;
  };

  // ================================================================ commands

  commands(): CommandSpec[] {
    return clusterCommandSpecs(this);
  }

  /** Runs CLUSTER <sub>, READONLY, READWRITE or ASKING (the table's handlers call here). */
  run(name: string, ctx: CommandContext, argv: readonly Buffer[]): void {
    switch (name) {
      case 'cluster': {
        const sub = str(argv[1]);
        const run = this.subcommands.get(sub.toLowerCase());
        if (run === undefined) return ctx.out.error(`ERR unknown subcommand '${sub}'. Try CLUSTER HELP.`);
        return run(ctx, argv);
      }
      case 'readonly':
      case 'readwrite':
        ctx.client.clusterReadonly = name === 'readonly';
        return ctx.out.ok();
      default:
        return ctx.out.ok();
    }
  }

  private help(out: ReplyWriter): void {
    out.array(HELP.length);
    for (const l of HELP) out.simple(l);
  }

  private members(): { st: CoreStatus; members: ClusterMember[] } {
    const st = this.host.status();
    return { st, members: clusterMembers(st, this.host.selfAddress, this.host.nowMs(), Date.now()) };
  }

  /**
   * CLUSTER SLOTS: one range, the primary then its replicas; empty while no primary is known.
   * Replicas this node cannot reach, or whose address it does not know (a departing member the
   * primary still streams to), are left out (Redis leaves out failed ones), so clients that read
   * from replicas are not sent there; CLUSTER NODES and SHARDS list them.
   */
  private slots(out: ReplyWriter): void {
    const { st, members } = this.members();
    if (st.primaryId === null) return out.array(0);
    const listed = members.filter((m) => m.primary || (m.reachable && m.port !== 0));
    out.array(1);
    out.array(2 + listed.length);
    out.integer(0);
    out.integer(CLUSTER_SLOT_LAST);
    for (const m of listed) {
      out.array(4);
      out.bulk(m.host);
      out.integer(m.port);
      out.bulk(m.id);
      out.map(0);
    }
  }

  /** CLUSTER SHARDS: one shard (no slots while no primary is known), every member a node of it. */
  private shards(out: ReplyWriter): void {
    const { st, members } = this.members();
    out.array(1);
    out.map(2);
    out.bulk('slots');
    if (st.primaryId === null) out.array(0);
    else {
      out.array(2);
      out.integer(0);
      out.integer(CLUSTER_SLOT_LAST);
    }
    out.bulk('nodes');
    out.array(members.length);
    for (const m of members) {
      out.map(7);
      out.bulk('id');
      out.bulk(m.id);
      out.bulk('port');
      out.integer(m.port);
      out.bulk('ip');
      out.bulk(m.host);
      out.bulk('endpoint');
      out.bulk(m.host);
      out.bulk('role');
      out.bulk(m.primary ? 'master' : 'replica');
      out.bulk('replication-offset');
      out.integer(Math.max(0, m.offset));
      out.bulk('health');
      out.bulk(m.reachable ? 'online' : 'failed');
    }
  }

  /**
   * CLUSTER NODES: Redis's line format; the cluster bus is the client port here, and every line
   * shows the replication epoch (Redis shows a replica its primary's epoch too).
   */
  private nodesText(): string {
    const { st, members } = this.members();
    const primary = st.primaryId;
    let text = '';
    for (const m of members) {
      const flags = [...(m.self ? ['myself'] : []), m.primary ? 'master' : 'slave', ...(m.reachable ? [] : ['fail?']), ...(m.port === 0 ? ['noaddr'] : []), ...(m.voter ? [] : ['nofailover'])].join(',');
      const master = m.primary || primary === null ? '-' : primary;
      text += `${m.id} ${m.host}:${m.port}@${m.port} ${flags} ${master} 0 ${m.lastHeardUnixMs} ${st.epoch} ${m.reachable ? 'connected' : 'disconnected'}${m.primary ? ` 0-${CLUSTER_SLOT_LAST}` : ''}\n`;
    }
    return text;
  }

  private infoText(): string {
    const { st, members } = this.members();
    const assigned = st.primaryId === null ? 0 : CLUSTER_SLOTS;
    const fields: Array<[string, string | number]> = [
      ['cluster_state', clusterStateOk(st) ? 'ok' : 'fail'],
      ['cluster_slots_assigned', assigned],
      ['cluster_slots_ok', clusterStateOk(st) ? assigned : 0],
      ['cluster_slots_pfail', 0],
      ['cluster_slots_fail', clusterStateOk(st) ? 0 : assigned],
      ['cluster_known_nodes', members.length],
      ['cluster_size', st.primaryId === null ? 0 : 1],
      ['cluster_current_epoch', st.epoch],
      ['cluster_my_epoch', st.epoch],
    ];
    return fields.map(([k, v]) => `${k}:${v}\r\n`).join('');
  }

  // ================================================================ keys in a slot

  /** Slot argument: Redis's texts for a non-integer and an out-of-range slot. */
  private slotArg(ctx: CommandContext, b: Buffer | undefined, invalid: string): number | null {
    const n = parseLong(b);
    if (n === null) ctx.out.error('ERR value is not an integer or out of range');
    else if (n < 0 || n > CLUSTER_SLOT_LAST) ctx.out.error(invalid);
    else return n;
    return null;
  }

  private countKeysInSlot(ctx: CommandContext, argv: readonly Buffer[]): void {
    const slot = this.slotArg(ctx, argv[2], 'ERR Invalid slot');
    if (slot === null) return;
    this.walkSlot(ctx, slot, Number.MAX_SAFE_INTEGER, (out, _keys, count) => out.integer(count));
  }

  private getKeysInSlot(ctx: CommandContext, argv: readonly Buffer[]): void {
    const invalid = 'ERR Invalid slot or number of keys';
    const count = parseLong(argv[3]);
    const slot = parseLong(argv[2]);
    if (slot === null || count === null) return ctx.out.error('ERR value is not an integer or out of range');
    if (slot < 0 || slot > CLUSTER_SLOT_LAST || count < 0) return ctx.out.error(invalid);
    if (count > GETKEYSINSLOT_KEYS_MAX) return ctx.out.error(`ERR GETKEYSINSLOT returns at most ${GETKEYSINSLOT_KEYS_MAX} keys per call`);
    this.walkSlot(ctx, slot, count, (out, keys) => {
      out.array(keys.length);
      for (const k of keys) out.bulkLatin1(k);
    });
  }

  /**
   * Walk the keyspace (SCAN's cursor: every key present for the whole walk is seen once) for
   * keys of `slot`, keeping up to `keep` of them, KEYS_IN_SLOT_TURN_SLOTS_MAX storage slots per
   * event-loop turn. A walk that needs more than one turn defers its reply; inside MULTI or a
   * script (no deferred replies) it is refused instead of stalling the server.
   */
  private walkSlot(ctx: CommandContext, slot: number, keep: number, reply: (out: ReplyWriter, keys: readonly Key[], count: number) => void): void {
    const store = ctx.store;
    const keys: Key[] = [];
    let count = 0;
    let cursor = '0';
    const turn = (): boolean => {
      if (keep === 0) return true;
      let examined = 0;
      do {
        const r = store.scan(cursor, KEYS_IN_SLOT_STEP_SLOTS);
        examined += KEYS_IN_SLOT_STEP_SLOTS;
        for (const k of r.keys) {
          if (keySlot(k) !== slot) continue;
          count++;
          if (keys.length < keep) keys.push(k);
        }
        cursor = r.cursor;
      } while (cursor !== '0' && examined < KEYS_IN_SLOT_TURN_SLOTS_MAX && keys.length < keep);
      return cursor === '0' || keys.length >= keep;
    };
    if (turn()) return reply(ctx.out, keys, count);
    if (ctx.defer === undefined || ctx.inTransaction === true) {
      return ctx.out.error(`ERR the keyspace is too large to count keys by slot inside MULTI or a script (more than ${KEYS_IN_SLOT_TURN_SLOTS_MAX} entries to examine)`);
    }
    if (this.walks >= KEYS_IN_SLOT_WALKS_MAX) return ctx.out.error('ERR too many COUNTKEYSINSLOT / GETKEYSINSLOT walks in progress; retry shortly');
    const finish = ctx.defer();
    this.walks++;
    const next = (): void => {
      if (!turn()) return void setImmediate(next);
      this.walks--;
      finish((out) => reply(out, keys, count));
    };
    setImmediate(next);
  }
}

/** CLUSTER's subcommands and their Redis arities. */
const SUBCOMMAND_ARITY: Readonly<Record<string, number>> = {
  countkeysinslot: 3, getkeysinslot: 4, help: 2, info: 2, keyslot: 3, myid: 2, nodes: 2, shards: 2, slots: 2,
};

/**
 * The table entries of CLUSTER, READONLY, READWRITE and ASKING. Without cluster mode (`frontend`
 * null) they exist, as in a Redis started without cluster support, and answer so.
 */
export function clusterCommandSpecs(frontend: RedisClusterFrontend | null): CommandSpec[] {
  const base = { firstKey: 0, lastKey: 0, keyStep: 0, group: 'cluster' as const };
  const handler = (name: string): CommandSpec['handler'] =>
    frontend === null ? (ctx) => ctx.out.error('ERR This instance has cluster support disabled (kv-server --cluster)') : (ctx, argv) => frontend.run(name, ctx, argv);
  return [
    {
      ...base,
      name: 'cluster',
      arity: -2,
      flags: ['loading', 'stale'],
      summary: 'The Redis Cluster view of this kv-ts cluster: one shard of 16384 slots served by the primary.',
      syntax: 'SLOTS | SHARDS | NODES | INFO | MYID | KEYSLOT key | COUNTKEYSINSLOT slot | GETKEYSINSLOT slot count | HELP',
      subcommands: Object.keys(SUBCOMMAND_ARITY),
      subcommandArity: SUBCOMMAND_ARITY,
      handler: handler('cluster'),
    },
    {
      ...base,
      name: 'readonly',
      arity: 1,
      flags: ['fast', 'loading', 'stale'],
      summary: 'Cluster reads on this connection may be served by a replica (writes are still redirected with -MOVED).',
      syntax: '',
      acl: ['@connection'],
      handler: handler('readonly'),
    },
    {
      ...base,
      name: 'readwrite',
      arity: 1,
      flags: ['fast', 'loading', 'stale'],
      summary: "Undo READONLY: a replica redirects this connection's keyed reads to the primary again.",
      syntax: '',
      acl: ['@connection'],
      handler: handler('readwrite'),
    },
    {
      ...base,
      name: 'asking',
      arity: 1,
      flags: ['fast'],
      summary: 'Accepted for Redis Cluster clients: slots never migrate within one kv-ts cluster, so there is no -ASK to follow.',
      syntax: '',
      acl: ['@connection'],
      handler: handler('asking'),
    },
  ];
}
