// Backup files: the KVSNAPSHOT stream (backup-send.ts) as it arrived, between a magic header
// and a checksummed trailer, and the one checker that both the writer (kv-cli --snapshot, as
// frames arrive) and the reader (kv-server --restore, before touching anything) run over it.
// Owns the file's byte format, its checks and the write-to-temp-then-rename discipline; never
// opens a store (backup-restore.ts does) and never accepts a file that fails a check.
//
// File = "KVTSBKUP" [u32 version] frames trailer
//   frames  = the stream's frames as sent ([u32 length][u8 kind][payload], framing.ts): BEGIN
//             (JSON: snapshot header + source node id and members), snapshot CHUNKs numbered
//             1..n (storage records, CRC32C each), APPEND frames of log records (CRC32C each),
//             contiguous from BEGIN's position + 1, in any order with the chunks, then END (JSON:
//             item count and the position `end` the backup is exact at).
//   trailer = "KVTSBEND" [u32 crc32c of every byte before the trailer]
// A file is valid only if every check holds and nothing follows the trailer: a truncated or
// damaged file is refused, never read as a smaller dataset.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import type { SnapshotItem } from '../../storage/api.js';
import { fsyncDir } from '../../storage/fsutil.js';
import { formatPosition, type EpochStart, type Position } from '../../storage/types.js';
import { appendLast } from '../core/append.js';
import type { NodeId } from '../core/types.js';
import type { BackupBegin, BackupEnd } from './backup-send.js';
import { FrameDecoder, KIND_APPEND, KIND_SNAP_BEGIN, KIND_SNAP_CHUNK, KIND_SNAP_END, decodeMessage, decodeSnapshotChunk, decodeSnapshotHeader, type Frame } from './framing.js';

const MAGIC = Buffer.from('KVTSBKUP', 'latin1');
const END_MAGIC = Buffer.from('KVTSBEND', 'latin1');
const VERSION = 1;
export const BACKUP_HEADER_BYTES = MAGIC.length + 4;
export const BACKUP_TRAILER_BYTES = END_MAGIC.length + 4;
/** Bytes read per read(2) while checking or loading a file. */
const READ_BYTES = 1024 * 1024;

/** What a whole, checked backup holds. */
export interface BackupSummary {
  readonly from: Position;
  readonly end: Position;
  /** The epoch history at `end` (the source's, including epochs begun during the stream). */
  readonly epochHistory: readonly EpochStart[];
  /** The history at `from`: what the snapshot part is loaded with. */
  readonly fromHistory: readonly EpochStart[];
  readonly items: number;
  readonly records: number;
  readonly bytes: number;
  readonly sourceNodeId: NodeId;
  readonly sourceMembers: readonly NodeId[] | null;
  /** The source's user table at `from` (an 'acl' op's bytes), null when its log never set one. */
  readonly users: Buffer | null;
  /** The source's function library table at `from` (a 'functions' op's bytes), null when its log never set one. */
  readonly functions: Buffer | null;
}

/** What the checker hands on for each frame it accepted. */
export interface BackupVisitor {
  items?(items: readonly SnapshotItem[]): void;
  /** Whole log records back to back, in seq order, continuing the previous call. */
  records?(records: Buffer): void;
}

/**
 * Checks the frames of one stream in order: BEGIN first, chunks numbered from 1, records
 * contiguous after BEGIN's position, END last with the counts and position that arrived.
 * Returns an error text at the first frame that breaks a rule.
 */
export class BackupChecker {
  private begin: BackupBegin | null = null;
  private ended: BackupSummary | null = null;
  private nextChunk = 1;
  private last: Position = { epoch: 0, seq: 0 };
  items = 0;
  records = 0;
  /** Frame bytes seen (progress). */
  bytes = 0;

  constructor(private readonly visit: BackupVisitor = {}) {}

  get summary(): BackupSummary | null {
    return this.ended;
  }
  get from(): Position | null {
    return this.begin?.from ?? null;
  }
  /** Keys the source held when the stream began (progress %). */
  get keysAtStart(): number {
    return this.begin?.keys ?? 0;
  }

  frame(f: Frame): string | null {
    this.bytes += 5 + f.payload.length;
    if (this.ended !== null) return 'a frame after END';
    if (this.begin === null) {
      if (f.kind !== KIND_SNAP_BEGIN) return `the stream begins with a frame of kind ${f.kind}, not BEGIN`;
      const h = decodeSnapshotHeader(f);
      if (!h.ok) return h.error;
      const b = h.value as Partial<BackupBegin>;
      if (typeof b.nodeId !== 'string' || !(b.members === null || (Array.isArray(b.members) && b.members.every((m) => typeof m === 'string')))) return 'BEGIN names no source node';
      this.begin = h.value as BackupBegin;
      this.last = h.value.from;
      return null;
    }
    switch (f.kind) {
      case KIND_SNAP_CHUNK: {
        const c = decodeSnapshotChunk(f);
        if (!c.ok) return c.error;
        if (c.value.chunkNo !== this.nextChunk) return `snapshot chunk ${c.value.chunkNo} where ${this.nextChunk} was due`;
        this.nextChunk++;
        this.items += c.value.items.length;
        this.visit.items?.(c.value.items);
        return null;
      }
      case KIND_APPEND: {
        const m = decodeMessage(f);
        if (!m.ok) return m.error;
        if (m.value.type !== 'append' || m.value.records === undefined) return 'an append frame without records';
        const prev = m.value.prev;
        if (prev.seq !== this.last.seq || prev.epoch !== this.last.epoch) return `log records after ${formatPosition(prev)} where ${formatPosition(this.last)} was due`;
        const last = appendLast(m.value);
        this.records += last.seq - prev.seq;
        this.last = last;
        this.visit.records?.(m.value.records);
        return null;
      }
      case KIND_SNAP_END: {
        const h = decodeSnapshotHeader(f);
        if (!h.ok) return h.error;
        const e = h.value as Partial<BackupEnd>;
        const end = e.end;
        if (end === undefined || typeof end.epoch !== 'number' || typeof end.seq !== 'number') return 'END names no position';
        if (h.value.keys !== this.items) return `END counts ${h.value.keys} snapshot items, ${this.items} arrived`;
        if (end.seq !== this.last.seq || end.epoch !== this.last.epoch) return `END is at ${formatPosition(end)}, the records end at ${formatPosition(this.last)}`;
        const begin = this.begin;
        this.ended = {
          from: begin.from,
          end,
          epochHistory: h.value.epochHistory,
          fromHistory: begin.epochHistory,
          items: this.items,
          records: this.records,
          bytes: 0,
          sourceNodeId: begin.nodeId,
          sourceMembers: begin.members,
          users: begin.users === undefined ? null : Buffer.from(begin.users, 'base64'),
          functions: begin.functions === undefined ? null : Buffer.from(begin.functions, 'base64'),
        };
        return null;
      }
      default:
        return `a frame of kind ${f.kind} in a snapshot stream`;
    }
  }
}

/**
 * Writes a backup as its frames arrive: FILE.tmp, a running CRC, then trailer, fsync, rename to
 * FILE and fsync of the directory. Until `finish` returns, FILE is untouched (a previous backup
 * of that name stays whole); `abort` removes the temp file.
 */
export class BackupFileWriter {
  private crc = 0;
  private size = 0;
  /** Bytes queued and not yet written. */
  queuedBytes = 0;
  private readonly tmp: string;
  private chain: Promise<void> = Promise.resolve();
  private error: Error | null = null;

  private constructor(
    private readonly path: string,
    private readonly fh: Awaited<ReturnType<typeof open>>,
  ) {
    this.tmp = `${path}.tmp`;
  }

  static async create(path: string): Promise<BackupFileWriter> {
    const fh = await open(`${path}.tmp`, 'w');
    const w = new BackupFileWriter(path, fh);
    const head = Buffer.alloc(BACKUP_HEADER_BYTES);
    MAGIC.copy(head, 0);
    head.writeUInt32LE(VERSION, MAGIC.length);
    w.write(head);
    return w;
  }

  /** Bytes written so far (the file's size once finished, less the trailer). */
  get bytes(): number {
    return this.size;
  }

  /** Queue bytes (the caller's buffer must not change afterwards). A failed write fails `finish`. */
  write(b: Buffer): void {
    this.crc = crc32c(b, this.crc);
    this.size += b.length;
    this.queuedBytes += b.length;
    this.chain = this.chain.then(async () => {
      try {
        if (this.error === null) await this.fh.write(b);
      } catch (e) {
        this.error = e as Error;
      } finally {
        this.queuedBytes -= b.length;
      }
    });
  }

  /** Resolves once every queued byte is written (or a write failed). */
  async drain(): Promise<void> {
    await this.chain;
  }

  /** Trailer, fsync, rename into place, fsync the directory; returns the file's size. */
  async finish(): Promise<number> {
    const t = Buffer.alloc(BACKUP_TRAILER_BYTES);
    END_MAGIC.copy(t, 0);
    t.writeUInt32LE(this.crc, END_MAGIC.length);
    this.write(t);
    await this.chain;
    if (this.error !== null) throw this.error;
    await this.fh.sync();
    await this.fh.close();
    await rename(this.tmp, this.path);
    await fsyncDir(dirname(this.path));
    return this.size;
  }

  async abort(): Promise<void> {
    await this.chain.catch(() => undefined);
    await this.fh.close().catch(() => undefined);
    await unlink(this.tmp).catch(() => undefined);
  }
}

export type BackupReadResult = { readonly ok: true; readonly summary: BackupSummary } | { readonly ok: false; readonly error: string };

/**
 * Read a backup file start to end through the checker, `READ_BYTES` at a time (bounded memory:
 * one read and the frame in progress), calling `visit` for what each accepted frame holds and
 * `progress` with the bytes read. Synchronous: kv-server runs it before it serves anyone.
 * With `visit` empty this is the whole verification: magic, every frame, the trailer's CRC.
 */
export function readBackupFile(path: string, visit: BackupVisitor = {}, progress: (bytes: number, total: number) => void = () => undefined): BackupReadResult {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    return { ok: false, error: `cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  try {
    const size = fstatSync(fd).size;
    if (size < BACKUP_HEADER_BYTES + BACKUP_TRAILER_BYTES) return { ok: false, error: `${path} is too short to be a backup (${size} bytes)` };
    const head = Buffer.alloc(BACKUP_HEADER_BYTES);
    readSync(fd, head, 0, head.length, 0);
    if (!head.subarray(0, MAGIC.length).equals(MAGIC)) return { ok: false, error: `${path} is not a kv-ts backup (bad magic)` };
    const version = head.readUInt32LE(MAGIC.length);
    if (version !== VERSION) return { ok: false, error: `${path}: unknown backup version ${version}` };
    const bodyEnd = size - BACKUP_TRAILER_BYTES;
    const trailer = Buffer.alloc(BACKUP_TRAILER_BYTES);
    readSync(fd, trailer, 0, trailer.length, bodyEnd);
    if (!trailer.subarray(0, END_MAGIC.length).equals(END_MAGIC)) return { ok: false, error: `${path} is incomplete or damaged: no trailer at its end (a transfer that did not finish?)` };
    let crc = crc32c(head);
    const checker = new BackupChecker(visit);
    const decoder = new FrameDecoder();
    const buf = Buffer.allocUnsafe(READ_BYTES);
    for (let pos = BACKUP_HEADER_BYTES; pos < bodyEnd; ) {
      const n = readSync(fd, buf, 0, Math.min(READ_BYTES, bodyEnd - pos), pos);
      if (n <= 0) return { ok: false, error: `${path}: read failed at offset ${pos}` };
      // Copied: the decoder keeps views of what it has not framed yet, and the buffer is reused.
      const chunk = Buffer.from(buf.subarray(0, n));
      crc = crc32c(chunk, crc);
      decoder.push(chunk);
      for (;;) {
        const f = decoder.next();
        if (f === null) break;
        if (typeof f === 'string') return { ok: false, error: `${path} is damaged near offset ${pos}: ${f}` };
        const bad = checker.frame(f);
        if (bad !== null) return { ok: false, error: `${path} is damaged near offset ${pos}: ${bad}` };
      }
      pos += n;
      progress(pos, size);
    }
    if (decoder.bufferedBytes !== 0) return { ok: false, error: `${path} is damaged: a frame runs into the trailer` };
    if (crc !== trailer.readUInt32LE(END_MAGIC.length)) return { ok: false, error: `${path} is damaged: checksum mismatch` };
    const summary = checker.summary;
    if (summary === null) return { ok: false, error: `${path} is incomplete: the stream has no END` };
    return { ok: true, summary: { ...summary, bytes: size } };
  } finally {
    closeSync(fd);
  }
}
