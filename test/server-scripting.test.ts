// Lua scripting (server/scripting/, commands/scripting.ts): a differential run of many scripts
// against a real redis-server in RESP2 and RESP3 (reply conversions both ways, errors and their
// texts, pcall, cjson, bit, KEYS/ARGV, writes then reads, EVALSHA/NOSCRIPT, SCRIPT
// EXISTS/FLUSH, shebang flags, EVAL_RO), then kv-ts's own guarantees: a script's writes are one
// log position and reach a replica as the same state; ioredis defineCommand works. Scripts past
// busy-reply-threshold: server-script-busy.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { serverPairPerFile, withPrimaryAndReplica } from './helpers/procs.js';
import { ReplyError, type Reply } from './helpers/resp.js';
import { RawConn, compareReplies, openPairConns } from './helpers/server-conn.js';
import { withServer } from './helpers/in-process-server.js';
import { waitFor } from './helpers/wait.js';
import { RecordingWriter } from './helpers/recording-writer.js';
import { ScriptEngine } from '../src/server/scripting/lua-engine.js';
import { Cluster } from './helpers/cluster.js';

const pair = serverPairPerFile();

/** An error reply's text ('' for any other reply). */
function errorText(r: Reply): string {
  return r instanceof ReplyError ? r.message : '';
}

/** [script, numkeys, ...keys and args]: each runs with EVAL on both servers, in order. */
const SCRIPTS: ReadonlyArray<readonly string[]> = [
  // Lua -> reply conversions.
  ['return 1', '0'],
  ['return 3.99', '0'],
  ['return -3.99', '0'],
  ['return "hello"', '0'],
  ['return true', '0'],
  ['return false', '0'],
  ['return nil', '0'],
  ['return {}', '0'],
  ['return {1,2,3,"ciao",{1,2}}', '0'],
  ['return {1,2,nil,4}', '0'],
  ['return {ok="fine"}', '0'],
  ['return {err="My Error"}', '0'],
  ['return {err="ERR bad\r\nthing"}', '0'],
  ['return redis.error_reply("My Error")', '0'],
  ['return redis.error_reply("-CODE with code")', '0'],
  ['return redis.status_reply("FINE")', '0'],
  ['return {1, {err="inner"}, {ok="x"}}', '0'],
  ['return {double=3.5}', '0'],
  ['return 1e20', '0'],
  ['return 10/3', '0'],
  ['return tostring(10/2)', '0'],
  ['return tostring(3.5)', '0'],
  ['return 0.1 + 0.2 == 0.3', '0'],
  ['return #KEYS + #ARGV', '2', 'a', 'b', 'c'],
  ['return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}', '2', 'k1', 'k2', 'a1', 'a2'],
  ['return ARGV[1]', '0', 'b\x00\xff\x80in'],
  ['return type(KEYS)', '0'],
  // Redis -> Lua conversions.
  ["redis.call('set', KEYS[1], ARGV[1]); return redis.call('get', KEYS[1])", '1', 'sk', 'bin\x00\xffval'],
  ["return redis.call('get', 'nokey')", '0'],
  ["return type(redis.call('get', 'nokey'))", '0'],
  ["return redis.call('incr', 'cnt')", '0'],
  ["return redis.call('incr', 'cnt') + 0.5", '0'],
  ["return type(redis.call('incr', 'cnt'))", '0'],
  ["return redis.call('ping')", '0'],
  ["local r = redis.call('ping'); return type(r) .. r.ok", '0'],
  ["redis.call('rpush', 'lst', 'a', 'b', 'c'); return redis.call('lrange', 'lst', 0, -1)", '0'],
  ["redis.call('hset', 'h', 'f', 'v', 'g', 'w'); return redis.call('hgetall', 'h')", '0'],
  ["return redis.call('hget', 'h', 'nofield')", '0'],
  ["redis.call('zadd', 'z', 1.5, 'a', 2, 'b'); return redis.call('zrange', 'z', 0, -1, 'withscores')", '0'],
  ["return redis.call('zscore', 'z', 'a')", '0'],
  ["return redis.call('exists', 'sk', 'h', 'none')", '0'],
  ["return redis.call('set', 'k', 10)", '0'],
  ["return redis.call('set', 'kf', 1.5)", '0'],
  ["return redis.call('get', 'kf')", '0'],
  ["redis.call('set', 'big', 3000000000); return redis.call('incrby', 'big', 2147483647)", '0'],
  ["return redis.call('get', 'big') + 1", '0'],
  ["return tostring(redis.call('incr', 'cnt'))", '0'],
  ["return 'job:' .. redis.call('incr', 'cnt')", '0'],
  ["return redis.call('type', 'lst')", '0'],
  ["return redis.call('mget', 'sk', 'nokey', 'k')", '0'],
  // Errors.
  ["return redis.call('incr', 'sk')", '0'],
  ["return redis.pcall('incr', 'sk')", '0'],
  ["local r = redis.pcall('incr', 'sk'); return type(r) .. ' ' .. r.err", '0'],
  ["return redis.pcall('lpush', 'sk', 'x')", '0'],
  ["return redis.call('nosuchcommand')", '0'],
  ["return redis.pcall('nosuchcommand')", '0'],
  ["return redis.call('get')", '0'],
  ["return redis.call()", '0'],
  ["return redis.call('get', {})", '0'],
  ["return redis.call('subscribe', 'ch')", '0'],
  ["return redis.pcall('blpop', 'x', 0)", '0'],
  ["return redis.call('eval', 'return 1', 0)", '0'],
  ['return a', '0'],
  ['a = 10', '0'],
  ['local t = {} return t.x.y', '0'],
  ["error('boom')", '0'],
  ["error({err='CUSTOM from table'})", '0'],
  ['\n\nerror("third line")', '0'],
  ['return x(', '0'],
  ['return 1 +', '0'],
  ['redis.call = function() return 1 end', '0'],
  ['setmetatable(_G, {})', '0'],
  ['_G.x = 1', '0'],
  ['cjson.encode = nil', '0'],
  ['bit.band = nil', '0'],
  ['return loadstring(string.dump(function() return 1 end))()', '0'],
  ['print("x")', '0'],
  ['return pcall(function() error("caught") end)', '0'],
  ['local ok, e = pcall(function() error("caught") end); return e', '0'],
  ['redis.setresp(4)', '0'],
  ['redis.log(redis.LOG_WARNING, "from a script"); return 1', '0'],
  ['redis.log(99, "x")', '0'],
  ['redis.set_repl(redis.REPL_ALL); return 1', '0'],
  ['redis.set_repl(42)', '0'],
  ['return redis.replicate_commands()', '0'],
  ["return redis.sha1hex('')", '0'],
  ["return redis.sha1hex('Pizza & Mandolino')", '0'],
  ['return redis.REDIS_VERSION_NUM > 0', '0'],
  // Libraries.
  ["return cjson.encode({1, 2, 'three', {a = 'x/y'}})", '0'],
  ["return cjson.encode({})", '0'],
  ["return cjson.encode('quote\"\\n')", '0'],
  ["return cjson.encode({[1]=1, [2]=2, [4]=4})", '0'],
  ["return cjson.encode({[1]=1, [20]=2})", '0'],
  ["return cjson.encode(function() end)", '0'],
  ["local t = cjson.decode('[1,2,{\"a\":3.5,\"b\":[true,false]}]'); return {t[1], t[2], t[3].a, tostring(t[3].b[1])}", '0'],
  ["return cjson.decode('{\"a\":null}').a == cjson.null", '0'],
  ["cjson.encode_max_depth(1); local ok = pcall(cjson.encode, {{1}}); cjson.encode_max_depth(1000); return {ok and 1 or 0, cjson.encode({{1}})}", '0'],
  ["cjson.decode_max_depth(1); local ok = pcall(cjson.decode, '[[1]]'); cjson.decode_max_depth(1000); return {ok and 1 or 0, #cjson.decode('[[1]]')}", '0'],
  ["local a = pcall(cjson.encode, {0/0}); cjson.encode_invalid_numbers(true); local b = cjson.encode({1/0, -1/0}); cjson.encode_invalid_numbers(false); return {a and 1 or 0, b}", '0'],
  ['return {bit.band(0xff, 0x0f), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0)}', '0'],
  ['return {bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.tobit(2^32 + 5)}', '0'],
  ['return {bit.tohex(65535), bit.tohex(-1), bit.tohex(255, -4), bit.rol(1, 33), bit.ror(1, 1), bit.bswap(0x12345678)}', '0'],
  ["return string.format('%d %s %5.2f', 42, 'x', 3.14159)", '0'],
  ["return table.concat({'a', 'b', 'c'}, ',')", '0'],
  ['return unpack({1, 2, 3})', '0'],
  ['return select("#", unpack({1, 2, 3}))', '0'],
  ['return math.floor(7.9) + math.max(1, 5)', '0'],
  ['return tonumber("1733500000") * 1000', '0'],
  ['return {string.byte("A"), string.char(104, 105), string.rep("ab", 3), string.upper("x")}', '0'],
  ["return {string.find('hello world', 'wor')}", '0'],
  ["local s = ''; for w in string.gmatch('one two', '%a+') do s = s .. w end; return s", '0'],
  // SORT BY a constant orders a set for a script (its effects must not depend on a set's layout).
  ["redis.call('sadd', 'sset', 'c', 'a', 'b', 'aa'); return redis.call('sort', 'sset', 'by', 'nosort')", '0'],
  // Shebang flags.
  ["#!lua flags=no-writes\nreturn redis.call('get', 'sk')", '0'],
  ["#!lua flags=no-writes\nreturn redis.call('set', 'sk', 'x')", '0'],
  ["#!lua\nreturn redis.call('set', 'shk', 'x')", '0'],
  ['#!lua flags=bogus\nreturn 1', '0'],
  ['#!lua foo=bar\nreturn 1', '0'],
  ['#!python\nreturn 1', '0'],
  // numkeys.
  ['return 1', '3', 'a'],
  ['return 1', '-1'],
  ['return 1', 'x'],
];

const openPair = (protocol: 2 | 3): Promise<{ kv: RawConn; redis: RawConn }> => openPairConns(pair, protocol);

async function compareAll(protocol: 2 | 3, commands: ReadonlyArray<readonly string[]>): Promise<void> {
  await compareReplies(pair, protocol, commands);
}

for (const protocol of [2, 3] as const) {
  test(`EVAL: ${SCRIPTS.length} scripts reply as redis-server's (RESP${protocol})`, async () => {
    await compareAll(protocol, SCRIPTS.map((s) => ['EVAL', ...s]));
  });
}

test('EVAL with redis.setresp(3): RESP3 replies to Lua and back as redis-server (RESP2 and RESP3 clients)', async () => {
  const scripts: ReadonlyArray<readonly string[]> = [
    ["redis.setresp(3); redis.call('hset', 'h3', 'a', '1'); return redis.call('hgetall', 'h3')", '0'],
    ["redis.setresp(3); return redis.call('hgetall', 'h3').map.a", '0'],
    ["redis.setresp(3); redis.call('sadd', 's3', 'm'); return redis.call('smembers', 's3')", '0'],
    ["redis.setresp(3); return redis.call('get', 'nokey')", '0'],
    ["redis.setresp(3); return type(redis.call('get', 'nokey'))", '0'],
    ["redis.setresp(3); redis.call('zadd', 'z3', 1.5, 'a'); return redis.call('zscore', 'z3', 'a')", '0'],
    ["redis.setresp(3); return redis.call('zscore', 'z3', 'a').double", '0'],
    ["redis.setresp(3); return redis.call('exists', 'z3')", '0'],
    ['redis.setresp(3); return true', '0'],
    ['redis.setresp(3); return false', '0'],
    ['redis.setresp(3); return {map={a=1}}', '0'],
    ['redis.setresp(3); return {set={a=true}}', '0'],
    ['return {double=0.5}', '0'],
  ];
  for (const protocol of [2, 3] as const) await compareAll(protocol, scripts.map((s) => ['EVAL', ...s]));
});

test('EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT LOAD/EXISTS/FLUSH/KILL reply as redis-server', async () => {
  const body = "return redis.call('get', KEYS[1])";
  const write = "return redis.call('set', KEYS[1], ARGV[1])";
  const sha = '1f2b2c0bd11e6a7a0f7de1ce9b0c6bba8dfb0b4f';
  await compareAll(2, [
    ['SCRIPT', 'LOAD', body],
    ['SCRIPT', 'LOAD', write],
    ['SCRIPT', 'LOAD', 'return x('],
    ['SET', 'k', 'v'],
    ['EVALSHA', 'b0d8d5b08d43ba1f33e37be3b2f7b2d50c9a8b21', '1', 'k'],
    ['EVALSHA', sha, '0'],
    ['EVALSHA', 'short', '0'],
    ['EVAL', body, '1', 'k'],
    ['SCRIPT', 'EXISTS', 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db', sha, 'nothex'],
    ['EVAL_RO', body, '1', 'k'],
    ['EVAL_RO', write, '1', 'k', 'x'],
    ['EVALSHA_RO', 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db', '1', 'k'],
    ['EVAL_RO', "return redis.call('publish', 'ch', 'msg')", '0'],
    ['CONFIG', 'SET', 'lua-time-limit', '4000'],
    ['CONFIG', 'GET', 'busy-reply-threshold'],
    ['CONFIG', 'SET', 'busy-reply-threshold', '5000'],
    ['SCRIPT', 'KILL'],
    ['SCRIPT', 'FLUSH', 'BOGUS'],
    ['SCRIPT', 'FLUSH', 'ASYNC'],
    ['SCRIPT', 'EXISTS', 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db'],
    ['EVALSHA', 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db', '1', 'k'],
    ['SCRIPT', 'NOPE'],
    ['COMMAND', 'GETKEYS', 'EVAL', 'return 1', '0'],
    ['COMMAND', 'GETKEYS', 'EVAL', 'return 1', '2', 'a', 'b', 'c'],
    ['EVAL', 'return 1'],
    // Over maxmemory: a shebang script that may write is refused whole, allow-oom lets it write.
    ['CONFIG', 'SET', 'maxmemory', '1'],
    ['EVAL', '#!lua\nreturn 1', '0'],
    ['EVAL', "#!lua flags=allow-oom\nreturn redis.call('set', 'oom', '1')", '0'],
    ['EVAL', '#!lua flags=no-writes\nreturn 2', '0'],
    ['EVAL', "return redis.call('set', 'oom', '2')", '0'],
    ['EVAL', "return redis.call('get', 'oom')", '0'],
    ['CONFIG', 'SET', 'maxmemory', '0'],
  ]);
});

test("a script's writes are one log position, visible to no one before the script ends", async () => {
  await withServer('no', false, async (server, port) => {
    const c = await RawConn.open(port);
    try {
      const before = server.store.lastPosition.seq;
      const r = await c.call('EVAL', "for i = 1, 50 do redis.call('rpush', KEYS[1], i) end; redis.call('set', KEYS[2], 'x'); redis.call('del', KEYS[3]); return redis.call('llen', KEYS[1])", '3', 'l', 's', 'gone');
      assert.equal(r, 50);
      assert.equal(server.store.lastPosition.seq, before + 1);
      // A script that only reads takes no position.
      await c.call('EVAL', "return redis.call('get', 's')", '0');
      assert.equal(server.store.lastPosition.seq, before + 1);
      // Inside MULTI the script joins the transaction's one entry.
      await c.call('MULTI');
      await c.call('EVAL', "redis.call('set', 'a', 1); redis.call('set', 'b', 2)", '0');
      await c.call('SET', 'c', '3');
      await c.call('EXEC');
      assert.equal(server.store.lastPosition.seq, before + 2);
      assert.deepEqual(await c.call('MGET', 'a', 'b', 'c'), ['1', '2', '3'].map((s) => Buffer.from(s)));
    } finally {
      c.close();
    }
  });
});

test('a replica gets a script as its effects, refuses its writes (READONLY) and runs read-only scripts', async () => {
  await withPrimaryAndReplica(async (primary, replica) => {
    const p = await RawConn.open(primary.port);
    const r = await RawConn.open(replica.port);
    try {
      await p.call('EVAL', "for i = 1, 20 do redis.call('hset', KEYS[1], 'f' .. i, i) end; redis.call('incrby', KEYS[2], 5); return 1", '2', 'h', 'n');
      const want = await p.call('DEBUG', 'DIGEST');
      await waitFor('the replica has the script effects', async () => String(await r.call('DEBUG', 'DIGEST')) === String(want), { timeoutMs: 20_000 });
      assert.equal((await r.call('HGET', 'h', 'f20'))?.toString(), '20');
      assert.match(errorText(await r.call('EVAL', "return redis.call('set', 'x', 1)", '0')), /^READONLY /);
      assert.equal((await r.call('EVAL_RO', "return redis.call('get', KEYS[1])", '1', 'n'))?.toString(), '5');
      assert.equal((await r.call('EVAL', "#!lua flags=no-writes\nreturn redis.call('hlen', KEYS[1])", '1', 'h')), 20);
    } finally {
      p.close();
      r.close();
    }
  });
});

test('ioredis defineCommand runs through EVALSHA (NOSCRIPT falls back to EVAL)', async () => {
  const client = new Redis({ port: pair.kvPort(), host: '127.0.0.1', lazyConnect: true });
  try {
    await client.connect();
    client.defineCommand('incrCapped', {
      numberOfKeys: 1,
      lua: "local v = redis.call('incr', KEYS[1]); if v > tonumber(ARGV[1]) then redis.call('set', KEYS[1], ARGV[1]); return tonumber(ARGV[1]) end; return v",
    });
    const incr = (client as unknown as { incrCapped(k: string, cap: number): Promise<number> }).incrCapped.bind(client);
    await client.del('capped');
    assert.equal(await incr('capped', 2), 1);
    await client.script('FLUSH');
    assert.equal(await incr('capped', 2), 2);
    assert.equal(await incr('capped', 2), 2);
    // Redlock's release: delete only if the value is ours.
    const release = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
    await client.set('lock', 'me');
    assert.equal(await client.eval(release, 1, 'lock', 'other'), 0);
    assert.equal(await client.eval(release, 1, 'lock', 'me'), 1);
  } finally {
    client.disconnect();
  }
});

test('the script cache forgets its oldest scripts past its byte bound; binary values pass through unchanged', () => {
  const logged: string[] = [];
  const engine = new ScriptEngine((level, msg) => logged.push(`${level} ${msg}`), 64);
  const first = engine.load(Buffer.from(`return '${'a'.repeat(30)}'`));
  assert.ok(typeof first !== 'string');
  const second = engine.load(Buffer.from(`return '${'b'.repeat(30)}'`));
  assert.ok(typeof second !== 'string');
  assert.equal(engine.scripts, 1);
  assert.equal(engine.get(first.sha), undefined);
  assert.equal(engine.get(second.sha), second);
  // A script echoes every byte value, and a command's bulk reply reaches Lua byte for byte.
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const echo = engine.load(Buffer.from("redis.log(redis.LOG_WARNING, 'echo'); return {ARGV[1], redis.call('get', 'k')}"));
  assert.ok(typeof echo !== 'string');
  const out = new RecordingWriter();
  const calls: string[] = [];
  engine.start({
    script: echo, keys: [], args: [bytes],
    call: (argv, w) => {
      calls.push(argv.map((a) => a.toString('latin1')).join(' '));
      w.bulk(bytes);
    },
  });
  assert.equal(engine.step(0), true);
  assert.equal(engine.finish(out), 'done');
  assert.deepEqual(out.take(), [[bytes.toString('latin1'), bytes.toString('latin1')]]);
  assert.deepEqual(calls, ['get k']);
  assert.deepEqual(logged, ['warning echo']);
});

test("a script's errors are counted in INFO errorstats and commandstats as redis-server counts them", async () => {
  const { kv, redis } = await openPair(2);
  const figures = async (c: RawConn): Promise<string> => {
    const info = String(await c.call('INFO', 'all'));
    const keep = info.split('\r\n').filter((l) => l.startsWith('errorstat_') || l.startsWith('total_error_replies:') || /^cmdstat_(eval|set|incr|get):/.test(l));
    // Call counts and the failure columns only (times differ).
    return keep.map((l) => l.replace(/usec=[^,]*,usec_per_call=[^,]*,/, '')).sort().join('\n');
  };
  try {
    const steps: ReadonlyArray<readonly string[]> = [
      ['SET', 'str', 'x'],
      ['EVAL', "return redis.call('incr', 'str')", '0'],
      ['EVAL', "return redis.pcall('incr', 'str')", '0'],
      ['EVAL', "local r = redis.pcall('incr', 'str'); return 1", '0'],
      ['EVAL', "return redis.call('get')", '0'],
      ['EVAL', "return {err='MINE custom'}", '0'],
      ['EVAL', "error('lua failure')", '0'],
      ['EVAL', "return redis.call('nosuch')", '0'],
      ['MULTI'],
      ['EVAL', "return redis.call('incr', 'str')", '0'],
      ['EXEC'],
    ];
    for (const c of [kv, redis]) {
      await c.call('CONFIG', 'RESETSTAT');
      for (const s of steps) await c.call(...s);
    }
    assert.equal(await figures(kv), await figures(redis));
  } finally {
    kv.close();
    redis.close();
  }
});

test('cluster QUORUM mode: a script that writes is acknowledged once a majority holds its entry, never when the primary is cut off', { timeout: 90_000 }, async () => {
  const cluster = await Cluster.start({ nodes: 3, proxies: true });
  try {
    const primary = await cluster.waitForPrimary();
    const c = await RawConn.open(cluster.node(primary).port);
    try {
      assert.equal(await c.call('CONSISTENCY', 'QUORUM'), 'OK');
      await waitFor('the primary takes quorum writes', async () => (await c.call('SET', 'q:probe', '1')) === 'OK');
      assert.equal(await c.call('EVAL', "redis.call('set', 'q:a', 'v'); redis.call('set', 'q:b', 'v'); return 2", '0'), 2);
      const seq = Number((await c.call('POSITION') as string).split(':')[1]);
      let held = 0;
      for (const n of cluster.nodes) {
        if (n.id === primary) continue;
        const m = await cluster.replicationInfo(n.id);
        if (m !== null && Number((m.get('kv_position') ?? '0:0').split(':')[1]) >= seq) held++;
      }
      assert.ok(held >= 1, `EVAL acknowledged before a majority held entry ${seq}`);
      cluster.isolate(primary);
      const r = await c.call('EVAL', "return redis.call('set', 'q:a', 'cut-off')", '0');
      assert.ok(r instanceof ReplyError && /NOQUORUM|READONLY|TRYAGAIN/.test(r.message), `EVAL while cut off: ${JSON.stringify(r)}`);
    } finally {
      c.close();
    }
  } catch (e) {
    cluster.printLogs();
    throw e;
  } finally {
    await cluster.stop();
  }
});

test('MONITOR shows EVAL, then the commands it ran as the client lua', async () => {
  const m = await RawConn.open(pair.kvPort());
  const c = await RawConn.open(pair.kvPort());
  try {
    assert.equal(await m.call('MONITOR'), 'OK');
    await c.call('EVAL', "redis.call('set', KEYS[1], ARGV[1])", '1', 'mon', 'v');
    assert.match(String(await m.read()), /\] "EVAL" "redis\.call\('set', KEYS\[1\], ARGV\[1\]\)" "1" "mon" "v"$/);
    assert.match(String(await m.read()), /\[0 lua\] "set" "mon" "v"$/);
  } finally {
    m.close();
    c.close();
  }
});
