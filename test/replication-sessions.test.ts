// SESSION tokens and expiry in a replication group (in-process servers with injected clocks, the
// replicas behind proxies that can cut them off): a read on the primary that finds a key expired
// logs its delete, and the POSITION taken after it covers that delete, so no replica serves the
// key to that session again, whether its clock hides the key or it still serves it to others;
// once the delete arrives every member agrees. Members reopened with their clocks stepped back
// an hour do not bring back a key the primary reported expired.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { openReplicatedStore } from '../src/storage/store.js';
import type { ReplicatedStore } from '../src/storage/api.js';
import { KvServer } from '../src/server/server.js';
import { defaultConfig } from '../src/server/config.js';
import { DEFAULT_REPLICATION_FLAGS, attachReplication } from '../src/replication/host/attach.js';
import { datasetDigestHex } from '../src/server/commands/digest.js';
import { RawConn } from './helpers/server-conn.js';
import { ReplyError, type Reply } from './helpers/resp.js';
import { TcpProxy } from './helpers/proxy.js';
import { tempDir } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

interface Member {
  readonly dir: string;
  readonly server: KvServer;
  readonly store: ReplicatedStore;
  readonly port: number;
}

const members: Member[] = [];
const proxies: TcpProxy[] = [];
const conns: RawConn[] = [];
after(async () => {
  for (const c of conns) c.close();
  for (const m of members) await m.server.close().catch(() => undefined);
  for (const p of proxies) await p.close();
  for (const m of members) rmSync(m.dir, { recursive: true, force: true });
});

/** A kv-server in this process whose store reads `now`; a replica of `replicaOf` when given. */
async function startMember(now: () => number, replicaOf: string | null): Promise<Member> {
  const dir = tempDir('kvts-sessions-');
  const store = await openReplicatedStore({ dir, fsync: 'no', now, onWarning: () => undefined });
  const server = new KvServer({ config: { ...defaultConfig(), port: 0, host: '127.0.0.1', dir, fsync: 'no' }, store, log: quiet });
  const { port } = await server.listen();
  await attachReplication(server, store, { ...DEFAULT_REPLICATION_FLAGS, replicaOf }, `127.0.0.1:${port}`, quiet);
  const m = { dir, server, store, port };
  members.push(m);
  return m;
}

async function conn(m: Member): Promise<RawConn> {
  const c = await RawConn.open(m.port);
  conns.push(c);
  return c;
}

/** Present `token` on `c` until the node has applied it (the server waits 100 ms per try). */
async function presentWhenApplied(c: RawConn, token: string, what: string): Promise<void> {
  await waitFor(what, async () => (await c.call('CONSISTENCY', 'SESSION', token)) === 'OK', { timeoutMs: 10_000 });
}

function isTooStale(r: Reply): boolean {
  return r instanceof ReplyError && /^TOOSTALE /.test(r.message);
}

test('a POSITION taken after a read that expired a key covers the delete: no replica serves that key to the session again, behind or ahead of the clock', async () => {
  const base = Date.now();
  let primaryAheadMs = 0;
  const p = await startMember(() => Date.now() + primaryAheadMs, null);
  // One replica's clock runs behind the primary's (it still serves the key), one's ahead (it hides it).
  const pxBehind = await TcpProxy.start(p.port);
  const pxAhead = await TcpProxy.start(p.port);
  proxies.push(pxBehind, pxAhead);
  const behind = await startMember(() => Date.now(), pxBehind.address);
  const ahead = await startMember(() => Date.now() + 2 * MINUTE_MS, pxAhead.address);

  const c = await conn(p);
  assert.equal(await c.call('SET', 'k', 'v', 'PXAT', String(base + MINUTE_MS)), 'OK');
  assert.equal(await c.call('SET', 'plain', 'p'), 'OK');
  const written = (await c.call('POSITION')) as string;
  const cb = await conn(behind);
  const ca = await conn(ahead);
  await presentWhenApplied(cb, written, 'the behind replica applied the write');
  await presentWhenApplied(ca, written, 'the ahead replica applied the write');
  // Read-your-writes of the SET: the behind replica shows it, the ahead one has already expired it.
  assert.equal(await cb.call('GET', 'k'), 'v');
  assert.equal(await ca.call('GET', 'k'), null);

  // The replicas are cut off; the primary's clock passes the expiry and a read finds the key expired.
  pxBehind.blackhole();
  pxAhead.blackhole();
  primaryAheadMs = 2 * MINUTE_MS;
  assert.equal(await c.call('GET', 'k'), null);
  const afterRead = (await c.call('POSITION')) as string;
  assert.ok(Number(afterRead.split(':')[1]) > Number(written.split(':')[1]), `the token after the read (${afterRead}) covers the logged delete (wrote at ${written})`);

  // Neither replica holds the delete: with the new token a read waits and is refused, never 'v'.
  for (const r of [cb, ca]) {
    assert.ok(isTooStale(await r.call('CONSISTENCY', 'SESSION', afterRead)));
    const got = await r.call('GET', 'k');
    assert.ok(isTooStale(got), `a session read of an expired key must not be served: ${String(got)}`);
  }
  // The behind replica still serves the key to a session that never saw it expire (its clock has not passed it).
  const other = await conn(behind);
  assert.equal(await other.call('CONSISTENCY', 'SESSION', written), 'OK');
  assert.equal(await other.call('GET', 'k'), 'v');

  pxBehind.pass();
  pxAhead.pass();
  for (const r of [cb, ca]) {
    await presentWhenApplied(r, afterRead, 'the delete reaches the replica');
    assert.equal(await r.call('GET', 'k'), null);
    assert.equal(await r.call('GET', 'plain'), 'p');
  }
  assert.equal(await other.call('GET', 'k'), null, 'once the delete arrived nobody sees the key');
  await waitFor('one digest', () => datasetDigestHex(behind.store) === datasetDigestHex(p.store) && datasetDigestHex(ahead.store) === datasetDigestHex(p.store));

  // Every member reopened with its clock stepped back an hour: the key the primary reported
  // expired stays gone everywhere (its delete is in every log), the rest is intact.
  for (const c2 of conns) c2.close();
  for (const m of [p, behind, ahead]) await m.server.close();
  const digests = new Set<string>();
  for (const m of [p, behind, ahead]) {
    const s = await openReplicatedStore({ dir: m.dir, now: () => Date.now() - HOUR_MS, onWarning: () => undefined });
    try {
      assert.equal(s.get('k'), undefined, 'a key reported expired never comes back');
      assert.equal(s.get('plain')?.toString(), 'p');
      digests.add(datasetDigestHex(s));
    } finally {
      await s.close();
    }
  }
  assert.equal(digests.size, 1, 'every member holds the same data');
});
