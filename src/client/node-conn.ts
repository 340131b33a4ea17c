// One connection from the client to one node, on @redis/client (node-redis) as the transport.
// Owns the connection's life (connect, per-connection setup such as CONSISTENCY QUORUM, command
// timeout, death) and classifies every outcome as a reply, a server error, "not sent" or
// "outcome unknown". It never retries and never reconnects: a dead connection stays dead and the
// client opens a new one, so a reconnect can never silently drop the connection's mode.

import type { ConnectionOptions } from 'node:tls';
import { createClient, ErrorReply, ClientClosedError, ClientOfflineError, RESP_TYPES, type TypeMapping } from '@redis/client';
import { errorFromReply, type KvError } from './errors.js';
import { parseAddress } from '../net/address.js';
import type { Decoded } from './topology.js';

export type Arg = string | Buffer;

export interface NodeConnOptions {
  readonly address: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly resp: 2 | 3;
  readonly connectTimeoutMs: number;
  /** A command without its reply after this long kills the connection (its outcome is unknown). */
  readonly commandTimeoutMs: number;
  /** Commands run once, in order, before the connection is used (e.g. CONSISTENCY QUORUM). */
  readonly setup: readonly (readonly Arg[])[];
  /** Connect with TLS, with these node:tls options (ca, cert, key...); undefined: plain TCP. */
  readonly tls?: ConnectionOptions | undefined;
}

export type SendOutcome =
  | { readonly kind: 'reply'; readonly value: Decoded }
  | { readonly kind: 'error'; readonly error: KvError }
  /** The command never left the client: safe to send anywhere. */
  | { readonly kind: 'notSent'; readonly cause: Error }
  /** The connection failed or timed out after the command was handed to it. */
  | { readonly kind: 'unknown'; readonly cause: Error };

/**
 * Replies with their wire types kept apart (what kv-cli prints): status → string, bulk → Buffer,
 * integer → decimal string (all 64 bits kept; a status reply is never all digits), double → number.
 */
export const WIRE_TYPES: TypeMapping = {
  [RESP_TYPES.SIMPLE_STRING]: String,
  [RESP_TYPES.NUMBER]: String,
  [RESP_TYPES.BLOB_STRING]: Buffer,
  [RESP_TYPES.MAP]: Map,
  [RESP_TYPES.SET]: Set,
  [RESP_TYPES.DOUBLE]: Number,
  [RESP_TYPES.BIG_NUMBER]: BigInt,
};
/** Replies as applications want them: bulk strings decoded as UTF-8. */
export const STRING_TYPES: TypeMapping = { [RESP_TYPES.MAP]: Map };
/** Bulk strings as Buffers (getBuffer and friends). */
export const BUFFER_TYPES: TypeMapping = { [RESP_TYPES.BLOB_STRING]: Buffer, [RESP_TYPES.MAP]: Map };

/** The transport's client type as createClient below builds it (RESP 2 or 3, no modules). */
type Client = ReturnType<typeof createClient<{}, {}, {}, 2 | 3, {}>>;

export class NodeConn {
  readonly address: string;
  /** The session token this connection last presented with CONSISTENCY SESSION (session mode). */
  presentedToken: string | null = null;
  private dead: Error | null = null;
  private readonly onDeath: (conn: NodeConn) => void;

  private constructor(
    address: string,
    private readonly client: Client,
    private readonly commandTimeoutMs: number,
    onDeath: (conn: NodeConn) => void,
  ) {
    this.address = address;
    this.onDeath = onDeath;
  }

  /** Connects and runs the setup commands; a typed error (auth, NOQUORUM) or a connect failure otherwise. */
  static async open(o: NodeConnOptions, onDeath: (conn: NodeConn) => void): Promise<NodeConn | { readonly failed: Error; readonly reply: boolean }> {
    const a = parseAddress(o.address);
    if (a === null) return { failed: new Error(`bad node address '${o.address}' (expected host:port)`), reply: false };
    const client = createClient({
      socket: { host: a.host, port: a.port, connectTimeout: o.connectTimeoutMs, reconnectStrategy: false, noDelay: true, ...(o.tls !== undefined ? { tls: true as const, ...o.tls } : {}) },
      RESP: o.resp,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      // Commands sent while the socket is down fail at once instead of queueing behind a reconnect.
      disableOfflineQueue: true,
      disableClientInfo: true,
    });
    let conn: NodeConn | null = null;
    let early: Error | null = null;
    client.on('error', (e: Error) => {
      if (conn !== null) conn.kill(e);
      else early ??= e;
    });
    client.on('end', () => conn?.kill(new Error(`connection to ${o.address} closed`)));
    try {
      await client.connect();
    } catch (e) {
      client.destroy();
      const err = e instanceof Error ? e : new Error(String(e));
      return { failed: e instanceof ErrorReply ? errorFromReply(e.message) : err, reply: e instanceof ErrorReply };
    }
    conn = new NodeConn(o.address, client, o.commandTimeoutMs, onDeath);
    if (early !== null) conn.kill(early);
    for (const cmd of o.setup) {
      const r = await conn.send(cmd, STRING_TYPES);
      if (r.kind === 'reply') continue;
      conn.kill(new Error('setup failed'));
      return r.kind === 'error' ? { failed: r.error, reply: true } : { failed: r.cause, reply: false };
    }
    return conn;
  }

  get alive(): boolean {
    return this.dead === null;
  }

  /**
   * Sends one command. Commands sent back to back without awaiting go out pipelined, in order,
   * on this one socket (node-redis writes them in call order).
   */
  send(args: readonly Arg[], typeMapping: TypeMapping): Promise<SendOutcome> {
    if (this.dead !== null) return Promise.resolve({ kind: 'notSent', cause: this.dead });
    return new Promise<SendOutcome>((resolve) => {
      const timer = setTimeout(() => {
        this.kill(new Error(`no reply from ${this.address} within ${this.commandTimeoutMs} ms`));
      }, this.commandTimeoutMs);
      this.client.sendCommand(args as Arg[], { typeMapping }).then(
        (value: unknown) => {
          clearTimeout(timer);
          resolve({ kind: 'reply', value: value as Decoded });
        },
        (e: unknown) => {
          clearTimeout(timer);
          if (e instanceof ErrorReply) resolve({ kind: 'error', error: errorFromReply(e.message) });
          else if (e instanceof ClientClosedError || e instanceof ClientOfflineError) resolve({ kind: 'notSent', cause: e });
          else resolve({ kind: 'unknown', cause: e instanceof Error ? e : new Error(String(e)) });
        },
      );
    });
  }

  /** Closes the socket now: every command still waiting gets an 'unknown' outcome. Idempotent. */
  kill(cause: Error): void {
    if (this.dead !== null) return;
    this.dead = cause;
    this.onDeath(this);
    try {
      this.client.destroy();
    } catch {
      // Already closed by the transport: nothing left to release.
    }
  }
}
