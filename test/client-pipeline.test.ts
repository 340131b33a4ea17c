// KvClient pipelines against scripted RESP nodes on 127.0.0.1: a batch goes through the same
// retry policy as a single command, as a whole. Refused reads (TOOSTALE, a quorum read's
// NOQUORUM) are resent; writes refused by a replica follow the redirect; a write that ran is
// never resent, and errors that are results stay in their slots.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KvClient, NoQuorumError, ReadOnlyError, TooStaleError } from '../src/client/index.js';
import { fakeNode, primaryRole } from './helpers/fake-node.js';

const fast = { refreshIntervalMs: 0, timeoutMs: 3000, backoffBaseMs: 5, backoffMaxMs: 20 } as const;

test('pipeline: a TOOSTALE read is resent (the batch did nothing else)', async () => {
  const primary = await fakeNode(primaryRole(), '1:1');
  const kv = await KvClient.connect({ seeds: [primary.address], ...fast });
  try {
    primary.failNext.set('GET', ['TOOSTALE replica is 3 ops / 40 ms behind; primary=unknown (lagging)']);
    assert.deepEqual(await kv.pipeline().get('a').get('b').exec(), [
      [null, 'v'],
      [null, 'v'],
    ]);
    assert.equal(primary.seen.filter((c) => c === 'GET').length, 4, 'both GETs sent twice');
  } finally {
    await kv.close();
    await primary.stop();
  }
});

test('pipeline: a TOOSTALE read next to a write that ran is a result, not a resend', async () => {
  const primary = await fakeNode(primaryRole(), '1:1');
  const kv = await KvClient.connect({ seeds: [primary.address], ...fast });
  try {
    primary.failNext.set('GET', ['TOOSTALE replica is 3 ops / 40 ms behind; primary=unknown (lagging)']);
    const [incr, get] = await kv.pipeline().incr('n').get('a').exec();
    assert.deepEqual(incr, [null, 'OK']);
    assert.ok(get !== undefined && get[0] instanceof TooStaleError);
    assert.equal(primary.seen.filter((c) => c === 'INCR').length, 1);
  } finally {
    await kv.close();
    await primary.stop();
  }
});

test("pipeline, quorum mode: a read without quorum is resent; a write's NOQUORUM stays in its slot", async () => {
  const primary = await fakeNode(primaryRole(), '1:1');
  const kv = await KvClient.connect({ seeds: [primary.address], consistency: 'quorum', ...fast });
  try {
    primary.failNext.set('GET', ['NOQUORUM read not confirmed by a majority (timed out); retry']);
    assert.deepEqual(await kv.pipeline().get('a').exec(), [[null, 'v']]);
    assert.equal(primary.seen.filter((c) => c === 'GET').length, 2);

    primary.failNext.set('SET', ['NOQUORUM outcome unknown: the write may or may not take effect (timed out)']);
    const [set] = await kv.pipeline().set('k', 'v').exec();
    assert.ok(set !== undefined && set[0] instanceof NoQuorumError && set[0].outcomeUnknown);
    assert.equal(primary.seen.filter((c) => c === 'SET').length, 1, 'never resent');
  } finally {
    await kv.close();
    await primary.stop();
  }
});

test('pipeline: writes refused by a replica follow its redirect; a write that ran is not resent', async () => {
  const primary = await fakeNode(primaryRole(), '2:1');
  // The client's first view names `stale` the primary; it has become a replica of `primary`.
  const stale = await fakeNode(primaryRole(), '1:1');
  const kv = await KvClient.connect({ seeds: [stale.address], ...fast });
  try {
    const readOnly = `READONLY You can't write against a read only replica. primary=${primary.address}`;
    stale.failNext.set('SET', [readOnly, readOnly]);
    assert.deepEqual(await kv.pipeline().set('a', '1').set('b', '2').exec(), [
      [null, 'OK'],
      [null, 'OK'],
    ]);
    assert.equal(primary.seen.filter((c) => c === 'SET').length, 2, 'both SETs ran on the primary named');
    assert.equal(kv.topology()?.primary, primary.address);

    primary.failNext.set('SET', [`READONLY You can't write against a read only replica. primary=${stale.address}`]);
    const [incr, set] = await kv.pipeline().incr('n').set('c', '3').exec();
    assert.deepEqual(incr, [null, 'OK']);
    assert.ok(set !== undefined && set[0] instanceof ReadOnlyError);
    assert.equal(primary.seen.filter((c) => c === 'INCR').length, 1, 'INCR ran: the batch is not resent');
  } finally {
    await kv.close();
    await primary.stop();
    await stale.stop();
  }
});
