// CONFIG SET / CONFIG GET (server/config.ts, the CONFIG command): a scripted sequence runs
// against kv-server and a real redis-server in RESP2 and RESP3 and every reply must agree —
// several pairs in one SET, a refused value in the middle putting every pair back, duplicate,
// immutable and unknown names, GET of several patterns (aliases, hidden settings, names spelled
// as asked) — with commands between them showing that a rolled-back setting kept its effect
// (a bulk length limit, maxmemory). CONFIG GET's order is Redis's hash order, so its pairs are
// compared sorted. A replica reports its primary as replicaof.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { freePort, serverPairPerFile, startKvServer, stopAndClean, tempDir, type RunningProcess } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';
import { info } from './helpers/info.js';
import { ReplyError, showReply, type Reply, type Resp } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';

const servers = serverPairPerFile();

/** Longer than Redis's smallest proto-max-bulk-len (1mb), shorter than the 2mb the script sets. */
const BIG_VALUE = 'v'.repeat(1536 * 1024);

function errorText(r: Reply): string {
  assert.ok(r instanceof ReplyError, `expected an error, got ${String(r)}`);
  return r.message;
}

const SCRIPT: ReadonlyArray<readonly string[]> = [
  // Start from the same values on both servers (kv-ts's default maxmemory is a share of the machine).
  ['CONFIG', 'SET', 'maxmemory', '0', 'maxmemory-policy', 'noeviction', 'proto-max-bulk-len', '512mb'],
  // Several pairs: all applied.
  ['CONFIG', 'SET', 'maxmemory', '10000002', 'maxmemory-samples', '7', 'save', '3000 5', 'client-query-buffer-limit', '2mb'],
  ['CONFIG', 'GET', 'maxmemory', 'maxmemory-samples', 'save', 'client-query-buffer-limit'],
  // The replication backlog's budget is live too, and rolls back with the rest.
  ['CONFIG', 'SET', 'maxmemory', '10000001', 'repl-backlog-size', '10000002', 'save', '3000 5'],
  ['CONFIG', 'GET', 'repl-backlog-size'],
  ['CONFIG', 'SET', 'repl-backlog-size', '3mb', 'maxmemory-policy', 'bogus'],
  ['CONFIG', 'SET', 'repl-backlog-size', 'abc'],
  ['CONFIG', 'SET', 'repl-backlog-size', '-1'],
  ['CONFIG', 'GET', 'repl-backlog-size'],
  // A refused value in the middle: the pairs before it are put back, the message names it.
  ['CONFIG', 'SET', 'maxmemory', '10000001', 'maxmemory-clients', '200%', 'client-query-buffer-limit', 'invalid'],
  ['CONFIG', 'SET', 'maxmemory-samples', '9', 'save', '100 1', 'maxmemory-policy', 'bogus', 'slowlog-max-len', '5'],
  ['CONFIG', 'SET', 'notify-keyspace-events', 'KEA', 'latency-tracking-info-percentiles', '10 20', 'slowlog-max-len', 'abc'],
  ['CONFIG', 'GET', 'maxmemory', 'maxmemory-samples', 'maxmemory-clients', 'client-query-buffer-limit', 'save', 'maxmemory-policy'],
  ['CONFIG', 'GET', 'notify-keyspace-events', 'latency-tracking-info-percentiles', 'slowlog-max-len'],
  // The effect of a rolled-back setting is the old one: a 1.5mb value still fits...
  ['CONFIG', 'SET', 'maxmemory', '0', 'proto-max-bulk-len', '2mb'],
  ['CONFIG', 'SET', 'proto-max-bulk-len', '1mb', 'maxmemory-policy', 'bogus'],
  ['SET', 'config-test:big', BIG_VALUE],
  ['STRLEN', 'config-test:big'],
  // ...and a memory limit that was put back does not refuse writes.
  ['CONFIG', 'SET', 'maxmemory', '1', 'maxmemory-samples', 'x'],
  ['SET', 'config-test:small', 'x'],
  ['CONFIG', 'SET', 'proto-max-bulk-len', '512mb'],
  // Duplicates (a name and another name of the same value are not duplicates).
  ['CONFIG', 'SET', 'maxmemory', '10000001', 'maxmemory', '10000002'],
  ['CONFIG', 'SET', 'maxmemory', '1', 'MAXMEMORY', '2'],
  ['CONFIG', 'SET', 'hash-max-ziplist-entries', '5', 'hash-max-listpack-entries', '7'],
  ['CONFIG', 'GET', 'hash-max-*-entries'],
  // Immutable and unknown names: the first problem is reported, nothing is set.
  ['CONFIG', 'SET', 'daemonize', 'yes'],
  ['CONFIG', 'SET', 'databases', '16'],
  ['CONFIG', 'SET', 'replicaof', '127.0.0.1 1'],
  ['CONFIG', 'SET', 'slaveof', 'no one'],
  ['CONFIG', 'SET', 'maxmemory', '5', 'daemonize', 'yes'],
  ['CONFIG', 'SET', 'nosuch', '1'],
  ['CONFIG', 'SET', 'nosuch', '1', 'daemonize', 'yes'],
  ['CONFIG', 'SET', 'daemonize', 'yes', 'nosuch', '1'],
  ['CONFIG', 'SET', 'maxmemory', '5', 'nosuch', '1'],
  ['CONFIG', 'GET', 'maxmemory', 'daemonize'],
  // Values Redis refuses on their own.
  ['CONFIG', 'SET', 'save', '3000 x'],
  ['CONFIG', 'SET', 'save', '3000'],
  ['CONFIG', 'SET', 'save', '+60 010'],
  ['CONFIG', 'GET', 'save'],
  ['CONFIG', 'SET', 'save', ''],
  ['CONFIG', 'SET', 'maxmemory-clients', 'abc'],
  ['CONFIG', 'SET', 'maxmemory-clients', '0'],
  ['CONFIG', 'SET', 'maxmemory-policy', 'bogus'],
  ['CONFIG', 'SET', 'maxmemory'],
  // GET of several patterns: each setting once, aliases both, hidden settings by exact name only.
  ['CONFIG', 'GET', 'maxmemory', 'maxmemory*', 'bind', '*of'],
  ['CONFIG', 'GET', 'MAXMEMORY', 'Maxmemory-Policy'],
  ['CONFIG', 'GET', 'key-load-delay'],
  ['CONFIG', 'GET', 'key-load*'],
  ['CONFIG', 'GET', 'nosuch', 'nosuch*'],
  ['CONFIG', 'GET'],
  // Neither server was started with a config file.
  ['CONFIG', 'REWRITE'],
  ['CONFIG', 'REWRITE', 'now'],
  ['CONFIG', 'HELP'],
  ['CONFIG', 'SET', 'maxmemory', '0'],
  ['DEL', 'config-test:big', 'config-test:small'],
];

/** A reply as text; CONFIG GET's pairs sorted (Redis answers in its hash order). */
function show(argv: readonly string[], r: Resp): string {
  const isGet = argv[0] === 'CONFIG' && argv[1] === 'GET';
  if (!isGet || (r.t !== 'array' && r.t !== 'map') || r.a === null) return showReply(r);
  const pairs: string[] = [];
  for (let i = 0; i + 1 < r.a.length; i += 2) pairs.push(`${showReply(r.a[i] as Resp)}: ${showReply(r.a[i + 1] as Resp)}`);
  return `${r.t}{${pairs.sort().join(', ')}}`;
}

async function run(port: number, protocol: 2 | 3): Promise<string[]> {
  const c = await RawConn.open(port);
  try {
    if (protocol === 3) await c.request('HELLO', '3');
    const out: string[] = [];
    for (const argv of SCRIPT) out.push(`${argv.map((a) => (a.length > 40 ? `<${a.length} bytes>` : a)).join(' ')} -> ${show(argv, await c.request(...argv))}`);
    return out;
  } finally {
    c.close();
  }
}

for (const protocol of [2, 3] as const) {
  test(`CONFIG SET/GET agree with redis-server (RESP${protocol}): all-or-nothing pairs, rollback, duplicates, immutable, unknown, several patterns`, async () => {
    const kv = await run(servers.kvPort(), protocol);
    const redis = await run(servers.redisPort(), protocol);
    for (let i = 0; i < SCRIPT.length; i++) assert.equal(kv[i], redis[i], `step ${i}`);
  });
}

test('a rolled-back CONFIG SET keeps every setting of the call at its old value', async () => {
  const c = await RawConn.open(servers.kvPort());
  try {
    const samples = ((await c.call('CONFIG', 'GET', 'maxmemory-samples')) as Buffer[])[1] as Buffer;
    assert.equal(await c.call('CONFIG', 'SET', 'slowlog-max-len', '33', 'latency-tracking', 'no'), 'OK');
    const err = await c.call('CONFIG', 'SET', 'slowlog-max-len', '44', 'latency-tracking', 'yes', 'maxmemory-samples', 'many');
    assert.match(errorText(err), /argument 'maxmemory-samples'/);
    const got = await c.call('CONFIG', 'GET', 'slowlog-max-len', 'latency-tracking', 'maxmemory-samples');
    assert.deepEqual(got, [...['slowlog-max-len', '33', 'latency-tracking', 'no', 'maxmemory-samples'].map((s) => Buffer.from(s)), samples]);
    // A setting kv-ts reads only at startup takes its current value and refuses another.
    const fsync = (await c.call('CONFIG', 'GET', 'appendfsync')) as Buffer[];
    assert.equal(await c.call('CONFIG', 'SET', 'appendfsync', String(fsync[1])), 'OK');
    assert.match(errorText(await c.call('CONFIG', 'SET', 'appendfsync', String(fsync[1]) === 'always' ? 'no' : 'always')), /argument 'appendfsync'.*only at startup/);
    assert.equal(await c.call('CONFIG', 'SET', 'slowlog-max-len', '128', 'latency-tracking', 'yes'), 'OK');
  } finally {
    c.close();
  }
});

test('CONFIG SET repl-backlog-size resizes the backlog at once (INFO); a config file sets it at startup', async () => {
  const dir = tempDir('kv-backlog-config');
  const file = join(dir, 'kv.conf');
  writeFileSync(file, 'repl-backlog-size 2mb\n');
  const kv = await startKvServer({ args: ['--config', file] });
  // A primary fills its backlog once it has a replica.
  const replica = await startKvServer({ args: ['--replica-of', `127.0.0.1:${kv.port}`] });
  const c = await RawConn.open(kv.port);
  const replication = (): Promise<Map<string, string>> => info(kv.port);
  try {
    assert.equal((await replication()).get('repl_backlog_size'), String(2 * 1024 * 1024));
    await waitFor('the replica is linked', async () => (await replication()).get('connected_slaves') === '1');
    const value = 'x'.repeat(10_000);
    for (let i = 0; i < 150; i++) assert.equal(await c.call('SET', `backlog:${i}`, value), 'OK');
    assert.ok(Number((await replication()).get('repl_backlog_histlen')) > 1_000_000, 'the backlog holds the writes');
    assert.equal(await c.call('CONFIG', 'SET', 'repl-backlog-size', '100kb'), 'OK');
    const after = await replication();
    assert.equal(after.get('repl_backlog_size'), String(100 * 1024));
    assert.ok(Number(after.get('repl_backlog_histlen')) <= 100 * 1024, `the oldest entries were dropped at once (${after.get('repl_backlog_histlen')})`);
    assert.deepEqual((await c.call('CONFIG', 'GET', 'repl-backlog-size') as Buffer[]).map(String), ['repl-backlog-size', String(100 * 1024)]);
  } finally {
    c.close();
    await stopAndClean(replica);
    await stopAndClean(kv);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CONFIG REWRITE keeps comments and the names the file uses, puts each setting in force on its line, appends the rest; a restart reads them back', async () => {
  const dir = tempDir('kv-config-rewrite');
  const conf = join(dir, 'kv.conf');
  const json = join(dir, 'kv.json');
  writeFileSync(conf, '# my settings\nlog-level warn\nmaxmemory 100mb\n\n# a second line for one setting goes\nmaxmemory 200mb\nsave ""\ntracking-table-max-keys 5\n');
  writeFileSync(json, JSON.stringify({ maxmemory: '100mb', 'slowlog-max-len': 9 }));
  const first = await startKvServer({ args: ['--config', conf] });
  const second = await startKvServer({ args: ['--config', json] });
  const started: RunningProcess[] = [first, second];
  try {
    const a = await RawConn.open(first.port);
    assert.equal(await a.call('CONFIG', 'SET', 'maxmemory', '300mb', 'slowlog-max-len', '77', 'save', '100 2', 'notify-keyspace-events', ''), 'OK');
    assert.equal(await a.call('CONFIG', 'SET', 'requirepass', `'pa ss"`), 'OK');
    assert.equal(await a.call('AUTH', `'pa ss"`), 'OK');
    assert.equal(await a.call('CONFIG', 'REWRITE'), 'OK');
    a.close();
    const lines = readFileSync(conf, 'utf8').split('\n');
    assert.deepEqual(lines.slice(0, 7), ['# my settings', 'log-level warn', 'maxmemory 314572800', '', '# a second line for one setting goes', 'save 100 2', 'tracking-table-max-keys 5']);
    assert.equal(lines[7], '# Generated by CONFIG REWRITE');
    for (const l of ['slowlog-max-len 77', `requirepass ''pa ss"'`, `port ${first.port}`]) assert.ok(lines.includes(l), `${l} in ${JSON.stringify(lines)}`);
    const b = await RawConn.open(second.port);
    assert.equal(await b.call('CONFIG', 'SET', 'maxmemory', '1mb', 'latency-monitor-threshold', '5'), 'OK');
    assert.equal(await b.call('CONFIG', 'REWRITE'), 'OK');
    b.close();
    const obj = JSON.parse(readFileSync(json, 'utf8')) as Record<string, string>;
    assert.equal(obj['maxmemory'], '1048576');
    assert.equal(obj['slowlog-max-len'], '9');
    assert.equal(obj['latency-monitor-threshold'], '5');
    // A restart on the rewritten file has the settings (its port is a flag of the new process).
    await stopAndClean(started.shift());
    writeFileSync(conf, readFileSync(conf, 'utf8').replace(/^port .*$/m, ''));
    const again = await startKvServer({ args: ['--config', conf] });
    started.push(again);
    const c = await RawConn.open(again.port);
    assert.equal(await c.call('AUTH', `'pa ss"`), 'OK');
    const got = (await c.call('CONFIG', 'GET', 'maxmemory', 'slowlog-max-len', 'save', 'notify-keyspace-events')) as Buffer[];
    assert.deepEqual(got.map(String), ['maxmemory', '314572800', 'slowlog-max-len', '77', 'save', '100 2', 'notify-keyspace-events', '']);
    c.close();
  } finally {
    for (const p of started) await stopAndClean(p);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CONFIG SET port listens on the new port before answering; the old one takes no new client, its clients stay; a taken port rolls the call back', async () => {
  const kv = await startKvServer();
  const c = await RawConn.open(kv.port);
  const blocker = createServer();
  try {
    const next = await freePort();
    assert.equal(await c.call('CONFIG', 'SET', 'port', String(next), 'slowlog-max-len', '21'), 'OK');
    assert.equal(await c.call('PING'), 'PONG', 'a client of the old port stays');
    const d = await RawConn.open(next);
    assert.deepEqual((await d.call('CONFIG', 'GET', 'port') as Buffer[]).map(String), ['port', String(next)]);
    assert.equal((await info(next, 'server')).get('tcp_port'), String(next));
    d.close();
    await assert.rejects(RawConn.open(kv.port), 'the old port takes no new connection');
    // A port something else holds: the error names it, and every pair of the call is put back.
    const taken = await freePort();
    await new Promise<void>((resolve) => blocker.listen(taken, '127.0.0.1', resolve));
    assert.match(errorText(await c.call('CONFIG', 'SET', 'slowlog-max-len', '99', 'port', String(taken), 'maxmemory-samples', '9')), /^ERR CONFIG SET failed \(possibly related to argument 'port'\) - Unable to listen on this port/);
    assert.deepEqual((await c.call('CONFIG', 'GET', 'port', 'slowlog-max-len') as Buffer[]).map(String), ['port', String(next), 'slowlog-max-len', '21']);
    assert.equal(await c.call('PING'), 'PONG');
    // Port 0 is only a startup choice; inside MULTI the port cannot change (no reply can wait there).
    assert.match(errorText(await c.call('CONFIG', 'SET', 'port', '0')), /argument 'port'/);
    assert.equal(await c.call('MULTI'), 'OK');
    assert.equal(await c.call('CONFIG', 'SET', 'port', String(kv.port)), 'QUEUED');
    const exec = (await c.call('EXEC')) as Reply[];
    assert.match(errorText(exec[0] as Reply), /inside MULTI/);
  } finally {
    c.close();
    blocker.close();
    await stopAndClean(kv, 'SIGTERM');
  }
});

test('CONFIG GET replicaof names the primary on a replica ("host port"), "" on a primary; CONFIG SET refuses it', async () => {
  const replica = await startKvServer({ args: ['--replica-of', `127.0.0.1:${servers.kvPort()}`] });
  const c = await RawConn.open(replica.port);
  try {
    const text = (r: Reply): string[] => (r as Buffer[]).map(String);
    assert.deepEqual(text(await c.call('CONFIG', 'GET', 'replicaof', 'slaveof')), ['replicaof', `127.0.0.1 ${servers.kvPort()}`, 'slaveof', `127.0.0.1 ${servers.kvPort()}`]);
    assert.match(errorText(await c.call('CONFIG', 'SET', 'replicaof', 'no one')), /can't set immutable config/);
    assert.equal(await c.call('REPLICAOF', 'NO', 'ONE'), 'OK');
    assert.deepEqual(text(await c.call('CONFIG', 'GET', 'replicaof')), ['replicaof', '']);
  } finally {
    c.close();
    await stopAndClean(replica);
  }
});
