// Replication with real kv-server processes on 127.0.0.1 ephemeral ports: convergence under
// load, partial and full resync, manual failover with a diverged old primary, staleness
// bounds, READONLY redirects through ioredis, WAIT, session read-your-writes, and a replica
// with a damaged log (refused start, --repair, catch-up).
// KV_LONG=1 runs the session test with 10k operations instead of 1.5k.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { parseInfo } from './helpers/info.js';
import { startKvServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { assertStartRefused, damage, files, repairDir } from './helpers/damage.js';
import { rng } from './helpers/rng.js';
import { waitFor } from './helpers/wait.js';

const LONG = process.env['KV_LONG'] === '1';
const SESSION_OPS = LONG ? 10_000 : 1500;
/** Convergence waits: generous for slow CI machines, but bounded. */
const CONVERGE_TIMEOUT_MS = 30_000;

const procs = new Set<RunningProcess>();
const clients = new Set<Redis>();
after(async () => {
  for (const c of clients) c.disconnect();
  for (const p of procs) await stopAndClean(p);
});

async function node(args: string[], opts: { port?: number; dir?: string } = {}): Promise<RunningProcess> {
  const p = await startKvServer({ args: ['--fsync', 'everysec', '--log-level', 'info', ...args], ...opts });
  procs.add(p);
  return p;
}

function client(p: RunningProcess, password?: string): Redis {
  // No retries: a test must see every error the server sends.
  const c = new Redis({ host: '127.0.0.1', port: p.port, maxRetriesPerRequest: 0, retryStrategy: () => null, ...(password === undefined ? {} : { password }) });
  c.on('error', () => undefined);
  clients.add(c);
  return c;
}

/** INFO replication over the test's own client (it carries the password where one is set). */
async function info(c: Redis): Promise<Map<string, string>> {
  return parseInfo(await c.info('replication'));
}

async function digest(c: Redis): Promise<string> {
  return String(await c.call('DEBUG', 'DIGEST'));
}

async function sameDigest(what: string, primary: Redis, replicas: Redis[]): Promise<void> {
  await waitFor(
    what,
    async () => {
      const [want, wantPos] = [await digest(primary), (await info(primary)).get('master_repl_offset')];
      for (const r of replicas) {
        if ((await info(r)).get('slave_repl_offset') !== wantPos) return false;
        if ((await digest(r)) !== want) return false;
      }
      return true;
    },
    { timeoutMs: CONVERGE_TIMEOUT_MS, intervalMs: 50 },
  );
}

function runBenchmark(port: number, requests: number, clients = 20, pipeline = 8, tests = 'set,incr'): Promise<void> {
  return new Promise((resolve, reject) => {
    const b = spawn('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-t', tests, '-n', String(requests), '-r', '5000', '-c', String(clients), '-P', String(pipeline), '-q'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    b.stderr.on('data', (d: Buffer) => (err += d.toString()));
    b.once('error', reject);
    b.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`redis-benchmark exited ${code}: ${err}`))));
  });
}

async function writeLoop(c: Redis, prefix: string, n: number, r: ReturnType<typeof rng>): Promise<void> {
  for (let i = 0; i < n; i++) await c.set(`${prefix}${r.int(300)}`, `v${i}`);
}

test('under redis-benchmark load two replicas reach the primary digest; ROLE, INFO, WAIT, READONLY', async () => {
  const p = await node([]);
  const pc = client(p);
  const r1 = await node(['--replica-of', `127.0.0.1:${p.port}`]);
  const r2 = await node(['--replica-of', `127.0.0.1:${p.port}`]);
  const [c1, c2] = [client(r1), client(r2)];
  await waitFor('two replicas online', async () => (await info(pc)).get('connected_slaves') === '2');
  await Promise.all([runBenchmark(p.port, 15_000), writeLoop(pc, 'loop:', 500, rng(1))]);
  await sameDigest('replicas converge after redis-benchmark', pc, [c1, c2]);

  const role = (await pc.call('ROLE')) as [string, number, Array<[string, string, string]>];
  assert.equal(role[0], 'master');
  assert.equal(role[2].length, 2);
  assert.deepEqual(role[2].map((x) => Number(x[1])).sort(), [r1.port, r2.port].sort());
  const rrole = (await c1.call('ROLE')) as [string, string, number, string, number];
  assert.deepEqual(rrole.slice(0, 4), ['slave', '127.0.0.1', p.port, 'connected']);
  const pi = await info(pc);
  assert.match(pi.get('slave0') ?? '', /^ip=127\.0\.0\.1,port=\d+,state=online,offset=\d+,lag=\d+/);
  const ri = await info(c1);
  assert.equal(ri.get('role'), 'slave');
  assert.equal(ri.get('master_link_status'), 'up');
  assert.equal(ri.get('master_port'), String(p.port));

  await pc.set('wait-key', '1');
  assert.equal(await pc.call('WAIT', '2', '5000'), 2, 'both replicas acknowledge within the timeout');

  await assert.rejects(c1.set('x', '1'), (e: Error) => {
    assert.match(e.message, new RegExp(`^READONLY .*primary=127\\.0\\.0\\.1:${p.port}`));
    return true;
  });
});

test('a primary with --requirepass accepts a replica with --primary-auth, refuses a wrong one', async () => {
  const p = await node(['--requirepass', 's3cret']);
  const pc = client(p, 's3cret');
  const good = await node(['--replica-of', `127.0.0.1:${p.port}`, '--primary-auth', 's3cret']);
  const bad = await node(['--replica-of', `127.0.0.1:${p.port}`, '--primary-auth', 'wrong']);
  await pc.set('auth-key', 'v');
  const gc = client(good);
  await waitFor('authenticated replica has the key', async () => (await gc.get('auth-key')) === 'v');
  await waitFor('refusal logged', () => /primary refused: WRONGPASS/.test(bad.output()));
  assert.equal((await info(pc)).get('connected_slaves'), '1');
});

test('a SIGKILLed replica restarts and catches up by partial resync', async () => {
  const p = await node([]);
  const pc = client(p);
  const r1 = await node(['--replica-of', `127.0.0.1:${p.port}`]);
  const c1 = client(r1);
  const r = rng(2);
  await writeLoop(pc, 'a:', 1000, r);
  await sameDigest('replica in sync', pc, [c1]);
  const before = await info(pc);
  c1.disconnect();
  await r1.kill('SIGKILL');
  procs.delete(r1);
  await writeLoop(pc, 'b:', 500, r);
  const again = await node(['--replica-of', `127.0.0.1:${p.port}`], { port: r1.port, dir: r1.dir });
  const c1b = client(again);
  await sameDigest('restarted replica catches up', pc, [c1b]);
  const afterInfo = await info(pc);
  assert.equal(Number(afterInfo.get('kv_partial_resyncs')), Number(before.get('kv_partial_resyncs')) + 1, 'one more partial resync');
  assert.equal(afterInfo.get('kv_full_resyncs'), before.get('kv_full_resyncs'), 'no full resync');
});

test('a replica whose log segment is damaged refuses to start naming the file; after --repair, or on an emptied directory by a full resync, it catches up to one digest', async () => {
  const p = await node([]);
  const pc = client(p);
  const replicaArgs = ['--replica-of', `127.0.0.1:${p.port}`];
  const r1 = await node(replicaArgs);
  const r2 = await node(replicaArgs);
  const r = rng(5);
  await sameDigest('replicas attached', pc, [client(r1), client(r2)]);
  await writeLoop(pc, 'd:', 500, r);
  await sameDigest('replicas in sync', pc, [client(r1), client(r2)]);
  for (const x of [r1, r2]) {
    await x.kill('SIGKILL');
    procs.delete(x);
    const seg = files(x.dir, 'log', '.wal').at(-1) as string;
    damage(seg, 'flip', 0.5);
    await assertStartRefused(x.port, x.dir, seg, replicaArgs);
  }
  assert.match(await repairDir(r1.dir), /dropped \d+ record\(s\)/);
  rmSync(r2.dir, { recursive: true, force: true }); // the other way back: start over from the primary
  await writeLoop(pc, 'e:', 100, r); // the primary went on meanwhile
  const fullBefore = Number((await info(pc)).get('kv_full_resyncs'));
  const again1 = await node(replicaArgs, { port: r1.port, dir: r1.dir });
  const again2 = await node(replicaArgs, { port: r2.port, dir: r2.dir });
  await sameDigest('the repaired and the emptied replica catch up', pc, [client(again1), client(again2)]);
  assert.ok(Number((await info(pc)).get('kv_full_resyncs')) > fullBefore, 'the emptied replica was fully resynced');
});

test('a replica behind more than the backlog gets a full resync while the primary keeps answering writes', async () => {
  const p = await node(['--repl-backlog-bytes', '4096']);
  const pc = client(p);
  const r = rng(3);
  const big = 'x'.repeat(200);
  for (let i = 0; i < 20; i++) {
    const pipe = pc.pipeline();
    for (let j = 0; j < 500; j++) pipe.set(`bulk:${i}:${j}`, big);
    await pipe.exec();
  }
  let acked = 0;
  let writing = true;
  const writer = (async (): Promise<void> => {
    const w = client(p);
    while (writing) {
      await w.set(`during:${r.int(100)}`, String(acked));
      acked++;
    }
  })();
  const r1 = await node(['--replica-of', `127.0.0.1:${p.port}`]);
  const c1 = client(r1);
  const ackedAtStart = acked;
  await waitFor('full resync done', async () => Number((await info(pc)).get('kv_full_resyncs')) >= 1 && (await info(c1)).get('master_sync_in_progress') === '0' && (await info(c1)).get('kv_sync_state') === 'streaming', { timeoutMs: CONVERGE_TIMEOUT_MS });
  assert.ok(acked > ackedAtStart, 'writes were acknowledged during the full resync');
  writing = false;
  await writer;
  await sameDigest('replica equals primary after full resync', pc, [c1]);
  assert.match(r1.output(), /full resync from \S+ loaded: 10\d\d\d keys/);
  assert.match(p.output(), /full resync to \S+: sent \d+ keys/);
});

test('PROMOTE a replica, write both sides, REPLICAOF the old primary: diverged writes discarded and counted', async () => {
  const a = await node([]);
  const ac = client(a);
  const b = await node(['--replica-of', `127.0.0.1:${a.port}`]);
  const bc = client(b);
  const r = rng(4);
  await writeLoop(ac, 'k', 300, r);
  await sameDigest('b follows a', ac, [bc]);
  assert.equal(await bc.call('PROMOTE'), 'OK');
  // b takes writes once its new epoch's no-op is in its log (until then: TRYAGAIN).
  await waitFor('b accepts writes', async () => (await bc.set('new-side', '1')) === 'OK');
  // a still believes it is primary: these 9 writes exist only on a.
  for (let i = 0; i < 9; i++) await ac.set(`orphan:${i}`, 'x');
  const lostToken = String(await ac.call('POSITION'));
  await writeLoop(bc, 'k', 50, r);
  assert.equal(await ac.call('REPLICAOF', '127.0.0.1', String(b.port)), 'OK');
  await sameDigest('old primary follows the new one', bc, [ac]);
  const ai = await info(ac);
  assert.equal(ai.get('kv_discarded_writes'), '9');
  assert.match(ai.get('kv_discarded_ranges') ?? '', /^\d+:\d+-\d+:\d+$/);
  assert.equal(await ac.get('orphan:0'), null);
  assert.equal(await ac.get('new-side'), '1');
  // A session that wrote on the old side learns its write was lost, never reads older data silently.
  await assert.rejects(ac.call('CONSISTENCY', 'SESSION', lostToken), /^ReplyError: SESSIONLOST|SESSIONLOST/);
  await assert.rejects(bc.call('CONSISTENCY', 'SESSION', lostToken), /SESSIONLOST/);
  assert.match(a.output(), /discard/);
});

test('staleness bound: not triggered under steady load, enforced when the primary is gone', async () => {
  const p = await node([]);
  const pc = client(p);
  const r1 = await node(['--replica-of', `127.0.0.1:${p.port}`, '--replica-max-lag-ms', '1000', '--replica-max-lag-ops', '1000']);
  const c1 = client(r1);
  await pc.set('k', '0');
  await sameDigest('in sync', pc, [c1]);
  // Steady load for 2.5 × the bound: every replica read must succeed (heartbeats flow under load).
  const r = rng(5);
  const until = Date.now() + 2500;
  let reads = 0;
  const writers = [0, 1, 2, 3].map(async (w) => {
    const c = client(p);
    while (Date.now() < until) await c.set(`steady:${w}:${r.int(100)}`, 'v');
  });
  while (Date.now() < until) {
    await c1.get(`steady:0:${r.int(100)}`);
    reads++;
  }
  await Promise.all(writers);
  assert.ok(reads > 50, `enough reads (${reads})`);
  // Cut the replica off: within the bound (+ slack) reads fail with TOOSTALE and the primary's address.
  // The clock starts when SIGKILL is sent (the primary says nothing after it), not when the exit
  // is reported: on a loaded machine that report came late and shortened the measured wait.
  const t0 = Date.now();
  await p.kill('SIGKILL');
  const err = await waitFor(
    'TOOSTALE after the primary dies',
    async () => {
      try {
        await c1.get('k');
        return false;
      } catch (e) {
        return e as Error;
      }
    },
    { timeoutMs: 5000 },
  );
  assert.match(err.message, new RegExp(`^TOOSTALE replica is \\d+ ops / \\d+ ms behind; primary=127\\.0\\.0\\.1:${p.port}`));
  assert.ok(Date.now() - t0 >= 900, 'not refused before the bound');
  assert.equal((await info(c1)).get('master_link_status'), 'down');
  assert.equal(await c1.call('ROLE').then((x) => (x as unknown[])[3]), 'connect');
});

test(`session read-your-writes across primary and replica (${SESSION_OPS} random ops)`, async () => {
  const p = await node([]);
  const pc = client(p);
  const r1 = await node(['--replica-of', `127.0.0.1:${p.port}`]);
  const rc = client(r1);
  await assert.rejects(rc.call('CONSISTENCY', 'QUORUM'), /NOQUORUM quorum needs cluster mode/);
  assert.equal(await rc.call('CONSISTENCY'), 'EVENTUAL');
  // Background writers keep the replica busy so tokens are not trivially satisfied.
  let running = true;
  const bg = (async (): Promise<void> => {
    const c = client(p);
    let i = 0;
    while (running) await c.set(`bg:${i++ % 500}`, 'x'.repeat(100));
  })();
  const r = rng(6);
  const model = new Map<string, string>();
  let token = '';
  let reads = 0;
  let waitsRetried = 0;
  for (let i = 0; i < SESSION_OPS; i++) {
    const key = `s:${r.int(50)}`;
    if (r.next() < 0.5 || model.size === 0) {
      const v = `v${i}`;
      // Pipelined: the token comes back as fast as possible, often before the replica has it.
      const res = await pc.pipeline().set(key, v).call('POSITION').exec();
      model.set(key, v);
      token = String((res as Array<[Error | null, unknown]>)[1]?.[1]);
      continue;
    }
    // Present the token; the replica waits up to its bound, else TOOSTALE: then retry.
    for (;;) {
      try {
        assert.equal(await rc.call('CONSISTENCY', 'SESSION', token), 'OK');
        break;
      } catch (e) {
        assert.match((e as Error).message, /^TOOSTALE/);
        waitsRetried++;
      }
    }
    const got = await rc.get(key);
    assert.equal(got, model.get(key) ?? null, `read-your-writes violated for ${key} at op ${i} (token ${token})`);
    reads++;
  }
  running = false;
  await bg;
  assert.ok(reads > SESSION_OPS / 4, `reads ${reads}`);
  assert.equal(await rc.call('CONSISTENCY'), 'SESSION');
  const ri = await info(rc);
  process.stdout.write(`# session test: ${reads} reads, ${ri.get('kv_session_waits')} waited for replication, ${waitsRetried} TOOSTALE retries\n`);
  assert.ok(Number(ri.get('kv_session_waits')) > 0, 'some reads had to wait for their token (the deferred path ran)');
});

/** Percentile of sorted samples. */
function pct(sorted: number[], f: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))] ?? -1;
}

test('replication lag under load (measurement; KV_LONG=1)', { skip: !LONG }, async () => {
  const p = await node([]);
  const pc = client(p);
  const r1 = await node(['--replica-of', `127.0.0.1:${p.port}`]);
  const r2 = await node(['--replica-of', `127.0.0.1:${p.port}`]);
  await waitFor('two replicas online', async () => ((await info(pc)).get('slave1') ?? '').includes('state=online'));
  const probe = client(p);
  for (const [name, clients, pipeline, n] of [['steady (4 clients, no pipelining)', 4, 1, 50_000], ['saturated (50 clients, pipeline 16)', 50, 16, 200_000]] as const) {
    const lags: number[] = [];
    let on = true;
    const sampler = (async (): Promise<void> => {
      while (on) {
        for (const m of (await probe.info('replication')).matchAll(/lag_ms=(\d+)/g)) lags.push(Number(m[1]));
        await new Promise((res) => setTimeout(res, 10));
      }
    })();
    const t0 = Date.now();
    await runBenchmark(p.port, n, clients, pipeline, 'set');
    const secs = (Date.now() - t0) / 1000;
    on = false;
    await sampler;
    lags.sort((a, b) => a - b);
    process.stdout.write(`# lag ${name}: ${Math.round(n / secs)} SET/s, ${lags.length} samples, p50 ${pct(lags, 0.5)} ms, p99 ${pct(lags, 0.99)} ms, max ${pct(lags, 1)} ms\n`);
    assert.ok(lags.length > 0);
    if (clients === 4) assert.ok(pct(lags, 0.99) < 5000, 'steady load stays inside the default staleness bound');
    await sameDigest(`replicas converge after ${name}`, pc, [client(r1), client(r2)]);
  }
});

test('lists: a replica that full-resyncs while list writes go on, then streams them, reaches the primary digest', async () => {
  const p = await node(['--repl-backlog-bytes', '4096']);
  const pc = client(p);
  const r = rng(7);
  // Many list keys, so the snapshot walk spans turns while the writer below changes them.
  for (let i = 0; i < 20; i++) {
    const pipe = pc.pipeline();
    for (let j = 0; j < 500; j++) pipe.rpush(`list:${i}:${j}`, 'a', 'b', 'c', String(j));
    await pipe.exec();
  }
  let writing = true;
  const writer = (async (): Promise<void> => {
    const w = client(p);
    while (writing) {
      const k = `list:${r.int(20)}:${r.int(500)}`;
      const k2 = `list:${r.int(20)}:${r.int(500)}`;
      const pipe = w.pipeline();
      pipe.lpush(k, `h${r.int(9)}`);
      pipe.rpop(k2);
      pipe.lmove(k, k2, 'LEFT', 'RIGHT');
      pipe.linsert(k2, 'BEFORE', 'b', 'ins');
      pipe.lrem(k, 1, 'c');
      pipe.ltrim(k2, 0, 5);
      pipe.lset(k, 0, 'set');
      await pipe.exec();
    }
  })();
  const r1 = await node(['--replica-of', `127.0.0.1:${p.port}`]);
  const c1 = client(r1);
  await waitFor('full resync done', async () => Number((await info(pc)).get('kv_full_resyncs')) >= 1 && (await info(c1)).get('kv_sync_state') === 'streaming', { timeoutMs: CONVERGE_TIMEOUT_MS });
  await runBenchmark(p.port, 20_000, 10, 16, 'lpush,rpush,lpop,rpop,lrange_100');
  writing = false;
  await writer;
  await sameDigest('replica equals primary after a full resync under list writes', pc, [c1]);
  assert.equal(await c1.call('TYPE', 'list:0:0'), 'list');
});
