// The replication backlog: a byte-bounded window of the most recent log entries with their
// append times, so a reconnecting replica can catch up without a full resync (partial resync).
// Owns only memory; never reads the disk log and never grows beyond its byte budget.
//
// Entries are kept encoded, as WAL records (the bytes an append frame carries), packed into
// chunks with a typed-array index: no object per entry, because a window of entries kept as
// objects is copied by every young-generation GC before it is promoted, a cost paid on every
// write (docs/perf-notes.md, 'Replication: backlog').
// A local write arrives with the WAL's encoding of it and a replica's with its frame's bytes, so
// appending is a copy. Replicas are sent the bytes themselves (recordsOf), which append frames
// carry unchanged; entries are decoded only where something reads them (core/append.ts). A
// replica streaming at the head asks for the newest entry once per write; the last range handed
// out is cached, so every replica's append of one write shares it.
//
// Chunks come from, and go back to, a ChunkMemory. A chunk's records may still be read after it
// is evicted (an append frame holding a view of them can wait in a slow replica's socket queue),
// and only the host can tell when nothing can (its sockets), so the default memory never reuses
// a chunk; the host's (host/chunk-pool.ts) reuses one only after every link's queue drained.

import assert from 'node:assert';
import { copyBytes } from '../../storage/bytes.js';
import { RECORD_HEADER_BYTES, encodeRecordInto, recordBytes, recordEndAt, recordSeqAt } from '../../storage/record.js';
import type { LogEntry, Seq } from '../../storage/types.js';

/** Chunk size bounds; the chunk size is the budget / 16 within them (small budgets in tests). */
const CHUNK_BYTES_MIN = 4 * 1024;
const CHUNK_BYTES_MAX = 1024 * 1024;
/** Initial index capacity (entries); doubles when full, so a power of two. */
const INDEX_CAPACITY_MIN = 1024;

/**
 * Where the backlog's chunks come from (`take`: `bytes` of any content) and where it gives
 * them back once it holds no entry in them (`give`). A given chunk may still be read through
 * views handed out earlier (recordsOf): the memory must not hand it out again until nothing can.
 */
export interface ChunkMemory {
  take(bytes: number): Buffer;
  give(chunk: Buffer): void;
}

/** Fresh chunks, dropped for the GC: a view of a chunk stays valid as long as it is referenced. */
export const FRESH_CHUNKS: ChunkMemory = {
  take: (bytes) => Buffer.allocUnsafe(bytes),
  give: () => undefined,
};

export class Backlog {
  /** Live chunks, oldest first; chunk ids count up from chunkBase. */
  private chunks: Buffer[] = [];
  private chunkBase = 0;
  /** Bytes used in the newest chunk; appends continue there while they fit. */
  private tailUsed = 0;
  /** False after a truncation: the next append starts a new chunk (the old tail may hold dropped bytes). */
  private tailOpen = false;
  private readonly chunkBytes: number;

  // Index ring: entry k (0 = oldest) is at slot (head + k) & (cap - 1); its seq is firstSeq + k.
  private cap = INDEX_CAPACITY_MIN;
  private head = 0;
  private count = 0;
  private chunkOf = new Float64Array(INDEX_CAPACITY_MIN);
  private offset = new Int32Array(INDEX_CAPACITY_MIN);
  private size = new Int32Array(INDEX_CAPACITY_MIN);
  private appendedAt = new Float64Array(INDEX_CAPACITY_MIN);
  /** Running total of bytes appended up to and including the entry (prefix sums for bytesBetween). */
  private cumBytes = new Float64Array(INDEX_CAPACITY_MIN);

  private bytesUsed = 0;
  /** Bytes ever appended (only differences matter). */
  private appendedTotal = 0;
  /** Seq of the last entry the log holds (the window ends here even when empty). */
  private lastSeqValue: Seq;
  /** The last records range handed out (see the header); cleared whenever a seq could be reused. */
  private recordsCache: { from: Seq; to: Seq; buf: Buffer } | null = null;

  /** `afterSeq`: the log's last seq when the window starts; it can serve from afterSeq + 1. */
  /** The byte budget (CONFIG SET repl-backlog-size changes it: resize). */
  private budget: number;

  constructor(
    bytesMax: number,
    afterSeq: Seq,
    private readonly memory: ChunkMemory = FRESH_CHUNKS,
  ) {
    assert(bytesMax > 0, 'backlog needs a positive byte budget');
    this.budget = bytesMax;
    this.chunkBytes = Math.min(CHUNK_BYTES_MAX, Math.max(CHUNK_BYTES_MIN, Math.floor(bytesMax / 16)));
    this.lastSeqValue = afterSeq;
  }

  get bytesMax(): number {
    return this.budget;
  }

  /**
   * A new byte budget, at once: a smaller one drops the oldest entries now (a replica that needed
   * them gets a full resync, as after any eviction). The chunk size stays what the first budget made it.
   */
  resize(bytesMax: number): void {
    assert(bytesMax > 0, 'backlog needs a positive byte budget');
    this.budget = bytesMax;
    while (this.bytesUsed > this.budget && this.count > 1) this.evictOldest();
  }

  /** Encoded bytes of the entries held (not counted: up to two chunks of slack, the memory's idle chunks, 32 index bytes per entry). */
  get bytes(): number {
    return this.bytesUsed;
  }
  get lastSeq(): Seq {
    return this.lastSeqValue;
  }
  get length(): number {
    return this.count;
  }
  /** The smallest seq this window can serve (lastSeq + 1 when empty). */
  get firstSeq(): Seq {
    return this.lastSeqValue - this.count + 1;
  }

  /**
   * Keep `entry`, encoded now (its values may be views of a connection's read buffer). `record`,
   * when given, is the entry already encoded (the WAL's bytes for it): it is copied, not re-encoded.
   */
  append(entry: LogEntry, nowMs: number, record?: Buffer): void {
    // The given record is checked by its header (O(1)), not by sizing the entry's ops again.
    if (record !== undefined && (record.length < RECORD_HEADER_BYTES || recordSeqAt(record, 0) !== entry.seq || recordEndAt(record, 0) !== record.length)) {
      assert.fail(`backlog: a record of ${record.length} bytes is not entry ${entry.seq}`);
    }
    const n = record === undefined ? recordBytes(entry.ops) : record.length;
    const chunk = this.reserve(entry.seq, n);
    const off = this.tailUsed;
    if (record === undefined) encodeRecordInto(chunk, off, entry.epoch, entry.seq, entry.ops);
    else chunk.set(record, off);
    this.commit(entry.seq, n, nowMs);
  }

  /**
   * Keep the checked records `src[start, end)`, back to back, the first of them entry `firstSeq`
   * (a replica's frame bytes). Copied in runs of whole records, one copy per run that fits a
   * chunk, not one per record, which would cost a view and a call each (docs/perf-notes.md,
   * 'Replication: records as bytes, batches and frames').
   */
  appendRecords(firstSeq: Seq, src: Buffer, start: number, end: number, nowMs: number): void {
    let seq = firstSeq;
    let off = start;
    while (off < end) {
      const first = recordEndAt(src, off) - off;
      const chunk = this.reserve(seq, first);
      const room = chunk.length - this.tailUsed;
      let runEnd = off + first;
      while (runEnd < end) {
        const next = recordEndAt(src, runEnd);
        if (next - off > room) break;
        runEnd = next;
      }
      copyBytes(src, off, chunk, this.tailUsed, runEnd - off);
      while (off < runEnd) {
        const n = recordEndAt(src, off) - off;
        this.commit(seq++, n, nowMs);
        off += n;
      }
    }
  }

  /** The chunk that takes the next `n` bytes at tailUsed. */
  private reserve(seq: Seq, n: number): Buffer {
    // if/fail rather than assert(cond, `...`): this runs per write and the message is not free.
    if (seq !== this.lastSeqValue + 1) assert.fail(`backlog append out of order: ${seq} after ${this.lastSeqValue}`);
    let chunk = this.chunks[this.chunks.length - 1];
    if (chunk === undefined || !this.tailOpen || this.tailUsed + n > chunk.length) {
      // An entry larger than a chunk gets a chunk of its own size (never reused).
      chunk = n > this.chunkBytes ? Buffer.allocUnsafe(n) : this.memory.take(this.chunkBytes);
      this.chunks.push(chunk);
      this.tailUsed = 0;
      this.tailOpen = true;
    }
    return chunk;
  }

  /** Index the `n` bytes just written at tailUsed as entry `seq`. */
  private commit(seq: Seq, n: number, nowMs: number): void {
    const off = this.tailUsed;
    this.tailUsed = off + n;
    if (this.count === this.cap) this.grow();
    const i = (this.head + this.count) & (this.cap - 1);
    this.count++;
    this.appendedTotal += n;
    this.chunkOf[i] = this.chunkBase + this.chunks.length - 1;
    this.offset[i] = off;
    this.size[i] = n;
    this.appendedAt[i] = nowMs;
    this.cumBytes[i] = this.appendedTotal;
    this.bytesUsed += n;
    this.lastSeqValue = seq;
    // Keep at least the newest entry: a single entry is bounded by the protocol's frame limit.
    while (this.bytesUsed > this.budget && this.count > 1) this.evictOldest();
  }

  private grow(): void {
    const cap = this.cap * 2;
    const move = <T extends Float64Array | Int32Array>(old: T, fresh: T): T => {
      for (let k = 0; k < this.count; k++) fresh[k] = old[(this.head + k) & (this.cap - 1)] as number;
      return fresh;
    };
    this.chunkOf = move(this.chunkOf, new Float64Array(cap));
    this.offset = move(this.offset, new Int32Array(cap));
    this.size = move(this.size, new Int32Array(cap));
    this.appendedAt = move(this.appendedAt, new Float64Array(cap));
    this.cumBytes = move(this.cumBytes, new Float64Array(cap));
    this.head = 0;
    this.cap = cap;
  }

  private evictOldest(): void {
    this.bytesUsed -= this.size[this.head] as number;
    this.head = (this.head + 1) & (this.cap - 1);
    this.count--;
    // Release the chunks no remaining entry lives in (never the newest: appends continue there).
    const keepFrom = this.count === 0 ? this.chunkBase + this.chunks.length - 1 : (this.chunkOf[this.head] as number);
    if (keepFrom > this.chunkBase) {
      this.release(this.chunks.splice(0, keepFrom - this.chunkBase));
      this.chunkBase = keepFrom;
    }
  }

  /** Give chunks that hold no entry any more back to the memory. */
  private release(chunks: readonly Buffer[]): void {
    // The cached range cannot be in them (it is inside the window), but never keep a view into memory given away.
    this.recordsCache = null;
    for (const c of chunks) if (c.length === this.chunkBytes) this.memory.give(c);
  }

  private slot(seq: Seq): number {
    return (this.head + (seq - this.firstSeq)) & (this.cap - 1);
  }

  /**
   * The last seq of the range that starts at `seq` and holds at most `bytesMax` bytes (but at
   * least one entry when any exists); `seq - 1` when `seq` is just past the end (an empty
   * range); undefined when `seq` fell out of the window.
   */
  rangeEnd(seq: Seq, bytesMax: number): Seq | undefined {
    if (seq > this.lastSeqValue + 1 || seq < this.firstSeq) return undefined;
    let used = 0;
    let s = seq;
    for (; s <= this.lastSeqValue; s++) {
      const n = this.size[this.slot(s)] as number;
      if (s > seq && used + n > bytesMax) break;
      used += n;
    }
    return s - 1;
  }

  /**
   * The records of entries [fromSeq, toSeq] (inside the window; empty when toSeq < fromSeq) as
   * one buffer: a view when they share a chunk, else a copy of the pieces. An append frame
   * carries exactly these bytes. Views stay valid after eviction as long as the ChunkMemory
   * keeps its promise (FRESH_CHUNKS: a view keeps its chunk alive; the host's pool reuses a
   * chunk only once no socket queues a frame written before it was given back).
   */
  recordsOf(fromSeq: Seq, toSeq: Seq): Buffer {
    const c = this.recordsCache;
    if (c !== null && c.from === fromSeq && c.to === toSeq) return c.buf;
    const buf = this.joinRecords(fromSeq, toSeq);
    this.recordsCache = { from: fromSeq, to: toSeq, buf };
    return buf;
  }

  private joinRecords(fromSeq: Seq, toSeq: Seq): Buffer {
    const pieces: Buffer[] = [];
    let s = fromSeq;
    while (s <= toSeq) {
      const i = this.slot(s);
      const c = this.chunkOf[i] as number;
      const start = this.offset[i] as number;
      let end = start + (this.size[i] as number);
      // Entries of one chunk are adjacent in it, in seq order.
      for (s++; s <= toSeq && this.chunkOf[this.slot(s)] === c; s++) end += this.size[this.slot(s)] as number;
      pieces.push((this.chunks[c - this.chunkBase] as Buffer).subarray(start, end));
    }
    return pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces);
  }

  /** Bytes of the entries in (fromSeq, toSeq] that the window still holds. */
  bytesBetween(fromSeq: Seq, toSeq: Seq): number {
    // O(1) with prefix sums: the primary asks on every write per replica, with up to the whole
    // in-flight window between the two seqs (a linear sum made replication quadratic under load).
    const start = Math.max(fromSeq + 1, this.firstSeq);
    const end = Math.min(toSeq, this.lastSeqValue);
    if (start > end) return 0;
    const first = this.slot(start);
    return (this.cumBytes[this.slot(end)] as number) - (this.cumBytes[first] as number) + (this.size[first] as number);
  }

  /** When entry `seq` was appended here, or undefined when it is outside the window. */
  appendedMs(seq: Seq): number | undefined {
    if (seq < this.firstSeq || seq > this.lastSeqValue) return undefined;
    return this.appendedAt[this.slot(seq)] as number;
  }

  /** Drop every entry with seq > `seq` (divergence repair on a replica). */
  truncateAfter(seq: Seq): void {
    if (seq >= this.lastSeqValue) return;
    if (seq < this.firstSeq) {
      this.reset(seq);
      return;
    }
    const last = this.slot(seq);
    const keep = seq - this.firstSeq + 1;
    for (let k = keep; k < this.count; k++) this.bytesUsed -= this.size[(this.head + k) & (this.cap - 1)] as number;
    this.count = keep;
    this.appendedTotal = this.cumBytes[last] as number;
    // Chunks after the last kept entry's hold only dropped entries; its own may hold some too.
    this.release(this.chunks.splice((this.chunkOf[last] as number) - this.chunkBase + 1));
    this.tailOpen = false;
    this.lastSeqValue = seq;
    this.recordsCache = null;
  }

  /** Move the window's end to `seq` without keeping the entries up to it (a primary that keeps no backlog). */
  skipTo(seq: Seq): void {
    if (seq <= this.lastSeqValue) assert.fail(`backlog skip backwards: ${seq} after ${this.lastSeqValue}`);
    if (this.count > 0) this.reset(seq);
    else {
      this.lastSeqValue = seq;
      this.recordsCache = null;
    }
  }

  /** Forget everything; the window restarts after `afterSeq` (after a full resync). */
  reset(afterSeq: Seq): void {
    this.release(this.chunks);
    this.chunks = [];
    this.chunkBase = 0;
    this.tailOpen = false;
    this.head = 0;
    this.count = 0;
    this.bytesUsed = 0;
    this.lastSeqValue = afterSeq;
    this.recordsCache = null;
  }
}
