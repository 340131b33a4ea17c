// The store under a failing disk (injected through StoreOptions.logFs): a failed log write or
// fsync never throws out of the engine, never acknowledges a write the log did not keep, rolls
// memory back to what the log kept, refuses writes while failed, resumes by itself once a retry
// succeeds, and a reopen finds every acknowledged write and none of the refused ones.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { openReplicatedStore } from '../src/storage/store.js';
import type { ReplicatedStore } from '../src/storage/api.js';
import type { FsyncPolicy } from '../src/storage/types.js';
import { FaultyLogFs } from './helpers/faulty-log-fs.js';
import { tempDir } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';

/** A retry runs every LOG_RETRY_INTERVAL_MS; this leaves room for a few. */
const RESUME_DEADLINE_MS = 5000;

function text(b: Buffer | undefined): string | undefined {
  return b === undefined ? undefined : b.toString();
}

async function withStore(fsync: FsyncPolicy, fn: (store: ReplicatedStore, fs: FaultyLogFs, dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir('kvts-diskerr-');
  const fs = new FaultyLogFs();
  const warnings: string[] = [];
  const store = await openReplicatedStore({ dir, fsync, logFs: fs, onWarning: (m) => warnings.push(m) });
  try {
    await fn(store, fs, dir);
  } finally {
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Reopen the directory on the real file system and read `keys`. */
async function reopenAndRead(dir: string, keys: readonly string[]): Promise<Record<string, string | undefined>> {
  const s = await openReplicatedStore({ dir, onWarning: () => undefined });
  try {
    const out: Record<string, string | undefined> = {};
    for (const k of keys) out[k] = text(s.get(k));
    return out;
  } finally {
    await s.close();
  }
}

async function resumed(store: ReplicatedStore): Promise<void> {
  await waitFor('log writes resumed', () => store.stats().logError === null, { timeoutMs: RESUME_DEADLINE_MS });
}

for (const fsync of ['always', 'everysec', 'no'] as const) {
  test(`ENOSPC on a log write under ${fsync}: refused, rolled back, writes refused until space returns, restart keeps the acknowledged`, async () => {
    await withStore(fsync, async (store, fs, dir) => {
      await store.set('a', '1');
      fs.fail('write', 'ENOSPC', { short: true });
      // Three writes of one turn share the failing write.
      const results = await Promise.allSettled([store.set('b', '2'), store.set('c', '3'), store.delete('a')]);
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        assert.match(String((r as PromiseRejectedResult).reason), /Errors writing to the log: ENOSPC/);
      }
      // Memory shows none of them.
      assert.equal(text(store.get('a')), '1');
      assert.equal(store.get('b'), undefined);
      assert.equal(store.get('c'), undefined);
      const st = store.stats();
      assert.match(st.logError ?? '', /^MISCONF Errors writing to the log: ENOSPC: no space left on device/);
      assert.ok((st.logErrorSinceMs ?? 0) > 0);
      assert.ok((st.logWriteErrors ?? 0) >= 1);
      assert.match(store.writeRefusal ?? '', /^MISCONF /);
      // Refused while failed, at once and without touching memory.
      await assert.rejects(store.set('d', '4'), /MISCONF Errors writing to the log/);
      assert.equal(store.get('d'), undefined);
      fs.clear();
      await resumed(store);
      assert.equal(store.writeRefusal, null);
      await store.set('e', '5');
      assert.equal(text(store.get('e')), '5');
      await store.close();
      assert.deepEqual(await reopenAndRead(dir, ['a', 'b', 'c', 'd', 'e']), { a: '1', b: undefined, c: undefined, d: undefined, e: '5' });
    });
  });
}

test('a failing retry keeps the store refusing; the fault clearing later resumes it', async () => {
  await withStore('everysec', async (store, fs, dir) => {
    await store.set('a', '1');
    fs.fail('write', 'ENOSPC');
    await assert.rejects(store.set('b', '2'));
    // The retry's probe write fails too: still refused, the error still named.
    await waitFor('a failed retry', () => fs.failures.write >= 2, { timeoutMs: RESUME_DEADLINE_MS });
    assert.match(store.stats().logError ?? '', /ENOSPC/);
    await assert.rejects(store.set('c', '3'), /MISCONF/);
    fs.clear();
    await resumed(store);
    await store.set('d', '4');
    await store.close();
    assert.deepEqual(await reopenAndRead(dir, ['a', 'b', 'c', 'd']), { a: '1', b: undefined, c: undefined, d: '4' });
  });
});

test('EIO on fsync under always: the write is refused and rolled back (never acknowledged), then the store resumes', async () => {
  await withStore('always', async (store, fs, dir) => {
    await store.set('a', '1');
    fs.fail('fsync', 'EIO', { times: 1 });
    await assert.rejects(store.set('b', '2'), /Errors writing to the log: EIO/);
    assert.equal(store.get('b'), undefined);
    assert.equal(text(store.get('a')), '1');
    await resumed(store);
    await store.set('c', '3');
    await store.close();
    assert.deepEqual(await reopenAndRead(dir, ['a', 'b', 'c']), { a: '1', b: undefined, c: '3' });
  });
});

test('EIO on fsync under everysec: writes already acknowledged are kept and rewritten before the store resumes', async () => {
  await withStore('everysec', async (store, fs, dir) => {
    await store.set('a', '1');
    fs.fail('fsync', 'EIO', { times: 2 }); // the background fsync and the first retry fail
    await store.set('b', '2'); // acknowledged at the write under everysec
    await waitFor('the fsync failure', () => store.stats().logError !== null, { timeoutMs: RESUME_DEADLINE_MS });
    assert.equal(text(store.get('b')), '2', 'an acknowledged write stays');
    await assert.rejects(store.set('c', '3'), /MISCONF Errors writing to the log: EIO/);
    await resumed(store);
    assert.equal(fs.failures.fsync, 2);
    await store.set('d', '4');
    await store.close();
    assert.deepEqual(await reopenAndRead(dir, ['a', 'b', 'c', 'd']), { a: '1', b: '2', c: undefined, d: '4' });
  });
});

test('the Nth write fails once: earlier turns are kept, that turn is refused, later turns go through after the retry', async () => {
  await withStore('everysec', async (store, fs, dir) => {
    for (let i = 0; i < 5; i++) await store.set(`k${i}`, String(i));
    fs.fail('write', 'ENOSPC', { after: 2, times: 1 });
    const outcomes: string[] = [];
    for (let i = 5; i < 10; i++) {
      outcomes.push(
        await store.set(`k${i}`, String(i)).then(
          () => 'ok',
          () => 'refused',
        ),
      );
      if (outcomes[outcomes.length - 1] === 'refused') await resumed(store);
    }
    assert.deepEqual(outcomes, ['ok', 'ok', 'refused', 'ok', 'ok']);
    await store.close();
    const got = await reopenAndRead(dir, Array.from({ length: 10 }, (_, i) => `k${i}`));
    assert.deepEqual(got, { k0: '0', k1: '1', k2: '2', k3: '3', k4: '4', k5: '5', k6: '6', k7: undefined, k8: '8', k9: '9' });
  });
});

test('a failure while segments rotate (fsync of the sealed segment) is refused, not thrown', async () => {
  const dir = tempDir('kvts-diskerr-rot-');
  const fs = new FaultyLogFs();
  const store = await openReplicatedStore({ dir, fsync: 'everysec', logFs: fs, segmentBytesMax: 4096, onWarning: () => undefined });
  try {
    const value = 'x'.repeat(1000);
    for (let i = 0; i < 3; i++) await store.set(`r${i}`, value);
    fs.fail('fsync', 'EIO', { times: 1 });
    // The next writes fill the segment: the rotation's fsync fails inside the append.
    const results = await Promise.allSettled([store.set('r3', value), store.set('r4', value)]);
    assert.ok(results.some((r) => r.status === 'rejected'), 'some write met the failed rotation');
    await resumed(store);
    const kept = results.map((r, i) => (r.status === 'fulfilled' ? `r${i + 3}` : null)).filter((k): k is string => k !== null);
    await store.set('r5', value);
    await store.close();
    const got = await reopenAndRead(dir, ['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
    for (const k of ['r0', 'r1', 'r2', 'r5', ...kept]) assert.equal(got[k], value, k);
    for (const [i, r] of results.entries()) if (r.status === 'rejected') assert.equal(got[`r${i + 3}`], undefined);
  } finally {
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('resumeAfterDiscard false: a failure that discarded writes is permanent; one that discarded none still resumes', async () => {
  const dir = tempDir('kvts-diskerr-nores-');
  const fs = new FaultyLogFs();
  let store = await openReplicatedStore({ dir, fsync: 'everysec', logFs: fs, resumeAfterDiscard: false, onWarning: () => undefined });
  try {
    await store.set('a', '1');
    // A background fsync fails with nothing buffered: nothing discarded, so the store resumes.
    fs.fail('fsync', 'EIO', { times: 1 });
    await waitFor('the fsync failure', () => (store.stats().logWriteErrors ?? 0) >= 1, { timeoutMs: RESUME_DEADLINE_MS });
    await resumed(store);
    await store.set('b', '2');
    // A failed write discards its turn: read-only until reopened.
    fs.fail('write', 'ENOSPC', { times: 1 });
    await assert.rejects(store.set('c', '3'), /ENOSPC/);
    assert.match(store.stats().logError ?? '', /1 unlogged write\(s\) after seq 2 were discarded: restart the server/);
    await assert.rejects(store.set('d', '4'), /restart the server/);
    await store.close().catch(() => undefined);
    store = await openReplicatedStore({ dir, fsync: 'everysec', logFs: fs, resumeAfterDiscard: false, onWarning: () => undefined });
    assert.equal(store.stats().logError, null);
    assert.deepEqual(['a', 'b', 'c', 'd'].map((k) => text(store.get(k))), ['1', '2', undefined, undefined]);
    await store.set('e', '5');
  } finally {
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a log failure during a compaction aborts it; the store resumes and a reopen has every acknowledged key', async () => {
  await withStore('everysec', async (store, fs, dir) => {
    const keys = Array.from({ length: 2000 }, (_, i) => `c${i}`);
    await Promise.all(keys.map((k) => store.set(k, k)));
    const compaction = store.compact();
    fs.fail('write', 'ENOSPC', { times: 1 });
    await assert.rejects(store.set('x', '1'), /ENOSPC/);
    await compaction.catch(() => undefined);
    await resumed(store);
    await store.compact(); // and a later compaction completes
    assert.equal(store.stats().compactions, 1);
    await store.close();
    const got = await reopenAndRead(dir, [...keys, 'x']);
    for (const k of keys) assert.equal(got[k], k);
    assert.equal(got['x'], undefined);
  });
});
