// Restore of a backup file (backup-restore.ts), in process: a backup's membership
// configurations (BEGIN's list, and membership entries among its log records) are not carried
// into the restored store, which starts a new cluster; the records around them, and their
// positions, are.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openReplicatedStore as openStore } from '../src/storage/store.js';
import type { Op } from '../src/storage/types.js';
import { BackupFileWriter, readBackupFile } from '../src/replication/host/backup-file.js';
import { restoreBackup } from '../src/replication/host/backup-restore.js';
import type { BackupBegin, BackupEnd } from '../src/replication/host/backup-send.js';
import { KIND_SNAP_BEGIN, KIND_SNAP_END, configsToWire, encodeMessage, encodeSnapshotChunk, encodeSnapshotHeader } from '../src/replication/host/framing.js';
import { encodeMemberConfig } from '../src/replication/core/member-config.js';
import type { Member, MemberConfig } from '../src/replication/core/types.js';
import { tempDirsRemovedAfter } from './helpers/procs.js';

const tempDir = tempDirsRemovedAfter('kvts-restore-');

const CONFIG: MemberConfig = {
  members: new Map<string, Member>([
    ['src', { address: '127.0.0.1:7201', voter: true, autoPromote: false }],
    ['other', { address: '127.0.0.1:7202', voter: true, autoPromote: false }],
  ]),
};

test('a restore keeps the records and positions of a backup but none of its membership configurations', async () => {
  const file = join(tempDir(), 'b.kvbackup');
  const from = { epoch: 1, seq: 2 };
  const history = [{ epoch: 1, startSeq: 1 }];
  const members: Op = { t: 'members', config: encodeMemberConfig(CONFIG) };
  const set = (key: string): Op => ({ t: 'set', key, value: Buffer.from(key), expireAtMs: 0 });
  const w = await BackupFileWriter.create(file);
  const begin: BackupBegin = { from, epochHistory: history, keys: 1, bytes: 0, nodeId: 'src', members: null, configs: configsToWire([{ seq: 2, config: CONFIG }]) };
  w.write(encodeSnapshotHeader(KIND_SNAP_BEGIN, begin));
  w.write(encodeSnapshotChunk(1, [{ key: 'snap', type: 'string', value: Buffer.from('v'), expireAtMs: 0 }]));
  const entries = [
    { epoch: 1, seq: 3, ops: [set('a')] },
    { epoch: 1, seq: 4, ops: [members] },
    { epoch: 1, seq: 5, ops: [set('b')] },
    { epoch: 1, seq: 6, ops: [members] },
  ];
  w.write(encodeMessage({ type: 'append', epoch: 1, prev: from, entries, commitSeq: 0 }));
  const end: BackupEnd = { from, epochHistory: history, keys: 1, bytes: 0, end: { epoch: 1, seq: 6 } };
  w.write(encodeSnapshotHeader(KIND_SNAP_END, end));
  await w.finish();
  const checked = readBackupFile(file);
  assert.ok(checked.ok, checked.ok ? '' : checked.error);
  const dir = join(tempDir(), 'restored');
  const r = await restoreBackup(file, dir, checked.summary, () => undefined);
  assert.ok(r.ok, r.ok ? '' : r.error);
  const s = await openStore({ dir, fsync: 'no' });
  try {
    assert.deepEqual(s.lastPosition, { epoch: 1, seq: 6 });
    assert.deepEqual(s.memberConfigs, []);
    for (const k of ['snap', 'a', 'b']) assert.ok(s.getValue(k) !== undefined, k);
  } finally {
    await s.close();
  }
});
