// The replication link's byte format: length-prefixed frames [u32 length][u8 kind][payload],
// core messages (appends carry their entries as storage records, everything else compact
// JSON) and full-resync snapshot frames. Owns bytes only; never touches sockets or state.
//
// length = 1 + payload bytes (it covers the kind byte), little-endian like the record codec.
// KIND_MESSAGE   payload = JSON of a core Message other than 'append'
// KIND_APPEND    payload = [u32 headerLen][JSON {epoch, prev, commitSeq}][record]...
// KIND_SNAP_BEGIN / KIND_SNAP_END payload = JSON SnapshotHeader (BEGIN also carries the source's
//   user table and membership configurations at its position)
// KIND_SNAP_CHUNK payload = one storage record (epoch 1, seq = chunk number) of 'set' ops (strings)
//   and 'restore' ops (a collection whole, or one bounded chunk of a big one: a part's payload adds
//   members): the record codec already frames keys, values and expiries with a CRC, so snapshot
//   items reuse it instead of a second codec.
// KIND_PUBSUB   payload = one published message (pubsub-relay.ts): not a log entry, never a core message.

import assert from 'node:assert';
import { checkRecords, decodeRecord, encodeRecordInto, recordBytes, recordEndAt, recordEpochAt, recordSeqAt } from '../../storage/record.js';
import type { EpochStart, Op, Position } from '../../storage/types.js';
import type { SnapshotItem } from '../../storage/api.js';
import { TYPE_STRING, typeName } from '../../storage/collection.js';
import { payloadType } from '../../storage/object-codec.js';
import { appendMessage } from '../core/append.js';
import type { ConfigAt, Message } from '../core/types.js';
import { CONFIGS_KEPT, decodeMemberConfig, encodeMemberConfig } from '../core/member-config.js';
import { memberConfigsFault } from '../../storage/keyspace.js';

export const FRAME_HEADER_BYTES = 5;
/** Largest frame a peer may send: one append (core appendBytesMax) or one snapshot chunk plus slack, or a single huge value. */
export const FRAME_BYTES_MAX = 600 * 1024 * 1024;
/** Largest JSON header inside an append frame. */
const APPEND_HEADER_BYTES_MAX = 64 * 1024;

export const KIND_MESSAGE = 1;
export const KIND_APPEND = 2;
export const KIND_SNAP_BEGIN = 3;
export const KIND_SNAP_CHUNK = 4;
export const KIND_SNAP_END = 5;
export const KIND_PUBSUB = 6;
export type FrameKind = typeof KIND_MESSAGE | typeof KIND_APPEND | typeof KIND_SNAP_BEGIN | typeof KIND_SNAP_CHUNK | typeof KIND_SNAP_END | typeof KIND_PUBSUB;

/** What the primary announces around a streamed snapshot. */
export interface SnapshotHeader {
  readonly from: Position;
  readonly epochHistory: readonly EpochStart[];
  /** Keys in the source at the start (progress %), and, in END, keys and bytes actually sent. */
  readonly keys: number;
  readonly bytes: number;
  /** In BEGIN: the source's user table (base64 of an 'acl' op's bytes) when its log ever set one; older peers omit it. */
  readonly users?: string;
  /** In BEGIN: the source's function library table (base64 of a 'functions' op's bytes) when its log ever set one; older peers omit it. */
  readonly functions?: string;
  /** In BEGIN: the source's membership configurations at `from` (ReplicatedStore.memberConfigs) when it has any; older peers omit it. */
  readonly configs?: readonly WireConfig[];
}

/** A membership configuration in a snapshot header: the seq of the entry that set it and its 'members' op bytes in base64. */
export interface WireConfig {
  readonly seq: number;
  readonly config: string;
}

/** `configs` as BEGIN carries them. */
export function configsToWire(configs: readonly ConfigAt[]): WireConfig[] {
  return configs.map((c) => ({ seq: c.seq, config: encodeMemberConfig(c.config).toString('base64') }));
}

/** The configurations a header carries (none when it has no list), or why they are not a list a store at `h.from` can hold. */
export function headerConfigs(h: SnapshotHeader): ConfigAt[] | string {
  const wire: unknown = h.configs;
  if (wire === undefined) return [];
  if (!Array.isArray(wire) || wire.length > CONFIGS_KEPT) return 'bad configuration list in snapshot header';
  const out: ConfigAt[] = [];
  for (const w of wire as unknown[]) {
    const { seq, config } = (typeof w === 'object' && w !== null ? w : {}) as { seq?: unknown; config?: unknown };
    if (typeof seq !== 'number' || typeof config !== 'string') return 'bad configuration in snapshot header';
    const decoded = decodeMemberConfig(Buffer.from(config, 'base64'));
    if (decoded === null) return `configuration at seq ${seq} in snapshot header does not decode`;
    out.push({ seq, config: decoded });
  }
  return memberConfigsFault(out, h.from.seq) ?? out;
}

export interface Frame {
  readonly kind: FrameKind;
  readonly payload: Buffer;
}

/** A frame of `payloadBytes`, of which the returned buffer holds the first `heldBytes` (the rest is written after it). */
function frame(kind: FrameKind, payloadBytes: number, heldBytes = payloadBytes): { buf: Buffer; off: number } {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + heldBytes);
  buf.writeUInt32LE(1 + payloadBytes, 0);
  buf[4] = kind;
  return { buf, off: FRAME_HEADER_BYTES };
}

function jsonFrame(kind: FrameKind, value: unknown): Buffer {
  const text = Buffer.from(JSON.stringify(value), 'utf8');
  const { buf, off } = frame(kind, text.length);
  text.copy(buf, off);
  return buf;
}

/** Encode a core message as one frame. */
export function encodeMessage(msg: Message): Buffer {
  const parts = encodeMessageParts(msg);
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

/**
 * Encode a core message as one frame given as pieces to write back to back. An append that
 * carries records is its header and then the records themselves: a view of the primary's
 * backlog, the same for every replica, never copied (the backlog's chunk is reused only once no
 * link still queues bytes: host settleChunks).
 */
export function encodeMessageParts(msg: Message): Buffer[] {
  if (msg.type !== 'append') return [jsonFrame(KIND_MESSAGE, msg)];
  const header = Buffer.from(JSON.stringify({ epoch: msg.epoch, prev: msg.prev, commitSeq: msg.commitSeq }), 'utf8');
  const records = msg.records;
  let recordsSize = 0;
  if (records !== undefined) recordsSize = records.length;
  else for (const e of msg.entries) recordsSize += recordBytes(e.ops);
  const headSize = 4 + header.length;
  const { buf, off } = frame(KIND_APPEND, headSize + recordsSize, records === undefined ? headSize + recordsSize : headSize);
  let p = buf.writeUInt32LE(header.length, off);
  p += header.copy(buf, p);
  if (records !== undefined) return [buf, records];
  for (const e of msg.entries) p = encodeRecordInto(buf, p, e.epoch, e.seq, e.ops);
  assert.equal(p, buf.length, 'append frame size mismatch');
  return [buf];
}

export function encodeSnapshotHeader(kind: typeof KIND_SNAP_BEGIN | typeof KIND_SNAP_END, h: SnapshotHeader): Buffer {
  return jsonFrame(kind, h);
}

/**
 * One chunk of snapshot items as a record of absolute ops: 'set' for a string, 'restore' (the
 * whole collection in its object-codec form) for any other type. `chunkNo` starts at 1.
 */
export function encodeSnapshotChunk(chunkNo: number, items: readonly SnapshotItem[]): Buffer {
  const ops: Op[] = items.map((it) =>
    it.type === 'string' ? { t: 'set', key: it.key, value: it.value, expireAtMs: it.expireAtMs } : { t: 'restore', key: it.key, payload: it.value, expireAtMs: it.expireAtMs },
  );
  const { buf, off } = frame(KIND_SNAP_CHUNK, recordBytes(ops));
  const end = encodeRecordInto(buf, off, 1, chunkNo, ops);
  assert.equal(end, buf.length, 'snapshot chunk size mismatch');
  return buf;
}

/** Decode results are values: a malformed frame from a peer is an error to log and a link to close, not a crash. */
export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

export function decodeMessage(f: Frame): Decoded<Message> {
  if (f.kind === KIND_MESSAGE) {
    const v = parseJson(f.payload);
    if (typeof v !== 'object' || v === null || typeof (v as { type?: unknown }).type !== 'string') return { ok: false, error: 'message frame is not a message' };
    return { ok: true, value: v as Message };
  }
  if (f.kind !== KIND_APPEND) return { ok: false, error: `frame kind ${f.kind} is not a message` };
  const p = f.payload;
  if (p.length < 4) return { ok: false, error: 'append frame too short' };
  const hLen = p.readUInt32LE(0);
  if (hLen > APPEND_HEADER_BYTES_MAX || 4 + hLen > p.length) return { ok: false, error: `bad append header length ${hLen}` };
  const h = parseJson(p.subarray(4, 4 + hLen)) as { epoch?: unknown; prev?: unknown; commitSeq?: unknown } | undefined;
  if (h === undefined || typeof h.epoch !== 'number' || typeof h.commitSeq !== 'number' || !isPosition(h.prev)) {
    return { ok: false, error: 'bad append header' };
  }
  // Every record is checked here (CRC, structure), once; past this point the core and the store
  // read the bytes as they are, and entries are decoded only if something asks for them.
  const bad = checkRecords(p, 4 + hLen) ?? appendShapeError(p, 4 + hLen, h.prev, h.epoch);
  if (bad !== null) return { ok: false, error: `bad entry in append: ${bad}` };
  return { ok: true, value: appendMessage(h.epoch, h.prev, h.commitSeq, p.subarray(4 + hLen)) };
}

/**
 * An append's entries must continue its `prev` one seq at a time, with epochs that never go down
 * and never pass the append's own: the core assumes it (Log Matching) and stops on a gap.
 */
function appendShapeError(b: Buffer, off: number, prev: Position, epoch: number): string | null {
  let seq = prev.seq;
  let lastEpoch = prev.epoch;
  for (; off < b.length; off = recordEndAt(b, off)) {
    const s = recordSeqAt(b, off);
    const e = recordEpochAt(b, off);
    if (s !== seq + 1) return `entry ${s} does not follow ${seq}`;
    if (e < lastEpoch || e > epoch) return `entry ${e}:${s} has an epoch outside ${lastEpoch}..${epoch}`;
    seq = s;
    lastEpoch = e;
  }
  return null;
}

export function decodeSnapshotHeader(f: Frame): Decoded<SnapshotHeader> {
  const v = parseJson(f.payload) as Partial<SnapshotHeader> | undefined;
  if (v === undefined || !isPosition(v.from) || !Array.isArray(v.epochHistory) || typeof v.keys !== 'number' || typeof v.bytes !== 'number' || (v.users !== undefined && typeof v.users !== 'string') || (v.functions !== undefined && typeof v.functions !== 'string')) {
    return { ok: false, error: 'bad snapshot header' };
  }
  const configs = headerConfigs(v as SnapshotHeader);
  if (typeof configs === 'string') return { ok: false, error: configs };
  return { ok: true, value: v as SnapshotHeader };
}

/** A chunk's items and its number in its stream (1, 2, ...). */
export function decodeSnapshotChunk(f: Frame): Decoded<{ readonly chunkNo: number; readonly items: SnapshotItem[] }> {
  const r = decodeRecord(f.payload, 0);
  if (!r.ok) return { ok: false, error: `bad snapshot chunk: ${r.detail}` };
  if (r.next !== f.payload.length) return { ok: false, error: 'trailing bytes after snapshot chunk' };
  const items: SnapshotItem[] = [];
  for (const op of r.entry.ops) {
    // decodeRecord checked a restore's payload.
    if (op.t === 'set') items.push({ key: op.key, type: 'string', value: op.value, expireAtMs: op.expireAtMs });
    else if (op.t === 'restore' && payloadType(op.payload, 0) !== TYPE_STRING) {
      items.push({ key: op.key, type: typeName(payloadType(op.payload, 0)), value: op.payload, expireAtMs: op.expireAtMs });
    } else return { ok: false, error: `snapshot chunk holds a ${op.t} op` };
  }
  return { ok: true, value: { chunkNo: r.entry.seq, items } };
}

function isPosition(x: unknown): x is Position {
  return typeof x === 'object' && x !== null && typeof (x as Position).epoch === 'number' && typeof (x as Position).seq === 'number';
}

function parseJson(b: Buffer): unknown {
  try {
    return JSON.parse(b.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Splits a byte stream into frames. Bounded: a length above FRAME_BYTES_MAX is a protocol
 * error (the link closes) rather than an allocation the peer controls.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete frame, null when more bytes are needed, or an error string. */
  next(): Frame | null | string {
    if (this.buffered < FRAME_HEADER_BYTES) return null;
    const head = this.peek(FRAME_HEADER_BYTES);
    const len = head.readUInt32LE(0);
    if (len < 1 || len > FRAME_BYTES_MAX) return `bad frame length ${len}`;
    const kind = head[4] as number;
    if (kind < KIND_MESSAGE || kind > KIND_PUBSUB) return `unknown frame kind ${kind}`;
    const total = 4 + len;
    if (this.buffered < total) return null;
    const all = this.take(total);
    return { kind: kind as FrameKind, payload: all.subarray(FRAME_HEADER_BYTES) };
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= n) return first;
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] as Buffer;
  }

  private take(n: number): Buffer {
    let first = this.chunks[0] as Buffer;
    if (first.length < n) {
      first = Buffer.concat(this.chunks);
      this.chunks = [first];
    }
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}
