// The multi-type keyspace (keyspace.ts types + objects, hash-object.ts, set-object.ts,
// object-codec.ts) against a plain model: seeded churn of every op kind through applyOp and
// through log-record bytes, the apply rules (a key of another type is replaced, removals leave an
// empty collection until a logged del), codec round trips and rejections, encodings, and the
// store paths that carry collections: snapshot + restart, snapshots written before typed items,
// full-resync export/load, and replay over a fuzzy snapshot converging to the live state.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { Keyspace, keyspaceSink } from '../src/storage/keyspace.js';
import { openReplicatedStore as openStore } from '../src/storage/store.js';
import type { ReplicatedStore } from '../src/storage/api.js';
import { decodeRecord, encodeRecord, replayRecordOps, checkRecord } from '../src/storage/record.js';
import { checkObject, decodeObject, encodeCollection, encodeStringObject } from '../src/storage/object-codec.js';
import { HashObject, HASH_LISTPACK_ENTRIES_MAX, HASH_LISTPACK_VALUE_BYTES_MAX } from '../src/storage/hash-object.js';
import { SetObject, SET_INTSET_ENTRIES_MAX } from '../src/storage/set-object.js';
import { TYPE_HASH, TYPE_SET, TYPE_STRING, TYPE_ZSET, type KvCollection } from '../src/storage/collection.js';
import type { Key, Op } from '../src/storage/types.js';
import type { SlotObjects } from '../src/storage/slot-chunks.js';
import { datasetDigestHex } from '../src/server/commands/digest.js';
import { rng, testSeed, type Rng } from './helpers/rng.js';
import { commandOps, describe, EXPIRY_FAR_MS, keyspaceState, modelApply, modelState, mvOf, randomCollection, randomOp, storeState, type Model } from './helpers/typed-ops.js';
import { tempDirsRemovedAfter } from './helpers/procs.js';
import { LOCK_FILE } from '../src/storage/lock.js';

const tempDir = tempDirsRemovedAfter('kvts-types-');

function assertSame(ks: Keyspace, model: Model, what: string): void {
  ks.verify();
  const got = keyspaceState(ks);
  const want = modelState(model);
  assert.equal(ks.size, model.size, `${what}: key count`);
  for (const [k, d] of want) assert.equal(got.get(k), d, `${what}: key ${JSON.stringify(k)}`);
}

/**
 * Apply `ops` to `ks` as the live path does (applyOp) or as replay does (the record's bytes
 * through the sink), as the entry at `seq` (0: bare ops, no list stamps).
 */
function applyBoth(R: Rng, ks: Keyspace, ops: Op[], seq = 0): void {
  if (seq > 0) ks.beginEntry(seq);
  if (R.int(2) === 0) {
    for (const op of ops) ks.applyOp(op);
    return;
  }
  const rec = encodeRecord(1, Math.max(seq, 1), ops);
  const c = checkRecord(rec, 0);
  assert.ok(c.ok);
  replayRecordOps(rec, c, keyspaceSink(ks));
}

// ---------------------------------------------------------------- keyspace tests

test('typed keyspace equals the model under seeded churn of every op kind, via applyOp and via record bytes', () => {
  const R = rng(testSeed(2101));
  const ks = new Keyspace();
  const model: Model = new Map();
  for (let step = 0; step < 8000; step++) {
    const op = randomOp(R);
    applyBoth(R, ks, [op]);
    modelApply(model, op);
    if (step % 97 === 0) assertSame(ks, model, `step ${step} (${op.t})`);
  }
  assertSame(ks, model, 'end');
});

test('apply rules: an element op replaces a key of another type (expiry cleared); removals leave an empty collection; set and del take any type', () => {
  const ks = new Keyspace();
  ks.applyOp({ t: 'set', key: 'k', value: Buffer.from('str'), expireAtMs: 5000 });
  ks.applyOp({ t: 'hset', key: 'k', field: 'f', value: Buffer.from('v') });
  assert.equal(ks.typeOf('k', 0), TYPE_HASH);
  assert.equal(ks.getExpireAt('k', 0), 0, 'replacing clears the expiry');
  assert.equal(ks.getStored('k', 0), undefined);
  ks.applyOp({ t: 'expire', key: 'k', expireAtMs: 7000 });
  ks.applyOp({ t: 'hset', key: 'k', field: 'g', value: Buffer.from('w') });
  assert.equal(ks.getExpireAt('k', 0), 7000, 'an element op on its own type keeps the expiry');
  ks.applyOp({ t: 'sadd', key: 'k', member: 'm' });
  assert.equal(ks.typeOf('k', 0), TYPE_SET);
  ks.applyOp({ t: 'srem', key: 'k', member: 'm' });
  assert.equal(ks.typeOf('k', 0), TYPE_SET, 'an emptied collection stays until a del');
  assert.equal((ks.collectionOf('k', TYPE_SET, 0) as SetObject).size, 0);
  ks.applyOp({ t: 'zrem', key: 'k', member: 'm' });
  ks.applyOp({ t: 'hdel', key: 'k', field: 'm' });
  assert.equal(ks.typeOf('k', 0), TYPE_SET, 'removals of another type are no-ops');
  ks.applyOp({ t: 'set', key: 'k', value: Buffer.alloc(0), expireAtMs: 0 });
  assert.equal(ks.typeOf('k', 0), TYPE_STRING);
  assert.deepEqual(ks.getStored('k', 0), Buffer.alloc(0));
  ks.applyOp({ t: 'zadd', key: 'k', member: 'm', score: 2 });
  ks.applyOp({ t: 'del', key: 'k' });
  assert.equal(ks.typeOf('k', 0), -1);
  ks.applyOp({ t: 'zadd', key: 'z', member: 'm', score: 2 });
  ks.applyOp({ t: 'hset', key: 'h', field: 'f', value: Buffer.from('v') });
  ks.applyOp({ t: 'flushall' });
  assert.equal(ks.size, 0);
  assert.equal(ks.liveBytes, 0);
  ks.verify();
});

test('liveBytes and memoryUsage follow collection contents; verify() checks the object table against the type bytes', () => {
  const ks = new Keyspace();
  ks.applyOp({ t: 'hset', key: 'h', field: 'f', value: Buffer.alloc(10) });
  const small = ks.memoryUsage('h', 0) as number;
  for (let i = 0; i < 100; i++) ks.applyOp({ t: 'hset', key: 'h', field: `f${i}`, value: Buffer.alloc(100) });
  assert.ok((ks.memoryUsage('h', 0) as number) > small + 100 * 100);
  assert.equal(ks.liveBytes, ks.memoryUsage('h', 0));
  ks.verify();
  for (let i = 0; i < 100; i++) ks.applyOp({ t: 'hdel', key: 'h', field: `f${i}` });
  ks.applyOp({ t: 'del', key: 'h' });
  assert.equal(ks.liveBytes, 0);
  ks.applyOp({ t: 'sadd', key: 's', member: '1' });
  // Break the object table behind the keyspace's back: verify() must notice.
  const objects = (ks as unknown as { objects: SlotObjects<KvCollection> }).objects;
  const slot = Array.from({ length: ks.slotCount }, (_, s) => s).findIndex((s) => objects.get(s) !== undefined);
  objects.set(slot, new HashObject());
  assert.throws(() => ks.verify(), /holds HashObject/);
  objects.set(slot, undefined);
  assert.throws(() => ks.verify());
});

test('encodings follow Redis 7.0 thresholds and only convert upward', () => {
  const h = new HashObject();
  for (let i = 0; i < HASH_LISTPACK_ENTRIES_MAX; i++) h.set(`f${i}`, Buffer.from('v'));
  assert.equal(h.encoding, 'listpack');
  h.set('one-more', Buffer.from('v'));
  assert.equal(h.encoding, 'hashtable');
  for (let i = 0; i < HASH_LISTPACK_ENTRIES_MAX; i++) h.delete(`f${i}`);
  assert.equal(h.encoding, 'hashtable', 'never back');
  const long = new HashObject();
  long.set('f', Buffer.alloc(HASH_LISTPACK_VALUE_BYTES_MAX));
  assert.equal(long.encoding, 'listpack');
  long.set('g', Buffer.alloc(HASH_LISTPACK_VALUE_BYTES_MAX + 1));
  assert.equal(long.encoding, 'hashtable');
  const s = new SetObject();
  for (const m of ['3', '-1', '10', '9223372036854775807', '-9223372036854775808']) s.add(m);
  assert.equal(s.encoding, 'intset');
  assert.deepEqual([...s.members()], ['-9223372036854775808', '-1', '3', '10', '9223372036854775807'], 'an intset iterates in numeric order');
  for (const m of ['01', '-0', '+1', '9223372036854775808', ' 1', '1.0']) {
    const t = new SetObject();
    t.add('1');
    t.add(m);
    assert.equal(t.encoding, 'hashtable', `${m} is not an int64 in canonical form`);
  }
  const big = new SetObject();
  for (let i = 0; i < SET_INTSET_ENTRIES_MAX; i++) big.add(String(i));
  assert.equal(big.encoding, 'intset');
  big.add(String(SET_INTSET_ENTRIES_MAX));
  assert.equal(big.encoding, 'hashtable');
});

test('a listpack hash keeps insertion order; a large hash or set scans every member present throughout, and random picks stay in range', () => {
  const h = new HashObject();
  for (const f of ['z', 'a', 'm']) h.set(f, Buffer.from(f));
  h.set('a', Buffer.from('again'));
  h.delete('z');
  h.set('z', Buffer.from('z'));
  assert.deepEqual([...h.keys()], ['a', 'm', 'z']);
  const R = rng(testSeed(77));
  const big = new HashObject();
  for (let i = 0; i < 2000; i++) big.set(`f${i}`, Buffer.from(String(i)));
  const stable = new Set<Key>();
  for (let i = 0; i < 2000; i += 3) stable.add(`f${i}`);
  const seen = new Set<Key>();
  let cursor = 0;
  let n = 0;
  do {
    cursor = big.scan(cursor, 10, (f, v) => {
      if (f.startsWith('f')) assert.equal(v.toString(), f.slice(1));
      seen.add(f);
    });
    // Churn between steps: delete and add fields that are not in `stable` (no compaction: the table stays dense enough).
    for (let j = 0; j < 5; j++) {
      const i = R.int(2000);
      if (!stable.has(`f${i}`)) big.delete(`f${i}`);
      big.set(`new${n++}`, Buffer.from('x'));
    }
  } while (cursor !== 0);
  for (const f of stable) assert.ok(seen.has(f), `${f} missed by the scan`);
  for (let i = 0; i < 100; i++) assert.ok(big.has(big.randomField((k) => R.int(k)) as Key));
  // Shrinking to a quarter compacts the table; random picks and lookups stay right.
  for (let i = 0; i < 2000; i++) big.delete(`f${i}`);
  for (let i = 0; i < 100; i++) assert.ok(big.has(big.randomField((k) => R.int(k)) as Key));
  for (const [f, v] of big.entries()) assert.deepEqual(big.get(f), v);
});

// ---------------------------------------------------------------- object codec

test('object codec: every type round-trips; truncations, trailing bytes, bad versions and NaN scores are refused', () => {
  const R = rng(testSeed(3303));
  for (let round = 0; round < 200; round++) {
    const type = R.int(5);
    const value: Buffer | KvCollection = type === TYPE_STRING ? R.bytes(R.int(30)) : randomCollection(R, type);
    const payload = value instanceof Buffer ? encodeStringObject(value) : encodeCollection(type, value as KvCollection);
    assert.equal(checkObject(payload, 0, payload.length), null);
    const d = decodeObject(payload, 0, payload.length);
    assert.ok(typeof d !== 'string');
    assert.equal(d.type, type);
    assert.equal(describe(mvOf(type, 'obj' in d ? d.obj : Buffer.from(d.value))), describe(mvOf(type, value)));
    if (type === TYPE_STRING) continue;
    for (let n = 0; n < payload.length; n++) assert.notEqual(checkObject(payload, 0, n), null, `cut at ${n}`);
    const longer = Buffer.concat([payload, Buffer.from([0])]);
    assert.notEqual(checkObject(longer, 0, longer.length), null, 'trailing byte');
  }
  const p = encodeCollection(TYPE_ZSET, randomCollection(R, TYPE_ZSET));
  assert.match(checkObject(Buffer.from([9, ...p.subarray(1)]), 0, p.length) ?? '', /version/);
  assert.match(checkObject(Buffer.from([1, 7, ...p.subarray(2)]), 0, p.length) ?? '', /type/);
  const nan = Buffer.from(p);
  nan.writeDoubleLE(Number.NaN, nan.length - 8);
  assert.match(checkObject(nan, 0, nan.length) ?? '', /NaN/);
  // An empty collection is a valid payload (replay may hold one for a while).
  const empty = encodeCollection(TYPE_SET, new SetObject());
  assert.equal(checkObject(empty, 0, empty.length), null);
  // A hash payload keeps listpack order.
  const h = new HashObject();
  for (const f of ['q', 'b', 'x']) h.set(f, Buffer.from(f));
  const back = decodeObject(...((b: Buffer) => [b, 0, b.length] as const)(encodeCollection(TYPE_HASH, h)));
  assert.ok(typeof back !== 'string' && 'obj' in back && back.obj instanceof HashObject);
  assert.deepEqual([...back.obj.keys()], ['q', 'b', 'x']);
});

// ---------------------------------------------------------------- replay over a fuzzy snapshot

/** A key's state serialized (a snapshot item), or null when missing. */
function capture(ks: Keyspace, key: Key): { payload: Buffer; exp: number } | null {
  const t = ks.typeOf(key, 0);
  if (t < 0) return null;
  const payload = t === TYPE_STRING ? encodeStringObject(ks.getStored(key, 0) as Buffer) : encodeCollection(t, ks.collectionOf(key, t, 0) as KvCollection);
  return { payload, exp: ks.getExpireAt(key, 0) as number };
}

test('replaying the log over a fuzzy snapshot (each key captured at its own moment) converges to the live state (seeded, many schedules)', () => {
  const R = rng(testSeed(4404));
  // The case that needs removals to leave an empty collection: at S, K = {g, k} with an expiry;
  // L = hdel k, hset k, hdel g; the walk captures K = {k} at the end. Replay's first hdel empties
  // K: an implicit removal there would drop the expiry, and no later op sets it again.
  const exp = EXPIRY_FAR_MS;
  const base: Op[] = [{ t: 'hset', key: 'K', field: 'g', value: Buffer.from('1') }, { t: 'hset', key: 'K', field: 'k', value: Buffer.from('2') }, { t: 'expire', key: 'K', expireAtMs: exp }];
  const tail: Op[] = [{ t: 'hdel', key: 'K', field: 'k' }, { t: 'hset', key: 'K', field: 'k', value: Buffer.from('3') }, { t: 'hdel', key: 'K', field: 'g' }];
  const truth = new Keyspace();
  for (const op of [...base, ...tail]) truth.applyOp(op);
  const snap = capture(truth, 'K');
  assert.ok(snap !== null);
  const replayed = new Keyspace();
  replayed.restore('K', snap.payload, 0, snap.payload.length, snap.exp);
  for (const op of tail) replayed.applyOp(op);
  assert.deepEqual(keyspaceState(replayed), keyspaceState(truth));
  assert.equal(replayed.getExpireAt('K', 0), exp);

  // Few keys, so entries pile up on each (removals then re-adds around an expiry: the cases that
  // need a logged del rather than an implicit removal).
  const keyPool = 3;
  for (let round = 0; round < 400; round++) {
    // A state S, then a log L of command-like entries after it. Entries carry their seqs (list
    // ops are skipped by the stamp a list's snapshot item carries: keyspace.ts, 'list stamps').
    const live = new Keyspace();
    const model: Model = new Map();
    let seq = 0;
    for (let i = 0; i < 40; i++) {
      const ops = commandOps(R, model, keyPool);
      for (const op of ops) modelApply(model, op);
      live.beginEntry(++seq);
      for (const op of ops) live.applyOp(op);
    }
    const snapshotSeq = seq;
    const keys = [...Array(keyPool).keys()].map((i) => `k${i}`);
    const at = new Map(keys.map((k) => [k, capture(live, k)]));
    const log: Op[][] = [];
    const entries = 40;
    // The snapshot walk captures each key at its own moment during L (as compaction's walk does).
    const when = new Map(keys.map((k) => [k, R.int(entries + 1)]));
    for (let i = 0; i <= entries; i++) {
      for (const k of keys) if (when.get(k) === i) at.set(k, capture(live, k));
      if (i === entries) break;
      const entry = commandOps(R, model, keyPool);
      live.beginEntry(++seq);
      for (const op of entry) {
        modelApply(model, op);
        live.applyOp(op);
      }
      log.push(entry);
    }
    const fuzzy = new Keyspace();
    for (const [k, c] of at) if (c !== null) fuzzy.loadObject(k, c.payload, 0, c.payload.length, c.exp);
    log.forEach((entry, i) => applyBoth(R, fuzzy, entry, snapshotSeq + 1 + i));
    assertSame(live, model, `round ${round}: live`);
    assertSame(fuzzy, model, `round ${round}: replayed over the fuzzy snapshot`);
  }
});

// ---------------------------------------------------------------- store paths

async function fill(s: ReplicatedStore, R: Rng, model: Model, entries: number): Promise<void> {
  for (let i = 0; i < entries; i++) {
    const ops = commandOps(R, model);
    for (const op of ops) modelApply(model, op);
    s.apply(ops);
  }
}

/** A crash image of an open store's directory (its lock file left behind, as after kill -9 of another pid). */
function crashImage(s: ReplicatedStore, dir: string): string {
  s.flush();
  const copy = tempDir();
  cpSync(dir, copy, { recursive: true });
  for (const name of readdirSync(copy)) if (name === LOCK_FILE) rmSync(join(copy, name), { force: true });
  return copy;
}

test('collections survive compaction and restart (snapshot + log), with expiries, encodings and listpack order', async () => {
  const R = rng(testSeed(5505));
  const dir = tempDir();
  const far = Date.now() + 10 * 24 * 3600 * 1000;
  const s = await openStore({ dir, fsync: 'no', compactMinBytes: 0 });
  const model: Model = new Map();
  await fill(s, R, model, 500);
  for (let i = 0; i < 300; i++) s.apply([{ t: 'hset', key: 'bighash', field: `f${i}`, value: Buffer.from(`v${i}`) }]);
  for (const f of ['c', 'a', 'b']) s.apply([{ t: 'hset', key: 'ordered', field: f, value: Buffer.from(f) }]);
  s.apply([{ t: 'sadd', key: 'ints', member: '5' }, { t: 'sadd', key: 'ints', member: '-3' }, { t: 'expire', key: 'ints', expireAtMs: far }]);
  await s.compact();
  await fill(s, R, model, 200); // the log after the snapshot
  const before = storeState(s);
  const digest = datasetDigestHex(s);
  await s.close();
  const r = await openStore({ dir, fsync: 'no', compactMinBytes: 0 });
  try {
    assert.deepEqual(storeState(r), before);
    assert.equal(datasetDigestHex(r), digest);
    assert.equal(r.getHash('bighash')?.encoding, 'hashtable');
    assert.deepEqual([...(r.getHash('ordered')?.keys() ?? [])], ['c', 'a', 'b']);
    assert.equal(r.getSet('ints')?.encoding, 'intset');
    assert.equal(r.getExpireAt('ints'), far);
    assert.equal(r.typeOf('ints'), 'set');
    assert.equal(r.typeOf('no such key'), 'none');
  } finally {
    await r.close();
  }
});

test('a snapshot written before typed items (version 1) still loads, as strings', async () => {
  const dir = tempDir();
  const s = await openStore({ dir });
  await s.close();
  // Hand-built version-1 file at seq 0: two string items, no type bytes.
  const items = [['a', 'one', 0], ['b\x00', '', 1_900_000_000_000]] as const;
  const parts: Buffer[] = [];
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  const f64 = (n: number): Buffer => {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(n);
    return b;
  };
  const frame = (kind: number, body: Buffer): Buffer => Buffer.concat([u32(kind), u32(body.length), u32(crc32c(body)), body]);
  const headerBody = Buffer.concat([u32(1), u32(0), u32(0), u32(1), u32(1), u32(0), u32(1)]);
  parts.push(Buffer.from('KVTSSNAP', 'latin1'), u32(1), u32(headerBody.length), u32(crc32c(headerBody)), headerBody);
  const block = Buffer.concat([u32(items.length), ...items.flatMap(([k, v, e]) => [u32(k.length), Buffer.from(k, 'latin1'), u32(v.length), Buffer.from(v), f64(e)])]);
  parts.push(frame(1, block), frame(2, Buffer.concat([f64(items.length), f64(1)])));
  writeFileSync(join(dir, 'snap', '00000000000000000000.snap'), Buffer.concat(parts));
  rmSync(join(dir, 'log'), { recursive: true, force: true });
  const r = await openStore({ dir });
  try {
    assert.equal(r.size, 2);
    assert.equal(r.typeOf('a'), 'string');
    assert.equal(r.getValue('a')?.toString(), 'one');
    assert.equal(r.getExpireAt('b\x00'), 1_900_000_000_000);
  } finally {
    await r.close();
  }
});

test('full resync: exportSnapshot -> beginLoad -> commit carries every type (collections as typed items)', async () => {
  const R = rng(testSeed(6606));
  const src = await openStore({ dir: tempDir(), fsync: 'no' });
  const dst = await openStore({ dir: tempDir(), fsync: 'no' });
  try {
    const model: Model = new Map();
    await fill(src, R, model, 600);
    src.apply([{ t: 'hset', key: 'H', field: 'f', value: Buffer.from('v') }, { t: 'sadd', key: 'S', member: 'm' }, { t: 'zadd', key: 'Z', member: 'm', score: -0.5 }]);
    const exp = src.exportSnapshot(7);
    const loader = dst.beginLoad();
    const types = new Set<string>();
    for await (const batch of exp.batches()) {
      for (const it of batch) types.add(it.type);
      loader.add(batch);
    }
    await loader.commit(exp.from, exp.epochHistory);
    assert.deepEqual([...types].sort(), ['hash', 'list', 'set', 'string', 'zset']);
    assert.deepEqual(storeState(dst), storeState(src));
    assert.equal(datasetDigestHex(dst), datasetDigestHex(src));
    const bad = dst.beginLoad();
    assert.throws(() => bad.add([{ key: 'x', type: 'hash', value: encodeStringObject(Buffer.from('v')), expireAtMs: 0 }]), /type mismatch/);
    bad.abort();
  } finally {
    await src.close();
    await dst.close();
  }
});

test('crash during a compaction that runs while collections are written: the crash image and a restart both reach the live state', async () => {
  const R = rng(testSeed(7707));
  const dir = tempDir();
  const s = await openStore({ dir, fsync: 'no', compactMinBytes: 0 });
  const model: Model = new Map();
  try {
    // Enough keys that the snapshot walk spans many turns.
    for (let i = 0; i < 5000; i++) {
      const k = `bulk${i}`;
      const op: Op = i % 3 === 0 ? { t: 'hset', key: k, field: 'f', value: Buffer.from('v') } : i % 3 === 1 ? { t: 'sadd', key: k, member: String(i) } : { t: 'zadd', key: k, member: 'm', score: i };
      modelApply(model, op);
      s.apply([op]);
    }
    await fill(s, R, model, 200);
    let compacted = false;
    const done = s.compact().then(() => {
      compacted = true;
    });
    let turns = 0;
    while (!compacted) {
      await fill(s, R, model, 5);
      // Also touch bulk keys the walk may not have reached yet.
      for (let j = 0; j < 5; j++) {
        const k = `bulk${R.int(5000)}`;
        const ops = commandOpsOn(R, model, k);
        for (const op of ops) modelApply(model, op);
        s.apply(ops);
      }
      turns++;
      await new Promise<void>((r) => setImmediate(r));
    }
    await done;
    assert.ok(turns > 2, `writes interleaved with the snapshot walk (${turns} turns)`);
    await fill(s, R, model, 100);
    const want = modelState(model);
    assert.deepEqual(storeState(s), want);
    const image = crashImage(s, dir);
    const r = await openStore({ dir: image, fsync: 'no' });
    try {
      assert.deepEqual(storeState(r), want);
      assert.equal(datasetDigestHex(r), datasetDigestHex(s));
    } finally {
      await r.close();
    }
  } finally {
    await s.close();
  }
});

/** commandOps restricted to key `k` (the bulk keys). */
function commandOpsOn(R: Rng, model: Model, k: Key): Op[] {
  const cur = model.get(k);
  const member = String(R.int(4));
  if (cur === undefined) return [{ t: 'sadd', key: k, member }];
  switch (cur.type) {
    case 'hash':
      return cur.m.has(member) && cur.m.size === 1 ? [{ t: 'del', key: k }] : R.int(2) === 0 ? [{ t: 'hset', key: k, field: member, value: R.bytes(3) }] : cur.m.has(member) ? [{ t: 'hdel', key: k, field: member }] : [{ t: 'expire', key: k, expireAtMs: 5_000_000_000_000 }];
    case 'set':
      return cur.m.has(member) ? (cur.m.size === 1 ? [{ t: 'del', key: k }] : [{ t: 'srem', key: k, member }]) : [{ t: 'sadd', key: k, member }];
    case 'zset':
      return cur.m.has(member) && cur.m.size === 1 ? [{ t: 'del', key: k }] : [{ t: 'zadd', key: k, member, score: R.int(9) }];
    default:
      return [{ t: 'set', key: k, value: R.bytes(2), expireAtMs: 0 }];
  }
}

test('decodeRecord builds the new ops with their fields (replication frames)', () => {
  const ops: Op[] = [
    { t: 'hset', key: 'h', field: 'f', value: Buffer.from('v') },
    { t: 'zadd', key: 'z', member: 'm', score: Infinity },
    { t: 'restore', key: 'r', payload: encodeCollection(TYPE_SET, randomCollection(rng(1), TYPE_SET)), expireAtMs: 3 },
  ];
  const r = decodeRecord(encodeRecord(2, 5, ops), 0);
  assert.ok(r.ok);
  assert.deepEqual(r.entry.ops, ops);
});
