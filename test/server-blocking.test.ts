// Blocking commands through kv-server (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX
// BZMPOP, CLIENT UNBLOCK): a scripted differential against redis-server over four connections in
// RESP2 and RESP3 (FIFO service, a push serving several waiters, BLMOVE chains, timeouts, 0 =
// forever, MULTI waking a waiter after EXEC and never blocking inside it, wrong types at block time
// and while blocked, RENAME/LMOVE onto a key, CLIENT UNBLOCK, argument errors); then kv-server
// alone: each served pop is one log entry and the session token of its client, a disconnected
// waiter is forgotten, CLIENT LIST flags=b / INFO blocked_clients, a replica refuses with READONLY,
// a primary turned replica answers its waiters with UNBLOCKED, a promoted replica serves waiters.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverPairPerFile, startKvServer, stopAndClean } from './helpers/procs.js';
import { cmd, showReply, ReplyError } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';
import { info } from './helpers/info.js';
import { waitFor } from './helpers/wait.js';

type ConnIndex = 0 | 1 | 2 | 3;
/**
 * run: send and read the reply; block: send, then wait until the server counts one more blocked
 * client (the reply is read by a later 'read'); read: the reply a blocked connection got.
 * '$id1'.. in arguments stand for that connection's CLIENT ID (which differs between servers).
 */
type Step = { readonly op: 'run' | 'block'; readonly c: ConnIndex; readonly argv: readonly string[] } | { readonly op: 'read'; readonly c: ConnIndex };

const S = (c: ConnIndex, ...argv: string[]): Step => ({ op: 'run', c, argv });
const B = (c: ConnIndex, ...argv: string[]): Step => ({ op: 'block', c, argv });
const R = (c: ConnIndex): Step => ({ op: 'read', c });

const SCRIPT: readonly Step[] = [
  S(0, 'FLUSHALL'),
  // FIFO across three waiters: one push serves all three, the first blocked gets the first element.
  B(1, 'BLPOP', 'k', '0'), B(2, 'BLPOP', 'k', '0'), B(3, 'BRPOP', 'k', '0'),
  S(0, 'RPUSH', 'k', 'a', 'b', 'c'), R(1), R(2), R(3), S(0, 'EXISTS', 'k'),
  // A push serves as many waiters as it has elements; the others keep waiting.
  B(1, 'BRPOP', 'k1', 'k2', '0'), B(2, 'BLPOP', 'k2', '0'),
  S(0, 'RPUSH', 'k2', 'x'), R(1), S(0, 'RPUSH', 'k2', 'y', 'z'), R(2), S(0, 'LRANGE', 'k2', '0', '-1'),
  // Several keys: the one written serves; the first key of the argument list wins when both hold data.
  S(0, 'DEL', 'k2'), S(0, 'RPUSH', 'k1', '1'), S(0, 'RPUSH', 'k2', '2'), S(1, 'BLPOP', 'k2', 'k1', '0'),
  // BLMOVE / BRPOPLPUSH chains: one push moves an element through three waiters.
  B(1, 'BLMOVE', 'c1', 'c2', 'LEFT', 'RIGHT', '0'), B(2, 'BRPOPLPUSH', 'c2', 'c3', '0'), B(3, 'BLPOP', 'c3', '0'),
  S(0, 'RPUSH', 'c1', 'v1', 'v2'), R(1), R(2), R(3), S(0, 'LRANGE', 'c1', '0', '-1'), S(0, 'LRANGE', 'c2', '0', '-1'), S(0, 'EXISTS', 'c3'),
  // BLMOVE onto itself (rotation) and served at once when the source holds data.
  S(0, 'RPUSH', 'rot', 'r1', 'r2'), S(1, 'BLMOVE', 'rot', 'rot', 'LEFT', 'RIGHT', '0'), S(0, 'LRANGE', 'rot', '0', '-1'),
  // Timeouts (the reply, not the time): every form answers a null.
  S(1, 'BLPOP', 'none', '0.01'), S(1, 'BRPOP', 'none', 'none2', '0.02'), S(1, 'BRPOPLPUSH', 'none', 'd', '0.01'),
  S(1, 'BLMOVE', 'none', 'd', 'RIGHT', 'LEFT', '0.01'), S(1, 'BLMPOP', '0.01', '2', 'none', 'none2', 'LEFT'),
  S(1, 'BZPOPMIN', 'none', '0.01'), S(1, 'BZPOPMAX', 'none', '0.01'), S(1, 'BZMPOP', '0.01', '1', 'none', 'MAX', 'COUNT', '3'),
  S(0, 'EXISTS', 'd'),
  // 0 waits forever: a push long after still serves it (as does a negative timeout that rounds up to 0).
  B(1, 'BLPOP', 'f', '0'), B(2, 'BLPOP', 'f', '-0.001'), S(0, 'PING'), S(0, 'LPUSH', 'f', 'late', 'later'), R(1), R(2),
  // Immediate service: nothing blocks when a key holds data.
  S(0, 'RPUSH', 'l', '1', '2', '3'), S(1, 'BLPOP', 'l', '0'), S(1, 'BRPOP', 'l', '0'),
  S(1, 'BLMPOP', '0', '2', 'none', 'l', 'RIGHT', 'COUNT', '5'), S(0, 'EXISTS', 'l'),
  // BLMPOP served with COUNT after blocking; the rest stays.
  B(1, 'BLMPOP', '0', '2', 'm1', 'm2', 'RIGHT', 'COUNT', '2'), S(0, 'RPUSH', 'm2', 'a', 'b', 'c'), R(1), S(0, 'LRANGE', 'm2', '0', '-1'),
  // MULTI: a waiter is served after EXEC, seeing the transaction's end state; blocking forms never block inside MULTI.
  B(1, 'BLPOP', 'mk', '0'), S(0, 'MULTI'), S(0, 'LPUSH', 'mk', 'a'), S(0, 'LPUSH', 'mk', 'b'), S(0, 'LRANGE', 'mk', '0', '-1'), S(0, 'EXEC'), R(1),
  S(0, 'LRANGE', 'mk', '0', '-1'),
  B(1, 'BLPOP', 'gone', '0'), S(0, 'MULTI'), S(0, 'RPUSH', 'gone', 'x'), S(0, 'DEL', 'gone'), S(0, 'EXEC'), S(0, 'RPUSH', 'gone', 'y'), R(1),
  S(0, 'MULTI'), S(0, 'BLPOP', 'none', '0'), S(0, 'BRPOPLPUSH', 'none', 'x', '0'), S(0, 'BZPOPMIN', 'none', '0'), S(0, 'BLMPOP', '0', '1', 'none', 'LEFT'),
  S(0, 'RPUSH', 'in', 'v'), S(0, 'BLPOP', 'in', '0'), S(0, 'EXEC'),
  // Sorted sets: three waiters of different kinds on one key.
  B(1, 'BZPOPMIN', 'z1', '0'), B(2, 'BZPOPMAX', 'z2', 'z1', '0'), B(3, 'BZMPOP', '0', '1', 'z1', 'MIN', 'COUNT', '2'),
  S(0, 'ZADD', 'z1', '1', 'a', '2.5', 'b', '3', 'c', '4', 'd', '5', 'e'), R(1), R(2), R(3), S(0, 'ZRANGE', 'z1', '0', '-1', 'WITHSCORES'),
  S(0, 'ZADD', 'z3', '-inf', 'lo', 'inf', 'hi'), S(1, 'BZPOPMIN', 'z3', '0'), S(1, 'BZPOPMAX', 'z3', '0'), S(0, 'EXISTS', 'z3'),
  // Wrong types: at block time WRONGTYPE (in argument order); while blocked, the waiter keeps waiting.
  S(0, 'SET', 'str', 'x'), S(1, 'BLPOP', 'str', '0'), S(1, 'BLPOP', 'none', 'str', '0'), S(1, 'BZPOPMIN', 'str', '0'),
  S(1, 'BZMPOP', '0', '1', 'str', 'MIN'), S(1, 'BLMPOP', '0', '1', 'str', 'LEFT'), S(0, 'RPUSH', 'src', 'e'), S(1, 'BLMOVE', 'src', 'str', 'LEFT', 'LEFT', '0'),
  S(1, 'BRPOPLPUSH', 'str', 'src', '0'), S(0, 'RPUSH', 'lz', 'x'), S(1, 'BZPOPMAX', 'lz', '0'),
  B(1, 'BLPOP', 't', '0'), S(0, 'SET', 't', 'now-a-string'), S(0, 'DEL', 't'), S(0, 'ZADD', 't', '1', 'm'), S(0, 'DEL', 't'), S(0, 'RPUSH', 't', 'v'), R(1),
  // Writes that make a key non-empty other than pushes: RENAME, LMOVE, COPY.
  B(1, 'BLPOP', 'rk', '0'), S(0, 'RPUSH', 'src2', 'v'), S(0, 'RENAME', 'src2', 'rk'), R(1),
  B(1, 'BLPOP', 'mv', '0'), S(0, 'RPUSH', 'm0', 'z'), S(0, 'LMOVE', 'm0', 'mv', 'LEFT', 'LEFT'), R(1),
  B(1, 'BZPOPMIN', 'cz', '0'), S(0, 'ZADD', 'zsrc', '7', 'q'), S(0, 'COPY', 'zsrc', 'cz'), R(1), S(0, 'ZCARD', 'zsrc'),
  // A key named twice; a waiter on several keys served once.
  B(1, 'BLPOP', 'dd', 'dd', '0'), S(0, 'RPUSH', 'dd', 'q'), R(1),
  B(1, 'BLPOP', 'e1', 'e2', '0'), S(0, 'MULTI'), S(0, 'RPUSH', 'e2', 'two'), S(0, 'RPUSH', 'e1', 'one'), S(0, 'EXEC'), R(1), S(0, 'LRANGE', 'e1', '0', '-1'),
  // CLIENT UNBLOCK: TIMEOUT answers the timeout's null, ERROR the UNBLOCKED error; 0 when not blocked.
  B(1, 'BLPOP', 'u', '0'), S(0, 'CLIENT', 'UNBLOCK', '$id1'), R(1),
  B(1, 'BZMPOP', '0', '1', 'u', 'MIN'), S(0, 'CLIENT', 'UNBLOCK', '$id1', 'TIMEOUT'), R(1),
  B(1, 'BLMOVE', 'u', 'v', 'LEFT', 'LEFT', '0'), S(0, 'CLIENT', 'UNBLOCK', '$id1', 'error'), R(1),
  S(0, 'CLIENT', 'UNBLOCK', '$id1'), S(0, 'CLIENT', 'UNBLOCK', '$id1', 'FOO'), S(0, 'CLIENT', 'UNBLOCK', 'abc'),
  S(0, 'CLIENT', 'UNBLOCK', 'abc', 'nope'), S(0, 'CLIENT', 'UNBLOCK', '1', 'timeout', 'x'), S(0, 'CLIENT', 'UNBLOCK'), S(0, 'RPUSH', 'u', 'still'), S(0, 'LLEN', 'u'),
  // Under a millisecond, even negative, truncates to 0: forever.
  B(1, 'BLPOP', 'k', '-0.0001'), S(0, 'RPUSH', 'k', 'neg'), R(1),
  // Argument errors.
  S(1, 'BLPOP', 'k', '-1'), S(1, 'BLPOP', 'k', 'abc'), S(1, 'BLPOP', 'k', 'inf'), S(1, 'BLPOP', 'k', '1e20'), S(1, 'BLPOP', 'k', 'nan'),
  S(1, 'BLPOP', 'k', ' 1'), S(1, 'BLPOP', 'k'), S(1, 'BRPOP', 'k', '-0.5'), S(1, 'BRPOP', 'k', '-0.0011'), S(1, 'BRPOP', 'k', '0.0001'), S(1, 'BRPOP', 'k', '-inf'),
  S(1, 'BLMOVE', 'a', 'b', 'UP', 'LEFT', '0'), S(1, 'BLMOVE', 'a', 'b', 'LEFT', 'LEFT', '-1'), S(1, 'BRPOPLPUSH', 'a', 'b', 'x'),
  S(1, 'BLMPOP', '0', '0', 'k', 'LEFT'), S(1, 'BLMPOP', '0', '1', 'k', 'UP'), S(1, 'BLMPOP', '-1', '1', 'k', 'LEFT'),
  S(1, 'BLMPOP', '0', '1', 'k', 'LEFT', 'COUNT', '0'), S(1, 'BLMPOP', '0', '3', 'k', 'LEFT'), S(1, 'BLMPOP', 'x', '0', 'k', 'LEFT'),
  S(1, 'BZMPOP', '0', '1', 'z', 'FOO'), S(1, 'BZMPOP', '0', '1', 'z', 'MIN', 'COUNT', '-1'), S(1, 'BZPOPMIN', 'z', '-2'), S(1, 'BZPOPMAX', 'z'),
];

async function runScript(port: number, resp3: boolean): Promise<string[]> {
  const conns = [await RawConn.open(port), await RawConn.open(port), await RawConn.open(port), await RawConn.open(port)];
  const out: string[] = [];
  try {
    const ids: string[] = [];
    for (const c of conns) ids.push(String(await c.call('CLIENT', 'ID')));
    if (resp3) for (const c of conns) assert.ok((await c.call('HELLO', '3')) instanceof Map);
    let blocked = 0;
    for (const [i, step] of SCRIPT.entries()) {
      try {
        blocked = await runStep(step, conns, ids, out, blocked, port);
      } catch (e) {
        throw new Error(`port ${port}, step ${i} ${JSON.stringify(step)}: ${(e as Error).message}\n${out.slice(-6).join('\n')}`);
      }
    }
  } finally {
    for (const c of conns) c.close();
  }
  return out;
}

/** One step; returns the number of connections now blocked. */
async function runStep(step: Step, conns: readonly RawConn[], ids: readonly string[], out: string[], blocked: number, port: number): Promise<number> {
  const c = conns[step.c] as RawConn;
  if (step.op === 'read') {
    out.push(`${step.c}< ${showReply(await c.readResp())}`);
    return blocked - 1;
  }
  const argv = step.argv.map((a) => (a.startsWith('$id') ? (ids[Number(a.slice(3))] as string) : a));
  if (step.op === 'run') {
    // As written: client ids differ between the servers.
    out.push(`${step.c}> ${step.argv.join(' ')} -> ${showReply(await c.request(...argv))}`);
    return blocked;
  }
  c.send(cmd(...argv));
  out.push(`${step.c}> ${step.argv.join(' ')} (blocks)`);
  const want = blocked + 1;
  await waitFor(`${want} blocked clients`, async () => (await info(port, 'clients')).get('blocked_clients') === String(want), { intervalMs: 5 });
  return want;
}

const servers = serverPairPerFile();

for (const resp3 of [false, true]) {
  test(`differential vs redis-server (${resp3 ? 'RESP3' : 'RESP2'}): FIFO service, chains, timeouts, MULTI, wrong types, CLIENT UNBLOCK, errors`, async () => {
    const want = await runScript(servers.redisPort(), resp3);
    const got = await runScript(servers.kvPort(), resp3);
    for (let i = 0; i < want.length; i++) assert.equal(got[i], want[i], `step ${i} differs`);
    assert.equal(got.length, want.length);
  });
}

function seqOf(position: unknown): number {
  return Number(String(position).split(':')[1]);
}

async function blockedClients(port: number): Promise<number> {
  return Number((await info(port, 'clients')).get('blocked_clients'));
}

test('each served pop is one log entry; CLIENT LIST flags=b; a disconnected waiter is forgotten', async () => {
  const w = [await RawConn.open(servers.kvPort()), await RawConn.open(servers.kvPort()), await RawConn.open(servers.kvPort())];
  const c = await RawConn.open(servers.kvPort());
  try {
    for (const x of w) {
      x.send('BLPOP one 0\r\n');
      const n = w.indexOf(x) + 1;
      await waitFor(`${n} blocked`, async () => (await blockedClients(servers.kvPort())) === n, { intervalMs: 5 });
    }
    const list = String(await c.call('CLIENT', 'LIST'));
    assert.equal(list.split('\n').filter((l) => / flags=b /.test(l) && / cmd=blpop /.test(l)).length, 3, list);
    const before = seqOf(await c.call('POSITION'));
    assert.equal(await c.call('RPUSH', 'one', 'a', 'b', 'c'), 3);
    const got = [];
    for (const x of w) got.push(await x.read());
    assert.deepEqual(got.map((r) => (r as Buffer[]).map(String)), [['one', 'a'], ['one', 'b'], ['one', 'c']]);
    const m = await info(servers.kvPort());
    assert.equal(Number(m.get('master_repl_offset')), before + 4, 'one push and three pops: four entries');
    assert.equal(await blockedClients(servers.kvPort()), 0);

    // A waiter that disconnects is forgotten: a later push stays in the list.
    (w[0] as RawConn).send('BLPOP gone 0\r\n');
    await waitFor('blocked', async () => (await blockedClients(servers.kvPort())) === 1, { intervalMs: 5 });
    (w[0] as RawConn).close();
    await waitFor('the waiter is gone', async () => (await blockedClients(servers.kvPort())) === 0, { intervalMs: 5 });
    assert.equal(await c.call('RPUSH', 'gone', 'v'), 1);
    assert.equal(await c.call('LLEN', 'gone'), 1);
  } finally {
    for (const x of [...w, c]) x.close();
  }
});

test('replication: a replica refuses blocking pops (READONLY); waiters of a primary made a replica get UNBLOCKED; a promoted replica serves waiters', { timeout: 60_000 }, async () => {
  const p = await startKvServer();
  const rep = await startKvServer({ args: ['--replica-of', `127.0.0.1:${p.port}`] });
  const other = await startKvServer();
  const pc = await RawConn.open(p.port);
  const rc = await RawConn.open(rep.port);
  try {
    await waitFor('the replica is linked', async () => (await info(rep.port)).get('master_link_status') === 'up');
    for (const argv of [['BLPOP', 'k', '0'], ['BZPOPMIN', 'k', '0'], ['BLMOVE', 'a', 'b', 'LEFT', 'LEFT', '0'], ['BLMPOP', '0', '1', 'k', 'LEFT']]) {
      const r = await rc.call(...argv);
      assert.ok(r instanceof ReplyError && r.message === `READONLY You can't write against a read only replica. primary=127.0.0.1:${p.port}`, `${argv[0]}: ${String(r)}`);
    }

    // A list written on the primary reaches the replica; after PROMOTE a waiter there is served by a local push.
    assert.equal(await pc.call('RPUSH', 'pre', 'x'), 1);
    await waitFor('replicated', async () => (await rc.call('LLEN', 'pre')) === 1);
    assert.equal(await rc.call('PROMOTE'), 'OK');
    await waitFor('the promoted replica takes writes', async () => (await rc.call('SET', 'probe', '1')) === 'OK');
    assert.deepEqual(((await rc.call('BLPOP', 'pre', '0')) as Buffer[]).map(String), ['pre', 'x']);
    const waiter = await RawConn.open(rep.port);
    waiter.send('BRPOP after 0\r\n');
    await waitFor('blocked on the promoted node', async () => (await blockedClients(rep.port)) === 1, { intervalMs: 5 });
    assert.equal(await rc.call('LPUSH', 'after', 'y'), 1);
    assert.deepEqual(((await waiter.read()) as Buffer[]).map(String), ['after', 'y']);

    // The old primary's waiter: when it becomes a replica the client gets UNBLOCKED and is closed (Redis 7.0).
    const pw = await RawConn.open(p.port);
    pw.send('BLPOP demoted 0\r\n');
    await waitFor('blocked on the primary', async () => (await blockedClients(p.port)) === 1, { intervalMs: 5 });
    assert.equal(await pc.call('REPLICAOF', '127.0.0.1', String(other.port)), 'OK');
    const r = await pw.read();
    assert.ok(r instanceof ReplyError && r.message === 'UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)', String(r));
    await pw.waitClosed();
    assert.equal(await blockedClients(p.port), 0);
    waiter.close();
  } finally {
    pc.close();
    rc.close();
    await stopAndClean(other);
    await stopAndClean(rep);
    await stopAndClean(p);
  }
});
