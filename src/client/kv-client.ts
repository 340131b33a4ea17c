// KvClient: the topology-aware client. Owns routing (writes to the primary, reads where the
// consistency mode allows), the one attempt loop of single commands and pipelines (one deadline
// per operation, bounded backoff, redirects, refreshes; what each outcome means is decided by
// retry-policy.ts, never here), session tokens, and topology discovery/refresh with events. The
// wire is @redis/client (node-conn.ts).

import assert from 'node:assert';
import { EventEmitter } from 'node:events';
import type { ConnectionOptions } from 'node:tls';
import type { TypeMapping } from '@redis/client';
import { commandKind, leastSafeKind, type CommandKind } from '../protocol/command-kinds.js';
import { KvError, SessionLostError, OutcomeUnknownError, UnavailableError } from './errors.js';
import { scoreArg, toRecord, toScore, toScoredValues, toStrings, type ScoredValue } from './collection-replies.js';
import { BUFFER_TYPES, NodeConn, STRING_TYPES, WIRE_TYPES, type Arg, type SendOutcome } from './node-conn.js';
import {
  afterPosition,
  decide,
  giveUp,
  outcomeOfCommand,
  reduceAttempt,
  serverErrorName,
  type AttemptOutcome,
  type Consistency,
  type FailWith,
} from './retry-policy.js';
import { diffViews, viewFromRole, viewFromTopology, type Decoded, type TopologyView } from './topology.js';

export type { Consistency } from './retry-policy.js';
export { REDIRECT_HOPS_MAX } from './retry-policy.js';
export type ReadFrom = 'primary' | 'replica' | 'any';

export interface KvClientOptions {
  /** "host:port" of any members; the client discovers the rest. */
  readonly seeds: readonly string[];
  readonly password?: string | undefined;
  readonly username?: string | undefined;
  /** Default 'eventual'. See docs/consistency.md for what each mode guarantees and loses. */
  readonly consistency?: Consistency | undefined;
  /** Where reads go in eventual/session mode (quorum reads always go to the primary). Default 'primary'. */
  readonly readFrom?: ReadFrom | undefined;
  /** RESP protocol version of every connection. Default 2. */
  readonly resp?: 2 | 3 | undefined;
  /** Total time one operation may take, all retries included. Default 10 s. */
  readonly timeoutMs?: number | undefined;
  /** One attempt without a reply after this long kills its connection. Default 5 s. */
  readonly commandTimeoutMs?: number | undefined;
  readonly connectTimeoutMs?: number | undefined;
  /**
   * How long connect() keeps trying when no seed answers at all. Default timeoutMs; 0 tries each
   * seed once (what a command-line tool wants: "connection refused" at once).
   */
  readonly discoverTimeoutMs?: number | undefined;
  /** Periodic topology refresh; 0 disables it (refreshes still happen on redirects and errors). Default 5 s. */
  readonly refreshIntervalMs?: number | undefined;
  /** First retry delay; doubles per attempt up to backoffMaxMs, with full jitter. Defaults 25 / 500 ms. */
  readonly backoffBaseMs?: number | undefined;
  readonly backoffMaxMs?: number | undefined;
  /**
   * May an idempotent write (plain SET, MSET) be sent again after an attempt of unknown outcome?
   * Default: yes in eventual and session mode, no in quorum mode, where a repeated SET could land
   * after another client's write and break linearizability.
   */
  readonly retryIdempotentWrites?: boolean | undefined;
  /**
   * Connect to every node with TLS, with these node:tls options (`ca`, and `cert`/`key` when the
   * servers require a client certificate). The addresses the nodes report are then their TLS ports.
   */
  readonly tls?: ConnectionOptions | undefined;
}

export interface SetOptions {
  readonly ex?: number;
  readonly px?: number;
  readonly exat?: number;
  readonly pxat?: number;
  readonly nx?: boolean;
  readonly xx?: boolean;
  readonly keepTtl?: boolean;
  /** Return the old value (SET ... GET). */
  readonly get?: boolean;
}

/** RESTORE's options. */
export interface RestoreOptions {
  /** Overwrite an existing key. */
  readonly replace?: boolean;
  /** The TTL is an absolute Unix time in ms. */
  readonly absTtl?: boolean;
  /** The key's idle time (under an LRU maxmemory policy). */
  readonly idleSeconds?: number;
  /** The key's access-frequency counter, 0-255 (under an LFU policy). */
  readonly freq?: number;
}

export interface ScanOptions {
  readonly match?: string;
  readonly count?: number;
}

/** Result of one pipelined command: [error, null] or [null, value], in order. */
export type PipelineResult = [KvError, null] | [null, unknown];

export interface KvClientStatus {
  readonly topology: TopologyView | null;
  readonly consistency: Consistency;
  readonly sessionToken: string | null;
  readonly openConnections: number;
}

/** How long a node that refused a connection is avoided for reads. */
export const NODE_DOWN_MS = 1000;
/** A topology refresh waits at most this long for answers; slower nodes are left to the next refresh. */
export const DISCOVER_WAIT_MS_MAX = 1_000;
/** Seeds + discovered members kept; more is a configuration error. */
export const NODES_MAX = 64;

const DEFAULTS = {
  timeoutMs: 10_000,
  commandTimeoutMs: 5_000,
  connectTimeoutMs: 1_000,
  refreshIntervalMs: 5_000,
  backoffBaseMs: 25,
  backoffMaxMs: 500,
} as const;

/** One operation: a single command, or a pipeline's batch. */
interface Operation {
  readonly cmds: readonly (readonly Arg[])[];
  readonly kinds: readonly CommandKind[];
  /** The least safe of its commands' kinds. */
  readonly kind: CommandKind;
  /** In messages: the command's name, or 'pipeline'. */
  readonly name: string;
  /** A pipeline: each command's reply or error is a result; only the whole batch is retried. */
  readonly batch: boolean;
  readonly types: TypeMapping;
}

/** One attempt of an operation: its outcome, the kind to decide it for, and the error behind the outcome. */
interface Attempt {
  readonly outcome: AttemptOutcome;
  readonly kind: CommandKind;
  readonly error: Error | null;
  /** Every command's outcome (all replies or errors when the outcome is 'reply'). */
  readonly outs: readonly SendOutcome[];
}

function operation(cmds: readonly (readonly Arg[])[], types: TypeMapping, batch: boolean, kinds: readonly CommandKind[] = cmds.map(commandKind)): Operation {
  return { cmds, kinds, kind: leastSafeKind(kinds), name: batch ? 'pipeline' : name(cmds[0] ?? []), batch, types };
}

/** The later of two "<epoch>:<seq>" tokens by seq, then epoch (the server's own order). */
function laterToken(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  const [ea, sa] = a.split(':').map(Number) as [number, number];
  const [eb, sb] = b.split(':').map(Number) as [number, number];
  return sb > sa || (sb === sa && eb > ea) ? b : a;
}

const TOKEN = /^\d{1,10}:\d{1,16}$/;

export class KvClient extends EventEmitter {
  private readonly o: Required<Omit<KvClientOptions, 'password' | 'username' | 'tls'>> & Pick<KvClientOptions, 'password' | 'username' | 'tls'>;
  private view: TopologyView | null = null;
  private readonly conns = new Map<string, NodeConn>();
  private readonly opening = new Map<string, Promise<NodeConn | { failed: Error; reply: boolean }>>();
  private readonly downUntil = new Map<string, number>();
  private refreshing: Promise<TopologyView | null> | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private token: string | null = null;
  /** Session mode: the node that acknowledged a write whose POSITION reply was lost (see settleOwedPosition). */
  private positionOwedBy: string | null = null;
  private rr = 0;
  private closed = false;
  /** A node refused the connection's setup (AuthError, NoQuorumError, …); connect() throws it. */
  private setupError: Error | null = null;
  /** The latest failure to open a connection (connect() reports it when no seed answers). */
  private lastConnectError: Error | null = null;

  private constructor(options: KvClientOptions) {
    super();
    const consistency = options.consistency ?? 'eventual';
    this.o = {
      seeds: options.seeds,
      password: options.password,
      username: options.username,
      consistency,
      readFrom: options.readFrom ?? 'primary',
      resp: options.resp ?? 2,
      timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
      commandTimeoutMs: options.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      discoverTimeoutMs: options.discoverTimeoutMs ?? options.timeoutMs ?? DEFAULTS.timeoutMs,
      refreshIntervalMs: options.refreshIntervalMs ?? DEFAULTS.refreshIntervalMs,
      backoffBaseMs: options.backoffBaseMs ?? DEFAULTS.backoffBaseMs,
      backoffMaxMs: options.backoffMaxMs ?? DEFAULTS.backoffMaxMs,
      retryIdempotentWrites: options.retryIdempotentWrites ?? consistency !== 'quorum',
      tls: options.tls,
    };
  }

  /**
   * Discovers the topology from the first seed that answers and opens a connection to the
   * primary, so a wrong password or a mode the cluster cannot serve fails here, not later.
   */
  static async connect(options: KvClientOptions): Promise<KvClient> {
    if (options.seeds.length === 0) throw new KvError('ERR', 'KvClient needs at least one seed address');
    if (options.seeds.length > NODES_MAX) throw new KvError('ERR', `at most ${NODES_MAX} seeds`);
    const c = new KvClient(options);
    try {
      const deadline = Date.now() + c.o.discoverTimeoutMs;
      let view = await c.refreshTopology();
      for (let attempt = 0; view === null || view.primary === null; attempt++) {
        if (c.setupError !== null) throw c.setupError;
        if (Date.now() >= deadline) {
          if (view === null) {
            const why = c.lastConnectError?.message ?? 'no answer';
            throw new UnavailableError(`no seed answered within ${c.o.discoverTimeoutMs} ms (${options.seeds.join(', ')}): ${why}`, { cause: c.lastConnectError });
          }
          break; // Reachable but leaderless: operations will wait for an election within their own deadlines.
        }
        await c.backoff(attempt, deadline);
        view = await c.refreshTopology();
      }
      if (view?.primary !== null && view?.primary !== undefined) {
        const conn = await c.connection(view.primary);
        if (!(conn instanceof NodeConn) && conn.reply) throw conn.failed;
      }
    } catch (e) {
      await c.close();
      throw e;
    }
    if (c.o.refreshIntervalMs > 0) {
      c.refreshTimer = setInterval(() => void c.refreshTopology(), c.o.refreshIntervalMs);
      c.refreshTimer.unref();
    }
    return c;
  }

  // ============================================================== typed commands

  get(key: Arg): Promise<string | null> {
    return this.exec(['GET', key]) as Promise<string | null>;
  }
  getBuffer(key: Arg): Promise<Buffer | null> {
    return this.exec(['GET', key], BUFFER_TYPES) as Promise<Buffer | null>;
  }
  /** 'OK', or null when NX/XX prevented it; with `get: true` the old value (or null). */
  set(key: Arg, value: Arg | number, opts: SetOptions = {}): Promise<string | null> {
    const args: Arg[] = ['SET', key, typeof value === 'number' ? String(value) : value];
    if (opts.ex !== undefined) args.push('EX', String(opts.ex));
    if (opts.px !== undefined) args.push('PX', String(opts.px));
    if (opts.exat !== undefined) args.push('EXAT', String(opts.exat));
    if (opts.pxat !== undefined) args.push('PXAT', String(opts.pxat));
    if (opts.nx === true) args.push('NX');
    if (opts.xx === true) args.push('XX');
    if (opts.keepTtl === true) args.push('KEEPTTL');
    if (opts.get === true) args.push('GET');
    return this.exec(args) as Promise<string | null>;
  }
  del(...keys: Arg[]): Promise<number> {
    return this.exec(['DEL', ...keys]) as Promise<number>;
  }
  exists(...keys: Arg[]): Promise<number> {
    return this.exec(['EXISTS', ...keys]) as Promise<number>;
  }
  mget(...keys: Arg[]): Promise<(string | null)[]> {
    return this.exec(['MGET', ...keys]) as Promise<(string | null)[]>;
  }
  mset(entries: Record<string, Arg | number> | ReadonlyArray<readonly [Arg, Arg | number]>): Promise<string> {
    const pairs = Array.isArray(entries) ? (entries as ReadonlyArray<readonly [Arg, Arg | number]>) : Object.entries(entries);
    const args: Arg[] = ['MSET'];
    for (const [k, v] of pairs) args.push(k, typeof v === 'number' ? String(v) : v);
    return this.exec(args) as Promise<string>;
  }
  incr(key: Arg): Promise<number> {
    return this.exec(['INCR', key]) as Promise<number>;
  }
  incrBy(key: Arg, by: number): Promise<number> {
    return this.exec(['INCRBY', key, String(by)]) as Promise<number>;
  }
  decr(key: Arg): Promise<number> {
    return this.exec(['DECR', key]) as Promise<number>;
  }
  decrBy(key: Arg, by: number): Promise<number> {
    return this.exec(['DECRBY', key, String(by)]) as Promise<number>;
  }
  incrByFloat(key: Arg, by: number): Promise<string> {
    return this.exec(['INCRBYFLOAT', key, String(by)]) as Promise<string>;
  }
  append(key: Arg, value: Arg): Promise<number> {
    return this.exec(['APPEND', key, value]) as Promise<number>;
  }
  strlen(key: Arg): Promise<number> {
    return this.exec(['STRLEN', key]) as Promise<number>;
  }
  getDel(key: Arg): Promise<string | null> {
    return this.exec(['GETDEL', key]) as Promise<string | null>;
  }
  expire(key: Arg, seconds: number): Promise<number> {
    return this.exec(['EXPIRE', key, String(seconds)]) as Promise<number>;
  }
  pexpire(key: Arg, ms: number): Promise<number> {
    return this.exec(['PEXPIRE', key, String(ms)]) as Promise<number>;
  }
  ttl(key: Arg): Promise<number> {
    return this.exec(['TTL', key]) as Promise<number>;
  }
  pttl(key: Arg): Promise<number> {
    return this.exec(['PTTL', key]) as Promise<number>;
  }
  persist(key: Arg): Promise<number> {
    return this.exec(['PERSIST', key]) as Promise<number>;
  }
  type(key: Arg): Promise<string> {
    return this.exec(['TYPE', key]) as Promise<string>;
  }
  /** The key's value in Redis's DUMP format (RESTORE takes it on kv-server and redis-server alike); null when missing. */
  dump(key: Arg): Promise<Buffer | null> {
    return this.exec(['DUMP', key], BUFFER_TYPES) as Promise<Buffer | null>;
  }
  /**
   * RESTORE: create `key` from a DUMP payload, expiring in `ttlMs` (0: never; an absolute time in
   * ms with `absTtl`). 'OK'; rejects with BUSYKEY when the key exists and `replace` is not set.
   */
  restore(key: Arg, ttlMs: number, payload: Buffer, opts: RestoreOptions = {}): Promise<string> {
    const args: Arg[] = ['RESTORE', key, String(ttlMs), payload];
    if (opts.replace === true) args.push('REPLACE');
    if (opts.absTtl === true) args.push('ABSTTL');
    if (opts.idleSeconds !== undefined) args.push('IDLETIME', String(opts.idleSeconds));
    if (opts.freq !== undefined) args.push('FREQ', String(opts.freq));
    return this.exec(args) as Promise<string>;
  }

  // Hashes, sets, sorted sets and lists: routed and retried as every command (command-kinds.ts says
  // which are reads and which writes may be resent); replies mapped by collection-replies.ts.

  /** Set fields; the number of fields that were new. */
  hset(key: Arg, fields: Readonly<Record<string, Arg | number>> | ReadonlyMap<Arg, Arg | number>): Promise<number> {
    const args: Arg[] = ['HSET', key];
    const entries = fields instanceof Map ? [...fields.entries()] : Object.entries(fields);
    for (const [f, v] of entries as Array<[Arg, Arg | number]>) args.push(f, typeof v === 'number' ? String(v) : v);
    return this.exec(args) as Promise<number>;
  }
  hget(key: Arg, field: Arg): Promise<string | null> {
    return this.exec(['HGET', key, field]) as Promise<string | null>;
  }
  /** Every field and value as an object (as node-redis); {} when the key is missing. */
  async hgetall(key: Arg): Promise<Record<string, string>> {
    return toRecord(await this.exec(['HGETALL', key]));
  }
  hdel(key: Arg, ...fields: Arg[]): Promise<number> {
    return this.exec(['HDEL', key, ...fields]) as Promise<number>;
  }
  hlen(key: Arg): Promise<number> {
    return this.exec(['HLEN', key]) as Promise<number>;
  }
  hincrBy(key: Arg, field: Arg, by: number): Promise<number> {
    return this.exec(['HINCRBY', key, field, String(by)]) as Promise<number>;
  }
  sadd(key: Arg, ...members: Arg[]): Promise<number> {
    return this.exec(['SADD', key, ...members]) as Promise<number>;
  }
  srem(key: Arg, ...members: Arg[]): Promise<number> {
    return this.exec(['SREM', key, ...members]) as Promise<number>;
  }
  async smembers(key: Arg): Promise<string[]> {
    return toStrings(await this.exec(['SMEMBERS', key]));
  }
  /** 1 when `member` is in the set, else 0. */
  sismember(key: Arg, member: Arg): Promise<number> {
    return this.exec(['SISMEMBER', key, member]) as Promise<number>;
  }
  scard(key: Arg): Promise<number> {
    return this.exec(['SCARD', key]) as Promise<number>;
  }
  /** Add members or update their scores; the number of members that were new. */
  zadd(key: Arg, members: ScoredMember | readonly ScoredMember[]): Promise<number> {
    const list: readonly ScoredMember[] = Array.isArray(members) ? members : [members as ScoredMember];
    const args: Arg[] = ['ZADD', key];
    for (const m of list) args.push(scoreArg(m.score), m.value);
    return this.exec(args) as Promise<number>;
  }
  /** The member's new score. Never resent after an unknown outcome (it is not idempotent). */
  async zincrBy(key: Arg, by: number, member: Arg): Promise<number> {
    return toScore(await this.exec(['ZINCRBY', key, scoreArg(by), member])) as number;
  }
  zrem(key: Arg, ...members: Arg[]): Promise<number> {
    return this.exec(['ZREM', key, ...members]) as Promise<number>;
  }
  async zscore(key: Arg, member: Arg): Promise<number | null> {
    return toScore(await this.exec(['ZSCORE', key, member]));
  }
  zcard(key: Arg): Promise<number> {
    return this.exec(['ZCARD', key]) as Promise<number>;
  }
  /** Members by rank, `start`/`stop` inclusive, negative from the end; `rev` from the highest score. */
  async zrange(key: Arg, start: number, stop: number, opts: { readonly rev?: boolean } = {}): Promise<string[]> {
    return toStrings(await this.exec(zrangeArgs(key, start, stop, opts.rev === true, false)));
  }
  async zrangeWithScores(key: Arg, start: number, stop: number, opts: { readonly rev?: boolean } = {}): Promise<ScoredValue[]> {
    return toScoredValues(await this.exec(zrangeArgs(key, start, stop, opts.rev === true, true)));
  }

  // Lists: every write is positional or counts what is there, so none is resent after an
  // unknown outcome (command-kinds.ts); LLEN / LRANGE / LINDEX / LPOS are reads.

  /** Prepend elements (each in turn); the list's new length. */
  lpush(key: Arg, ...elements: Arg[]): Promise<number> {
    return this.exec(['LPUSH', key, ...elements]) as Promise<number>;
  }
  /** Append elements; the list's new length. */
  rpush(key: Arg, ...elements: Arg[]): Promise<number> {
    return this.exec(['RPUSH', key, ...elements]) as Promise<number>;
  }
  /** The first element, removed; null when the key is missing. */
  lpop(key: Arg): Promise<string | null> {
    return this.exec(['LPOP', key]) as Promise<string | null>;
  }
  /** The last element, removed; null when the key is missing. */
  rpop(key: Arg): Promise<string | null> {
    return this.exec(['RPOP', key]) as Promise<string | null>;
  }
  /** Up to `count` elements from the head, removed; null when the key is missing. */
  async lpopCount(key: Arg, count: number): Promise<string[] | null> {
    const r = await this.exec(['LPOP', key, String(count)]);
    return r === null ? null : toStrings(r);
  }
  /** Up to `count` elements from the tail, removed (tail first); null when the key is missing. */
  async rpopCount(key: Arg, count: number): Promise<string[] | null> {
    const r = await this.exec(['RPOP', key, String(count)]);
    return r === null ? null : toStrings(r);
  }
  llen(key: Arg): Promise<number> {
    return this.exec(['LLEN', key]) as Promise<number>;
  }
  /** Elements `start`..`stop` inclusive, negative from the end. */
  async lrange(key: Arg, start: number, stop: number): Promise<string[]> {
    return toStrings(await this.exec(['LRANGE', key, String(start), String(stop)]));
  }
  lindex(key: Arg, index: number): Promise<string | null> {
    return this.exec(['LINDEX', key, String(index)]) as Promise<string | null>;
  }
  lset(key: Arg, index: number, element: Arg): Promise<string> {
    return this.exec(['LSET', key, String(index), element]) as Promise<string>;
  }
  /** Remove elements equal to `element` (count > 0 from the head, < 0 from the tail, 0 all); how many. */
  lrem(key: Arg, count: number, element: Arg): Promise<number> {
    return this.exec(['LREM', key, String(count), element]) as Promise<number>;
  }
  ltrim(key: Arg, start: number, stop: number): Promise<string> {
    return this.exec(['LTRIM', key, String(start), String(stop)]) as Promise<string>;
  }
  /** Pop from one end of `source` and push onto one end of `destination`; the element, or null when `source` is missing. */
  lmove(source: Arg, destination: Arg, from: 'LEFT' | 'RIGHT', to: 'LEFT' | 'RIGHT'): Promise<string | null> {
    return this.exec(['LMOVE', source, destination, from, to]) as Promise<string | null>;
  }

  /**
   * Every key (matching `match`) via SCAN on one node. If that node fails mid-way the scan
   * restarts on another node, so a key may be yielded twice — SCAN's own guarantee allows
   * that; every key present for the whole iteration is yielded at least once.
   */
  async *scan(opts: ScanOptions = {}): AsyncGenerator<string, void, undefined> {
    let cursor = '0';
    let node: string | null = null;
    do {
      const args: Arg[] = ['SCAN', cursor];
      if (opts.match !== undefined) args.push('MATCH', opts.match);
      if (opts.count !== undefined) args.push('COUNT', String(opts.count));
      const { outs, address } = await this.run(operation([args], STRING_TYPES, false, ['read']), node);
      if (node !== null && address !== node) {
        node = address; // Another node answered: its cursors mean something else; start over there.
        cursor = '0';
        continue;
      }
      node = address;
      const [next, keys] = replyOf(outs) as [string, string[]];
      for (const k of keys) yield k;
      cursor = next;
    } while (cursor !== '0');
  }

  /** Any command; bulk replies as UTF-8 strings. Unknown commands are treated as non-idempotent writes. */
  raw(command: string, ...args: (Arg | number)[]): Promise<unknown> {
    return this.exec([command, ...args.map((a) => (typeof a === 'number' ? String(a) : a))]);
  }

  /**
   * Any command with the reply's wire types kept (status → string, bulk → Buffer, RESP3 map →
   * Map, set → Set, nested errors as Error values): for tools that print replies like redis-cli.
   */
  async rawTyped(args: readonly Arg[]): Promise<Decoded> {
    const { outs } = await this.run(operation([args], WIRE_TYPES, false), null);
    return replyOf(outs);
  }

  /**
   * One command on one named node, not routed and not retried: for commands that describe that
   * node (INFO, ROLE, TOPOLOGY, DEBUG DIGEST, CONFIG, …). Server errors come back typed.
   */
  async rawTypedAt(address: string, args: readonly Arg[]): Promise<Decoded> {
    const conn = await this.connection(address);
    if (!(conn instanceof NodeConn)) {
      if (conn.reply) throw conn.failed;
      throw new UnavailableError(`cannot connect to ${address}: ${conn.failed.message}`, { cause: conn.failed });
    }
    const out = await conn.send(args, WIRE_TYPES);
    if (out.kind === 'reply') return out.value;
    if (out.kind === 'error') throw out.error;
    if (out.kind === 'notSent') throw new UnavailableError(`${name(args)}: not sent to ${address}: ${out.cause.message}`, { cause: out.cause });
    throw new OutcomeUnknownError(name(args), `${name(args)}: the connection to ${address} failed after the command was sent`, { cause: out.cause });
  }

  pipeline(): Pipeline {
    return new Pipeline(this);
  }

  // ============================================================== status

  /** The current topology as last discovered (null before the first answer). */
  topology(): TopologyView | null {
    return this.view;
  }

  status(): KvClientStatus {
    return { topology: this.view, consistency: this.o.consistency, sessionToken: this.token, openConnections: this.conns.size };
  }

  /** Session mode: the position of everything this client has written or read ("<epoch>:<seq>"). */
  sessionToken(): string | null {
    return this.token;
  }

  /**
   * Session mode: accept a SessionLostError (or start a new session): forget the token, so reads
   * no longer demand the discarded position.
   */
  resetSession(): void {
    this.token = null;
    this.positionOwedBy = null;
    // A connection keeps the token it was shown (server side) until it closes; new ones start clean.
    for (const c of [...this.conns.values()]) c.kill(new Error('session reset'));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.refreshTimer !== null) clearInterval(this.refreshTimer);
    this.refreshTimer = null;
    for (const c of [...this.conns.values()]) c.kill(new Error('client closed'));
    this.conns.clear();
    const pending = [...this.opening.values()];
    this.opening.clear();
    for (const p of await Promise.all(pending)) if (p instanceof NodeConn) p.kill(new Error('client closed'));
  }

  /** Asks the known nodes (primary first, then replicas, then seeds) for the topology; emits changes. */
  refreshTopology(): Promise<TopologyView | null> {
    this.refreshing ??= this.discover().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  // ============================================================== execution

  /** @internal */
  async exec(args: readonly Arg[], types: TypeMapping = STRING_TYPES): Promise<unknown> {
    const { outs } = await this.run(operation([args], types, false), null);
    return replyOf(outs);
  }

  /**
   * One operation: attempts until a reply, a final error, or the deadline; what each attempt's
   * outcome means is retry-policy.ts's decide(). `pinned`: prefer this node (SCAN continuing on
   * the node that owns its cursor). Resolves with every command's reply (an error reply among
   * them only for a pipeline) and the node that gave them.
   */
  private async run(op: Operation, pinned: string | null): Promise<{ outs: readonly SendOutcome[]; address: string }> {
    const deadline = Date.now() + this.o.timeoutMs;
    /** Pipelines go to the primary; reads go there too after a TOOSTALE. */
    let readsToPrimary = op.batch;
    let redirect: string | null = null;
    let hops = 0;
    /** The cause of a lost attempt that may have taken effect. */
    let mayHaveRun: Error | null = null;
    let last: Attempt | null = null;
    for (let attempt = 0; ; ) {
      if (this.closed) throw new KvError('CLOSED', 'the client is closed');
      if (Date.now() >= deadline) throw this.failure(op, giveUp(mayHaveRun !== null, last?.outcome ?? null), 'deadline', null, last?.error ?? null, mayHaveRun);
      const address = redirect ?? this.route(op.kind, readsToPrimary, pinned);
      redirect = null;
      if (address === null) {
        await this.refreshTopology();
        if (this.route(op.kind, readsToPrimary, pinned) === null) await this.backoff(attempt++, deadline);
        continue;
      }
      if (await this.awaitRefreshIfDown(address)) continue;
      const a = await this.attempt(op, address);
      const d = decide(a.outcome, {
        kind: a.kind,
        consistency: this.o.consistency,
        retryIdempotentWrites: this.o.retryIdempotentWrites,
        address,
        redirectHops: hops,
        deadlinePassed: Date.now() >= deadline,
        earlierMayHaveRun: mayHaveRun !== null,
      });
      if (d.action === 'return') return { outs: a.outs, address };
      if (d.action === 'fail') {
        if (d.refresh) void this.refreshTopology();
        throw this.failure(op, d.error, d.at, address, a.error, mayHaveRun ?? a.error);
      }
      last = a;
      if (d.readsToPrimary) {
        readsToPrimary = true;
        pinned = null;
      }
      if (d.action === 'redirect') {
        if (d.refresh) void this.refreshTopology();
        if (d.learnPrimary) this.notePrimary(d.to);
        redirect = d.to;
        hops++;
        continue;
      }
      if (d.mayHaveRun) mayHaveRun = a.error;
      if (d.markDown) {
        // The node stopped answering (dead, frozen, cut off). Mark it, so the next attempt waits
        // for the refresh below (awaitRefreshIfDown) instead of spending another command timeout
        // on it, and reads avoid it for a while.
        this.downUntil.set(address, Date.now() + NODE_DOWN_MS);
        if (pinned === address) pinned = null;
      }
      void this.refreshTopology();
      await this.backoff(attempt++, deadline);
    }
  }

  /**
   * `address` just stopped answering and a refresh is under way: wait for it (at most
   * DISCOVER_WAIT_MS_MAX; true: route again) instead of spending another command timeout on the
   * same node — after a primary froze, the retry otherwise reached it again before the refresh
   * learnt the new primary (a session-mode connection's setup there hung a whole command
   * timeout, so a SET failed after 10 s although a new primary took writes after 1 s).
   */
  private async awaitRefreshIfDown(address: string): Promise<boolean> {
    const r = this.refreshing;
    if (r === null || (this.downUntil.get(address) ?? 0) <= Date.now()) return false;
    await r;
    return true;
  }

  /**
   * The error a failed operation throws. `cause`: the error behind the deciding outcome (a typed
   * server error is thrown as it is); `unknownCause`: the loss that may have taken effect.
   */
  private failure(op: Operation, error: FailWith, at: 'attempt' | 'deadline', address: string | null, cause: Error | null, unknownCause: Error | null): Error {
    if (error === 'OutcomeUnknownError') {
      if (at === 'attempt') {
        const what = op.batch ? 'it was sent; its writes' : 'the command was sent; it';
        return new OutcomeUnknownError(op.name, `${op.name}: the connection to ${address ?? '?'} failed after ${what} may or may not have taken effect`, { cause });
      }
      return new OutcomeUnknownError(op.name, `${op.name}: no confirmed reply within ${this.o.timeoutMs} ms and an earlier attempt may have taken effect`, { cause: unknownCause ?? cause });
    }
    if (error === 'UnavailableError') {
      return new UnavailableError(`${op.name}: no node could serve it within ${this.o.timeoutMs} ms${cause !== null ? ` (last error: ${cause.message})` : ''}`, { cause });
    }
    // The typed error a node answered: the decision and the error must agree.
    assert.ok(cause instanceof KvError && serverErrorName(cause) === error, `retry policy chose ${error} for ${String(cause)}`);
    return cause;
  }

  /** One attempt of `op` on `address`: connect, send (in session mode with token and POSITION), reduce. */
  private async attempt(op: Operation, address: string): Promise<Attempt> {
    const conn = await this.connection(address);
    if (conn instanceof NodeConn) return this.send(conn, op);
    // The node answered the connection's setup with an error (wrong password, a mode it cannot
    // serve): asking again would not help. Otherwise the connection never opened.
    const outcome: AttemptOutcome = conn.reply && conn.failed instanceof KvError ? { type: 'setupRefused', error: serverErrorName(conn.failed) } : { type: 'notSent' };
    return { outcome, kind: op.kind, error: conn.failed, outs: [] };
  }

  /**
   * Sends the operation's commands pipelined on one connection: one round trip. In session mode
   * an owed position is settled before a read, the token is presented before reads, and POSITION
   * follows the commands.
   */
  private async send(conn: NodeConn, op: Operation): Promise<Attempt> {
    const session = this.o.consistency === 'session';
    const reads = op.kinds.includes('read');
    if (session && reads && this.positionOwedBy !== null) {
      const lost = await this.settleOwedPosition();
      if (lost !== null) return { outcome: { type: 'sessionLost' }, kind: op.kind, error: lost, outs: [] };
    }
    const present = session && reads && this.token !== null && conn.presentedToken !== this.token ? this.token : null;
    const pre = present !== null ? conn.send(['CONSISTENCY', 'SESSION', present], STRING_TYPES) : null;
    const sent = op.cmds.map((c) => conn.send(c, op.types));
    const post = session ? conn.send(['POSITION'], STRING_TYPES) : null;
    const outs = await Promise.all(sent);
    const p = pre === null ? null : await pre;
    const pos = post === null ? null : await post;
    if (p !== null && p.kind === 'reply') conn.presentedToken = present;
    const r = reduceAttempt(op.kinds, outs.map(outcomeOfCommand), p === null ? null : outcomeOfCommand(p), this.o.consistency, op.batch);
    const from = r.from === 'pre' ? p : r.from === null ? null : (outs[r.from] ?? null);
    if (r.outcome.type !== 'reply' || pos === null) return { outcome: r.outcome, kind: r.kind, error: errorOf(from), outs };
    switch (afterPosition(op.kind, outcomeOfCommand(pos))) {
      case 'advance':
        if (pos.kind === 'reply' && typeof pos.value === 'string' && TOKEN.test(pos.value)) this.token = laterToken(this.token, pos.value);
        break;
      case 'owe':
        this.positionOwedBy = conn.address;
        break;
      case 'retryRead':
        return { outcome: outcomeOfCommand(pos), kind: op.kind, error: errorOf(pos), outs };
    }
    return { outcome: r.outcome, kind: r.kind, error: null, outs };
  }

  /**
   * A node acknowledged a write but its POSITION never arrived: ask that node again (its
   * position covers the write while the write is in its history). If it cannot be asked, the
   * session cannot vouch for read-your-writes any more: SessionLostError until resetSession().
   */
  private async settleOwedPosition(): Promise<SessionLostError | null> {
    const address = this.positionOwedBy;
    if (address === null) return null;
    const conn = await this.connection(address);
    if (conn instanceof NodeConn) {
      const pos = await conn.send(['POSITION'], STRING_TYPES);
      if (pos.kind === 'reply' && typeof pos.value === 'string' && TOKEN.test(pos.value)) {
        this.token = laterToken(this.token, pos.value);
        this.positionOwedBy = null;
        return null;
      }
    }
    return new SessionLostError(`SESSIONLOST the position of a write acknowledged by ${address} never arrived and that node cannot be asked; call resetSession() to continue`, undefined);
  }

  /** Where this attempt goes: writes and quorum requests to the primary, reads as readFrom says. */
  private route(kind: CommandKind, toPrimary: boolean, pinned: string | null): string | null {
    if (pinned !== null) return pinned;
    const v = this.view;
    const primary = v?.primary ?? null;
    if (kind !== 'read' || toPrimary || this.o.consistency === 'quorum' || this.o.readFrom === 'primary' || v === null) {
      return primary;
    }
    const now = Date.now();
    const up = (a: string): boolean => (this.downUntil.get(a) ?? 0) <= now;
    const pool = (this.o.readFrom === 'replica' ? [...v.replicas] : [...(primary !== null ? [primary] : []), ...v.replicas]).filter(up);
    if (pool.length === 0) return primary;
    this.rr = (this.rr + 1) % 1_000_000;
    return pool[this.rr % pool.length] as string;
  }

  /** A redirect named a new primary: use it now, before the refresh confirms it. */
  private notePrimary(address: string): void {
    const v = this.view;
    if (v === null || v.primary === address) return;
    this.setView({ ...v, primary: address, replicas: v.replicas.filter((r) => r !== address) });
  }

  private setView(next: TopologyView): void {
    const events = diffViews(this.view, next);
    this.view = next;
    if (events.length === 0) return;
    this.emit('topology', next);
    for (const e of events) this.emit(e.type, e);
  }

  /** The connection to `address`, opening it if needed (one open at a time per node). */
  private async connection(address: string): Promise<NodeConn | { failed: Error; reply: boolean }> {
    const c = this.conns.get(address);
    if (c !== undefined && c.alive) return c;
    let p = this.opening.get(address);
    if (p === undefined) {
      if (this.conns.size + this.opening.size >= NODES_MAX) return { failed: new KvError('ERR', `more than ${NODES_MAX} nodes`), reply: false };
      const setup: Arg[][] = [];
      if (this.o.consistency === 'quorum') setup.push(['CONSISTENCY', 'QUORUM']);
      if (this.o.consistency === 'session') setup.push(['CONSISTENCY', 'SESSION']);
      p = NodeConn.open(
        { address, username: this.o.username, password: this.o.password, resp: this.o.resp, connectTimeoutMs: this.o.connectTimeoutMs, commandTimeoutMs: this.o.commandTimeoutMs, setup, tls: this.o.tls },
        (dead) => {
          if (this.conns.get(dead.address) === dead) this.conns.delete(dead.address);
        },
      );
      this.opening.set(address, p);
      void p.then((r) => {
        this.opening.delete(address);
        if (r instanceof NodeConn) {
          if (this.closed) r.kill(new Error('client closed'));
          else if (r.alive) this.conns.set(address, r);
          this.downUntil.delete(address);
        }
      });
    }
    const r = await p;
    if (!(r instanceof NodeConn)) this.lastConnectError = r.failed;
    if (r instanceof NodeConn && !r.alive) return { failed: new Error(`connection to ${address} closed`), reply: false };
    return r;
  }

  /**
   * Asks every known node at once (primary, replicas, seeds) and believes the first node that
   * names itself primary: its view is complete. One at a time was wrong twice over: a node cut
   * off from the majority answers "no primary" (or still names itself) and was believed while the
   * others already knew the new primary, and a frozen node held every refresh for a command
   * timeout. Without such an answer, the best partial view wins: a primary named (highest epoch)
   * that did not itself deny it, else a leaderless view (operations back off and ask again).
   */
  private async discover(): Promise<TopologyView | null> {
    const v = this.view;
    const known = [...new Set([...(v?.primary != null ? [v.primary] : []), ...(v?.replicas ?? []), ...this.o.seeds])];
    if (this.closed || known.length === 0) return null;
    const answers = await this.askAll(known);
    const self = answers.find((a) => a.primary !== null && a.primary === a.source);
    if (self !== undefined) return this.adopt(self);
    /** Addresses that answered and are not primary by their own account. */
    const denied = new Set(answers.map((a) => a.source));
    const named = answers.filter((a) => a.primary !== null && !denied.has(a.primary)).sort((a, b) => b.epoch - a.epoch)[0];
    if (named !== undefined && named.primary !== null && !known.includes(named.primary)) {
      // A primary none of the known addresses reach (a client seeded with a replica only).
      const full = (await this.askAll([named.primary])).find((a) => a.primary === a.source);
      if (full !== undefined) return this.adopt(full);
    }
    const best = named ?? answers.find((a) => a.primary === null) ?? null;
    return best === null || this.closed ? null : this.adopt(best);
  }

  private adopt(view: TopologyView): TopologyView | null {
    if (this.closed) return null;
    this.setView(view);
    return view;
  }

  /**
   * TOPOLOGY (or ROLE) from each address in parallel. Returns as soon as one node names itself
   * primary (a busy primary may answer after its replicas: their partial views must not win just
   * by being first), or every node answered, or at DISCOVER_WAIT_MS_MAX once some node answered:
   * a refresh never waits longer on a frozen or cut-off node (its ask goes on in the background).
   */
  private askAll(addresses: readonly string[]): Promise<TopologyView[]> {
    if (addresses.length === 0) return Promise.resolve([]);
    const answers: TopologyView[] = [];
    return new Promise<TopologyView[]>((resolve) => {
      let pending = addresses.length;
      let capped = false;
      const finish = (): void => {
        clearTimeout(cap);
        resolve(answers.slice());
      };
      // With no answer at all yet, keep waiting (each ask is bounded by the connect and command
      // timeouts): a single discovery on a loaded machine must not give up on a slow but live node.
      const cap = setTimeout(() => {
        capped = true;
        if (answers.length > 0) finish();
      }, DISCOVER_WAIT_MS_MAX);
      const settle = (found: TopologyView | null): void => {
        pending--;
        if (found !== null) answers.push(found);
        if ((found !== null && found.primary !== null && found.primary === found.source) || pending === 0 || (capped && found !== null)) finish();
      };
      for (const address of addresses) void this.ask(address).then(settle, () => settle(null));
    });
  }

  /** TOPOLOGY from one node, or ROLE where TOPOLOGY is not available (manual replication, Redis). */
  private async ask(address: string): Promise<TopologyView | null> {
    const conn = await this.connection(address);
    if (!(conn instanceof NodeConn)) {
      // The node answered the connection's setup with an error (wrong password, a consistency
      // mode it cannot serve): asking elsewhere would not help; connect() reports it.
      if (conn.reply) this.setupError = conn.failed;
      else this.downUntil.set(address, Date.now() + NODE_DOWN_MS);
      return null;
    }
    const t = await conn.send(['TOPOLOGY'], STRING_TYPES);
    if (t.kind === 'reply') return viewFromTopology(address, t.value);
    if (t.kind !== 'error') return null;
    const r = t.error.code === 'NOAUTH' ? t : await conn.send(['ROLE'], STRING_TYPES);
    // NOAUTH (no password given, the node needs one; a non-cluster node says so only for ROLE,
    // TOPOLOGY being unknown there) is as final as a failed AUTH at connect. Without this,
    // connect() waited out its whole deadline and then reported "no seed answered".
    if (r.kind === 'error' && r.error.code === 'NOAUTH') this.setupError = r.error;
    return r.kind === 'reply' ? viewFromRole(address, r.value) : null;
  }

  /** Sleeps min(max, base·2^attempt)·U(0,1) (full jitter), never past the deadline. */
  private backoff(attempt: number, deadline: number): Promise<void> {
    const cap = Math.min(this.o.backoffMaxMs, this.o.backoffBaseMs * 2 ** Math.min(attempt, 20));
    const ms = Math.max(1, Math.min(deadline - Date.now(), Math.ceil(cap * (0.5 + Math.random() / 2))));
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** @internal Pipeline.exec: one batch to the primary; whole-batch retry only when that is safe. */
  async execBatch(cmds: readonly (readonly Arg[])[]): Promise<PipelineResult[]> {
    const { outs } = await this.run(operation(cmds, STRING_TYPES, true), null);
    return outs.map((o): PipelineResult => {
      if (o.kind === 'reply') return [null, o.value];
      assert.ok(o.kind === 'error', 'a returned batch holds only replies and error replies');
      return [o.error, null];
    });
  }
}

/** A single command's reply (run() resolves only with replies for a single command). */
function replyOf(outs: readonly SendOutcome[]): Decoded {
  const o = outs[0];
  assert.ok(o !== undefined && o.kind === 'reply', 'a single command resolves with its reply');
  return o.value;
}

/** The error behind one command's outcome (null for a reply). */
function errorOf(o: SendOutcome | null): Error | null {
  if (o === null || o.kind === 'reply') return null;
  return o.kind === 'error' ? o.error : o.cause;
}

function name(args: readonly Arg[]): string {
  return String(args[0] ?? '').toUpperCase();
}

/**
 * Commands queued and sent together to the primary by `exec()`, each with its own result. If
 * the connection fails mid-way the whole batch is retried only when every command in it is
 * safe to repeat; otherwise exec() rejects with OutcomeUnknownError.
 */
export class Pipeline {
  private readonly cmds: Arg[][] = [];
  constructor(private readonly client: KvClient) {}

  get length(): number {
    return this.cmds.length;
  }
  raw(command: string, ...args: (Arg | number)[]): this {
    this.cmds.push([command, ...args.map((a) => (typeof a === 'number' ? String(a) : a))]);
    return this;
  }
  get(key: Arg): this {
    return this.raw('GET', key);
  }
  set(key: Arg, value: Arg | number): this {
    return this.raw('SET', key, value);
  }
  del(...keys: Arg[]): this {
    return this.raw('DEL', ...keys);
  }
  incr(key: Arg): this {
    return this.raw('INCR', key);
  }
  incrBy(key: Arg, by: number): this {
    return this.raw('INCRBY', key, by);
  }
  expire(key: Arg, seconds: number): this {
    return this.raw('EXPIRE', key, seconds);
  }
  exists(...keys: Arg[]): this {
    return this.raw('EXISTS', ...keys);
  }
  exec(): Promise<PipelineResult[]> {
    return this.client.execBatch(this.cmds);
  }
}


/** A sorted-set element for KvClient.zadd (node-redis's shape). */
export type ScoredMember = { readonly score: number; readonly value: Arg };

function zrangeArgs(key: Arg, start: number, stop: number, rev: boolean, withScores: boolean): Arg[] {
  const args: Arg[] = ['ZRANGE', key, String(start), String(stop)];
  if (rev) args.push('REV');
  if (withScores) args.push('WITHSCORES');
  return args;
}
