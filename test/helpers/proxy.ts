// A controllable TCP proxy on 127.0.0.1 in front of one node's port, for partition tests:
// each direction passes or black-holes (bytes read and discarded, connection held open, no
// reset; every connection, or only the replication links some nodes dialled), or holds (bytes
// queued and delivered intact later: a slow link, e.g. a lagging replica), or stalls (the proxy
// stops reading, so the sender's socket backs up: a reader that stopped reading), and reset()
// destroys every connection. Owns its listener and proxied sockets only; it never dials
// anything but 127.0.0.1:<target port>.

import { connect, createServer, type Server, type Socket } from 'node:net';
import { LOOPBACK, listenLoopback } from './loopback.js';

/** Client → target ("upstream") or target → client ("downstream"). */
export type Direction = 'toTarget' | 'toClient';
export type DirectionMode = 'pass' | 'blackhole';


/** Bytes one direction of one connection may queue while held; beyond it the hold becomes a black hole (the connection is tainted and reset on release). */
export const HOLD_BYTES_MAX = 64 * 1024 * 1024;

/** Which connections a hold applies to, judged by the first bytes the connecting side sent. */
export type ConnectionFilter = (firstBytes: Buffer) => boolean;

/** Every connection. */
export const anyConnection: ConnectionFilter = () => true;

/** A kv-ts replication link: its dialer's first command is KVREPL (client connections never send it). */
export const isReplicationLink: ConnectionFilter = (first) => first.includes('KVREPL');

/** A kv-ts replication link dialled by one of `ids` (KVREPL names its dialer first). */
export function replicationLinkFrom(ids: readonly string[]): ConnectionFilter {
  const heads = ids.map((id) => `KVREPL\r\n$${Buffer.byteLength(id)}\r\n${id}\r\n`);
  return (first) => heads.some((h) => first.includes(h));
}

interface Pair {
  readonly client: Socket;
  readonly target: Socket;
  /** Bytes were discarded on this connection: its stream can never be resumed intact. */
  tainted: boolean;
  /** The first chunk the connecting side sent (null until it sent one): what hold filters look at. */
  first: Buffer | null;
  /** Bytes queued by a hold, per direction, delivered in order on release. */
  readonly held: Record<Direction, Buffer[]>;
  heldBytes: number;
  /** Bytes forwarded per direction (for cutAfter). */
  readonly forwarded: Record<Direction, number>;
}

export interface ProxyStats {
  /** Connections accepted since start. */
  accepted: number;
  bytesForwarded: number;
  bytesDiscarded: number;
  /** Connections destroyed by reset() or by healing a tainted connection. */
  resets: number;
  /** Bytes queued by holds (and later delivered, unless the connection was reset). */
  bytesHeld: number;
}

export class TcpProxy {
  private readonly modes: Record<Direction, DirectionMode> = { toTarget: 'pass', toClient: 'pass' };
  private readonly pairs = new Set<Pair>();
  private closed = false;
  /** Connections matching one of these are black-holed both ways (blackholeMatching), the others pass. */
  private readonly holed: ConnectionFilter[] = [];
  private holding: { readonly toTarget: boolean; readonly toClient: boolean; readonly filter: ConnectionFilter } | null = null;
  private readonly stalled: Record<Direction, boolean> = { toTarget: false, toClient: false };
  private cut: { readonly direction: Direction; readonly bytes: number } | null = null;
  readonly stats: ProxyStats = { accepted: 0, bytesForwarded: 0, bytesDiscarded: 0, resets: 0, bytesHeld: 0 };

  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly targetPort: number,
  ) {}

  /** Listen on an ephemeral 127.0.0.1 port, forwarding to 127.0.0.1:targetPort. */
  static async start(targetPort: number): Promise<TcpProxy> {
    const server = createServer({ noDelay: true, pauseOnConnect: true });
    const port = await listenLoopback(server);
    const proxy = new TcpProxy(server, port, targetPort);
    server.on('connection', (s: Socket) => proxy.accept(s));
    return proxy;
  }

  get address(): string {
    return `${LOOPBACK}:${this.port}`;
  }

  get connections(): number {
    return this.pairs.size;
  }

  mode(direction: Direction): DirectionMode {
    return this.modes[direction];
  }

  /** Black-hole one direction or both: bytes are read and dropped, connections stay open. */
  blackhole(direction: Direction | 'both' = 'both'): void {
    if (direction === 'both' || direction === 'toTarget') this.modes.toTarget = 'blackhole';
    if (direction === 'both' || direction === 'toClient') this.modes.toClient = 'blackhole';
  }

  /**
   * Black-hole both directions of the connections matching `filter` (judged by the first bytes
   * their connecting side sent), current and new; other connections keep passing. Cumulative
   * until pass(): one proxy in front of a node can cut it off from some dialers only.
   */
  blackholeMatching(filter: ConnectionFilter): void {
    this.holed.push(filter);
  }

  /**
   * Heal: both directions pass again. A connection that lost bytes is reset, because a real
   * TCP stream never resumes with a hole in it (the sender would retransmit or time out);
   * forwarding the rest would hand the peer a corrupt byte stream instead of a partition.
   */
  pass(): void {
    this.modes.toTarget = 'pass';
    this.modes.toClient = 'pass';
    this.holed.length = 0;
    this.release();
    for (const p of [...this.pairs]) if (p.tainted) this.destroy(p);
  }

  /**
   * Delay instead of drop: bytes in `direction` on connections matching `filter` (judged by the
   * first bytes their connecting side sent; connections that sent nothing yet do not match) are
   * queued, and delivered intact and in order by release() or pass(). Other connections pass.
   */
  hold(direction: Direction | 'both', filter: ConnectionFilter = anyConnection): void {
    this.holding = { toTarget: direction !== 'toClient', toClient: direction !== 'toTarget', filter };
  }

  get held(): boolean {
    return this.holding !== null;
  }

  /** End a hold: every queued byte is delivered now, in order, before anything newer. */
  release(): void {
    this.holding = null;
    for (const p of [...this.pairs]) {
      if (p.tainted && p.heldBytes > 0) {
        this.destroy(p); // Overflowed its hold: lossy, so it must not resume (see pass()).
        continue;
      }
      for (const d of ['toTarget', 'toClient'] as const) {
        const to = d === 'toTarget' ? p.target : p.client;
        for (const chunk of p.held[d]) {
          to.write(chunk);
          this.stats.bytesForwarded += chunk.length;
        }
        p.held[d].length = 0;
      }
      p.heldBytes = 0;
    }
  }

  /**
   * Backpressure instead of a queue: stop reading the sending side of `direction` (the target for
   * 'toClient') on every connection, current and new, so the sender's own socket queue fills as
   * with a peer that stopped reading. unstall() reads again; nothing is lost or reordered.
   */
  stall(direction: Direction): void {
    this.stalled[direction] = true;
    for (const p of this.pairs) sender(p, direction).pause();
  }

  unstall(): void {
    for (const d of ['toTarget', 'toClient'] as const) {
      if (!this.stalled[d]) continue;
      this.stalled[d] = false;
      for (const p of this.pairs) sender(p, d).resume();
    }
  }

  /**
   * A connection that has forwarded `bytes` in `direction` is reset at once, the bytes past
   * them dropped: a transfer cut midway at a point the test chose.
   */
  cutAfter(direction: Direction, bytes: number): void {
    this.cut = { direction, bytes };
  }

  /** Destroy every current connection with a TCP reset; new connections are still accepted. */
  reset(): void {
    for (const p of [...this.pairs]) this.destroy(p);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.pairs]) this.destroy(p);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.closed) {
      client.destroy();
      return;
    }
    this.stats.accepted++;
    const target = connect({ host: LOOPBACK, port: this.targetPort, noDelay: true });
    const pair: Pair = { client, target, tainted: false, first: null, held: { toTarget: [], toClient: [] }, heldBytes: 0, forwarded: { toTarget: 0, toClient: 0 } };
    this.pairs.add(pair);
    client.on('error', () => this.drop(pair, true));
    target.on('error', () => this.drop(pair, true));
    client.on('close', (hadError: boolean) => this.drop(pair, hadError));
    target.on('close', (hadError: boolean) => this.drop(pair, hadError));
    client.on('data', (d: Buffer) => this.forward(pair, 'toTarget', d));
    target.on('data', (d: Buffer) => this.forward(pair, 'toClient', d));
    if (this.stalled.toClient) target.pause();
    if (!this.stalled.toTarget) client.resume();
  }

  private forward(pair: Pair, direction: Direction, data: Buffer): void {
    if (direction === 'toTarget' && pair.first === null) pair.first = Buffer.from(data);
    const first = pair.first;
    if (this.modes[direction] === 'blackhole' || (first !== null && this.holed.some((f) => f(first)))) {
      pair.tainted = true;
      this.stats.bytesDiscarded += data.length;
      return;
    }
    const h = this.holding;
    if (h !== null && h[direction] && pair.first !== null && h.filter(pair.first)) {
      if (pair.tainted || pair.heldBytes + data.length > HOLD_BYTES_MAX) {
        // Past the bound a hold cannot stay lossless; say so by tainting (reset on release).
        pair.tainted = true;
        this.stats.bytesDiscarded += data.length;
        return;
      }
      pair.held[direction].push(Buffer.from(data));
      pair.heldBytes += data.length;
      this.stats.bytesHeld += data.length;
      return;
    }
    const to = direction === 'toTarget' ? pair.target : pair.client;
    const cut = this.cut;
    if (cut !== null && cut.direction === direction && pair.forwarded[direction] + data.length >= cut.bytes) {
      const keep = Math.max(0, cut.bytes - pair.forwarded[direction]);
      pair.forwarded[direction] += keep;
      pair.tainted = true;
      to.write(data.subarray(0, keep), () => this.destroy(pair));
      this.stats.bytesDiscarded += data.length - keep;
      return;
    }
    // Socket.write queues until connected, so bytes sent before the target accepted are kept.
    to.write(data);
    pair.forwarded[direction] += data.length;
    this.stats.bytesForwarded += data.length;
  }

  /** One side closed or failed: close the other (a clean close mirrors a FIN after the queued bytes, an error a reset). */
  private drop(pair: Pair, hadError: boolean): void {
    if (!this.pairs.delete(pair)) return;
    for (const s of [pair.client, pair.target]) {
      if (hadError) s.destroy();
      else s.end();
    }
  }

  private destroy(pair: Pair): void {
    if (!this.pairs.has(pair)) return;
    this.stats.resets++;
    this.pairs.delete(pair);
    pair.client.resetAndDestroy();
    if (pair.target.connecting) pair.target.destroy();
    else pair.target.resetAndDestroy();
  }
}

/** The socket the proxy reads `direction`'s bytes from. */
function sender(p: Pair, direction: Direction): Socket {
  return direction === 'toTarget' ? p.client : p.target;
}
