// The replication backlog: a byte-bounded window of the most recent log entries with their
// append times, so a reconnecting replica can catch up without a full resync (partial resync).
// Owns only memory; never reads the disk log and never grows beyond its byte budget.

import assert from 'node:assert';
import type { LogEntry, Seq } from '../../storage/types.js';

/** Fixed per-entry overhead of the estimate (seq, epoch, framing), in bytes. */
const ENTRY_OVERHEAD_BYTES = 32;
/** Per-op overhead of the estimate (type tag, lengths, expiry), in bytes. */
const OP_OVERHEAD_BYTES = 16;
/** Compact the backing array once this many evicted slots accumulate at its head. */
const COMPACT_SLOTS_MIN = 1024;

/** Approximate encoded size of an entry; used when the host does not pass the real size. */
export function estimateEntryBytes(entry: LogEntry): number {
  let n = ENTRY_OVERHEAD_BYTES;
  for (const op of entry.ops) {
    n += OP_OVERHEAD_BYTES;
    if (op.t !== 'flushall') n += op.key.length;
    if (op.t === 'set') n += op.value.length;
  }
  return n;
}

interface Slot {
  readonly entry: LogEntry;
  readonly bytes: number;
  readonly appendedMs: number;
  /** Running total of bytes appended up to and including this slot (prefix sum for bytesBetween). */
  readonly cumBytes: number;
}

export class Backlog {
  private slots: Slot[] = [];
  private head = 0;
  private bytesUsed = 0;
  /** Bytes ever appended (only differences matter): makes bytesBetween O(1) instead of O(in flight). */
  private appendedTotal = 0;
  /** Seq of the last entry the log holds (the window ends here even when empty). */
  private lastSeqValue: Seq;

  /** `afterSeq`: the log's last seq when the window starts; it can serve from afterSeq + 1. */
  constructor(
    readonly bytesMax: number,
    afterSeq: Seq,
  ) {
    assert(bytesMax > 0, 'backlog needs a positive byte budget');
    this.lastSeqValue = afterSeq;
  }

  get bytes(): number {
    return this.bytesUsed;
  }
  get lastSeq(): Seq {
    return this.lastSeqValue;
  }
  get length(): number {
    return this.slots.length - this.head;
  }
  /** The smallest seq this window can serve (lastSeq + 1 when empty). */
  get firstSeq(): Seq {
    const first = this.slots[this.head];
    return first === undefined ? this.lastSeqValue + 1 : first.entry.seq;
  }

  append(entry: LogEntry, bytes: number, nowMs: number): void {
    // if/fail rather than assert(cond, `...`): this runs per write and the message is not free.
    if (entry.seq !== this.lastSeqValue + 1) assert.fail(`backlog append out of order: ${entry.seq} after ${this.lastSeqValue}`);
    this.appendedTotal += bytes;
    this.slots.push({ entry, bytes, appendedMs: nowMs, cumBytes: this.appendedTotal });
    this.bytesUsed += bytes;
    this.lastSeqValue = entry.seq;
    // Keep at least the newest entry: a single entry is bounded by the protocol's frame limit.
    while (this.bytesUsed > this.bytesMax && this.length > 1) this.evictOldest();
  }

  private evictOldest(): void {
    const slot = this.slots[this.head];
    assert(slot !== undefined);
    this.bytesUsed -= slot.bytes;
    this.head++;
    if (this.head >= COMPACT_SLOTS_MIN && this.head * 2 >= this.slots.length) {
      this.slots = this.slots.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * Entries from `seq` on, at most `bytesMax` bytes (but at least one entry when any exists);
   * [] when `seq` is just past the end; undefined when `seq` fell out of the window.
   */
  entriesFrom(seq: Seq, bytesMax: number): LogEntry[] | undefined {
    if (seq > this.lastSeqValue + 1) return undefined;
    if (seq === this.lastSeqValue + 1) return [];
    if (seq < this.firstSeq) return undefined;
    const out: LogEntry[] = [];
    let used = 0;
    for (let i = this.head + (seq - this.firstSeq); i < this.slots.length; i++) {
      const slot = this.slots[i] as Slot;
      if (out.length > 0 && used + slot.bytes > bytesMax) break;
      out.push(slot.entry);
      used += slot.bytes;
    }
    return out;
  }

  /** Bytes of the entries in (fromSeq, toSeq] that the window still holds. */
  bytesBetween(fromSeq: Seq, toSeq: Seq): number {
    // O(1) with prefix sums: the primary asks on every write per replica, with up to the whole
    // in-flight window between the two seqs (a linear sum made replication quadratic under load).
    const start = Math.max(fromSeq + 1, this.firstSeq);
    const end = Math.min(toSeq, this.lastSeqValue);
    if (start > end) return 0;
    const first = this.slots[this.head + (start - this.firstSeq)] as Slot;
    const last = this.slots[this.head + (end - this.firstSeq)] as Slot;
    return last.cumBytes - first.cumBytes + first.bytes;
  }

  /** When entry `seq` was appended here, or undefined when it is outside the window. */
  appendedMs(seq: Seq): number | undefined {
    if (seq < this.firstSeq || seq > this.lastSeqValue) return undefined;
    return (this.slots[this.head + (seq - this.firstSeq)] as Slot).appendedMs;
  }

  /** Drop every entry with seq > `seq` (divergence repair on a replica). */
  truncateAfter(seq: Seq): void {
    if (seq >= this.lastSeqValue) return;
    if (seq < this.firstSeq) {
      this.reset(seq);
      return;
    }
    const keep = this.head + (seq - this.firstSeq) + 1;
    for (let i = keep; i < this.slots.length; i++) this.bytesUsed -= (this.slots[i] as Slot).bytes;
    this.slots.length = keep;
    this.appendedTotal = (this.slots[keep - 1] as Slot).cumBytes;
    this.lastSeqValue = seq;
  }

  /** Forget everything; the window restarts after `afterSeq` (after a full resync). */
  reset(afterSeq: Seq): void {
    this.slots = [];
    this.head = 0;
    this.bytesUsed = 0;
    this.lastSeqValue = afterSeq;
  }
}
