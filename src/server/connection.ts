// One client connection: its socket, query parser, reply encoder and ClientState, and the
// read → parse → dispatch → reply cycle with its pauses (durability holds, deferred replies),
// per-turn fairness (a slice of at most SLICE_COMMANDS_MAX commands / SLICE_REPLY_BYTES_MAX
// reply bytes, then the rest waits for a later turn) and the output limits, checked as each
// reply is produced. Owns the socket (the only writer) and when it is paused; it never decides
// durability or when a yielded slice resumes (the server does) and never interprets commands
// (the dispatcher does).

import type { Socket } from 'node:net';
import { RespParser, type ParserLimits } from '../protocol/parser.js';
import { RespEncoder } from '../protocol/encoder.js';
import { REPLY_OFF, REPLY_ON, REPLY_SKIP_NEXT, REPLY_SKIPPING, type ClientState, type CommandContext, type DeferredReply, type PauseMode, type ServerServices } from './command-types.js';
import type { ReplicatedStore } from '../storage/api.js';
import type { Op } from '../storage/types.js';
import { READ_REGION_BYTES, type SocketReads } from './accept.js';
import type { OutputLimit } from './config.js';
import type { ReplyWriter } from '../protocol/reply.js';
import { PubSubSession, type PushSink } from './pubsub.js';
import type { PausedClient } from './client-pause.js';
import type { AclUser } from './acl.js';
import type { Key } from '../storage/types.js';

/**
 * Commands one connection runs in one slice (one read event, or one resume) before the rest of
 * its pipeline waits for a later event-loop turn: other clients' reads and replies go first.
 */
export const SLICE_COMMANDS_MAX = 1024;
/**
 * Reply bytes one connection encodes in one slice before it yields the same way. Checked after
 * each reply, so a slice ends at most one reply past it. A slice's replies are written to the
 * socket before the next slice runs, so the encoder never holds more than this plus one reply.
 */
export const SLICE_REPLY_BYTES_MAX = 64 * 1024;

/** The lower of a limit's non-zero bounds (0: none). */
function lowerLimitBytes(l: OutputLimit): number {
  if (l.hardBytes === 0) return l.softBytes;
  return l.softBytes === 0 ? l.hardBytes : Math.min(l.hardBytes, l.softBytes);
}

/**
 * A monitor's output bound when the normal class sets no hard limit: a monitor receives a line
 * per command of every other client, so unlike a client that only asked for its own replies it
 * must never grow without a bound.
 */
export const MONITOR_OUTPUT_BYTES_MAX = 64 * 1024 * 1024;

/** (UN)SUBSCRIBE and its pattern and shard forms: their confirmations are pushes. */
const SUBSCRIPTION_COMMANDS: ReadonlySet<string> = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe']);

function isSubscriptionCommand(name: Buffer): boolean {
  return SUBSCRIPTION_COMMANDS.has(name.toString('latin1').toLowerCase());
}

/** A deferred reply just written: where it starts in the output, and whether producing it wrote,
 * and whether its reply was kept (CLIENT REPLY OFF drops it). */
interface DeferredEventStart {
  readonly outStart: number;
  readonly wrote: boolean;
  readonly replied: boolean;
}

/** Why a connection was closed by a limit (INFO stats counts each). */
export type LimitClose = 'output' | 'query';

/** After a reply that ends the connection (protocol error, QUIT) is flushed, how long before the descriptor is closed. */
const CLOSE_AFTER_REPLY_LINGER_MS = 100;

/** What a connection needs from the server; kept narrow so the connection is testable alone. */
export interface ConnectionHost {
  readonly store: ReplicatedStore;
  readonly services: ServerServices;
  readonly parserLimits: ParserLimits;
  /** The normal class's output limit; read live (per slice) so CONFIG SET applies at once. */
  outputLimit(): OutputLimit;
  /** The pubsub class's output limit (a connection with subscriptions), read live the same way. */
  pubsubOutputLimit(): OutputLimit;
  /** A pub/sub message was encoded into this connection's output: write it out this turn. */
  pushReady(conn: Connection): void;
  /** Run one parsed command (lookup, checks, handler, stats). */
  dispatch(conn: Connection, argv: readonly Buffer[]): void;
  /** CLIENT PAUSE's mode in effect (null: none); read before each command. */
  readonly pauseMode: PauseMode | null;
  /**
   * A pause is in effect: true when it holds this command (the host then keeps the connection in
   * its held list until the pause ends), false to run it now.
   */
  pauseHolds(conn: Connection, argv: readonly Buffer[]): boolean;
  /** The commands of one read event are about to run back to back (the dispatcher chains their timing). */
  beginEvent(): void;
  endEvent(): void;
  /** Apply a mutation through the store; returns its seq. */
  write(conn: Connection, ops: readonly Op[]): number;
  /** A keyspace event for a write that changed nothing (CommandContext.announce). */
  announce(cls: number, event: string, key: Key): void;
  /** Replies of this event are ready; the host decides when they may go out (durability). */
  repliesReady(conn: Connection, wrote: boolean): void;
  /** The connection stopped at its slice bound with commands left: call resume() in a later turn. */
  resumeLater(conn: Connection): void;
  onClose(conn: Connection): void;
  /** A limit closed the connection (after onClose). */
  onLimitClose(kind: LimitClose): void;
  onNetInput(bytes: number): void;
  onNetOutput(bytes: number): void;
  log(level: 'info' | 'warn', msg: string): void;
}

export class Connection implements PushSink, PausedClient {
  readonly parser: RespParser;
  /** This connection's pub/sub subscriptions (the server's PubSubHub routes to them). */
  readonly subs: PubSubSession = new PubSubSession(this);
  readonly out = new RespEncoder();
  readonly client: ClientState;
  readonly ctx: CommandContext;
  lastInteractionMs: number;
  /** Set while the event's replies wait for the log (group commit). */
  awaitingDurability = false;
  /** In the server's end-of-turn write list (replies that need no durability wait). */
  queuedForWrite = false;
  /** In the server's list of connections with pub/sub messages to write (see pushReady). */
  queuedForPush = false;
  /** In the server's resume queue (see resumeLater). */
  queuedForResume = false;
  /** The last slice stopped at its bound with bytes left in the parser: reading waits for resume(). */
  private yielded = false;
  /** When pending output first passed the soft limit (0: it is below). */
  private softLimitSinceMs = 0;
  /** Under fsync 'always', replies wait for an fsync: input is kept, not run (see pauseForDurability). */
  private holdInput = false;
  /** Whether reading was actually stopped for durability (input arrived while holdInput). */
  private pausedForDurability = false;
  /** A command deferred its reply (WAIT): no further command runs until it completes. */
  private deferred = false;
  /** The deferred reply keeps the socket reading (blocked clients): a close is seen while it waits. */
  private deferredReading = false;
  /**
   * A command held by CLIENT PAUSE (copied: the read region may be reused meanwhile); it runs
   * first when the pause ends. Reading goes on meanwhile, within the query buffer limit.
   */
  private pausedArgv: Buffer[] | null = null;
  /** The pause holding pausedArgv ended: it runs at the next resume (or once a durability hold ends). */
  private pauseReleased = false;
  /** KVREPL: once this reply is written the socket belongs to the replication layer. */
  private handoff: ((socket: Socket) => void) | null = null;
  private wroteThisEvent = false;
  private closed = false;
  /** The last command's name, lower-case, for CLIENT LIST. */
  lastCommandName = 'NULL';
  /** The current read event: where its replies start in `out`, and how many it wrote. */
  private eventOutStart = 0;
  private eventReplies = 0;
  /** The held replies (see pauseForDurability): where they start in `out`, how many, and the last seq they may show. */
  private heldOutStart = 0;
  private heldReplies = 0;
  private heldSeenSeq = 0;
  /** This event applied effects the log refused (a transaction too large for one entry): its replies are refused. */
  private eventUnlogged = false;
  /** The held replies include such an event's. */
  private heldUnlogged = false;

  constructor(
    readonly socket: Socket,
    /** Set when the socket reads into our buffers (accept.ts): chunks arrive through it, not 'data'. */
    private readonly reads: SocketReads | null,
    id: number,
    private readonly host: ConnectionHost,
    authenticated: boolean,
    user: AclUser,
  ) {
    this.parser = new RespParser(host.parserLimits);
    const now = Date.now();
    this.lastInteractionMs = now;
    this.client = {
      id,
      name: '',
      protocol: 2,
      authenticated,
      libName: '',
      libVersion: '',
      addr: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`,
      laddr: `${socket.localAddress ?? '?'}:${socket.localPort ?? 0}`,
      createdMs: now,
      lastCommand: '',
      closeAfterReply: false,
      tx: null,
      tracking: null,
      user,
    };
    const self = this;
    this.ctx = {
      store: host.store,
      out: this.out,
      client: this.client,
      server: host.services,
      write(ops: readonly Op[]): void {
        self.wroteThisEvent = true;
        host.write(self, ops);
      },
      announce: (cls: number, event: string, key: Key) => host.announce(cls, event, key),
      defer: (opts?: { keepReading?: boolean }) => this.defer(opts?.keepReading === true),
      detach: (onDetached: (socket: Socket) => void): void => {
        this.handoff = onDetached;
      },
      pubsub: this.subs,
    };
    socket.setNoDelay(true);
    if (reads !== null) reads.deliver = (chunk) => this.onData(chunk);
    else socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.destroy());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The read region input lands in (accept.ts), or 0 when the socket reads through Node's streams. */
  get readBufferBytes(): number {
    return this.reads === null ? 0 : READ_REGION_BYTES;
  }

  /** Pending output (encoded + in the socket's user-space buffer): Redis's omem. */
  get outputBytes(): number {
    return this.out.pendingBytes + this.socket.writableLength;
  }

  private onData(chunk: Buffer): void {
    // After a protocol error or QUIT nothing more is parsed: the connection is closing.
    if (this.closed || this.client.closeAfterReply) return;
    this.host.onNetInput(chunk.length);
    this.lastInteractionMs = Date.now();
    this.parser.append(chunk);
    // A deferred reply, a handoff or the rest of a yielded pipeline is pending: keep the bytes;
    // they run (or are refused) later, in order.
    if (this.deferred || this.handoff !== null || this.yielded || this.pausedArgv !== null) {
      // Only a deferred reply that keeps reading or a paused client gets here with a flowing
      // socket: its unparsed bytes are bounded like any query buffer.
      if ((this.deferredReading || this.pausedArgv !== null) && this.parser.pendingBytes > this.host.parserLimits.queryBufferBytesMax) {
        this.host.log('warn', `closing client id=${this.client.id} addr=${this.client.addr}: query buffer limit reached while blocked`);
        this.destroy();
        this.host.onLimitClose('query');
      }
      return;
    }
    if (this.holdInput) {
      // Replies wait for an fsync (see pauseForDurability): keep these bytes and stop reading.
      if (!this.pausedForDurability) {
        this.pausedForDurability = true;
        this.socket.pause();
      }
      return;
    }
    this.processBuffered();
    this.rewindReads();
  }

  /**
   * Every byte read so far was parsed and run, and no command keeps a view of its arguments
   * (CommandHandler's contract): the next read may reuse the read region from its start. Not
   * while bytes wait in the parser (a partial frame, input held for durability or behind a
   * deferred reply: the parser may still read them out of the region), nor once the socket is
   * being handed over (the new owner gets chunks it may keep). Only a call made while a read is
   * delivered counts (SocketReads.rewind), so it is made at the end of onData.
   */
  private rewindReads(): void {
    if (this.reads !== null && this.parser.pendingBytes === 0 && !this.closed && !this.deferred && this.handoff === null) this.reads.rewind();
  }

  /**
   * Run every complete command in the parser, stopping at a deferred reply or a handoff.
   * `deferred`: a deferred reply was just written at `outStart` (a write made for it noted):
   * the event counts it as its first reply.
   */
  private processBuffered(deferred?: DeferredEventStart): void {
    this.host.beginEvent();
    try {
      this.runBuffered(deferred);
    } finally {
      this.host.endEvent();
    }
  }

  /**
   * One slice: run complete commands until the parser runs dry, a command defers or hands the
   * socket over, or the slice bound is reached (then the rest waits for resume()). The output
   * limit is checked after every reply, so a client that stops reading is closed at most one
   * reply past its hard limit and none of its later commands run.
   */
  private runBuffered(deferred?: DeferredEventStart): void {
    this.wroteThisEvent = deferred?.wrote ?? false;
    this.yielded = false;
    const limit = this.outputLimit();
    // Nothing is written to the socket inside this loop, so its buffered bytes are fixed: read
    // the stream getter once per slice instead of once per command.
    const socketBytes = this.socket.writableLength;
    const outStart = this.out.pendingBytes;
    this.eventOutStart = deferred?.outStart ?? outStart;
    // Per reply, the limits are looked at only once the output passes the lower of them; once
    // per slice always (a soft-limit episode ends when the output fell back below it).
    const checkAbove = lowerLimitBytes(limit);
    if (this.overOutputLimit(limit, outStart + socketBytes)) return;
    // A deferred reply that opens this event counts as its first reply, unless CLIENT REPLY dropped it.
    let replies = deferred === undefined || !deferred.replied ? 0 : 1;
    // Commands run in this slice (replies can be fewer: CLIENT REPLY OFF runs commands silently).
    let commands = 0;
    let dropped = deferred !== undefined && !deferred.replied;
    for (;;) {
      let argv: readonly Buffer[];
      if (this.pausedArgv !== null) {
        // Released from a pause: the held command runs first.
        argv = this.pausedArgv;
        this.pausedArgv = null;
        this.pauseReleased = false;
      } else {
        const st = this.parser.next();
        if (st === 'incomplete') break;
        if (st === 'error') {
          if (this.parser.closeSilently) {
            this.host.log('warn', `closing client id=${this.client.id} addr=${this.client.addr}: query buffer limit reached`);
            this.destroy();
            this.host.onLimitClose('query');
            return;
          }
          // Redis: reply with the protocol error, then close once the reply is written.
          this.out.error(this.parser.errorMessage);
          replies++;
          this.client.closeAfterReply = true;
          break;
        }
        argv = this.parser.argv;
      }
      if (this.host.pauseMode !== null && this.host.pauseHolds(this, argv)) {
        this.pausedArgv = argv.map((b) => Buffer.from(b));
        break;
      }
      let kept = true;
      if (this.client.replyMode === undefined || this.client.replyMode === REPLY_ON) this.host.dispatch(this, argv);
      else {
        kept = this.dispatchSilenced(argv);
        if (!kept) dropped = true;
      }
      if (this.closed) return;
      if (!this.deferred && kept) replies++;
      commands++;
      const pending = this.out.pendingBytes;
      if (checkAbove > 0 && pending + socketBytes > checkAbove && this.overOutputLimit(limit, pending + socketBytes)) return;
      if (this.client.closeAfterReply || this.deferred || this.handoff !== null) break;
      if (commands >= SLICE_COMMANDS_MAX || pending - outStart >= SLICE_REPLY_BYTES_MAX) {
        // Only a complete frame can be waiting: a partial one needs more input, not a resume.
        if (this.parser.pendingBytes > 0) {
          this.yielded = true;
          this.socket.pause();
        }
        break;
      }
    }
    this.eventReplies = replies;
    // A write whose reply CLIENT REPLY dropped still needs the end of the turn (the log's flush).
    if (this.out.pendingBytes > 0 || this.client.closeAfterReply || (dropped && this.wroteThisEvent)) this.host.repliesReady(this, this.wroteThisEvent);
  }

  /**
   * CLIENT REPLY OFF or SKIP: run the command and drop what it replied, unless it was CLIENT
   * REPLY ON. Returns whether a reply was kept (held replies are counted one per reply).
   */
  private dispatchSilenced(argv: readonly Buffer[]): boolean {
    const c = this.client;
    if (c.replyMode === REPLY_SKIP_NEXT) c.replyMode = REPLY_SKIPPING;
    const from = this.out.pendingBytes;
    this.host.dispatch(this, argv);
    if (c.replyMode === REPLY_ON) return true;
    // A deferred reply (BLPOP) is dropped when it completes (see defer).
    if (this.closed || this.deferred) return false;
    // Subscription confirmations are pushes, which Redis sends whatever CLIENT REPLY says (as
    // it sends messages: see push).
    if (isSubscriptionCommand(argv[0] as Buffer)) {
      if (c.replyMode === REPLY_SKIPPING) c.replyMode = REPLY_ON;
      return this.out.pendingBytes > from;
    }
    this.out.truncatePending(from);
    if (c.replyMode === REPLY_SKIPPING) c.replyMode = REPLY_ON;
    return false;
  }

  /** The client's replies are silenced now (CLIENT REPLY OFF, or the command SKIP applies to). */
  private get silenced(): boolean {
    const m = this.client.replyMode;
    return m === REPLY_OFF || m === REPLY_SKIPPING;
  }

  /**
   * The output limits (Redis's client-output-buffer-limit, normal class) against `bytes` of
   * pending output: past the hard limit, or past the soft limit for longer than its seconds,
   * the client is closed (pending output dropped) and true is returned.
   */
  private overOutputLimit(limit: OutputLimit, bytes: number): boolean {
    let over = limit.hardBytes > 0 && bytes > limit.hardBytes;
    if (!over && limit.softBytes > 0 && bytes > limit.softBytes) {
      // A clock read only while over the soft limit.
      const now = Date.now();
      if (this.softLimitSinceMs === 0) this.softLimitSinceMs = now;
      else over = now - this.softLimitSinceMs > limit.softSeconds * 1000;
    } else if (this.softLimitSinceMs !== 0 && !over) {
      this.softLimitSinceMs = 0;
    }
    if (!over) return false;
    this.host.log(
      'warn',
      `closing client id=${this.client.id} addr=${this.client.addr}: output buffer ${bytes} bytes over limit (hard ${limit.hardBytes}, soft ${limit.softBytes} for ${limit.softSeconds} s)`,
    );
    this.destroy();
    this.host.onLimitClose('output');
    return true;
  }

  /**
   * Run the next slice of a yielded pipeline (called by the host in a later turn). Does nothing
   * when the connection closed or something else now owns the next step (a deferred reply, a
   * handoff, a durability hold: each runs the buffered commands itself when it completes).
   * Returns the reply bytes the slice encoded (the host bounds the total per turn).
   */
  resume(): number {
    if ((!this.yielded && this.pausedArgv === null) || this.closed || this.deferred || this.handoff !== null || this.holdInput || this.client.closeAfterReply) return 0;
    const before = this.out.pendingBytes;
    this.processBuffered();
    if (this.closed) return 0;
    if (!this.yielded) this.maybeResume();
    return Math.max(0, this.out.pendingBytes - before);
  }

  /**
   * CLIENT PAUSE ended (PausedClient): the held command and the rest of the pipeline run in a
   * later turn, through the resume queue, in the order clients were held.
   */
  releaseFromPause(): void {
    if (this.pausedArgv === null || this.closed) return;
    this.pauseReleased = true;
    this.host.resumeLater(this);
  }

  /** Redis's client classes: a connection with any subscription is a pubsub client; a monitor is normal. */
  private outputLimit(): OutputLimit {
    if (this.subs.total > 0) return this.host.pubsubOutputLimit();
    const normal = this.host.outputLimit();
    if (this.client.monitor !== true || normal.hardBytes !== 0) return normal;
    return { hardBytes: MONITOR_OUTPUT_BYTES_MAX, softBytes: normal.softBytes, softSeconds: normal.softSeconds };
  }

  /**
   * A pub/sub message for this client (PushSink): encoded behind whatever is pending and written
   * by the host this turn. A subscriber that does not keep up is closed once its output passes
   * the pubsub limit, so a publisher never waits for it and its backlog stays bounded.
   */
  push(write: (out: ReplyWriter) => void): boolean {
    if (this.closed || this.handoff !== null) return false;
    write(this.out);
    if (this.overOutputLimit(this.outputLimit(), this.outputBytes)) return false;
    this.host.pushReady(this);
    return true;
  }

  /** Called by the host when this event's replies may be sent (after durability if needed). */
  flushReplies(): void {
    if (this.closed) return;
    const b = this.out.take();
    if (b !== null) {
      this.host.onNetOutput(b.length);
      // Reading does not wait for 'drain': a client that does not read its replies is bounded by
      // the output limits (closed past them, as Redis does), and its input by the slices.
      this.socket.write(b);
      // Nothing left in the socket's queue: the write completed synchronously and Node holds no
      // reference to `b` (it keeps one only for a write that went asynchronous), so the encoder
      // may write the next replies over the same bytes.
      if (this.socket.writableLength === 0) this.out.rewind();
    }
    if (this.client.closeAfterReply) {
      this.closed = true;
      // Close the descriptor soon after the reply is flushed, as Redis does: a half-closed socket
      // would keep accepting (and ignoring) bytes from a client that never stops sending. Not at
      // once: closing with unread input resets the connection, which drops a reply the kernel
      // has not sent yet.
      const socket = this.socket;
      socket.end(() => setTimeout(() => socket.destroy(), CLOSE_AFTER_REPLY_LINGER_MS).unref());
      this.host.onClose(this);
      return;
    }
    if (this.handoff !== null) return this.handOver(this.handoff);
    if (this.overOutputLimit(this.outputLimit(), this.socket.writableLength)) return;
    if (this.yielded) this.host.resumeLater(this);
    this.maybeResume();
  }

  /**
   * The host holds this event's replies until they are durable. Under fsync 'always' the
   * release waits for an fsync completing in a later turn, so no later command runs until then:
   * its reply must not ride out with an earlier batch before its own write is fsynced. Bytes that
   * arrive meanwhile are kept unparsed and reading stops only then, so a client that waits for
   * its reply (pipeline 1) costs no pause/resume pair per request. Under everysec/no the host
   * releases the whole batch in this same turn right after one flush of the log, so anything
   * read meanwhile only appends replies behind the held ones (still FIFO, still covered by that
   * flush): nothing is held or paused.
   */
  pauseForDurability(): void {
    if (!this.awaitingDurability) {
      this.heldOutStart = this.eventOutStart;
      this.heldReplies = 0;
    }
    this.heldReplies += this.eventReplies;
    this.heldSeenSeq = this.host.store.lastPosition.seq;
    if (this.eventUnlogged) this.heldUnlogged = true;
    this.eventUnlogged = false;
    this.awaitingDurability = true;
    if (this.host.store.fsyncPolicy === 'always') this.holdInput = true;
  }

  /**
   * The held replies may go out. `keptSeq` is the last seq the log kept: a failed log write
   * rolls the store back, and replies that may show (or acknowledge) a later seq are replaced,
   * one for one, by the store's MISCONF refusal.
   */
  durabilityDone(keptSeq: number): void {
    if (this.heldSeenSeq > keptSeq || this.heldUnlogged) this.refuseHeld();
    this.heldUnlogged = false;
    this.awaitingDurability = false;
    this.holdInput = false;
    this.pausedForDurability = false;
    this.flushReplies();
    // Commands that arrived during the wait run now, behind the replies just sent. The rest of a
    // yielded pipeline waits for its turn in the resume queue instead (flushReplies queued it):
    // run here, its writes would join the batch being released, which is already flushed.
    // A command a pause held runs here too once the pause ended (its resume found this hold).
    const next = this.pausedArgv === null ? this.parser.pendingBytes > 0 : this.pauseReleased;
    if (!this.closed && !this.deferred && !this.yielded && this.handoff === null && next) this.processBuffered();
  }

  /**
   * The store rolled back effects this event's replies may show (it refused to log them): the
   * replies are held and then refused, one for one, as after a failed log write.
   */
  refuseEvent(): void {
    this.eventUnlogged = true;
    this.wroteThisEvent = true;
  }

  private refuseHeld(): void {
    this.out.truncatePending(this.heldOutStart);
    const refusal = this.host.store.writeRefusal ?? 'MISCONF Errors writing to the log';
    for (let i = 0; i < this.heldReplies; i++) this.out.error(refusal);
  }

  /**
   * Stop reading; the reply is written when the returned function is called, then the
   * pipelined commands behind it run, so replies stay in order.
   */
  private defer(keepReading: boolean): DeferredReply {
    this.deferred = true;
    this.deferredReading = keepReading;
    if (!keepReading) this.socket.pause();
    let done = false;
    return (write) => {
      if (done || this.closed) return false;
      // The reply (and any write made to produce it, a served pop's) opens the next event, so
      // it is held for durability and refused with its write like a reply of a read event.
      const outStart = this.out.pendingBytes;
      this.wroteThisEvent = false;
      if (write(this.out) === false) return false;
      done = true;
      this.deferred = false;
      this.deferredReading = false;
      // A reply deferred while silenced (CLIENT REPLY OFF, or the command SKIP applied to) is
      // dropped; what producing it wrote stays.
      const replied = !this.silenced;
      if (!replied) this.out.truncatePending(outStart);
      if (this.client.replyMode === REPLY_SKIPPING) this.client.replyMode = REPLY_ON;
      this.processBuffered({ outStart, wrote: this.wroteThisEvent, replied });
      if (!this.deferred && this.out.pendingBytes === 0) this.maybeResume();
      return true;
    };
  }

  /** Give the socket away (replication link): no more RESP on it, no more client bookkeeping. */
  private handOver(onDetached: (socket: Socket) => void): void {
    this.handoff = null;
    if (this.parser.pendingBytes > 0) {
      this.host.log('warn', `closing client id=${this.client.id}: bytes pipelined after a connection handoff`);
      this.destroy();
      return;
    }
    this.closed = true;
    for (const ev of ['data', 'error', 'close']) this.socket.removeAllListeners(ev);
    // The new owner listens for 'data': chunks read into our buffers are emitted as such from now on.
    const socket = this.socket;
    if (this.reads !== null) this.reads.deliver = (chunk) => socket.emit('data', chunk);
    this.host.onClose(this);
    onDetached(this.socket);
  }

  private maybeResume(): void {
    if (this.closed) return;
    if (this.pausedForDurability || (this.deferred && !this.deferredReading) || this.yielded) this.socket.pause();
    else if (this.socket.isPaused()) this.socket.resume();
  }

  /** Close now, dropping pending output (kill, limits, errors). Idempotent. */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.out.discard();
    this.socket.destroy();
    this.host.onClose(this);
  }
}
