// The DUMP payload format (storage/dump-payload.ts): the CRC-64 check value, round trips of every
// type through dump and decode, payloads redis-server 7.0 wrote (listpack hash and sorted set,
// LZF-compressed intset and strings) and a hand-built ziplist as Redis 6 writes one, and seeded
// corruption: a broken checksum is always refused as such, and a corrupt body with a correct
// checksum is refused as bad data or decoded, never thrown on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc64, decodeDump, dumpCollection, dumpString, isRefusal } from '../src/storage/dump-payload.js';
import { HashObject } from '../src/storage/hash-object.js';
import { SetObject } from '../src/storage/set-object.js';
import { SortedSet } from '../src/storage/zset.js';
import { TYPE_HASH, TYPE_SET, TYPE_STRING, TYPE_ZSET, type KvCollection } from '../src/storage/collection.js';
import type { DecodedObject } from '../src/storage/object-codec.js';
import { rng, testSeed } from './helpers/rng.js';
import { describe, mvOf, randomCollection, type MV } from './helpers/typed-ops.js';

function decoded(payload: Buffer): MV {
  const d = decodeDump(payload);
  if (isRefusal(d)) assert.fail(`refused: ${JSON.stringify(d)}`);
  return 'value' in d ? mvOf(TYPE_STRING, d.value) : mvOf(d.type, d.obj);
}

function typeOf(c: KvCollection): number {
  return c instanceof HashObject ? TYPE_HASH : c instanceof SetObject ? TYPE_SET : TYPE_ZSET;
}

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
    const type = R.pick([TYPE_HASH, TYPE_SET, TYPE_ZSET]);
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
  // [zlbytes 16][zltail 13][zllen 2] | prevlen 0, 1-byte string "a" | prevlen 3, immediate 1 | end.
  const zl = Buffer.from('10000000' + '0d000000' + '0200' + '000161' + '03f2' + 'ff', 'hex');
  const body = Buffer.concat([Buffer.of(13, zl.length), zl, Buffer.of(9, 0)]);
  const mv = decoded(Buffer.concat([body, crc64(body)]));
  assert.ok(mv.type === 'hash');
  assert.deepEqual([...mv.m].map(([f, v]) => `${f}=${v.toString()}`), ['a=1']);
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
  assert.equal(reason(seal([18, 0])), 'type', 'a quicklist');
  assert.equal(reason(seal([0, 0xc3, 2, 10, 0, 0x61])), 'format', 'an LZF claim beyond any expansion');
  // A 600 MiB claim from an 8 MiB block (within LZF's expansion, past the string limit) is refused.
  assert.equal(reason(seal([0, 0xc3, 0x80, 0, 0x80, 0, 0, 0x80, 0x25, 0x80, 0, 0, ...Buffer.alloc(0x800000)])), 'format', 'an LZF string past 512 MiB');
  // Redis ignores bytes between the value and the footer; so does kv-ts.
  assert.equal(reason(seal([0, 1, 0x61, 0x99, 0x98])), 'ok');
});

test('seeded corruption: never a throw; a bad checksum is always refused; resealed garbage is refused or decodes', () => {
  const R = rng(testSeed(9191));
  const samples: Buffer[] = [dumpString(Buffer.from('x'.repeat(40))), dumpString(Buffer.from('12'))];
  for (const type of [TYPE_HASH, TYPE_SET, TYPE_ZSET]) for (let i = 0; i < 5; i++) samples.push(dumpCollection(type, randomCollection(R, type)));
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
