// Live membership changes with real processes: a node started with --join becomes a voter once
// caught up and holds the same data; MEMBER ADD ... LEARNER stays a learner until MEMBER
// PROMOTE; MEMBER REMOVE of a replica and of the primary (the removed node refuses writes, the
// rest keep committing quorum writes and elect a new primary); a restart of every node keeps
// the configuration (the removed nodes stay removed); MEMBER ADDRESS after a member restarted on
// a new port. The tests share one cluster and run in order.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { connectResp } from '../src/client/resp-conn.js';
import { parseMemberList, type MemberView } from '../src/replication/cluster/member-list-reply.js';
import { callWithin, replyText } from './helpers/call.js';
import { Cluster } from './helpers/cluster.js';
import { waitFor } from './helpers/wait.js';

/** A membership change commits once a majority of voters holds it; a loaded machine may take seconds. */
const CHANGE_WAIT_MS = 30_000;
const ERR_REMOVED = 'ERR this node was removed from the cluster';

let cluster: Cluster;
let primary = '';
/** Nodes removed so far: they keep running (they must keep saying so) but are no longer members. */
const removed: string[] = [];

before(async () => {
  // Direct links (no proxies): joined nodes dial and are dialled at the addresses in the configuration.
  cluster = await Cluster.start({ nodes: 3, proxies: false });
});

after(async () => {
  await cluster?.stop();
});

function members(): string[] {
  return cluster.nodes.map((n) => n.id).filter((id) => !removed.includes(id));
}

async function ok(id: string, args: readonly string[], timeoutMs?: number): Promise<string | null> {
  const r = await cluster.call(id, args, timeoutMs);
  assert.ok(r.ok, `${id} ${args.join(' ')}: ${r.ok ? '' : r.error}\n${cluster.logs()}`);
  if (r.reply.type === 'error') assert.fail(`${id} ${args.join(' ')} → -${r.reply.message}\n${cluster.logs()}`);
  return replyText(r.reply);
}

/** MEMBER LIST of a node: id → entry; null when it does not answer with a list. */
async function memberList(id: string): Promise<Map<string, MemberView> | null> {
  const r = await cluster.call(id, ['MEMBER', 'LIST']);
  const list = r.ok ? parseMemberList(r.reply) : null;
  return list === null ? null : new Map(list.map((m) => [m.id, m]));
}

/** Wait until the primary lists `id` with `role` in a committed configuration. */
async function waitListed(id: string, role: 'voter' | 'learner'): Promise<Map<string, MemberView>> {
  return waitFor(
    `${id} listed as a ${role} by the primary`,
    async () => {
      const p = await cluster.primary();
      const l = p === null ? null : await memberList(p);
      const m = l?.get(id);
      return m !== undefined && m.role === role && m.configCommitted ? l : null;
    },
    { timeoutMs: CHANGE_WAIT_MS, intervalMs: 100 },
  ).catch((e: unknown) => {
    cluster.printLogs();
    throw e;
  });
}

async function waitInfo(id: string, field: string, value: string): Promise<void> {
  await waitFor(`${id} INFO ${field}:${value}`, async () => (await cluster.replicationInfo(id))?.get(field) === value, { timeoutMs: CHANGE_WAIT_MS, intervalMs: 100 });
}

async function waitRemovedAnswer(id: string): Promise<void> {
  await waitFor(
    `${id} answering writes with '${ERR_REMOVED}'`,
    async () => {
      const r = await cluster.call(id, ['SET', 'on-removed', '1']);
      return r.ok && r.reply.type === 'error' && r.reply.message === ERR_REMOVED;
    },
    { timeoutMs: CHANGE_WAIT_MS, intervalMs: 100 },
  );
}

/** A write acknowledged only once a majority of the voters holds it (CONSISTENCY QUORUM). */
async function quorumSet(id: string, key: string, value: string): Promise<void> {
  const c = await connectResp('127.0.0.1', cluster.node(id).clientPort);
  assert.ok(c.ok, c.ok ? '' : c.error);
  try {
    const mode = await callWithin(c.conn, ['CONSISTENCY', 'QUORUM'], 5_000);
    assert.ok(mode.ok && mode.reply.type === 'simple', JSON.stringify(mode));
    const r = await callWithin(c.conn, ['SET', key, value], 10_000);
    assert.ok(r.ok && r.reply.type === 'simple', `${id} quorum SET ${key}: ${JSON.stringify(r)}\n${cluster.logs()}`);
  } finally {
    c.conn.close();
  }
}

test('a node started with --join is added as a learner, catches up, is promoted to voter and holds the same data', async () => {
  primary = await cluster.waitForPrimary();
  for (let i = 0; i < 300; i++) await ok(primary, ['SET', `before-join:${i}`, String(i)]);
  // Ask a member that may be a replica: the join follows its redirect to the primary.
  const seed = cluster.nodes.find((n) => n.id !== primary)?.id as string;
  await cluster.join('n4', seed);
  const list = await waitListed('n4', 'voter');
  assert.deepEqual([...list.keys()].sort(), ['n1', 'n2', 'n3', 'n4']);
  assert.equal(list.get('n4')?.address, cluster.node('n4').address);
  await waitInfo('n4', 'member_role', 'voter');
  const info = await cluster.replicationInfo(primary);
  assert.equal(info?.get('voters'), 'n1,n2,n3,n4');
  assert.equal(info?.get('learners'), '');
  assert.equal(info?.get('config_committed'), '1');
  assert.ok(Number(info?.get('config_seq')) > 0, 'the change is an entry of the log');
  await ok(primary, ['SET', 'after-join', '1']);
  await cluster.waitConverged(CHANGE_WAIT_MS, members());
  assert.equal(await ok('n4', ['GET', 'before-join:299']), '299');
});

test('MEMBER ADD ... LEARNER stays a learner once caught up, until MEMBER PROMOTE', async () => {
  primary = await cluster.waitForPrimary();
  const n5 = await cluster.newNode('n5');
  assert.equal(await ok(primary, ['MEMBER', 'ADD', 'n5', n5.address, 'LEARNER'], CHANGE_WAIT_MS), 'OK');
  // The node finds itself already listed (a learner at its address) and starts as one.
  await cluster.join('n5', primary);
  await ok(primary, ['SET', 'learner-probe', '1']);
  await cluster.waitConverged(CHANGE_WAIT_MS, members());
  await waitInfo('n5', 'member_role', 'learner');
  // Caught up (same digest), one more committed write later: still a learner, and it counts for no majority.
  await quorumSet(primary, 'learner-still', '1');
  assert.equal((await memberList(primary))?.get('n5')?.role, 'learner');
  assert.equal((await cluster.replicationInfo(primary))?.get('learners'), 'n5');
  assert.equal((await cluster.replicationInfo(primary))?.get('kv_cluster_majority'), '3', '4 voters: a majority is 3, the learner not counted');
  assert.equal(await ok(primary, ['MEMBER', 'PROMOTE', 'n5'], CHANGE_WAIT_MS), 'OK');
  await waitListed('n5', 'voter');
  await waitInfo('n5', 'member_role', 'voter');
  assert.equal((await cluster.replicationInfo(primary))?.get('voters'), 'n1,n2,n3,n4,n5');
  // MEMBER changes are the primary's: a replica redirects like a write.
  const replica = members().find((id) => id !== primary) as string;
  const r = await cluster.call(replica, ['MEMBER', 'REMOVE', 'n5']);
  assert.ok(r.ok && r.reply.type === 'error', JSON.stringify(r));
  assert.match(r.reply.message, new RegExp(`^READONLY .*primary=${cluster.node(primary).address.replace(/\./g, '\\.')}`));
});

test('MEMBER REMOVE of a replica: it refuses writes as removed; the rest still commit quorum writes', async () => {
  primary = await cluster.waitForPrimary();
  const victim = ['n1', 'n2', 'n3'].find((id) => id !== primary) as string;
  assert.equal(await ok(primary, ['MEMBER', 'REMOVE', victim], CHANGE_WAIT_MS), 'OK');
  removed.push(victim);
  await waitRemovedAnswer(victim);
  await waitInfo(victim, 'member_role', 'removed');
  const mine = await cluster.call(victim, ['MEMBER', 'LIST']);
  assert.ok(mine.ok && mine.reply.type === 'error' && mine.reply.message === ERR_REMOVED, JSON.stringify(mine));
  const list = await memberList(primary);
  assert.deepEqual([...(list?.keys() ?? [])].sort(), members().sort());
  for (let i = 0; i < 20; i++) await quorumSet(primary, `after-remove:${i}`, String(i));
  await cluster.waitConverged(CHANGE_WAIT_MS, members());
});

test('MEMBER REMOVE of the primary: a new primary among the rest; the old one says removed', async () => {
  primary = await cluster.waitForPrimary();
  const old = primary;
  assert.equal(await ok(old, ['MEMBER', 'REMOVE', old], CHANGE_WAIT_MS), 'OK');
  removed.push(old);
  primary = await cluster.waitForPrimary(CHANGE_WAIT_MS, removed);
  assert.ok(!removed.includes(primary));
  await waitRemovedAnswer(old);
  await waitInfo(old, 'member_role', 'removed');
  await quorumSet(primary, 'after-primary-removed', '1');
  const list = await memberList(primary);
  assert.deepEqual([...(list?.keys() ?? [])].sort(), members().sort());
  await cluster.waitConverged(CHANGE_WAIT_MS, members());
});

test('a restart of every node keeps the configuration: the voters survive, the removed nodes stay removed', async () => {
  const before = await memberList(primary);
  assert.ok(before !== null);
  await cluster.waitConverged(CHANGE_WAIT_MS, members());
  for (const n of cluster.nodes) await cluster.kill(n.id);
  // The original members restart with their --cluster (n1,n2,n3): the log's configuration wins.
  await Promise.all(cluster.nodes.map((n) => cluster.restart(n.id)));
  primary = await cluster.waitForPrimary(CHANGE_WAIT_MS, removed);
  const after = await memberList(primary);
  assert.deepEqual([...(after?.entries() ?? [])].map(([id, m]) => [id, m.address, m.role]), [...before.entries()].map(([id, m]) => [id, m.address, m.role]));
  for (const id of removed) await waitRemovedAnswer(id);
  await cluster.waitConverged(CHANGE_WAIT_MS, members());
  const original = cluster.nodes.find((n) => n.clusterArg !== '' && !removed.includes(n.id));
  if (original !== undefined) assert.match(original.proc?.output() ?? '', /using the log's/, 'a --cluster that differs from the log warns');
});

test('MEMBER ADDRESS: a member restarted on a new port with its data is reached there once the primary records it', async () => {
  primary = await cluster.waitForPrimary(CHANGE_WAIT_MS, removed);
  // n4 joined: it restarts without --join or --cluster, from its data directory.
  const mover = members().find((id) => id !== primary && cluster.node(id).clusterArg === '') as string;
  const oldAddress = cluster.node(mover).address;
  await cluster.kill(mover);
  await cluster.restartOnNewPort(mover);
  assert.notEqual(cluster.node(mover).address, oldAddress);
  assert.equal(await ok(primary, ['MEMBER', 'ADDRESS', mover, cluster.node(mover).address], CHANGE_WAIT_MS), 'OK');
  const list = await memberList(primary);
  assert.equal(list?.get(mover)?.address, cluster.node(mover).address);
  for (let i = 0; i < 50; i++) await ok(primary, ['SET', `after-move:${i}`, String(i)]);
  await cluster.waitConverged(CHANGE_WAIT_MS, members());
  assert.equal(await ok(mover, ['GET', 'after-move:49']), '49');
  // The TOPOLOGY of the primary names the configuration and each member's place in it.
  const t = await cluster.call(primary, ['TOPOLOGY']);
  assert.ok(t.ok && t.reply.type === 'array');
  assert.equal(t.reply.items.length, members().length);
});
