// The shape of a command: each server's table of these (commands/table.ts) drives dispatch,
// arity errors, COMMAND replies and the write/readonly routing of the replication layer.
// Types only; never holds a command or a table.

import type { Socket } from 'node:net';
import type { ReplyWriter } from '../protocol/reply.js';
import type { ReplicatedStore } from '../storage/api.js';
import type { Op } from '../storage/types.js';
import type { PubSubHub, PubSubSession } from './pubsub.js';

export type CommandFlag =
  | 'write'        // mutates the keyspace: rejected on replicas (READONLY), logged
  | 'denyoom'      // may grow memory: refused with -OOM over maxmemory (Redis's flag)
  | 'readonly'     // reads the keyspace: subject to replica staleness bounds
  | 'fast'
  | 'admin'
  | 'noauth'       // allowed before AUTH (AUTH, HELLO, QUIT)
  | 'loading'      // allowed while loading
  | 'stale'        // allowed on a stale replica
  | 'noscript'
  | 'pubsub';

export interface CommandSpec {
  /** Lower-case name. */
  readonly name: string;
  /** Redis convention: positive = exact argc (including the name), negative = at least -arity. */
  readonly arity: number;
  readonly flags: readonly CommandFlag[];
  /** Redis COMMAND key spec: first key index, last key index (-1 = last arg), step. 0,0,0 = no keys. */
  readonly firstKey: number;
  readonly lastKey: number;
  readonly keyStep: number;
  /** One-line summary for COMMAND DOCS and kv-cli help. */
  readonly summary: string;
  /** Argument synopsis for help, e.g. "key value [NX|XX] [EX seconds]". */
  readonly syntax: string;
  readonly group: 'string' | 'generic' | 'keyspace' | 'hash' | 'set' | 'sorted-set' | 'connection' | 'server' | 'replication' | 'cluster' | 'pubsub';
  /** Subcommands (CLIENT, CONFIG, COMMAND, DEBUG): lower-case names, for COMMAND DOCS. */
  readonly subcommands?: readonly string[];
  readonly handler: CommandHandler;
}

/** A command module's commands (strings, keyspace, replication...): a server's table is built from these. */
export type CommandModule = readonly CommandSpec[];

/** What handlers see of their server's command table (COMMAND reads it); CommandTable implements it. */
export interface CommandTableView extends Iterable<CommandSpec> {
  readonly size: number;
  /** By lower-case name. */
  get(name: string): CommandSpec | undefined;
  /** Lower-case names, in the order the modules were added. */
  names(): IterableIterator<string>;
}

/**
 * A handler reads through `ctx.store`, writes its reply through `ctx.out`, and performs
 * mutations only through `ctx.write(ops)`, which logs them as one entry (one position).
 * argv[0] is the command name as sent; argv elements are never retained after return
 * without copying (they may point into the connection's read buffer).
 */
export type CommandHandler = (ctx: CommandContext, argv: readonly Buffer[]) => void;

export interface CommandContext {
  readonly store: ReplicatedStore;
  readonly out: ReplyWriter;
  /** Log and apply a mutation as one entry. The connection's reply is held until durable under the policy. */
  write(ops: readonly Op[]): void;
  /** Per-connection state the connection layer owns (name, protocol, auth, id...). */
  readonly client: ClientState;
  /** Server-wide services (command table, INFO, CONFIG, shutdown, client list). Implemented by the server. */
  readonly server: ServerServices;
  /**
   * Reply later (WAIT, session waits): the handler writes nothing now; the connection stops
   * reading until `finish` is called, then writes that reply and resumes with the next
   * pipelined command. `finish` after the client closed is a no-op. Optional: added for the
   * replication layer.
   */
  defer?(): DeferredReply;
  /**
   * After this command's reply is written, stop speaking RESP on this socket and hand it to
   * `onDetached` (KVREPL replication links). The client must not pipeline after the command:
   * unparsed bytes left behind close the connection. Optional: added for the replication layer.
   */
  detach?(onDetached: (socket: Socket) => void): void;
  /** This connection's pub/sub subscriptions (absent where there is no connection, e.g. unit tests). */
  readonly pubsub?: PubSubSession;
}

/** Completes a deferred reply exactly once; `write` encodes the reply. */
export type DeferredReply = (write: (out: ReplyWriter) => void) => void;

export interface ClientState {
  readonly id: number;
  name: string;
  protocol: 2 | 3;
  authenticated: boolean;
  libName: string;
  libVersion: string;
  readonly addr: string;
  readonly laddr: string;
  readonly createdMs: number;
  lastCommand: string;
  /** Set by QUIT: close after flushing replies. */
  closeAfterReply: boolean;
}

export interface ServerServices {
  /** This server's command table (COMMAND, COMMAND INFO/DOCS/COUNT/LIST/GETKEYS). */
  readonly commands: CommandTableView;
  /** INFO text for the given sections (lower-case; empty = default sections). */
  info(sections: readonly string[]): string;
  configGet(pattern: string): Array<[string, string]>;
  /** Returns an error message (without "ERR ") or null when applied. */
  configSet(name: string, value: string): string | null;
  clientList(): string;
  /** Kill by id or addr; returns the number killed. */
  clientKill(filter: { id?: number; addr?: string }): number;
  requirePass(): string | null;
  shutdown(): void;
  compact(): void;
  /** CONFIG RESETSTAT: zero the server's counters and command stats. Optional (added by the server engineer). */
  resetStats?(): void;
  /** The server's pub/sub routing (PUBLISH, PUBSUB, keyspace notifications). */
  readonly pubsub?: PubSubHub;
}
