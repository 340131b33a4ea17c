// The client-facing side of cluster mode: FAILOVER [TO node-id], TOPOLOGY, MEMBER
// (member-commands.ts), the quorum interceptor (QuorumOps), the cluster fields of INFO
// replication, and routing of the core's quorum/failover/membership result effects back to
// waiting clients. Owns those texts and waiters; it never
// touches links or the store (the host does) and never decides roles (the core does).

import type { CommandContext, CommandSpec, DeferredReply } from '../../server/command-types.js';
import type { EpochStart, Seq } from '../../storage/types.js';
import { configMajority } from '../core/member-config.js';
import type { CoreStatus, Effect, NodeId } from '../core/types.js';
import { MemberFrontend, type MemberHostApi } from './member-commands.js';
import { QuorumOps } from './quorum-ops.js';
import { clusterInfoFields, memberViews, writeTopology, type TopologyInput } from './topology.js';
import type { ClientState } from '../../server/command-types.js';

/** Clients waiting on one FAILOVER at once (the core runs one transfer at a time; extra callers share its result). */
export const FAILOVER_WAITERS_MAX = 1000;

/** What the cluster frontend needs from the replication host. */
export interface ClusterHostApi extends MemberHostApi {
  readonly nodeId: NodeId;
  readonly selfAddress: string;
  nowMs(): number;
  status(): CoreStatus;
  readonly epochHistory: readonly EpochStart[];
  readonly knownPrimaryLastSeq: Seq;
  /** Null in cluster mode; the reason otherwise. */
  quorumUnavailable(): string | null;
  quorumRead(readId: number): void;
  quorumWrite(writeId: number, seq: Seq): void;
  failover(target: NodeId | null): void;
}

export type ClusterResultEffect = Extract<Effect, { type: 'readReady' | 'readFailed' | 'quorumWriteResult' | 'failoverResult' | 'memberChangeResult' }>;

export class ClusterFrontend {
  readonly quorum: QuorumOps;
  private readonly members: MemberFrontend;
  private failoverWaiters: DeferredReply[] = [];

  constructor(
    private readonly host: ClusterHostApi,
    quorumMode: (client: ClientState) => boolean,
  ) {
    this.quorum = new QuorumOps(
      {
        quorumUnavailable: () => host.quorumUnavailable(),
        submitRead: (id) => host.quorumRead(id),
        submitWrite: (id, seq) => host.quorumWrite(id, seq),
      },
      quorumMode,
    );
    this.members = new MemberFrontend(host);
  }

  /** The host forwards the core's result effects here, in order. */
  onResult(e: ClusterResultEffect): void {
    switch (e.type) {
      case 'readReady':
        this.quorum.onReadReady(e.readId);
        return;
      case 'readFailed':
        this.quorum.onReadFailed(e.readId, e.failure);
        return;
      case 'quorumWriteResult':
        this.quorum.onWriteResult(e.writeId, e.outcome, e.reason);
        return;
      case 'failoverResult': {
        const ws = this.failoverWaiters;
        this.failoverWaiters = [];
        for (const finish of ws) finish((out) => (e.ok ? out.ok() : out.error(`ERR FAILOVER failed: ${e.reason}`)));
        return;
      }
      case 'memberChangeResult':
        this.members.onResult(e);
        return;
      default: {
        const never: never = e;
        throw new Error(`unhandled result ${JSON.stringify(never)}`);
      }
    }
  }

  private topologyInput(): TopologyInput {
    return { status: this.host.status(), epochHistory: this.host.epochHistory, nowMs: this.host.nowMs(), knownPrimaryLastSeq: this.host.knownPrimaryLastSeq };
  }

  infoFields(): Array<[string, string | number]> {
    const t = this.topologyInput();
    return clusterInfoFields(t, configMajority(t.status.membership.config), this.quorum.pending);
  }

  commands(): CommandSpec[] {
    const base = { firstKey: 0, lastKey: 0, keyStep: 0, group: 'cluster' as const };
    return [
      {
        ...base,
        name: 'failover',
        arity: -1,
        flags: ['admin', 'noscript', 'stale'],
        summary: 'Hand leadership to another member with zero loss (the primary pauses writes until the target has everything).',
        syntax: '[TO node-id]',
        handler: (c, a) => this.failover(c, a),
      },
      {
        ...base,
        name: 'topology',
        arity: 1,
        flags: ['fast', 'stale', 'loading'],
        summary: "Every cluster member as this node sees it: id, address, role, epoch, applied position, lag, link, last heard.",
        syntax: '',
        handler: (c) => this.topology(c),
      },
      this.members.spec(),
    ];
  }

  private topology(ctx: CommandContext): void {
    const t = this.topologyInput();
    if (t.status.mode !== 'cluster') return ctx.out.error('ERR TOPOLOGY needs cluster mode (--cluster); use ROLE or INFO replication');
    writeTopology(ctx.out, memberViews(t), this.host.selfAddress, t.status.membership);
  }

  private failover(ctx: CommandContext, argv: readonly Buffer[]): void {
    let target: NodeId | null = null;
    if (argv.length === 3 && (argv[1] as Buffer).toString('latin1').toUpperCase() === 'TO') target = (argv[2] as Buffer).toString('utf8');
    else if (argv.length !== 1) return ctx.out.error('ERR syntax error (FAILOVER [TO node-id])');
    if (this.host.status().mode !== 'cluster') return ctx.out.error('ERR FAILOVER needs cluster mode (--cluster); use REPLICAOF / PROMOTE');
    if (this.failoverWaiters.length >= FAILOVER_WAITERS_MAX) return ctx.out.error('ERR too many clients waiting for FAILOVER');
    const finish = ctx.defer?.();
    if (finish === undefined) return ctx.out.error('ERR FAILOVER needs deferred replies, which this server does not provide');
    // Registered before stepping the core: a refusal (not primary, unknown member) comes back at once.
    this.failoverWaiters.push(finish);
    this.host.failover(target);
  }
}
