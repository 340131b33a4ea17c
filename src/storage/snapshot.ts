// Snapshot files: a fuzzy, incrementally written image of a Keyspace at a start position,
// and the validating reader used at open. Owns the snapshot byte format and the write loop
// that yields to the event loop between blocks; never decides when to snapshot or what to delete,
// and never chooses what a turn walks (snapshot-walk.ts does, for this file and for full resyncs).
//
// File = header, blocks, trailer:
//   header  = "KVTSSNAP" [u32 version][u32 bodyLen][u32 crc32c(body)]
//             body = [u32 epoch][u32 seqHi][u32 seqLo][u32 historyCount]([u32 epoch][u32 hi][u32 lo])*
//   block   = [u32 kind=1][u32 bodyLen][u32 crc32c(body)] body = [u32 count](item)*
//             item (versions 2, 3) = [u32 klen][key][u8 type][u32 vlen][value][f64 expireAtMs]: a
//             string's value bytes, or a collection's object-codec payload (checked on read).
//             Version 3: a collection is at most SNAPSHOT_CHUNK_MEMBERS_MAX members and
//             SNAPSHOT_CHUNK_BYTES_MAX bytes per item: a bigger one is its first chunk (a whole
//             payload, with the expiry) followed by parts (payloads flagged as parts, expiry 0)
//             that add its other members. Version 2 (still read) holds every collection whole.
//             item (version 1, strings only, still read) = [u32 klen][key][u32 vlen][value][f64 expireAtMs]
//   users   = [u32 kind=3][u32 bodyLen][u32 crc32c(body)] body = the user table (an 'acl' op's
//             bytes), versions 4 and 5, right after the header and only when the log ever set one.
//   configs = [u32 kind=4][u32 bodyLen][u32 crc32c(body)] body = [u32 count]([u32 seqHi][u32 seqLo]
//             [u32 len][config])*: the membership configurations the log set up to the snapshot's
//             position (a 'members' op's bytes each, seqs ascending), version 5, before the blocks
//             and only when there is one. Version 4 (still read) has none.
//   functions = [u32 kind=5][u32 bodyLen][u32 crc32c(body)] body = the function library table (a
//             'functions' op's bytes), version 6, before the blocks and only when the log ever set
//             one. Version 5 (still read) has none.
//   trailer = [u32 kind=2][u32 16][u32 crc32c(body)]     body = [f64 itemCount][f64 blockCount]
// The item count lives in the trailer because a fuzzy snapshot only knows it at the end; it is
// the key count but for a chunked collection, which counts once per chunk.
// A file is valid only if every CRC matches, the trailer's counts match and nothing follows it.
// The writer encodes straight from the keyspace's slabs; the reader hands items out as byte
// ranges of one reused block buffer (no per-item objects), and snapshotKeyCountHint reads the
// trailer first so the loader can size its tables once.

import assert from 'node:assert';
import { closeSync, openSync, readSync, fstatSync, fsyncSync, ftruncateSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import type { EpochStart, Position, Seq } from './types.js';
import { memberConfigsFault, newSlotView, type Keyspace } from './keyspace.js';
import type { ConfigAt } from '../replication/core/types.js';
import { CONFIGS_KEPT, decodeMemberConfig, encodeMemberConfig } from '../replication/core/member-config.js';
import { KeyspaceWalk, SNAPSHOT_STEP_MEMBERS_MAX, type WalkBudget, type WalkItem } from './snapshot-walk.js';
import { fsyncDir, fsyncDirSync, writeAllSync } from './fsutil.js';
import { seqFromWords, VALUE_BYTES_MAX } from './record.js';
import { TYPE_STRING } from './collection.js';
import { checkObject, isPartPayload, payloadType } from './object-codec.js';

const MAGIC = Buffer.from('KVTSSNAP', 'latin1');
const VERSION = 6;
/** Snapshots written before the function library table was kept (still read: they have none). */
const VERSION_NO_FUNCTIONS = 5;
/** Snapshots written before membership configurations were kept (still read: they have none). */
const VERSION_NO_CONFIGS = 4;
/** Snapshots written before the user table was kept (still read: they have none). */
const VERSION_NO_USERS = 3;
/** Snapshots written before collections were chunked: each is one item. */
const VERSION_WHOLE_COLLECTIONS = 2;
/** Snapshots written before typed items: every item is a string. */
const VERSION_STRINGS_ONLY = 1;
const KIND_BLOCK = 1;
const KIND_TRAILER = 2;
const KIND_USERS = 3;
const KIND_CONFIGS = 4;
const KIND_FUNCTIONS = 5;
const FRAME_BYTES = 12;
/** An item's bytes besides its key and value: key length, type, value length, expiry. */
const ITEM_FIXED_BYTES = 4 + 1 + 4 + 8;
const SEQ_HI = 0x1_0000_0000;
/** Keys encoded per event-loop turn while snapshotting (bounds the pause per turn). */
export const SNAPSHOT_KEYS_PER_TURN = 2000;
/** A block is closed once it holds this many bytes (one huge value may exceed it alone). */
export const SNAPSHOT_BLOCK_BYTES_TARGET = 256 * 1024;
/** The reader refuses blocks larger than this (a corrupt length must not allocate gigabytes). */
const SNAPSHOT_BLOCK_BYTES_MAX = VALUE_BYTES_MAX + 64 * 1024 * 1024;
/** Initial size of the reader's reused block buffer (blocks are ~SNAPSHOT_BLOCK_BYTES_TARGET). */
const SNAPSHOT_READ_BUFFER_BYTES = 2 * SNAPSHOT_BLOCK_BYTES_TARGET;
/** Epoch history entries the header may hold. */
const HISTORY_ENTRIES_MAX = 1_000_000;

export interface SnapshotWriteResult {
  readonly bytes: number;
  readonly keys: number;
  readonly turns: number;
}

function encodeHeader(position: Position, history: readonly EpochStart[]): Buffer {
  const bodyLen = 16 + history.length * 12;
  const b = Buffer.alloc(MAGIC.length + 12 + bodyLen);
  MAGIC.copy(b, 0);
  let p = MAGIC.length;
  p = b.writeUInt32LE(VERSION, p);
  p = b.writeUInt32LE(bodyLen, p);
  const crcAt = p;
  p += 4;
  const bodyStart = p;
  p = b.writeUInt32LE(position.epoch, p);
  p = b.writeUInt32LE(Math.floor(position.seq / SEQ_HI), p);
  p = b.writeUInt32LE(position.seq % SEQ_HI, p);
  p = b.writeUInt32LE(history.length, p);
  for (const h of history) {
    p = b.writeUInt32LE(h.epoch, p);
    p = b.writeUInt32LE(Math.floor(h.startSeq / SEQ_HI), p);
    p = b.writeUInt32LE(h.startSeq % SEQ_HI, p);
  }
  assert.equal(p, b.length);
  b.writeUInt32LE(crc32c(b.subarray(bodyStart)), crcAt);
  return b;
}

/** The configs frame of `configs` (memberConfigsFault accepts them). */
function configsFrame(configs: readonly ConfigAt[]): Buffer {
  const encoded = configs.map((c) => encodeMemberConfig(c.config));
  const body = Buffer.alloc(FRAME_BYTES + 4 + encoded.reduce((n, b) => n + 12 + b.length, 0));
  let p = body.writeUInt32LE(configs.length, FRAME_BYTES);
  configs.forEach((c, i) => {
    const b = encoded[i] as Buffer;
    p = body.writeUInt32LE(Math.floor(c.seq / SEQ_HI), p);
    p = body.writeUInt32LE(c.seq % SEQ_HI, p);
    p = body.writeUInt32LE(b.length, p);
    p += b.copy(body, p);
  });
  assert.equal(p, body.length);
  return frame(KIND_CONFIGS, body);
}

/** A configs frame's body as the list, or why it is not one for a snapshot at `lastSeq`. */
function parseConfigs(body: Buffer, lastSeq: Seq): ConfigAt[] | string {
  if (body.length < 4) return 'short configs frame';
  const count = body.readUInt32LE(0);
  if (count > CONFIGS_KEPT) return `${count} configurations (at most ${CONFIGS_KEPT} are kept)`;
  const out: ConfigAt[] = [];
  let p = 4;
  for (let i = 0; i < count; i++) {
    if (p + 12 > body.length) return 'configuration runs past its frame';
    const seq = seqFromWords(body.readUInt32LE(p), body.readUInt32LE(p + 4));
    const len = body.readUInt32LE(p + 8);
    p += 12;
    if (len > body.length - p) return 'configuration runs past its frame';
    const config = decodeMemberConfig(body.subarray(p, p + len));
    if (config === null) return `configuration at seq ${seq} does not decode`;
    p += len;
    out.push({ seq, config });
  }
  if (p !== body.length) return 'trailing bytes in configs frame';
  return memberConfigsFault(out, lastSeq) ?? out;
}

function frame(kind: number, body: Buffer): Buffer {
  body.writeUInt32LE(kind, 0);
  body.writeUInt32LE(body.length - FRAME_BYTES, 4);
  body.writeUInt32LE(crc32c(body.subarray(FRAME_BYTES)), 8);
  return body;
}

/**
 * Write a snapshot of `ks` started at `position` into `dir/tmpName`, then fsync, rename to
 * `dir/finalName` and fsync the directory. Iterates the live keyspace a slice per turn, so
 * reads and writes interleave; `aborted()` is polled between turns (returns null if aborted,
 * leaving the temp file for the caller to remove).
 */
export async function writeSnapshot(args: {
  dir: string;
  tmpName: string;
  finalName: string;
  ks: Keyspace;
  position: Position;
  history: readonly EpochStart[];
  aborted: () => boolean;
  /** A store batch is open (its effects in memory, not yet logged): resolves at its commit. */
  batchOpen?: () => Promise<void> | null;
  keysPerTurn?: number;
}): Promise<SnapshotWriteResult | null> {
  const keysPerTurn = args.keysPerTurn ?? SNAPSHOT_KEYS_PER_TURN;
  const tmp = join(args.dir, args.tmpName);
  const fh = await open(tmp, 'w');
  let bytes = 0;
  let keys = 0;
  let blocks = 0;
  let turns = 0;
  try {
    const header = encodeHeader(args.position, args.history);
    await fh.write(header);
    bytes += header.length;
    // The table as the walk starts: a fuzzy image, like the keys; replay from the start position
    // re-applies any later 'acl' op (each holds the whole table).
    const users = args.ks.aclUsers;
    if (users !== null) {
      const f = frame(KIND_USERS, Buffer.concat([Buffer.alloc(FRAME_BYTES), users]));
      await fh.write(f);
      bytes += f.length;
    }
    // Fuzzy like the user table: replay re-applies any later 'functions' op (each holds the whole table).
    const functions = args.ks.functionLibraries;
    if (functions !== null) {
      const f = frame(KIND_FUNCTIONS, Buffer.concat([Buffer.alloc(FRAME_BYTES), functions]));
      await fh.write(f);
      bytes += f.length;
    }
    // Only those set up to the position: an entry applied since (the file opened over awaits)
    // comes back with the replay after it.
    const configs = args.ks.memberConfigs.filter((c) => c.seq <= args.position.seq);
    if (configs.length > 0) {
      const f = configsFrame(configs);
      await fh.write(f);
      bytes += f.length;
    }
    const walk = new KeyspaceWalk(args.ks);
    const view = newSlotView();
    const items: WalkItem[] = [];
    const budget: WalkBudget = { slots: keysPerTurn, items: keysPerTurn, bytes: SNAPSHOT_BLOCK_BYTES_TARGET, members: SNAPSHOT_STEP_MEMBERS_MAX };
    try {
      while (!walk.done) {
        const open = args.batchOpen?.() ?? null;
        if (open !== null) await open;
        if (args.aborted()) return null;
        turns++;
        // Take this turn's items and size the block, then encode straight from the slabs; both
        // run in the same synchronous turn, so the records cannot move in between.
        items.length = 0;
        walk.step(items, budget);
        if (items.length === 0) {
          await new Promise<void>((r) => setImmediate(r));
          continue;
        }
        let size = FRAME_BYTES + 4;
        for (const it of items) size += ITEM_FIXED_BYTES + it.bytes;
        const body = Buffer.allocUnsafe(size);
        let p = FRAME_BYTES;
        p = body.writeUInt32LE(items.length, p);
        for (const it of items) {
          const ok = args.ks.readSlot(it.slot, view);
          assert(ok && view.type === it.type, 'a walked slot changed within the turn');
          p = body.writeUInt32LE(view.keyLen, p);
          p += view.buf.copy(body, p, view.keyOff, view.keyOff + view.keyLen);
          body[p++] = view.type;
          if (it.payload === null) {
            p = body.writeUInt32LE(view.valLen, p);
            p += view.buf.copy(body, p, view.valOff, view.valOff + view.valLen);
          } else {
            p = body.writeUInt32LE(it.payload.length, p);
            p += it.payload.copy(body, p);
          }
          // Expired keys are kept: only a logged delete removes a key (a replica must never drop
          // one by its own clock, and a primary's delete must reach its replicas). A part leaves
          // the expiry to its collection's first chunk.
          p = body.writeDoubleLE(it.part ? 0 : view.expireAtMs, p);
        }
        assert.equal(p, size);
        // The await hands the event loop back to clients while libuv writes the block.
        await fh.write(frame(KIND_BLOCK, body));
        bytes += size;
        keys += items.length;
        blocks++;
      }
    } finally {
      walk.close();
    }
    if (args.aborted()) return null;
    const trailer = Buffer.allocUnsafe(FRAME_BYTES + 16);
    trailer.writeDoubleLE(keys, FRAME_BYTES);
    trailer.writeDoubleLE(blocks, FRAME_BYTES + 8);
    await fh.write(frame(KIND_TRAILER, trailer));
    bytes += trailer.length;
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(args.dir, args.finalName));
  await fsyncDir(args.dir);
  return { bytes, keys, turns };
}

export interface SnapshotHeader {
  readonly position: Position;
  readonly history: EpochStart[];
}

export type SnapshotReadResult =
  | { readonly ok: true; readonly header: SnapshotHeader; readonly keys: number; readonly bytes: number }
  | {
      readonly ok: false;
      readonly offset: number;
      readonly reason: string;
      /** End of the header and the whole valid blocks before the damage (0: the header itself is bad). */
      readonly validEnd: number;
      readonly keys: number;
      readonly blocks: number;
    };

/** Smallest encoded item: [u32 klen][u32 vlen][f64 expiry] with empty key and value. */
const ITEM_BYTES_MIN = 16;

/**
 * The item count from the trailer at the end of the file (the key count, a little more with
 * chunked collections), read before the body so the loader can size its tables once. Only a
 * hint (null if the trailer is absent or damaged): readSnapshot still validates everything, and
 * the count is capped by what the file size allows.
 */
export function snapshotKeyCountHint(path: string): number | null {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const n = FRAME_BYTES + 16;
    if (size < n) return null;
    const t = Buffer.alloc(n);
    if (readSync(fd, t, 0, n, size - n) !== n) return null;
    if (t.readUInt32LE(0) !== KIND_TRAILER || t.readUInt32LE(4) !== 16 || crc32c(t.subarray(FRAME_BYTES)) !== t.readUInt32LE(8)) return null;
    const keys = t.readDoubleLE(FRAME_BYTES);
    if (!Number.isSafeInteger(keys) || keys < 0) return null;
    return Math.min(keys, Math.floor(size / ITEM_BYTES_MIN));
  } finally {
    closeSync(fd);
  }
}

/**
 * Receives one snapshot item as byte ranges of a block buffer that is REUSED for the next
 * block: copy what you keep (the keyspace copies into its slabs; no per-item objects). For a
 * collection (`type` !== TYPE_STRING) the value range is its checked object-codec payload: whole
 * (replace the key), or a part (add its members: Keyspace.restore does either).
 */
export type SnapshotSink = (buf: Buffer, keyOff: number, keyLen: number, valOff: number, valLen: number, expireAtMs: number, type: number) => void;

/**
 * Read and validate a snapshot, calling `sink` for every item. Synchronous: used at open,
 * before serving. Blocks are read into one reused buffer (no allocation per block).
 * On failure the sink may already have received items: callers load into a scratch keyspace.
 */
export function readSnapshot(
  path: string,
  sink: SnapshotSink,
  onUsers?: (users: Buffer) => void,
  onConfigs?: (configs: ConfigAt[]) => void,
  onFunctions?: (libraries: Buffer) => void,
): SnapshotReadResult {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    let pos = 0;
    let blockBuf = Buffer.allocUnsafeSlow(SNAPSHOT_READ_BUFFER_BYTES);
    /** Read n bytes at pos into the reused block buffer (grown for an oversized block). */
    const readExact = (n: number): Buffer | null => {
      if (pos + n > size) return null;
      if (n > blockBuf.length) blockBuf = Buffer.allocUnsafeSlow(n);
      const b = blockBuf.subarray(0, n);
      let got = 0;
      while (got < n) {
        const r = readSync(fd, b, got, n - got, pos + got);
        if (r === 0) return null;
        got += r;
      }
      pos += n;
      return b;
    };
    const pre = Buffer.from(readExact(MAGIC.length + 12) ?? Buffer.alloc(0));
    const badHeader = (offset: number, reason: string): SnapshotReadResult => ({ ok: false, offset, reason, validEnd: 0, keys: 0, blocks: 0 });
    if (pre.length === 0 || !pre.subarray(0, MAGIC.length).equals(MAGIC)) return badHeader(0, 'bad magic');
    const version = pre.readUInt32LE(8);
    if (version !== VERSION && version !== VERSION_NO_FUNCTIONS && version !== VERSION_NO_CONFIGS && version !== VERSION_NO_USERS && version !== VERSION_WHOLE_COLLECTIONS && version !== VERSION_STRINGS_ONLY) return badHeader(8, `unknown version ${version}`);
    const hLen = pre.readUInt32LE(12);
    if (hLen < 16 || hLen > 16 + HISTORY_ENTRIES_MAX * 12 || (hLen - 16) % 12 !== 0) {
      return badHeader(12, 'bad header length');
    }
    const hb = readExact(hLen);
    if (hb === null || crc32c(hb) !== pre.readUInt32LE(16)) return badHeader(MAGIC.length + 12, 'header checksum mismatch');
    const position = { epoch: hb.readUInt32LE(0), seq: seqFromWords(hb.readUInt32LE(4), hb.readUInt32LE(8)) };
    const hCount = hb.readUInt32LE(12);
    if (hCount * 12 + 16 !== hLen) return badHeader(MAGIC.length + 12, 'bad history count');
    const history: EpochStart[] = [];
    for (let i = 0; i < hCount; i++) {
      const o = 16 + i * 12;
      history.push({ epoch: hb.readUInt32LE(o), startSeq: seqFromWords(hb.readUInt32LE(o + 4), hb.readUInt32LE(o + 8)) });
    }
    let keys = 0;
    let blocks = 0;
    let validEnd = pos;
    let sawConfigs = false;
    const bad = (offset: number, reason: string): SnapshotReadResult => ({ ok: false, offset, reason, validEnd, keys, blocks });
    for (;;) {
      const at = pos;
      validEnd = at;
      const fr = readExact(FRAME_BYTES);
      if (fr === null) return bad(at, 'missing trailer (incomplete snapshot)');
      // Copy the frame fields out: reading the body reuses the same buffer.
      const kind = fr.readUInt32LE(0);
      const len = fr.readUInt32LE(4);
      const crc = fr.readUInt32LE(8);
      const usersFrame = kind === KIND_USERS && version >= VERSION_NO_CONFIGS && blocks === 0;
      const configsFrame = kind === KIND_CONFIGS && version >= VERSION_NO_FUNCTIONS && blocks === 0 && !sawConfigs;
      const functionsFrame = kind === KIND_FUNCTIONS && version >= VERSION && blocks === 0;
      if ((kind !== KIND_BLOCK && kind !== KIND_TRAILER && !usersFrame && !configsFrame && !functionsFrame) || len > SNAPSHOT_BLOCK_BYTES_MAX) {
        return bad(at, `bad block frame (kind ${kind}, length ${len})`);
      }
      const body = readExact(len);
      if (body === null) return bad(at, 'block runs past end of file');
      if (crc32c(body) !== crc) return bad(at, 'block checksum mismatch');
      if (usersFrame) {
        onUsers?.(Buffer.from(body));
        continue;
      }
      if (functionsFrame) {
        onFunctions?.(Buffer.from(body));
        continue;
      }
      if (configsFrame) {
        const configs = parseConfigs(body, position.seq);
        if (typeof configs === 'string') return bad(at, configs);
        sawConfigs = true;
        onConfigs?.(configs);
        continue;
      }
      if (kind === KIND_TRAILER) {
        if (len !== 16 || body.readDoubleLE(0) !== keys || body.readDoubleLE(8) !== blocks) {
          return bad(at, 'trailer counts do not match');
        }
        if (pos !== size) return bad(pos, 'bytes after trailer');
        return { ok: true, header: { position, history }, keys, bytes: size };
      }
      const err = parseBlock(body, version, sink);
      if (typeof err === 'string') return bad(at, err);
      keys += err;
      blocks++;
    }
  } finally {
    closeSync(fd);
  }
}

function parseBlock(body: Buffer, version: number, sink: SnapshotSink): number | string {
  const typed = version !== VERSION_STRINGS_ONLY;
  if (body.length < 4) return 'short block';
  const count = body.readUInt32LE(0);
  let p = 4;
  for (let i = 0; i < count; i++) {
    if (p + 4 > body.length) return 'item runs past block';
    const kl = body.readUInt32LE(p);
    p += 4;
    if (p + kl + 4 > body.length) return 'key runs past block';
    const keyOff = p;
    p += kl;
    let type = TYPE_STRING;
    if (typed) {
      type = body[p++] as number;
      if (p + 4 > body.length) return 'value length runs past block';
    }
    const vl = body.readUInt32LE(p);
    p += 4;
    if (p + vl + 8 > body.length) return 'value runs past block';
    const valOff = p;
    p += vl;
    const exp = body.readDoubleLE(p);
    p += 8;
    if (!Number.isSafeInteger(exp) || exp < 0) return 'bad expiry';
    if (type !== TYPE_STRING) {
      const bad = checkObject(body, valOff, vl);
      if (bad !== null) return `bad collection item: ${bad}`;
      if (payloadType(body, valOff) !== type) return 'item type and payload type disagree';
      if (isPartPayload(body, valOff) && version < VERSION_NO_USERS) return 'a chunk of a collection in a snapshot whose collections are whole';
    }
    sink(body, keyOff, kl, valOff, vl, exp, type);
  }
  if (p !== body.length) return 'trailing bytes in block';
  return count;
}

/**
 * Repair: keep the header and the whole valid blocks before `validEnd` and close them with a
 * fresh trailer, so the file is a valid snapshot of the keys it still holds. The caller has
 * kept a copy of the bytes cut.
 */
export function sealSnapshotPrefix(path: string, validEnd: number, keys: number, blocks: number): void {
  const trailer = Buffer.allocUnsafe(FRAME_BYTES + 16);
  trailer.writeDoubleLE(keys, FRAME_BYTES);
  trailer.writeDoubleLE(blocks, FRAME_BYTES + 8);
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, validEnd);
    writeAllSync(fd, [frame(KIND_TRAILER, trailer)], validEnd);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  fsyncDirSync(dirname(path));
}

/**
 * Read a just-written snapshot back and check every checksum and the trailer's counts, without
 * building anything. Asynchronous, a block per read, so verifying never stalls the event loop.
 * Returns null if valid, else the reason with its offset.
 */
export async function verifySnapshot(path: string): Promise<string | null> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    let buf = Buffer.allocUnsafe(SNAPSHOT_READ_BUFFER_BYTES);
    const readAt = async (pos: number, n: number): Promise<Buffer | null> => {
      if (pos + n > size) return null;
      if (n > buf.length) buf = Buffer.allocUnsafe(n);
      const b = buf.subarray(0, n);
      for (let got = 0; got < n; ) {
        const { bytesRead } = await fh.read(b, got, n - got, pos + got);
        if (bytesRead === 0) return null;
        got += bytesRead;
      }
      return b;
    };
    const pre = await readAt(0, MAGIC.length + 12);
    if (pre === null || !pre.subarray(0, MAGIC.length).equals(MAGIC)) return 'offset 0: bad magic';
    const hLen = pre.readUInt32LE(12);
    const hCrc = pre.readUInt32LE(16);
    const hb = hLen > 16 + HISTORY_ENTRIES_MAX * 12 ? null : await readAt(MAGIC.length + 12, hLen);
    if (hb === null || crc32c(hb) !== hCrc) return `offset ${MAGIC.length + 12}: header checksum mismatch`;
    let pos = MAGIC.length + 12 + hLen;
    let keys = 0;
    let blocks = 0;
    for (;;) {
      const fr = await readAt(pos, FRAME_BYTES);
      if (fr === null) return `offset ${pos}: missing trailer`;
      const kind = fr.readUInt32LE(0);
      const len = fr.readUInt32LE(4);
      const crc = fr.readUInt32LE(8);
      if ((kind !== KIND_BLOCK && kind !== KIND_TRAILER && kind !== KIND_USERS && kind !== KIND_CONFIGS && kind !== KIND_FUNCTIONS) || len > SNAPSHOT_BLOCK_BYTES_MAX) return `offset ${pos}: bad block frame`;
      const body = await readAt(pos + FRAME_BYTES, len);
      if (body === null || crc32c(body) !== crc) return `offset ${pos}: block checksum mismatch`;
      pos += FRAME_BYTES + len;
      if (kind === KIND_TRAILER) {
        if (len !== 16 || body.readDoubleLE(0) !== keys || body.readDoubleLE(8) !== blocks || pos !== size) return `offset ${pos}: bad trailer`;
        return null;
      }
      if (kind === KIND_USERS || kind === KIND_CONFIGS || kind === KIND_FUNCTIONS) continue;
      keys += body.length >= 4 ? body.readUInt32LE(0) : 0;
      blocks++;
    }
  } finally {
    await fh.close();
  }
}
