// The slow log (src/server/slowlog.ts) on its own: the threshold rule, the length bound when it
// is lowered, ids across RESET, and Redis's argument trimming and redaction.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientState } from '../src/server/command-types.js';
import { SLOWLOG_ARG_BYTES_MAX, SLOWLOG_ARGS_MAX, SlowLog, slowlogArgs } from '../src/server/slowlog.js';

const client = { addr: '127.0.0.1:1', name: 'n' } as ClientState;
const args = (...xs: string[]): Buffer[] => xs.map((x) => Buffer.from(x));
const text = (bs: readonly Buffer[]): string[] => bs.map((b) => b.toString());

test('the threshold: -1 logs nothing, 0 everything, N what took N µs or more', () => {
  const settings = { slowlogSlowerThanUs: -1, slowlogMaxLen: 10 };
  const log = new SlowLog(settings);
  assert.equal(log.wants(1e9), false);
  settings.slowlogSlowerThanUs = 0;
  assert.equal(log.wants(0), true);
  settings.slowlogSlowerThanUs = 100;
  assert.deepEqual([99, 100, 101].map((us) => log.wants(us)), [false, true, true]);
});

test('entries are kept newest first within slowlog-max-len, also when it is lowered; ids go on across RESET', () => {
  const settings = { slowlogSlowerThanUs: 0, slowlogMaxLen: 5 };
  const log = new SlowLog(settings);
  for (let i = 0; i < 1000; i++) log.add(client, 'ping', args('PING', String(i)), i, 1_700_000_000_123);
  assert.equal(log.length, 5);
  assert.deepEqual(log.newest(-1).map((e) => e.id), [999, 998, 997, 996, 995]);
  assert.deepEqual(log.newest(2).map((e) => text(e.argv).join(' ')), ['PING 999', 'PING 998']);
  assert.equal(log.newest(0).length, 0);
  assert.equal(log.newest(1)[0]?.timeSec, 1_700_000_000);
  settings.slowlogMaxLen = 2;
  assert.deepEqual(log.newest(10).map((e) => e.id), [999, 998]);
  settings.slowlogMaxLen = 0;
  log.add(client, 'ping', args('PING'), 1, 0);
  assert.equal(log.length, 0);
  settings.slowlogMaxLen = 5;
  log.reset();
  log.add(client, 'ping', args('PING'), 1, 0);
  assert.deepEqual(log.newest(-1).map((e) => e.id), [1001]);
});

test('arguments: at most 32 with a count of the rest, 128 bytes each with a count of the rest, copied', () => {
  const many = args('SADD', 's', ...Array.from({ length: 40 }, (_, i) => String(i)));
  const kept = slowlogArgs('sadd', many);
  assert.equal(kept.length, SLOWLOG_ARGS_MAX);
  assert.equal(kept[SLOWLOG_ARGS_MAX - 1]?.toString(), `... (${many.length - SLOWLOG_ARGS_MAX + 1} more arguments)`);
  assert.equal(slowlogArgs('sadd', many.slice(0, SLOWLOG_ARGS_MAX)).length, SLOWLOG_ARGS_MAX, 'exactly 32 are all kept');
  const long = Buffer.alloc(SLOWLOG_ARG_BYTES_MAX + 7, 'x');
  assert.equal(slowlogArgs('set', [Buffer.from('SET'), Buffer.from('k'), long])[2]?.toString(), `${'x'.repeat(SLOWLOG_ARG_BYTES_MAX)}... (7 more bytes)`);
  const src = Buffer.from('SET');
  const copy = slowlogArgs('set', [src]);
  src.fill(0);
  assert.equal(copy[0]?.toString(), 'SET', 'the log does not keep views into the read buffer');
});

test('credentials are redacted as Redis 7.0 does: AUTH, HELLO ... AUTH, CONFIG SET of sensitive settings', () => {
  assert.deepEqual(text(slowlogArgs('auth', args('AUTH', 'pw'))), ['AUTH', '(redacted)']);
  assert.deepEqual(text(slowlogArgs('auth', args('auth', 'u', 'pw'))), ['auth', '(redacted)', '(redacted)']);
  assert.deepEqual(text(slowlogArgs('hello', args('HELLO', '3', 'SETNAME', 'x', 'AUTH', 'u', 'p'))), ['HELLO', '3', 'SETNAME', 'x', 'AUTH', '(redacted)', '(redacted)']);
  assert.deepEqual(text(slowlogArgs('hello', args('HELLO', '3', 'SETNAME', 'auth'))), ['HELLO', '3', 'SETNAME', 'auth']);
  assert.deepEqual(
    text(slowlogArgs('config', args('CONFIG', 'SET', 'maxmemory', '1', 'REQUIREPASS', 'p', 'masterauth', 'q'))),
    ['CONFIG', 'SET', 'maxmemory', '1', 'REQUIREPASS', '(redacted)', 'masterauth', '(redacted)'],
  );
  assert.deepEqual(text(slowlogArgs('config', args('CONFIG', 'GET', 'requirepass'))), ['CONFIG', 'GET', 'requirepass']);
});
