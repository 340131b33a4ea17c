// The embedded API as `import { openStore } from 'kv-ts'` gives it: every documented method
// works, data survives a reopen, and the engine's replication interface is not reachable.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import * as root from '../src/index.js';
import { openStore } from '../src/index.js';
import { tempDir } from './helpers/procs.js';

/** Methods of the engine that must never be reachable from the package root's store. */
const INTERNAL_METHODS = [
  'apply', 'applyEntry', 'applyRecords', 'lastRecord', 'truncateAfter', 'beginEpoch', 'beginLoad',
  'exportSnapshot', 'readMeta', 'writeMeta', 'getStored', 'readValueInto', 'flush', 'whenDurable',
];

test('openStore from the package root: documented API works and survives a reopen', async () => {
  const dir = tempDir('kvts-embedded-');
  try {
    const s = await openStore({ dir, fsync: 'always' });
    const pos = await s.set('user:1', 'alice');
    assert.equal(pos.seq, 1);
    await s.set(Buffer.from('user:2'), Buffer.from('bob'), { px: 60_000 });
    assert.equal(s.get('user:1')?.toString(), 'alice');
    assert.ok(s.pttl('user:2') > 59_000 && s.pttl('user:2') <= 60_000);
    assert.equal(s.pttl('user:1'), -1);
    assert.equal(await s.expire('user:1', 30_000), true);
    assert.equal(await s.expire('missing', 30_000), false);
    assert.equal(await s.delete('user:2'), true);
    assert.equal(await s.delete('user:2'), false);
    await s.set('other', 'x');
    const keys: string[] = [];
    for await (const k of s.scanIterator({ match: 'user:*' })) keys.push(k.toString());
    assert.deepEqual(keys, ['user:1']);
    await s.compact();
    assert.equal(s.stats().keys, 2);
    await s.close();

    const r = await openStore({ dir });
    assert.equal(r.get('user:1')?.toString(), 'alice');
    assert.equal(r.get('user:2'), undefined);
    assert.equal(r.stats().lastPosition.seq, 5);
    await r.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the package root exposes no replication internals', async () => {
  const dir = tempDir('kvts-embedded-');
  try {
    const s = await openStore({ dir });
    const seen = s as unknown as Record<string, unknown>;
    for (const m of INTERNAL_METHODS) assert.equal(seen[m], undefined, `store.${m} must not be reachable`);
    assert.deepEqual(Object.keys(s), [], 'no own enumerable fields (the engine is held privately)');
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(
    Object.keys(root).sort(),
    ['CorruptLogError', 'DirectoryLockedError', 'StoreUnavailableError', 'ZERO_POSITION', 'comparePositions', 'formatPosition', 'openStore'],
  );
});
