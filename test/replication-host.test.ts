// In-process tests of the replication host and transport: frame codec round trips, and two or
// three hosts with real stores linked over 127.0.0.1 TCP (a tiny KVREPL acceptor stands in
// for the RESP server) — streaming, partial and full resync, divergence after a promotion.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { openReplicatedStore as openStore } from '../src/storage/store.js';
import type { LogEntry, Op } from '../src/storage/types.js';
import { DEFAULT_TIMING, type Message, type Timing } from '../src/replication/core/types.js';
import { appendLast, appendMessage } from '../src/replication/core/append.js';
import { Backlog } from '../src/replication/core/backlog.js';
import { encodeRecord, recordBytes } from '../src/storage/record.js';
import type { SnapshotItem } from '../src/storage/api.js';
import { HashObject } from '../src/storage/hash-object.js';
import { encodeCollection } from '../src/storage/object-codec.js';
import { TYPE_HASH } from '../src/storage/collection.js';
import { SNAPSHOT_CHUNK_MEMBERS_MAX } from '../src/storage/snapshot-walk.js';
import {
  FrameDecoder,
  KIND_SNAP_BEGIN,
  KIND_SNAP_CHUNK,
  KIND_SNAP_END,
  decodeMessage,
  decodeSnapshotChunk,
  encodeMessage,
  encodeMessageParts,
  encodeSnapshotChunk,
  encodeSnapshotHeader,
  configsToWire,
  decodeSnapshotHeader,
  headerConfigs,
  type Frame,
  type SnapshotHeader,
} from '../src/replication/host/framing.js';
import { coalesce, MERGED_APPEND_BYTES_MAX } from '../src/replication/host/outbox.js';
import { CHUNKS_KEPT_MAX, ChunkPool } from '../src/replication/host/chunk-pool.js';
import { TcpProxy } from './helpers/proxy.js';
import { parseReply } from './helpers/resp.js';
import { rng, testSeed } from './helpers/rng.js';
import { commandOps, modelApply, modelState, storeState, type Model } from './helpers/typed-ops.js';
import { tempDir } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';
import { converged, newHost, startReplNode, write, type ReplNode } from './helpers/repl-nodes.js';
import { CONFIGS_KEPT, encodeMemberConfig } from '../src/replication/core/member-config.js';
import type { Member, MemberConfig } from '../src/replication/core/types.js';

function decodeAll(bytes: Buffer, r: ReturnType<typeof rng>): Frame[] {
  const d = new FrameDecoder();
  const frames: Frame[] = [];
  let off = 0;
  while (off < bytes.length) {
    const n = 1 + r.int(37);
    d.push(bytes.subarray(off, off + n));
    off += n;
    for (let f = d.next(); f !== null; f = d.next()) {
      assert.equal(typeof f, 'object', `decoder error: ${String(f)}`);
      frames.push(f as Frame);
    }
  }
  assert.equal(d.bufferedBytes, 0);
  return frames;
}

test('framing: messages and snapshot chunks survive arbitrary splits', () => {
  const r = rng(7);
  const entries: LogEntry[] = [];
  for (let seq = 5; seq < 25; seq++) {
    const ops: Op[] = [{ t: 'set', key: `k${seq}\u00ff`, value: r.bytes(r.int(300)), expireAtMs: r.int(2) === 0 ? 0 : 1_900_000_000_000 }, { t: 'del', key: 'gone' }];
    entries.push({ epoch: 3, seq, ops });
  }
  const msgs: Message[] = [
    { type: 'append', epoch: 3, prev: { epoch: 2, seq: 4 }, entries, commitSeq: 0 },
    { type: 'heartbeat', epoch: 3, lastSeq: 24, commitSeq: 0, primaryTimeMs: 123, round: 9, replicaInSync: true },
    { type: 'append', epoch: 3, prev: { epoch: 3, seq: 24 }, entries: [], commitSeq: 0 },
  ];
  const hash = new HashObject();
  hash.set('f', Buffer.from('v'));
  const items: SnapshotItem[] = [
    { key: 'a', type: 'string', value: Buffer.from('1'), expireAtMs: 0 },
    { key: 'b\u0000', type: 'string', value: r.bytes(1000), expireAtMs: 1_900_000_000_000 },
    { key: 'h', type: 'hash', value: encodeCollection(TYPE_HASH, hash), expireAtMs: 0 },
  ];
  const bytes = Buffer.concat([...msgs.map(encodeMessage), encodeSnapshotChunk(1, items)]);
  const frames = decodeAll(bytes, r);
  assert.equal(frames.length, 4);
  for (let i = 0; i < 3; i++) {
    const d = decodeMessage(frames[i] as Frame);
    assert.ok(d.ok);
    // A decoded append also carries its records as received (the replica's backlog keeps them).
    const v = d.value;
    if (v.type === 'append') assert.deepEqual(v.records, Buffer.concat(v.entries.map((e) => encodeRecord(e.epoch, e.seq, e.ops))));
    // Appends decode their entries only when read (a getter): compare the message's fields.
    const fields = v.type === 'append' ? { type: v.type, epoch: v.epoch, prev: v.prev, entries: v.entries, commitSeq: v.commitSeq } : v;
    assert.deepEqual(JSON.parse(JSON.stringify(fields)), JSON.parse(JSON.stringify(msgs[i])));
  }
  // An append carrying records is sent as its header plus the records themselves (no copy): the
  // same bytes as the append encoded from its entries.
  const records = Buffer.concat(entries.map((e) => encodeRecord(e.epoch, e.seq, e.ops)));
  const parts = encodeMessageParts(appendMessage(3, { epoch: 2, seq: 4 }, 0, records));
  assert.equal(parts.length, 2);
  assert.equal(parts[1], records);
  assert.deepEqual(Buffer.concat(parts), encodeMessage(msgs[0] as Message));
  const first = decodeMessage(frames[0] as Frame);
  assert.ok(first.ok && first.value.type === 'append');
  assert.deepEqual((first.value.entries[3] as LogEntry).ops, (entries[3] as LogEntry).ops);
  assert.equal((frames[3] as Frame).kind, KIND_SNAP_CHUNK);
  const chunk = decodeSnapshotChunk(frames[3] as Frame);
  assert.ok(chunk.ok);
  assert.deepEqual(chunk.value.items, items);
});

test('framing: BEGIN\'s membership configurations round-trip; a list no store could hold is a bad header', () => {
  const config = (learner: string): MemberConfig => ({
    members: new Map<string, Member>([
      ['m1', { address: '127.0.0.1:7201', voter: true, autoPromote: false }],
      [learner, { address: '127.0.0.1:7202', voter: false, autoPromote: true }],
    ]),
  });
  const base: SnapshotHeader = { from: { epoch: 2, seq: 40 }, epochHistory: [{ epoch: 1, startSeq: 1 }], keys: 3, bytes: 0 };
  const configs = [
    { seq: 7, config: config('a') },
    { seq: 40, config: config('b') },
  ];
  const frameOf = (h: SnapshotHeader): Frame => decodeAll(encodeSnapshotHeader(KIND_SNAP_BEGIN, h), rng(5))[0] as Frame;
  const ok = decodeSnapshotHeader(frameOf({ ...base, configs: configsToWire(configs) }));
  assert.ok(ok.ok);
  assert.deepEqual(headerConfigs(ok.value), configs);
  const none = decodeSnapshotHeader(frameOf(base));
  assert.ok(none.ok);
  assert.deepEqual(headerConfigs(none.value), []);
  const wire = configsToWire(configs);
  const bad: unknown[] = [
    [wire[1], wire[0]], // not ascending
    [{ ...wire[1], seq: 41 }], // past `from`
    [{ seq: 7, config: Buffer.from('{"v":1,"members":[]}').toString('base64') }], // no voter
    [{ seq: 7 }],
    'x',
    Array.from({ length: CONFIGS_KEPT + 1 }, (_, i) => ({ seq: i + 1, config: wire[0]?.config })),
  ];
  for (const c of bad) {
    const r = decodeSnapshotHeader(frameOf({ ...base, configs: c as SnapshotHeader['configs'] }));
    assert.equal(r.ok, false, JSON.stringify(c));
  }
});

test('framing: oversized or unknown frames are errors, not allocations', () => {
  const d = new FrameDecoder();
  const b = Buffer.alloc(5);
  b.writeUInt32LE(0xffff_fff0, 0);
  b[4] = 1;
  d.push(b);
  assert.equal(typeof d.next(), 'string');
  const d2 = new FrameDecoder();
  const c = Buffer.alloc(6);
  c.writeUInt32LE(2, 0);
  c[4] = 99;
  d2.push(c);
  assert.match(String(d2.next()), /unknown frame kind/);
});

test('outbox coalescing: contiguous appends merge, gaps and epochs split, acks collapse, size bounded', () => {
  const e = (epoch: number, seq: number, bytes = 10): LogEntry => ({ epoch, seq, ops: [{ t: 'set', key: 'k', value: Buffer.alloc(bytes), expireAtMs: 0 }] });
  const app = (epoch: number, prevSeq: number, entries: LogEntry[]): Message => ({ type: 'append', epoch, prev: { epoch, seq: prevSeq }, entries, commitSeq: 0 });
  const ack = (matchSeq: number): Message => ({ type: 'ack', epoch: 2, synced: true, matchSeq, lastSeq: matchSeq, round: 1 });
  const out = coalesce([app(2, 0, [e(2, 1)]), app(2, 1, [e(2, 2), e(2, 3)]), ack(1), ack(3), app(2, 3, [e(2, 4)]), app(2, 9, [e(2, 10)]), app(3, 10, [e(3, 11)])]);
  assert.deepEqual(out.map((m) => (m.type === 'append' ? `A${m.prev.seq}:${m.entries.map((x) => x.seq).join(',')}` : `K${m.type === 'ack' ? m.matchSeq : ''}`)), ['A0:1,2,3', 'K3', 'A3:4', 'A9:10', 'A10:11']);
  // Never more than the bound in one merged frame, and no entry lost.
  const big = Array.from({ length: 40 }, (_, i) => app(2, i, [e(2, i + 1, 64 * 1024)]));
  const merged = coalesce(big);
  assert.ok(merged.length > 1);
  const seqs = merged.flatMap((m) => (m.type === 'append' ? m.entries.map((x) => x.seq) : []));
  assert.deepEqual(seqs, Array.from({ length: 40 }, (_, i) => i + 1));
  for (const m of merged) assert.ok(m.type === 'append' && m.entries.length * 64 * 1024 <= MERGED_APPEND_BYTES_MAX + 64 * 1024);
});

test('append frames carry the backlog\'s record bytes unchanged: equal to frames encoded from the entries, single and coalesced', () => {
  const r = rng(43);
  const b = new Backlog(20_000, 0); // 4 KiB chunks: ranges span chunks, some entries exceed one
  const ops = (): Op[] => [{ t: 'set', key: `k${r.int(50)}`, value: r.bytes(r.int(8) === 0 ? 5000 : r.int(200)), expireAtMs: r.int(2) * 1_900_000_000_000 }, { t: 'del', key: 'gone' }];
  for (let seq = 1; seq <= 400; seq++) {
    const e: LogEntry = { epoch: 2, seq, ops: ops() };
    // Half arrive with the store's encoding of them (the local write path), half are encoded here.
    b.append(e, seq, seq % 2 === 0 ? encodeRecord(e.epoch, e.seq, e.ops) : undefined);
  }
  const plain = (m: Message): Message => (m.type === 'append' ? { type: 'append', epoch: m.epoch, prev: m.prev, entries: m.entries, commitSeq: m.commitSeq } : m);
  const singles: Message[] = [];
  for (let seq = b.firstSeq; seq <= b.lastSeq; seq++) {
    singles.push(appendMessage(2, { epoch: 2, seq: seq - 1 }, 0, b.recordsOf(seq, seq)));
  }
  for (let i = 0; i < 40; i++) {
    const from = b.firstSeq + r.int(b.length);
    const to = b.rangeEnd(from, 1 + r.int(8000)) as number;
    const m = appendMessage(2, { epoch: 2, seq: from - 1 }, 0, b.recordsOf(from, to));
    assert.deepEqual(m.entries.map((e) => e.seq), Array.from({ length: to - from + 1 }, (_, k) => from + k));
    assert.deepEqual(appendLast(m), { epoch: 2, seq: to });
    assert.deepEqual(encodeMessage(m), encodeMessage(plain(m)), `range ${from}..${to}`);
  }
  const merged = coalesce(singles);
  assert.ok(merged.length >= 1 && merged.every((m) => m.type === 'append' && m.records !== undefined));
  assert.deepEqual(merged.flatMap((m) => (m.type === 'append' ? m.entries.map((e) => e.seq) : [])), singles.flatMap((m) => (m.type === 'append' ? m.entries.map((e) => e.seq) : [])));
  assert.deepEqual(Buffer.concat(merged.map(encodeMessage)), Buffer.concat(coalesce(singles.map(plain)).map(encodeMessage)));
  // One append without records in the run: the merged frame encodes its entries instead.
  const mixed = coalesce([singles[0] as Message, plain(singles[1] as Message), singles[2] as Message]);
  assert.equal(mixed.length, 1);
  assert.ok(mixed[0]?.type === 'append' && mixed[0].records === undefined);
  assert.deepEqual(encodeMessage(mixed[0]), encodeMessage(coalesce(singles.slice(0, 3).map(plain))[0] as Message));
});

test('store.lastRecord is the encoded record of the last write only', async () => {
  const dir = tempDir('kvts-lastrec-');
  const store = await openStore({ dir, fsync: 'no' });
  try {
    for (let i = 0; i < 3000; i++) {
      const ops: Op[] = i % 3 === 0 ? [{ t: 'del', key: `k${i}` }] : [{ t: 'set', key: `k${i}`, value: Buffer.alloc(i % 700, i), expireAtMs: 0 }];
      const pos = store.apply(ops);
      assert.deepEqual(store.lastRecord(pos.seq), encodeRecord(pos.epoch, pos.seq, ops));
      assert.equal(store.lastRecord(pos.seq - 1), undefined);
      if (i % 500 === 0) store.flush(); // the append buffer is reused after a flush
    }
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('framing: an append whose records fail their check is refused whole (the core never sees it)', () => {
  const entries: LogEntry[] = [1, 2, 3].map((seq) => ({ epoch: 1, seq, ops: [{ t: 'set', key: `k${seq}`, value: Buffer.from('value'), expireAtMs: 0 }] }));
  const good = encodeMessage({ type: 'append', epoch: 1, prev: { epoch: 0, seq: 0 }, entries, commitSeq: 0 });
  const frameOf = (bytes: Buffer): Frame => decodeAll(bytes, rng(1))[0] as Frame;
  assert.ok(decodeMessage(frameOf(good)).ok);
  const flipped = Buffer.from(good);
  flipped[flipped.length - 3] = (flipped[flipped.length - 3] as number) ^ 0x40; // inside the last record's value
  const d = decodeMessage(frameOf(flipped));
  assert.ok(!d.ok);
  assert.match(d.error, /bad entry in append: checksum mismatch/);
  // Whole, CRC-valid records that do not continue `prev` one seq at a time, or whose epochs go
  // down or past the append's, are refused too (the core would stop on the gap).
  const shaped = (prev: { epoch: number; seq: number }, epoch: number, es: LogEntry[]): ReturnType<typeof decodeMessage> =>
    decodeMessage(frameOf(encodeMessage({ type: 'append', epoch, prev, entries: es, commitSeq: 0 })));
  const at = (epoch: number, seq: number): LogEntry => ({ epoch, seq, ops: [{ t: 'del', key: 'k' }] });
  assert.ok(shaped({ epoch: 1, seq: 4 }, 2, [at(1, 5), at(2, 6)]).ok);
  for (const [prev, epoch, es, why] of [
    [{ epoch: 1, seq: 4 }, 2, [at(1, 5), at(1, 7)], /entry 7 does not follow 5/],
    [{ epoch: 1, seq: 4 }, 2, [at(1, 4)], /entry 4 does not follow 4/],
    [{ epoch: 2, seq: 4 }, 2, [at(1, 5)], /epoch outside 2\.\.2/],
    [{ epoch: 1, seq: 4 }, 2, [at(3, 5)], /epoch outside 1\.\.2/],
  ] as const) {
    const r = shaped(prev, epoch, [...es]);
    assert.ok(!r.ok);
    assert.match(r.error, why);
  }
});

test('a replica store given the primary\'s record bytes logs exactly them: it reopens to the same data', async () => {
  const r = rng(44);
  const dirA = tempDir('kvts-recA-');
  const dirB = tempDir('kvts-recB-');
  const a = await openStore({ dir: dirA, fsync: 'no' });
  let b = await openStore({ dir: dirB, fsync: 'no' });
  try {
    const keys = new Set<string>();
    let frame: Buffer[] = []; // records that travel together, as in one append frame
    for (let i = 0; i < 2000; i++) {
      const key = `k${r.int(300)}`;
      keys.add(key);
      const ops: Op[] = r.int(4) === 0 ? [{ t: 'del', key }] : [{ t: 'set', key, value: r.bytes(r.int(3) === 0 ? 40_000 : r.int(200)), expireAtMs: 0 }];
      const pos = a.apply(ops);
      frame.push(Buffer.from(a.lastRecord(pos.seq) as Buffer));
      if (r.int(4) === 0) {
        b.applyRecords(Buffer.concat(frame));
        assert.deepEqual(b.lastRecord(pos.seq), frame[frame.length - 1]);
        assert.deepEqual(b.lastPosition, pos);
        frame = [];
      }
    }
    b.applyRecords(Buffer.concat(frame));
    // Records that do not extend the log, or do not fit the buffer, are refused.
    const next = a.apply([{ t: 'del', key: 'x' }]);
    const rec = Buffer.from(a.lastRecord(next.seq) as Buffer);
    assert.throws(() => b.applyRecords(rec.subarray(0, rec.length - 1)), /runs past the end/);
    assert.throws(() => b.applyRecords(encodeRecord(next.epoch, next.seq + 1, [{ t: 'del', key: 'x' }])), /applyRecords seq \d+ after/);
    // A run with a gap after a good record is refused whole: nothing reaches the log or the keyspace.
    assert.throws(() => b.applyRecords(Buffer.concat([rec, encodeRecord(next.epoch, next.seq + 2, [{ t: 'del', key: 'x' }])])), /applyRecords seq \d+ after/);
    assert.equal(b.lastPosition.seq, next.seq - 1);
    await b.close();
    b = await openStore({ dir: dirB, fsync: 'no' });
    assert.equal(b.lastPosition.seq, next.seq - 1);
    for (const k of keys) assert.deepEqual(b.get(k), a.get(k), k);
  } finally {
    await a.close();
    await b.close();
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
  }
});

test('backlog.bytesBetween (O(1) prefix sums) agrees with a naive sum through appends, evictions and truncations', () => {
  const r = rng(41);
  const b = new Backlog(5000, 0);
  const sizes = new Map<number, number>();
  let last = 0;
  for (let step = 0; step < 3000; step++) {
    if (r.int(50) === 0 && last > 0) {
      const to = Math.max(0, last - r.int(20));
      b.truncateAfter(to);
      for (let s = to + 1; s <= last; s++) sizes.delete(s);
      last = to;
    } else {
      const ops: Op[] = [{ t: 'set', key: 'k', value: Buffer.alloc(r.int(200)), expireAtMs: 0 }];
      last++;
      sizes.set(last, recordBytes(ops));
      b.append({ epoch: 1, seq: last, ops }, step);
    }
    const from = r.int(last + 2);
    const to = from + r.int(last + 2 - from);
    let naive = 0;
    for (let s = Math.max(from + 1, b.firstSeq); s <= Math.min(to, b.lastSeq); s++) naive += sizes.get(s) as number;
    assert.equal(b.bytesBetween(from, to), naive, `step ${step}: (${from}, ${to}]`);
  }
});

test('chunk pool: a chunk given back is reused only after settle, and at most CHUNKS_KEPT_MAX are kept', () => {
  const pool = new ChunkPool();
  const given = Array.from({ length: CHUNKS_KEPT_MAX }, () => pool.take(4096));
  for (const c of given) pool.give(c);
  const extra = Buffer.alloc(4096);
  pool.give(extra); // over the bound: left to the GC
  assert.deepEqual(pool.counts, { quarantined: CHUNKS_KEPT_MAX, free: 0 });
  const early = pool.take(4096);
  assert.ok(!given.includes(early) && early !== extra, 'nothing is reused before settle');
  pool.settle();
  assert.deepEqual(pool.counts, { quarantined: 0, free: CHUNKS_KEPT_MAX });
  const again = Array.from({ length: CHUNKS_KEPT_MAX }, () => pool.take(4096));
  assert.deepEqual(new Set(again), new Set(given), 'settled chunks are handed out again');
  assert.ok(!given.includes(pool.take(4096)), 'then fresh ones');
  pool.give(early);
  pool.settle();
  assert.notEqual(pool.take(8192), early, 'a chunk of another size is not handed out');
  assert.deepEqual(pool.counts, { quarantined: 0, free: 0 });
});

// ---------------------------------------------------------------- in-process nodes

type Node = ReplNode;

/** A node with `fsync: 'no'`, the given backlog and timing, and optionally its own clock. */
function startNode(id: string, replicaOf: string | null, backlogBytesMax = DEFAULT_TIMING.backlogBytesMax, timing: Partial<Timing> = {}, now?: () => number): Promise<Node> {
  return startReplNode(id, replicaOf, { store: now !== undefined ? { now } : {}, timing: { ...timing, backlogBytesMax } });
}

test('host: a replica streams, restarts with partial resync, and a late replica gets a full resync', async () => {
  const r = rng(11);
  const p = await startNode('p1', null, 64 * 1024);
  for (let i = 0; i < 500; i++) write(p, [{ t: 'set', key: `k${r.int(200)}`, value: r.bytes(20), expireAtMs: 0 }]);
  const r1 = await startNode('r1', p.address, 64 * 1024);
  await converged(p, r1, 'r1 catches up');
  for (let i = 0; i < 300; i++) write(p, [{ t: 'set', key: `k${r.int(200)}`, value: r.bytes(20), expireAtMs: 0 }, { t: 'del', key: `k${r.int(200)}` }]);
  await converged(p, r1, 'r1 streams');
  const before = p.host.status();

  // Restart r1 on the same data: a small gap fits the backlog → partial resync.
  await r1.host.stop();
  for (let i = 0; i < 50; i++) write(p, [{ t: 'set', key: `k${r.int(200)}`, value: r.bytes(20), expireAtMs: 0 }]);
  r1.host = newHost(r1, p.address);
  await r1.host.start();
  await converged(p, r1, 'r1 partial resync');
  const mid = p.host.status();
  assert.equal(mid.partialResyncs, before.partialResyncs + 1, 'restart used a partial resync');
  assert.equal(mid.fullResyncs, before.fullResyncs);

  // A late replica needs entries that left the 64 KiB backlog → full resync, while writes continue.
  for (let i = 0; i < 3000; i++) write(p, [{ t: 'set', key: `big${i % 1500}`, value: r.bytes(64), expireAtMs: 0 }]);
  const r2 = await startNode('r2', p.address);
  for (let i = 0; i < 200; i++) write(p, [{ t: 'set', key: `k${r.int(200)}`, value: r.bytes(20), expireAtMs: 0 }]);
  await converged(p, r2, 'r2 full resync');
  assert.ok(p.host.status().fullResyncs >= before.fullResyncs + 1);
  assert.ok(r2.logs.some((l) => l.includes('full resync from p1 loaded')), r2.logs.join('\n'));
  await converged(p, r1, 'r1 still in sync');
});

test('host: with seeded hash/set/zset writes, a streaming replica, the same replica restarted from its disk, and a late replica (full resync under writes) all reach the primary\'s digest', async () => {
  const R = rng(testSeed(2121));
  const model: Model = new Map();
  const p = await startNode('pt', null, 64 * 1024);
  const entries = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const ops = commandOps(R, model);
      for (const op of ops) modelApply(model, op);
      write(p, ops);
    }
  };
  entries(400);
  const r1 = await startNode('rt1', p.address, 64 * 1024);
  await converged(p, r1, 'r1 catches up');
  entries(400);
  await converged(p, r1, 'r1 streams typed ops');
  // r1 restarts from its disk (snapshot-less log replay of typed records), then resyncs partially.
  await r1.host.stop();
  await r1.store.close();
  entries(50);
  r1.store = await openStore({ dir: r1.dir, fsync: 'no' });
  r1.host = newHost(r1, p.address);
  await r1.host.start();
  await converged(p, r1, 'r1 after its restart');
  // Push the history out of the 64 KiB backlog with collections, so a late replica needs a full resync.
  for (let i = 0; i < 2000; i++) {
    const op: Op = i % 2 === 0 ? { t: 'hset', key: `bulk${i % 300}`, field: `f${i % 7}`, value: R.bytes(40) } : { t: 'zadd', key: `zbulk${i % 300}`, member: `m${i % 5}`, score: i };
    modelApply(model, op);
    write(p, [op]);
  }
  const r2 = await startNode('rt2', p.address);
  entries(200);
  await converged(p, r2, 'r2 full resync');
  assert.ok(r2.logs.some((l) => l.includes('full resync from pt loaded')), r2.logs.join('\n'));
  await converged(p, r1, 'r1 still in sync');
  assert.deepEqual(storeState(r2.store), modelState(model));
  assert.deepEqual(storeState(p.store), modelState(model));
});

test('host: a full resync carries collections far bigger than one chunk as bounded parts, under writes to them, to the primary\'s digest', async () => {
  const R = rng(testSeed(3131));
  const p = await startNode('pb', null, 64 * 1024);
  const members = 5 * SNAPSHOT_CHUNK_MEMBERS_MAX;
  for (let i = 0; i < members; i += 500) {
    const ops: Op[] = [];
    for (let j = i; j < Math.min(members, i + 500); j++) {
      ops.push({ t: 'hset', key: 'bighash', field: `f${j}`, value: R.bytes(1 + R.int(20)) });
      ops.push({ t: 'sadd', key: 'bigset', member: `m${j}` });
      ops.push({ t: 'zadd', key: 'bigzset', member: `m${j}`, score: R.int(50) });
    }
    write(p, ops);
  }
  write(p, [{ t: 'expire', key: 'bighash', expireAtMs: Date.now() + 3_600_000 }]);
  const r = await startNode('rb', p.address);
  // Writes to the big keys while the stream goes out: members changed, removed, re-added; a key retyped.
  for (let round = 0; round < 40 && !r.logs.some((l) => l.includes('full resync from pb loaded')); round++) {
    const ops: Op[] = [];
    for (let i = 0; i < 50; i++) {
      const m = R.int(members);
      ops.push({ t: 'hset', key: 'bighash', field: `f${m}`, value: Buffer.from(`r${round}`) }, { t: 'srem', key: 'bigset', member: `m${R.int(members)}` }, { t: 'zadd', key: 'bigzset', member: `m${m}`, score: -round });
    }
    write(p, ops);
    if (round === 5) write(p, [{ t: 'del', key: 'bigset' }]);
    if (round === 6) write(p, [{ t: 'hset', key: 'bigset', field: 'now', value: Buffer.from('a hash') }]);
    await new Promise<void>((res) => setImmediate(res));
  }
  await converged(p, r, 'big collections after a full resync');
  assert.ok(r.logs.some((l) => l.includes('full resync from pb loaded')), r.logs.join('\n'));
  // The stream counted more items than keys: the big collections went as parts.
  const sent = p.logs.map((l) => /full resync to rb: sent (\d+) keys/.exec(l)).find((x) => x !== null);
  assert.ok(sent !== undefined && Number(sent[1]) >= 8, p.logs.join('\n'));
  assert.equal(r.store.getHash('bighash')?.size, members);
});

test('host: a replica whose clock runs an hour ahead hides keys it thinks expired, keeps them until the primary\'s delete, and then agrees with it', async () => {
  const HOUR_MS = 3600_000;
  let primaryAheadMs = 0;
  const p = await startNode('pe', null, DEFAULT_TIMING.backlogBytesMax, {}, () => Date.now() + primaryAheadMs);
  const r = await startNode('re', p.address, DEFAULT_TIMING.backlogBytesMax, {}, () => Date.now() + 2 * HOUR_MS);
  const at = Date.now() + HOUR_MS;
  for (let i = 0; i < 50; i++) write(p, [{ t: 'set', key: `ttl${i}`, value: Buffer.from(`t${i}`), expireAtMs: at }]);
  for (let i = 0; i < 50; i++) write(p, [{ t: 'set', key: `plain${i}`, value: Buffer.from(`p${i}`), expireAtMs: 0 }]);
  await waitFor('the replica applies every write', () => r.store.lastPosition.seq === p.store.lastPosition.seq);
  const seq = p.store.lastPosition.seq;
  // By the replica's clock the ttl keys expired: every read path hides them, none deletes them.
  assert.equal(r.store.getValue('ttl0'), undefined);
  assert.equal(r.store.has('ttl1'), false);
  assert.equal(r.store.getExpireAt('ttl2'), undefined);
  assert.equal([...r.store.keys()].length, 50);
  assert.equal(r.store.scan('0', 1000).keys.length, 50);
  assert.equal(r.store.size, 100, 'the replica keeps the keys');
  await r.store.compact();
  assert.equal(r.store.size, 100, 'its compaction keeps them too');
  assert.equal(r.store.stats().expiredKeys, 0);
  assert.equal(r.store.lastPosition.seq, seq, 'the replica logged nothing of its own');
  assert.equal(p.store.getValue('ttl0')?.toString(), 't0', 'the primary, by its clock, still serves them');
  // A round trip through the primary: the replica still holds them after more of its sweeps.
  write(p, [{ t: 'set', key: 'marker', value: Buffer.from('m'), expireAtMs: 0 }]);
  await waitFor('the marker reaches the replica', () => r.store.lastPosition.seq === seq + 1);
  assert.equal(r.store.size, 101);
  // The primary's clock passes the expiry: its sweep (and reads) delete them, one logged del each.
  primaryAheadMs = 2 * HOUR_MS;
  await waitFor('the primary deletes the expired keys', () => p.store.size === 51);
  assert.equal(p.store.lastPosition.seq, seq + 1 + 50, 'one entry per expired key');
  await converged(p, r, 'the replica applies the primary\'s deletes');
  assert.equal(r.store.size, 51);
  assert.equal(r.store.lastPosition.epoch, p.store.lastPosition.epoch);
});

const listeners: Server[] = [];
const proxies: TcpProxy[] = [];
after(async () => {
  for (const s of listeners) await new Promise<void>((res) => s.close(() => res()));
  for (const p of proxies) await p.close();
});

/** Listen on an ephemeral 127.0.0.1 port (closed after the tests); returns "127.0.0.1:port". */
async function listenLoopback(server: Server): Promise<string> {
  listeners.push(server);
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const a = server.address();
  assert.ok(a !== null && typeof a !== 'string');
  return `127.0.0.1:${a.port}`;
}

test('host: frames queued on a stalled replica link view backlog chunks; the pool does not reuse those chunks under them', async () => {
  const r = rng(37);
  // 64 KiB chunks (a turn's append is mostly a view of one), a 1 MiB window, and far more than
  // that in flight: the stalled link's queue holds frames whose chunks were long since given back.
  // No resend while stalled: on a loaded machine the stall outlasts resendAfterMs, and a resend
  // (entries the replica will get anyway) makes it handshake again, which is not what this tests.
  const p = await startNode('p1', null, 1024 * 1024, { inflightBytesMax: 48 * 1024 * 1024, resendAfterMs: 600_000 });
  // The replica dials through a proxy that can stop reading from the primary (whose queue then fills).
  const px = await TcpProxy.start(Number(p.address.split(':')[1]));
  proxies.push(px);
  const r1 = await startNode('r1', px.address, 1024 * 1024);
  for (let i = 0; i < 100; i++) write(p, [{ t: 'set', key: `k${r.int(500)}`, value: r.bytes(100), expireAtMs: 0 }]);
  await converged(p, r1, 'r1 streams');
  const before = p.host.status();
  px.stall('toClient');
  let queuedMax = 0;
  for (let batch = 0; batch < 250; batch++) {
    // Under the backlog's budget per turn, so every write is still there when the turn's append is built.
    for (let i = 0; i < 40; i++) write(p, [{ t: 'set', key: `k${r.int(500)}`, value: r.bytes(1000), expireAtMs: 0 }]);
    await new Promise<void>((res) => setImmediate(res));
    queuedMax = Math.max(queuedMax, p.host.linkOutputBytes('r1'));
  }
  assert.ok(queuedMax > 1024 * 1024, `the stall left frames queued in the primary's socket (max ${queuedMax} bytes): the case under test`);
  px.unstall();
  await converged(p, r1, 'r1 catches up after the stall');
  const now = p.host.status();
  // A reused chunk would have corrupted queued frames: the replica refuses them (CRC) and the link drops.
  for (const n of [p, r1]) assert.ok(!n.logs.some((l) => l.includes(' down')), n.logs.join('\n'));
  assert.equal(now.fullResyncs, before.fullResyncs);
  assert.equal(now.partialResyncs, before.partialResyncs);
});

/** A scripted primary on 127.0.0.1: answers KVREPL, hands out the replica's messages, sends frames. */
async function startFakePrimary(id: string): Promise<{ address: string; received: Message[]; send(b: Buffer): void; socket(): Socket | null; close(): Promise<void> }> {
  const received: Message[] = [];
  let sock: Socket | null = null;
  const server = createServer((s) => {
    sock = s;
    let buf = Buffer.alloc(0);
    const decoder = new FrameDecoder();
    let linked = false;
    s.on('error', () => undefined);
    s.on('data', (chunk: Buffer) => {
      if (!linked) {
        buf = Buffer.concat([buf, chunk]);
        const r = parseReply(buf, 0);
        if (r === null) return;
        linked = true;
        s.write(`+KVREPL ${id}\r\n`);
        chunk = buf.subarray(r.end);
      }
      decoder.push(chunk);
      for (let f = decoder.next(); f !== null; f = decoder.next()) {
        assert.ok(typeof f !== 'string', `bad frame from the replica: ${String(f)}`);
        const d = decodeMessage(f);
        assert.ok(d.ok);
        received.push(d.value);
      }
    });
  });
  return {
    address: await listenLoopback(server),
    received,
    send: (b) => (sock as Socket | null)?.write(b),
    socket: () => sock,
    close: async () => {
      (sock as Socket | null)?.destroy();
    },
  };
}

test('host: a full resync stream that replaces an abandoned one restarts the load; one nobody announced is dropped and the link stays up', async () => {
  const fake = await startFakePrimary('fp');
  const r1 = await startNode('r1', fake.address);
  await waitFor('the replica says hello', () => fake.received.some((m) => m.type === 'hello'));
  const hello = fake.received.find((m) => m.type === 'hello');
  assert.ok(hello !== undefined && hello.type === 'hello');
  const history = [{ epoch: 1, startSeq: 1 }];
  const at10 = { epoch: 1, seq: 10 };
  const header = (keys: number, from = at10): SnapshotHeader => ({ from, epochHistory: history, keys, bytes: 0 });
  const item = (key: string, v: string): SnapshotItem => ({ key, type: 'string', value: Buffer.from(v), expireAtMs: 0 });
  fake.send(encodeMessage({ type: 'welcome', epoch: 1, replicaLast: hello.lastPos, forkSeq: 0, resync: 'full', primaryLast: at10 }));
  // A first stream the primary abandons midway (it answered a repeated hello), then its replacement.
  fake.send(encodeSnapshotHeader(KIND_SNAP_BEGIN, header(3)));
  fake.send(encodeSnapshotChunk(1, [item('a', 'old'), item('stale', 'x')]));
  fake.send(encodeSnapshotHeader(KIND_SNAP_BEGIN, header(3)));
  fake.send(encodeSnapshotChunk(1, [item('a', '1'), item('b', '2'), item('c', '3')]));
  fake.send(encodeSnapshotHeader(KIND_SNAP_END, header(3)));
  await waitFor('the replica loaded the second snapshot', () => r1.store.lastPosition.seq === 10);
  assert.equal(r1.store.get('stale'), undefined, 'nothing of the abandoned stream survives');
  assert.deepEqual(r1.store.get('a'), Buffer.from('1'));
  // A whole stream nobody announced (the answer to a hello already answered): dropped, link kept.
  fake.send(encodeSnapshotHeader(KIND_SNAP_BEGIN, header(1, { epoch: 1, seq: 12 })));
  fake.send(encodeSnapshotChunk(1, [item('d', '4')]));
  fake.send(encodeSnapshotHeader(KIND_SNAP_END, header(1, { epoch: 1, seq: 12 })));
  fake.send(encodeMessage(appendMessage(1, at10, 0, encodeRecord(1, 11, [{ t: 'set', key: 'x', value: Buffer.from('y'), expireAtMs: 0 }]))));
  await waitFor('the replica applied the append after the dropped stream', () => r1.store.lastPosition.seq === 11);
  assert.equal(r1.store.get('d'), undefined);
  assert.deepEqual(r1.store.get('x'), Buffer.from('y'));
  assert.ok(!r1.logs.some((l) => l.includes(' down')), r1.logs.join('\n'));
  assert.ok(r1.logs.some((l) => l.includes('dropping a full resync stream')), r1.logs.join('\n'));
  assert.equal(fake.socket()?.destroyed, false);
  await fake.close();
});

test('host: a full resync carries the source\'s membership configurations into the replica\'s store', async () => {
  const configOp = (learner: string): Op => {
    const members = new Map<string, Member>([
      ['m1', { address: '127.0.0.1:7201', voter: true, autoPromote: false }],
      [learner, { address: '127.0.0.1:7202', voter: false, autoPromote: true }],
    ]);
    return { t: 'members', config: encodeMemberConfig({ members }) };
  };
  // The configurations are in the primary's snapshot, and its log no longer holds them: a new
  // replica can only get them from the full resync's stream.
  const p = await startReplNode('pm', null, {
    prepare: async (store) => {
      store.apply([{ t: 'set', key: 'k', value: Buffer.from('v'), expireAtMs: 0 }]);
      store.apply([configOp('l1')]);
      store.apply([configOp('l2')]);
      await store.compact();
    },
  });
  assert.equal(p.store.memberConfigs.length, 2);
  write(p, [{ t: 'set', key: 'after', value: Buffer.from('x'), expireAtMs: 0 }]);
  const r = await startNode('rm', p.address);
  await converged(p, r, 'rm full resync');
  assert.ok(r.logs.some((l) => l.includes('full resync from pm loaded')), r.logs.join('\n'));
  assert.deepEqual(r.store.memberConfigs, p.store.memberConfigs);
  assert.deepEqual(r.store.memberConfigs.map((c) => c.seq), [2, 3]);
});

test('host: promote a replica, write both sides, rejoin the old primary → diverged suffix discarded', async () => {
  const r = rng(23);
  const a = await startNode('a', null);
  const b = await startNode('b', a.address);
  for (let i = 0; i < 200; i++) write(a, [{ t: 'set', key: `k${r.int(50)}`, value: r.bytes(10), expireAtMs: 0 }]);
  await converged(a, b, 'b follows a');
  b.host.promote();
  await waitFor('b accepts writes', () => b.host.acceptsWrites());
  for (let i = 0; i < 7; i++) write(a, [{ t: 'set', key: `orphan${i}`, value: Buffer.from('x'), expireAtMs: 0 }]);
  for (let i = 0; i < 30; i++) write(b, [{ t: 'set', key: `k${r.int(50)}`, value: r.bytes(10), expireAtMs: 0 }]);
  a.host.replicaOf(b.address);
  await converged(b, a, 'a follows b');
  const st = a.host.status();
  assert.equal(st.discardedEntries, 7, 'exactly the diverged writes are discarded');
  assert.equal(st.discardedRanges.length, 1);
  assert.equal(a.store.getValue('orphan0'), undefined);
  assert.equal(a.host.role, "replica");
});

test('host: when the old primary compacted past the fork, it cannot truncate: it wipes its log and resyncs from scratch', async () => {
  const r = rng(31);
  const a = await startNode('c', null);
  const b = await startNode('d', a.address);
  for (let i = 0; i < 100; i++) write(a, [{ t: 'set', key: `k${r.int(30)}`, value: r.bytes(10), expireAtMs: 0 }]);
  await converged(a, b, 'd follows c');
  b.host.promote();
  await waitFor('d accepts writes', () => b.host.acceptsWrites());
  for (let i = 0; i < 5; i++) write(a, [{ t: 'set', key: `orphan${i}`, value: Buffer.from('x'), expireAtMs: 0 }]);
  await a.store.compact(); // the snapshot now covers the orphans: truncateAfter(fork) must refuse
  assert.ok(a.store.stats().snapshotSeq > b.store.lastPosition.seq - 1);
  for (let i = 0; i < 20; i++) write(b, [{ t: 'set', key: `k${r.int(30)}`, value: r.bytes(10), expireAtMs: 0 }]);
  a.host.replicaOf(b.address);
  await converged(b, a, 'c follows d after a full resync');
  assert.equal(a.store.getValue('orphan0'), undefined);
  assert.ok(a.logs.some((l) => l.includes('wiping to an empty log')), a.logs.join('\n'));
  assert.equal(a.host.truncateFallbacks, 1);
  assert.equal(a.host.status().discardedEntries, 5, 'the wiped orphans stay counted');
});
