// The tests' RESP reply decoder (test/helpers/resp.ts), which every raw-connection test relies on:
// each RESP2 and RESP3 type, wire shapes kept apart (null bulk vs null array, simple vs bulk),
// incomplete input at every cut, and the plain-value view.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RespEncoder } from '../src/protocol/encoder.js';
import { parseReply, showReply, toValue, ReplyError, type Resp } from './helpers/resp.js';

function one(wire: string): Resp {
  const buf = Buffer.from(wire, 'latin1');
  const r = parseReply(buf, 0);
  assert.ok(r !== null, `complete: ${JSON.stringify(wire)}`);
  assert.equal(r.end, buf.length, 'consumed exactly one reply');
  return r.v;
}

test('every reply type decodes to its own shape', () => {
  const cases: Array<[string, string]> = [
    ['+OK\r\n', '+OK'],
    ['-ERR bad\r\n', '-ERR bad'],
    [':-42\r\n', ':-42'],
    [':9223372036854775807\r\n', ':9223372036854775807'],
    ['$3\r\na\r\n\r\n', '"a\\r\\n"'],
    ['$0\r\n\r\n', '""'],
    ['$-1\r\n', '$nil'],
    ['*-1\r\n', '*nil'],
    ['*0\r\n', '[]'],
    ['*2\r\n$1\r\nx\r\n*1\r\n:1\r\n', '["x", [:1]]'],
    ['_\r\n', '_'],
    ['#t\r\n', '#t'],
    ['#f\r\n', '#f'],
    [',1.5\r\n', ',1.5'],
    ['=8\r\ntxt:abcd\r\n', '="txt:abcd"'],
    ['~2\r\n+a\r\n+b\r\n', '~[+a, +b]'],
    ['%1\r\n$1\r\nk\r\n:7\r\n', '%[\"k\", :7]'],
  ];
  for (const [wire, shown] of cases) assert.equal(showReply(one(wire)), shown, JSON.stringify(wire));
  assert.throws(() => parseReply(Buffer.from('!3\r\nerr\r\n'), 0), /bad reply type byte/);
});

test('a reply cut anywhere is incomplete (null), then decodes whole', () => {
  const e = new RespEncoder();
  e.protocol = 3;
  e.map(2);
  e.bulk('key');
  e.array(3);
  e.integer(1);
  e.nullBulk();
  e.simple('s');
  e.bulk(Buffer.from('k2'));
  e.double(0.5);
  const wire = e.take() as Buffer;
  for (let cut = 0; cut < wire.length; cut++) assert.equal(parseReply(wire.subarray(0, cut), 0), null, `cut at ${cut}`);
  const whole = parseReply(Buffer.concat([wire, Buffer.from('+next\r\n')]), 0);
  assert.ok(whole !== null);
  assert.equal(whole.end, wire.length, 'stops at the end of the first reply');
});

test('toValue: plain values for assertions', () => {
  assert.equal(toValue(one('+PONG\r\n')), 'PONG');
  assert.deepEqual(toValue(one('-ERR x\r\n')), new ReplyError('ERR x'));
  assert.equal(toValue(one(':12\r\n')), 12);
  assert.equal(toValue(one(',2.5\r\n')), 2.5);
  assert.equal(toValue(one('$-1\r\n')), null);
  assert.equal(toValue(one('*-1\r\n')), null);
  assert.equal(toValue(one('_\r\n')), null);
  assert.equal(toValue(one('#t\r\n')), true);
  assert.deepEqual(toValue(one('$2\r\nab\r\n')), Buffer.from('ab'));
  assert.deepEqual(toValue(one('=7\r\ntxt:a\r\n\r\n')), Buffer.from('txt:a\r\n'));
  assert.deepEqual(toValue(one('~1\r\n:1\r\n')), [1]);
  assert.deepEqual(toValue(one('%1\r\n$1\r\nk\r\n$1\r\nv\r\n')), new Map([['k', Buffer.from('v')]]));
});

test('bulkLatin1 writes the same bytes as bulk of the same range, for every header width and both copy paths', () => {
  // Every byte value, so a char-to-byte slip shows; lengths across the 1/2/3-digit headers and the loop/native split.
  const text = Array.from({ length: 300 }, (_, i) => String.fromCharCode((i * 37) % 256)).join('');
  const viaLatin1 = new RespEncoder();
  const viaBulk = new RespEncoder();
  for (const len of [0, 1, 9, 10, 11, 31, 32, 33, 99, 100, 101, 255]) {
    for (const off of [0, 3, 300 - len]) {
      viaLatin1.bulkLatin1(text, off, len);
      viaBulk.bulk(Buffer.from(text.slice(off, off + len), 'latin1'));
    }
  }
  viaLatin1.bulkLatin1('whole string default range');
  viaBulk.bulk('whole string default range');
  assert.deepEqual(viaLatin1.take(), viaBulk.take());
  assert.throws(() => viaLatin1.bulkLatin1('abc', 2, 2), RangeError);
});
