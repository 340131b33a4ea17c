// Replication links over TCP or TLS: a Link wraps a socket that already passed the KVREPL
// handshake and moves frames with a bounded output; a Dialer connects a replica to its primary's
// RESP port (its TLS port when dialling with TLS), performs `KVREPL <nodeId> <password>
// <announce> [<user>]` and redials with capped backoff forever. Owns sockets and their buffers;
// it never interprets a message (the host does) and never drops a frame silently: over the
// bound, the whole link is closed and reported.

import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { FrameDecoder } from './framing.js';
import { parseAddress } from '../../net/address.js';
import type { DialOptions, LinkDialer, LinkEvents, ReplLink } from './runtime.js';

/** Unsent bytes a link may hold for core messages before it is closed (the replica resyncs later). */
export const LINK_OUTPUT_BYTES_MAX = 64 * 1024 * 1024;
/** A snapshot stream writes its next chunk only once the socket's queue is below this. */
export const SNAPSHOT_WINDOW_BYTES = 2 * 1024 * 1024;
/** Redial backoff: first retry delay, doubling up to the cap; a replica never gives up. */
export const DIAL_BACKOFF_MIN_MS = 50;
export const DIAL_BACKOFF_MAX_MS = 2000;
/** Longest RESP reply line accepted during the handshake. */
const HANDSHAKE_LINE_BYTES_MAX = 4096;
/** A handshake that did not complete in this time is abandoned (and retried). */
const HANDSHAKE_TIMEOUT_MS = 5000;

export class Link implements ReplLink {
  private readonly decoder = new FrameDecoder();
  private closed = false;
  private drainWaiters: Array<() => void> = [];

  constructor(
    readonly socket: Socket,
    readonly peerId: string,
    /** Where the peer says it serves clients (host:port), for ROLE and INFO. */
    readonly peerAddress: string,
    readonly outbound: boolean,
    private readonly events: LinkEvents,
    initial: Buffer,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.wakeDrainWaiters());
    socket.on('error', (e: Error) => this.close(`socket error: ${e.message}`));
    socket.on('close', () => this.close('connection closed by peer'));
    if (initial.length > 0) queueMicrotask(() => this.onData(initial));
    socket.resume();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get outputBytes(): number {
    return this.socket.writableLength;
  }

  /** Queue a frame. Over LINK_OUTPUT_BYTES_MAX the link closes (reported), never a silent drop. */
  send(frame: Buffer): boolean {
    return this.sendParts([frame]);
  }

  /**
   * Queue bytes written back to back (a turn's frames, in pieces), in one syscall: the host's
   * outbox calls this once per peer per turn. Over LINK_OUTPUT_BYTES_MAX the link closes.
   */
  sendParts(parts: readonly Buffer[]): boolean {
    if (this.closed) return false;
    let bytes = 0;
    for (const b of parts) bytes += b.length;
    if (this.socket.writableLength + bytes > LINK_OUTPUT_BYTES_MAX) {
      this.close(`output buffer would exceed ${LINK_OUTPUT_BYTES_MAX} bytes`);
      return false;
    }
    if (parts.length === 1) {
      this.socket.write(parts[0] as Buffer);
      return true;
    }
    this.socket.cork();
    for (const b of parts) this.socket.write(b);
    this.socket.uncork();
    return true;
  }

  /** Bulk transfer (snapshots): resolves true once the queue is below SNAPSHOT_WINDOW_BYTES; false if the link closed. */
  async whenWritable(): Promise<boolean> {
    while (!this.closed && this.socket.writableLength >= SNAPSHOT_WINDOW_BYTES) {
      await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    }
    return !this.closed;
  }

  /** A snapshot chunk, written after whenWritable: the window bounds its queue, not LINK_OUTPUT_BYTES_MAX. */
  sendChunk(frame: Buffer): boolean {
    if (this.closed) return false;
    this.socket.write(frame);
    return true;
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.wakeDrainWaiters();
    this.events.onClose(this, reason);
  }

  private wakeDrainWaiters(): void {
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const f of w) f();
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.decoder.push(chunk);
    for (;;) {
      const f = this.decoder.next();
      if (f === null) return;
      if (typeof f === 'string') {
        this.close(`protocol error: ${f}`);
        return;
      }
      this.events.onFrame(this, f);
      if (this.closed) return;
    }
  }
}

export type DialerOptions = DialOptions;

/** The one host:port parser (src/net/address.ts), for this folder's callers. */
export { parseAddress };

/** RESP bulk string for one handshake argument. */
function bulk(s: string): string {
  return `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
}

/**
 * Keeps one link to `address` alive: dial, handshake, hand over; when the link drops (the
 * host calls linkClosed) or a dial fails, retry after a backoff that doubles to the cap.
 */
export class Dialer implements LinkDialer {
  private stopped = false;
  private backoffMs = DIAL_BACKOFF_MIN_MS;
  private timer: NodeJS.Timeout | null = null;
  private pending: Socket | null = null;
  private attempts = 0;

  constructor(
    private readonly opts: DialerOptions,
    /** Dial with TLS (certificate, key, CA): the address is the peer's TLS port. null: plain TCP. */
    private readonly tls: ConnectionOptions | null = null,
  ) {}

  get address(): string {
    return this.opts.address;
  }

  start(): void {
    this.dial();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.pending?.destroy();
    this.pending = null;
  }

  /** The link we produced went down: dial again (with backoff). */
  linkClosed(): void {
    this.retry();
  }

  private retry(): void {
    if (this.stopped || this.timer !== null) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(DIAL_BACKOFF_MAX_MS, this.backoffMs * 2);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.dial();
    }, delay);
    this.timer.unref();
  }

  private dial(): void {
    if (this.stopped) return;
    const addr = parseAddress(this.opts.address);
    if (addr === null) {
      this.opts.log('warn', `cannot dial primary: bad address ${this.opts.address}`);
      return; // not retried: the address will not become valid; REPLICAOF replaces the dialer
    }
    this.attempts++;
    // SNI and the certificate check use the host name; an IP address is checked against the certificate's IP names.
    const s = this.tls === null ? connect({ host: addr.host, port: addr.port }) : tlsConnect({ ...this.tls, host: addr.host, port: addr.port, ...(isIP(addr.host) === 0 ? { servername: addr.host } : {}) });
    this.pending = s;
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const fail = (why: string): void => {
      if (done) return;
      done = true;
      s.destroy();
      if (this.pending === s) this.pending = null;
      // Log the first failure and then every tenth so a long outage does not flood the log.
      if (this.attempts === 1 || this.attempts % 10 === 0) this.opts.log('warn', `replication link to ${this.opts.address} failed (attempt ${this.attempts}): ${why}`);
      this.retry();
    };
    const timeout = setTimeout(() => fail('handshake timed out'), HANDSHAKE_TIMEOUT_MS);
    timeout.unref();
    s.once(this.tls === null ? 'connect' : 'secureConnect', () => {
      s.setNoDelay(true);
      const user = this.opts.user ?? '';
      s.write(`*${user === '' ? 4 : 5}\r\n${bulk('KVREPL')}${bulk(this.opts.nodeId)}${bulk(this.opts.password)}${bulk(this.opts.announce)}${user === '' ? '' : bulk(user)}`);
    });
    s.on('error', (e: Error) => {
      clearTimeout(timeout);
      fail(e.message);
    });
    s.on('close', () => {
      clearTimeout(timeout);
      fail('closed during handshake');
    });
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const eol = buf.indexOf('\r\n');
      if (eol < 0) {
        if (buf.length > HANDSHAKE_LINE_BYTES_MAX) fail('handshake reply too long');
        return;
      }
      clearTimeout(timeout);
      const line = buf.toString('utf8', 0, eol);
      const rest = buf.subarray(eol + 2);
      const m = /^\+KVREPL (\S+)$/.exec(line);
      if (m === null) {
        fail(`primary refused: ${line.replace(/^[-+]/, '')}`);
        return;
      }
      done = true;
      this.pending = null;
      s.off('data', onData);
      s.removeAllListeners('error');
      s.removeAllListeners('close');
      s.pause();
      this.backoffMs = DIAL_BACKOFF_MIN_MS;
      this.attempts = 0;
      const link = new Link(s, m[1] as string, this.opts.address, true, this.opts.events, rest);
      this.opts.onLinked(link);
    };
    s.on('data', onData);
  }
}
