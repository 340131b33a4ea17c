// The store's membership configurations (ReplicatedStore.memberConfigs): every applied 'members'
// entry adds one (local write, replica entry or records, recovery's replay), FLUSHALL and
// compaction keep them, snapshots carry them (format 5; format 4 still opens, without any),
// truncateAfter drops those it cuts, and a full resync's loader installs the source's.

import { setSnapshotVersion } from './helpers/damage.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openReplicatedStore as openStore } from '../src/storage/store.js';
import type { AppliedChange, ReplicatedStore } from '../src/storage/api.js';
import { Keyspace } from '../src/storage/keyspace.js';
import { readSnapshot, writeSnapshot } from '../src/storage/snapshot.js';
import type { Op } from '../src/storage/types.js';
import { CONFIGS_KEPT, encodeMemberConfig } from '../src/replication/core/member-config.js';
import type { ConfigAt, Member, MemberConfig } from '../src/replication/core/types.js';
import { tempDirsRemovedAfter } from './helpers/procs.js';

const tempDir = tempDirsRemovedAfter('kvts-members-');

/** Configuration `i`: voters n1..n3 and learner l<i> (each one distinct). */
function config(i: number): MemberConfig {
  const members = new Map<string, Member>();
  for (const n of [1, 2, 3]) members.set(`n${n}`, { address: `127.0.0.1:${7200 + n}`, voter: true, autoPromote: false });
  members.set(`l${i}`, { address: `127.0.0.1:${7300 + i}`, voter: false, autoPromote: true });
  return { members };
}

const membersOp = (i: number): Op => ({ t: 'members', config: encodeMemberConfig(config(i)) });
const setOp = (k: string): Op => ({ t: 'set', key: k, value: Buffer.from(k), expireAtMs: 0 });

/** Apply a members entry for configuration `i`; returns what the list should gain. */
function setConfig(s: ReplicatedStore, i: number): ConfigAt {
  return { seq: s.apply([membersOp(i)]).seq, config: config(i) };
}

test('members entries set configurations that FLUSHALL keeps and a restart replays, the newest CONFIGS_KEPT', async () => {
  const dir = tempDir();
  const want: ConfigAt[] = [];
  const s = await openStore({ dir, fsync: 'no' });
  try {
    s.apply([setOp('a')]);
    want.push(setConfig(s, 1));
    s.apply([setOp('b')]);
    want.push(setConfig(s, 2));
    s.apply([{ t: 'flushall' }]);
    assert.deepEqual(s.memberConfigs, want);
    assert.equal(s.size, 0);
  } finally {
    await s.close();
  }
  const again = await openStore({ dir, fsync: 'no' });
  try {
    assert.deepEqual(again.memberConfigs, want);
    for (let i = 3; i < CONFIGS_KEPT + 4; i++) want.push(setConfig(again, i));
    assert.deepEqual(again.memberConfigs, want.slice(-CONFIGS_KEPT));
  } finally {
    await again.close();
  }
  const third = await openStore({ dir, fsync: 'no' });
  try {
    assert.deepEqual(third.memberConfigs, want.slice(-CONFIGS_KEPT));
  } finally {
    await third.close();
  }
});

test('compaction writes the configurations into the snapshot: read back from it alone, and with the log replayed after it', async () => {
  const dir = tempDir();
  const want: ConfigAt[] = [];
  const s = await openStore({ dir, fsync: 'no' });
  try {
    want.push(setConfig(s, 1));
    s.apply([setOp('k')]);
    want.push(setConfig(s, 2));
    await s.compact();
    assert.deepEqual(s.memberConfigs, want);
  } finally {
    await s.close();
  }
  // Only the snapshot is left: the list must come from it.
  rmSync(join(dir, 'log'), { recursive: true, force: true });
  mkdirSync(join(dir, 'log'));
  const fromSnap = await openStore({ dir, fsync: 'no' });
  try {
    assert.deepEqual(fromSnap.memberConfigs, want);
    assert.equal(fromSnap.getValue('k')?.toString(), 'k');
    want.push(setConfig(fromSnap, 3));
  } finally {
    await fromSnap.close();
  }
  const replayed = await openStore({ dir, fsync: 'no' });
  try {
    assert.deepEqual(replayed.memberConfigs, want);
  } finally {
    await replayed.close();
  }
});

test('an entry applied again counts once; a snapshot holds only the configurations set up to its position (a later one comes back with the replay)', async () => {
  const dir = tempDir();
  const ks = new Keyspace();
  // The entry at 5 applied twice (as a replay over a state that holds it) counts once.
  for (const [seq, i] of [[2, 1], [5, 2], [5, 2]] as const) {
    ks.beginEntry(seq);
    ks.applyOp(membersOp(i));
  }
  assert.deepEqual(ks.memberConfigs, [
    { seq: 2, config: config(1) },
    { seq: 5, config: config(2) },
  ]);
  const res = await writeSnapshot({ dir, tmpName: 'x.tmp', finalName: 'x.snap', ks, position: { epoch: 1, seq: 3 }, history: [{ epoch: 1, startSeq: 1 }], aborted: () => false });
  assert.ok(res !== null);
  let got: ConfigAt[] | null = null;
  const r = readSnapshot(join(dir, 'x.snap'), () => undefined, undefined, (c) => (got = c));
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.deepEqual(got, [{ seq: 2, config: config(1) }]);
});

test('truncateAfter keeps exactly the configurations at or below the kept seq, also across a restart', async () => {
  const dir = tempDir();
  const s = await openStore({ dir, fsync: 'no' });
  let want: ConfigAt[] = [];
  try {
    s.apply([setOp('a')]);
    const c1 = setConfig(s, 1); // seq 2
    await s.compact(); // the snapshot at 2 holds c1
    const c2 = setConfig(s, 2); // seq 3
    s.apply([setOp('b')]);
    setConfig(s, 3); // seq 5
    s.apply([setOp('c')]);
    await s.truncateAfter(4);
    want = [c1, c2];
    assert.deepEqual(s.memberConfigs, want);
    await s.truncateAfter(2);
    want = [c1];
    assert.deepEqual(s.memberConfigs, want);
    want.push(setConfig(s, 4));
  } finally {
    await s.close();
  }
  const again = await openStore({ dir, fsync: 'no' });
  try {
    assert.deepEqual(again.memberConfigs, want);
  } finally {
    await again.close();
  }
});

test('a replica adds the configurations of the entries and records it applies; the replicated listener hears a members change', async () => {
  const src = await openStore({ dir: tempDir(), fsync: 'no' });
  const byEntry = await openStore({ dir: tempDir(), fsync: 'no' });
  const byRecords = await openStore({ dir: tempDir(), fsync: 'no' });
  try {
    const heard: AppliedChange[][] = [];
    assert.ok(byRecords.setReplicatedApplyListener !== undefined);
    byRecords.setReplicatedApplyListener((c) => heard.push([...c]));
    const records: Buffer[] = [];
    const ops: Op[][] = [[setOp('a')], [membersOp(1)], [setOp('b')], [membersOp(2)]];
    for (const o of ops) {
      const pos = src.apply(o);
      records.push(Buffer.from(src.lastRecord(pos.seq) as Buffer));
      byEntry.applyEntry({ epoch: pos.epoch, seq: pos.seq, ops: o });
    }
    byRecords.applyRecords(Buffer.concat(records));
    const want = [
      { seq: 2, config: config(1) },
      { seq: 4, config: config(2) },
    ];
    assert.deepEqual(src.memberConfigs, want);
    assert.deepEqual(byEntry.memberConfigs, want);
    assert.deepEqual(byRecords.memberConfigs, want);
    assert.deepEqual(heard, [[{ t: 'set', key: 'a', expireAtMs: 0, created: true }], [{ t: 'members' }], [{ t: 'set', key: 'b', expireAtMs: 0, created: true }], [{ t: 'members' }]]);
  } finally {
    await src.close();
    await byEntry.close();
    await byRecords.close();
  }
});

test('a full resync installs the source\'s configurations (durably), and a load without any leaves none', async () => {
  const src = await openStore({ dir: tempDir(), fsync: 'no' });
  const dstDir = tempDir();
  const dst = await openStore({ dir: dstDir, fsync: 'no' });
  try {
    src.apply([setOp('a')]);
    const want = [setConfig(src, 1), setConfig(src, 2)];
    setConfig(dst, 7);
    const exp = src.exportSnapshot();
    assert.deepEqual(exp.configs, want);
    const loader = dst.beginLoad();
    for await (const batch of exp.batches()) loader.add(batch);
    loader.setConfigs(exp.configs);
    await loader.commit(exp.from, exp.epochHistory);
    assert.deepEqual(dst.memberConfigs, want);
    assert.equal(dst.getValue('a')?.toString(), 'a');
  } finally {
    await src.close();
    await dst.close();
  }
  const again = await openStore({ dir: dstDir, fsync: 'no' });
  try {
    assert.equal(again.memberConfigs.length, 2);
    const empty = again.beginLoad();
    await empty.commit(again.lastPosition, again.epochHistory);
    assert.deepEqual(again.memberConfigs, []);
  } finally {
    await again.close();
  }
});


test('a format-4 snapshot (no configurations) still opens with its user table; a configs frame in one is refused', async () => {
  const dir = tempDir();
  const users = Buffer.from('[["default",["on","nopass","~*","&*","+@all"]]]');
  const s = await openStore({ dir, fsync: 'no' });
  try {
    s.apply([{ t: 'acl', users }]);
    s.apply([setOp('k')]);
    await s.compact();
  } finally {
    await s.close();
  }
  const snapDir = join(dir, 'snap');
  const snap = join(snapDir, readdirSync(snapDir).find((f) => f.endsWith('.snap')) as string);
  setSnapshotVersion(snap, 4);
  rmSync(join(dir, 'log'), { recursive: true, force: true });
  mkdirSync(join(dir, 'log'));
  const old = await openStore({ dir, fsync: 'no' });
  try {
    assert.deepEqual(old.aclUsers, users);
    assert.equal(old.getValue('k')?.toString(), 'k');
    assert.deepEqual(old.memberConfigs, []);
    setConfig(old, 1);
    await old.compact();
  } finally {
    await old.close();
  }
  const withConfigs = join(snapDir, readdirSync(snapDir).find((f) => f.endsWith('.snap')) as string);
  assert.ok(readSnapshot(withConfigs, () => undefined).ok);
  setSnapshotVersion(withConfigs, 4);
  const r = readSnapshot(withConfigs, () => undefined);
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.reason, /bad block frame \(kind 4/);
});
