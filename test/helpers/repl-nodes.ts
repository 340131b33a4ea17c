// In-process replication nodes for host tests: a store, a ReplicationHost and a loopback listener
// that performs the KVREPL handshake as the RESP server does, plus write/digest/converged. Every
// node started here is stopped and its directory removed after the importing test file.

import { after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { openReplicatedStore } from '../../src/storage/store.js';
import type { ReplicatedStore, StoreOptions } from '../../src/storage/api.js';
import type { Op } from '../../src/storage/types.js';
import { datasetDigestHex } from '../../src/server/commands/digest.js';
import { DEFAULT_TIMING, type Timing } from '../../src/replication/core/types.js';
import { ReplicationHost, type HostLog } from '../../src/replication/host/host.js';
import { parseReply } from './resp.js';
import { tempDir } from './procs.js';
import { waitFor } from './wait.js';

export interface ReplNode {
  readonly id: string;
  readonly dir: string;
  store: ReplicatedStore;
  host: ReplicationHost;
  readonly acceptor: Server;
  readonly address: string;
  /** The host's log lines, prefixed I/W/E. */
  readonly logs: string[];
}

export interface ReplNodeOptions {
  /** Over { fsync: 'no' }. */
  readonly store?: Partial<StoreOptions>;
  /** Over DEFAULT_TIMING. */
  readonly timing?: Partial<Timing>;
  readonly dirPrefix?: string;
  /** Fills the store before its host is built (a log the node holds from before this run). */
  readonly prepare?: (store: ReplicatedStore) => Promise<void>;
}

const nodes: ReplNode[] = [];
after(async () => {
  for (const n of nodes) {
    await (n.host as ReplicationHost | undefined)?.stop().catch(() => undefined);
    await new Promise<void>((res) => n.acceptor.close(() => res()));
    await n.store.close().catch(() => undefined);
    rmSync(n.dir, { recursive: true, force: true });
  }
});

export function captureLog(logs: string[]): HostLog {
  return { info: (m) => logs.push(`I ${m}`), warn: (m) => logs.push(`W ${m}`), error: (m) => logs.push(`E ${m}`) };
}

/**
 * A new host for a node's current store (a restart keeps the node's id, address and log).
 * `clusterMembers`: cluster mode with these members (self included), else manual mode.
 */
export function newHost(
  n: Pick<ReplNode, 'id' | 'store' | 'address' | 'logs'>,
  replicaOf: string | null,
  timing: Partial<Timing> = {},
  clusterMembers?: ReadonlyMap<string, string>,
): ReplicationHost {
  return new ReplicationHost({
    store: n.store,
    nodeId: n.id,
    selfAddress: n.address,
    replicaOf,
    primaryAuth: '',
    timing: { ...DEFAULT_TIMING, ...timing },
    log: captureLog(n.logs),
    ...(clusterMembers !== undefined ? { clusterMembers } : {}),
  });
}

export async function startReplNode(id: string, replicaOf: string | null, opts: ReplNodeOptions = {}): Promise<ReplNode> {
  const node = await openReplNode(id, opts);
  node.host = newHost(node, replicaOf, opts.timing);
  await node.host.start();
  return node;
}

/**
 * A cluster of in-process nodes (cluster mode, every member configured): `storeFor` adds store
 * options per member (a FaultyLogFs for the one whose disk will fail). All hosts are started.
 */
export async function startReplCluster(ids: readonly string[], opts: ReplNodeOptions & { storeFor?: (id: string) => Partial<StoreOptions> } = {}): Promise<ReplNode[]> {
  const out: ReplNode[] = [];
  for (const id of ids) out.push(await openReplNode(id, { ...opts, store: { ...opts.store, ...opts.storeFor?.(id) } }));
  const members = new Map(out.map((n) => [n.id, n.address] as const));
  for (const n of out) n.host = newHost(n, null, opts.timing, members);
  for (const n of out) await n.host.start();
  return out;
}

/** A node's store and listener, cleaned up after the file; the caller gives it its host. */
async function openReplNode(id: string, opts: ReplNodeOptions): Promise<ReplNode> {
  const dir = tempDir(opts.dirPrefix ?? 'kvts-repl-');
  const store = await openReplicatedStore({ dir, fsync: 'no', ...opts.store });
  await opts.prepare?.(store);
  const logs: string[] = [];
  let node: ReplNode | undefined;
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
      assert.equal(args[0], 'KVREPL');
      s.write(`+KVREPL ${id}\r\n`);
      (node as ReplNode).host.acceptLink(s, args[1] as string, args[3] as string);
    };
    s.on('data', onData);
  });
  await new Promise<void>((res) => acceptor.listen(0, '127.0.0.1', () => res()));
  const a = acceptor.address();
  assert.ok(a !== null && typeof a !== 'string');
  const address = `127.0.0.1:${a.port}`;
  // The host is set by the caller before any peer can dial (it is built right after).
  node = { id, dir, store, host: undefined as unknown as ReplicationHost, acceptor, address, logs };
  nodes.push(node);
  return node;
}

/** A primary's local write: applied to its store, then handed to its host. */
export function write(n: ReplNode, ops: Op[]): void {
  const pos = n.store.apply(ops);
  n.host.onLocalWrite(pos, ops);
}

/** The dataset digest DEBUG DIGEST answers (keys, values and expiry times). */
export const digest = datasetDigestHex;

export async function converged(a: ReplNode, b: ReplNode, what: string): Promise<void> {
  await waitFor(what, () => a.store.lastPosition.seq === b.store.lastPosition.seq && a.store.lastPosition.epoch === b.store.lastPosition.epoch, { timeoutMs: 20_000 });
  assert.equal(digest(a.store), digest(b.store), `${what}: digests differ`);
}
