// Keyspace semantics of the store: expiry (lazy, swept, across restart with an injected clock),
// the SCAN guarantee under concurrent adds/deletes (seeded property test), group commit,
// truncateAfter, epochs, meta, the export -> load -> commit full-resync round trip, and the
// read path that copies a value straight to a sink (readValueInto; the clock read only with TTLs).

import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { rmSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { openReplicatedStore as openStore } from '../src/storage/store.js';
import type { ReplicatedStore as Store, StoreOptions } from '../src/storage/api.js';
import { rng, testSeed } from './helpers/rng.js';
import { tempDir } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';
import { CopySink } from './helpers/copy-sink.js';

async function withStore(opts: Partial<StoreOptions>, fn: (s: Store, dir: string) => Promise<void> | void): Promise<void> {
  const dir = tempDir('kvts-ks-');
  const s = await openStore({ dir, ...opts });
  try {
    await fn(s, dir);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const set = (s: Store, k: string, v: string, expireAtMs = 0) =>
  s.apply([{ t: 'set', key: k, value: Buffer.from(v), expireAtMs }]);

test('expiry is absolute: survives restart, then expires lazily on access', async () => {
  let t = 1_000_000;
  const now = () => t;
  await withStore({ now }, async (s, dir) => {
    await s.set('ttl', 'v', { px: 1000 });
    await s.set('keep', 'v');
    assert.equal(s.pttl('ttl'), 1000);
    assert.equal(s.pttl('keep'), -1);
    assert.equal(s.pttl('missing'), -2);
    await s.close();
    t += 400;
    const r = await openStore({ dir, now });
    try {
      assert.equal(r.pttl('ttl'), 600, 'the deadline did not move with the restart');
      t += 600;
      assert.equal(r.get('ttl'), undefined);
      assert.equal(r.has('ttl'), false);
      assert.equal(r.size, 1, 'removed on access');
      assert.equal(r.stats().expiredKeys, 1);
      assert.equal(r.get('keep')?.toString(), 'v');
    } finally {
      await r.close();
    }
  });
});

test('the background sweep removes expired keys nobody touches', async () => {
  let t = 5_000;
  await withStore({ now: () => t, fsync: 'no' }, async (s) => {
    for (let i = 0; i < 3000; i++) set(s, `e${i}`, 'x', 6_000);
    for (let i = 0; i < 100; i++) set(s, `p${i}`, 'x');
    assert.equal(s.size, 3100);
    t = 7_000;
    await waitFor('sweep to remove expired keys', () => s.size === 100, { timeoutMs: 10_000 });
    assert.equal(s.stats().expiredKeys, 3000);
  });
});

test('SCAN returns every key present for the whole scan while others are added and deleted (seeded)', async () => {
  const seed = testSeed(4242);
  for (let round = 0; round < 20; round++) {
    const R = rng(seed + round);
    await withStore({ fsync: 'no' }, async (s) => {
      const stable = new Set<string>();
      const churn = new Set<string>();
      for (let i = 0; i < 500; i++) {
        const k = `s${i}`;
        set(s, k, 'v');
        stable.add(k);
        if (R.int(2) === 0) {
          const c = `c${i}`;
          set(s, c, 'v');
          churn.add(c);
        }
      }
      // Some stable keys are deleted+reinserted BEFORE the scan: their slot moves, which is fine.
      for (let j = 0; j < 50; j++) {
        const k = `s${R.int(500)}`;
        s.apply([{ t: 'del', key: k }]);
        set(s, k, 'again');
      }
      const seen = new Set<string>();
      let cursor = '0';
      let steps = 0;
      do {
        const r = s.scan(cursor, 1 + R.int(20));
        for (const k of r.keys) seen.add(k);
        cursor = r.cursor;
        // Mutate between steps: delete/reinsert churn keys, add new ones.
        for (let j = 0; j < 1 + R.int(30); j++) {
          const pick = R.int(3);
          if (pick === 0 && churn.size > 0) {
            const c = [...churn][R.int(churn.size)] as string;
            s.apply([{ t: 'del', key: c }]);
            churn.delete(c);
          } else if (pick === 1) {
            const c = `c${R.int(2000)}`;
            set(s, c, 'v');
            churn.add(c);
          } else {
            const c = `n${round}-${steps}-${j}`;
            set(s, c, 'v');
            churn.add(c);
          }
        }
        steps++;
        assert.ok(steps < 100_000, 'scan terminates');
      } while (cursor !== '0');
      for (const k of stable) assert.ok(seen.has(k), `round ${round} seed ${seed}: stable key ${k} missed`);
    });
  }
});

test('SCAN MATCH and scanIterator filter with glob patterns', async () => {
  await withStore({ fsync: 'no' }, async (s) => {
    for (let i = 0; i < 50; i++) set(s, `user:${i}`, 'v');
    for (let i = 0; i < 50; i++) set(s, `item:${i}`, 'v');
    const got: string[] = [];
    for await (const k of s.scanIterator({ match: 'user:1?', count: 7 })) got.push(k.toString());
    assert.deepEqual(got.sort(), Array.from({ length: 10 }, (_, i) => `user:1${i}`).sort());
    assert.equal([...s.keys()].length, 100);
  });
});

test('group commit: concurrent writers under fsync always share fsyncs', async () => {
  await withStore({ fsync: 'always' }, async (s) => {
    const before = s.stats().fsyncs;
    const WRITES = 2000;
    await Promise.all(Array.from({ length: WRITES }, (_, i) => s.set(`k${i}`, 'v')));
    const fsyncs = s.stats().fsyncs - before;
    console.log(`group commit: ${WRITES} concurrent writes, ${fsyncs} fsyncs`);
    assert.ok(fsyncs >= 1 && fsyncs <= WRITES / 20, `fsyncs ${fsyncs}`);
    assert.equal(s.stats().durableSeq, s.lastPosition.seq);
  });
});

test('group commit: a write sent when an fsync completes joins the round of those written during it', async () => {
  await withStore({ fsync: 'always' }, async (s) => {
    const before = s.stats().fsyncs;
    const a = s.set('a', '1');
    // Our immediate runs after the log's flush immediate, which started round 1 (its completion can
    // only arrive in a later poll phase), so 'b' is written while round 1 is in flight.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const b = s.set('b', '1');
    // A client that writes again as soon as its first write is durable (pipeline 1).
    const c = a.then(() => s.set('c', '1'));
    await Promise.all([a, b, c]);
    // Round 1: a. Round 2: b and c. Starting round 2 the moment round 1 ended covered b alone and
    // left c a third round: concurrent clients split into two groups taking turns.
    assert.equal(s.stats().fsyncs - before, 2);
    assert.equal(s.stats().durableSeq, s.lastPosition.seq);
  });
});

test('fsync always: a round runs on the event loop while the previous one was fast, in the libuv pool after a slow one', async () => {
  // A fake clock that only the (wrapped, still real) fdatasync calls advance: each takes roundMs.
  let clock = 0;
  let roundMs = 0.5;
  const calls: string[] = [];
  const realSync = fs.fdatasyncSync;
  const realAsync = fs.fdatasync;
  mock.method(performance, 'now', () => clock);
  mock.method(fs, 'fdatasyncSync', (fd: number) => {
    calls.push('loop');
    realSync(fd);
    clock += roundMs;
  });
  mock.method(fs, 'fdatasync', (fd: number, cb: (e: NodeJS.ErrnoException | null) => void) => {
    calls.push('pool');
    realAsync(fd, (e) => {
      clock += roundMs;
      cb(e);
    });
  });
  syncBuiltinESMExports(); // the WAL's named imports of node:fs now see the wrappers
  try {
    const step = async (s: Store, key: string, ms: number) => {
      roundMs = ms;
      await s.set(key, 'v');
      assert.equal(s.stats().durableSeq, s.lastPosition.seq);
    };
    await withStore({ fsync: 'always', fsyncOnLoopMaxMs: 2 }, async (s) => {
      await step(s, 'a', 0.5); // no round yet counts as fast: on the loop
      await step(s, 'b', 5); // after a fast one: on the loop, and this one is slow
      await step(s, 'c', 0.5); // after a slow one: in the pool, fast again
      await step(s, 'd', 0.5); // back on the loop
      assert.deepEqual(calls, ['loop', 'loop', 'pool', 'loop']);
    });
    calls.length = 0;
    await withStore({ fsync: 'always' }, async (s) => {
      await step(s, 'a', 0.5);
      await step(s, 'b', 0.5);
      assert.deepEqual(calls, ['pool', 'pool'], 'by default (embedded) never on the loop');
    });
  } finally {
    mock.restoreAll();
    syncBuiltinESMExports();
  }
});

test('a nearly full segment is fsynced in the background before its rotation, so the rotation\'s synchronous fsync finds little to write', async () => {
  // fsync 'no': nothing else syncs the log, so only the early round can make these writes durable.
  const segmentBytesMax = 64 * 1024;
  await withStore({ fsync: 'no', segmentBytesMax, compactMinBytes: 1 << 30 }, async (s) => {
    const value = 'v'.repeat(1000);
    let i = 0;
    // Up to 15/16 of the segment: no early round yet.
    while (s.stats().logBytes < segmentBytesMax * (15 / 16) - 2000) set(s, `k${i++}`, value);
    s.flush();
    const before = s.stats();
    assert.equal(before.segments, 1);
    assert.equal(before.durableSeq, 0, 'no round before the last sixteenth of the segment');
    // Into the last sixteenth, still in the same segment: one round, in the background.
    while (s.stats().logBytes < segmentBytesMax * (15 / 16) + 500) set(s, `k${i++}`, value);
    s.flush();
    const last = s.lastPosition.seq;
    await waitFor('the early round', () => s.stats().durableSeq >= last);
    assert.equal(s.stats().segments, 1, 'still the first segment');
    assert.equal(s.stats().fsyncs - before.fsyncs, 1);
    // Filling the segment rotates it as before; the next segment gets its own early round.
    while (s.stats().segments < 2) set(s, `k${i++}`, value);
    s.flush();
    const afterRotation = s.stats().fsyncs;
    while (s.stats().logBytes < segmentBytesMax * (1 + 15 / 16) + 500) set(s, `k${i++}`, value);
    s.flush();
    const last2 = s.lastPosition.seq;
    await waitFor('the second segment\'s early round', () => s.stats().durableSeq >= last2);
    assert.equal(s.stats().fsyncs - afterRotation, 1);
  });
});

test('truncateAfter discards the tail, persists it, and refuses to cut below a snapshot', async () => {
  await withStore({ fsync: 'no', segmentBytesMax: 200 }, async (s, dir) => {
    for (let i = 1; i <= 10; i++) set(s, `k${i}`, `v${i}`);
    set(s, 'k1', 'overwritten');
    const r = await s.truncateAfter(6);
    assert.deepEqual(r, { discarded: 5, from: { epoch: 1, seq: 7 }, to: { epoch: 1, seq: 11 } });
    assert.equal(s.lastPosition.seq, 6);
    assert.equal(s.get('k1')?.toString(), 'v1');
    assert.equal(s.get('k7'), undefined);
    assert.equal(s.size, 6);
    assert.deepEqual(await s.truncateAfter(6), { discarded: 0, from: null, to: null });
    const p = s.apply([{ t: 'del', key: 'k2' }]);
    assert.equal(p.seq, 7);
    await s.close();
    const again = await openStore({ dir, fsync: 'no', segmentBytesMax: 200 });
    try {
      assert.equal(again.lastPosition.seq, 7);
      assert.equal(again.has('k2'), false);
      assert.equal(again.get('k7'), undefined);
      await again.compact();
      set(again, 'x', 'y');
      await assert.rejects(again.truncateAfter(3), /snapshot already covers up to 7/);
    } finally {
      await again.close();
    }
  });
});

test('epochs: beginEpoch persists before any entry, applyEntry extends the history', async () => {
  await withStore({ fsync: 'no' }, async (s, dir) => {
    assert.deepEqual(s.epochHistory, [{ epoch: 1, startSeq: 1 }]);
    assert.equal(s.epoch, 1);
    set(s, 'a', '1');
    await s.beginEpoch(3);
    await assert.rejects(s.beginEpoch(3), /must exceed/);
    await s.close();
    let r = await openStore({ dir, fsync: 'no' });
    assert.deepEqual(r.epochHistory, [{ epoch: 1, startSeq: 1 }, { epoch: 3, startSeq: 2 }]);
    assert.equal(r.epoch, 3);
    assert.deepEqual(r.apply([]), { epoch: 3, seq: 2 }); // a new primary's no-op entry
    r.applyEntry({ epoch: 5, seq: 3, ops: [{ t: 'set', key: 'b', value: Buffer.from('2'), expireAtMs: 0 }] });
    assert.throws(() => r.applyEntry({ epoch: 4, seq: 4, ops: [] }), /epoch 4 < last entry's epoch 5/);
    assert.throws(() => r.applyEntry({ epoch: 5, seq: 9, ops: [] }), /seq 9 after 3/);
    await r.close();
    r = await openStore({ dir, fsync: 'no' });
    assert.deepEqual(r.epochHistory, [{ epoch: 1, startSeq: 1 }, { epoch: 3, startSeq: 2 }, { epoch: 5, startSeq: 3 }]);
    assert.deepEqual(r.lastPosition, { epoch: 5, seq: 3 });
    assert.equal(r.get('b')?.toString(), '2');
    await r.writeMeta({ votedFor: 'n2', term: 5 });
    await r.close();
    r = await openStore({ dir, fsync: 'no' });
    assert.deepEqual(r.readMeta(), { votedFor: 'n2', term: 5 });
    await r.close();
  });
});

test('exportSnapshot -> beginLoad -> commit replaces a dataset durably (full resync)', async () => {
  let t = 10_000;
  const now = () => t;
  const srcDir = tempDir('kvts-src-');
  const src = await openStore({ dir: srcDir, fsync: 'no', now });
  const dstDir = tempDir('kvts-dst-');
  let dst = await openStore({ dir: dstDir, fsync: 'no', now });
  try {
    for (let i = 0; i < 5000; i++) set(src, `k${i}`, `v${i}`, i % 10 === 0 ? 50_000 : 0);
    await src.beginEpoch(2);
    set(src, 'k0', 'latest');
    for (let i = 0; i < 100; i++) set(dst, `old${i}`, 'stale');
    const exp = src.exportSnapshot(300);
    const loader = dst.beginLoad();
    let batches = 0;
    for await (const b of exp.batches()) {
      loader.add(b);
      batches++;
    }
    assert.ok(batches >= 5000 / 300);
    assert.equal(loader.keys, 5000);
    assert.equal(dst.get('old1')?.toString(), 'stale', 'the live dataset serves reads until commit');
    await loader.commit(exp.from, exp.epochHistory);
    const check = (s: Store): void => {
      assert.equal(s.size, 5000);
      assert.equal(s.get('old1'), undefined);
      assert.equal(s.get('k0')?.toString(), 'latest');
      assert.equal(s.getExpireAt('k10'), 50_000);
      assert.deepEqual(s.lastPosition, exp.from);
      assert.deepEqual(s.epochHistory, exp.epochHistory);
    };
    check(dst);
    dst.applyEntry({ epoch: 2, seq: exp.from.seq + 1, ops: [{ t: 'del', key: 'k1' }] });
    await dst.close();
    dst = await openStore({ dir: dstDir, fsync: 'no', now });
    assert.equal(dst.has('k1'), false);
    assert.equal(dst.lastPosition.seq, exp.from.seq + 1);
    t = 60_000;
    assert.equal(dst.get('k10'), undefined);
  } finally {
    await src.close();
    await dst.close();
    rmSync(dstDir, { recursive: true, force: true });
    rmSync(srcDir, { recursive: true, force: true });
  }
});

test('readValueInto finds keys by bytes, hands over exactly the value, and honours expiry like getStored', async () => {
  let t = 5_000_000;
  await withStore({ now: () => t, fsync: 'no' }, (s) => {
    const r = rng(testSeed(0x2ead));
    const keys: Buffer[] = [];
    for (let i = 0; i < 500; i++) {
      const k = r.bytes(1 + r.int(40)); // binary keys: latin1 strings in the store, bytes on the wire
      keys.push(k);
      s.apply([{ t: 'set', key: k.toString('latin1'), value: r.bytes(r.int(3000)), expireAtMs: i % 5 === 0 ? t + 1000 : 0 }]);
    }
    for (const k of keys) {
      const sink = new CopySink();
      const want = s.getStored(k.toString('latin1'));
      assert.equal(s.readValueInto(k, sink), want !== undefined);
      if (want !== undefined) assert.deepEqual(sink.got, [Buffer.from(want)]);
    }
    const missing = new CopySink();
    assert.equal(s.readValueInto(Buffer.from('no such key'), missing), false);
    assert.equal(missing.got.length, 0, 'a miss never calls the sink');
    // Past the TTL, readValueInto misses and removes the key, exactly as a lazy-expiring read does.
    const sizeBefore = s.size;
    t += 1000;
    let expired = 0;
    for (let i = 0; i < keys.length; i += 5) {
      const sink = new CopySink();
      if (!s.readValueInto(keys[i] as Buffer, sink)) expired++;
      assert.equal(sink.got.length, 0);
    }
    assert.ok(expired > 0);
    assert.equal(s.size, sizeBefore - expired);
    assert.equal(s.stats().expiredKeys, expired);
  });
});

test('reads consult the clock only while some key has a TTL', async () => {
  let reads = 0;
  let t = 1_000_000;
  await withStore(
    {
      now: () => {
        reads++;
        return t;
      },
      fsync: 'no',
    },
    (s) => {
      s.apply([{ t: 'set', key: 'plain', value: Buffer.from('v'), expireAtMs: 0 }]);
      reads = 0;
      const sink = new CopySink();
      for (let i = 0; i < 10; i++) {
        assert.equal(s.readValueInto(Buffer.from('plain'), sink), true);
        assert.equal(s.getStored('plain')?.toString(), 'v');
        assert.equal(s.has('plain'), true);
        assert.equal(s.getExpireAt('plain'), 0);
      }
      assert.equal(reads, 0, 'no key has a TTL: the clock is not read');
      s.apply([{ t: 'set', key: 'ttl', value: Buffer.from('w'), expireAtMs: t + 10 }]);
      reads = 0;
      assert.equal(s.readValueInto(Buffer.from('plain'), sink), true);
      assert.ok(reads > 0, 'with a TTL present every read checks the time');
      t += 10;
      assert.equal(s.readValueInto(Buffer.from('ttl'), sink), false, 'and the expired key misses');
    },
  );
});
