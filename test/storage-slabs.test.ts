// The slab keyspace (src/storage/keyspace.ts) against a plain Map model: seeded random churn
// over every write path (string and byte-range puts, deletes, expiries, flushall), record sizes
// at the varint and dedicated-buffer boundaries, defragmentation bounding slab memory, views
// that stay valid after their key changes, and the store-level restart paths that feed it
// (snapshot load with reserve(), log replay across read windows).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Keyspace, SLAB_BYTES, DEDICATED_RECORD_BYTES_MIN, DEFRAG_LIVE_FRACTION_MIN } from '../src/storage/keyspace.js';
import { openReplicatedStore as openStore } from '../src/storage/store.js';
import { rng, testSeed, type Rng } from './helpers/rng.js';
import { tempDir } from './helpers/procs.js';
import { CopySink } from './helpers/copy-sink.js';

/** Value sizes that hit the edges of the record layout (varint widths, dedicated buffers). */
const EDGE_SIZES = [0, 1, 127, 128, 16_383, 16_384, DEDICATED_RECORD_BYTES_MIN - 20, DEDICATED_RECORD_BYTES_MIN + 1, 200_000];

function keyOf(R: Rng, pool: number): string {
  const i = R.int(pool);
  // A few keys are long (> 32 chars: the latin1Write path) or binary; one is empty.
  if (i === 0) return '';
  if (i % 17 === 0) return `long-key-${'x'.repeat(40)}-${i}`;
  if (i % 13 === 0) return `bin\x00\xff\x80-${i}`;
  return `k${i}`;
}

function valueOf(R: Rng): Buffer {
  const r = R.int(100);
  if (r < 3) return R.bytes(R.pick(EDGE_SIZES));
  return R.bytes(R.int(300));
}

/** Every model key reads back equal, nothing else exists, and the internal structures agree. */
function assertSame(ks: Keyspace, model: Map<string, { v: Buffer; exp: number }>, now: number): void {
  ks.verify();
  assert.equal(ks.size, model.size);
  for (const [k, { v, exp }] of model) {
    assert.deepEqual(ks.getStored(k, now), v, `value of ${JSON.stringify(k)}`);
    assert.equal(ks.getExpireAt(k, now), exp);
  }
  const scanned = new Set<string>();
  let cursor = 0;
  do {
    const r = ks.scan(cursor, 97, now);
    for (const k of r.keys) scanned.add(k);
    cursor = r.next;
  } while (cursor !== 0);
  assert.deepEqual([...scanned].sort(), [...model.keys()].sort());
}

test('slab keyspace equals a Map model under seeded churn of every write path', () => {
  const R = rng(testSeed(4242));
  const ks = new Keyspace();
  const model = new Map<string, { v: Buffer; exp: number }>();
  const now = 1_000;
  for (let step = 0; step < 6000; step++) {
    const k = keyOf(R, 400);
    const kb = Buffer.from(`..${k}..`, 'latin1'); // byte-range paths read from inside a larger buffer
    const r = R.int(100);
    if (r < 40) {
      const v = valueOf(R);
      ks.put(k, v, 0);
      model.set(k, { v: Buffer.from(v), exp: 0 });
    } else if (r < 65) {
      const v = valueOf(R);
      const src = Buffer.concat([kb, Buffer.from('|'), v]);
      ks.putBytes(src, 2, k.length, kb.length + 1, v.length, 0);
      model.set(k, { v: Buffer.from(v), exp: 0 });
    } else if (r < 80) {
      assert.equal(ks.remove(k), model.delete(k));
    } else if (r < 88) {
      const had = model.has(k);
      assert.equal(ks.removeBytes(kb, 2, k.length), had);
      model.delete(k);
    } else if (r < 99) {
      // Expiries in the future only (expiry behaviour itself is tested through the store).
      const exp = R.int(2) === 0 ? 0 : now + 1 + R.int(1000);
      if (R.int(2) === 0) ks.applyOp({ t: 'expire', key: k, expireAtMs: exp });
      else ks.expireBytes(kb, 2, k.length, exp);
      const m = model.get(k);
      if (m !== undefined) m.exp = exp;
    } else {
      ks.clear();
      model.clear();
    }
    if (step % 500 === 499) assertSame(ks, model, now);
  }
  assertSame(ks, model, now);
});

test('overwriting the same keys with new sizes keeps slab memory bounded (defrag); old views keep their bytes', () => {
  const R = rng(testSeed(77));
  const ks = new Keyspace();
  const KEYS = 2000;
  const VALUE_BYTES_MAX = 250;
  for (let i = 0; i < KEYS; i++) ks.put(`key:${i}`, Buffer.alloc(VALUE_BYTES_MAX, 1), 0);
  const held = ks.getStored('key:7', 0);
  assert.ok(held !== undefined);
  const heldCopy = Buffer.from(held);
  const liveBytes = KEYS * (VALUE_BYTES_MAX + 12);
  let peak = 0;
  // 100 rounds of overwrites with changing sizes (so never in place) write ~40 MiB in total;
  // without compaction that is 40+ slabs.
  for (let round = 0; round < 100; round++) {
    for (let i = 0; i < KEYS; i++) ks.put(`key:${R.int(KEYS)}`, Buffer.alloc(150 + R.int(VALUE_BYTES_MAX - 150), round & 0xff), 0);
    peak = Math.max(peak, ks.slabBytes);
    if (round % 25 === 0) ks.verify();
  }
  ks.verify();
  // Live data is ~0.4 MiB: with sealed slabs compacted below DEFRAG_LIVE_FRACTION_MIN, the
  // total stays within a few slabs (the filling one, one being compacted, the live ones).
  const bound = Math.ceil(liveBytes / (SLAB_BYTES * DEFRAG_LIVE_FRACTION_MIN)) * SLAB_BYTES + 3 * SLAB_BYTES;
  assert.ok(peak <= bound, `slab bytes peaked at ${peak}, bound ${bound}`);
  // A record is never rewritten once its key moved on to a new record (defrag moves copies).
  assert.deepEqual(held, heldCopy, 'a view of a replaced record changed under its reader');
  // The periodic sweep also compacts: after deleting most keys, idle sweeps give memory back.
  for (let i = 0; i < KEYS - 10; i++) ks.remove(`key:${i}`);
  for (let n = 0; n < 50; n++) ks.sweep(0, () => 0);
  ks.verify();
  assert.ok(ks.slabBytes <= 2 * SLAB_BYTES, `after deletes and sweeps ${ks.slabBytes} slab bytes remain`);
  assert.equal(ks.size, 10);
});

test('a same-size overwrite happens in place (no new slab bytes); a dedicated value never is', () => {
  const ks = new Keyspace();
  for (let i = 0; i < 1000; i++) ks.put(`k${i}`, Buffer.alloc(100, 1), 0);
  const before = ks.slabBytes;
  const view = ks.getStored('k1', 0);
  for (let r = 0; r < 50; r++) for (let i = 0; i < 1000; i++) ks.put(`k${i}`, Buffer.alloc(100, r), i % 2 === 0 ? 5000 + r : 0);
  assert.equal(ks.slabBytes, before, 'same-size overwrites allocated slab space');
  assert.equal(view?.[0], 49, 'in place: a getStored view is only valid until the next write of its key');
  assert.equal(ks.getExpireAt('k2', 0), 5049);
  assert.equal(ks.getExpireAt('k3', 0), 0);
  ks.put('big', Buffer.alloc(DEDICATED_RECORD_BYTES_MIN * 2, 3), 0);
  const bigView = ks.getStored('big', 0);
  ks.put('big', Buffer.alloc(DEDICATED_RECORD_BYTES_MIN * 2, 4), 0);
  assert.equal(bigView?.[0], 3, 'a dedicated buffer handed out by getValue must never change');
  assert.equal(ks.getStored('big', 0)?.[0], 4);
  ks.verify();
});

test('dedicated large values are released as soon as they die', () => {
  const ks = new Keyspace();
  ks.put('small', Buffer.from('x'), 0);
  const base = ks.slabBytes;
  ks.put('big', Buffer.alloc(DEDICATED_RECORD_BYTES_MIN * 4, 7), 0);
  assert.ok(ks.slabBytes > base + DEDICATED_RECORD_BYTES_MIN * 4);
  const view = ks.getStored('big', 0);
  ks.put('big', Buffer.from('now small'), 0);
  assert.equal(ks.slabBytes, base);
  assert.equal(view?.length, DEDICATED_RECORD_BYTES_MIN * 4);
  assert.equal(view?.[0], 7, 'the reader keeps the old bytes; the keyspace dropped its reference');
  ks.verify();
});

test('reserve() then byte-range loading equals string puts', () => {
  const R = rng(testSeed(9));
  const a = new Keyspace();
  const b = new Keyspace();
  b.reserve(5000);
  for (let i = 0; i < 5000; i++) {
    const k = `key:${i}`;
    const v = R.bytes(R.int(120));
    a.put(k, v, i % 7 === 0 ? 10_000 + i : 0);
    const src = Buffer.concat([Buffer.from(k, 'latin1'), v]);
    b.putBytes(src, 0, k.length, k.length, v.length, i % 7 === 0 ? 10_000 + i : 0);
  }
  a.verify();
  b.verify();
  for (let i = 0; i < 5000; i++) {
    assert.deepEqual(b.getStored(`key:${i}`, 0), a.getStored(`key:${i}`, 0));
    assert.equal(b.getExpireAt(`key:${i}`, 0), a.getExpireAt(`key:${i}`, 0));
  }
  b.reserve(10); // never shrinks
  b.verify();
  assert.equal(b.size, 5000);
});

test('an over-estimated reserve() is given back by trim() and the keyspace keeps working', () => {
  const ks = new Keyspace();
  ks.put('before', Buffer.from('x'), 0);
  ks.reserve(200_000); // e.g. a log of overwrites estimated as 200k keys
  for (let i = 0; i < 1000; i++) ks.put(`k${i % 100}`, Buffer.from(String(i)), 0);
  ks.verify();
  ks.trim();
  ks.verify();
  assert.equal(ks.size, 101);
  assert.equal(ks.getStored('k7', 0)?.toString(), '907');
  for (let i = 0; i < 5000; i++) ks.put(`n${i}`, Buffer.from('y'), 0); // grows again from the trimmed size
  ks.verify();
  assert.equal(ks.size, 5101);
});

test('many inserts and deletes (tombstones, table rebuilds) keep every key reachable', () => {
  const ks = new Keyspace();
  const live = new Set<string>();
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 3000; i++) {
      const k = `r${round}:${i}`;
      ks.put(k, Buffer.from(k), 0);
      live.add(k);
    }
    for (const k of [...live]) {
      if (k.length % 3 === round % 3) {
        assert.ok(ks.remove(k));
        live.delete(k);
      }
    }
  }
  ks.verify();
  assert.equal(ks.size, live.size);
  for (const k of live) assert.equal(ks.getStored(k, 0)?.toString('latin1'), k);
});

test('restart through snapshot and log replay restores edge-sized values, including records larger than a read window', async () => {
  const dir = tempDir('kvts-slabs-');
  const R = rng(testSeed(31));
  const want = new Map<string, Buffer>();
  try {
    const s = await openStore({ dir, fsync: 'no', compactMinBytes: 0 });
    const put = (k: string, v: Buffer): void => {
      s.apply([{ t: 'set', key: k, value: v, expireAtMs: 0 }]);
      want.set(k, v);
    };
    for (const [i, n] of EDGE_SIZES.entries()) put(`edge:${i}`, R.bytes(n));
    for (let i = 0; i < 2000; i++) put(`k:${i}`, R.bytes(R.int(200)));
    await s.compact(); // snapshot path (reserve + putBytes)
    // Log tail after the snapshot: overwrites, deletes, and records that straddle or exceed
    // the 4 MiB replay window (3 MiB and 6 MiB values).
    for (let i = 0; i < 2000; i += 3) put(`k:${i}`, R.bytes(R.int(200)));
    put('huge:3', R.bytes(3 * 1024 * 1024));
    put('huge:6', R.bytes(6 * 1024 * 1024));
    put('huge:3b', R.bytes(3 * 1024 * 1024));
    for (let i = 1; i < 2000; i += 5) {
      s.apply([{ t: 'del', key: `k:${i}` }]);
      want.delete(`k:${i}`);
    }
    await s.close();
    const r = await openStore({ dir, fsync: 'no', compactMinBytes: 0 });
    try {
      assert.equal(r.size, want.size);
      for (const [k, v] of want) assert.ok(r.get(k)?.equals(v), `value of ${k} after restart`);
    } finally {
      await r.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('keyspace with interleaved slot addresses stays consistent under seeded churn, growth and defrag', () => {
  const r = rng(testSeed(0x510f));
  const ks = new Keyspace();
  const model = new Map<string, Buffer>();
  for (let step = 0; step < 40_000; step++) {
    const key = `k${r.int(3000)}`;
    const op = r.int(10);
    if (op < 6) {
      const v = r.bytes(r.int(4) === 0 ? 2000 + r.int(3000) : r.int(120));
      ks.put(key, v, 0);
      model.set(key, v);
    } else {
      assert.equal(ks.remove(key), model.delete(key));
    }
    if (step % 5000 === 4999) {
      ks.verify();
      ks.trim();
    }
  }
  ks.verify();
  assert.equal(ks.size, model.size);
  const sink = new CopySink();
  for (const [k, v] of model) {
    assert.equal(ks.readValueBytes(Buffer.from(k, 'latin1'), 0, sink), true);
    assert.deepEqual(sink.got.pop(), v);
  }
});
