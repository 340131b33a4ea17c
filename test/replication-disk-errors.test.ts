// A replica whose disk fails (in-process hosts over 127.0.0.1, the replica's log calls failing on
// demand): it stops applying without crashing and its store reports the error, the primary keeps
// taking writes, and once the replica restarts on its directory both reach one digest.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openReplicatedStore } from '../src/storage/store.js';
import { FaultyLogFs } from './helpers/faulty-log-fs.js';
import { waitFor } from './helpers/wait.js';
import { converged, digest, newHost, startReplNode, write, type ReplNode } from './helpers/repl-nodes.js';

type Node = ReplNode;

/** A node under everysec that stays read-only after a failure that discarded writes (as kv-server). */
function startNode(id: string, replicaOf: string | null, fs: FaultyLogFs | undefined): Promise<Node> {
  return startReplNode(id, replicaOf, {
    dirPrefix: 'kvts-repl-diskerr-',
    store: { fsync: 'everysec', onWarning: () => undefined, resumeAfterDiscard: false, ...(fs !== undefined ? { logFs: fs } : {}) },
  });
}

test('a replica whose disk fills stops applying and reports it; the primary keeps going; after a restart both reach one digest', async () => {
  const fs = new FaultyLogFs();
  const p = await startNode('p1', null, undefined);
  const r = await startNode('r1', p.address, fs);
  for (let i = 0; i < 50; i++) write(p, [{ t: 'set', key: `k${i}`, value: Buffer.from(`v${i}`), expireAtMs: 0 }]);
  await converged(p, r, 'r1 streams');

  fs.fail('write', 'ENOSPC');
  for (let i = 50; i < 100; i++) write(p, [{ t: 'set', key: `k${i}`, value: Buffer.from(`v${i}`), expireAtMs: 0 }]);
  await waitFor('the replica reports the failure', () => r.store.stats().logError !== null, { timeoutMs: 10_000 });
  assert.match(r.store.stats().logError ?? '', /MISCONF Errors writing to the log: ENOSPC/);
  // The primary keeps taking writes.
  for (let i = 100; i < 150; i++) write(p, [{ t: 'set', key: `k${i}`, value: Buffer.from(`v${i}`), expireAtMs: 0 }]);
  assert.ok(p.store.lastPosition.seq >= 150);
  // At its next step the replica's host sees its store behind its core and stops, without a crash.
  await waitFor('the replica stops replicating', () => r.logs.some((l) => l.includes('replication stopped') && l.includes('MISCONF')), { timeoutMs: 10_000 });
  assert.equal(p.store.stats().logError, null);
  assert.ok(r.store.lastPosition.seq < p.store.lastPosition.seq, 'the replica stopped applying');
  // The replica never shows a write its log does not hold: what it shows reopens identically.
  const shown = digest(r.store);
  const shownPos = r.store.lastPosition.seq;

  // The operator frees space and restarts the replica on its directory.
  fs.clear();
  await r.host.stop().catch(() => undefined);
  await r.store.close().catch(() => undefined);
  r.store = await openReplicatedStore({ dir: r.dir, fsync: 'everysec', onWarning: () => undefined });
  assert.equal(r.store.lastPosition.seq, shownPos);
  assert.equal(digest(r.store), shown);
  r.host = newHost(r, p.address);
  await r.host.start();
  for (let i = 150; i < 160; i++) write(p, [{ t: 'set', key: `k${i}`, value: Buffer.from(`v${i}`), expireAtMs: 0 }]);
  await converged(p, r, 'r1 catches up after the restart');
});

test('a primary whose disk fills stops replicating without a crash, serves reads; restarted, it and its replica reach one digest', async () => {
  const fs = new FaultyLogFs();
  const p = await startNode('p2', null, fs);
  const r = await startNode('r2', p.address, undefined);
  for (let i = 0; i < 50; i++) write(p, [{ t: 'set', key: `k${i}`, value: Buffer.from(`v${i}`), expireAtMs: 0 }]);
  await converged(p, r, 'r2 streams');

  fs.fail('write', 'ENOSPC');
  for (let i = 50; i < 60; i++) write(p, [{ t: 'set', key: `k${i}`, value: Buffer.from(`v${i}`), expireAtMs: 0 }]);
  await waitFor('the primary reports the failure', () => p.store.stats().logError !== null, { timeoutMs: 10_000 });
  await waitFor('the primary stops replicating', () => p.logs.some((l) => l.includes('replication stopped') && l.includes('MISCONF')), { timeoutMs: 10_000 });
  assert.equal(p.store.getValue('k10')?.toString(), 'v10', 'reads are served');
  assert.equal(p.store.getValue('k55'), undefined, 'no unlogged write is shown');

  fs.clear();
  await p.host.stop().catch(() => undefined);
  await p.store.close().catch(() => undefined);
  p.store = await openReplicatedStore({ dir: p.dir, fsync: 'everysec', onWarning: () => undefined });
  p.host = newHost(p, null);
  await p.host.start();
  for (let i = 60; i < 70; i++) write(p, [{ t: 'set', key: `k${i}`, value: Buffer.from(`v${i}`), expireAtMs: 0 }]);
  await converged(p, r, 'r2 follows the restarted primary');
});
