// kv-cli: argument splitting and reply formatting units, and the real tool against a real
// redis-server, byte-compared with what redis-cli prints for the same commands (raw and TTY
// formats), the piped REPL, help from COMMAND DOCS, --quorum refusal and connection errors.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { splitArgs, repr, formatTty, formatReply, formatHelp } from '../src/cli/format.js';
import type { Reply } from '../src/client/resp-wire.js';
import { KV_CLI_JS, KV_SERVER_JS, freePort, startKvServer, startRedisServer, stopAndClean, type RunningProcess } from './helpers/procs.js';

interface Ran {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** Run a program to completion with optional stdin; 127.0.0.1 only (the tools' default host). */
function run(file: string, args: readonly string[], stdin?: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    // No stdin unless given: a one-shot tool may exit without reading it (EPIPE otherwise).
    const child = spawn(file, args, { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

const kvCli = (port: number, args: readonly string[], stdin?: string): Promise<Ran> =>
  run(process.execPath, [KV_CLI_JS, '-p', String(port), ...args], stdin);
const redisCli = (port: number, args: readonly string[], stdin?: string): Promise<Ran> =>
  run('redis-cli', ['-p', String(port), ...args], stdin);

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const args = (line: string): string[] => {
  const r = splitArgs(line);
  assert.ok(r.ok, `split failed for ${line}`);
  return r.args.map((a) => a.toString('latin1'));
};

// ---------------------------------------------------------------------------------------------
test('splitArgs: blanks, quotes and escapes like redis-cli', () => {
  assert.deepEqual(args('  set   a  b '), ['set', 'a', 'b']);
  assert.deepEqual(args('set "a b" \'c d\''), ['set', 'a b', 'c d']);
  assert.deepEqual(args('set k "\\x41\\x42\\n\\t\\"q\\\\"'), ['set', 'k', 'AB\n\t"q\\']);
  assert.deepEqual(args("set k 'it\\'s \\n raw'"), ['set', 'k', "it's \\n raw"]);
  assert.deepEqual(args('set k "\\xzz"'), ['set', 'k', 'xzz']); // not hex: backslash escapes the x
  assert.deepEqual(args('a"b c"'), ['ab c']); // a quote may start inside a word
  assert.deepEqual(args('set k ""'), ['set', 'k', '']);
  assert.deepEqual(args(''), []);
  assert.deepEqual(args('   '), []);
  assert.deepEqual(args('set k "\\xff\\x00"'), ['set', 'k', '\xff\x00']);
  const utf8 = splitArgs('set k é');
  assert.ok(utf8.ok);
  assert.deepEqual(utf8.args[2], Buffer.from('é', 'utf8'));
  for (const bad of ['set "a', "set 'a", 'set "a"b', "set 'a'b"]) {
    assert.deepEqual(splitArgs(bad), { ok: false, error: 'Invalid argument(s)' }, bad);
  }
});

test('repr escapes like sdscatrepr', () => {
  assert.equal(repr(b('hello')), '"hello"');
  assert.equal(repr(b('a"b\\c')), '"a\\"b\\\\c"');
  assert.equal(repr(b('\n\r\t\x07\x08')), '"\\n\\r\\t\\a\\b"');
  assert.equal(repr(b('\x00\x01\x7f\xff')), '"\\x00\\x01\\x7f\\xff"');
  assert.equal(repr(Buffer.from('é', 'utf8')), '"\\xc3\\xa9"');
});

test('formatTty numbers nested aggregates with aligned indexes', () => {
  const int = (n: number): Reply => ({ type: 'integer', value: BigInt(n) });
  const arr: Reply = { type: 'array', items: [...Array.from({ length: 10 }, (_, i) => int(i + 1)), { type: 'array', items: [int(1), { type: 'null' }] }] };
  const text = formatTty(arr);
  assert.match(text, /^ 1\) \(integer\) 1\n/);
  assert.match(text, /\n10\) \(integer\) 10\n11\) 1\) \(integer\) 1\n    2\) \(nil\)\n$/);
  assert.equal(formatTty({ type: 'array', items: [] }), '(empty array)\n');
  assert.equal(formatTty({ type: 'map', items: [] }), '(empty hash)\n');
  assert.equal(formatReply({ type: 'null' }, false).toString(), '\n');
  assert.equal(formatReply({ type: 'error', message: 'ERR x' }, false).toString(), 'ERR x\n\n');
});

test('formatHelp renders the syntax line from COMMAND DOCS argument specs', () => {
  const s = (x: string): Reply => ({ type: 'bulk', value: b(x) });
  const arr = (...items: Reply[]): Reply => ({ type: 'array', items });
  const docs = arr(
    s('getex'),
    arr(
      s('summary'),
      s('Get the value of a key and optionally set its expiration'),
      s('since'),
      s('6.2.0'),
      s('group'),
      s('string'),
      s('arguments'),
      arr(
        arr(s('name'), s('key'), s('type'), s('key')),
        arr(
          s('name'),
          s('expiration'),
          s('type'),
          s('oneof'),
          s('flags'),
          arr(s('optional')),
          s('arguments'),
          arr(arr(s('name'), s('seconds'), s('type'), s('integer'), s('token'), s('EX')), arr(s('name'), s('persist'), s('type'), s('pure-token'), s('token'), s('PERSIST'))),
        ),
      ),
    ),
  );
  assert.equal(
    formatHelp('GETEX', docs),
    '\n  GETEX key [EX seconds | PERSIST]\n  summary: Get the value of a key and optionally set its expiration\n  since: 6.2.0\n  group: string\n\n',
  );
  assert.equal(formatHelp('nosuch', docs), undefined);
});

// ---------------------------------------------------------------------------------------------
// Against a real redis-server.

let redis: RunningProcess | undefined;
before(async () => {
  redis = await startRedisServer();
  const p = redis.port;
  for (const c of [['set', 'a', 'hello'], ['rpush', 'list', 'x', 'y', 'z'], ['hset', 'h', 'f1', 'v1', 'f2', 'v2'], ['sadd', 'set', 'only'], ['set', 'bin', 'a\x01b\nc"d\\']]) {
    const r = await redisCli(p, c);
    assert.equal(r.code, 0, r.stderr);
  }
});
after(async () => {
  await stopAndClean(redis);
});

/**
 * Commands whose replies cover every reply type. They run concurrently, so none may change what
 * another reads (the SET rewrites the value `before` already stored).
 */
const SAME_OUTPUT: readonly (readonly string[])[] = [
  ['set', 'a', 'hello'],
  ['get', 'a'],
  ['get', 'missing'],
  ['get', 'bin'],
  ['ping'],
  ['echo', 'héllo wörld'],
  ['lrange', 'list', '0', '-1'],
  ['lrange', 'nolist', '0', '-1'],
  ['hgetall', 'h'],
  ['nosuchcommand', 'x'],
  ['get'],
  ['eval', "return {1,{2,'x',{3,'y'}},{},false,{err='MYERR nested'}}", '0'],
  ['eval', 'return {1,2,3,4,5,6,7,8,9,10,{1,2}}', '0'],
  ['info', 'keyspace'], // printed raw even in TTY format, like redis-cli
  ['-3', 'info', 'keyspace'], // RESP3 verbatim string
  ['-3', 'hgetall', 'h'],
  ['-3', 'smembers', 'set'],
  ['-3', 'get', 'missing'],
  ['-3', 'eval', 'redis.setresp(3); return {double=1.5}', '0'],
  ['-3', 'eval', 'redis.setresp(3); return true', '0'],
  ['-3', 'eval', "redis.setresp(3); return {map={a=1}}", '0'],
];

for (const mode of ['raw (stdout not a tty)', 'tty format (--no-raw)']) {
  test(`one-shot output equals redis-cli, ${mode}`, async () => {
    const port = redis!.port;
    const extra = mode.startsWith('tty') ? ['--no-raw'] : [];
    const results = await Promise.all(
      SAME_OUTPUT.map(async (cmd) => ({ cmd, ours: await kvCli(port, [...extra, ...cmd]), theirs: await redisCli(port, [...extra, ...cmd]) })),
    );
    for (const { cmd, ours, theirs } of results) {
      assert.equal(ours.stdout.toString('latin1'), theirs.stdout.toString('latin1'), `stdout of ${cmd.join(' ')}`);
      assert.equal(ours.code, theirs.code, `exit code of ${cmd.join(' ')}`);
    }
  });
}

test('piped REPL: no prompt, one reply per line, like redis-cli', async () => {
  const port = redis!.port;
  const script = 'set r "two words"\nget r\n\nget "unterminated\nlrange list 0 -1\nquit\nget r\n';
  const [ours, theirs] = await Promise.all([kvCli(port, [], script), redisCli(port, [], script)]);
  assert.equal(ours.stdout.toString(), theirs.stdout.toString());
  assert.equal(ours.stdout.toString(), 'OK\ntwo words\nInvalid argument(s)\nx\ny\nz\n');
  assert.equal(ours.code, 0);
});

test('help <command> comes from the server\'s COMMAND DOCS', async () => {
  const r = await kvCli(redis!.port, [], 'help set\nhelp nosuchcmd\nhelp client kill\n');
  const out = r.stdout.toString();
  assert.match(out, /\n {2}SET key value \[/);
  assert.match(out, /summary: Set the string value of a key/);
  assert.match(out, /group: string/);
  assert.match(out, /No help for 'nosuchcmd'/);
  assert.match(out, /\n {2}CLIENT KILL .*\n {2}summary: Kill the connection of a client\n/);
});

test('--quorum on a server without it: its message on stderr, exit 2, command not run', async () => {
  const r = await kvCli(redis!.port, ['--quorum', 'set', 'q', '1']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command 'CONSISTENCY'/);
  assert.equal(r.stdout.length, 0);
  const check = await redisCli(redis!.port, ['exists', 'q']);
  assert.equal(check.stdout.toString(), '0\n');
});

test('connection refused: readable message, exit 1', async () => {
  const port = await freePort(); // nothing listens there once freePort returned
  const r = await kvCli(port, ['ping']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `Could not connect to kv-server at 127.0.0.1:${port}: Connection refused\n`);
  assert.equal(r.stdout.length, 0);
});

test('bad flag: one-line error and usage, exit 2', async () => {
  const r = await run(process.execPath, [KV_CLI_JS, '--frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^Unrecognized option: '--frobnicate'\nUsage: kv-cli/);
});

test('-a authenticates; a wrong password is reported and nothing runs (exit 1)', async () => {
  const secured = await startRedisServer(['--requirepass', 's3cret']);
  try {
    const ok = await kvCli(secured.port, ['-a', 's3cret', 'ping']);
    assert.equal(ok.stdout.toString(), 'PONG\n');
    // Unlike redis-cli, which carries on unauthenticated, kv-cli stops: its client will not run
    // commands on a connection whose setup failed.
    const bad = await kvCli(secured.port, ['-a', 'wrong', 'ping']);
    assert.match(bad.stderr, /^AUTH failed: WRONGPASS/);
    assert.equal(bad.code, 1);
    assert.equal(bad.stdout.toString(), '');
  } finally {
    await stopAndClean(secured);
  }
});

// ---------------------------------------------------------------------------------------------
// Against kv-server (skipped only while its build output does not exist).

test('kv-cli against kv-server: basic commands print like redis-cli', { skip: existsSync(KV_SERVER_JS) ? false : 'kv-server not built' }, async () => {
  const kv = await startKvServer();
  try {
    const cmds: string[][] = [['set', 'k', 'v 1'], ['get', 'k'], ['get', 'nokey'], ['exists', 'k', 'nokey'], ['nosuchcommand'], ['mget', 'k', 'nokey']];
    for (const extra of [[], ['--no-raw']]) {
      for (const c of cmds) {
        const [ours, theirs] = [await kvCli(kv.port, [...extra, ...c]), await redisCli(kv.port, [...extra, ...c])];
        assert.equal(ours.stdout.toString(), theirs.stdout.toString(), c.join(' '));
        assert.equal(ours.code, 0);
      }
    }
  } finally {
    await stopAndClean(kv);
  }
});
