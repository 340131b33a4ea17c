// Appends, and a replica's appendEntries effects, built from log record bytes. The primary's
// backlog holds its entries as records, and on the wire an append carries exactly those bytes,
// so decoding them into LogEntry objects only to frame them again would be pure cost
// (docs/perf-notes.md, 'Replication: records as bytes, batches and frames'); a replica applies and
// logs the received bytes as they are. Entries are decoded on first read, once: by an
// in-process receiver (the simulation, tests) or by the outbox when it must merge with an
// append that has no records. Owns only that construction; the shapes are core/types.ts's.

import assert from 'node:assert';
import { decodeRecords, lastRecordPosition } from '../../storage/record.js';
import type { Epoch, LogEntry, Position, Seq } from '../../storage/types.js';
import type { Effect, Message } from './types.js';

export type AppendMessage = Extract<Message, { type: 'append' }>;
export type AppendEntriesEffect = Extract<Effect, { type: 'appendEntries' }>;

/**
 * Entries carried as `records` (whole log records back to back), decoded on first read, once.
 * Classes, not object literals with a getter: a literal's accessor is created per message
 * through a slow runtime path, once per message (docs/perf-notes.md, 'Replication: records as
 * bytes, batches and frames').
 */
abstract class LazyEntries {
  private decoded: LogEntry[] | null = null;
  constructor(readonly records: Buffer) {}

  get entries(): readonly LogEntry[] {
    if (this.decoded === null) {
      const d = decodeRecords(this.records);
      if (!d.ok) assert.fail(`append records do not decode: ${d.detail}`);
      this.decoded = d.entries;
    }
    return this.decoded;
  }
}

class RecordsAppend extends LazyEntries {
  readonly type = 'append' as const;
  constructor(
    readonly epoch: Epoch,
    readonly prev: Position,
    readonly commitSeq: Seq,
    records: Buffer,
  ) {
    super(records);
  }
}

export function appendMessage(epoch: Epoch, prev: Position, commitSeq: Seq, records: Buffer): AppendMessage {
  return new RecordsAppend(epoch, prev, commitSeq, records);
}

/** A replica's appendEntries of received records: the host applies the bytes; the simulation reads entries. */
class RecordsEntries extends LazyEntries {
  readonly type = 'appendEntries' as const;
}

export function appendEntriesOfRecords(records: Buffer): AppendEntriesEffect {
  return new RecordsEntries(records);
}

/** Position of an append's last entry (its `prev` when empty), without decoding records. */
export function appendLast(m: AppendMessage): Position {
  if (m.records !== undefined) return lastRecordPosition(m.records) ?? m.prev;
  const last = m.entries[m.entries.length - 1];
  return last === undefined ? m.prev : { epoch: last.epoch, seq: last.seq };
}
