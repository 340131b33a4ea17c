// Disk errors in a replication group (in-process hosts over 127.0.0.1, one member's log calls
// failing on demand): the faulty member never crashes nor shows an unlogged write, the others keep
// going, and once the disk recovers the member resumes in-process and every member reaches one
// digest. A failed replica stops applying and catches up after; a failed primary refuses writes
// (MISCONF), its replicas keep serving reads, and it resumes in a new epoch. In cluster mode a
// primary whose disk fails steps down and another member takes over; a follower whose disk fails
// stops applying; either rejoins and catches up once its disk recovers. A seeded run of rounds
// fails a random member's log under writes (KV_LONG=1: 12 rounds; KV_SEED replays).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FaultyLogFs } from './helpers/faulty-log-fs.js';
import { waitFor } from './helpers/wait.js';
import { converged, digest, startReplCluster, startReplNode, write, type ReplNode } from './helpers/repl-nodes.js';
import type { Op } from '../src/storage/types.js';
import { rng, testSeed } from './helpers/rng.js';

const LONG = process.env['KV_LONG'] === '1';

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

test('a primary whose disk fails while it streams a full resync ends that stream; the replica loads a snapshot without the lost writes and both reach one digest', async () => {
  const fs = new FaultyLogFs();
  const p = await startNode('p3', null, fs);
  for (let i = 0; i < 30_000; i++) write(p, setOp(i));
  await new Promise<void>((res) => setImmediate(res));
  const r = await startNode('r3', p.address, undefined);
  await waitFor('the full resync is streaming', () => r.host.status().sync === 'loading', { timeoutMs: 10_000, intervalMs: 1 });
  // The fuzzy snapshot walks the live keyspace: these writes could reach the replica through it.
  fs.fail('write', 'ENOSPC');
  for (let i = 0; i < 10; i++) write(p, [{ t: 'set', key: `lost${i}`, value: Buffer.from('x'), expireAtMs: 0 }]);
  await waitFor('the primary core knows', () => p.host.status().logFailed, { timeoutMs: 10_000 });
  assert.ok(p.logs.some((l) => l.includes('the log failed during a full resync')), 'the stream in flight was ended');
  await waitFor('the replica loaded what the primary kept', () => r.store.lastPosition.seq === p.store.lastPosition.seq && r.host.status().sync === 'streaming', { timeoutMs: 20_000 });
  assert.equal(r.store.getValue('lost0'), undefined, 'no discarded write reached the replica');
  fs.clear();
  await waitFor('the primary takes writes again', () => p.host.acceptsWrites(), { timeoutMs: 10_000 });
  await writeRange(p, 40_000, 40_010);
  await converged(p, r, 'r3 follows the resumed primary');
});

// ------------------------------------------------------------------ cluster mode

const CLUSTER_TIMING = { heartbeatIntervalMs: 50, electionTimeoutMinMs: 300, electionTimeoutMaxMs: 600 };

async function startCluster(prefix: string): Promise<{ nodes: Node[]; fs: Map<string, FaultyLogFs> }> {
  const ids = [1, 2, 3].map((i) => `${prefix}${i}`);
  const fs = new Map(ids.map((id) => [id, new FaultyLogFs()] as const));
  const nodes = await startReplCluster(ids, {
    dirPrefix: 'kvts-cluster-diskerr-',
    timing: CLUSTER_TIMING,
    store: { fsync: 'everysec', onWarning: () => undefined },
    storeFor: (id) => ({ logFs: fs.get(id) as FaultyLogFs }),
  });
  return { nodes, fs };
}

async function writablePrimary(nodes: readonly Node[], except?: Node): Promise<Node> {
  return waitFor('a primary that takes writes', () => nodes.find((n) => n !== except && n.host.role === 'primary' && n.host.acceptsWrites()) ?? null, { timeoutMs: 15_000 });
}

async function allConverged(nodes: readonly Node[], what: string): Promise<void> {
  const [first, ...rest] = nodes as [Node, ...Node[]];
  for (const n of rest) await converged(first, n, `${what} (${n.id})`);
}

test('cluster: a primary whose disk fails steps down, another member takes over; when the disk recovers it rejoins and every member reaches one digest', async () => {
  const { nodes, fs } = await startCluster('cp');
  const p = await writablePrimary(nodes);
  await writeRange(p, 0, 30);
  await allConverged(nodes, 'the cluster streams');
  const epochBefore = p.host.status().epoch;

  (fs.get(p.id) as FaultyLogFs).fail('write', 'ENOSPC');
  await writeRange(p, 30, 40);
  await waitFor('the failed primary steps down', () => p.host.status().logFailed && p.host.role !== 'primary', { timeoutMs: 10_000 });
  const q = await writablePrimary(nodes, p);
  assert.ok(q.host.status().epoch > epochBefore);
  await writeRange(q, 100, 130);
  // The failed member serves reads of what its log kept, applies nothing new and never leads.
  assert.equal(p.store.getValue('k10')?.toString(), 'v10');
  await new Promise<void>((res) => setTimeout(res, 2 * CLUSTER_TIMING.electionTimeoutMaxMs));
  assert.notEqual(p.host.role, 'primary', 'a member whose log is down does not campaign');
  assert.equal(p.store.getValue('k120'), undefined);

  (fs.get(p.id) as FaultyLogFs).clear();
  await waitFor('its log takes writes again', () => !p.host.status().logFailed, { timeoutMs: 10_000 });
  const leader = await writablePrimary(nodes);
  await writeRange(leader, 130, 140);
  await allConverged(nodes, 'the recovered member catches up');
  assert.equal(p.store.getValue('k135')?.toString(), 'v135');
});

test('cluster: a follower whose disk fails stops applying and reports it, the primary keeps committing with the other; recovered, it catches up', async () => {
  const { nodes, fs } = await startCluster('cf');
  const p = await writablePrimary(nodes);
  await writeRange(p, 0, 20);
  await allConverged(nodes, 'the cluster streams');
  const f = nodes.find((n) => n !== p) as Node;
  (fs.get(f.id) as FaultyLogFs).fail('write', 'ENOSPC');
  await writeRange(p, 20, 40);
  await waitFor('the follower reports the failure', () => f.host.status().logFailed && f.store.writeRefusal !== null, { timeoutMs: 10_000 });
  const commitBefore = p.host.status().commitSeq;
  await writeRange(p, 40, 60);
  await waitFor('the primary commits with the other follower', () => p.host.status().commitSeq >= p.store.lastPosition.seq && p.host.status().commitSeq > commitBefore, { timeoutMs: 10_000 });
  assert.ok(f.store.lastPosition.seq < p.store.lastPosition.seq, 'the failed follower applied nothing new');
  assert.ok(p.host.acceptsWrites(), 'the primary stays primary');

  (fs.get(f.id) as FaultyLogFs).clear();
  await writeRange(p, 60, 70);
  await allConverged(nodes, 'the recovered follower catches up');
});

test(`cluster: ${LONG ? 12 : 2} rounds of a random member's disk failing under writes (primary or follower, write or fsync errors); each round ends in one digest`, async () => {
  const r = rng(testSeed(41));
  const { nodes, fs } = await startCluster('cr');
  let next = 0;
  for (let round = 0; round < (LONG ? 12 : 2); round++) {
    const victim = r.pick(nodes);
    const f = fs.get(victim.id) as FaultyLogFs;
    f.fail(r.next() < 0.5 ? 'write' : 'fsync', r.next() < 0.5 ? 'ENOSPC' : 'EIO');
    // Writes go to whoever leads; the victim may be it, and may step down halfway.
    const deadline = Date.now() + 1000;
    while (Date.now() < deadline) {
      const p = nodes.find((n) => n.host.role === 'primary' && n.host.acceptsWrites() && n.store.writeRefusal === null);
      if (p !== undefined) await writeRange(p, next, next + 20);
      next += 20;
      await new Promise<void>((res) => setTimeout(res, 20));
    }
    f.clear();
    await waitFor(`round ${round}: ${victim.id}'s log takes writes again`, () => nodes.every((n) => !n.host.status().logFailed), { timeoutMs: 10_000 });
    const p = await writablePrimary(nodes);
    await writeRange(p, next, next + 5);
    next += 5;
    await allConverged(nodes, `round ${round} (victim ${victim.id})`);
  }
});
