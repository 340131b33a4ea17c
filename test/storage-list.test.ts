// Lists in the storage engine: ListObject (list-object.ts) against an array model under seeded
// churn across chunk boundaries; the list ops built by collection-ops.ts applied through the
// keyspace; list stamps (keyspace.ts, 'list stamps'): replaying the log over a fuzzy snapshot,
// each key captured at its own moment, applies every entry exactly once; and a store compacting
// while lists are written, restarted from its crash image, equal to the model.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ListObject, LIST_CHUNK_BYTES_MAX, LIST_CHUNK_ENTRIES_MAX } from '../src/storage/list-object.js';
import { Keyspace, keyspaceSink } from '../src/storage/keyspace.js';
import { checkRecord, decodeRecord, encodeRecord, replayRecordOps } from '../src/storage/record.js';
import { checkObject, decodeObject, encodeCollection } from '../src/storage/object-codec.js';
import { TYPE_LIST, TYPE_STRING } from '../src/storage/collection.js';
import { linsertOps, lmoveOps, lremOps, lsetOps, ltrimOps, popOps, pushOps } from '../src/storage/collection-ops.js';
import { openReplicatedStore as openStore } from '../src/storage/store.js';
import type { ReplicatedStore } from '../src/storage/api.js';
import { keyToBytes, type Key, type LogEntry, type Op } from '../src/storage/types.js';
import { datasetDigestHex } from '../src/server/commands/digest.js';
import { LOCK_FILE } from '../src/storage/lock.js';
import { rng, testSeed, type Rng } from './helpers/rng.js';
import { tempDirsRemovedAfter } from './helpers/procs.js';
import { describe, modelApply, modelState, mvOf, type Model } from './helpers/typed-ops.js';

const tempDir = tempDirsRemovedAfter('kvts-list-');

function element(R: Rng): Key {
  const r = R.int(100);
  if (r < 60) return String(R.int(8));
  if (r < 95) return `e${R.int(50)}-${'x'.repeat(R.int(80))}\x00\xff`;
  return 'B'.repeat(LIST_CHUNK_BYTES_MAX + R.int(100)); // larger than a chunk: a chunk of its own
}

function assertList(l: ListObject, model: readonly Key[], what: string): void {
  assert.equal(l.size, model.length, `${what}: size`);
  assert.deepEqual([...l.values()], model, `${what}: values`);
  assert.deepEqual([...l.valuesReverse()], [...model].reverse(), `${what}: reverse`);
}

test('ListObject equals an array model under seeded churn of every operation, across chunk boundaries', () => {
  const R = rng(testSeed(9101));
  for (let round = 0; round < 6; round++) {
    const l = new ListObject();
    const m: Key[] = [];
    // Grow well past several chunks first, so inner chunks are packed and ends open.
    for (let i = 0; i < LIST_CHUNK_ENTRIES_MAX * 6; i++) {
      const v = element(R);
      if (R.int(2) === 0) (l.pushHead(v), m.unshift(v));
      else (l.pushTail(v), m.push(v));
    }
    for (let step = 0; step < 4000; step++) {
      const r = R.int(100);
      const v = element(R);
      if (r < 20) (l.pushHead(v), m.unshift(v));
      else if (r < 40) (l.pushTail(v), m.push(v));
      else if (r < 50) {
        const n = R.int(4);
        assert.deepEqual(l.popHead(n), m.splice(0, n));
      } else if (r < 60) {
        const n = R.int(4);
        assert.deepEqual(l.popTail(n), m.splice(Math.max(0, m.length - n), n).reverse());
      } else if (r < 67) {
        const i = R.int(m.length + 2);
        assert.equal(l.set(i, v), i < m.length);
        if (i < m.length) m[i] = v;
      } else if (r < 75) {
        const i = R.int(m.length + 2);
        l.insert(i, v);
        m.splice(Math.min(i, m.length), 0, v);
      } else if (r < 80) {
        const target = m.length > 0 && R.int(2) === 0 ? (m[R.int(m.length)] as Key) : v;
        const count = R.int(7) - 3;
        let left = count === 0 ? Infinity : Math.abs(count);
        const idx = [...m.keys()];
        if (count < 0) idx.reverse();
        const drop = new Set<number>();
        for (const i of idx) if (left > 0 && m[i] === target) (drop.add(i), left--);
        assert.equal(l.countEqual(target, count), drop.size);
        assert.equal(l.remove(target, count), drop.size);
        const kept = m.filter((_, i) => !drop.has(i));
        m.splice(0, m.length, ...kept);
      } else if (r < 83) {
        const n = R.int(LIST_CHUNK_ENTRIES_MAX * 2);
        l.dropHead(n);
        m.splice(0, n);
      } else if (r < 86) {
        const n = R.int(LIST_CHUNK_ENTRIES_MAX * 2);
        l.dropTail(n);
        m.splice(Math.max(0, m.length - n), n);
      } else if (r < 95) {
        const i = R.int(m.length + 2) - 1;
        assert.equal(l.at(i), m[i], `at ${i}`);
      } else {
        const a = R.int(m.length + 2) - 1;
        const b = a + R.int(300);
        assert.deepEqual([...l.range(a, b)], m.slice(Math.max(0, a), b + 1), `range ${a} ${b}`);
      }
      if (step % 500 === 0) assertList(l, m, `round ${round} step ${step}`);
    }
    assertList(l, m, `round ${round} end`);
    // The estimate is a function of the contents: a copy built by pushes holds as many bytes or fewer (no open inner chunks).
    const copy = new ListObject();
    for (const v of l.values()) copy.pushTail(v);
    assert.ok(copy.bytes <= l.bytes + 4 * LIST_CHUNK_ENTRIES_MAX * 32, 'bytes estimate stays near a fresh copy');
  }
});

test('a long list keeps pushes and pops at both ends cheap and its packed inner chunks small', () => {
  const l = new ListObject();
  const n = 300_000;
  for (let i = 0; i < n; i++) l.pushTail(String(i % 1000));
  assert.equal(l.size, n);
  // About the bytes themselves plus a little per chunk: inner chunks are packed.
  assert.ok(l.bytes < n * 8, `bytes ${l.bytes} for ${n} short elements`);
  assert.equal(l.at(0), '0');
  assert.equal(l.at(n - 1), String((n - 1) % 1000));
  assert.equal(l.at(n >> 1), String((n >> 1) % 1000));
  for (let i = 0; i < 1000; i++) (l.pushHead('h'), l.popTail(1));
  assert.equal(l.size, n);
  assert.equal(l.at(999), 'h');
  assert.equal(l.at(1000), '0');
});

// ---------------------------------------------------------------- ops through the keyspace

const KEYS = ['a', 'b', 'c'];

function listOf(ks: Keyspace, key: Key): ListObject | undefined {
  return ks.collectionOf(key, TYPE_LIST, 0) as ListObject | undefined;
}

/** One command's entry, built by collection-ops.ts from the live keyspace (what the server logs). */
function commandEntry(R: Rng, ks: Keyspace): Op[] {
  for (;;) {
    const key = R.pick(KEYS);
    const t = ks.typeOf(key, 0);
    const list = listOf(ks, key);
    const v = Buffer.from(element(R), 'latin1');
    const r = R.int(100);
    if (r < 3) return [{ t: 'set', key, value: Buffer.from('str'), expireAtMs: 0 }];
    if (r < 6) return [{ t: 'del', key }];
    if (r < 9) return [{ t: 'expire', key, expireAtMs: R.int(2) * 4_000_000_000_000 }];
    if (r < 12 && t >= 0) {
      const dst = R.pick(KEYS);
      if (dst === key) continue;
      const payload = t === TYPE_LIST ? encodeCollection(TYPE_LIST, list as ListObject) : null;
      if (payload === null) continue;
      return [{ t: 'del', key }, { t: 'restore', key: dst, payload, expireAtMs: ks.getExpireAt(key, 0) ?? 0 }]; // RENAME
    }
    if (t >= 0 && t !== TYPE_LIST) continue; // WRONGTYPE: nothing logged
    if (r < 40) return pushOps(key, list, R.int(2) === 0, Array.from({ length: 1 + R.int(4) }, () => Buffer.from(element(R), 'latin1'))).ops;
    if (list === undefined) continue;
    let ops: Op[];
    if (r < 55) ops = popOps(key, list, R.int(2) === 0, 1 + R.int(3)).ops;
    else if (r < 62) {
      const s = lsetOps(key, list, R.int(list.size * 2 + 1) - list.size, v);
      ops = 'ops' in s ? s.ops : [];
    } else if (r < 70) ops = linsertOps(key, list, R.int(2) === 0, list.at(R.int(list.size)) as Key, v).ops;
    else if (r < 78) ops = lremOps(key, list, R.int(5) - 2, keyToBytes(list.at(R.int(list.size)) as Key)).ops;
    else if (r < 85) ops = ltrimOps(key, list, R.int(4) - 1, R.int(8) - 4);
    else {
      const dst = R.pick(KEYS);
      const dt = ks.typeOf(dst, 0);
      if (dt >= 0 && dt !== TYPE_LIST) continue;
      ops = lmoveOps(key, list, dst, listOf(ks, dst), R.int(2) === 0, R.int(2) === 0).ops;
    }
    if (ops.length > 0) return ops;
  }
}

function stateOf(ks: Keyspace): Map<Key, string> {
  ks.verify();
  const out = new Map<Key, string>();
  for (const k of ks.keys(0)) {
    const t = ks.typeOf(k, 0);
    const exp = ks.getExpireAt(k, 0);
    if (t === TYPE_STRING) out.set(k, `string ${String(ks.getStored(k, 0)?.toString('hex'))} ${exp}`);
    else out.set(k, `list ${JSON.stringify([...(listOf(ks, k) as ListObject).values()])} ${exp}`);
  }
  return out;
}

/** The keyspace as the typed-ops model describes it. */
function asModel(ks: Keyspace): Map<Key, string> {
  const out = new Map<Key, string>();
  for (const k of ks.keys(0)) {
    const t = ks.typeOf(k, 0);
    const exp = ks.getExpireAt(k, 0) ?? -1;
    const v = t === TYPE_STRING ? Buffer.from(ks.getStored(k, 0) as Buffer) : (listOf(ks, k) as ListObject);
    out.set(k, describe({ ...mvOf(t, v), exp }));
  }
  return out;
}

/** A key as a snapshot walk copies it (object codec; a list's payload carries its stamp). */
function capture(ks: Keyspace, key: Key): { payload: Buffer; type: number; exp: number } | null {
  const t = ks.typeOf(key, 0);
  if (t < 0) return null;
  const payload = t === TYPE_STRING ? Buffer.from(ks.getStored(key, 0) as Buffer) : encodeCollection(t, listOf(ks, key) as ListObject);
  return { payload, type: t, exp: ks.getExpireAt(key, 0) as number };
}

/** Apply the entry at `seq` as the live path does (Op objects) or as replay does (record bytes), chosen by R. */
function applyEntry(R: Rng, ks: Keyspace, seq: number, ops: readonly Op[]): void {
  ks.beginEntry(seq);
  if (R.int(2) === 0) {
    for (const op of ops) ks.applyOp(op);
    return;
  }
  const rec = encodeRecord(1, seq, ops);
  const c = checkRecord(rec, 0);
  assert.ok(c.ok);
  replayRecordOps(rec, c, keyspaceSink(ks));
}

test('list ops are built and applied as the model; every op survives the record codec', () => {
  const R = rng(testSeed(9202));
  const ks = new Keyspace();
  for (let seq = 1; seq <= 3000; seq++) {
    const ops = commandEntry(R, ks);
    const rec = encodeRecord(1, seq, ops);
    const d = decodeRecord(rec, 0);
    assert.ok(d.ok);
    assert.deepEqual(d.entry.ops, ops.map((op) => ('values' in op ? { ...op, values: op.values.map((b) => Buffer.from(b)) } : op)));
    applyEntry(R, ks, seq, ops);
    for (const k of KEYS) {
      const l = listOf(ks, k);
      assert.ok(l === undefined || l.size > 0, 'commands never leave an empty list');
    }
  }
  // Record checks refuse a bad index or count.
  const bad = encodeRecord(1, 1, [{ t: 'lpop', key: 'a', count: 1 }]);
  bad.writeDoubleLE(-1, bad.length - 8);
  assert.equal(checkRecord(bad, 0).ok, false);
});

test('replay over a fuzzy snapshot applies each list entry exactly once (list stamps), via ops and via record bytes', () => {
  const R = rng(testSeed(9303));
  for (let round = 0; round < 300; round++) {
    const live = new Keyspace();
    const model: Model = new Map();
    const logged = (ops: Op[]): Op[] => {
      for (const op of ops) modelApply(model, op);
      return ops;
    };
    let seq = 0;
    for (let i = 0; i < 30; i++) applyEntry(R, live, ++seq, logged(commandEntry(R, live)));
    const snapshotSeq = seq;
    const at = new Map(KEYS.map((k) => [k, capture(live, k)]));
    const when = new Map(KEYS.map((k) => [k, R.int(31)]));
    const log: Op[][] = [];
    for (let i = 0; i <= 30; i++) {
      for (const k of KEYS) if (when.get(k) === i) at.set(k, capture(live, k));
      if (i === 30) break;
      const entry = logged(commandEntry(R, live));
      applyEntry(R, live, ++seq, entry);
      log.push(entry);
    }
    const fuzzy = new Keyspace();
    for (const [k, c] of at) {
      if (c === null) continue;
      if (c.type === TYPE_STRING) fuzzy.put(k, c.payload, c.exp);
      else fuzzy.loadObject(k, c.payload, 0, c.payload.length, c.exp);
    }
    log.forEach((entry, i) => applyEntry(R, fuzzy, snapshotSeq + 1 + i, entry));
    assert.deepEqual(stateOf(fuzzy), stateOf(live), `round ${round}`);
    assert.deepEqual(asModel(fuzzy), modelState(model), `round ${round}: replayed vs the model`);
  }
});

test('a list payload carries its stamp; a restore op stamps the list with its own entry', () => {
  const l = new ListObject();
  for (const v of ['x', 'y', 'z']) l.pushTail(v);
  l.appliedSeq = 41;
  const p = encodeCollection(TYPE_LIST, l);
  assert.equal(checkObject(p, 0, p.length), null);
  const d = decodeObject(p, 0, p.length);
  assert.ok(typeof d !== 'string' && 'obj' in d && d.obj instanceof ListObject);
  assert.equal(d.obj.appliedSeq, 41);
  for (let n = 0; n < p.length; n++) assert.notEqual(checkObject(p, 0, n), null, `cut at ${n}`);
  const ks = new Keyspace();
  ks.loadObject('k', p, 0, p.length, 0);
  ks.beginEntry(41);
  ks.applyOp({ t: 'lpop', key: 'k', count: 1 }); // the snapshot already holds entry 41
  assert.deepEqual([...(listOf(ks, 'k') as ListObject).values()], ['x', 'y', 'z']);
  ks.beginEntry(42);
  ks.applyOp({ t: 'lpop', key: 'k', count: 1 });
  ks.applyOp({ t: 'rpush', key: 'k', values: [Buffer.from('w')] }); // same entry, same list: both apply
  assert.deepEqual([...(listOf(ks, 'k') as ListObject).values()], ['y', 'z', 'w']);
  ks.beginEntry(43);
  ks.applyOp({ t: 'restore', key: 'r', payload: p, expireAtMs: 0 });
  assert.equal((listOf(ks, 'r') as ListObject).appliedSeq, 43);
});

// ---------------------------------------------------------------- store paths

/** A crash image of an open store's directory (its lock file left behind). */
function crashImage(s: ReplicatedStore, dir: string): string {
  s.flush();
  const copy = tempDir();
  cpSync(dir, copy, { recursive: true });
  for (const name of readdirSync(copy)) if (name === LOCK_FILE) rmSync(join(copy, name), { force: true });
  return copy;
}

function storeLists(s: ReplicatedStore): Map<Key, string> {
  const out = new Map<Key, string>();
  for (const k of s.keys()) out.set(k, `${s.typeOf(k)} ${JSON.stringify([...(s.getList(k)?.values() ?? [])])} ${s.getValue(k)?.toString('hex')} ${s.getExpireAt(k)}`);
  return out;
}

test('a store compacting while lists are written: restart from the crash image and a full resync equal the live state', async () => {
  const R = rng(testSeed(9404));
  const dir = tempDir();
  const s = await openStore({ dir, fsync: 'no', compactMinBytes: 0 });
  const log: LogEntry[] = [];
  const apply = (ops: Op[]): void => {
    const pos = s.apply(ops);
    log.push({ ...pos, ops });
  };
  const writeSome = (n: number): void => {
    for (let i = 0; i < n; i++) {
      // Many list keys so the walk spans turns, and the three hot keys of commandEntry.
      const k = `bulk${R.int(3000)}`;
      const trim = ltrimOps(k, s.getList(k), 1, -1);
      apply(R.int(3) === 0 && trim.length > 0 ? trim : pushOps(k, s.getList(k), R.int(2) === 0, [R.bytes(1 + R.int(6))]).ops);
      const ops = commandEntryOn(R, s);
      if (ops.length > 0) apply(ops);
    }
  };
  try {
    for (let i = 0; i < 3000; i++) apply(pushOps(`bulk${i}`, undefined, false, [Buffer.from('a'), Buffer.from('b'), Buffer.from('c')]).ops);
    writeSome(300);
    let compacted = false;
    const done = s.compact().then(() => {
      compacted = true;
    });
    let turns = 0;
    while (!compacted) {
      writeSome(20);
      turns++;
      await new Promise<void>((r) => setImmediate(r));
    }
    await done;
    assert.ok(turns > 2, `writes interleaved with the snapshot walk (${turns} turns)`);
    // A full resync streamed while writes go on, then the entries after its position.
    const exp = s.exportSnapshot(7);
    const dst = await openStore({ dir: tempDir(), fsync: 'no' });
    try {
      const loader = dst.beginLoad();
      for await (const batch of exp.batches()) {
        loader.add(batch);
        writeSome(10);
      }
      await loader.commit(exp.from, exp.epochHistory);
      writeSome(50);
      const image = crashImage(s, dir);
      const r = await openStore({ dir: image, fsync: 'no' });
      try {
        assert.deepEqual(storeLists(r), storeLists(s));
        assert.equal(datasetDigestHex(r), datasetDigestHex(s));
      } finally {
        await r.close();
      }
      // The replica side: the entries after the resync position, as a replica applies them.
      for (const e of log) if (e.seq > exp.from.seq) dst.applyEntry(e);
      assert.deepEqual(storeLists(dst), storeLists(s));
      assert.equal(datasetDigestHex(dst), datasetDigestHex(s));
    } finally {
      await dst.close();
    }
  } finally {
    await s.close();
  }
});

/** commandEntry's rules on a store (the three hot keys). */
function commandEntryOn(R: Rng, s: ReplicatedStore): Op[] {
  const key = R.pick(KEYS);
  const t = s.typeOf(key);
  if (t !== 'none' && t !== 'list') return [{ t: 'del', key }];
  const list = s.getList(key);
  const r = R.int(10);
  if (r < 4 || list === undefined) return pushOps(key, list, R.int(2) === 0, [Buffer.from(element(R), 'latin1')]).ops;
  if (r < 6) return popOps(key, list, R.int(2) === 0, 1 + R.int(2)).ops;
  if (r < 7) return linsertOps(key, list, true, list.at(R.int(list.size)) as Key, Buffer.from('ins')).ops;
  if (r < 8) return lremOps(key, list, R.int(3) - 1, keyToBytes(list.at(R.int(list.size)) as Key)).ops;
  if (r < 9) {
    const dst = R.pick(KEYS);
    const dt = s.typeOf(dst);
    return dt !== 'none' && dt !== 'list' ? [] : lmoveOps(key, list, dst, s.getList(dst), R.int(2) === 0, R.int(2) === 0).ops;
  }
  const x = lsetOps(key, list, R.int(list.size), Buffer.from('set'));
  return 'ops' in x ? x.ops : [];
}

test('writeRange writes the same bulk strings as range(), from open and packed chunks alike (seeded)', () => {
  const r = rng(testSeed(8807));
  const l = new ListObject();
  // Elements of 1 to 300 bytes on both ends: open chunks at the ends, packed ones in between.
  for (let i = 0; i < 3000; i++) {
    const v = `${i}:` + 'v'.repeat(r.int(300));
    if (r.int(2) === 0) l.pushHead(v);
    else l.pushTail(v);
  }
  const written: string[] = [];
  const sink = {
    bulkLatin1: (s: string, off: number, len: number): void => void written.push(s.slice(off, off + len)),
    bulk: (b: Buffer): void => void written.push(b.toString('latin1')),
  };
  for (let round = 0; round < 200; round++) {
    const from = r.int(l.size + 20) - 10;
    const to = from + r.int(700);
    written.length = 0;
    l.writeRange(from, to, sink);
    assert.deepEqual(written, [...l.range(from, to)], `range ${from}..${to}`);
  }
});
