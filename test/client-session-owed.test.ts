// Session mode when the POSITION pipelined after an acknowledged write never arrives: the
// client asks that node again before its next read, and if it cannot, reads fail with
// SessionLostError instead of silently dropping read-your-writes. Two scripted RESP nodes on
// 127.0.0.1 stand in for a primary and a replica, so the lost reply is exact, not timing luck.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KvClient, SessionLostError } from '../src/client/index.js';
import { bulk, fakeNode, portOf, primaryRole } from './helpers/fake-node.js';

test('session: a write whose POSITION reply was lost is asked for again before the next read', async () => {
  const primary = await fakeNode(primaryRole(), '1:7');
  const kv = await KvClient.connect({ seeds: [primary.address], consistency: 'session', refreshIntervalMs: 0, timeoutMs: 3000 });
  try {
    primary.dropNextPosition = true;
    assert.equal(await kv.set('k', 'v'), 'OK'); // acknowledged: the write ran
    assert.equal(kv.sessionToken(), null); // ...but its position never arrived
    assert.equal(await kv.get('k'), 'v');
    assert.equal(kv.sessionToken(), '1:7');
    // After the SET: the lost POSITION, the owed one asked again, then the read.
    const afterSet = primary.seen.lastIndexOf('SET');
    const order = primary.seen.slice(afterSet + 1).filter((c) => c === 'POSITION' || c === 'GET');
    assert.deepEqual(order.slice(0, 3), ['POSITION', 'POSITION', 'GET']);
  } finally {
    await kv.close();
    await primary.stop();
  }
});

test('session: if the node that acknowledged the write cannot be asked, reads throw SessionLostError until resetSession()', async () => {
  let replicaPort = 0;
  const primary = await fakeNode(primaryRole(() => [replicaPort]), '1:7');
  const replica = await fakeNode(() => `*5\r\n${bulk('slave')}${bulk('127.0.0.1')}:${portOf(primary)}\r\n${bulk('connected')}:0\r\n`, '1:7');
  replicaPort = portOf(replica);
  const kv = await KvClient.connect({ seeds: [primary.address], consistency: 'session', readFrom: 'replica', refreshIntervalMs: 0, timeoutMs: 3000 });
  try {
    assert.deepEqual(kv.topology()?.replicas, [replica.address]);
    primary.dropNextPosition = true;
    assert.equal(await kv.set('k', 'v'), 'OK');
    await primary.stop();
    await assert.rejects(kv.get('k'), (e: unknown) => e instanceof SessionLostError && /never arrived/.test(e.message));
    await assert.rejects(kv.get('k'), SessionLostError); // still owed: no silent recovery
    kv.resetSession();
    assert.equal(await kv.get('k'), 'v'); // the application accepted the loss
  } finally {
    await kv.close();
    await replica.stop();
  }
});

test('session: a pipeline owes a lost POSITION and settles it before its reads, like single commands', async () => {
  const primary = await fakeNode(primaryRole(), '1:7');
  const kv = await KvClient.connect({ seeds: [primary.address], consistency: 'session', refreshIntervalMs: 0, timeoutMs: 3000 });
  try {
    primary.dropNextPosition = true;
    assert.deepEqual(await kv.pipeline().set('k', 'v').incr('n').exec(), [
      [null, 'OK'],
      [null, 'OK'],
    ]); // acknowledged: the writes ran
    assert.equal(kv.sessionToken(), null);
    assert.deepEqual(await kv.pipeline().get('k').exec(), [[null, 'v']]);
    assert.equal(kv.sessionToken(), '1:7');
    const afterSet = primary.seen.lastIndexOf('INCR');
    const order = primary.seen.slice(afterSet + 1).filter((c) => c === 'POSITION' || c === 'GET');
    assert.deepEqual(order.slice(0, 3), ['POSITION', 'POSITION', 'GET']);
  } finally {
    await kv.close();
    await primary.stop();
  }
});
