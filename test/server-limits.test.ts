// kv-server over TCP: dispatch errors, protocol errors and limits (bulk, multibulk, query
// buffer, output buffer, maxclients), AUTH/NOAUTH/WRONGPASS, RESP3, INFO stats formats,
// CONFIG, CLIENT, and command-line errors (exit 2 with one line).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { parseInfo } from './helpers/info.js';
import { startKvServer, stopAndClean, KV_SERVER_JS, type RunningProcess } from './helpers/procs.js';
import { ReplyError, cmd, type Reply } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';
import { waitFor } from './helpers/wait.js';

const run = promisify(execFile);
let srv: RunningProcess | undefined;
const conns: RawConn[] = [];

async function open(port = (srv as RunningProcess).port): Promise<RawConn> {
  const c = await RawConn.open(port);
  conns.push(c);
  return c;
}

function isErr(r: Reply, text: string): void {
  assert.ok(r instanceof ReplyError, `expected error ${text}, got ${String(r)}`);
  assert.equal(r.message, text);
}

before(async () => {
  srv = await startKvServer();
});

after(async () => {
  for (const c of conns) c.close();
  await stopAndClean(srv);
});

test('dispatch errors use Redis 7 texts; unsupported features fail clearly', async () => {
  const c = await open();
  await c.call('XADD', 'strm', '1-1', 'f', 'v');
  assert.equal(await c.call('PING'), 'PONG');
  assert.equal(await c.call('ping', 'hi'), 'hi');
  assert.equal(await c.call('ECHO', 'x y'), 'x y');
  isErr(await c.call('FOO', 'a', 'b'), "ERR unknown command 'FOO', with args beginning with: 'a' 'b' ");
  isErr(await c.call('GET'), "ERR wrong number of arguments for 'get' command");
  isErr(await c.call('ECHO', 'a', 'b'), "ERR wrong number of arguments for 'echo' command");
  isErr(await c.call('DUMP', 'strm'), 'ERR DUMP of a stream is not supported by kv-ts (no RDB stream encoding); COPY and RENAME move streams');
  isErr(await c.call('FCALL', 'f', '0'), 'ERR Function not found');
  isErr(await c.call('SELECT', '1'), 'ERR DB index is out of range');
  isErr(await c.call('SELECT', 'x'), 'ERR value is not an integer or out of range');
  assert.equal(await c.call('SELECT', '0'), 'OK');
  // Inline commands on the same connection.
  c.send('SET inl "a b"\r\nGET inl\r\n');
  assert.equal(await c.read(), 'OK');
  assert.equal((await c.read() as Buffer).toString(), 'a b');
});

test('HELLO switches to RESP3 and back; NOPROTO for unknown versions', async () => {
  const c = await open();
  isErr(await c.call('HELLO', '4'), 'NOPROTO unsupported protocol version');
  const m = await c.call('HELLO', '3', 'SETNAME', 'tester');
  assert.ok(m instanceof Map);
  assert.equal((m.get('server') as Buffer).toString(), 'kv-ts');
  assert.equal(m.get('proto'), 3);
  assert.equal((m.get('mode') as Buffer).toString(), 'standalone');
  assert.equal((m.get('role') as Buffer).toString(), 'master');
  assert.deepEqual(m.get('modules'), []);
  assert.equal(await c.call('CLIENT', 'GETNAME'), 'tester');
  c.send(cmd('GET', 'no-such-key-resp3'));
  assert.equal(await c.read(), null);
  c.send(cmd('CONFIG', 'GET', 'maxclients'));
  const cfg = await c.read();
  assert.ok(cfg instanceof Map);
  // RESP2 again: CONFIG GET is a flat array.
  assert.ok((await c.call('HELLO', '2')) instanceof Array);
  const flat = await c.call('CONFIG', 'GET', 'maxclients');
  assert.ok(Array.isArray(flat));
  assert.equal((flat[1] as Buffer).toString(), '10000');
});

test('a protocol error closes only that connection', async () => {
  const good = await open();
  const cases: Array<[string, string]> = [
    ['*1\r\n$-5\r\n', 'ERR Protocol error: invalid bulk length'],
    ['*1\r\n$600000000\r\n', 'ERR Protocol error: invalid bulk length'],
    ['*3000000000\r\n', 'ERR Protocol error: invalid multibulk length'],
    ['*1\r\n:3\r\n', "ERR Protocol error: expected '$', got ':'"],
    ['GET "abc\r\n', 'ERR Protocol error: unbalanced quotes in request'],
  ];
  for (const [frame, msg] of cases) {
    const bad = await open();
    bad.send(`PING\r\n${frame}`);
    assert.equal(await bad.read(), 'PONG', 'commands before the bad frame are answered');
    isErr(await bad.read(), msg);
    await bad.waitClosed();
    assert.equal(await good.call('PING'), 'PONG');
  }
});

test('query buffer limit closes the client without a reply; others unaffected', async () => {
  const admin = await open();
  assert.equal(await admin.call('CONFIG', 'SET', 'client-query-buffer-limit', '65536'), 'OK');
  const closedByLimit = async (): Promise<number> => Number(parseInfo(String(await admin.call('INFO', 'stats'))).get('client_query_buffer_limit_disconnections'));
  try {
    const before = await closedByLimit();
    const bad = await open();
    bad.send('*2\r\n$4\r\nECHO\r\n$1000000\r\n');
    bad.send(Buffer.alloc(200_000, 0x61));
    await bad.waitClosed();
    assert.equal(await admin.call('PING'), 'PONG');
    assert.equal(await closedByLimit(), before + 1);
  } finally {
    assert.equal(await admin.call('CONFIG', 'SET', 'client-query-buffer-limit', '1gb'), 'OK');
  }
});

test('output buffer limit disconnects a client that does not read; server memory stays bounded', async () => {
  const admin = await open();
  const big = Buffer.alloc(1024 * 1024, 0x78);
  assert.equal(await admin.call('SET', 'bigval', big), 'OK');
  assert.equal(await admin.call('CONFIG', 'SET', 'client-output-buffer-limit', '4mb'), 'OK');
  const rssBefore = Number(parseInfo(String(await admin.call('INFO', 'memory'))).get('used_memory_rss'));
  try {
    // A raw socket with no 'data' listener never reads: replies pile up on the server.
    const s = connect({ host: '127.0.0.1', port: (srv as RunningProcess).port });
    s.on('error', () => undefined);
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.write(cmd('CLIENT', 'SETNAME', 'nonreader'));
    const gets: Buffer[] = [];
    for (let i = 0; i < 200; i++) gets.push(cmd('GET', 'bigval'));
    s.write(Buffer.concat(gets));
    await waitFor('non-reading client to be disconnected', async () => !String(await admin.call('CLIENT', 'LIST')).includes('name=nonreader'));
    s.destroy();
    const rssAfter = Number(parseInfo(String(await admin.call('INFO', 'memory'))).get('used_memory_rss'));
    // 200 MB of replies were requested; the server must not have buffered them.
    assert.ok(rssAfter - rssBefore < 100 * 1024 * 1024, `rss grew by ${rssAfter - rssBefore}`);
    assert.equal(await admin.call('PING'), 'PONG');
  } finally {
    assert.equal(await admin.call('CONFIG', 'SET', 'client-output-buffer-limit', '64mb'), 'OK');
  }
});

test('INFO commandstats and latencystats use Redis 7 formats', async () => {
  const c = await open();
  assert.equal(await c.call('CONFIG', 'RESETSTAT'), 'OK');
  for (let i = 0; i < 10; i++) await c.call('SET', `k${i}`, 'v');
  await c.call('GET');
  const info = String(await c.call('INFO', 'commandstats', 'latencystats'));
  assert.match(info, /# Commandstats\r\n/);
  assert.match(info, /\r\ncmdstat_set:calls=10,usec=\d+,usec_per_call=\d+\.\d{2},rejected_calls=0,failed_calls=0\r\n/);
  assert.match(info, /\r\ncmdstat_get:calls=0,usec=0,usec_per_call=0\.00,rejected_calls=1,failed_calls=0\r\n/);
  assert.match(info, /# Latencystats\r\nlatency_percentiles_usec_[a-z|]+:p50=\d+\.\d{3},p99=\d+\.\d{3},p99\.9=\d+\.\d{3}\r\n/);
  assert.match(info, /latency_percentiles_usec_set:p50=\d+\.\d{3},p99=\d+\.\d{3},p99\.9=\d+\.\d{3}/);
  const all = String(await c.call('INFO'));
  for (const s of ['Server', 'Clients', 'Memory', 'Persistence', 'Stats', 'Replication', 'Keyspace']) assert.match(all, new RegExp(`# ${s}\r\n`));
  assert.doesNotMatch(all, /# Latencystats/);
  assert.match(all, /\r\nloading:0\r\n/);
  assert.match(all, /\r\naof_enabled:1\r\n/);
  assert.match(all, /\r\ndb0:keys=\d+,expires=\d+,avg_ttl=0\r\n/);
  assert.match(all, /\r\ntotal_commands_processed:\d+\r\n/);
});

test('CONFIG GET globs, CONFIG SET validates and refuses immutables', async () => {
  const c = await open();
  const r = (await c.call('CONFIG', 'GET', 'client-*')) as Buffer[];
  const names = r.filter((_, i) => i % 2 === 0).map(String).sort();
  assert.deepEqual(names, ['client-output-buffer-limit', 'client-query-buffer-limit']);
  isErr(await c.call('CONFIG', 'SET', 'dir', '/nonexistent/elsewhere'), "ERR CONFIG SET failed (possibly related to argument 'dir') - kv-ts reads it only at startup");
  isErr(await c.call('CONFIG', 'SET', 'databases', '1'), "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config");
  isErr(await c.call('CONFIG', 'SET', 'maxclients', 'x'), "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer");
  isErr(await c.call('CONFIG', 'SET', 'nope', '1'), "ERR Unknown option or number of arguments for CONFIG SET - 'nope'");
  assert.equal(await c.call('CONFIG', 'SET', 'save', ''), 'OK');
  assert.deepEqual((await c.call('CONFIG', 'GET', 'appendonly') as Buffer[]).map(String), ['appendonly', 'yes']);
});

test('CLIENT ID/SETNAME/LIST/KILL', async () => {
  const a = await open();
  const b = await open();
  const idB = (await b.call('CLIENT', 'ID')) as number;
  assert.equal(await b.call('CLIENT', 'SETNAME', 'victim'), 'OK');
  isErr(await b.call('CLIENT', 'SETNAME', 'has space'), 'ERR Client names cannot contain spaces, newlines or special characters.');
  assert.match(String(await a.call('CLIENT', 'LIST')), new RegExp(`id=${idB} addr=\\S+ laddr=\\S+ .*name=victim `));
  assert.equal(await a.call('CLIENT', 'KILL', 'ID', String(idB)), 1);
  await b.waitClosed();
  assert.equal(await a.call('CLIENT', 'KILL', 'ID', String(idB)), 0);
  isErr(await a.call('CLIENT', 'BOGUS'), "ERR unknown subcommand 'BOGUS'. Try CLIENT HELP.");
});

test('maxclients: the extra client gets the Redis error and is closed', async () => {
  const s = await startKvServer({ args: ['--maxclients', '2'] });
  try {
    const c1 = await open(s.port);
    const c2 = await open(s.port);
    assert.equal(await c1.call('PING'), 'PONG');
    assert.equal(await c2.call('PING'), 'PONG');
    const c3 = await open(s.port);
    isErr(await c3.read(), 'ERR max number of clients reached');
    await c3.waitClosed();
    const stats = String(await c1.call('INFO', 'stats'));
    assert.match(stats, /rejected_connections:1\r\n/);
  } finally {
    await stopAndClean(s);
  }
});

test('requirepass: NOAUTH, WRONGPASS, AUTH and HELLO AUTH', async () => {
  const s = await startKvServer({ args: ['--requirepass', 's3cret'] });
  try {
    const c = await open(s.port);
    isErr(await c.call('GET', 'a'), 'NOAUTH Authentication required.');
    isErr(await c.call('AUTH', 'wrong'), 'WRONGPASS invalid username-password pair or user is disabled.');
    isErr(await c.call('AUTH', 'bob', 's3cret'), 'WRONGPASS invalid username-password pair or user is disabled.');
    assert.equal(await c.call('AUTH', 'default', 's3cret'), 'OK');
    assert.equal(await c.call('SET', 'a', '1'), 'OK');
    const d = await open(s.port);
    const h = await d.call('HELLO', '3');
    assert.ok(h instanceof ReplyError && h.message.startsWith('NOAUTH HELLO must be called with the client already authenticated'));
    const m = await d.call('HELLO', '3', 'AUTH', 'default', 's3cret');
    assert.ok(m instanceof Map);
    assert.equal((await d.call('GET', 'a')) as string, '1');
    assert.equal(await d.call('QUIT'), 'OK');
    await d.waitClosed();
  } finally {
    await stopAndClean(s);
  }
});

test('bad flags and values: exit 2 with one line on stderr', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--port', 'abc'], /^kv-server: --port: bad value "abc"/],
    [['--fsync', 'sometimes'], /^kv-server: --fsync: bad value "sometimes"/],
    [['--bogus'], /^kv-server: Unknown option '--bogus'/],
    [['--maxclients', '0'], /^kv-server: --maxclients: bad value "0"/],
    [['--config', '/nonexistent/kv.conf'], /^kv-server: cannot read config file/],
  ];
  for (const [args, re] of cases) {
    const r = await run(process.execPath, [KV_SERVER_JS, ...args]).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    assert.equal(r.code, 2, `${args.join(' ')} → ${r.stderr}`);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] as string, re);
  }
  const help = await run(process.execPath, [KV_SERVER_JS, '--help']);
  assert.match(help.stdout, /--fsync always\|everysec\|no/);
});
