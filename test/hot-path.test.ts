// Unit tests of the request hot path: the digit-by-digit reply headers, the allocation-free command lookup cache, the log-linear latency histogram and
// the parser's JS header scan. Each compares against a straightforward reference.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RespEncoder } from '../src/protocol/encoder.js';
import { RespParser, INLINE_BYTES_MAX } from '../src/protocol/parser.js';
import { Dispatcher } from '../src/server/dispatch.js';
import { CommandStatsTable, LatencyHistogram, bucketOf, bucketHighestNs, HISTOGRAM_BUCKETS } from '../src/server/latency.js';
import { CommandTable } from '../src/server/commands/table.js';
import { SERVER_COMMAND_MODULES } from '../src/server/commands/modules.js';
import type { ClientState, CommandContext, CommandSpec, ServerServices } from '../src/server/command-types.js';
import type { ReplicatedStore as Store } from '../src/storage/api.js';
import { RecordingWriter } from './helpers/recording-writer.js';
import { rng, testSeed } from './helpers/rng.js';
import { crc32c } from '@node-rs/crc32';
import { crc32cRange, CRC_JS_BYTES_MAX } from '../src/storage/crc32c.js';

function encoded(f: (e: RespEncoder) => void): string {
  const e = new RespEncoder();
  f(e);
  return e.take()?.toString('latin1') ?? '';
}

test('bulk and array headers match the template encoding for every digit count', () => {
  const r = rng(testSeed(0x7e57));
  const lengths = [0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 65_535, 65_536, 100_000, 1_048_576];
  for (let i = 0; i < 20; i++) lengths.push(r.int(300_000));
  for (const n of lengths) {
    const bytes = r.bytes(n);
    const text = bytes.toString('latin1');
    const want = `$${n}\r\n${text}\r\n`;
    assert.equal(encoded((e) => e.bulk(bytes)), want, `bulk(Buffer) of ${n} bytes`);
  }
  // bulk(string) is UTF-8.
  assert.equal(encoded((e) => e.bulk('é')), '$2\r\n\xc3\xa9\r\n');
  for (const n of [1, 9, 10, 16, 123, 10_000, 1_000_000, Number.MAX_SAFE_INTEGER]) {
    assert.equal(encoded((e) => e.array(n)), `*${n}\r\n`);
  }
  assert.equal(encoded((e) => e.array(0)), '*0\r\n');
});

test('many small replies in one event cross chunk boundaries intact', () => {
  const r = rng(testSeed(0x7e57));
  const e = new RespEncoder();
  let want = '';
  for (let i = 0; i < 5000; i++) {
    const v = r.bytes(r.int(120));
    e.bulk(v);
    e.ok();
    want += `$${v.length}\r\n${v.toString('latin1')}\r\n+OK\r\n`;
  }
  assert.equal(e.take()?.toString('latin1'), want);
});

/** A dispatcher over a server's real command table with a recording writer; the store is never touched. */
function dispatcher(): { run: (...args: Array<string | Buffer>) => unknown; stats: CommandStatsTable; table: CommandTable } {
  const stats = new CommandStatsTable();
  const table = new CommandTable(SERVER_COMMAND_MODULES);
  const d = new Dispatcher(table, stats, { commandsProcessed: 0, errorReplies: 0 }, () => null);
  const client: ClientState = {
    id: 1, name: '', protocol: 2, authenticated: true, libName: '', libVersion: '', addr: 'a', laddr: 'b', createdMs: 0, lastCommand: '', closeAfterReply: false,
  };
  const out = new RecordingWriter();
  const unused = (): never => assert.fail('not used');
  const services: ServerServices = {
    commands: table, info: unused, configGet: unused, configSet: unused, clientList: unused, clientKill: unused, requirePass: () => null, shutdown: unused, compact: unused,
  };
  const ctx: CommandContext = { store: undefined as unknown as Store, out, client, server: services, write: unused };
  return {
    stats,
    table,
    run: (...args) => {
      d.run(ctx, args.map((a) => (typeof a === 'string' ? Buffer.from(a, 'latin1') : a)));
      const replies = out.take();
      assert.equal(replies.length, 1);
      return replies[0];
    },
  };
}

test('command lookup is case-insensitive, exact on bytes, and sees commands added later', () => {
  const { run, stats, table } = dispatcher();
  for (const name of ['ping', 'PING', 'PiNg', 'pInG']) assert.equal(run(name), '+PONG');
  // Longer than the packed-name limit: goes through the table's own lookup.
  assert.equal(run('ECHO', 'x'), 'x');
  // Near misses must not hit a cached entry (length sentinel, NUL bytes, non-ASCII case folding).
  for (const name of ['pin', 'pingg', '\0ping', 'ping\0', 'p\0ng', 'PİNG', '\xd0ing', '']) {
    assert.match(String(run(name)), /^-ERR unknown command/, JSON.stringify(name));
  }
  // 'hp-zz' is unknown; once added (the table only grows) it must be found, in any case.
  assert.match(String(run('HP-ZZ')), /^-ERR unknown command/);
  const spec: CommandSpec = {
    name: 'hp-zz', arity: 1, flags: ['fast'], firstKey: 0, lastKey: 0, keyStep: 0, summary: 'test only', syntax: '', group: 'server',
    handler: (ctx) => ctx.out.simple('ZZ'),
  };
  table.add([spec]);
  assert.equal(run('hp-zz'), '+ZZ');
  assert.equal(run('HP-ZZ'), '+ZZ');
  assert.equal(stats.get('ping').calls, 4);
  assert.equal(stats.get('hp-zz').calls, 2);
});

test('histogram buckets: contiguous, monotonic, and within 1/128 of every value', () => {
  const r = rng(testSeed(0x7e57));
  let prevHigh = -1;
  for (let b = 0; b < HISTOGRAM_BUCKETS; b++) {
    const high = bucketHighestNs(b);
    assert.equal(bucketOf(prevHigh + 1), b, `bucket ${b} starts right after bucket ${b - 1}`);
    assert.equal(bucketOf(high), b);
    assert.ok(high > prevHigh);
    prevHigh = high;
  }
  assert.ok(prevHigh >= 1_000_000_000, 'the last bucket reaches 1 s');
  for (let i = 0; i < 100_000; i++) {
    const v = 1 + Math.floor(r.next() ** 4 * 999_999_999);
    const high = bucketHighestNs(bucketOf(v));
    assert.ok(high >= v && (high - v) / v <= 1 / 128, `value ${v} reported as ${high}`);
  }
});

test('histogram percentiles agree with exact percentiles of seeded samples', () => {
  const r = rng(testSeed(0x7e57));
  const h = new LatencyHistogram();
  const xs: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const v = 100 + Math.floor(r.next() ** 3 * 5_000_000);
    xs.push(v);
    h.record(v);
  }
  xs.sort((a, b) => a - b);
  for (const p of [0, 50, 90, 99, 99.9, 100]) {
    const exact = xs[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)] as number;
    const got = h.valueAtPercentile(p);
    assert.ok(got >= exact && got <= exact * (1 + 1 / 128), `p${p}: exact ${exact}, histogram ${got}`);
  }
  assert.equal(new LatencyHistogram().valueAtPercentile(50), 0);
  // Out-of-range values are clamped like Redis's 1 ns .. 1 s histogram.
  const c = new LatencyHistogram();
  c.record(0);
  c.record(5e12);
  assert.equal(c.valueAtPercentile(0), 1);
  assert.ok(c.valueAtPercentile(100) >= 1_000_000_000);
});

test('parser: header lines longer than the JS scan window still parse and fail as before', () => {
  // A bulk length with leading zeros is longer than the 32-byte JS scan: indexOf takes over.
  const len = '0'.repeat(40) + '3';
  const p = new RespParser();
  p.append(Buffer.from(`*2\r\n$3\r\nGET\r\n$${len}\r\nabc\r\n`, 'latin1'));
  // 41 digits exceed the 18-digit integer limit (as before the change): invalid bulk length.
  assert.equal(p.next(), 'error');
  assert.equal(p.errorMessage, 'ERR Protocol error: invalid bulk length');
  // No CR within INLINE_BYTES_MAX: the same error as before, whether or not it arrives in pieces.
  const q = new RespParser();
  q.append(Buffer.from('*1\r\n$', 'latin1'));
  assert.equal(q.next(), 'incomplete');
  q.append(Buffer.alloc(INLINE_BYTES_MAX + 10, 0x31));
  assert.equal(q.next(), 'error');
  assert.equal(q.errorMessage, 'ERR Protocol error: too big bulk count string');
  // A header split at every byte boundary.
  const frame = Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$12\r\nhello world!\r\n', 'latin1');
  for (let cut = 1; cut < frame.length; cut++) {
    const s = new RespParser();
    s.append(frame.subarray(0, cut));
    let st = s.next();
    if (st === 'incomplete') {
      s.append(frame.subarray(cut));
      st = s.next();
    }
    assert.equal(st, 'command', `cut at ${cut}`);
    assert.deepEqual(s.argv.map((a) => a.toString('latin1')), ['SET', 'k', 'hello world!']);
  }
});

test('crc32cRange equals the native crc32c for every length around the JS/native switch', () => {
  const r = rng(testSeed(0xc3c));
  const buf = r.bytes(4096);
  for (let len = 0; len <= CRC_JS_BYTES_MAX + 64; len++) {
    const start = r.int(64);
    assert.equal(crc32cRange(buf, start, start + len), crc32c(buf.subarray(start, start + len)), `length ${len} at ${start}`);
  }
  for (let i = 0; i < 50; i++) {
    const start = r.int(2048);
    const end = start + r.int(2048);
    assert.equal(crc32cRange(buf, start, end), crc32c(buf.subarray(start, end)));
  }
  // The standard check value: CRC32C("123456789") = 0xe3069283.
  assert.equal(crc32cRange(Buffer.from('123456789'), 0, 9), 0xe3069283);
});
