// The per-turn outbox: messages the core sends wait here until the end of the event-loop
// turn, then go out coalesced, one write per peer. Owns the queued messages and their merging
// into frames; never steps the core (the host's beforeFlush hook does) and never sends on a
// link the host did not hand it.

import assert from 'node:assert';
import { recordBytes } from '../../storage/record.js';
import type { Position, Seq } from '../../storage/types.js';
import { appendLast, appendMessage, type AppendMessage } from '../core/append.js';
import type { Message, NodeId } from '../core/types.js';
import { encodeMessageParts } from './framing.js';
import type { ReplLink } from './runtime.js';

/** Largest append frame the outbox builds by merging (bounded frames, bounded decode work). */
export const MERGED_APPEND_BYTES_MAX = 1024 * 1024;

export interface OutboxHooks {
  /** The link messages to `peer` go on; none: they are dropped (the core learns it from linkDown). */
  linkTo(peer: NodeId): ReplLink | undefined;
  /** Runs `fn` at the end of the current event-loop turn. */
  afterTurn(fn: () => void): void;
  /** At the start of the flush turn (the core's pending flush joins this turn's frames). */
  beforeFlush(): void;
  /** After every queue was written (frames handed to the links). */
  afterFlush(): void;
}

export class Outbox {
  private readonly queues = new Map<NodeId, Message[]>();
  private scheduled = false;

  constructor(private readonly hooks: OutboxHooks) {}

  /**
   * Queue `msg` for the end of the turn: adjacent appends that continue each other become one
   * frame and a run of acks becomes its last (acks are cumulative), so fewer, larger frames.
   */
  queue(to: NodeId, msg: Message): void {
    let q = this.queues.get(to);
    if (q === undefined) {
      q = [];
      this.queues.set(to, q);
    }
    q.push(msg);
    this.schedule();
  }

  /** Make sure a flush turn is coming (the core asked for one, or messages are queued). */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.hooks.afterTurn(() => {
      this.scheduled = false;
      this.hooks.beforeFlush();
      for (const peer of [...this.queues.keys()]) this.flush(peer);
      this.hooks.afterFlush();
    });
  }

  /** Send what is queued for `peer` now (also before any frame that bypasses the outbox). */
  flush(peer: NodeId): void {
    const q = this.queues.get(peer);
    if (q === undefined) return;
    this.queues.delete(peer);
    const link = this.hooks.linkTo(peer);
    if (link === undefined) return;
    // One write per peer per turn (STYLE: batch socket writes per event-loop turn).
    const parts: Buffer[] = [];
    for (const m of coalesce(q)) for (const b of encodeMessageParts(m)) parts.push(b);
    link.sendParts(parts);
  }
}

/** The run of appends being merged into one. */
interface OpenRun {
  readonly parts: AppendMessage[];
  commitSeq: Seq;
  bytes: number;
  last: Position;
}

function appendBytes(m: AppendMessage): number {
  return m.records?.length ?? m.entries.reduce((n, e) => n + recordBytes(e.ops), 0);
}

/** `m` continues `run` (same epoch, its prev is the run's last) and fits the merge bound. */
function continues(run: OpenRun, m: AppendMessage, bytes: number): boolean {
  const first = run.parts[0] as AppendMessage;
  return first.epoch === m.epoch && run.last.seq === m.prev.seq && run.last.epoch === m.prev.epoch && run.bytes + bytes <= MERGED_APPEND_BYTES_MAX;
}

/** One append of a run: their bytes joined while every one carries records, else their entries. */
function mergeRun(run: OpenRun): AppendMessage {
  const { parts, commitSeq } = run;
  const first = parts[0] as AppendMessage;
  if (parts.length === 1) return first;
  if (parts.every((m) => m.records !== undefined)) return appendMessage(first.epoch, first.prev, commitSeq, joinRecords(parts.map((m) => m.records as Buffer)));
  return { type: 'append', epoch: first.epoch, prev: first.prev, entries: parts.flatMap((m) => m.entries), commitSeq };
}

/** Merge adjacent continuing appends (up to MERGED_APPEND_BYTES_MAX) and collapse runs of acks. */
export function coalesce(msgs: readonly Message[]): Message[] {
  const out: Message[] = [];
  let open: OpenRun | null = null;
  let bytesIn = 0;
  let bytesOut = 0;
  const close = (): void => {
    if (open === null) return;
    const merged = mergeRun(open);
    bytesOut += appendBytes(merged);
    assert(appendLast(merged).seq === open.last.seq, 'a merged append ends where its last part ended');
    out.push(merged);
    open = null;
  };
  for (const m of msgs) {
    if (m.type === 'append') {
      const bytes = appendBytes(m);
      bytesIn += bytes;
      if (open !== null && continues(open, m, bytes)) {
        open.parts.push(m);
        open.commitSeq = m.commitSeq;
        open.bytes += bytes;
        open.last = appendLast(m);
        continue;
      }
      close();
      open = { parts: [m], commitSeq: m.commitSeq, bytes, last: appendLast(m) };
      continue;
    }
    close();
    const prev = out[out.length - 1];
    if (prev !== undefined && prev.type === 'ack' && m.type === 'ack') out[out.length - 1] = m;
    else out.push(m);
  }
  close();
  assert.equal(bytesOut, bytesIn, 'coalescing neither loses nor duplicates append bytes');
  return out;
}

/**
 * One buffer of record pieces: a single view when they follow each other in memory (the
 * backlog's records of one chunk, the usual case), else a copy.
 */
function joinRecords(pieces: readonly Buffer[]): Buffer {
  const first = pieces[0] as Buffer;
  let end = first.byteOffset + first.length;
  for (let i = 1; i < pieces.length; i++) {
    const b = pieces[i] as Buffer;
    if (b.buffer !== first.buffer || b.byteOffset !== end) return Buffer.concat(pieces);
    end += b.length;
  }
  return pieces.length === 1 ? first : Buffer.from(first.buffer, first.byteOffset, end - first.byteOffset);
}
