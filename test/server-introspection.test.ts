// SLOWLOG, LATENCY and COMMAND key extraction (server/commands/introspection.ts, admin.ts) on
// real servers: the same scripts go to a redis-server 7.0 and to kv-server in RESP2 and RESP3,
// and their replies must be byte-identical where Redis's are deterministic (help texts, errors,
// slow log entries with their ids, times, durations and addresses normalised, key extraction);
// then what only kv-server is asked: blocked commands logged when served, EXEC's commands logged
// one by one, the length bound, latency events from a command that takes milliseconds.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKvServer, startRedisServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { ReplyError, showReply, type Resp } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';
import { parseInfo } from './helpers/info.js';
import { waitFor } from './helpers/wait.js';

const procs: RunningProcess[] = [];
const conns: RawConn[] = [];
after(async () => {
  for (const c of conns) c.close();
  for (const p of procs) await stopAndClean(p);
});

let pair: Promise<{ redis: RunningProcess; kv: RunningProcess }> | null = null;
/** One redis-server and one kv-server for the differential tests. */
function servers(): Promise<{ redis: RunningProcess; kv: RunningProcess }> {
  pair ??= (async () => {
    const [redis, kv] = await Promise.all([startRedisServer(), startKvServer({ args: ['--fsync', 'no'] })]);
    procs.push(redis, kv);
    return { redis, kv };
  })();
  return pair;
}

async function open(port: number, protocol: 2 | 3): Promise<RawConn> {
  const c = await RawConn.open(port);
  conns.push(c);
  if (protocol === 3) await c.request('HELLO', '3');
  return c;
}

const A129 = 'A'.repeat(129);
/** With SADD and its key: 35 arguments, 4 past the 31 the slow log keeps before its marker. */
const MANY_ARGS = Array.from({ length: 33 }, (_, i) => String(i + 3));

/**
 * Commands whose replies must match exactly. A command that differs on purpose between the two
 * servers (kv-ts's own settings, its command count) is not here.
 */
const EXACT: ReadonlyArray<readonly string[]> = [
  ['SLOWLOG', 'HELP'],
  ['SLOWLOG', 'HELP', 'x'],
  ['SLOWLOG'],
  ['SLOWLOG', 'NOSUCH'],
  ['SLOWLOG', 'LEN', 'x'],
  ['SLOWLOG', 'RESET', 'x'],
  ['SLOWLOG', 'GET', '-2'],
  ['SLOWLOG', 'GET', 'abc'],
  ['SLOWLOG', 'GET', '1', '2'],
  ['LATENCY', 'HELP'],
  ['LATENCY', 'HELP', 'xxx'],
  ['LATENCY'],
  ['LATENCY', 'NOSUCH'],
  ['LATENCY', 'LATEST'],
  ['LATENCY', 'HISTORY', 'nosuch'],
  ['LATENCY', 'HISTORY'],
  ['LATENCY', 'RESET', 'nosuch'],
  ['LATENCY', 'GRAPH', 'nosuch'],
  ['LATENCY', 'GRAPH'],
  ['LATENCY', 'DOCTOR', 'x'],
  ['LATENCY', 'LATEST', 'x'],
  ['LATENCY', 'HISTOGRAM', 'nosuch', 'other'],
  ['CONFIG', 'SET', 'latency-tracking', 'maybe'],
  ['CONFIG', 'SET', 'latency-tracking-info-percentiles', '10 50 a'],
  ['CONFIG', 'SET', 'latency-tracking-info-percentiles', '10 50 101'],
  ['CONFIG', 'SET', 'latency-tracking-info-percentiles', '0.0 50.0 100.0'],
  ['CONFIG', 'GET', 'latency-tracking-info-percentiles'],
  ['CONFIG', 'SET', 'latency-tracking-info-percentiles', '50 99 99.9'],
  ['CONFIG', 'GET', 'latency-tracking'],
  ['CONFIG', 'GET', 'slowlog-max-len'],
  ['CONFIG', 'GET', 'latency-monitor-threshold'],
  ['CONFIG', 'SET', 'slowlog-max-len', '50'],
  ['CONFIG', 'GET', 'slowlog-max-len'],
  ['CONFIG', 'SET', 'slowlog-log-slower-than', '-1'],
  ['CONFIG', 'GET', 'slowlog-log-slower-than'],
  ['CONFIG', 'SET', 'slowlog-max-len', '128'],
  ['CONFIG', 'SET', 'slowlog-log-slower-than', '10000'],
  // Request/response tips (MGET's multi_shard) are not given by kv-ts: commands without them are
  // compared (server-command-info.test.ts compares every command's other fields).
  ['COMMAND', 'INFO', 'get', 'nosuch', 'hget', 'zrange', 'config|nosuch'],
  ['CONFIG', 'GET'],
  ['CONFIG', 'RESETSTAT', 'x'],
  ['COMMAND', 'COUNT', 'x'],
  ['COMMAND', 'GETKEYS', 'GET', 'k'],
  ['COMMAND', 'GETKEYS', 'MSET', 'a', '1', 'b', '2'],
  ['COMMAND', 'GETKEYS', 'MGET', 'a', 'b', 'c'],
  ['COMMAND', 'GETKEYS', 'ZUNIONSTORE', 'd', '2', 'a', 'b', 'WEIGHTS', '1', '2'],
  ['COMMAND', 'GETKEYS', 'ZUNIONSTORE', 'd', '5', 'a', 'b'],
  ['COMMAND', 'GETKEYS', 'ZUNIONSTORE', 'd', '0', 'a'],
  ['COMMAND', 'GETKEYS', 'ZINTER', '2', 'a', 'b', 'WITHSCORES'],
  ['COMMAND', 'GETKEYS', 'SINTERCARD', '3', 'a', 'b', 'c', 'LIMIT', '1'],
  ['COMMAND', 'GETKEYS', 'LMPOP', '2', 'a', 'b', 'LEFT'],
  ['COMMAND', 'GETKEYS', 'BLMPOP', '0', '2', 'a', 'b', 'LEFT', 'COUNT', '3'],
  ['COMMAND', 'GETKEYS', 'BZMPOP', '0', 'x', 'a', 'MIN'],
  ['COMMAND', 'GETKEYS', 'PING', 'x'],
  ['COMMAND', 'GETKEYS', 'NOSUCH', 'x'],
  ['COMMAND', 'GETKEYS', 'GET'],
  ['COMMAND', 'GETKEYS', 'GET', 'a', 'b'],
  ['COMMAND', 'GETKEYSANDFLAGS', 'GET', 'k'],
  ['COMMAND', 'GETKEYSANDFLAGS', 'MGET', 'a', 'b'],
  ['COMMAND', 'GETKEYSANDFLAGS', 'ZUNION', '2', 'a', 'b'],
  ['COMMAND', 'GETKEYSANDFLAGS', 'SINTERCARD', '2', 'a', 'b'],
  ['COMMAND', 'GETKEYSANDFLAGS', 'PING'],
];

for (const protocol of [2, 3] as const) {
  test(`SLOWLOG / LATENCY / COMMAND GETKEYS replies are byte-identical to redis-server's (RESP${protocol})`, { timeout: 60_000 }, async () => {
    const { redis, kv } = await servers();
    const [a, b] = [await open(redis.port, protocol), await open(kv.port, protocol)];
    for (const argv of EXACT) {
      const [ra, rb] = [await a.request(...argv), await b.request(...argv)];
      assert.equal(showReply(rb), showReply(ra), argv.join(' '));
    }
  });
}

test('COMMAND INFO gives subcommands the arity redis-server does', { timeout: 60_000 }, async () => {
  const { redis, kv } = await servers();
  const [a, b] = [await open(redis.port, 2), await open(kv.port, 2)];
  const names = ['slowlog|get', 'slowlog|len', 'slowlog|reset', 'slowlog|help', 'latency|latest', 'latency|history', 'latency|reset', 'latency|graph', 'latency|doctor', 'latency|histogram', 'latency|help', 'config|get', 'config|set', 'config|resetstat', 'command|getkeys', 'command|info', 'command|count'];
  const arity = async (c: RawConn): Promise<string[]> => ((await c.call('COMMAND', 'INFO', ...names)) as unknown[][]).map((e, i) => `${names[i]} ${String(e[0])} ${String(e[1])}`);
  assert.deepEqual(await arity(b), await arity(a));
});

/** A slow log entry with what varies between runs (id, time, duration, address) replaced by its shape. */
function normalise(entry: Resp, firstId: bigint): string {
  assert.ok(entry.t === 'array' && entry.a !== null && entry.a.length === 6, showReply(entry));
  const [id, time, duration, argv, addr, name] = entry.a as [Resp, Resp, Resp, Resp, Resp, Resp];
  assert.ok(id.t === 'int' && time.t === 'int' && duration.t === 'int', showReply(entry));
  assert.ok(Math.abs(Number(time.n) - Date.now() / 1000) < 60, `time ${time.n}`);
  assert.ok(duration.n >= 0n);
  assert.ok(addr.t === 'bulk' && /^127\.0\.0\.1:\d+$/.test(addr.b?.toString() ?? ''), showReply(addr));
  return `#${id.n - firstId} ${showReply(argv)} ${showReply(name)}`;
}

/** The commands one test logs, each with what it sends. Replies may differ (kv-ts has no masterauth). */
const LOGGED: ReadonlyArray<readonly string[]> = [
  ['SET', 'k', 'v'],
  ['AUTH', 'nosuchpassword'],
  ['AUTH', 'user', 'pass'],
  ['HELLO', String(2), 'AUTH', 'default', 'wrong'],
  ['CONFIG', 'SET', 'masterauth', 'secret'],
  ['CONFIG', 'SET', 'requirepass', ''],
  ['CLIENT', 'SETNAME', 'logged-name'],
  ['SADD', 'set', ...MANY_ARGS],
  ['SADD', 'set', 'foo', A129],
  ['INCRBYFLOAT', 'num', '1.5'],
  ['GETSET', 'k', 'w'],
  ['MULTI'],
  ['SET', 'in-tx', '1'],
  ['INCR', 'in-tx'],
  ['EXEC'],
];

for (const protocol of [2, 3] as const) {
  test(`slow log entries match redis-server's: trimmed and redacted arguments, names, EXEC's commands (RESP${protocol})`, { timeout: 60_000 }, async () => {
    const { redis, kv } = await servers();
    const logs: string[][] = [];
    for (const port of [redis.port, kv.port]) {
      const c = await open(port, protocol);
      await c.request('DEL', 'set', 'num', 'k', 'in-tx');
      await c.request('CONFIG', 'SET', 'slowlog-log-slower-than', '0');
      await c.request('SLOWLOG', 'RESET');
      for (const argv of LOGGED) await c.request(...argv);
      await c.request('CONFIG', 'SET', 'slowlog-log-slower-than', '-1');
      await c.request('CLIENT', 'SETNAME', 'not-logged');
      const got = await c.request('SLOWLOG', 'GET', '-1');
      assert.ok(got.t === 'array' && got.a !== null);
      const entries = [...got.a].reverse();
      const firstId = (entries[0] as Resp & { t: 'array' }).a?.[0];
      assert.ok(firstId !== undefined && firstId.t === 'int');
      logs.push(entries.map((e) => normalise(e, firstId.n)));
      assert.equal((await c.call('SLOWLOG', 'LEN')), entries.length);
      await c.request('CONFIG', 'SET', 'slowlog-log-slower-than', '10000');
    }
    const [fromRedis, fromKv] = logs as [string[], string[]];
    assert.deepEqual(fromKv, fromRedis);
    // The script is logged as expected (not only alike): the first entry is the reset itself.
    assert.match(fromKv[0] as string, /^#0 \["SLOWLOG", "RESET"\]/);
    assert.ok(fromKv.some((e) => e.includes('"AUTH", "(redacted)", "(redacted)"')));
    assert.ok(fromKv.some((e) => e.includes('"... (4 more arguments)"')));
    assert.ok(fromKv.some((e) => e.includes('... (1 more bytes)')));
    assert.ok(!fromKv.some((e) => e.includes('"EXEC"')), 'EXEC itself is not logged');
  });
}

test('LATENCY HISTOGRAM and INFO commandstats count subcommands as container|sub, like redis-server', { timeout: 60_000 }, async () => {
  const { redis, kv } = await servers();
  const shapes: string[][] = [];
  for (const port of [redis.port, kv.port]) {
    const c = await open(port, 3);
    await c.request('CONFIG', 'RESETSTAT');
    await c.request('SET', 'a', 'b');
    await c.request('SET', 'c', 'd');
    await c.request('CLIENT', 'ID');
    await c.request('client', 'GETNAME');
    const all = await c.call('LATENCY', 'HISTOGRAM');
    const some = await c.call('LATENCY', 'HISTOGRAM', 'client', 'set', 'nosuch', 'get');
    const shape: string[] = [];
    for (const h of [all, some]) {
      assert.ok(h instanceof Map);
      for (const [name, v] of [...h].sort((x, y) => String(x[0]).localeCompare(String(y[0])))) {
        assert.ok(v instanceof Map, `${String(name)}`);
        const cdf = v.get('histogram_usec');
        assert.ok(cdf instanceof Map && cdf.size > 0);
        // Cumulative counts rise to the number of calls.
        const counts = [...cdf.values()] as number[];
        assert.deepEqual([...counts].sort((x, y) => x - y), counts);
        assert.equal(counts[counts.length - 1], v.get('calls'));
        shape.push(`${String(name)} calls=${String(v.get('calls'))}`);
      }
      shape.push('--');
    }
    const stats = parseInfo((await c.call('INFO', 'commandstats')) as string);
    for (const k of ['cmdstat_config|resetstat', 'cmdstat_client|id', 'cmdstat_client|getname', 'cmdstat_set']) {
      assert.match(stats.get(k) ?? '', /^calls=\d+,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=0,failed_calls=0$/, k);
    }
    shape.push(`set: ${stats.get('cmdstat_set')?.replace(/usec=\d+,usec_per_call=[\d.]+/, 'usec')}`);
    shapes.push(shape);
  }
  assert.deepEqual(shapes[1], shapes[0]);
  assert.ok(shapes[1]?.includes('config|resetstat calls=1'), 'CONFIG RESETSTAT counts itself after resetting');
  assert.ok(shapes[1]?.includes('client|id calls=1'));
});

test('a blocked command is logged when it is served, with the arguments it was sent', { timeout: 60_000 }, async () => {
  const { kv } = await servers();
  const c = await open(kv.port, 2);
  const blocked = await open(kv.port, 2);
  await c.request('CONFIG', 'SET', 'slowlog-log-slower-than', '0');
  await c.request('SLOWLOG', 'RESET');
  blocked.send('*3\r\n$5\r\nBLPOP\r\n$8\r\nblk-list\r\n$1\r\n0\r\n');
  await waitFor('BLPOP blocked', async () => parseInfo((await c.call('INFO', 'clients')) as string).get('blocked_clients') === '1');
  const waiting = (await c.call('SLOWLOG', 'GET', '-1')) as unknown[][];
  assert.ok(!waiting.some((e) => String((e[3] as Buffer[])[0]) === 'BLPOP'), 'not logged while it waits');
  await c.request('LPUSH', 'blk-list', 'x');
  assert.deepEqual(((await blocked.read()) as Buffer[]).map(String), ['blk-list', 'x']);
  const log = await c.call('SLOWLOG', 'GET', '1');
  assert.ok(Array.isArray(log) && Array.isArray(log[0]));
  assert.deepEqual(((log[0] as unknown[])[3] as Buffer[]).map(String), ['BLPOP', 'blk-list', '0']);
  await c.request('CONFIG', 'SET', 'slowlog-log-slower-than', '10000');
});

test('slowlog-max-len bounds the log, a lower bound drops the oldest, ids go on across RESET', { timeout: 60_000 }, async () => {
  const { kv } = await servers();
  const c = await open(kv.port, 2);
  await c.request('CONFIG', 'SET', 'slowlog-log-slower-than', '0');
  await c.request('CONFIG', 'SET', 'slowlog-max-len', '10');
  await c.request('SLOWLOG', 'RESET');
  for (let i = 0; i < 100; i++) await c.request('PING', String(i));
  assert.equal(await c.call('SLOWLOG', 'LEN'), 10);
  const five = (await c.call('SLOWLOG', 'GET', '5')) as unknown[][];
  assert.equal(five.length, 5);
  // Newest first: the last PING, then the one before...
  assert.deepEqual(five.map((e) => (e[3] as Buffer[]).map(String).join(' ')), ['SLOWLOG LEN', 'PING 99', 'PING 98', 'PING 97', 'PING 96']);
  const ids = five.map((e) => Number(e[0]));
  assert.deepEqual(ids, ids.map((_, i) => (ids[0] as number) - i));
  await c.request('CONFIG', 'SET', 'slowlog-max-len', '3');
  assert.equal(await c.call('SLOWLOG', 'LEN'), 3);
  assert.equal(((await c.call('SLOWLOG', 'GET', '0')) as unknown[]).length, 0);
  await c.request('SLOWLOG', 'RESET');
  const after = (await c.call('SLOWLOG', 'GET')) as unknown[][];
  assert.equal(after.length, 1);
  assert.ok(Number(after[0]?.[0]) > (ids[0] as number), 'ids keep counting after RESET');
  await c.request('CONFIG', 'SET', 'slowlog-log-slower-than', '-1');
  await c.request('SLOWLOG', 'RESET');
  await c.request('PING');
  assert.equal(await c.call('SLOWLOG', 'LEN'), 0, '-1 turns the log off');
  await c.request('CONFIG', 'SET', 'slowlog-max-len', '128');
  await c.request('CONFIG', 'SET', 'slowlog-log-slower-than', '10000');
});

test('a command of some milliseconds is a "command" latency event: LATEST, HISTORY, GRAPH, DOCTOR, RESET', { timeout: 120_000 }, async () => {
  const kv = await startKvServer({ args: ['--fsync', 'no', '--latency-monitor-threshold', '1'] });
  procs.push(kv);
  const c = await open(kv.port, 2);
  // A loaded machine can stretch an empty expiry sweep past 1 ms (an 'expire-cycle' event): only
  // the 'command' class is this test's, so only it is checked for absence.
  const doctor0 = String(await c.call('LATENCY', 'DOCTOR'));
  assert.match(doctor0, /No latency spike of 1 ms or more|expire-cycle/);
  assert.doesNotMatch(doctor0, /\d+\. command:/);
  const commandRows = async (): Promise<unknown[][]> => ((await c.call('LATENCY', 'LATEST')) as unknown[][]).filter((r) => String(r[0]) === 'command');
  // Copying 50k members takes well over a millisecond, with a one-integer reply.
  for (let i = 0; i < 5; i++) await c.request('SADD', 'big', ...Array.from({ length: 10_000 }, (_, j) => `member-${i}-${j}`));
  await c.request('LATENCY', 'RESET');
  const started = Math.floor(Date.now() / 1000);
  await c.request('SUNIONSTORE', 'copy', 'big');
  const latest = (await c.call('LATENCY', 'LATEST')) as unknown[][];
  const row = latest.find((r) => String(r[0]) === 'command');
  assert.ok(row !== undefined, `LATEST: ${JSON.stringify(latest.map((r) => r.map(String)))}`);
  assert.ok(Number(row[1]) >= started && Number(row[2]) >= 1 && Number(row[3]) >= Number(row[2]));
  const history = (await c.call('LATENCY', 'HISTORY', 'command')) as unknown[][];
  // LATEST's sample is in HISTORY (a later spike in the same second, e.g. LATEST itself, may have raised it).
  assert.ok(history.some(([t, ms]) => Number(t) === Number(row[1]) && Number(ms) >= Number(row[2])), JSON.stringify(history));
  assert.match(String(await c.call('LATENCY', 'GRAPH', 'command')), /^(txt:)?command - high \d+ ms, low \d+ ms \(all time high \d+ ms\)\n-{80}\n/);
  const doctor = String(await c.call('LATENCY', 'DOCTOR'));
  assert.match(doctor, /\d\. command: \d+ latency spike\(s\)/);
  assert.match(doctor, /SLOWLOG GET/);
  assert.equal(await c.call('LATENCY', 'RESET', 'command', 'nosuch'), 1);
  // RESET itself is a command: on a loaded machine it may be a new 1 ms spike, never the big one.
  assert.ok((await commandRows()).every((r) => Number(r[3]) < Number(row[3])), 'the SUNIONSTORE spike is gone');
  // Threshold 0 turns it off.
  await c.request('CONFIG', 'SET', 'latency-monitor-threshold', '0');
  await c.request('LATENCY', 'RESET');
  await c.request('SUNIONSTORE', 'copy', 'big');
  assert.deepEqual(await commandRows(), []);
});

test('an active expiry sweep that deletes many keys is an "expire-cycle" latency event', { timeout: 120_000 }, async () => {
  const kv = await startKvServer({ args: ['--fsync', 'no', '--latency-monitor-threshold', '1'] });
  procs.push(kv);
  const c = await open(kv.port, 2);
  // 20k keys expiring together: the sweep that finds them deletes (and logs) thousands in one run.
  for (let i = 0; i < 20; i++) await c.requestMany(Array.from({ length: 1000 }, (_, j) => ['SET', `exp-${i}-${j}`, 'v', 'PX', '300']));
  await waitFor('the keys expired', async () => (await c.call('DBSIZE')) === 0, { timeoutMs: 60_000, intervalMs: 50 });
  const latest = (await c.call('LATENCY', 'LATEST')) as unknown[][];
  assert.ok(latest.some((r) => String(r[0]) === 'expire-cycle'), JSON.stringify(latest.map((r) => r.map(String))));
});

test('a blocked command answered UNBLOCKED counts as a failed call and an error, like redis-server', { timeout: 60_000 }, async () => {
  const { redis, kv } = await servers();
  const seen: string[][] = [];
  for (const port of [redis.port, kv.port]) {
    const c = await open(port, 2);
    const blocked = await open(port, 2);
    const id = await blocked.call('CLIENT', 'ID');
    await c.request('CONFIG', 'RESETSTAT');
    blocked.send('*3\r\n$5\r\nBLPOP\r\n$10\r\nunblock-me\r\n$1\r\n0\r\n');
    await waitFor('BLPOP blocked', async () => parseInfo((await c.call('INFO', 'clients')) as string).get('blocked_clients') === '1');
    assert.equal(await c.call('CLIENT', 'UNBLOCK', String(id), 'ERROR'), 1);
    assert.ok((await blocked.read()) instanceof ReplyError);
    const info = parseInfo((await c.call('INFO', 'stats', 'errorstats', 'commandstats')) as string);
    seen.push([
      `total_error_replies=${info.get('total_error_replies')}`,
      `errorstat_UNBLOCKED=${info.get('errorstat_UNBLOCKED')}`,
      `blpop=${info.get('cmdstat_blpop')?.replace(/usec=\d+,usec_per_call=[\d.]+,/, '')}`,
    ]);
  }
  assert.deepEqual(seen[1], seen[0]);
  assert.deepEqual(seen[1], ['total_error_replies=1', 'errorstat_UNBLOCKED=count=1', 'blpop=calls=1,rejected_calls=0,failed_calls=1']);
});
