// Command dispatch: lookup in one server's command table, Redis 7's rejection order and texts
// (unknown command, arity, NOAUTH, then the pluggable CommandGate), the handler call, and
// per-command stats, and the MULTI side of it (queue instead of run, flag a transaction whose
// command was refused, check EXEC as the commands it runs, run them without the checks again),
// which commands a CLIENT PAUSE holds, and the MONITOR feed after each command that ran.
// Owns that sequence and its table's lookup cache; it never writes to a socket, applies
// mutations or changes the table.

import { performance } from 'node:perf_hooks';
import type { ClientState, CommandContext, CommandFlag, CommandSpec, PauseMode } from './command-types.js';
import type { ClientTx } from './multi.js';
import { arityOk, type CommandTable } from './commands/table.js';
import { subcommandOf, type CommandStats, type CommandStatsTable } from './latency.js';
import type { LookupStats } from '../storage/api.js';
import type { TrackingHub } from './tracking.js';
import { denialError, execDenialError, type AclDenial, type AclLogContext } from './acl.js';
import type { ReplyWriter } from '../protocol/reply.js';

/**
 * A hook run before every command that passed the built-in checks. The replication layer
 * uses it to reject writes on replicas (READONLY) or stale reads (TOOSTALE). Returns the
 * full error reply text (e.g. "READONLY You can't write against a read only replica.") or null.
 */
export type CommandGate = (spec: CommandSpec, argv: readonly Buffer[], client: ClientState) => string | null;

/**
 * The permission check (server/acl.ts through the server, which logs refusals to ACL LOG): the
 * -NOPERM reply text, or null. Dispatch calls it only for a client whose user is restricted, at
 * Redis's place (after NOAUTH, before the gate), when a command is queued in MULTI and again
 * when EXEC runs it. `context` is ACL LOG's: 'lua' for a command a script runs (the scripting
 * layer calls the same check).
 */
export type AclCheck = (client: ClientState, spec: CommandSpec, argv: readonly Buffer[], context: AclLogContext) => AclDenial | null;

/**
 * A hook run after the table lookup, before the arity/auth/gate checks (added for cluster
 * quorum operations, which strip a trailing QUORUM word and reply only after commit). It returns
 * false to let the command run normally; otherwise it has replied (or deferred the reply), and
 * it runs the command itself through `run`, which applies every usual check and the handler.
 */
export type CommandInterceptor = (
  spec: CommandSpec,
  ctx: CommandContext,
  argv: readonly Buffer[],
  run: (ctx: CommandContext, spec: CommandSpec, argv: readonly Buffer[]) => void,
) => boolean;

/** Redis features kv-ts deliberately lacks: they fail with a clear, specific message. */
const UNSUPPORTED = new Map<string, string>([]);

/** What a RESP2 connection with subscriptions may still run (Redis's subscribed mode). */
const SUBSCRIBED_MODE_COMMANDS: ReadonlySet<string> = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe', 'ping', 'quit', 'reset']);

/** RESP2 has no push type: a subscribed connection's input may only manage its subscriptions. */
function subscribedModeRefusal(ctx: CommandContext, spec: CommandSpec, argv: readonly Buffer[]): string | null {
  const subs = ctx.pubsub;
  if (subs === undefined || subs.total === 0 || ctx.client.protocol !== 2 || SUBSCRIBED_MODE_COMMANDS.has(spec.name)) return null;
  const full = spec.subcommands !== undefined && argv.length > 1 ? `${spec.name}|${(argv[1] as Buffer).toString('latin1').toLowerCase()}` : spec.name;
  return `ERR Can't execute '${full}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`;
}

/** Names up to this many bytes go through the allocation-free lookup (Redis's longest is 20). */
const CACHED_NAME_BYTES_MAX = 32;

/**
 * Command lookup without allocating: a 32-bit FNV-1a hash of the name's lower-cased bytes indexes
 * a cache of specs found through one table, and a hit is confirmed byte by byte against the
 * spec's name (so a hash collision is a miss, never a wrong command). That table only ever grows
 * (CommandTable.add refuses duplicates and nothing removes), so a cached hit never goes stale;
 * misses are not cached, so commands added later are seen. Every command passes here, so nothing
 * is allocated (see docs/perf-notes.md, 'Command dispatch').
 */
class CommandCache {
  private readonly byHash = new Map<number, CommandSpec>();

  constructor(private readonly table: CommandTable) {}

  lookup(name: Buffer): CommandSpec | undefined {
    const n = name.length;
    if (n === 0 || n > CACHED_NAME_BYTES_MAX) return this.table.lookup(name);
    let h = 0x811c9dc5;
    for (let i = 0; i < n; i++) {
      const c = name[i] as number;
      h = Math.imul(h ^ (c >= 0x41 && c <= 0x5a ? c + 0x20 : c), 0x01000193);
    }
    // 30 bits: a small integer (Smi) key under pointer compression, so the Map lookup allocates nothing.
    h &= 0x3fffffff;
    const hit = this.byHash.get(h);
    if (hit !== undefined && sameName(hit.name, name)) return hit;
    const spec = this.table.lookup(name);
    if (spec !== undefined && hit === undefined) this.byHash.set(h, spec);
    return spec;
  }
}

/** True when `name` (any case) spells `lower`, a lower-case ASCII command name. */
function sameName(lower: string, name: Buffer): boolean {
  const n = name.length;
  if (lower.length !== n) return false;
  for (let i = 0; i < n; i++) {
    const c = name[i] as number;
    if ((c >= 0x41 && c <= 0x5a ? c + 0x20 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Redis caps how much of the arguments an unknown-command error echoes. */
const ERROR_ARGS_CHARS_MAX = 128;

/**
 * What dispatch needs of the store: it refuses write commands while `writeRefusal` is set (the
 * log failed: MISCONF), and has key lookups counted while a read command runs (Redis counts
 * keyspace hits and misses for reads only).
 */
export interface WriteGuard {
  readonly writeRefusal: string | null;
  readonly lookupStats?: LookupStats;
  /** ReplicatedStore.mutationsStarted: whether a handler that threw had started changing the store. */
  readonly mutationsStarted?: number;
  /** CLIENT NO-TOUCH: on around each command of such a client (TOUCH excepted). */
  setNoTouch?(on: boolean): void;
}

/** Told of each command that ran (MONITOR); set only while someone monitors. */
export type CommandFeed = (client: ClientState, argv: readonly Buffer[]) => void;

/**
 * Commands that are not writes but that Redis 7.0 flags may-replicate (they add to the
 * replication stream): a WRITE pause holds them too.
 */
const MAY_REPLICATE: ReadonlySet<string> = new Set(['publish', 'spublish', 'pfcount', 'eval', 'evalsha', 'fcall']);

/** The replication link's handshake: a pause never holds replication traffic. */
const NEVER_PAUSED: ReadonlySet<string> = new Set(['kvrepl']);

/** Runs before each command that passed the other checks: evicts, or refuses with -OOM (server/memory.ts). */
export interface MemoryAdmission {
  /** Null to run the command, else the reply refusing it. */
  admit(spec: CommandSpec): string | null;
}

export interface DispatchStats {
  commandsProcessed: number;
  errorReplies: number;
  /** Handlers that threw (a bug) and were answered with an internal error (INFO stats kv_internal_errors); optional for embedders. */
  internalErrors?: number;
  /** Error replies by their first word (INFO errorstats); optional for embedders of Dispatcher. */
  readonly errorsByKind?: Map<string, number>;
}

/** Commands that run at once inside MULTI instead of being queued (Redis 7.0's list). */
const RUN_IN_MULTI = new Set(['exec', 'discard', 'multi', 'watch', 'quit', 'reset']);

/** Redis's reply when EXEC itself is refused (OOM, READONLY, MISCONF...): the transaction is discarded. */
export function execAbort(refusal: string): string {
  // Redis formats its own refusals (arity...) without the ERR word here; coded ones keep their code.
  return `EXECABORT Transaction discarded because of: ${refusal.startsWith('ERR ') ? refusal.slice(4) : refusal}`;
}

/**
 * EXEC as the checks see it: a write when some queued command writes, denyoom when one may grow
 * memory, a read (staleness, sessions) when one reads and is not allowed on a stale replica.
 */
function execAsQueued(spec: CommandSpec, tx: ClientTx): CommandSpec {
  const flags: CommandFlag[] = spec.flags.filter((f) => f !== 'stale');
  if (tx.writes) flags.push('write');
  if (tx.denyoom) flags.push('denyoom');
  if (tx.queue !== null && tx.queue.some((q) => q.spec.flags.includes('readonly') && !q.spec.flags.includes('stale'))) flags.push('readonly');
  else if (!tx.writes) flags.push('stale');
  return { ...spec, flags };
}

/**
 * Sees every command that ran, with its duration (the slow log and the latency monitor). It runs
 * after every command, so it must cost a comparison and no allocation when the command was fast.
 */
export interface CommandObserver {
  executed(ctx: CommandContext, spec: CommandSpec, argv: readonly Buffer[], durationMs: number): void;
}

/**
 * A command whose reply comes after its handler returned (a script past busy-reply-threshold,
 * Dispatcher.deferCall): the dispatcher fills in what it needs to count the call when the reply
 * is written (Dispatcher.replyLate), as Redis counts it when its call() ends.
 */
export interface LateCall {
  call: { readonly ctx: CommandContext; readonly spec: CommandSpec; readonly argv: readonly Buffer[]; readonly st: CommandStats; readonly t0: number } | null;
}

/** Characters of an exception's message an internal-error reply carries. */
const INTERNAL_ERROR_MESSAGE_CHARS_MAX = 200;

/** The reply to a command whose handler threw: one line, as every error reply. */
export function internalErrorReply(command: string, e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return `ERR internal error in '${command}': ${msg.replace(/[\r\n]+/g, ' ').slice(0, INTERNAL_ERROR_MESSAGE_CHARS_MAX)}`;
}

/** Distinct error kinds INFO errorstats tracks (Redis ERRORSTATS_LIMIT). */
export const ERROR_KINDS_MAX = 128;

export class Dispatcher {
  gate: CommandGate | null = null;
  acl: AclCheck | null = null;
  intercept: CommandInterceptor | null = null;
  memory: MemoryAdmission | null = null;
  /** Client-side caching: remembers the keys a tracking client's read commands name. */
  tracking: TrackingHub | null = null;
  observer: CommandObserver | null = null;
  /** Told of each handler exception answered as an internal error (the server logs it with its stack). */
  onInternalError: ((command: string, e: unknown) => void) | null = null;
  /** MONITOR's feed; null while nobody monitors, so a command costs one comparison for it. */
  feed: CommandFeed | null = null;
  /**
   * Set while a script runs past busy-reply-threshold: the BUSY refusal for a client's command, or
   * null for what Redis allows then (allow_busy). Clients' commands skip the maxmemory check
   * meanwhile (it may evict, and nothing may change the dataset under the script).
   */
  busy: ((spec: CommandSpec, argv: readonly Buffer[]) => string | null) | null = null;
  private readonly commands: CommandCache;
  /** Between beginEvent and endEvent: the commands of one read event run back to back. */
  private inEvent = false;
  /** performance.now() at the end of the previous command of this event, or -1 (see runChecked). */
  private chainMs = -1;
  /** runChecked for the interceptor, made once: a closure over the spec per command cost an allocation per command. */
  private readonly runCheckedFn = (ctx: CommandContext, spec: CommandSpec, argv: readonly Buffer[]): void => this.runChecked(ctx, spec, argv);

  constructor(
    table: CommandTable,
    private readonly stats: CommandStatsTable,
    private readonly counters: DispatchStats,
    /** Whether a client must authenticate before commands without the noauth flag. */
    private readonly authRequired: () => boolean,
    private readonly writes: WriteGuard = { writeRefusal: null },
  ) {
    this.commands = new CommandCache(table);
  }

  /**
   * A connection is about to run the commands parsed from one read event. Until endEvent, each
   * command's timing starts where the previous one's ended (see runChecked). Nesting (a command
   * that synchronously resumes another client's commands) only ends the chaining early: the
   * inner endEvent leaves every later command to read its own start time.
   */
  beginEvent(): void {
    this.inEvent = true;
    this.chainMs = -1;
  }

  endEvent(): void {
    this.inEvent = false;
    this.chainMs = -1;
  }

  /** Run one command; every outcome is a reply written through ctx.out. */
  run(ctx: CommandContext, argv: readonly Buffer[]): void {
    const out = ctx.out;
    const client = ctx.client;
    this.counters.commandsProcessed++;
    let spec = this.commands.lookup(argv[0] as Buffer);
    const tx = client.tx;
    if (spec === undefined) {
      // Like every refusal inside MULTI, it makes EXEC fail (EXECABORT).
      if (tx !== undefined && tx !== null && tx.queue !== null) tx.refused = true;
      const name = (argv[0] as Buffer).toString('latin1');
      const feature = UNSUPPORTED.get(name.toLowerCase());
      this.countError('ERR');
      if (feature !== undefined) return out.error(`ERR ${name.toUpperCase()} is not supported by kv-ts (no ${feature})`);
      return out.error(unknownCommandError(argv));
    }
    client.lastCommand = spec.name;
    // Only commands with subcommands (CLIENT, CONFIG, OBJECT...) pay for the name: not GET or SET.
    if (spec.subcommands !== undefined || client.lastSubcommand !== undefined) {
      client.lastSubcommand = spec.subcommands === undefined || argv.length < 2 ? undefined : (subcommandOf(spec.subcommands, argv[1] as Buffer) ?? undefined);
      if (spec.writeSubcommands !== undefined && client.lastSubcommand !== undefined && spec.writeSubcommands.includes(client.lastSubcommand)) spec = this.asWrite(spec);
    }
    if (tx !== undefined && tx !== null && tx.queue !== null) {
      if (!RUN_IN_MULTI.has(spec.name)) return this.queue(ctx, spec, argv, tx);
      if (spec.name === 'exec') spec = execAsQueued(spec, tx);
    }
    if (this.intercept !== null && this.intercept(spec, ctx, argv, this.runCheckedFn)) return;
    this.runChecked(ctx, spec, argv);
  }

  /**
   * Inside MULTI: the checks a command would meet now (Redis runs them at queue time), then
   * +QUEUED. A refusal replies as usual and makes EXEC fail.
   */
  private queue(ctx: CommandContext, spec: CommandSpec, argv: readonly Buffer[], tx: ClientTx): void {
    const st = this.stats.forCommand(spec, argv);
    const busy = this.busy;
    const err = spec.flags.includes('no_multi') ? 'ERR Command not allowed inside a transaction' : (this.check(ctx.client, spec, argv, busy === null) ?? busy?.(spec, argv) ?? tx.enqueue(spec, argv));
    if (err !== null) return this.reject(ctx, st, err);
    ctx.out.simple('QUEUED');
  }

  /**
   * A command queued by MULTI, run by EXEC: the handler with its stats, no checks (they ran at
   * queue time and for EXEC as a whole), as Redis's execCommand calls each one, but permissions,
   * which Redis checks again (the user may have changed since the command was queued).
   */
  execute(ctx: CommandContext, spec: CommandSpec, argv: readonly Buffer[]): void {
    this.counters.commandsProcessed++;
    const st = this.stats.forCommand(spec, argv);
    const user = ctx.client.user;
    if (user !== undefined && !user.unrestricted && this.acl !== null) {
      const denied = this.acl(ctx.client, spec, argv, 'multi');
      if (denied !== null) {
        const err = execDenialError(denied);
        st.rejectedCalls++;
        this.countError(err);
        return ctx.out.error(err);
      }
    }
    this.invokeNested(ctx, spec, argv, st);
  }

  /**
   * A command EXEC or a script runs: it is the client's running command while it runs (keyspace
   * notifications pick their event by it, as Redis's call() sets c->cmd for each), then the
   * outer one (EXEC, EVAL) is again.
   */
  private invokeNested(ctx: CommandContext, spec: CommandSpec, argv: readonly Buffer[], st: ReturnType<CommandStatsTable['get']>): void {
    const client = ctx.client;
    const outer = client.lastCommand;
    const outerSub = client.lastSubcommand;
    client.lastCommand = spec.name;
    try {
      this.invoke(ctx, spec, argv, st);
    } finally {
      client.lastCommand = outer;
      client.lastSubcommand = outerSub;
    }
  }

  /** The 'write' variants of containers with writing subcommands, made once each. */
  private readonly writeVariants = new Map<string, CommandSpec>();

  private asWrite(spec: CommandSpec): CommandSpec {
    let w = this.writeVariants.get(spec.name);
    if (w === undefined) {
      w = { ...spec, flags: [...spec.flags, 'write'] };
      this.writeVariants.set(spec.name, w);
    }
    return w;
  }

  /**
   * Whether `spec`, run by `client`, could log a write now: the gate and the log's checks a
   * write-flagged command would meet (READONLY on a replica, MISCONF...). For a command that is
   * not flagged 'write' but may write (PFCOUNT's cache).
   */
  writeAdmitted(client: ClientState, spec: CommandSpec, argv: readonly Buffer[]): boolean {
    if (this.writes.writeRefusal !== null) return false;
    return this.gate === null || this.gate(this.asWrite(spec), argv, client) === null;
  }

  /**
   * A command a script calls (redis.call): Redis 7.0's checks for scripts (unknown, arity,
   * noscript, a write from a read-only script) with their texts, then the checks every command
   * meets (auth, the gate: READONLY on a replica; maxmemory; a failed log), then the handler.
   * `admitMemory` false (a script flagged allow-oom) skips the maxmemory check.
   * `beforeWrite` runs before a write command's handler (the server opens the script's batch).
   * The reply, or the refusal, goes to ctx.out; the command is shown as the client's running
   * command while it runs (keyspace notifications name it).
   */
  runFromScript(ctx: CommandContext, argv: readonly Buffer[], opts: { readonly readOnly: boolean; readonly admitMemory: boolean }, beforeWrite: () => void): void {
    const readOnly = opts.readOnly;
    const out = ctx.out;
    this.counters.commandsProcessed++;
    const spec = this.commands.lookup(argv[0] as Buffer);
    let refusal: string | null = null;
    if (spec === undefined) refusal = 'ERR Unknown Redis command called from script';
    else if (!arityOk(spec, argv.length)) refusal = 'ERR Wrong number of args calling Redis command from script';
    else if (spec.flags.includes('noscript')) refusal = 'ERR This Redis command is not allowed from script';
    else if (readOnly && (spec.flags.includes('write') || MAY_REPLICATE.has(spec.name))) refusal = 'ERR Write commands are not allowed from read-only scripts.';
    if (spec === undefined || refusal !== null) {
      if (spec !== undefined) this.stats.forCommand(spec, argv).rejectedCalls++;
      this.countError(refusal as string);
      return out.error(refusal as string);
    }
    const st = this.stats.forCommand(spec, argv);
    const err = this.check(ctx.client, spec, argv, opts.admitMemory);
    if (err !== null) {
      st.rejectedCalls++;
      this.countError(err);
      return out.error(err);
    }
    if (spec.flags.includes('write')) beforeWrite();
    this.invokeNested(ctx, spec, argv, st);
  }

  /** Arity, auth and gate checks, then the handler, with per-command stats. */
  private runChecked(ctx: CommandContext, spec: CommandSpec, argv: readonly Buffer[]): void {
    const st = this.stats.forCommand(spec, argv);
    const busy = this.busy;
    const err = this.check(ctx.client, spec, argv, busy === null) ?? busy?.(spec, argv) ?? subscribedModeRefusal(ctx, spec, argv);
    if (err !== null) return this.reject(ctx, st, err);
    this.invoke(ctx, spec, argv, st);
  }

  /**
   * CLIENT PAUSE: whether the pause in effect holds this command. Commands refused anyway (unknown,
   * wrong arity, not authenticated) are not held: they get their error at once, as in Redis. A
   * WRITE pause holds what may write or replicate (EXEC of such a transaction, and such commands
   * queued inside MULTI: Redis 7.0 checks before queueing); ALL holds every command.
   */
  pauseHolds(client: ClientState, argv: readonly Buffer[], mode: PauseMode): boolean {
    const spec = this.commands.lookup(argv[0] as Buffer);
    if (spec === undefined || !arityOk(spec, argv.length) || NEVER_PAUSED.has(spec.name)) return false;
    if (!client.authenticated && !spec.flags.includes('noauth') && this.authRequired()) return false;
    if (mode === 'all') return true;
    const tx = client.tx;
    if (spec.name === 'exec' && tx !== undefined && tx !== null && tx.queue !== null) {
      return tx.writes || tx.queue.some((q) => MAY_REPLICATE.has(q.spec.name));
    }
    // FUNCTION's writes (LOAD, DELETE...) are held; its reads (LIST, STATS...) are not, as in Redis 7.0.
    if (spec.name === 'function') return argv.length > 1 && spec.writeSubcommands?.includes((argv[1] as Buffer).toString('latin1').toLowerCase()) === true;
    return spec.flags.includes('write') || MAY_REPLICATE.has(spec.name);
  }

  /**
   * The checks again, for a blocked client about to be served (READONLY once its node was
   * demoted, MISCONF while the log is failed...). Not maxmemory: Redis 7.0 serves a blocked
   * client without it (handleClientsBlockedOnKeys runs no OOM check; a served BLMOVE pushes even
   * over the limit), so a waiter is never left waiting on a key that has elements.
   */
  recheck(client: ClientState, spec: CommandSpec, argv: readonly Buffer[]): string | null {
    return this.check(client, spec, argv, false);
  }

  /** Redis's order of refusals: arity, auth, the gate (READONLY, TOOSTALE...), maxmemory, a failed log. Null: run it. */
  private check(client: ClientState, spec: CommandSpec, argv: readonly Buffer[], admitMemory = true): string | null {
    if (!arityOk(spec, argv.length)) return `ERR wrong number of arguments for '${spec.name}' command`;
    if (spec.subcommandArity !== undefined) {
      const err = subcommandArityError(spec, spec.subcommandArity, argv);
      if (err !== null) return err;
    }
    if (!client.authenticated && !spec.flags.includes('noauth')) {
      if (!this.authRequired()) client.authenticated = true; // password was removed at runtime
      else return 'NOAUTH Authentication required.';
    }
    // One field read for an unrestricted user (the default user): the hot path pays no more.
    const user = client.user;
    if (user !== undefined && !user.unrestricted && this.acl !== null) {
      const denied = this.acl(client, spec, argv, client.tx?.inMulti === true ? 'multi' : 'toplevel');
      if (denied !== null) return denialError(denied);
    }
    if (this.gate !== null) {
      const err = this.gate(spec, argv, client);
      if (err !== null) return err;
    }
    // Redis checks maxmemory before a disk error; a replica's gate already refused writes.
    if (this.memory !== null && admitMemory) {
      const oom = this.memory.admit(spec);
      if (oom !== null) return oom;
    }
    // Like Redis's stop-writes-on-bgsave-error: reads, PING and INFO keep working.
    const refusal = this.writes.writeRefusal;
    if (refusal !== null && spec.flags.includes('write')) return refusal;
    return null;
  }

  /** Errors already counted by the commands an EXEC ran (EXEC does not count them again). */
  private nestedErrors = 0;
  /**
   * Set by the script runner when a script's error reply is the error of a command it called,
   * which that command already counted: the script's call counts as failed, the error not again
   * (Redis 7.0's error statistics).
   */
  errorAlreadyCounted = false;
  /** Set by a handler that defers its reply (deferCall): the running call is counted when it is written. */
  private lateCall: LateCall | null = null;

  /**
   * The running command's reply will be written after its handler returns (replyLate): its
   * duration, failure, error and slow-log entry are counted then, not now.
   */
  deferCall(): LateCall {
    const late: LateCall = { call: null };
    this.lateCall = late;
    return late;
  }

  /** The handler, timed, with its lookups counted for reads and its errors for INFO. */
  private invoke(ctx: CommandContext, spec: CommandSpec, argv: readonly Buffer[], st: ReturnType<CommandStatsTable['get']>): void {
    const out = ctx.out;
    const errorsBefore = errorCount(out);
    const nestedBefore = this.nestedErrors;
    // One clock read per command inside a read event, not two: a pipelined command's time starts
    // where the previous command's ended, so it also counts parsing and checking this command
    // (synchronous, no I/O). The first command of an event and commands outside one read their
    // own start. Clock reads are not free (docs/perf-notes.md, 'Clock reads').
    const t0 = this.chainMs >= 0 ? this.chainMs : performance.now();
    const lookups = this.writes.lookupStats;
    if (lookups !== undefined) lookups.counting = spec.flags.includes('readonly');
    if (spec.noTouch === true || (ctx.client.noTouch === true && spec.name !== 'touch')) this.runNoTouch(ctx, spec, argv);
    else this.callHandler(ctx, spec, argv);
    if (lookups !== undefined) lookups.counting = false;
    // One property read for a client that does not track.
    const tracking = ctx.client.tracking;
    if (tracking !== undefined && tracking !== null && this.tracking !== null && spec.flags.includes('readonly')) this.tracking.remember(ctx.client, spec, argv);
    // Redis shows a command to monitors once it ran (EXEC after the commands it ran), never an
    // admin command (MONITOR, CONFIG, SHUTDOWN...).
    if (this.feed !== null && !spec.flags.includes('admin') && !spec.flags.includes('skip_monitor')) this.feed(ctx.monitorAs ?? ctx.client, argv);
    const t1 = performance.now();
    if (this.inEvent) this.chainMs = t1;
    const dt = t1 - t0;
    const errors = errorCount(out) - errorsBefore;
    const failed = errors > this.nestedErrors - nestedBefore;
    if (failed && this.errorAlreadyCounted) this.errorAlreadyCounted = false;
    else if (failed) this.countError(lastError(out));
    // A script's commands count their own errors, and the script counts as failed when its reply
    // is an error; EXEC's commands make EXEC neither.
    if (errors > 0 && ctx.inTransaction === true && ctx.inScript !== true) this.nestedErrors += errors;
    const late = this.lateCall;
    if (late !== null) {
      this.lateCall = null;
      late.call = { ctx, spec, argv, st, t0 };
      return;
    }
    this.stats.recordCall(st, dt, failed);
    if (this.observer !== null) this.observer.executed(ctx, spec, argv, dt);
  }

  /**
   * The handler, with its exceptions (bugs) contained: one that threw before the store began a
   * mutation changed nothing, so its partial reply is dropped, the client is answered
   * `ERR internal error in '<cmd>': ...`, and the server (other clients, this one's next
   * commands) goes on. One that threw after a mutation began is rethrown and ends the process:
   * memory may be partway through an entry the log already holds (or a transaction batch it
   * would commit half of), and serving from memory that differs from the log would be worse than
   * a restart, which replays the log.
   */
  private callHandler(ctx: CommandContext, spec: CommandSpec, argv: readonly Buffer[]): void {
    const out = ctx.out;
    const outStart = pendingBytes(out);
    const mutations = this.writes.mutationsStarted;
    try {
      spec.handler(ctx, argv);
    } catch (e) {
      if (this.writes.mutationsStarted !== mutations || outStart === null) throw e;
      truncatePending(out, outStart);
      if (this.counters.internalErrors !== undefined) this.counters.internalErrors++;
      this.onInternalError?.(spec.name, e);
      out.error(internalErrorReply(spec.name, e));
    }
  }

  /** A command that looks without touching, or a CLIENT NO-TOUCH client's: the handler with the store's access data frozen. */
  private runNoTouch(ctx: CommandContext, spec: CommandSpec, argv: readonly Buffer[]): void {
    this.writes.setNoTouch?.(true);
    try {
      this.callHandler(ctx, spec, argv);
    } finally {
      this.writes.setNoTouch?.(false);
    }
  }

  /**
   * A refused command. Inside MULTI it makes EXEC fail; EXEC itself refused discards the
   * transaction and says why (Redis's execCommandAbort).
   */
  private reject(ctx: CommandContext, st: { rejectedCalls: number }, msg: string): void {
    st.rejectedCalls++;
    const tx = ctx.client.tx;
    if (tx !== undefined && tx !== null && tx.queue !== null) {
      if (ctx.client.lastCommand === 'exec') {
        tx.reset();
        msg = execAbort(msg);
      } else tx.refused = true;
    }
    this.countError(msg);
    ctx.out.error(msg);
  }

  /**
   * A command that ran (and was counted) earlier ended in an error written outside dispatch (a
   * blocked BLPOP answered UNBLOCKED): its failed_calls and the error, as Redis counts them at unblock.
   */
  countFailure(spec: CommandSpec, argv: readonly Buffer[], msg: string): void {
    this.stats.forCommand(spec, argv).failedCalls++;
    this.countError(msg);
  }

  /**
   * A deferred call (deferCall) writes its reply now with `write`, which says whether its error
   * is one a command it called counted already: the call counts as invoke counts one, with its
   * whole duration (INFO commandstats, the slow log, the latency monitor).
   */
  replyLate(late: LateCall, out: ReplyWriter, write: (out: ReplyWriter) => boolean): void {
    const before = errorCount(out);
    const alreadyCounted = write(out);
    const failed = errorCount(out) > before;
    if (failed && !alreadyCounted) this.countError(lastError(out));
    const c = late.call;
    // Filled by invoke once the handler returned; a handler run outside invoke counts only its error.
    if (c === null) return;
    const dt = performance.now() - c.t0;
    this.stats.recordCall(c.st, dt, failed);
    if (this.observer !== null) this.observer.executed(c.ctx, c.spec, c.argv, dt);
  }

  /** total_error_replies and INFO errorstats (by the error's first word, as Redis). */
  private countError(msg: string): void {
    this.counters.errorReplies++;
    const errors = this.counters.errorsByKind;
    if (errors === undefined) return;
    const sp = msg.indexOf(' ');
    const kind = sp < 0 ? msg : msg.slice(0, sp);
    const n = errors.get(kind);
    // Like Redis, past a bound of distinct kinds new ones are no longer tracked (a client could
    // otherwise grow the table with made-up error words from scripts or modules).
    if (n !== undefined) errors.set(kind, n + 1);
    else if (errors.size < ERROR_KINDS_MAX) errors.set(kind, 1);
  }
}

/** A known subcommand with the wrong number of arguments: Redis's arity error naming `container|sub`. */
function subcommandArityError(spec: CommandSpec, arities: Readonly<Record<string, number>>, argv: readonly Buffer[]): string | null {
  if (argv.length < 2 || spec.subcommands === undefined) return null;
  const sub = subcommandOf(spec.subcommands, argv[1] as Buffer);
  const arity = sub === null ? undefined : arities[sub];
  if (arity === undefined || (arity >= 0 ? argv.length === arity : argv.length >= -arity)) return null;
  return `ERR wrong number of arguments for '${spec.name}|${sub as string}' command`;
}

/** The last error text the encoder wrote (empty when the writer does not record it). */
function lastError(out: object): string {
  return 'lastError' in out && typeof out.lastError === 'string' ? out.lastError : '';
}

/** Bytes the writer holds (null when it cannot say: a handler exception is then not contained). */
function pendingBytes(out: object): number | null {
  return 'pendingBytes' in out && typeof out.pendingBytes === 'number' && 'truncatePending' in out ? out.pendingBytes : null;
}

function truncatePending(out: object, keep: number): void {
  if ('truncatePending' in out && typeof out.truncatePending === 'function') (out as { truncatePending(n: number): void }).truncatePending(keep);
}

/** The encoder counts error replies; a ReplyWriter that does not is treated as never failing. */
function errorCount(out: object): number {
  return 'errors' in out && typeof out.errors === 'number' ? out.errors : 0;
}

/** Redis 7: "ERR unknown command 'foo', with args beginning with: 'a' 'b' ". */
export function unknownCommandError(argv: readonly Buffer[]): string {
  let args = '';
  for (let i = 1; i < argv.length && args.length < ERROR_ARGS_CHARS_MAX; i++) {
    args += `'${(argv[i] as Buffer).toString('latin1').slice(0, ERROR_ARGS_CHARS_MAX - args.length)}' `;
  }
  const name = (argv[0] as Buffer).toString('latin1').slice(0, ERROR_ARGS_CHARS_MAX);
  return `ERR unknown command '${name}', with args beginning with: ${args}`;
}
