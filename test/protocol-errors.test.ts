// Malformed requests, differentially: the same raw bytes go to a real redis-server and to
// kv-server on fresh connections; the reply (or its absence) and whether the connection is then
// closed must agree (Redis's "protocol desync" behaviour: reply -ERR Protocol error and close).

import { test, after } from 'node:test';
import { connect } from 'node:net';
import assert from 'node:assert/strict';
import { startKvServer, startRedisServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { showReply } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';

/** How long a connection that should stay open is watched, and a closing one waited for. */
const CLOSE_WAIT_MS = 3_000;

interface Case {
  readonly name: string;
  readonly bytes: Buffer;
}

const c = (name: string, bytes: string | Buffer): Case => ({ name, bytes: typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes });

const CASES: readonly Case[] = [
  c('inline request over 64 KiB without a newline', Buffer.alloc(70 * 1024, 0x61)),
  c('inline request under 64 KiB, then a newline', Buffer.concat([Buffer.from('ECHO '), Buffer.alloc(60 * 1024, 0x62), Buffer.from('\r\n')])),
  c('multibulk count is junk', '*abc\r\n'),
  c('multibulk count over INT_MAX', '*3000000000\r\n'),
  c('multibulk count of 2M arguments (accepted, waits for them)', '*2000000\r\n'),
  c('multibulk count is empty', '*\r\n'),
  c('negative multibulk count is skipped', '*-10\r\nPING\r\n'),
  c('bulk length is junk', '*3\r\n$abc\r\n'),
  c('bulk length negative', '*3\r\n$-10\r\n'),
  c('bulk length over proto-max-bulk-len', '*3\r\n$2000000000\r\n'),
  c('bulk header expected, got a word', '*3\r\nfoo\r\n'),
  c('bulk header expected, got a colon', '*1\r\n:1\r\n'),
  c('multibulk count line over 64 KiB', Buffer.concat([Buffer.from('*'), Buffer.alloc(70 * 1024, 0x31)])),
  c('bulk length line over 64 KiB', Buffer.concat([Buffer.from('*1\r\n$'), Buffer.alloc(70 * 1024, 0x31)])),
  c('unbalanced double quote', 'set """test-key""" test-value\r\nping\r\n'),
  c('unbalanced single quote', "set 'a b\r\n"),
  c('closing quote followed by a letter', 'set "a"b c\r\n'),
  c('empty query', '\r\n\r\nPING\r\n'),
  c('unknown inline command', 'FOO bar\r\n'),
  c('wrong arity as multibulk', '*1\r\n$3\r\nGET\r\n'),
];

interface Outcome {
  readonly replies: string[];
  readonly closed: boolean;
}

/** Send `bytes`, collect the replies until the connection closes or stays quiet, then probe with PING. */
async function outcome(port: number, bytes: Buffer): Promise<Outcome> {
  const conn = await RawConn.open(port);
  try {
    conn.send(bytes);
    const replies: string[] = [];
    for (;;) {
      try {
        replies.push(showReply(await conn.readResp(replies.length === 0 ? CLOSE_WAIT_MS : 300)));
      } catch {
        break;
      }
    }
    if (!conn.closed) {
      // Still open: a PING either answers (the stream was in sync) or is swallowed by a pending frame.
      conn.send('PING\r\n');
      try {
        replies.push(showReply(await conn.readResp(300)));
      } catch {
        replies.push('(no reply)');
      }
    }
    // A protocol error's close follows its reply: give it time to arrive.
    await conn.waitClosed(500).catch(() => undefined);
    return { replies, closed: conn.closed };
  } finally {
    conn.close();
  }
}

const procs: RunningProcess[] = [];
after(async () => {
  for (const p of procs) await stopAndClean(p);
});

test('malformed requests: kv-server replies and closes exactly as redis-server 7', { timeout: 120_000 }, async () => {
  const redis = await startRedisServer();
  procs.push(redis);
  const kv = await startKvServer({ args: ['--fsync', 'no'] });
  procs.push(kv);
  for (const k of CASES) {
    const [want, got] = await Promise.all([outcome(redis.port, k.bytes), outcome(kv.port, k.bytes)]);
    assert.deepEqual(got, want, `${k.name}: redis ${JSON.stringify(want)} kv ${JSON.stringify(got)}`);
  }
});

/**
 * A client that keeps writing after its protocol error (half-open: it ignores the server's FIN),
 * as Redis's "protocol desync" tests do: its writes must start failing because the server closed
 * the descriptor, not merely shut down its sending side. Resolves with the reply text seen.
 */
async function writeUntilRefused(port: number, first: Buffer, deadlineMs: number): Promise<string> {
  const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  let reply = '';
  let refused = false;
  s.on('data', (d: Buffer) => (reply += d.toString('latin1')));
  s.on('error', () => (refused = true));
  s.on('close', () => (refused = true));
  await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
  s.write(first);
  const start = Date.now();
  try {
    while (!refused) {
      if (Date.now() - start > deadlineMs) throw new Error(`writes still accepted after ${deadlineMs} ms (reply so far: ${JSON.stringify(reply)})`);
      s.write('payload'.repeat(50));
      await new Promise((r) => setTimeout(r, 1));
    }
  } finally {
    s.destroy();
  }
  return reply;
}

/** Tries of writeUntilRefused per server before its reply counts as missing (see the test). */
const REPLY_TRIES_MAX = 4;

async function firstReply(attempt: () => Promise<string>): Promise<string> {
  let reply = '';
  for (let i = 0; i < REPLY_TRIES_MAX && reply === ''; i++) reply = await attempt();
  return reply;
}

test('after a protocol error the connection is closed for writing too (a client that keeps sending is refused)', { timeout: 60_000 }, async () => {
  const redis = await startRedisServer();
  procs.push(redis);
  const kv = await startKvServer({ args: ['--fsync', 'no'] });
  procs.push(kv);
  for (const first of ['\x00', '*\x00', '$\x00']) {
    const bytes = Buffer.from(first, 'latin1');
    // A server that closes a socket with unread input sends a reset, which may make the client's
    // kernel drop the reply it had not read yet (redis-server does this under load): each side
    // gets a few tries to show its reply; every try must still end with the writes refused.
    const want = await firstReply(() => writeUntilRefused(redis.port, bytes, 20_000));
    const got = await firstReply(() => writeUntilRefused(kv.port, bytes, 20_000));
    assert.match(want, /^-ERR Protocol error: /);
    assert.equal(got, want, `after ${JSON.stringify(first)}`);
  }
});
