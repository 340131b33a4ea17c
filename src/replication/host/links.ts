// The host's replication links and the dialers that keep them up: per peer the link messages
// are sent on (manual mode: the only one; cluster mode: the one we dialled) and, in cluster
// mode, the link the peer dialled to us (received on; sent on only to a peer we do not dial, a
// node joining or one just removed). The cluster mesh follows the configuration in force
// (setPeers). Owns these maps and dialers; never interprets a frame and never steps the core
// (the host does, on the hooks' calls).

import assert from 'node:assert';
import type { NodeId } from '../core/types.js';
import type { LinkDialer, LinkEvents, ReplLink, Transport } from './runtime.js';

export interface LinkTableOptions {
  readonly transport: Transport;
  readonly nodeId: NodeId;
  readonly password: string;
  /** The user the password belongs to ('' = the default user). */
  readonly user?: string;
  /** Our own client address, announced on every link we dial. */
  readonly announce: string;
  /** Cluster mode (the mesh is then set by setPeers); absent in manual mode. */
  readonly cluster: boolean;
}

export interface LinkTableHooks {
  readonly events: LinkEvents;
  /** A link to send on came up. */
  up(peer: NodeId, address: string, outbound: boolean): void;
  isStopped(): boolean;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** What a closed link was to the table. */
export type ClosedLink = 'send' | 'inbound' | 'stale';

export class LinkTable {
  private readonly sendLinks = new Map<NodeId, ReplLink>();
  private readonly inbound = new Map<NodeId, ReplLink>();
  /** Manual mode: the dialer to our primary. */
  private dialer: LinkDialer | null = null;
  /** Cluster mode: one dialer per peer (outbound links, used for sending). */
  private readonly peerDialers = new Map<NodeId, { readonly address: string; readonly dialer: LinkDialer }>();

  constructor(
    private readonly opts: LinkTableOptions,
    private readonly hooks: LinkTableHooks,
  ) {}

  /**
   * The link to send to `peer` on. Cluster mode: the one we dialled; for a peer we do not dial
   * (not in the configuration in force: it is joining, or was removed) the one it dialled, so
   * the core can still answer it.
   */
  sendLink(peer: NodeId): ReplLink | undefined {
    const l = this.sendLinks.get(peer);
    if (l !== undefined || !this.opts.cluster || this.peerDialers.has(peer)) return l;
    return this.inbound.get(peer);
  }

  /** Peers with a link to send on (a primary's replicas; in cluster mode every member we reach). */
  sendPeers(): IterableIterator<NodeId> {
    return this.sendLinks.keys();
  }

  /** Frames from a replaced link are ignored (late bytes of an old connection). */
  isCurrent(link: ReplLink): boolean {
    return this.sendLinks.get(link.peerId) === link || this.inbound.get(link.peerId) === link;
  }

  outputBytes(peer: NodeId): number {
    const l = this.sendLinks.get(peer) ?? this.inbound.get(peer);
    return l === undefined || l.isClosed ? 0 : l.outputBytes;
  }

  /** No link holds unsent bytes: every frame written so far is in the kernel (or its link is gone). */
  allDrained(): boolean {
    for (const l of this.sendLinks.values()) if (!l.isClosed && l.outputBytes > 0) return false;
    for (const l of this.inbound.values()) if (!l.isClosed && l.outputBytes > 0) return false;
    return true;
  }

  /**
   * `peer` dialled us. Manual mode: it is, or wants to be, our replica. Cluster: a node we receive
   * from, member or not (a node joining, or one removed, must reach the primary: the core decides
   * what its messages are worth).
   */
  accept(peer: NodeId, announce: string, open: (events: LinkEvents) => ReplLink): void {
    if (!this.opts.cluster) {
      this.sendLinks.get(peer)?.close('replaced by a new connection from the same node');
      const link = open(this.hooks.events);
      this.sendLinks.set(peer, link);
      this.hooks.up(peer, announce, false);
      return;
    }
    const old = this.inbound.get(peer);
    // Forget it before closing, so its close is not taken for the current link's.
    this.inbound.delete(peer);
    old?.close('replaced by a new connection from the same node');
    this.inbound.set(peer, open(this.hooks.events));
  }

  /** Forget `link` if it is current; what it was tells the host what to step. */
  closed(link: ReplLink): ClosedLink {
    if (this.inbound.get(link.peerId) === link) {
      this.inbound.delete(link.peerId);
      return 'inbound';
    }
    if (this.sendLinks.get(link.peerId) !== link) return 'stale';
    this.sendLinks.delete(link.peerId);
    return 'send';
  }

  /** A link we dialled went down: its dialer dials again (with backoff). */
  redial(link: ReplLink): void {
    if (link.outbound) (this.peerDialers.get(link.peerId)?.dialer ?? this.dialer)?.linkClosed();
  }

  /** Manual mode: keep a link to our primary at `address` (replacing any dialer). */
  dialPrimary(address: string): void {
    this.dialer?.stop();
    const d = this.newDialer(address, (link) => {
      if (this.dialer !== d || this.hooks.isStopped()) {
        link.close('dialer replaced');
        return;
      }
      this.sendLinks.get(link.peerId)?.close('replaced by a new connection');
      this.sendLinks.set(link.peerId, link);
      this.hooks.info(`replication link to ${address} up (primary ${link.peerId})`);
      this.hooks.up(link.peerId, address, true);
    });
    this.dialer = d;
    d.start();
  }

  stopPrimaryDialer(): void {
    this.dialer?.stop();
    this.dialer = null;
  }

  /**
   * Cluster mode: keep a link to every node of `members` (the core's peers: the configuration in
   * force and, while a change is uncommitted, the one before) but ourselves, and to no one else.
   * A new node gets a dialer; a moved one (new address) a new dialer; a dropped one loses its
   * dialer and the link we dialled (the link it dialled to us stays: it may still ask us things).
   */
  setPeers(members: ReadonlyMap<NodeId, string>): void {
    assert(this.opts.cluster, 'only cluster mode dials members');
    for (const [id, d] of [...this.peerDialers]) {
      if (members.get(id) === d.address) continue;
      d.dialer.stop();
      this.peerDialers.delete(id);
      const link = this.sendLinks.get(id);
      const why = members.has(id) ? `${id} moved to ${members.get(id) ?? ''}` : `${id} is no longer a member`;
      this.hooks.info(`replication link to ${id} (${d.address}) dropped: ${why}`);
      // Closed while still in sendLinks: the host steps linkDown for it (and redial finds no dialer).
      link?.close(why);
    }
    // A peer without an address (a non-member the core answers: it dialled us) is answered on its own link.
    for (const [id, address] of members) if (id !== this.opts.nodeId && address !== '' && !this.peerDialers.has(id)) this.dialMember(id, address);
  }

  /** Cluster mode: the peers we dial (the configuration in force, ourselves excepted). */
  dialedPeers(): IterableIterator<NodeId> {
    return this.peerDialers.keys();
  }

  /** Close the send links (all, or only those we dialled). */
  closeSendLinks(reason: string, outboundOnly = false): void {
    for (const l of [...this.sendLinks.values()]) if (!outboundOnly || l.outbound) l.close(reason);
  }

  stopAll(reason: string): void {
    this.stopPrimaryDialer();
    for (const d of this.peerDialers.values()) d.dialer.stop();
    this.peerDialers.clear();
    for (const l of [...this.sendLinks.values(), ...this.inbound.values()]) l.close(reason);
  }

  /** Cluster: a link to `peer` at `address`; it must answer with that node id. */
  private dialMember(peer: NodeId, address: string): void {
    const d = this.newDialer(address, (link) => {
      if (this.hooks.isStopped() || this.peerDialers.get(peer)?.dialer !== d) {
        link.close('dialer stopped');
        return;
      }
      if (link.peerId !== peer) {
        // A wrong address in the configuration (or a node restarted with another id): never mix identities.
        this.hooks.error(`${address} answered as node ${link.peerId}, but the cluster configuration lists it as ${peer}; retrying`);
        link.close('wrong node id'); // not in our maps under `peer`, so its close is ignored
        d.linkClosed();
        return;
      }
      const old = this.sendLinks.get(peer);
      this.sendLinks.delete(peer);
      old?.close('replaced by a new connection');
      this.sendLinks.set(peer, link);
      this.hooks.info(`replication link to ${peer} (${address}) up`);
      this.hooks.up(peer, address, true);
    });
    this.peerDialers.set(peer, { address, dialer: d });
    d.start();
  }

  private newDialer(address: string, onLinked: (link: ReplLink) => void): LinkDialer {
    return this.opts.transport.dial({
      address,
      nodeId: this.opts.nodeId,
      password: this.opts.password,
      user: this.opts.user ?? '',
      announce: this.opts.announce,
      events: this.hooks.events,
      log: (level, text) => this.hooks[level](text),
      onLinked,
    });
  }
}
