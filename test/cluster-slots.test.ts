// Redis Cluster hash slots (src/replication/cluster/slots.ts): CRC16/XMODEM check values, the
// hash-tag rules, and a differential run against a real redis-server started with
// --cluster-enabled yes (CLUSTER KEYSLOT answers without any slot assigned) over seeded random
// keys, many of them with braces.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { CLUSTER_SLOTS, crc16, keySlot } from '../src/replication/cluster/slots.js';
import { startRedisClusterNode, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { rng, testSeed } from './helpers/rng.js';
import { RawConn } from './helpers/server-conn.js';

/** Keys compared with redis-server (pipelined in batches). */
const DIFF_KEYS = 20_000;
const DIFF_BATCH = 500;

const slot = (s: string): number => keySlot(Buffer.from(s, 'utf8'));

test('crc16 is CRC-16/XMODEM (check value of "123456789")', () => {
  assert.equal(crc16(Buffer.from('123456789')), 0x31c3);
  assert.equal(crc16(Buffer.alloc(0)), 0);
  assert.equal(crc16(Buffer.from('A')), 0x58e5);
});

test('keySlot: known slots and the hash-tag rules', () => {
  assert.equal(slot('123456789'), 0x31c3 % CLUSTER_SLOTS);
  assert.equal(slot('foo'), 12182);
  assert.equal(slot('bar'), 5061);
  assert.equal(slot(''), 0);
  // Only the tag is hashed.
  assert.equal(slot('{user1000}.following'), slot('user1000'));
  assert.equal(slot('{user1000}.followers'), slot('user1000'));
  // The first '{' and the first '}' after it; an empty tag hashes the whole key.
  assert.equal(slot('foo{}{bar}'), crc16(Buffer.from('foo{}{bar}')) % CLUSTER_SLOTS);
  assert.equal(slot('foo{{bar}}zap'), slot('{bar'));
  assert.equal(slot('foo{bar}{zap}'), slot('bar'));
  assert.equal(slot('{bar'), crc16(Buffer.from('{bar')) % CLUSTER_SLOTS);
  assert.equal(slot('}bar{'), crc16(Buffer.from('}bar{')) % CLUSTER_SLOTS);
  assert.equal(slot('a}{b}'), slot('b'));
  // Binary keys: bytes, not characters.
  assert.equal(keySlot(Buffer.from([0xff, 0x7b, 0x00, 0x7d])), keySlot(Buffer.from([0x00])));
  assert.equal(keySlot(new Uint8Array(Buffer.from('x{y}'))), slot('y'));
});

let redis: RunningProcess | undefined;
before(async () => {
  redis = await startRedisClusterNode();
});
after(async () => {
  await stopAndClean(redis);
});

/** Short keys over an alphabet rich in braces, or random bytes. */
function randomKey(r: ReturnType<typeof rng>): Buffer {
  if (r.int(4) === 0) return r.bytes(r.int(24));
  const alphabet = ['{', '}', '{', '}', 'a', 'b', 'user', '1', '\x00', 'é', ':', '{}'];
  let s = '';
  for (let n = r.int(10); n > 0; n--) s += r.pick(alphabet);
  return Buffer.from(s, 'utf8');
}

test('keySlot equals redis-server CLUSTER KEYSLOT over seeded random keys', async () => {
  const seed = testSeed(16384);
  const r = rng(seed);
  const conn = await RawConn.open((redis as RunningProcess).port);
  try {
    for (let done = 0; done < DIFF_KEYS; done += DIFF_BATCH) {
      const keys = Array.from({ length: DIFF_BATCH }, () => randomKey(r));
      const replies = await conn.requestMany(keys.map((k) => ['CLUSTER', 'KEYSLOT', k]));
      keys.forEach((k, i) => {
        const want = replies[i];
        assert.deepEqual({ key: k.toString('hex'), slot: keySlot(k) }, { key: k.toString('hex'), slot: want?.t === 'int' ? Number(want.n) : want }, `seed ${seed}`);
      });
    }
  } finally {
    conn.close();
  }
});

test('keySlot of a binary string (a keyspace key) equals keySlot of its bytes', () => {
  const r = rng(testSeed(7));
  for (let i = 0; i < 2000; i++) {
    const k = randomKey(r);
    assert.equal(keySlot(k.toString('latin1')), keySlot(k), k.toString('hex'));
  }
});
