// Cluster mode with real processes (3 nodes on 127.0.0.1): election, replication, quorum
// writes and reads, TOPOLOGY, SIGKILL of the primary and the time to the next acknowledged
// write, rejoin of the restarted node as a replica, FAILOVER TO with zero loss, and a restart
// with a different member list refused, and a member whose log is damaged (refused start naming
// the file, --repair, rejoin). The tests share one cluster and run in order.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import type { Reply } from '../src/client/resp-wire.js';
import { replyText } from './helpers/call.js';
import { Cluster } from './helpers/cluster.js';
import { startKvServer } from './helpers/procs.js';
import { assertStartRefused, damage, files, repairDir } from './helpers/damage.js';
import { waitFor } from './helpers/wait.js';

let cluster: Cluster;

before(async () => {
  cluster = await Cluster.start({ nodes: 3 });
});

after(async () => {
  await cluster?.stop();
});

async function ok(id: string, args: readonly string[]): Promise<string | null> {
  const r = await cluster.call(id, args);
  assert.ok(r.ok, `${id} ${args.join(' ')}: ${r.ok ? '' : r.error}\n${cluster.logs()}`);
  if (r.reply.type === 'error') assert.fail(`${id} ${args.join(' ')} → -${r.reply.message}\n${cluster.logs()}`);
  return replyText(r.reply);
}

async function errorOf(id: string, args: readonly string[]): Promise<string> {
  const r = await cluster.call(id, args);
  assert.ok(r.ok, `${id} ${args.join(' ')}: no reply`);
  assert.equal(r.reply.type, 'error', `${id} ${args.join(' ')} should fail`);
  return replyText(r.reply) as string;
}

/** A TOPOLOGY entry (RESP2 flattened map) as a JS object. */
function entry(r: Reply): Record<string, string | number | boolean | null> {
  assert.ok(r.type === 'array' || r.type === 'map');
  const o: Record<string, string | number | boolean | null> = {};
  for (let i = 0; i < r.items.length; i += 2) {
    const k = replyText(r.items[i] as Reply) as string;
    const v = r.items[i + 1] as Reply;
    o[k] = v.type === 'integer' ? Number(v.value) : v.type === 'null' ? null : v.type === 'boolean' ? v.value : replyText(v);
  }
  o['self'] = o['self'] === true || o['self'] === 1; // RESP2 sends booleans as integers
  return o;
}

let primary = '';

test('a primary is elected; the others are replicas', async () => {
  primary = await cluster.waitForPrimary();
  for (const n of cluster.nodes) {
    const info = await cluster.replicationInfo(n.id);
    assert.ok(info !== null);
    assert.equal(info.get('role'), n.id === primary ? 'master' : 'slave', `${n.id}\n${cluster.logs()}`);
    assert.equal(info.get('kv_cluster_enabled'), '1');
    assert.equal(info.get('kv_cluster_majority'), '2');
  }
});

test('writes replicate to every node (equal DEBUG DIGEST)', async () => {
  for (let i = 0; i < 200; i++) await ok(primary, ['SET', `key:${i}`, `value:${i}`]);
  await cluster.waitConverged();
  const replica = cluster.nodes.find((n) => n.id !== primary)?.id as string;
  assert.equal(await ok(replica, ['GET', 'key:199']), 'value:199');
  assert.match(await errorOf(replica, ['SET', 'x', '1']), /^READONLY .*primary=/);
});

test('quorum write and read; a replica redirects quorum reads to the primary', async () => {
  assert.equal(await ok(primary, ['SET', 'q', 'v1', 'QUORUM']), 'OK');
  assert.equal(await ok(primary, ['GET', 'q', 'QUORUM']), 'v1');
  const replica = cluster.nodes.find((n) => n.id !== primary)?.id as string;
  assert.match(await errorOf(replica, ['GET', 'q', 'QUORUM']), /^NOTPRIMARY .*primary=127\.0\.0\.1:\d+/);
  // CONSISTENCY QUORUM turns plain commands into quorum ones for the connection.
  const c = await cluster.call(primary, ['CONSISTENCY', 'QUORUM']);
  assert.ok(c.ok && c.reply.type === 'simple');
});

test('TOPOLOGY lists every member with its place in the configuration, role, epoch, position, lag, link and last heard', async () => {
  await waitFor('replicas streaming', async () => {
    const r = await cluster.call(primary, ['TOPOLOGY']);
    if (!r.ok || r.reply.type !== 'array') return false;
    const es = r.reply.items.map(entry);
    return es.every((e) => e['self'] === true || (e['link'] === 'up' && e['applied'] !== null));
  });
  const r = await cluster.call(primary, ['TOPOLOGY']);
  assert.ok(r.ok && r.reply.type === 'array');
  const es = r.reply.items.map(entry);
  assert.deepEqual(es.map((e) => e['id']), ['n1', 'n2', 'n3']);
  for (const e of es) {
    assert.deepEqual(Object.keys(e).sort(), ['address', 'applied', 'config_committed', 'config_seq', 'epoch', 'id', 'lag_ms', 'lag_ops', 'last_heard_ms', 'link', 'member', 'role', 'self'].sort());
    assert.equal(e['member'], 'voter');
    assert.equal(e['config_seq'], 0, 'the bootstrap configuration (--cluster) is in force');
    assert.match(String(e['address']), /^127\.0\.0\.1:\d+$/);
    assert.match(String(e['applied']), /^\d+:\d+$/);
    if (e['id'] === primary) {
      assert.equal(e['role'], 'primary');
      assert.equal(e['self'], true);
    } else {
      assert.equal(e['role'], 'replica');
      assert.equal(e['link'], 'up');
      assert.ok(typeof e['last_heard_ms'] === 'number' && e['last_heard_ms'] >= 0 && e['last_heard_ms'] < 1000);
    }
  }
  const epochs = new Set(es.map((e) => e['epoch']));
  assert.equal(epochs.size, 1, 'all members streaming in one epoch');
});

let failoverMs = 0;

test('SIGKILL the primary: another node accepts writes; quorum writes survive', async () => {
  assert.equal(await ok(primary, ['SET', 'survivor', 'yes', 'QUORUM']), 'OK');
  const old = primary;
  const others = cluster.nodes.filter((n) => n.id !== old).map((n) => n.id);
  const t0 = performance.now();
  await cluster.kill(old);
  const next = await waitFor(
    'a write acknowledged by a new primary',
    async () => {
      for (const id of others) {
        const r = await cluster.call(id, ['SET', 'after-kill', id], 500);
        if (r.ok && r.reply.type === 'simple') return id;
      }
      return null;
    },
    { timeoutMs: 15_000, intervalMs: 5 },
  );
  failoverMs = performance.now() - t0;
  process.stdout.write(`# failover after SIGKILL: ${failoverMs.toFixed(0)} ms (${old} → ${next})\n`);
  primary = next;
  assert.equal(await ok(primary, ['GET', 'survivor', 'QUORUM']), 'yes', 'a quorum-acknowledged write survives the failover');
  assert.ok(failoverMs < 10_000);
});

test('the restarted node rejoins as a replica and catches up', async () => {
  const dead = cluster.nodes.find((n) => n.state === 'killed')?.id as string;
  await cluster.restart(dead);
  await waitFor('restarted node is a replica', async () => (await cluster.replicationInfo(dead))?.get('role') === 'slave', { timeoutMs: 10_000 });
  assert.equal(await cluster.primary(), primary, 'the rejoining node did not disturb the primary');
  await ok(primary, ['SET', 'after-rejoin', '1']);
  await cluster.waitConverged();
  assert.equal(await ok(dead, ['GET', 'after-kill']), primary);
});

test('FAILOVER TO hands over with zero loss of acknowledged async writes', async () => {
  const target = cluster.nodes.find((n) => n.id !== primary)?.id as string;
  for (let i = 0; i < 300; i++) await ok(primary, ['SET', `handoff:${i}`, String(i)]);
  assert.equal(await ok(primary, ['FAILOVER', 'TO', target]), 'OK');
  // OK means the old primary saw the target's election; the target wins it a moment later.
  await waitFor(`${target} is primary`, async () => (await cluster.replicationInfo(target))?.get('role') === 'master', { timeoutMs: 5_000 });
  for (let i = 0; i < 300; i += 37) assert.equal(await ok(target, ['GET', `handoff:${i}`]), String(i));
  assert.equal(await ok(target, ['GET', 'handoff:299']), '299');
  const oldInfo = await cluster.replicationInfo(primary);
  assert.equal(oldInfo?.get('role'), 'slave');
  assert.equal(oldInfo?.get('kv_discarded_writes'), '0');
  primary = target;
  await ok(primary, ['SET', 'after-failover', '1']);
  await cluster.waitConverged();
  assert.match(await errorOf(cluster.nodes.find((n) => n.id !== primary)?.id as string, ['FAILOVER']), /not the primary/);
});

test('a restart with a different member list is refused (exit 2, clear error)', async () => {
  const victim = cluster.nodes.find((n) => n.id !== primary) as (typeof cluster.nodes)[number];
  await cluster.kill(victim.id);
  // Same node, but one other member replaced by an unknown id.
  const other = cluster.nodes.find((n) => n.id !== victim.id)?.id as string;
  const members = victim.clusterArg.replace(new RegExp(`\\b${other}=`), 'n9=');
  assert.notEqual(members, victim.clusterArg);
  const p = await startKvServer({ port: victim.port, dir: victim.dir, args: ['--node-id', victim.id, '--cluster', members], waitReady: false });
  const code = await p.exited();
  assert.equal(code, 2, p.output());
  assert.match(p.output(), /differ from the membership this data directory belongs to/);
  await cluster.restart(victim.id);
  await cluster.waitConverged();
});

test('a member whose log is damaged refuses to start naming the file; after --repair it rejoins and every member reaches one DEBUG DIGEST', async () => {
  const victim = cluster.nodes.find((n) => n.id !== primary) as (typeof cluster.nodes)[number];
  for (let i = 0; i < 200; i++) await ok(primary, ['SET', `damage:${i}`, String(i)]);
  await cluster.waitConverged();
  await cluster.kill(victim.id);
  const seg = files(victim.dir, 'log', '.wal').at(-1) as string;
  damage(seg, 'flip', 0.5);
  await assertStartRefused(victim.port, victim.dir, seg, ['--node-id', victim.id, '--cluster', victim.clusterArg]);
  assert.match(await repairDir(victim.dir), /dropped \d+ record\(s\)/);
  await ok(primary, ['SET', 'after-damage', '1']);
  await cluster.restart(victim.id);
  await cluster.waitConverged();
  assert.equal(await ok(victim.id, ['GET', 'after-damage']), '1');
});

