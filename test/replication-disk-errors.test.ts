// Disk errors in a replication group (in-process hosts over 127.0.0.1, one member's log calls
// failing on demand): the faulty member never crashes nor shows an unlogged write, the others keep
// going, and once the disk recovers the member resumes in-process and every member reaches one
// digest. A failed replica stops applying and catches up after; a failed primary refuses writes
// (MISCONF), its replicas keep serving reads, and it resumes in a new epoch.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FaultyLogFs } from './helpers/faulty-log-fs.js';
import { waitFor } from './helpers/wait.js';
import { converged, digest, startReplNode, write, type ReplNode } from './helpers/repl-nodes.js';
import type { Op } from '../src/storage/types.js';

type Node = ReplNode;

function startNode(id: string, replicaOf: string | null, fs: FaultyLogFs | undefined): Promise<Node> {
  return startReplNode(id, replicaOf, {
    dirPrefix: 'kvts-repl-diskerr-',
    store: { fsync: 'everysec', onWarning: () => undefined, ...(fs !== undefined ? { logFs: fs } : {}) },
  });
}

const setOp = (i: number): Op[] => [{ t: 'set', key: `k${i}`, value: Buffer.from(`v${i}`), expireAtMs: 0 }];

/** Writes k<from>..k<to-1> on the primary, one turn each batch of ten (as clients would). */
async function writeRange(p: Node, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    if (p.store.writeRefusal !== null) return;
    write(p, setOp(i));
    if (i % 10 === 9) await new Promise<void>((r) => setImmediate(r));
  }
}

test('a replica whose disk fills stops applying and reports it; the primary keeps going; when space returns it catches up in-process', async () => {
  const fs = new FaultyLogFs();
  const p = await startNode('p1', null, undefined);
  const r = await startNode('r1', p.address, fs);
  await writeRange(p, 0, 50);
  await converged(p, r, 'r1 streams');

  fs.fail('write', 'ENOSPC');
  await writeRange(p, 50, 100);
  await waitFor('the replica reports the failure', () => r.store.stats().logError !== null, { timeoutMs: 10_000 });
  assert.match(r.store.stats().logError ?? '', /MISCONF Errors writing to the log: ENOSPC/);
  await waitFor('the replica core knows', () => r.host.status().logFailed, { timeoutMs: 10_000 });
  // The primary keeps taking writes; the replica applies none of them meanwhile.
  await writeRange(p, 100, 150);
  assert.equal(p.store.stats().logError, null);
  const stuck = r.store.lastPosition.seq;
  assert.ok(stuck < p.store.lastPosition.seq, 'the replica stopped applying');
  await new Promise<void>((res) => setTimeout(res, 200));
  assert.equal(r.store.lastPosition.seq, stuck, 'nothing applied while its log is down');
  assert.ok(!r.logs.some((l) => l.includes('replication stopped')), 'replication itself goes on');

  // Space returns: the store's retry succeeds, the replica handshakes from what it kept and catches up.
  fs.clear();
  await writeRange(p, 150, 160);
  await converged(p, r, 'r1 catches up without a restart');
  assert.equal(r.host.status().logFailed, false);
});

test('a primary whose disk fills refuses writes, its replica keeps serving reads; when space returns it resumes in a new epoch and the replica drops what the primary lost', async () => {
  const fs = new FaultyLogFs();
  const p = await startNode('p2', null, fs);
  const r = await startNode('r2', p.address, undefined);
  await writeRange(p, 0, 50);
  await converged(p, r, 'r2 streams');
  const epochBefore = p.host.status().epoch;

  fs.fail('write', 'ENOSPC');
  await writeRange(p, 50, 60);
  await waitFor('the primary reports the failure', () => p.store.writeRefusal !== null, { timeoutMs: 10_000 });
  await waitFor('the primary core knows', () => p.host.status().logFailed, { timeoutMs: 10_000 });
  assert.equal(p.host.acceptsWrites(), false);
  assert.equal(p.store.getValue('k10')?.toString(), 'v10', 'reads are served');
  assert.equal(p.store.getValue('k55'), undefined, 'no unlogged write is shown');
  assert.ok(r.host.readCheck().ok, 'the replica keeps serving reads');
  assert.equal(r.store.getValue('k10')?.toString(), 'v10');
  // The replica holds nothing the primary's log lacks (whatever it had received is cut at its handshake).
  await waitFor('the replica matches what the primary kept', () => r.store.lastPosition.seq === p.store.lastPosition.seq, { timeoutMs: 10_000 });
  assert.equal(digest(r.store), digest(p.store));

  fs.clear();
  await waitFor('the primary takes writes again', () => p.store.writeRefusal === null && p.host.acceptsWrites(), { timeoutMs: 10_000 });
  assert.ok(p.host.status().epoch > epochBefore, 'it resumed in a new epoch');
  await writeRange(p, 60, 70);
  await converged(p, r, 'r2 follows the resumed primary');
  assert.equal(r.store.getValue('k65')?.toString(), 'v65');
  // The replica can only have dropped entries the primary lost (in this schedule it had received them all).
  assert.ok(r.host.status().discardedEntries <= p.host.status().discardedEntries);
});
