// Replication links between simulated hosts, carried by the seeded SimNetwork as a TCP
// connection would be: frames are bytes, decoded by the host's real FrameDecoder, delivered in
// order exactly once (a lost packet is sent again later, a duplicate is ignored, a reordered
// one waits for its predecessors); a connection breaks when its packets keep being lost, when a
// partition cuts it, or when either process dies. Owns the connections and dialers of the
// simulation; never steps a host except through the LinkEvents a host gave it.

import { FrameDecoder } from '../../../src/replication/host/framing.js';
import type { DialOptions, LinkDialer, LinkEvents, ReplLink, Transport } from '../../../src/replication/host/runtime.js';
import { DIAL_BACKOFF_MAX_MS, DIAL_BACKOFF_MIN_MS } from '../../../src/replication/host/transport.js';
import type { SimNetwork } from './network.js';

/** Sends of one packet before the connection is declared broken (TCP's retransmissions). */
const RETRANSMITS_MAX = 4;
/** Extra delay of each retransmission, ms (TCP's retransmission timeout). */
const RETRANSMIT_DELAY_MS = 30;
/** Time for the far end of a connection to notice that it broke, ms. */
const RESET_NOTICE_MS = 5;

export interface LinkPacket {
  readonly end: SimLinkEnd;
  readonly seq: number;
  readonly bytes: Buffer;
}

/** The world as links and dialers see it. */
export interface SimWorldPort {
  readonly nowMs: number;
  readonly net: SimNetwork<LinkPacket>;
  /** Run `fn` after `ms` unless `owner`'s process died meanwhile (null: no owner). */
  after(owner: SimProcess | null, ms: number, fn: () => void): () => void;
  /** The live process at `address`, if any. */
  processAt(address: string): SimProcess | undefined;
  /** A delay drawn from the seeded schedule, ms (a handshake's leg). */
  delayMs(): number;
}

/** One incarnation of a node's process: its links die with it. */
export interface SimProcess {
  readonly id: string;
  readonly alive: boolean;
  accept(peerId: string, announce: string, open: (events: LinkEvents) => ReplLink): boolean;
  /** Links of this process, so a crash or partition can break them. */
  readonly links: Set<SimLinkEnd>;
}

export class SimLinkEnd implements ReplLink {
  other!: SimLinkEnd;
  private events: LinkEvents | null = null;
  private closed = false;
  private readonly decoder = new FrameDecoder();
  /** Bytes that arrived before the link was handed to the host (the handshake's reply in flight). */
  private early: Buffer[] = [];
  private sendSeq = 0;
  private recvSeq = 0;
  private readonly reorder = new Map<number, Buffer>();
  readonly outputBytes = 0;

  constructor(
    private readonly world: SimWorldPort,
    readonly owner: SimProcess,
    readonly peerId: string,
    readonly peerAddress: string,
    readonly outbound: boolean,
  ) {
    owner.links.add(this);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  attach(events: LinkEvents): this {
    this.events = events;
    const early = this.early;
    this.early = [];
    for (const b of early) this.consume(b);
    return this;
  }

  send(frame: Buffer): boolean {
    return this.sendParts([frame]);
  }

  sendParts(parts: readonly Buffer[]): boolean {
    if (this.closed) return false;
    const bytes = parts.length === 1 ? Buffer.from(parts[0] as Buffer) : Buffer.concat(parts);
    const p: LinkPacket = { end: this.other, seq: this.sendSeq++, bytes };
    for (let i = 0; i < RETRANSMITS_MAX; i++) {
      if (!this.world.net.connected(this.owner.id, this.other.owner.id)) break;
      if (this.world.net.send(this.owner.id, this.other.owner.id, p, this.world.nowMs, i * RETRANSMIT_DELAY_MS)) return true;
    }
    this.reset('connection timed out');
    return true;
  }

  whenWritable(): Promise<boolean> {
    return Promise.resolve(!this.closed);
  }

  sendChunk(frame: Buffer): boolean {
    return this.sendParts([frame]);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.owner.links.delete(this);
    if (this.owner.alive) this.events?.onClose(this, reason);
    const far = this.other;
    this.world.after(far.owner, RESET_NOTICE_MS, () => far.close('connection closed by peer'));
  }

  /** The connection broke under both ends (lost packets, partition, a dead process). */
  reset(reason: string): void {
    this.close(reason);
  }

  /** The owner died: no callbacks; the far end notices later. */
  drop(): void {
    if (this.closed) return;
    this.closed = true;
    const far = this.other;
    this.world.after(far.owner, RESET_NOTICE_MS, () => far.close('connection reset by peer'));
  }

  deliver(p: LinkPacket): void {
    if (this.closed || !this.owner.alive || p.seq < this.recvSeq) return;
    this.reorder.set(p.seq, p.bytes);
    for (let b = this.reorder.get(this.recvSeq); b !== undefined; b = this.reorder.get(this.recvSeq)) {
      this.reorder.delete(this.recvSeq++);
      if (this.events === null) this.early.push(b);
      else this.consume(b);
      if (this.closed) return;
    }
  }

  private consume(b: Buffer): void {
    this.decoder.push(b);
    for (;;) {
      if (this.closed) return;
      const f = this.decoder.next();
      if (f === null) return;
      if (typeof f === 'string') {
        this.close(`protocol error: ${f}`);
        return;
      }
      (this.events as LinkEvents).onFrame(this, f);
    }
  }
}

/** Keeps one link to an address up, redialling with the real dialer's backoff. */
class SimDialer implements LinkDialer {
  private stopped = false;
  private backoffMs = DIAL_BACKOFF_MIN_MS;
  private cancelRetry: (() => void) | null = null;

  constructor(
    private readonly world: SimWorldPort,
    private readonly self: SimProcess,
    private readonly opts: DialOptions,
  ) {}

  start(): void {
    this.attempt();
  }

  stop(): void {
    this.stopped = true;
    this.cancelRetry?.();
    this.cancelRetry = null;
  }

  linkClosed(): void {
    this.retry();
  }

  private retry(): void {
    if (this.stopped || this.cancelRetry !== null) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(DIAL_BACKOFF_MAX_MS, this.backoffMs * 2);
    this.cancelRetry = this.world.after(this.self, delay, () => {
      this.cancelRetry = null;
      this.attempt();
    });
  }

  /** KVREPL: the peer accepts when the request arrives, we have the link when its reply does. */
  private attempt(): void {
    this.world.after(this.self, this.world.delayMs(), () => {
      if (this.stopped) return;
      const peer = this.world.processAt(this.opts.address);
      if (peer === undefined || !this.world.net.connected(this.self.id, peer.id)) return this.retry();
      const mine = new SimLinkEnd(this.world, this.self, peer.id, this.opts.address, true);
      const theirs = new SimLinkEnd(this.world, peer, this.self.id, this.opts.announce, false);
      mine.other = theirs;
      theirs.other = mine;
      if (!peer.accept(this.self.id, this.opts.announce, (events) => theirs.attach(events))) {
        mine.drop();
        return this.retry();
      }
      this.world.after(this.self, this.world.delayMs(), () => this.linked(mine));
    });
  }

  private linked(mine: SimLinkEnd): void {
    if (this.stopped) return mine.close('dialer stopped');
    if (mine.isClosed) return this.retry();
    this.backoffMs = DIAL_BACKOFF_MIN_MS;
    this.opts.onLinked(mine.attach(this.opts.events));
  }
}

export function simTransport(world: SimWorldPort, self: SimProcess): Transport {
  return { dial: (opts) => new SimDialer(world, self, opts) };
}
