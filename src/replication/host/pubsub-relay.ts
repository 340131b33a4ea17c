// Pub/sub across a replication group: a message a client publishes on any member reaches the
// subscribers of every member. The primary fans each message out to its replicas ('down'
// frames); a replica sends what its clients publish to its primary ('up' frames), which
// delivers it to its own subscribers and fans it out to every other replica. Owns the frame
// format, the per-peer queues with their bound and the counters; never touches the log (a
// message takes no position, is never persisted, never replayed) and never blocks a publisher:
// past the bound a message is dropped and counted.
//
// Frame payload: [u8 direction][u8 kind][u32 channel bytes][channel][message].
//
// One path per message, so no duplicates and per-publisher order: a replica sends only to the
// primary it follows, a primary never sends a message back to the replica it came from, and a
// node accepts 'down' only from the primary it follows and 'up' only while it is the primary.
// Keyspace notifications never come here: each member emits its own as it applies writes.

import { FRAME_HEADER_BYTES, KIND_PUBSUB } from './framing.js';
import type { NodeId, Role } from '../core/types.js';
import type { ReplLink } from './runtime.js';

/**
 * Bytes a link may hold (unsent output, pub/sub or log, plus this turn's queued pub/sub frames)
 * before a pub/sub message to that peer is dropped: well under the link's own close bound
 * (transport.ts LINK_OUTPUT_BYTES_MAX), so a message flood never closes a replication link.
 */
export const PUBSUB_RELAY_LINK_BYTES_MAX = 8 * 1024 * 1024;

export type RelayedKind = 'channel' | 'shard';

const DIR_UP = 0;
const DIR_DOWN = 1;
const KIND_CODES: Record<RelayedKind, number> = { channel: 0, shard: 1 };
/** direction, kind, channel length. */
const PAYLOAD_HEAD_BYTES = 6;

export interface PubSubRelayHooks {
  role(): Role;
  /** The primary this node follows (null: none known). */
  primaryId(): NodeId | null;
  linkTo(peer: NodeId): ReplLink | undefined;
  /** Peers this node has a link to send on (a primary's replicas). */
  sendPeers(): Iterable<NodeId>;
  afterTurn(fn: () => void): void;
}

/** Delivery to this node's own subscribers (the server's hub); it never relays again. */
export type PubSubDelivery = (kind: RelayedKind, channel: Buffer, message: Buffer) => void;

export interface PubSubRelayCounters {
  /** Frames handed to links (one per message per peer). */
  sent: number;
  /** Frames accepted from peers and delivered here. */
  received: number;
  /** Messages not sent to a peer because its link was over PUBSUB_RELAY_LINK_BYTES_MAX. */
  droppedFull: number;
  /** Published on a replica with no link to a primary: reached only this node's subscribers. */
  droppedNoRoute: number;
  /** Frames refused: 'down' from a node we do not follow, or 'up' while not the primary. */
  refused: number;
}

interface PeerQueue {
  parts: Buffer[];
  bytes: number;
}

export class PubSubRelay {
  private readonly queues = new Map<NodeId, PeerQueue>();
  private scheduled = false;
  private deliver: PubSubDelivery | null = null;
  readonly counters: PubSubRelayCounters = { sent: 0, received: 0, droppedFull: 0, droppedNoRoute: 0, refused: 0 };
  /** droppedFull per peer (INFO's replica lines): which link was over its bound. One entry per peer ever seen. */
  private readonly droppedByPeer = new Map<NodeId, number>();

  constructor(private readonly hooks: PubSubRelayHooks) {}

  /** Messages dropped because `peer`'s link was over the bound. */
  droppedFor(peer: NodeId): number {
    return this.droppedByPeer.get(peer) ?? 0;
  }

  setDelivery(d: PubSubDelivery | null): void {
    this.deliver = d;
  }

  /**
   * A client of this node published (its own subscribers already have it). The buffers may be
   * views of the client's read buffer: the frame is a copy, made now.
   */
  published(kind: RelayedKind, channel: Buffer, message: Buffer): void {
    if (this.hooks.role() === 'primary') {
      // A primary without replicas (a standalone server) encodes nothing.
      const peers = [...this.hooks.sendPeers()];
      if (peers.length > 0) this.sendTo(peers, encodeFrame(DIR_DOWN, kind, channel, message), null);
      return;
    }
    const primary = this.hooks.primaryId();
    if (primary === null || this.hooks.linkTo(primary)?.isClosed !== false) {
      this.counters.droppedNoRoute++;
      return;
    }
    this.enqueue(primary, encodeFrame(DIR_UP, kind, channel, message));
  }

  /** A KIND_PUBSUB frame from `from` (the link is current). False: malformed (the caller closes the link). */
  onFrame(from: NodeId, payload: Buffer): boolean {
    const m = decodePayload(payload);
    if (m === null) return false;
    if (m.dir === DIR_UP) {
      if (this.hooks.role() !== 'primary') {
        this.counters.refused++;
        return true;
      }
      this.receive(m);
      // The same frame downstream: its payload copied once, with the direction byte changed.
      const down = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
      down.writeUInt32LE(1 + payload.length, 0);
      down[4] = KIND_PUBSUB;
      payload.copy(down, FRAME_HEADER_BYTES);
      down[FRAME_HEADER_BYTES] = DIR_DOWN;
      this.sendTo(this.hooks.sendPeers(), down, from);
      return true;
    }
    if (this.hooks.role() === 'primary' || from !== this.hooks.primaryId()) {
      this.counters.refused++;
      return true;
    }
    this.receive(m);
    return true;
  }

  private receive(m: DecodedPayload): void {
    this.counters.received++;
    this.deliver?.(m.kind, m.channel, m.message);
  }

  private sendTo(peers: Iterable<NodeId>, frame: Buffer, except: NodeId | null): void {
    for (const peer of peers) if (peer !== except) this.enqueue(peer, frame);
  }

  /** Queue `frame` for `peer` this turn, or drop it (counted) when the peer's link is over the bound. */
  private enqueue(peer: NodeId, frame: Buffer): void {
    const link = this.hooks.linkTo(peer);
    if (link === undefined || link.isClosed) return; // the core sees the link down; nothing to count per message
    let q = this.queues.get(peer);
    const queued = q?.bytes ?? 0;
    if (link.outputBytes + queued + frame.length > PUBSUB_RELAY_LINK_BYTES_MAX) {
      this.counters.droppedFull++;
      this.droppedByPeer.set(peer, (this.droppedByPeer.get(peer) ?? 0) + 1);
      return;
    }
    if (q === undefined) this.queues.set(peer, (q = { parts: [], bytes: 0 }));
    q.parts.push(frame);
    q.bytes += frame.length;
    this.schedule();
  }

  /** One write per peer per turn, after the turn's publishes (STYLE: batch socket writes). */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.hooks.afterTurn(() => {
      this.scheduled = false;
      for (const [peer, q] of this.queues) {
        const link = this.hooks.linkTo(peer);
        // One buffer: a turn's many small frames cost one copy, not a write request each.
        if (link !== undefined && link.send(q.parts.length === 1 ? (q.parts[0] as Buffer) : Buffer.concat(q.parts, q.bytes))) this.counters.sent += q.parts.length;
      }
      this.queues.clear();
    });
  }

  /** Bytes queued for the end of this turn (replication buffers maxmemory does not count). */
  get queuedBytes(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.bytes;
    return n;
  }
}

interface DecodedPayload {
  readonly dir: number;
  readonly kind: RelayedKind;
  readonly channel: Buffer;
  readonly message: Buffer;
}

function encodeFrame(dir: number, kind: RelayedKind, channel: Buffer, message: Buffer): Buffer {
  const payloadBytes = PAYLOAD_HEAD_BYTES + channel.length + message.length;
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadBytes);
  buf.writeUInt32LE(1 + payloadBytes, 0);
  buf[4] = KIND_PUBSUB;
  let p = FRAME_HEADER_BYTES;
  buf[p++] = dir;
  buf[p++] = KIND_CODES[kind];
  p = buf.writeUInt32LE(channel.length, p);
  p += channel.copy(buf, p);
  message.copy(buf, p);
  return buf;
}

function decodePayload(b: Buffer): DecodedPayload | null {
  if (b.length < PAYLOAD_HEAD_BYTES) return null;
  const dir = b[0] as number;
  const code = b[1] as number;
  if ((dir !== DIR_UP && dir !== DIR_DOWN) || (code !== KIND_CODES.channel && code !== KIND_CODES.shard)) return null;
  const channelBytes = b.readUInt32LE(2);
  if (PAYLOAD_HEAD_BYTES + channelBytes > b.length) return null;
  const channel = b.subarray(PAYLOAD_HEAD_BYTES, PAYLOAD_HEAD_BYTES + channelBytes);
  return { dir, kind: code === KIND_CODES.shard ? 'shard' : 'channel', channel, message: b.subarray(PAYLOAD_HEAD_BYTES + channelBytes) };
}
