// The embedded API as `import { openStore } from 'kv-ts'` gives it: every documented method
// works, data survives a reopen, and the engine's replication interface is not reachable.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import * as root from '../src/index.js';
import { InvalidValueError, openStore, WrongTypeError, type Store } from '../src/index.js';
import { tempDir } from './helpers/procs.js';

/** Methods of the engine that must never be reachable from the package root's store. */
const INTERNAL_METHODS = [
  'apply', 'applyEntry', 'applyRecords', 'lastRecord', 'truncateAfter', 'beginEpoch', 'beginLoad',
  'exportSnapshot', 'readMeta', 'writeMeta', 'getStored', 'readValueInto', 'flush', 'whenDurable',
];

test('openStore from the package root: documented API works and survives a reopen', async () => {
  const dir = tempDir('kvts-embedded-');
  try {
    const s = await openStore({ dir, fsync: 'always' });
    const pos = await s.set('user:1', 'alice');
    assert.equal(pos.seq, 1);
    await s.set(Buffer.from('user:2'), Buffer.from('bob'), { px: 60_000 });
    assert.equal(s.get('user:1')?.toString(), 'alice');
    assert.ok(s.pttl('user:2') > 59_000 && s.pttl('user:2') <= 60_000);
    assert.equal(s.pttl('user:1'), -1);
    assert.equal(await s.expire('user:1', 30_000), true);
    assert.equal(await s.expire('missing', 30_000), false);
    assert.equal(await s.delete('user:2'), true);
    assert.equal(await s.delete('user:2'), false);
    await s.set('other', 'x');
    const keys: string[] = [];
    for await (const k of s.scanIterator({ match: 'user:*' })) keys.push(k.toString());
    assert.deepEqual(keys, ['user:1']);
    await s.compact();
    assert.equal(s.stats().keys, 2);
    await s.close();

    const r = await openStore({ dir });
    assert.equal(r.get('user:1')?.toString(), 'alice');
    assert.equal(r.get('user:2'), undefined);
    assert.equal(r.stats().lastPosition.seq, 5);
    await r.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the package root exposes no replication internals', async () => {
  const dir = tempDir('kvts-embedded-');
  try {
    const s = await openStore({ dir });
    const seen = s as unknown as Record<string, unknown>;
    for (const m of INTERNAL_METHODS) assert.equal(seen[m], undefined, `store.${m} must not be reachable`);
    assert.deepEqual(Object.keys(s), [], 'no own enumerable fields (the engine is held privately)');
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(
    Object.keys(root).sort(),
    ['CorruptLogError', 'DirectoryLockedError', 'InvalidValueError', 'StoreUnavailableError', 'WrongTypeError', 'ZERO_POSITION', 'comparePositions', 'formatPosition', 'openStore'],
  );
});

/** Open a store in a fresh directory, run `body`, always close and remove it. */
async function withStore(body: (s: Store, dir: string) => Promise<void>, now?: () => number): Promise<void> {
  const dir = tempDir('kvts-embedded-');
  const s = await openStore({ dir, fsync: 'always', ...(now === undefined ? {} : { now }) });
  try {
    await body(s, dir);
  } finally {
    await s.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Resolves `write` and checks it logged exactly `entries` entries. */
async function logs<T>(s: Store, entries: number, write: Promise<T> | (() => Promise<T>)): Promise<T> {
  const before = s.stats().lastPosition.seq;
  const r = await (typeof write === 'function' ? write() : write);
  assert.equal(s.stats().lastPosition.seq - before, entries, 'log entries written');
  return r;
}

const str = (bs: readonly Buffer[]): string[] => bs.map((b) => b.toString());

test('hashes: hset (object, Map), hget, hgetall, hlen, hincrby, hdel; one entry per write; the last hdel deletes the key', async () => {
  await withStore(async (s) => {
    assert.equal(await logs(s, 1, () => s.hset('h', { a: '1', b: Buffer.from([0xff, 0]) })), 2);
    assert.equal(await logs(s, 1, () => s.hset('h', new Map<string | Buffer, string | Buffer>([['a', 'x'], [Buffer.from('c'), 'é']]))), 1);
    assert.equal((await s.hget('h', 'a'))?.toString(), 'x');
    assert.deepEqual(await s.hget('h', 'b'), Buffer.from([0xff, 0]));
    assert.equal(await s.hget('h', 'nope'), undefined);
    assert.equal(await s.hget('missing', 'a'), undefined);
    const all = await s.hgetall('h');
    assert.deepEqual([...all.keys()], ['a', 'b', 'c']);
    assert.equal(all.get('c')?.toString('utf8'), 'é');
    assert.deepEqual(await s.hgetall('missing'), new Map());
    assert.equal(await s.hlen('h'), 3);
    assert.equal(await logs(s, 1, () => s.hincrby('h', 'n', 5)), 5);
    assert.equal(await s.hincrby('h', 'n', -7), -2);
    await assert.rejects(logs(s, 0, () => s.hincrby('h', 'a', 1)), InvalidValueError);
    await s.hset('h', { big: '9223372036854775807' });
    await assert.rejects(s.hincrby('h', 'big', 1), InvalidValueError);
    // A returned value is a copy: mutating it leaves the hash as it was.
    const v = (await s.hget('h', 'a')) as Buffer;
    v[0] = 0x41;
    assert.equal((await s.hget('h', 'a'))?.toString(), 'x');
    assert.equal(await logs(s, 0, () => s.hdel('h', 'nope')), 0);
    assert.equal(await logs(s, 1, () => s.hdel('h', 'a', 'b', 'a')), 2);
    assert.equal(await s.type('h'), 'hash');
    assert.equal(await logs(s, 1, () => s.hdel('h', 'c', 'n', 'big')), 3);
    assert.equal(await s.type('h'), 'none');
    assert.equal(s.stats().keys, 0);
    await assert.rejects(s.hset('h', {}), RangeError);
  });
});

test('dump / restore: every type round-trips as one entry; BUSYKEY, REPLACE, expiry, a past expiry and bad payloads', async () => {
  let now = 1_000_000;
  await withStore(async (s) => {
    await s.set('s', 'hello');
    await s.hset('h', { a: '1', b: 'x' });
    await s.sadd('set', '1', 'two');
    await s.zadd('z', { a: 1, b: -Infinity });
    await s.rpush('l', 'a', '1', '', 'x'.repeat(10_000), 'a');
    for (const k of ['s', 'h', 'set', 'z', 'l']) {
      const p = (await s.dump(k)) as Buffer;
      await logs(s, 1, () => s.restore(`${k}.copy`, p));
      assert.deepEqual(await s.dump(`${k}.copy`), p, k);
      assert.equal(await s.type(`${k}.copy`), await s.type(k));
    }
    assert.deepEqual((await s.lrange('l.copy', 0, -1)).map((b) => b.toString()), ['a', '1', '', 'x'.repeat(10_000), 'a']);
    assert.equal(await s.dump('missing'), undefined);
    const p = (await s.dump('h')) as Buffer;
    await assert.rejects(logs(s, 0, () => s.restore('s', p)), /BUSYKEY/);
    await logs(s, 1, () => s.restore('s', p, { replace: true, px: 5_000 }));
    assert.equal(await s.type('s'), 'hash');
    assert.equal(s.pttl('s'), 5_000);
    await logs(s, 1, () => s.restore('s', p, { replace: true, pxAt: now - 1 }));
    assert.equal(await s.type('s'), 'none', 'a past expiry deletes the key it replaces');
    await logs(s, 0, () => s.restore('gone', p, { pxAt: now - 1 }));
    const bad = Buffer.from(p);
    bad[0] = 0x42;
    await assert.rejects(logs(s, 0, () => s.restore('x', bad)), (e: Error) => e instanceof InvalidValueError && /checksum/.test(e.message));
    await assert.rejects(s.restore('x', Buffer.alloc(3)), InvalidValueError);
    assert.deepEqual(str(await s.zrange('z.copy', 0, -1)), ['b', 'a']);
    now += 10_000;
    assert.equal(s.pttl('s'), -2);
  }, () => now);
});

test('sets: sadd, srem, sismember, smembers, scard; the last srem deletes the key', async () => {
  await withStore(async (s) => {
    assert.equal(await logs(s, 1, () => s.sadd('s', 'a', 'b', Buffer.from('c'), 'a')), 3);
    assert.equal(await logs(s, 0, () => s.sadd('s', 'a')), 0);
    assert.equal(await s.sismember('s', 'b'), true);
    assert.equal(await s.sismember('s', 'z'), false);
    assert.equal(await s.sismember('missing', 'z'), false);
    assert.deepEqual(str(await s.smembers('s')).sort(), ['a', 'b', 'c']);
    assert.deepEqual(await s.smembers('missing'), []);
    assert.equal(await s.scard('s'), 3);
    assert.equal(await logs(s, 1, () => s.srem('s', 'a', 'z')), 1);
    assert.equal(await s.scard('s'), 2);
    assert.equal(await logs(s, 1, () => s.srem('s', 'b', 'c')), 2);
    assert.equal(await s.type('s'), 'none');
    assert.equal(await s.srem('s', 'b'), 0);
  });
});

test('sorted sets: zadd (list, Map, object), zincrby, zscore, zrange, zrangeByScore, zcard, zrem', async () => {
  await withStore(async (s) => {
    assert.equal(await logs(s, 1, () => s.zadd('z', [{ score: 1, member: 'a' }, { score: 2, member: 'b' }])), 2);
    assert.equal(await logs(s, 1, () => s.zadd('z', new Map<string | Buffer, number>([['b', 5], ['c', 3]]))), 1);
    assert.equal(await s.zadd('z', { d: -Infinity, e: 10 }), 2);
    assert.equal(await logs(s, 0, () => s.zadd('z', { e: 10 })), 0);
    assert.equal(await s.zscore('z', 'b'), 5);
    assert.equal(await s.zscore('z', 'nope'), undefined);
    assert.equal(await s.zcard('z'), 5);
    assert.deepEqual(str(await s.zrange('z', 0, -1)), ['d', 'a', 'c', 'b', 'e']);
    assert.deepEqual(str(await s.zrange('z', 0, 1, { rev: true })), ['e', 'b']);
    const scored = await s.zrange('z', 1, 2, { withScores: true });
    assert.deepEqual(scored.map((e) => [e.member.toString(), e.score]), [['a', 1], ['c', 3]]);
    assert.deepEqual(str(await s.zrangeByScore('z', 1, 5)), ['a', 'c', 'b']);
    assert.deepEqual(str(await s.zrangeByScore('z', -Infinity, Infinity, { limit: { offset: 1, count: 2 } })), ['a', 'c']);
    assert.deepEqual(str(await s.zrangeByScore('z', 1, 5, { rev: true })), ['b', 'c', 'a']);
    assert.deepEqual(await s.zrange('missing', 0, -1), []);
    assert.equal(await logs(s, 1, () => s.zincrby('z', 2.5, 'a')), 3.5);
    assert.equal(await s.zincrby('z', 4, 'new'), 4);
    await s.zadd('z', { inf: Infinity });
    await assert.rejects(logs(s, 0, () => s.zincrby('z', -Infinity, 'inf')), InvalidValueError);
    await assert.rejects(s.zadd('z', { x: Number.NaN }), RangeError);
    assert.equal(await logs(s, 1, () => s.zrem('z', 'a', 'nope')), 1);
    assert.equal(await s.zrem('z', 'b', 'c', 'd', 'e', 'new', 'inf'), 6);
    assert.equal(await s.type('z'), 'none');
  });
});

test('lists: lpush, rpush, lpop, rpop, llen, lrange, lindex, lset, lrem, ltrim, lmove; one entry per write; an emptied list is gone and survives nothing', async () => {
  await withStore(async (s, dir) => {
    assert.equal(await logs(s, 1, () => s.rpush('l', 'a', 'b', Buffer.from([0xff, 0]))), 3);
    assert.equal(await logs(s, 1, () => s.lpush('l', 'y', 'x')), 5);
    assert.deepEqual(str(await s.lrange('l', 0, -1)), ['x', 'y', 'a', 'b', '\ufffd\u0000']);
    assert.deepEqual(str(await s.lrange('l', -3, 1)), []);
    assert.deepEqual(str(await s.lrange('l', -100, 1)), ['x', 'y']);
    assert.deepEqual(await s.lrange('missing', 0, -1), []);
    assert.equal(await s.llen('l'), 5);
    assert.equal((await s.lindex('l', -3))?.toString(), 'a');
    assert.equal(await s.lindex('l', 5), undefined);
    await logs(s, 1, () => s.lset('l', 0, 'X'));
    await assert.rejects(logs(s, 0, () => s.lset('l', 9, 'v')), InvalidValueError);
    await assert.rejects(s.lset('missing', 0, 'v'), InvalidValueError);
    assert.deepEqual(str(await logs(s, 1, () => s.lpop('l'))), ['X']);
    assert.deepEqual(str(await logs(s, 1, () => s.rpop('l', 1))), ['\ufffd\u0000']);
    assert.deepEqual(await logs(s, 0, () => s.rpop('missing', 3)), []);
    assert.equal((await logs(s, 1, () => s.lmove('l', 'm', 'left', 'right')))?.toString(), 'y');
    assert.equal(await logs(s, 0, () => s.lmove('missing', 'm', 'left', 'right')), undefined);
    await s.rpush('l', 'a', 'c', 'a');
    assert.equal(await logs(s, 1, () => s.lrem('l', -1, 'a')), 1);
    assert.equal(await logs(s, 0, () => s.lrem('l', 0, 'zz')), 0);
    assert.deepEqual(str(await s.lrange('l', 0, -1)), ['a', 'b', 'a', 'c']);
    await logs(s, 1, () => s.ltrim('l', 1, 2));
    assert.deepEqual(str(await s.lrange('l', 0, -1)), ['b', 'a']);
    assert.equal(await s.type('l'), 'list');
    await logs(s, 1, () => s.ltrim('l', 5, 6));
    assert.equal(await s.type('l'), 'none');
    assert.deepEqual(str(await logs(s, 1, () => s.lpop('m', 10))), ['y']);
    assert.equal(await s.type('m'), 'none');
    await assert.rejects(s.lpush('l'), RangeError);
    await s.rpush('kept', 'p', 'q');
    await s.close();
    const r = await openStore({ dir });
    try {
      assert.deepEqual(str(await r.lrange('kept', 0, -1)), ['p', 'q']);
      assert.equal(r.stats().keys, 1);
    } finally {
      await r.close();
    }
  });
});

test('collections: a call on a key of another type rejects with WrongTypeError and logs nothing', async () => {
  await withStore(async (s) => {
    await s.set('str', 'v');
    await s.hset('h', { f: 'v' });
    await s.sadd('s', 'm');
    await s.zadd('z', { m: 1 });
    await s.rpush('l', 'e');
    const calls: Array<() => Promise<unknown>> = [
      () => s.hset('str', { f: 'v' }), () => s.hget('s', 'f'), () => s.hgetall('z'), () => s.hdel('str', 'f'),
      () => s.hlen('s'), () => s.hincrby('z', 'f', 1),
      () => s.sadd('h', 'm'), () => s.srem('z', 'm'), () => s.sismember('str', 'm'), () => s.smembers('h'), () => s.scard('z'),
      () => s.zadd('s', { m: 1 }), () => s.zincrby('h', 1, 'm'), () => s.zrem('str', 'm'), () => s.zscore('s', 'm'),
      () => s.zcard('h'), () => s.zrange('s', 0, -1), () => s.zrangeByScore('str', 0, 1),
      () => s.lpush('h', 'e'), () => s.rpop('z'), () => s.lrange('str', 0, -1), () => s.llen('s'), () => s.lindex('h', 0),
      () => s.lset('z', 0, 'e'), () => s.lrem('s', 0, 'e'), () => s.ltrim('str', 0, 1), () => s.lmove('l', 'h', 'left', 'left'),
      () => s.hset('l', { f: 'v' }), () => s.sadd('l', 'm'), () => s.zcard('l'),
    ];
    for (const call of calls) await assert.rejects(logs(s, 0, call), (e: unknown) => e instanceof WrongTypeError && /^WRONGTYPE /.test(e.message));
    assert.deepEqual([await s.type('str'), await s.type('h'), await s.type('s'), await s.type('z'), await s.type('none')], ['string', 'hash', 'set', 'zset', 'none']);
  });
});

test('collections survive a reopen; delete, expire and pttl work on them', async () => {
  let nowMs = 1_000_000;
  const now = (): number => nowMs;
  await withStore(async (s, dir) => {
    await s.hset('h', { f1: 'v1', f2: 'v2' });
    await s.hdel('h', 'f1');
    await s.sadd('s', 'a', 'b');
    await s.zadd('z', [{ score: 1.5, member: 'a' }, { score: -2, member: 'b' }]);
    await s.zincrby('z', 1, 'b');
    await s.sadd('gone', 'x');
    await s.srem('gone', 'x');
    await s.close();
    const r = await openStore({ dir, now });
    try {
      assert.deepEqual([...(await r.hgetall('h'))].map(([f, v]) => [f, v.toString()]), [['f2', 'v2']]);
      assert.deepEqual(str(await r.smembers('s')).sort(), ['a', 'b']);
      assert.deepEqual((await r.zrange('z', 0, -1, { withScores: true })).map((e) => [e.member.toString(), e.score]), [['b', -1], ['a', 1.5]]);
      assert.equal(await r.type('gone'), 'none');
      assert.equal(r.stats().keys, 3);
      assert.equal(await r.expire('h', 5000), true);
      assert.equal(r.pttl('h'), 5000);
      assert.equal(r.pttl('s'), -1);
      assert.equal(await r.delete('s'), true);
      assert.equal(await r.scard('s'), 0);
      const keys: string[] = [];
      for await (const k of r.scanIterator()) keys.push(k.toString());
      assert.deepEqual(keys.sort(), ['h', 'z']);
      nowMs += 5001;
      assert.equal(await r.hlen('h'), 0);
      assert.equal(await r.type('h'), 'none');
      // A write after expiry starts a fresh hash without the old fields or TTL.
      assert.equal(await r.hset('h', { f9: 'v' }), 1);
      assert.equal(r.pttl('h'), -1);
    } finally {
      await r.close();
    }
    const again = await openStore({ dir, now });
    try {
      assert.deepEqual([...(await again.hgetall('h')).keys()], ['f9']);
      assert.equal(await again.type('s'), 'none');
      assert.equal(await again.zscore('z', 'b'), -1);
    } finally {
      await again.close();
    }
  }, now);
});

test('streams through the embedded API: XADD ids (* and explicit), XLEN, XRANGE, WrongTypeError, survives a reopen', async () => {
  const dir = tempDir();
  try {
    const s = await openStore({ dir, fsync: 'always' });
    const id = await s.xadd('ev', [['kind', 'start']]);
    assert.match(id, /^\d+-0$/);
    assert.equal(await s.xadd('ev', [['kind', 'x'], ['n', Buffer.from([0, 255])]], '99999999999999-5'), '99999999999999-5');
    assert.equal(await s.xadd('ev', [['kind', 'y']], '99999999999999-*'), '99999999999999-6');
    await assert.rejects(s.xadd('ev', [['a', 'b']], '1-1'), InvalidValueError);
    await assert.rejects(s.xadd('ev', [['a', 'b']], 'nonsense'), InvalidValueError);
    assert.equal(await s.xlen('ev'), 3);
    const r = await s.xrange('ev', '99999999999999', '+');
    assert.deepEqual(r.map((e) => e.id), ['99999999999999-5', '99999999999999-6']);
    assert.deepEqual(r[0]?.fields.map(([f, v]) => [f.toString(), v.toString('hex')]), [['kind', '78'], ['n', '00ff']]);
    assert.equal((await s.xrange('ev', '-', '+', 1)).length, 1);
    await s.set('str', 'v');
    await assert.rejects(s.xadd('str', [['a', 'b']]), WrongTypeError);
    assert.equal(await s.type('ev'), 'stream');
    await s.close();
    const again = await openStore({ dir });
    assert.equal(await again.xlen('ev'), 3);
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
