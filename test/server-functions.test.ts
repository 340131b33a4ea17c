// Function libraries (server/scripting/functions.ts, commands/functions.ts): FUNCTION and
// FCALL replies and errors against a real redis-server (RESP2 and RESP3), FUNCTION DUMP/RESTORE
// round trips and refuses damage, then kv-ts's own guarantees: the library table is logged,
// so a restart keeps it (log replay and snapshot) and a replica receives it and answers FCALL
// of a no-writes function (a write function gets READONLY there).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { serverPairPerFile, startKvServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { showReply } from './helpers/resp.js';
import { RawConn, compareReplies } from './helpers/server-conn.js';
import { waitFor } from './helpers/wait.js';
import { rng as seeded } from './helpers/rng.js';

const pair = serverPairPerFile();
const nodes: RunningProcess[] = [];
after(async () => {
  for (const n of nodes) await stopAndClean(n);
});

async function node(args: readonly string[], opts: { port?: number; dir?: string } = {}): Promise<RunningProcess> {
  const p = await startKvServer({ args, ...opts });
  nodes.push(p);
  return p;
}

const lib = (name: string, body: string): string => `#!lua name=${name}\n${body}`;
const GET_FN = "redis.register_function{function_name='getk', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads a key'}";
const SET_FN = "redis.register_function('setk', function(keys, args) return redis.call('set', keys[1], args[1]) end)";

async function compareAll(protocol: 2 | 3, commands: ReadonlyArray<readonly string[]>): Promise<void> {
  await compareReplies(pair, protocol, commands, [['FLUSHALL'], ['FUNCTION', 'FLUSH']]);
}

const COMMANDS: ReadonlyArray<readonly string[]> = [
  // One function per library, listed one library at a time: Redis lists both in hash order.
  ['FUNCTION', 'LOAD', lib('mylib', GET_FN)],
  ['FUNCTION', 'LIST'],
  ['FUNCTION', 'LOAD', lib('wlib', SET_FN)],
  ['FUNCTION', 'LIST', 'WITHCODE', 'LIBRARYNAME', 'wl*'],
  ['FUNCTION', 'LIST', 'LIBRARYNAME', 'my*'],
  ['FUNCTION', 'LIST', 'LIBRARYNAME', 'nomatch*'],
  ['FUNCTION', 'LIST', 'LIBRARYNAME'],
  ['FUNCTION', 'LIST', 'bogus'],
  ['FUNCTION', 'LIST', 'WITHCODE', 'WITHCODE'],
  ['FUNCTION', 'STATS'],
  ['FCALL', 'setk', '1', 'k', 'v1'],
  ['FCALL', 'getk', '1', 'k'],
  ['FCALL', 'GETK', '1', 'k'],
  ['FCALL_RO', 'getk', '1', 'k'],
  ['FCALL_RO', 'setk', '1', 'k', 'v2'],
  ['FCALL', 'nofn', '0'],
  ['FCALL', 'getk', 'x'],
  ['FCALL', 'getk', '3', 'k'],
  ['FCALL', 'getk', '-1'],
  ['FCALL', 'getk'],
  // Errors of FUNCTION LOAD, as Redis 7.0 words them.
  ['FUNCTION', 'LOAD', lib('mylib', SET_FN)],
  ['FUNCTION', 'LOAD', 'return 1'],
  ['FUNCTION', 'LOAD', '#!lua\nreturn 1'],
  ['FUNCTION', 'LOAD', '#!nolua name=x\nreturn 1'],
  ['FUNCTION', 'LOAD', '#!lua name=bad-name\nreturn 1'],
  ['FUNCTION', 'LOAD', '#!lua name=a name=b\nreturn 1'],
  ['FUNCTION', 'LOAD', '#!lua name=x foo=bar\nreturn 1'],
  ['FUNCTION', 'LOAD', lib('empty', 'local a = 1')],
  ['FUNCTION', 'LOAD', lib('other', SET_FN)],
  ['FUNCTION', 'LOAD', lib('math', 'return math.random()')],
  ['FUNCTION', 'LOAD', lib('call', "return redis.call('ping')")],
  ['FUNCTION', 'LOAD', lib('noarg', 'redis.register_function()')],
  ['FUNCTION', 'LOAD', lib('onlyname', "redis.register_function('f1')")],
  ['FUNCTION', 'LOAD', lib('badflag', "redis.register_function{function_name='f1', callback=function() return 1 end, flags={'bogus'}}")],
  ['FUNCTION', 'LOAD', lib('twice', "redis.register_function('f1', function() return 1 end)\nredis.register_function('f1', function() return 2 end)")],
  ['FUNCTION', 'LOAD', 'BOGUS', lib('x', SET_FN)],
  ['FUNCTION', 'LOAD', 'REPLACE', lib('mylib', "redis.register_function('other', function() return 'replaced' end)")],
  ['FUNCTION', 'LIST', 'LIBRARYNAME', 'mylib'],
  ['FCALL', 'other', '0'],
  ['FCALL', 'setk', '1', 'k', 'v'],
  ['FUNCTION', 'LOAD', lib('rt', "redis.register_function('rterr', function() return nosuch end)\nredis.register_function('errrep', function() return redis.error_reply('MY err') end)")],
  ['FCALL', 'rterr', '0'],
  ['FCALL', 'errrep', '0'],
  ['EVAL', "return redis.call('function', 'flush')", '0'],
  ['FCALL', 'setk', '1', 'k', 'still-here'],
  ['FUNCTION', 'STATS'],
  ['FUNCTION', 'DELETE', 'nolib'],
  ['FUNCTION', 'DELETE', 'rt'],
  ['FCALL', 'rterr', '0'],
  ['FUNCTION', 'DELETE'],
  ['FUNCTION', 'FLUSH', 'bogus'],
  ['FUNCTION', 'FLUSH', 'SYNC', 'extra'],
  ['FUNCTION', 'RESTORE', 'not a payload'],
  ['FUNCTION', 'RESTORE', 'a', 'b', 'c'],
  ['FUNCTION', 'KILL'],
  ['FUNCTION', 'HELP'],
  ['FUNCTION', 'NOPE'],
  ['FLUSHALL'],
  ['FUNCTION', 'LIST', 'LIBRARYNAME', 'wlib'],
  ['FUNCTION', 'FLUSH', 'ASYNC'],
  ['FUNCTION', 'LIST'],
  ['COMMAND', 'GETKEYS', 'FCALL', 'f', '2', 'a', 'b', 'c'],
  ['COMMAND', 'GETKEYS', 'FCALL_RO', 'f', '1', 'a'],
  // Over maxmemory FUNCTION LOAD and RESTORE are refused (denyoom); an allow-oom function may write.
  ['FUNCTION', 'LOAD', lib('oom', "redis.register_function{function_name='oomw', callback=function() return redis.call('set', 'o', '1') end, flags={'allow-oom'}}")],
  ['CONFIG', 'SET', 'maxmemory', '1'],
  ['FUNCTION', 'LOAD', lib('refused', SET_FN)],
  ['FUNCTION', 'RESTORE', 'x'],
  ['FCALL', 'oomw', '0'],
  ['FCALL', 'setk', '1', 'k', 'v'],
  ['CONFIG', 'SET', 'maxmemory', '0'],
  ['MULTI'],
  ['FUNCTION', 'LOAD', lib('inmulti', SET_FN)],
  ['FCALL', 'setk', '1', 'km', 'vm'],
  ['EXEC'],
  ['GET', 'km'],
];

for (const protocol of [2, 3] as const) {
  test(`FUNCTION and FCALL reply as redis-server's (RESP${protocol})`, async () => {
    await compareAll(protocol, COMMANDS);
  });
}

test('FUNCTION DUMP/RESTORE round-trips with FLUSH, APPEND and REPLACE; a damaged payload is refused and changes nothing', async () => {
  const c = await RawConn.open(pair.kvPort());
  try {
    await c.call('FUNCTION', 'FLUSH');
    assert.equal(await c.call('FUNCTION', 'LOAD', lib('a', SET_FN)), 'a');
    assert.equal(await c.call('FUNCTION', 'LOAD', lib('b', GET_FN)), 'b');
    const r = await c.request('FUNCTION', 'DUMP');
    assert.ok(r.t === 'bulk' && r.b !== null, showReply(r));
    const dump = r.b;
    const list = showReply(await c.request('FUNCTION', 'LIST', 'WITHCODE'));
    // Each single-byte change (seeded positions) is refused with Redis's text.
    const rng = seeded(7);
    for (let i = 0; i < 20; i++) {
      const bad = Buffer.from(dump);
      const at = rng.int(bad.length);
      bad[at] = ((bad[at] as number) ^ (1 + rng.int(255))) & 0xff;
      const r = await c.request('FUNCTION', 'RESTORE', bad);
      assert.equal(showReply(r), '-ERR DUMP payload version or checksum are wrong', `byte ${at}`);
    }
    assert.match(showReply(await c.request('FUNCTION', 'RESTORE', dump)), /already exists/);
    assert.equal(showReply(await c.request('FUNCTION', 'LIST', 'WITHCODE')), list);
    await c.call('FUNCTION', 'FLUSH');
    assert.equal(await c.call('FUNCTION', 'RESTORE', dump), 'OK');
    assert.equal(showReply(await c.request('FUNCTION', 'LIST', 'WITHCODE')), list);
    assert.equal(await c.call('FUNCTION', 'LOAD', 'REPLACE', lib('a', "redis.register_function('setk', function() return 'new' end)")), 'a');
    assert.equal(await c.call('FUNCTION', 'RESTORE', dump, 'REPLACE'), 'OK');
    assert.equal(showReply(await c.request('FUNCTION', 'LIST', 'WITHCODE')), list);
    assert.equal(await c.call('FUNCTION', 'LOAD', lib('c', "redis.register_function('cf', function() return 1 end)")), 'c');
    assert.equal(await c.call('FUNCTION', 'RESTORE', dump, 'FLUSH'), 'OK');
    assert.equal(showReply(await c.request('FUNCTION', 'LIST', 'WITHCODE')), list);
    assert.match(showReply(await c.request('FUNCTION', 'RESTORE', dump, 'BOGUS')), /Wrong restore policy/);
    // Lua's own syntax messages differ between fengari (5.3) and Redis's 5.1: the prefix is Redis's.
    assert.match(showReply(await c.request('FUNCTION', 'LOAD', lib('bad', 'this is not lua'))), /^-ERR Error compiling function: user_function:2: /);
  } finally {
    c.close();
  }
});

test('a restart keeps the libraries (log replay, then a snapshot)', async () => {
  const p = await node([]);
  const c = await RawConn.open(p.port);
  assert.equal(await c.call('FUNCTION', 'LOAD', lib('before', SET_FN)), 'before');
  assert.equal(await c.call('BGREWRITEAOF'), 'Background append only file rewriting started');
  await waitFor('the compaction finished', async () => /aof_rewrite_in_progress:0/.test(String(await c.call('INFO', 'persistence'))));
  assert.equal(await c.call('FUNCTION', 'LOAD', lib('after', GET_FN)), 'after');
  c.close();
  await p.kill();
  const again = await node([], { port: p.port, dir: p.dir });
  const c2 = await RawConn.open(again.port);
  try {
    assert.equal(await c2.call('FCALL', 'setk', '1', 'k', 'v'), 'OK');
    assert.equal((await c2.call('FCALL', 'getk', '1', 'k'))?.toString(), 'v');
    assert.equal(await c2.call('FUNCTION', 'DELETE', 'before'), 'OK');
  } finally {
    c2.close();
  }
});

test('a replica receives the libraries, answers FCALL of a no-writes function, refuses a write function and FUNCTION LOAD (READONLY)', async () => {
  const p = await node([]);
  const pc = await RawConn.open(p.port);
  assert.equal(await pc.call('SET', 'k', 'from-primary'), 'OK');
  assert.equal(await pc.call('FUNCTION', 'LOAD', lib('rlib', `${GET_FN}\n${SET_FN}`)), 'rlib');
  const r = await node(['--replica-of', `127.0.0.1:${p.port}`]);
  const rc = await RawConn.open(r.port);
  try {
    await waitFor('the replica has the library', async () => String(await rc.call('FCALL', 'getk', '1', 'k')) === 'from-primary', { timeoutMs: 20_000 });
    assert.equal(String(await rc.call('FCALL_RO', 'getk', '1', 'k')), 'from-primary');
    const w = await rc.request('FCALL', 'setk', '1', 'k', 'x');
    assert.match(showReply(w), /^-READONLY /);
    assert.match(showReply(await rc.request('FUNCTION', 'LOAD', lib('x', SET_FN))), /^-READONLY /);
    // A later change arrives as a log entry.
    assert.equal(await pc.call('FUNCTION', 'DELETE', 'rlib'), 'OK');
    await waitFor('the deletion reached the replica', async () => showReply(await rc.request('FCALL', 'getk', '1', 'k')) === '-ERR Function not found');
  } finally {
    pc.close();
    rc.close();
  }
});

test('a WRITE pause lets a no-writes function (and a no-writes script) run and holds one that may write', { timeout: 20_000 }, async () => {
  const c = await RawConn.open(pair.kvPort());
  const other = await RawConn.open(pair.kvPort());
  try {
    await c.call('FUNCTION', 'FLUSH');
    assert.equal(await c.call('FUNCTION', 'LOAD', lib('plib', `${GET_FN}\n${SET_FN}`)), 'plib');
    assert.equal(await c.call('SET', 'pk', 'pv'), 'OK');
    assert.equal(await c.call('CLIENT', 'PAUSE', '60000', 'WRITE'), 'OK');
    assert.equal(String(await other.call('FCALL', 'getk', '1', 'pk')), 'pv');
    assert.equal(String(await other.call('EVAL', '#!lua flags=no-writes\nreturn 7', '0')), '7');
    // The write function waits for the pause to end: its reply comes after UNPAUSE's.
    const held = other.call('FCALL', 'setk', '1', 'pk', 'after');
    assert.equal(await c.call('GET', 'pk'), 'pv');
    assert.equal(await c.call('CLIENT', 'UNPAUSE'), 'OK');
    assert.equal(await held, 'OK');
    assert.equal(await c.call('GET', 'pk'), 'after');
  } finally {
    await c.call('CLIENT', 'UNPAUSE');
    c.close();
    other.close();
  }
});
