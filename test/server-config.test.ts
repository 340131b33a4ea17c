// CONFIG SET / CONFIG GET (server/config.ts, the CONFIG command): a scripted sequence runs
// against kv-server and a real redis-server in RESP2 and RESP3 and every reply must agree —
// several pairs in one SET, a refused value in the middle putting every pair back, duplicate,
// immutable and unknown names, GET of several patterns (aliases, hidden settings, names spelled
// as asked) — with commands between them showing that a rolled-back setting kept its effect
// (a bulk length limit, maxmemory). CONFIG GET's order is Redis's hash order, so its pairs are
// compared sorted. A replica reports its primary as replicaof.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serverPairPerFile, startKvServer, stopAndClean, tempDir } from './helpers/procs.js';
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
    const port = (await c.call('CONFIG', 'GET', 'port')) as Buffer[];
    assert.equal(await c.call('CONFIG', 'SET', 'port', String(port[1])), 'OK');
    assert.match(errorText(await c.call('CONFIG', 'SET', 'port', '1')), /argument 'port'.*only at startup/);
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
