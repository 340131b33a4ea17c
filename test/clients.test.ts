// Real Redis clients against kv-server: ioredis and node-redis (v4, RESP2) workloads,
// pipelines of 1000, binary values, MULTI failing clearly, RESP3 via HELLO on a raw
// connection, and redis-cli one-shot and inline (stdin) modes.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { startKvServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { RawConn } from './helpers/server-conn.js';

const run = promisify(execFile);
let srv: RunningProcess | undefined;
const port = (): number => (srv as RunningProcess).port;

before(async () => {
  srv = await startKvServer();
});
after(async () => {
  await stopAndClean(srv);
});

test('ioredis: workload, pipeline of 1000, binary values, MULTI/EXEC and WATCH', async () => {
  const r = new Redis({ host: '127.0.0.1', port: port(), lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    assert.equal(await r.set('io:a', '1'), 'OK');
    assert.equal(await r.get('io:a'), '1');
    assert.equal(await r.incr('io:a'), 2);
    assert.equal(await r.expire('io:a', 100), 1);
    const ttl = await r.ttl('io:a');
    assert.ok(ttl > 90 && ttl <= 100, String(ttl));
    assert.equal(await r.mset('io:b', 'x', 'io:c', 'y'), 'OK');
    assert.deepEqual(await r.mget('io:a', 'io:b', 'io:c', 'io:none'), ['2', 'x', 'y', null]);
    assert.equal(await r.del('io:b', 'io:c', 'io:none'), 2);
    const bin = Buffer.from([0, 1, 2, 13, 10, 255, 254, 0]);
    assert.equal(await r.set(Buffer.from([0xff, 0x00]), bin), 'OK');
    assert.ok((await r.getBuffer(Buffer.from([0xff, 0x00])))?.equals(bin));
    const p = r.pipeline();
    for (let i = 0; i < 1000; i++) p.set(`io:p:${i}`, String(i));
    for (let i = 0; i < 1000; i++) p.get(`io:p:${i}`);
    const res = (await p.exec()) ?? [];
    assert.equal(res.length, 2000);
    for (let i = 0; i < 1000; i++) {
      assert.deepEqual(res[i], [null, 'OK']);
      assert.deepEqual(res[1000 + i], [null, String(i)]);
    }
    // ioredis sends MULTI, the commands and EXEC in one pipeline; EXEC's array carries each result.
    assert.deepEqual(await r.multi().set('io:m', '1').incr('io:m').get('io:m').exec(), [[null, 'OK'], [null, 2], [null, '2']]);
    // WATCH: a change by another connection makes EXEC return null.
    const other = new Redis({ host: '127.0.0.1', port: port(), lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await other.connect();
      assert.equal(await r.watch('io:m'), 'OK');
      assert.equal(await other.set('io:m', 'theirs'), 'OK');
      assert.equal(await r.multi().set('io:m', 'mine').exec(), null);
      assert.equal(await r.get('io:m'), 'theirs');
    } finally {
      other.disconnect();
    }
  } finally {
    r.disconnect();
  }
});

test('node-redis v4: workload, pipeline of 1000, MULTI/EXEC', async () => {
  const c = createClient({ socket: { host: '127.0.0.1', port: port(), reconnectStrategy: false } });
  c.on('error', () => undefined);
  await c.connect();
  try {
    assert.equal(await c.set('nr:a', '10'), 'OK');
    assert.equal(await c.incrBy('nr:a', 5), 15);
    assert.equal(await c.get('nr:a'), '15');
    assert.equal(await c.expire('nr:a', 50), true);
    assert.ok((await c.ttl('nr:a')) > 40);
    assert.equal(await c.mSet({ 'nr:b': '1', 'nr:c': '2' }), 'OK');
    assert.deepEqual(await c.mGet(['nr:b', 'nr:c', 'nr:x']), ['1', '2', null]);
    assert.equal(await c.del(['nr:b', 'nr:c']), 2);
    const cmds: Array<Promise<unknown>> = [];
    for (let i = 0; i < 1000; i++) cmds.push(c.set(`nr:p:${i}`, `v${i}`));
    assert.ok((await Promise.all(cmds)).every((x) => x === 'OK'));
    const gets = await Promise.all(Array.from({ length: 1000 }, (_, i) => c.get(`nr:p:${i}`)));
    gets.forEach((v, i) => assert.equal(v, `v${i}`));
    const bin = Buffer.from([0, 200, 13, 10]);
    await c.set('nr:bin', bin);
    const back = await c.get(c.commandOptions({ returnBuffers: true }), 'nr:bin');
    assert.ok(Buffer.isBuffer(back) && back.equals(bin));
    assert.deepEqual(await c.multi().set('nr:m', '1').incr('nr:m').get('nr:m').exec(), ['OK', 2, '2']);
    // A command refused at queue time aborts the whole transaction (EXECABORT), as on Redis.
    await assert.rejects(c.multi().set('nr:m', '5').addCommand(['NOSUCHCOMMAND']).exec(), /EXECABORT/);
    assert.equal(await c.get('nr:m'), '2');
  } finally {
    await c.disconnect();
  }
});

test('RESP3 (node-redis v4 has none): HELLO 3 on a raw connection gives RESP3 types', async () => {
  const c = await RawConn.open(port());
  try {
    assert.ok((await c.call('HELLO', '3')) instanceof Map);
    assert.equal(await c.call('SET', 'r3', 'v'), 'OK');
    assert.equal(await c.call('GET', 'r3'), 'v');
    assert.equal(await c.call('GET', 'r3-missing'), null);
    assert.ok((await c.call('CONFIG', 'GET', 'port')) instanceof Map);
  } finally {
    c.close();
  }
});

test('redis-cli one-shot and stdin (inline) modes', async () => {
  const cli = (...args: string[]): Promise<string> => run('redis-cli', ['-h', '127.0.0.1', '-p', String(port()), ...args]).then((r) => r.stdout);
  assert.equal(await cli('set', 'a', '1'), 'OK\n');
  assert.equal(await cli('get', 'a'), '1\n');
  assert.equal(await cli('incr', 'a'), '2\n');
  assert.equal(await cli('get', 'nope'), '\n');
  assert.match(await cli('info', 'server'), /redis_version:7\.0\.0/);
  assert.match(await cli('command', 'count'), /^\d+\n$/);
  // Commands piped on stdin: redis-cli sends each line.
  const piped = await new Promise<string>((resolve, reject) => {
    const child = execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(port())], (err, stdout) => (err ? reject(err) : resolve(stdout)));
    child.stdin?.end('set b "hello world"\nget b\nping\n');
  });
  assert.equal(piped, 'OK\nhello world\nPONG\n');
  // Raw inline protocol, as telnet/nc users type it.
  const raw = await RawConn.open(port());
  try {
    raw.send('get b\r\n');
    assert.equal(String(await raw.read()), 'hello world');
  } finally {
    raw.close();
  }
});
