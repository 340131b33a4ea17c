// maxmemory in kv-server processes: the -OOM reply and which commands it refuses, byte for byte
// as redis-server 7.0 with the same settings (differential); volatile-* without TTL keys refuses
// like noeviction; under a write load well past the limit, each policy keeps RSS within 10% of the
// limit plus the process's fixed overhead; a primary's evictions reach its replica as deletes
// (same DEBUG DIGEST) while the replica, over its own limit, never evicts by itself.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { ioredisClient } from './helpers/ioredis.js';
import { parseInfo } from './helpers/info.js';
import { startKvServer, startRedisServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { cmd, showReply } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';
import { rng, testSeed } from './helpers/rng.js';
import { waitFor } from './helpers/wait.js';

const MiB = 1024 * 1024;
/** The limit of the RSS tests: big enough that the dataset, not the runtime, dominates. */
const LIMIT_BYTES = 160 * MiB;
/** Bytes written per policy: several times the limit. */
const WRITE_BYTES = 400 * MiB;
const VALUE_BYTES = 1000;
const PIPELINE_DEPTH = 1000;
/** RSS may exceed the limit by this fraction ... */
const RSS_OVER_LIMIT_FRACTION_MAX = 0.1;
/**
 * ... plus the idle process's RSS beyond its used_memory (code, V8's heap at rest) and what a
 * write load adds to RSS outside used_memory: V8's young generation grown to its maximum, and
 * freed log chunks and slabs the GC and the C allocator have not given back yet
 * (docs/storage.md, 'Memory accounting'). How much of that is outstanding at the peak depends on
 * when the GC runs under the machine's load, so the allowance has slack beyond a quiet run's.
 */
const LOAD_OVERHEAD_BYTES = 176 * MiB;
const RSS_SAMPLE_INTERVAL_MS = 50;

const procs = new Set<RunningProcess>();
const clients = new Set<Redis>();
after(async () => {
  for (const c of clients) c.disconnect();
  for (const p of procs) await stopAndClean(p);
});

async function kv(args: string[]): Promise<RunningProcess> {
  const p = await startKvServer({ args: ['--fsync', 'no', '--log-level', 'warn', ...args] });
  procs.add(p);
  return p;
}

const client = (port: number): Redis => ioredisClient(port, clients);

async function infoOf(c: Redis, section: string): Promise<Map<string, string>> {
  return parseInfo(await c.info(section));
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  assert.ok(m !== null, 'VmRSS in /proc/<pid>/status');
  return Number(m[1]) * 1024;
}

test('OOM reply and refused commands match redis-server 7.0 (noeviction, allkeys-lru with nothing left, volatile-lru without TTLs)', async () => {
  const redis = await startRedisServer();
  procs.add(redis);
  const server = await kv([]);
  const conns = [await RawConn.open(redis.port), await RawConn.open(server.port)];
  try {
    const script: string[][] = [
      ['SET', 'k', 'v'],
      ['SET', 'n', '1'],
      ['CONFIG', 'SET', 'maxmemory-policy', 'noeviction'],
      ['CONFIG', 'SET', 'maxmemory', '1'],
      // denyoom commands are refused; reads, deletes and non-growing writes run.
      ['SET', 'k', 'w'], ['SETNX', 'x', '1'], ['INCR', 'n'], ['APPEND', 'k', 'x'], ['MSET', 'a', '1', 'b', '2'], ['GETSET', 'k', 'z'],
      ['SETEX', 'k', '10', 'v'], ['SETRANGE', 'k', '0', 'x'], ['INCRBYFLOAT', 'n', '1.5'], ['SADD', 's', 'a'], ['ZADD', 'z', '1', 'a'], ['COPY', 'k', 'k2'],
      ['GET', 'k'], ['EXISTS', 'k'], ['EXPIRE', 'n', '100'], ['PERSIST', 'n'], ['GETDEL', 'n'], ['DEL', 'k'], ['PING'],
      ['OBJECT', 'FREQ', 'k'],
      ['CONFIG', 'SET', 'maxmemory-policy', 'sometimes'],
      ['CONFIG', 'GET', 'maxmemory-policy'],
      // volatile-lru with only keys without a TTL: nothing may go, so it refuses as noeviction.
      ['CONFIG', 'SET', 'maxmemory', '0'],
      ['SET', 'p1', 'v'], ['SET', 'p2', 'v'],
      ['CONFIG', 'SET', 'maxmemory', '1'],
      ['CONFIG', 'SET', 'maxmemory-policy', 'volatile-lru'],
      ['SET', 'p3', 'v'], ['DBSIZE'],
      ['OBJECT', 'FREQ', 'p1'],
      // allkeys-lru evicts everything and still cannot get under 1 byte: OOM again.
      ['CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru'],
      ['SET', 'p4', 'v'], ['DBSIZE'],
      ['CONFIG', 'SET', 'maxmemory', '0'],
      ['CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lfu'],
      ['SET', 'f', 'v'], ['OBJECT', 'FREQ', 'f'], ['OBJECT', 'IDLETIME', 'f'], ['OBJECT', 'FREQ', 'missing'],
      ['CONFIG', 'SET', 'maxmemory-policy', 'noeviction'],
    ];
    for (const argv of script) {
      const [want, got] = await Promise.all(conns.map(async (c) => showReply(await c.request(...argv))));
      assert.equal(got, want, `${argv.join(' ')}`);
    }
    const stats = await Promise.all([redis.port, server.port].map(async (port) => (await infoOf(client(port), 'stats')).get('evicted_keys')));
    assert.deepEqual(stats, ['2', '2'], 'allkeys-lru evicted p1 and p2 on both');
  } finally {
    for (const c of conns) c.close();
    await stopAndClean(redis);
  }
});

test('blocked clients over maxmemory (noeviction) as redis-server 7.0: a refused push leaves them waiting, a key filled by a non-denyoom write serves them (BLMOVE included)', async () => {
  const redis = await startRedisServer();
  procs.add(redis);
  const server = await kv([]);
  /** The transcript of one server: each reply, the served waiters' included, in order. */
  const run = async (port: number): Promise<string[]> => {
    const [c, w1, w2] = [await RawConn.open(port), await RawConn.open(port), await RawConn.open(port)];
    const out: string[] = [];
    const blocked = async (n: number): Promise<void> => {
      await waitFor(`${n} blocked clients`, async () => parseInfo((await c.call('INFO', 'clients')) as string).get('blocked_clients') === String(n));
    };
    const step = async (...argv: string[]): Promise<void> => void out.push(`${argv.join(' ')} -> ${showReply(await c.request(...argv))}`);
    try {
      await step('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
      await step('RPUSH', 'spare', 'x', 'y');
      w1.send(cmd('BLPOP', 'q', '0'));
      w2.send(cmd('BLMOVE', 'q2', 'dst', 'LEFT', 'RIGHT', '0'));
      await blocked(2);
      await step('CONFIG', 'SET', 'maxmemory', '1');
      // A push is denyoom: refused, the key stays empty, both keep waiting.
      await step('RPUSH', 'q', 'a');
      await blocked(2);
      // RENAME is not denyoom: it fills q, and the waiter is served over the limit.
      await step('RENAME', 'spare', 'q');
      out.push(`w1 <- ${showReply(await w1.readResp(5000))}`);
      await step('LRANGE', 'q', '0', '-1');
      // BLMOVE is denyoom, yet a served one still moves (Redis runs no OOM check when serving).
      await step('RENAME', 'q', 'q2');
      out.push(`w2 <- ${showReply(await w2.readResp(5000))}`);
      await step('LRANGE', 'dst', '0', '-1');
      await step('LRANGE', 'q2', '0', '-1');
      await step('CONFIG', 'SET', 'maxmemory', '0');
      await step('DEL', 'dst', 'q2');
    } finally {
      for (const x of [c, w1, w2]) x.close();
    }
    return out;
  };
  try {
    const want = await run(redis.port);
    const got = await run(server.port);
    assert.deepEqual(got, want);
  } finally {
    await stopAndClean(redis);
  }
});

/** Pipelined SETs of fresh keys, `bytes` in all; returns how many replies were errors (and the first). */
async function writeLoad(c: Redis, prefix: string, bytes: number, ttl: (i: number) => number | null): Promise<{ errors: number; first: string }> {
  const value = Buffer.alloc(VALUE_BYTES, 0x61);
  const n = Math.ceil(bytes / VALUE_BYTES);
  let errors = 0;
  let first = '';
  for (let i = 0; i < n; ) {
    const p = c.pipeline();
    for (let j = 0; j < PIPELINE_DEPTH && i < n; j++, i++) {
      const t = ttl(i);
      if (t === null) p.set(`${prefix}:${i}`, value);
      else p.set(`${prefix}:${i}`, value, 'EX', t);
    }
    for (const [err] of (await p.exec()) ?? []) {
      if (err !== null) {
        errors++;
        if (first === '') first = err.message;
      }
    }
  }
  return { errors, first };
}

const POLICIES = ['allkeys-lru', 'allkeys-lfu', 'allkeys-random', 'volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl', 'noeviction'] as const;

for (const policy of POLICIES) {
  test(`${policy}: a write load of ${WRITE_BYTES / MiB} MiB against a ${LIMIT_BYTES / MiB} MiB limit keeps RSS within ${RSS_OVER_LIMIT_FRACTION_MAX * 100}% of it plus the fixed overhead`, async (t) => {
    const server = await kv(['--maxmemory', String(LIMIT_BYTES), '--maxmemory-policy', policy]);
    const pid = server.child.pid as number;
    const c = client(server.port);
    const idle = await infoOf(c, 'memory');
    const baseline = Number(idle.get('used_memory_rss')) - Number(idle.get('used_memory'));
    let peak = rssBytes(pid);
    const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), RSS_SAMPLE_INTERVAL_MS);
    const r = rng(testSeed(31));
    let result: { errors: number; first: string };
    try {
      result = await writeLoad(c, 'load', WRITE_BYTES, policy.startsWith('volatile-') ? () => 1000 + r.int(100_000) : () => null);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, rssBytes(pid));
    const mem = await infoOf(c, 'memory');
    const evicted = Number((await infoOf(c, 'stats')).get('evicted_keys'));
    assert.equal(mem.get('maxmemory_policy'), policy);
    if (policy === 'noeviction') {
      assert.match(result.first, /^OOM command not allowed when used memory > 'maxmemory'\.$/);
      assert.equal(evicted, 0);
    } else {
      assert.equal(result.errors, 0, `${policy}: ${result.errors} writes refused (${result.first})`);
      assert.ok(evicted > 0, 'keys were evicted');
    }
    const bound = (1 + RSS_OVER_LIMIT_FRACTION_MAX) * LIMIT_BYTES + baseline + LOAD_OVERHEAD_BYTES;
    t.diagnostic(`peak RSS ${(peak / MiB).toFixed(0)} MiB, bound ${(bound / MiB).toFixed(0)} MiB, idle overhead ${(baseline / MiB).toFixed(0)} MiB, used_memory ${(Number(mem.get('used_memory')) / MiB).toFixed(0)} MiB, evicted ${evicted}`);
    assert.ok(peak <= bound, `${policy}: peak RSS ${(peak / MiB).toFixed(0)} MiB > ${(bound / MiB).toFixed(0)} MiB (limit ${LIMIT_BYTES / MiB}, idle overhead ${(baseline / MiB).toFixed(0)})`);
    // The limit holds for used_memory too (a sample may see the last write's growth).
    assert.ok(Number(mem.get('used_memory')) <= LIMIT_BYTES * (1 + RSS_OVER_LIMIT_FRACTION_MAX), `used_memory ${mem.get('used_memory')}`);
    await stopAndClean(server);
    procs.delete(server);
  });
}

test("a primary's evictions reach its replica as logged deletes (same DEBUG DIGEST); the replica, over its own limit, never evicts", async () => {
  // 64 MiB leaves the primary room for its replication backlog and the process's fixed overhead
  // beside the keys (at 48 MiB a loaded machine's sampling lag could refuse writes with OOM).
  const primary = await kv(['--maxmemory', String(64 * MiB), '--maxmemory-policy', 'allkeys-lru']);
  const replica = await kv(['--replica-of', `127.0.0.1:${primary.port}`, '--maxmemory', String(24 * MiB), '--maxmemory-policy', 'allkeys-lru']);
  const p = client(primary.port);
  const rc = client(replica.port);
  await waitFor('the replica is linked', async () => (await infoOf(rc, 'replication')).get('master_link_status') === 'up', { timeoutMs: 20_000 });
  const load = await writeLoad(p, 'repl', 160 * MiB, () => null);
  assert.equal(load.errors, 0, load.first);
  const evicted = Number((await infoOf(p, 'stats')).get('evicted_keys'));
  assert.ok(evicted > 0, 'the primary evicted');
  await waitFor(
    'the replica holds what the primary holds',
    async () => {
      const [pi, ri] = [await infoOf(p, 'replication'), await infoOf(rc, 'replication')];
      if (pi.get('master_repl_offset') !== ri.get('slave_repl_offset')) return false;
      // The primary may still evict between calls (its memory is sampled by a timer): the
      // digests and the key counts are compared within one check, each retried until they agree.
      if ((await rc.dbsize()) !== (await p.dbsize())) return false;
      return String(await p.call('DEBUG', 'DIGEST')) === String(await rc.call('DEBUG', 'DIGEST'));
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  assert.equal((await infoOf(rc, 'stats')).get('evicted_keys'), '0', 'the replica evicted by itself');
  const rmem = await infoOf(rc, 'memory');
  assert.equal(rmem.get('kv_maxmemory_exceeded'), '1', `the replica reports its limit exceeded (used ${rmem.get('used_memory')})`);
});
