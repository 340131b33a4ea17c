// The network server: accepts connections on host:port, runs commands against one Store,
// and releases replies only when the writes they acknowledge are durable under the fsync
// policy (group commit per event-loop turn, like Redis's beforeSleep). Owns the listener,
// the client registry, the queue of connections whose pipelines wait for their next slice,
// server-wide stats and INFO sections; it never parses RESP or interprets a command's
// arguments (protocol/ and commands/ do). Owns its command table too:
// built from the modules it is given, grown only through addCommands, shared with no other server.

import assert from 'node:assert';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { basename, dirname } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { ParserLimits } from '../protocol/parser.js';
import type { ReplyWriter } from '../protocol/reply.js';
import type { ReplicatedStore } from '../storage/api.js';
import { atomicWriteFileSync } from '../storage/fsutil.js';
import type { Key, Op, Position } from '../storage/types.js';
import { REPLY_ON, type ClientAdminServices, type ClientState, type CommandContext, type CommandModule, type CommandTableView, type PauseMode, type BusyScript, type CommandSpec, type DeferredReply, type ScriptingServices, type ServerServices, type TransactionServices } from './command-types.js';
import { parseShebang, ScriptEngine, type CachedScript, type ScriptFlags, type ScriptLogLevel } from './scripting/lua-engine.js';
import { ReplyCapture } from './scripting/reply-capture.js';
import { MigrateLinks } from './migrate-links.js';
import { decodeLibraries, encodeLibraries, FunctionTable } from './scripting/functions.js';
import { WatchRegistry, type QueuedCommand } from './multi.js';
import { BlockingRegistry, TouchFanout } from './blocking.js';
import { SERVER_COMMAND_MODULES } from './commands/modules.js';
import { CommandTable } from './commands/table.js';
import { ClientRegistry } from './client-registry.js';
import { configGet, configSetMany, rewriteConfigText, type ConfigFacts, type OutputLimit, type ServerConfig } from './config.js';
import { installUserBufferAccept, type SocketReads } from './accept.js';
import { Connection, type ConnectionHost, type LimitClose } from './connection.js';
import { Dispatcher, type CommandGate, type CommandInterceptor, type LateCall } from './dispatch.js';
import { InfoRegistry, type InfoProvider } from './info.js';
import { CommandStatsTable } from './latency.js';
import { SlowLog } from './slowlog.js';
import { LATENCY_EVENTS, LatencyMonitor } from './latency-monitor.js';
import { CommandTimingObserver } from './introspection.js';
import { registerDefaultInfoSections, type ServerCounters } from './info-sections.js';
import { MaxmemoryGuard, MemoryGauge } from './memory.js';
import { PubSubHub } from './pubsub.js';
import { createdKeyCandidates, KeyspaceNotifier, NOTIFY } from './keyspace-events.js';
import { resetClientTracking, TrackingHub } from './tracking.js';
import { ClientPause } from './client-pause.js';
import { MonitorFeed } from './monitor.js';
import { handshakeReason, loadTlsMaterial, refusedOptionalCert, TlsFailureLog, tlsInUse, tlsServerOptions, type TlsMaterial } from './tls.js';
import { TLS_FILE_SETTINGS } from './tls-config.js';
import { RateBoundedLog } from './bounded-log.js';

/** Failed accepts are logged at most this often (each one counted: INFO stats kv_accept_errors). */
const ACCEPT_ERROR_LOG_INTERVAL_MS = 10_000;
import { ServerAcl } from './acl-services.js';

/** Redis samples instantaneous_ops_per_sec every 100 ms over the last 16 samples. */
const OPS_SAMPLE_INTERVAL_MS = 100;
const OPS_SAMPLES = 16;
/**
 * Reply bytes the resumed slices of all yielded connections together may encode in one
 * event-loop turn; the connections not reached keep their place and go first in the next turn.
 * With SLICE_REPLY_BYTES_MAX it bounds how long clients that pipeline large replies delay the
 * others' reads and replies, however many of them there are.
 */
const RESUME_REPLY_BYTES_PER_TURN_MAX = 512 * 1024;
/** How long a script past busy-reply-threshold runs between two turns of serving other clients. */
const SCRIPT_SLICE_MS = 5;
/** Redis's BUSY replies while a script (EVAL) or a function (FCALL) runs past busy-reply-threshold. */
const BUSY_EVAL = 'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.';
const BUSY_FUNCTION = 'BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.';

/** A script inside EXEC stopped at busy-reply-threshold (see KvServer.finishUnyielding). */
const SCRIPT_STOPPED_IN_EXEC = 'ERR Script killed: it ran past busy-reply-threshold inside MULTI/EXEC without writing (no SCRIPT KILL can be served during EXEC)';

/** A script running past busy-reply-threshold (see KvServer.startBusy). */
interface InFlightScript {
  readonly engine: ScriptEngine;
  /** Whether it opened a batch (wrote): then it can no longer be killed. */
  readonly run: { opened: boolean };
  /** Its caller's deferred reply. */
  readonly reply: DeferredReply;
  /** Its call, counted in INFO and the slow log when the reply is written. */
  readonly late: LateCall;
  /** Its caller's connection (the running connection while it runs). */
  readonly conn: Connection | null;
  readonly info: BusyScript;
  /** store.mutationsStarted when its last slice ended: anything else changing the store shows. */
  mutations?: number;
}

export interface ServerLog {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface KvServerOptions {
  readonly config: ServerConfig;
  readonly store: ReplicatedStore;
  readonly log: ServerLog;
  /** Called once SHUTDOWN (or shutdown()) has flushed and closed the store. Default: nothing. */
  readonly onShutdown?: (exitCode: number) => void;
  /** Path of the config file, for INFO server. */
  readonly configFile?: string;
  /**
   * Read client sockets through Node's stream path ('data' events) instead of our own buffers
   * (accept.ts). It is what the server falls back to on a Node without the internals accept.ts
   * uses; tests set it to keep that path exercised. Default false.
   */
  readonly nodeReads?: boolean;
  /** The command modules this server's table is built from. Default: SERVER_COMMAND_MODULES. */
  readonly commands?: readonly CommandModule[];
  /** Checked TLS files (tls.ts): with config.tls.port > 0 a TLS listener runs next to the plain one (config.port 0: TLS only). */
  readonly tls?: TlsMaterial;
}

/** Seams for the replication layer. */
export interface ServerHooks {
  /** Before each command; may reject it (READONLY, TOOSTALE...). */
  gate?: CommandGate;
  /** After each local mutation is applied (e.g. to ship the entry to replicas). */
  afterWrite?: (pos: Position, ops: readonly Op[]) => void;
  /** Runs a command itself instead of the dispatcher (cluster quorum operations); see CommandInterceptor. */
  intercept?: CommandInterceptor;
  /**
   * Runs at shutdown before the listener is closed: sockets handed over with detach (replication
   * links) still count as the listener's connections, so close() would wait for them forever.
   */
  beforeClose?: () => Promise<void>;
  /** Memory maxmemory does not count (replication buffers, as Redis's mem_not_counted_for_evict). */
  memoryNotCounted?: () => number;
  /** "host port" of this node's primary, "" on a primary (CONFIG GET replicaof). */
  replicaOf?: () => string;
  /** The replication backlog's byte budget (CONFIG GET/SET repl-backlog-size). */
  backlog?: { get(): number; set(bytes: number): void };
  /** Why CONFIG SET port must refuse a new port (a cluster member's address is in the membership). */
  portFixed?: string;
}

export class KvServer implements ConnectionHost {
  readonly store: ReplicatedStore;
  readonly services: ServerServices;
  readonly parserLimits: ParserLimits;
  readonly info = new InfoRegistry();
  readonly clients = new ClientRegistry();
  /** Channel and pattern subscriptions of this server's connections. */
  readonly pubsub = new PubSubHub();
  /** notify-keyspace-events: publishes what each write changed (keyspace-events.ts). */
  readonly notifier: KeyspaceNotifier;
  /** Client-side caching: tells tracking clients which keys changed (tracking.ts). */
  readonly tracking: TrackingHub;
  /** The command running now and its arguments: the notifier reads them for the event names. */
  /** CONFIG GET replicaof (a replication hook); without a replication layer this node is nobody's replica. */
  private replicaOf: (() => string) | null = null;
  private backlog: ServerHooks['backlog'] | null = null;
  private readonly configFacts: ConfigFacts = { replicaOf: () => this.replicaOf?.() ?? '', backlog: () => this.backlog ?? null };
  private runningConn: Connection | null = null;
  private runningArgv: readonly Buffer[] | null = null;
  /** Connections with pub/sub messages to write this turn (after the log is flushed: see endOfTurn). */
  private toPush: Connection[] = [];
  readonly commandStats: CommandStatsTable;
  /** SLOWLOG and LATENCY (introspection.ts feeds them from the dispatcher's timings). */
  readonly slowlog: SlowLog;
  readonly latencyMonitor: LatencyMonitor;
  /** This server's commands; only addCommands changes them. */
  readonly commands: CommandTableView;
  private readonly table: CommandTable;
  readonly counters: ServerCounters = {
    startedMs: Date.now(),
    connectionsReceived: 0,
    rejectedConnections: 0,
    commandsProcessed: 0,
    errorReplies: 0,
    netInputBytes: 0,
    netOutputBytes: 0,
    opsPerSec: 0,
    usedMemoryPeak: 0,
    queryLimitDisconnections: 0,
    outputLimitDisconnections: 0,
    errorsByKind: new Map(),
    internalErrors: 0,
    inputKbps: 0,
    outputKbps: 0,
    tlsHandshakeFailures: 0,
    acceptErrors: 0,
  };
  private readonly dispatcher: Dispatcher;
  private listener: Server;
  /**
   * Listeners CONFIG SET port replaced: closed to new connections when replaced, each with the
   * promise of its 'close' (after its last client ends), which shutdown waits for.
   */
  private readonly retiredListeners: Array<Promise<void>> = [];
  /** Failed accepts (watchAccepts). */
  private readonly acceptErrors = new RateBoundedLog('accepting a connection failed', ACCEPT_ERROR_LOG_INTERVAL_MS, () => this.counters.acceptErrors++, (m) => this.opts.log.warn(m));
  /** BGSAVE SCHEDULE asked for a snapshot after the one in progress. */
  private snapshotScheduled = false;
  /** Why this node's port cannot change live (cluster members: the membership lists it), or null. */
  private portFixed: string | null = null;
  /** The TLS listener (tls-port), and its sockets (closed at shutdown even mid-handshake). */
  private readonly tlsListener: TlsServer | null;
  private readonly tlsSockets = new Set<Socket>();
  /** Told of certificate files loaded again by CONFIG SET (the links dial with them from then on). */
  onTlsReload: ((m: TlsMaterial) => void) | null = null;
  private afterWrite: ServerHooks['afterWrite'] = undefined;
  private beforeClose: ServerHooks['beforeClose'] = undefined;
  private pending: Connection[] = [];
  /** Connections with replies that need no durability wait, written at the end of the turn. */
  private toWrite: Connection[] = [];
  private turnScheduled = false;
  /** Connections whose pipeline yielded at a slice bound, in the order they resume (round robin). */
  private resumeQueue: Connection[] = [];
  private resumeScheduled = false;
  private readonly runResumesFn = (): void => this.runResumes();
  private flushedSeq: number;
  private durableSeq: number;
  private shuttingDown = false;
  private readonly opsTimer: NodeJS.Timeout;
  private readonly opsSamples: number[] = [];
  private lastOpsCount = 0;
  /** maxmemory: the memory gauge, eviction before commands, -OOM (memory.ts). */
  readonly memory: MaxmemoryGuard;
  /** CLIENT PAUSE: its mode, end and held clients (client-pause.ts). */
  readonly clientPause: ClientPause;
  /** MONITOR clients (monitor.ts); the dispatcher feeds them only while there are some. */
  private readonly monitors = new MonitorFeed();
  private readonly feedMonitorsFn = (client: ClientState, argv: readonly Buffer[]): void => this.monitors.feed(client, argv);
  /** The keys clients WATCH (multi.ts). */
  readonly watches: WatchRegistry;
  /** Users and permissions (acl-services.ts). */
  readonly acl: ServerAcl;
  /** Clients blocked by BLPOP, BZPOPMIN... (blocking.ts). */
  readonly blocking: BlockingRegistry;
  /** While EXEC runs its commands: writes go to the store's batch, shipped once at its commit. */
  private batching = false;
  /** The connection whose writes the open batch holds. */
  private batchConn: Connection | null = null;
  private lastNetInput = 0;
  private lastNetOutput = 0;
  /** EVAL and SCRIPT: this server's Lua VM and script cache. */
  readonly scripts: ScriptEngine;
  /** The function libraries in force (the store's last 'functions' op), in their own VM. */
  private functions: FunctionTable;
  /** The script running past busy-reply-threshold, resumed a slice per event-loop turn (null: none). */
  private inFlight: InFlightScript | null = null;
  private readonly scriptSliceFn = (): void => this.scriptSlice();
  private readonly busyRefusalFn = (spec: CommandSpec, argv: readonly Buffer[]): string | null => this.busyRefusal(spec, argv);
  /** MIGRATE's cached connections to its targets. */
  readonly migrateLinks = new MigrateLinks();
  /** A CLIENT PAUSE holds expiry and eviction deletes (see syncDeletesPaused). */
  private pauseHoldsDeletes = false;
  private readonly scriptLog = (level: ScriptLogLevel, msg: string): void => {
    if (level === 'warning') this.opts.log.warn(`script: ${msg}`);
    else if (level === 'notice') this.opts.log.info(`script: ${msg}`);
  };

  constructor(private readonly opts: KvServerOptions) {
    this.store = opts.store;
    const cfg = opts.config;
    // One limits object shared by every parser: CONFIG SET changes it for all clients at once.
    this.parserLimits = { bulkBytesMax: cfg.bulkBytesMax, queryBufferBytesMax: cfg.queryBufferBytesMax };
    this.flushedSeq = this.durableSeq = this.store.lastPosition.seq;
    this.commands = this.table = new CommandTable(opts.commands ?? SERVER_COMMAND_MODULES);
    this.commandStats = new CommandStatsTable(cfg);
    this.slowlog = new SlowLog(cfg);
    this.latencyMonitor = new LatencyMonitor(cfg);
    this.acl = new ServerAcl(this.table, this.store, cfg, this.clients, opts.log);
    this.dispatcher = new Dispatcher(this.table, this.commandStats, this.counters, () => this.acl.authRequired(), this.store);
    this.dispatcher.acl = this.acl.check;
    this.memory = new MaxmemoryGuard(cfg, this.store, new MemoryGauge(this.store));
    this.store.setEvictionPolicy(cfg.maxmemoryPolicy, cfg.maxmemorySamples);
    this.dispatcher.memory = this.memory;
    this.dispatcher.onInternalError = (command, e) => this.opts.log.error(`internal error in '${command}' (answered with an error; the server goes on): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    // A pause stops expiry and eviction deletes too, so the dataset does not change under it.
    this.clientPause = new ClientPause((paused) => {
      this.pauseHoldsDeletes = paused;
      this.syncDeletesPaused();
    });
    const touches = new TouchFanout(this.store);
    this.watches = new WatchRegistry(touches.watchSlot);
    this.blocking = new BlockingRegistry(touches, (client, spec, argv) => this.dispatcher.recheck(client, spec, argv));
    const timings = new CommandTimingObserver(this.slowlog, this.latencyMonitor);
    this.dispatcher.observer = timings;
    this.blocking.onServed = timings;
    this.blocking.onFailed = (spec, argv, error) => this.dispatcher.countFailure(spec, argv, error);
    this.memory.onEvictionRun = (ms) => this.latencyMonitor.addIfNeeded(LATENCY_EVENTS.evictionCycle, ms);
    this.store.setSweepListener?.((ms) => this.latencyMonitor.addIfNeeded(LATENCY_EVENTS.expireCycle, ms));
    this.notifier = new KeyspaceNotifier(this.pubsub, () => cfg.notifyKeyspaceEvents);
    this.tracking = new TrackingHub((id) => this.clients.get(id), () => cfg.trackingTableKeysMax, () => this.scheduleTurn());
    this.dispatcher.tracking = this.tracking;
    this.store.setDeleteListener?.((key, reason) => {
      if (reason === 'expired') this.notifier.emit(NOTIFY.expired, 'expired', key);
      else this.notifier.emit(NOTIFY.evicted, 'evicted', key);
      // A key a command found expired is that command's change (its client hears after its reply);
      // an eviction happens before the command runs, so its client hears first (as Redis).
      if (this.tracking.active) this.tracking.invalidate(key, this.runningConn?.client.id ?? 0, true, reason === 'expired');
    });
    this.store.setReplicatedApplyListener?.((changes) => {
      if (changes.some((c) => c.t === 'acl')) this.acl.applyLogged();
      if (changes.some((c) => c.t === 'functions')) this.loadLoggedFunctions();
      this.notifier.replicated(changes);
      if (this.tracking.active) this.tracking.replicated(changes);
    });
    this.scripts = new ScriptEngine(this.scriptLog);
    this.functions = FunctionTable.empty(this.scriptLog);
    this.loadLoggedFunctions();
    this.services = this.makeServices();
    registerDefaultInfoSections(this);
    this.listener = createServer({ noDelay: true }, (s) => this.accept(s));
    this.tlsListener = opts.tls !== undefined && cfg.tls.port > 0 ? this.makeTlsListener(opts.tls) : null;
    this.opsTimer = setInterval(() => this.sampleOps(), OPS_SAMPLE_INTERVAL_MS);
    this.opsTimer.unref();
  }

  get config(): ServerConfig {
    return this.opts.config;
  }

  get configFile(): string {
    return this.opts.configFile ?? '';
  }

  /** Install replication seams (call before or after listen). */
  setHooks(h: ServerHooks): void {
    this.dispatcher.gate = h.gate ?? null;
    this.dispatcher.intercept = h.intercept ?? null;
    this.beforeClose = h.beforeClose;
    this.afterWrite = h.afterWrite;
    this.memory.gauge.notCounted = h.memoryNotCounted ?? null;
    this.replicaOf = h.replicaOf ?? null;
    this.backlog = h.backlog ?? null;
    this.portFixed = h.portFixed ?? null;
  }

  /**
   * Add a command module (e.g. the replication layer's REPLICAOF, ROLE) to this server's table,
   * so its dispatch, arity checks and COMMAND see it. Throws if any name is already there.
   */
  addCommands(specs: CommandModule): void {
    this.table.add(specs);
  }

  /** Add or replace an INFO section (e.g. "Replication"). */
  addInfoSection(title: string, provider: InfoProvider, isDefault = true): void {
    this.info.register(title, provider, isDefault);
  }

  /**
   * Listen on `port` (plain) and, with a TLS listener, on tls-port. Port 0 is an ephemeral port,
   * except next to a TLS listener, where it means no plain listener (as Redis's `port 0`); its
   * port is then reported as 0.
   */
  async listen(): Promise<{ host: string; port: number; tlsPort: number }> {
    const cfg = this.opts.config;
    this.watchAccepts(this.listener);
    if (this.tlsListener !== null) this.watchAccepts(this.tlsListener);
    const tlsOnly = this.tlsListener !== null && cfg.port === 0;
    const plain = tlsOnly ? { host: cfg.host, port: 0 } : await listenOn(this.listener, cfg.port, cfg.host);
    if (!tlsOnly && this.opts.nodeReads !== true) installUserBufferAccept(this.listener, (s, reads) => this.accept(s, reads));
    // TLS sockets read through Node's streams (their bytes are decrypted there); the plain path is untouched.
    const tlsPort = this.tlsListener === null ? 0 : (await listenOn(this.tlsListener, cfg.tls.port, cfg.host)).port;
    return { host: plain.host, port: plain.port, tlsPort };
  }

  /**
   * CONFIG SET of a certificate file: load the three files again (all or nothing) and use them
   * for the connections accepted from now on; open connections keep theirs. A file that does not
   * serve refuses the change, and the server goes on with the files it has.
   */
  private reloadTls(changed: readonly string[]): { name: string; error: string } | null {
    const name = changed.find((n) => TLS_FILE_SETTINGS.includes(n));
    const t = this.opts.config.tls;
    if (name === undefined || !tlsInUse(t)) return null;
    const m = loadTlsMaterial(t);
    if ('kind' in m) return { name, error: m.message };
    this.tlsListener?.setSecureContext({ key: m.key, cert: m.cert, ca: m.ca });
    this.onTlsReload?.(m);
    this.opts.log.info(`TLS certificate files loaded again: ${t.certFile}, ${t.keyFile}, ${t.caCertFile}`);
    return null;
  }

  /** A client whose TLS handshake failed (or timed out) is counted, logged at a bounded rate, and dropped; no other client notices. */
  private makeTlsListener(m: TlsMaterial): TlsServer {
    const cfg = this.opts.config;
    const failures = new TlsFailureLog(() => this.counters.tlsHandshakeFailures++, (msg) => this.opts.log.warn(msg));
    const srv = createTlsServer(tlsServerOptions(m, cfg.tls), (socket: TLSSocket) => {
      const refused = cfg.tls.authClients === 'optional' ? refusedOptionalCert(socket) : null;
      if (refused === null) return this.accept(socket);
      failures.failed(refused, `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`);
      socket.destroy();
    });
    srv.on('connection', (raw: Socket) => {
      this.tlsSockets.add(raw);
      raw.once('close', () => this.tlsSockets.delete(raw));
    });
    srv.on('tlsClientError', (e: Error, socket: TLSSocket) => {
      // The peer may be gone already (its address with it).
      failures.failed(handshakeReason(e), socket.remoteAddress !== undefined ? `${socket.remoteAddress}:${socket.remotePort ?? 0}` : 'a closed connection');
      socket.destroy();
    });
    return srv;
  }

  /**
   * A listener's errors after it listens are failed accepts (EMFILE when the process is out of
   * file descriptors): Redis logs them and goes on, and so does kv-ts, counted and logged at a
   * bounded rate. Unhandled, Node's 'error' event would end the process.
   */
  private watchAccepts(listener: Server | TlsServer): void {
    listener.on('error', (e: Error) => this.acceptErrors.failed((e as NodeJS.ErrnoException).code ?? e.message, `port ${String((listener.address() as { port?: number } | null)?.port ?? '?')}`));
  }

  /**
   * CONFIG SET port: listen on `port` and, once that works, stop accepting on the old one (its
   * clients stay connected, as in Redis). Redis's error text when the new port cannot be had.
   */
  private async rebind(port: number): Promise<string | null> {
    const next = createServer({ noDelay: true }, (s) => this.accept(s));
    try {
      await listenOn(next, port, this.opts.config.host);
      if (this.opts.nodeReads !== true) installUserBufferAccept(next, (s, reads) => this.accept(s, reads));
    } catch (e) {
      return `Unable to listen on this port: ${(e as Error).message}`;
    }
    if (this.shuttingDown) {
      next.close();
      return 'the server is shutting down';
    }
    this.watchAccepts(next);
    const old = this.listener;
    this.retiredListeners.push(new Promise<void>((resolve) => old.close(() => resolve())));
    this.listener = next;
    this.opts.log.info(`now listening on port ${port} (CONFIG SET port)`);
    return null;
  }

  private accept(socket: Socket, reads: SocketReads | null = null): void {
    this.counters.connectionsReceived++;
    if (this.shuttingDown) {
      socket.destroy();
      return;
    }
    if (this.clients.size >= this.opts.config.maxclients) {
      this.counters.rejectedConnections++;
      socket.on('error', () => undefined);
      socket.end('-ERR max number of clients reached\r\n');
      return;
    }
    const conn = new Connection(socket, reads, this.clients.allocateId(), this, !this.acl.authRequired(), this.acl.table.defaultUser);
    this.clients.add(conn);
  }

  // ---- ConnectionHost

  outputLimit(): OutputLimit {
    return this.opts.config.outputLimits.normal;
  }

  pubsubOutputLimit(): OutputLimit {
    return this.opts.config.outputLimits.pubsub;
  }

  pushReady(conn: Connection): void {
    if (!conn.queuedForPush) {
      conn.queuedForPush = true;
      this.toPush.push(conn);
    }
    this.scheduleTurn();
  }

  private scheduleTurn(): void {
    if (!this.turnScheduled) {
      this.turnScheduled = true;
      setImmediate(() => this.endOfTurn());
    }
  }

  resumeLater(conn: Connection): void {
    if (conn.queuedForResume) return;
    conn.queuedForResume = true;
    this.resumeQueue.push(conn);
    if (!this.resumeScheduled) {
      this.resumeScheduled = true;
      setImmediate(this.runResumesFn);
    }
  }

  /**
   * Resume yielded connections, one slice each in queue order, until this turn's reply bytes
   * reach RESUME_REPLY_BYTES_PER_TURN_MAX. A resumed connection that yields again re-queues
   * itself (at the back) once that slice's replies are written; the ones not reached stay first.
   */
  private runResumes(): void {
    this.resumeScheduled = false;
    const queue = this.resumeQueue;
    this.resumeQueue = [];
    let bytes = 0;
    let i = 0;
    while (i < queue.length && bytes < RESUME_REPLY_BYTES_PER_TURN_MAX) {
      const c = queue[i++] as Connection;
      c.queuedForResume = false;
      bytes += c.resume();
    }
    if (i === queue.length) return;
    this.resumeQueue = queue.slice(i).concat(this.resumeQueue);
    if (!this.resumeScheduled) {
      this.resumeScheduled = true;
      setImmediate(this.runResumesFn);
    }
  }

  dispatch(conn: Connection, argv: readonly Buffer[]): void {
    // Saved and restored: a command may run another client's commands synchronously (nesting).
    const outerConn = this.runningConn;
    const outerArgv = this.runningArgv;
    this.runningConn = conn;
    this.runningArgv = argv;
    // Redis bounds the tracking table before each command.
    const tracking = this.tracking;
    if (tracking.clients > 0) tracking.limit();
    this.dispatcher.run(conn.ctx, argv);
    this.runningConn = outerConn;
    this.runningArgv = outerArgv;
    // Redis serves blocked clients after each command (after EXEC for a transaction's writes).
    if (this.blocking.hasReady) this.blocking.serveReady();
    if (tracking.clients > 0 || tracking.hasPending) {
      tracking.commandDone(conn.client);
      // A client's own invalidations follow its reply (a served blocked client's too).
      if (outerConn === null) tracking.flushPending();
    }
    // HELLO may have switched the protocol; the encoder follows the client state.
    conn.out.protocol = conn.client.protocol;
  }

  get pauseMode(): PauseMode | null {
    return this.clientPause.mode;
  }

  pauseHolds(conn: Connection, argv: readonly Buffer[]): boolean {
    const mode = this.clientPause.mode;
    // A monitor is never held (Redis flags it a replica, and replicas are never paused).
    if (mode === null || conn.client.monitor === true || !this.dispatcher.pauseHolds(conn.client, argv, mode)) return false;
    if (mode === 'write' && this.declaresNoWrites(conn.client, argv)) return false;
    this.clientPause.hold(conn);
    return true;
  }

  /**
   * A script or function whose flags say it never writes (Redis 7.0 takes a declared script's
   * flags instead of may-replicate): a WRITE pause lets it run. Outside MULTI only.
   */
  private declaresNoWrites(client: ClientState, argv: readonly Buffer[]): boolean {
    if ((client.tx !== undefined && client.tx !== null && client.tx.queue !== null) || argv.length < 2) return false;
    const name = (argv[0] as Buffer).toString('latin1').toLowerCase();
    const target = argv[1] as Buffer;
    let flags: ScriptFlags | undefined;
    if (name === 'eval' || name === 'eval_ro') {
      const f = parseShebang(target);
      flags = typeof f === 'string' ? undefined : f;
    } else if (name === 'evalsha' || name === 'evalsha_ro') flags = this.scripts.get(target.toString('latin1'))?.flags;
    else if (name === 'fcall' || name === 'fcall_ro') flags = this.functions.get(target.toString('latin1'))?.script.flags;
    return flags !== undefined && flags.shebang && flags.noWrites;
  }

  beginEvent(): void {
    this.dispatcher.beginEvent();
  }

  endEvent(): void {
    this.dispatcher.endEvent();
  }

  announce(cls: number, event: string, key: Key): void {
    if (this.notifier.enabled) this.notifier.emit(cls, event, key);
  }

  write(conn: Connection, ops: readonly Op[]): number {
    const n = this.notifier;
    const created = n.enabled && n.wants(NOTIFY.newKey) ? createdKeyCandidates(ops).filter((k) => !this.store.has(k)) : [];
    const pos = this.store.apply(ops);
    if (this.batching) this.batchConn = conn;
    else this.afterWrite?.(pos, ops);
    if (n.enabled) n.afterWrite({ command: conn.client.lastCommand, argv: this.runningConn === conn ? this.runningArgv : null, ops }, created);
    if (this.tracking.active) this.tracking.written(ops, conn.client.id);
    return pos.seq;
  }

  /**
   * EXEC (TransactionServices.exec): the queued commands run back to back in this turn against a
   * store batch, so each sees the effects of those before it and no other client sees any of them
   * until all are applied; then the batch is logged as one entry, shipped and acknowledged like
   * any single write. A batch the log cannot take is rolled back by the store, and the replies of
   * this connection's event are refused as after a failed log write.
   */
  private execTransaction(ctx: CommandContext, queued: readonly QueuedCommand[]): void {
    ctx.out.array(queued.length);
    const inner: CommandContext = { store: ctx.store, out: ctx.out, client: ctx.client, server: ctx.server, write: (ops) => ctx.write(ops), ...(ctx.announce !== undefined ? { announce: ctx.announce } : {}), inTransaction: true };
    // Only a transaction with a write needs a batch: EXEC passed the checks of a write then (a
    // primary whose log takes writes). A read-only one may run anywhere, even on a replica whose
    // store is between the steps of a resync; an expiry delete its reads cause is its own entry.
    const batch = queued.some((q) => q.spec.flags.includes('write'));
    if (batch) {
      this.store.beginBatch();
      this.batching = true;
      this.batchConn = null;
    }
    const outerArgv = this.runningArgv;
    try {
      for (const q of queued) {
        this.runningArgv = q.argv;
        this.dispatcher.execute(inner, q.spec, q.argv);
      }
    } catch (e) {
      // Only an exception the dispatcher would not contain gets here (a handler that threw while
      // changing the store): the process ends with it, and the batch is not committed, so no
      // log holds part of this transaction.
      this.batching = false;
      throw e;
    } finally {
      this.runningArgv = outerArgv;
    }
    if (batch) this.commitTransaction();
  }

  private commitTransaction(): void {
    this.batching = false;
    const conn = this.batchConn;
    this.batchConn = null;
    const r = this.store.commitBatch();
    if (r === null) return;
    if (r.logged) this.afterWrite?.(r.pos, r.ops);
    else {
      this.opts.log.warn(`transaction refused: ${r.reason}`);
      conn?.refuseEvent();
    }
  }

  /**
   * A connection has replies for one read event. They go out at the end of this turn, one write
   * per client, as Redis writes replies in beforeSleep (the clients read in one turn are woken
   * back to back, not once per reply). When they could reveal or acknowledge data not yet handed
   * to the OS (everysec/no) or not yet fsynced (always), the connection instead joins this turn's
   * batch, which shares one flush and one fsync (group commit), and under 'always' runs no
   * further command until that fsync (Connection.pauseForDurability).
   */
  repliesReady(conn: Connection, wrote: boolean): void {
    const last = this.store.lastPosition.seq;
    const mustWait = wrote || last > this.flushedSeq || (this.store.fsyncPolicy === 'always' && last > this.durableSeq);
    if (mustWait) {
      conn.pauseForDurability();
      this.pending.push(conn);
    } else if (!conn.queuedForWrite) {
      conn.queuedForWrite = true;
      this.toWrite.push(conn);
    }
    this.scheduleTurn();
  }

  private endOfTurn(): void {
    this.turnScheduled = false;
    // BCAST invalidations of this turn's changes, and any left waiting for a reply; they go out
    // with this turn's pub/sub messages, after the log was handed the writes.
    if (this.tracking.clients > 0 || this.tracking.hasPending) {
      this.tracking.flushPending();
      this.tracking.broadcast();
    }
    const writes = this.toWrite;
    this.toWrite = [];
    for (const c of writes) {
      c.queuedForWrite = false;
      // One held for durability sends these replies with its held ones (below, or in a later turn).
      if (!c.awaitingDurability) c.flushReplies();
    }
    const batch = this.pending;
    this.pending = [];
    this.store.flush();
    // A failed log write rolls the store back (lastPosition goes down): see Connection.durabilityDone.
    const target = this.store.lastPosition.seq;
    this.flushedSeq = target;
    this.flushPushes();
    if (this.durableSeq > target) this.durableSeq = target;
    if (this.store.fsyncPolicy !== 'always' || target <= this.durableSeq) {
      for (const c of batch) c.durabilityDone(target);
      return;
    }
    const waitMs = performance.now();
    this.store.whenDurable(target).then(
      () => {
        this.latencyMonitor.addIfNeeded(LATENCY_EVENTS.fsyncAlways, performance.now() - waitMs);
        if (target > this.durableSeq) this.durableSeq = target;
        for (const c of batch) c.durabilityDone(this.store.lastPosition.seq);
      },
      (err: unknown) => {
        // The log failed before this fsync: the store kept only what was durable; replies that
        // may show more are refused (MISCONF), the others go out.
        const kept = this.store.lastPosition.seq;
        this.opts.log.warn(`log failed while ${batch.length} clients waited for an fsync (kept up to seq ${kept}): ${(err as Error).message}`);
        if (this.flushedSeq > kept) this.flushedSeq = kept;
        if (this.durableSeq > kept) this.durableSeq = kept;
        for (const c of batch) c.durabilityDone(kept);
      },
    );
  }

  /**
   * Pub/sub messages go out after the turn's writes reached the OS (a keyspace notification
   * never shows a write the log has not been handed), not after their fsync. A connection whose
   * replies wait for an fsync sends its messages with them, behind them.
   */
  private flushPushes(): void {
    const pushes = this.toPush;
    this.toPush = [];
    for (const c of pushes) {
      c.queuedForPush = false;
      if (!c.awaitingDurability) c.flushReplies();
    }
  }

  onClose(conn: Connection): void {
    if (conn.client.monitor === true) this.stopMonitor(conn);
    conn.client.tx?.reset();
    if (conn.client.blocked === true) this.blocking.forget(conn.client.id);
    this.clients.remove(conn);
    this.pubsub.removeSession(conn.subs);
    this.tracking.disable(conn.client);
  }

  onLimitClose(kind: LimitClose): void {
    if (kind === 'output') this.counters.outputLimitDisconnections++;
    else this.counters.queryLimitDisconnections++;
  }

  onNetInput(bytes: number): void {
    this.counters.netInputBytes += bytes;
  }

  onNetOutput(bytes: number): void {
    this.counters.netOutputBytes += bytes;
  }

  log(level: 'info' | 'warn', msg: string): void {
    this.opts.log[level](msg);
  }

  private sampleOps(): void {
    const c = this.counters;
    c.inputKbps = ((c.netInputBytes - this.lastNetInput) * 1000) / OPS_SAMPLE_INTERVAL_MS / 1024;
    c.outputKbps = ((c.netOutputBytes - this.lastNetOutput) * 1000) / OPS_SAMPLE_INTERVAL_MS / 1024;
    this.lastNetInput = c.netInputBytes;
    this.lastNetOutput = c.netOutputBytes;
    const n = this.counters.commandsProcessed;
    this.opsSamples.push(((n - this.lastOpsCount) * 1000) / OPS_SAMPLE_INTERVAL_MS);
    this.lastOpsCount = n;
    if (this.opsSamples.length > OPS_SAMPLES) this.opsSamples.shift();
    this.counters.opsPerSec = Math.round(this.opsSamples.reduce((a, b) => a + b, 0) / this.opsSamples.length);
    // Redis samples its peak memory and evicts if over the limit on the same cron.
    this.memory.cron();
    // And bounds the tracking table there too (a lowered bound applies with no command).
    if (this.tracking.clients > 0) this.tracking.limit();
    const used = this.memory.gauge.used();
    if (used > this.counters.usedMemoryPeak) this.counters.usedMemoryPeak = used;
  }

  private makeServices(): ServerServices {
    const cfg = this.opts.config;
    return {
      migrateLinks: this.migrateLinks,
      commands: this.table,
      info: (sections) => this.info.render(sections),
      configGet: (patterns) => configGet(cfg, patterns, this.configFacts),
      configSet: (pairs, canWait) => this.configSet(pairs, canWait),
      configRewrite: () => this.rewriteConfigFile(),
      clientList: () => this.clients.list(Date.now(), this.runningConn?.client.id ?? 0),
      clientKill: (f) => this.clients.kill(f, Date.now()),
      clientAdmin: this.clientAdminServices(),
      requirePass: () => cfg.requirepass,
      acl: this.acl,
      shutdown: () => {
        void this.shutdown('SHUTDOWN command');
      },
      resetStats: () => this.resetStats(),
      transactions: this.transactionServices(),
      blocking: this.blocking,
      pubsub: this.pubsub,
      tracking: this.tracking,
      clientExists: (id) => this.clients.get(id) !== undefined,
      introspection: { slowlog: this.slowlog, latency: this.latencyMonitor, commandStats: this.commandStats },
      scripting: this.scriptingServices(),
      mayWrite: (client, spec, argv) => this.dispatcher.writeAdmitted(client, spec, argv),
      compact: () => void this.snapshot(),
      persistence: {
        inProgress: () => this.store.stats().compacting,
        snapshot: () => this.snapshot(),
        snapshotAfterCurrent: () => {
          if (this.snapshotScheduled) return;
          this.snapshotScheduled = true;
          const after = (): void => {
            this.snapshotScheduled = false;
            void this.snapshot();
          };
          this.store.compact().then(after, after);
        },
        lastSaveMs: () => {
          const last = this.store.stats().lastCompactionMs;
          return last > 0 ? last : this.counters.startedMs;
        },
      },
    };
  }

  /**
   * CONFIG SET: all pairs or none (config.ts configSetMany), then their effects. A new port is
   * listened on before the reply (a promise): when that fails, every pair of the call gets its
   * old value back, as Redis rolls back a failed apply.
   */
  private configSet(pairs: ReadonlyArray<readonly [string, string]>, canWait: boolean): string | null | Promise<string | null> {
    const cfg = this.opts.config;
    const portPair = pairs.find(([name]) => name.toLowerCase() === 'port');
    const portFailed = (why: string): string => `CONFIG SET failed (possibly related to argument 'port') - ${why}`;
    if (portPair !== undefined && portPair[1] !== String(cfg.port) && /^\d+$/.test(portPair[1])) {
      if (Number(portPair[1]) === 0) return portFailed('kv-ts keeps a TCP listener; port 0 (any free port) is taken only at startup');
      if (this.portFixed !== null) return portFailed(this.portFixed);
      if (!canWait) return portFailed('the port cannot change inside MULTI or a script');
    }
    const oldPort = cfg.port;
    const before = configGet(cfg, pairs.map(([name]) => name), this.configFacts);
    const r = configSetMany(cfg, pairs, this.configFacts, (changed) => this.reloadTls(changed));
    if ('error' in r) return r.error;
    this.configApplied(r.changed);
    if (cfg.port === oldPort) return null;
    return this.rebind(cfg.port).then((err) => {
      if (err === null) return null;
      // The old values were in force a moment ago: setting them back cannot fail.
      const back = configSetMany(cfg, before, this.configFacts, (changed) => this.reloadTls(changed));
      if (!('error' in back)) this.configApplied(back.changed);
      return portFailed(err);
    });
  }

  /** What a CONFIG SET changed takes effect outside the config object. */
  private configApplied(changed: readonly string[]): void {
    const cfg = this.opts.config;
    if (changed.includes('requirepass')) this.acl.requirePassChanged();
    this.parserLimits.bulkBytesMax = cfg.bulkBytesMax;
    this.parserLimits.queryBufferBytesMax = cfg.queryBufferBytesMax;
    this.store.setEvictionPolicy(cfg.maxmemoryPolicy, cfg.maxmemorySamples);
    // Like Redis, a lowered limit evicts at once, not at the next write.
    if (changed.some((name) => name.startsWith('maxmemory'))) this.memory.evictNow();
  }

  /** A compaction (the snapshot SAVE/BGSAVE/BGREWRITEAOF ask for); a failure is logged, and returned to a waiting SAVE. */
  private snapshot(): Promise<void> {
    const p = this.store.compact();
    p.catch((e: unknown) => this.opts.log.error(`compaction failed: ${(e as Error).message}`));
    return p;
  }

  /** CONFIG REWRITE: the config file gets the settings in force (config.ts rewriteConfigText), replaced atomically. */
  private rewriteConfigFile(): string | null {
    const file = this.opts.configFile;
    if (file === undefined) return 'The server is running without a config file';
    try {
      const r = rewriteConfigText(readFileSync(file, 'utf8'), this.opts.config, this.configFacts);
      if ('error' in r) return `Rewriting config file: ${r.error}`;
      atomicWriteFileSync(dirname(file), basename(file), Buffer.from(r.text));
    } catch (e) {
      return `Rewriting config file: ${(e as Error).message}`;
    }
    this.opts.log.info(`CONFIG REWRITE executed with success (${file})`);
    return null;
  }

  private clientAdminServices(): ClientAdminServices {
    return {
      pause: (mode, endMs) => this.clientPause.pause(mode, endMs, Date.now()),
      unpause: () => this.clientPause.unpause(),
      monitor: (ctx) => this.startMonitor(ctx),
      resetConnection: (ctx) => this.resetConnection(ctx),
    };
  }

  /** MONITOR: the calling connection gets every later command of every client. */
  private startMonitor(ctx: CommandContext): void {
    const conn = this.clients.get(ctx.client.id);
    if (conn === undefined) return;
    ctx.client.monitor = true;
    this.monitors.add(conn);
    this.dispatcher.feed = this.feedMonitorsFn;
  }

  private stopMonitor(conn: Connection): void {
    conn.client.monitor = false;
    this.monitors.remove(conn);
    if (this.monitors.size === 0) this.dispatcher.feed = null;
  }

  /**
   * RESET (Redis's clearClientConnectionState): no MULTI or WATCH, no subscriptions of any kind
   * (without unsubscribe messages), not a monitor, no tracking, RESP2, no name, NO-EVICT and NO-TOUCH off,
   * replies on, and logged out when a password is required.
   */
  private resetConnection(ctx: CommandContext): void {
    const c = ctx.client;
    const conn = this.clients.get(c.id);
    if (conn !== undefined) {
      if (c.monitor === true) this.stopMonitor(conn);
      this.pubsub.removeSession(conn.subs);
    }
    c.tx?.reset();
    resetClientTracking(ctx);
    c.protocol = 2;
    ctx.out.setProtocol?.(2);
    c.name = '';
    c.noEvict = false;
    c.noTouch = false;
    c.clusterReadonly = false;
    c.replyMode = REPLY_ON;
    // Redis's RESET logs the client back in as the default user.
    c.user = this.acl.table.defaultUser;
    c.authenticated = !this.acl.authRequired();
  }

  private scriptingServices(): ScriptingServices {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const server = this;
    return {
      engine: this.scripts,
      run: (ctx, argv, script, keys, args, readOnly) => this.runScript(ctx, argv, script, keys, args, readOnly, this.scripts),
      get functions(): FunctionTable {
        return server.functions;
      },
      buildFunctions: (codes) => FunctionTable.build(codes, this.scriptLog),
      admitLibraryGrowth: () => this.memory.admitGrowth(true),
      setFunctions: (ctx, table) => {
        ctx.write([{ t: 'functions', libraries: encodeLibraries(table.codes) }]);
        // The store now holds exactly this table: the VM that validated it is the one in force.
        this.functions = table;
      },
      runFunction: (ctx, argv, fn, keys, args, readOnly) => this.runScript(ctx, argv, fn, keys, args, readOnly, this.functions.engine),
      busy: () => this.inFlight?.info ?? null,
      kill: (fromEval) => this.killScript(fromEval),
    };
  }

  /** Put the store's function table in force (startup, a replica's entry, a full resync). */
  private loadLoggedFunctions(): void {
    const raw = this.store.functionLibraries;
    const codes = raw === null ? [] : decodeLibraries(raw);
    const t = codes === null ? 'not a function table' : FunctionTable.build(codes, this.scriptLog);
    // The bytes passed the record's CRC, so a newer or buggy writer made them: keep serving with the table we have.
    if (typeof t === 'string') this.opts.log.warn(`logged function libraries not loaded: ${t}`);
    else this.functions = t;
  }

  /**
   * EVAL / EVALSHA / FCALL: the script runs as a coroutine. The commands it calls go through the
   * dispatcher (dispatcher.runFromScript), and its first write opens a store batch, so no other
   * client sees any of its writes before all are applied and the batch is logged as one entry,
   * shipped to replicas as effects (they never run the script). A script that ends within
   * busy-reply-threshold runs in this turn, like EXEC. Past it, the script goes on in slices
   * between which the server serves other clients (startBusy): they get BUSY for everything but
   * what Redis allows then, and nothing else changes the dataset until it ends. Inside EXEC (whose
   * batch holds the script's writes) or a context that cannot defer its reply: finishUnyielding.
   */
  private runScript(ctx: CommandContext, argv: readonly Buffer[], script: CachedScript, keys: readonly Buffer[], args: readonly Buffer[], readOnly: boolean, engine: ScriptEngine): void {
    // Redis shows EVAL to monitors before the commands it runs, which show as the client `lua`.
    const feed = this.dispatcher.feed;
    if (feed !== null) feed(ctx.client, argv);
    const noWrites = readOnly || script.flags.noWrites;
    // Redis 7.0: a script with a shebang that may write is refused whole while over maxmemory,
    // unless it allows it (allow-oom); a legacy script meets the check per command instead.
    if (script.flags.shebang && !noWrites && !script.flags.allowOom) {
      const oom = this.memory.admitGrowth(true);
      if (oom !== null) return ctx.out.error(oom);
    }
    // opened: the script opened the batch (its writes are its own entry); wrote: it wrote, also
    // into an EXEC's batch.
    const run = { opened: false, wrote: false };
    const beforeWrite = (): void => {
      run.wrote = true;
      if (this.batching) return;
      this.store.beginBatch();
      this.batching = true;
      this.batchConn = null;
      run.opened = true;
    };
    const inner: CommandContext = {
      store: ctx.store, out: ctx.out, client: ctx.client, server: ctx.server, inTransaction: true, inScript: true,
      ...(feed === null ? {} : { monitorAs: { ...ctx.client, addr: 'lua' } }),
      write: (ops) => {
        // Every write joins the script's batch, also one from a command not flagged 'write'
        // (PFCOUNT's refreshed cache), so the script stays one entry.
        beforeWrite();
        ctx.write(ops);
      },
      ...(ctx.pubsub === undefined ? {} : { pubsub: ctx.pubsub }),
      ...(ctx.announce !== undefined ? { announce: ctx.announce } : {}),
    };
    const call = (argv: Buffer[], out: ReplyWriter): void => {
      const outerArgv = this.runningArgv;
      this.runningArgv = argv;
      try {
        this.dispatcher.runFromScript({ ...inner, out }, argv, { readOnly: noWrites, admitMemory: !script.flags.allowOom }, beforeWrite);
      } finally {
        this.runningArgv = outerArgv;
      }
    };
    const startedMs = Date.now();
    const threshold = this.opts.config.scriptTimeLimitMs;
    const mayYield = threshold > 0 && ctx.defer !== undefined;
    engine.start({ script, keys, args, call });
    if (!mayYield && threshold > 0) return this.finishUnyielding(ctx, engine, run, startedMs + threshold);
    if (!this.stepScript(engine, mayYield ? startedMs + threshold : 0, run)) {
      const reply = (ctx.defer as NonNullable<CommandContext['defer']>)();
      const isEval = script.functionRef === undefined;
      this.startBusy({
        engine, run, reply, conn: this.runningConn, late: this.dispatcher.deferCall(),
        info: { isEval, name: script.sha, argv: argv.map((b) => Buffer.from(b)), startedMs, busyError: isEval ? BUSY_EVAL : BUSY_FUNCTION },
      });
      return;
    }
    const outcome = engine.finish(ctx.out);
    this.dispatcher.errorAlreadyCounted = outcome === 'command-error';
    if (run.opened) this.commitTransaction();
  }

  /**
   * A script whose caller cannot wait (inside EXEC, whose reply and batch are this turn's): the
   * server cannot serve SCRIPT KILL while it runs. Past busy-reply-threshold, one that has not
   * written is stopped as SCRIPT KILL would stop it, so a runaway read-only loop cannot hold the
   * server; one that wrote runs to its end (Redis's UNKILLABLE: its writes are in the batch).
   */
  private finishUnyielding(ctx: CommandContext, engine: ScriptEngine, run: { opened: boolean; wrote: boolean }, untilMs: number): void {
    while (!this.stepScript(engine, run.wrote ? 0 : untilMs, run)) {
      if (!run.wrote) engine.kill(SCRIPT_STOPPED_IN_EXEC);
    }
    const outcome = engine.finish(ctx.out);
    this.dispatcher.errorAlreadyCounted = outcome === 'command-error';
    if (run.opened) this.commitTransaction();
  }

  /** One slice of the script in flight; true when it ended. */
  private stepScript(engine: ScriptEngine, untilMs: number, run: { opened: boolean }): boolean {
    try {
      return engine.step(untilMs);
    } catch (e) {
      // As in EXEC: only an exception that ends the process gets here; the batch is not logged.
      if (run.opened) this.batching = false;
      throw e;
    }
  }

  /**
   * The script passed busy-reply-threshold: its caller's reply waits, other clients get BUSY, and
   * nothing else may change the dataset (expiry, eviction, blocked clients' pops) until it ends.
   */
  private startBusy(b: InFlightScript): void {
    this.opts.log.warn(`slow script detected: still in execution after ${Date.now() - b.info.startedMs} ms; ${b.info.isEval ? 'SCRIPT KILL' : 'FUNCTION KILL'} stops it if it did not write (script: ${b.info.name})`);
    this.inFlight = b;
    b.mutations = this.store.mutationsStarted;
    this.dispatcher.busy = this.busyRefusalFn;
    this.blocking.held = true;
    this.syncDeletesPaused();
    setImmediate(this.scriptSliceFn);
  }

  /** A slice of the script in flight, after the event loop served other clients. */
  private scriptSlice(): void {
    const b = this.inFlight;
    if (b === null || this.shuttingDown) return;
    if (this.store.mutationsStarted !== b.mutations) {
      // Clients are refused and deletes held, so only the replication layer reaches the store
      // meanwhile: a replica applying its primary's entries (a script there never writes), or a
      // new epoch's entry. A script that did not write would read a dataset that changed under
      // it, so it is stopped; one that wrote cannot be (its writes are in the batch).
      if (!b.run.opened) b.engine.kill('ERR Script stopped: the dataset changed under it (this node applied replicated writes) while it ran past busy-reply-threshold.');
      else this.opts.log.warn(`the dataset changed under a busy script that had written (replication); it runs to its end (script: ${b.info.name})`);
    }
    const outerConn = this.runningConn;
    this.runningConn = b.conn;
    let ended: boolean;
    try {
      ended = this.stepScript(b.engine, Date.now() + SCRIPT_SLICE_MS, b.run);
    } finally {
      this.runningConn = outerConn;
    }
    b.mutations = this.store.mutationsStarted;
    if (!ended) {
      setImmediate(this.scriptSliceFn);
      return;
    }
    this.inFlight = null;
    this.dispatcher.busy = null;
    this.blocking.held = false;
    this.syncDeletesPaused();
    const finish = (out: ReplyWriter): void => {
      // The call counts now (INFO commandstats and errorstats, the slow log), with its whole run.
      this.dispatcher.replyLate(b.late, out, (o) => b.engine.finish(o) === 'command-error');
      // Committed before the caller's connection takes its reply: the reply waits for this entry's durability.
      if (b.run.opened) this.commitTransaction();
    };
    if (!b.reply((out) => finish(out))) finish(new ReplyCapture(2));
    if (this.blocking.hasReady) this.blocking.serveReady();
  }

  /** Redis's processCommand while a script is busy: what passes, and BUSY for the rest. */
  private busyRefusal(spec: CommandSpec, argv: readonly Buffer[]): string | null {
    const b = this.inFlight;
    if (b === null || spec.flags.includes('allow_busy')) return null;
    const sub = argv.length > 1 ? (argv[1] as Buffer).toString('latin1').toLowerCase() : '';
    if ((spec.name === 'script' && sub === 'kill') || (spec.name === 'function' && (sub === 'kill' || sub === 'stats'))) return null;
    return b.info.busyError;
  }

  /** Expiry and eviction deletes wait while a CLIENT PAUSE or a busy script holds the dataset still. */
  private syncDeletesPaused(): void {
    this.store.setDeletesPaused(this.pauseHoldsDeletes || this.inFlight !== null);
  }

  /** SCRIPT KILL / FUNCTION KILL (Redis's scriptKill): null when the script will stop, or the refusal. */
  private killScript(fromEval: boolean): string | null {
    const b = this.inFlight;
    if (b === null) return 'NOTBUSY No scripts in execution right now.';
    if (b.run.opened) return 'UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.';
    if (fromEval !== b.info.isEval) return b.info.busyError;
    this.opts.log.warn('Lua script killed by user with SCRIPT KILL.');
    b.engine.kill('ERR Script killed by user with SCRIPT KILL...');
    return null;
  }

  private transactionServices(): TransactionServices {
    return { watches: this.watches, exec: (ctx, queued) => this.execTransaction(ctx, queued) };
  }

  /**
   * This node stopped taking writes (it became a replica): blocked clients are answered at once
   * with Redis's UNBLOCKED error instead of waiting for a write that can no longer come from them.
   */
  unblockForRoleChange(): void {
    this.blocking.unblockAll();
  }

  resetStats(): void {
    this.commandStats.reset();
    this.counters.connectionsReceived = 0;
    this.counters.rejectedConnections = 0;
    this.counters.commandsProcessed = 0;
    this.counters.errorReplies = 0;
    this.counters.errorsByKind.clear();
    this.counters.internalErrors = 0;
    this.counters.tlsHandshakeFailures = 0;
    this.counters.acceptErrors = 0;
    this.store.lookupStats.hits = 0;
    this.store.lookupStats.misses = 0;
    this.counters.netInputBytes = 0;
    this.counters.netOutputBytes = 0;
    this.counters.queryLimitDisconnections = 0;
    this.counters.outputLimitDisconnections = 0;
    this.lastOpsCount = 0;
    this.lastNetInput = 0;
    this.lastNetOutput = 0;
  }

  /** Stop accepting, drop clients, flush + fsync + close the store. Resolves once closed. */
  async close(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    clearInterval(this.opsTimer);
    this.migrateLinks.close();
    this.blocking.close();
    this.clientPause.close();
    this.memory.gauge.close();
    if (this.beforeClose !== undefined) await this.beforeClose();
    const closed = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    const tlsClosed = new Promise<void>((resolve) => (this.tlsListener === null ? resolve() : this.tlsListener.close(() => resolve())));
    for (const c of [...this.clients.all()]) c.destroy();
    for (const s of [...this.tlsSockets]) s.destroy();
    await Promise.all([closed, tlsClosed, ...this.retiredListeners]);
    await this.store.close();
  }

  /** SHUTDOWN / SIGTERM: close everything, then report exit code 0 (or 1 if closing failed). */
  async shutdown(reason: string): Promise<void> {
    if (this.shuttingDown) return;
    this.opts.log.info(`shutting down (${reason}): flushing and closing the store`);
    let code = 0;
    try {
      await this.close();
    } catch (e) {
      this.opts.log.error(`error while closing the store: ${(e as Error).message}`);
      code = 1;
    }
    this.opts.onShutdown?.(code);
  }
}

/** Listen on host:port; resolves with the bound address (the port chosen when `port` is 0). */
function listenOn(srv: Server, port: number, host: string): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    srv.once('error', onError);
    srv.listen(port, host, () => {
      srv.off('error', onError);
      const a = srv.address();
      assert(a !== null && typeof a !== 'string');
      resolve({ host: a.address, port: a.port });
    });
  });
}
