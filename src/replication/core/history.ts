// Pure functions over epoch histories and log positions: which epoch wrote a seq, where two
// logs fork, whether a session token is still in this node's history, whose log is newer.
// Owns no state and never performs I/O; everything here is total and deterministic.

import assert from 'node:assert';
import type { Epoch, EpochStart, Position, Seq } from '../../storage/types.js';

/** Verdict for a client's session token (the position of its last write) on this node. */
export type SessionVerdict = 'ok' | 'wait' | 'lost';

/**
 * Histories are sorted by epoch (strictly increasing) with non-decreasing startSeq. An epoch
 * whose start equals the next epoch's start holds no entries (a primary began it and wrote
 * nothing before being replaced); epochAt skips it because a later element wins.
 */
export function assertHistory(history: readonly EpochStart[]): void {
  for (let i = 1; i < history.length; i++) {
    const prev = history[i - 1] as EpochStart;
    const cur = history[i] as EpochStart;
    assert(cur.epoch > prev.epoch, `epoch history not increasing at ${i}: ${prev.epoch} then ${cur.epoch}`);
    assert(cur.startSeq >= prev.startSeq, `epoch history start seq decreasing at ${i}`);
  }
}

/** Index of the last history element whose startSeq <= seq, or -1 (binary search: histories can grow long). */
function segmentIndex(history: readonly EpochStart[], seq: Seq): number {
  let lo = 0;
  let hi = history.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if ((history[mid] as EpochStart).startSeq <= seq) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

/** The epoch that wrote entry `seq` in a log with this history (0 for seq 0 or before any epoch). */
export function epochAt(history: readonly EpochStart[], seq: Seq): Epoch {
  if (seq <= 0) return 0;
  const i = segmentIndex(history, seq);
  return i < 0 ? 0 : (history[i] as EpochStart).epoch;
}

/** First seq of the segment that contains `seq` (1 when no epoch covers it). */
function segmentStart(history: readonly EpochStart[], seq: Seq): Seq {
  const i = segmentIndex(history, seq);
  return i < 0 ? 1 : (history[i] as EpochStart).startSeq;
}

/**
 * The largest seq s <= min(lastA, lastB) at which both logs hold an entry of the same epoch.
 * By the Log Matching property (one primary per epoch, a primary never rewrites its log) both
 * logs are identical up to s and differ at s+1 if both have it. Each iteration moves s below
 * the start of a segment, so the loop runs at most |A| + |B| + 1 times.
 */
export function forkPoint(
  historyA: readonly EpochStart[],
  lastA: Seq,
  historyB: readonly EpochStart[],
  lastB: Seq,
): Seq {
  let s = Math.min(lastA, lastB);
  const iterationsMax = historyA.length + historyB.length + 2;
  for (let i = 0; i < iterationsMax; i++) {
    if (s <= 0) return 0;
    if (epochAt(historyA, s) === epochAt(historyB, s)) return s;
    // Both logs disagree on the whole overlap of the two segments that contain s.
    s = Math.max(segmentStart(historyA, s), segmentStart(historyB, s)) - 1;
  }
  assert.fail('forkPoint did not converge: malformed epoch history');
}

/**
 * Is the session token (position of the client's last write) reflected in a log with this
 * history and last seq? 'ok': the entry is here. 'lost': this log proves the entry was
 * discarded (another epoch owns that seq here, or a later epoch began at or before it, so this
 * lineage can never contain it). 'wait': not here yet; a replica may still receive it.
 */
export function checkSessionToken(history: readonly EpochStart[], lastSeq: Seq, token: Position): SessionVerdict {
  if (token.seq <= 0) return 'ok';
  if (token.seq <= lastSeq) return epochAt(history, token.seq) === token.epoch ? 'ok' : 'lost';
  for (const h of history) {
    if (h.epoch > token.epoch && h.startSeq <= token.seq) return 'lost';
  }
  return 'wait';
}

/** Raft §5.4.1 election restriction: the candidate's log is at least as up to date as mine. */
export function isLogUpToDate(candidateLast: Position, myLast: Position): boolean {
  if (candidateLast.epoch !== myLast.epoch) return candidateLast.epoch > myLast.epoch;
  return candidateLast.seq >= myLast.seq;
}

/**
 * The history after appending an entry (epoch, seq) to a log whose last seq is seq - 1. Newer
 * epochs that hold no entry (begun, or kept by a truncation, then restarted from the store)
 * give way to an entry of an older epoch, as the store's own history does; one with entries never.
 */
export function historyWithEntry(history: readonly EpochStart[], epoch: Epoch, seq: Seq): EpochStart[] {
  const last = history[history.length - 1];
  if (last !== undefined && last.epoch === epoch) return history as EpochStart[];
  let keep = history.length;
  while (keep > 0 && (history[keep - 1] as EpochStart).epoch > epoch) {
    const newer = history[keep - 1] as EpochStart;
    assert(newer.startSeq >= seq, `entry epoch ${epoch} below history's last epoch ${newer.epoch}, which holds entries`);
    keep--;
  }
  const kept = history.slice(0, keep);
  const top = kept[kept.length - 1];
  return top !== undefined && top.epoch === epoch ? kept : [...kept, { epoch, startSeq: seq }];
}

/** The history after discarding every entry with seq > `seq` (epochs that start after it vanish). */
export function historyTruncated(history: readonly EpochStart[], seq: Seq): EpochStart[] {
  return history.filter((h) => h.startSeq <= seq);
}

/** The history's last non-empty epoch at `lastSeq`, as a position. */
export function positionOf(history: readonly EpochStart[], seq: Seq): Position {
  return { epoch: epochAt(history, seq), seq };
}
