// The HyperLogLog commands (server/commands/hyperloglog.ts, storage/hyperloglog.ts) against a
// real redis-server: seeded random PFADD / PFCOUNT / PFMERGE / PFDEBUG / GET sequences over a few
// keys (sparse values, promotion to dense at hll-sparse-max-bytes or a register over 32, large
// sets), with replies and the stored bytes compared exactly; corrupted values; keyspace events,
// MULTI and scripts; PFSELFTEST. Then a replica's copy equals its primary's, PFCOUNT's cache
// included. KV_SEED replays a seed.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { serverPairPerFile, startKvServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { rng, testSeed, type Rng } from './helpers/rng.js';
import { showReply } from './helpers/resp.js';
import { framesUntilMarker, openPairConns, RawConn } from './helpers/server-conn.js';
import { waitFor } from './helpers/wait.js';

const servers = serverPairPerFile();

const COMMANDS_PER_SEED = 1_500;
const SEEDS = 4;
const HLL_KEYS = ['h1', 'h2', 'h3', 'h4'];
/** A plain string and a list: WRONGTYPE and "not a valid HyperLogLog". */
const OTHER_KEYS = ['str', 'lst', 'none'];
const SPARSE_LIMITS = ['3000', '3000', '3000', '200', '40', '10000'];

function elements(r: Rng): string[] {
  const k = r.int(30);
  // Now and then many at once: past the sparse limit, or a run of new registers.
  if (k === 0) return Array.from({ length: 500 + r.int(3000) }, (_, i) => `e${r.int(1_000_000)}:${i}`);
  if (k === 1) return [];
  return Array.from({ length: 1 + r.int(6) }, () => (r.int(3) === 0 ? r.bytes(r.int(20)).toString('latin1') : `m${r.int(2000)}`));
}

function anyKey(r: Rng): string {
  return r.int(15) === 0 ? r.pick(OTHER_KEYS) : r.pick(HLL_KEYS);
}

function someKeys(r: Rng): string[] {
  return Array.from({ length: 1 + r.int(3) }, () => anyKey(r));
}

function genCommand(r: Rng): string[] {
  const k = r.int(100);
  if (k < 40) return ['PFADD', anyKey(r), ...elements(r)];
  if (k < 55) return ['PFCOUNT', anyKey(r)];
  if (k < 62) return ['PFCOUNT', ...someKeys(r), anyKey(r)];
  if (k < 70) return ['PFMERGE', anyKey(r), ...(r.int(5) === 0 ? [] : someKeys(r))];
  if (k < 82) return ['GET', anyKey(r)];
  if (k < 90) return ['PFDEBUG', r.pick(['ENCODING', 'DECODE', 'TODENSE', 'todense', 'GETREG', 'nosuch']), anyKey(r)];
  if (k < 92) return ['CONFIG', 'SET', 'hll-sparse-max-bytes', r.pick(SPARSE_LIMITS)];
  if (k < 94) return ['DEL', anyKey(r)];
  if (k < 96) return ['PFADD', anyKey(r), 'x', 'y', 'extra-argument-to-make-this-long'];
  if (k < 97) return ['EVAL', "return redis.call('pfadd', KEYS[1], ARGV[1], ARGV[2])", '1', anyKey(r), `s${r.int(100)}`, `t${r.int(100)}`];
  if (k < 98) return ['EVAL', "local n = redis.call('pfcount', KEYS[1]); redis.call('pfadd', KEYS[1], ARGV[1]); return {n, redis.call('pfcount', KEYS[1])}", '1', r.pick(HLL_KEYS), `s${r.int(100)}`];
  return ['PFADD'];
}

/** Arguments as bytes: each character one byte (latin1), so crafted values and random bytes go as written. */
const bytesOf = (argv: readonly string[]): Buffer[] => argv.map((a) => Buffer.from(a, 'latin1'));

/** A string value's exact bytes (null when missing). */
async function valueOf(c: RawConn, k: string): Promise<Buffer | null> {
  const r = await c.request('GET', k);
  assert.equal(r.t, 'bulk', showReply(r));
  return r.t === 'bulk' ? r.b : null;
}

async function both(kv: RawConn, redis: RawConn, argv: readonly string[], what: string): Promise<string> {
  const [a, b] = await Promise.all([kv.request(...bytesOf(argv)), redis.request(...bytesOf(argv))]);
  const shownA = showReply(a);
  assert.equal(shownA, showReply(b), what);
  return shownA;
}

async function resetPair(kv: RawConn, redis: RawConn): Promise<void> {
  for (const c of [kv, redis]) {
    await c.request('FLUSHALL');
    await c.request('CONFIG', 'SET', 'hll-sparse-max-bytes', '3000');
    await c.request('SET', 'str', 'plain string value');
    await c.request('RPUSH', 'lst', 'a', 'b');
  }
}

for (const protocol of [2, 3] as const) {
  test(`seeded PFADD / PFCOUNT / PFMERGE / PFDEBUG sequences give Redis's replies and bytes (RESP${protocol})`, async () => {
    const { kv, redis } = await openPairConns(servers, protocol);
    try {
      const base = testSeed(20261206);
      for (let s = 0; s < SEEDS; s++) {
        const seed = base + s * 7919 + protocol;
        const r = rng(seed);
        await resetPair(kv, redis);
        for (let i = 0; i < COMMANDS_PER_SEED; i++) {
          const argv = genCommand(r);
          await both(kv, redis, argv, `seed ${seed} step ${i}: ${argv.slice(0, 4).join(' ')}${argv.length > 4 ? ` ... (${argv.length} args)` : ''}`);
        }
        for (const k of HLL_KEYS) await both(kv, redis, ['GET', k], `seed ${seed}: final bytes of ${k}`);
      }
    } finally {
      await kv.request('CONFIG', 'SET', 'hll-sparse-max-bytes', '3000');
      kv.close();
      redis.close();
    }
  });
}

test('large sets: 20k elements in batches, promotion, merges of dense and sparse, counts and bytes as Redis', async () => {
  const { kv, redis } = await openPairConns(servers, 2);
  try {
    await resetPair(kv, redis);
    const r = rng(testSeed(42));
    for (let batch = 0; batch < 20; batch++) {
      const els = Array.from({ length: 1000 }, (_, i) => `big:${batch}:${i}:${r.int(1 << 30)}`);
      await both(kv, redis, ['PFADD', 'big', ...els], `batch ${batch}`);
      await both(kv, redis, ['PFCOUNT', 'big'], `count after batch ${batch}`);
      await both(kv, redis, ['PFDEBUG', 'ENCODING', 'big'], `encoding after batch ${batch}`);
    }
    await both(kv, redis, ['PFADD', 'small', 'a', 'b', 'c'], 'small');
    await both(kv, redis, ['PFMERGE', 'small', 'big'], 'sparse destination, dense source');
    await both(kv, redis, ['PFMERGE', 'fresh', 'small', 'missing'], 'new destination');
    await both(kv, redis, ['PFCOUNT', 'big', 'small', 'fresh', 'missing'], 'union count');
    for (const k of ['big', 'small', 'fresh']) await both(kv, redis, ['GET', k], `bytes of ${k}`);
    const count = Number(await kv.call('PFCOUNT', 'big'));
    assert.ok(Math.abs(count - 20_000) < 20_000 * 0.05, `estimate ${count} near 20000`);
  } finally {
    kv.close();
    redis.close();
  }
});

test('values that are not HLLs, or corrupted ones, get the errors Redis gives', async () => {
  const { kv, redis } = await openPairConns(servers, 2);
  try {
    await resetPair(kv, redis);
    const cases: string[][] = [
      // A sparse value with bytes added at its tail, its magic broken, its encoding unknown.
      ['PFADD', 'a', 'x', 'y', 'z'], ['APPEND', 'a', 'hello'], ['PFCOUNT', 'a'], ['PFADD', 'a', 'q'], ['PFMERGE', 'd', 'a'], ['PFCOUNT', 'a', 'd'],
      ['PFADD', 'b', 'x'], ['SETRANGE', 'b', '0', 'hyll'], ['PFCOUNT', 'b'], ['PFADD', 'b', 'y'],
      ['PFADD', 'c', 'x'], ['SETRANGE', 'c', '4', '\x02'], ['PFCOUNT', 'c'], ['PFDEBUG', 'ENCODING', 'c'],
      // A dense value one byte short; the registers then are not all there.
      ['PFADD', 'e', 'x'], ['PFDEBUG', 'TODENSE', 'e'], ['GETRANGE', 'e', '0', '-2'],
      // A sparse body covering fewer registers (the last XZERO shortened): count, add, merge, convert.
      ['SET', 'f', 'HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xf0'], ['PFCOUNT', 'f'], ['PFADD', 'f', 'a', 'b'], ['PFDEBUG', 'TODENSE', 'f'], ['PFMERGE', 'g', 'f'],
      ['PFDEBUG', 'GETREG', 'f'], ['PFDEBUG', 'DECODE', 'f'], ['GET', 'f'],
      // A VAL run past the last register.
      ['SET', 'v', 'HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff\x83'], ['PFCOUNT', 'v'], ['PFCOUNT', 'v', 'a'], ['PFDEBUG', 'DECODE', 'v'], ['PFADD', 'v', 'k'],
      // Short strings, the wrong type, a missing key.
      ['SET', 's', 'HYLL'], ['PFADD', 's', 'x'], ['PFCOUNT', 's'], ['PFADD', 'lst', 'x'], ['PFCOUNT', 'lst', 'a'], ['PFMERGE', 'lst', 'a'], ['PFDEBUG', 'GETREG', 'none'],
      ['PFDEBUG', 'GETREG', 'lst'], ['PFDEBUG', 'DECODE', 'str'],
    ];
    for (const argv of cases) await both(kv, redis, argv, argv.join(' '));
    const dense = await valueOf(kv, 'e');
    assert.ok(dense !== null && dense.length === 16 + 12288, 'a dense value');
    for (const c of [kv, redis]) await c.request('SET', 'e', dense.subarray(0, dense.length - 1));
    for (const argv of [['PFCOUNT', 'e'], ['PFADD', 'e', 'x'], ['PFMERGE', 'e']]) await both(kv, redis, argv, `short dense: ${argv.join(' ')}`);
    for (const k of ['a', 'b', 'c', 'e', 'f', 'g', 'v']) await both(kv, redis, ['GET', k], `bytes of ${k}`);
  } finally {
    kv.close();
    redis.close();
  }
});

test("keyspace events, MULTI and WATCH around HLL writes are Redis's", async () => {
  const { kv, redis } = await openPairConns(servers, 3);
  const subs = await openPairConns(servers, 3);
  try {
    await resetPair(kv, redis);
    for (const c of [kv, redis]) await c.request('CONFIG', 'SET', 'notify-keyspace-events', 'KEA');
    for (const c of [subs.kv, subs.redis]) await c.request('PSUBSCRIBE', '__key*__:*');
    const lines: string[][] = [
      ['PFADD', 'h', 'a'], ['PFADD', 'h', 'a'], ['PFADD', 'n'], ['PFCOUNT', 'h'], ['PFMERGE', 'h', 'n'], ['PFMERGE', 'm'], ['PFDEBUG', 'TODENSE', 'h'],
      ['MULTI'], ['PFADD', 'h', 'b'], ['PFCOUNT', 'h', 'n'], ['PFCOUNT', 'h'], ['EXEC'],
    ];
    for (const argv of lines) await both(kv, redis, argv, argv.join(' '));
    const [fa, fb] = await Promise.all([framesUntilMarker(subs.kv, []), framesUntilMarker(subs.redis, [])]);
    assert.deepEqual(fa, fb, 'events');
    // PFCOUNT refreshing the cache is a change of the key: a WATCH on it fails the transaction.
    for (const argv of [['PFADD', 'w', 'x'], ['WATCH', 'w'], ['PFCOUNT', 'w'], ['MULTI'], ['PING'], ['EXEC'], ['GET', 'w']]) await both(kv, redis, argv, argv.join(' '));
  } finally {
    for (const c of [kv, redis]) await c.request('CONFIG', 'SET', 'notify-keyspace-events', '');
    for (const c of [kv, redis, subs.kv, subs.redis]) c.close();
  }
});

test('PFSELFTEST passes; hll-sparse-max-bytes is set and read as in Redis', async () => {
  const { kv, redis } = await openPairConns(servers, 2);
  try {
    assert.equal(await kv.call('PFSELFTEST'), 'OK');
    for (const v of ['lots', '-1', '1kb', '0', '3000']) {
      await both(kv, redis, ['CONFIG', 'SET', 'hll-sparse-max-bytes', v], `set ${v}`);
      await both(kv, redis, ['CONFIG', 'GET', 'hll-sparse-max-bytes'], `get after ${v}`);
    }
  } finally {
    kv.close();
    redis.close();
  }
});

// ---------------------------------------------------------------- replication

let primary: RunningProcess | undefined;
let replica: RunningProcess | undefined;
after(async () => {
  await stopAndClean(replica);
  await stopAndClean(primary);
});

test("a replica's copy of an HLL is the primary's bytes; PFCOUNT on the replica answers without writing", async () => {
  primary = await startKvServer();
  replica = await startKvServer({ args: ['--replica-of', `127.0.0.1:${primary.port}`] });
  const p = await RawConn.open(primary.port);
  const rp = await RawConn.open(replica.port);
  try {
    const els = Array.from({ length: 5000 }, (_, i) => `r${i}`);
    assert.equal(await p.call('PFADD', 'h', ...els.slice(0, 100)), 1);
    assert.equal(await p.call('PFADD', 'd', ...els), 1);
    assert.equal(await p.call('PFMERGE', 'u', 'h', 'd'), 'OK');
    const same = async (k: string): Promise<Buffer> => {
      const want = await valueOf(p, k);
      assert.ok(want !== null, k);
      await waitFor(`replica's ${k}`, async () => (await valueOf(rp, k))?.equals(want) === true);
      return want;
    };
    for (const k of ['h', 'd', 'u']) await same(k);
    // On the replica the cache stays stale (nothing is written there); the count is the primary's.
    const stale = await same('h');
    assert.equal((stale[15] as number) & 0x80, 0x80, 'cache stale after PFADD');
    const onReplica = await rp.call('PFCOUNT', 'h');
    assert.deepEqual(await valueOf(rp, 'h'), stale, 'the replica wrote nothing');
    assert.equal(await p.call('PFCOUNT', 'h'), onReplica);
    const cached = await same('h');
    assert.equal((cached[15] as number) & 0x80, 0, 'the primary logged its refreshed cache');
    assert.equal(await rp.call('PFCOUNT', 'h', 'd', 'u'), await p.call('PFCOUNT', 'h', 'd', 'u'));
    assert.match(showReply(await rp.request('PFADD', 'h', 'x')), /^-READONLY/);
  } finally {
    p.close();
    rp.close();
  }
});
