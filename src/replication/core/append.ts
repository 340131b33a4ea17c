// Append messages built from log record bytes. The primary's backlog holds its entries as
// records, and on the wire an append carries exactly those bytes, so decoding them into
// LogEntry objects only to frame them again was pure cost (not decoding: 5-14 % less primary
// CPU per SET with two replicas, docs/perf-notes.md). Here the entries are decoded on first read, once: by an in-process receiver (the
// simulation, tests) or by the outbox when it must merge with an append that has no records.
// Owns only that construction; the message shape is core/types.ts's.

import assert from 'node:assert';
import { decodeRecords, lastRecordPosition } from '../../storage/record.js';
import type { Epoch, LogEntry, Position, Seq } from '../../storage/types.js';
import type { Message } from './types.js';

export type AppendMessage = Extract<Message, { type: 'append' }>;

/**
 * An append of `records` (whole log records back to back) whose entries decode lazily. A class,
 * not an object literal with a getter: a literal's accessor is created per message through a slow
 * runtime path (measured: appendMessage 4.8 % of the primary's CPU as a literal).
 */
class RecordsAppend {
  readonly type = 'append' as const;
  private decoded: LogEntry[] | null = null;
  constructor(
    readonly epoch: Epoch,
    readonly prev: Position,
    readonly commitSeq: Seq,
    readonly records: Buffer,
  ) {}

  get entries(): readonly LogEntry[] {
    if (this.decoded === null) {
      const d = decodeRecords(this.records);
      if (!d.ok) assert.fail(`append records do not decode: ${d.detail}`);
      this.decoded = d.entries;
    }
    return this.decoded;
  }
}

export function appendMessage(epoch: Epoch, prev: Position, commitSeq: Seq, records: Buffer): AppendMessage {
  return new RecordsAppend(epoch, prev, commitSeq, records);
}

/** Position of an append's last entry (its `prev` when empty), without decoding records. */
export function appendLast(m: AppendMessage): Position {
  if (m.records !== undefined) return lastRecordPosition(m.records) ?? m.prev;
  const last = m.entries[m.entries.length - 1];
  return last === undefined ? m.prev : { epoch: last.epoch, seq: last.seq };
}
