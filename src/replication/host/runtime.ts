// What the replication host needs from the world outside its process state: a monotonic
// clock, a periodic timer, an end-of-turn hook, randomness, a way to dial peers and a place to
// report a fatal host error. Owns the production wiring of these (performance.now, timers,
// setImmediate, TCP); never holds host state, so a simulator can drive the same host.

import { performance } from 'node:perf_hooks';
import type { ConnectionOptions } from 'node:tls';
import type { Frame } from './framing.js';
import { Dialer } from './transport.js';

/** A replication link as the host sees it: ordered frames both ways, a bounded output. */
export interface ReplLink {
  readonly peerId: string;
  /** Where the peer says it serves clients (host:port), for ROLE and INFO. */
  readonly peerAddress: string;
  readonly outbound: boolean;
  readonly isClosed: boolean;
  /** Bytes queued but not yet handed to the kernel (Redis's omem). */
  readonly outputBytes: number;
  send(frame: Buffer): boolean;
  /** Bytes written back to back (a turn's frames, in pieces), in one write. */
  sendParts(parts: readonly Buffer[]): boolean;
  /** Bulk transfer (snapshots): resolves true once the link's queue is within its window; false if it closed. */
  whenWritable(): Promise<boolean>;
  /** A snapshot chunk, written after whenWritable (the window bounds it, not the output bound). */
  sendChunk(frame: Buffer): boolean;
  close(reason: string): void;
}

/** What a link reports to its owner. */
export interface LinkEvents {
  onFrame(link: ReplLink, f: Frame): void;
  onClose(link: ReplLink, reason: string): void;
}

export interface DialOptions {
  readonly address: string;
  readonly nodeId: string;
  readonly password: string;
  /** The user the password belongs to ('' = the default user). */
  readonly user?: string;
  /** Our own client address, told to the peer for ROLE / INFO. */
  readonly announce: string;
  readonly events: LinkEvents;
  /** A link is up: `link.peerId` is the node that answered. */
  readonly onLinked: (link: ReplLink) => void;
  readonly log: (level: 'info' | 'warn', text: string) => void;
}

/** Keeps one link to an address alive (redialling with backoff) until stopped. */
export interface LinkDialer {
  start(): void;
  stop(): void;
  /** The link it produced went down: dial again. */
  linkClosed(): void;
}

export interface Transport {
  dial(opts: DialOptions): LinkDialer;
}

export interface HostRuntime {
  /** Monotonic ms (never steps back). */
  nowMs(): number;
  /** Call `fn` every `intervalMs` until the returned cancel is called. */
  every(intervalMs: number, fn: () => void): () => void;
  /** Call `fn` once at the end of the current event-loop turn (after its I/O events). */
  afterTurn(fn: () => void): void;
  /** In [0, 1): the core's election timeouts. */
  random(): number;
  readonly transport: Transport;
  /** A host invariant broke: the store and the core may disagree, so the process must not go on. */
  fatal(err: unknown): void;
}

export const tcpTransport: Transport = { dial: (opts) => new Dialer(opts) };

/** Links dialled with TLS (tls-replication, tls-cluster): the addresses dialled are TLS ports. */
export function tlsTransport(tls: ConnectionOptions): Transport {
  return { dial: (opts) => new Dialer(opts, tls) };
}

/** The runtime of a kv-server process: real time, real timers, TCP (or TLS) links. */
export function nodeRuntime(transport: Transport = tcpTransport): HostRuntime {
  const t0 = performance.now();
  return {
    nowMs: () => Math.floor(performance.now() - t0),
    every(intervalMs, fn) {
      const t = setInterval(fn, intervalMs);
      t.unref();
      return () => clearInterval(t);
    },
    afterTurn: (fn) => void setImmediate(fn),
    // Election timeouts must differ between nodes, or they split votes forever.
    random: Math.random,
    transport,
    fatal(err) {
      process.nextTick(() => {
        throw err;
      });
    },
  };
}
