// Streams in the storage engine: the 'xstream' op through the record codec (an announced event
// included, and bodies written before it); one XADD to a big
// stream logs an entry the size of the change; a stream payload (object codec) keeps the node
// layout, counters and groups; and a store compacting while streams are written (big ones walked
// in chunks), restarted from its crash image and loaded by a full resync followed by the entries
// after it, reaches the live state's DEBUG DIGEST.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ENTRY_NODE_START, StreamObject, makeEntry } from '../src/storage/stream-object.js';
import { applyEffects, checkEffects, decodeEffects, encodeEffects, type StreamEffect } from '../src/storage/stream-effects.js';
import { ID_MAX, ID_MIN, makeId } from '../src/storage/stream-id.js';
import { checkRecord, decodeRecord, encodeRecord, recordBytes } from '../src/storage/record.js';
import { checkObject, decodeObject, encodeCollection } from '../src/storage/object-codec.js';
import { TYPE_STREAM } from '../src/storage/collection.js';
import { openReplicatedStore as openStore } from '../src/storage/store.js';
import type { ReplicatedStore } from '../src/storage/api.js';
import type { Key, LogEntry, Op } from '../src/storage/types.js';
import { datasetDigestHex } from '../src/server/commands/digest.js';
import { LOCK_FILE } from '../src/storage/lock.js';
import { rng, testSeed, type Rng } from './helpers/rng.js';
import { tempDirsRemovedAfter } from './helpers/procs.js';

const tempDir = tempDirsRemovedAfter('kvts-stream-');

/** The effects of one random stream command on `s` (as the commands resolve them). */
function commandEffects(R: Rng, s: StreamObject | undefined, nowMs: number): StreamEffect[] {
  const last = s?.lastId ?? ID_MIN;
  const r = R.int(12);
  if (r < 6 || s === undefined) {
    const id = makeId(BigInt(nowMs), BigInt(R.int(3)));
    const next = id > last ? id : makeId(BigInt(nowMs) + 1n, 0n);
    const plain = makeEntry(next > last ? next : ID_MAX, ['f', `v${R.int(1000)}`]);
    const entry = s !== undefined && s.fitsTail(plain, 100, 4096) ? plain : makeEntry(next > last ? next : ID_MAX, ['f', `v${R.int(1000)}`], ENTRY_NODE_START);
    const fx: StreamEffect[] = [{ k: 'add', entry }];
    if (R.int(5) === 0) {
      const plan = (s ?? new StreamObject()).planTrim({ strategy: 'maxlen', maxlen: 500 + R.int(500), minid: ID_MIN, approx: R.int(2) === 0, limit: 0 }, entry);
      if (plan.nodes > 0 || plan.upTo !== null) fx.push({ k: 'trim', nodes: plan.nodes, upTo: plan.upTo, deleted: plan.deleted });
    }
    return fx;
  }
  const ids = [...s.range(ID_MIN, ID_MAX, false)].slice(0, 20).map((e) => e.slice(1, 17));
  if (r < 8 && ids.length > 0) return [{ k: 'del', id: R.pick(ids) }, { k: 'meta', lastId: s.lastId, entriesAdded: s.entriesAdded, maxDeletedId: R.pick(ids) }];
  if (r < 9) return [{ k: 'group', group: `g${R.int(2)}`, lastId: ID_MIN, entriesRead: -1 }];
  if (r < 11 && ids.length > 0) return [{ k: 'consumer', group: 'g0', consumer: `c${R.int(3)}`, seenMs: nowMs, created: true }, { k: 'nack', group: 'g0', id: R.pick(ids), consumer: `c${R.int(3)}`, deliveryMs: nowMs, deliveries: 1 + R.int(3) }];
  return ids.length > 0 ? [{ k: 'ack', group: 'g0', id: R.pick(ids) }] : [];
}

test('xstream ops survive the record codec; XADD to a 100k-entry stream logs an entry the size of the change', () => {
  const s = new StreamObject();
  for (let i = 1; i <= 100_000; i++) s.append(makeEntry(makeId(BigInt(i), 0n), ['field', 'value'], i % 100 === 1 ? ENTRY_NODE_START : 0));
  const fx: StreamEffect[] = [{ k: 'add', entry: makeEntry(makeId(100_001n, 0n), ['field', 'value']) }];
  const plan = s.planTrim({ strategy: 'maxlen', maxlen: 1000, minid: ID_MIN, approx: true, limit: 0 }, (fx[0] as { entry: string }).entry);
  fx.push({ k: 'trim', nodes: plan.nodes, upTo: plan.upTo, deleted: plan.deleted });
  const op: Op = { t: 'xstream', key: 'big', body: encodeEffects(fx) };
  assert.ok(recordBytes([op]) < 200, `one XADD with a trim of ${plan.deleted} entries logs ${recordBytes([op])} bytes`);
  const rec = encodeRecord(1, 7, [op]);
  const d = decodeRecord(rec, 0);
  assert.ok(d.ok);
  assert.deepEqual(decodeEffects((d.entry.ops[0] as { body: Buffer }).body, 0, (d.entry.ops[0] as { body: Buffer }).body.length), fx);
  // A corrupt body is refused with the record (applying never fails).
  const bad = Buffer.from(rec);
  bad[bad.length - 1] = 0xee;
  assert.equal(checkRecord(bad, 0).ok, false);
});

test("an 'event' effect survives the codec and changes no stream; an unknown event is refused; a body without one still applies", () => {
  const meta: StreamEffect = { k: 'meta', lastId: makeId(5n, 5n), entriesAdded: 3, maxDeletedId: ID_MIN };
  const announced: StreamEffect[] = [meta, { k: 'event', name: 'xsetid' }];
  const body = encodeEffects(announced);
  assert.deepEqual(decodeEffects(body, 0, body.length), announced);
  // A record written before the effect existed: the same counters, no event.
  const old = encodeEffects([meta]);
  const [a, b] = [new StreamObject(), new StreamObject()];
  applyEffects(a, decodeEffects(body, 0, body.length));
  applyEffects(b, decodeEffects(old, 0, old.length));
  assert.deepEqual([a.lastId, a.entriesAdded, a.size], [b.lastId, b.entriesAdded, b.size]);
  assert.equal(checkEffects(old, 0, old.length), null);
  // The event's code is its last byte: past the table, the body is refused with its record.
  const bad = Buffer.from(body);
  bad[bad.length - 1] = 0xee;
  assert.equal(checkEffects(bad, 0, bad.length), 'unknown stream event');
  assert.equal(checkRecord(encodeRecord(1, 1, [{ t: 'xstream', key: 's', body: bad }]), 0).ok, false);
});

test('a stream payload keeps node layout, tombstones, counters, groups and pending entries', () => {
  const R = rng(testSeed(7101));
  const s = new StreamObject();
  let now = 1000;
  for (let i = 0; i < 3000; i++) {
    const fx = commandEffects(R, s, now++);
    // Effects as the keyspace applies them (applyEffects is what keyspace.xstream calls).
    const body = encodeEffects(fx);
    const back = decodeEffects(body, 0, body.length);
    assert.deepEqual(back, fx);
    for (const f of back) if (f.k === 'add') s.append(f.entry);
    for (const f of back) {
      if (f.k === 'trim') s.trim(f.nodes, f.upTo);
      if (f.k === 'del') s.delete(f.id);
    }
  }
  const payload = encodeCollection(TYPE_STREAM, s);
  assert.equal(checkObject(payload, 0, payload.length), null);
  const d = decodeObject(payload, 0, payload.length);
  assert.ok(typeof d !== 'string' && 'obj' in d && d.obj instanceof StreamObject);
  assert.equal(d.obj.size, s.size);
  assert.equal(d.obj.nodeCount, s.nodeCount);
  assert.deepEqual([...d.obj.layout()], [...s.layout()]);
  assert.ok(s.nodeCount > 5, 'the stream spans nodes');
});

function crashImage(s: ReplicatedStore, dir: string): string {
  s.flush();
  const copy = tempDir();
  cpSync(dir, copy, { recursive: true });
  for (const name of readdirSync(copy)) if (name === LOCK_FILE) rmSync(join(copy, name), { force: true });
  return copy;
}

test('a store compacting while streams are written: restart from the crash image and a full resync reach the live digest', async () => {
  const R = rng(testSeed(7202));
  const dir = tempDir();
  const s = await openStore({ dir, fsync: 'no', compactMinBytes: 0 });
  const log: LogEntry[] = [];
  let now = 1_700_000_000_000;
  const apply = (key: Key): void => {
    const fx = commandEffects(R, s.getStream(key), now++);
    if (fx.length === 0) return;
    const ops: Op[] = [{ t: 'xstream', key, body: encodeEffects(fx) }];
    const pos = s.apply(ops);
    log.push({ ...pos, ops });
  };
  const writeSome = (n: number): void => {
    for (let i = 0; i < n; i++) apply(R.int(4) === 0 ? `small${R.int(500)}` : `big${R.int(2)}`);
  };
  try {
    // Two streams of several thousand entries (walked in many chunks) and many small ones.
    for (let i = 0; i < 12_000; i++) apply(`big${i % 2}`);
    for (let i = 0; i < 500; i++) apply(`small${i}`);
    let compacted = false;
    const done = s.compact().then(() => {
      compacted = true;
    });
    let turns = 0;
    while (!compacted) {
      writeSome(30);
      turns++;
      await new Promise<void>((r) => setImmediate(r));
    }
    await done;
    assert.ok(turns > 2, `writes interleaved with the snapshot walk (${turns} turns)`);
    const exp = s.exportSnapshot(7);
    const dst = await openStore({ dir: tempDir(), fsync: 'no' });
    try {
      const loader = dst.beginLoad();
      for await (const batch of exp.batches()) {
        loader.add(batch);
        writeSome(10);
      }
      await loader.commit(exp.from, exp.epochHistory);
      writeSome(100);
      const image = crashImage(s, dir);
      const r = await openStore({ dir: image, fsync: 'no' });
      try {
        assert.equal(datasetDigestHex(r), datasetDigestHex(s), 'restart from the crash image');
      } finally {
        await r.close();
      }
      for (const e of log) if (e.seq > exp.from.seq) dst.applyEntry(e);
      assert.equal(datasetDigestHex(dst), datasetDigestHex(s), 'full resync then the entries after it');
      assert.equal(dst.getStream('big0')?.size, s.getStream('big0')?.size);
    } finally {
      await dst.close();
    }
  } finally {
    await s.close();
  }
});
