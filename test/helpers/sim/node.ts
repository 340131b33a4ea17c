// One simulated node: an in-memory log store (entries, durable prefix, persisted meta) and the
// host loop that feeds the replication core and executes its effects, reporting to the world's
// observer. Owns the node's simulated disk; a crash keeps only what was durable or persisted.

import assert from 'node:assert/strict';
import { ReplicationCore } from '../../../src/replication/core/core.js';
import type { ConfigAt, CoreConfig, CoreEvent, Effect, Message, NodeId, PersistedMeta } from '../../../src/replication/core/types.js';
import { CONFIGS_KEPT, decodeMemberConfig, encodeMemberConfig } from '../../../src/replication/core/member-config.js';
import type { EpochStart, LogEntry, Position } from '../../../src/storage/types.js';

/** What travels on the simulated network: core messages, or a host-level snapshot stream. */
export type Wire =
  | { readonly kind: 'core'; readonly msg: Message }
  | { readonly kind: 'snapshot'; readonly entries: readonly LogEntry[]; readonly position: Position; readonly history: readonly EpochStart[] };

/** The world's hooks: invariant checks and the client-operation history. */
export interface Observer {
  send(from: NodeId, to: NodeId, w: Wire): void;
  becamePrimary(node: SimNode, epoch: number): void;
  committed(node: SimNode, commitSeq: number): void;
  truncating(node: SimNode, e: Extract<Effect, { type: 'truncateAfter' }>): void;
  loadingDiscards(node: SimNode, discarded: readonly LogEntry[]): void;
  readDone(node: SimNode, readId: number, ok: boolean): void;
  /** A primary created the entry (a client write or an epoch's no-op). */
  wrote(node: SimNode, entry: LogEntry): void;
  writeDone(node: SimNode, writeId: number, seq: number, ok: boolean): void;
  failoverDone(node: SimNode, ok: boolean, reason: string): void;
  memberChangeDone(node: SimNode, requestId: number, outcome: 'ok' | 'refused' | 'unknown', seq: number, reason: string): void;
  log(node: SimNode, text: string): void;
}

export function historyOf(entries: readonly LogEntry[]): EpochStart[] {
  const h: EpochStart[] = [];
  for (const e of entries) if (h.length === 0 || (h[h.length - 1] as EpochStart).epoch !== e.epoch) h.push({ epoch: e.epoch, startSeq: e.seq });
  return h;
}

/** The configurations a log sets (its 'members' entries), the newest CONFIGS_KEPT, as the real store keeps them. */
export function configsOf(entries: readonly LogEntry[]): ConfigAt[] {
  const out: ConfigAt[] = [];
  for (const e of entries) {
    const op = e.ops.length === 1 ? e.ops[0] : undefined;
    if (op === undefined || op.t !== 'members') continue;
    const config = decodeMemberConfig(op.config);
    assert(config !== null, `undecodable configuration at ${e.seq}`);
    out.push({ seq: e.seq, config });
  }
  return out.slice(Math.max(0, out.length - CONFIGS_KEPT));
}

export class SimStore {
  entries: LogEntry[] = [];
  durableSeq = 0;
  meta: PersistedMeta = { currentEpoch: 0, votedFor: null };

  get last(): Position {
    const e = this.entries[this.entries.length - 1];
    return e === undefined ? { epoch: 0, seq: 0 } : { epoch: e.epoch, seq: e.seq };
  }
  append(e: LogEntry): void {
    assert.equal(e.seq, this.entries.length + 1, 'sim store: log gap');
    this.entries.push(e);
  }
  /** Value of `key` after applying the whole log (the register state a read sees). */
  valueOf(key: string): string | null {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      for (const op of (this.entries[i] as LogEntry).ops) {
        if (op.t === 'set' && op.key === key) return op.value.toString('latin1');
        if (op.t === 'del' && op.key === key) return null;
      }
    }
    return null;
  }
  crash(): void {
    this.entries = this.entries.slice(0, this.durableSeq);
  }
}

export class SimNode {
  core: ReplicationCore | null = null;
  readonly store = new SimStore();
  /** Entries discarded by truncation since this incarnation started (must match the core's counter). */
  discardedSinceStart = 0;
  restartAtMs = -1;
  /** The core asked for a flush (flushSoon); the world steps it at a point of its choosing. */
  flushPending = false;
  /** The local log failed (no writes, no fsync) until this time; -1: it works. */
  logDownUntilMs = -1;

  constructor(
    readonly id: NodeId,
    private readonly makeConfig: () => CoreConfig,
    private readonly obs: Observer,
  ) {}

  get alive(): boolean {
    return this.core !== null;
  }

  get lastSeq(): number {
    return this.store.entries.length;
  }

  epochAt(seq: number): number | undefined {
    return this.store.entries[seq - 1]?.epoch;
  }

  start(nowMs: number): void {
    assert.equal(this.core, null);
    const s = this.store;
    this.core = new ReplicationCore(
      this.makeConfig(),
      { currentEpoch: s.meta.currentEpoch, votedFor: s.meta.votedFor, epochHistory: historyOf(s.entries), lastPosition: s.last, durableSeq: s.durableSeq, configs: configsOf(s.entries) },
      nowMs,
    );
    this.discardedSinceStart = 0;
    this.run({ type: 'start' }, nowMs);
  }

  crash(): void {
    this.core = null;
    this.flushPending = false;
    this.logDownUntilMs = -1;
    this.store.crash();
  }

  get logDown(): boolean {
    return this.logDownUntilMs >= 0;
  }

  /**
   * The local log fails (a write or fsync error): the store keeps its durable prefix, as the real
   * store rolls back to what it wrote, and refuses writes until `resumeAtMs`. The process lives on.
   */
  diskFail(nowMs: number, resumeAtMs: number): number {
    assert(this.core !== null && !this.logDown);
    const lost = this.store.entries.length - this.store.durableSeq;
    this.discardedSinceStart += lost;
    this.store.entries.length = this.store.durableSeq;
    this.logDownUntilMs = resumeAtMs;
    this.run({ type: 'logFailed', keptSeq: this.store.durableSeq }, nowMs);
    return lost;
  }

  /** The failed log takes writes again once its time came. */
  maybeResume(nowMs: number): void {
    if (!this.logDown || nowMs < this.logDownUntilMs) return;
    this.logDownUntilMs = -1;
    this.run({ type: 'logResumed' }, nowMs);
  }

  /** Feed one event and execute the effects in order (persistMeta is synchronous, so "durable before the rest" holds). */
  run(event: CoreEvent, nowMs: number): void {
    const core = this.core;
    if (core === null) return;
    for (const e of core.step(event, nowMs)) this.execute(e, nowMs);
  }

  /** A client write on this node (the host's store.apply + localWrite). */
  write(key: string, value: string, nowMs: number): number {
    const core = this.core;
    assert(core !== null);
    assert(!this.logDown, 'a client write on a node whose log is down');
    const entry: LogEntry = { epoch: core.currentEpoch, seq: this.store.last.seq + 1, ops: [{ t: 'set', key, value: Buffer.from(value, 'latin1'), expireAtMs: 0 }] };
    this.obs.wrote(this, entry);
    this.store.append(entry);
    this.run({ type: 'localWrite', entry }, nowMs);
    return entry.seq;
  }

  /** The host's end of turn: send replicas the local writes since the last flush. */
  flush(nowMs: number): void {
    if (!this.flushPending) return;
    this.flushPending = false;
    this.run({ type: 'flush' }, nowMs);
  }

  fsync(nowMs: number): void {
    if (this.logDown || this.store.durableSeq === this.store.entries.length) return;
    this.store.durableSeq = this.store.entries.length;
    this.run({ type: 'durable', seq: this.store.durableSeq }, nowMs);
  }

  deliver(from: NodeId, w: Wire, nowMs: number): void {
    const core = this.core;
    if (core === null) return;
    if (w.kind === 'core') {
      this.run({ type: 'message', from, msg: w.msg }, nowMs);
      return;
    }
    if (!core.snapshotAcceptable(from)) return; // a stale stream: the host drops it without touching the store
    // Entries of ours the snapshot does not hold (a diverged suffix) are discarded by the load.
    const old = this.store.entries;
    let lost = 0;
    for (let s = 1; s <= old.length; s++) if (w.entries[s - 1]?.epoch !== (old[s - 1] as LogEntry).epoch) lost++;
    this.obs.loadingDiscards(this, old.slice(old.length - lost));
    this.discardedSinceStart += lost;
    this.store.entries = [...w.entries];
    this.store.durableSeq = w.position.seq;
    this.run({ type: 'snapshotLoaded', peer: from, position: w.position, epochHistory: w.history, configs: configsOf(w.entries) }, nowMs);
  }

  private execute(e: Effect, nowMs: number): void {
    switch (e.type) {
      case 'send':
        this.obs.send(this.id, e.to, { kind: 'core', msg: e.msg });
        break;
      case 'persistMeta':
        this.store.meta = e.meta;
        break;
      case 'appendEntries':
        assert(!this.logDown, `${this.id} applies appends while its log is down`);
        for (const entry of e.entries) this.store.append(entry);
        break;
      case 'truncateAfter':
        this.obs.truncating(this, e);
        assert.equal(this.store.entries.length - e.seq, e.discarded, 'discard count matches the store');
        this.discardedSinceStart += e.discarded;
        this.store.entries.length = e.seq;
        this.store.durableSeq = Math.min(this.store.durableSeq, e.seq);
        break;
      case 'becomePrimary': {
        assert(!this.logDown, `${this.id} becomes primary while its log is down`);
        this.obs.becamePrimary(this, e.epoch);
        const noop: LogEntry = { epoch: e.epoch, seq: this.store.last.seq + 1, ops: [] };
        this.obs.wrote(this, noop);
        this.store.append(noop);
        this.run({ type: 'localWrite', entry: noop }, nowMs);
        break;
      }
      case 'flushSoon':
        this.flushPending = true;
        break;
      case 'appendConfig': {
        assert(!this.logDown, `${this.id} appends a configuration while its log is down`);
        const core = this.core as ReplicationCore;
        const entry: LogEntry = { epoch: core.currentEpoch, seq: this.store.last.seq + 1, ops: [{ t: 'members', config: encodeMemberConfig(e.config) }] };
        this.obs.wrote(this, entry);
        this.store.append(entry);
        this.run({ type: 'localWrite', entry }, nowMs);
        break;
      }
      case 'memberChangeResult':
        this.obs.memberChangeDone(this, e.requestId, e.outcome, e.seq, e.reason);
        break;
      case 'membersChanged':
        break;
      case 'becomeReplica':
      case 'expectFullResync':
        break;
      case 'startFullResync': {
        const position = this.store.last;
        this.obs.send(this.id, e.peer, { kind: 'snapshot', entries: [...this.store.entries], position, history: historyOf(this.store.entries) });
        this.run({ type: 'fullResyncSent', peer: e.peer, from: position }, nowMs);
        break;
      }
      case 'commitAdvanced':
        this.obs.committed(this, e.commitSeq);
        break;
      case 'readReady':
        this.obs.readDone(this, e.readId, true);
        break;
      case 'readFailed':
        this.obs.readDone(this, e.readId, false);
        break;
      case 'quorumWriteResult':
        this.obs.writeDone(this, e.writeId, e.seq, e.outcome === 'ok');
        break;
      case 'failoverResult':
        this.obs.failoverDone(this, e.ok, e.reason);
        break;
      case 'log':
        this.obs.log(this, `${e.level}: ${e.text}`);
        break;
      default: {
        const never: never = e;
        throw new Error(`unhandled effect ${JSON.stringify(never)}`);
      }
    }
  }
}
