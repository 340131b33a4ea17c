// The bit commands (SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO), LCS and the
// GETRANGE/SETRANGE edge cases, differentially: one seeded random sequence (valid and nonsense
// arguments, RESP2 and RESP3, pipelined in batches, a DUMP/RESTORE round trip after each) goes
// to a real redis-server and to kv-server, replies must be byte-identical and the final values
// and expiry classes must agree. KV_SEED replays a seed.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKvServer, startRedisServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { rng, testSeed, type Rng } from './helpers/rng.js';
import { showReply, type Resp } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';
import { randomDumpRestore, runDumpRestore, showStep } from './helpers/dump-restore-step.js';

const COMMANDS_PER_SEED = 5_000;
const SEEDS = 10;
/** Commands sent as one pipeline to each server (every reply is compared byte for byte, in order). */
const PIPELINE_COMMANDS_MAX = 100;

const KEYS = ['b0', 'b1', 'b2', 'nokey', 'ttl'];
/** Offsets: small valid ones mostly; invalid and boundary ones sometimes (never a huge valid write). */
const BAD_OFFSETS = ['-1', 'x', '', '4294967296', '9223372036854775807', '1.5', '+3', ' 1'];
const BIG_READ_OFFSETS = ['4294967295', '100000000', '4294967288'];

function offset(r: Rng, write: boolean): string {
  const k = r.int(20);
  if (k === 0) return r.pick(BAD_OFFSETS);
  if (k === 1 && !write) return r.pick(BIG_READ_OFFSETS);
  return String(r.int(k < 10 ? 40 : 200));
}

function index(r: Rng): string {
  const k = r.int(12);
  if (k === 0) return r.pick(['x', '', '9223372036854775807', '-9223372036854775808', '1.0', '-0']);
  return String(r.int(60) - 30);
}

function value(r: Rng): Buffer {
  switch (r.int(4)) {
    case 0: return Buffer.alloc(0);
    case 1: return Buffer.from(r.pick(['\xff\xf0\x00', '\x00\x00\x00\xff', 'foobar', 'ohmytext', 'mynewtext', '\xff\xff\xff']), 'latin1');
    case 2: return Buffer.from(Array.from({ length: 1 + r.int(12) }, () => r.pick([0x00, 0xff, 0x0f, 0xf0, 0x80, 0x01])));
    default: return r.bytes(r.int(16));
  }
}

function fieldType(r: Rng): string {
  if (r.int(15) === 0) return r.pick(['u64', 'i65', 'i0', 'u0', 'x8', 'u', 'I8', 'U8', 'i8\x00z', '']);
  return `${r.pick(['i', 'u'])}${1 + r.int(r.int(3) === 0 ? 64 : 16)}`;
}

function fieldOffset(r: Rng, write: boolean): string {
  if (r.int(12) === 0) return r.pick(['#-1', '#x', '#', '-3', '#4294967296', '#9223372036854775807']);
  return r.int(3) === 0 ? `#${r.int(8)}` : offset(r, write);
}

function int64(r: Rng): string {
  return r.pick(['0', '1', '-1', '127', '128', '-128', '255', '256', '9223372036854775807', '-9223372036854775808', 'x', '1.5', String(r.int(2000) - 1000), String(r.int(100_000_000))]);
}

function bitfieldArgs(r: Rng, readOnly: boolean): Buffer[] {
  const args = [readOnly ? 'BITFIELD_RO' : 'BITFIELD', r.pick(KEYS)];
  const n = r.int(5);
  for (let i = 0; i < n; i++) {
    const k = r.int(readOnly ? 8 : 10);
    if (k < 4) args.push(r.pick(['GET', 'get']), fieldType(r), fieldOffset(r, false));
    else if (k < 6) args.push('SET', fieldType(r), fieldOffset(r, true), int64(r));
    else if (k < 8) args.push(r.pick(['INCRBY', 'incrby']), fieldType(r), fieldOffset(r, true), int64(r));
    else if (k < 9) args.push('OVERFLOW', r.pick(['WRAP', 'SAT', 'FAIL', 'fail', 'bogus']));
    else args.push(r.pick(['GET', 'SET', 'FOO', 'OVERFLOW']));
  }
  return args.map((a) => Buffer.from(a, 'latin1'));
}

function generate(r: Rng): Buffer[] {
  const s = (...a: string[]): Buffer[] => a.map((x) => Buffer.from(x, 'latin1'));
  const key = (): string => r.pick(KEYS);
  const k = r.int(100);
  if (k < 8) return [Buffer.from('SET'), Buffer.from(key()), value(r)];
  if (k < 18) return s('SETBIT', key(), offset(r, true), r.pick(['0', '1', '1', '0', '2', '-1', 'x']));
  if (k < 26) return s('GETBIT', key(), offset(r, false));
  if (k < 36) {
    const args = ['BITCOUNT', key()];
    const n = r.int(5);
    if (n >= 1) args.push(index(r));
    if (n >= 2) args.push(index(r));
    if (n >= 3) args.push(r.pick(['BIT', 'BYTE', 'bit', 'bits', 'x']));
    if (n >= 4) args.push('extra');
    return s(...args);
  }
  if (k < 48) {
    const args = ['BITPOS', key(), r.pick(['0', '1', '1', '0', '2', 'x', '-1'])];
    const n = r.int(5);
    if (n >= 1) args.push(index(r));
    if (n >= 2) args.push(index(r));
    if (n >= 3) args.push(r.pick(['BIT', 'BYTE', 'byte', 'x']));
    if (n >= 4) args.push('extra');
    return s(...args);
  }
  if (k < 56) {
    const op = r.pick(['AND', 'OR', 'XOR', 'NOT', 'not', 'and', 'NAND']);
    const srcs = Array.from({ length: r.int(4) }, key);
    return s('BITOP', op, key(), ...srcs);
  }
  if (k < 70) return bitfieldArgs(r, false);
  if (k < 74) return bitfieldArgs(r, true);
  if (k < 82) {
    const args = ['LCS', key(), key()];
    const n = r.int(4);
    for (let i = 0; i < n; i++) {
      const o = r.pick(['IDX', 'LEN', 'WITHMATCHLEN', 'MINMATCHLEN', 'idx', 'BOGUS']);
      args.push(o);
      if (o === 'MINMATCHLEN' && r.int(6) !== 0) args.push(r.pick(['0', '1', '2', '3', '-1', 'x', '9223372036854775807']));
    }
    return s(...args);
  }
  if (k < 86) return s('GETRANGE', key(), index(r), index(r));
  if (k < 90) return [Buffer.from('SETRANGE'), Buffer.from(key()), Buffer.from(r.pick(['0', '3', '17', '-1', 'x', '536870912', '9223372036854775807'])), r.int(3) === 0 ? Buffer.alloc(0) : value(r)];
  if (k < 93) return s('PEXPIRE', 'ttl', String(100_000_000 + r.int(1000)));
  if (k < 95) return s(r.pick(['SETBIT', 'GETBIT', 'BITCOUNT', 'BITPOS', 'BITOP', 'BITFIELD', 'LCS', 'BITFIELD_RO']));
  return s('GET', key());
}

const procs: RunningProcess[] = [];
const conns: RawConn[] = [];
after(async () => {
  for (const c of conns) c.close();
  for (const p of procs) await stopAndClean(p);
});

test('bit commands, LCS and GETRANGE/SETRANGE agree with redis-server 7 byte for byte (RESP2 and RESP3)', { timeout: 180_000 }, async (t) => {
  const redis = await startRedisServer();
  procs.push(redis);
  const kv = await startKvServer({ args: ['--fsync', 'no'] });
  procs.push(kv);
  const a = await RawConn.open(redis.port);
  const b = await RawConn.open(kv.port);
  conns.push(a, b);
  const base = testSeed(7300);
  for (let seed = base; seed < base + SEEDS; seed++) {
    const r = rng(seed);
    const proto = seed % 2 === 0 ? '2' : '3';
    for (const c of [a, b]) {
      await c.request('FLUSHALL');
      await c.request('HELLO', proto);
    }
    for (let start = 0; start < COMMANDS_PER_SEED; start += PIPELINE_COMMANDS_MAX) {
      const argvs = Array.from({ length: Math.min(PIPELINE_COMMANDS_MAX, COMMANDS_PER_SEED - start) }, () => generate(r));
      const shown = (j: number): string => `seed ${seed} (RESP${proto}) command #${start + j}: ${(argvs[j] as Buffer[]).map((x) => JSON.stringify(x.toString('latin1'))).join(' ')}`;
      const [ra, rb] = await Promise.all([a.requestMany(argvs), b.requestMany(argvs)]).catch((e: unknown) => {
        throw new Error(`seed ${seed} (RESP${proto}) commands #${start}..: ${String(e)}\nkv-server: ${kv.output().slice(-2000)}`);
      });
      ra.forEach((x, j) => {
        const y = rb[j] as Resp;
        if (showReply(x) !== showReply(y)) assert.fail(`${shown(j)}\n  redis: ${showReply(x)}\n  kv:    ${showReply(y)}`);
      });
      // A bit string's DUMP (binary, often long: LZF-compressed by redis-server, plain by kv-server) restored both ways.
      const step = randomDumpRestore(r, KEYS, Date.now());
      const problem = await runDumpRestore(a, b, step);
      if (problem !== null) assert.fail(`seed ${seed} (RESP${proto}) after command #${start + argvs.length - 1}: ${showStep(step)}\n  ${problem}`);
    }
    for (const key of KEYS) {
      for (const cmd of ['GET', 'TTL']) {
        const [ra, rb] = await Promise.all([a.request(cmd, key), b.request(cmd, key)]);
        assert.equal(showReply(rb), showReply(ra), `seed ${seed} final ${cmd} ${key}`);
      }
    }
  }
  t.diagnostic(`seeds ${base}..${base + SEEDS - 1}, ${COMMANDS_PER_SEED} commands each`);
});

test('bit writes are logged as their resulting value: a restart replays to the same strings and expiry', { timeout: 60_000 }, async () => {
  const kv = await startKvServer({ args: ['--fsync', 'always'] });
  procs.push(kv);
  const c = await RawConn.open(kv.port);
  conns.push(c);
  assert.equal(await c.call('SETBIT', 'k', '9', '1'), 0);
  assert.equal(await c.call('PEXPIRE', 'k', '100000000'), 1);
  assert.deepEqual(await c.call('BITFIELD', 'k', 'INCRBY', 'u4', '#3', '7'), [7]);
  assert.equal(await c.call('BITOP', 'OR', 'd', 'k', 'nokey'), 2);
  // SETBIT 9 sets 0x40 of byte 1; INCRBY u4 at #3 (bits 12..15) adds 7 to its low nibble.
  const before = [await c.call('GET', 'k'), await c.call('GET', 'd')];
  assert.deepEqual(before, ['\x00\x47', '\x00\x47']);
  const ttl = await c.call('PTTL', 'k');
  assert.ok(typeof ttl === 'number' && ttl > 99_000_000, `SETBIT/BITFIELD keep the expiry (PTTL ${String(ttl)})`);
  c.close();
  const dir = kv.dir;
  await kv.kill('SIGKILL');
  const again = await startKvServer({ dir, args: ['--fsync', 'always'] });
  procs.push(again);
  const c2 = await RawConn.open(again.port);
  conns.push(c2);
  assert.deepEqual([await c2.call('GET', 'k'), await c2.call('GET', 'd')], before);
  const ttl2 = await c2.call('PTTL', 'k');
  assert.ok(typeof ttl2 === 'number' && ttl2 > 99_000_000);
});
