// Users and permissions (server/acl.ts, commands/acl.ts, the dispatcher's check): ACL replies and
// errors against a real redis-server in RESP2 and RESP3, a restricted user as an application
// sees it through ioredis, MULTI/EXEC refusals, channels, and user changes that replicate to a
// replica, survive its restart, and authenticate the replication link (--primary-user).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { serverPairPerFile, startKvServer, stopAndClean, tempDir, type RunningProcess } from './helpers/procs.js';
import { RawConn } from './helpers/server-conn.js';
import { showReply, type Resp } from './helpers/resp.js';
import { waitFor } from './helpers/wait.js';

const pair = serverPairPerFile();

/** Commands whose replies must be the same on both servers (fresh users named acl-*). */
const SCRIPT: ReadonlyArray<readonly string[]> = [
  ['ACL', 'SETUSER', 'acl-alice', 'on', '>p1', '~app:*', '+get'],
  ['ACL', 'GETUSER', 'acl-alice'],
  ['ACL', 'SETUSER', 'acl-bob'],
  ['ACL', 'GETUSER', 'acl-bob'],
  ['ACL', 'SETUSER', 'acl-x', '(~a*', '+set)', '%R~r*', '%W~w*', '&ch*'],
  ['ACL', 'GETUSER', 'acl-x'],
  ['ACL', 'SETUSER', 'acl-x', 'clearselectors', 'resetkeys', 'allkeys', 'allchannels', 'nopass', 'on'],
  ['ACL', 'GETUSER', 'acl-x'],
  ['ACL', 'SETUSER', 'acl-y', '+@all', '-@hash'],
  ['ACL', 'GETUSER', 'acl-y'],
  ['ACL', 'SETUSER', 'acl-y', '-@all', '+@hash', '+@HASH'],
  ['ACL', 'GETUSER', 'acl-y'],
  ['ACL', 'SETUSER', 'acl-y', '-@all', '+GET', '+get', 'skip-sanitize-payload'],
  ['ACL', 'GETUSER', 'acl-y'],
  ['ACL', 'SETUSER', 'acl-y', 'reset', '#' + 'a'.repeat(64), '>two', '<two', '!' + 'a'.repeat(64)],
  ['ACL', 'GETUSER', 'acl-y'],
  ['ACL', 'SETUSER', 'acl-y', 'foo'],
  ['ACL', 'SETUSER', 'acl-y', '+nosuchcommand'],
  ['ACL', 'SETUSER', 'acl-y', '-@nosuchcategory'],
  ['ACL', 'SETUSER', 'acl-y', '~*', '~a'],
  ['ACL', 'SETUSER', 'acl-y', '&*', '&a'],
  ['ACL', 'SETUSER', 'acl-y', '#abc'],
  ['ACL', 'SETUSER', 'acl-y', '<notapassword'],
  ['ACL', 'SETUSER', 'acl-y', '(+get'],
  ['ACL', 'SETUSER', 'acl-y', '%X~a'],
  ['ACL', 'SETUSER', 'acl-y', '+config|get|appendonly'],
  ['ACL', 'CAT', 'a', 'b'],
  ['ACL', 'GENPASS', '1', '2'],
  ['ACL', 'LOG', '1', '2'],
  ['ACL', 'GETUSER', 'acl-nosuch'],
  ['ACL', 'DELUSER', 'default'],
  ['ACL', 'DRYRUN', 'acl-alice', 'set', 'app:1', 'v'],
  ['ACL', 'DRYRUN', 'acl-alice', 'get', 'app:1'],
  ['ACL', 'DRYRUN', 'acl-alice', 'get', 'other'],
  ['ACL', 'DRYRUN', 'acl-nosuch', 'get', 'x'],
  ['ACL', 'DRYRUN', 'acl-alice', 'nosuchcommand'],
  ['ACL', 'DRYRUN', 'acl-alice', 'get'],
  ['ACL', 'CAT', 'nosuchcategory'],
  ['ACL', 'WHOAMI'],
  ['ACL', 'GENPASS', '0'],
  ['ACL', 'GENPASS', '5000'],
  ['ACL', 'LOG', '-1'],
  ['ACL', 'LOG', 'x'],
  ['AUTH', 'acl-nosuch', 'x'],
  ['AUTH', 'acl-alice', 'wrong'],
  ['AUTH', 'only-a-password'],
  ['ACL', 'DELUSER', 'acl-alice', 'acl-bob', 'acl-x', 'acl-y', 'acl-nosuch'],
  ['ACL', 'LIST'],
  ['ACL', 'USERS'],
];

async function replies(port: number, proto: 2 | 3, commands: ReadonlyArray<readonly string[]>): Promise<string[]> {
  const c = await RawConn.open(port);
  try {
    if (proto === 3) await c.request('HELLO', '3');
    const out: string[] = [];
    for (const argv of commands) out.push(`${argv.join(' ')} -> ${showReply(await c.request(...argv))}`);
    return out;
  } finally {
    c.close();
  }
}

for (const proto of [2, 3] as const) {
  test(`ACL replies and errors match redis-server (RESP${proto})`, async () => {
    const redis = await replies(pair.redisPort(), proto, SCRIPT);
    const kv = await replies(pair.kvPort(), proto, SCRIPT);
    assert.deepEqual(kv, redis);
  });
}

/** Reply shapes: a GENPASS of n bits is ceil(n/4) hex characters, as Redis. */
test('ACL GENPASS gives hex of the asked length', async () => {
  const c = await RawConn.open(pair.kvPort());
  try {
    assert.match(String(await c.call('ACL', 'GENPASS')), /^[0-9a-f]{64}$/);
    assert.match(String(await c.call('ACL', 'GENPASS', '5')), /^[0-9a-f]{2}$/);
  } finally {
    c.close();
  }
});

/** A restricted user's refusals as both servers give them, and what ACL LOG keeps of them. */
const AS_USER: ReadonlyArray<readonly string[]> = [
  ['AUTH', 'acl-app', 'pw'],
  ['GET', 'app:1'],
  ['GET', 'other'],
  ['SET', 'app:1', 'v'],
  ['PUBLISH', 'news', 'x'],
  ['PUBLISH', 'other', 'x'],
  ['SUBSCRIBE', 'nope'],
  ['MGET', 'app:1', 'other'],
  ['MULTI'],
  ['GET', 'app:1'],
  ['SET', 'app:2', 'v'],
  ['EXEC'],
  ['ACL', 'WHOAMI'],
  ['AUTH', 'default', 'anything'],
  ['ACL', 'WHOAMI'],
];

async function restrictedSession(port: number): Promise<{ refusals: string[]; log: string[] }> {
  const admin = await RawConn.open(port);
  try {
    await admin.call('ACL', 'LOG', 'RESET');
    assert.equal(await admin.call('ACL', 'SETUSER', 'acl-app', 'reset', 'on', '>pw', '~app:*', '&news', '+get', '+mget', '+publish', '+subscribe', '+multi', '+exec', '+acl|whoami'), 'OK');
    const refusals = await replies(port, 2, AS_USER);
    const log = (await admin.request('ACL', 'LOG')) as Resp;
    const entries = log.t === 'array' && log.a !== null ? log.a : [];
    // Age and client-info differ by nature; the rest must match.
    const fields = entries.map((e) => {
      const kv = e.t === 'array' && e.a !== null ? e.a : [];
      const m = new Map<string, string>();
      for (let i = 0; i + 1 < kv.length; i += 2) m.set(showReply(kv[i] as Resp), showReply(kv[i + 1] as Resp));
      return ['"count"', '"reason"', '"context"', '"object"', '"username"'].map((k) => `${k}=${m.get(k) ?? '?'}`).join(' ');
    });
    await admin.call('ACL', 'DELUSER', 'acl-app');
    return { refusals, log: fields };
  } finally {
    admin.close();
  }
}

test('a restricted user: NOPERM for commands, keys and channels, MULTI refusals, ACL LOG entries match redis-server', async () => {
  const redis = await restrictedSession(pair.redisPort());
  const kv = await restrictedSession(pair.kvPort());
  assert.deepEqual(kv.refusals, redis.refusals);
  assert.deepEqual(kv.log, redis.log);
});

test('a subscriber is disconnected when its user loses the channel; a client deleting its own user gets the reply first', async () => {
  const admin = await RawConn.open(pair.kvPort());
  const sub = await RawConn.open(pair.kvPort());
  try {
    assert.equal(await admin.call('ACL', 'SETUSER', 'acl-sub', 'on', '>pw', 'resetchannels', '&news:*', '+subscribe', '+acl|deluser'), 'OK');
    assert.equal(await sub.call('AUTH', 'acl-sub', 'pw'), 'OK');
    await sub.request('SUBSCRIBE', 'news:1');
    assert.equal(await admin.call('ACL', 'SETUSER', 'acl-sub', '&other'), 'OK');
    assert.equal(sub.closed, false, 'still allowed: kept');
    assert.equal(await admin.call('ACL', 'SETUSER', 'acl-sub', 'resetchannels', '&other'), 'OK');
    await sub.waitClosed();
    const self = await RawConn.open(pair.kvPort());
    assert.equal(await self.call('AUTH', 'acl-sub', 'pw'), 'OK');
    assert.equal(await self.call('ACL', 'DELUSER', 'acl-sub'), 1);
    await self.waitClosed();
  } finally {
    admin.close();
    sub.close();
  }
});

test('an application user (~app:* +get) through ioredis reads its keys only and cannot write', async () => {
  const admin = new Redis({ port: pair.kvPort(), lazyConnect: true, maxRetriesPerRequest: 0 });
  await admin.connect();
  const app = new Redis({ port: pair.kvPort(), username: 'acl-reader', password: 's3cret', lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await admin.set('app:greeting', 'hello');
    await admin.set('secret:x', 'no');
    assert.equal(await admin.call('ACL', 'SETUSER', 'acl-reader', 'on', '>s3cret', '~app:*', '+get'), 'OK');
    await app.connect();
    assert.equal(await app.get('app:greeting'), 'hello');
    await assert.rejects(app.get('secret:x'), /^ReplyError: NOPERM this user has no permissions to access one of the keys used as arguments$/);
    await assert.rejects(app.set('app:greeting', 'changed'), /^ReplyError: NOPERM this user has no permissions to run the 'set' command$/);
    assert.equal(await admin.get('app:greeting'), 'hello');
    // Deleting the user disconnects its clients, as Redis does.
    assert.equal(await admin.call('ACL', 'DELUSER', 'acl-reader'), 1);
    await waitFor('the deleted user disconnected', () => app.status !== 'ready');
  } finally {
    app.disconnect();
    admin.disconnect();
  }
});

test('the default user with a password: requirepass sets it, AUTH default and HELLO AUTH log in', async () => {
  const kv = await startKvServer({ args: ['--requirepass', 'topsecret'] });
  try {
    const c = await RawConn.open(kv.port);
    assert.equal(showReply(await c.request('GET', 'k')), '-NOAUTH Authentication required.');
    assert.equal(showReply(await c.request('AUTH', 'default', 'wrong')), '-WRONGPASS invalid username-password pair or user is disabled.');
    assert.equal(await c.call('AUTH', 'default', 'topsecret'), 'OK');
    assert.match(String(await c.call('ACL', 'LIST')), /user default on #[0-9a-f]{64} ~\* &\* \+@all/);
    c.close();
    const h = await RawConn.open(kv.port);
    await h.request('HELLO', '3', 'AUTH', 'default', 'topsecret');
    assert.equal(await h.call('ACL', 'WHOAMI'), 'default');
    h.close();
  } finally {
    await stopAndClean(kv);
  }
});

const nodes: RunningProcess[] = [];
after(async () => {
  for (const n of nodes) await stopAndClean(n);
});

async function node(args: readonly string[], opts: { port?: number; dir?: string } = {}): Promise<RunningProcess> {
  const p = await startKvServer({ args: ['--log-level', 'info', ...args], ...opts });
  nodes.push(p);
  return p;
}

async function getUserCommands(port: number, name: string, auth?: readonly string[]): Promise<string> {
  const c = await RawConn.open(port);
  try {
    if (auth !== undefined) await c.call('AUTH', ...auth);
    const r = await c.request('ACL', 'GETUSER', name);
    if (r.t !== 'array' || r.a === null) return showReply(r);
    const i = r.a.findIndex((e) => e.t === 'bulk' && e.b?.toString() === 'commands');
    const v = r.a[i + 1];
    return v !== undefined && v.t === 'bulk' && v.b !== null ? v.b.toString() : showReply(r);
  } finally {
    c.close();
  }
}

test('user changes on the primary reach a replica, are refused on the replica, survive its restart and a full resync', async () => {
  const p = await node([]);
  const r = await node(['--replica-of', `127.0.0.1:${p.port}`]);
  const pc = await RawConn.open(p.port);
  assert.equal(await pc.call('ACL', 'SETUSER', 'app1', 'on', '>pw', '~app1:*', '+@read'), 'OK');
  await waitFor('the user reached the replica', async () => (await getUserCommands(r.port, 'app1')) === '-@all +@read');
  const rc = await RawConn.open(r.port);
  assert.match(showReply(await rc.request('ACL', 'SETUSER', 'app2')), /^-READONLY /);
  assert.match(showReply(await rc.request('ACL', 'DELUSER', 'app1')), /^-READONLY /);
  // Reads of the table are not writes.
  assert.equal(showReply(await rc.request('ACL', 'USERS')), '["app1", "default"]');
  rc.close();
  // The user works on the replica: it authenticates there.
  const onReplica = await RawConn.open(r.port);
  assert.equal(await onReplica.call('AUTH', 'app1', 'pw'), 'OK');
  onReplica.close();
  // Restart the replica: the table is rebuilt from its log.
  await r.kill();
  const r2 = await node(['--replica-of', `127.0.0.1:${p.port}`], { port: r.port, dir: r.dir });
  assert.equal(await getUserCommands(r2.port, 'app1'), '-@all +@read');
  assert.equal(await pc.call('ACL', 'DELUSER', 'app1'), 1);
  await waitFor('the deletion reached the replica', async () => (await getUserCommands(r2.port, 'app1')) === '$nil');
  assert.equal(await pc.call('ACL', 'SETUSER', 'app3', 'on', 'nopass', '+ping'), 'OK');
  // Compact the primary (a snapshot holds the table) and resync a fresh replica from it.
  assert.equal(await pc.call('BGREWRITEAOF'), 'Background append only file rewriting started');
  await waitFor('the compaction finished', async () => /aof_rewrite_in_progress:0/.test(String(await pc.call('INFO', 'persistence'))));
  const fresh = await node(['--replica-of', `127.0.0.1:${p.port}`]);
  await waitFor('a fresh replica has the table', async () => (await getUserCommands(fresh.port, 'app3')) === '-@all +ping');
  pc.close();
});

test('a restarted primary rebuilds its users from its log and snapshot', async () => {
  const p = await node([]);
  const c = await RawConn.open(p.port);
  assert.equal(await c.call('ACL', 'SETUSER', 'before-snap', 'on', '>a', '+get'), 'OK');
  assert.equal(await c.call('BGREWRITEAOF'), 'Background append only file rewriting started');
  await waitFor('the compaction finished', async () => /aof_rewrite_in_progress:0/.test(String(await c.call('INFO', 'persistence'))));
  assert.equal(await c.call('ACL', 'SETUSER', 'after-snap', 'on', '>b', '+set'), 'OK');
  c.close();
  await p.kill();
  const again = await node([], { port: p.port, dir: p.dir });
  assert.equal(await getUserCommands(again.port, 'before-snap'), '-@all +get');
  assert.equal(await getUserCommands(again.port, 'after-snap'), '-@all +set');
});

test('the replication link authenticates as --primary-user; a user without +kvrepl is refused', async () => {
  const p = await node(['--requirepass', 'adminpw']);
  const pc = await RawConn.open(p.port);
  assert.equal(await pc.call('AUTH', 'adminpw'), 'OK');
  assert.equal(await pc.call('ACL', 'SETUSER', 'replicator', 'on', '>replpw', '+kvrepl'), 'OK');
  assert.equal(await pc.call('ACL', 'SETUSER', 'weak', 'on', '>weakpw', '+get'), 'OK');
  const good = await node(['--replica-of', `127.0.0.1:${p.port}`, '--primary-user', 'replicator', '--primary-auth', 'replpw']);
  const bad = await node(['--replica-of', `127.0.0.1:${p.port}`, '--primary-user', 'weak', '--primary-auth', 'weakpw']);
  assert.equal(await pc.call('SET', 'linked', 'yes'), 'OK');
  await waitFor('the replica authenticated as replicator has the key', async () => {
    const c = await RawConn.open(good.port);
    try {
      await c.call('AUTH', 'adminpw');
      return (await c.call('GET', 'linked')) === 'yes';
    } finally {
      c.close();
    }
  });
  await waitFor('the weak user refused', () => /primary refused: NOPERM this user has no permissions to run the 'kvrepl' command/.test(bad.output()));
  pc.close();
});

test('ACL SAVE writes the aclfile and ACL LOAD (a logged write) reads it back', async () => {
  const dir = tempDir('kvts-aclfile-');
  const file = join(dir, 'users.acl');
  writeFileSync(file, 'user filed on >fpw ~f:* +get\n');
  const p = await node(['--aclfile', file]);
  const c = await RawConn.open(p.port);
  assert.equal(await getUserCommands(p.port, 'filed'), '-@all +get');
  assert.equal(await c.call('ACL', 'SETUSER', 'extra', 'on', 'nopass', '+ping'), 'OK');
  assert.equal(await c.call('ACL', 'SAVE'), 'OK');
  assert.match(readFileSync(file, 'utf8'), /^user extra on nopass resetchannels -@all \+ping$/m);
  writeFileSync(file, 'user default on nopass ~* &* +@all\nuser only on >o +get\n');
  assert.equal(await c.call('ACL', 'LOAD'), 'OK');
  assert.equal(showReply(await c.request('ACL', 'USERS')), '["default", "only"]');
  writeFileSync(file, 'user broken on +nosuch\n');
  assert.match(showReply(await c.request('ACL', 'LOAD')), /^-ERR .*Unknown command or category name in ACL/);
  assert.equal(showReply(await c.request('ACL', 'USERS')), '["default", "only"]');
  c.close();
});
