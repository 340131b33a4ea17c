// Damaged files: what cutting a log at a point loses, the repair folder that keeps a copy of
// every byte a repair removes, and the checksummed JSON documents (meta.json, epochs.json).
// Owns the repair copies and the JSON document format; never decides to refuse or to repair.

import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { CorruptLogError } from './errors.js';
import { checkRecord, RECORD_HEADER_BYTES, seqFromWords } from './record.js';
import { fsyncDirSync, writeFileFsyncSync } from './fsutil.js';
import type { Seq } from './types.js';

/** Whole, valid records found in some log bytes (searched byte by byte past damage). */
export interface RecordSpan {
  readonly count: number;
  readonly firstSeq: Seq;
  readonly lastSeq: Seq;
  readonly bytes: number;
}

/** Smallest record: header and the fixed body (epoch, seq, op count), no ops. */
const RECORD_BYTES_MIN = RECORD_HEADER_BYTES + 16;

/**
 * Count the valid records in `files`, each read from its `from` offset to its end. Damaged
 * stretches are skipped a byte at a time, so records after the damage are still counted:
 * this says what a cut at the first file's offset would drop. A candidate's seq must lie
 * between the file's `minSeq` and what its size allows before its CRC is computed, so garbage
 * costs a few reads per byte. Error path only (reads whole files).
 */
export function scanRecords(files: ReadonlyArray<{ path: string; from: number; minSeq: Seq }>): RecordSpan {
  let count = 0;
  let firstSeq = 0;
  let lastSeq = 0;
  let bytes = 0;
  for (const f of files) {
    const buf = readFileSync(f.path).subarray(f.from);
    bytes += buf.length;
    const maxSeq = f.minSeq + Math.ceil(buf.length / RECORD_BYTES_MIN);
    for (let k = 0; k + RECORD_BYTES_MIN <= buf.length; ) {
      const seq = seqFromWords(buf.readUInt32LE(k + 12), buf.readUInt32LE(k + 16));
      const r = seq < f.minSeq || seq > maxSeq ? null : checkRecord(buf, k);
      if (r === null || !r.ok) {
        k++;
        continue;
      }
      count++;
      if (firstSeq === 0) firstSeq = r.seq;
      lastSeq = Math.max(lastSeq, r.seq);
      k = r.next;
    }
  }
  return { count, firstSeq, lastSeq, bytes };
}

export function describeSpan(s: RecordSpan): string {
  const records = s.count === 0 ? 'no whole record' : `${s.count} record(s), seq ${s.firstSeq}..${s.lastSeq}`;
  return `${records} in ${s.bytes} byte(s)`;
}

/**
 * The folder `<dir>/repair-<time>` that receives a copy of everything one repair cuts, created
 * at the first cut. Copies are fsynced before the caller removes the original bytes.
 */
export class RepairFolder {
  private path: string | null = null;

  constructor(private readonly dir: string) {}

  /** The folder's path, once something was kept in it. */
  get where(): string | null {
    return this.path;
  }

  /** Copy bytes [from, end) of `file` into the folder (same relative path); returns the copy's path. */
  keep(file: string, from: number): string {
    if (this.path === null) {
      this.path = join(this.dir, `repair-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      mkdirSync(this.path, { recursive: true });
    }
    const copy = join(this.path, from === 0 ? relative(this.dir, file) : `${relative(this.dir, file)}.from-${from}`);
    mkdirSync(dirname(copy), { recursive: true });
    writeFileFsyncSync(copy, readFileSync(file).subarray(from));
    fsyncDirSync(dirname(copy));
    return copy;
  }
}

/** `{"crc32c":"<8 hex>","body":` — fixed length, so the body's exact text can be sliced out. */
const DOC_PREFIX = '{"crc32c":"';
const DOC_PREFIX_BYTES = DOC_PREFIX.length + 8 + '","body":'.length;

/** A JSON document with the CRC32C of its body's text: `{"crc32c":"…","body":…}`. */
export function encodeCheckedJson(body: unknown): Buffer {
  const text = JSON.stringify(body);
  const crc = crc32c(Buffer.from(text, 'utf8')).toString(16).padStart(8, '0');
  return Buffer.from(`${DOC_PREFIX}${crc}","body":${text}}\n`, 'utf8');
}

/**
 * Read a checksummed JSON document, or the plain JSON written before checksums existed.
 * Missing file = undefined. Anything unreadable throws CorruptLogError naming the file.
 */
export function readCheckedJson(path: string, dir: string): unknown {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const fail = (offset: number, reason: string): never => {
    throw new CorruptLogError(path, offset, reason, { dir, lost: `the whole document (${raw.length} bytes)` });
  };
  if (raw.length === 0) fail(0, 'empty file');
  const text = raw.toString('utf8');
  let bodyText = text;
  if (text.startsWith(DOC_PREFIX)) {
    const end = text.trimEnd().lastIndexOf('}');
    if (text.length < DOC_PREFIX_BYTES || end < DOC_PREFIX_BYTES) fail(0, 'document cut short');
    bodyText = text.slice(DOC_PREFIX_BYTES, end);
    const want = Number.parseInt(text.slice(DOC_PREFIX.length, DOC_PREFIX.length + 8), 16);
    if (crc32c(Buffer.from(bodyText, 'utf8')) !== want) fail(DOC_PREFIX_BYTES, 'checksum mismatch');
  }
  try {
    return JSON.parse(bodyText) as unknown;
  } catch (e) {
    const at = /position (\d+)/.exec((e as Error).message);
    return fail(at === null ? 0 : Number(at[1]), `not valid JSON (${(e as Error).message})`);
  }
}
