// KvClient discovery and redirects against real processes: a client seeded only with a replica
// finds the primary (cluster mode via TOPOLOGY, manual replication via ROLE) and writes there;
// a session client reading from a lagging replica still gets its own write (TOOSTALE → the
// primary); a wrong or missing password is an AuthError from connect, the right one works.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { AuthError, KvClient } from '../src/client/index.js';
import { callOnce, replyText } from './helpers/call.js';
import { Cluster } from './helpers/cluster.js';
import { info } from './helpers/info.js';
import { startKvServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { TcpProxy, isReplicationLink } from './helpers/proxy.js';
import { waitFor } from './helpers/wait.js';

const procs: RunningProcess[] = [];
const proxies: TcpProxy[] = [];
after(async () => {
  for (const p of proxies) await p.close();
  for (const p of procs) await stopAndClean(p);
});

async function server(args: string[]): Promise<RunningProcess> {
  const p = await startKvServer({ args: ['--log-level', 'warn', ...args] });
  procs.push(p);
  return p;
}

async function get(port: number, key: string): Promise<string | null> {
  const r = await callOnce(port, ['GET', key]);
  assert.ok(r.ok);
  return r.reply.type === 'null' ? null : replyText(r.reply);
}

test('cluster: a client seeded only with a replica finds the primary and writes there (eventual and quorum)', { timeout: 60_000 }, async () => {
  const cluster = await Cluster.start({ nodes: 3, proxies: false });
  const clients: KvClient[] = [];
  try {
    const p = await cluster.waitForPrimary();
    const replica = cluster.nodes.find((n) => n.id !== p);
    assert.ok(replica !== undefined);
    for (const consistency of ['eventual', 'quorum'] as const) {
      // No periodic refresh: below, only the redirect may teach the client the new primary.
      const kv = await KvClient.connect({ seeds: [replica.address], consistency, refreshIntervalMs: 0 });
      clients.push(kv);
      assert.equal(kv.topology()?.mode, 'cluster');
      assert.equal(kv.topology()?.primary, cluster.node(p).address, 'topology() names the real primary');
      assert.equal(kv.topology()?.members.length, 3);
      assert.equal(await kv.set(`from-replica-seed:${consistency}`, consistency), 'OK');
      assert.equal(await kv.get(`from-replica-seed:${consistency}`), consistency);
      // It really went to the primary: the primary has it, read directly.
      assert.equal(await get(cluster.node(p).port, `from-replica-seed:${consistency}`), consistency);
    }
    // A stale belief is corrected by the redirect itself: hand the primary role to the seed
    // replica (FAILOVER TO, zero loss); the client still believes the old primary, gets
    // READONLY primary=<new> there, follows it and reports the change.
    const kv = clients[0] as KvClient;
    const changes: Array<{ from: string | null; to: string | null }> = [];
    kv.on('primaryChanged', (e: { from: string | null; to: string | null }) => changes.push(e));
    const handoff = await cluster.call(p, ['FAILOVER', 'TO', replica.id], 10_000);
    assert.ok(handoff.ok && replyText(handoff.reply) === 'OK', `FAILOVER TO: ${handoff.ok ? replyText(handoff.reply) : handoff.error}`);
    assert.equal(kv.topology()?.primary, cluster.node(p).address, 'the client has not noticed yet');
    assert.equal(await kv.set('after-handoff', '1'), 'OK');
    assert.equal(kv.topology()?.primary, replica.address);
    assert.equal(await get(replica.port, 'after-handoff'), '1');
    // Events from the old primary to the new one (possibly through "no primary" mid-election).
    assert.equal(changes[0]?.from, cluster.node(p).address, JSON.stringify(changes));
    assert.equal(changes.at(-1)?.to, replica.address, JSON.stringify(changes));
  } finally {
    for (const c of clients) await c.close();
    await cluster.stop();
  }
});

test('topology events: a replica killed and restarted is reported lost and added; RESP3 discovery and commands work', { timeout: 150_000 }, async () => {
  const cluster = await Cluster.start({ nodes: 3, proxies: false });
  let kv: KvClient | null = null;
  try {
    const p = await cluster.waitForPrimary();
    const victim = cluster.nodes.find((n) => n.id !== p);
    assert.ok(victim !== undefined);
    // RESP3: TOPOLOGY members arrive as maps; seeded with the victim, so discovery must move on.
    kv = await KvClient.connect({ seeds: [victim.address], resp: 3, refreshIntervalMs: 100 });
    assert.equal(kv.topology()?.primary, cluster.node(p).address);
    const events: string[] = [];
    kv.on('replicaLost', (e: { address: string }) => events.push(`lost ${e.address}`));
    kv.on('replicaAdded', (e: { address: string }) => events.push(`added ${e.address}`));
    assert.equal(await kv.mset({ r3a: '1', r3b: '2' }), 'OK');
    assert.deepEqual(await kv.mget('r3a', 'r3b', 'r3c'), ['1', '2', null]);
    assert.equal(await kv.incrBy('r3n', 5), 5);
    const keys: string[] = [];
    for await (const k of kv.scan({ match: 'r3*' })) keys.push(k);
    assert.deepEqual(keys.sort(), ['r3a', 'r3b', 'r3n']);

    await cluster.kill(victim.id);
    // Bounds for a loaded machine: the primary notices the dead link, then the client's refresh.
    await waitFor('replicaLost event', () => events.includes(`lost ${victim.address}`), { timeoutMs: 45_000 });
    assert.ok(!(kv.topology()?.replicas ?? []).includes(victim.address));
    await cluster.restart(victim.id);
    await waitFor('replicaAdded event', () => events.includes(`added ${victim.address}`), { timeoutMs: 45_000 });
    assert.equal(kv.topology()?.primary, cluster.node(p).address, 'the primary did not change');
  } finally {
    await kv?.close();
    await cluster.stop();
  }
});

test('manual replication: ROLE discovery from a replica seed; a session read on a lagging replica still sees its own write', { timeout: 60_000 }, async () => {
  const primary = await server([]);
  const r1 = await server(['--replica-of', `127.0.0.1:${primary.port}`]);
  // The second replica reaches the primary through a proxy, so its stream can be held back.
  const px = await TcpProxy.start(primary.port);
  proxies.push(px);
  const r2 = await server(['--replica-of', px.address]);
  await waitFor('both replicas attached', async () => (await info(primary.port)).get('connected_slaves') === '2', { timeoutMs: 15_000 });

  // Seeded with a replica only: ROLE names the primary, whose ROLE lists the replicas.
  const ev = await KvClient.connect({ seeds: [`127.0.0.1:${r1.port}`] });
  try {
    const v = ev.topology();
    assert.equal(v?.mode, 'replication');
    assert.equal(v?.primary, `127.0.0.1:${primary.port}`);
    assert.deepEqual([...(v?.replicas ?? [])].sort(), [`127.0.0.1:${r1.port}`, `127.0.0.1:${r2.port}`].sort());
    assert.equal(await ev.set('manual', 'yes'), 'OK');
    assert.equal(await get(primary.port, 'manual'), 'yes');
  } finally {
    await ev.close();
  }

  const kv = await KvClient.connect({ seeds: [`127.0.0.1:${primary.port}`], consistency: 'session', readFrom: 'replica', commandTimeoutMs: 2_000 });
  try {
    assert.equal(await kv.set('ryw', 'old'), 'OK');
    await waitFor('r2 has the old value', async () => (await get(r2.port, 'ryw')) === 'old');
    const waitsBefore = Number((await info(r2.port)).get('kv_session_waits_timed_out') ?? '0');
    px.hold('toClient', isReplicationLink);
    try {
      assert.equal(await kv.set('ryw', 'new'), 'OK');
      // Reads alternate over both replicas; r2 cannot have the write, so it refuses (TOOSTALE)
      // after its session wait and the client asks the primary instead. Never the old value.
      for (let i = 0; i < 6; i++) {
        const t0 = performance.now();
        assert.equal(await kv.get('ryw'), 'new', `read ${i}`);
        assert.ok(performance.now() - t0 < 2_000, 'each read answers promptly');
      }
      assert.equal(await get(r2.port, 'ryw'), 'old', 'r2 really lagged while its stream was held');
      const waitsAfter = Number((await info(r2.port)).get('kv_session_waits_timed_out') ?? '0');
      assert.ok(waitsAfter > waitsBefore, 'some reads reached the lagging replica and timed out into TOOSTALE');
    } finally {
      px.release();
    }
    await waitFor('r2 catches up after the hold', async () => (await get(r2.port, 'ryw')) === 'new');
  } finally {
    await kv.close();
  }
});

test('AuthError: wrong or missing password fails connect() promptly; the right one works', { timeout: 30_000 }, async () => {
  const s = await server(['--requirepass', 's3cret']);
  const seeds = [`127.0.0.1:${s.port}`];
  for (const password of ['wrong', undefined]) {
    const t0 = performance.now();
    await assert.rejects(KvClient.connect({ seeds, password, timeoutMs: 10_000 }), (e: unknown) => e instanceof AuthError, `password ${String(password)}`);
    // An auth failure is final: no waiting out the connect deadline.
    assert.ok(performance.now() - t0 < 2_000, `AuthError came after ${(performance.now() - t0).toFixed(0)} ms`);
  }
  const kv = await KvClient.connect({ seeds, password: 's3cret' });
  try {
    assert.equal(await kv.set('a', '1'), 'OK');
    assert.equal(await kv.get('a'), '1');
  } finally {
    await kv.close();
  }
});
