// The shape of a command: each server's table of these (commands/table.ts) drives dispatch,
// arity errors, COMMAND replies and the write/readonly routing of the replication layer.
// Types only; never holds a command or a table.

import type { MigrateLinks } from './migrate-links.js';
import type { Socket } from 'node:net';
import type { ReplyWriter } from '../protocol/reply.js';
import type { ReplicatedStore } from '../storage/api.js';
import type { Key, Op } from '../storage/types.js';
import type { ClientTx, QueuedCommand, WatchRegistry } from './multi.js';
import type { PubSubHub, PubSubSession } from './pubsub.js';
import type { ClientTracking, TrackingHub } from './tracking.js';
import type { SlowLog } from './slowlog.js';
import type { LatencyMonitor } from './latency-monitor.js';
import type { CommandStatsTable } from './latency.js';
import type { KeySpec } from './commands/key-specs.js';
import type { AclLog, AclTable, AclUser } from './acl.js';
import type { CachedScript, ScriptEngine } from './scripting/lua-engine.js';
import type { FunctionTable } from './scripting/functions.js';

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
  | 'pubsub'
  | 'allow_busy'   // allowed while a script runs past busy-reply-threshold (others get BUSY)
  | 'skip_slowlog'
  | 'no_multi'     // refused inside MULTI (SHUTDOWN, the replication handshake)
  | 'blocking'     // may wait for a key to be written (BLPOP, BZPOPMIN...)
  | 'no_mandatory_keys' // its keys may be none (EVAL with numkeys 0): COMMAND GETKEYS answers an empty list
  | 'skip_monitor';      // not shown to MONITOR after it ran (EVAL shows itself before its commands)

export interface CommandSpec {
  /** Lower-case name. */
  readonly name: string;
  /** Redis convention: positive = exact argc (including the name), negative = at least -arity. */
  readonly arity: number;
  readonly flags: readonly CommandFlag[];
  /**
   * Redis's legacy key triple: first key index, last key index (-1 = last arg), step. 0,0,0 = no
   * keys. Derived from keySpecs where an entry declares them (spec.ts).
   */
  readonly firstKey: number;
  readonly lastKey: number;
  readonly keyStep: number;
  /** One-line summary for COMMAND DOCS and kv-cli help. */
  readonly summary: string;
  /** Argument synopsis for help, e.g. "key value [NX|XX] [EX seconds]". */
  readonly syntax: string;
  readonly group: 'string' | 'generic' | 'keyspace' | 'hash' | 'set' | 'sorted-set' | 'list' | 'stream' | 'connection' | 'server' | 'replication' | 'cluster' | 'transactions' | 'pubsub' | 'geo' | 'hyperloglog' | 'scripting';
  /**
   * Redis's own ACL categories for the command (its table's acl_categories: `@bitmap`,
   * `@dangerous`...), instead of its group's; those implied by flags (`@write`, `@fast`...) are
   * added to either.
   */
  readonly acl?: readonly string[];
  /** Subcommands (CLIENT, CONFIG, COMMAND, DEBUG): lower-case names, for COMMAND DOCS. */
  readonly subcommands?: readonly string[];
  /**
   * Subcommands that write (ACL SETUSER...): dispatch treats the command as flagged 'write' for
   * them (READONLY on replicas, MISCONF, a MULTI that writes), not for its other subcommands.
   */
  readonly writeSubcommands?: readonly string[];
  /**
   * Redis's arity of subcommands (counting the container's name, e.g. `config|get`: -3). Dispatch
   * refuses a wrong count as Redis does ("wrong number of arguments for 'config|get' command") and
   * COMMAND reports it; a subcommand not listed is checked by its handler and reported as -2.
   */
  readonly subcommandArity?: Readonly<Record<string, number>>;
  /**
   * Redis 7 key specs (key-specs.ts): COMMAND INFO, GETKEYS and `movablekeys` read them. Absent:
   * derived from the legacy triple with the write/readonly flag.
   */
  readonly keySpecs?: readonly KeySpec[];
  /** The key specs of subcommands that take keys (OBJECT ENCODING key, MEMORY USAGE key). */
  readonly subcommandKeySpecs?: Readonly<Record<string, readonly KeySpec[]>>;
  readonly handler: CommandHandler;
  /**
   * Looks at keys without counting an access (Redis's LOOKUP_NOTOUCH: TYPE, EXISTS, TTL...): the
   * keys' LRU/LFU data stay as they were.
   */
  readonly noTouch?: true;
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
  /**
   * A keyspace notification for a command that changed nothing but that Redis still announces
   * (LTRIM keeping every element, SETRANGE writing the bytes already there). Nothing is logged.
   */
  announce?(cls: number, event: string, key: Key): void;
  /** Per-connection state the connection layer owns (name, protocol, auth, id...). */
  readonly client: ClientState;
  /** Server-wide services (command table, INFO, CONFIG, shutdown, client list). Implemented by the server. */
  readonly server: ServerServices;
  /**
   * Reply later (WAIT, session waits): the handler writes nothing now; the connection stops
   * reading until `finish` is called, then writes that reply and resumes with the next
   * pipelined command. `finish` after the client closed is a no-op. Optional: added for the
   * replication layer. With `keepReading` the socket keeps reading while the reply waits (bytes
   * are kept unparsed, within the query buffer limit), so a client that closes is seen at once
   * (blocked clients, which may wait forever).
   */
  defer?(opts?: { keepReading?: boolean }): DeferredReply;
  /**
   * After this command's reply is written, stop speaking RESP on this socket and hand it to
   * `onDetached` (KVREPL replication links). The client must not pipeline after the command:
   * unparsed bytes left behind close the connection. Optional: added for the replication layer.
   */
  detach?(onDetached: (socket: Socket) => void): void;
  /**
   * Set while the command runs inside EXEC: it must not block (Redis's DENY_BLOCKING): a command
   * that would wait (WAIT) answers with what holds now. Such contexts offer no defer or detach.
   */
  readonly inTransaction?: boolean;
  /** Set while the command runs for a script (redis.call): SORT then orders a set even BY a constant, as Redis. */
  readonly inScript?: boolean;
  /** Who MONITOR shows as running the command, when not ctx.client (a script's commands: `lua`). */
  readonly monitorAs?: ClientState;
  /** This connection's pub/sub subscriptions (absent where there is no connection, e.g. unit tests). */
  readonly pubsub?: PubSubSession;
}

/**
 * Completes a deferred reply exactly once; `write` encodes the reply, which counts as a reply of
 * the connection's next event (held for durability, refused with its writes after a failed log
 * write, like any reply). `write` may instead return false having written nothing (a blocked pop
 * that found nothing to pop): the reply stays deferred. Returns whether it completed.
 */
export type DeferredReply = (write: (out: ReplyWriter) => boolean | void) => boolean;

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
  /** The last command's subcommand (lower-case), when it has subcommands: CLIENT LIST shows cmd=client|list. */
  lastSubcommand?: string | undefined;
  /** Set by QUIT: close after flushing replies. */
  closeAfterReply: boolean;
  /** Set while a blocking command (BLPOP...) waits (blocking.ts): CLIENT LIST flags=b. */
  blocked?: boolean;
  /** MULTI / WATCH state, made at the connection's first MULTI or WATCH (multi.ts). */
  tx?: ClientTx | null;
  /** Client-side caching mode, made at the connection's first CLIENT TRACKING ON (tracking.ts). */
  tracking?: ClientTracking | null;
  /** CLIENT NO-EVICT ON: excluded from client eviction (CLIENT LIST flags=e). */
  noEvict?: boolean;
  /** CLIENT NO-TOUCH ON: its commands (but TOUCH) leave keys' LRU/LFU access data as they were (flags=T). */
  noTouch?: boolean;
  /** CLIENT REPLY: REPLY_ON (absent), REPLY_OFF, REPLY_SKIP_NEXT or REPLY_SKIPPING (see the connection). */
  replyMode?: ReplyMode;
  /** Sent READONLY (Redis Cluster): a replica serves its keyed reads instead of redirecting them (-MOVED). */
  clusterReadonly?: boolean;
  /** In MONITOR mode (CLIENT LIST flags=O). */
  monitor?: boolean;
  /**
   * The user this client runs as (server/acl.ts): the default user until AUTH. Shared with the
   * user table, which changes it in place. Absent only where there is no server (unit tests).
   */
  user?: AclUser;
}

/** CLIENT REPLY states: the command after SKIP is REPLY_SKIPPING while it runs. */
export const REPLY_ON = 0;
export const REPLY_OFF = 1;
export const REPLY_SKIP_NEXT = 2;
export const REPLY_SKIPPING = 3;
export type ReplyMode = typeof REPLY_ON | typeof REPLY_OFF | typeof REPLY_SKIP_NEXT | typeof REPLY_SKIPPING;

/** CLIENT KILL's filters (all given ones must match); the caller matches only with skipMe false. */
export interface ClientKillFilter {
  id?: number;
  addr?: string;
  laddr?: string;
  /** Redis's client class: normal (monitors too), pubsub; master/replica never match on a client port. */
  type?: 'normal' | 'master' | 'replica' | 'pubsub';
  /** The user the client is authenticated as (a known user: the command checked). */
  user?: string;
  /** Only clients connected for longer than this many seconds. */
  maxAgeSec?: number;
  /** The calling client: it is closed after its reply instead of at once, and skipped with skipMe. */
  callerId: number;
  skipMe: boolean;
}

/** CLIENT PAUSE modes: WRITE holds commands that may write (or replicate), ALL holds every command. */
export type PauseMode = 'write' | 'all';

/** CLIENT PAUSE / UNPAUSE and MONITOR / RESET as the server runs them (server.ts). */
export interface ClientAdminServices {
  /** Pause until `endMs` (Date.now() milliseconds); a pause in effect keeps its stricter mode and later end. */
  pause(mode: PauseMode, endMs: number): void;
  unpause(): void;
  /** Start streaming other clients' commands to this client (MONITOR). */
  monitor(ctx: CommandContext): void;
  /** RESET: the connection's state back to a fresh connection's (RESP2, no subscriptions, no MULTI...). */
  resetConnection(ctx: CommandContext): void;
}

/** Transactions as the server runs them (commands/transactions.ts calls these). */
export interface PersistenceServices {
  /** A compaction (snapshot + log cut) is running. */
  inProgress(): boolean;
  /** Start one now (BGSAVE) and resolve when it is durable; rejects with the store's error. */
  snapshot(): Promise<void>;
  /** Run one more after the one in progress (BGSAVE SCHEDULE). */
  snapshotAfterCurrent(): void;
  /** Date.now() of the last completed snapshot, or of the start when none completed since. */
  lastSaveMs(): number;
}

export interface TransactionServices {
  /** The server's WATCH registry, which every connection's ClientTx reports to. */
  readonly watches: WatchRegistry;
  /**
   * EXEC: run the queued commands in order, without the per-command checks (they ran at queue
   * time), their replies as one array into ctx.out, their effects logged as one entry.
   */
  exec(ctx: CommandContext, queued: readonly QueuedCommand[]): void;
}

/**
 * A blocking command's pop. `only` null: the first try, when the command runs (a key of another
 * type replies WRONGTYPE); a key: serving a waiter after that key was written (only that key is
 * tried, and another type there is skipped, as Redis 7.0). True when it replied (and logged
 * its pop through ctx.write); false, with nothing written, when there was nothing to pop.
 */
/**
 * Try a blocked command now: true when it replied, false when it keeps waiting, or (serving a
 * waiter) an error reply that ends its wait (a blocked XREADGROUP whose group went), which the
 * registry writes and counts as a failed call.
 */
export type BlockedAttempt = (ctx: CommandContext, only: Key | null) => boolean | string;

/** Blocked clients as the server keeps them (server/blocking.ts). */
export interface BlockingServices {
  /**
   * Wait for one of `keys` (deferring this connection's reply) until `deadlineMs` (Date.now()
   * milliseconds; 0 = forever). Returns an error reply instead when the server's bound is hit.
   */
  block(ctx: CommandContext, spec: CommandSpec, argv: readonly Buffer[], keys: readonly Key[], deadlineMs: number, attempt: BlockedAttempt): string | null;
  /** CLIENT UNBLOCK: true when the client was blocked. */
  unblock(clientId: number, error: boolean): boolean;
  readonly blockedClients: number;
}

export interface ServerServices {
  /** MIGRATE's cached connections to target servers (absent: MIGRATE is refused). */
  readonly migrateLinks?: MigrateLinks;
  /** This server's command table (COMMAND, COMMAND INFO/DOCS/COUNT/LIST/GETKEYS). */
  readonly commands: CommandTableView;
  /** INFO text for the given sections (lower-case; empty = default sections). */
  info(sections: readonly string[]): string;
  /** CONFIG GET of these patterns: name/value pairs, each setting once. */
  configGet(patterns: readonly string[]): Array<[string, string]>;
  /**
   * CONFIG SET of these pairs, all or nothing: an error message (without "ERR ") or null when
   * applied; a promise of one when applying waits (a new port is listened on). `canWait`: the
   * caller can defer its reply (not inside MULTI or a script).
   */
  configSet(pairs: ReadonlyArray<readonly [string, string]>, canWait: boolean): string | null | Promise<string | null>;
  /** CONFIG REWRITE: Redis's error text (without "ERR ") or null when the config file was replaced. */
  configRewrite?(): string | null;
  clientList(): string;
  /** Kill every client matching the filter; returns the number killed (the caller included). */
  clientKill(filter: ClientKillFilter): number;
  /** CLIENT PAUSE, MONITOR, RESET. Optional: without it they reply an error. */
  readonly clientAdmin?: ClientAdminServices;
  requirePass(): string | null;
  shutdown(): void;
  compact(): void;
  /** SAVE, BGSAVE, LASTSAVE: compaction is kv-ts's snapshot. Optional: without it they reply an error. */
  readonly persistence?: PersistenceServices;
  /** CONFIG RESETSTAT: zero the server's counters and command stats. Optional (added by the server engineer). */
  resetStats?(): void;
  /** MULTI/EXEC/WATCH support. Optional (added with transactions): without it they reply an error. */
  readonly transactions?: TransactionServices;
  /** BLPOP, BZPOPMIN... Optional: without it they behave as inside MULTI (never wait). */
  readonly blocking?: BlockingServices;
  /** The server's pub/sub routing (PUBLISH, PUBSUB, keyspace notifications). */
  readonly pubsub?: PubSubHub;
  /** Client-side caching (CLIENT TRACKING): the tracking table and the clients' modes. */
  readonly tracking?: TrackingHub;
  /** Whether a client with this id is connected (CLIENT TRACKING REDIRECT). */
  clientExists?(id: number): boolean;
  /** SLOWLOG and LATENCY read these. Optional: without it they reply an error. */
  readonly introspection?: IntrospectionServices;
  /** Users and permissions (ACL, AUTH). Optional: without it only the default user exists. */
  readonly acl?: AclServices;
  /** EVAL, EVALSHA, SCRIPT. Optional: without it they reply an error. */
  readonly scripting?: ScriptingServices;
  /**
   * Whether this command, not flagged 'write', may log a write now: the checks a write would meet
   * (a primary whose log takes writes). PFCOUNT logs its refreshed cache only then. Optional:
   * without it (no replication layer) a write is admitted.
   */
  mayWrite?(client: ClientState, spec: CommandSpec, argv: readonly Buffer[]): boolean;
}

/** The server's users (server/acl.ts) as the ACL and AUTH commands reach them. */
export interface AclServices {
  readonly table: AclTable;
  readonly log: AclLog;
  /** A user table the ACL command just logged (ctx.write of an 'acl' op) takes effect: the server re-reads it from the store. */
  applyLogged(callerId?: number): void;
  /** The aclfile's contents (ACL LOAD), or an error text (without "ERR "). */
  readAclFile(): { readonly text: string } | { readonly error: string };
  /** Write the user table to the aclfile (ACL SAVE): null, or an error text. */
  writeAclFile(text: string): string | null;
  /** CLIENT LIST's line for this client (ACL LOG's client-info). */
  clientInfo(client: ClientState): string;
  /** Whether a new connection must authenticate (the default user has a password or is off). */
  authRequired(): boolean;
}

/** Scripts as the server runs them (commands/scripting.ts calls these). */
export interface ScriptingServices {
  /** The server's Lua VM and script cache. */
  readonly engine: ScriptEngine;
  /**
   * Run a cached script for this client: the commands it calls go through the dispatcher's checks
   * for scripts, its writes are logged as one entry (like EXEC), its reply goes to ctx.out.
   * `readOnly` (EVAL_RO, EVALSHA_RO) refuses its writes. `argv` (the EVAL command line) is shown
   * to MONITOR before the script's commands.
   */
  run(ctx: CommandContext, argv: readonly Buffer[], script: CachedScript, keys: readonly Buffer[], args: readonly Buffer[], readOnly: boolean): void;
  /** The function libraries in force (what the store's last 'functions' op set). */
  readonly functions: FunctionTable;
  /** Load `codes` into a new table (nothing logged yet): the table, or the first load's error reply. */
  buildFunctions(codes: readonly Buffer[]): FunctionTable | string;
  /** FUNCTION LOAD and RESTORE over maxmemory (Redis flags them denyoom; the container shares no flags): null, or the refusal. */
  admitLibraryGrowth(): string | null;
  /** Log `table` as one 'functions' op (ctx.write) and put it in force. */
  setFunctions(ctx: CommandContext, table: FunctionTable): void;
  /** FCALL / FCALL_RO: run a library function as run() runs a script (one log entry), in the functions' VM. */
  runFunction(ctx: CommandContext, argv: readonly Buffer[], fn: CachedScript, keys: readonly Buffer[], args: readonly Buffer[], readOnly: boolean): void;
  /** The script or function running past busy-reply-threshold (other clients get BUSY), if any. */
  busy(): BusyScript | null;
  /**
   * SCRIPT KILL (`fromEval`) or FUNCTION KILL: null when the running script will stop (its caller
   * gets the killed error), else the error reply (NOTBUSY, UNKILLABLE, BUSY for the other kind).
   */
  kill(fromEval: boolean): string | null;
}

/** What FUNCTION STATS and the kill commands know of the script in flight. */
export interface BusyScript {
  /** EVAL / EVALSHA (true) or FCALL (false): which KILL stops it and which BUSY text others get. */
  readonly isEval: boolean;
  /** The function's name, or the script's SHA1. */
  readonly name: string;
  readonly argv: readonly Buffer[];
  readonly startedMs: number;
  /** Redis's BUSY reply text for this kind of script. */
  readonly busyError: string;
}

/** The server's slow log, latency monitor and per-command statistics. */
export interface IntrospectionServices {
  readonly slowlog: SlowLog;
  readonly latency: LatencyMonitor;
  readonly commandStats: CommandStatsTable;
}
