// The store's record tap (setRecordTap, what a backup stream is fed by): every record the log
// appends reaches it once, in seq order, as the log's own bytes, whatever path wrote it (a write,
// a batch, records applied from elsewhere, an expiry delete); a truncation tells it `reset`; no
// tap, no calls.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { openReplicatedStore } from '../src/storage/store.js';
import { recordEndAt, recordSeqAt } from '../src/storage/record.js';
import type { RecordTap } from '../src/storage/api.js';
import { tempDir } from './helpers/procs.js';

function recorder(): RecordTap & { seqs: number[]; bytes: Buffer[]; resets: number } {
  const r = {
    seqs: [] as number[],
    bytes: [] as Buffer[],
    resets: 0,
    appended(records: Buffer): void {
      r.bytes.push(Buffer.from(records));
      for (let off = 0; off < records.length; off = recordEndAt(records, off)) r.seqs.push(recordSeqAt(records, off));
    },
    reset(): void {
      r.resets++;
    },
  };
  return r;
}

test('the tap gets every appended record once, in order, from writes, batches and applied records; truncation resets it', async () => {
  const dir = tempDir('kvts-tap-');
  const other = tempDir('kvts-tap-src-');
  try {
    const s = await openReplicatedStore({ dir, fsync: 'no' });
    await s.set('untapped', '0');
    const tap = recorder();
    s.setRecordTap(tap);
    const first = s.lastPosition.seq + 1;
    s.apply([{ t: 'set', key: 'a', value: Buffer.from('1'), expireAtMs: 0 }]);
    s.beginBatch();
    s.apply([{ t: 'hset', key: 'h', field: 'f', value: Buffer.from('v') }]);
    s.apply([{ t: 'del', key: 'a' }]);
    s.commitBatch();
    // Records written by another store, applied here as a replica would.
    const src = await openReplicatedStore({ dir: other, fsync: 'no' });
    const records: Buffer[] = [];
    src.setRecordTap({ appended: (b) => records.push(Buffer.from(b)), reset: () => assert.fail('no reset') });
    while (src.lastPosition.seq < s.lastPosition.seq) src.apply([{ t: 'set', key: 'pad', value: Buffer.from('p'), expireAtMs: 0 }]);
    records.length = 0;
    src.apply([{ t: 'set', key: 'b', value: Buffer.from('2'), expireAtMs: 0 }]);
    src.apply([{ t: 'sadd', key: 's', member: 'm' }]);
    s.applyRecords(Buffer.concat(records));
    assert.deepEqual(tap.seqs, [first, first + 1, first + 2, first + 3]);
    // What was tapped after `first` is, byte for byte, what applyRecords was given.
    assert.deepEqual(tap.bytes[tap.bytes.length - 1], Buffer.concat(records));
    s.setRecordTap(null);
    s.apply([{ t: 'set', key: 'after', value: Buffer.from('x'), expireAtMs: 0 }]);
    assert.equal(tap.seqs.length, 4, 'no calls once the tap is removed');
    s.setRecordTap(tap);
    await s.truncateAfter(first + 1);
    assert.equal(tap.resets, 1, 'a truncation tells the tap its records may be gone');
    await src.close();
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(other, { recursive: true, force: true });
  }
});
