// Command dispatch: lookup in one server's command table, Redis 7's rejection order and texts
// (unknown command, arity, NOAUTH, then the pluggable CommandGate), the handler call, and
// per-command stats. Owns that sequence and its table's lookup cache; it never writes to a
// socket, applies mutations or changes the table.

import { performance } from 'node:perf_hooks';
import type { ClientState, CommandContext, CommandSpec } from './command-types.js';
import { arityOk, type CommandTable } from './commands/table.js';
import type { CommandStatsTable } from './latency.js';
import type { LookupStats } from '../storage/api.js';

/**
 * A hook run before every command that passed the built-in checks. The replication layer
 * uses it to reject writes on replicas (READONLY) or stale reads (TOOSTALE). Returns the
 * full error reply text (e.g. "READONLY You can't write against a read only replica.") or null.
 */
export type CommandGate = (spec: CommandSpec, argv: readonly Buffer[], client: ClientState) => string | null;

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
const UNSUPPORTED = new Map<string, string>([
  ...['multi', 'exec', 'discard', 'watch', 'unwatch'].map((n): [string, string] => [n, 'transactions']),
  ...['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'script', 'fcall', 'fcall_ro', 'function'].map((n): [string, string] => [n, 'scripting']),
]);

/** What a RESP2 connection with subscriptions may still run (Redis's subscribed mode). */
const SUBSCRIBED_MODE_COMMANDS: ReadonlySet<string> = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe', 'ping', 'quit', 'reset']);

/** Names up to this many bytes are packed into one number for the allocation-free lookup. */
const PACKED_NAME_BYTES_MAX = 6;

/**
 * Command lookup without allocating: the name's lower-cased bytes packed into a number
 * (1 as a length sentinel, then 8 bits per byte: < 2^49, exact) index a cache of specs found
 * through one table. That table only ever grows (CommandTable.add refuses duplicates and
 * nothing removes), so a cached hit never goes stale; misses are not cached, so commands added
 * later are seen. Every command passes here, so nothing is allocated (see docs/perf-notes.md,
 * 'Command dispatch').
 */
class CommandCache {
  private readonly byPacked = new Map<number, CommandSpec>();

  constructor(private readonly table: CommandTable) {}

  lookup(name: Buffer): CommandSpec | undefined {
    const n = name.length;
    if (n === 0 || n > PACKED_NAME_BYTES_MAX) return this.table.lookup(name);
    let packed = 1;
    for (let i = 0; i < n; i++) {
      const c = name[i] as number;
      packed = packed * 256 + (c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
    }
    const hit = this.byPacked.get(packed);
    if (hit !== undefined) return hit;
    const spec = this.table.lookup(name);
    if (spec !== undefined) this.byPacked.set(packed, spec);
    return spec;
  }
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
}

/** Runs before each command that passed the other checks: evicts, or refuses with -OOM (server/memory.ts). */
export interface MemoryAdmission {
  /** Null to run the command, else the reply refusing it. */
  admit(spec: CommandSpec): string | null;
}

export interface DispatchStats {
  commandsProcessed: number;
  errorReplies: number;
  /** Error replies by their first word (INFO errorstats); optional for embedders of Dispatcher. */
  readonly errorsByKind?: Map<string, number>;
}

/** Distinct error kinds INFO errorstats tracks (Redis ERRORSTATS_LIMIT). */
export const ERROR_KINDS_MAX = 128;

export class Dispatcher {
  gate: CommandGate | null = null;
  intercept: CommandInterceptor | null = null;
  memory: MemoryAdmission | null = null;
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
    private readonly requirePass: () => string | null,
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
    const spec = this.commands.lookup(argv[0] as Buffer);
    if (spec === undefined) {
      const name = (argv[0] as Buffer).toString('latin1');
      const feature = UNSUPPORTED.get(name.toLowerCase());
      this.countError('ERR');
      if (feature !== undefined) return out.error(`ERR ${name.toUpperCase()} is not supported by kv-ts (no ${feature})`);
      return out.error(unknownCommandError(argv));
    }
    client.lastCommand = spec.name;
    if (this.intercept !== null && this.intercept(spec, ctx, argv, this.runCheckedFn)) return;
    this.runChecked(ctx, spec, argv);
  }

  /** Arity, auth and gate checks, then the handler, with per-command stats. */
  private runChecked(ctx: CommandContext, spec: CommandSpec, argv: readonly Buffer[]): void {
    const out = ctx.out;
    const client = ctx.client;
    const st = this.stats.get(spec.name);
    if (!arityOk(spec, argv.length)) return this.reject(ctx, st, `ERR wrong number of arguments for '${spec.name}' command`);
    if (!client.authenticated && !spec.flags.includes('noauth')) {
      if (this.requirePass() === null) client.authenticated = true; // password was removed at runtime
      else return this.reject(ctx, st, 'NOAUTH Authentication required.');
    }
    if (this.gate !== null) {
      const err = this.gate(spec, argv, client);
      if (err !== null) return this.reject(ctx, st, err);
    }
    // Redis checks maxmemory before a disk error; a replica's gate already refused writes.
    if (this.memory !== null) {
      const oom = this.memory.admit(spec);
      if (oom !== null) return this.reject(ctx, st, oom);
    }
    // Like Redis's stop-writes-on-bgsave-error: reads, PING and INFO keep working.
    const refusal = this.writes.writeRefusal;
    if (refusal !== null && spec.flags.includes('write')) return this.reject(ctx, st, refusal);
    // RESP2 has no push type: a subscribed connection's input may only manage its subscriptions.
    const subs = ctx.pubsub;
    if (subs !== undefined && subs.total > 0 && client.protocol === 2 && !SUBSCRIBED_MODE_COMMANDS.has(spec.name)) {
      const full = spec.subcommands !== undefined && argv.length > 1 ? `${spec.name}|${(argv[1] as Buffer).toString('latin1').toLowerCase()}` : spec.name;
      return this.reject(ctx, st, `ERR Can't execute '${full}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`);
    }
    const errorsBefore = errorCount(out);
    // One clock read per command inside a read event, not two: a pipelined command's time starts
    // where the previous command's ended, so it also counts parsing and checking this command
    // (synchronous, no I/O). The first command of an event and commands outside one read their
    // own start. Clock reads are not free (docs/perf-notes.md, 'Clock reads').
    const t0 = this.chainMs >= 0 ? this.chainMs : performance.now();
    const lookups = this.writes.lookupStats;
    if (lookups !== undefined) lookups.counting = spec.flags.includes('readonly');
    spec.handler(ctx, argv);
    if (lookups !== undefined) lookups.counting = false;
    const t1 = performance.now();
    if (this.inEvent) this.chainMs = t1;
    const dt = t1 - t0;
    const failed = errorCount(out) !== errorsBefore;
    if (failed) this.countError(lastError(out));
    this.stats.recordCall(st, dt, failed);
  }

  private reject(ctx: CommandContext, st: { rejectedCalls: number }, msg: string): void {
    st.rejectedCalls++;
    this.countError(msg);
    ctx.out.error(msg);
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

/** The last error text the encoder wrote (empty when the writer does not record it). */
function lastError(out: object): string {
  return 'lastError' in out && typeof out.lastError === 'string' ? out.lastError : '';
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
