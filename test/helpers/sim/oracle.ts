// The simulators' oracle: the committed entries as primaries first report them, the primary of
// each epoch, the clients' operation history, and the safety checks both simulators (core only,
// and host + store) run against any node's log. Owns that record and the run's counters; never
// drives a node.

import assert from 'node:assert/strict';
import type { ConfigAt, NodeId } from '../../../src/replication/core/types.js';
import { formatConfig, majoritiesCanBeDisjoint } from '../../../src/replication/core/member-config.js';
import { checkLinearizable, type CheckResult, type KvOp } from '../linearizability.js';

/** What the checks read of a node's log. */
export interface LogView {
  readonly id: NodeId;
  readonly lastSeq: number;
  /** Epoch of the entry at `seq`; undefined past the end. */
  epochAt(seq: number): number | undefined;
}

/** What the checks read of a node's core. */
export interface CoreView {
  readonly currentRole: string;
  readonly currentEpoch: number;
  readonly committedSeq: number;
  readonly lastPosition: { readonly epoch: number; readonly seq: number };
}

export interface SimStats {
  elections: number;
  commits: number;
  quorumWritesOk: number;
  quorumWritesUnknown: number;
  readsOk: number;
  readsFailed: number;
  asyncWrites: number;
  crashes: number;
  /** Local logs that failed and rolled back to their durable prefix, then resumed. */
  diskFailures: number;
  partitions: number;
  discarded: number;
  fullResyncs: number;
  failovers: number;
  failoversOk: number;
  memberChanges: number;
  memberChangesOk: number;
  configsCommitted: number;
}

export function emptyStats(): SimStats {
  return {
    elections: 0, commits: 0, quorumWritesOk: 0, quorumWritesUnknown: 0, readsOk: 0, readsFailed: 0,
    asyncWrites: 0, crashes: 0, diskFailures: 0, partitions: 0, discarded: 0, fullResyncs: 0, failovers: 0, failoversOk: 0,
    memberChanges: 0, memberChangesOk: 0, configsCommitted: 0,
  };
}

interface PendingRead {
  readonly key: string;
  readonly value: string | null;
  readonly invokeMs: number;
}

export class Oracle {
  readonly stats = emptyStats();
  /** seq → epoch of the committed entry there, as first reported by a primary's commitAdvanced. */
  private readonly committedEpochAt = new Map<number, number>();
  private committedMax = 0;
  /** For each epoch whose primary committed: the highest seq it committed (for leader completeness). */
  private readonly commitByEpoch = new Map<number, number>();
  private readonly primaryOfEpoch = new Map<number, NodeId>();
  /** Every position a primary ever wrote (its entry's body): one position, one entry, for the whole run. */
  private readonly writtenPositions = new Map<string, string>();
  private readonly history: KvOp[] = [];
  private readonly pendingReads = new Map<number, PendingRead>();
  private readonly pendingWrites = new Map<number, number>(); // writeId → history index
  private nextOpId = 1;
  private valueCounter = 0;

  constructor(private readonly nowMs: () => number) {}

  committedEpoch(seq: number): number | undefined {
    return this.committedEpochAt.get(seq);
  }

  /** The highest seq any primary reported committed. */
  get committedUpTo(): number {
    return this.committedMax;
  }

  /**
   * The configuration the newest primary counts majorities over is the committed one or one
   * change after it, never one whose majority could miss every voter of the committed one.
   * (Older primaries are deposed and cannot commit: their configuration may be older.)
   */
  checkCountingConfig(primaryId: NodeId, inForce: ConfigAt, committed: ConfigAt): void {
    if (inForce.seq < committed.seq) assert.fail(`${primaryId}, newest primary, counts over configuration ${inForce.seq}, older than the committed ${committed.seq}`);
    if (majoritiesCanBeDisjoint(inForce.config, committed.config)) {
      assert.fail(
        `${primaryId} counts over ${formatConfig(inForce.config)} (entry ${inForce.seq}) whose majority can miss the committed ${formatConfig(committed.config)} (entry ${committed.seq}): two disjoint majorities`,
      );
    }
  }

  becamePrimary(n: LogView, epoch: number): void {
    const prior = this.primaryOfEpoch.get(epoch);
    assert(prior === undefined || prior === n.id, `two primaries in epoch ${epoch}: ${prior} and ${n.id}`);
    this.primaryOfEpoch.set(epoch, n.id);
    this.stats.elections++;
    this.checkLeaderCompleteness(n, epoch, true);
  }

  /**
   * A primary wrote a new entry (a client write or an epoch's no-op) at epoch:seq. Positions are
   * never reused, even after a log failure took the entry back: each names exactly one entry.
   */
  written(n: LogView, epoch: number, seq: number, body: string): void {
    const key = `${epoch}:${seq}`;
    const prior = this.writtenPositions.get(key);
    if (prior !== undefined) assert.fail(`${n.id} writes ${key} = ${body}, a position that already named ${prior}`);
    this.writtenPositions.set(key, body);
  }

  /** `n`, primary of `epoch`, committed up to `commitSeq`. */
  committed(n: LogView, epoch: number, commitSeq: number): void {
    this.stats.commits++;
    assert(commitSeq <= n.lastSeq, `${n.id} commits ${commitSeq} beyond its log (${n.lastSeq})`);
    // Entries up to committedMax were recorded before; by Log Matching one position proves the prefix.
    const prefix = Math.min(this.committedMax, commitSeq);
    if (prefix > 0) assert.equal(n.epochAt(prefix), this.committedEpochAt.get(prefix), `committed entry ${prefix} changed (by ${n.id})`);
    for (let s = prefix + 1; s <= commitSeq; s++) {
      const e = n.epochAt(s) as number;
      const known = this.committedEpochAt.get(s);
      assert(known === undefined || known === e, `committed entry ${s} changed: epoch ${known} then ${e} (by ${n.id})`);
      if (known === undefined) this.committedEpochAt.set(s, e);
    }
    this.committedMax = Math.max(this.committedMax, commitSeq);
    this.commitByEpoch.set(epoch, Math.max(this.commitByEpoch.get(epoch) ?? 0, commitSeq));
  }

  /** `n` is about to drop its entry `epoch`:`seq` (truncation, full resync): it must not be committed. */
  checkDiscardable(n: LogView, epoch: number | undefined, seq: number, how: string): void {
    assert.notEqual(this.committedEpochAt.get(seq), epoch, `${n.id} ${how} committed entry ${epoch}:${seq}`);
  }

  /** A primary of `epoch` holds every entry committed in earlier epochs (Raft's leader completeness). */
  checkLeaderCompleteness(n: LogView, epoch: number, full: boolean): void {
    let need = 0;
    for (const [e, s] of this.commitByEpoch) if (e < epoch) need = Math.max(need, s);
    if (need === 0) return;
    assert(n.lastSeq >= need, `${n.id} primary of ${epoch} lacks committed entries up to ${need} (has ${n.lastSeq})`);
    for (let s = full ? 1 : need; s <= need; s++) {
      if (n.epochAt(s) !== this.committedEpochAt.get(s)) assert.fail(`${n.id} primary of ${epoch} differs at committed ${s}`);
    }
  }

  /** After every step: the core agrees with its log, its committed prefix is the oracle's, a primary owns its epoch. */
  checkNode(n: LogView, core: CoreView): void {
    const cl = core.lastPosition;
    const lastEpoch = n.lastSeq === 0 ? 0 : n.epochAt(n.lastSeq);
    if (cl.seq !== n.lastSeq || (n.lastSeq > 0 && cl.epoch !== lastEpoch)) assert.fail(`${n.id}: core at ${cl.epoch}:${cl.seq}, log at ${lastEpoch}:${n.lastSeq}`);
    const c = core.committedSeq;
    if (c > 0) {
      const oracle = this.committedEpochAt.get(c);
      assert(oracle !== undefined, `${n.id} believes ${c} committed; no primary committed it`);
      if (n.epochAt(c) !== oracle) assert.fail(`${n.id}: committed prefix differs at ${c}`);
    }
    if (core.currentRole === 'primary') {
      const owner = this.primaryOfEpoch.get(core.currentEpoch);
      if (owner !== n.id) assert.fail(`${n.id} is primary of epoch ${core.currentEpoch}, which belongs to ${owner}`);
      this.checkLeaderCompleteness(n, core.currentEpoch, false);
    }
  }

  /** After the quiet period: every node holds the primary's log. */
  checkConverged(primary: LogView, nodes: readonly LogView[]): void {
    for (const n of nodes) {
      assert.equal(n.lastSeq, primary.lastSeq, `${n.id} did not converge to the primary's position`);
      for (let s = 1; s <= primary.lastSeq; s++) assert.equal(n.epochAt(s), primary.epochAt(s), `${n.id} differs from the primary at ${s}`);
    }
    this.checkLeaderCompleteness(primary, Number.MAX_SAFE_INTEGER, true);
  }

  // ------------------------------------------------------------------ client history

  /** A quorum read of `key`, which the primary's keyspace holds as `value` now. */
  readStarted(key: string, value: string | null): number {
    const readId = this.nextOpId++;
    this.pendingReads.set(readId, { key, value, invokeMs: this.nowMs() });
    return readId;
  }

  readDone(readId: number, ok: boolean): void {
    const r = this.pendingReads.get(readId);
    if (r === undefined) return;
    this.pendingReads.delete(readId);
    if (!ok) {
      this.stats.readsFailed++;
      return; // a failed read returned nothing: it constrains nothing
    }
    this.stats.readsOk++;
    this.history.push({ kind: 'get', key: r.key, value: r.value, invokeMs: r.invokeMs, returnMs: this.nowMs() });
  }

  /** A write of a fresh value to `key`, outcome unknown until writeDone: the value and its history index. */
  putStarted(key: string): { readonly value: string; readonly idx: number } {
    const value = `v${++this.valueCounter}`;
    const idx = this.history.length;
    this.history.push({ kind: 'put', key, value, invokeMs: this.nowMs(), returnMs: undefined });
    return { value, idx };
  }

  /** The put at `idx` waits for a quorum; an async one stays unknown (it may be lost). */
  quorumWrite(idx: number): number {
    const writeId = this.nextOpId++;
    this.pendingWrites.set(writeId, idx);
    return writeId;
  }

  writeDone(n: LogView, writeId: number, seq: number, ok: boolean): void {
    const idx = this.pendingWrites.get(writeId);
    if (idx === undefined) return;
    this.pendingWrites.delete(writeId);
    if (!ok) {
      this.stats.quorumWritesUnknown++;
      return; // NOQUORUM: outcome unknown, stays without a return time
    }
    this.stats.quorumWritesOk++;
    const epoch = n.epochAt(seq);
    assert(epoch !== undefined, 'acknowledged write not in the log');
    assert.equal(this.committedEpochAt.get(seq), epoch, `quorum write ${epoch}:${seq} acknowledged but not committed`);
    const op = this.history[idx] as KvOp;
    this.history[idx] = { ...op, returnMs: this.nowMs() } as KvOp;
  }

  linearizable(): CheckResult {
    return checkLinearizable(this.history);
  }
}
