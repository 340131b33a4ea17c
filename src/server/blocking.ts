// Clients blocked by BLPOP, BLMOVE, BZPOPMIN... on one server: key -> FIFO of waiters, the keys
// an applied entry made "ready", serving them in order of blocking, one timer for every deadline,
// CLIENT UNBLOCK and disconnects. Owns that bookkeeping and its bound; it never pops anything
// itself (each waiter's command does, through its connection's ctx.write, so a served pop is one
// log entry of its own) and never mutates the keyspace.

import { performance } from 'node:perf_hooks';
import type { CommandObserver } from './dispatch.js';
import type { ReplicatedStore, TouchListener } from '../storage/api.js';
import { isKeyOp, type Key, type Op } from '../storage/types.js';
import type { BlockedAttempt, BlockingServices, ClientState, CommandContext, CommandSpec, DeferredReply } from './command-types.js';

/**
 * Clients blocked at once on one server. Past it a blocking command that finds nothing to pop
 * is refused with ERR_BLOCKED_CLIENTS_MAX instead of waiting (each waiter holds its connection's
 * reply and a place per key).
 */
export const BLOCKED_CLIENTS_MAX = 10_000;
export const ERR_BLOCKED_CLIENTS_MAX = `ERR too many blocked clients (at most ${BLOCKED_CLIENTS_MAX})`;
/**
 * How soon a key whose waiters were refused (writes refused after a failed log write) is tried
 * again: well within the store's log retry interval, so a waiter is served soon after writes resume.
 */
export const STALLED_RETRY_MS = 100;
/** setTimeout's longest delay (a signed 32-bit count of milliseconds). */
const TIMER_DELAY_MS_MAX = 2 ** 31 - 1;
/** Redis 7.0's reply to a client unblocked with CLIENT UNBLOCK id ERROR. */
export const ERR_UNBLOCKED_BY_CLIENT = 'UNBLOCKED client unblocked via CLIENT UNBLOCK';
/** Redis 7.0's reply to blocked clients when their primary becomes a replica. */
export const ERR_UNBLOCKED_ROLE = 'UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)';

interface Waiter {
  readonly client: ClientState;
  readonly ctx: CommandContext;
  readonly spec: CommandSpec;
  /** Copies: the connection's read buffer is reused. */
  readonly argv: readonly Buffer[];
  readonly keys: readonly Key[];
  /** Absolute, Date.now() milliseconds; 0 = forever. */
  readonly deadlineMs: number;
  readonly attempt: BlockedAttempt;
  readonly finish: DeferredReply;
  done: boolean;
}

/** The checks a command meets before it runs (READONLY, MISCONF, OOM...), re-run for a served waiter. */
export type WaiterCheck = (client: ClientState, spec: CommandSpec, argv: readonly Buffer[]) => string | null;

/**
 * The store has one touch listener slot: WATCH and blocked clients share it through this fan-out,
 * which is installed only while one of them listens, so writes pay nothing otherwise.
 */
export class TouchFanout implements TouchListener {
  private watch: TouchListener | null = null;
  private block: TouchListener | null = null;

  constructor(private readonly store: ReplicatedStore) {}

  /** The slot WatchRegistry installs itself into (it sees a store-like setter). */
  readonly watchSlot = { setTouchListener: (l: TouchListener | null): void => this.set('watch', l) };

  set(which: 'watch' | 'block', l: TouchListener | null): void {
    if (which === 'watch') this.watch = l;
    else this.block = l;
    this.store.setTouchListener(this.watch === null && this.block === null ? null : this);
  }

  touched(ops: readonly Op[]): void {
    this.watch?.touched(ops);
    this.block?.touched(ops);
  }

  touchedAll(): void {
    this.watch?.touchedAll();
    this.block?.touchedAll();
  }
}

/** A binary min-heap of waiters by deadline; entries of finished waiters are dropped lazily. */
class DeadlineHeap {
  private readonly a: Waiter[] = [];

  get size(): number {
    return this.a.length;
  }

  peek(): Waiter | undefined {
    return this.a[0];
  }

  push(w: Waiter): void {
    const a = this.a;
    a.push(w);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((a[p] as Waiter).deadlineMs <= w.deadlineMs) break;
      a[i] = a[p] as Waiter;
      i = p;
    }
    a[i] = w;
  }

  pop(): Waiter | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && (a[r] as Waiter).deadlineMs < (a[l] as Waiter).deadlineMs ? r : l;
      if ((a[c] as Waiter).deadlineMs >= last.deadlineMs) break;
      a[i] = a[c] as Waiter;
      i = c;
    }
    a[i] = last;
    return top;
  }

  /** Drop every finished waiter (when the heap holds many more entries than waiters). */
  compact(): void {
    const live = this.a.filter((w) => !w.done);
    this.a.length = 0;
    for (const w of live) this.push(w);
  }
}

export class BlockingRegistry implements TouchListener, BlockingServices {
  private readonly byKey = new Map<Key, Waiter[]>();
  private readonly byClient = new Map<number, Waiter>();
  /** Keys with waiters that an applied entry changed since the last serve, in that order. */
  private ready = new Set<Key>();
  private serving = false;
  /** Ready keys whose waiters were refused (the log failed): tried again by stallTimer. */
  private readonly stalled = new Set<Key>();
  private stallTimer: NodeJS.Timeout | null = null;
  private serveQueued = false;
  private readonly heap = new DeadlineHeap();
  private timer: NodeJS.Timeout | null = null;
  private timerAtMs = 0;
  /** Told of each served command and how long serving it took (the slow log logs it then, as Redis). */
  onServed: CommandObserver | null = null;
  /** Told of each waiter answered with an error instead (INFO errorstats, the command's failed_calls). */
  onFailed: ((spec: CommandSpec, argv: readonly Buffer[], error: string) => void) | null = null;
  /** A script is in flight past busy-reply-threshold: no waiter is served until it ends (the server serves them then). */
  held = false;
  private readonly serveFn = (): void => {
    this.serveQueued = false;
    this.serveReady();
  };

  constructor(
    private readonly fanout: TouchFanout,
    /** Re-run before a waiter is served (Dispatcher.recheck). */
    private readonly check: WaiterCheck,
  ) {}

  get blockedClients(): number {
    return this.byClient.size;
  }

  get hasReady(): boolean {
    return this.ready.size > 0;
  }

  isBlocked(clientId: number): boolean {
    return this.byClient.has(clientId);
  }

  block(ctx: CommandContext, spec: CommandSpec, argv: readonly Buffer[], keys: readonly Key[], deadlineMs: number, attempt: BlockedAttempt): string | null {
    if (this.byClient.size >= BLOCKED_CLIENTS_MAX) return ERR_BLOCKED_CLIENTS_MAX;
    const finish = ctx.defer?.({ keepReading: true });
    if (finish === undefined) throw new Error('bug: block without a deferrable context');
    const w: Waiter = { client: ctx.client, ctx, spec, argv: argv.map((a) => Buffer.from(a)), keys: [...new Set(keys)], deadlineMs, attempt, finish, done: false };
    if (this.byClient.size === 0) this.fanout.set('block', this);
    this.byClient.set(w.client.id, w);
    w.client.blocked = true;
    for (const k of w.keys) {
      const list = this.byKey.get(k);
      if (list === undefined) this.byKey.set(k, [w]);
      else list.push(w);
    }
    if (deadlineMs > 0) {
      this.heap.push(w);
      this.armTimer();
    }
    return null;
  }

  /** CLIENT UNBLOCK: true when the client was blocked here. */
  unblock(clientId: number, error: boolean): boolean {
    const w = this.byClient.get(clientId);
    if (w === undefined) return false;
    this.remove(w);
    if (error) this.onFailed?.(w.spec, w.argv, ERR_UNBLOCKED_BY_CLIENT);
    w.finish((out) => (error ? out.error(ERR_UNBLOCKED_BY_CLIENT) : out.nullArray()));
    return true;
  }

  /** The client's connection closed: forget it (no reply). */
  forget(clientId: number): void {
    const w = this.byClient.get(clientId);
    if (w !== undefined) this.remove(w);
  }

  /**
   * This node stopped taking writes (it became a replica): every waiter is answered with the
   * UNBLOCKED error and its connection closed after it, as Redis 7.0 does.
   */
  unblockAll(): void {
    for (const w of [...this.byClient.values()]) this.unblockForRole(w);
  }

  private unblockForRole(w: Waiter): void {
    this.remove(w);
    w.client.closeAfterReply = true;
    this.onFailed?.(w.spec, w.argv, ERR_UNBLOCKED_ROLE);
    w.finish((out) => out.error(ERR_UNBLOCKED_ROLE));
  }

  touched(ops: readonly Op[]): void {
    for (const op of ops) {
      // A flush empties every key: a pop finds nothing and keeps waiting, while a blocked
      // XREADGROUP learns its stream is gone (Redis answers it UNBLOCKED).
      if (op.t === 'flushall') for (const k of this.byKey.keys()) this.ready.add(k);
      if (!isKeyOp(op)) continue;
      if (this.byKey.has(op.key)) this.ready.add(op.key);
    }
    this.queueServe();
  }

  touchedAll(): void {
    for (const k of this.byKey.keys()) this.ready.add(k);
    this.queueServe();
  }

  /**
   * Entries applied outside a command (replicated ones, expiry) are served once the current
   * synchronous work ends; the server serves after each command itself (serveReady).
   */
  private queueServe(): void {
    if (this.ready.size === 0 || this.serveQueued) return;
    this.serveQueued = true;
    queueMicrotask(this.serveFn);
  }

  /**
   * Serve the ready keys, in the order they became ready; on each key the waiters in the order
   * they blocked, each re-running its pop against the current state (its own log entry) until
   * one finds nothing. A served pop may make other keys ready (BLMOVE): they are served too.
   * Never re-entered: a served client's pipelined commands only add ready keys to this loop.
   */
  serveReady(): void {
    if (this.serving || this.held) return;
    this.serving = true;
    try {
      while (this.ready.size > 0) {
        const keys = this.ready;
        this.ready = new Set();
        for (const k of keys) this.serveKey(k);
      }
    } finally {
      this.serving = false;
    }
  }

  private serveKey(key: Key): void {
    const list = this.byKey.get(key);
    if (list === undefined) return;
    for (const w of list.slice()) {
      if (w.done) continue;
      const err = this.check(w.client, w.spec, w.argv);
      // A node that became a replica answers as Redis. Another refusal (a failed log: MISCONF)
      // leaves the client waiting, as Redis never refuses a pop it serves, and the key is tried
      // again until writes are accepted (nothing else would make it ready again).
      if (err !== null) {
        if (err.startsWith('READONLY')) this.unblockForRole(w);
        else this.stall(key);
        continue;
      }
      // The pop runs as the deferred reply, so the connection holds it for durability and
      // refuses it if its log write fails, as any reply. Nothing for this one (the key is empty,
      // or holds another type, or BLMOVE's destination does): it keeps waiting; a later waiter
      // may still be served. Removed before the connection runs its pipelined commands (which
      // may block it again).
      w.finish((out) => {
        const t0 = performance.now();
        const r = w.attempt(w.ctx, key);
        if (r === false) return false;
        this.remove(w);
        if (typeof r === 'string') {
          this.onFailed?.(w.spec, w.argv, r);
          out.error(r);
        } else this.onServed?.executed(w.ctx, w.spec, w.argv, performance.now() - t0);
        return true;
      });
    }
  }

  /** A refused serve: try the key again after STALLED_RETRY_MS (a failed log retries at its own pace). */
  private stall(key: Key): void {
    this.stalled.add(key);
    if (this.stallTimer !== null) return;
    this.stallTimer = setTimeout(() => {
      this.stallTimer = null;
      for (const k of this.stalled) this.ready.add(k);
      this.stalled.clear();
      this.serveReady();
    }, STALLED_RETRY_MS);
  }

  private remove(w: Waiter): void {
    if (w.done) return;
    w.done = true;
    w.client.blocked = false;
    this.byClient.delete(w.client.id);
    for (const k of w.keys) {
      const list = this.byKey.get(k);
      if (list === undefined) continue;
      const i = list.indexOf(w);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byKey.delete(k);
    }
    if (this.byClient.size === 0) {
      this.fanout.set('block', null);
      this.ready.clear();
      this.stalled.clear();
      if (this.stallTimer !== null) clearTimeout(this.stallTimer);
      this.stallTimer = null;
    }
    if (this.heap.size > 2 * this.byClient.size + 64) this.heap.compact();
  }

  /** One timer, for the earliest deadline. */
  private armTimer(): void {
    let top = this.heap.peek();
    while (top !== undefined && top.done) {
      this.heap.pop();
      top = this.heap.peek();
    }
    if (top === undefined) {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      return;
    }
    if (this.timer !== null && this.timerAtMs <= top.deadlineMs) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAtMs = top.deadlineMs;
    // Past setTimeout's range the timer fires early, finds nothing due and is armed again.
    this.timer = setTimeout(() => this.expire(), Math.min(TIMER_DELAY_MS_MAX, Math.max(0, top.deadlineMs - Date.now())));
  }

  private expire(): void {
    this.timer = null;
    const now = Date.now();
    for (let top = this.heap.peek(); top !== undefined && (top.done || top.deadlineMs <= now); top = this.heap.peek()) {
      this.heap.pop();
      if (top.done) continue;
      this.remove(top);
      top.finish((out) => out.nullArray());
    }
    this.armTimer();
  }

  /** Server close: no timer may keep the process alive. */
  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.stallTimer !== null) clearTimeout(this.stallTimer);
    this.stallTimer = null;
  }
}
