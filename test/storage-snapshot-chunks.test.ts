// Big collections in snapshots and full resyncs (snapshot-walk.ts, snapshot.ts format 3,
// object-codec.ts parts, store.ts export/load): collections far bigger than one chunk, cut into
// bounded items, with writes between the chunks (members removed by the thousand so the hash
// and set tables compact under the walk, members re-added, sorted-set scores moved around the
// cursor, the key deleted, expired, replaced, retyped), then the log after the start replayed:
// the result must equal the live state and a plain model. Also: a tracked table cursor across a
// compaction, compaction + restart under concurrent writes, a format-2 snapshot written by the
// format-2 writer still loading, and the meaning of a part in a restore op.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, copyFileSync, mkdirSync, openSync, readdirSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { crc32c } from '@node-rs/crc32';
import { join } from 'node:path';
import { Keyspace, keyspaceSink } from '../src/storage/keyspace.js';
import { HashObject } from '../src/storage/hash-object.js';
import { checkRecord, encodeRecord, replayRecordOps } from '../src/storage/record.js';
import { openReplicatedStore as openStore } from '../src/storage/store.js';
import type { ReplicatedStore } from '../src/storage/api.js';
import { DenseTable, type TableCursor } from '../src/storage/dense-table.js';
import { KeyspaceWalk, SNAPSHOT_CHUNK_BYTES_MAX, SNAPSHOT_CHUNK_MEMBERS_MAX, type WalkItem } from '../src/storage/snapshot-walk.js';
import { readSnapshot } from '../src/storage/snapshot.js';
import { checkObject, collectionFlags, decodeObject, encodeCollection, isPartPayload, PayloadBuilder } from '../src/storage/object-codec.js';
import { TYPE_HASH, TYPE_LIST, TYPE_STRING, TYPE_ZSET } from '../src/storage/collection.js';
import type { ListObject } from '../src/storage/list-object.js';
import type { Key, LogEntry, Op } from '../src/storage/types.js';
import { datasetDigestHex } from '../src/server/commands/digest.js';
import { rng, testSeed, type Rng } from './helpers/rng.js';
import { EXPIRY_FAR_MS, keyspaceState, modelApply, modelState, randomCollection, storeState, type Model } from './helpers/typed-ops.js';
import { REPO_ROOT, tempDirsRemovedAfter } from './helpers/procs.js';

const tempDir = tempDirsRemovedAfter('kvts-chunks-');

/** Members of each big collection at the start: many chunks each. */
const BIG_MEMBERS = 6_000;
/** Names members are drawn from: adds hit existing members and new ones. */
const MEMBER_POOL = 9_000;
const BIG_KEYS = ['H', 'S', 'Z', 'H2', 'Z2'] as const;

function member(R: Rng): Key {
  return `m${R.int(MEMBER_POOL)}`;
}

/** The starting dataset: big collections of every type (one with an expiry), small ones, strings. */
function baseEntries(R: Rng): Op[][] {
  const out: Op[][] = [];
  const bulk = (make: (i: number) => Op, n: number): void => {
    for (let i = 0; i < n; i += 1000) out.push(Array.from({ length: Math.min(1000, n - i) }, (_, j) => make(i + j)));
  };
  bulk((i) => ({ t: 'hset', key: 'H', field: `m${i}`, value: R.bytes(R.int(12)) }), BIG_MEMBERS);
  bulk((i) => ({ t: 'sadd', key: 'S', member: `m${i}` }), BIG_MEMBERS);
  bulk((i) => ({ t: 'zadd', key: 'Z', member: `m${i}`, score: R.int(40) }), BIG_MEMBERS); // many ties
  bulk((i) => ({ t: 'hset', key: 'H2', field: `m${i}`, value: R.bytes(3) }), 3000);
  bulk((i) => ({ t: 'zadd', key: 'Z2', member: `m${i}`, score: i % 2 === 0 ? -i : i }), 3000);
  out.push([{ t: 'expire', key: 'H2', expireAtMs: EXPIRY_FAR_MS }]);
  out.push([{ t: 'hset', key: 'small', field: 'a', value: Buffer.from('1') }, { t: 'sadd', key: 'ints', member: '7' }, { t: 'set', key: 'str', value: Buffer.from('v'), expireAtMs: 0 }]);
  return out;
}

/** One command-like entry against a big key: what a client's write would log (no WRONGTYPE, a del instead of emptying). */
function churnEntry(R: Rng, model: Model): Op[] {
  const key = R.pick(BIG_KEYS);
  const cur = model.get(key);
  if (cur === undefined || cur.type === 'string') {
    const t = R.int(3);
    return [t === 0 ? { t: 'hset', key, field: member(R), value: R.bytes(4) } : t === 1 ? { t: 'sadd', key, member: member(R) } : { t: 'zadd', key, member: member(R), score: R.int(40) }];
  }
  const r = R.int(100);
  if (r < 2) return [{ t: 'del', key }];
  if (r < 5) return [{ t: 'expire', key, expireAtMs: R.int(2) === 0 ? 0 : EXPIRY_FAR_MS + R.int(1000) }];
  if (r < 7) {
    const type = 1 + R.int(3);
    return [{ t: 'restore', key, payload: encodeCollection(type, randomCollection(R, type)), expireAtMs: 0 }];
  }
  if (r < 12) return removeMany(key, model, R, 0.3 + R.next() * 0.6);
  if (r < 16) return addMany(key, model, R, 50 + R.int(400));
  return addMany(key, model, R, 1 + R.int(3)).concat(R.int(2) === 0 ? removeMany(key, model, R, 0.0005) : []);
}

/** Remove about `fraction` of the key's members in one entry (a del when none would be left). */
function removeMany(key: Key, model: Model, R: Rng, fraction: number): Op[] {
  const cur = model.get(key);
  if (cur === undefined || cur.type === 'string' || cur.type === 'list') return [];
  const gone = [...cur.m.keys()].filter(() => R.next() < fraction);
  if (gone.length === 0) return [];
  if (gone.length === cur.m.size) return [{ t: 'del', key }];
  const t = cur.type === 'hash' ? 'hdel' : cur.type === 'set' ? 'srem' : 'zrem';
  return gone.map((m) => (t === 'hdel' ? { t, key, field: m } : { t, key, member: m }));
}

/** Add or change `n` members (pool names: some new, some present, some removed earlier). */
function addMany(key: Key, model: Model, R: Rng, n: number): Op[] {
  const cur = model.get(key);
  const type = cur === undefined || cur.type === 'string' ? 'hash' : cur.type;
  return Array.from({ length: n }, (): Op => {
    const m = member(R);
    if (type === 'hash') return { t: 'hset', key, field: m, value: R.bytes(R.int(12)) };
    if (type === 'set') return { t: 'sadd', key, member: m };
    return { t: 'zadd', key, member: m, score: R.pick([R.int(40), -Infinity, Infinity, -0.5]) };
  });
}

/** Events aimed at the collection whose walk is under way (its first part was just written). */
const EVENTS = ['compact-table', 'del', 'retype', 'restore', 'expire-and-del', 're-add', 'move-scores', 'churn'] as const;
type WalkEvent = (typeof EVENTS)[number];

function eventEntries(ev: WalkEvent, key: Key, model: Model, R: Rng): Op[][] {
  const cur = model.get(key);
  switch (ev) {
    case 'compact-table':
      // Past three quarters of the positions freed: a hash's or set's table compacts under the cursor.
      return [removeMany(key, model, R, 0.85)];
    case 'del':
      return [[{ t: 'del', key }]];
    case 'retype':
      return [[{ t: 'del', key }], [cur?.type === 'set' ? { t: 'hset', key, field: 'x', value: Buffer.from('y') } : { t: 'sadd', key, member: 'x' }]];
    case 'restore':
      return [[{ t: 'restore', key, payload: encodeCollection(TYPE_ZSET, randomCollection(R, TYPE_ZSET)), expireAtMs: EXPIRY_FAR_MS }]];
    case 'expire-and-del':
      // What the primary logs when the key expires: the expiry, later its delete.
      return [[{ t: 'expire', key, expireAtMs: EXPIRY_FAR_MS - 1 }], [{ t: 'del', key }]];
    case 're-add': {
      // Members most likely written already (low names), removed, then added back with new values.
      const again = Array.from({ length: 200 }, (_, i) => `m${i * 7}`);
      if (cur === undefined || cur.type === 'string' || cur.type === 'list') return [];
      const t = cur.type;
      const rm: Op[] = again.filter((m) => cur.m.has(m)).map((m) => (t === 'hash' ? { t: 'hdel', key, field: m } : t === 'set' ? { t: 'srem', key, member: m } : { t: 'zrem', key, member: m }));
      const add: Op[] = again.map((m) => (t === 'hash' ? { t: 'hset', key, field: m, value: Buffer.from('again') } : t === 'set' ? { t: 'sadd', key, member: m } : { t: 'zadd', key, member: m, score: 3 }));
      return rm.length > 0 && rm.length < cur.m.size ? [rm, add] : [add];
    }
    case 'move-scores': {
      if (cur?.type !== 'zset') return [addMany(key, model, R, 300)];
      // Low scores (already written) move past the cursor, high ones jump before it, some go.
      const ms = [...cur.m].sort((a, b) => a[1] - b[1]);
      const low: Op[] = ms.slice(0, 400).map(([m]) => ({ t: 'zadd', key, member: m, score: 1000 + R.int(10) }));
      const high: Op[] = ms.slice(-400).map(([m]) => ({ t: 'zadd', key, member: m, score: -1000 }));
      return [low, high, removeMany(key, model, R, 0.5)];
    }
    case 'churn':
      return Array.from({ length: 20 }, () => churnEntry(R, model));
  }
}

/** Check an item's bounds: members and bytes per chunk (members here are far smaller than a chunk). */
function assertBounded(payload: Buffer, what: string): number {
  assert.ok(payload.length <= SNAPSHOT_CHUNK_BYTES_MAX, `${what}: ${payload.length} bytes`);
  const d = decodeObject(payload, 0, payload.length);
  assert.ok(typeof d !== 'string' && 'obj' in d, `${what}: a collection payload`);
  assert.ok(d.obj.size <= SNAPSHOT_CHUNK_MEMBERS_MAX, `${what}: ${d.obj.size} members`);
  return d.obj.size;
}

test('a tracked table cursor survives compaction: the walk sees every member it had not passed, once', () => {
  for (const seed of [1, 2, 3, 4]) {
    const R = rng(testSeed(seed));
    const t = new DenseTable();
    for (let i = 0; i < 2000; i++) t.add(`m${i}`);
    const c: TableCursor = { pos: 0 };
    t.track(c);
    const seen: Key[] = [];
    const walkSome = (n: number): void => {
      for (let k = 0; k < n && c.pos < t.positions; k++, c.pos++) {
        const m = t.memberAt(c.pos);
        if (m !== undefined) seen.push(m);
      }
    };
    walkSome(300 + R.int(900));
    const passed = new Set(seen);
    // Remove most members on both sides of the cursor: the table compacts (it shrinks to < 1/4).
    const kept = new Set<Key>();
    const noop = (): void => undefined;
    for (let i = 0; i < 2000; i++) {
      if (R.int(10) < 9) t.remove(`m${i}`, noop, noop);
      else kept.add(`m${i}`);
    }
    assert.ok(t.positions < 2000, 'the table compacted');
    walkSome(Infinity);
    t.untrack(c);
    // Every member that stayed is seen (before the compaction or after it), and none twice.
    for (const m of kept) assert.ok(seen.includes(m), `seed ${seed}: kept member ${m} never walked`);
    assert.equal(new Set(seen).size, seen.length, `seed ${seed}: a member walked twice`);
    for (const m of seen) assert.ok(passed.has(m) || kept.has(m), `seed ${seed}: ${m} walked after its removal`);
  }
});

test('walk with targeted writes between chunks (table compaction, del, retype, restore, expiry, re-add, moved scores) + replay of the log after the start = live state = model', () => {
  const seeds = [101, 202, 303, 404, 505, 606, 707, 808];
  for (let si = 0; si < seeds.length; si++) {
    const R = rng(testSeed(seeds[si] as number));
    const live = new Keyspace();
    const model: Model = new Map();
    const apply = (ops: Op[], log: Op[][] | null): void => {
      for (const op of ops) {
        live.applyOp(op);
        modelApply(model, op);
      }
      log?.push(ops);
    };
    for (const ops of baseEntries(R)) apply(ops, null);

    // The snapshot starts here: every later write is in `logAfter`.
    const logAfter: Op[][] = [];
    const loaded = new Keyspace();
    const walk = new KeyspaceWalk(live);
    const items: WalkItem[] = [];
    const eventDone = new Set<Key>();
    const targets: Key[] = [];
    let parts = 0;
    let steps = 0;
    while (!walk.done) {
      items.length = 0;
      // One chunk per step at most: more turns, so more writes between chunks.
      walk.step(items, { slots: 2000, items: 2000, bytes: 256 * 1024, members: SNAPSHOT_CHUNK_MEMBERS_MAX });
      steps++;
      let members = 0;
      // Load the step's items as a loader would (the items are read in the turn they were walked).
      for (const it of items) {
        const key = live.keyAtSlot(it.slot);
        if (it.payload === null) {
          const v = live.getStored(key, 0);
          assert.ok(v !== undefined);
          loaded.put(key, v, live.expireAtSlot(it.slot));
          continue;
        }
        members += assertBounded(it.payload, `item of ${key}`);
        assert.equal(isPartPayload(it.payload, 0), it.part);
        loaded.restore(key, it.payload, 0, it.payload.length, it.part ? 0 : live.expireAtSlot(it.slot));
        if (!it.part) continue;
        parts++;
        if (!eventDone.has(key)) targets.push(key);
      }
      // The first part of a key: aim this seed's event at the collection mid-walk (after the
      // turn's items are read, as the writer reads them within its turn).
      for (const key of targets.splice(0)) {
        eventDone.add(key);
        const ev = EVENTS[(si + BIG_KEYS.indexOf(key as (typeof BIG_KEYS)[number])) % EVENTS.length] as WalkEvent;
        for (const ops of eventEntries(ev, key, model, R)) if (ops.length > 0) apply(ops, logAfter);
      }
      assert.ok(members <= 2 * SNAPSHOT_CHUNK_MEMBERS_MAX, `a step encoded ${members} members`);
      // Clients keep writing between the turns.
      for (let i = R.int(4); i > 0; i--) apply(churnEntry(R, model), logAfter);
    }
    walk.close();
    assert.ok(parts >= 4 && steps >= 5, `seed ${R.seed}: the walk spanned ${steps} steps with ${parts} parts`);
    for (const ops of logAfter) for (const op of ops) loaded.applyOp(op);
    loaded.verify();
    const want = modelState(model);
    assert.deepEqual(keyspaceState(live), want, `seed ${R.seed}: live state = model`);
    assert.deepEqual(keyspaceState(loaded), want, `seed ${R.seed}: chunks + replay = model`);
  }
});

/** A few seeded churn entries written to a store (and the model), each also pushed to `logged`. */
function writeSome(s: ReplicatedStore, R: Rng, model: Model, logged: LogEntry[]): void {
  for (let i = 1 + R.int(3); i > 0; i--) {
    const ops = churnEntry(R, model);
    if (ops.length === 0) continue;
    for (const op of ops) modelApply(model, op);
    const pos = s.apply(ops);
    logged.push({ epoch: pos.epoch, seq: pos.seq, ops });
  }
}

/** writeSome once per turn until `done` settles. */
async function writeUntil(s: ReplicatedStore, R: Rng, model: Model, done: Promise<unknown>): Promise<void> {
  let finished = false;
  void done.finally(() => {
    finished = true;
  });
  while (!finished) {
    writeSome(s, R, model, []);
    await new Promise<void>((r) => setImmediate(r));
  }
}

test('full resync: a big-collection export under writes, loaded chunk by chunk, plus the entries after its start = the primary (digest and contents)', async () => {
  for (const seed of [9001, 9002]) {
    const R = rng(testSeed(seed));
    const dstDir = tempDir();
    const src = await openStore({ dir: tempDir(), fsync: 'no', compactMinBytes: 0 });
    const dst = await openStore({ dir: dstDir, fsync: 'no', compactMinBytes: 0 });
    try {
      const model: Model = new Map();
      for (const ops of baseEntries(R)) {
        for (const op of ops) modelApply(model, op);
        src.apply(ops);
      }
      const exp = src.exportSnapshot();
      const loader = dst.beginLoad();
      const logged: LogEntry[] = [];
      let parts = 0;
      for await (const batch of exp.batches()) {
        for (const it of batch) {
          if (it.type === 'string') continue;
          assertBounded(it.value, `item of ${it.key}`);
          if (isPartPayload(it.value, 0)) parts++;
        }
        loader.add(batch);
        // Writes between batches, as clients keep writing while the stream goes out.
        writeSome(src, R, model, logged);
      }
      assert.ok(parts >= 8, `big collections went as parts (${parts})`);
      await loader.commit(exp.from, exp.epochHistory);
      for (const e of logged) dst.applyEntry(e);
      assert.equal(datasetDigestHex(dst), datasetDigestHex(src), `seed ${seed}: digests`);
      assert.deepEqual(storeState(dst), modelState(model), `seed ${seed}: contents`);
      // The replica wrote the loaded dataset as its snapshot (chunked too) and reopens to it.
      await dst.close();
      const again = await openStore({ dir: dstDir, fsync: 'no' });
      try {
        assert.equal(datasetDigestHex(again), datasetDigestHex(src), `seed ${seed}: the replica reopened`);
      } finally {
        await again.close();
      }
    } finally {
      await src.close();
      await dst.close();
    }
  }
});

test('compaction under concurrent writes writes big collections as bounded chunks (format 3); a restart reaches the live state', async () => {
  const R = rng(testSeed(4242));
  const dir = tempDir();
  const s = await openStore({ dir, fsync: 'no', compactMinBytes: 0 });
  const model: Model = new Map();
  let before: Map<Key, string>;
  let digest: string;
  try {
    for (const ops of baseEntries(R)) {
      for (const op of ops) modelApply(model, op);
      s.apply(ops);
    }
    const compaction = s.compact();
    await writeUntil(s, R, model, compaction);
    await compaction;
    assert.equal(s.stats().compactions, 1);
    before = storeState(s);
    digest = datasetDigestHex(s);
    assert.deepEqual(before, modelState(model));
  } finally {
    await s.close();
  }
  const snaps = readdirSync(join(dir, 'snap')).filter((f) => f.endsWith('.snap'));
  assert.equal(snaps.length, 1);
  const counts = new Map<Key, number>();
  const r = readSnapshot(join(dir, 'snap', snaps[0] as string), (b, ko, kl, vo, vl, _exp, type) => {
    const key = b.latin1Slice(ko, ko + kl);
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (type !== TYPE_STRING) assertBounded(Buffer.from(b.subarray(vo, vo + vl)), `item of ${key}`);
  });
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.equal(snapshotVersion(join(dir, 'snap', snaps[0] as string)), 6, 'format 6 (chunked collections, the user table, membership configurations and function libraries when set)');
  // The writes may have shrunk or deleted some big keys before the walk reached them; not all.
  const most = Math.max(...['H', 'S', 'Z'].map((k) => counts.get(k) ?? 0));
  assert.ok(most >= BIG_MEMBERS / SNAPSHOT_CHUNK_MEMBERS_MAX / 2, `the biggest collection went as ${most} items`);
  const again = await openStore({ dir, fsync: 'no' });
  try {
    assert.deepEqual(storeState(again), before);
    assert.equal(datasetDigestHex(again), digest);
  } finally {
    await again.close();
  }
});

/** A snapshot file's format version (the u32 after the magic). */
function snapshotVersion(path: string): number {
  const head = Buffer.alloc(12);
  const fd = openSync(path, 'r');
  try {
    assert.equal(readSync(fd, head, 0, 12, 0), 12);
  } finally {
    closeSync(fd);
  }
  return head.readUInt32LE(8);
}

test('a format-2 snapshot (written by the format-2 writer: collections whole, some past a chunk) still loads, to its digest', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'snap'), { recursive: true });
  const name = '00000000000000000002.snap';
  copyFileSync(join(REPO_ROOT, 'test', 'fixtures', 'format2-snapshot', name), join(dir, 'snap', name));
  const s = await openStore({ dir, fsync: 'no', compactMinBytes: 0 });
  try {
    assert.equal(datasetDigestHex(s), '01f468064a46c79ee44c6feb95ea43081da199c9');
    assert.equal(s.size, 8);
    assert.equal(s.getHash('hash:big')?.size, 1200);
    assert.equal(s.getHash('hash:big')?.encoding, 'hashtable');
    assert.equal(s.getExpireAt('hash:big'), 4_102_444_800_000);
    assert.equal(s.getSet('set:big')?.size, 1100);
    assert.equal(s.getSet('set:ints')?.encoding, 'intset');
    assert.equal(s.getZSet('zset:big')?.size, 1100);
    assert.deepEqual(s.getZSet('zset:big')?.at(0), ['z0', -50.25]);
    // Compacted again it is written in format 6, and reads back the same.
    await s.compact();
  } finally {
    await s.close();
  }
  assert.equal(snapshotVersion(join(dir, 'snap', name)), 6);
  rmSync(join(dir, 'log'), { recursive: true, force: true });
  mkdirSync(join(dir, 'log'));
  const again = await openStore({ dir, fsync: 'no' });
  try {
    assert.equal(datasetDigestHex(again), '01f468064a46c79ee44c6feb95ea43081da199c9');
  } finally {
    await again.close();
  }
});

test('a restore op carrying a part adds its members and keeps the expiry (applied, and replayed from record bytes); a format-2 file holding a part is refused', () => {
  const whole = new HashObject();
  for (let i = 0; i < 300; i++) whole.set(`f${i}`, Buffer.from(`v${i}`));
  const b = new PayloadBuilder(TYPE_HASH, collectionFlags(whole, true));
  for (let i = 300; i < 310; i++) b.field(`f${i}`, Buffer.from('new'));
  b.field('f0', Buffer.from('changed'));
  const part = b.finish();
  assert.equal(checkObject(part, 0, part.length), null);
  assert.ok(isPartPayload(part, 0));
  const ops: Op[] = [
    { t: 'restore', key: 'h', payload: encodeCollection(TYPE_HASH, whole), expireAtMs: EXPIRY_FAR_MS },
    { t: 'restore', key: 'h', payload: part, expireAtMs: 0 },
    { t: 'restore', key: 'fresh', payload: part, expireAtMs: 0 },
  ];
  const model: Model = new Map();
  for (const op of ops) modelApply(model, op);
  const applied = new Keyspace();
  for (const op of ops) applied.applyOp(op);
  const replayed = new Keyspace();
  const rec = encodeRecord(1, 1, ops);
  const c = checkRecord(rec, 0);
  assert.ok(c.ok);
  replayRecordOps(rec, c, keyspaceSink(replayed));
  for (const ks of [applied, replayed]) {
    assert.deepEqual(keyspaceState(ks), modelState(model));
    const h = ks.collectionOf('h', TYPE_HASH, 0) as HashObject;
    assert.equal(h.size, 310);
    assert.equal(h.get('f0')?.toString(), 'changed');
    assert.equal(ks.getExpireAt('h', 0), EXPIRY_FAR_MS);
    assert.equal((ks.collectionOf('fresh', TYPE_HASH, 0) as HashObject).size, 11);
  }

  // A hand-built format-2 file whose one item is a part: damage, not data.
  const u32 = (n: number): Buffer => {
    const x = Buffer.alloc(4);
    x.writeUInt32LE(n);
    return x;
  };
  const frame = (kind: number, body: Buffer): Buffer => Buffer.concat([u32(kind), u32(body.length), u32(crc32c(body)), body]);
  const headerBody = Buffer.concat([u32(1), u32(0), u32(0), u32(1), u32(1), u32(0), u32(1)]);
  const item = Buffer.concat([u32(1), Buffer.from('h'), Buffer.from([TYPE_HASH]), u32(part.length), part, Buffer.alloc(8)]);
  const trailer = Buffer.alloc(16);
  trailer.writeDoubleLE(1, 0);
  trailer.writeDoubleLE(1, 8);
  const file = (version: number): Buffer =>
    Buffer.concat([Buffer.from('KVTSSNAP', 'latin1'), u32(version), u32(headerBody.length), u32(crc32c(headerBody)), headerBody, frame(1, Buffer.concat([u32(1), item])), frame(2, trailer)]);
  const dir = tempDir();
  for (const [version, ok] of [[2, false], [3, true]] as const) {
    const path = join(dir, `v${version}.snap`);
    writeFileSync(path, file(version));
    const r = readSnapshot(path, () => undefined);
    assert.equal(r.ok, ok, `format ${version}`);
    if (!r.ok) assert.match(r.reason, /chunk of a collection/);
  }
});

test('a big list is walked from a copy frozen at its first chunk: pushes, pops, LSET, LINSERT, LREM and a delete between chunks + replay of the entries after the start = live list', () => {
  for (const seed of [11, 12, 13, 14]) {
    const R = rng(testSeed(seed));
    const live = new Keyspace();
    let seq = 0;
    const logAfter: Array<[number, Op[]]> = [];
    const apply = (ops: Op[], log: boolean): void => {
      live.beginEntry(++seq);
      for (const op of ops) live.applyOp(op);
      if (log) logAfter.push([seq, ops]);
    };
    const el = (i: number): Buffer => Buffer.from(`e${i}-${'x'.repeat(R.int(40))}`);
    for (let i = 0; i < 12; i++) apply([{ t: 'rpush', key: 'L', values: Array.from({ length: 500 }, (_, j) => el(i * 500 + j)) }], false);
    apply([{ t: 'rpush', key: 'L2', values: Array.from({ length: 3000 }, (_, j) => el(j)) }], false);
    let n = 100_000;
    const listLen = (k: Key): number => (live.collectionOf(k, TYPE_LIST, 0) as ListObject | undefined)?.size ?? 0;
    const write = (): void => {
      const key = R.int(4) === 0 ? 'L2' : 'L';
      const len = listLen(key);
      switch (R.int(7)) {
        case 0: return apply([{ t: 'lpush', key, values: [el(n++), el(n++)] }], true);
        case 1: return apply([{ t: 'rpush', key, values: [el(n++)] }], true);
        case 2: return len > 3 ? apply([{ t: 'lpop', key, count: 3 }], true) : undefined;
        case 3: return len > 2 ? apply([{ t: 'rpop', key, count: 2 }], true) : undefined;
        case 4: return len > 0 ? apply([{ t: 'lset', key, index: R.int(len), value: el(n++) }], true) : undefined;
        case 5: return len > 0 ? apply([{ t: 'linsert', key, index: R.int(len), value: el(n++) }], true) : undefined;
        default: return apply([{ t: 'lrem', key, count: 1, value: el(R.int(n)) }], true);
      }
    };
    const loaded = new Keyspace();
    const walk = new KeyspaceWalk(live);
    const items: WalkItem[] = [];
    let parts = 0;
    let deleted = false;
    while (!walk.done) {
      items.length = 0;
      walk.step(items, { slots: 2000, items: 2000, bytes: 256 * 1024, members: SNAPSHOT_CHUNK_MEMBERS_MAX });
      for (const it of items) {
        const key = live.keyAtSlot(it.slot);
        assert.ok(it.payload !== null);
        assertBounded(it.payload, `item of ${key}`);
        if (it.part) parts++;
        loaded.loadObject(key, it.payload, 0, it.payload.length, it.part ? 0 : live.expireAtSlot(it.slot));
      }
      for (let i = 1 + R.int(6); i > 0; i--) write();
      // L2 is deleted and recreated mid-walk once (its walk stops; the logged del and pushes cover it).
      if (!deleted && parts >= 3) {
        deleted = true;
        apply([{ t: 'del', key: 'L2' }], true);
        apply([{ t: 'rpush', key: 'L2', values: [el(n++)] }], true);
      }
    }
    walk.close();
    assert.ok(parts >= 5, `seed ${R.seed}: ${parts} parts`);
    for (const [s, ops] of logAfter) {
      loaded.beginEntry(s);
      for (const op of ops) loaded.applyOp(op);
    }
    for (const key of ['L', 'L2']) {
      const want = [...(live.collectionOf(key, TYPE_LIST, 0) as ListObject).values()];
      const got = [...((loaded.collectionOf(key, TYPE_LIST, 0) as ListObject | undefined)?.values() ?? [])];
      assert.equal(got.length, want.length, `seed ${R.seed}: ${key} length`);
      assert.deepEqual(got, want, `seed ${R.seed}: ${key} = live`);
    }
  }
});

test('the user table (an acl op) is kept by FLUSHALL, written into the snapshot and read back from it alone', async () => {
  const dir = tempDir();
  const users = Buffer.from('[["default",["on","nopass","~*","&*","+@all"]],["app",["on","+get"]]]');
  const s = await openStore({ dir, fsync: 'no' });
  try {
    s.apply([{ t: 'acl', users }]);
    s.apply([{ t: 'set', key: 'k', value: Buffer.from('v'), expireAtMs: 0 }]);
    s.apply([{ t: 'flushall' }]);
    assert.deepEqual(s.aclUsers, users);
    await s.compact();
  } finally {
    await s.close();
  }
  // Only the snapshot is left: the table must come from it.
  rmSync(join(dir, 'log'), { recursive: true, force: true });
  mkdirSync(join(dir, 'log'));
  const again = await openStore({ dir, fsync: 'no' });
  try {
    assert.deepEqual(again.aclUsers, users);
  } finally {
    await again.close();
  }
});
