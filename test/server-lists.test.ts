// List commands on a running kv-server, for what the differential test cannot see: each write is
// one log entry (POSITION moves by one) and a read logs nothing; a command that empties a list
// removes the key; a long list keeps its ends cheap and its memory per element small, and DEL of
// it returns at once; lists and their expiries survive a SIGKILL and restart under fsync always;
// DEBUG DIGEST-VALUE follows a list's order.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kvServersPerFile } from './helpers/procs.js';
import { assertNoEntry, assertOneEntryEach, type RawConn } from './helpers/server-conn.js';
import { cmd, showReply } from './helpers/resp.js';
import { waitFor } from './helpers/wait.js';

const { open, killAndReopen } = kvServersPerFile();

test('every list write is one log entry, a read or a no-op logs none; an emptied list is gone', async () => {
  const { c } = await open();
  const writes: string[][] = [
    ['RPUSH', 'l', 'a', 'b', 'c', 'd', 'e'],
    ['LPUSH', 'l', 'x', 'y'],
    ['LSET', 'l', '-1', 'E'],
    ['LINSERT', 'l', 'AFTER', 'c', 'c2'],
    ['LREM', 'l', '0', 'a'],
    ['LTRIM', 'l', '1', '-2'],
    ['LMOVE', 'l', 'm', 'LEFT', 'RIGHT'],
    ['LMOVE', 'l', 'l', 'RIGHT', 'LEFT'],
    ['RPOPLPUSH', 'm', 'l'],
    ['LMPOP', '2', 'none', 'l', 'RIGHT', 'COUNT', '2'],
    ['LPOP', 'l'],
  ];
  await assertOneEntryEach(c, writes);
  await assertNoEntry(c, [['LRANGE', 'l', '0', '-1'], ['LLEN', 'l'], ['LINDEX', 'l', '0'], ['LPOS', 'l', 'b'], ['LPUSHX', 'none', 'v'], ['LREM', 'l', '0', 'zzz'], ['LINSERT', 'l', 'BEFORE', 'zzz', 'v'], ['LPOP', 'none']]);
  // Empty it: the key goes, with its expiry.
  assert.equal(await c.show('EXPIRE', 'l', '1000'), ':1');
  const len = Number(showReply(await c.request('LLEN', 'l')).slice(1));
  assert.equal(await c.show('RPOP', 'l', String(len + 5)).then((s) => s.startsWith('*') || s.startsWith('[')), true);
  assert.equal(await c.show('EXISTS', 'l'), ':0');
  assert.equal(await c.show('TYPE', 'l'), '+none');
  assert.equal(await c.show('RPUSH', 'l', 'again'), ':1');
  assert.equal(await c.show('TTL', 'l'), ':-1');
});

test('a long list: pushes and pops at the ends, LINDEX and LRANGE near them, small memory per element, DEL at once', async () => {
  const { c } = await open();
  const n = 1_000_000;
  const batch = 1000;
  // Pipelined: send a window of pushes, then read their replies in order.
  const window = 50;
  for (let i = 0; i < n; i += batch * window) {
    let sent = 0;
    for (let k = i; k < Math.min(n, i + batch * window); k += batch, sent++) {
      const args = ['RPUSH', 'big'];
      for (let j = k; j < k + batch; j++) args.push(String(j));
      c.send(cmd(...args));
    }
    for (; sent > 0; sent--) assert.equal((await c.readResp()).t, 'int');
  }
  assert.equal(await c.show('LLEN', 'big'), `:${n}`);
  assert.equal(await c.show('LINDEX', 'big', '0'), '"0"');
  assert.equal(await c.show('LINDEX', 'big', '-1'), `"${n - 1}"`);
  assert.equal(await c.show('LINDEX', 'big', String(n / 2)), `"${n / 2}"`);
  const tail = await c.request('LRANGE', 'big', '-3', '-1');
  assert.ok(tail.t === 'array' && tail.a !== null && tail.a.map(showReply).join(',') === `"${n - 3}","${n - 2}","${n - 1}"`);
  // Ends stay O(1): many pushes and pops on the long list answer as fast as on a short one.
  const t0 = Date.now();
  for (let i = 0; i < 200; i++) {
    await c.request('LPUSH', 'big', 'h');
    await c.request('RPOP', 'big');
  }
  assert.ok(Date.now() - t0 < 5_000, 'pushes and pops at the ends of a 1M list');
  assert.equal(await c.show('LINDEX', 'big', '199'), '"h"');
  const usage = Number(showReply(await c.request('MEMORY', 'USAGE', 'big')).slice(1));
  assert.ok(usage > n && usage < n * 16, `MEMORY USAGE ${usage} for ${n} short elements`);
  const t1 = Date.now();
  assert.equal(await c.show('DEL', 'big'), ':1');
  assert.ok(Date.now() - t1 < 1_000, 'DEL of a long list drops a reference');
  assert.equal(await c.show('PING'), '+PONG');
});

test('lists and their expiries survive SIGKILL and restart under fsync always; DEBUG DIGEST agrees and follows order', async () => {
  const first = await open(['--fsync', 'always']);
  const { c } = first;
  await c.request('RPUSH', 'a', '1', '2', '3', 'x\x00y', '');
  await c.request('LPUSH', 'b', ...Array.from({ length: 500 }, (_, i) => `e${i}`));
  await c.request('LTRIM', 'b', '10', '-10');
  await c.request('LINSERT', 'b', 'BEFORE', 'e100', 'mid');
  await c.request('LMOVE', 'a', 'c', 'LEFT', 'LEFT');
  await c.request('PEXPIRE', 'c', '100000000');
  const ranges = async (conn: RawConn): Promise<string[]> => {
    const out: string[] = [];
    for (const k of ['a', 'b', 'c']) out.push(await conn.show('LRANGE', k, '0', '-1'));
    return out;
  };
  const want = await ranges(c);
  const digest = await c.show('DEBUG', 'DIGEST');
  const second = await killAndReopen(first.server, ['--fsync', 'always']);
  assert.deepEqual(await ranges(second.c), want);
  assert.equal(await second.c.show('DEBUG', 'DIGEST'), digest);
  const ttl = Number(showReply(await second.c.request('PTTL', 'c')).slice(1));
  assert.ok(ttl > 0 && ttl <= 100_000_000);
  // Order is part of a list's value: the same elements in another order digest differently.
  await second.c.request('RPUSH', 'p', 'x', 'y');
  await second.c.request('RPUSH', 'q', 'y', 'x');
  assert.notEqual(await second.c.show('DEBUG', 'DIGEST-VALUE', 'p'), await second.c.show('DEBUG', 'DIGEST-VALUE', 'q'));
  // A list key expires like any other.
  await second.c.request('PEXPIRE', 'p', '50');
  await waitFor('p to expire', async () => (await second.c.show('EXISTS', 'p')) === ':0');
});
