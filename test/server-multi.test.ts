// Transactions through kv-server (MULTI, EXEC, DISCARD, WATCH, UNWATCH): a scripted differential
// against redis-server over two connections (queue-time errors and EXECABORT, run-time errors,
// WATCH/UNWATCH/DISCARD, watched keys deleted, flushed, expired; RESP2 and RESP3); one EXEC is one
// log entry (one position, which POSITION returns); CLIENT LIST's multi=; WAIT inside MULTI does
// not block; a SIGKILL loop under fsync always never recovers half a transaction; a replica's
// reader never sees half a transfer; in cluster mode a QUORUM EXEC is acknowledged only once a
// majority holds its entry; under a failing disk EXEC is refused whole like a single write;
// kv-ts/client sends a transaction as a pipeline.
// KV_LONG=1 runs more kill rounds and a longer transfer load; KV_SEED replays a seed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverPairPerFile, startKvServer, stopAndClean, tempDir, type RunningProcess } from './helpers/procs.js';
import { cmd, showReply, ReplyError, type Reply } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';
import { info } from './helpers/info.js';
import { rng, testSeed } from './helpers/rng.js';
import { waitFor } from './helpers/wait.js';
import { rmSync } from 'node:fs';
import { Cluster } from './helpers/cluster.js';
import { KvClient } from '../src/client/index.js';
import { openReplicatedStore } from '../src/storage/store.js';
import { KvServer } from '../src/server/server.js';
import { defaultConfig } from '../src/server/config.js';
import { FaultyLogFs } from './helpers/faulty-log-fs.js';

const LONG = process.env['KV_LONG'] === '1';
const KILL_ROUNDS = LONG ? 25 : 4;
const TRANSFER_MS = LONG ? 10_000 : 2_000;

/** One step of the differential script: which connection, the command (null: wait for 'ex' to expire). */
type Step = readonly [conn: 0 | 1, ...argv: string[]] | 'wait-expiry';

const S = (conn: 0 | 1, ...argv: string[]): Step => [conn, ...argv];

const SCRIPT: readonly Step[] = [
  S(0, 'FLUSHALL'),
  // Basics: replies in order, later commands see earlier effects; an empty transaction.
  S(0, 'MULTI'), S(0, 'SET', 'a', '1'), S(0, 'INCR', 'a'), S(0, 'GET', 'a'), S(0, 'EXEC'),
  S(0, 'MULTI'), S(0, 'EXEC'),
  // Control commands out of place.
  S(0, 'EXEC'), S(0, 'DISCARD'), S(0, 'MULTI'), S(0, 'MULTI'), S(0, 'WATCH', 'a'), S(0, 'PING'), S(0, 'EXEC'),
  // Queue-time refusals: EXECABORT, nothing applied, MULTI state cleared.
  S(0, 'MULTI'), S(0, 'SET', 'a', '2'), S(0, 'NOSUCHCMD', 'x'), S(0, 'EXEC'), S(0, 'GET', 'a'), S(0, 'EXEC'),
  S(0, 'MULTI'), S(0, 'SET', 'a'), S(0, 'SET', 'a', '3'), S(0, 'EXEC'), S(0, 'GET', 'a'),
  S(0, 'MULTI'), S(0, 'WATCH'), S(0, 'SET', 'a', '4'), S(0, 'EXEC'), S(0, 'GET', 'a'),
  S(0, 'MULTI'), S(0, 'SET', 'a', '5'), S(0, 'SHUTDOWN'), S(0, 'EXEC'), S(0, 'GET', 'a'),
  S(0, 'MULTI'), S(0, 'EXEC', 'extra'), S(0, 'EXEC'),
  // Run-time errors: the other commands run.
  S(0, 'SET', 's', 'str'),
  S(0, 'MULTI'), S(0, 'HSET', 's', 'f', 'v'), S(0, 'INCR', 's'), S(0, 'SET', 't', '1'), S(0, 'SADD', 's', 'm'), S(0, 'GET', 't'), S(0, 'EXEC'),
  S(0, 'MULTI'), S(0, 'SET', 'n', '1'), S(0, 'INCRBYFLOAT', 'n', 'abc'), S(0, 'INCR', 'n'), S(0, 'EXPIRE', 'n', 'x'), S(0, 'EXEC'),
  // Nested replies: maps, arrays, doubles, nulls inside EXEC's array.
  S(0, 'HSET', 'h', 'f', '1', 'g', '2'),
  S(0, 'MULTI'), S(0, 'HGETALL', 'h'), S(0, 'MGET', 'a', 't', 'zz'), S(0, 'ZADD', 'z', '1.5', 'm'), S(0, 'ZSCORE', 'z', 'm'), S(0, 'GET', 'none'), S(0, 'UNWATCH'), S(0, 'EXEC'),
  // DISCARD.
  S(0, 'MULTI'), S(0, 'SET', 'd', '1'), S(0, 'DISCARD'), S(0, 'EXISTS', 'd'),
  // WATCH: a change by another client, by the same client, or none.
  S(0, 'WATCH', 'w'), S(1, 'SET', 'w', 'x'), S(0, 'MULTI'), S(0, 'SET', 'w', 'mine'), S(0, 'EXEC'), S(0, 'GET', 'w'),
  S(0, 'WATCH', 'w'), S(0, 'MULTI'), S(0, 'SET', 'w', 'mine'), S(0, 'EXEC'), S(0, 'GET', 'w'),
  S(0, 'WATCH', 'w'), S(0, 'SET', 'w', 'self'), S(0, 'MULTI'), S(0, 'GET', 'w'), S(0, 'EXEC'),
  S(0, 'WATCH', 'w', 'x1', 'x2'), S(1, 'SET', 'x2', '1'), S(0, 'WATCH', 'x3'), S(0, 'MULTI'), S(0, 'PING'), S(0, 'EXEC'),
  S(0, 'WATCH', 'w'), S(0, 'UNWATCH'), S(1, 'SET', 'w', 'y'), S(0, 'MULTI'), S(0, 'PING'), S(0, 'EXEC'),
  S(0, 'WATCH', 'w'), S(0, 'MULTI'), S(0, 'DISCARD'), S(1, 'SET', 'w', 'z'), S(0, 'MULTI'), S(0, 'PING'), S(0, 'EXEC'),
  S(0, 'WATCH', 'w'), S(1, 'SET', 'w', 'q'), S(0, 'MULTI'), S(0, 'NOSUCHCMD'), S(0, 'EXEC'),
  // Changes that are not changes: reads, a failed NX, deleting or flushing a missing key.
  S(1, 'SET', 'ab', '1'), S(0, 'WATCH', 'ab'), S(1, 'GET', 'ab'), S(1, 'SET', 'ab', '2', 'NX'), S(1, 'DEL', 'nokey'), S(0, 'MULTI'), S(0, 'PING'), S(0, 'EXEC'),
  S(0, 'WATCH', 'nokey'), S(1, 'DEL', 'nokey'), S(1, 'FLUSHALL'), S(0, 'MULTI'), S(0, 'PING'), S(0, 'EXEC'),
  // ... and ones that are: DEL, FLUSHALL of an existing key, EXPIRE, a same-value HSET, a missing key created.
  S(1, 'SET', 'ab', '1'), S(0, 'WATCH', 'ab'), S(1, 'DEL', 'ab'), S(0, 'MULTI'), S(0, 'PING'), S(0, 'EXEC'),
  S(1, 'SET', 'fk', '1'), S(0, 'WATCH', 'fk'), S(1, 'FLUSHALL'), S(0, 'MULTI'), S(0, 'PING'), S(0, 'EXEC'),
  S(1, 'SET', 'e', '1'), S(0, 'WATCH', 'e'), S(1, 'EXPIRE', 'e', '100'), S(0, 'MULTI'), S(0, 'PING'), S(0, 'EXEC'),
  S(1, 'HSET', 'h', 'f', '1'), S(0, 'WATCH', 'h'), S(1, 'HSET', 'h', 'f', '1'), S(0, 'MULTI'), S(0, 'PING'), S(0, 'EXEC'),
  S(0, 'WATCH', 'new'), S(1, 'SET', 'new', '1'), S(0, 'MULTI'), S(0, 'PING'), S(0, 'EXEC'),
  // A watched key that expires after WATCH fails EXEC (Redis 7.0), even if nobody touched it.
  S(1, 'SET', 'ex', 'v', 'PX', '150'), S(0, 'WATCH', 'ex'), 'wait-expiry', S(0, 'MULTI'), S(0, 'PING'), S(0, 'EXEC'),
  // A key already expired when watched was never there: its delete is no change.
  S(0, 'WATCH', 'ex'), S(1, 'DEL', 'ex'), S(0, 'MULTI'), S(0, 'SET', 'ex', 'mine'), S(0, 'EXEC'), S(0, 'GET', 'ex'),
  // WATCH once doomed still answers OK, and EXEC fails.
  S(0, 'WATCH', 'w'), S(1, 'SET', 'w', 'r'), S(0, 'WATCH', 'other'), S(0, 'MULTI'), S(0, 'PING'), S(0, 'EXEC'),
];

async function serverTimeMs(c: RawConn): Promise<number> {
  const t = (await c.call('TIME')) as string[];
  return Number(t[0]) * 1000 + Math.floor(Number(t[1]) / 1000);
}

/** Run the script on one server; every reply in its printed form. */
async function runScript(port: number, resp3: boolean): Promise<string[]> {
  const conns = [await RawConn.open(port), await RawConn.open(port)];
  const out: string[] = [];
  try {
    if (resp3) for (const c of conns) assert.ok((await c.call('HELLO', '3')) instanceof Map);
    let expiryAt = 0;
    for (const step of SCRIPT) {
      if (step === 'wait-expiry') {
        // The server's own clock, read without touching the key (a read would delete it).
        await waitFor('the watched key to expire', async () => (await serverTimeMs(conns[1] as RawConn)) > expiryAt + 20, { intervalMs: 10 });
        continue;
      }
      const [ci, ...argv] = step;
      const c = conns[ci] as RawConn;
      if (argv[0] === 'SET' && argv[3] === 'PX') expiryAt = (await serverTimeMs(c)) + Number(argv[4]);
      out.push(`${ci}> ${argv.join(' ')} -> ${showReply(await c.request(...argv))}`);
    }
  } finally {
    for (const c of conns) c.close();
  }
  return out;
}

const servers = serverPairPerFile();

for (const resp3 of [false, true]) {
  test(`differential vs redis-server (${resp3 ? 'RESP3' : 'RESP2'}): queued and run-time errors, EXECABORT, WATCH, UNWATCH, DISCARD, expiry`, async () => {
    const want = await runScript(servers.redisPort(), resp3);
    const got = await runScript(servers.kvPort(), resp3);
    for (let i = 0; i < want.length; i++) assert.equal(got[i], want[i], `step ${i} differs`);
    assert.equal(got.length, want.length);
  });
}

function position(m: Map<string, string>): number {
  return Number(m.get('master_repl_offset'));
}

test('one EXEC is one log entry: N writes take one position, POSITION returns it; read-only or failed ones take none', async () => {
  const c = await RawConn.open(servers.kvPort());
  try {
    const before = position(await info(servers.kvPort()));
    assert.equal(await c.call('MULTI'), 'OK');
    for (const k of ['p1', 'p2', 'p3']) assert.equal(await c.call('SET', k, 'v'), 'QUEUED');
    assert.equal(await c.call('HSET', 'ph', 'f', 'v'), 'QUEUED');
    assert.equal(await c.call('DEL', 'p1'), 'QUEUED');
    assert.deepEqual(await c.call('EXEC'), ['OK', 'OK', 'OK', 1, 1]);
    const m = await info(servers.kvPort());
    assert.equal(position(m), before + 1, 'five writes, one entry');
    assert.equal(await c.call('POSITION'), m.get('kv_position'), 'the session token names the whole entry');
    assert.equal(await c.call('MULTI'), 'OK');
    assert.equal(await c.call('GET', 'p2'), 'QUEUED');
    assert.equal(await c.call('INCR', 'ph'), 'QUEUED');
    const r = (await c.call('EXEC')) as Reply[];
    assert.equal(String(r[0]), 'v');
    assert.ok(r[1] instanceof ReplyError);
    assert.equal(position(await info(servers.kvPort())), before + 1, 'a transaction that changed nothing logs nothing');
  } finally {
    c.close();
  }
});

test('CLIENT LIST shows multi= and the x / d flags; WAIT inside MULTI answers at once', async () => {
  const c = await RawConn.open(servers.kvPort());
  const o = await RawConn.open(servers.kvPort());
  try {
    const mine = async (): Promise<string> => ((await o.call('CLIENT', 'LIST')) as string).split('\n').find((l) => !l.includes('cmd=client')) ?? '';
    assert.equal(await c.call('WATCH', 'cl'), 'OK');
    assert.match(await mine(), / flags=N .* multi=-1 /);
    assert.equal(await o.call('SET', 'cl', '1'), 'OK');
    assert.match(await mine(), / flags=d /);
    assert.equal(await c.call('MULTI'), 'OK');
    assert.equal(await c.call('SET', 'cl', '2'), 'QUEUED');
    assert.equal(await c.call('WAIT', '1', '0'), 'QUEUED');
    assert.match(await mine(), / flags=xd .* multi=2 /);
    assert.equal(await c.call('EXEC'), null);
    assert.equal(await c.call('MULTI'), 'OK');
    assert.equal(await c.call('WAIT', '1', '0'), 'QUEUED');
    assert.deepEqual(await c.call('EXEC'), [0], 'WAIT 1 0 would block forever outside a transaction');
  } finally {
    c.close();
    o.close();
  }
});

/** The transaction the kill loop and the transfer load run: every key gets the same value. */
const GROUP = ['g:a', 'g:b', 'g:c', 'g:d', 'g:e'];

test(`SIGKILL loop under fsync always: a restart never shows half a transaction (${KILL_ROUNDS} rounds)`, { timeout: 120_000 }, async () => {
  const seed = testSeed(7301);
  const r = rng(seed);
  const dir = tempDir('kvts-multi-kill-');
  let proc: RunningProcess | undefined;
  /** The highest transaction number acknowledged, and the highest sent. */
  let acked = 0;
  let sent = 0;
  try {
    for (let round = 0; round < KILL_ROUNDS; round++) {
      proc = await startKvServer({ dir, args: ['--fsync', 'always'] });
      const c = await RawConn.open(proc.port);
      const vals = ((await c.call('MGET', ...GROUP)) as Array<Buffer | null>).map((v) => (v === null ? null : v.toString()));
      const first = vals[0] ?? null;
      assert.ok(vals.every((v) => v === first), `round ${round}: half a transaction after restart: ${JSON.stringify(vals)} (seed ${seed})`);
      const restored = first === null ? 0 : Number(first);
      assert.ok(restored >= acked && restored <= sent, `round ${round}: restored transaction ${restored}, acknowledged ${acked}, sent ${sent}`);
      const target = acked + 20 + r.int(200);
      // Transactions pipelined a few at a time; the kill lands while some are in flight.
      const load = (async (): Promise<void> => {
        try {
          for (;;) {
            const batch = 1 + r.int(4);
            const first = sent + 1;
            let text = '';
            for (let n = first; n < first + batch; n++) text += ['MULTI', ...GROUP.map((k) => `SET ${k} ${n}`), 'EXEC'].join('\r\n') + '\r\n';
            sent += batch;
            c.send(text);
            for (let n = first; n < first + batch; n++) {
              for (let i = 0; i < GROUP.length + 1; i++) await c.read(5_000);
              const res = await c.read(5_000);
              assert.ok(Array.isArray(res) && res.length === GROUP.length, `EXEC reply ${JSON.stringify(res)}`);
              acked = n;
            }
          }
        } catch (e) {
          if (!c.closed) throw e; // only the kill may end the load
        }
      })();
      await waitFor(`transaction ${target} acknowledged`, () => acked >= target, { intervalMs: 5 });
      await proc.kill('SIGKILL');
      await load;
      c.close();
    }
  } finally {
    await proc?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

const ACCOUNTS = Array.from({ length: 8 }, (_, i) => `acct:${i}`);
const BALANCE = 1_000;

function sumOf(vals: Reply): number | null {
  if (!Array.isArray(vals)) return null;
  let sum = 0;
  for (const v of vals) sum += v === null ? 0 : Number(String(v));
  return sum;
}

test('a replica reader never sees half a transfer; WATCH on the replica sees replicated changes after PROMOTE', { timeout: 60_000 }, async () => {
  const seed = testSeed(7302);
  const r = rng(seed);
  const p = await startKvServer();
  const rep = await startKvServer({ args: ['--replica-of', `127.0.0.1:${p.port}`] });
  const pc = await RawConn.open(p.port);
  const rc = await RawConn.open(rep.port);
  try {
    assert.equal(await pc.call('MSET', ...ACCOUNTS.flatMap((k) => [k, String(BALANCE)])), 'OK');
    const total = BALANCE * ACCOUNTS.length;
    await waitFor('the replica has the accounts', async () => sumOf(await rc.call('MGET', ...ACCOUNTS)) === total);
    // Writers move money between accounts, each transfer one transaction of two writes.
    let stop = false;
    let transfers = 0;
    const writers = [0, 1].map(async () => {
      const w = await RawConn.open(p.port);
      try {
        while (!stop) {
          const from = r.pick(ACCOUNTS);
          const to = r.pick(ACCOUNTS);
          const amount = String(1 + r.int(50));
          w.send(['MULTI', `DECRBY ${from} ${amount}`, `INCRBY ${to} ${amount}`, 'EXEC'].join('\r\n') + '\r\n');
          for (let i = 0; i < 3; i++) await w.read();
          const res = await w.read();
          assert.ok(Array.isArray(res) && res.length === 2, JSON.stringify(res));
          transfers++;
        }
      } finally {
        w.close();
      }
    });
    let reads = 0;
    const deadline = Date.now() + TRANSFER_MS;
    while (Date.now() < deadline) {
      const vals = await rc.call('MGET', ...ACCOUNTS);
      if (vals instanceof ReplyError) continue; // TOOSTALE under load: not a read of the state
      assert.equal(sumOf(vals), total, `read ${reads}: the replica showed half a transfer (seed ${seed})`);
      reads++;
    }
    stop = true;
    await Promise.all(writers);
    assert.ok(transfers > 50 && reads > 50, `the load ran: ${transfers} transfers, ${reads} replica reads`);

    // On the replica: a write is refused at queue time (READONLY) and EXEC discards the
    // transaction; a read-only transaction runs.
    assert.equal(await rc.call('MULTI'), 'OK');
    const ro = await rc.call('SET', 'acct:0', '0');
    assert.ok(ro instanceof ReplyError && /^READONLY/.test(ro.message), JSON.stringify(ro));
    const ab = await rc.call('EXEC');
    assert.ok(ab instanceof ReplyError && ab.message === 'EXECABORT Transaction discarded because of previous errors.');
    assert.equal(await rc.call('MULTI'), 'OK');
    assert.equal(await rc.call('MGET', ...ACCOUNTS), 'QUEUED');
    const tr = (await rc.call('EXEC')) as Reply[];
    assert.equal(sumOf(tr[0] as Reply), total);

    // WATCH on the replica, a change arrives by replication, the replica is promoted: EXEC fails.
    const marker = String(await pc.call('INCR', 'watched'));
    await waitFor('the replica has the marker', async () => String(await rc.call('GET', 'watched')) === marker);
    assert.equal(await rc.call('WATCH', 'watched'), 'OK');
    assert.equal(await pc.call('SET', 'watched', 'changed-on-primary'), 'OK');
    await waitFor('the change replicated', async () => String(await rc.call('GET', 'watched')) === 'changed-on-primary');
    assert.equal(await rc.call('PROMOTE'), 'OK');
    await waitFor('the promoted replica takes writes', async () => (await rc.call('SET', 'probe', '1')) === 'OK');
    assert.equal(await rc.call('MULTI'), 'OK');
    assert.equal(await rc.call('SET', 'watched', 'mine'), 'QUEUED');
    assert.equal(await rc.call('EXEC'), null);
    assert.equal(String(await rc.call('GET', 'watched')), 'changed-on-primary');
  } finally {
    pc.close();
    rc.close();
    await stopAndClean(rep);
    await stopAndClean(p);
  }
});

test('cluster QUORUM mode: EXEC is acknowledged once a majority holds its one entry, never when the primary is cut off', { timeout: 90_000 }, async () => {
  const cluster = await Cluster.start({ nodes: 3, proxies: true });
  try {
    const primary = await cluster.waitForPrimary();
    const c = await RawConn.open(cluster.node(primary).port);
    try {
      assert.equal(await c.call('CONSISTENCY', 'QUORUM'), 'OK');
      await waitFor('the primary takes quorum writes', async () => (await c.call('SET', 'q:probe', '1')) === 'OK');
      assert.equal(await c.call('MULTI'), 'OK');
      for (const k of ['q:a', 'q:b', 'q:c']) assert.equal(await c.call('SET', k, 'v'), 'QUEUED');
      assert.deepEqual(await c.call('EXEC'), ['OK', 'OK', 'OK']);
      const seq = Number((await c.call('POSITION') as string).split(':')[1]);
      // Acknowledged: a replica already holds the entry (majority = the primary and one replica).
      let held = 0;
      for (const n of cluster.nodes) {
        if (n.id === primary) continue;
        const m = await cluster.replicationInfo(n.id);
        if (m !== null && Number((m.get('kv_position') ?? '0:0').split(':')[1]) >= seq) held++;
      }
      assert.ok(held >= 1, `EXEC acknowledged before a majority held entry ${seq}`);
      // Cut off: the transaction may be applied locally but is never acknowledged as committed.
      cluster.isolate(primary);
      assert.equal(await c.call('MULTI'), 'OK');
      assert.equal(await c.call('SET', 'q:a', 'cut-off'), 'QUEUED');
      const r = await c.call('EXEC');
      assert.ok(r instanceof ReplyError && /NOQUORUM|EXECABORT|READONLY|TRYAGAIN/.test(r.message), `EXEC while cut off: ${JSON.stringify(r)}`);
    } finally {
      c.close();
    }
  } catch (e) {
    cluster.printLogs();
    throw e;
  } finally {
    await cluster.stop();
  }
});

test('kv-ts/client: a pipeline MULTI ... EXEC is one transaction; in SESSION mode the token after it is its entry', async () => {
  const client = await KvClient.connect({ seeds: [`127.0.0.1:${servers.kvPort()}`], consistency: 'session' });
  try {
    const res = await client.pipeline().raw('MULTI').set('kc:a', '1').incr('kc:a').raw('HSET', 'kc:h', 'f', 'v').raw('EXEC').exec();
    assert.deepEqual(res, [[null, 'OK'], [null, 'QUEUED'], [null, 'QUEUED'], [null, 'QUEUED'], [null, ['OK', 2, 1]]]);
    assert.equal(client.sessionToken(), (await info(servers.kvPort())).get('kv_position'));
    assert.equal(await client.get('kc:a'), '2');
  } finally {
    await client.close();
  }
});

test('a failing disk under fsync always: EXEC and every reply held with it are refused, none of its writes stays, restart agrees', async () => {
  const dir = tempDir('kvts-multi-diskerr-');
  const fs = new FaultyLogFs();
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const store = await openReplicatedStore({ dir, fsync: 'always', logFs: fs, onWarning: () => undefined });
  const server = new KvServer({ config: { ...defaultConfig(), port: 0, host: '127.0.0.1', dir, fsync: 'always' }, store, log: quiet });
  try {
    const { port } = await server.listen();
    const c = await RawConn.open(port);
    const o = await RawConn.open(port);
    assert.equal(await c.call('SET', 'da', '1'), 'OK');
    fs.fail('write', 'ENOSPC');
    c.send(Buffer.concat([cmd('MULTI'), cmd('SET', 'db', '2'), cmd('INCR', 'da'), cmd('EXEC')]));
    for (let i = 0; i < 4; i++) {
      const r = await c.read();
      assert.ok(r instanceof ReplyError && /^MISCONF .*ENOSPC/.test(r.message), `reply ${i}: ${JSON.stringify(r)}`);
    }
    assert.equal(await o.call('GET', 'db'), null, 'nothing of the transaction is visible');
    assert.equal(await o.call('GET', 'da'), '1');
    // Refused while the log is failed: EXEC is checked as the write it runs.
    assert.equal(await c.call('MULTI'), 'OK');
    assert.equal(await c.call('GET', 'da'), 'QUEUED');
    assert.deepEqual(await c.call('EXEC'), [Buffer.from('1')], 'a read-only transaction still runs');
    assert.equal(await c.call('MULTI'), 'OK');
    assert.ok((await c.call('SET', 'db', '3')) instanceof ReplyError);
    const aborted = await c.call('EXEC');
    assert.ok(aborted instanceof ReplyError && /^EXECABORT/.test(aborted.message));
    fs.clear();
    await waitFor('writes resume', async () => (await o.call('SET', 'probe', '1')) === 'OK', { timeoutMs: 5_000 });
    c.close();
    o.close();
  } finally {
    await server.close().catch(() => undefined);
  }
  const back = await openReplicatedStore({ dir, onWarning: () => undefined });
  try {
    assert.equal(back.get('db'), undefined);
    assert.equal(back.get('da')?.toString(), '1');
  } finally {
    await back.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
