// WAL record codec: round trip for every op kind, and every single-byte flip or truncation detected;
// the records' CRC32C (src/storage/crc32c.ts) against the native one.

import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c } from '@node-rs/crc32';
import { checkRecord, decodeRecord, encodeRecord, recordBytes, recordMembersConfig } from '../src/storage/record.js';
import { encodeMemberConfig } from '../src/replication/core/member-config.js';
import type { MemberConfig } from '../src/replication/core/types.js';
import { crc32cRange, CRC_JS_BYTES_MAX } from '../src/storage/crc32c.js';
import type { LogEntry, Op } from '../src/storage/types.js';
import { rng, testSeed } from './helpers/rng.js';
import { encodeCollection, encodeStringObject } from '../src/storage/object-codec.js';
import { SetObject } from '../src/storage/set-object.js';
import { ListObject } from '../src/storage/list-object.js';
import { TYPE_LIST, TYPE_SET } from '../src/storage/collection.js';

const SAMPLE_OPS: Op[] = [
  { t: 'set', key: 'k\x00\xff', value: Buffer.from([0, 1, 2, 255]), expireAtMs: 0 },
  { t: 'set', key: '', value: Buffer.alloc(0), expireAtMs: 1_700_000_000_123 },
  { t: 'del', key: 'gone' },
  { t: 'expire', key: 'ttl', expireAtMs: 9_007_199_254_740_991 },
  { t: 'expire', key: 'persist', expireAtMs: 0 },
  { t: 'flushall' },
  { t: 'hset', key: 'h', field: 'f\x00', value: Buffer.from('v') },
  { t: 'hset', key: '', field: '', value: Buffer.alloc(0) },
  { t: 'hdel', key: 'h', field: 'f' },
  { t: 'sadd', key: 's', member: '\xff' },
  { t: 'srem', key: 's', member: '' },
  { t: 'zadd', key: 'z', member: 'm', score: -Infinity },
  { t: 'zadd', key: 'z', member: 'n', score: 1.5e-300 },
  { t: 'zrem', key: 'z', member: 'm' },
  { t: 'restore', key: 'r', payload: encodeStringObject(Buffer.from('str')), expireAtMs: 1_700_000_000_000 },
  { t: 'restore', key: 'r2', payload: encodeCollection(TYPE_SET, setOf('a', 'b')), expireAtMs: 0 },
  { t: 'lpush', key: 'l', values: [Buffer.from('a'), Buffer.alloc(0), Buffer.from([0xff, 0])] },
  { t: 'rpush', key: '', values: [] },
  { t: 'lpop', key: 'l', count: 3 },
  { t: 'rpop', key: 'l', count: 0 },
  { t: 'lset', key: 'l', index: 2, value: Buffer.from('v') },
  { t: 'linsert', key: 'l', index: 0, value: Buffer.alloc(0) },
  { t: 'lrem', key: 'l', count: -2, value: Buffer.from('x') },
  { t: 'restore', key: 'r3', payload: encodeCollection(TYPE_LIST, listOf('p', 'q')), expireAtMs: 0 },
  { t: 'acl', users: Buffer.from('[["default",["on","nopass"]]]') },
  { t: 'acl', users: Buffer.alloc(0) },
  { t: 'functions', libraries: Buffer.from('[["lib","#!lua name=lib"]]') },
];

function listOf(...elements: string[]): ListObject {
  const l = new ListObject();
  for (const e of elements) l.pushTail(e);
  return l;
}

function setOf(...members: string[]): SetObject {
  const s = new SetObject();
  for (const m of members) s.add(m);
  return s;
}

function roundTrip(entry: LogEntry): LogEntry {
  const buf = encodeRecord(entry.epoch, entry.seq, entry.ops);
  assert.equal(buf.length, recordBytes(entry.ops));
  const r = decodeRecord(buf, 0);
  assert.ok(r.ok, r.ok ? '' : r.detail);
  assert.equal(r.next, buf.length);
  return r.entry;
}

test('round trip of every op kind, alone and together, with large seqs', () => {
  for (const op of SAMPLE_OPS) assert.deepEqual(roundTrip({ epoch: 1, seq: 1, ops: [op] }), { epoch: 1, seq: 1, ops: [op] });
  const all: LogEntry = { epoch: 0xffff_ffff, seq: Number.MAX_SAFE_INTEGER, ops: SAMPLE_OPS };
  assert.deepEqual(roundTrip(all), all);
  const noop: LogEntry = { epoch: 7, seq: 2 ** 40 + 3, ops: [] };
  assert.deepEqual(roundTrip(noop), noop);
});

test('records decode back to back from one buffer', () => {
  const a = encodeRecord(1, 10, [SAMPLE_OPS[0] as Op]);
  const b = encodeRecord(2, 11, [SAMPLE_OPS[2] as Op]);
  const buf = Buffer.concat([a, b]);
  const r1 = decodeRecord(buf, 0);
  assert.ok(r1.ok);
  const r2 = decodeRecord(buf, r1.next);
  assert.ok(r2.ok);
  assert.equal(r2.entry.seq, 11);
  assert.equal(r2.next, buf.length);
});

test('flipping any single byte (random bit) of a record is detected', () => {
  const R = rng(testSeed(1234));
  const rec = encodeRecord(3, 99, SAMPLE_OPS);
  for (let i = 0; i < rec.length; i++) {
    for (const mask of [1 << R.int(8), 0xff]) {
      const bad = Buffer.from(rec);
      bad[i] = (bad[i] as number) ^ mask;
      const r = decodeRecord(bad, 0);
      // A flipped length may make it look short (torn) or implausible; never a valid record.
      assert.equal(r.ok, false, `flip at ${i} mask ${mask} went undetected`);
    }
  }
});

test('truncating at any offset is reported as short, never decoded', () => {
  const rec = encodeRecord(3, 99, SAMPLE_OPS);
  for (let n = 0; n < rec.length; n++) {
    const r = decodeRecord(rec.subarray(0, n), 0);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.why, 'short', `cut at ${n}: ${r.detail}`);
  }
});

test('a CRC-valid body with a malformed structure is rejected as format', () => {
  const rec = encodeRecord(1, 1, [{ t: 'del', key: 'abc' }]);
  // Claim 2 ops while only one is present, then fix the CRC: structure check must catch it.
  rec.writeUInt32LE(2, 8 + 12);
  rec.writeUInt32LE(crc32c(rec.subarray(8)), 4);
  const r = decodeRecord(rec, 0);
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.why, 'format');
});

test('a CRC-valid record whose restore payload or zadd score is malformed is rejected as format', () => {
  const reCrc = (rec: Buffer): Buffer => {
    rec.writeUInt32LE(crc32c(rec.subarray(8)), 4);
    return rec;
  };
  const restore = encodeRecord(1, 1, [{ t: 'restore', key: 'k', payload: encodeCollection(TYPE_SET, setOf('a')), expireAtMs: 0 }]);
  // Payload = [ver][type][u32 count][u32 len]['a'] at the end, before the f64 expiry: claim 2 members.
  const countAt = restore.length - 8 - 1 - 4 - 4;
  assert.equal(restore.readUInt32LE(countAt), 1);
  const bad = [reCrc(Buffer.from(restore).fill(7, countAt - 2, countAt - 1)), reCrc(Buffer.from(restore).fill(2, countAt, countAt + 1))];
  const zadd = encodeRecord(1, 1, [{ t: 'zadd', key: 'k', member: 'm', score: 1 }]);
  zadd.writeDoubleLE(Number.NaN, zadd.length - 8);
  bad.push(reCrc(zadd));
  for (const rec of bad) {
    const r = decodeRecord(rec, 0);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.why, 'format', r.detail);
  }
});

const CONFIG: MemberConfig = {
  members: new Map([
    ['n1', { address: '127.0.0.1:7001', voter: true, autoPromote: false }],
    ['n2', { address: '127.0.0.1:7002', voter: false, autoPromote: true }],
  ]),
};

/** The record `ops` would make, with `opCount` claimed and the CRC fixed (a hand-built body the encoder refuses to write). */
function forgedRecord(ops: Op[][]): Buffer {
  const parts = ops.map((o) => encodeRecord(1, 1, o));
  const body = Buffer.concat([(parts[0] as Buffer).subarray(8, 24), ...parts.map((r) => r.subarray(24))]);
  body.writeUInt32LE(ops.reduce((n, o) => n + o.length, 0), 12);
  const head = Buffer.alloc(8);
  head.writeUInt32LE(body.length, 0);
  head.writeUInt32LE(crc32c(body), 4);
  return Buffer.concat([head, body]);
}

test('a members op round-trips alone; recordMembersConfig finds its bytes and nothing in other entries', () => {
  const config = encodeMemberConfig(CONFIG);
  const entry: LogEntry = { epoch: 3, seq: 2 ** 33 + 5, ops: [{ t: 'members', config }] };
  assert.deepEqual(roundTrip(entry), entry);
  // At an offset: the record after another one.
  const other = encodeRecord(3, 1, [{ t: 'set', key: 'k', value: Buffer.from('v'), expireAtMs: 0 }]);
  const buf = Buffer.concat([other, encodeRecord(3, 2, entry.ops)]);
  assert.ok(checkRecord(buf, other.length).ok);
  assert.deepEqual(recordMembersConfig(buf, other.length), config);
  const notMembership: Op[][] = [
    [],
    [{ t: 'set', key: 'k', value: Buffer.from('v'), expireAtMs: 0 }],
    [{ t: 'acl', users: config }],
    [{ t: 'del', key: 'a' }, { t: 'del', key: 'b' }],
    [{ t: 'flushall' }, { t: 'acl', users: config }],
  ];
  for (const ops of notMembership) assert.equal(recordMembersConfig(encodeRecord(1, 1, ops), 0), null, JSON.stringify(ops.map((o) => o.t)));
  // An entry without ops, followed by a record whose first byte (its length's low byte) is the members tag.
  const next = encodeRecord(1, 2, [{ t: 'set', key: 'k', value: Buffer.alloc(242), expireAtMs: 0 }]);
  assert.equal(next[0], 20);
  assert.equal(recordMembersConfig(Buffer.concat([encodeRecord(1, 1, []), next]), 0), null);
});

test('a members op is refused when it shares its entry or holds no configuration: the writer asserts, the reader rejects as format', () => {
  const config = encodeMemberConfig(CONFIG);
  const members: Op = { t: 'members', config };
  const bytesOf = (text: string): Buffer => Buffer.from(text, 'utf8');
  const malformed = [
    bytesOf('{"v":2,"members":[["n1","127.0.0.1:7001",1,0]]}'), // an unknown form
    bytesOf('{"v":1,"members":[["n1","127.0.0.1:7001",0,1]]}'), // no voter
    bytesOf('{"v":1,"members":[["bad id","127.0.0.1:7001",1,0]]}'),
    bytesOf('not json'),
    Buffer.alloc(0),
  ];
  assert.throws(() => encodeRecord(1, 1, [members, { t: 'del', key: 'k' }]));
  assert.throws(() => encodeRecord(1, 1, [{ t: 'del', key: 'k' }, members]));
  for (const bad of malformed) assert.throws(() => encodeRecord(1, 1, [{ t: 'members', config: bad }]), bad.toString());
  // The same, forged with a valid CRC: a damaged record, never a configuration.
  const acl = (b: Buffer): Op => ({ t: 'acl', users: b });
  const forged = [
    forgedRecord([[members], [{ t: 'del', key: 'k' }]]),
    forgedRecord([[{ t: 'del', key: 'k' }], [members]]),
    // An acl op's bytes under the members tag (same layout).
    ...malformed.map((b) => {
      const rec = forgedRecord([[acl(b)]]);
      rec[24] = 20;
      rec.writeUInt32LE(crc32c(rec.subarray(8)), 4);
      return rec;
    }),
  ];
  for (const rec of forged) {
    const r = decodeRecord(rec, 0);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.why, 'format', r.detail);
  }
  // The forging itself is sound: the valid config under the members tag decodes.
  const good = forgedRecord([[acl(config)]]);
  good[24] = 20;
  good.writeUInt32LE(crc32c(good.subarray(8)), 4);
  const r = decodeRecord(good, 0);
  assert.ok(r.ok, r.ok ? '' : r.detail);
  assert.deepEqual(r.entry.ops, [members]);
});

// Hidden classes (docs/perf-notes.md, 'V8: hidden classes and deoptimization'). A seq read back from a record must be a small
// integer (V8 Smi) when it fits one: a heap double stored where positions held small integers
// changes the hidden class of every position, which deoptimizes whatever reads one. Likewise a
// compaction must leave the store's hidden class as it was, and an fsync round the log's.
// Checked in a child process started with --allow-natives-syntax (%IsSmi, %HaveSameMap); each
// line it prints is one check.
test('decoded seqs stay small integers; a compaction and an fsync round keep the store\'s and log\'s hidden classes', () => {
  const here = new URL('.', import.meta.url);
  const record = new URL('../src/storage/record.js', here).href;
  const store = new URL('../src/storage/store.js', here).href;
  const script = `
    import { encodeRecord, decodeRecord, recordSeqAt, lastRecordPosition, seqFromWords } from ${JSON.stringify(record)};
    import { openReplicatedStore as openStore } from ${JSON.stringify(store)};
    import { mkdtempSync, rmSync } from 'node:fs';
    import { tmpdir } from 'node:os';
    import { join } from 'node:path';
    const out = [];
    for (const seq of [1, 1000003]) {
      const buf = encodeRecord(3, seq, []);
      const d = decodeRecord(buf, 0);
      out.push('seq ' + seq + ' decodeRecord ' + (d.ok && %IsSmi(d.entry.seq)));
      out.push('seq ' + seq + ' recordSeqAt ' + %IsSmi(recordSeqAt(buf, 0)));
      out.push('seq ' + seq + ' lastRecordPosition ' + %IsSmi(lastRecordPosition(buf).seq));
    }
    out.push('seqFromWords(1, 5) ' + (seqFromWords(1, 5) === 2 ** 32 + 5));
    const dirs = [mkdtempSync(join(tmpdir(), 'kvts-map-')), mkdtempSync(join(tmpdir(), 'kvts-map-'))];
    const [a, b] = [await openStore({ dir: dirs[0], fsync: 'no' }), await openStore({ dir: dirs[1], fsync: 'no' })];
    for (const s of [a, b]) s.apply([{ t: 'set', key: 'k', value: Buffer.from('v'), expireAtMs: 0 }]);
    await a.compact();
    out.push('compacted ' + (a.stats().compactions === 1));
    out.push('same hidden class after a compaction ' + %HaveSameMap(a, b));
    await a.close(); await b.close();
    // The log's first fsync round (under always, on the loop as kv-server runs it).
    const [c, e] = [await openStore({ dir: dirs[0] + '-c', fsync: 'always', fsyncOnLoopMaxMs: 2 }), await openStore({ dir: dirs[1] + '-e', fsync: 'always', fsyncOnLoopMaxMs: 2 })];
    await c.whenDurable(c.apply([{ t: 'set', key: 'k', value: Buffer.from('v'), expireAtMs: 0 }]).seq);
    out.push('log keeps its hidden class after an fsync round ' + %HaveSameMap(c.wal, e.wal));
    await c.close(); await e.close();
    for (const d of [...dirs, dirs[0] + '-c', dirs[1] + '-e']) rmSync(d, { recursive: true, force: true });
    console.log(out.join('\\n'));
  `;
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 10, r.stdout);
  for (const l of lines) assert.match(l, / true$/, l);
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
