// Expiry as a logged event in the storage engine: a key a read or the sweep finds expired is
// deleted through a `del` log entry (one per key) when the store may write, and only hidden
// when it may not (a replica); a read that reported a key expired keeps it gone across a
// crash and a restart with the clock stepped back; snapshots never drop a key by the clock.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { openReplicatedStore } from '../src/storage/store.js';
import { openStore } from '../src/storage/embedded.js';
import type { ExpiryAuthority, ReplicatedStore } from '../src/storage/api.js';
import { LOCK_FILE } from '../src/storage/lock.js';
import { decodeRecord } from '../src/storage/record.js';
import type { FsyncPolicy, Op, Position } from '../src/storage/types.js';
import { tempDirsRemovedAfter } from './helpers/procs.js';

const HOUR_MS = 3600_000;
const T0 = 1_900_000_000_000;
const newDir = tempDirsRemovedAfter('kvts-expiry-');

/** What a kill -9 right now would leave: the files as the OS holds them (the lock is the dead owner's). */
function crashCopy(dir: string): string {
  const copy = newDir();
  cpSync(dir, copy, { recursive: true, filter: (src) => !src.endsWith(`/${LOCK_FILE}`) });
  return copy;
}

/** A clock tests move by hand. */
function manualClock(start: number): { now: () => number; set(ms: number): void } {
  let t = start;
  return { now: () => t, set: (ms) => void (t = ms) };
}

function set(s: ReplicatedStore, key: string, expireAtMs: number): void {
  s.apply([{ t: 'set', key, value: Buffer.from(`v-${key}`), expireAtMs }]);
}

function lastOps(s: ReplicatedStore): readonly Op[] {
  const rec = s.lastRecord(s.lastPosition.seq);
  assert.ok(rec !== undefined, 'the last write left its record');
  const d = decodeRecord(rec, 0);
  assert.ok(d.ok, 'the last record decodes');
  return d.entry.ops;
}

test('a read that finds a key expired logs one del entry for it; a key without TTL reads as before', async () => {
  const clock = manualClock(T0);
  const s = await openReplicatedStore({ dir: newDir(), fsync: 'no', now: clock.now });
  try {
    set(s, 'plain', 0);
    set(s, 'ttl', T0 + 1000);
    const seq = s.lastPosition.seq;
    assert.equal(s.getValue('ttl')?.toString(), 'v-ttl');
    assert.equal(s.lastPosition.seq, seq, 'a live key costs no entry');
    clock.set(T0 + 1000);
    assert.equal(s.getValue('ttl'), undefined);
    assert.equal(s.lastPosition.seq, seq + 1, 'the expiry was logged as one entry');
    assert.deepEqual(lastOps(s), [{ t: 'del', key: 'ttl' }]);
    assert.equal(s.size, 1);
    assert.equal(s.stats().expiredKeys, 1);
    assert.equal(s.getValue('plain')?.toString(), 'v-plain');
    assert.equal(s.getValue('ttl'), undefined);
    assert.equal(s.lastPosition.seq, seq + 1, 'a key already gone is not deleted twice');
    // Every read path: has, getExpireAt, readValueInto, scan and keys.
    for (let i = 0; i < 5; i++) set(s, `k${i}`, T0 + 2000);
    clock.set(T0 + 2000);
    const before = s.lastPosition.seq;
    assert.equal(s.has('k0'), false);
    assert.equal(s.getExpireAt('k1'), undefined);
    assert.equal(s.readValueInto(Buffer.from('k2'), { bulkRange: () => assert.fail('expired value handed out') }), false);
    assert.deepEqual(s.scan('0', 100).keys, ['plain']);
    assert.deepEqual([...s.keys()], ['plain']);
    assert.equal(s.lastPosition.seq, before + 5, 'one entry per expired key');
    assert.equal(s.size, 1);
  } finally {
    await s.close();
  }
});

test('the active sweep deletes expired keys through the log too', async () => {
  const clock = manualClock(T0);
  const s = await openReplicatedStore({ dir: newDir(), fsync: 'no', now: clock.now });
  try {
    for (let i = 0; i < 20; i++) set(s, `k${i}`, T0 + 10);
    const seq = s.lastPosition.seq;
    clock.set(T0 + 10);
    const { waitFor } = await import('./helpers/wait.js');
    await waitFor('the sweep removes every expired key', () => s.size === 0);
    assert.equal(s.lastPosition.seq, seq + 20, 'each swept key is one logged del');
    assert.deepEqual(lastOps(s)[0]?.t, 'del');
  } finally {
    await s.close();
  }
});

test('while the authority may not delete (a replica), expired keys are hidden, kept, kept by compaction, and deleted once it may', async () => {
  const clock = manualClock(T0);
  const dir = newDir();
  const s = await openReplicatedStore({ dir, fsync: 'no', now: clock.now, compactMinBytes: 0 });
  let may = false;
  const shipped: Array<{ pos: Position; ops: readonly Op[] }> = [];
  const authority: ExpiryAuthority = { mayDelete: () => may, deleted: (pos, ops) => shipped.push({ pos, ops }) };
  s.setExpiryAuthority(authority);
  try {
    set(s, 'a', T0 + 100);
    set(s, 'b', T0 + 100);
    set(s, 'c', 0);
    const seq = s.lastPosition.seq;
    clock.set(T0 + HOUR_MS);
    assert.equal(s.getValue('a'), undefined, 'hidden by the clock');
    assert.equal(s.has('b'), false);
    assert.deepEqual([...s.keys()], ['c']);
    assert.deepEqual(s.scan('0', 100).keys, ['c']);
    assert.equal(s.size, 3, 'hidden, not deleted');
    assert.equal(s.lastPosition.seq, seq, 'nothing logged on its own');
    // A snapshot keeps them: a replica's restart must not drop what its primary still holds.
    await s.compact();
    assert.equal(s.stats().snapshotSeq, seq);
    assert.equal(s.size, 3);
    assert.equal(s.stats().expiredKeys, 0);
    may = true;
    assert.equal(s.getValue('a'), undefined);
    assert.equal(s.size, 2);
    assert.equal(shipped.length, 1);
    assert.deepEqual(shipped[0], { pos: { epoch: s.epoch, seq: seq + 1 }, ops: [{ t: 'del', key: 'a' }] });
  } finally {
    await s.close();
  }
  // The compacted snapshot still holds 'b': reopened as a writer at a clock before its expiry, it is there.
  const again = await openReplicatedStore({ dir, fsync: 'no', now: () => T0 });
  try {
    assert.equal(again.getValue('b')?.toString(), 'v-b');
    assert.equal(again.getValue('a'), undefined, 'the logged delete survived');
  } finally {
    await again.close();
  }
});

for (const fsync of ['always', 'everysec', 'no'] as FsyncPolicy[]) {
  test(`fsync ${fsync}: embedded reads that reported keys expired keep them gone after a crash and a restart with the clock an hour back`, async () => {
    const dir = newDir();
    const clock = manualClock(T0);
    const s = await openStore({ dir, fsync, now: clock.now });
    let copy: string;
    try {
      // The synchronous reads' keys expire later, so the scan below does not delete them first.
      await s.set('gone-get', 'x', { pxAt: T0 + 3000 });
      await s.set('gone-pttl', 'x', { pxAt: T0 + 3000 });
      await s.set('gone-delete', 'x', { pxAt: T0 + 1000 });
      await s.set('gone-scan', 'x', { pxAt: T0 + 1000 });
      await s.set('later', 'y', { pxAt: T0 + 10 * HOUR_MS });
      clock.set(T0 + 2000);
      assert.equal(await s.delete('gone-delete'), false);
      const seen: string[] = [];
      for await (const k of s.scanIterator({ match: 'gone-scan' })) seen.push(k.toString());
      assert.deepEqual(seen, []);
      clock.set(T0 + 4000);
      assert.equal(s.get('gone-get'), undefined);
      assert.equal(s.pttl('gone-pttl'), -2);
      // The crash happens right after the reads returned, before the loop turns again (no later flush or fsync).
      copy = crashCopy(dir);
    } finally {
      await s.close();
    }
    const back = await openStore({ dir: copy, fsync, now: () => T0 - HOUR_MS });
    try {
      for (const k of ['gone-get', 'gone-pttl', 'gone-delete', 'gone-scan']) assert.equal(back.get(k), undefined, `${k} came back`);
      assert.equal(back.get('later')?.toString(), 'y', 'a key never reported expired is still there');
    } finally {
      await back.close();
    }
  });
}
