// KvClient's typed hash, set, sorted-set and list methods and DUMP/RESTORE: replies mapped the same under RESP2 and
// RESP3 against a real kv-server; a session read on a lagging replica sees the session's own
// HSET; a ZINCRBY whose outcome is unknown is never resent (a scripted node drops its reply).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KvClient, OutcomeUnknownError } from '../src/client/index.js';
import { startKvServer, stopAndClean } from './helpers/procs.js';
import { Cluster } from './helpers/cluster.js';
import { info } from './helpers/info.js';
import { isReplicationLink } from './helpers/proxy.js';
import { fakeNode, primaryRole } from './helpers/fake-node.js';
import { waitFor } from './helpers/wait.js';

test('typed collection methods: same JS values under RESP2 and RESP3 from a real kv-server', async () => {
  const server = await startKvServer();
  const seen: unknown[] = [];
  try {
    for (const resp of [2, 3] as const) {
      const kv = await KvClient.connect({ seeds: [`127.0.0.1:${server.port}`], resp, refreshIntervalMs: 0 });
      try {
        await kv.del('h', 's', 'z', 'l', 'l2');
        const got: Record<string, unknown> = {};
        got['hset'] = await kv.hset('h', Object.fromEntries([['a', '1'], ['b', 'x'], ['__proto__', 'p']]));
        got['hsetMap'] = await kv.hset('h', new Map<string, string | number>([['a', 2], ['c', 'é']]));
        got['hget'] = [await kv.hget('h', 'c'), await kv.hget('h', 'nope')];
        got['hgetall'] = await kv.hgetall('h');
        got['hgetallMissing'] = await kv.hgetall('missing');
        got['hincrBy'] = await kv.hincrBy('h', 'a', 40);
        got['hdel'] = await kv.hdel('h', 'b', 'nope');
        got['hlen'] = await kv.hlen('h');
        got['sadd'] = await kv.sadd('s', 'm1', 'm2', 'm3');
        got['srem'] = await kv.srem('s', 'm3');
        got['smembers'] = (await kv.smembers('s')).sort();
        got['sismember'] = [await kv.sismember('s', 'm1'), await kv.sismember('s', 'zz')];
        got['scard'] = await kv.scard('s');
        got['zadd'] = await kv.zadd('z', [{ score: 1.5, value: 'a' }, { score: -Infinity, value: 'b' }, { score: 3, value: 'c' }]);
        got['zaddOne'] = await kv.zadd('z', { score: Infinity, value: 'd' });
        got['zincrBy'] = await kv.zincrBy('z', 0.25, 'a');
        got['zscore'] = [await kv.zscore('z', 'a'), await kv.zscore('z', 'b'), await kv.zscore('z', 'd'), await kv.zscore('z', 'nope')];
        const payload = await kv.dump('h');
        got['dump'] = [payload instanceof Buffer, await kv.dump('missing')];
        got['restore'] = await kv.restore('h2', 0, payload as Buffer);
        got['restoreBusy'] = await kv.restore('h2', 0, payload as Buffer).catch((e: Error) => e.message.split(' ')[0]);
        got['restoreReplace'] = await kv.restore('h2', Date.now() + 600_000, payload as Buffer, { replace: true, absTtl: true, idleSeconds: 5 });
        got['restored'] = [await kv.hgetall('h2'), (await kv.pttl('h2')) > 500_000];
        await kv.del('h2');
        got['zrange'] = await kv.zrange('z', 0, -1);
        got['zrangeRev'] = await kv.zrange('z', 0, 1, { rev: true });
        got['zrangeWithScores'] = await kv.zrangeWithScores('z', 0, -1);
        got['zrangeEmpty'] = await kv.zrangeWithScores('missing', 0, -1);
        got['zrem'] = await kv.zrem('z', 'c', 'nope');
        got['zcard'] = await kv.zcard('z');
        got['rpush'] = await kv.rpush('l', 'a', 'b', 'c', 'd', 'a');
        got['lpush'] = await kv.lpush('l', 'x', 'é');
        got['lrange'] = await kv.lrange('l', 0, -1);
        got['lindex'] = [await kv.lindex('l', -1), await kv.lindex('l', 99)];
        got['lset'] = await kv.lset('l', 0, 'E');
        got['lpop'] = [await kv.lpop('l'), await kv.lpop('missing')];
        got['rpop'] = [await kv.rpop('l'), await kv.rpopCount('l', 2), await kv.lpopCount('missing', 2)];
        got['lrem'] = await kv.lrem('l', 0, 'a');
        got['lmove'] = [await kv.lmove('l', 'l2', 'LEFT', 'RIGHT'), await kv.lmove('missing', 'l2', 'LEFT', 'RIGHT')];
        got['ltrim'] = await kv.ltrim('l2', 0, 0);
        got['llen'] = [await kv.llen('l'), await kv.llen('l2')];
        got['lpopCount'] = await kv.lpopCount('l2', 5);
        got['type'] = [await kv.type('h'), await kv.type('s'), await kv.type('z'), await kv.type('l'), await kv.type('l2')];
        seen.push(got);
      } finally {
        await kv.close();
      }
    }
    const expected = {
      hset: 3,
      hsetMap: 1,
      hget: ['é', null],
      hgetall: Object.fromEntries([['a', '2'], ['b', 'x'], ['__proto__', 'p'], ['c', 'é']]),
      hgetallMissing: {},
      hincrBy: 42,
      hdel: 1,
      hlen: 3,
      sadd: 3,
      srem: 1,
      smembers: ['m1', 'm2'],
      sismember: [1, 0],
      scard: 2,
      zadd: 3,
      zaddOne: 1,
      zincrBy: 1.75,
      zscore: [1.75, -Infinity, Infinity, null],
      dump: [true, null],
      restore: 'OK',
      restoreBusy: 'BUSYKEY',
      restoreReplace: 'OK',
      restored: [Object.fromEntries([['a', '42'], ['__proto__', 'p'], ['c', 'é']]), true],
      zrange: ['b', 'a', 'c', 'd'],
      zrangeRev: ['d', 'c'],
      zrangeWithScores: [{ value: 'b', score: -Infinity }, { value: 'a', score: 1.75 }, { value: 'c', score: 3 }, { value: 'd', score: Infinity }],
      zrangeEmpty: [],
      zrem: 1,
      zcard: 3,
      rpush: 5,
      lpush: 7,
      lrange: ['é', 'x', 'a', 'b', 'c', 'd', 'a'],
      lindex: ['a', null],
      lset: 'OK',
      lpop: ['E', null],
      rpop: ['a', ['d', 'c'], null],
      lrem: 1,
      lmove: ['x', null],
      ltrim: 'OK',
      llen: [1, 1],
      lpopCount: ['x'],
      type: ['hash', 'set', 'zset', 'list', 'none'],
    };
    assert.deepEqual(seen[0], expected, 'RESP2');
    assert.deepEqual(seen[1], expected, 'RESP3');
  } finally {
    await stopAndClean(server);
  }
});

test('session mode: an HGET on a replica whose stream is held back sees the session\'s own HSET', { timeout: 90_000 }, async () => {
  // The held replica must keep answering plain reads for the whole loop (on a loaded machine it
  // can take longer than the default 5 s staleness bound, after which it answers TOOSTALE).
  const cluster = await Cluster.start({ nodes: 3, proxies: true, args: ['--replica-max-lag-ms', '60000'] });
  const clients: KvClient[] = [];
  try {
    const p = await cluster.waitForPrimary();
    const [lagging] = cluster.nodes.filter((n) => n.id !== p).map((n) => n.id) as [string];
    await waitFor('both replicas linked to the primary', async () => (await info(cluster.node(p).port)).get('connected_slaves') === '2', { timeoutMs: 15_000, intervalMs: 50 });
    const kv = await KvClient.connect({ seeds: [cluster.node(p).address], consistency: 'session', readFrom: 'replica', timeoutMs: 10_000 });
    clients.push(kv);
    assert.equal(kv.topology()?.replicas.length, 2);
    await kv.hset('h', { f: 'v0' });
    await waitFor('the lagging replica holds v0', async () => (await kv.rawTypedAt(cluster.node(lagging).address, ['HGET', 'h', 'f']))?.toString() === 'v0', { timeoutMs: 10_000, intervalMs: 20 });
    cluster.proxy(p, lagging).hold('toTarget', isReplicationLink);
    const waitsBefore = Number((await info(cluster.node(lagging).port)).get('kv_session_waits') ?? '0');
    for (let i = 1; i <= 20; i++) {
      assert.equal(await kv.hset('h', { f: `v${i}` }), 0);
      assert.equal(await kv.hget('h', 'f'), `v${i}`, `read ${i} sees the session's own HSET`);
      assert.deepEqual(await kv.hgetall('h'), { f: `v${i}` });
    }
    // The lag was real: the held replica itself still answers the old value to a plain read...
    assert.equal((await kv.rawTypedAt(cluster.node(lagging).address, ['HGET', 'h', 'f']))?.toString(), 'v0');
    // ...and session reads reached it (and had to wait for the token there).
    const waits = Number((await info(cluster.node(lagging).port)).get('kv_session_waits') ?? '0') - waitsBefore;
    assert.ok(waits > 0, `no session read reached the lagging replica (${waits} waits)`);
    cluster.proxy(p, lagging).release();
  } catch (e) {
    cluster.printLogs();
    throw e;
  } finally {
    for (const c of clients) await c.close();
    await cluster.stop();
  }
});

test('a ZINCRBY whose reply is lost is not resent (OutcomeUnknownError); a lost read is retried', async () => {
  const primary = await fakeNode(primaryRole(), '1:7');
  const kv = await KvClient.connect({ seeds: [primary.address], consistency: 'eventual', refreshIntervalMs: 0, timeoutMs: 3000 });
  try {
    const count = (name: string): number => primary.seen.filter((c) => c === name).length;
    primary.dropNext.add('ZINCRBY');
    await assert.rejects(kv.zincrBy('z', 1, 'm'), OutcomeUnknownError);
    assert.equal(count('ZINCRBY'), 1, 'sent once, never again');
    // The same lost reply on a read: resent on a new connection, so the drop above really was retriable ground.
    primary.dropNext.add('ZCARD');
    await kv.zcard('z');
    assert.equal(count('ZCARD'), 2);
  } finally {
    await kv.close();
    await primary.stop();
  }
});
