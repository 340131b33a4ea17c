// Transactions' per-connection state (the MULTI queue, its flags, the watched keys) and one
// server's WATCH registry, which the store tells of every key an applied entry changed (local
// writes, replicated entries, expiry and eviction deletes, rollbacks). Owns that bookkeeping and
// its bounds; it never runs a command (dispatch.ts does) and never mutates the keyspace.

import type { ReplicatedStore, TouchListener } from '../storage/api.js';
import { isKeyOp, type Key, type Op } from '../storage/types.js';
import type { CommandSpec } from './command-types.js';

/**
 * Arguments (command names included) one transaction may queue. Most commands log at most one
 * op per argument, so this keeps a transaction's entry within one log record's op bound.
 */
export const MULTI_QUEUED_ARGS_MAX = 500_000;
/** Argument bytes one transaction may queue (the queue holds copies); well within one log record. */
export const MULTI_QUEUED_BYTES_MAX = 512 * 1024 * 1024;

export interface QueuedCommand {
  readonly spec: CommandSpec;
  /** Copies: the connection's read buffer is reused once the command is parsed. */
  readonly argv: readonly Buffer[];
}

/** One watched key of one client. */
interface Watch {
  readonly key: Key;
  readonly tx: ClientTx;
  /**
   * Whether the key existed (and had not expired) at WATCH. Deleting a key that did not, or a
   * FLUSHALL that finds it gone, changes nothing the client saw: as Redis, it does not abort EXEC.
   */
  readonly existed: boolean;
}

/** A connection's transaction state; created at its first MULTI or WATCH. */
export class ClientTx {
  /** The queued commands while in MULTI; null outside MULTI. */
  queue: QueuedCommand[] | null = null;
  private queuedArgs = 0;
  private queuedBytes = 0;
  /** A command was refused while queuing (Redis's DIRTY_EXEC): EXEC replies EXECABORT. */
  refused = false;
  /** A watched key changed since WATCH (Redis's DIRTY_CAS): EXEC replies a null array. */
  dirty = false;
  /** Whether some queued command writes / may grow memory: EXEC is checked as such (READONLY, MISCONF, OOM). */
  writes = false;
  denyoom = false;
  readonly watched: Watch[] = [];

  constructor(private readonly registry: WatchRegistry) {}

  get inMulti(): boolean {
    return this.queue !== null;
  }

  begin(): void {
    this.queue = [];
  }

  /**
   * Queue a command (its arguments copied). Returns an error reply, without queuing, past the
   * queue's bounds; the caller flags the transaction as for any refusal at queue time.
   */
  enqueue(spec: CommandSpec, argv: readonly Buffer[]): string | null {
    const q = this.queue;
    if (q === null) throw new Error('bug: enqueue outside MULTI');
    let bytes = 0;
    for (const a of argv) bytes += a.length;
    if (this.queuedArgs + argv.length > MULTI_QUEUED_ARGS_MAX || this.queuedBytes + bytes > MULTI_QUEUED_BYTES_MAX) {
      return `ERR transaction too large: at most ${MULTI_QUEUED_ARGS_MAX} arguments and ${MULTI_QUEUED_BYTES_MAX} bytes may be queued`;
    }
    this.queuedArgs += argv.length;
    this.queuedBytes += bytes;
    q.push({ spec, argv: argv.map((a) => Buffer.from(a)) });
    if (spec.flags.includes('write')) this.writes = true;
    if (spec.flags.includes('denyoom')) this.denyoom = true;
    return null;
  }

  /** The commands to run, leaving MULTI and dropping every watch (EXEC). */
  take(): QueuedCommand[] {
    const q = this.queue ?? [];
    this.reset();
    return q;
  }

  /** Leave MULTI, forget the flags and unwatch everything (EXEC, DISCARD, an aborted EXEC, close). */
  reset(): void {
    this.queue = null;
    this.queuedArgs = 0;
    this.queuedBytes = 0;
    this.refused = false;
    this.writes = false;
    this.denyoom = false;
    this.unwatchAll();
  }

  watch(key: Key, existed: boolean): void {
    if (this.watched.some((w) => w.key === key)) return;
    const w: Watch = { key, tx: this, existed };
    this.watched.push(w);
    this.registry.add(w);
  }

  /** UNWATCH: also clears the dirty flag (nothing is watched any more). */
  unwatchAll(): void {
    for (const w of this.watched) this.registry.remove(w);
    this.watched.length = 0;
    this.dirty = false;
  }

  /** EXEC's last check: a key that existed at WATCH and has expired since counts as changed (Redis 7.0). */
  expiredSinceWatch(store: ReplicatedStore): boolean {
    for (const w of this.watched) if (w.existed && !store.has(w.key)) return true;
    return false;
  }

  /** A watched key changed: EXEC will fail; the watches are dropped at once (nothing can undo it). */
  touch(): void {
    const dirty = this.watched.length > 0;
    for (const w of this.watched) this.registry.remove(w);
    this.watched.length = 0;
    if (dirty) this.dirty = true;
  }
}

/**
 * Watched keys -> the watches on them, for one server. It is the store's TouchListener only while
 * some key is watched, so writes pay nothing when no client uses WATCH.
 */
export class WatchRegistry implements TouchListener {
  private readonly byKey = new Map<Key, Watch[]>();

  /** Only the store's touch listener slot is used (the server passes a fan-out's, see blocking.ts). */
  constructor(private readonly store: Pick<ReplicatedStore, 'setTouchListener'>) {}

  /** Keys watched (by any number of clients). */
  get keys(): number {
    return this.byKey.size;
  }

  add(w: Watch): void {
    const list = this.byKey.get(w.key);
    if (list !== undefined) list.push(w);
    else {
      if (this.byKey.size === 0) this.store.setTouchListener(this);
      this.byKey.set(w.key, [w]);
    }
  }

  remove(w: Watch): void {
    const list = this.byKey.get(w.key);
    if (list === undefined) return;
    const i = list.indexOf(w);
    if (i >= 0) list.splice(i, 1);
    if (list.length > 0) return;
    this.byKey.delete(w.key);
    if (this.byKey.size === 0) this.store.setTouchListener(null);
  }

  touched(ops: readonly Op[]): void {
    for (const op of ops) {
      if (op.t === 'flushall') {
        this.flushed();
        continue;
      }
      if (!isKeyOp(op)) continue;
      const list = this.byKey.get(op.key);
      if (list === undefined) continue;
      // A copy: touching a client removes its watches from the list being walked.
      for (const w of list.slice()) if (op.t !== 'del' || w.existed) w.tx.touch();
    }
  }

  touchedAll(): void {
    for (const list of [...this.byKey.values()]) for (const w of list.slice()) w.tx.touch();
  }

  /** FLUSHALL changes the watched keys that existed (Redis's touchAllWatchedKeysInDb). */
  private flushed(): void {
    for (const list of [...this.byKey.values()]) for (const w of list.slice()) if (w.existed) w.tx.touch();
  }
}
