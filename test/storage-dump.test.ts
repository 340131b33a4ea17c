// The DUMP payload format (storage/dump-payload.ts): the CRC-64 check value, round trips of every
// type through dump and decode, payloads redis-server 7.0 wrote (listpack hash and sorted set,
// LZF-compressed intset and strings, quicklists of listpack and plain nodes), hand-built ziplists
// as Redis 6 writes them (a hash, a ziplist list, a quicklist of ziplists), and seeded
// corruption: a broken checksum is always refused as such, and a corrupt body with a correct
// checksum is refused as bad data or decoded, never thrown on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc64, decodeDump, dumpCollection, dumpString, isRefusal } from '../src/storage/dump-payload.js';
import { HashObject } from '../src/storage/hash-object.js';
import { ListObject } from '../src/storage/list-object.js';
import { SetObject } from '../src/storage/set-object.js';
import { SortedSet } from '../src/storage/zset.js';
import { TYPE_HASH, TYPE_LIST, TYPE_SET, TYPE_STRING, TYPE_ZSET, type KvCollection } from '../src/storage/collection.js';
import type { DecodedObject } from '../src/storage/object-codec.js';
import { rng, testSeed } from './helpers/rng.js';
import { describe, mvOf, randomCollection, type MV } from './helpers/typed-ops.js';

function decoded(payload: Buffer): MV {
  const d = decodeDump(payload);
  if (isRefusal(d)) assert.fail(`refused: ${JSON.stringify(d)}`);
  return 'value' in d ? mvOf(TYPE_STRING, d.value) : mvOf(d.type, d.obj);
}

function typeOf(c: KvCollection): number {
  return c instanceof HashObject ? TYPE_HASH : c instanceof SetObject ? TYPE_SET : c instanceof ListObject ? TYPE_LIST : TYPE_ZSET;
}

function listOf(elements: readonly string[]): ListObject {
  const l = new ListObject();
  for (const e of elements) l.pushTail(e);
  return l;
}

/** `body` (the type byte and value) with an RDB version 9 footer, as Redis 6 seals a DUMP. */
function sealedV9(body: Buffer): Buffer {
  const b = Buffer.concat([body, Buffer.of(9, 0)]);
  return Buffer.concat([b, crc64(b)]);
}

/** A ziplist holding "a" then the integer 1: [zlbytes 16][zltail 13][zllen 2] | prevlen 0, "a" | prevlen 3, immediate 1 | end. */
const ZIPLIST_A_1 = Buffer.from('10000000' + '0d000000' + '0200' + '000161' + '03f2' + 'ff', 'hex');

/** The payload with its footer's checksum recomputed over the (changed) bytes before it. */
function resealed(p: Buffer): Buffer {
  const out = Buffer.from(p);
  if (out.length >= 10) crc64(out, out.length - 8).copy(out, out.length - 8);
  return out;
}

test('crc64 is CRC-64/Jones as Redis computes it (check value of "123456789")', () => {
  assert.equal(crc64(Buffer.from('123456789')).readBigUInt64LE(0), 0xe9c6d914c4b8d9can);
});

test('strings round-trip, int-encoded exactly when Redis would (canonical int32 text of at most 11 bytes)', () => {
  const cases: Array<[string, number]> = [
    ['0', 3], ['-1', 3], ['127', 3], ['128', 4], ['-32768', 4], ['32768', 6], ['2147483647', 6], ['-2147483648', 6],
    ['2147483648', 12], ['007', 5], ['-0', 4], ['+1', 4], ['', 2], ['hello', 7], [' 1', 4],
  ];
  for (const [s, bodyBytes] of cases) {
    const p = dumpString(Buffer.from(s, 'latin1'));
    assert.equal(p.length, bodyBytes + 10, s);
    const mv = decoded(p);
    assert.ok(mv.type === 'string' && mv.v.toString('latin1') === s, s);
  }
  const big = Buffer.alloc(70_000, 0xab);
  assert.ok((decoded(dumpString(big)) as { v: Buffer }).v.equals(big));
  // Redis's own bytes for a short string: type 0, length 5, "hello", version 10, checksum.
  assert.equal(dumpString(Buffer.from('hello')).subarray(0, 9).toString('hex'), '000568656c6c6f0a00');
});

test('every collection type round-trips; sorted sets keep infinities, -0 and order', () => {
  const R = rng(testSeed(7070));
  for (let i = 0; i < 300; i++) {
    const type = R.pick([TYPE_HASH, TYPE_SET, TYPE_ZSET, TYPE_LIST]);
    const c = randomCollection(R, type);
    assert.equal(describe(decoded(dumpCollection(type, c))), describe(mvOf(type, c)), `case ${i}`);
  }
  const z = new SortedSet();
  for (const [m, s] of [['a', -Infinity], ['b', -0], ['c', 1e-300], ['d', Infinity], ['e', 2.5]] as const) z.set(m, s);
  for (let i = 0; i < 300; i++) z.set(`m${i}`, i / 7);
  const back = decoded(dumpCollection(TYPE_ZSET, z));
  assert.equal(describe(back), describe(mvOf(TYPE_ZSET, z)));
  assert.ok(back.type === 'zset' && Object.is(back.m.get('b'), -0));
  const h = new HashObject();
  for (let i = 0; i < 1000; i++) h.set(`f${i}`, Buffer.from(String(i * 977)));
  const s = new SetObject();
  for (let i = 0; i < 1000; i++) s.add(String(i - 500));
  for (const c of [h, s]) assert.equal(describe(decoded(dumpCollection(typeOf(c), c))), describe(mvOf(typeOf(c), c)));
});

test('lists round-trip in order: long, binary, empty, integer-looking and repeated elements', () => {
  const binary = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join('');
  const elements = ['', 'a', '0', '-1', '2147483647', '2147483648', '01', binary, 'x'.repeat(100_000), 'a', 'a'];
  for (let i = 0; i < 1000; i++) elements.push(i % 3 === 0 ? String(i) : `element-${i}`);
  const back = decoded(dumpCollection(TYPE_LIST, listOf(elements)));
  assert.ok(back.type === 'list');
  assert.deepEqual(back.l, elements);
  assert.equal(dumpCollection(TYPE_LIST, listOf(['a', '7'])).subarray(0, 6).toString('hex'), '01020161c007', 'RDB_TYPE_LIST, int-encoded as Redis would');
});

test('a -0 score stays -0 in a large sorted set and reads 0 in a small one (Redis keeps listpack scores as text)', () => {
  for (const n of [2, 200]) {
    const z = new SortedSet();
    z.set('zero', -0);
    for (let i = 1; i < n; i++) z.set(`m${i}`, i);
    const back = decoded(dumpCollection(TYPE_ZSET, z));
    assert.ok(back.type === 'zset' && Object.is(back.m.get('zero'), n > 128 ? -0 : 0), `${n} members`);
  }
});

test('payloads redis-server 7.0 wrote decode to what it held', () => {
  const fixtures: Array<[string, string]> = [
    // HSET h f1 v1 n 12 neg -5000 big 123456789012: a listpack.
    ['102c2c00000008008266310382763103816e020c01836e656704f178ec038362696704f4141a99be1c00000009ff0a0028ae3a4db5a14fe5', 'hash'],
    // ZADD z 1 a 2.5 b -inf c inf d -3 e: a listpack.
    ['112b2b0000000a00816302842d696e6605816502dffd02816102010181620283322e350481640283696e6604ff0a000e3919f75d5ca55d', 'zset'],
    // SADD si 1 -2 70000 5000000000: an LZF-compressed intset.
    ['0bc32028040800000004200301feff80000001200b4000017011a00902f2052a200900000a00c4825d4352a8d5d2', 'set'],
    // SET lzf x*60 y*30: an LZF-compressed string.
    ['00c30e405a017878e031000079e012000179790a00ed3eac5a79e1028a', 'string'],
  ];
  const got = fixtures.map(([hex]) => describe(decoded(Buffer.from(hex, 'hex'))));
  const hash = new HashObject();
  for (const [f, v] of [['f1', 'v1'], ['n', '12'], ['neg', '-5000'], ['big', '123456789012']]) hash.set(f as string, Buffer.from(v as string));
  const zset = new SortedSet();
  for (const [m, s] of [['a', 1], ['b', 2.5], ['c', -Infinity], ['d', Infinity], ['e', -3]] as const) zset.set(m, s);
  const set = new SetObject();
  for (const m of ['1', '-2', '70000', '5000000000']) set.add(m);
  assert.deepEqual(got, [
    describe(mvOf(TYPE_HASH, hash)),
    describe(mvOf(TYPE_ZSET, zset)),
    describe(mvOf(TYPE_SET, set)),
    describe(mvOf(TYPE_STRING, Buffer.from('x'.repeat(60) + 'y'.repeat(30)))),
  ]);
  // A hash whose field holds an LZF-compressed value (RDB_TYPE_HASH, as Redis writes a hashtable).
  const hl = decoded(Buffer.from('0401056669656c64c315406f017878e0270002616263e00902007ae01c00017a7a0a0049aca75f64cc61ca', 'hex'));
  assert.ok(hl.type === 'hash');
  assert.equal(hl.m.get('field')?.toString(), 'x'.repeat(50) + 'abc'.repeat(7) + 'z'.repeat(40));
});

test('a ziplist hash as Redis 6 writes it (RDB version 9) decodes', () => {
  const mv = decoded(sealedV9(Buffer.concat([Buffer.of(13, ZIPLIST_A_1.length), ZIPLIST_A_1])));
  assert.ok(mv.type === 'hash');
  assert.deepEqual([...mv.m].map(([f, v]) => `${f}=${v.toString()}`), ['a=1']);
});

test('lists redis-server 7.0 wrote decode to what it held (quicklist of listpacks, LZF-compressed, plain nodes)', () => {
  // RPUSH small a b 1 300 -5 "hello world": one listpack node.
  const small = decoded(Buffer.from('120102222200000006008161028162020101c12c02dffb028b68656c6c6f20776f726c640cff0a002c3ac38ba41efbe8', 'hex'));
  assert.deepEqual(small.type === 'list' && small.l, ['a', 'b', '1', '300', '-5', 'hello world']);
  // 200 elements, every 50th its index and the rest 'x' * 100: three listpack nodes (8 KiB each at most), LZF-compressed.
  const large = decoded(Buffer.from(
    '120302c340b35fd40ad41f000051000001e06478e05a000066e0ff66e02300e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1' +
    'ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400016632f3ffb8e02400e2ff6be02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400' +
    'e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e024000166ff02c340b95fd508d51f00005100e06478e05a000066e0ff66e02300e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff' +
    '34e0240002666401e7ff3fe02300e2ff6be02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400' +
    'e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e15f3402c09602f3ffb9e02300e15f9ee1ff9be02300e1ff34e02400e15e340166ff02c3405d4f5108510f00002600e06478e05a000066e0' +
    'ff66e02300e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e1ff34e02400e15e340166ff0a00ac' +
    'bc64f104bcb115', 'hex'));
  assert.deepEqual(large.type === 'list' && large.l, Array.from({ length: 200 }, (_, i) => (i % 50 === 0 ? String(i) : 'x'.repeat(100))));
  // DEBUG QUICKLIST-PACKED-THRESHOLD 100, then RPUSH plain head <'p' * 150> tail: the long element in a plain node (LZF-compressed).
  const plain = decoded(Buffer.from('1203020d0d0000000100846865616405ff01c3094096017070e08900017070020d0d0000000100847461696c05ff0a007df9c2f796f21d70', 'hex'));
  assert.deepEqual(plain.type === 'list' && plain.l, ['head', 'p'.repeat(150), 'tail']);
});

test('lists as Redis 6 and older write them: a ziplist, a quicklist of ziplists (one LZF-compressed)', () => {
  const zipped = decoded(sealedV9(Buffer.concat([Buffer.of(10, ZIPLIST_A_1.length), ZIPLIST_A_1])));
  assert.deepEqual(zipped.type === 'list' && zipped.l, ['a', '1']);
  // Two nodes: the ziplist as is, then as one LZF literal run ([0xc3][compressed len][len][run len - 1] bytes).
  const lzf = Buffer.concat([Buffer.of(0xc3, ZIPLIST_A_1.length + 1, ZIPLIST_A_1.length, ZIPLIST_A_1.length - 1), ZIPLIST_A_1]);
  const quick = decoded(sealedV9(Buffer.concat([Buffer.of(14, 2, ZIPLIST_A_1.length), ZIPLIST_A_1, lzf])));
  assert.deepEqual(quick.type === 'list' && quick.l, ['a', '1', 'a', '1']);
});

test('refusals: checksum, newer RDB version, short payload, unknown and unsupported types, empty collections', () => {
  const good = dumpString(Buffer.from('hello'));
  const reason = (p: Buffer): string => {
    const d: DecodedObject | { reason: string } = decodeDump(p);
    return 'reason' in d ? d.reason : 'ok';
  };
  assert.equal(reason(good), 'ok');
  const flipped = Buffer.from(good);
  flipped[2] = (flipped[2] as number) ^ 1;
  assert.equal(reason(flipped), 'checksum');
  const newer = Buffer.from(good);
  newer.writeUInt16LE(11, good.length - 10);
  assert.equal(reason(resealed(newer)), 'checksum', 'a version past 10 reads as a wrong version');
  assert.equal(reason(Buffer.alloc(9)), 'checksum');
  assert.equal(reason(Buffer.alloc(0)), 'checksum');
  const seal = (body: number[]): Buffer => {
    const b = Buffer.concat([Buffer.from(body), Buffer.of(10, 0)]);
    return Buffer.concat([b, crc64(b)]);
  };
  assert.equal(reason(seal([42])), 'format');
  assert.equal(reason(seal([2, 0])), 'format', 'an empty set');
  assert.equal(reason(seal([4, 1, 1, 0x61])), 'format', 'a hash cut short');
  assert.equal(reason(seal([2, 2, 1, 0x61, 1, 0x61])), 'format', 'a duplicate member');
  assert.equal(reason(seal([6, 0])), 'type', 'a module value');
  assert.equal(reason(seal([1, 0])), 'format', 'an empty list');
  assert.equal(reason(seal([1, 2, 1, 0x61])), 'format', 'a list cut short');
  assert.equal(reason(seal([18, 0])), 'format', 'a quicklist without nodes');
  assert.equal(reason(seal([18, 1, 3, 1, 0x61])), 'format', 'a quicklist node of unknown container');
  assert.equal(reason(seal([18, 1, 2, 7, 7, 0, 0, 0, 0, 0, 0xff])), 'format', 'a quicklist of one empty listpack');
  assert.equal(reason(seal([18, 2, 1, 1, 0x61])), 'format', 'a quicklist with fewer nodes than it claims');
  assert.equal(reason(seal([14, 1, 11, 11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0xff])), 'format', 'a quicklist of one empty ziplist');
  assert.equal(reason(seal([10, 2, 0x61, 0x62])), 'format', 'a ziplist list that is no ziplist');
  assert.equal(reason(seal([0, 0xc3, 2, 10, 0, 0x61])), 'format', 'an LZF claim beyond any expansion');
  // A 600 MiB claim from an 8 MiB block (within LZF's expansion, past the string limit) is refused.
  assert.equal(reason(seal([0, 0xc3, 0x80, 0, 0x80, 0, 0, 0x80, 0x25, 0x80, 0, 0, ...Buffer.alloc(0x800000)])), 'format', 'an LZF string past 512 MiB');
  // Redis ignores bytes between the value and the footer; so does kv-ts.
  assert.equal(reason(seal([0, 1, 0x61, 0x99, 0x98])), 'ok');
});

test('seeded corruption: never a throw; a bad checksum is always refused; resealed garbage is refused or decodes', () => {
  const R = rng(testSeed(9191));
  const samples: Buffer[] = [dumpString(Buffer.from('x'.repeat(40))), dumpString(Buffer.from('12'))];
  for (const type of [TYPE_HASH, TYPE_SET, TYPE_ZSET, TYPE_LIST]) for (let i = 0; i < 5; i++) samples.push(dumpCollection(type, randomCollection(R, type)));
  samples.push(Buffer.from('120102222200000006008161028162020101c12c02dffb028b68656c6c6f20776f726c640cff0a002c3ac38ba41efbe8', 'hex'));
  samples.push(Buffer.from('1203020d0d0000000100846865616405ff01c3094096017070e08900017070020d0d0000000100847461696c05ff0a007df9c2f796f21d70', 'hex'));
  samples.push(sealedV9(Buffer.concat([Buffer.of(14, 1, ZIPLIST_A_1.length), ZIPLIST_A_1])));
  samples.push(Buffer.from('102c2c00000008008266310382763103816e020c01836e656704f178ec038362696704f4141a99be1c00000009ff0a0028ae3a4db5a14fe5', 'hex'));
  samples.push(Buffer.from('0bc32028040800000004200301feff80000001200b4000017011a00902f2052a200900000a00c4825d4352a8d5d2', 'hex'));
  let refusedFormat = 0;
  for (let i = 0; i < 20_000; i++) {
    const p = Buffer.from(R.pick(samples));
    const kind = R.int(3);
    let q: Buffer;
    if (kind === 0) q = p.subarray(0, R.int(p.length)); // truncated
    else {
      q = p;
      const flips = 1 + R.int(3);
      for (let f = 0; f < flips; f++) q[R.int(q.length - 10)] = R.int(256);
    }
    const sealed = kind === 2 ? resealed(q) : q;
    const d = decodeDump(sealed);
    if (kind !== 2 && isRefusal(d)) assert.equal(d.reason, 'checksum', `case ${i}`);
    if (kind === 2 && isRefusal(d) && d.reason !== 'checksum') refusedFormat++;
  }
  assert.ok(refusedFormat > 100, `resealed corruption reached the parser (${refusedFormat} refused as bad data)`);
});
