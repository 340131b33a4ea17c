// Stream commands on a running kv-server, for what the differential test cannot see: each write is
// one log entry and a read logs none; XADD '*' ids follow the clock and never go back; blocked
// XREAD and XREADGROUP are served by another client's XADD in the order they blocked, time out,
// answer CLIENT UNBLOCK, and a blocked XREADGROUP learns of a deleted key or a destroyed group
// with Redis's errors; streams with groups survive SIGKILL and restart (DEBUG DIGEST agrees); a
// replica reaches the primary's digest, refuses XREADGROUP and serves a blocked XREAD.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kvServersPerFile } from './helpers/procs.js';
import { assertNoEntry, assertOneEntryEach, type RawConn } from './helpers/server-conn.js';
import { cmd, showReply } from './helpers/resp.js';
import { info } from './helpers/info.js';
import { waitFor } from './helpers/wait.js';

const { open, conn, killAndReopen, primaryAndReplica } = kvServersPerFile();

test('every stream write is one log entry, reads log none; * ids follow the clock', async () => {
  const { c } = await open();
  const writes: string[][] = [
    ['XADD', 's', 'MAXLEN', '~', '10', '1-1', 'a', '1'],
    ['XADD', 's', '*', 'b', '2'],
    ['XGROUP', 'CREATE', 's', 'g', '0'],
    ['XREADGROUP', 'GROUP', 'g', 'c1', 'COUNT', '1', 'STREAMS', 's', '>'],
    ['XCLAIM', 's', 'g', 'c2', '0', '1-1'],
    ['XACK', 's', 'g', '1-1'],
    ['XDEL', 's', '1-1'],
    ['XTRIM', 's', 'MAXLEN', '0'],
    ['XSETID', 's', '99999999999999-0'],
    ['XGROUP', 'DESTROY', 's', 'g'],
  ];
  await assertOneEntryEach(c, writes);
  await assertNoEntry(c, [['XRANGE', 's', '-', '+'], ['XLEN', 's'], ['XREAD', 'STREAMS', 's', '0'], ['XINFO', 'STREAM', 's'], ['XDEL', 's', '5-5'], ['XADD', 'none', 'NOMKSTREAM', '*', 'a', 'b']]);
  // '*' after a last id in the future keeps counting from it.
  assert.equal(await c.show('XADD', 's', '*', 'x', 'y'), '"99999999999999-1"');
  const now = Date.now();
  const id = (await c.show('XADD', 't', '*', 'x', 'y')).replace(/"/g, '');
  const ms = Number(id.split('-')[0]);
  assert.ok(ms >= now - 1000 && ms <= now + 60_000, `${id} near ${now}`);
  assert.equal(await c.show('TYPE', 't'), '+stream');
  assert.equal(await c.show('OBJECT', 'ENCODING', 't'), '"stream"');
});

test('blocked XREAD and XREADGROUP: served in blocking order, timeouts, CLIENT UNBLOCK, deleted key and destroyed group', async () => {
  const { server, c } = await open();
  const [r1, r2, g1, g2] = [await conn(server.port), await conn(server.port), await conn(server.port), await conn(server.port)];
  await c.request('XGROUP', 'CREATE', 'q', 'grp', '$', 'MKSTREAM');
  r1.send(cmd('XREAD', 'BLOCK', '0', 'STREAMS', 'q', '$'));
  r2.send(cmd('XREAD', 'BLOCK', '0', 'STREAMS', 'q', '$'));
  g1.send(cmd('XREADGROUP', 'GROUP', 'grp', 'c1', 'BLOCK', '0', 'STREAMS', 'q', '>'));
  g2.send(cmd('XREADGROUP', 'GROUP', 'grp', 'c2', 'BLOCK', '0', 'STREAMS', 'q', '>'));
  // Wait until all four are blocked.
  for (let i = 0; i < 200 && !(await c.show('INFO', 'clients')).includes('blocked_clients:4'); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(await c.show('XADD', 'q', '5-1', 'f', 'v'), '"5-1"');
  const want = '[["q", [["5-1", ["f", "v"]]]]]';
  assert.equal(showReply(await r1.readResp()), want);
  assert.equal(showReply(await r2.readResp()), want);
  // One entry for the group: the consumer that blocked first gets it, the other keeps waiting.
  assert.equal(showReply(await g1.readResp()), want);
  assert.equal(await c.show('XADD', 'q', '5-2', 'f', 'w'), '"5-2"');
  assert.equal(showReply(await g2.readResp()), '[["q", [["5-2", ["f", "w"]]]]]');
  assert.equal(await c.show('XPENDING', 'q', 'grp', '-', '+', '10', 'c2').then((s) => s.includes('"5-2"')), true);
  // A timeout answers a null array; CLIENT UNBLOCK answers one too (or the error).
  assert.equal(await r1.show('XREAD', 'BLOCK', '50', 'STREAMS', 'q', '$'), '*nil');
  const id = (await r2.show('CLIENT', 'ID')).slice(1);
  r2.send(cmd('XREAD', 'BLOCK', '0', 'STREAMS', 'q', '$'));
  for (let i = 0; i < 200 && (await c.show('CLIENT', 'UNBLOCK', id)) !== ':1'; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(showReply(await r2.readResp()), '*nil');
  // A blocked XREADGROUP learns that its group went, or its key.
  g1.send(cmd('XREADGROUP', 'GROUP', 'grp', 'c1', 'BLOCK', '0', 'STREAMS', 'q', '>'));
  for (let i = 0; i < 200 && !(await c.show('INFO', 'clients')).includes('blocked_clients:1'); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(await c.show('XGROUP', 'DESTROY', 'q', 'grp'), ':1');
  assert.equal(showReply(await g1.readResp()), '-NOGROUP the consumer group this client was blocked on no longer exists');
  await c.request('XGROUP', 'CREATE', 'q', 'grp', '$');
  g1.send(cmd('XREADGROUP', 'GROUP', 'grp', 'c1', 'BLOCK', '0', 'STREAMS', 'q', '>'));
  for (let i = 0; i < 200 && !(await c.show('INFO', 'clients')).includes('blocked_clients:1'); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(await c.show('DEL', 'q'), ':1');
  assert.equal(showReply(await g1.readResp()), '-UNBLOCKED the stream key no longer exists');
  // Inside MULTI a blocking read answers at once.
  await c.request('MULTI');
  await c.request('XREAD', 'BLOCK', '0', 'STREAMS', 'q', '$');
  assert.equal(await c.show('EXEC'), '[*nil]');
});

test('streams with groups survive SIGKILL and restart under fsync always; DEBUG DIGEST agrees', async () => {
  const first = await open(['--fsync', 'always']);
  const { c } = first;
  for (let i = 1; i <= 450; i++) await c.request('XADD', 'big', `${i}-0`, 'n', String(i));
  await c.request('XTRIM', 'big', 'MAXLEN', '~', '300');
  await c.request('XDEL', 'big', '400-0');
  await c.request('XGROUP', 'CREATE', 'big', 'g', '0');
  await c.request('XREADGROUP', 'GROUP', 'g', 'alice', 'COUNT', '3', 'STREAMS', 'big', '>');
  await c.request('XCLAIM', 'big', 'g', 'bob', '0', '101-0', 'RETRYCOUNT', '7');
  const reads = async (conn2: RawConn): Promise<string[]> => [
    await conn2.show('XINFO', 'STREAM', 'big'),
    await conn2.show('XRANGE', 'big', '-', '+', 'COUNT', '5'),
    await conn2.show('XPENDING', 'big', 'g'),
    await conn2.show('XINFO', 'GROUPS', 'big'),
  ];
  const want = await reads(c);
  const digest = await c.show('DEBUG', 'DIGEST');
  const second = await killAndReopen(first.server, ['--fsync', 'always']);
  assert.deepEqual(await reads(second.c), want);
  assert.equal(await second.c.show('DEBUG', 'DIGEST'), digest);
  // The node layout survived too: the next ~ trim removes the same whole nodes.
  assert.equal(await second.c.show('XTRIM', 'big', 'MAXLEN', '~', '150'), ':100');
});

test('a replica applies streams to the primary\'s DEBUG DIGEST; XREADGROUP there is a write (READONLY), XREAD BLOCK is served by replication', { timeout: 60_000 }, async () => {
  const { primary: p, replica: rep } = await primaryAndReplica();
  const pc = await conn(p.port);
  const rc = await conn(rep.port);
  await waitFor('the replica is linked', async () => (await info(rep.port)).get('master_link_status') === 'up');
  const r = await rc.request('XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', 'rs', '>');
  assert.equal(showReply(r), `-READONLY You can't write against a read only replica. primary=127.0.0.1:${p.port}`);
  // A reader blocked on the replica is served when the primary's XADD arrives.
  const reader = await conn(rep.port);
  reader.send(cmd('XREAD', 'BLOCK', '0', 'STREAMS', 'rs', '$'));
  await waitFor('blocked on the replica', async () => (await rc.show('INFO', 'clients')).includes('blocked_clients:1'), { intervalMs: 5 });
  await pc.request('XADD', 'rs', '1-1', 'a', '1');
  assert.equal(showReply(await reader.readResp()), '[["rs", [["1-1", ["a", "1"]]]]]');
  // Writes of every kind, with times resolved on the primary.
  for (let i = 2; i <= 300; i++) await pc.request('XADD', 'rs', 'MAXLEN', '~', '150', `${i}-0`, 'n', String(i));
  await pc.request('XADD', 'auto', '*', 'x', 'y');
  await pc.request('XGROUP', 'CREATE', 'rs', 'g', '0');
  await pc.request('XREADGROUP', 'GROUP', 'g', 'alice', 'COUNT', '5', 'STREAMS', 'rs', '>');
  await pc.request('XCLAIM', 'rs', 'g', 'bob', '0', '201-0');
  await pc.request('XAUTOCLAIM', 'rs', 'g', 'carol', '0', '0', 'COUNT', '2');
  await pc.request('XACK', 'rs', 'g', '202-0');
  await pc.request('XDEL', 'rs', '250-0');
  await pc.request('XTRIM', 'rs', 'MINID', '210');
  const want = await pc.show('DEBUG', 'DIGEST');
  await waitFor('the replica reaches the primary\'s digest', async () => (await rc.show('DEBUG', 'DIGEST')) === want);
  assert.equal(await rc.show('XINFO', 'GROUPS', 'rs'), await pc.show('XINFO', 'GROUPS', 'rs'));
});
