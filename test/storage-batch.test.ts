// The store's batches (beginBatch / commitBatch, what EXEC runs on): memory changes at once, the
// log gets one entry at commit, which recovery restores whole; an empty batch logs nothing; a
// batch no record can carry is rolled back like a failed log write; the touch listener hears of
// every applied op (WATCH).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { openReplicatedStore } from '../src/storage/store.js';
import { RECORD_OPS_MAX } from '../src/storage/record.js';
import { isKeyOp, type Op } from '../src/storage/types.js';
import { tempDir } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';

test('a batch is applied at once and logged as one entry that recovery restores whole', async () => {
  const dir = tempDir('kvts-batch-');
  try {
    const s = await openReplicatedStore({ dir, fsync: 'always' });
    await s.set('before', '0');
    const seq = s.lastPosition.seq;
    s.beginBatch();
    const scratch = Buffer.from('one');
    s.apply([{ t: 'set', key: 'a', value: scratch, expireAtMs: 0 }]);
    scratch.write('XXX'); // a command's scratch buffer reused by the next: the batch kept its own copy
    assert.equal(s.getValue('a')?.toString(), 'one', 'later commands see earlier effects');
    s.apply([{ t: 'hset', key: 'h', field: 'f', value: Buffer.from('v') }, { t: 'del', key: 'before' }]);
    assert.equal(s.lastPosition.seq, seq, 'no position until the commit');
    const r = s.commitBatch();
    assert.ok(r !== null && r.logged);
    assert.equal(r.pos.seq, seq + 1);
    assert.equal(r.ops.length, 3);
    assert.equal(s.lastPosition.seq, seq + 1);
    s.beginBatch();
    assert.equal(s.commitBatch(), null, 'an empty batch logs nothing');
    assert.equal(s.lastPosition.seq, seq + 1);
    await s.whenDurable(seq + 1);
    await s.close();
    const back = await openReplicatedStore({ dir });
    assert.equal(back.lastPosition.seq, seq + 1);
    assert.equal(back.getValue('a')?.toString(), 'one');
    assert.equal(back.getHash('h')?.get('f')?.toString(), 'v');
    assert.equal(back.has('before'), false);
    await back.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the touch listener hears every applied op, inside batches too, and nothing once removed', async () => {
  const dir = tempDir('kvts-batch-');
  try {
    const s = await openReplicatedStore({ dir });
    const heard: string[] = [];
    s.setTouchListener({ touched: (ops) => heard.push(...ops.map((o) => (isKeyOp(o) ? `${o.t}:${o.key}` : o.t))), touchedAll: () => heard.push('all') });
    s.apply([{ t: 'set', key: 'k', value: Buffer.from('1'), expireAtMs: 0 }]);
    s.beginBatch();
    s.apply([{ t: 'sadd', key: 's', member: 'm' }]);
    s.apply([{ t: 'flushall' }]);
    s.commitBatch();
    s.setTouchListener(null);
    s.apply([{ t: 'del', key: 'k' }]);
    assert.deepEqual(heard, ['set:k', 'sadd:s', 'flushall']);
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a batch too large for one record is rolled back like a failed log write, then writes resume', { timeout: 60_000 }, async () => {
  const dir = tempDir('kvts-batch-');
  try {
    const warnings: string[] = [];
    const s = await openReplicatedStore({ dir, onWarning: (m) => warnings.push(m) });
    await s.set('kept', '1');
    const seq = s.lastPosition.seq;
    s.beginBatch();
    s.apply([{ t: 'set', key: 'gone', value: Buffer.from('x'), expireAtMs: 0 }]);
    const dels: Op[] = Array.from({ length: RECORD_OPS_MAX }, () => ({ t: 'del', key: 'nothing' }));
    s.apply(dels);
    const r = s.commitBatch();
    assert.ok(r !== null && !r.logged, 'refused');
    assert.match(r.reason, /does not fit one log record/);
    assert.equal(s.lastPosition.seq, seq, 'no entry');
    assert.equal(s.has('gone'), false, 'nothing of the batch stays visible');
    assert.equal(s.getValue('kept')?.toString(), '1', 'earlier entries are kept');
    assert.match(s.writeRefusal ?? '', /^MISCONF .*does not fit one log record/);
    await waitFor('writes resume', () => s.writeRefusal === null, { timeoutMs: 10_000 });
    await s.set('after', '1');
    assert.equal(s.lastPosition.seq, seq + 1);
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a batch stamps the lists it changes with the entry it is logged as (replay over a snapshot skips exactly what the list holds)', async () => {
  const dir = tempDir('kvts-batch-');
  try {
    const s = await openReplicatedStore({ dir, fsync: 'always' });
    s.apply([{ t: 'rpush', key: 'L', values: [Buffer.from('a'), Buffer.from('b')] }]);
    const before = s.lastPosition.seq;
    assert.equal(s.getList('L')?.appliedSeq, before);
    s.beginBatch();
    s.apply([{ t: 'lpush', key: 'L', values: [Buffer.from('x')] }]);
    s.apply([{ t: 'rpop', key: 'L', count: 1 }]);
    const r = s.commitBatch();
    assert.ok(r !== null && r.logged);
    assert.deepEqual([...(s.getList('L')?.values() ?? [])], ['x', 'a'], 'every op of the batch applied');
    assert.equal(s.getList('L')?.appliedSeq, r.pos.seq, "the list carries the batch's entry as its stamp");
    await s.whenDurable(r.pos.seq);
    await s.close();
    const back = await openReplicatedStore({ dir });
    assert.deepEqual([...(back.getList('L')?.values() ?? [])], ['x', 'a']);
    await back.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
