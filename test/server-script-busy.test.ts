// Scripts past busy-reply-threshold (server.ts runScript/startBusy, scripting/lua-engine.ts's
// slices): other clients get BUSY except for what Redis 7.0 allows then, SCRIPT KILL and
// FUNCTION KILL stop a script that did not write, a script that wrote runs to its end with all
// its writes, a blocked client is served only once the script ended, MULTI during a busy script
// ends in EXECABORT, SHUTDOWN NOSAVE mid-script loses no acknowledged write and keeps none of
// the script's, and a late script's error and whole run count in INFO and the slow log as Redis
// counts them. Differential against a real redis-server where the replies are Redis's.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverPairPerFile, startKvServer, stopAndClean, withPrimaryAndReplica, type RunningProcess } from './helpers/procs.js';
import { cmd, showValue as show, type Reply } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';
import { waitFor } from './helpers/wait.js';
import { info } from './helpers/info.js';

const pair = serverPairPerFile();

/** Wait until `c` gets BUSY for PING: the script on another connection passed busy-reply-threshold. */
async function waitBusy(c: RawConn): Promise<void> {
  await waitFor('the script to be busy', async () => show(await c.call('PING')).startsWith('-BUSY'), { timeoutMs: 20_000 });
}

async function waitNotBusy(c: RawConn): Promise<void> {
  await waitFor('the script to end', async () => (await c.call('PING')) === 'PONG', { timeoutMs: 20_000 });
}

/** A Lua loop that runs `ms` milliseconds by the server's clock (TIME), then returns. */
function loopFor(ms: number): string {
  return `local t0 = redis.call('time'); while true do local t = redis.call('time'); if (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > ${ms * 1000} then break end end`;
}

/**
 * `fn` with two connections to the server on `port` (`a` runs the script, `b` watches) and
 * busy-reply-threshold at 20 ms so scripts pass it at once; back at 5000 afterwards, also when
 * `fn` throws.
 */
async function withBusyConns<T>(port: number, fn: (a: RawConn, b: RawConn) => Promise<T>): Promise<T> {
  const a = await RawConn.open(port);
  const b = await RawConn.open(port);
  try {
    assert.equal(await b.call('CONFIG', 'SET', 'busy-reply-threshold', '20'), 'OK');
    return await fn(a, b);
  } finally {
    await b.call('CONFIG', 'SET', 'busy-reply-threshold', '5000').catch(() => undefined);
    a.close();
    b.close();
  }
}

/** The scenario's steps on kv-server and on redis-server agree; kv-server's. */
async function agreeWithRedis(scenario: (port: number) => Promise<string[]>): Promise<string[]> {
  const kv = await scenario(pair.kvPort());
  assert.deepEqual(kv, await scenario(pair.redisPort()));
  return kv;
}

/** An endless read-only loop killed by SCRIPT KILL, what the other client meets meanwhile. */
async function evalKillScenario(port: number): Promise<string[]> {
  const seen: string[] = [];
  await withBusyConns(port, async (a, b) => {
    await b.call('SET', 'xx', '1');
    // The EVAL and a PING behind it in one pipeline: the PING runs once the script ended.
    a.send(Buffer.concat([cmd('EVAL', 'local i = 0 while true do i = i + 1 end', '0'), cmd('PING', 'after')]));
    await waitBusy(b);
    seen.push(show(await b.call('GET', 'xx')));
    seen.push(show(await b.call('FUNCTION', 'KILL')));
    seen.push(show(await b.call('FUNCTION', 'STATS')));
    seen.push(show(await b.call('SHUTDOWN')));
    seen.push(show(await b.call('MULTI')));
    seen.push(show(await b.call('INCR', 'xx')));
    seen.push(show(await b.call('EXEC')));
    seen.push(show(await b.call('SCRIPT', 'KILL')));
    seen.push(show(await a.read()));
    seen.push(show(await a.read()));
    await waitNotBusy(b);
    seen.push(show(await b.call('GET', 'xx')));
    seen.push(show(await b.call('SCRIPT', 'KILL')));
  });
  return seen;
}

test('differential: an endless script: BUSY for others, MULTI ends in EXECABORT, SCRIPT KILL stops it, the pipeline behind it runs', async () => {
  const kv = await agreeWithRedis(evalKillScenario);
  assert.match(kv[8] as string, /^-ERR Script killed by user with SCRIPT KILL\.\.\./);
});

/** A function in an endless loop: SCRIPT KILL answers BUSY, FUNCTION STATS shows it, FUNCTION KILL stops it. */
async function functionKillScenario(port: number): Promise<string[]> {
  const seen: string[] = [];
  await withBusyConns(port, async (a, b) => {
    seen.push(show(await b.call('FUNCTION', 'LOAD', 'REPLACE', "#!lua name=busylib\nredis.register_function('spin', function(keys, args) local i = 0 while true do i = i + 1 end end)")));
    a.send(cmd('FCALL', 'spin', '0', 'arg1'));
    await waitBusy(b);
    seen.push(show(await b.call('PING')));
    seen.push(show(await b.call('SCRIPT', 'KILL')));
    const stats = await b.call('FUNCTION', 'STATS');
    assert.ok(Array.isArray(stats));
    const running = stats[1];
    assert.ok(Array.isArray(running));
    // name and command (duration_ms varies).
    seen.push(show(running.slice(0, 4)));
    seen.push(show(await b.call('FUNCTION', 'KILL')));
    seen.push(show(await a.read()));
    await waitNotBusy(b);
    seen.push(show(await b.call('FUNCTION', 'KILL')));
    await b.call('FUNCTION', 'DELETE', 'busylib');
  });
  return seen;
}

test('differential: a busy function: SCRIPT KILL refuses, FUNCTION STATS names it, FUNCTION KILL stops it', async () => {
  await agreeWithRedis(functionKillScenario);
});

/** What INFO counted of errors: errorstats (Redis lists them by name), total_error_replies, and the scripts' and LPUSH's calls. */
async function errorCounts(port: number): Promise<string[]> {
  const stats = await info(port, 'all');
  const out = [...stats].filter(([k]) => k.startsWith('errorstat_')).map(([k, v]) => `${k}:${v}`);
  out.push(`total_error_replies:${stats.get('total_error_replies') ?? '?'}`);
  for (const cmdName of ['eval', 'fcall', 'lpush']) {
    const line = stats.get(`cmdstat_${cmdName}`) ?? '';
    out.push(`${cmdName}: ${line.split(',').filter((f) => /^(calls|rejected_calls|failed_calls)=/.test(f)).join(',')}`);
  }
  return out;
}

/**
 * Scripts and a function that end in an error after running past busy-reply-threshold (their
 * reply deferred), one killed by SCRIPT KILL, and a short one: every error counted as Redis counts it.
 */
async function lateErrorsScenario(port: number): Promise<string[]> {
  const seen: string[] = [];
  await withBusyConns(port, async (a, b) => {
    await a.call('FLUSHALL');
    await a.call('FUNCTION', 'FLUSH');
    await a.call('SET', 'str', 'x');
    await a.call('FUNCTION', 'LOAD', `#!lua name=late\nredis.register_function('late_error', function() ${loopFor(100)} return redis.error_reply('FERR late') end)`);
    await a.call('CONFIG', 'RESETSTAT');
    const tails = [
      `return redis.error_reply('MYERR late')`,
      `error('plain')`,
      // The error of a command it called: that command counted it, the script only fails.
      `return redis.call('lpush', KEYS[1], 'a')`,
      `return redis.pcall('lpush', KEYS[1], 'a')`,
      `return 1`,
    ];
    for (const tail of tails) seen.push(show(await a.call('EVAL', `${loopFor(100)} ${tail}`, '1', 'str')));
    seen.push(show(await a.call('EVAL', `return redis.error_reply('SHORT now')`, '0')));
    seen.push(show(await a.call('FCALL', 'late_error', '0')));
    // waitBusy's PINGs meet one BUSY (counted on both servers alike).
    a.send(cmd('EVAL', 'while true do end', '0'));
    await waitBusy(b);
    seen.push(show(await b.call('SCRIPT', 'KILL')));
    seen.push(show(await a.read()));
    seen.push(...(await errorCounts(port)));
  });
  return seen;
}

test('differential: errors of scripts past busy-reply-threshold count in INFO errorstats, total_error_replies and failed_calls as in Redis', async () => {
  await agreeWithRedis(lateErrorsScenario);
});

/** A script that runs 300 ms: what commandstats and the slow log say of its duration (each checked against a bound, so comparable). */
async function lateTimingScenario(port: number): Promise<string[]> {
  return withBusyConns(port, async (a) => {
    await a.call('CONFIG', 'SET', 'slowlog-log-slower-than', '100000');
    try {
      await a.call('SLOWLOG', 'RESET');
      await a.call('CONFIG', 'RESETSTAT');
      assert.equal(await a.call('EVAL', `${loopFor(300)} return 1`, '0'), 1);
      const stats = await info(port, 'commandstats');
      const usec = Number(/usec=(\d+)/.exec(stats.get('cmdstat_eval') ?? '')?.[1]);
      const log = await a.call('SLOWLOG', 'GET', '10');
      assert.ok(Array.isArray(log));
      const entries = log.map((e) => (Array.isArray(e) ? `${String((e[3] as Buffer[])[0])} ${Number(e[2]) >= 250_000 ? 'whole run' : 'less'}` : show(e)));
      return [`eval usec counts the whole run: ${usec >= 250_000}`, ...entries];
    } finally {
      await a.call('CONFIG', 'SET', 'slowlog-log-slower-than', '10000');
    }
  });
}

test('differential: a script past busy-reply-threshold counts its whole run in commandstats and the slow log', async () => {
  assert.deepEqual(await agreeWithRedis(lateTimingScenario), ['eval usec counts the whole run: true', 'EVAL whole run']);
});

/** A script that wrote cannot be killed: it runs to its end and all its writes stay. */
async function unkillableScenario(port: number): Promise<string[]> {
  const seen: string[] = [];
  await withBusyConns(port, async (a, b) => {
    await b.call('DEL', 'w1', 'w2');
    a.send(cmd('EVAL', `redis.call('set', 'w1', 'a'); ${loopFor(600)}; redis.call('set', 'w2', 'b'); return 'done'`, '0'));
    await waitBusy(b);
    seen.push(show(await b.call('SCRIPT', 'KILL')));
    seen.push(show(await b.call('GET', 'w1')));
    seen.push(show(await a.read()));
    await waitNotBusy(b);
    seen.push(show(await b.call('MGET', 'w1', 'w2')));
  });
  return seen;
}

test('differential: a busy script that wrote is UNKILLABLE, ends on its own and keeps every write', async () => {
  const kv = await agreeWithRedis(unkillableScenario);
  assert.equal(kv[3], JSON.stringify(['a', 'b']));
});

/** A client blocked on a key the script pushes to is served once the script ended, with its last push. */
async function blockedScenario(port: number): Promise<string[]> {
  const waiter = await RawConn.open(port);
  const seen: string[] = [];
  await withBusyConns(port, async (a, b) => {
    await b.call('DEL', 'bq');
    waiter.send(cmd('BLPOP', 'bq', '0'));
    await waitFor('the waiter to block', async () => /blocked_clients:1/.test(String(await b.call('INFO', 'clients'))));
    a.send(cmd('EVAL', `redis.call('lpush', KEYS[1], 'first'); ${loopFor(300)}; redis.call('lpush', KEYS[1], 'last'); return 1`, '1', 'bq'));
    await waitBusy(b);
    seen.push(show(await waiter.read()));
    seen.push(show(await a.read()));
    await waitNotBusy(b);
    seen.push(show(await b.call('LRANGE', 'bq', '0', '-1')));
  }).finally(() => waiter.close());
  return seen;
}

test('differential: a client blocked on a key the busy script pushes to is served only after the script', async () => {
  const kv = await agreeWithRedis(blockedScenario);
  assert.equal(kv[0], JSON.stringify(['bq', 'last']));
});

test('read-only scripts stay killable: EVAL_RO, after pcall caught an error, and a loop of pcall', async () => {
  await withBusyConns(pair.kvPort(), async (a, b) => {
    const scripts: ReadonlyArray<readonly string[]> = [
      ['EVAL_RO', "while true do redis.call('get', KEYS[1]) end", '1', 'k'],
      // An error pcall caught must not turn the slices (and the kill) off for the rest of the run, nor for the next.
      ['EVAL', "pcall(error, 'caught'); local i = 0 while true do i = i + 1 end", '0'],
      ['EVAL', "local f = function() while 1 do redis.call('ping') end end while 1 do pcall(f) end", '0'],
      ['EVAL', 'local i = 0 while true do i = i + 1 end', '0'],
    ];
    for (const s of scripts) {
      a.send(cmd(...s));
      await waitBusy(b);
      assert.equal(await b.call('SCRIPT', 'KILL'), 'OK');
      assert.match(show(await a.read()), /^-ERR Script killed by user with SCRIPT KILL\.\.\. script: \w+, on @user_script:1\.$/);
    }
    assert.equal(await a.call('EVAL', 'return 7', '0'), 7);
    assert.equal(await b.call('PING'), 'PONG');
  });
});

test('SHUTDOWN NOSAVE during a busy script: acknowledged writes survive the restart, none of the script\'s do', async () => {
  let kv: RunningProcess | undefined = await startKvServer({ args: ['--fsync', 'always'] });
  const dir = kv.dir;
  try {
    const a = await RawConn.open(kv.port);
    const b = await RawConn.open(kv.port);
    for (let i = 0; i < 50; i++) assert.equal(await b.call('SET', `acked${i}`, String(i)), 'OK');
    await b.call('CONFIG', 'SET', 'busy-reply-threshold', '20');
    a.send(cmd('EVAL', "redis.call('set', 'acked0', 'changed'); redis.call('set', 'scriptkey', 1); while true do end", '0'));
    await waitBusy(b);
    assert.match(show(await b.call('SHUTDOWN')), /^-BUSY /);
    b.send(cmd('SHUTDOWN', 'NOSAVE'));
    assert.equal(await kv.exited(), 0);
    a.close();
    b.close();
    const port = kv.port;
    kv = await startKvServer({ dir, port, args: ['--fsync', 'always'] });
    const c = await RawConn.open(kv.port);
    try {
      for (let i = 0; i < 50; i++) assert.equal(await c.call('GET', `acked${i}`), String(i));
      assert.equal(await c.call('EXISTS', 'scriptkey'), 0);
    } finally {
      c.close();
    }
  } finally {
    await stopAndClean(kv);
  }
});

test('a busy read-only script on a replica is stopped when the replica applies its primary\'s writes (it never reads a dataset changing under it)', async () => {
  await withPrimaryAndReplica(async (primary, replica) => {
    const p = await RawConn.open(primary.port);
    await withBusyConns(replica.port, async (r, r2) => {
      await p.call('SET', 'seen', 'before');
      await waitFor('the replica has the key', async () => (await r2.call('GET', 'seen')) === 'before', { timeoutMs: 20_000 });
      r.send(cmd('EVAL_RO', `${loopFor(5000)}; return redis.call('get', KEYS[1])`, '1', 'seen'));
      await waitBusy(r2);
      assert.equal(await p.call('SET', 'seen', 'after'), 'OK');
      assert.match(show(await r.read(20_000)), /^-ERR Script stopped: the dataset changed under it/);
      await waitFor('the replica applied the write', async () => (await r2.call('GET', 'seen')) === 'after', { timeoutMs: 20_000 });
    }).finally(() => p.close());
  });
});

test('inside MULTI/EXEC a script past busy-reply-threshold that has not written is stopped (no SCRIPT KILL can be served during EXEC); one that wrote runs to its end', { timeout: 60_000 }, async () => {
  await withBusyConns(pair.kvPort(), async (a, b) => {
    await b.call('DEL', 'mx', 'my');
    await a.call('MULTI');
    await a.call('SET', 'mx', 'before');
    await a.call('EVAL', 'local i = 0 while true do i = i + 1 end', '0');
    await a.call('SET', 'my', 'after');
    const r = await a.call('EXEC');
    assert.ok(Array.isArray(r) && r.length === 3, show(r));
    assert.equal(r[0], 'OK');
    assert.match(show(r[1] as Reply), /^-ERR Script killed: it ran past busy-reply-threshold inside MULTI\/EXEC without writing/);
    assert.equal(r[2], 'OK');
    // The transaction's other commands are one entry, and the server serves everyone again.
    assert.equal(show(await b.call('MGET', 'mx', 'my')), JSON.stringify(['before', 'after']));
    // A script that wrote before passing the threshold is not stopped: its writes are in EXEC's batch.
    await a.call('MULTI');
    await a.call('EVAL', `redis.call('set', 'mx', 'in-script'); ${loopFor(100)}; return 1`, '0');
    assert.equal(show(await a.call('EXEC')), JSON.stringify([1]));
    assert.equal(show(await b.call('GET', 'mx')), JSON.stringify('in-script'));
  });
});
