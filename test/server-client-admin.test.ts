// Client administration (server/commands/connection.ts, client-registry.ts, client-pause.ts,
// monitor.ts and their wiring in connection.ts / dispatch.ts / server.ts): CLIENT KILL's
// filters, CLIENT REPLY, RESET and MONITOR's lines run against kv-server and a real
// redis-server and must agree; CLIENT PAUSE holds and releases clients as Redis does, stops
// expiry deletes, and leaves replication working; a monitor that does not read is closed at its
// output limit; CLIENT NO-TOUCH leaves OBJECT IDLETIME / FREQ as they were.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startKvServer, startRedisServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { RawConn } from './helpers/server-conn.js';
import { cmd, showReply, ReplyError, type Reply } from './helpers/resp.js';
import { parseInfo } from './helpers/info.js';
import { waitFor } from './helpers/wait.js';
import { ClientPause, type PausedClient } from '../src/server/client-pause.js';

let kv: RunningProcess | undefined;
let redis: RunningProcess | undefined;
const conns: RawConn[] = [];

before(async () => {
  kv = await startKvServer();
  redis = await startRedisServer();
});

after(async () => {
  for (const c of conns) c.close();
  await stopAndClean(kv);
  await stopAndClean(redis);
});

const portOf = (p: RunningProcess | undefined): number => {
  assert.ok(p !== undefined);
  return p.port;
};

async function open(port: number): Promise<RawConn> {
  const c = await RawConn.open(port);
  conns.push(c);
  return c;
}

/** Both servers, for a differential scenario: [kv-ts, redis]. */
const both = (): Array<[string, number]> => [
  ['kv-ts', portOf(kv)],
  ['redis', portOf(redis)],
];

async function infoOf(c: RawConn, section: string): Promise<Map<string, string>> {
  return parseInfo(String(await c.call('INFO', section)));
}

/** A field of this connection's CLIENT INFO line. */
async function clientField(c: RawConn, field: string): Promise<string> {
  const line = String(await c.call('CLIENT', 'INFO'));
  const m = new RegExp(`(?:^| )${field}=(\\S*)`).exec(line);
  assert.ok(m !== null, `${field} in ${line}`);
  return m[1] as string;
}

/** A reply with every bulk string as text (arrays too). */
function text(r: Reply): Reply {
  if (Buffer.isBuffer(r)) return r.toString('latin1');
  return Array.isArray(r) ? r.map(text) : r;
}

const errText = (r: Reply): string => (r instanceof ReplyError ? `ERR:${r.message}` : String(r));

test('CLIENT KILL: argument errors and no-match replies agree with Redis', async () => {
  const cases: string[][] = [
    ['CLIENT', 'KILL'],
    ['CLIENT', 'KILL', 'id', '10', 'wrong_arg'],
    ['CLIENT', 'KILL', 'id', 'str'],
    ['CLIENT', 'KILL', 'id', '-1'],
    ['CLIENT', 'KILL', 'id', '0'],
    ['CLIENT', 'KILL', 'type', 'wrong_type'],
    ['CLIENT', 'KILL', 'user', 'wrong_user'],
    ['CLIENT', 'KILL', 'skipme', 'yes_or_no'],
    ['CLIENT', 'KILL', 'nosuchfilter', 'x'],
    ['CLIENT', 'KILL', '10.1.2.3:4567'],
    ['CLIENT', 'KILL', 'id', '999999'],
    ['CLIENT', 'KILL', 'type', 'master'],
    ['CLIENT', 'KILL', 'type', 'replica'],
    ['CLIENT', 'KILL', 'type', 'slave'],
    ['CLIENT', 'KILL', 'addr', '10.1.2.3:4567', 'skipme', 'no'],
  ];
  const replies = new Map<string, string[]>();
  for (const [name, port] of both()) {
    const c = await open(port);
    const got: string[] = [];
    for (const argv of cases) got.push(errText(await c.call(...argv)));
    replies.set(name, got);
  }
  assert.deepEqual(replies.get('kv-ts'), replies.get('redis'));
});

/**
 * One scenario of CLIENT KILL filters on a server: which of a set of connections each kill
 * closes, and what it replies. The caller `me` survives unless SKIPME no.
 */
async function killScenario(port: number): Promise<string[]> {
  const log: string[] = [];
  const me = await open(port);
  const open3 = async (): Promise<RawConn[]> => Promise.all([open(port), open(port), open(port)]);
  const closedOf = (cs: RawConn[]): string => cs.map((c) => (c.closed ? 'x' : '.')).join('');
  const settle = async (cs: RawConn[], n: number): Promise<void> => {
    await waitFor('kills to land', () => cs.filter((c) => c.closed).length >= n);
  };

  // TYPE pubsub kills only the subscribed one; TYPE normal the others, the caller skipped.
  let cs = await open3();
  await (cs[1] as RawConn).call('SUBSCRIBE', 'ch');
  let n = Number(await me.call('CLIENT', 'KILL', 'TYPE', 'pubsub'));
  await settle(cs, n);
  log.push(`type pubsub -> ${n} ${closedOf(cs)}`);
  n = Number(await me.call('CLIENT', 'KILL', 'TYPE', 'normal'));
  await settle(cs, 3);
  log.push(`type normal -> ${n} ${closedOf(cs)} me:${String(await me.call('PING'))}`);

  // Filters AND together: the id of one with the address of another matches nobody.
  cs = await open3();
  const ids = await Promise.all(cs.map(async (c) => String(await c.call('CLIENT', 'ID'))));
  const addrs = await Promise.all(cs.map(async (c) => clientField(c, 'addr')));
  const laddr = await clientField(cs[0] as RawConn, 'laddr');
  log.push(`id+other addr -> ${errText(await me.call('CLIENT', 'KILL', 'ID', ids[0] as string, 'ADDR', addrs[1] as string))}`);
  n = Number(await me.call('CLIENT', 'KILL', 'ID', ids[0] as string, 'ADDR', addrs[0] as string, 'LADDR', laddr, 'USER', 'default'));
  await settle(cs, 1);
  log.push(`id+addr+laddr+user -> ${n} ${closedOf(cs)}`);
  // The old form: +OK, the one client closed.
  log.push(`old form -> ${errText(await me.call('CLIENT', 'KILL', addrs[1] as string))}`);
  await settle(cs, 2);
  log.push(`after old form ${closedOf(cs)}`);
  // USER default with SKIPME no: every client, the caller too (it gets its reply first).
  n = Number(await me.call('CLIENT', 'KILL', 'USER', 'default', 'SKIPME', 'no'));
  await settle(cs, 3);
  await me.waitClosed();
  log.push(`user default skipme no -> ${n >= 2} ${closedOf(cs)} me closed`);

  // The old form on the caller's own address closes it after the +OK.
  const self = await open(port);
  const selfAddr = await clientField(self, 'addr');
  log.push(`old form self -> ${errText(await self.call('CLIENT', 'KILL', selfAddr))}`);
  await self.waitClosed();
  return log;
}

test('CLIENT KILL: TYPE, ID, ADDR, LADDR, USER and SKIPME filters, alone and together, as Redis', async () => {
  const kvLog = await killScenario(portOf(kv));
  const redisLog = await killScenario(portOf(redis));
  assert.deepEqual(kvLog, redisLog);
  assert.ok(kvLog.includes('type pubsub -> 1 .x.'), kvLog.join('\n'));
});

test('CLIENT KILL MAXAGE: only clients connected for longer than the age', async () => {
  const port = portOf(kv);
  const me = await open(port);
  const other = await open(port);
  await other.call('PING');
  assert.equal(await me.call('CLIENT', 'KILL', 'MAXAGE', '1000'), 0);
  assert.ok((await me.call('CLIENT', 'KILL', 'MAXAGE', 'x')) instanceof ReplyError);
  // The clock moves on: once `other` is over a second old, MAXAGE 0 takes it (and skips the caller).
  await waitFor('a client older than 0 s', async () => Number(await clientField(other, 'age')) >= 1, { intervalMs: 100 });
  assert.equal(await me.call('CLIENT', 'KILL', 'MAXAGE', '0', 'ID', String(await other.call('CLIENT', 'ID'))), 1);
  await other.waitClosed();
});

test('CLIENT REPLY ON|OFF|SKIP: the same frames as Redis', async () => {
  const script: string[][] = [
    ['CLIENT', 'REPLY', 'OFF'],
    ['PING', 'a'],
    ['SET', 'reply-k', '1'],
    ['CLIENT', 'REPLY', 'SKIP'], // ignored while OFF
    ['CLIENT', 'REPLY', 'ON'],
    ['PING', 'b'],
    ['CLIENT', 'REPLY', 'SKIP'],
    ['PING', 'c'],
    ['PING', 'd'],
    ['CLIENT', 'REPLY', 'SKIP'],
    ['CLIENT', 'REPLY', 'ON'],
    ['CLIENT', 'REPLY', 'SKIP'],
    ['GET', 'nosuchkey-but-skipped'],
    ['CLIENT', 'REPLY', 'maybe'],
    ['CLIENT', 'REPLY'],
    ['GET', 'reply-k'],
  ];
  const frames = new Map<string, string[]>();
  for (const [name, port] of both()) {
    const c = await open(port);
    c.send(Buffer.concat(script.map((a) => cmd(...a))));
    const got: string[] = [];
    // Six replies are expected; a seventh would be a reply that should have been silenced.
    for (let i = 0; i < 6; i++) got.push(showReply(await c.readResp()));
    got.push(showReply(await c.request('PING', 'end')));
    frames.set(name, got);
  }
  assert.deepEqual(frames.get('kv-ts'), frames.get('redis'));
  assert.equal(frames.get('kv-ts')?.length, 7);
});

test('RESET: leaves MULTI, WATCH, subscriptions, RESP3, the name and the flags, as Redis', async () => {
  const shown = new Map<string, string[]>();
  for (const [name, port] of both()) {
    const c = await open(port);
    const other = await open(port);
    const got: string[] = [];
    await c.call('CLIENT', 'SETNAME', 'before-reset');
    await c.call('WATCH', 'reset-w');
    await c.call('HELLO', '3');
    await c.call('MULTI');
    await c.call('SET', 'reset-a', '1');
    got.push(showReply(await c.request('RESET')));
    got.push(`name=${await clientField(c, 'name')} flags=${await clientField(c, 'flags')} resp=${await clientField(c, 'resp')}`);
    // The watch is gone: another client's write does not fail this EXEC.
    await other.call('SET', 'reset-w', 'changed');
    got.push(showReply(await c.request('MULTI')), showReply(await c.request('EXEC')));
    await c.call('SUBSCRIBE', 'ch1');
    await c.call('PSUBSCRIBE', 'p*');
    got.push(showReply(await c.request('RESET')));
    // No unsubscribe messages came, and the connection is no longer subscribed.
    got.push(showReply(await c.request('PING')), `sub=${await clientField(c, 'sub')} psub=${await clientField(c, 'psub')}`);
    shown.set(name, got);
  }
  assert.deepEqual(shown.get('kv-ts'), shown.get('redis'));
});

// Redis 7.0 keeps NO-EVICT across RESET; kv-ts clears it with NO-TOUCH, as later Redis versions do.
test('RESET logs the client out when a password is required, and turns NO-EVICT and NO-TOUCH off', async () => {
  const p = await startKvServer({ args: ['--requirepass', 'pw'] });
  try {
    const c = await RawConn.open(p.port);
    try {
      assert.equal(await c.call('AUTH', 'pw'), 'OK');
      await c.call('CLIENT', 'NO-TOUCH', 'on');
      await c.call('CLIENT', 'NO-EVICT', 'on');
      assert.equal(await clientField(c, 'flags'), 'eT');
      assert.equal(await c.call('RESET'), 'RESET');
      const r = await c.call('GET', 'k');
      assert.ok(r instanceof ReplyError && r.message.startsWith('NOAUTH'), String(r));
      assert.equal(await c.call('AUTH', 'pw'), 'OK');
      assert.equal(await clientField(c, 'flags'), 'N');
    } finally {
      c.close();
    }
  } finally {
    await stopAndClean(p);
  }
});

/** MONITOR lines without their timestamp and address (those differ between servers). */
function monitorBody(line: string): string {
  const m = /^(\d+)\.(\d{6}) \[0 (\S+)\] (.*)$/.exec(line);
  assert.ok(m !== null, `a MONITOR line: ${line}`);
  return m[4] as string;
}

test('MONITOR: the lines Redis shows for another client, with secrets redacted and MULTI/EXEC in order', async () => {
  const script: string[][] = [
    ['SET', 'mon-k', 'v a"l\\ue\n\x01'],
    ['GET', 'mon-k'],
    ['AUTH', 'not-real'],
    ['AUTH', 'user', 'not-a-password'],
    ['HELLO', '2', 'AUTH', 'not-real', 'not-a-password'],
    ['MULTI'],
    ['SET', 'mon-a', '1'],
    ['INCR', 'mon-a'],
    ['EXEC'],
    ['MULTI'],
    ['NOSUCHCOMMAND'],
    ['EXEC'],
    ['CONFIG', 'GET', 'maxmemory'], // admin: never shown
    ['PING', 'last'],
  ];
  const seen = new Map<string, string[]>();
  for (const [name, port] of both()) {
    const mon = await open(port);
    assert.equal(await mon.call('MONITOR'), 'OK');
    const c = await open(port);
    const addr = await clientField(c, 'addr');
    for (const argv of script) await c.call(...argv);
    const lines: string[] = [];
    for (;;) {
      const line = String(await mon.read());
      assert.ok(line.includes(`[0 ${addr}]`), line);
      lines.push(monitorBody(line));
      if (line.endsWith('"last"')) break;
    }
    seen.set(name, lines);
  }
  const kvLines = seen.get('kv-ts') ?? [];
  // CLIENT INFO ran on `c` first: both servers show it.
  assert.deepEqual(kvLines, seen.get('redis'));
  assert.ok(kvLines.includes('"AUTH" "(redacted)" "(redacted)"'), kvLines.join('\n'));
  assert.ok(kvLines.includes('"SET" "mon-k" "v a\\"l\\\\ue\\n\\x01"'), kvLines.join('\n'));
});

test('MONITOR: a monitor that does not read is closed at its output limit; the others go on', async () => {
  const port = portOf(kv);
  const admin = await open(port);
  await admin.call('CONFIG', 'SET', 'client-output-buffer-limit', 'normal 262144 0 0');
  try {
    const mon = await open(port);
    assert.equal(await mon.call('MONITOR'), 'OK');
    const monId = await admin.call('CLIENT', 'LIST');
    assert.match(String(monId), /flags=O /);
    mon.socket.pause(); // stop reading: lines pile up in the server
    const before = Number((await infoOf(admin, 'stats')).get('client_output_buffer_limit_disconnections'));
    const big = 'x'.repeat(16 * 1024);
    const writer = await open(port);
    await waitFor(
      'the monitor to be closed at its limit',
      async () => {
        for (let i = 0; i < 32; i++) writer.send(cmd('SET', 'mon-big', big));
        for (let i = 0; i < 32; i++) await writer.read();
        return Number((await infoOf(admin, 'stats')).get('client_output_buffer_limit_disconnections')) > before;
      },
      { intervalMs: 1 },
    );
    assert.doesNotMatch(String(await admin.call('CLIENT', 'LIST')), /flags=O /);
    assert.equal(await writer.call('PING'), 'PONG');
  } finally {
    await admin.call('CONFIG', 'SET', 'client-output-buffer-limit', 'normal 0 0 0');
  }
});

/** Whether `c` has a reply waiting within a short window (a held client must have none). */
async function replied(c: RawConn, withinMs: number): Promise<boolean> {
  try {
    await c.readResp(withinMs);
    return true;
  } catch {
    return false;
  }
}

test('CLIENT PAUSE WRITE: writes and PUBLISH are held in order, reads answer, errors come at once', async () => {
  for (const [name, port] of both()) {
    const admin = await open(port);
    await admin.call('DEL', 'pause-k');
    assert.equal(await admin.call('CLIENT', 'PAUSE', '100000', 'WRITE'), 'OK', name);
    const writers = await Promise.all([open(port), open(port), open(port)]);
    for (let i = 0; i < writers.length; i++) (writers[i] as RawConn).send(cmd('RPUSH', 'pause-k', String(i)));
    await waitFor(`${name}: 3 held writers`, async () => (await infoOf(admin, 'clients')).get('blocked_clients') === '3');
    const pub = await open(port);
    pub.send(cmd('PUBLISH', 'pause-ch', 'm'));
    await waitFor(`${name}: PUBLISH held`, async () => (await infoOf(admin, 'clients')).get('blocked_clients') === '4');
    // Reads, and commands refused anyway, answer during the pause.
    const reader = await open(port);
    assert.equal(await reader.call('LLEN', 'pause-k'), 0, name);
    assert.equal(await reader.call('PING'), 'PONG', name);
    assert.ok((await reader.call('SET', 'only-key')) instanceof ReplyError, name);
    assert.equal(await replied(writers[0] as RawConn, 100), false, name);
    assert.equal(await admin.call('CLIENT', 'UNPAUSE'), 'OK', name);
    for (let i = 0; i < writers.length; i++) assert.equal(await (writers[i] as RawConn).read(), i + 1, name);
    assert.deepEqual(text(await admin.call('LRANGE', 'pause-k', '0', '-1')), ['0', '1', '2'], name);
    assert.equal(await pub.read(), 0, name);
  }
});

test('CLIENT PAUSE: INFO shows the pause; ALL holds every command until its timeout', async () => {
  const port = portOf(kv);
  const admin = await open(port);
  let info = await infoOf(admin, 'clients');
  assert.equal(info.get('paused_reason'), 'none');
  assert.equal(info.get('paused_actions'), 'none');
  await admin.call('CLIENT', 'PAUSE', '100000', 'WRITE');
  info = await infoOf(admin, 'clients');
  assert.equal(info.get('paused_reason'), 'client_pause');
  assert.equal(info.get('paused_actions'), 'write');
  assert.ok(Number(info.get('paused_timeout_milliseconds')) > 90_000);
  await admin.call('CLIENT', 'UNPAUSE');
  assert.equal((await infoOf(admin, 'clients')).get('paused_actions'), 'none');
  // ALL: a read is held, the pausing client's own next command too, until the timeout ends it.
  const reader = await open(port);
  const t0 = Date.now();
  assert.equal(await admin.call('CLIENT', 'PAUSE', '400', 'ALL'), 'OK');
  reader.send(cmd('PING', 'r'));
  admin.send(cmd('PING', 'a'));
  assert.equal(await replied(reader, 150), false);
  assert.equal(text(await reader.read()), 'r');
  assert.equal(text(await admin.read()), 'a');
  assert.ok(Date.now() - t0 >= 350, 'released by the timeout, not before');
});

test('CLIENT PAUSE errors agree with Redis', async () => {
  const cases: string[][] = [
    ['CLIENT', 'PAUSE'],
    ['CLIENT', 'PAUSE', 'abc'],
    ['CLIENT', 'PAUSE', '-1'],
    ['CLIENT', 'PAUSE', '10', 'READ'],
    ['CLIENT', 'PAUSE', '10', 'WRITE', 'x'],
    ['CLIENT', 'UNPAUSE', 'x'],
    ['CLIENT', 'UNPAUSE'],
    ['CLIENT', 'NO-EVICT', 'maybe'],
    ['CLIENT', 'NO-EVICT', 'on'],
    ['CLIENT', 'NO-EVICT'],
  ];
  const replies = new Map<string, string[]>();
  for (const [name, port] of both()) {
    const c = await open(port);
    const got: string[] = [];
    for (const argv of cases) got.push(errText(await c.call(...argv)));
    got.push(`flags=${await clientField(c, 'flags')}`);
    replies.set(name, got);
  }
  assert.deepEqual(replies.get('kv-ts'), replies.get('redis'));
});

test('CLIENT PAUSE WRITE: a transaction with a write is held at EXEC, a blocked BLPOP stays blocked, expiry waits', async () => {
  for (const [name, port] of both()) {
    const admin = await open(port);
    await admin.call('DEL', 'pause-l', 'pause-e1', 'pause-e2');
    // BLPOP blocked before the pause stays blocked; the push that serves it is held.
    const blocked = await open(port);
    blocked.send(cmd('BLPOP', 'pause-l', '0'));
    await waitFor(`${name}: BLPOP blocked`, async () => (await infoOf(admin, 'clients')).get('blocked_clients') === '1');
    const tx = await open(port);
    assert.equal(await tx.call('MULTI'), 'OK');
    assert.equal(await tx.call('SET', 'pause-t', '1'), 'QUEUED');
    // The pause starts after the transaction that asked for it (keys with 50 ms TTLs).
    await admin.call('MULTI');
    await admin.call('SET', 'pause-e1', 'a', 'PX', '50');
    await admin.call('SET', 'pause-e2', 'b', 'PX', '50');
    await admin.call('CLIENT', 'PAUSE', '100000', 'WRITE');
    assert.deepEqual(text(await admin.call('EXEC')), ['OK', 'OK', 'OK']);
    const expiredBefore = (await infoOf(admin, 'stats')).get('expired_keys');
    tx.send(cmd('EXEC'));
    const pusher = await open(port);
    pusher.send(cmd('RPUSH', 'pause-l', 'v'));
    await waitFor(`${name}: EXEC and RPUSH held`, async () => (await infoOf(admin, 'clients')).get('blocked_clients') === '3');
    // The keys expire logically (reads miss them) but are not deleted while paused.
    await waitFor(`${name}: keys logically expired`, async () => (await admin.call('GET', 'pause-e1')) === null && (await admin.call('GET', 'pause-e2')) === null);
    assert.equal((await infoOf(admin, 'stats')).get('expired_keys'), expiredBefore, name);
    assert.equal(await replied(blocked, 50), false, name);
    await admin.call('CLIENT', 'UNPAUSE');
    assert.deepEqual(text(await tx.read()), ['OK'], name);
    assert.equal(await pusher.read(), 1, name);
    assert.deepEqual(text(await blocked.read()), ['pause-l', 'v'], name);
    await admin.call('GET', 'pause-e1');
    await admin.call('GET', 'pause-e2');
    await waitFor(`${name}: expiry deletes after the pause`, async () => Number((await infoOf(admin, 'stats')).get('expired_keys')) === Number(expiredBefore) + 2);
  }
});

test('CLIENT PAUSE on a primary: replicas keep receiving what was written and can attach; held writes reach them after', async () => {
  const primary = await startKvServer({ args: ['--fsync', 'everysec'] });
  const replicas: RunningProcess[] = [];
  try {
    const p = await RawConn.open(primary.port);
    assert.equal(await p.call('SET', 'before', '1'), 'OK');
    assert.equal(await p.call('CLIENT', 'PAUSE', '100000', 'WRITE'), 'OK');
    // A replica attaching during the pause: its handshake and sync are replication traffic.
    replicas.push(await startKvServer({ args: ['--fsync', 'everysec', '--replica-of', `127.0.0.1:${primary.port}`] }));
    const r = await RawConn.open((replicas[0] as RunningProcess).port);
    await waitFor('the replica to sync during the pause', async () => (await r.call('GET', 'before')) === '1');
    const w = await RawConn.open(primary.port);
    w.send(cmd('SET', 'during', '2'));
    assert.equal(await replied(w, 200), false);
    assert.equal(await r.call('GET', 'during'), null);
    assert.equal(await p.call('CLIENT', 'UNPAUSE'), 'OK');
    assert.equal(await w.read(), 'OK');
    await waitFor('the held write to reach the replica', async () => (await r.call('GET', 'during')) === '2');
    for (const c of [p, r, w]) c.close();
  } finally {
    for (const x of replicas) await stopAndClean(x);
    await stopAndClean(primary);
  }
});

test('CLIENT NO-TOUCH: reads leave OBJECT IDLETIME and FREQ unchanged, TOUCH still counts; flags T and e', async () => {
  const port = portOf(kv);
  const c = await open(port);
  assert.equal(await c.call('CLIENT', 'NO-TOUCH', 'on'), 'OK');
  assert.equal(await c.call('CLIENT', 'NO-EVICT', 'on'), 'OK');
  assert.equal(await clientField(c, 'flags'), 'eT');
  await c.call('SET', 'nt-k', 'v');
  await waitFor('the key to be idle', async () => Number(await c.call('OBJECT', 'IDLETIME', 'nt-k')) >= 1, { intervalMs: 100 });
  await c.call('GET', 'nt-k');
  await c.call('STRLEN', 'nt-k');
  assert.ok(Number(await c.call('OBJECT', 'IDLETIME', 'nt-k')) >= 1, 'a no-touch GET leaves the idle time');
  await c.call('TOUCH', 'nt-k');
  assert.equal(await c.call('OBJECT', 'IDLETIME', 'nt-k'), 0, 'TOUCH counts as an access');
  // Without the flag, a read is an access again.
  await waitFor('the key to be idle again', async () => Number(await c.call('OBJECT', 'IDLETIME', 'nt-k')) >= 1, { intervalMs: 100 });
  await c.call('CLIENT', 'NO-TOUCH', 'off');
  await c.call('GET', 'nt-k');
  assert.equal(await c.call('OBJECT', 'IDLETIME', 'nt-k'), 0);
  // LFU: the counter does not move under NO-TOUCH.
  await c.call('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lfu');
  try {
    await c.call('SET', 'nt-f', 'v');
    await c.call('CLIENT', 'NO-TOUCH', 'on');
    const f0 = await c.call('OBJECT', 'FREQ', 'nt-f');
    for (let i = 0; i < 200; i++) c.send(cmd('GET', 'nt-f'));
    for (let i = 0; i < 200; i++) await c.read();
    assert.equal(await c.call('OBJECT', 'FREQ', 'nt-f'), f0);
    await c.call('CLIENT', 'NO-TOUCH', 'off');
    for (let i = 0; i < 200; i++) c.send(cmd('GET', 'nt-f'));
    for (let i = 0; i < 200; i++) await c.read();
    assert.ok(Number(await c.call('OBJECT', 'FREQ', 'nt-f')) > Number(f0));
  } finally {
    await c.call('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
  }
});

test('ClientPause: a second pause keeps the stricter mode and the later end; the end releases clients in hold order', () => {
  const changes: boolean[] = [];
  const p = new ClientPause((paused) => changes.push(paused));
  const released: number[] = [];
  const held = (n: number, closed = false): PausedClient => ({ isClosed: closed, releaseFromPause: () => released.push(n) });
  p.pause('all', 10_000, 0);
  p.pause('write', 50_000, 0);
  assert.equal(p.mode, 'all');
  assert.equal(p.remainingMs(1_000), 49_000);
  p.pause('write', 20_000, 0);
  assert.equal(p.remainingMs(0), 50_000, 'an earlier end does not shorten the pause');
  p.hold(held(1));
  p.hold(held(2, true));
  p.hold(held(3));
  assert.equal(p.heldCount, 2);
  p.unpause();
  assert.deepEqual(released, [1, 3]);
  assert.equal(p.mode, null);
  assert.deepEqual(changes, [true, false]);
  p.pause('write', 5, 0);
  assert.equal(p.mode, 'write');
  p.close();
});

test('CLIENT PAUSE WRITE stops eviction: a lowered maxmemory evicts only once the pause ends', async () => {
  const p = await startKvServer({ args: ['--maxmemory-policy', 'allkeys-random'] });
  try {
    const c = await RawConn.open(p.port);
    const value = 'v'.repeat(1024);
    for (let i = 0; i < 2000; i++) c.send(cmd('SET', `evict-${i}`, value));
    for (let i = 0; i < 2000; i++) await c.read();
    const used = Number((await infoOf(c, 'memory')).get('used_memory'));
    assert.equal(await c.call('CLIENT', 'PAUSE', '100000', 'WRITE'), 'OK');
    // Half the dataset over the limit: evicting is what the policy would do at once.
    assert.equal(await c.call('CONFIG', 'SET', 'maxmemory', String(Math.floor(used - 1024 * 1024))), 'OK');
    await c.call('PING');
    assert.equal((await infoOf(c, 'stats')).get('evicted_keys'), '0');
    assert.equal(await c.call('DBSIZE'), 2000);
    assert.equal(await c.call('CLIENT', 'UNPAUSE'), 'OK');
    await waitFor('eviction after the pause', async () => Number((await infoOf(c, 'stats')).get('evicted_keys')) > 0);
    c.close();
  } finally {
    await stopAndClean(p);
  }
});

test('CLIENT PAUSE across a role change: a write held on a primary that became a replica is refused with READONLY when released', async () => {
  const other = await startKvServer({ args: ['--fsync', 'everysec'] });
  const node = await startKvServer({ args: ['--fsync', 'everysec'] });
  try {
    const admin = await RawConn.open(node.port);
    assert.equal(await admin.call('CLIENT', 'PAUSE', '100000', 'WRITE'), 'OK');
    const w = await RawConn.open(node.port);
    w.send(cmd('SET', 'held', '1'));
    await waitFor('the write held', async () => (await infoOf(admin, 'clients')).get('blocked_clients') === '1');
    // REPLICAOF is not a write: it runs during a WRITE pause.
    assert.equal(await admin.call('REPLICAOF', '127.0.0.1', String(other.port)), 'OK');
    assert.equal(await admin.call('CLIENT', 'UNPAUSE'), 'OK');
    const r = await w.read();
    assert.ok(r instanceof ReplyError && r.message.startsWith('READONLY'), String(r));
    for (const c of [admin, w]) c.close();
  } finally {
    await stopAndClean(node);
    await stopAndClean(other);
  }
});

test('CLIENT REPLY OFF: subscription confirmations and messages still arrive (they are pushes), as in Redis', async () => {
  const frames = new Map<string, string[]>();
  for (const [name, port] of both()) {
    const got: string[] = [];
    for (const proto of ['2', '3']) {
      const sub = await open(port);
      const pub = await open(port);
      await sub.call('HELLO', proto);
      // Names of their own per protocol: the previous round's subscriber still listens.
      const ch = `ro${proto}-ch`;
      sub.send(Buffer.concat([cmd('CLIENT', 'REPLY', 'OFF'), cmd('SUBSCRIBE', ch), cmd('PSUBSCRIBE', `ro${proto}-*`)]));
      got.push(showReply(await sub.readResp()), showReply(await sub.readResp()));
      assert.equal(await pub.call('PUBLISH', ch, 'hi'), 2);
      got.push(showReply(await sub.readResp()), showReply(await sub.readResp()));
      // Other replies stay silenced: the next frame is the unsubscribe confirmation, not PING's.
      sub.send(Buffer.concat([cmd('PING'), cmd('UNSUBSCRIBE', ch)]));
      got.push(showReply(await sub.readResp()));
    }
    frames.set(name, got);
  }
  assert.deepEqual(frames.get('kv-ts'), frames.get('redis'));
});

test('CLIENT PAUSE under fsync always: a pipeline that writes, pauses and writes again holds the second write until UNPAUSE', async () => {
  const p = await startKvServer({ args: ['--fsync', 'always'] });
  try {
    const c = await RawConn.open(p.port);
    const admin = await RawConn.open(p.port);
    c.send(Buffer.concat([cmd('SET', 'fa', '1'), cmd('CLIENT', 'PAUSE', '100000', 'WRITE'), cmd('SET', 'fb', '2'), cmd('GET', 'fb')]));
    assert.equal(await c.read(), 'OK');
    assert.equal(await c.read(), 'OK');
    await waitFor('the second write held', async () => (await infoOf(admin, 'clients')).get('blocked_clients') === '1');
    assert.equal(await admin.call('GET', 'fb'), null);
    // Released right away, while the first write's fsync may still be pending.
    admin.send(cmd('CLIENT', 'UNPAUSE'));
    assert.equal(await c.read(), 'OK');
    assert.equal(text(await c.read()), '2');
    assert.equal(await admin.read(), 'OK');
    for (const x of [c, admin]) x.close();
  } finally {
    await stopAndClean(p);
  }
});
