// The store's function library table (ReplicatedStore.functionLibraries): a 'functions' op
// replaces it, FLUSHALL keeps it, a restart replays it, snapshots carry it (format 6; format 5
// still opens, without one), and a full resync's loader installs the source's.

import { setSnapshotVersion } from './helpers/damage.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openReplicatedStore as openStore } from '../src/storage/store.js';
import type { AppliedChange } from '../src/storage/api.js';
import { decodeRecord, encodeRecord } from '../src/storage/record.js';
import { readSnapshot } from '../src/storage/snapshot.js';
import type { Op } from '../src/storage/types.js';
import { tempDirsRemovedAfter } from './helpers/procs.js';

const tempDir = tempDirsRemovedAfter('kvts-functions-');

const table = (i: number): Buffer => Buffer.from(JSON.stringify([[`lib${i}`, `#!lua name=lib${i}\nredis.register_function('f${i}', function() return ${i} end)`]]));
const functionsOp = (i: number): Op => ({ t: 'functions', libraries: table(i) });
const setOp = (k: string): Op => ({ t: 'set', key: k, value: Buffer.from(k), expireAtMs: 0 });

test('a functions op round-trips through a record beside key ops', () => {
  const ops: Op[] = [setOp('a'), functionsOp(1), { t: 'functions', libraries: Buffer.alloc(0) }];
  const d = decodeRecord(encodeRecord(2, 9, ops), 0);
  assert.ok(d.ok);
  if (d.ok) assert.deepEqual(d.entry.ops.map((o) => (o.t === 'functions' ? o.libraries.toString() : o.t)), ['set', table(1).toString(), '']);
});

test('the table survives FLUSHALL and a restart (replay), the newest op wins, and the replicated listener hears it', async () => {
  const dir = tempDir();
  const s = await openStore({ dir, fsync: 'no' });
  try {
    assert.equal(s.functionLibraries, null);
    s.apply([functionsOp(1)]);
    s.apply([setOp('k'), functionsOp(2)]);
    s.apply([{ t: 'flushall' }]);
    assert.deepEqual(s.functionLibraries, table(2));
    assert.equal(s.getValue('k') ?? null, null);
  } finally {
    await s.close();
  }
  const again = await openStore({ dir, fsync: 'no' });
  try {
    assert.deepEqual(again.functionLibraries, table(2));
    // A replica's records: the table follows, and the replicated listener hears it (the server reloads its libraries).
    const heard: AppliedChange[] = [];
    const src = await openStore({ dir: tempDir(), fsync: 'no' });
    const replica = await openStore({ dir: tempDir(), fsync: 'no' });
    try {
      replica.setReplicatedApplyListener?.((c) => heard.push(...c));
      const pos = src.apply([functionsOp(3)]);
      replica.applyRecords(Buffer.from(src.lastRecord(pos.seq) as Buffer));
      assert.deepEqual(replica.functionLibraries, table(3));
      assert.deepEqual(heard, [{ t: 'functions' }]);
    } finally {
      await src.close();
      await replica.close();
    }
  } finally {
    await again.close();
  }
});


test('compaction writes the table into the snapshot: read back from it alone, then with a later op replayed after it; format 5 refuses a functions frame', async () => {
  const dir = tempDir();
  const s = await openStore({ dir, fsync: 'no' });
  try {
    s.apply([functionsOp(1), setOp('a')]);
    await s.compact();
  } finally {
    await s.close();
  }
  const snapDir = join(dir, 'snap');
  const snap = join(snapDir, readdirSync(snapDir).find((f) => f.endsWith('.snap')) as string);
  let got: Buffer | null = null;
  assert.ok(readSnapshot(snap, () => undefined, undefined, undefined, (l) => (got = l)).ok);
  assert.deepEqual(got, table(1));
  rmSync(join(dir, 'log'), { recursive: true, force: true });
  mkdirSync(join(dir, 'log'));
  const alone = await openStore({ dir, fsync: 'no' });
  try {
    assert.deepEqual(alone.functionLibraries, table(1));
    assert.equal(alone.getValue('a')?.toString(), 'a');
    alone.apply([functionsOp(4)]);
  } finally {
    await alone.close();
  }
  const replayed = await openStore({ dir, fsync: 'no' });
  try {
    assert.deepEqual(replayed.functionLibraries, table(4));
  } finally {
    await replayed.close();
  }
  setSnapshotVersion(snap, 5);
  const r = readSnapshot(snap, () => undefined);
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.reason, /bad block frame \(kind 5/);
});

test('a full resync installs the source\'s table durably', async () => {
  const src = await openStore({ dir: tempDir(), fsync: 'no' });
  const dstDir = tempDir();
  const dst = await openStore({ dir: dstDir, fsync: 'no' });
  try {
    src.apply([setOp('a'), functionsOp(5)]);
    const exp = src.exportSnapshot();
    assert.deepEqual(exp.functions, table(5));
    const loader = dst.beginLoad();
    for await (const batch of exp.batches()) loader.add(batch);
    if (exp.functions !== null) loader.setFunctions(exp.functions);
    await loader.commit(exp.from, exp.epochHistory);
    assert.deepEqual(dst.functionLibraries, table(5));
  } finally {
    await src.close();
    await dst.close();
  }
  const again = await openStore({ dir: dstDir, fsync: 'no' });
  try {
    assert.deepEqual(again.functionLibraries, table(5));
  } finally {
    await again.close();
  }
});
