// Applies the core's log effects to the Store (appends, truncation, a new epoch's no-op entry,
// persisted votes) and reports what became durable back to the core. Owns the durability
// watch; never decides what to apply (the core does) and never reports a seq the store has
// not made durable.

import assert from 'node:assert';
import { StoreUnavailableError } from '../../storage/errors.js';
import type { ReplicatedStore } from '../../storage/api.js';
import { lastRecordPosition, recordSeqAt } from '../../storage/record.js';
import type { Position, Seq } from '../../storage/types.js';
import type { Effect, PersistedMeta } from '../core/types.js';

type AppendEntries = Extract<Effect, { type: 'appendEntries' }>;

export interface LogApplyHooks {
  /** `seq` is durable in the store: step the core with it. */
  durable(seq: Seq): void;
  warn(msg: string): void;
  /** A durability report broke an invariant (it runs outside the task FIFO). */
  fatal(err: unknown): void;
}

export class LogApplier {
  /** Highest seq a durability watch was started for (one outstanding watch at a time). */
  private durableRequested: Seq = 0;

  constructor(
    private readonly store: ReplicatedStore,
    private readonly hooks: LogApplyHooks,
  ) {}

  /** A replica's appends: each entry directly after the store's last, in seq order. */
  appendEntries(e: AppendEntries): void {
    // A failed log write rolled the store back: stop applying (the host stops replication) rather than assert.
    const refusal = this.store.writeRefusal;
    if (refusal !== null) throw new StoreUnavailableError(refusal);
    const before = this.store.lastPosition;
    if (e.records !== undefined) {
      assert.equal(recordSeqAt(e.records, 0), before.seq + 1, 'appends applied in seq order with no gap');
      this.store.applyRecords(e.records);
      const last = lastRecordPosition(e.records);
      assert(last !== undefined && samePosition(this.store.lastPosition, last), 'the store ends at the appended records\' last entry');
    } else {
      for (const entry of e.entries) {
        assert.equal(entry.seq, this.store.lastPosition.seq + 1, 'appends applied in seq order with no gap');
        this.store.applyEntry(entry);
      }
    }
    this.watchDurable();
  }

  /** Discard the diverged suffix after `seq`; false when the store's snapshot covers it (only a full resync helps). */
  async truncate(seq: Seq, discarded: number): Promise<{ ok: true } | { ok: false; error: string }> {
    const before = this.store.lastPosition.seq;
    assert(seq <= before && before - seq === discarded, 'the core discards exactly the store\'s suffix after the fork');
    try {
      const r = await this.store.truncateAfter(seq);
      assert.equal(r.discarded, discarded, 'store and core disagree on the diverged suffix');
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
    assert.equal(this.store.lastPosition.seq, seq, 'the store ends at the fork after truncating');
    this.durableRequested = Math.min(this.durableRequested, seq);
    return { ok: true };
  }

  /** Begin `epoch` durably and log its no-op entry (what lets the new primary take writes). */
  async beginEpoch(epoch: number): Promise<{ pos: Position; record: Buffer | undefined }> {
    await unavailableIfFails(this.store.beginEpoch(epoch), 'the epoch history');
    const before = this.store.lastPosition.seq;
    const pos = this.store.apply([]);
    assert.equal(pos.epoch, epoch, 'no-op entry not in the new epoch');
    assert.equal(pos.seq, before + 1, 'the no-op entry directly follows the log');
    return { pos, record: this.store.lastRecord(pos.seq) };
  }

  persistMeta(meta: PersistedMeta): Promise<void> {
    return unavailableIfFails(this.store.writeMeta({ ...this.store.readMeta(), currentEpoch: meta.currentEpoch, votedFor: meta.votedFor }), 'the replication metadata');
  }

  /** The log failed and rolled back to `seq`: the durability watch restarts from there. */
  rolledBack(seq: Seq): void {
    this.durableRequested = Math.min(this.durableRequested, seq);
  }

  /** The log was replaced (a snapshot loaded, or wiped): durability restarts from its position. */
  replaced(seq: Seq): void {
    this.durableRequested = seq;
  }

  /** Keep one whenDurable outstanding for the newest seq; report each to the core. */
  watchDurable(): void {
    const target = this.store.lastPosition.seq;
    if (target <= this.durableRequested) return;
    this.durableRequested = target;
    this.store
      .whenDurable(target)
      .then(
        () => this.reportDurable(target),
        (err: unknown) => {
          // Truncation or a full resync discarded it; the core already knows. Anything else is logged.
          this.hooks.warn(`durability of seq ${target} not reached: ${(err as Error).message}`);
          this.durableRequested = Math.min(this.durableRequested, this.store.lastPosition.seq);
        },
      )
      .catch((err: unknown) => this.hooks.fatal(err));
  }

  /** Never tell the core (and through its acks, the primary) of more than the store holds durably. */
  private reportDurable(target: Seq): void {
    const held = this.store.fsyncPolicy === 'always' ? this.store.stats().durableSeq : this.store.lastPosition.seq;
    assert(held >= target, `durable notice for ${target} beyond what the store holds (${held})`);
    this.hooks.durable(target);
  }
}

/**
 * A file the core relies on (votes, epochs) could not be written, a disk fault: replication stops
 * on this member (no vote or epoch is acted on unpersisted), the server keeps running.
 */
async function unavailableIfFails(p: Promise<void>, what: string): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (e instanceof StoreUnavailableError) throw e;
    throw new StoreUnavailableError(`could not persist ${what}: ${(e as Error).message}`);
  }
}

function samePosition(a: Position, b: Position): boolean {
  return a.epoch === b.epoch && a.seq === b.seq;
}
