// Per-connection consistency state (mode, session token, last write here) and the bounded
// lists of clients waiting for replication progress (WAIT, CONSISTENCY SESSION <token>).
// Owns only that bookkeeping; it never sends replies itself beyond completing the deferred
// replies it was given, and never keeps a connection alive (state is weakly keyed).

import type { ClientState, DeferredReply } from '../../server/command-types.js';
import type { Position, Seq } from '../../storage/types.js';
import type { SessionVerdict } from '../core/history.js';

/** Clients blocked in WAIT at once; beyond it WAIT answers at once with the current count. */
export const REPLICA_WAITERS_MAX = 10_000;
/** Clients blocked waiting for a session token at once; beyond it they get TOOSTALE at once. */
export const SESSION_WAITERS_MAX = 10_000;

/** 'quorum' (cluster mode): reads and writes go through QuorumOps (src/replication/cluster/quorum-ops.ts). */
export type ConsistencyMode = 'eventual' | 'session' | 'quorum';

export interface ClientRepl {
  mode: ConsistencyMode;
  /** The latest token this connection presented (CONSISTENCY SESSION <token>). */
  token: Position | null;
  /**
   * Its own last write on this node. Kept apart from `token`: the two may come from different
   * histories (a write on a deposed primary), and the later seq must not hide a lost one.
   */
  lastWrite: Position | null;
}

/**
 * Session token wire form: `<epoch>:<seq>`, both decimal, e.g. "3:1042". It names one log
 * entry; a node that holds seq with that epoch has it (and everything before it).
 */
export function formatToken(p: Position): string {
  return `${p.epoch}:${p.seq}`;
}

export function parseToken(s: string): Position | null {
  const m = /^(\d{1,10}):(\d{1,16})$/.exec(s);
  if (m === null) return null;
  const epoch = Number(m[1]);
  const seq = Number(m[2]);
  if (!Number.isSafeInteger(seq)) return null;
  return { epoch, seq };
}

/** The later of two tokens by seq (meaningful within one history: a later entry implies the earlier). */
export function laterToken(a: Position | null, b: Position | null): Position | null {
  if (a === null) return b;
  if (b === null) return a;
  return b.seq > a.seq || (b.seq === a.seq && b.epoch > a.epoch) ? b : a;
}

interface ReplicaWaiter {
  readonly seq: Seq;
  readonly replicas: number;
  /** Infinity: WAIT ... 0 waits forever. */
  readonly deadlineMs: number;
  readonly finish: DeferredReply;
}

interface SessionWaiter {
  readonly token: Position;
  readonly deadlineMs: number;
  /** Called once with the outcome; 'wait' means the deadline passed. */
  readonly done: (verdict: SessionVerdict) => void;
}

export class Sessions {
  /** INFO counters: session tokens that had to wait, and how those waits ended. */
  sessionWaits = 0;
  sessionWaitsTimedOut = 0;
  sessionWaitsLost = 0;
  private readonly clients = new WeakMap<ClientState, ClientRepl>();
  private replicaWaiters: ReplicaWaiter[] = [];
  private sessionWaiters: SessionWaiter[] = [];

  state(c: ClientState): ClientRepl {
    let s = this.clients.get(c);
    if (s === undefined) {
      s = { mode: 'eventual', token: null, lastWrite: null };
      this.clients.set(c, s);
    }
    return s;
  }

  peek(c: ClientState): ClientRepl | undefined {
    return this.clients.get(c);
  }

  /** A write by `c` landed at `pos`: its session now requires it. */
  noteWrite(c: ClientState, pos: Position): void {
    const s = this.state(c);
    s.lastWrite = laterToken(s.lastWrite, pos);
  }

  /** Every position this connection's session requires (presented token, own last write). */
  required(s: ClientRepl): Position[] {
    const r: Position[] = [];
    if (s.token !== null) r.push(s.token);
    if (s.lastWrite !== null) r.push(s.lastWrite);
    return r;
  }

  /** Returns false when the list is full (caller answers at once). */
  addReplicaWaiter(seq: Seq, replicas: number, deadlineMs: number, finish: DeferredReply): boolean {
    if (this.replicaWaiters.length >= REPLICA_WAITERS_MAX) return false;
    this.replicaWaiters.push({ seq, replicas, deadlineMs, finish });
    return true;
  }

  addSessionWaiter(token: Position, deadlineMs: number, done: (v: SessionVerdict) => void): boolean {
    if (this.sessionWaiters.length >= SESSION_WAITERS_MAX) return false;
    this.sessionWaits++;
    this.sessionWaiters.push({ token, deadlineMs, done });
    return true;
  }

  /** Answer every WAIT that is satisfied, timed out, or (force) must end now (role change). */
  checkReplicaWaiters(nowMs: number, ackedAtLeast: (seq: Seq) => number, force: boolean): void {
    if (this.replicaWaiters.length === 0) return;
    const keep: ReplicaWaiter[] = [];
    for (const w of this.replicaWaiters) {
      const n = ackedAtLeast(w.seq);
      if (force || n >= w.replicas || nowMs >= w.deadlineMs) w.finish((out) => out.integer(n));
      else keep.push(w);
    }
    this.replicaWaiters = keep;
  }

  checkSessionWaiters(nowMs: number, verdict: (t: Position) => SessionVerdict): void {
    if (this.sessionWaiters.length === 0) return;
    const keep: SessionWaiter[] = [];
    for (const w of this.sessionWaiters) {
      const v = verdict(w.token);
      if (v !== 'wait' || nowMs >= w.deadlineMs) {
        if (v === 'wait') this.sessionWaitsTimedOut++;
        if (v === 'lost') this.sessionWaitsLost++;
        w.done(v);
      } else {
        keep.push(w);
      }
    }
    this.sessionWaiters = keep;
  }
}
