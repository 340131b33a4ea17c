// Keyspace and server commands beside the string ones: SELECT, SWAPDB, FLUSHDB/FLUSHALL
// arguments (replies compared with a real redis-server), RANDOMKEY (every key reachable, sparse
// and expired keyspaces), TIME, FLUSHDB surviving a restart as a logged flush, and DUMP/RESTORE
// (replies and errors as redis-server's, payloads of every type, lists included, moved both ways
// between the two servers, one log entry per RESTORE, IDLETIME / FREQ).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKvServer, startRedisServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { showReply, type Resp } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';
import { waitFor } from './helpers/wait.js';
import { valueOf } from './helpers/dump-restore-step.js';

const procs: RunningProcess[] = [];
const conns: RawConn[] = [];
after(async () => {
  for (const c of conns) c.close();
  for (const p of procs) await stopAndClean(p);
});

async function kvConn(args: readonly string[] = ['--fsync', 'no']): Promise<{ kv: RunningProcess; c: RawConn }> {
  const kv = await startKvServer({ args });
  procs.push(kv);
  const c = await RawConn.open(kv.port);
  conns.push(c);
  return { kv, c };
}

test('SELECT, SWAPDB, FLUSHDB, FLUSHALL, RANDOMKEY, TIME arguments: replies as redis-server 7 with one database', { timeout: 60_000 }, async () => {
  // One database, as kv-ts has: index errors then read exactly like Redis's.
  const redis = await startRedisServer(['--databases', '1']);
  procs.push(redis);
  const a = await RawConn.open(redis.port);
  conns.push(a);
  const { c: b } = await kvConn();
  const cases: string[][] = [
    ['SELECT', '0'], ['SELECT', '1'], ['SELECT', '-1'], ['SELECT', 'x'], ['SELECT', '007'], ['SELECT', '-0'], ['SELECT', '2147483648'], ['SELECT', '99999999999999999999'], ['SELECT'],
    ['SWAPDB', '0', '0'], ['SWAPDB', '0', '1'], ['SWAPDB', '1', '0'], ['SWAPDB', 'x', '0'], ['SWAPDB', '0', 'y'], ['SWAPDB', '0'], ['SWAPDB', '-1', '0'],
    ['SET', 'k', 'v'], ['FLUSHDB', 'bogus'], ['FLUSHDB', 'SYNC', 'ASYNC'], ['DBSIZE'], ['FLUSHDB', 'async'], ['DBSIZE'],
    ['SET', 'k', 'v'], ['FLUSHALL', 'nope'], ['FLUSHDB', 'SYNC'], ['DBSIZE'], ['FLUSHDB'], ['FLUSHALL', 'ASYNC'],
    ['RANDOMKEY'], ['RANDOMKEY', 'x'], ['SET', 'only', '1'], ['RANDOMKEY'], ['TIME', 'x'],
  ];
  for (const argv of cases) {
    const [ra, rb] = await Promise.all([a.request(...argv), b.request(...argv)]);
    assert.equal(showReply(rb), showReply(ra), argv.join(' '));
  }
});

test('RANDOMKEY: every key comes up; a sparse keyspace and one of only expired keys are handled', { timeout: 60_000 }, async () => {
  const { c } = await kvConn();
  const keys = ['a', 'b', 'c', 'd', 'e'];
  for (const k of keys) await c.call('SET', k, '1');
  const seen = new Set<string>();
  for (let i = 0; i < 2_000 && seen.size < keys.length; i++) seen.add((await c.call('RANDOMKEY')) as string);
  assert.deepEqual([...seen].sort(), keys);
  // 20k slots, one live key: random probes mostly miss, the walk still finds it.
  const n = 20_000;
  c.send(Array.from({ length: n }, (_, i) => `SET s${i} x\r\n`).join(''));
  for (let i = 0; i < n; i++) await c.readResp();
  c.send(Array.from({ length: n }, (_, i) => `DEL s${i}\r\n`).join(''));
  for (let i = 0; i < n; i++) await c.readResp();
  for (const k of keys) if (k !== 'c') await c.call('DEL', k);
  for (let i = 0; i < 50; i++) assert.equal(await c.call('RANDOMKEY'), 'c');
  // Only keys whose expiry passed: none is returned.
  await c.call('FLUSHALL');
  for (const k of keys) await c.call('SET', k, '1', 'PX', '20');
  const due = Date.now() + 30;
  await waitFor('the expiry times pass', () => Date.now() > due, { timeoutMs: 5_000, intervalMs: 5 });
  assert.equal(await c.call('RANDOMKEY'), null);
});

test('TIME is the wall clock in seconds and microseconds; FLUSHDB is logged and survives a restart', { timeout: 60_000 }, async () => {
  const { kv, c } = await kvConn(['--fsync', 'always']);
  const before = Date.now();
  const t = (await c.call('TIME')) as Buffer[];
  assert.ok(Array.isArray(t));
  const after_ = Date.now();
  assert.equal(t.length, 2);
  const [s, us] = t.map((x) => x.toString());
  assert.match(s as string, /^\d{10}$/);
  assert.match(us as string, /^\d{1,6}$/);
  const ms = Number(s) * 1000 + Number(us) / 1000;
  assert.ok(ms >= before - 1 && ms <= after_ + 1, `TIME ${s}.${us} within [${before}, ${after_}]`);
  await c.call('SET', 'k', 'v');
  assert.equal(await c.call('FLUSHDB'), 'OK');
  await c.call('SET', 'after', 'v');
  await kv.kill('SIGKILL');
  const again = await startKvServer({ dir: kv.dir, args: ['--fsync', 'always'] });
  procs.push(again);
  const c2 = await RawConn.open(again.port);
  conns.push(c2);
  assert.deepEqual(((await c2.call('KEYS', '*')) as Buffer[]).map(String), ['after']);
});

/** Bulk bytes of a reply (null for nil). */
function bulkOf(r: Resp): Buffer | null {
  assert.ok(r.t === 'bulk', showReply(r));
  return r.b;
}

test('DUMP / RESTORE: options, errors and their order as redis-server 7; payloads move both ways', { timeout: 60_000 }, async () => {
  const redis = await startRedisServer();
  procs.push(redis);
  const a = await RawConn.open(redis.port);
  conns.push(a);
  const { c: b } = await kvConn();
  const setup = [
    ['SET', 's', 'hello'], ['SET', 'n', '-12345'], ['SET', 'long', 'ab'.repeat(100)], ['HSET', 'h', 'f', 'v', 'g', '12'], ['SADD', 'si', '1', '2', '-3'],
    ['SADD', 'sm', 'a', 'b', '7'], ['ZADD', 'z', '1', 'a', '-inf', 'b', '2.5', 'c'], ['SET', 'ttl', 'x', 'PX', '500000'],
  ];
  for (const argv of setup) for (const c of [a, b]) await c.request(...argv);
  for (let i = 0; i < 300; i++) for (const c of [a, b]) await c.request('HSET', 'bigh', `f${i}`, String(i));
  // Lists: a small one (one listpack node in Redis), and one of several nodes with long, binary and LZF-compressible elements.
  const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  for (const c of [a, b]) await c.request('RPUSH', 'l', 'a', '1', '-300', '', 'b');
  for (let i = 0; i < 300; i++) for (const c of [a, b]) await c.request('RPUSH', 'bigl', i % 7 === 0 ? binary : i % 5 === 0 ? 'y'.repeat(2000 + i) : `e${i}`);
  const keys = ['s', 'n', 'long', 'h', 'si', 'sm', 'z', 'bigh', 'l', 'bigl', 'ttl'];
  const future = String(Date.now() + 3_600_000);
  for (const k of keys) {
    const fromRedis = bulkOf(await a.request('DUMP', k)) as Buffer;
    const fromKv = bulkOf(await b.request('DUMP', k)) as Buffer;
    const original = await valueOf(a, k);
    const bad = Buffer.from(fromKv);
    bad[0] = (bad[0] as number) ^ 0x40;
    const cases: Array<Array<string | Buffer>> = [
      // Each server's payload, and the other's: migration works both ways.
      ['RESTORE', `${k}.r`, '0', fromRedis], ['RESTORE', `${k}.k`, '0', fromKv],
      ['RESTORE', `${k}.r`, '0', fromRedis], ['RESTORE', `${k}.r`, '0', fromKv, 'REPLACE'],
      ['RESTORE', `${k}.t`, '100000', fromRedis], ['RESTORE', `${k}.t`, future, fromKv, 'ABSTTL', 'REPLACE'],
      ['RESTORE', `${k}.e`, '1', fromKv, 'ABSTTL'], ['RESTORE', k, '1', fromKv, 'ABSTTL', 'REPLACE'],
      ['RESTORE', `${k}.x`, '0', bad], ['RESTORE', `${k}.x`, '0', fromKv.subarray(0, fromKv.length - 1)], ['RESTORE', `${k}.x`, '0', 'junk'],
      ['RESTORE', `${k}.x`, '-1', fromKv], ['RESTORE', `${k}.x`, 'x', fromKv], ['RESTORE', `${k}.r`, 'x', 'junk'],
      ['RESTORE', `${k}.x`, '0', fromKv, 'IDLETIME', '5', 'FREQ', '3'], ['RESTORE', `${k}.x`, '0', fromKv, 'FREQ', '256'],
      ['RESTORE', `${k}.x`, '0', fromKv, 'IDLETIME', '-1'], ['RESTORE', `${k}.x`, '0', fromKv, 'IDLETIME'], ['RESTORE', `${k}.x`, '0', fromKv, 'bogus'],
      ['RESTORE', `${k}.x`, '0', fromKv, 'IDLETIME', 'x'], ['RESTORE', `${k}.x`, '0'],
      ['EXISTS', k, `${k}.e`, `${k}.x`], ['TYPE', `${k}.r`], ['TYPE', `${k}.k`],
    ];
    for (const argv of cases) {
      const [ra, rb] = await Promise.all([a.request(...argv), b.request(...argv)]);
      assert.equal(showReply(rb), showReply(ra), `${k}: ${argv.map((x) => (typeof x === 'string' ? x : `<${x.length} bytes>`)).join(' ')}`);
    }
    // The restored copies hold what was dumped, on both servers.
    for (const copy of [`${k}.r`, `${k}.k`, `${k}.t`]) {
      for (const c of [a, b]) assert.equal(await valueOf(c, copy), original, `${copy} on ${c === a ? 'redis' : 'kv'}`);
    }
  }
  const [pa, pb] = await Promise.all([a.request('PTTL', 'ttl.t'), b.request('PTTL', 'ttl.t')]);
  assert.ok(pa.t === 'int' && pb.t === 'int' && pb.n > 3_000_000n && pb.n <= 3_600_000n, `ABSTTL: ${showReply(pa)} ${showReply(pb)}`);
});

test('RESTORE is one log entry and survives a restart; IDLETIME and FREQ set the access information', { timeout: 60_000 }, async () => {
  const { kv, c } = await kvConn(['--fsync', 'always']);
  await c.call('ZADD', 'z', '1', 'a', '2', 'b');
  await c.call('SET', 'old', 'x');
  const payload = (await c.request('DUMP', 'z'));
  const z = bulkOf(payload) as Buffer;
  const seq = async (): Promise<number> => Number(String(await c.call('POSITION')).split(':')[1]);
  const before = await seq();
  assert.equal(await c.call('RESTORE', 'old', '0', z, 'REPLACE', 'IDLETIME', '1000'), 'OK');
  assert.equal(await seq(), before + 1, 'a RESTORE REPLACE over another key is one entry');
  assert.ok(Number(await c.call('OBJECT', 'IDLETIME', 'old')) >= 1000);
  assert.equal(await c.call('RESTORE', 'gone', '1', z, 'ABSTTL'), 'OK');
  assert.equal(await seq(), before + 1, 'a RESTORE that is already expired writes nothing');
  await c.call('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lfu');
  assert.equal(await c.call('RESTORE', 'f', '0', z, 'FREQ', '77'), 'OK');
  assert.equal(await c.call('OBJECT', 'FREQ', 'f'), 77);
  // A restored list, then pushed to: replay after the restart must neither lose nor repeat the push.
  await c.call('RPUSH', 'l', 'a', 'b');
  const l = bulkOf(await c.request('DUMP', 'l')) as Buffer;
  assert.equal(await c.call('RESTORE', 'lc', '0', l), 'OK');
  assert.equal(await seq(), before + 4, 'RPUSH, then RESTORE of a list: one entry each');
  await c.call('RPUSH', 'lc', 'c');
  await kv.kill('SIGKILL');
  const again = await startKvServer({ dir: kv.dir, args: ['--fsync', 'always'] });
  procs.push(again);
  const c2 = await RawConn.open(again.port);
  conns.push(c2);
  for (const k of ['old', 'f']) assert.deepEqual(((await c2.call('ZRANGE', k, '0', '-1', 'WITHSCORES')) as Buffer[]).map(String), ['a', '1', 'b', '2']);
  assert.equal(await c2.call('EXISTS', 'gone'), 0);
  assert.deepEqual(((await c2.call('LRANGE', 'lc', '0', '-1')) as Buffer[]).map(String), ['a', 'b', 'c']);
});
