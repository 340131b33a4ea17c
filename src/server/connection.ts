// One client connection: its socket, query parser, reply encoder and ClientState, and the
// read → parse → dispatch → reply cycle with backpressure. Owns the socket (the only writer)
// and when it is paused; it never decides durability (the server's ReplyScheduler does)
// and never interprets commands (the dispatcher does).

import type { Socket } from 'node:net';
import { RespParser, type ParserLimits } from '../protocol/parser.js';
import { RespEncoder } from '../protocol/encoder.js';
import type { ClientState, CommandContext, DeferredReply, ServerServices } from './command-types.js';
import type { ReplicatedStore } from '../storage/api.js';
import type { Op } from '../storage/types.js';
import type { SocketReads } from './accept.js';

/** After a reply that ends the connection (protocol error, QUIT) is flushed, how long before the descriptor is closed. */
const CLOSE_AFTER_REPLY_LINGER_MS = 100;

/** What a connection needs from the server; kept narrow so the connection is testable alone. */
export interface ConnectionHost {
  readonly store: ReplicatedStore;
  readonly services: ServerServices;
  readonly parserLimits: ParserLimits;
  /** Current per-client output limit in bytes (0 = unlimited); read live so CONFIG SET applies at once. */
  outputBufferBytesMax(): number;
  /** Run one parsed command (lookup, checks, handler, stats). */
  dispatch(conn: Connection, argv: readonly Buffer[]): void;
  /** The commands of one read event are about to run back to back (the dispatcher chains their timing). */
  beginEvent(): void;
  endEvent(): void;
  /** Apply a mutation through the store; returns its seq. */
  write(conn: Connection, ops: readonly Op[]): number;
  /** Replies of this event are ready; the host decides when they may go out (durability). */
  repliesReady(conn: Connection, wrote: boolean): void;
  onClose(conn: Connection): void;
  onNetInput(bytes: number): void;
  onNetOutput(bytes: number): void;
  log(level: 'info' | 'warn', msg: string): void;
}

export class Connection {
  readonly parser: RespParser;
  readonly out = new RespEncoder();
  readonly client: ClientState;
  readonly ctx: CommandContext;
  lastInteractionMs: number;
  /** Set while the event's replies wait for the log (group commit). */
  awaitingDurability = false;
  /** In the server's end-of-turn write list (replies that need no durability wait). */
  queuedForWrite = false;
  /** Under fsync 'always', replies wait for an fsync: input is kept, not run (see pauseForDurability). */
  private holdInput = false;
  /** Whether reading was actually stopped for durability (input arrived while holdInput). */
  private pausedForDurability = false;
  private awaitingDrain = false;
  /** A command deferred its reply (WAIT): no further command runs until it completes. */
  private deferred = false;
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

  constructor(
    readonly socket: Socket,
    /** Set when the socket reads into our buffers (accept.ts): chunks arrive through it, not 'data'. */
    private readonly reads: SocketReads | null,
    id: number,
    private readonly host: ConnectionHost,
    authenticated: boolean,
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
      defer: () => this.defer(),
      detach: (onDetached: (socket: Socket) => void): void => {
        this.handoff = onDetached;
      },
    };
    socket.setNoDelay(true);
    if (reads !== null) reads.deliver = (chunk) => this.onData(chunk);
    else socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      this.awaitingDrain = false;
      this.maybeResume();
    });
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.destroy());
  }

  get isClosed(): boolean {
    return this.closed;
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
    // A deferred reply or a handoff is pending: keep the bytes; they run (or are refused) later.
    if (this.deferred || this.handoff !== null) return;
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

  /** Run every complete command in the parser, stopping at a deferred reply or a handoff. */
  private processBuffered(): void {
    this.host.beginEvent();
    try {
      this.runBuffered();
    } finally {
      this.host.endEvent();
    }
  }

  private runBuffered(): void {
    this.wroteThisEvent = false;
    const limit = this.host.outputBufferBytesMax();
    // Nothing is written to the socket inside this loop, so its buffered bytes are fixed: read
    // the stream getter once per event instead of once per command.
    const socketBytes = this.socket.writableLength;
    this.eventOutStart = this.out.pendingBytes;
    let replies = 0;
    for (;;) {
      const st = this.parser.next();
      if (st === 'incomplete') break;
      if (st === 'error') {
        if (this.parser.closeSilently) {
          this.host.log('warn', `closing client id=${this.client.id} addr=${this.client.addr}: query buffer limit reached`);
          this.destroy();
          return;
        }
        // Redis: reply with the protocol error, then close once the reply is written.
        this.out.error(this.parser.errorMessage);
        replies++;
        this.client.closeAfterReply = true;
        break;
      }
      this.host.dispatch(this, this.parser.argv);
      if (this.closed) return;
      if (!this.deferred) replies++;
      if (limit > 0 && this.out.pendingBytes + socketBytes > limit) {
        this.host.log('warn', `closing client id=${this.client.id} addr=${this.client.addr}: output buffer ${this.outputBytes} bytes > limit ${limit}`);
        this.destroy();
        return;
      }
      if (this.client.closeAfterReply || this.deferred || this.handoff !== null) break;
    }
    this.eventReplies = replies;
    if (this.out.pendingBytes > 0 || this.client.closeAfterReply) this.host.repliesReady(this, this.wroteThisEvent);
  }

  /** Called by the host when this event's replies may be sent (after durability if needed). */
  flushReplies(): void {
    if (this.closed) return;
    const b = this.out.take();
    if (b !== null) {
      this.host.onNetOutput(b.length);
      if (!this.socket.write(b)) this.awaitingDrain = true;
      // Nothing left in the socket's queue: the write completed synchronously and Node holds no
      // reference to `b` (it keeps one only for a write that went asynchronous), so the encoder
      // may write the next replies over the same bytes.
      else if (this.socket.writableLength === 0) this.out.rewind();
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
    const limit = this.host.outputBufferBytesMax();
    if (limit > 0 && this.socket.writableLength > limit) {
      this.host.log('warn', `closing client id=${this.client.id}: output buffer over limit ${limit}`);
      this.destroy();
      return;
    }
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
    this.awaitingDurability = true;
    if (this.host.store.fsyncPolicy === 'always') this.holdInput = true;
  }

  /**
   * The held replies may go out. `keptSeq` is the last seq the log kept: a failed log write
   * rolls the store back, and replies that may show (or acknowledge) a later seq are replaced,
   * one for one, by the store's MISCONF refusal.
   */
  durabilityDone(keptSeq: number): void {
    if (this.heldSeenSeq > keptSeq) this.refuseHeld();
    this.awaitingDurability = false;
    this.holdInput = false;
    this.pausedForDurability = false;
    this.flushReplies();
    // Commands that arrived during the wait run now, behind the replies just sent.
    if (!this.closed && !this.deferred && this.handoff === null && this.parser.pendingBytes > 0) this.processBuffered();
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
  private defer(): DeferredReply {
    this.deferred = true;
    this.socket.pause();
    let done = false;
    return (write) => {
      if (done || this.closed) return;
      done = true;
      this.deferred = false;
      write(this.out);
      this.processBuffered();
      if (!this.deferred && this.out.pendingBytes === 0) this.maybeResume();
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
    for (const ev of ['data', 'drain', 'error', 'close']) this.socket.removeAllListeners(ev);
    // The new owner listens for 'data': chunks read into our buffers are emitted as such from now on.
    const socket = this.socket;
    if (this.reads !== null) this.reads.deliver = (chunk) => socket.emit('data', chunk);
    this.host.onClose(this);
    onDetached(this.socket);
  }

  private maybeResume(): void {
    if (this.closed) return;
    if (this.awaitingDrain || this.pausedForDurability || this.deferred) this.socket.pause();
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
