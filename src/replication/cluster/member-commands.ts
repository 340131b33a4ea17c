// MEMBER ADD / PROMOTE / REMOVE / ADDRESS / LIST: the operator's commands for live membership
// changes, their argument checks, the redirect of a change sent to a non-primary, the waiters
// for the core's memberChangeResult, and MEMBER LIST's view of the configuration in force.
// Owns those texts and waiters; it never changes the configuration itself (the core decides
// and the host appends the entry) and never touches links.

import type { CommandContext, CommandSpec, DeferredReply } from '../../server/command-types.js';
import type { ReplyWriter } from '../../protocol/reply.js';
import { parseAddress } from '../../net/address.js';
import { NODE_ID_CHARS_MAX, validNodeId } from '../core/member-config.js';
import type { CoreStatus, Effect, MemberChange } from '../core/types.js';

/** Clients waiting on membership changes at once (the core runs one change at a time; the rest are refused at once). */
export const MEMBER_WAITERS_MAX = 1000;

/** What a node outside the configuration in force answers to writes, quorum reads and MEMBER. */
export const ERR_REMOVED = 'ERR this node was removed from the cluster';

export type MemberChangeResult = Extract<Effect, { type: 'memberChangeResult' }>;

/** What MEMBER needs from the replication host. */
export interface MemberHostApi {
  status(): CoreStatus;
  changeMembers(requestId: number, change: MemberChange): void;
}

/** MEMBER's subcommands and their Redis-style arities (the container's name counted). */
const SUBCOMMAND_ARITY: Readonly<Record<string, number>> = { add: -4, promote: 3, remove: 3, address: 4, list: 2 };

export class MemberFrontend {
  private readonly waiters = new Map<number, DeferredReply>();
  private nextRequestId = 1;

  constructor(private readonly host: MemberHostApi) {}

  spec(): CommandSpec {
    return {
      name: 'member',
      arity: -2,
      flags: ['admin', 'noscript', 'no_multi', 'stale'],
      firstKey: 0,
      lastKey: 0,
      keyStep: 0,
      group: 'cluster',
      summary: 'Change the cluster membership one member at a time (on the primary), or list it: ADD id host:port [LEARNER], PROMOTE id, REMOVE id, ADDRESS id host:port, LIST.',
      syntax: 'ADD node-id host:port [LEARNER] | PROMOTE node-id | REMOVE node-id | ADDRESS node-id host:port | LIST',
      subcommands: Object.keys(SUBCOMMAND_ARITY),
      subcommandArity: SUBCOMMAND_ARITY,
      handler: (c, a) => this.member(c, a),
    };
  }

  /** The core's answer to one change: the waiting client gets +OK or the reason. */
  onResult(e: MemberChangeResult): void {
    const finish = this.waiters.get(e.requestId);
    if (finish === undefined) return;
    this.waiters.delete(e.requestId);
    if (e.outcome === 'ok') finish((out) => out.ok());
    else if (e.outcome === 'refused') finish((out) => out.error(`ERR ${e.reason}`));
    else finish((out) => out.error(`ERR membership change outcome unknown: the entry at seq ${e.seq} was appended but this node stopped being the primary before it committed (${e.reason}); check MEMBER LIST on the new primary`));
  }

  private member(ctx: CommandContext, argv: readonly Buffer[]): void {
    const sub = word(argv, 1).toLowerCase();
    const st = this.host.status();
    if (st.mode !== 'cluster') return ctx.out.error('ERR MEMBER needs cluster mode (--cluster)');
    if (st.membership.self === 'removed') return ctx.out.error(ERR_REMOVED);
    if (sub === 'list') return writeMemberList(ctx.out, st);
    const change = parseChange(sub, argv);
    if (typeof change === 'string') return ctx.out.error(change);
    // The change is the primary's to make: redirected like a write.
    if (st.role !== 'primary') return ctx.out.error(`READONLY membership changes are made on the primary. primary=${st.primaryAddress ?? 'unknown'}`);
    if (this.waiters.size >= MEMBER_WAITERS_MAX) return ctx.out.error('ERR too many clients waiting for MEMBER');
    const finish = ctx.defer?.();
    if (finish === undefined) return ctx.out.error('ERR MEMBER needs deferred replies, which this context does not provide');
    const requestId = this.nextRequestId++;
    // Registered before stepping the core: a refusal comes back within the step.
    this.waiters.set(requestId, finish);
    this.host.changeMembers(requestId, change);
  }
}

function word(argv: readonly Buffer[], i: number): string {
  const b = argv[i];
  return b === undefined ? '' : b.toString('utf8');
}

function parseChange(sub: string, argv: readonly Buffer[]): MemberChange | string {
  const id = word(argv, 2);
  if (!validNodeId(id)) return `ERR bad node id '${id}' (1-${NODE_ID_CHARS_MAX} characters of [A-Za-z0-9._-])`;
  const address = (): string | null => {
    const a = word(argv, 3);
    return parseAddress(a) === null ? null : a;
  };
  switch (sub) {
    case 'add': {
      const a = address();
      if (a === null) return `ERR bad address '${word(argv, 3)}' (expected host:port)`;
      if (argv.length > 5 || (argv.length === 5 && word(argv, 4).toUpperCase() !== 'LEARNER')) return 'ERR syntax error (MEMBER ADD node-id host:port [LEARNER])';
      return { op: 'add', id, address: a, autoPromote: argv.length === 4 };
    }
    case 'promote':
      return { op: 'promote', id };
    case 'remove':
      return { op: 'remove', id };
    case 'address': {
      const a = address();
      if (a === null) return `ERR bad address '${word(argv, 3)}' (expected host:port)`;
      return { op: 'address', id, address: a };
    }
    default:
      return `ERR unknown subcommand '${sub}'. Try MEMBER ADD|PROMOTE|REMOVE|ADDRESS|LIST.`;
  }
}

/** Fields of each MEMBER LIST entry, in order. */
const MEMBER_LIST_FIELDS = 9;

/**
 * MEMBER LIST: one map per member of the configuration in force (RESP3 maps; flattened pairs in
 * RESP2), sorted by id: id, address, role (voter|learner), self, link (self|up|down), match_seq
 * and lag_ops (-1: unknown here: only the primary tracks its followers), config_seq,
 * config_committed.
 */
export function writeMemberList(out: ReplyWriter, st: CoreStatus): void {
  const m = st.membership;
  const primary = st.role === 'primary';
  const ids = [...m.config.members.keys()].sort();
  out.array(ids.length);
  for (const id of ids) {
    const member = m.config.members.get(id);
    if (member === undefined) continue;
    const self = id === st.nodeId;
    const peer = st.peers.find((p) => p.id === id);
    const tracked = self || (primary && peer !== undefined && peer.sync === 'streaming');
    out.map(MEMBER_LIST_FIELDS);
    out.bulk('id');
    out.bulk(id);
    out.bulk('address');
    out.bulk(member.address);
    out.bulk('role');
    out.bulk(member.voter ? 'voter' : 'learner');
    out.bulk('self');
    out.boolean(self);
    out.bulk('link');
    out.bulk(self ? 'self' : (peer?.link ?? 'down'));
    out.bulk('match_seq');
    out.integer(self ? st.lastPos.seq : tracked && peer !== undefined ? peer.matchSeq : -1);
    out.bulk('lag_ops');
    out.integer(self ? 0 : tracked && peer !== undefined ? peer.lagOps : -1);
    out.bulk('config_seq');
    out.integer(m.seq);
    out.bulk('config_committed');
    out.boolean(m.committed);
  }
}
