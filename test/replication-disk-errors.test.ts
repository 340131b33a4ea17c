// A replica whose disk fails (in-process hosts over 127.0.0.1, the replica's log calls failing on
// demand): it stops applying without crashing and its store reports the error, the primary keeps
// taking writes, and once the replica restarts on its directory both reach one digest.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { openReplicatedStore } from '../src/storage/store.js';
import type { ReplicatedStore } from '../src/storage/api.js';
import { keyToBytes, type Op } from '../src/storage/types.js';
import { DEFAULT_TIMING } from '../src/replication/core/types.js';
import { ReplicationHost, type HostLog } from '../src/replication/host/host.js';
import { FaultyLogFs } from './helpers/faulty-log-fs.js';
import { parseReply } from './helpers/resp.js';
import { tempDir } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';

interface Node {
  readonly id: string;
  readonly dir: string;
  store: ReplicatedStore;
  host: ReplicationHost;
  readonly acceptor: Server;
  readonly address: string;
  readonly logs: string[];
}

const nodes: Node[] = [];
after(async () => {
  for (const n of nodes) {
    await n.host.stop().catch(() => undefined);
    await new Promise<void>((res) => n.acceptor.close(() => res()));
    await n.store.close().catch(() => undefined);
    rmSync(n.dir, { recursive: true, force: true });
  }
});

function captureLog(logs: string[]): HostLog {
  return { info: (m) => logs.push(`I ${m}`), warn: (m) => logs.push(`W ${m}`), error: (m) => logs.push(`E ${m}`) };
}

function newHost(n: { id: string; store: ReplicatedStore; address: string; logs: string[] }, replicaOf: string | null): ReplicationHost {
  return new ReplicationHost({ store: n.store, nodeId: n.id, selfAddress: n.address, replicaOf, primaryAuth: '', timing: DEFAULT_TIMING, log: captureLog(n.logs) });
}

/** store + host + a loopback listener doing the KVREPL handshake as the RESP server does. */
async function startNode(id: string, replicaOf: string | null, fs: FaultyLogFs | undefined): Promise<Node> {
  const dir = tempDir('kvts-repl-diskerr-');
  const store = await openReplicatedStore({ dir, fsync: 'everysec', onWarning: () => undefined, resumeAfterDiscard: false, ...(fs !== undefined ? { logFs: fs } : {}) });
  const logs: string[] = [];
  let node: Node | undefined;
  const acceptor = createServer((s) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const r = parseReply(buf, 0);
      if (r === null) return;
      s.off('data', onData);
      s.pause();
      assert.ok(r.v.t === 'array' && r.v.a !== null);
      const args = r.v.a.map((x) => (x.t === 'bulk' && x.b !== null ? x.b.toString() : ''));
      s.write(`+KVREPL ${id}\r\n`);
      (node as Node).host.acceptLink(s, args[1] as string, args[3] as string);
    };
    s.on('data', onData);
  });
  await new Promise<void>((res) => acceptor.listen(0, '127.0.0.1', () => res()));
  const a = acceptor.address();
  assert.ok(a !== null && typeof a !== 'string');
  const address = `127.0.0.1:${a.port}`;
  const host = newHost({ id, store, address, logs }, replicaOf);
  node = { id, dir, store, host, acceptor, address, logs };
  nodes.push(node);
  await host.start();
  return node;
}

function write(n: Node, ops: Op[]): void {
  const pos = n.store.apply(ops);
  n.host.onLocalWrite(pos, ops);
}

function digest(s: ReplicatedStore): string {
  const parts: string[] = [];
  for (const k of s.keys()) parts.push(createHash('sha1').update(keyToBytes(k)).update('\0').update(s.getValue(k) ?? Buffer.alloc(0)).digest('hex'));
  parts.sort();
  return createHash('sha1').update(parts.join()).digest('hex');
}

async function converged(a: Node, b: Node, what: string): Promise<void> {
  await waitFor(what, () => a.store.lastPosition.seq === b.store.lastPosition.seq && a.store.lastPosition.epoch === b.store.lastPosition.epoch, { timeoutMs: 20_000 });
  assert.equal(digest(a.store), digest(b.store), `${what}: digests differ`);
}

test('a replica whose disk fills stops applying and reports it; the primary keeps going; after a restart both reach one digest', async () => {
  const fs = new FaultyLogFs();
  const p = await startNode('p1', null, undefined);
  const r = await startNode('r1', p.address, fs);
  for (let i = 0; i < 50; i++) write(p, [{ t: 'set', key: `k${i}`, value: Buffer.from(`v${i}`), expireAtMs: 0 }]);
  await converged(p, r, 'r1 streams');

  fs.fail('write', 'ENOSPC');
  for (let i = 50; i < 100; i++) write(p, [{ t: 'set', key: `k${i}`, value: Buffer.from(`v${i}`), expireAtMs: 0 }]);
  await waitFor('the replica reports the failure', () => r.store.stats().logError !== null, { timeoutMs: 10_000 });
  assert.match(r.store.stats().logError ?? '', /MISCONF Errors writing to the log: ENOSPC/);
  // The primary keeps taking writes.
  for (let i = 100; i < 150; i++) write(p, [{ t: 'set', key: `k${i}`, value: Buffer.from(`v${i}`), expireAtMs: 0 }]);
  assert.ok(p.store.lastPosition.seq >= 150);
  // At its next step the replica's host sees its store behind its core and stops, without a crash.
  await waitFor('the replica stops replicating', () => r.logs.some((l) => l.includes('replication stopped') && l.includes('MISCONF')), { timeoutMs: 10_000 });
  assert.equal(p.store.stats().logError, null);
  assert.ok(r.store.lastPosition.seq < p.store.lastPosition.seq, 'the replica stopped applying');
  // The replica never shows a write its log does not hold: what it shows reopens identically.
  const shown = digest(r.store);
  const shownPos = r.store.lastPosition.seq;

  // The operator frees space and restarts the replica on its directory.
  fs.clear();
  await r.host.stop().catch(() => undefined);
  await r.store.close().catch(() => undefined);
  r.store = await openReplicatedStore({ dir: r.dir, fsync: 'everysec', onWarning: () => undefined });
  assert.equal(r.store.lastPosition.seq, shownPos);
  assert.equal(digest(r.store), shown);
  r.host = newHost(r, p.address);
  await r.host.start();
  for (let i = 150; i < 160; i++) write(p, [{ t: 'set', key: `k${i}`, value: Buffer.from(`v${i}`), expireAtMs: 0 }]);
  await converged(p, r, 'r1 catches up after the restart');
});

test('a primary whose disk fills stops replicating without a crash, serves reads; restarted, it and its replica reach one digest', async () => {
  const fs = new FaultyLogFs();
  const p = await startNode('p2', null, fs);
  const r = await startNode('r2', p.address, undefined);
  for (let i = 0; i < 50; i++) write(p, [{ t: 'set', key: `k${i}`, value: Buffer.from(`v${i}`), expireAtMs: 0 }]);
  await converged(p, r, 'r2 streams');

  fs.fail('write', 'ENOSPC');
  for (let i = 50; i < 60; i++) write(p, [{ t: 'set', key: `k${i}`, value: Buffer.from(`v${i}`), expireAtMs: 0 }]);
  await waitFor('the primary reports the failure', () => p.store.stats().logError !== null, { timeoutMs: 10_000 });
  await waitFor('the primary stops replicating', () => p.logs.some((l) => l.includes('replication stopped') && l.includes('MISCONF')), { timeoutMs: 10_000 });
  assert.equal(p.store.getValue('k10')?.toString(), 'v10', 'reads are served');
  assert.equal(p.store.getValue('k55'), undefined, 'no unlogged write is shown');

  fs.clear();
  await p.host.stop().catch(() => undefined);
  await p.store.close().catch(() => undefined);
  p.store = await openReplicatedStore({ dir: p.dir, fsync: 'everysec', onWarning: () => undefined });
  p.host = newHost(p, null);
  await p.host.start();
  for (let i = 60; i < 70; i++) write(p, [{ t: 'set', key: `k${i}`, value: Buffer.from(`v${i}`), expireAtMs: 0 }]);
  await converged(p, r, 'r2 follows the restarted primary');
});
