// Keyspace and server commands beside the string ones: SELECT, SWAPDB, FLUSHDB/FLUSHALL
// arguments (replies compared with a real redis-server), RANDOMKEY (every key reachable, sparse
// and expired keyspaces), TIME, and FLUSHDB surviving a restart as a logged flush.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKvServer, startRedisServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { showReply } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';
import { waitFor } from './helpers/wait.js';

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
