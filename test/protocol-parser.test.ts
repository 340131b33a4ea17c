// Unit tests of the RESP request parser (frames, splits, inline quoting, limits, long header
// lines) and of the reply encoder (RESP2 and RESP3 bytes for every ReplyWriter method, headers
// of every digit count, bulkRange, replies crossing chunk ends).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RespParser, INLINE_BYTES_MAX, MULTIBULK_COUNT_MAX, splitInlineArgs, type ParseStatus } from '../src/protocol/parser.js';
import { RespEncoder, formatDouble } from '../src/protocol/encoder.js';
import { cmd as mb } from './helpers/resp.js';
import { rng, testSeed } from './helpers/rng.js';

interface Outcome {
  commands: string[][];
  status: ParseStatus;
  error: string;
  silent: boolean;
}

/** Feed chunks; collect every command (copied) until the input is exhausted or an error. */
function feed(chunks: Buffer[], p = new RespParser()): Outcome {
  const commands: string[][] = [];
  let status: ParseStatus = 'incomplete';
  for (const c of chunks) {
    p.append(c);
    for (;;) {
      status = p.next();
      if (status === 'command') commands.push(p.argv.map((a) => a.toString('latin1')));
      else break;
    }
    if (status === 'error') break;
  }
  return { commands, status, error: p.errorMessage, silent: p.closeSilently };
}

const STREAM = Buffer.concat([
  mb('SET', 'key', 'value'),
  Buffer.from('PING\r\n'),
  mb('GET', 'key'),
  Buffer.from('set "a b" \'c d\'\n'),
  mb('MSET', 'k1', '', 'k2', Buffer.from([0, 13, 10, 255])),
  Buffer.from('*0\r\n\r\n'),
  mb('ECHO', 'x'.repeat(300)),
]);
const EXPECTED = [
  ['SET', 'key', 'value'],
  ['PING'],
  ['GET', 'key'],
  ['set', 'a b', 'c d'],
  ['MSET', 'k1', '', 'k2', Buffer.from([0, 13, 10, 255]).toString('latin1')],
  ['ECHO', 'x'.repeat(300)],
];

test('pipelined multibulk and inline commands parse in one read', () => {
  const o = feed([STREAM]);
  assert.equal(o.status, 'incomplete');
  assert.deepEqual(o.commands, EXPECTED);
});

test('a stream split at every byte boundary parses identically', () => {
  for (let i = 0; i <= STREAM.length; i++) {
    const o = feed([STREAM.subarray(0, i), STREAM.subarray(i)]);
    assert.deepEqual(o.commands, EXPECTED, `split at ${i}`);
  }
});

test('a stream fed one byte at a time, and in seeded random chunks, parses identically', () => {
  const bytes: Buffer[] = [];
  for (let i = 0; i < STREAM.length; i++) bytes.push(STREAM.subarray(i, i + 1));
  assert.deepEqual(feed(bytes).commands, EXPECTED);
  const r = rng(testSeed(7));
  for (let round = 0; round < 200; round++) {
    const chunks: Buffer[] = [];
    let p = 0;
    while (p < STREAM.length) {
      const n = 1 + r.int(40);
      chunks.push(STREAM.subarray(p, p + n));
      p += n;
    }
    assert.deepEqual(feed(chunks).commands, EXPECTED, `seed ${r.seed} round ${round}`);
  }
});

test('argv is zero-copy: arguments are views of the read buffer', () => {
  const chunk = mb('SET', 'k', 'v');
  const p = new RespParser();
  p.append(chunk);
  assert.equal(p.next(), 'command');
  assert.equal(p.argv[2]?.buffer, chunk.buffer);
  assert.equal(p.argv.length, 3);
  // The argv array itself is reused between commands.
  const arr = p.argv;
  p.append(mb('GET', 'k'));
  assert.equal(p.next(), 'command');
  assert.equal(p.argv, arr);
  assert.equal(p.argv.length, 2);
});

test('a 3 MB argument arriving in 1 KB chunks parses and is binary-exact', () => {
  const r = rng(testSeed(11));
  const big = r.bytes(3 * 1024 * 1024);
  const frame = mb('SET', 'big', big);
  const chunks: Buffer[] = [];
  for (let i = 0; i < frame.length; i += 1024) chunks.push(frame.subarray(i, i + 1024));
  const p = new RespParser();
  let got: Buffer | undefined;
  for (const c of chunks) {
    p.append(c);
    const st = p.next();
    if (st === 'command') got = Buffer.from(p.argv[2] as Buffer);
    else assert.equal(st, 'incomplete');
  }
  assert.ok(got !== undefined && got.equals(big));
  assert.equal(p.pendingBytes, 0);
});

test('inline quoting follows redis sdssplitargs', () => {
  const split = (s: string): string[] | null => {
    const b = Buffer.from(s, 'latin1');
    const r = splitInlineArgs(b, 0, b.length);
    return r === null ? null : r.map((x) => x.toString('latin1'));
  };
  assert.deepEqual(split('set a b'), ['set', 'a', 'b']);
  assert.deepEqual(split('  set   a\tb  '), ['set', 'a', 'b']);
  assert.deepEqual(split('"a b" \'c d\''), ['a b', 'c d']);
  assert.deepEqual(split('"\\x41\\x4a\\n\\r\\t\\b\\a\\"\\\\"'), ['AJ\n\r\t\b\x07"\\']);
  assert.deepEqual(split("'it\\'s' 'a\\nb'"), ["it's", 'a\\nb']);
  assert.deepEqual(split('""'), ['']);
  assert.deepEqual(split('a"b c"'), ['ab c']);
  assert.deepEqual(split('"\\xZZ"'), ['xZZ']);
  assert.equal(split('"abc'), null);
  assert.equal(split("'abc"), null);
  assert.equal(split('"a"b'), null);
  assert.equal(split("'a'b"), null);
  assert.deepEqual(split(''), []);
});

test('empty inline lines and *0 / *-1 frames are skipped', () => {
  const o = feed([Buffer.from('\r\n\n*0\r\n*-1\r\n   \r\nPING\r\n')]);
  assert.deepEqual(o.commands, [['PING']]);
});

test('protocol errors carry Redis texts', () => {
  const cases: Array<[string | Buffer, string]> = [
    ['*1\r\n$-5\r\n', 'ERR Protocol error: invalid bulk length'],
    ['*1\r\n$abc\r\n', 'ERR Protocol error: invalid bulk length'],
    ['*1\r\n$536870913\r\n', 'ERR Protocol error: invalid bulk length'],
    ['*abc\r\n', 'ERR Protocol error: invalid multibulk length'],
    [`*${MULTIBULK_COUNT_MAX + 1}\r\n`, 'ERR Protocol error: invalid multibulk length'],
    ['*2\r\n$3\r\nGET\r\n:1\r\n', "ERR Protocol error: expected '$', got ':'"],
    ['*1\r\nx', "ERR Protocol error: expected '$', got 'x'"],
    ['set "abc\r\n', 'ERR Protocol error: unbalanced quotes in request'],
    ['set \'a\'b\r\n', 'ERR Protocol error: unbalanced quotes in request'],
    ['*1\r\n$3\r\nabcXY', 'ERR Protocol error: invalid bulk length'],
  ];
  for (const [input, msg] of cases) {
    const o = feed([Buffer.from(input)]);
    assert.equal(o.status, 'error', JSON.stringify(input));
    assert.equal(o.error, msg, JSON.stringify(input));
    assert.equal(o.silent, false);
  }
  // Commands before the bad frame in the same read are still delivered.
  const o = feed([Buffer.concat([mb('PING'), Buffer.from('*x\r\n')])]);
  assert.deepEqual(o.commands, [['PING']]);
  assert.equal(o.status, 'error');
});

test('inline and header lines longer than 64 KB are refused', () => {
  const longInline = feed([Buffer.alloc(INLINE_BYTES_MAX + 1, 0x61)]);
  assert.equal(longInline.error, 'ERR Protocol error: too big inline request');
  const longCount = feed([Buffer.concat([Buffer.from('*'), Buffer.alloc(INLINE_BYTES_MAX + 1, 0x31)])]);
  assert.equal(longCount.error, 'ERR Protocol error: too big mbulk count string');
  const longBulk = feed([Buffer.concat([Buffer.from('*1\r\n$'), Buffer.alloc(INLINE_BYTES_MAX + 1, 0x31)])]);
  assert.equal(longBulk.error, 'ERR Protocol error: too big bulk count string');
  // Exactly at the limit without a newline is still just incomplete.
  assert.equal(feed([Buffer.alloc(INLINE_BYTES_MAX, 0x61)]).status, 'incomplete');
});

test('configured limits: bulk length and query buffer (silent close)', () => {
  const limits = { bulkBytesMax: 10, queryBufferBytesMax: 100 };
  assert.equal(feed([mb('SET', 'k', '0123456789')], new RespParser(limits)).status, 'incomplete');
  assert.equal(feed([mb('SET', 'k', '0123456789X')], new RespParser(limits)).error, 'ERR Protocol error: invalid bulk length');
  // 200 bytes of a frame that never completes exceeds the 100-byte query buffer limit.
  const partial = Buffer.from('*1\r\n$10\r\n0123');
  const p = new RespParser({ bulkBytesMax: 1 << 20, queryBufferBytesMax: 100 });
  const o = feed([Buffer.concat([Buffer.from('*1\r\n$1000\r\n'), Buffer.alloc(200, 0x61)])], p);
  assert.equal(o.status, 'error');
  assert.equal(o.silent, true);
  // Shared limits are read live (CONFIG SET changes them for every parser).
  const shared = { bulkBytesMax: 1 << 20, queryBufferBytesMax: 1 << 20 };
  const q = new RespParser(shared);
  shared.bulkBytesMax = 3;
  assert.equal(feed([partial], q).error, 'ERR Protocol error: invalid bulk length');
});

test('seeded random valid commands round-trip through random chunking', () => {
  const r = rng(testSeed(1234));
  const cmds: Buffer[][] = [];
  for (let i = 0; i < 500; i++) {
    const n = 1 + r.int(5);
    const args: Buffer[] = [];
    for (let j = 0; j < n; j++) args.push(r.bytes(r.int(r.int(10) === 0 ? 5000 : 20)));
    cmds.push(args);
  }
  const stream = Buffer.concat(cmds.map((c) => mb(...c)));
  const chunks: Buffer[] = [];
  for (let p = 0; p < stream.length; ) {
    const n = 1 + r.int(3000);
    chunks.push(stream.subarray(p, p + n));
    p += n;
  }
  const o = feed(chunks);
  assert.equal(o.status, 'incomplete');
  assert.deepEqual(o.commands, cmds.map((c) => c.map((a) => a.toString('latin1'))), `seed ${r.seed}`);
});

test('parser: header lines longer than the JS scan window parse, or fail with the same limit errors', () => {
  // A bulk length with leading zeros is longer than the 32-byte JS scan: indexOf takes over.
  const len = '0'.repeat(40) + '3';
  const p = new RespParser();
  p.append(Buffer.from(`*2\r\n$3\r\nGET\r\n$${len}\r\nabc\r\n`, 'latin1'));
  // 41 digits exceed the 18-digit integer limit: invalid bulk length.
  assert.equal(p.next(), 'error');
  assert.equal(p.errorMessage, 'ERR Protocol error: invalid bulk length');
  // No CR within INLINE_BYTES_MAX: too big, whether or not it arrives in pieces.
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

// ---- encoder

function enc(proto: 2 | 3, f: (e: RespEncoder) => void): string {
  const e = new RespEncoder();
  e.protocol = proto;
  f(e);
  return e.take()?.toString('latin1') ?? '';
}

test('encoder: RESP2 and RESP3 bytes for every reply type', () => {
  const both = (f: (e: RespEncoder) => void): [string, string] => [enc(2, f), enc(3, f)];
  assert.deepEqual(both((e) => e.ok()), ['+OK\r\n', '+OK\r\n']);
  assert.deepEqual(both((e) => e.simple('PONG')), ['+PONG\r\n', '+PONG\r\n']);
  // Short ASCII text is copied char by char; non-ASCII (short or long) and long text go through UTF-8.
  const utf8 = (t: string): string => Buffer.from(`+${t}\r\n`).toString('latin1');
  for (const t of ['', 'é', 'abcé', 'x'.repeat(32), 'x'.repeat(33), `${'y'.repeat(40)}é`]) assert.deepEqual(both((e) => e.simple(t)), [utf8(t), utf8(t)], t);
  assert.throws(() => enc(2, (e) => e.simple('a\r\nb')), /CR\/LF/);
  assert.throws(() => enc(2, (e) => e.simple(`${'z'.repeat(40)}\n`)), /CR\/LF/);
  assert.deepEqual(both((e) => e.error('ERR x\r\ny')), ['-ERR x y\r\n', '-ERR x y\r\n']);
  assert.deepEqual(both((e) => e.integer(0)), [':0\r\n', ':0\r\n']);
  assert.deepEqual(both((e) => e.integer(-42)), [':-42\r\n', ':-42\r\n']);
  assert.deepEqual(both((e) => e.integer(123456789)), [':123456789\r\n', ':123456789\r\n']);
  assert.deepEqual(both((e) => e.integer(9223372036854775807n)), [':9223372036854775807\r\n', ':9223372036854775807\r\n']);
  assert.deepEqual(both((e) => e.bulk('héllo')), ['$6\r\nhéllo\r\n', '$6\r\nhéllo\r\n'].map((s) => Buffer.from(s).toString('latin1')));
  assert.deepEqual(both((e) => e.bulk(Buffer.from([0, 255]))), ['$2\r\n\x00\xff\r\n', '$2\r\n\x00\xff\r\n']);
  assert.deepEqual(both((e) => e.bulk('')), ['$0\r\n\r\n', '$0\r\n\r\n']);
  assert.deepEqual(both((e) => e.nullBulk()), ['$-1\r\n', '_\r\n']);
  assert.deepEqual(both((e) => e.nullArray()), ['*-1\r\n', '_\r\n']);
  assert.deepEqual(both((e) => e.array(0)), ['*0\r\n', '*0\r\n']);
  assert.deepEqual(both((e) => e.array(2)), ['*2\r\n', '*2\r\n']);
  assert.deepEqual(both((e) => e.map(2)), ['*4\r\n', '%2\r\n']);
  assert.deepEqual(both((e) => e.set(3)), ['*3\r\n', '~3\r\n']);
  assert.deepEqual(both((e) => e.double(1.5)), ['$3\r\n1.5\r\n', ',1.5\r\n']);
  assert.deepEqual(both((e) => e.double(Infinity)), ['$3\r\ninf\r\n', ',inf\r\n']);
  // Redis 7.0 prints RESP3 doubles with %.17g too (7.2 switched to the shortest form).
  assert.deepEqual(both((e) => e.double(0.1)), ['$19\r\n0.10000000000000001\r\n', ',0.10000000000000001\r\n']);
  assert.deepEqual(both((e) => e.double(-Infinity)), ['$4\r\n-inf\r\n', ',-inf\r\n']);
  assert.deepEqual(both((e) => e.boolean(true)), [':1\r\n', '#t\r\n']);
  assert.deepEqual(both((e) => e.boolean(false)), [':0\r\n', '#f\r\n']);
  assert.deepEqual(both((e) => e.verbatim('a:1\r\n')), ['$5\r\na:1\r\n\r\n', '=9\r\ntxt:a:1\r\n\r\n']);
});

test('encoder: %.17g double formatting as Redis 7.0 prints it', () => {
  assert.equal(formatDouble(3), '3');
  assert.equal(formatDouble(0.1), '0.10000000000000001');
  assert.equal(formatDouble(-2.5), '-2.5');
  assert.equal(formatDouble(1e20), '1e+20');
  assert.equal(formatDouble(1.5e-7), '1.4999999999999999e-07');
  assert.equal(formatDouble(123456789012345680), '1.2345678901234568e+17');
  assert.equal(formatDouble(99999999999999999), '1e+17', 'the exponent is taken after rounding');
  assert.equal(formatDouble(4e-320), '3.999955468730732e-320', 'subnormals print their exact digits');
  assert.equal(formatDouble(-0), '-0');
  assert.equal(formatDouble(0.0001), '0.0001');
  assert.equal(formatDouble(1234.5), '1234.5');
});

test('encoder: many replies accumulate into one buffer; taken views stay intact', () => {
  const e = new RespEncoder();
  const big = Buffer.alloc(200_000, 0x62);
  e.ok();
  const first = e.take();
  assert.equal(first?.toString(), '+OK\r\n');
  for (let i = 0; i < 1000; i++) e.integer(i);
  e.bulk(big);
  e.nullBulk();
  const second = e.take() as Buffer;
  assert.equal(first?.toString(), '+OK\r\n', 'an earlier view is not overwritten');
  let expected = '';
  for (let i = 0; i < 1000; i++) expected += `:${i}\r\n`;
  expected += `$200000\r\n${big.toString('latin1')}\r\n$-1\r\n`;
  assert.equal(second.toString('latin1'), expected);
  assert.equal(e.take(), null);
  assert.equal(e.errors, 0);
  e.error('ERR a');
  assert.equal(e.errors, 1);
});

test('bulk and array headers match the template encoding for every digit count', () => {
  const r = rng(testSeed(0x7e57));
  const lengths = [0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 65_535, 65_536, 100_000, 1_048_576];
  for (let i = 0; i < 20; i++) lengths.push(r.int(300_000));
  for (const n of lengths) {
    const bytes = r.bytes(n);
    const text = bytes.toString('latin1');
    const want = `$${n}\r\n${text}\r\n`;
    assert.equal(enc(2, (e) => e.bulk(bytes)), want, `bulk(Buffer) of ${n} bytes`);
  }
  // bulk(string) is UTF-8.
  assert.equal(enc(2, (e) => e.bulk('é')), '$2\r\n\xc3\xa9\r\n');
  for (const n of [1, 9, 10, 16, 123, 10_000, 1_000_000, Number.MAX_SAFE_INTEGER]) {
    assert.equal(enc(2, (e) => e.array(n)), `*${n}\r\n`);
  }
  assert.equal(enc(2, (e) => e.array(0)), '*0\r\n');
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

test('bulkRange encodes exactly what bulk(view) encodes, for every length around the copy switch and past a chunk', () => {
  const r = rng(testSeed(0x6e7));
  const src = r.bytes(300_000);
  const lengths = [0, 1, 15, 16, 17, 31, 32, 100, 1023, 1024, 65_535, 65_536, 70_000, 200_000];
  for (const proto of [2, 3] as const) {
    const a = new RespEncoder();
    const b = new RespEncoder();
    a.protocol = b.protocol = proto;
    for (const n of lengths) {
      const off = r.int(src.length - n + 1);
      a.bulkRange(src, off, n);
      b.bulk(src.subarray(off, off + n));
      // Interleave small replies so ranges start at odd output positions and cross chunk ends.
      a.integer(n);
      b.integer(n);
    }
    const wa = a.take();
    const wb = b.take();
    assert.ok(wa !== null && wb !== null);
    assert.ok(wa.equals(wb), `RESP${proto}: bulkRange differs from bulk`);
  }
  // A range outside its source is a caller bug, caught before any byte is written.
  assert.throws(() => new RespEncoder().bulkRange(src, src.length - 1, 2));
});
