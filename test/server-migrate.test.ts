// MIGRATE (commands/migrate.ts, server/migrate-links.ts): the same steps run from a kv-server and
// from a redis-server, to a kv-server and to a redis-server target, reply alike and leave the
// same keys on both sides (KEYS form, COPY, REPLACE, TTLs, NOKEY, BUSYKEY, AUTH, a destination
// database the target refuses); a target that never answers gives IOERR within the timeout and
// the key stays; a closed port gives IOERR; other clients are served while the target waits.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { freePort, startKvServer, startRedisServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { showValue as show } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';

let kvSource: RunningProcess | undefined;
let kvTarget: RunningProcess | undefined;
let redisSource: RunningProcess | undefined;
let redisTarget: RunningProcess | undefined;

before(async () => {
  [kvSource, kvTarget, redisSource, redisTarget] = await Promise.all([startKvServer(), startKvServer(), startRedisServer(), startRedisServer()]);
});

after(async () => {
  for (const p of [kvSource, kvTarget, redisSource, redisTarget]) await stopAndClean(p);
});

/** The steps from `source` to `target` (both flushed first): every reply and the keys on both sides. */
async function scenario(source: number, target: number): Promise<string[]> {
  const s = await RawConn.open(source);
  const t = await RawConn.open(target);
  const seen: string[] = [];
  const both = async (...cmd: string[]): Promise<void> => {
    seen.push(`${cmd.join(' ')} -> src ${show(await s.call(...cmd))} dst ${show(await t.call(...cmd))}`);
  };
  const m = async (...args: string[]): Promise<void> => {
    seen.push(`MIGRATE ${args.join(' ')} -> ${show(await s.call('MIGRATE', '127.0.0.1', String(target), ...args))}`);
  };
  try {
    await s.call('FLUSHALL');
    await t.call('FLUSHALL');
    await s.call('SET', 'str', 'v1');
    await s.call('SET', 'ttl', 'v2', 'PX', '100000');
    await s.call('RPUSH', 'list', 'a', 'b', 'c');
    await s.call('HSET', 'hash', 'f', '1', 'g', '2');
    await s.call('ZADD', 'zset', '1', 'x', '2.5', 'y');
    await s.call('SADD', 'set', 'm1', 'm2');
    await m('str', '0', '1000');
    await both('EXISTS', 'str');
    await m('', '0', '1000', 'KEYS', 'ttl', 'list', 'missing');
    seen.push(`ttl on target kept: ${Number(await t.call('PTTL', 'ttl')) > 90_000}`);
    await both('LRANGE', 'list', '0', '-1');
    await m('hash', '0', '1000', 'COPY');
    await both('HGETALL', 'hash');
    await m('hash', '0', '1000');
    await m('hash', '0', '1000', 'REPLACE');
    await both('EXISTS', 'hash');
    await m('nokey', '0', '1000');
    await m('', '0', '1000', 'KEYS', 'zset', 'set');
    await both('ZRANGE', 'zset', '0', '-1', 'WITHSCORES');
    await both('SORT', 'set', 'ALPHA');
    await s.call('SET', 'str', 'again');
    await m('str', '0', '1000', 'AUTH', 'nopass');
    await m('str', '0', '1000', 'AUTH2', 'someone', 'nopass');
    await m('str', '0', '1000', 'AUTH');
    await m('str', '0', '1000', 'KEYS', 'str');
    await m('str', 'notanumber', '1000');
    await both('GET', 'str');
  } finally {
    s.close();
    t.close();
  }
  return seen;
}

for (const targetKind of ['kv-server', 'redis-server'] as const) {
  test(`differential: MIGRATE to a ${targetKind} replies and moves keys as redis-server's MIGRATE does`, async () => {
    const target = (targetKind === 'kv-server' ? kvTarget : redisTarget) as RunningProcess;
    const kv = await scenario((kvSource as RunningProcess).port, target.port);
    const redis = await scenario((redisSource as RunningProcess).port, target.port);
    assert.deepEqual(kv, redis);
    assert.ok(kv.includes('EXISTS str -> src 0 dst 1'), kv.join('\n'));
  });
}

test('MIGRATE to a target that never answers: IOERR within the timeout, the key stays, other clients are served meanwhile', async () => {
  const held: Socket[] = [];
  const silent: Server = createServer((sock) => held.push(sock));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const silentPort = (silent.address() as { port: number }).port;
  const s = await RawConn.open((kvSource as RunningProcess).port);
  const other = await RawConn.open((kvSource as RunningProcess).port);
  try {
    await s.call('SET', 'stay', 'here');
    const started = Date.now();
    s.send(Buffer.from(`*6\r\n$7\r\nMIGRATE\r\n$9\r\n127.0.0.1\r\n$${String(silentPort).length}\r\n${silentPort}\r\n$4\r\nstay\r\n$1\r\n0\r\n$3\r\n500\r\n`));
    // Served while the MIGRATE waits for its target.
    assert.equal(await other.call('PING'), 'PONG');
    assert.equal(show(await s.read()), '-IOERR error or timeout reading to target instance');
    assert.ok(Date.now() - started >= 450);
    assert.equal(await s.call('GET', 'stay'), 'here');
    // A port nobody listens on.
    const closed = await freePort();
    assert.equal(show(await s.call('MIGRATE', '127.0.0.1', String(closed), 'stay', '0', '500')), '-IOERR error or timeout writing to target instance');
    assert.equal(await s.call('GET', 'stay'), 'here');
  } finally {
    s.close();
    other.close();
    for (const h of held) h.destroy();
    silent.close();
  }
});

test('MIGRATE of a stream is refused before anything is sent (kv-ts writes no RDB stream encoding); the keys stay', async () => {
  const s = await RawConn.open((kvSource as RunningProcess).port);
  const t = await RawConn.open((kvTarget as RunningProcess).port);
  try {
    await s.call('DEL', 'ms-str', 'ms-stream');
    await t.call('DEL', 'ms-str', 'ms-stream');
    await s.call('SET', 'ms-str', 'v');
    await s.call('XADD', 'ms-stream', '1-1', 'f', 'v');
    const r = show(await s.call('MIGRATE', '127.0.0.1', String((kvTarget as RunningProcess).port), '', '0', '2000', 'KEYS', 'ms-str', 'ms-stream'));
    assert.match(r, /^-ERR MIGRATE of a stream is not supported by kv-ts/);
    assert.equal(await s.call('EXISTS', 'ms-str', 'ms-stream'), 2);
    assert.equal(await t.call('EXISTS', 'ms-str'), 0, 'nothing was sent');
  } finally {
    s.close();
    t.close();
  }
});

test('INFO migrate_cached_sockets counts the cached connection MIGRATE opened', async () => {
  const s = await RawConn.open((kvSource as RunningProcess).port);
  try {
    await s.call('SET', 'cached', '1');
    assert.equal(await s.call('MIGRATE', '127.0.0.1', String((redisTarget as RunningProcess).port), 'cached', '0', '1000', 'COPY', 'REPLACE'), 'OK');
    assert.match(String(await s.call('INFO', 'stats')), /migrate_cached_sockets:[1-9]/);
  } finally {
    s.close();
  }
});
